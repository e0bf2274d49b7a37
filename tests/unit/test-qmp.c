/* The QMP monitor over a real unix socket: the monitor runs on an event
 * loop in a second thread with fake VM ops; this thread is the client and
 * compares replies byte for byte with QEMU 7.2's shapes
 * (QEMU 7.2's QAPI schema and its replies as captured). */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "hv/loop.h"
#include "hv/machine.h"
#include "hv/monitor/command.h"
#include "hv/monitor/devices.h"
#include "hv/monitor/monitor.h"
#include "tests/tap.h"

/* ------------------------------------------------------------------ */
/* Fake VM                                                             */

static struct monitor *mon;
static struct loop *loop;

static struct {
    const char *state;
    int stops, conts, resets, powerdowns, quits;
    bool fail_cont;
} vm = { .state = "running" };

static const char *fake_run_state(void *opaque, bool *running)
{
    *running = strcmp(vm.state, "running") == 0;
    return vm.state;
}

static int fake_stop(void *opaque, char *err, size_t errlen)
{
    vm.stops++;
    if (strcmp(vm.state, "running") == 0) {  /* no second STOP when paused */
        vm.state = "paused";
        monitor_emit_event(mon, "STOP", NULL);
    }
    return 0;
}

static int fake_cont(void *opaque, char *err, size_t errlen)
{
    vm.conts++;
    if (vm.fail_cont) {
        snprintf(err, errlen, "Resetting the Virtual Machine is required");
        return -EINVAL;
    }
    vm.state = "running";
    monitor_emit_event(mon, "RESUME", NULL);
    return 0;
}

static int fake_reset(void *opaque, char *err, size_t errlen)
{
    vm.resets++;
    monitor_emit_shutdown(mon, "RESET", "host-qmp-system-reset");
    return 0;
}

static int fake_powerdown(void *opaque, char *err, size_t errlen)
{
    vm.powerdowns++;
    monitor_emit_event(mon, "POWERDOWN", NULL);
    return 0;
}

static void fake_quit(void *opaque)
{
    vm.quits++;
    monitor_emit_shutdown(mon, "SHUTDOWN", "host-qmp-quit");
}

static int fake_cpus(void *opaque, struct monitor_cpu *cpus, int max)
{
    /* The same two vCPUs QEMU 7.2 reported in qmp-02. */
    static const struct monitor_cpu all[] = {
        { .cpu_index = 0, .thread_id = 22839, .socket_id = 0, .core_id = 0 },
        { .cpu_index = 1, .thread_id = 22841, .socket_id = 0, .core_id = 1 },
    };
    int n = 2;
    for (int i = 0; i < n && i < max; i++)
        cpus[i] = all[i];
    return n;
}

/* Same devices as QEMU 7.2 showed in qmp-02 (balloon0, nic0). */
static int fake_pci(void *opaque, struct monitor_pci_dev *devs, int max)
{
    struct monitor_pci_dev all[3] = {
        { .bus = 0, .slot = 0, .function = 0, .class_code = 0x0600, .vendor = 0x8086,
          .device = 0x1237, .subsys_vendor = 0x1af4, .subsys = 0x1100, .qdev_id = NULL },
        { .bus = 0, .slot = 2, .function = 0, .class_code = 0x00ff, .vendor = 0x1af4,
          .device = 0x1045, .subsys_vendor = 0x1af4, .subsys = 0x1100, .irq_pin = 1, .irq = 10,
          .qdev_id = "balloon0", .nr_bars = 1,
          .bars = { { .bar = 4, .prefetch = true, .mem_type_64 = true, .address = 4273946624,
                      .size = 16384 } } },
        { .bus = 0, .slot = 3, .function = 0, .class_code = 0x0200, .vendor = 0x1af4,
          .device = 0x1041, .subsys_vendor = 0x1af4, .subsys = 0x1100, .irq_pin = 1, .irq = 11,
          .qdev_id = "nic0", .nr_bars = 3,
          .bars = { { .bar = 1, .address = 4273733632, .size = 4096 },
                    { .bar = 4, .prefetch = true, .mem_type_64 = true, .address = 4273963008,
                      .size = 16384 },
                    { .bar = 6, .address = -1, .size = 262144 } } },
    };
    for (int i = 0; i < 3 && i < max; i++)
        devs[i] = all[i];
    return 3;
}

/* Twenty disks: devices of a test machine with the block family ops. */
#define FAKE_DISKS 20

static void fake_disk_describe(struct device *dev, struct device_block_info *out)
{
    int i = (int)(intptr_t)dev->model;
    static char qdevs[FAKE_DISKS][64];
    snprintf(qdevs[i], sizeof(qdevs[i]), "/machine/peripheral/blk%d/virtio-backend", i);
    *out = (struct device_block_info){
        .qdev = qdevs[i], .file = i == 0 ? "/tmp/qmpw/disk.img" : "d2.img",
        .read_only = i != 0, .size = 67108864, .actual_size = 0,
        .rd_bytes = 4608, .rd_operations = 2,
    };
    /* drive2: a qcow2 overlay on a qcow2 on a raw base, as QEMU 7.2 showed
     * for images made with qemu-img create -b ... -F ... */
    if (i == 2) {
        out->file = "top.qcow2";
        out->format = "qcow2";
        out->chain_len = 3;
        out->backing_depth = 2;
        out->chain[0] = (struct device_block_image){
            .filename = "top.qcow2", .format = "qcow2", .virtual_size = 16777216,
            .actual_size = 200704, .cluster_size = 65536, .backing_filename = "mid.qcow2",
            .full_backing_filename = "mid.qcow2", .backing_format = "qcow2", .qcow2_version = 3,
            .refcount_bits = 16, .compression_type = "zlib",
        };
        out->chain[1] = out->chain[0];
        out->chain[1].filename = "mid.qcow2";
        out->chain[1].backing_filename = out->chain[1].full_backing_filename = "base.raw";
        out->chain[1].backing_format = "raw";
        out->chain[2] = (struct device_block_image){
            .filename = "base.raw", .format = "raw", .virtual_size = 16777216, .actual_size = 4096,
        };
    }
    /* drive3: a cdrom with its tray open and no medium; drive4: a cdrom
     * the guest locked, with an ISO (an IDE drive's shape). */
    if (i == 3)
        *out = (struct device_block_info){ .qdev = "ide0-1-0", .removable = true, .tray_open = true,
                                           .read_only = true, .no_medium = true, .actual_size = -1 };
    if (i == 4)
        *out = (struct device_block_info){ .qdev = "ide0-1-1", .file = "cd.iso", .removable = true,
                                           .locked = true, .read_only = true, .size = 2048000,
                                           .actual_size = -1 };
}

static int fake_disk_realize(struct device *dev, char *err, size_t errlen)
{
    (void)dev, (void)err, (void)errlen;
    return 0;
}

static void fake_disk_noop(struct device *dev) { (void)dev; }

static const struct device_block_ops fake_disk_block_ops = { .describe = fake_disk_describe };
static const struct device_ops fake_disk_ops = {
    .model = "virtio-blk-pci",
    .realize = fake_disk_realize,
    .reset = fake_disk_noop,
    .unplug = fake_disk_noop,
    .destroy = fake_disk_noop,
    .save = device_save_unsupported,
    .load = device_load_unsupported,
    .block = &fake_disk_block_ops,
};

