/* The daemon's QMP client (drivers/domain/monitor.c), for real:
 *  1. against hv's own monitor (hv/monitor/) running on its event loop in
 *     a second thread with fake VM ops, created a moment after the client
 *     starts connecting (so the connect retry is exercised);
 *  2. against a hostile fake server in a thread that sends garbage,
 *     oversized lines, stray ids, deep nesting, late replies and EOFs.
 * The client runs on this thread's GLib main context. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <json-c/json.h>

#include "drivers/domain/monitor.h"
#include "drivers/domain/monitor_sync.h"
#include "drivers/virerror.h"
#include "hv/loop.h"
#include "hv/monitor/monitor.h"
#include "tests/tap.h"

static char tmpdir[64];

/* ------------------------------------------------------------------ */
/* Client-side helpers                                                 */

static gboolean set_flag(gpointer data)
{
    *(bool *)data = true;
    return G_SOURCE_REMOVE;
}

/* Run the default context until *cond or timeout_ms. */
static bool spin_until(const bool *cond, int timeout_ms)
{
    bool timeout = false;
    GSource *t = g_timeout_source_new(timeout_ms);
    g_source_set_callback(t, set_flag, &timeout, NULL);
    g_source_attach(t, NULL);
    while (!*cond && !timeout)
        g_main_context_iteration(NULL, TRUE);
    g_source_destroy(t);
    g_source_unref(t);
    return *cond;
}

static void spin_ms(int ms)
{
    bool never = false;
    spin_until(&never, ms);
}

struct events {
    int count;
    char name[8][32];
    struct json_object *data[8];
    gint64 seconds[8];
};

static void on_event(HvdMonitor *mon, const char *event, struct json_object *data,
                     gint64 seconds, gint64 micros, gpointer user_data)
{
    struct events *ev = user_data;
    if (ev->count < 8) {
        g_strlcpy(ev->name[ev->count], event, sizeof(ev->name[0]));
        ev->data[ev->count] = data ? json_object_get(data) : NULL;
        ev->seconds[ev->count] = seconds;
    }
    ev->count++;
}

static void events_clear(struct events *ev)
{
    for (int i = 0; i < 8; i++)
        if (ev->data[i])
            json_object_put(ev->data[i]);
    memset(ev, 0, sizeof(*ev));
}

struct closed {
    int count;
    char msg[512];
    int code;
};

static void on_closed(HvdMonitor *mon, const GError *reason, gpointer user_data)
{
    struct closed *c = user_data;
    c->count++;
    g_strlcpy(c->msg, reason ? reason->message : "(none)", sizeof(c->msg));
    c->code = hvd_vir_error_number(reason);
}

struct reply {
    bool done;
    int order;
    struct json_object *ret;
    char *error_class;
    char *msg;
    int code;
};

static int reply_order;

static void on_reply(HvdMonitor *mon, struct json_object *ret, const char *error_class,
                     const GError *err, gpointer user_data)
{
    struct reply *r = user_data;
    r->done = true;
    r->order = ++reply_order;
    r->ret = ret ? json_object_get(ret) : NULL;
    r->error_class = g_strdup(error_class);
    r->msg = err ? g_strdup(err->message) : NULL;
    r->code = err ? hvd_vir_error_number(err) : 0;
}

static void reply_clear(struct reply *r)
{
    if (r->ret)
        json_object_put(r->ret);
    g_free(r->error_class);
    g_free(r->msg);
    memset(r, 0, sizeof(*r));
}

static const char *get_str(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v))
        return NULL;
    return json_object_get_string(v);
}

/* ------------------------------------------------------------------ */
/* Part 1: hv's real monitor                                           */

static struct loop *hv_loop;
static struct monitor *hv_mon;
static char hv_path[108];
static bool hv_running = true;

static const char *fake_run_state(void *opaque, bool *running)
{
    *running = hv_running;
    return hv_running ? "running" : "paused";
}

static int fake_stop(void *opaque, char *err, size_t errlen)
{
    if (hv_running) {
        hv_running = false;
        monitor_emit_event(hv_mon, "STOP", NULL);   /* event before return (qmp.md §4) */
    }
    return 0;
}

