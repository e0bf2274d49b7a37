/* Streams of the remote protocol (daemon/stream.c) through the RPC layer
 * with a fake transport, byte for byte against libvirtd's console trace
 * (traces/34-qemu-console.txt), and the daemon's console end
 * (drivers/domain/console.c) against a fake worker serial socket. */
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/remote.h"
#include "daemon/stream.h"
#include "drivers/domain/console.h"
#include "tests/tap.h"
#include "tests/unit/rpc-test-util.h"

#define PROC_OPEN_CONSOLE 201

/* ------------------------------------------------------------ a test owner */

typedef struct {
    struct rpc_stream *stream;
    GByteArray *got;      /* bytes from the client */
    size_t take_limit;    /* how many bytes data() accepts per call (0 = all) */
    int closed;
    enum rpc_stream_close_reason reason;
    int writable;
} Owner;

static Owner owner;

static size_t owner_data(void *opaque, const uint8_t *buf, size_t len)
{
    Owner *o = opaque;
    size_t n = o->take_limit && len > o->take_limit ? o->take_limit : len;
    if (o->take_limit == (size_t)-1)
        return 0;
    g_byte_array_append(o->got, buf, (guint)n);
    return n;
}

static void owner_writable(void *opaque) { ((Owner *)opaque)->writable++; }

static void owner_closed(void *opaque, enum rpc_stream_close_reason reason)
{
    Owner *o = opaque;
    o->closed++;
    o->reason = reason;
    o->stream = NULL;
}

static const struct rpc_stream_ops owner_ops = {
    .data = owner_data, .writable = owner_writable, .closed = owner_closed,
};

static enum rpc_result h_open(struct rpc_call *call, struct xdr_reader *args, struct xdr_writer *ret,
                              struct rpc_error *err)
{
    (void)ret;
    xdr_skip(args, xdr_remaining(args));
    owner.stream = rpc_stream_new(call, &owner_ops, &owner, err);
    return owner.stream ? RPC_REPLY_OK : RPC_REPLY_ERROR;
}

static void owner_reset(void)
{
    if (owner.got)
        g_byte_array_unref(owner.got);
    memset(&owner, 0, sizeof(owner));
    owner.got = g_byte_array_new();
}

/* ------------------------------------------------------------ helpers */

static struct rpc_client *open_client(struct fake_transport *t, uint32_t serial)
{
    struct rpc_client *c = fake_client(t, false);
    rpc_client_set_open(c, "qemu:///system", false);
    owner_reset();
    GBytes *f = make_frame(RPC_PROG_REMOTE, PROC_OPEN_CONSOLE, RPC_TYPE_CALL, serial, NULL, 0);
    feed_bytes(c, f);
    g_bytes_unref(f);
    return c;
}

static void feed_stream(struct rpc_client *c, uint32_t serial, uint32_t status, const void *data,
                        size_t len)
{
    struct rpc_header h = { RPC_PROG_REMOTE, 1, PROC_OPEN_CONSOLE, RPC_TYPE_STREAM, serial, status };
    size_t flen;
    uint8_t *f = rpc_frame_build(&h, data, len, &flen);
    rpc_client_feed(c, f, flen);
    free(f);
}

static GBytes *last(struct fake_transport *t)
{
    return t->frames->len ? g_ptr_array_index(t->frames, t->frames->len - 1) : NULL;
}

static bool is_stream(GBytes *b, uint32_t serial, uint32_t status, size_t payload_len)
{
    struct rpc_header h = frame_header(b);
    return h.prog == RPC_PROG_REMOTE && h.proc == PROC_OPEN_CONSOLE && h.type == RPC_TYPE_STREAM &&
           h.serial == serial && h.status == status && g_bytes_get_size(b) == 28 + payload_len;
}