static struct machine *fake_machine(void)
{
    char err[256];
    struct machine *m = machine_create(NULL, err, sizeof(err));
    for (int i = 0; m && i < FAKE_DISKS; i++) {
        char id[16];
        snprintf(id, sizeof(id), "drive%d", i);
        struct device proto = { .id = id, .kind = DEVICE_VIRTIO_BLK, .ops = &fake_disk_ops,
                                .model = (void *)(intptr_t)i };
        machine_add_device(m, &proto, err, sizeof(err));
    }
    return m;
}

static const struct monitor_ops fake_ops = {
    .run_state = fake_run_state,
    .stop = fake_stop,
    .cont = fake_cont,
    .system_reset = fake_reset,
    .system_powerdown = fake_powerdown,
    .quit = fake_quit,
    .query_cpus = fake_cpus,
    .query_pci = fake_pci,
};

/* A command registered from outside qmp.c, like the balloon will. */
static bool balloon_active;
static long long balloon_target;

static const struct monitor_arg balloon_args[] = {
    { "value", MONITOR_ARG_INT, false },
    { NULL },
};

static struct json_object *cmd_balloon(void *opaque, struct json_object *args,
                                       struct monitor_error *err)
{
    if (!balloon_active)
        return monitor_error_set(err, MONITOR_ERR_DEVICE_NOT_ACTIVE,
                                 "No balloon device has been activated");
    struct json_object *v;
    json_object_object_get_ex(args, "value", &v);
    if (json_object_get_int64(v) <= 0)
        return monitor_error_set(err, MONITOR_ERR_GENERIC, "Parameter 'target' expects a size");
    balloon_target = json_object_get_int64(v);
    return json_object_new_object();
}

static void hmp_info_balloon(void *opaque, const char *args, struct monitor_text *out)
{
    monitor_text_printf(out, "balloon: actual=%d\n", 512);
}

/* ------------------------------------------------------------------ */
/* Loop thread and client helpers                                      */

static void *loop_thread(void *arg)
{
    loop_run(arg);
    return NULL;
}

static void quit_loop(void *arg)
{
    loop_quit(arg, 0);
}

struct emit_req {
    const char *event, *data;
    int rc;
    pthread_mutex_t lock;
    pthread_cond_t done_cv;
    bool done;
};

static void do_emit(void *arg)
{
    struct emit_req *r = arg;
    r->rc = monitor_emit_event(mon, r->event, r->data);
    pthread_mutex_lock(&r->lock);
    r->done = true;
    pthread_cond_signal(&r->done_cv);
    pthread_mutex_unlock(&r->lock);
}

/* Emit on the loop thread (the monitor is main-thread only) and wait. */
static int emit(const char *event, const char *data)
{
    struct emit_req r = { .event = event, .data = data };
    pthread_mutex_init(&r.lock, NULL);
    pthread_cond_init(&r.done_cv, NULL);
    loop_call(loop, do_emit, &r);
    pthread_mutex_lock(&r.lock);
    while (!r.done)
        pthread_cond_wait(&r.done_cv, &r.lock);
    pthread_mutex_unlock(&r.lock);
    return r.rc;
}

static char sock_path[108];

struct client {
    int fd;
    char buf[1 << 16];
    size_t len;
};

static int connect_client(struct client *c)
{
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock_path);
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        return -errno;
    return 0;
}

static void send_raw(struct client *c, const char *data, size_t len)
{
    while (len) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        data += n;
        len -= (size_t)n;
    }
}

static void send_str(struct client *c, const char *s)
{
    send_raw(c, s, strlen(s));
}

/* One line without its CRLF (malloc'd), NULL on timeout; *eof on EOF. */
static char *read_line_eof(struct client *c, int timeout_ms, bool *eof)
{
    if (eof)
        *eof = false;
    for (;;) {
        char *crlf = memmem(c->buf, c->len, "\r\n", 2);
        if (crlf) {
            size_t n = (size_t)(crlf - c->buf);
            char *line = strndup(c->buf, n);
            memmove(c->buf, crlf + 2, c->len - n - 2);
            c->len -= n + 2;
            return line;
        }
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        if (poll(&pfd, 1, timeout_ms) <= 0)
            return NULL;
        ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len - 1);
        if (r <= 0) {
            if (eof)
                *eof = true;
            return NULL;
        }
        c->len += (size_t)r;
    }
}

static char *read_line(struct client *c)
{
    return read_line_eof(c, 3000, NULL);
}

/* Send a request and check the next line equals expected exactly. */
static void expect_reply(struct client *c, const char *request, const char *expected,
                         const char *name)
{
    if (request)
        send_str(c, request);
    char *line = read_line(c);
    TAP_EQ_STR(line, expected, name);
    free(line);
}

static void client_close(struct client *c)
{
    close(c->fd);
    c->fd = -1;
}

static struct json_object *member(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    json_object_object_get_ex(o, key, &v);
    return v;
}

/* A negotiated client. */
static void open_negotiated(struct client *c)
{
    connect_client(c);
    free(read_line(c));
    send_str(c, "{\"execute\": \"qmp_capabilities\"}\n");
    free(read_line(c));
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */

static void test_greeting_and_negotiation(void)
{
    struct client c;
    TAP_CHECK(connect_client(&c) == 0, "client connects");
    char expected[256];
    snprintf(expected, sizeof(expected),
             "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "
             "\"package\": \"hvd %s\"}, \"capabilities\": [\"oob\"]}}", PACKAGE_VERSION);
    /* The greeting arrives without the client saying anything, CRLF-ended. */
    char *line = read_line(&c);
    TAP_EQ_STR(line, expected, "greeting shape (qmp.md 1.1)");
    free(line);

    expect_reply(&c, "{\"execute\": \"query-status\", \"id\": 1}\n",
                 "{\"id\": 1, \"error\": {\"class\": \"CommandNotFound\", \"desc\": "
                 "\"Expecting capabilities negotiation with 'qmp_capabilities'\"}}",
                 "command before negotiation refused");
    expect_reply(&c, "{\"execute\": \"no-such\", \"id\": 2}\n",
                 "{\"id\": 2, \"error\": {\"class\": \"CommandNotFound\", \"desc\": "
                 "\"Expecting capabilities negotiation with 'qmp_capabilities'\"}}",
                 "unknown command before negotiation gets the negotiation text");
    expect_reply(&c, "[1, 2]\n",
                 "{\"error\": {\"class\": \"GenericError\", \"desc\": "
                 "\"QMP input must be a JSON object\"}}",
                 "non-object before negotiation");
    expect_reply(&c, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"foo\"]}, \"id\": 3}\n",
                 "{\"id\": 3, \"error\": {\"class\": \"GenericError\", \"desc\": "
                 "\"Parameter 'enable[0]' does not accept value 'foo'\"}}",
                 "unknown capability refused");
    /* Events are not delivered before negotiation. */
    TAP_EQ_U64(emit("STOP", NULL), 0, "emit before negotiation succeeds");
    expect_reply(&c, "{\"execute\": \"qmp_capabilities\", \"id\": 4}\n",
                 "{\"return\": {}, \"id\": 4}", "negotiation (no event before it)");
    expect_reply(&c, "{\"execute\": \"qmp_capabilities\", \"id\": 5}\n",
                 "{\"id\": 5, \"error\": {\"class\": \"CommandNotFound\", \"desc\": "
                 "\"Capabilities negotiation is already complete, command ignored\"}}",
                 "second qmp_capabilities refused");
    expect_reply(&c, "{\"execute\": \"no-such-command\", \"id\": 4}\n",
                 "{\"id\": 4, \"error\": {\"class\": \"CommandNotFound\", \"desc\": "
                 "\"The command no-such-command has not been found\"}}",
                 "unknown command");
    expect_reply(&c, "{\"exec-oob\": \"query-status\", \"id\": 3}\n",
                 "{\"id\": 3, \"error\": {\"class\": \"GenericError\", \"desc\": "
                 "\"QMP input member 'exec-oob' is unexpected\"}}",
                 "exec-oob without oob enabled");
    client_close(&c);

    /* A fresh connection starts in negotiation mode again; enable oob. */
    connect_client(&c);
    free(read_line(&c));
    expect_reply(&c, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}, \"id\": 1}\n",
                 "{\"return\": {}, \"id\": 1}", "negotiation enabling oob");
    expect_reply(&c, "{\"exec-oob\": \"query-status\", \"id\": \"oob-1\"}\n",
                 "{\"id\": \"oob-1\", \"error\": {\"class\": \"GenericError\", \"desc\": "
                 "\"The command query-status does not support OOB\"}}",
                 "exec-oob of a non-OOB command");
    expect_reply(&c, "{\"execute\": \"query-status\"}\n",
                 "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}}",
                 "in-band command without id while oob is enabled");
    client_close(&c);
}

