/* RPC layer: framing (split, coalesced, oversized, truncated frames), header
 * checks (program, version, type), dispatch rules (open, read-only,
 * NO_SUPPORT), error layout byte-for-byte against libvirtd's frames,
 * keepalive, deferred replies, events, connection procedures. */
#include <glib/gstdio.h>
#include <libxml/parser.h>
#include <libxml/relaxng.h>

#include "tests/unit/domain-placeholder.h"
#include "daemon/hostinfo.h"
#include "daemon/remote.h"
#include "tests/tap.h"
#include "tests/unit/rpc-test-util.h"

/* Frames captured from libvirtd 9.0 (tests/data/rpc). */
static const char *TRACE36_NO_DOMAIN = /* 36 #14: LOOKUP_BY_NAME 'nosuch', error 42/10 */
    "000000c82000808600000001000000170000000100000006000000010000002a0000000a00000001000000374"
    "46f6d61696e206e6f7420666f756e643a206e6f20646f6d61696e2077697468206d61746368696e67206e616d"
    "6520276e6f73756368270000000002000000000000000100000014446f6d61696e206e6f7420666f756e643a20"
    "257300000001000000256e6f20646f6d61696e2077697468206d61746368696e67206e616d6520276e6f737563"
    "682700000000000000ffffffffffffffff00000000";
static const char *TRACE23_NO_SUPPORT = /* 23 #112: OPEN_CONSOLE serial 0x37, error 3/20 */
    "000000f42000808600000001000000c90000000100000037000000010000000300000014000000010000004d74"
    "6869732066756e6374696f6e206973206e6f7420737570706f727465642062792074686520636f6e6e6563746"
    "96f6e206472697665723a20766972446f6d61696e4f70656e436f6e736f6c6500000000000002000000000000"
    "00010000003b746869732066756e6374696f6e206973206e6f7420737570706f727465642062792074686520"
    "636f6e6e656374696f6e206472697665723a202573000000000100000014766972446f6d61696e4f70656e436"
    "f6e736f6c6500000000ffffffffffffffff00000000";

static GBytes *last_frame(struct fake_transport *t)
{
    return t->frames->len ? g_ptr_array_index(t->frames, t->frames->len - 1) : NULL;
}

static bool frame_is_hex(GBytes *b, const char *hex)
{
    if (!b)
        return false;
    gsize n;
    const uint8_t *d = g_bytes_get_data(b, &n);
    g_autofree char *got = hex_encode(d, n);
    bool same = strcmp(got, hex) == 0;
    if (!same)
        printf("#   got      %s\n#   expected %s\n", got, hex);
    return same;
}

/* Send CONNECT_OPEN(name, flags) and return whether the reply was OK. */
static bool open_client(struct rpc_client *c, struct fake_transport *t, const char *name,
                        uint32_t flags, uint32_t serial)
{
    struct xdr_writer w;
    xdr_writer_init(&w, 0);
    xdr_put_optional_string(&w, name, 1 << 22);
    xdr_put_u32(&w, flags);
    g_autoptr(GBytes) f = make_frame(RPC_PROG_REMOTE, REMOTE_PROC_CONNECT_OPEN, 0, serial, w.data, w.len);
    xdr_writer_free(&w);
    guint before = t->frames->len;
    feed_bytes(c, f);
    return t->frames->len == before + 1 && frame_header(last_frame(t)).status == RPC_STATUS_OK;
}

static GBytes *call(struct rpc_client *c, struct fake_transport *t, int proc, uint32_t serial,
                    const void *payload, size_t len)
{
    g_autoptr(GBytes) f = make_frame(RPC_PROG_REMOTE, proc, 0, serial, payload, len);
    guint before = t->frames->len;
    feed_bytes(c, f);
    return t->frames->len > before ? last_frame(t) : NULL;
}