static void fake_quit(void *opaque)
{
    monitor_emit_shutdown(hv_mon, "SHUTDOWN", "host-qmp-quit");
    loop_quit(hv_loop, 0);
}

static const struct monitor_ops fake_ops = {
    .run_state = fake_run_state,
    .stop = fake_stop,
    .quit = fake_quit,
};

static void *hv_thread(void *arg)
{
    /* The worker creates its socket a moment after being spawned. */
    usleep(150 * 1000);
    struct monitor_info info = { .name = "vm1", .ram_size = 512 << 20, .kvm_enabled = true };
    char err[256];
    hv_mon = monitor_create(hv_loop, hv_path, &info, &fake_ops, NULL, err, sizeof(err));
    if (!hv_mon) {
        fprintf(stderr, "monitor_create: %s\n", err);
        return NULL;
    }
    loop_run(hv_loop);
    monitor_free(hv_mon);
    return NULL;
}

struct emit_req {
    const char *event, *data;
};

static void do_emit(void *arg)
{
    struct emit_req *r = arg;
    monitor_emit_event(hv_mon, r->event, r->data);
    g_free(r);
}

static void hv_emit(const char *event, const char *data)
{
    struct emit_req *r = g_new0(struct emit_req, 1);
    r->event = event;
    r->data = data;
    loop_call(hv_loop, do_emit, r);
}