static void test_framing_errors(void)
{
    struct client c;
    open_negotiated(&c);
    const char *generic = "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, ";
    char exp[256];

    snprintf(exp, sizeof(exp), "%sexpecting value\"}}", generic);
    expect_reply(&c, "{\"execute\": \"query-status\", \"id\": 101,}\n", exp, "trailing comma");
    snprintf(exp, sizeof(exp), "%sstray 'q'\"}}", generic);
    expect_reply(&c, "{\"execute\": query-status, \"id\": 102}\n", exp, "bare word");
    snprintf(exp, sizeof(exp), "%smissing : in object pair\"}}", generic);
    expect_reply(&c, "{\"a\" 1}\n", exp, "missing colon");
    snprintf(exp, sizeof(exp), "%sexpected separator in dict\"}}", generic);
    expect_reply(&c, "{\"a\": 1 \"b\": 2}\n", exp, "missing comma in object");
    snprintf(exp, sizeof(exp), "%sexpected separator in list\"}}", generic);
    expect_reply(&c, "[1 2]\n", exp, "missing comma in array");
    snprintf(exp, sizeof(exp), "%sinvalid escape sequence in string\"}}", generic);
    expect_reply(&c, "{\"a\": \"\\x\"}\n", exp, "bad escape");
    snprintf(exp, sizeof(exp), "%skey is not a string in object\"}}", generic);
    expect_reply(&c, "{1: 2}\n", exp, "non-string key");
    snprintf(exp, sizeof(exp), "%sexpecting value\"}}", generic);
    expect_reply(&c, "}\n", exp, "stray brace");
    /* The stream recovers after every error. */
    expect_reply(&c, "{\"execute\": \"query-name\", \"id\": 7}\n", "{\"return\": {}, \"id\": 7}",
                 "stream usable after parse errors");

    const char *must_obj = "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input must be a JSON object\"}}";
    expect_reply(&c, "[1, 2]\n", must_obj, "array input");
    expect_reply(&c, "\"str\"\n", must_obj, "string input");
    expect_reply(&c, "42\n", must_obj, "number input");
    expect_reply(&c, "{\"id\": 104}\n",
                 "{\"id\": 104, \"error\": {\"class\": \"GenericError\", \"desc\": "
                 "\"QMP input lacks member 'execute'\"}}", "missing execute");
    expect_reply(&c, "{\"execute\": \"query-status\", \"id\": 105, \"bogus\": 1}\n",
                 "{\"id\": 105, \"error\": {\"class\": \"GenericError\", \"desc\": "
                 "\"QMP input member 'bogus' is unexpected\"}}", "unknown top-level member");
    expect_reply(&c, "{\"execute\": \"query-status\", \"arguments\": [], \"id\": 106}\n",
                 "{\"id\": 106, \"error\": {\"class\": \"GenericError\", \"desc\": "
                 "\"QMP input member 'arguments' must be an object\"}}", "arguments not object");
    expect_reply(&c, "{\"execute\": 42, \"id\": 107}\n",
                 "{\"id\": 107, \"error\": {\"class\": \"GenericError\", \"desc\": "
                 "\"QMP input member 'execute' must be a string\"}}", "execute not string");
    expect_reply(&c, "{\"execute\": \"query-status\", \"arguments\": {\"foo\": 1}, \"id\": 8}\n",
                 "{\"id\": 8, \"error\": {\"class\": \"GenericError\", \"desc\": "
                 "\"Parameter 'foo' is unexpected\"}}", "unexpected argument");

    /* One object split over two writes: answered once, when complete. */
    send_str(&c, "{\"execute\": \"query-status\",");
    char *none = read_line_eof(&c, 200, NULL);
    TAP_CHECK(none == NULL, "no reply to a partial object");
    free(none);
    expect_reply(&c, " \"id\": 108}",
                 "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, \"id\": 108}",
                 "object split across writes");
    /* Two objects, no newline between them. */
    send_str(&c, "{\"execute\": \"query-name\", \"id\": 1}{\"execute\": \"query-kvm\", \"id\": 2}");
    expect_reply(&c, NULL, "{\"return\": {}, \"id\": 1}", "first of two back-to-back objects");
    expect_reply(&c, NULL, "{\"return\": {\"enabled\": true, \"present\": true}, \"id\": 2}",
                 "second of two back-to-back objects");
    /* 0xFF resets the parser mid-object. */
    send_raw(&c, "{\"execute\": \xff", 13);
    expect_reply(&c, "{\"execute\": \"query-name\", \"id\": 9}\n", "{\"return\": {}, \"id\": 9}",
                 "0xFF resets the parser");

    /* id: any JSON value echoed verbatim, absent means absent. */
    expect_reply(&c, "{\"execute\": \"query-name\", \"id\": {\"tag\": [\"a\", 1, null]}}\n",
                 "{\"return\": {}, \"id\": {\"tag\": [\"a\", 1, null]}}", "object id echoed");
    expect_reply(&c, "{\"execute\": \"query-name\", \"id\": \"str-id-1\"}\n",
                 "{\"return\": {}, \"id\": \"str-id-1\"}", "string id echoed");
    expect_reply(&c, "{\"execute\": \"query-name\", \"id\": null}\n",
                 "{\"return\": {}, \"id\": null}", "null id echoed");
    expect_reply(&c, "{\"execute\": \"query-name\", \"id\": 18446744073709551615}\n",
                 "{\"return\": {}, \"id\": 18446744073709551615}", "uint64 id echoed");
    expect_reply(&c, "{\"execute\": \"query-name\"}\n", "{\"return\": {}}", "no id, no id member");
    /* Output is pure ASCII: non-ASCII comes back \u-escaped (qmp.md 1). */
    expect_reply(&c, "{\"execute\": \"query-name\", \"id\": \"\xc3\xa9\\u00e9\xf0\x9f\x98\x80\"}\n",
                 "{\"return\": {}, \"id\": \"\\u00E9\\u00E9\\uD83D\\uDE00\"}",
                 "non-ASCII id escaped as QEMU does");
    client_close(&c);
}