static void test_header_and_framing(void)
{
    struct fake_transport t;
    struct rpc_client *c = fake_client(&t, false);

    /* §2: the first packet every client sends. */
    g_autoptr(GBytes) auth = make_frame(RPC_PROG_REMOTE, REMOTE_PROC_AUTH_LIST, 0, 0, NULL, 0);
    TAP_CHECK(frame_is_hex(auth, "0000001c20008086000000010000004200000000000000000000000"
                                 "0"),
              "frame builder writes libvirt's AUTH_LIST call byte-for-byte");

    /* One byte at a time. */
    gsize n;
    const uint8_t *d = g_bytes_get_data(auth, &n);
    for (gsize i = 0; i < n; i++)
        rpc_client_feed(c, d + i, 1);
    TAP_EQ_U64(t.frames->len, 1, "frame fed byte by byte gives one reply");
    TAP_CHECK(frame_is_hex(last_frame(&t), "0000002420008086000000010000004200000001000000000000000"
                                           "00000000100000000"),
              "AUTH_LIST reply equals libvirtd's (types = [NONE])");

    /* Three frames in one write, split at an odd place across two writes. */
    GByteArray *many = g_byte_array_new();
    for (uint32_t s = 1; s <= 3; s++) {
        g_autoptr(GBytes) f = make_frame(RPC_PROG_REMOTE, REMOTE_PROC_AUTH_LIST, 0, s, NULL, 0);
        g_byte_array_append(many, g_bytes_get_data(f, NULL), (guint)g_bytes_get_size(f));
    }
    rpc_client_feed(c, many->data, 30);
    TAP_EQ_U64(t.frames->len, 2, "first of three frames answered after 30 bytes");
    TAP_CHECK(rpc_client_pending_input(c) == 2, "two bytes of the next frame kept");
    rpc_client_feed(c, many->data + 30, many->len - 30);
    TAP_EQ_U64(t.frames->len, 4, "the other two answered after the rest arrived");
    TAP_EQ_U64(frame_header(last_frame(&t)).serial, 3, "replies keep the call serials");
    g_byte_array_unref(many);

    /* Truncated: half a frame waits, nothing answered. */
    rpc_client_feed(c, d, 10);
    TAP_CHECK(t.frames->len == 4 && rpc_client_pending_input(c) == 10, "half a frame waits");
    rpc_client_feed(c, d + 10, n - 10);
    TAP_CHECK(t.frames->len == 5 && rpc_client_pending_input(c) == 0, "and completes later");
    fake_free(&t, c);

    /* Length word checks (§2 size limits). */
    static const uint8_t too_small[] = { 0, 0, 0, 27 };
    c = fake_client(&t, false);
    TAP_CHECK(!rpc_client_feed(c, too_small, 4), "length 27 (< 28) closes the client");
    TAP_EQ_U64(t.frames->len, 0, "no reply to a malformed length");
    fake_free(&t, c);
    static const uint8_t too_big[] = { 0x02, 0x00, 0x00, 0x05 }; /* 32 MiB + 5 */
    c = fake_client(&t, false);
    TAP_CHECK(!rpc_client_feed(c, too_big, 4), "length 32 MiB + 5 closes the client");
    fake_free(&t, c);
    static const uint8_t max_ok[] = { 0x02, 0x00, 0x00, 0x04, 0x20, 0x00 };
    c = fake_client(&t, false);
    TAP_CHECK(rpc_client_feed(c, max_ok, sizeof(max_ok)), "length 32 MiB + 4 accepted (waits for data)");
    fake_free(&t, c);
}

