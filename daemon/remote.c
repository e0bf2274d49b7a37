#include "daemon/remote.h"

#include <glib.h>
#include <libvirt/libvirt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/hostinfo.h"
#include "daemon/keepalive.h"
#include "config.h"

static struct {
    char *default_uri;
    char *emulator;
} cfg;

/* The .x annotation "priority:high" of the connection-level procedures
 * (read-only connections may call them all: daemon/remote_procs.def). */
#define HIGH RPC_PROC_HIGH_PRIORITY

/* ------------------------------------------------------------ handshake */

static enum rpc_result auth_list(struct rpc_call *call, struct xdr_reader *args,
                                 struct xdr_writer *ret, struct rpc_error *err)
{
    /* §5: [REMOTE_AUTH_NONE]; unix sockets need no authentication. */
    xdr_put_u32(ret, 1);
    xdr_put_i32(ret, 0);
    return RPC_REPLY_OK;
}

static enum rpc_result supports_feature(struct rpc_call *call, struct xdr_reader *args,
                                        struct xdr_writer *ret, struct rpc_error *err)
{
    int32_t feature = xdr_get_i32(args);
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    /* §5: only feature 10 is asked before CONNECT_OPEN; libvirtd refuses
     * the others on an unopened connection (trace 25). */
    if (!rpc_client_is_open(call->client) && feature != REMOTE_FEATURE_PROGRAM_KEEPALIVE) {
        rpc_error_set(err, VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC, "hypervisor connection not open");
        return RPC_REPLY_ERROR;
    }
    int supported = 0;
    switch (feature) {
    case REMOTE_FEATURE_PROGRAM_KEEPALIVE:
        supported = 1;
        keepalive_start(call->client);
        break;
    case REMOTE_FEATURE_REMOTE_EVENT_CALLBACK: /* 316/317 implemented below */
    case REMOTE_FEATURE_REMOTE_CLOSE_CALLBACK: /* 360/361 implemented below */
    case REMOTE_FEATURE_TYPED_PARAM_STRING:    /* as the QEMU driver answers */
        supported = 1;
        break;
    default:
        supported = 0; /* FD passing, migration: not offered */
    }
    xdr_put_i32(ret, supported);
    return RPC_REPLY_OK;
}

int remote_check_uri(const char *name, struct rpc_error *err)
{
    if (!name || !*name)
        return VIR_ERR_OK;
    const char *sep = strstr(name, "://");
    g_autofree char *scheme = sep ? g_strndup(name, sep - name) : NULL;
    if (!scheme || (strcmp(scheme, "hvd") != 0 && strcmp(scheme, "qemu") != 0) || sep[3] != '/') {
        /* What libvirtd sends for a URI no driver claims (§4, §9). */
        rpc_error_set(err, VIR_ERR_NO_CONNECT, VIR_FROM_NONE, "%s", name);
        return VIR_ERR_NO_CONNECT;
    }
    const char *path = sep + 3;
    size_t plen = strcspn(path, "?#");
    if (!((plen == 7 && strncmp(path, "/system", 7) == 0) ||
          (plen == 8 && strncmp(path, "/session", 8) == 0))) {
        rpc_error_set(err, VIR_ERR_INTERNAL_ERROR, VIR_FROM_NONE,
                      "unexpected %s URI path '%.*s', try %s:///system", scheme, (int)plen, path,
                      scheme);
        return VIR_ERR_INTERNAL_ERROR;
    }
    return VIR_ERR_OK;
}

static enum rpc_result connect_open(struct rpc_call *call, struct xdr_reader *args,
                                    struct xdr_writer *ret, struct rpc_error *err)
{
    g_autofree char *name = xdr_get_optional_string(args, REMOTE_STRING_MAX);
    uint32_t flags = xdr_get_u32(args);
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    if (rpc_client_is_open(call->client)) {
        rpc_error_set(err, VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC, "connection already open");
        return RPC_REPLY_ERROR;
    }
    if (remote_check_uri(name, err) != VIR_ERR_OK) {
        log_info("client %u: refused CONNECT_OPEN of '%s'", rpc_client_id(call->client), name);
        return RPC_REPLY_ERROR;
    }
    /* §9: an empty name means "the daemon's default"; flag bit 0 = read-only.
     * Other bits (client-internal) are ignored. */
    const char *uri = name && *name ? name : cfg.default_uri;
    rpc_client_set_open(call->client, uri, flags & 1);
    log_info("client %u: opened %s%s", rpc_client_id(call->client), uri,
             rpc_client_is_readonly(call->client) ? " read-only" : "");
    return RPC_REPLY_OK;
}