static void test_queries(void)
{
    struct client c;
    open_negotiated(&c);
    char exp[512];
    snprintf(exp, sizeof(exp),
             "{\"return\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": "
             "\"hvd %s\"}, \"id\": 12}", PACKAGE_VERSION);
    expect_reply(&c, "{\"execute\": \"query-version\", \"id\": 12}\n", exp, "query-version");
    expect_reply(&c, "{\"execute\": \"query-uuid\", \"id\": 14}\n",
                 "{\"return\": {\"UUID\": \"00000000-0000-0000-0000-000000000000\"}, \"id\": 14}",
                 "query-uuid without uuid is all zeros");
    expect_reply(&c, "{\"execute\": \"query-kvm\", \"id\": 16}\n",
                 "{\"return\": {\"enabled\": true, \"present\": true}, \"id\": 16}", "query-kvm");
    expect_reply(&c, "{\"execute\": \"query-memory-size-summary\", \"id\": 19}\n",
                 "{\"return\": {\"base-memory\": 536870912, \"plugged-memory\": 0}, \"id\": 19}",
                 "query-memory-size-summary");
    /* Byte-identical to QEMU 7.2's reply in qmp-02 (same fake data). */
    expect_reply(&c, "{\"execute\": \"query-cpus-fast\", \"id\": 17}\n",
                 "{\"return\": [{\"thread-id\": 22839, \"props\": {\"core-id\": 0, \"thread-id\": 0, "
                 "\"socket-id\": 0}, \"qom-path\": \"/machine/unattached/device[0]\", \"cpu-index\": 0, "
                 "\"target\": \"x86_64\"}, {\"thread-id\": 22841, \"props\": {\"core-id\": 1, "
                 "\"thread-id\": 0, \"socket-id\": 0}, \"qom-path\": \"/machine/unattached/device[1]\", "
                 "\"cpu-index\": 1, \"target\": \"x86_64\"}], \"id\": 17}",
                 "query-cpus-fast");

    send_str(&c, "{\"execute\": \"query-pci\", \"id\": 23}\n");
    char *line = read_line(&c);
    /* QEMU 7.2's exact device objects from qmp-02. */
    TAP_CHECK(line && strstr(line,
        "{\"irq_pin\": 1, \"bus\": 0, \"qdev_id\": \"balloon0\", \"irq\": 10, \"slot\": 2, "
        "\"class_info\": {\"class\": 255}, \"id\": {\"device\": 4165, \"subsystem-vendor\": 6900, "
        "\"vendor\": 6900, \"subsystem\": 4352}, \"function\": 0, \"regions\": [{\"prefetch\": true, "
        "\"mem_type_64\": true, \"bar\": 4, \"size\": 16384, \"address\": 4273946624, \"type\": "
        "\"memory\"}]}"), "query-pci balloon device as QEMU prints it");
    TAP_CHECK(line && strstr(line,
        "{\"prefetch\": false, \"mem_type_64\": false, \"bar\": 6, \"size\": 262144, \"address\": -1, "
        "\"type\": \"memory\"}"), "query-pci unassigned ROM BAR has address -1");
    TAP_CHECK(line && strstr(line,
        "{\"irq_pin\": 0, \"bus\": 0, \"qdev_id\": \"\", \"slot\": 0, \"class_info\": {\"class\": 1536, "
        "\"desc\": \"Host bridge\"}, \"id\": {\"device\": 4663, \"subsystem-vendor\": 6900, "
        "\"vendor\": 32902, \"subsystem\": 4352}, \"function\": 0, \"regions\": []}"),
        "query-pci host bridge without irq member");
    TAP_CHECK(line && strncmp(line, "{\"return\": [{\"bus\": 0, \"devices\": [", 35) == 0,
              "query-pci wraps devices in bus 0");
    free(line);

    send_str(&c, "{\"execute\": \"query-block\", \"id\": 24}\n");
    line = read_line(&c);
    struct json_object *r = line ? json_tokener_parse(line) : NULL;
    struct json_object *ret = member(r, "return");
    TAP_EQ_U64(json_object_array_length(ret), 20, "query-block lists all 20 disks (retry path)");
    struct json_object *b0 = json_object_array_get_idx(ret, 0);
    struct json_object *ins = member(b0, "inserted");
    TAP_EQ_STR(json_object_get_string(member(b0, "device")), "drive0", "query-block device");
    TAP_EQ_STR(json_object_get_string(member(b0, "io-status")), "ok", "query-block io-status");
    TAP_EQ_STR(json_object_get_string(member(b0, "qdev")),
               "/machine/peripheral/blk0/virtio-backend", "query-block qdev");
    TAP_EQ_STR(json_object_get_string(member(ins, "file")), "/tmp/qmpw/disk.img",
               "query-block inserted.file");
    TAP_CHECK(!json_object_get_boolean(member(ins, "ro")), "query-block drive0 writable");
    TAP_CHECK(json_object_get_boolean(member(json_object_array_get_idx(ret, 1), "inserted") ?
              member(member(json_object_array_get_idx(ret, 1), "inserted"), "ro") : NULL),
              "query-block drive1 read-only");
    TAP_EQ_U64(json_object_get_int64(member(member(ins, "image"), "virtual-size")), 67108864,
               "query-block image.virtual-size");
    TAP_CHECK(line && strstr(line, "\"cache\": {\"no-flush\": false, \"direct\": false, \"writeback\": true}"),
              "query-block cache member as QEMU prints it");
    TAP_CHECK(line && strstr(line, "{\"io-status\": \"ok\", \"device\": \"drive0\", \"locked\": false, "
                                   "\"removable\": false, \"inserted\": {\"iops_rd\": 0, "),
              "query-block member order as QEMU");
    struct json_object *ins2 = member(json_object_array_get_idx(ret, 2), "inserted");
    TAP_EQ_STR(json_object_get_string(member(ins2, "drv")), "qcow2", "query-block drv of a qcow2 disk");
    TAP_EQ_STR(json_object_get_string(member(ins2, "backing_file")), "mid.qcow2",
               "query-block backing_file");
    TAP_EQ_U64(json_object_get_int64(member(ins2, "backing_file_depth")), 2,
               "query-block backing_file_depth");
    TAP_CHECK(!member(ins, "backing_file"), "query-block: no backing_file without a backing image");
    /* QEMU 7.2's reply for the same chain, byte for byte. */
    TAP_CHECK(line && strstr(line,
        "\"image\": {\"backing-image\": {\"backing-image\": {\"virtual-size\": 16777216, \"filename\": "
        "\"base.raw\", \"format\": \"raw\", \"actual-size\": 4096, \"dirty-flag\": false}, "
        "\"backing-filename-format\": \"raw\", \"virtual-size\": 16777216, \"filename\": \"mid.qcow2\", "
        "\"cluster-size\": 65536, \"format\": \"qcow2\", \"actual-size\": 200704, \"format-specific\": "
        "{\"type\": \"qcow2\", \"data\": {\"compat\": \"1.1\", \"compression-type\": \"zlib\", "
        "\"lazy-refcounts\": false, \"refcount-bits\": 16, \"corrupt\": false, \"extended-l2\": false}}, "
        "\"full-backing-filename\": \"base.raw\", \"backing-filename\": \"base.raw\", \"dirty-flag\": false}, "
        "\"backing-filename-format\": \"qcow2\", \"virtual-size\": 16777216, \"filename\": \"top.qcow2\", "
        "\"cluster-size\": 65536, \"format\": \"qcow2\", \"actual-size\": 200704, \"format-specific\": "
        "{\"type\": \"qcow2\", \"data\": {\"compat\": \"1.1\", \"compression-type\": \"zlib\", "
        "\"lazy-refcounts\": false, \"refcount-bits\": 16, \"corrupt\": false, \"extended-l2\": false}}, "
        "\"full-backing-filename\": \"mid.qcow2\", \"backing-filename\": \"mid.qcow2\", \"dirty-flag\": false}"),
        "query-block image with its backing chain as QEMU 7.2 prints it");
    json_object_put(r);
    free(line);

    send_str(&c, "{\"execute\": \"query-block\", \"id\": 27}\n");
    line = read_line(&c);
    r = line ? json_tokener_parse(line) : NULL;
    struct json_object *cd0 = json_object_array_get_idx(member(r, "return"), 3);
    struct json_object *cd1 = json_object_array_get_idx(member(r, "return"), 4);
    TAP_CHECK(json_object_get_boolean(member(cd0, "removable")) && json_object_get_boolean(member(cd0, "tray_open")) &&
                  !json_object_get_boolean(member(cd0, "locked")) && !member(cd0, "inserted"),
              "query-block: an empty cdrom is removable, tray open, unlocked, nothing inserted");
    TAP_CHECK(json_object_get_boolean(member(cd1, "removable")) && member(cd1, "tray_open") &&
                  !json_object_get_boolean(member(cd1, "tray_open")) && json_object_get_boolean(member(cd1, "locked")) &&
                  member(cd1, "inserted") && json_object_get_boolean(member(member(cd1, "inserted"), "ro")),
              "query-block: a locked cdrom with a medium, tray closed, read-only");
    TAP_CHECK(!member(json_object_array_get_idx(member(r, "return"), 0), "tray_open"),
              "query-block: no tray_open for a fixed disk");
    json_object_put(r);
    free(line);

    send_str(&c, "{\"execute\": \"query-blockstats\", \"id\": 25}\n");
    line = read_line(&c);
    r = line ? json_tokener_parse(line) : NULL;
    struct json_object *st = member(json_object_array_get_idx(member(r, "return"), 0), "stats");
    TAP_EQ_U64(json_object_get_int64(member(st, "rd_bytes")), 4608, "query-blockstats rd_bytes");
    TAP_EQ_U64(json_object_get_int64(member(st, "rd_operations")), 2,
               "query-blockstats rd_operations");
    TAP_EQ_U64(json_object_array_length(member(st, "timed_stats")), 0,
               "query-blockstats timed_stats empty");
    struct json_object *bs2 = json_object_array_get_idx(member(r, "return"), 2);
    struct json_object *bk1 = member(bs2, "backing"), *bk2 = member(bk1, "backing");
    TAP_CHECK(bk1 && bk2 && !member(bk2, "backing") && member(bk2, "stats") &&
                  strcmp(json_object_get_string(member(bk1, "node-name")),
                         json_object_get_string(member(bk2, "node-name"))) != 0 &&
                  !member(json_object_array_get_idx(member(r, "return"), 0), "backing"),
              "query-blockstats: one nested backing node per backing image");
    TAP_CHECK(!member(json_object_array_get_idx(member(r, "return"), 3), "node-name") &&
                  member(json_object_array_get_idx(member(r, "return"), 4), "node-name"),
              "query-blockstats: no node for the empty cdrom, one for the inserted one");
    json_object_put(r);
    free(line);
    expect_reply(&c, "{\"execute\": \"query-blockstats\", \"arguments\": {\"query-nodes\": 1}, \"id\": 26}\n",
                 "{\"id\": 26, \"error\": {\"class\": \"GenericError\", \"desc\": "
                 "\"Invalid parameter type for 'query-nodes', expected: boolean\"}}",
                 "query-blockstats argument type checked");

    send_str(&c, "{\"execute\": \"query-commands\", \"id\": 32}\n");
    line = read_line(&c);
    r = line ? json_tokener_parse(line) : NULL;
    ret = member(r, "return");
    const char *want[] = { "qmp_capabilities", "query-version", "query-name", "query-uuid",
                           "query-status", "query-kvm", "query-cpus-fast", "query-pci",
                           "query-block", "query-blockstats", "query-memory-size-summary",
                           "query-commands", "stop", "cont", "system_reset", "system_powerdown",
                           "quit", "human-monitor-command", "balloon" };
    size_t nwant = sizeof(want) / sizeof(want[0]);
    TAP_EQ_U64(json_object_array_length(ret), nwant, "query-commands count");
    size_t found = 0;
    for (size_t i = 0; i < nwant; i++)
        for (size_t j = 0; j < json_object_array_length(ret); j++)
            if (strcmp(json_object_get_string(member(json_object_array_get_idx(ret, j), "name")),
                       want[i]) == 0)
                found++;
    TAP_EQ_U64(found, nwant, "query-commands lists every implemented command");
    json_object_put(r);
    free(line);
    client_close(&c);
}