static void test_program_version_type(void)
{
    struct fake_transport t;
    struct rpc_client *c = fake_client(&t, false);
    g_autoptr(GBytes) bad_prog = make_frame(0x12345678, 1, 0, 3, NULL, 0);
    feed_bytes(c, bad_prog);
    /* Trace 25 #8, byte for byte. */
    /* Trace 25 frame 8, byte for byte. */
    TAP_CHECK(frame_is_hex(last_frame(&t),
                           "000000a812345678000000010000000100000001000000030000000100000027000000070000000100000027"
                           "43616e6e6f742066696e642070726f6772616d203330353431393839362076657273696f6e20310000000002"
                           "00000000000000010000000225730000000000010000002743616e6e6f742066696e642070726f6772616d20"
                           "3330353431393839362076657273696f6e20310000000000ffffffffffffffff00000000"),
              "unknown program: libvirtd's 'Cannot find program 305419896 version 1' error frame");
    struct rpc_header h = frame_header(last_frame(&t));
    TAP_CHECK(h.prog == 0x12345678 && h.type == RPC_TYPE_REPLY && h.status == RPC_STATUS_ERROR &&
                  h.serial == 3,
              "error reply echoes the unknown program and serial");

    struct rpc_header v2 = { RPC_PROG_REMOTE, 2, REMOTE_PROC_AUTH_LIST, 0, 4, 0 };
    size_t flen;
    uint8_t *f = rpc_frame_build(&v2, NULL, 0, &flen);
    rpc_client_feed(c, f, flen);
    free(f);
    int code, dom;
    g_autofree char *msg = NULL;
    TAP_CHECK(decode_error(last_frame(&t), &code, &dom, &msg) &&
                  g_strcmp0(msg, "Cannot find program 536903814 version 2") == 0,
              "wrong program version refused: %s", msg ? msg : "");

    guint before = t.frames->len;
    g_autoptr(GBytes) reply = make_frame(RPC_PROG_REMOTE, REMOTE_PROC_AUTH_LIST, RPC_TYPE_REPLY, 5, NULL, 0);
    TAP_CHECK(feed_bytes(c, reply) && t.frames->len == before, "a REPLY from the client is dropped silently");
    g_autoptr(GBytes) weird = make_frame(RPC_PROG_REMOTE, REMOTE_PROC_AUTH_LIST, 99, 6, NULL, 0);
    TAP_CHECK(feed_bytes(c, weird) && t.frames->len == before, "message type 99 is dropped silently");
    g_autoptr(GBytes) ok = make_frame(RPC_PROG_REMOTE, REMOTE_PROC_AUTH_LIST, 0, 7, NULL, 0);
    feed_bytes(c, ok);
    TAP_CHECK(t.frames->len == before + 1 && frame_header(last_frame(&t)).status == 0,
              "client still served after bad frames");
    fake_free(&t, c);
}

static void test_error_layout(void)
{
    /* Byte-for-byte against libvirtd's remote_error for a QEMU-driver error. */
    struct rpc_error err = { 0 };
    rpc_error_set(&err, VIR_ERR_NO_DOMAIN, VIR_FROM_QEMU, "no domain with matching name '%s'", "nosuch");
    TAP_EQ_STR(err.message, "Domain not found: no domain with matching name 'nosuch'", "message gets libvirt's prefix");
    struct xdr_writer w;
    xdr_writer_init(&w, 0);
    rpc_error_encode(&w, &err);
    struct rpc_header h = { RPC_PROG_REMOTE, 1, 23, RPC_TYPE_REPLY, 6, RPC_STATUS_ERROR };
    size_t flen;
    uint8_t *f = rpc_frame_build(&h, w.data, w.len, &flen);
    g_autoptr(GBytes) b = g_bytes_new_take(f, flen);
    TAP_CHECK(frame_is_hex(b, TRACE36_NO_DOMAIN), "remote_error layout equals trace 36 frame 14");
    xdr_writer_free(&w);
    rpc_error_clear(&err);

    /* NO_SUPPORT for a procedure nobody registered, vs trace 23 frame 112. */
    struct fake_transport t;
    struct rpc_client *c = fake_client(&t, false);
    TAP_CHECK(open_client(c, &t, "qemu:///system", 0, 0), "open qemu:///system");
    struct xdr_writer a;
    xdr_writer_init(&a, 0);
    xdr_put_string(&a, "x", 100);
    uint8_t uuid[16] = { 0 };
    xdr_put_opaque_fixed(&a, uuid, 16);
    xdr_put_i32(&a, -1);
    xdr_put_u32(&a, 0);
    xdr_put_u32(&a, 0);
    GBytes *r = call(c, &t, 201, 0x37, a.data, a.len);
    xdr_writer_free(&a);
    TAP_CHECK(frame_is_hex(r, TRACE23_NO_SUPPORT),
              "unimplemented procedure: NO_SUPPORT reply equals libvirtd's for virDomainOpenConsole");
    fake_free(&t, c);
}