static enum rpc_result connect_close(struct rpc_call *call, struct xdr_reader *args,
                                     struct xdr_writer *ret, struct rpc_error *err)
{
    /* §1: libvirtd closes the socket after replying. */
    rpc_client_close_after_reply(call->client);
    return RPC_REPLY_OK;
}

/* ------------------------------------------------------------ identity */

static enum rpc_result get_type(struct rpc_call *call, struct xdr_reader *args,
                                struct xdr_writer *ret, struct rpc_error *err)
{
    /* Clients treat us like the QEMU driver ("QEMU", as libvirtd answers). */
    xdr_put_string(ret, "QEMU", REMOTE_STRING_MAX);
    return RPC_REPLY_OK;
}

/* "1.2.3" → 1002003 (§10: major·10⁶ + minor·10³ + micro). */
static uint64_t version_number(const char *text)
{
    unsigned major = 0, minor = 0, micro = 0;
    sscanf(text, "%u.%u.%u", &major, &minor, &micro);
    return (uint64_t)major * 1000000 + minor * 1000 + micro;
}

static enum rpc_result get_version(struct rpc_call *call, struct xdr_reader *args,
                                   struct xdr_writer *ret, struct rpc_error *err)
{
    /* The hypervisor's version: hvd's own (its worker is the hypervisor). */
    xdr_put_u64(ret, version_number(PACKAGE_VERSION));
    return RPC_REPLY_OK;
}

static enum rpc_result get_lib_version(struct rpc_call *call, struct xdr_reader *args,
                                       struct xdr_writer *ret, struct rpc_error *err)
{
    /* hvd speaks the protocol of the libvirt it was built against. */
    xdr_put_u64(ret, LIBVIR_VERSION_NUMBER);
    return RPC_REPLY_OK;
}

static enum rpc_result get_hostname(struct rpc_call *call, struct xdr_reader *args,
                                    struct xdr_writer *ret, struct rpc_error *err)
{
    char host[256];
    if (gethostname(host, sizeof(host)) != 0) {
        rpc_error_set(err, VIR_ERR_SYSTEM_ERROR, VIR_FROM_NONE, "cannot get the host name");
        return RPC_REPLY_ERROR;
    }
    host[sizeof(host) - 1] = '\0';
    xdr_put_string(ret, host, REMOTE_STRING_MAX);
    return RPC_REPLY_OK;
}

static enum rpc_result get_uri(struct rpc_call *call, struct xdr_reader *args,
                               struct xdr_writer *ret, struct rpc_error *err)
{
    const char *uri = rpc_client_uri(call->client);
    xdr_put_string(ret, uri ? uri : cfg.default_uri, REMOTE_STRING_MAX);
    return RPC_REPLY_OK;
}

static enum rpc_result is_secure(struct rpc_call *call, struct xdr_reader *args,
                                 struct xdr_writer *ret, struct rpc_error *err)
{
    /* A local unix socket cannot be eavesdropped: secure, as libvirtd says. */
    xdr_put_i32(ret, 1);
    return RPC_REPLY_OK;
}

/* ------------------------------------------------------------ host facts */

static enum rpc_result node_get_info(struct rpc_call *call, struct xdr_reader *args,
                                     struct xdr_writer *ret, struct rpc_error *err)
{
    struct host_node_info ni;
    g_autofree char *why = NULL;
    if (!host_node_info(NULL, NULL, &ni, &why)) {
        rpc_error_set(err, VIR_ERR_INTERNAL_ERROR, VIR_FROM_NONE, "%s", why);
        return RPC_REPLY_ERROR;
    }
    /* §3: char model[32] takes 4 bytes per character (128 bytes). */
    xdr_put_char_array_fixed(ret, ni.model, 32);
    xdr_put_u64(ret, ni.memory_kib);
    xdr_put_i32(ret, ni.cpus);
    xdr_put_i32(ret, ni.mhz);
    xdr_put_i32(ret, ni.nodes);
    xdr_put_i32(ret, ni.sockets);
    xdr_put_i32(ret, ni.cores);
    xdr_put_i32(ret, ni.threads);
    return RPC_REPLY_OK;
}

static enum rpc_result node_get_free_memory(struct rpc_call *call, struct xdr_reader *args,
                                            struct xdr_writer *ret, struct rpc_error *err)
{
    uint64_t kib;
    if (!host_meminfo_kib(NULL, "MemFree", &kib)) {
        rpc_error_set(err, VIR_ERR_INTERNAL_ERROR, VIR_FROM_NONE, "cannot read MemFree from /proc/meminfo");
        return RPC_REPLY_ERROR;
    }
    /* §14.4: bytes, unlike every other memory quantity. */
    xdr_put_u64(ret, kib * 1024);
    return RPC_REPLY_OK;
}