static void test_registered_command(void)
{
    struct client c;
    open_negotiated(&c);
    const char *missing = "{\"id\": 5, \"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'value' is missing\"}}";
    expect_reply(&c, "{\"execute\": \"balloon\", \"arguments\": {}, \"id\": 5}\n", missing,
                 "registered command: missing argument");
    expect_reply(&c, "{\"execute\": \"balloon\", \"id\": 5}\n", missing,
                 "registered command: no arguments member");
    expect_reply(&c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": \"big\"}, \"id\": 6}\n",
                 "{\"id\": 6, \"error\": {\"class\": \"GenericError\", \"desc\": "
                 "\"Invalid parameter type for 'value', expected: integer\"}}",
                 "registered command: mistyped argument");
    expect_reply(&c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 1.5}, \"id\": 6}\n",
                 "{\"id\": 6, \"error\": {\"class\": \"GenericError\", \"desc\": "
                 "\"Invalid parameter type for 'value', expected: integer\"}}",
                 "registered command: float is not an integer");
    expect_reply(&c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 1, \"x\": 2}, \"id\": 6}\n",
                 "{\"id\": 6, \"error\": {\"class\": \"GenericError\", \"desc\": "
                 "\"Parameter 'x' is unexpected\"}}",
                 "registered command: extra argument");
    expect_reply(&c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 268435456}, \"id\": 4}\n",
                 "{\"id\": 4, \"error\": {\"class\": \"DeviceNotActive\", \"desc\": "
                 "\"No balloon device has been activated\"}}",
                 "handler error class passes through");
    balloon_active = true;
    expect_reply(&c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 0}, \"id\": 7}\n",
                 "{\"id\": 7, \"error\": {\"class\": \"GenericError\", \"desc\": "
                 "\"Parameter 'target' expects a size\"}}", "handler generic error");
    expect_reply(&c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 268435456}, \"id\": 39}\n",
                 "{\"return\": {}, \"id\": 39}", "handler success");
    TAP_EQ_U64(balloon_target, 268435456, "handler saw the argument");
    client_close(&c);
}

