/* Domain event messages (daemon/remote_domain.c, libvirt-rpc.md §7) byte
 * for byte against libvirtd's (traces/13-event-lifecycle.txt,
 * 35-python-events-qemu.txt), for callback-style registrations (316) and
 * legacy ones (167), plus the REBOOT and BALLOON_CHANGE layouts. */
#include <glib.h>
#include <string.h>

#include "daemon/remote.h"
#include "daemon/remote_domain.h"
#include "tests/tap.h"
#include "tests/unit/rpc-test-util.h"

/* Trace 13 frame #15: callback 0x1d, "hvdtest", uuid 1111..5555, id -1,
 * DEFINED/ADDED. Trace 35: "qtest" id 2, SUSPENDED/PAUSED. */
static const char *trace13_defined =
    "0000004820008086000000010000013e0000000200000001000000000000001d00000007687664746573740011"
    "111111222233334444555555555555ffffffff0000000000000000";
static const char *trace35_suspended =
    "0000004820008086000000010000013e000000020000000100000000000000010000000571746573740000005b"
    "2d0855197e4de0b0d8f0cf5d731819000000020000000300000000";

static uint32_t serial = 0;

static GBytes *call(struct rpc_client *c, struct fake_transport *t, int32_t proc,
                    const struct xdr_writer *args)
{
    GBytes *f = make_frame(RPC_PROG_REMOTE, proc, RPC_TYPE_CALL, serial++, args ? args->data : NULL,
                           args ? args->len : 0);
    feed_bytes(c, f);
    g_bytes_unref(f);
    return t->frames->len ? g_ptr_array_index(t->frames, t->frames->len - 1) : NULL;
}

static int32_t register_cb(struct rpc_client *c, struct fake_transport *t, int event_id)
{
    struct xdr_writer a;
    xdr_writer_init(&a, 1024);
    xdr_put_i32(&a, event_id);
    xdr_put_u32(&a, 0); /* dom: absent */
    GBytes *r = call(c, t, REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, &a);
    xdr_writer_free(&a);
    struct xdr_reader rd;
    frame_payload(r, &rd);
    return frame_header(r).status == 0 ? xdr_get_i32(&rd) : -1;
}

/* The msg of a trace frame: the payload after its callbackID. */
static uint8_t *trace_msg(const char *hex, size_t *len, struct rpc_header *hdr)
{
    size_t n;
    uint8_t *f = hex_decode(hex, &n);
    rpc_header_decode(f + 4, hdr);
    *len = n - 32;
    uint8_t *msg = g_memdup2(f + 32, *len);
    g_free(f);
    return msg;
}

static bool frame_is(GBytes *b, int32_t proc, int32_t cbid, const uint8_t *msg, size_t len)
{
    gsize n;
    const uint8_t *d = g_bytes_get_data(b, &n);
    struct rpc_header h = frame_header(b);
    size_t head = cbid >= 0 ? 4 : 0;
    if (h.type != RPC_TYPE_MESSAGE || h.serial != 1 || h.status != 0 || h.proc != proc ||
        n != 28 + head + len)
        return false;
    if (cbid >= 0) {
        uint8_t be[4] = { (uint8_t)(cbid >> 24), (uint8_t)(cbid >> 16), (uint8_t)(cbid >> 8),
                          (uint8_t)cbid };
        if (memcmp(d + 28, be, 4) != 0)
            return false;
    }
    return memcmp(d + 28 + head, msg, len) == 0;
}

