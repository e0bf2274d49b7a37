#include "daemon/rpc.h"

#include <glib.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "daemon/keepalive.h"

/* ---------------------------------------------------------------- header */

static uint32_t load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void rpc_header_decode(const uint8_t *data, struct rpc_header *hdr)
{
    hdr->prog = load_u32(data);
    hdr->vers = load_u32(data + 4);
    hdr->proc = (int32_t)load_u32(data + 8);
    hdr->type = load_u32(data + 12);
    hdr->serial = load_u32(data + 16);
    hdr->status = load_u32(data + 20);
}

uint8_t *rpc_frame_build(const struct rpc_header *hdr, const void *payload, size_t payload_len,
                         size_t *frame_len)
{
    struct xdr_writer w;
    xdr_writer_init(&w, RPC_FRAME_MAX);
    xdr_put_u32(&w, 0); /* length word, patched below (§2: counts itself) */
    xdr_put_u32(&w, hdr->prog);
    xdr_put_u32(&w, hdr->vers);
    xdr_put_i32(&w, hdr->proc);
    xdr_put_u32(&w, hdr->type);
    xdr_put_u32(&w, hdr->serial);
    xdr_put_u32(&w, hdr->status);
    xdr_put_raw(&w, payload, payload_len);
    if (w.failed) {
        log_error("cannot build a frame for procedure %d: %s", hdr->proc, w.error);
        xdr_writer_free(&w);
        *frame_len = 0;
        return NULL;
    }
    xdr_patch_u32(&w, 0, (uint32_t)w.len);
    return xdr_writer_steal(&w, frame_len);
}

/* ---------------------------------------------------------------- errors */

const char *rpc_error_template(int code)
{
    /* libvirt's message prefixes per error class (§4). */
    switch (code) {
    case VIR_ERR_INTERNAL_ERROR: return "internal error: %s";
    case VIR_ERR_NO_MEMORY: return "out of memory: %s";
    case VIR_ERR_NO_SUPPORT: return "this function is not supported by the connection driver: %s";
    case VIR_ERR_NO_CONNECT: return "no connection driver available for %s";
    case VIR_ERR_OPERATION_DENIED: return "operation forbidden: %s";
    case VIR_ERR_INVALID_ARG: return "invalid argument: %s";
    case VIR_ERR_OPERATION_FAILED: return "operation failed: %s";
    case VIR_ERR_XML_ERROR: return "XML error: %s";
    case VIR_ERR_DOM_EXIST: return "operation failed: %s";
    case VIR_ERR_NO_DOMAIN: return "Domain not found: %s";
    case VIR_ERR_NO_NODE_DEVICE: return "Node device not found: %s";
    case VIR_ERR_OPERATION_INVALID: return "Requested operation is not valid: %s";
    case VIR_ERR_CONFIG_UNSUPPORTED: return "unsupported configuration: %s";
    case VIR_ERR_OPERATION_TIMEOUT: return "Timed out during operation: %s";
    case VIR_ERR_ARGUMENT_UNSUPPORTED: return "argument unsupported: %s";
    case VIR_ERR_OPERATION_UNSUPPORTED: return "Operation not supported: %s";
    case VIR_ERR_RESOURCE_BUSY: return "resource busy: %s";
    case VIR_ERR_ACCESS_DENIED: return "access denied: %s";
    default: return "%s"; /* VIR_ERR_RPC, VIR_ERR_XML_DETAIL, system errors: text as is */
    }
}

void rpc_error_clear(struct rpc_error *err)
{
    g_free(err->message);
    g_free(err->str1);
    g_free(err->str2);
    memset(err, 0, sizeof(*err));
}

void rpc_error_set(struct rpc_error *err, int code, int domain, const char *fmt, ...)
{
    rpc_error_clear(err);
    va_list ap;
    va_start(ap, fmt);
    char *detail = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    const char *tmpl = rpc_error_template(code);
    const char *hole = strstr(tmpl, "%s");
    err->code = code;
    err->domain = domain;
    err->level = VIR_ERR_LEVEL_ERROR;
    err->str1 = g_strdup(tmpl);
    err->message = g_strdup_printf("%.*s%s%s", (int)(hole - tmpl), tmpl, detail, hole + 2);
    err->str2 = detail;
}