/* Checks an event line's shape and returns its parsed form. */
static struct json_object *expect_event(struct client *c, const char *name, const char *data,
                                        const char *what)
{
    char *line = read_line(c);
    struct json_object *ev = line ? json_tokener_parse(line) : NULL;
    TAP_EQ_STR(json_object_get_string(member(ev, "event")), name, what);
    /* "{"timestamp": {"seconds": S, "microseconds": U}, "event": ..." */
    struct json_object *ts = member(ev, "timestamp");
    struct timeval now;
    gettimeofday(&now, NULL);
    int64_t s = json_object_get_int64(member(ts, "seconds"));
    int64_t us = json_object_get_int64(member(ts, "microseconds"));
    TAP_CHECK(line && strncmp(line, "{\"timestamp\": {\"seconds\": ", 26) == 0 &&
              s <= now.tv_sec && s >= now.tv_sec - 5 && us >= 0 && us < 1000000,
              "%s: wall-clock timestamp", what);
    if (data) {
        char want[256];
        snprintf(want, sizeof(want), "\"event\": \"%s\", \"data\": %s}", name, data);
        TAP_CHECK(line && strstr(line, want), "%s: data %s", what, data);
    } else {
        char want[64];
        snprintf(want, sizeof(want), "\"event\": \"%s\"}", name);
        TAP_CHECK(line && strstr(line, want), "%s: no data member", what);
    }
    free(line);
    return ev;
}

static void test_lifecycle_and_events(void)
{
    struct client c;
    open_negotiated(&c);
    /* Event, then the return (qmp.md 4.2). */
    send_str(&c, "{\"execute\": \"stop\", \"id\": 57}\n");
    json_object_put(expect_event(&c, "STOP", NULL, "stop emits STOP"));
    expect_reply(&c, NULL, "{\"return\": {}, \"id\": 57}", "stop returns after the event");
    expect_reply(&c, "{\"execute\": \"query-status\", \"id\": 58}\n",
                 "{\"return\": {\"status\": \"paused\", \"singlestep\": false, \"running\": false}, \"id\": 58}",
                 "query-status paused");
    expect_reply(&c, "{\"execute\": \"stop\", \"id\": 59}\n", "{\"return\": {}, \"id\": 59}",
                 "second stop: no second STOP event");
    send_str(&c, "{\"execute\": \"cont\", \"id\": 60}\n");
    json_object_put(expect_event(&c, "RESUME", NULL, "cont emits RESUME"));
    expect_reply(&c, NULL, "{\"return\": {}, \"id\": 60}", "cont returns");
    send_str(&c, "{\"execute\": \"system_reset\", \"id\": 62}\n");
    json_object_put(expect_event(&c, "RESET", "{\"guest\": false, \"reason\": \"host-qmp-system-reset\"}",
                                 "system_reset emits RESET"));
    expect_reply(&c, NULL, "{\"return\": {}, \"id\": 62}", "system_reset returns");
    send_str(&c, "{\"execute\": \"system_powerdown\", \"id\": 64}\n");
    json_object_put(expect_event(&c, "POWERDOWN", NULL, "system_powerdown emits POWERDOWN"));
    expect_reply(&c, NULL, "{\"return\": {}, \"id\": 64}", "system_powerdown returns");
    vm.fail_cont = true;
    expect_reply(&c, "{\"execute\": \"cont\", \"id\": 65}\n",
                 "{\"id\": 65, \"error\": {\"class\": \"GenericError\", \"desc\": "
                 "\"Resetting the Virtual Machine is required\"}}", "op failure is GenericError");
    vm.fail_cont = false;
    TAP_EQ_U64(vm.stops * 100 + vm.conts * 10 + vm.resets, 2 * 100 + 2 * 10 + 1,
               "ops called once per command");

    /* Events from the VM side, e.g. guest poweroff. */
    emit("SHUTDOWN", "{\"guest\": true, \"reason\": \"guest-shutdown\"}");
    json_object_put(expect_event(&c, "SHUTDOWN", "{\"guest\": true, \"reason\": \"guest-shutdown\"}",
                                 "SHUTDOWN guest-shutdown"));
    TAP_EQ_U64((uint64_t)-emit("STOP", "[1]"), EINVAL, "event data must be an object");
    TAP_EQ_U64((uint64_t)-emit("STOP", "{broken"), EINVAL, "event data must be valid JSON");

    /* BALLOON_CHANGE: one per second, the latest wins (qmp.md 4). */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    emit("BALLOON_CHANGE", "{\"actual\": 535822336}");
    emit("BALLOON_CHANGE", "{\"actual\": 400000000}");
    emit("BALLOON_CHANGE", "{\"actual\": 268435456}");
    json_object_put(expect_event(&c, "BALLOON_CHANGE", "{\"actual\": 535822336}",
                                 "first BALLOON_CHANGE immediately"));
    json_object_put(expect_event(&c, "BALLOON_CHANGE", "{\"actual\": 268435456}",
                                 "latest BALLOON_CHANGE after the window"));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    TAP_CHECK(dt >= 0.9 && dt < 2.5, "throttled event delayed ~1 s (%.2f s)", dt);
    char *extra = read_line_eof(&c, 1300, NULL);
    TAP_CHECK(extra == NULL, "the middle BALLOON_CHANGE was coalesced away");
    free(extra);

    /* quit: SHUTDOWN, return, then EOF (qmp.md 4.2). */
    send_str(&c, "{\"execute\": \"quit\", \"id\": 21}\n");
    json_object_put(expect_event(&c, "SHUTDOWN", "{\"guest\": false, \"reason\": \"host-qmp-quit\"}",
                                 "quit emits SHUTDOWN host-qmp-quit"));
    expect_reply(&c, NULL, "{\"return\": {}, \"id\": 21}", "quit returns");
    bool eof = false;
    char *after = read_line_eof(&c, 2000, &eof);
    TAP_CHECK(after == NULL && eof, "socket closed after quit");
    free(after);
    client_close(&c);
}

static void expect_hmp(struct client *c, const char *cmdline, const char *expected_text,
                       const char *name)
{
    struct json_object *req = json_object_new_object();
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "command-line", json_object_new_string(cmdline));
    json_object_object_add(req, "execute", json_object_new_string("human-monitor-command"));
    json_object_object_add(req, "arguments", args);
    send_str(c, json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
    json_object_put(req);
    char *line = read_line(c);
    struct json_object *r = line ? json_tokener_parse(line) : NULL;
    TAP_EQ_STR(json_object_get_string(member(r, "return")), expected_text, name);
    json_object_put(r);
    free(line);
}