static void run_loop(int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;
    while (g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
}

/* ------------------------------------------------------------ trace 34 */

/* The console trace's frames #17..#21, byte for byte: our answers to the
 * client's OPEN_CONSOLE call and its finish must equal libvirtd's. */
static void test_trace34(void)
{
    static const char *call17 =
        "000000442000808600000001000000c90000000000000008000000000000000571746573740000005b2d0855"
        "197e4de0b0d8f0cf5d731819000000020000000000000001";
    static const char *reply18 = "0000001c2000808600000001000000c9000000010000000800000000";
    static const char *data19 = "000000222000808600000001000000c900000003000000080000000268656c6c6f0d";
    static const char *fin20 = "0000001c2000808600000001000000c9000000030000000800000000";
    static const char *fin21 = "0000001c2000808600000001000000c9000000030000000800000000";
    struct fake_transport t;
    struct rpc_client *c = fake_client(&t, false);
    rpc_client_set_open(c, "qemu:///session", false);
    owner_reset();
    size_t n;
    g_autofree uint8_t *b17 = hex_decode(call17, &n);
    TAP_CHECK(n == 0x44, "trace 34 #17 decoded (%zu bytes)", n);
    rpc_client_feed(c, b17, n);
    g_autofree char *r18 = t.frames->len ? hex_encode(g_bytes_get_data(last(&t), NULL),
                                                      g_bytes_get_size(last(&t)))
                                         : g_strdup("");
    TAP_CHECK(strcmp(r18, reply18) == 0, "OPEN_CONSOLE reply equals libvirtd's #18 (%s)", r18);
    TAP_CHECK(owner.stream && rpc_client_stream_count(c) == 1, "stream (201, serial 8) open");
    g_autofree uint8_t *b19 = hex_decode(data19, &n);
    rpc_client_feed(c, b19, n);
    TAP_CHECK(owner.got->len == 6 && memcmp(owner.got->data, "hello\r", 6) == 0,
              "#19: raw bytes 'hello\\r' reach the owner");
    guint before = t.frames->len;
    g_autofree uint8_t *b20 = hex_decode(fin20, &n);
    rpc_client_feed(c, b20, n);
    g_autofree char *r21 = t.frames->len == before + 1
                               ? hex_encode(g_bytes_get_data(last(&t), NULL),
                                            g_bytes_get_size(last(&t)))
                               : g_strdup("");
    TAP_CHECK(strcmp(r21, fin21) == 0, "finish confirmed exactly as libvirtd's #21 (%s)", r21);
    TAP_CHECK(owner.closed == 1 && owner.reason == RPC_STREAM_CLOSED_FINISH,
              "owner told: finished by the client");
    TAP_EQ_U64(rpc_client_stream_count(c), 0, "no stream left");
    before = t.frames->len;
    rpc_client_feed(c, b19, 34);
    TAP_CHECK(t.frames->len == before && rpc_client_is_alive(c),
              "data after the close is dropped, client kept");
    fake_free(&t, c);
}

/* ------------------------------------------------------------ stream rules */

static void test_stream_rules(void)
{
    struct fake_transport t;
    struct rpc_client *c = open_client(&t, 3);
    TAP_CHECK(owner.stream != NULL, "stream made by the handler");

    /* Daemon -> client: raw, chunked at 262120. */
    size_t big = 600000;
    g_autofree uint8_t *data = g_malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)(i * 7);
    guint before = t.frames->len;
    rpc_stream_send(owner.stream, data, big);
    TAP_EQ_U64(t.frames->len - before, 3, "600000 bytes -> 3 packets");
    GBytes *p1 = g_ptr_array_index(t.frames, before);
    GBytes *p3 = g_ptr_array_index(t.frames, before + 2);
    TAP_CHECK(is_stream(p1, 3, RPC_STATUS_CONTINUE, 262120) &&
                  is_stream(p3, 3, RPC_STATUS_CONTINUE, 600000 - 2 * 262120),
              "packets: STREAM/CONTINUE, 262120 + 262120 + 75760 bytes");
    TAP_CHECK(memcmp((const uint8_t *)g_bytes_get_data(p3, NULL) + 28, data + 2 * 262120,
                     600000 - 2 * 262120) == 0,
              "payload is the raw bytes, unpadded");

    /* Client -> daemon, with an owner that takes 2 bytes at a time. */
    owner.take_limit = (size_t)-1; /* takes nothing */
    feed_stream(c, 3, RPC_STATUS_CONTINUE, "abcde", 5);
    TAP_EQ_U64(owner.got->len, 0, "owner busy: bytes kept");
    owner.take_limit = 2;
    rpc_stream_rx_ready(owner.stream);
    TAP_CHECK(owner.got->len == 5 && memcmp(owner.got->data, "abcde", 5) == 0,
              "rx_ready: kept bytes delivered in order");

    /* Overflow: the owner takes nothing and the client keeps sending. */
    owner.take_limit = (size_t)-1;
    g_autofree uint8_t *chunk = g_malloc0(200000);
    before = t.frames->len;
    for (int i = 0; i < 6; i++)
        feed_stream(c, 3, RPC_STATUS_CONTINUE, chunk, 200000);
    GBytes *ov = last(&t);
    int code = 0, dom = 0;
    g_autofree char *msg = NULL;
    TAP_CHECK(t.frames->len == before + 1 && frame_header(ov).type == RPC_TYPE_STREAM &&
                  frame_header(ov).status == RPC_STATUS_ERROR && decode_error(ov, &code, &dom, &msg) &&
                  code == VIR_ERR_RPC && msg && strstr(msg, "stream input overflow"),
              "input overflow: STREAM/ERROR naming it (%s)", msg ? msg : "?");
    TAP_CHECK(owner.closed == 1 && owner.reason == RPC_STREAM_CLOSED_ERROR, "owner told: error");
    TAP_CHECK(rpc_client_is_alive(c), "the client itself stays");
    fake_free(&t, c);

    /* Client abort: confirmed with an empty STREAM/OK. */
    c = open_client(&t, 4);
    feed_stream(c, 4, RPC_STATUS_ERROR, NULL, 0);
    TAP_CHECK(is_stream(last(&t), 4, RPC_STATUS_OK, 0) && owner.closed == 1 &&
                  owner.reason == RPC_STREAM_CLOSED_ABORT,
              "client abort: confirmed with STREAM/OK, owner told");
    fake_free(&t, c);

    /* Unexpected status: a REPLY with libvirtd's RPC error. */
    c = open_client(&t, 5);
    feed_stream(c, 5, 7, NULL, 0);
    GBytes *r = last(&t);
    g_clear_pointer(&msg, g_free);
    TAP_CHECK(frame_header(r).type == RPC_TYPE_REPLY && frame_header(r).status == RPC_STATUS_ERROR &&
                  decode_error(r, &code, &dom, &msg) && code == VIR_ERR_RPC &&
                  g_strcmp0(msg, "stream aborted with unexpected status 7") == 0,
              "unexpected status 7: REPLY error '%s'", msg ? msg : "?");
    TAP_CHECK(owner.closed == 1 && rpc_client_stream_count(c) == 0, "stream gone");
    fake_free(&t, c);

    /* Daemon finish: STREAM/OK; the client's confirmation is swallowed. */
    c = open_client(&t, 6);
    rpc_stream_finish(owner.stream);
    TAP_CHECK(is_stream(last(&t), 6, RPC_STATUS_OK, 0), "daemon finish: empty STREAM/OK");
    TAP_EQ_U64(rpc_client_stream_count(c), 0, "no open stream after the finish");
    before = t.frames->len;
    feed_stream(c, 6, RPC_STATUS_CONTINUE, "late", 4);
    feed_stream(c, 6, RPC_STATUS_OK, NULL, 0);
    TAP_CHECK(t.frames->len == before && owner.closed == 0 && owner.got->len == 0,
              "late data and the confirmation: nothing sent, owner not called");
    fake_free(&t, c);

    /* Daemon abort: STREAM/ERROR with the error. */
    c = open_client(&t, 7);
    struct rpc_error e = { 0 };
    rpc_error_set(&e, VIR_ERR_OPERATION_FAILED, VIR_FROM_QEMU, "%s", "console gone");
    rpc_stream_abort(owner.stream, &e);
    rpc_error_clear(&e);
    g_clear_pointer(&msg, g_free);
    r = last(&t);
    TAP_CHECK(frame_header(r).type == RPC_TYPE_STREAM && frame_header(r).status == RPC_STATUS_ERROR &&
                  decode_error(r, &code, &dom, &msg) && code == VIR_ERR_OPERATION_FAILED &&
                  dom == VIR_FROM_QEMU && g_strcmp0(msg, "operation failed: console gone") == 0,
              "daemon abort: STREAM/ERROR '%s'", msg ? msg : "?");
    fake_free(&t, c);

    /* Disconnect: the owner is told. */
    c = open_client(&t, 8);
    rpc_client_disconnected(c);
    TAP_CHECK(owner.closed == 1 && owner.reason == RPC_STREAM_CLOSED_DISCONNECT,
              "client gone: owner told (disconnect)");
    fake_free(&t, c);

    /* Same (proc, serial) twice: refused. Holes: refused. */
    c = open_client(&t, 9);
    struct rpc_stream *first = owner.stream;
    struct rpc_call call = { .client = c, .hdr = { RPC_PROG_REMOTE, 1, PROC_OPEN_CONSOLE, 0, 9, 0 } };
    struct rpc_error e2 = { 0 };
    TAP_CHECK(first && !rpc_stream_new(&call, &owner_ops, &owner, &e2) && e2.code == VIR_ERR_RPC,
              "a second stream with the same serial is refused");
    rpc_error_clear(&e2);
    struct rpc_header hh = { RPC_PROG_REMOTE, 1, PROC_OPEN_CONSOLE, RPC_TYPE_STREAM_HOLE, 9, 2 };
    size_t flen;
    uint8_t *hf = rpc_frame_build(&hh, "\0\0\0\0\0\0\0\1\0\0\0\0", 12, &flen);
    rpc_client_feed(c, hf, flen);
    free(hf);
    TAP_CHECK(frame_header(last(&t)).status == RPC_STATUS_ERROR && owner.closed == 1,
              "a hole on a console stream: STREAM/ERROR");
    fake_free(&t, c);
}