static void test_real_monitor(void)
{
    snprintf(hv_path, sizeof(hv_path), "%s/vm1.qmp", tmpdir);
    hv_loop = loop_new();
    pthread_t th;
    pthread_create(&th, NULL, hv_thread, NULL);

    HvdMonitor *mon = hvd_monitor_new(hv_path, "vm1", NULL);
    struct events ev = { 0 };
    struct closed cl = { 0 };
    hvd_monitor_set_event_handler(mon, on_event, &ev);
    hvd_monitor_set_closed_handler(mon, on_closed, &cl);

    /* Connect before the socket exists: the client retries. */
    gint64 t0 = g_get_monotonic_time();
    GError *err = NULL;
    bool ok = hvd_monitor_connect_sync(mon, 3000, &err);
    gint64 waited_ms = (g_get_monotonic_time() - t0) / 1000;
    TAP_CHECK(ok, "connect to hv's monitor that appears 150 ms later (%s)",
              err ? err->message : "ok");
    g_clear_error(&err);
    TAP_CHECK(waited_ms >= 100 && waited_ms < 2000, "connect waited for the socket (%lld ms)",
              (long long)waited_ms);
    TAP_CHECK(hvd_monitor_is_ready(mon), "ready after negotiation");
    struct json_object *greeting = hvd_monitor_greeting(mon), *qmp = NULL, *ver = NULL,
                       *qemu = NULL, *major = NULL;
    if (greeting && json_object_object_get_ex(greeting, "QMP", &qmp) &&
        json_object_object_get_ex(qmp, "version", &ver) &&
        json_object_object_get_ex(ver, "qemu", &qemu))
        json_object_object_get_ex(qemu, "major", &major);
    TAP_EQ_U64(json_object_get_int(major), 7, "greeting kept: QMP.version.qemu.major = 7");

    /* Synchronous command. */
    struct json_object *ret = hvd_monitor_command_sync(mon, "query-status", NULL, 2000, &err);
    TAP_EQ_STR(get_str(ret, "status"), "running", "query-status returns status running");
    TAP_CHECK(err == NULL, "no error for query-status");
    json_object_put(ret);

    /* QMP errors: libvirt's internal error text, the class beside it. */
    ret = hvd_monitor_command_sync(mon, "no-such-command", NULL, 2000, &err);
    TAP_CHECK(ret == NULL && err, "unknown command fails");
    TAP_EQ_U64(hvd_vir_error_number(err), VIR_ERR_INTERNAL_ERROR, "code VIR_ERR_INTERNAL_ERROR");
    TAP_EQ_U64(hvd_vir_error_from(err), VIR_FROM_QEMU, "domain VIR_FROM_QEMU");
    TAP_EQ_STR(err ? err->message : NULL,
               "internal error: unable to execute QEMU command 'no-such-command': "
               "The command no-such-command has not been found",
               "message as libvirt reports it");
    TAP_EQ_STR(hvd_monitor_last_error_class(mon), "CommandNotFound", "class CommandNotFound");
    g_clear_error(&err);

    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "foo", json_object_new_int(1));
    ret = hvd_monitor_command_sync(mon, "query-status", args, 2000, &err);
    json_object_put(args);
    TAP_EQ_STR(err ? err->message : NULL,
               "internal error: unable to execute QEMU command 'query-status': "
               "Parameter 'foo' is unexpected", "argument error carries the desc");
    TAP_EQ_STR(hvd_monitor_last_error_class(mon), "GenericError", "class GenericError");
    g_clear_error(&err);

    /* Raw passthrough: compact reply with our id, as virsh shows it. */
    char *raw = hvd_monitor_command_raw_sync(mon, "{\"execute\":\"query-status\"}", 2000, &err);
    TAP_CHECK(raw && g_str_has_prefix(raw, "{\"return\":{\"status\":\"running\",\"singlestep\":"
                                           "false,\"running\":true},\"id\":\"libvirt-"),
              "raw query-status reply: %s", raw ? raw : err->message);
    g_free(raw);
    raw = hvd_monitor_command_raw_sync(mon, "{\"execute\":\"no-such-cmd\", \"id\": \"mine\"}", 2000,
                                       &err);
    TAP_CHECK(raw && g_str_has_prefix(raw, "{\"id\":\"libvirt-") &&
                  strstr(raw, "\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"The command "
                              "no-such-cmd has not been found\"}"),
              "raw QMP error is a successful reply, caller's id replaced: %s",
              raw ? raw : err->message);
    g_free(raw);
    g_clear_error(&err);
    raw = hvd_monitor_command_raw_sync(mon, "{\"execute\": query-status}", 2000, &err);
    TAP_CHECK(!raw && err && g_str_has_prefix(err->message, "internal error: cannot parse json"),
              "raw text that is not JSON is refused: %s", err ? err->message : "no error");
    g_clear_error(&err);
    raw = hvd_monitor_command_raw_sync(mon, "[1, 2]", 2000, &err);
    TAP_CHECK(!raw && err, "raw JSON that is not an object is refused");
    g_clear_error(&err);

    /* HMP through human-monitor-command. */
    char *text = hvd_monitor_hmp_sync(mon, "info status", 2000, &err);
    TAP_EQ_STR(text, "VM status: running\r\n", "HMP info status");
    g_free(text);

    /* Several asynchronous commands in flight, matched by id. */
    struct reply r1 = { 0 }, r2 = { 0 }, r3 = { 0 };
    guint64 s1 = hvd_monitor_command(mon, "query-name", NULL, on_reply, &r1);
    guint64 s2 = hvd_monitor_command(mon, "no-such-command", NULL, on_reply, &r2);
    guint64 s3 = hvd_monitor_command(mon, "query-kvm", NULL, on_reply, &r3);
    TAP_CHECK(s1 > 0 && s2 == s1 + 1 && s3 == s2 + 1, "serials increase");
    TAP_CHECK(spin_until(&r3.done, 2000) && r1.done && r2.done, "three async replies arrive");
    TAP_EQ_STR(get_str(r1.ret, "name"), "vm1", "async query-name");
    TAP_EQ_STR(r2.error_class, "CommandNotFound", "async error class");
    TAP_CHECK(r2.ret == NULL && r2.code == VIR_ERR_INTERNAL_ERROR, "async error code");
    struct json_object *enabled = NULL;
    json_object_object_get_ex(r3.ret, "enabled", &enabled);
    TAP_CHECK(json_object_get_boolean(enabled), "async query-kvm enabled");
    TAP_CHECK(r1.order < r2.order && r2.order < r3.order, "replies in order");
    reply_clear(&r1);
    reply_clear(&r2);
    reply_clear(&r3);

    /* Events from the worker. */
    hv_emit("BALLOON_CHANGE", "{\"actual\": 42}");
    for (int i = 0; i < 200 && ev.count < 1; i++)
        spin_ms(10);
    TAP_EQ_U64(ev.count, 1, "one event delivered");
    TAP_EQ_STR(ev.name[0], "BALLOON_CHANGE", "event name");
    struct json_object *actual = NULL;
    json_object_object_get_ex(ev.data[0], "actual", &actual);
    TAP_EQ_U64(json_object_get_int64(actual), 42, "event data");
    TAP_CHECK(ev.seconds[0] > 1600000000, "event wall-clock timestamp");
    events_clear(&ev);

    /* An event that arrives during a synchronous call (stop emits STOP
     * before its return) waits until the daemon's loop runs again. */
    ret = hvd_monitor_command_sync(mon, "stop", NULL, 2000, &err);
    TAP_CHECK(ret != NULL, "stop");
    json_object_put(ret);
    TAP_EQ_U64(ev.count, 0, "no event handler ran inside the synchronous call");
    for (int i = 0; i < 100 && ev.count < 1; i++)
        spin_ms(10);
    TAP_EQ_U64(ev.count, 1, "STOP delivered afterwards");
    TAP_EQ_STR(ev.name[0], "STOP", "STOP event");
    TAP_CHECK(ev.data[0] == NULL, "STOP has no data");
    events_clear(&ev);

    /* quit: return, SHUTDOWN, then EOF -> the closed handler. */
    struct reply rq = { 0 };
    hvd_monitor_command(mon, "quit", NULL, on_reply, &rq);
    for (int i = 0; i < 300 && cl.count < 1; i++)
        spin_ms(10);
    TAP_CHECK(rq.done && rq.ret && !rq.msg, "quit returned");
    TAP_EQ_U64(ev.count, 1, "SHUTDOWN event");
    TAP_EQ_STR(ev.name[0], "SHUTDOWN", "SHUTDOWN name");
    TAP_EQ_STR(get_str(ev.data[0], "reason"), "host-qmp-quit", "SHUTDOWN reason");
    TAP_EQ_U64(cl.count, 1, "closed handler called once at EOF");
    TAP_EQ_STR(cl.msg, "internal error: End of file from qemu monitor (vm='vm1')",
               "EOF message as libvirt's");
    TAP_CHECK(!hvd_monitor_is_ready(mon), "not ready after EOF");
    reply_clear(&rq);
    events_clear(&ev);

    ret = hvd_monitor_command_sync(mon, "query-status", NULL, 1000, &err);
    TAP_CHECK(!ret && err && hvd_vir_error_number(err) == VIR_ERR_OPERATION_INVALID,
              "command after close: VIR_ERR_OPERATION_INVALID (%s)", err ? err->message : "");
    g_clear_error(&err);

    pthread_join(th, NULL);
    loop_free(hv_loop);
    hvd_monitor_unref(mon);
}