static enum rpc_result mutating_handler(struct rpc_call *call, struct xdr_reader *args,
                                        struct xdr_writer *ret, struct rpc_error *err)
{
    return RPC_REPLY_OK;
}

static struct rpc_call *deferred_call;
static enum rpc_result deferring_handler(struct rpc_call *call, struct xdr_reader *args,
                                         struct xdr_writer *ret, struct rpc_error *err)
{
    deferred_call = rpc_call_defer(call);
    return RPC_REPLY_DEFERRED;
}

static enum rpc_result replacement_list(struct rpc_call *call, struct xdr_reader *args,
                                        struct xdr_writer *ret, struct rpc_error *err)
{
    xdr_put_i32(ret, 42);
    return RPC_REPLY_OK;
}

static void test_dispatch_rules(void)
{
    struct fake_transport t;
    struct rpc_client *c = fake_client(&t, false);
    int code, dom;

    GBytes *r = call(c, &t, REMOTE_PROC_CONNECT_GET_TYPE, 0, NULL, 0);
    g_autofree char *m1 = NULL;
    TAP_CHECK(r && decode_error(r, &code, &dom, &m1) && code == 1 && dom == 7 &&
                  g_strcmp0(m1, "internal error: hypervisor connection not open") == 0,
              "call before CONNECT_OPEN refused like libvirtd");
    r = call(c, &t, 9999, 1, NULL, 0);
    g_autofree char *m2 = NULL;
    TAP_CHECK(r && decode_error(r, &code, &dom, &m2) && code == 39 &&
                  g_strcmp0(m2, "unknown procedure: 9999") == 0,
              "unknown procedure number: RPC error 'unknown procedure: 9999'");

    g_autoptr(GBytes) ping = make_frame(RPC_PROG_KEEPALIVE, KEEPALIVE_PROC_PING, RPC_TYPE_MESSAGE, 0, NULL, 0);
    feed_bytes(c, ping);
    TAP_CHECK(frame_is_hex(last_frame(&t), "0000001c6b656570000000010000000200000002000000000000000"
                                           "0"),
              "PING before open answered with libvirtd's PONG frame");

    TAP_CHECK(open_client(c, &t, "hvd:///system", 0, 2), "CONNECT_OPEN hvd:///system");
    TAP_CHECK(!open_client(c, &t, "hvd:///system", 0, 3), "second CONNECT_OPEN refused");
    g_autofree char *m3 = NULL;
    TAP_CHECK(decode_error(last_frame(&t), &code, &dom, &m3) &&
                  g_strcmp0(m3, "internal error: connection already open") == 0,
              "with libvirtd's text");

    /* Truncated args. */
    static const uint8_t two[] = { 0, 0 };
    r = call(c, &t, REMOTE_PROC_CONNECT_SUPPORTS_FEATURE, 4, two, 2);
    g_autofree char *m4 = NULL;
    TAP_CHECK(r && decode_error(r, &code, &dom, &m4) && code == 39 &&
                  g_strcmp0(m4, "Unable to decode message payload") == 0,
              "truncated args: 'Unable to decode message payload'");

    /* Registration override and the placeholder. */
    struct xdr_writer a;
    xdr_writer_init(&a, 0);
    r = call(c, &t, REMOTE_PROC_CONNECT_NUM_OF_DOMAINS, 5, NULL, 0);
    struct xdr_reader rd;
    frame_payload(r, &rd);
    TAP_CHECK(xdr_get_i32(&rd) == 0 && xdr_ok(&rd), "placeholder NUM_OF_DOMAINS answers 0");
    rpc_register(RPC_PROG_REMOTE, REMOTE_PROC_CONNECT_NUM_OF_DOMAINS, NULL, replacement_list, NULL, 0);
    r = call(c, &t, REMOTE_PROC_CONNECT_NUM_OF_DOMAINS, 6, NULL, 0);
    frame_payload(r, &rd);
    TAP_CHECK(xdr_get_i32(&rd) == 42, "a later registration (the domain driver) replaces it");
    domain_placeholder_register();
    xdr_writer_free(&a);

    /* Read-only rules. */
    rpc_register(RPC_PROG_REMOTE, 12 /* DOMAIN_DESTROY */, NULL, mutating_handler, NULL, 0);
    r = call(c, &t, 12, 7, NULL, 0);
    TAP_CHECK(r && frame_header(r).status == RPC_STATUS_OK, "mutating call allowed read-write");
    fake_free(&t, c);

    c = fake_client(&t, true);
    TAP_CHECK(open_client(c, &t, "qemu:///system", 0, 0), "open on the read-only socket");
    r = call(c, &t, 12, 1, NULL, 0);
    g_autofree char *m5 = NULL;
    TAP_CHECK(r && decode_error(r, &code, &dom, &m5) && code == VIR_ERR_OPERATION_DENIED &&
                  dom == VIR_FROM_DOMAIN &&
                  g_strcmp0(m5, "operation forbidden: read only access prevents virDomainDestroy") == 0,
              "mutating call on the read-only socket denied: %s", m5 ? m5 : "");
    r = call(c, &t, REMOTE_PROC_CONNECT_GET_HOSTNAME, 2, NULL, 0);
    TAP_CHECK(r && frame_header(r).status == RPC_STATUS_OK, "read-only call allowed on it");
    r = call(c, &t, 11 /* DOMAIN_DEFINE_XML, unregistered */, 3, NULL, 0);
    g_autofree char *m6 = NULL;
    TAP_CHECK(r && decode_error(r, &code, &dom, &m6) && code == VIR_ERR_OPERATION_DENIED &&
                  g_strcmp0(m6, "operation forbidden: read only access prevents virDomainDefineXML") == 0,
              "unregistered mutating call: denied before 'not supported', as libvirt orders it");
    r = call(c, &t, 16 /* DOMAIN_GET_INFO, unregistered */, 4, NULL, 0);
    g_autofree char *m7 = NULL;
    TAP_CHECK(r && decode_error(r, &code, &dom, &m7) && code == VIR_ERR_NO_SUPPORT,
              "unregistered query on read-only: NO_SUPPORT");
    TAP_CHECK(remote_proc_readonly_ok(REMOTE_PROC_DOMAIN_GET_XML_DESC) &&
                  remote_proc_readonly_ok(REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS) &&
                  remote_proc_readonly_ok(REMOTE_PROC_DOMAIN_MEMORY_STATS) &&
                  !remote_proc_readonly_ok(REMOTE_PROC_DOMAIN_CREATE) &&
                  !remote_proc_readonly_ok(REMOTE_PROC_DOMAIN_SET_MEMORY_FLAGS) &&
                  !remote_proc_readonly_ok(REMOTE_PROC_NODE_DEVICE_DETTACH) &&
                  !remote_proc_readonly_ok(REMOTE_PROC_DOMAIN_GET_HOSTNAME) &&
                  !remote_proc_readonly_ok(REMOTE_PROC_DOMAIN_OPEN_CONSOLE) &&
                  !remote_proc_readonly_ok(REMOTE_PROC_DOMAIN_SET_MEMORY_STATS_PERIOD) &&
                  !remote_proc_readonly_ok(9999),
              "read-only procedures as libvirt allows them (the procedure table)");
    fake_free(&t, c);

    c = fake_client(&t, false);
    TAP_CHECK(open_client(c, &t, "qemu:///system", 1 /* VIR_CONNECT_RO */, 0), "open read-only by flag");
    r = call(c, &t, 12, 1, NULL, 0);
    TAP_CHECK(r && frame_header(r).status == RPC_STATUS_ERROR, "RO flag also denies mutating calls");
    rpc_register(RPC_PROG_REMOTE, 16 /* DOMAIN_GET_INFO */, NULL, deferring_handler, NULL, 0);
    guint before = t.frames->len;
    call(c, &t, 16, 77, NULL, 0);
    TAP_CHECK(t.frames->len == before && deferred_call, "deferred call sends nothing yet");
    rpc_call_finish(deferred_call, NULL, NULL);
    TAP_CHECK(t.frames->len == before + 1 && frame_header(last_frame(&t)).serial == 77 &&
                  frame_header(last_frame(&t)).proc == 16,
              "deferred reply carries the call's serial and proc");

    /* CONNECT_CLOSE replies, then asks the transport to close after flush. */
    r = call(c, &t, REMOTE_PROC_CONNECT_CLOSE, 78, NULL, 0);
    TAP_CHECK(r && frame_header(r).status == 0 && t.closes == 1 && t.close_flush,
              "CONNECT_CLOSE: reply, then close after flushing");

    /* A deferred answer for a client that went away is dropped quietly. */
    call(c, &t, 16, 79, NULL, 0);
    guint n = t.frames->len;
    fake_free(&t, c);
    rpc_call_finish(deferred_call, NULL, NULL);
    TAP_CHECK(n > 0, "late reply to a vanished client did not crash");
}