/* ------------------------------------------------------------ flow control */

static size_t queued_bytes;
static size_t fc_queued(void *opaque) { (void)opaque; return queued_bytes; }

static void test_flow_control(void)
{
    struct fake_transport t;
    memset(&t, 0, sizeof(t));
    t.frames = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    static const struct rpc_client_ops ops = { .send = fake_send, .close = fake_close,
                                               .queued = fc_queued };
    struct rpc_client *c = rpc_client_new(false, &ops, &t);
    rpc_client_set_open(c, "qemu:///system", false);
    owner_reset();
    GBytes *f = make_frame(RPC_PROG_REMOTE, PROC_OPEN_CONSOLE, RPC_TYPE_CALL, 1, NULL, 0);
    feed_bytes(c, f);
    g_bytes_unref(f);
    queued_bytes = 0;
    TAP_CHECK(rpc_stream_send(owner.stream, "x", 1) && rpc_stream_can_send(owner.stream),
              "empty queue: keep sending");
    queued_bytes = RPC_STREAM_TX_HIGH + 1;
    TAP_CHECK(!rpc_stream_send(owner.stream, "y", 1) && !rpc_stream_can_send(owner.stream),
              "queue above the high mark: stop");
    run_loop(40);
    TAP_EQ_U64(owner.writable, 0, "not writable while the queue stays full");
    queued_bytes = RPC_STREAM_TX_LOW;
    run_loop(40);
    TAP_CHECK(owner.writable == 1 && rpc_stream_can_send(owner.stream),
              "queue drained: writable called once");
    rpc_client_disconnected(c);
    rpc_client_unref(c);
    g_ptr_array_unref(t.frames);
}