/* ------------------------------------------------------------------ */
/* Part 2: a hostile fake server                                       */

typedef void (*ScriptFunc)(int fd, void *arg);

struct fake {
    char path[108];
    int listen_fd;
    ScriptFunc script;
    void *arg;
    pthread_t th;
};

static char *srv_read_line(int fd, int timeout_ms)
{
    GString *s = g_string_new(NULL);
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, timeout_ms) <= 0)
            break;
        char c;
        if (read(fd, &c, 1) != 1)
            break;
        if (c == '\n')
            return g_string_free(s, FALSE);
        if (c != '\r')
            g_string_append_c(s, c);
    }
    g_string_free(s, TRUE);
    return NULL;
}

static void srv_send(int fd, const char *text)
{
    size_t len = strlen(text);
    while (len) {
        ssize_t n = send(fd, text, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        text += n;
        len -= (size_t)n;
    }
}

/* Read one command and return its id (malloc'd), NULL on EOF/garbage. */
static char *srv_read_id(int fd)
{
    g_autofree char *line = srv_read_line(fd, 3000);
    if (!line)
        return NULL;
    struct json_object *o = json_tokener_parse(line);
    char *id = g_strdup(get_str(o, "id"));
    json_object_put(o);
    return id;
}

static void srv_reply(int fd, const char *id, const char *ret_json)
{
    g_autofree char *s = g_strdup_printf("{\"return\": %s, \"id\": \"%s\"}\r\n", ret_json, id);
    srv_send(fd, s);
}

static void srv_handshake(int fd)
{
    srv_send(fd, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "
                 "\"package\": \"fake\"}, \"capabilities\": []}}\r\n");
    g_autofree char *id = srv_read_id(fd);
    if (id)
        srv_reply(fd, id, "{}");
}

static void *fake_thread(void *arg)
{
    struct fake *f = arg;
    int fd = accept(f->listen_fd, NULL, NULL);
    if (fd >= 0) {
        f->script(fd, f->arg);
        close(fd);
    }
    return NULL;
}

static int fake_counter;

static void fake_start(struct fake *f, ScriptFunc script, void *arg)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->path, sizeof(f->path), "%s/fake%d.qmp", tmpdir, ++fake_counter);
    f->script = script;
    f->arg = arg;
    f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    g_strlcpy(addr.sun_path, f->path, sizeof(addr.sun_path));
    unlink(f->path);
    if (bind(f->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(f->listen_fd, 4) < 0)
        perror("fake server");
    pthread_create(&f->th, NULL, fake_thread, f);
}