int main(void)
{
    struct remote_config rcfg = { .default_uri = "qemu:///system", .emulator = "/bin/true" };
    remote_register(&rcfg);
    remote_domain_register();

    struct fake_transport t, tl;
    struct rpc_client *c = fake_client(&t, false);
    struct rpc_client *legacy = fake_client(&tl, true); /* read-only may listen too */
    rpc_client_set_open(c, "qemu:///system", false);
    rpc_client_set_open(legacy, "qemu:///system", true);

    /* Callback ids are daemon-wide (trace 13 got 0x1d): compare the id
     * with the one handed out, the rest with the trace. */
    int32_t cb_life = register_cb(c, &t, 0);
    int32_t cb_reboot = register_cb(c, &t, 1);
    int32_t cb_balloon = register_cb(c, &t, 13);
    TAP_CHECK(cb_life >= 0 && cb_reboot > cb_life && cb_balloon > cb_reboot,
              "callback registrations: %d %d %d", cb_life, cb_reboot, cb_balloon);

    /* Legacy registration: {eventID} -> void. */
    struct xdr_writer a;
    xdr_writer_init(&a, 64);
    xdr_put_i32(&a, 0);
    GBytes *r = call(legacy, &tl, 167, &a);
    TAP_CHECK(r && frame_header(r).type == RPC_TYPE_REPLY && frame_header(r).status == 0 &&
                  g_bytes_get_size(r) == 28,
              "legacy REGISTER_ANY(LIFECYCLE): void reply");
    r = call(legacy, &tl, 167, &a);
    int code = 0, dom = 0;
    g_autofree char *msg = NULL;
    TAP_CHECK(frame_header(r).status == 1 && decode_error(r, &code, &dom, &msg) &&
                  g_strcmp0(msg, "internal error: domain event 0 already registered") == 0,
              "registering twice: %s", msg ? msg : "?");
    xdr_writer_free(&a);

    /* Lifecycle, DEFINED/ADDED of trace 13. */
    struct rpc_header th;
    size_t len;
    g_autofree uint8_t *m13 = trace_msg(trace13_defined, &len, &th);
    TAP_CHECK(th.proc == REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE && th.serial == 1,
              "trace frame is proc 318, serial 1");
    struct xdr_writer w;
    xdr_writer_init(&w, 4096);
    const uint8_t uuid13[16] = { 0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x33, 0x33,
                                 0x44, 0x44, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55 };
    remote_domain_event_put_dom(&w, "hvdtest", uuid13, -1);
    xdr_put_i32(&w, 0);
    xdr_put_i32(&w, 0);
    TAP_CHECK(w.len == len && memcmp(w.data, m13, len) == 0,
              "lifecycle msg encodes exactly as trace 13 #15");
    guint n_before = t.frames->len, l_before = tl.frames->len;
    unsigned sent = remote_domain_event_send(0, uuid13, 107, 318, &w);
    TAP_EQ_U64(sent, 2, "sent to the callback client and the legacy client");
    TAP_CHECK(t.frames->len == n_before + 1 &&
                  frame_is(g_ptr_array_index(t.frames, n_before), 318, cb_life, m13, len),
              "callback client: proc 318 = callbackID + trace bytes");
    TAP_CHECK(tl.frames->len == l_before + 1 &&
                  frame_is(g_ptr_array_index(tl.frames, l_before), 107, -1, m13, len),
              "legacy client: proc 107 = the same msg without callbackID");
    xdr_writer_free(&w);

    /* Trace 35: a running domain (id 2), SUSPENDED/PAUSED. */
    g_autofree uint8_t *m35 = trace_msg(trace35_suspended, &len, &th);
    const uint8_t uuid35[16] = { 0x5b, 0x2d, 0x08, 0x55, 0x19, 0x7e, 0x4d, 0xe0,
                                 0xb0, 0xd8, 0xf0, 0xcf, 0x5d, 0x73, 0x18, 0x19 };
    xdr_writer_init(&w, 4096);
    remote_domain_event_put_dom(&w, "qtest", uuid35, 2);
    xdr_put_i32(&w, 3);
    xdr_put_i32(&w, 0);
    TAP_CHECK(w.len == len && memcmp(w.data, m35, len) == 0,
              "running domain's lifecycle msg equals trace 35 (name padding, id 2)");
    xdr_writer_free(&w);

    /* REBOOT: {callbackID, dom} as 319; legacy 169 not registered. */
    xdr_writer_init(&w, 4096);
    remote_domain_event_put_dom(&w, "qtest", uuid35, 2);
    n_before = t.frames->len;
    l_before = tl.frames->len;
    sent = remote_domain_event_send(1, uuid35, 169, 319, &w);
    TAP_CHECK(sent == 1 && t.frames->len == n_before + 1 &&
                  frame_is(g_ptr_array_index(t.frames, n_before), 319, cb_reboot, w.data, w.len) &&
                  tl.frames->len == l_before,
              "reboot: proc 319 {callbackID, dom}, not to a client that did not ask");
    xdr_writer_free(&w);

    /* BALLOON_CHANGE: {callbackID, dom, actual:u64 KiB} as 331. */
    xdr_writer_init(&w, 4096);
    remote_domain_event_put_dom(&w, "qtest", uuid35, 2);
    xdr_put_u64(&w, 262144);
    n_before = t.frames->len;
    sent = remote_domain_event_send(13, uuid35, 276, 331, &w);
    gsize fl = 0;
    const uint8_t *fd = t.frames->len > n_before
                            ? g_bytes_get_data(g_ptr_array_index(t.frames, n_before), &fl)
                            : NULL;
    static const uint8_t actual_be[8] = { 0, 0, 0, 0, 0, 0x04, 0, 0 };
    TAP_CHECK(sent == 1 && fd && frame_is(g_ptr_array_index(t.frames, n_before), 331, cb_balloon,
                                          w.data, w.len) &&
                  memcmp(fd + fl - 8, actual_be, 8) == 0,
              "balloon change: proc 331, actual 262144 KiB as a big-endian u64 at the end");
    xdr_writer_free(&w);

    /* Legacy deregistration. */
    xdr_writer_init(&a, 64);
    xdr_put_i32(&a, 0);
    r = call(legacy, &tl, 168, &a);
    TAP_CHECK(frame_header(r).status == 0, "legacy DEREGISTER_ANY(LIFECYCLE)");
    r = call(legacy, &tl, 168, &a);
    g_clear_pointer(&msg, g_free);
    TAP_CHECK(frame_header(r).status == 1 && decode_error(r, &code, &dom, &msg) &&
                  g_strcmp0(msg, "internal error: domain event 0 not registered") == 0,
              "deregistering again: %s", msg ? msg : "?");
    xdr_writer_free(&a);
    xdr_writer_init(&w, 4096);
    remote_domain_event_put_dom(&w, "hvdtest", uuid13, -1);
    xdr_put_i32(&w, 1);
    xdr_put_i32(&w, 0);
    l_before = tl.frames->len;
    remote_domain_event_send(0, uuid13, 107, 318, &w);
    TAP_EQ_U64(tl.frames->len - l_before, 0, "no legacy event after deregistration");
    xdr_writer_free(&w);

    fake_free(&t, c);
    fake_free(&tl, legacy);
    rpc_unregister_all();
    return tap_done();
}