void rpc_error_set_message(struct rpc_error *err, int code, int domain, const char *message)
{
    rpc_error_clear(err);
    const char *tmpl = rpc_error_template(code);
    const char *hole = strstr(tmpl, "%s");
    size_t prefix_len = hole ? (size_t)(hole - tmpl) : 0;
    const char *detail = message;
    if (prefix_len && strncmp(message, tmpl, prefix_len) == 0)
        detail = message + prefix_len;
    err->code = code;
    err->domain = domain;
    err->level = VIR_ERR_LEVEL_ERROR;
    err->message = g_strdup(message);
    err->str1 = g_strdup(tmpl);
    err->str2 = g_strdup(detail);
}

void rpc_error_encode(struct xdr_writer *w, const struct rpc_error *err)
{
    /* §4 remote_error: code, domain, message?, level, dom?, str1?, str2?,
     * str3?, int1, int2, net?; libvirtd sends int1 = int2 = -1 [T]. */
    xdr_put_i32(w, err->code);
    xdr_put_i32(w, err->domain);
    xdr_put_optional_string(w, err->message ? err->message : "unknown error", REMOTE_STRING_MAX);
    xdr_put_i32(w, err->level ? err->level : VIR_ERR_LEVEL_ERROR);
    xdr_put_u32(w, 0); /* dom */
    xdr_put_optional_string(w, err->str1, REMOTE_STRING_MAX);
    xdr_put_optional_string(w, err->str2, REMOTE_STRING_MAX);
    xdr_put_u32(w, 0); /* str3 */
    xdr_put_i32(w, -1);
    xdr_put_i32(w, -1);
    xdr_put_u32(w, 0); /* net */
}

