/* Trace replay: feed the client frames of real captures between stock
 * virsh / a raw client and libvirtd 9.0 (tests/data/rpc/NN-name.jsonl, captured with a
 * logging proxy) to hvd's dispatcher and compare every answer
 * with the recorded daemon frame: header fields always, payload bytes too,
 * except for the values that legitimately differ, listed explicitly below:
 *
 *  - CONNECT_OPEN "test:///default" (the traces used libvirt's test driver)
 *    is rewritten to "hvd:///system" before feeding;
 *  - CONNECT_GET_TYPE: libvirtd's test driver said "TEST", hvd says "QEMU";
 *  - CONNECT_LIST_ALL_DOMAINS: the test driver had one domain, hvd has no
 *    domain driver yet: an empty list;
 *  - DOMAIN_GET_STATE on that domain: no domain driver yet, so hvd answers
 *    VIR_ERR_NO_SUPPORT instead of the state;
 *  - event callback IDs are daemon-wide counters: hvd's first is 0, the
 *    recording's was 57; the DEREGISTER argument is mapped accordingly;
 *  - daemon-initiated keepalive PINGs (timer driven) are not replayed;
 *  - DOMAIN_LOOKUP_BY_NAME (trace 25, truncated args) is answered by a
 *    stand-in handler registered here, as the domain driver will: it decodes
 *    its argument, so the decode error is libvirtd's byte for byte.
 */
#include <json-c/json.h>

#include "tests/unit/domain-placeholder.h"
#include "daemon/remote.h"
#include "tests/tap.h"
#include "tests/unit/rpc-test-util.h"

struct recorded {
    bool from_client;
    GBytes *frame;
};

static GPtrArray *load_trace(const char *name)
{
    const char *srcdir = getenv("top_srcdir") ? getenv("top_srcdir") : ".";
    g_autofree char *path = g_build_filename(srcdir, "tests", "data", "rpc", name, NULL);
    g_autofree char *text = NULL;
    GPtrArray *out = g_ptr_array_new();
    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        printf("# cannot read %s\n", path);
        return out;
    }
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        json_object *o = json_tokener_parse(*l);
        if (!o)
            continue;
        json_object *hex, *dir;
        if (json_object_object_get_ex(o, "hex", &hex) && json_object_object_get_ex(o, "dir", &dir)) {
            struct recorded *r = g_new0(struct recorded, 1);
            r->from_client = strcmp(json_object_get_string(dir), "C>S") == 0;
            size_t n;
            uint8_t *d = hex_decode(json_object_get_string(hex), &n);
            r->frame = g_bytes_new_take(d, n);
            g_ptr_array_add(out, r);
        }
        json_object_put(o);
    }
    return out;
}

/* Rewrite CONNECT_OPEN(name="test:///default") to hvd:///system. */
static GBytes *rewrite_call(GBytes *frame, int32_t our_callback_id)
{
    struct rpc_header h = frame_header(frame);
    struct xdr_reader r;
    frame_payload(frame, &r);
    if (h.prog == RPC_PROG_REMOTE && h.proc == REMOTE_PROC_CONNECT_OPEN) {
        g_autofree char *name = xdr_get_optional_string(&r, 1 << 22);
        uint32_t flags = xdr_get_u32(&r);
        if (g_strcmp0(name, "test:///default") == 0) {
            struct xdr_writer w;
            xdr_writer_init(&w, 0);
            xdr_put_optional_string(&w, "hvd:///system", 100);
            xdr_put_u32(&w, flags);
            GBytes *b = make_frame(h.prog, h.proc, h.type, h.serial, w.data, w.len);
            xdr_writer_free(&w);
            return b;
        }
    }
    if (h.prog == RPC_PROG_REMOTE && h.proc == REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY) {
        uint8_t arg[4] = { (uint8_t)(our_callback_id >> 24), (uint8_t)(our_callback_id >> 16),
                           (uint8_t)(our_callback_id >> 8), (uint8_t)our_callback_id };
        return make_frame(h.prog, h.proc, h.type, h.serial, arg, 4);
    }
    return g_bytes_ref(frame);
}

static bool is_daemon_ping(GBytes *frame)
{
    struct rpc_header h = frame_header(frame);
    return h.prog == RPC_PROG_KEEPALIVE && h.proc == KEEPALIVE_PROC_PING;
}

/* Compare one of our frames with the recorded one; returns a description
 * of the difference or NULL. Applies the documented exceptions. */