/* ------------------------------------------------------------ console end */

typedef struct {
    GByteArray *out;
    int hangups;
    bool taken_over;
    bool refuse;
} ConClient;

static bool cc_output(gpointer data, const uint8_t *buf, size_t len)
{
    ConClient *cc = data;
    g_byte_array_append(cc->out, buf, (guint)len);
    return !cc->refuse;
}
static void cc_input_ready(gpointer data) { (void)data; }
static void cc_hangup(gpointer data, bool taken_over)
{
    ConClient *cc = data;
    cc->hangups++;
    cc->taken_over = taken_over;
}
static const HvdConsoleClientOps cc_ops = { cc_output, cc_input_ready, cc_hangup };

static bool wait_for(bool (*cond)(void *), void *data, int ms)
{
    for (int i = 0; i < ms; i++) {
        if (cond(data))
            return true;
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    return cond(data);
}

static bool has_text(void *data)
{
    ConClient *cc = data;
    return cc->out->len > 0;
}

static bool console_connected(void *data) { return hvd_console_is_connected(data); }

static void test_console(void)
{
    g_autofree char *dir = g_dir_make_tmp("test-stream-XXXXXX", NULL);
    g_autofree char *sock = g_build_filename(dir, "vm.console", NULL);
    g_autofree char *logp = g_build_filename(dir, "vm.console.log", NULL);

    /* hvd first, the worker's socket a moment later (connect is retried). */
    HvdConsole *con = hvd_console_new("vm", sock, logp, 3000);
    TAP_CHECK(!hvd_console_is_connected(con), "no socket yet: not connected");
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, sock, sizeof(sa.sun_path));
    TAP_CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 1) == 0,
              "fake worker listens");
    TAP_CHECK(wait_for(console_connected, con, 2000), "console connects once the socket exists");
    int wfd = accept(lfd, NULL, NULL);
    TAP_CHECK(wfd >= 0, "worker accepted hvd");

    /* Output before anyone attaches goes to the log only. */
    TAP_CHECK(write(wfd, "boot: ok\r\n", 10) == 10, "guest prints");
    run_loop(50);
    g_autofree char *log1 = NULL;
    g_file_get_contents(logp, &log1, NULL, NULL);
    TAP_CHECK(log1 && strcmp(log1, "boot: ok\r\n") == 0, "teed into the console log");

    ConClient a = { .out = g_byte_array_new() }, b = { .out = g_byte_array_new() };
    GError *err = NULL;
    TAP_CHECK(hvd_console_attach(con, false, &cc_ops, &a, &err), "first client attaches");
    TAP_CHECK(!hvd_console_attach(con, false, &cc_ops, &b, &err) && err &&
                  err->code % 1000 == VIR_ERR_OPERATION_FAILED &&
                  strcmp(err->message, "operation failed: Active console session exists for this "
                                       "domain") == 0,
              "second client refused with libvirt's text (%s)", err ? err->message : "?");
    g_clear_error(&err);
    TAP_CHECK(write(wfd, "# ", 2) == 2, "prompt printed");
    TAP_CHECK(wait_for(has_text, &a, 1000) && a.out->len == 2 && memcmp(a.out->data, "# ", 2) == 0,
              "attached client gets the output");
    TAP_EQ_U64(hvd_console_input(con, (const uint8_t *)"echo hi\r", 8), 8, "input taken");
    char buf[64] = { 0 };
    ssize_t n = read(wfd, buf, sizeof(buf));
    TAP_CHECK(n == 8 && memcmp(buf, "echo hi\r", 8) == 0, "keystrokes reach the worker");

    /* force: the first session is hung up as taken over. */
    TAP_CHECK(hvd_console_attach(con, true, &cc_ops, &b, &err), "force attaches a second client");
    TAP_CHECK(a.hangups == 1 && a.taken_over, "first client hung up (taken over)");

    /* A client that cannot keep up pauses reading; the log waits too. */
    b.refuse = true;
    TAP_CHECK(write(wfd, "1", 1) == 1, "more output");
    TAP_CHECK(wait_for(has_text, &b, 1000), "delivered");
    TAP_CHECK(write(wfd, "2", 1) == 1, "output while paused");
    run_loop(50);
    TAP_EQ_U64(b.out->len, 1, "paused: nothing more delivered");
    b.refuse = false;
    hvd_console_resume_output(con);
    run_loop(50);
    TAP_CHECK(b.out->len == 2 && b.out->data[1] == '2', "resumed: the rest arrives");

    /* The worker exits: the session ends (not taken over). */
    close(wfd);
    run_loop(50);
    TAP_CHECK(b.hangups == 1 && !b.taken_over && !hvd_console_is_connected(con),
              "worker gone: client hung up, console disconnected");
    g_autofree char *log2 = NULL;
    g_file_get_contents(logp, &log2, NULL, NULL);
    TAP_CHECK(log2 && strcmp(log2, "boot: ok\r\n# 12") == 0, "log holds everything, in order");
    hvd_console_free(con);
    close(lfd);

    /* The worker's last words are still in the socket when hvd frees the
     * console (its exit was seen first): they still reach the log. */
    unlink(sock);
    int lfd2 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    TAP_CHECK(bind(lfd2, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd2, 1) == 0,
              "second fake worker listens");
    HvdConsole *late = hvd_console_new("vm", sock, logp, 3000);
    TAP_CHECK(hvd_console_is_connected(late), "connected at once");
    int wfd2 = accept(lfd2, NULL, NULL);
    TAP_CHECK(write(wfd2, "HVTEST DONE\r\n", 13) == 13, "last line printed");
    close(wfd2);
    hvd_console_free(late); /* no main loop iteration in between */
    g_autofree char *log3 = NULL;
    g_file_get_contents(logp, &log3, NULL, NULL);
    TAP_CHECK(log3 && g_str_has_suffix(log3, "HVTEST DONE\r\n"), "drained into the log on free");
    close(lfd2);

    /* Nothing ever listens: gives up after the timeout, no crash. */
    HvdConsole *none = hvd_console_new("vm2", "/nonexistent/dir/sock", logp, 100);
    run_loop(200);
    TAP_CHECK(!hvd_console_is_connected(none) && hvd_console_input(none, (const uint8_t *)"x", 1) == 1,
              "missing socket: gives up quietly, input discarded");
    hvd_console_free(none);

    g_byte_array_unref(a.out);
    g_byte_array_unref(b.out);
    unlink(sock);
    unlink(logp);
    rmdir(dir);
}

int main(void)
{
    rpc_register(RPC_PROG_REMOTE, PROC_OPEN_CONSOLE, NULL, h_open, NULL, 0);
    rpc_streams_init();
    test_trace34();
    test_stream_rules();
    test_flow_control();
    test_console();
    owner_reset();
    g_byte_array_unref(owner.got);
    rpc_unregister_all();
    return tap_done();
}