static void test_hmp(void)
{
    struct client c;
    open_negotiated(&c);
    vm.state = "running";
    expect_hmp(&c, "info status", "VM status: running\r\n", "info status running");
    vm.state = "paused";
    expect_hmp(&c, "info status", "VM status: paused\r\n", "info status paused");
    vm.state = "prelaunch";
    expect_hmp(&c, "  info  status", "VM status: paused (prelaunch)\r\n",
               "info status prelaunch, extra blanks");
    vm.state = "running";
    expect_hmp(&c, "info status extra",
               "status: extraneous characters at the end of line\r\n"
               "Try \"help info status\" for more information\r\n", "info status with junk");
    expect_hmp(&c, "info cpus", "* CPU #0: thread_id=22839\r\n  CPU #1: thread_id=22841\r\n",
               "info cpus");
    char exp[256];
    snprintf(exp, sizeof(exp), "7.2.0hvd %s\r\n", PACKAGE_VERSION);
    expect_hmp(&c, "info version", exp, "info version");
    expect_hmp(&c, "info name", "", "info name when unnamed");
    expect_hmp(&c, "info uuid", "00000000-0000-0000-0000-000000000000\r\n", "info uuid");
    expect_hmp(&c, "info kvm", "kvm support: enabled\r\n", "info kvm");
    expect_hmp(&c, "info nonsense", "unknown command: 'info nonsense'\r\n", "unknown info");
    expect_hmp(&c, "nonsense-command", "unknown command: 'nonsense-command'\r\n",
               "unknown command");
    expect_hmp(&c, "info balloon", "balloon: actual=512\r\n", "registered HMP info command");
    /* The PCI part of QEMU 7.2's "info pci" text from qmp-02, same devices. */
    expect_hmp(&c, "info pci",
               "  Bus  0, device   0, function 0:\r\n"
               "    Host bridge: PCI device 8086:1237\r\n"
               "      PCI subsystem 1af4:1100\r\n"
               "      id \"\"\r\n"
               "  Bus  0, device   2, function 0:\r\n"
               "    Class 0255: PCI device 1af4:1045\r\n"
               "      PCI subsystem 1af4:1100\r\n"
               "      IRQ 10, pin A\r\n"
               "      BAR4: 64 bit prefetchable memory at 0xfebf4000 [0xfebf7fff].\r\n"
               "      id \"balloon0\"\r\n"
               "  Bus  0, device   3, function 0:\r\n"
               "    Ethernet controller: PCI device 1af4:1041\r\n"
               "      PCI subsystem 1af4:1100\r\n"
               "      IRQ 11, pin A\r\n"
               "      BAR1: 32 bit memory at 0xfebc0000 [0xfebc0fff].\r\n"
               "      BAR4: 64 bit prefetchable memory at 0xfebf8000 [0xfebfbfff].\r\n"
               "      BAR6: 32 bit memory at 0xffffffffffffffff [0x0003fffe].\r\n"
               "      id \"nic0\"\r\n",
               "info pci as QEMU prints it");
    expect_hmp(&c, "info block drive1",
               "drive1 (#block101): d2.img (raw, read-only)\r\n"
               "    Attached to:      /machine/peripheral/blk1/virtio-backend\r\n"
               "    Cache mode:       writeback\r\n", "info block one device");
    expect_hmp(&c, "info block drive2",
               "drive2 (#block102): top.qcow2 (qcow2, read-only)\r\n"
               "    Attached to:      /machine/peripheral/blk2/virtio-backend\r\n"
               "    Cache mode:       writeback\r\n"
               "    Backing file:     mid.qcow2 (chain depth: 2)\r\n", "info block with a backing file");
    expect_hmp(&c, "info block drive3",
               "drive3: [not inserted]\r\n"
               "    Attached to:      ide0-1-0\r\n"
               "    Removable device: not locked, tray open\r\n", "info block of an empty cdrom");
    expect_hmp(&c, "info block drive4",
               "drive4 (#block104): cd.iso (raw, read-only)\r\n"
               "    Attached to:      ide0-1-1\r\n"
               "    Removable device: locked, tray closed\r\n"
               "    Cache mode:       writeback\r\n", "info block of a locked cdrom");
    send_str(&c, "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"info block\"}}");
    char *line = read_line(&c);
    TAP_CHECK(line && strstr(line, "\"return\": \"drive0 (#block100): /tmp/qmpw/disk.img (raw)\\r\\n"
                                   "    Attached to:      /machine/peripheral/blk0/virtio-backend\\r\\n"
                                   "    Cache mode:       writeback\\r\\n\\r\\ndrive1 (#block101)"),
              "info block all devices, blank line between");
    free(line);
    expect_hmp(&c, "help stop", "stop|s  -- stop emulation\r\n", "help for one command");
    expect_hmp(&c, "help info kvm", "info kvm  -- show KVM information\r\n", "help info kvm");
    expect_hmp(&c, "help nothing", "unknown command: 'nothing'\r\n", "help unknown");
    send_str(&c, "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"help\"}}");
    line = read_line(&c);
    TAP_CHECK(line && strstr(line, "\"return\": \"cont|c  -- resume emulation\\r\\nhelp|? [cmd] -- show the help\\r\\n"
                                   "info [subcommand] -- show various information about the system state\\r\\n"),
              "help lists commands sorted, QEMU format");
    free(line);
    send_str(&c, "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"info\"}}");
    line = read_line(&c);
    TAP_CHECK(line && strstr(line, "\"return\": \"info balloon  -- show balloon information\\r\\ninfo block [device]"),
              "bare info lists info subcommands sorted");
    free(line);
    send_str(&c, "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"stop\"}}");
    json_object_put(expect_event(&c, "STOP", NULL, "HMP stop emits STOP"));
    expect_reply(&c, NULL, "{\"return\": \"\"}", "HMP stop prints nothing");
    send_str(&c, "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"c\"}}");
    json_object_put(expect_event(&c, "RESUME", NULL, "HMP alias c resumes"));
    expect_reply(&c, NULL, "{\"return\": \"\"}", "HMP cont prints nothing");
    expect_reply(&c, "{\"execute\": \"human-monitor-command\", \"arguments\": {}, \"id\": 1}",
                 "{\"id\": 1, \"error\": {\"class\": \"GenericError\", \"desc\": "
                 "\"Parameter 'command-line' is missing\"}}", "HMP missing command-line");
    expect_reply(&c, "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": 5}, \"id\": 2}",
                 "{\"id\": 2, \"error\": {\"class\": \"GenericError\", \"desc\": "
                 "\"Invalid parameter type for 'command-line', expected: string\"}}",
                 "HMP mistyped command-line");
    expect_reply(&c, "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"info kvm\", \"cpu-index\": 7}, \"id\": 3}",
                 "{\"id\": 3, \"error\": {\"class\": \"GenericError\", \"desc\": "
                 "\"Parameter 'cpu-index' expects a CPU number\"}}", "HMP bad cpu-index");
    expect_reply(&c, "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"info kvm\", \"cpu-index\": 1}, \"id\": 4}",
                 "{\"return\": \"kvm support: enabled\\r\\n\", \"id\": 4}", "HMP valid cpu-index");
    client_close(&c);
}

static void test_connections(void)
{
    /* One client at a time; a second one waits for the first (qmp.md 1). */
    struct client a, b;
    open_negotiated(&a);
    TAP_CHECK(connect_client(&b) == 0, "second client connect() succeeds");
    char *line = read_line_eof(&b, 300, NULL);
    TAP_CHECK(line == NULL, "second client gets no greeting while the first is attached");
    free(line);
    expect_reply(&a, "{\"execute\": \"query-name\", \"id\": 1}", "{\"return\": {}, \"id\": 1}",
                 "first client still served");
    /* Disconnect mid-command: nothing breaks, the waiting client gets in. */
    send_str(&a, "{\"execute\": \"query-sta");
    client_close(&a);
    line = read_line(&b);
    TAP_CHECK(line && strncmp(line, "{\"QMP\": ", 8) == 0, "waiting client greeted after the first left");
    free(line);
    expect_reply(&b, "{\"execute\": \"query-name\", \"id\": 2}",
                 "{\"id\": 2, \"error\": {\"class\": \"CommandNotFound\", \"desc\": "
                 "\"Expecting capabilities negotiation with 'qmp_capabilities'\"}}",
                 "new client starts in negotiation mode, no leftover input");
    client_close(&b);

    /* Oversized input without a complete value: the client is dropped. */
    struct client c;
    open_negotiated(&c);
    send_str(&c, "{\"execute\": \"");
    char *chunk = malloc(65536);
    memset(chunk, 'a', 65536);
    for (int i = 0; i < 20; i++)
        send_raw(&c, chunk, 65536);
    free(chunk);
    bool eof = false;
    line = read_line_eof(&c, 3000, &eof);
    TAP_CHECK(line == NULL && eof, "client dropped after > 1 MiB without a complete object");
    free(line);
    client_close(&c);

    /* The same for garbage after a parse error (skipping to a newline). */
    open_negotiated(&c);
    send_str(&c, "}");
    line = read_line(&c);
    TAP_CHECK(line && strstr(line, "expecting value"), "parse error reported");
    free(line);
    chunk = malloc(65536);
    memset(chunk, 'x', 65536);
    for (int i = 0; i < 20; i++)
        send_raw(&c, chunk, 65536);
    free(chunk);
    line = read_line_eof(&c, 3000, &eof);
    TAP_CHECK(line == NULL && eof, "client dropped after > 1 MiB of unparseable input");
    free(line);
    client_close(&c);

    /* And the monitor still serves the next client. */
    open_negotiated(&c);
    expect_reply(&c, "{\"execute\": \"query-kvm\", \"id\": 3}",
                 "{\"return\": {\"enabled\": true, \"present\": true}, \"id\": 3}",
                 "monitor healthy after dropped clients");
    client_close(&c);
}