static void test_events(void)
{
    struct fake_transport t;
    struct rpc_client *c = fake_client(&t, false);
    open_client(c, &t, "hvd:///system", 0, 0);
    struct xdr_writer a;
    xdr_writer_init(&a, 0);
    xdr_put_i32(&a, 0); /* LIFECYCLE */
    xdr_put_u32(&a, 0); /* all domains */
    GBytes *r = call(c, &t, REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, 1, a.data, a.len);
    xdr_writer_free(&a);
    struct xdr_reader rd;
    frame_payload(r, &rd);
    int32_t cb = xdr_get_i32(&rd);
    TAP_CHECK(xdr_ok(&rd) && cb >= 0 && remote_client_event_count(c) == 1, "event callback registered (id %d)", cb);

    uint8_t uuid[16] = { 0x11, 0x11, 0x11, 0x11 };
    struct xdr_writer msg;
    xdr_writer_init(&msg, 0);
    xdr_put_string(&msg, "hvdtest", 1 << 22);
    xdr_put_opaque_fixed(&msg, uuid, 16);
    xdr_put_i32(&msg, -1);
    xdr_put_i32(&msg, 0);
    xdr_put_i32(&msg, 0);
    guint before = t.frames->len;
    unsigned sent = remote_domain_event_emit(0, uuid, REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE, msg.data, msg.len);
    TAP_CHECK(sent == 1 && t.frames->len == before + 1, "lifecycle event sent to the registered client");
    struct rpc_header h = frame_header(last_frame(&t));
    TAP_CHECK(h.type == RPC_TYPE_MESSAGE && h.proc == 318 && h.serial == 1 && h.status == 0,
              "event frame: MESSAGE, proc 318, serial 1");
    frame_payload(last_frame(&t), &rd);
    TAP_CHECK(xdr_get_i32(&rd) == cb && xdr_remaining(&rd) == msg.len, "payload = callbackID + msg");
    TAP_EQ_U64(remote_domain_event_emit(1, uuid, 319, msg.data, msg.len), 0, "other event IDs not sent");

    xdr_writer_init(&a, 0);
    xdr_put_i32(&a, cb);
    r = call(c, &t, REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, 2, a.data, a.len);
    TAP_CHECK(frame_header(r).status == 0 && remote_client_event_count(c) == 0, "deregistered");
    r = call(c, &t, REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, 3, a.data, a.len);
    TAP_CHECK(frame_header(r).status == RPC_STATUS_ERROR, "deregistering twice is an error");
    xdr_writer_free(&a);
    TAP_EQ_U64(remote_domain_event_emit(0, uuid, 318, msg.data, msg.len), 0, "no event after deregistration");
    xdr_writer_free(&msg);

    r = call(c, &t, REMOTE_PROC_CONNECT_REGISTER_CLOSE_CALLBACK, 4, NULL, 0);
    TAP_CHECK(frame_header(r).status == 0 && remote_client_close_callback(c), "close callback tracked");
    fake_free(&t, c);
}