static void fake_finish(struct fake *f)
{
    pthread_join(f->th, NULL);
    close(f->listen_fd);
    unlink(f->path);
}

/* A connected, negotiated client on a fresh fake server. */
static HvdMonitor *fake_client(struct fake *f, ScriptFunc script, void *arg, struct closed *cl,
                               struct events *ev)
{
    fake_start(f, script, arg);
    HvdMonitor *mon = hvd_monitor_new(f->path, "evil", NULL);
    if (cl)
        hvd_monitor_set_closed_handler(mon, on_closed, cl);
    if (ev)
        hvd_monitor_set_event_handler(mon, on_event, ev);
    GError *err = NULL;
    if (!hvd_monitor_connect_sync(mon, 2000, &err)) {
        printf("# connect failed: %s\n", err->message);
        g_clear_error(&err);
    }
    return mon;
}

/* --- connect-phase scripts --- */

static void script_send_text(int fd, void *arg)
{
    srv_send(fd, arg);
    srv_read_line(fd, 1000);   /* until the client hangs up */
}

static void script_close(int fd, void *arg)
{
}

static void script_refuse_caps(int fd, void *arg)
{
    srv_send(fd, "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n");
    g_autofree char *id = srv_read_id(fd);
    g_autofree char *s = g_strdup_printf(
        "{\"id\": \"%s\", \"error\": {\"class\": \"GenericError\", \"desc\": \"nope\"}}\r\n", id);
    srv_send(fd, s);
    srv_read_line(fd, 1000);
}

static void script_silent(int fd, void *arg)
{
    srv_read_line(fd, 2000);
}

static void expect_connect_error(ScriptFunc script, void *arg, int timeout_ms, const char *needle,
                                 const char *name)
{
    struct fake f;
    fake_start(&f, script, arg);
    HvdMonitor *mon = hvd_monitor_new(f.path, "evil", NULL);
    GError *err = NULL;
    bool ok = hvd_monitor_connect_sync(mon, timeout_ms, &err);
    TAP_CHECK(!ok && err && strstr(err->message, needle), "%s: %s", name,
              err ? err->message : "no error");
    g_clear_error(&err);
    hvd_monitor_unref(mon);
    fake_finish(&f);
}