/* Hostile input: JSON-ish noise, random bytes and deep nesting, from
 * several clients; the monitor must keep serving (run under ASan too). */
static void test_garbage(void)
{
    static const char alphabet[] = "{}[]:,\"\\ \n0123456789.-eEtrufalsnxu'\x01\xc3\xff";
    unsigned seed = 12345;
    char buf[4096];
    for (int round = 0; round < 40; round++) {
        struct client c;
        if (round % 2)
            open_negotiated(&c);
        else
            connect_client(&c);
        for (int chunk = 0; chunk < 8; chunk++) {
            for (size_t i = 0; i < sizeof(buf); i++) {
                seed = seed * 1103515245u + 12345u;
                unsigned r = (seed >> 16) & 0x7fff;
                buf[i] = (r & 0x100) ? (char)(r & 0xff) : alphabet[r % (sizeof(alphabet) - 1)];
            }
            send_raw(&c, buf, sizeof(buf));
            /* Drain replies so the client is not dropped for not reading. */
            struct pollfd pfd = { .fd = c.fd, .events = POLLIN };
            while (poll(&pfd, 1, 0) > 0 && read(c.fd, c.buf, sizeof(c.buf)) > 0)
                ;
        }
        client_close(&c);
    }
    struct client c;
    open_negotiated(&c);
    memset(buf, '[', 200);
    buf[200] = '\n';
    send_raw(&c, buf, 201);
    char *line = read_line(&c);
    TAP_CHECK(line && strstr(line, "\"class\": \"GenericError\"") && strstr(line, "JSON parse error"),
              "deep nesting is a parse error");
    free(line);
    expect_reply(&c, "{\"execute\": \"query-kvm\", \"id\": 3}",
                 "{\"return\": {\"enabled\": true, \"present\": true}, \"id\": 3}",
                 "monitor healthy after garbage from 40 clients");
    client_close(&c);
}

static void test_create_errors(void)
{
    char err[256] = "";
    struct loop *l = loop_new();
    char longpath[200];
    memset(longpath, 'p', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    struct monitor *m = monitor_create(l, longpath, NULL, NULL, NULL, err, sizeof(err));
    TAP_CHECK(m == NULL && strstr(err, "too long"), "over-long socket path refused: %s", err);
    char file[] = "/tmp/test-qmp-file-XXXXXX";
    int fd = mkstemp(file);
    close(fd);
    m = monitor_create(l, file, NULL, NULL, NULL, err, sizeof(err));
    TAP_CHECK(m == NULL && strstr(err, "not a socket"), "regular file not replaced: %s", err);
    TAP_CHECK(access(file, F_OK) == 0, "regular file left in place");
    unlink(file);
    loop_free(l);
}

static void test_named_vm(void)
{
    /* A second monitor with a name and UUID, ops-less. */
    struct loop *l = loop_new();
    char path[108], err[256];
    snprintf(path, sizeof(path), "/tmp/test-qmp-%d-named.sock", (int)getpid());
    struct monitor_info info = { .name = "vmmref", .uuid = "5f4e3d2c-1b0a-4978-8695-a4b3c2d1e0f9" };
    struct monitor *m = monitor_create(l, path, &info, NULL, NULL, err, sizeof(err));
    TAP_CHECK(m != NULL, "second monitor created");
    pthread_t th;
    pthread_create(&th, NULL, loop_thread, l);
    char saved_path[108];
    memcpy(saved_path, sock_path, sizeof(saved_path));
    snprintf(sock_path, sizeof(sock_path), "%s", path);
    struct client c;
    open_negotiated(&c);
    expect_reply(&c, "{\"execute\": \"query-name\", \"id\": 13}",
                 "{\"return\": {\"name\": \"vmmref\"}, \"id\": 13}", "query-name");
    expect_reply(&c, "{\"execute\": \"query-uuid\", \"id\": 14}",
                 "{\"return\": {\"UUID\": \"5f4e3d2c-1b0a-4978-8695-a4b3c2d1e0f9\"}, \"id\": 14}",
                 "query-uuid");
    expect_reply(&c, "{\"execute\": \"query-kvm\", \"id\": 16}",
                 "{\"return\": {\"enabled\": false, \"present\": true}, \"id\": 16}",
                 "query-kvm without KVM");
    expect_reply(&c, "{\"execute\": \"stop\", \"id\": 1}",
                 "{\"id\": 1, \"error\": {\"class\": \"GenericError\", \"desc\": "
                 "\"stop is not supported by this VM\"}}", "missing op is a clean error");
    expect_reply(&c, "{\"execute\": \"query-cpus-fast\", \"id\": 2}", "{\"return\": [], \"id\": 2}",
                 "missing query op lists nothing");
    expect_hmp(&c, "info name", "vmmref\r\n", "info name");
    client_close(&c);
    loop_call(l, quit_loop, l);
    pthread_join(th, NULL);
    monitor_free(m);
    TAP_CHECK(access(path, F_OK) != 0, "monitor_free removes the socket file");
    loop_free(l);
    memcpy(sock_path, saved_path, sizeof(saved_path));
}

int main(void)
{
    snprintf(sock_path, sizeof(sock_path), "/tmp/test-qmp-%d.sock", (int)getpid());
    loop = loop_new();
    char err[256] = "";
    struct monitor_info info = { .ram_size = 536870912, .kvm_enabled = true };
    mon = monitor_create(loop, sock_path, &info, &fake_ops, NULL, err, sizeof(err));
    TAP_CHECK(mon != NULL, "monitor created: %s", err);
    if (!mon)
        return tap_done();
    TAP_EQ_STR(monitor_socket_path(mon), sock_path, "monitor_socket_path");
    struct machine *machine = fake_machine();
    monitor_block_register(mon, machine);
    TAP_EQ_U64(monitor_register_command(mon, "balloon", balloon_args, cmd_balloon, NULL), 0,
               "register a command");
    TAP_EQ_U64(monitor_register_hmp(mon, "info balloon", "", "show balloon information",
                                    hmp_info_balloon, NULL), 0, "register an HMP command");
    pthread_t th;
    pthread_create(&th, NULL, loop_thread, loop);

    test_greeting_and_negotiation();
    test_framing_errors();
    test_queries();
    test_registered_command();
    test_lifecycle_and_events();
    test_hmp();
    test_connections();
    test_garbage();
    test_create_errors();

    loop_call(loop, quit_loop, loop);
    pthread_join(th, NULL);
    test_named_vm();
    monitor_free(mon);
    machine_destroy(machine);
    TAP_CHECK(access(sock_path, F_OK) != 0, "socket file removed");
    loop_free(loop);
    return tap_done();
}