static enum rpc_result node_get_memory_stats(struct rpc_call *call, struct xdr_reader *args,
                                             struct xdr_writer *ret, struct rpc_error *err)
{
    int32_t nparams = xdr_get_i32(args);
    int32_t cell = xdr_get_i32(args);
    uint32_t flags = xdr_get_u32(args);
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    if (flags) {
        rpc_error_set(err, VIR_ERR_INVALID_ARG, VIR_FROM_NONE,
                      "unsupported flags (0x%x) in function virNodeGetMemoryStats", flags);
        return RPC_REPLY_ERROR;
    }
    if (cell != -1 && cell != 0) {
        rpc_error_set(err, VIR_ERR_INVALID_ARG, VIR_FROM_NONE,
                      "Invalid cell number %d", cell);
        return RPC_REPLY_ERROR;
    }
    static const struct { const char *field, *meminfo; } stats[] = {
        { "total", "MemTotal" }, { "free", "MemFree" },
        { "buffers", "Buffers" }, { "cached", "Cached" },
    };
    const int n = G_N_ELEMENTS(stats);
    /* §10: two-phase. nparams 0 asks for the count; then the values. */
    if (nparams == 0) {
        xdr_put_u32(ret, 0);
        xdr_put_i32(ret, n);
        return RPC_REPLY_OK;
    }
    if (nparams < 0 || nparams > (int32_t)REMOTE_NODE_MEMORY_STATS_MAX) {
        rpc_error_set(err, VIR_ERR_INVALID_ARG, VIR_FROM_NONE, "nparams %d out of range", nparams);
        return RPC_REPLY_ERROR;
    }
    int count = nparams < n ? nparams : n;
    xdr_put_u32(ret, (uint32_t)count);
    for (int i = 0; i < count; i++) {
        uint64_t kib = 0;
        host_meminfo_kib(NULL, stats[i].meminfo, &kib);
        xdr_put_string(ret, stats[i].field, REMOTE_STRING_MAX);
        xdr_put_u64(ret, kib);
    }
    xdr_put_i32(ret, 0); /* libvirtd leaves the trailing nparams 0 here */
    return RPC_REPLY_OK;
}

static enum rpc_result get_max_vcpus(struct rpc_call *call, struct xdr_reader *args,
                                     struct xdr_writer *ret, struct rpc_error *err)
{
    g_autofree char *type = xdr_get_optional_string(args, REMOTE_STRING_MAX);
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    if (type && g_ascii_strcasecmp(type, "kvm") != 0 && g_ascii_strcasecmp(type, "qemu") != 0 &&
        g_ascii_strcasecmp(type, "hvd") != 0) {
        rpc_error_set(err, VIR_ERR_INVALID_ARG, VIR_FROM_QEMU, "unknown type '%s'", type);
        return RPC_REPLY_ERROR;
    }
    xdr_put_i32(ret, host_max_vcpus());
    return RPC_REPLY_OK;
}

static enum rpc_result get_capabilities(struct rpc_call *call, struct xdr_reader *args,
                                        struct xdr_writer *ret, struct rpc_error *err)
{
    g_autofree char *xml = host_capabilities_xml(cfg.emulator);
    xdr_put_string(ret, xml, REMOTE_STRING_MAX);
    return RPC_REPLY_OK;
}

static enum rpc_result get_sysinfo(struct rpc_call *call, struct xdr_reader *args,
                                   struct xdr_writer *ret, struct rpc_error *err)
{
    uint32_t flags = xdr_get_u32(args);
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    if (flags) {
        rpc_error_set(err, VIR_ERR_INVALID_ARG, VIR_FROM_NONE,
                      "unsupported flags (0x%x) in function virConnectGetSysinfo", flags);
        return RPC_REPLY_ERROR;
    }
    g_autofree char *xml = host_sysinfo_xml();
    if (!xml) {
        /* What the QEMU driver says on hosts without SMBIOS data. */
        rpc_error_set(err, VIR_ERR_OPERATION_UNSUPPORTED, VIR_FROM_NONE,
                      "Host SMBIOS information is not available");
        return RPC_REPLY_ERROR;
    }
    xdr_put_string(ret, xml, REMOTE_STRING_MAX);
    return RPC_REPLY_OK;
}