static void test_connection_procs(void)
{
    struct rpc_error err = { 0 };
    TAP_EQ_U64(remote_check_uri("qemu:///system", &err), VIR_ERR_OK, "qemu:///system accepted");
    TAP_EQ_U64(remote_check_uri("hvd:///system?foo=bar", &err), VIR_ERR_OK, "hvd:///system?foo=bar accepted");
    TAP_EQ_U64(remote_check_uri("", &err), VIR_ERR_OK, "empty name accepted (default URI)");
    TAP_EQ_U64(remote_check_uri("test:///default", &err), VIR_ERR_NO_CONNECT, "test:///default: NO_CONNECT");
    TAP_EQ_STR(err.message, "no connection driver available for test:///default", "with libvirtd's text");
    TAP_CHECK(remote_check_uri("qemu:///bogus", &err) != VIR_ERR_OK, "qemu:///bogus refused");
    TAP_CHECK(remote_check_uri("qemu://otherhost/system", &err) != VIR_ERR_OK, "a host part refused");
    rpc_error_clear(&err);

    struct fake_transport t;
    struct rpc_client *c = fake_client(&t, false);
    open_client(c, &t, "", 0, 0);
    GBytes *r = call(c, &t, REMOTE_PROC_CONNECT_GET_URI, 1, NULL, 0);
    struct xdr_reader rd;
    frame_payload(r, &rd);
    g_autofree char *uri = xdr_get_string(&rd, 1000);
    TAP_EQ_STR(uri, "hvd:///system", "GET_URI after an empty-name open gives the default URI");

    r = call(c, &t, REMOTE_PROC_NODE_GET_INFO, 2, NULL, 0);
    TAP_EQ_U64(g_bytes_get_size(r), 28 + 128 + 8 + 6 * 4, "NODE_GET_INFO payload is 160 bytes");
    frame_payload(r, &rd);
    char model[33] = { 0 };
    for (int i = 0; i < 32; i++)
        model[i] = (char)xdr_get_u32(&rd);
    uint64_t mem = xdr_get_u64(&rd);
    int32_t cpus = xdr_get_i32(&rd);
    TAP_CHECK(strcmp(model, "x86_64") == 0 && mem > 0 && cpus > 0, "node info: %s, %" PRIu64 " KiB, %d cpus",
              model, mem, cpus);

    static const int32_t features[][2] = { { 10, 1 }, { 14, 1 }, { 15, 1 }, { 1, 0 }, { 8, 0 }, { 12345, 0 } };
    for (size_t i = 0; i < G_N_ELEMENTS(features); i++) {
        uint8_t arg[4] = { 0, 0, (uint8_t)(features[i][0] >> 8), (uint8_t)features[i][0] };
        r = call(c, &t, REMOTE_PROC_CONNECT_SUPPORTS_FEATURE, 10 + (uint32_t)i, arg, 4);
        frame_payload(r, &rd);
        TAP_CHECK(xdr_get_i32(&rd) == features[i][1], "feature %d -> %d", features[i][0], features[i][1]);
    }

    /* NODE_GET_MEMORY_STATS two-phase. */
    uint8_t phase1[12] = { 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0 };
    r = call(c, &t, REMOTE_PROC_NODE_GET_MEMORY_STATS, 20, phase1, 12);
    frame_payload(r, &rd);
    uint32_t arr = xdr_get_u32(&rd);
    int32_t nparams = xdr_get_i32(&rd);
    TAP_CHECK(arr == 0 && nparams == 4, "memory stats phase 1: count 4");
    phase1[3] = 4;
    r = call(c, &t, REMOTE_PROC_NODE_GET_MEMORY_STATS, 21, phase1, 12);
    frame_payload(r, &rd);
    arr = xdr_get_u32(&rd);
    g_autofree char *field = xdr_get_string(&rd, 100);
    TAP_CHECK(arr == 4 && g_strcmp0(field, "total") == 0, "memory stats phase 2: 4 fields, first 'total'");

    r = call(c, &t, REMOTE_PROC_CONNECT_GET_CAPABILITIES, 22, NULL, 0);
    frame_payload(r, &rd);
    g_autofree char *caps = xdr_get_string(&rd, 1 << 22);
    xmlDocPtr doc = caps ? xmlReadMemory(caps, (int)strlen(caps), "caps.xml", NULL, XML_PARSE_NONET) : NULL;
    TAP_CHECK(doc != NULL, "capabilities XML is well-formed");
    TAP_CHECK(caps && strstr(caps, "<domain type='kvm'/>") && strstr(caps, "<os_type>hvm</os_type>"),
              "capabilities offer hvm x86_64 with domain type kvm");
    const char *rng = "/usr/share/libvirt/schemas/capability.rng";
    if (doc && g_file_test(rng, G_FILE_TEST_EXISTS)) {
        xmlRelaxNGParserCtxtPtr pc = xmlRelaxNGNewParserCtxt(rng);
        xmlRelaxNGPtr schema = xmlRelaxNGParse(pc);
        xmlRelaxNGValidCtxtPtr vc = xmlRelaxNGNewValidCtxt(schema);
        TAP_CHECK(schema && xmlRelaxNGValidateDoc(vc, doc) == 0, "capabilities validate against libvirt's capability.rng");
        xmlRelaxNGFreeValidCtxt(vc);
        xmlRelaxNGFree(schema);
        xmlRelaxNGFreeParserCtxt(pc);
    }
    xmlFreeDoc(doc);
    fake_free(&t, c);

    /* Topology from a canned cpuinfo: 2 sockets x 2 cores x 2 threads. */
    g_autofree char *dir = g_dir_make_tmp("hvd-test-XXXXXX", NULL);
    g_autofree char *cpuinfo = g_build_filename(dir, "cpuinfo", NULL);
    g_autofree char *meminfo = g_build_filename(dir, "meminfo", NULL);
    GString *ci = g_string_new(NULL);
    for (int p = 0; p < 8; p++)
        g_string_append_printf(ci, "processor\t: %d\ncpu MHz\t\t: 2400.123\nphysical id\t: %d\n"
                               "siblings\t: 4\ncpu cores\t: 2\n\n", p, p / 4);
    g_file_set_contents(cpuinfo, ci->str, -1, NULL);
    g_string_free(ci, TRUE);
    g_file_set_contents(meminfo, "MemTotal:        4046848 kB\nMemFree:  100 kB\n", -1, NULL);
    struct host_node_info ni;
    g_autofree char *why = NULL;
    TAP_CHECK(host_node_info(cpuinfo, meminfo, &ni, &why), "canned host info parses");
    TAP_CHECK(ni.cpus == 8 && ni.sockets == 2 && ni.cores == 2 && ni.threads == 2 && ni.mhz == 2400 &&
                  ni.memory_kib == 4046848,
              "topology 2x2x2 @2400 MHz, 4046848 KiB (got %d cpus %d/%d/%d %d MHz)", ni.cpus,
              ni.sockets, ni.cores, ni.threads, ni.mhz);
    g_file_set_contents(meminfo, "garbage\n", -1, NULL);
    g_autofree char *why2 = NULL;
    TAP_CHECK(!host_node_info(cpuinfo, meminfo, &ni, &why2) && why2, "missing MemTotal reported: %s", why2 ? why2 : "");
    g_unlink(cpuinfo);
    g_unlink(meminfo);
    g_rmdir(dir);
}

int main(void)
{
    remote_register(NULL);
    domain_placeholder_register();
    test_header_and_framing();
    test_program_version_type();
    test_error_layout();
    test_dispatch_rules();
    test_events();
    test_connection_procs();
    return tap_done();
}