static void set_rpc_error(struct rpc_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_rpc_error(struct rpc_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    rpc_error_set(err, VIR_ERR_RPC, VIR_FROM_RPC, "%s", text);
    g_free(text);
}

bool rpc_args_done(struct xdr_reader *args, struct rpc_error *err)
{
    if (xdr_ok(args))
        return true;
    log_debug("undecodable arguments: %s", args->error);
    /* Exact libvirtd text (trace 25). */
    set_rpc_error(err, "Unable to decode message payload");
    return false;
}

/* ---------------------------------------------------------------- registry */

struct rpc_proc_entry {
    uint32_t prog;
    int32_t proc;
    const char *api_name;
    rpc_handler handler;
    void *data;
    unsigned flags;
};

static GHashTable *registry; /* key: (prog << 32 | (uint32_t)proc) */

static guint64 proc_key(uint32_t prog, int32_t proc) { return (guint64)prog << 32 | (uint32_t)proc; }

void rpc_register(uint32_t prog, int32_t proc, const char *api_name, rpc_handler handler,
                  void *handler_data, unsigned flags)
{
    if (!registry)
        registry = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    guint64 *key = g_new(guint64, 1);
    *key = proc_key(prog, proc);
    struct rpc_proc_entry *e = g_new0(struct rpc_proc_entry, 1);
    e->prog = prog;
    e->proc = proc;
    e->api_name = api_name;
    e->handler = handler;
    e->data = handler_data;
    e->flags = flags;
    if (g_hash_table_contains(registry, key))
        log_debug("procedure %#x/%d: handler replaced", prog, proc);
    g_hash_table_replace(registry, key, e);
}

void rpc_unregister_all(void)
{
    if (registry)
        g_hash_table_remove_all(registry);
}

static const struct rpc_proc_entry *lookup_proc(uint32_t prog, int32_t proc)
{
    if (!registry)
        return NULL;
    guint64 key = proc_key(prog, proc);
    return g_hash_table_lookup(registry, &key);
}

bool rpc_is_registered(uint32_t prog, int32_t proc) { return lookup_proc(prog, proc) != NULL; }

static const char *api_name_of(uint32_t prog, int32_t proc)
{
    const struct rpc_proc_entry *e = lookup_proc(prog, proc);
    if (e && e->api_name)
        return e->api_name;
    if (prog == RPC_PROG_REMOTE)
        return remote_proc_api_name(proc);
    if (prog == RPC_PROG_QEMU)
        return qemu_proc_api_name(proc);
    return NULL;
}

static rpc_stream_hook stream_hook;
void rpc_set_stream_hook(rpc_stream_hook hook) { stream_hook = hook; }

/* ---------------------------------------------------------------- clients */

struct rpc_client {
    int refs;
    unsigned id;
    bool readonly;
    bool alive;
    bool open;
    bool close_after_reply;
    char *uri;
    const struct rpc_client_ops *ops;
    void *opaque;
    GByteArray *in; /* bytes of the frame being reassembled */
    GData *data;
    struct rpc_stats stats;
};

static GList *live_clients;
static unsigned next_client_id = 1;

struct rpc_client *rpc_client_new(bool readonly, const struct rpc_client_ops *ops, void *opaque)
{
    struct rpc_client *c = g_new0(struct rpc_client, 1);
    c->refs = 1;
    c->id = next_client_id++;
    c->readonly = readonly;
    c->alive = true;
    c->ops = ops;
    c->opaque = opaque;
    c->in = g_byte_array_new();
    g_datalist_init(&c->data);
    live_clients = g_list_prepend(live_clients, c);
    return c;
}

struct rpc_client *rpc_client_ref(struct rpc_client *c)
{
    c->refs++;
    return c;
}

void rpc_client_disconnected(struct rpc_client *c)
{
    if (!c->alive)
        return;
    c->alive = false;
    live_clients = g_list_remove(live_clients, c);
    /* Module state (keepalive timer, event registrations) goes with the link. */
    g_datalist_clear(&c->data);
    g_byte_array_set_size(c->in, 0);
}

void rpc_client_unref(struct rpc_client *c)
{
    if (!c || --c->refs > 0)
        return;
    rpc_client_disconnected(c);
    g_byte_array_unref(c->in);
    g_free(c->uri);
    g_free(c);
}

unsigned rpc_client_id(const struct rpc_client *c) { return c->id; }
size_t rpc_client_pending_input(const struct rpc_client *c) { return c->in->len; }
bool rpc_client_is_readonly(const struct rpc_client *c) { return c->readonly; }
bool rpc_client_is_alive(const struct rpc_client *c) { return c->alive; }
bool rpc_client_is_open(const struct rpc_client *c) { return c->open; }
const char *rpc_client_uri(const struct rpc_client *c) { return c->uri; }
const struct rpc_stats *rpc_client_stats(const struct rpc_client *c) { return &c->stats; }

void rpc_client_set_open(struct rpc_client *c, const char *uri, bool readonly)
{
    c->open = true;
    g_free(c->uri);
    c->uri = g_strdup(uri);
    /* A read-only socket stays read-only whatever the client asks. */
    c->readonly = c->readonly || readonly;
}

void rpc_client_close_after_reply(struct rpc_client *c) { c->close_after_reply = true; }

void rpc_client_close_now(struct rpc_client *c, const char *reason)
{
    if (!c->alive)
        return;
    log_info("client %u: closing: %s", c->id, reason);
    c->ops->close(c->opaque, false);
}

void rpc_client_set_data(struct rpc_client *c, const char *key, void *data, void (*destroy)(void *))
{
    if (!c->alive) {
        if (destroy && data)
            destroy(data);
        return;
    }
    g_datalist_set_data_full(&c->data, key, data, destroy);
}

void *rpc_client_get_data(struct rpc_client *c, const char *key)
{
    return c->alive ? g_datalist_get_data(&c->data, key) : NULL;
}

void rpc_foreach_client(void (*fn)(struct rpc_client *c, void *data), void *data)
{
    GList *copy = g_list_copy(live_clients);
    for (GList *l = copy; l; l = l->next)
        fn(l->data, data);
    g_list_free(copy);
}

static void send_frame(struct rpc_client *c, const struct rpc_header *hdr, const void *payload,
                       size_t len)
{
    if (!c->alive)
        return;
    size_t frame_len;
    uint8_t *frame = rpc_frame_build(hdr, payload, len, &frame_len);
    if (frame)
        c->ops->send(c->opaque, frame, frame_len);
}

void rpc_client_send_frame(struct rpc_client *c, const struct rpc_header *hdr, const void *payload,
                           size_t len)
{
    send_frame(c, hdr, payload, len);
}

size_t rpc_client_output_queued(const struct rpc_client *c)
{
    return c->alive && c->ops->queued ? c->ops->queued(c->opaque) : 0;
}

void rpc_client_send_message(struct rpc_client *c, uint32_t prog, int32_t proc, uint32_t serial,
                             const void *payload, size_t len)
{
    struct rpc_header hdr = {
        .prog = prog, .vers = RPC_PROG_VERSION, .proc = proc,
        .type = RPC_TYPE_MESSAGE, .serial = serial, .status = RPC_STATUS_OK,
    };
    send_frame(c, &hdr, payload, len);
}

/* Reply to the call `call_hdr`: same prog, vers, proc, serial (§2). */
static void send_reply(struct rpc_client *c, const struct rpc_header *call_hdr,
                       const struct xdr_writer *ret, const struct rpc_error *err)
{
    struct rpc_header hdr = *call_hdr;
    hdr.type = RPC_TYPE_REPLY;
    c->stats.replies++;
    if (err) {
        c->stats.errors++;
        hdr.status = RPC_STATUS_ERROR;
        struct xdr_writer w;
        xdr_writer_init(&w, RPC_PAYLOAD_MAX);
        rpc_error_encode(&w, err);
        log_debug("client %u: serial %u proc %d: error %d/%d: %s", c->id, hdr.serial, hdr.proc,
                  err->code, err->domain, err->message);
        send_frame(c, &hdr, w.data, w.len);
        xdr_writer_free(&w);
        return;
    }
    if (ret && ret->failed) {
        /* The handler's answer could not be encoded (too large, a bug). */
        struct rpc_error e = { 0 };
        rpc_error_set(&e, VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC, "cannot encode the reply: %s",
                      ret->error);
        send_reply(c, call_hdr, NULL, &e);
        c->stats.replies--;
        rpc_error_clear(&e);
        return;
    }
    hdr.status = RPC_STATUS_OK;
    send_frame(c, &hdr, ret ? ret->data : NULL, ret ? ret->len : 0);
}

/* ---------------------------------------------------------------- deferred */

struct rpc_call *rpc_call_defer(const struct rpc_call *call)
{
    struct rpc_call *d = g_new(struct rpc_call, 1);
    *d = *call;
    rpc_client_ref(d->client);
    return d;
}

void rpc_call_finish(struct rpc_call *call, const struct xdr_writer *ret, const struct rpc_error *err)
{
    struct rpc_client *c = call->client;
    if (c->alive) {
        send_reply(c, &call->hdr, ret, err);
        if (c->close_after_reply) {
            c->close_after_reply = false;
            c->ops->close(c->opaque, true);
        }
    }
    rpc_client_unref(c);
    g_free(call);
}

/* ---------------------------------------------------------------- dispatch */

/* Error domain libvirt's public API layer reports from (libvirt-domain.c,
 * libvirt-nodedev.c, libvirt.c). */
static int api_error_domain(const char *api)
{
    if (api && g_str_has_prefix(api, "virDomain"))
        return VIR_FROM_DOMAIN;
    if (api && g_str_has_prefix(api, "virNodeDevice"))
        return VIR_FROM_NODEDEV;
    return VIR_FROM_NONE;
}

static void dispatch_call(struct rpc_client *c, const struct rpc_header *hdr, const uint8_t *payload,
                          size_t len)
{
    struct rpc_error err = { 0 };
    const struct rpc_proc_entry *e = lookup_proc(hdr->prog, hdr->proc);
    const char *api = api_name_of(hdr->prog, hdr->proc);

    if (hdr->type == RPC_TYPE_CALL_WITH_FDS) {
        /* No procedure hvd implements takes descriptors, and none arrive on
         * this transport: refuse cleanly rather than misparse the count. */
        set_rpc_error(&err, "file descriptor passing is not supported by this daemon");
    } else if (!e && !api) {
        /* Exact libvirtd text (trace 25); the client maps it to NO_SUPPORT. */
        set_rpc_error(&err, "unknown procedure: %d", hdr->proc);
    } else if (!c->open && !(e && (e->flags & RPC_PROC_BEFORE_OPEN))) {
        rpc_error_set(&err, VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC, "hypervisor connection not open");
    } else if (c->readonly &&
               !(hdr->prog == RPC_PROG_REMOTE && remote_proc_readonly_ok(hdr->proc))) {
        /* libvirt checks read-only access before driver support; the
         * procedure table says what a read-only connection may call. */
        rpc_error_set(&err, VIR_ERR_OPERATION_DENIED, api_error_domain(api),
                      "read only access prevents %s", api ? api : "this operation");
    } else if (!e) {
        rpc_error_set(&err, VIR_ERR_NO_SUPPORT, api_error_domain(api), "%s", api);
    } else {
        struct rpc_call call = { .client = c, .hdr = *hdr, .handler_data = e->data };
        struct xdr_reader args;
        struct xdr_writer ret;
        xdr_reader_init(&args, payload, len);
        xdr_writer_init(&ret, RPC_PAYLOAD_MAX);
        enum rpc_result r = e->handler(&call, &args, &ret, &err);
        if (r == RPC_REPLY_OK)
            send_reply(c, hdr, &ret, NULL);
        else if (r == RPC_REPLY_ERROR) {
            if (!err.message)
                rpc_error_set(&err, VIR_ERR_INTERNAL_ERROR, VIR_FROM_NONE,
                              "%s failed without reporting why", api ? api : "procedure");
            send_reply(c, hdr, NULL, &err);
        }
        xdr_writer_free(&ret);
        rpc_error_clear(&err);
        if (r != RPC_REPLY_DEFERRED && c->close_after_reply && c->alive) {
            c->close_after_reply = false;
            c->ops->close(c->opaque, true);
        }
        return;
    }
    send_reply(c, hdr, NULL, &err);
    rpc_error_clear(&err);
}

static bool program_known(uint32_t prog)
{
    return prog == RPC_PROG_REMOTE || prog == RPC_PROG_QEMU;
}

/* One complete frame (length word included). */
static void dispatch_frame(struct rpc_client *c, const uint8_t *frame, size_t frame_len)
{
    struct rpc_header hdr;
    rpc_header_decode(frame + RPC_LEN_WORD, &hdr);
    const uint8_t *payload = frame + RPC_FRAME_MIN;
    size_t len = frame_len - RPC_FRAME_MIN;
    c->stats.frames_in++;
    keepalive_activity(c);

    if (hdr.prog == RPC_PROG_KEEPALIVE && hdr.vers == RPC_PROG_VERSION) {
        keepalive_handle(c, &hdr);
        return;
    }
    switch (hdr.type) {
    case RPC_TYPE_CALL:
    case RPC_TYPE_CALL_WITH_FDS:
        break;
    case RPC_TYPE_STREAM:
    case RPC_TYPE_STREAM_HOLE:
        if (stream_hook) {
            if (!stream_hook(c, &hdr, payload, len))
                rpc_client_close_now(c, "stream error");
        } else {
            log_info("client %u: stream packet for serial %u proc %d without a stream, dropped",
                     c->id, hdr.serial, hdr.proc);
        }
        return;
    default:
        log_info("client %u: unexpected message type %u (prog %#x proc %d), dropped", c->id,
                 hdr.type, hdr.prog, hdr.proc);
        return;
    }
    if (!program_known(hdr.prog) || hdr.vers != RPC_PROG_VERSION) {
        /* Exact libvirtd text (trace 25): program printed as unsigned decimal. */
        struct rpc_error err = { 0 };
        set_rpc_error(&err, "Cannot find program %u version %u", hdr.prog, hdr.vers);
        send_reply(c, &hdr, NULL, &err);
        rpc_error_clear(&err);
        return;
    }
    dispatch_call(c, &hdr, payload, len);
}

bool rpc_client_feed(struct rpc_client *c, const uint8_t *data, size_t len)
{
    rpc_client_ref(c);
    bool ok = true;
    while (len > 0 && c->alive) {
        /* First complete the length word, then the frame it announces. */
        size_t want;
        if (c->in->len < RPC_LEN_WORD) {
            want = RPC_LEN_WORD - c->in->len;
        } else {
            uint32_t flen = load_u32(c->in->data);
            want = flen - c->in->len;
        }
        size_t n = len < want ? len : want;
        g_byte_array_append(c->in, data, (guint)n);
        data += n;
        len -= n;
        if (c->in->len == RPC_LEN_WORD) {
            uint32_t flen = load_u32(c->in->data);
            /* §2 size limits: the header must fit, the message must not
             * exceed VIR_NET_MESSAGE_MAX. */
            if (flen < RPC_FRAME_MIN || flen > RPC_FRAME_MAX) {
                log_warn("client %u: frame length %u outside %u..%u, closing the client", c->id,
                         flen, RPC_FRAME_MIN, RPC_FRAME_MAX);
                ok = false;
                break;
            }
        }
        if (c->in->len >= RPC_FRAME_MIN && c->in->len == load_u32(c->in->data)) {
            GByteArray *frame = c->in;
            c->in = g_byte_array_new();
            dispatch_frame(c, frame->data, frame->len);
            g_byte_array_unref(frame);
        }
    }
    if (!ok)
        g_byte_array_set_size(c->in, 0);
    rpc_client_unref(c);
    return ok;
}