static enum rpc_result node_get_security_model(struct rpc_call *call, struct xdr_reader *args,
                                               struct xdr_writer *ret, struct rpc_error *err)
{
    /* No security driver: model "" and doi "", each sent as one NUL
     * character (§3: count includes the NUL); clients then skip labels. */
    xdr_put_char_array_var(ret, "", REMOTE_SECURITY_MODEL_MAX);
    xdr_put_char_array_var(ret, "", REMOTE_SECURITY_DOI_MAX);
    return RPC_REPLY_OK;
}

/* ------------------------------------------------------------ close callback */

#define CLOSE_CB_KEY "close-callback"

static enum rpc_result register_close_callback(struct rpc_call *call, struct xdr_reader *args,
                                               struct xdr_writer *ret, struct rpc_error *err)
{
    /* hvd never loses its "hypervisor connection", so event 362 is never sent;
     * the registration is only remembered. */
    rpc_client_set_data(call->client, CLOSE_CB_KEY, GINT_TO_POINTER(1), NULL);
    return RPC_REPLY_OK;
}

static enum rpc_result unregister_close_callback(struct rpc_call *call, struct xdr_reader *args,
                                                 struct xdr_writer *ret, struct rpc_error *err)
{
    rpc_client_set_data(call->client, CLOSE_CB_KEY, NULL, NULL);
    return RPC_REPLY_OK;
}

int remote_client_close_callback(struct rpc_client *c)
{
    return rpc_client_get_data(c, CLOSE_CB_KEY) != NULL;
}

/* ------------------------------------------------------------ domain events */

#define EVENTS_KEY "domain-events"
/* virDomainEventID range in libvirt 9.0 (§7: 0 LIFECYCLE .. 26). */
#define DOMAIN_EVENT_ID_LAST 26

struct event_registration {
    int32_t callback_id;
    int32_t event_id;
    bool has_uuid;
    uint8_t uuid[16];
};

static int32_t next_callback_id; /* daemon-wide, from 0, as libvirtd */

static void registrations_free(void *data)
{
    g_array_unref(data);
}

static GArray *client_registrations(struct rpc_client *c, bool create)
{
    GArray *regs = rpc_client_get_data(c, EVENTS_KEY);
    if (!regs && create) {
        regs = g_array_new(FALSE, FALSE, sizeof(struct event_registration));
        rpc_client_set_data(c, EVENTS_KEY, regs, registrations_free);
    }
    return regs;
}

unsigned remote_client_event_count(struct rpc_client *c)
{
    GArray *regs = client_registrations(c, false);
    return regs ? regs->len : 0;
}

static enum rpc_result event_register_any(struct rpc_call *call, struct xdr_reader *args,
                                          struct xdr_writer *ret, struct rpc_error *err)
{
    struct event_registration reg = { 0 };
    reg.event_id = xdr_get_i32(args);
    /* dom: optional remote_nonnull_domain { name, uuid[16], id }. */
    if (xdr_get_optional(args)) {
        g_free(xdr_get_string(args, REMOTE_STRING_MAX));   /* the name: the uuid identifies it */
        xdr_get_opaque_fixed(args, reg.uuid, 16);
        xdr_get_i32(args);
        reg.has_uuid = true;
    }
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    if (reg.event_id < 0 || reg.event_id > DOMAIN_EVENT_ID_LAST) {
        rpc_error_set(err, VIR_ERR_INVALID_ARG, VIR_FROM_NONE,
                      "unsupported event ID %d", reg.event_id);
        return RPC_REPLY_ERROR;
    }
    reg.callback_id = next_callback_id++;
    g_array_append_val(client_registrations(call->client, true), reg);
    xdr_put_i32(ret, reg.callback_id);
    return RPC_REPLY_OK;
}

static enum rpc_result event_deregister_any(struct rpc_call *call, struct xdr_reader *args,
                                            struct xdr_writer *ret, struct rpc_error *err)
{
    int32_t callback_id = xdr_get_i32(args);
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    GArray *regs = client_registrations(call->client, false);
    for (guint i = 0; regs && i < regs->len; i++) {
        if (g_array_index(regs, struct event_registration, i).callback_id == callback_id) {
            g_array_remove_index(regs, i);
            return RPC_REPLY_OK;
        }
    }
    rpc_error_set(err, VIR_ERR_INVALID_ARG, VIR_FROM_NONE,
                  "callback %d not registered", callback_id);
    return RPC_REPLY_ERROR;
}

struct emit_ctx {
    int event_id;
    const uint8_t *uuid;
    int32_t proc;
    const void *msg;
    size_t msg_len;
    unsigned sent;
};