static char *compare(GBytes *ours, GBytes *theirs, int32_t *our_callback_id)
{
    struct rpc_header a = frame_header(ours), b = frame_header(theirs);
    if (b.prog == RPC_PROG_REMOTE && b.proc == 212 /* DOMAIN_GET_STATE */) {
        int code, dom;
        g_autofree char *msg = NULL;
        if (a.status == RPC_STATUS_ERROR && decode_error(ours, &code, &dom, &msg) && code == VIR_ERR_NO_SUPPORT &&
            a.serial == b.serial && a.proc == b.proc)
            return NULL;
        return g_strdup("GET_STATE should be NO_SUPPORT without a domain driver");
    }
    if (a.prog != b.prog || a.vers != b.vers || a.proc != b.proc || a.type != b.type ||
        a.serial != b.serial || a.status != b.status)
        return g_strdup_printf("header differs: ours prog %#x vers %u proc %d type %u serial %u status %u",
                               a.prog, a.vers, a.proc, a.type, a.serial, a.status);
    struct xdr_reader r;
    frame_payload(ours, &r);
    if (b.prog == RPC_PROG_REMOTE && b.proc == REMOTE_PROC_CONNECT_GET_TYPE && b.status == 0) {
        g_autofree char *type = xdr_get_string(&r, 100);
        return g_strcmp0(type, "QEMU") == 0 ? NULL : g_strdup("GET_TYPE is not QEMU");
    }
    if (b.prog == RPC_PROG_REMOTE && b.proc == REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS && b.status == 0) {
        uint32_t n = xdr_get_u32(&r), ret = xdr_get_u32(&r);
        return n == 0 && ret == 0 && xdr_ok(&r) && xdr_remaining(&r) == 0
                   ? NULL : g_strdup("LIST_ALL_DOMAINS is not the empty list");
    }
    if (b.prog == RPC_PROG_REMOTE && b.proc == REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY &&
        b.status == 0) {
        *our_callback_id = xdr_get_i32(&r);
        return xdr_ok(&r) && xdr_remaining(&r) == 0 ? NULL : g_strdup("bad callback ID reply");
    }
    if (!g_bytes_equal(ours, theirs)) {
        g_autofree char *x = hex_encode(g_bytes_get_data(ours, NULL), g_bytes_get_size(ours));
        g_autofree char *y = hex_encode(g_bytes_get_data(theirs, NULL), g_bytes_get_size(theirs));
        return g_strdup_printf("payload differs:\n#   ours     %s\n#   recorded %s", x, y);
    }
    return NULL;
}

static void replay(const char *trace, bool expect_close)
{
    GPtrArray *frames = load_trace(trace);
    TAP_CHECK(frames->len > 0, "%s: loaded %u frames", trace, frames->len);
    struct fake_transport t;
    struct rpc_client *c = fake_client(&t, false);
    GPtrArray *expected = g_ptr_array_new();
    int32_t our_callback_id = -1;
    for (guint i = 0; i < frames->len; i++) {
        struct recorded *r = g_ptr_array_index(frames, i);
        if (r->from_client) {
            g_autoptr(GBytes) f = rewrite_call(r->frame, our_callback_id);
            feed_bytes(c, f);
        } else if (!is_daemon_ping(r->frame)) {
            g_ptr_array_add(expected, r->frame);
        }
        /* Compare answers as soon as both sides have them (callback IDs
         * learnt from a reply are needed by later calls). */
        static guint compared;
        if (i == 0)
            compared = 0;
        while (compared < expected->len && compared < t.frames->len) {
            GBytes *theirs = g_ptr_array_index(expected, compared);
            GBytes *ours = g_ptr_array_index(t.frames, compared);
            struct rpc_header h = frame_header(theirs);
            g_autofree char *diff = compare(ours, theirs, &our_callback_id);
            TAP_CHECK(diff == NULL, "%s: answer %u (proc %d serial %u type %u)%s%s", trace, compared + 1,
                      h.proc, h.serial, h.type, diff ? ": " : "", diff ? diff : "");
            compared++;
        }
    }
    TAP_EQ_U64(t.frames->len, expected->len, "same number of answers as libvirtd");
    if (expect_close)
        TAP_CHECK(t.closes == 1 && t.close_flush, "%s: closed after the CONNECT_CLOSE reply", trace);
    fake_free(&t, c);
    for (guint i = 0; i < frames->len; i++) {
        struct recorded *r = g_ptr_array_index(frames, i);
        g_bytes_unref(r->frame);
        g_free(r);
    }
    g_ptr_array_unref(frames);
    g_ptr_array_unref(expected);
}

/* Stand-in for the domain driver's lookup: decode, then "not found". */
static enum rpc_result lookup_by_name(struct rpc_call *call, struct xdr_reader *args,
                                      struct xdr_writer *ret, struct rpc_error *err)
{
    g_autofree char *name = xdr_get_string(args, 1 << 22);
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    rpc_error_set(err, VIR_ERR_NO_DOMAIN, VIR_FROM_QEMU, "no domain with matching name '%s'", name);
    return RPC_REPLY_ERROR;
}

int main(void)
{
    remote_register(NULL);
    domain_placeholder_register();
    rpc_register(RPC_PROG_REMOTE, 23, NULL, lookup_by_name, NULL, 0);
    replay("01-connect-list-all.jsonl", true);
    replay("25-raw-edge-cases.jsonl", true);
    replay("18-keepalive.jsonl", true);
    return tap_done();
}