static void test_connect_failures(void)
{
    expect_connect_error(script_send_text, "hello world\r\n", 2000, "cannot parse json",
                         "garbage instead of a greeting");
    expect_connect_error(script_send_text, "{\"foo\": 1}\r\n", 2000,
                         "did not start with a QMP greeting", "object that is no greeting");
    expect_connect_error(script_close, NULL, 2000, "End of file from qemu monitor (vm='evil')",
                         "EOF before the greeting");
    expect_connect_error(script_refuse_caps, NULL, 2000,
                         "unable to execute QEMU command 'qmp_capabilities': nope",
                         "qmp_capabilities refused");
    expect_connect_error(script_silent, NULL, 300, "did not complete the QMP handshake",
                         "silent server times out");

    /* No socket ever appears. */
    g_autofree char *missing = g_strdup_printf("%s/never.qmp", tmpdir);
    HvdMonitor *mon = hvd_monitor_new(missing, "ghost", NULL);
    GError *err = NULL;
    gint64 t0 = g_get_monotonic_time();
    bool ok = hvd_monitor_connect_sync(mon, 250, &err);
    gint64 ms = (g_get_monotonic_time() - t0) / 1000;
    TAP_CHECK(!ok && err && hvd_vir_error_number(err) == VIR_ERR_OPERATION_TIMEOUT &&
                  strstr(err->message, "No such file or directory") &&
                  g_str_has_prefix(err->message, "Timed out during operation: "),
              "missing socket: timeout naming the cause: %s", err ? err->message : "");
    TAP_CHECK(ms >= 240 && ms < 1500, "gave up after the deadline (%lld ms)", (long long)ms);
    g_clear_error(&err);
    hvd_monitor_unref(mon);

    char longpath[200];
    memset(longpath, 'x', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = 0;
    mon = hvd_monitor_new(longpath, "long", NULL);
    ok = hvd_monitor_connect_sync(mon, 250, &err);
    TAP_CHECK(!ok && err && strstr(err->message, "too long"), "socket path too long: %s",
              err ? err->message : "");
    g_clear_error(&err);
    hvd_monitor_unref(mon);

    /* Async connect gets exactly one callback; close while connecting. */
    mon = hvd_monitor_new(missing, "ghost", NULL);
    struct reply r = { 0 };
    hvd_monitor_command(mon, "query-status", NULL, on_reply, &r);
    TAP_CHECK(r.done && r.code == VIR_ERR_OPERATION_INVALID,
              "command before connect fails at once");
    reply_clear(&r);
    hvd_monitor_unref(mon);
}

/* --- scripts after a good handshake --- */

static void script_garbage_after_ready(int fd, void *arg)
{
    srv_handshake(fd);
    g_free(srv_read_id(fd));   /* the client's command */
    srv_send(fd, arg);
    srv_read_line(fd, 1000);
}

static void expect_fatal(const char *garbage, const char *needle, const char *name)
{
    struct fake f;
    struct closed cl = { 0 };
    HvdMonitor *mon = fake_client(&f, script_garbage_after_ready, (void *)garbage, &cl, NULL);
    struct reply r = { 0 };
    hvd_monitor_command(mon, "query-status", NULL, on_reply, &r);
    spin_until(&r.done, 3000);
    TAP_CHECK(r.done && r.msg && strstr(r.msg, needle), "%s: pending command fails: %s", name,
              r.msg ? r.msg : "(no error)");
    TAP_CHECK(cl.count == 1 && strstr(cl.msg, needle), "%s: closed handler once: %s", name,
              cl.msg);
    TAP_CHECK(!hvd_monitor_is_ready(mon), "%s: monitor dropped", name);
    reply_clear(&r);
    hvd_monitor_unref(mon);
    fake_finish(&f);
}

/* A reply with a NUL byte inside: the line is length-delimited, not a C
 * string, and must be refused whole. */
static void script_nul_byte(int fd, void *arg)
{
    srv_handshake(fd);
    g_free(srv_read_id(fd));
    static const char line[] = "{\"return\": {}}\0{\"x\": 1}\r\n";
    send(fd, line, sizeof(line) - 1, MSG_NOSIGNAL);
    srv_read_line(fd, 1000);
}

static void script_oversized(int fd, void *arg)
{
    srv_handshake(fd);
    g_free(srv_read_id(fd));
    size_t chunk = 1 << 20;
    char *junk = g_malloc(chunk + 1);
    memset(junk, 'a', chunk);
    junk[chunk] = 0;
    /* 9 MiB without a newline; the client must give up, not grow forever. */
    for (int i = 0; i < 9; i++)
        srv_send(fd, junk);
    g_free(junk);
    srv_read_line(fd, 1000);
}

static void test_hostile_lines(void)
{
    expect_fatal("{\"return\": {}, \"id\": \r\n", "cannot parse json", "truncated JSON");
    expect_fatal("[1, 2]\r\n", "one JSON object per line", "array instead of an object");
    expect_fatal("{\"a\": 1} {\"b\": 2}\r\n", "monitor of domain 'evil'", "two objects on a line");
    expect_fatal("{\"timestamp\": 1}\r\n", "unexpected message", "object of no known kind");
    expect_fatal("{\"event\": 42}\r\n", "event without a name", "event with a numeric name");

    GString *deep = g_string_new("{\"return\": ");
    for (int i = 0; i < 10000; i++)
        g_string_append_c(deep, '[');
    g_string_append(deep, "\r\n");
    expect_fatal(deep->str, "cannot parse json", "10000-deep nesting");
    g_string_free(deep, TRUE);

    struct fake f;
    struct closed cl = { 0 };
    HvdMonitor *mon = fake_client(&f, script_nul_byte, NULL, &cl, NULL);
    struct reply r = { 0 };
    hvd_monitor_command(mon, "query-status", NULL, on_reply, &r);
    spin_until(&r.done, 3000);
    TAP_CHECK(r.done && !r.ret && r.msg && strstr(r.msg, "\\x00"),
              "NUL byte inside a line refused, shown escaped: %s", r.msg ? r.msg : "(none)");
    TAP_EQ_U64(cl.count, 1, "NUL byte: closed handler once");
    reply_clear(&r);
    hvd_monitor_unref(mon);
    fake_finish(&f);

    memset(&cl, 0, sizeof(cl));
    mon = fake_client(&f, script_oversized, NULL, &cl, NULL);
    hvd_monitor_command(mon, "query-status", NULL, on_reply, &r);
    spin_until(&r.done, 5000);
    TAP_CHECK(r.done && r.msg && strstr(r.msg, "longer than"), "oversized line: %s",
              r.msg ? r.msg : "(no error)");
    TAP_EQ_U64(cl.count, 1, "oversized line: closed handler once");
    reply_clear(&r);
    hvd_monitor_unref(mon);
    fake_finish(&f);
}

/* Stray ids, a reply without id, byte-by-byte delivery, odd events. */
static void script_tricky(int fd, void *arg)
{
    srv_handshake(fd);
    g_free(srv_read_id(fd));   /* id1: answered by the error without id below */
    g_autofree char *id2 = srv_read_id(fd);
    /* A reply nobody waits for is ignored. */
    srv_send(fd, "{\"return\": {\"x\": 0}, \"id\": \"libvirt-99999\"}\r\n");
    srv_send(fd, "{\"return\": {\"x\": 0}, \"id\": {\"weird\": [1]}}\r\n");
    /* An event with bad members: data not an object, no timestamp. */
    srv_send(fd, "{\"event\": \"ODD\", \"data\": 5}\r\n");
    /* The reply to id2 first, delivered one byte at a time. */
    g_autofree char *r2 = g_strdup_printf("{\"return\": {\"n\": 2}, \"id\": \"%s\"}\r\n", id2);
    for (const char *p = r2; *p; p++) {
        send(fd, p, 1, MSG_NOSIGNAL);
        usleep(200);
    }
    /* Then an error without id: it belongs to the oldest command (id1). */
    srv_send(fd, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\r\n");
    /* A third command: answered after the client timed out on it. */
    g_autofree char *id3 = srv_read_id(fd);
    usleep(400 * 1000);
    srv_reply(fd, id3, "{\"late\": true}");
    g_autofree char *id4 = srv_read_id(fd);
    srv_reply(fd, id4, "{\"n\": 4}");
    srv_read_line(fd, 1000);
}

static void test_tricky_server(void)
{
    struct fake f;
    struct closed cl = { 0 };
    struct events ev = { 0 };
    HvdMonitor *mon = fake_client(&f, script_tricky, NULL, &cl, &ev);
    struct reply r1 = { 0 }, r2 = { 0 };
    hvd_monitor_command(mon, "first", NULL, on_reply, &r1);
    hvd_monitor_command(mon, "second", NULL, on_reply, &r2);
    spin_until(&r1.done, 3000);
    TAP_CHECK(r2.done && r2.ret && json_object_get_int(json_object_object_get(r2.ret, "n")) == 2,
              "reply split into single bytes matched by id");
    TAP_CHECK(r1.done && r1.error_class && strcmp(r1.error_class, "GenericError") == 0 &&
                  r1.msg && strstr(r1.msg, "'first': JSON parse error"),
              "error without id goes to the oldest command: %s", r1.msg ? r1.msg : "");
    TAP_EQ_U64(ev.count, 1, "odd event still delivered");
    TAP_CHECK(ev.data[0] == NULL && ev.seconds[0] == -1, "bad data/timestamp become NULL/-1");
    TAP_EQ_U64(cl.count, 0, "stray replies do not drop the connection");

    GError *err = NULL;
    struct json_object *ret = hvd_monitor_command_sync(mon, "third", NULL, 150, &err);
    TAP_CHECK(!ret && err && hvd_vir_error_number(err) == VIR_ERR_OPERATION_TIMEOUT,
              "no reply in time: VIR_ERR_OPERATION_TIMEOUT (%s)", err ? err->message : "");
    g_clear_error(&err);
    spin_ms(500);   /* the late reply arrives and is dropped */
    ret = hvd_monitor_command_sync(mon, "fourth", NULL, 2000, &err);
    TAP_CHECK(ret && json_object_get_int(json_object_object_get(ret, "n")) == 4,
              "next command gets its own reply, not the late one");
    json_object_put(ret);
    TAP_EQ_U64(cl.count, 0, "still connected");
    reply_clear(&r1);
    reply_clear(&r2);
    events_clear(&ev);
    hvd_monitor_unref(mon);
    fake_finish(&f);
}

/* EOF with commands in flight; close from inside a callback. */
static void script_eof_with_pending(int fd, void *arg)
{
    srv_handshake(fd);
    g_free(srv_read_id(fd));
    g_free(srv_read_id(fd));
}

static void close_from_callback(HvdMonitor *mon, struct json_object *ret, const char *error_class,
                                const GError *err, gpointer user_data)
{
    on_reply(mon, ret, error_class, err, user_data);
    hvd_monitor_close(mon);
}

static void script_two_replies(int fd, void *arg)
{
    srv_handshake(fd);
    g_autofree char *id1 = srv_read_id(fd);
    g_autofree char *id2 = srv_read_id(fd);
    srv_reply(fd, id1, "{}");
    srv_reply(fd, id2, "{}");
    srv_read_line(fd, 1000);
}

static void test_eof_and_close(void)
{
    struct fake f;
    struct closed cl = { 0 };
    HvdMonitor *mon = fake_client(&f, script_eof_with_pending, NULL, &cl, NULL);
    struct reply r1 = { 0 }, r2 = { 0 };
    hvd_monitor_command(mon, "a", NULL, on_reply, &r1);
    hvd_monitor_command(mon, "b", NULL, on_reply, &r2);
    spin_until(&r2.done, 3000);
    TAP_CHECK(r1.done && r2.done && r1.msg && r2.msg &&
                  strstr(r1.msg, "End of file from qemu monitor") &&
                  strstr(r2.msg, "End of file from qemu monitor"),
              "both pending commands fail at EOF");
    spin_ms(20);
    TAP_EQ_U64(cl.count, 1, "closed handler once at EOF");
    reply_clear(&r1);
    reply_clear(&r2);
    hvd_monitor_unref(mon);
    fake_finish(&f);

    memset(&cl, 0, sizeof(cl));
    mon = fake_client(&f, script_two_replies, NULL, &cl, NULL);
    hvd_monitor_command(mon, "a", NULL, close_from_callback, &r1);
    hvd_monitor_command(mon, "b", NULL, on_reply, &r2);
    spin_until(&r2.done, 3000);
    TAP_CHECK(r1.done && !r1.msg, "first reply delivered");
    TAP_CHECK(r2.done && r2.msg &&
                  r2.code == VIR_ERR_OPERATION_FAILED && strstr(r2.msg, "was closed"),
              "close from a callback fails the other command: %s", r2.msg ? r2.msg : "");
    TAP_EQ_U64(cl.count, 0, "no closed handler for an explicit close");
    reply_clear(&r1);
    reply_clear(&r2);
    hvd_monitor_unref(mon);
    fake_finish(&f);
}

int main(void)
{
    g_strlcpy(tmpdir, "/tmp/hvd-qmpc-XXXXXX", sizeof(tmpdir));
    if (!g_mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_real_monitor();
    test_connect_failures();
    test_hostile_lines();
    test_tricky_server();
    test_eof_and_close();
    rmdir(tmpdir);
    return tap_done();
}