static void emit_to_client(struct rpc_client *c, void *data)
{
    struct emit_ctx *ctx = data;
    GArray *regs = client_registrations(c, false);
    for (guint i = 0; regs && i < regs->len; i++) {
        const struct event_registration *r = &g_array_index(regs, struct event_registration, i);
        if (r->event_id != ctx->event_id)
            continue;
        if (r->has_uuid && (!ctx->uuid || memcmp(r->uuid, ctx->uuid, 16) != 0))
            continue;
        struct xdr_writer w;
        xdr_writer_init(&w, RPC_PAYLOAD_MAX);
        xdr_put_i32(&w, r->callback_id);
        xdr_put_raw(&w, ctx->msg, ctx->msg_len);
        if (!w.failed) {
            /* §7: MESSAGE, status OK, serial 1 like libvirtd. */
            rpc_client_send_message(c, RPC_PROG_REMOTE, ctx->proc, 1, w.data, w.len);
            ctx->sent++;
        }
        xdr_writer_free(&w);
    }
}

unsigned remote_domain_event_emit(int event_id, const uint8_t uuid[16], int32_t proc,
                                  const void *msg, size_t msg_len)
{
    struct emit_ctx ctx = { event_id, uuid, proc, msg, msg_len, 0 };
    rpc_foreach_client(emit_to_client, &ctx);
    return ctx.sent;
}

/* ------------------------------------------------------------ registration */

void remote_register(const struct remote_config *c)
{
    g_free(cfg.default_uri);
    g_free(cfg.emulator);
    cfg.default_uri = g_strdup(c && c->default_uri ? c->default_uri : "hvd:///system");
    cfg.emulator = g_strdup(c && c->emulator ? c->emulator : "/usr/bin/hv");

    const uint32_t R = RPC_PROG_REMOTE;
    const unsigned pre = RPC_PROC_BEFORE_OPEN | HIGH;
    rpc_register(R, REMOTE_PROC_AUTH_LIST, NULL, auth_list, NULL, pre);
    rpc_register(R, REMOTE_PROC_CONNECT_SUPPORTS_FEATURE, NULL, supports_feature, NULL, pre);
    rpc_register(R, REMOTE_PROC_CONNECT_OPEN, NULL, connect_open, NULL, pre);
    rpc_register(R, REMOTE_PROC_CONNECT_CLOSE, NULL, connect_close, NULL, pre);

    rpc_register(R, REMOTE_PROC_CONNECT_GET_TYPE, NULL, get_type, NULL, HIGH);
    rpc_register(R, REMOTE_PROC_CONNECT_GET_VERSION, NULL, get_version, NULL, HIGH);
    rpc_register(R, REMOTE_PROC_CONNECT_GET_LIB_VERSION, NULL, get_lib_version, NULL, HIGH);
    rpc_register(R, REMOTE_PROC_CONNECT_GET_HOSTNAME, NULL, get_hostname, NULL, HIGH);
    rpc_register(R, REMOTE_PROC_CONNECT_GET_URI, NULL, get_uri, NULL, HIGH);
    rpc_register(R, REMOTE_PROC_CONNECT_IS_SECURE, NULL, is_secure, NULL, HIGH);
    rpc_register(R, REMOTE_PROC_CONNECT_GET_MAX_VCPUS, NULL, get_max_vcpus, NULL, HIGH);
    rpc_register(R, REMOTE_PROC_CONNECT_GET_CAPABILITIES, NULL, get_capabilities, NULL, 0);
    rpc_register(R, REMOTE_PROC_CONNECT_GET_SYSINFO, NULL, get_sysinfo, NULL, HIGH);
    rpc_register(R, REMOTE_PROC_NODE_GET_INFO, NULL, node_get_info, NULL, HIGH);
    rpc_register(R, REMOTE_PROC_NODE_GET_FREE_MEMORY, NULL, node_get_free_memory, NULL, HIGH);
    rpc_register(R, REMOTE_PROC_NODE_GET_MEMORY_STATS, NULL, node_get_memory_stats, NULL, HIGH);
    rpc_register(R, REMOTE_PROC_NODE_GET_SECURITY_MODEL, NULL, node_get_security_model, NULL,
                 HIGH);

    rpc_register(R, REMOTE_PROC_CONNECT_REGISTER_CLOSE_CALLBACK, NULL, register_close_callback,
                 NULL, HIGH);
    rpc_register(R, REMOTE_PROC_CONNECT_UNREGISTER_CLOSE_CALLBACK, NULL,
                 unregister_close_callback, NULL, HIGH);
    rpc_register(R, REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, NULL,
                 event_register_any, NULL, HIGH);
    rpc_register(R, REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, NULL,
                 event_deregister_any, NULL, HIGH);
}
