/* The typed QMP layer (drivers/domain/qmp.h) against a fake worker that
 * checks each command line it receives and answers with replies taken from
 * QEMU 7.2 transcripts (captured sessions 02, 04, 07, 09
 * and 17), plus malformed replies that must become clean errors. */
#include <glib.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "drivers/domain/qmp.h"
#include "drivers/virerror.h"
#include "tests/tap.h"

/* ------------------------------------------------------------ the fake worker */

/* One exchange: the command the layer must send (JSON without "id") and
 * the reply line the worker gives, where "ID" stands for the command's id. */
typedef struct {
    const char *expect;
    const char *reply;
} Exchange;

typedef struct {
    char path[108];
    int listen_fd;
    const Exchange *script;
    size_t n;
    char *mismatch; /* the first command that differed from the script */
    pthread_t th;
} Fake;

static char tmpdir[64];

static char *read_line(int fd)
{
    GString *s = g_string_new(NULL);
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char c;
        if (poll(&p, 1, 3000) <= 0 || read(fd, &c, 1) != 1) {
            g_string_free(s, TRUE);
            return NULL;
        }
        if (c == '\n')
            return g_string_free(s, FALSE);
        if (c != '\r')
            g_string_append_c(s, c);
    }
}

static void send_text(int fd, const char *text)
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

/* The command without its id, compact, for comparison. */
static char *strip_id(const char *line, char **id)
{
    struct json_object *o = json_tokener_parse(line), *v;
    if (!o)
        return g_strdup(line);
    *id = json_object_object_get_ex(o, "id", &v) ? g_strdup(json_object_get_string(v)) : NULL;
    json_object_object_del(o, "id");
    char *text = g_strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return text;
}

static char *canonical(const char *json)
{
    struct json_object *o = json_tokener_parse(json);
    char *text = g_strdup(o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : json);
    json_object_put(o);
    return text;
}

static void *fake_thread(void *arg)
{
    Fake *f = arg;
    int fd = accept(f->listen_fd, NULL, NULL);
    if (fd < 0)
        return NULL;
    /* qmp-01: greeting, then qmp_capabilities */
    send_text(fd, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "
                  "\"package\": \"Debian 1:7.2+dfsg-7\"}, \"capabilities\": [\"oob\"]}}\r\n");
    g_autofree char *caps = read_line(fd);
    g_autofree char *caps_id = NULL;
    g_free(caps ? strip_id(caps, &caps_id) : NULL);   /* the command: qmp_capabilities */
    g_autofree char *caps_reply = g_strdup_printf("{\"return\": {}, \"id\": \"%s\"}\r\n",
                                                  caps_id ? caps_id : "");
    send_text(fd, caps_reply);
    for (size_t i = 0; i < f->n; i++) {
        g_autofree char *line = read_line(fd);
        if (!line)
            break;
        g_autofree char *id = NULL;
        g_autofree char *got = strip_id(line, &id);
        g_autofree char *want = canonical(f->script[i].expect);
        if (strcmp(got, want) != 0 && !f->mismatch)
            f->mismatch = g_strdup_printf("sent %s, expected %s", got, want);
        g_autofree char *quoted = g_strdup_printf("\"%s\"", id ? id : "");
        g_auto(GStrv) parts = g_strsplit(f->script[i].reply, "ID", -1);
        g_autofree char *reply = g_strjoinv(quoted, parts);
        send_text(fd, reply);
        send_text(fd, "\r\n");
    }
    char c;
    while (read(fd, &c, 1) == 1) /* until the client hangs up */
        ;
    close(fd);
    return NULL;
}

static int fake_counter;

static HvdMonitor *fake_start(Fake *f, const Exchange *script, size_t n)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->path, sizeof(f->path), "%s/w%d.qmp", tmpdir, ++fake_counter);
    f->script = script;
    f->n = n;
    f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    g_strlcpy(addr.sun_path, f->path, sizeof(addr.sun_path));
    if (bind(f->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(f->listen_fd, 1) < 0)
        perror("fake worker");
    pthread_create(&f->th, NULL, fake_thread, f);
    HvdMonitor *mon = hvd_monitor_new(f->path, "vm", NULL);
    hvd_monitor_connect(mon, 3000, NULL, NULL);
    return mon;
}

/* Every exchange happened as scripted. */
static void fake_finish(Fake *f, HvdMonitor *mon, const char *name)
{
    hvd_monitor_unref(mon);
    pthread_join(f->th, NULL);
    close(f->listen_fd);
    unlink(f->path);
    TAP_CHECK(!f->mismatch, "%s: commands as QEMU expects them%s%s", name,
              f->mismatch ? ": " : "", f->mismatch ? f->mismatch : "");
    g_free(f->mismatch);
}

/* ------------------------------------------------------------ replies */

typedef struct {
    bool done;
    char *error_class;
    GError *err;
    HvdQmpStatus status;
    HvdQmpCpu cpus[4];
    unsigned n;
    HvdBlockStats blk;
    int nstats;
    HvdMemoryStat mem[HVD_MEMORY_STAT_NR];
    char *text;
} Reply;

static void reply_clear(Reply *r)
{
    g_free(r->error_class);
    g_clear_error(&r->err);
    g_free(r->text);
    memset(r, 0, sizeof(*r));
}

static void wait_done(Reply *r)
{
    gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (!r->done && g_get_monotonic_time() < end)
        g_main_context_iteration(NULL, TRUE);
}

static void note(Reply *r, const char *error_class, const GError *err)
{
    r->done = true;
    r->error_class = g_strdup(error_class);
    r->err = err ? g_error_copy(err) : NULL;
}

static void on_done(HvdMonitor *mon, const char *error_class, const GError *err, gpointer data)
{
    (void)mon;
    note(data, error_class, err);
}

static void on_status(HvdMonitor *mon, const HvdQmpStatus *st, const char *error_class,
                      const GError *err, gpointer data)
{
    (void)mon;
    Reply *r = data;
    if (st)
        r->status = *st;
    note(r, error_class, err);
}

static void on_cpus(HvdMonitor *mon, const HvdQmpCpu *cpus, unsigned n, const char *error_class,
                    const GError *err, gpointer data)
{
    (void)mon;
    Reply *r = data;
    r->n = MIN(n, 4u);
    if (cpus)
        memcpy(r->cpus, cpus, r->n * sizeof(*cpus));
    note(r, error_class, err);
}

static void on_blk(HvdMonitor *mon, const HvdBlockStats *stats, int nstats,
                   const char *error_class, const GError *err, gpointer data)
{
    (void)mon;
    Reply *r = data;
    if (stats)
        r->blk = *stats;
    r->nstats = nstats;
    note(r, error_class, err);
}

static void on_mem(HvdMonitor *mon, const HvdMemoryStat *stats, unsigned n, const GError *err,
                   gpointer data)
{
    (void)mon;
    Reply *r = data;
    r->n = n;
    if (stats)
        memcpy(r->mem, stats, n * sizeof(*stats));
    note(r, NULL, err);
}

static void on_text(HvdMonitor *mon, const char *text, const char *error_class,
                    const GError *err, gpointer data)
{
    (void)mon;
    Reply *r = data;
    r->text = g_strdup(text);
    note(r, error_class, err);
}

static bool internal_error(const Reply *r, const char *needle)
{
    return r->err && !r->error_class && r->err->domain == HVD_VIR_ERROR &&
           hvd_vir_error_number(r->err) == VIR_ERR_INTERNAL_ERROR &&
           strstr(r->err->message, needle);
}

/* ------------------------------------------------------------ tests */

static void test_simple_commands(void)
{
    static const Exchange script[] = {
        { "{\"execute\": \"stop\"}", "{\"return\": {}, \"id\": ID}" },
        { "{\"execute\": \"cont\"}", "{\"return\": {}, \"id\": ID}" },
        { "{\"execute\": \"system_powerdown\"}", "{\"return\": {}, \"id\": ID}" },
        { "{\"execute\": \"system_reset\"}", "{\"return\": {}, \"id\": ID}" },
        /* qmp-04: balloon takes bytes */
        { "{\"execute\": \"balloon\", \"arguments\": {\"value\": 268435456}}",
          "{\"return\": {}, \"id\": ID}" },
        /* qmp-07: no balloon device */
        { "{\"execute\": \"balloon\", \"arguments\": {\"value\": 1048576}}",
          "{\"id\": ID, \"error\": {\"class\": \"DeviceNotActive\", \"desc\": \"No balloon "
          "device has been activated\"}}" },
        /* qmp-04: the stats polling interval */
        { "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", "
          "\"property\": \"guest-stats-polling-interval\", \"value\": 2}}",
          "{\"return\": {}, \"id\": ID}" },
    };
    Fake f;
    HvdMonitor *mon = fake_start(&f, script, G_N_ELEMENTS(script));
    Reply r = { 0 };
    void (*const plain[])(HvdMonitor *, HvdQmpDoneFunc, gpointer) = {
        hvd_qmp_stop, hvd_qmp_cont, hvd_qmp_system_powerdown, hvd_qmp_system_reset,
    };
    const char *names[] = { "stop", "cont", "system_powerdown", "system_reset" };
    for (size_t i = 0; i < G_N_ELEMENTS(plain); i++) {
        plain[i](mon, on_done, &r);
        wait_done(&r);
        TAP_CHECK(r.done && !r.err, "%s answered", names[i]);
        reply_clear(&r);
    }
    hvd_qmp_balloon(mon, 256u << 20, on_done, &r);
    wait_done(&r);
    TAP_CHECK(r.done && !r.err, "balloon 256 MiB answered");
    reply_clear(&r);
    hvd_qmp_balloon(mon, 1u << 20, on_done, &r);
    wait_done(&r);
    TAP_CHECK(r.err && g_strcmp0(r.error_class, "DeviceNotActive") == 0 &&
                  strstr(r.err->message, "unable to execute QEMU command 'balloon': No balloon"),
              "balloon without a balloon: class DeviceNotActive, libvirt's text (%s)",
              r.err ? r.err->message : "no error");
    reply_clear(&r);
    hvd_qmp_balloon_set_stats_period(mon, "/machine/peripheral/balloon0", 2, on_done, &r);
    wait_done(&r);
    TAP_CHECK(r.done && !r.err, "qom-set guest-stats-polling-interval answered");
    reply_clear(&r);
    fake_finish(&f, mon, "stop, cont, powerdown, reset, balloon, qom-set");
}

static void test_query_status(void)
{
    static const Exchange script[] = {
        { "{\"execute\": \"query-status\"}", /* qmp-02 */
          "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, "
          "\"id\": ID}" },
        { "{\"execute\": \"query-status\"}", /* qmp-09 */
          "{\"return\": {\"status\": \"shutdown\", \"singlestep\": false, \"running\": false}, "
          "\"id\": ID}" },
        { "{\"execute\": \"query-status\"}", "{\"return\": {\"status\": \"running\"}, \"id\": ID}" },
        { "{\"execute\": \"query-status\"}", "{\"return\": [true], \"id\": ID}" },
    };
    Fake f;
    HvdMonitor *mon = fake_start(&f, script, G_N_ELEMENTS(script));
    Reply r = { 0 };
    hvd_qmp_query_status(mon, on_status, &r);
    wait_done(&r);
    TAP_CHECK(!r.err && r.status.running && strcmp(r.status.status, "running") == 0,
              "query-status: running");
    reply_clear(&r);
    hvd_qmp_query_status(mon, on_status, &r);
    wait_done(&r);
    TAP_CHECK(!r.err && !r.status.running && strcmp(r.status.status, "shutdown") == 0,
              "query-status: shutdown, not running");
    reply_clear(&r);
    hvd_qmp_query_status(mon, on_status, &r);
    wait_done(&r);
    TAP_CHECK(internal_error(&r, "query-status reply was missing the running state"),
              "query-status without running: clean error (%s)", r.err ? r.err->message : "none");
    reply_clear(&r);
    hvd_qmp_query_status(mon, on_status, &r);
    wait_done(&r);
    TAP_CHECK(internal_error(&r, "missing the running state"), "query-status array: clean error");
    reply_clear(&r);
    TAP_CHECK(hvd_monitor_is_ready(mon), "malformed replies leave the monitor usable");
    fake_finish(&f, mon, "query-status");
}

static void test_query_cpus(void)
{
    static const Exchange script[] = {
        { "{\"execute\": \"query-cpus-fast\"}", /* qmp-02 */
          "{\"return\": [{\"thread-id\": 22839, \"props\": {\"core-id\": 0, \"thread-id\": 0, "
          "\"socket-id\": 0}, \"qom-path\": \"/machine/unattached/device[0]\", \"cpu-index\": 0, "
          "\"target\": \"x86_64\"}, {\"thread-id\": 22841, \"props\": {\"core-id\": 1, "
          "\"thread-id\": 0, \"socket-id\": 0}, \"qom-path\": \"/machine/unattached/device[2]\", "
          "\"cpu-index\": 1, \"target\": \"x86_64\"}], \"id\": ID}" },
        { "{\"execute\": \"query-cpus-fast\"}",
          "{\"return\": [{\"thread-id\": \"x\", \"cpu-index\": 0}, 7, {\"cpu-index\": 1, "
          "\"thread-id\": 99}], \"id\": ID}" },
        { "{\"execute\": \"query-cpus-fast\"}", "{\"return\": {}, \"id\": ID}" },
    };
    Fake f;
    HvdMonitor *mon = fake_start(&f, script, G_N_ELEMENTS(script));
    Reply r = { 0 };
    hvd_qmp_query_cpus_fast(mon, on_cpus, &r);
    wait_done(&r);
    TAP_CHECK(!r.err && r.n == 2 && r.cpus[0].cpu_index == 0 && r.cpus[0].thread_id == 22839 &&
                  r.cpus[1].cpu_index == 1 && r.cpus[1].thread_id == 22841,
              "query-cpus-fast: two vCPUs with their threads");
    reply_clear(&r);
    hvd_qmp_query_cpus_fast(mon, on_cpus, &r);
    wait_done(&r);
    TAP_CHECK(!r.err && r.n == 1 && r.cpus[0].cpu_index == 1 && r.cpus[0].thread_id == 99,
              "query-cpus-fast: unusable entries left out");
    reply_clear(&r);
    hvd_qmp_query_cpus_fast(mon, on_cpus, &r);
    wait_done(&r);
    TAP_CHECK(internal_error(&r, "query-cpus-fast reply was missing return data"),
              "query-cpus-fast object: clean error");
    reply_clear(&r);
    fake_finish(&f, mon, "query-cpus-fast");
}

static void test_query_blockstats(void)
{
    static const Exchange script[] = {
        { "{\"execute\": \"query-blockstats\"}", /* qmp-02, the entry of one virtio-blk disk */
          "{\"return\": [{\"device\": \"drive0\", \"stats\": {\"unmap_operations\": 0, "
          "\"flush_total_time_ns\": 0, \"wr_highest_offset\": 0, \"wr_total_time_ns\": 0, "
          "\"wr_bytes\": 0, \"timed_stats\": [], \"account_invalid\": true, "
          "\"rd_total_time_ns\": 246166, \"flush_operations\": 0, \"wr_operations\": 0, "
          "\"rd_bytes\": 4608, \"idle_time_ns\": 2976499343, \"rd_operations\": 2}, "
          "\"node-name\": \"#block160\", \"qdev\": \"/machine/peripheral/blk0/virtio-backend\"}], "
          "\"id\": ID}" },
        { "{\"execute\": \"query-blockstats\"}",
          "{\"return\": [{\"device\": \"drive0\", \"stats\": {\"rd_bytes\": 1, \"wr_bytes\": 2, "
          "\"rd_operations\": 3}}], \"id\": ID}" },
        { "{\"execute\": \"query-blockstats\"}", "{\"return\": {\"device\": 1}, \"id\": ID}" },
    };
    Fake f;
    HvdMonitor *mon = fake_start(&f, script, G_N_ELEMENTS(script));
    Reply r = { 0 };
    const char *qdev[] = { "/machine/peripheral/blk0/virtio-backend" };
    hvd_qmp_query_blockstats(mon, qdev, 1, on_blk, &r);
    wait_done(&r);
    TAP_CHECK(!r.err && r.nstats == 8 && r.blk.rd_bytes == 4608 && r.blk.rd_req == 2 &&
                  r.blk.rd_total_times == 246166 && r.blk.wr_bytes == 0,
              "query-blockstats: the disk's counters by qdev, 8 statistics");
    reply_clear(&r);
    const char *dev[] = { "drive0" };
    hvd_qmp_query_blockstats(mon, dev, 1, on_blk, &r);
    wait_done(&r);
    TAP_CHECK(internal_error(&r, "cannot read wr_operations statistic") && r.nstats == -1,
              "query-blockstats without a mandatory counter: libvirt's error");
    reply_clear(&r);
    hvd_qmp_query_blockstats(mon, dev, 1, on_blk, &r);
    wait_done(&r);
    TAP_CHECK(internal_error(&r, "blockstats reply was missing device list"),
              "query-blockstats object: clean error");
    reply_clear(&r);
    fake_finish(&f, mon, "query-blockstats");
}

static void test_memory_stats(void)
{
    static const Exchange script[] = {
        /* qmp-04 */
        { "{\"execute\": \"query-balloon\"}", "{\"return\": {\"actual\": 536870912}, \"id\": ID}" },
        { "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", "
          "\"property\": \"guest-stats\"}}",
          "{\"return\": {\"stats\": {\"stat-htlb-pgalloc\": 0, \"stat-swap-out\": 0, "
          "\"stat-available-memory\": 463527936, \"stat-htlb-pgfail\": 0, \"stat-free-memory\": "
          "463749120, \"stat-minor-faults\": 999, \"stat-major-faults\": 0, "
          "\"stat-total-memory\": 492584960, \"stat-swap-in\": 0, \"stat-disk-caches\": 2715648}, "
          "\"last-update\": 1795305980}, \"id\": ID}" },
        /* qmp-07: no balloon: both fail as QMP errors */
        { "{\"execute\": \"query-balloon\"}",
          "{\"id\": ID, \"error\": {\"class\": \"DeviceNotActive\", \"desc\": \"No balloon "
          "device has been activated\"}}" },
        { "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", "
          "\"property\": \"guest-stats\"}}",
          "{\"id\": ID, \"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device "
          "'/machine/peripheral/balloon0' not found\"}}" },
        /* any other failure of query-balloon fails the call */
        { "{\"execute\": \"query-balloon\"}",
          "{\"id\": ID, \"error\": {\"class\": \"GenericError\", \"desc\": \"boom\"}}" },
        /* malformed: actual of the wrong type, stats not an object */
        { "{\"execute\": \"query-balloon\"}", "{\"return\": {\"actual\": \"big\"}, \"id\": ID}" },
        { "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", "
          "\"property\": \"guest-stats\"}}",
          "{\"return\": {\"stats\": 5, \"last-update\": 1}, \"id\": ID}" },
    };
    Fake f;
    HvdMonitor *mon = fake_start(&f, script, G_N_ELEMENTS(script));
    Reply r = { 0 };
    hvd_qmp_memory_stats(mon, "/machine/peripheral/balloon0", HVD_MEMORY_STAT_NR, on_mem, &r);
    wait_done(&r);
    TAP_CHECK(!r.err && r.n == 12 && r.mem[0].tag == 6 && r.mem[0].val == 524288 &&
                  r.mem[5].tag == 4 && r.mem[5].val == 463749120 / 1024 && r.mem[4].tag == 3 &&
                  r.mem[4].val == 999 && r.mem[8].tag == 9 && r.mem[8].val == 1795305980,
              "memory stats: actual 524288 KiB, then the guest's stats in libvirt's order (%u)",
              r.n);
    reply_clear(&r);
    hvd_qmp_memory_stats(mon, "/machine/peripheral/balloon0", HVD_MEMORY_STAT_NR, on_mem, &r);
    wait_done(&r);
    TAP_CHECK(r.done && !r.err && r.n == 0, "memory stats without a balloon: none, no error");
    reply_clear(&r);
    hvd_qmp_memory_stats(mon, "/machine/peripheral/balloon0", HVD_MEMORY_STAT_NR, on_mem, &r);
    wait_done(&r);
    TAP_CHECK(r.err && strstr(r.err->message, "'query-balloon': boom"),
              "memory stats: other query-balloon errors fail the call");
    reply_clear(&r);
    hvd_qmp_memory_stats(mon, "/machine/peripheral/balloon0", HVD_MEMORY_STAT_NR, on_mem, &r);
    wait_done(&r);
    TAP_CHECK(r.done && !r.err && r.n == 1 && r.mem[0].tag == 9 && r.mem[0].val == 1,
              "memory stats of the wrong types are left out (last-update stays)");
    reply_clear(&r);
    fake_finish(&f, mon, "query-balloon, qom-get guest-stats");
}

static void test_hmp(void)
{
    static const Exchange script[] = {
        { "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": "
          "\"info status\"}}",
          "{\"return\": \"VM status: running\\r\\n\", \"id\": ID}" }, /* qmp-02 */
        { "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"x\"}}",
          "{\"return\": 3, \"id\": ID}" },
    };
    Fake f;
    HvdMonitor *mon = fake_start(&f, script, G_N_ELEMENTS(script));
    Reply r = { 0 };
    hvd_qmp_human_monitor_command(mon, "info status", on_text, &r);
    wait_done(&r);
    TAP_EQ_STR(r.text, "VM status: running\r\n", "human-monitor-command: the output text");
    reply_clear(&r);
    hvd_qmp_human_monitor_command(mon, "x", on_text, &r);
    wait_done(&r);
    TAP_EQ_STR(r.text, "", "human-monitor-command: a return that is not text gives \"\"");
    reply_clear(&r);
    fake_finish(&f, mon, "human-monitor-command");
}

static void test_events(void)
{
    HvdQmpEvent ev;
    struct json_object *d = json_tokener_parse("{\"guest\": true, \"reason\": \"guest-shutdown\"}");
    hvd_qmp_event_parse("SHUTDOWN", d, &ev); /* qmp-09 */
    TAP_CHECK(ev.kind == HVD_QMP_EVENT_SHUTDOWN && ev.guest && ev.guest_poweroff,
              "SHUTDOWN guest-shutdown: by the guest, powered off");
    json_object_put(d);
    d = json_tokener_parse("{\"guest\": true, \"reason\": \"guest-reset\"}");
    hvd_qmp_event_parse("SHUTDOWN", d, &ev); /* qmp-08 */
    TAP_CHECK(ev.kind == HVD_QMP_EVENT_SHUTDOWN && ev.guest && !ev.guest_poweroff,
              "SHUTDOWN guest-reset: not a poweroff");
    json_object_put(d);
    hvd_qmp_event_parse("SHUTDOWN", NULL, &ev);
    TAP_CHECK(ev.kind == HVD_QMP_EVENT_SHUTDOWN && !ev.guest && !ev.guest_poweroff,
              "SHUTDOWN without data: host side");
    d = json_tokener_parse("{\"actual\": 268435456}");
    hvd_qmp_event_parse("BALLOON_CHANGE", d, &ev); /* qmp-04 */
    TAP_CHECK(ev.kind == HVD_QMP_EVENT_BALLOON_CHANGE && ev.balloon_actual == 268435456,
              "BALLOON_CHANGE: actual in bytes");
    json_object_put(d);
    d = json_tokener_parse("{\"actual\": \"lots\"}");
    hvd_qmp_event_parse("BALLOON_CHANGE", d, &ev);
    TAP_CHECK(ev.kind == HVD_QMP_EVENT_BALLOON_CHANGE && ev.balloon_actual == 0,
              "BALLOON_CHANGE with a bad actual: 0");
    json_object_put(d);
    hvd_qmp_event_parse("STOP", NULL, &ev);
    TAP_CHECK(ev.kind == HVD_QMP_EVENT_STOP, "STOP");
    hvd_qmp_event_parse("RESUME", NULL, &ev);
    TAP_CHECK(ev.kind == HVD_QMP_EVENT_RESUME, "RESUME");
    hvd_qmp_event_parse("RESET", NULL, &ev);
    TAP_CHECK(ev.kind == HVD_QMP_EVENT_RESET, "RESET");
    hvd_qmp_event_parse("POWERDOWN", NULL, &ev);
    TAP_CHECK(ev.kind == HVD_QMP_EVENT_OTHER, "POWERDOWN: not acted on");
}

int main(void)
{
    g_strlcpy(tmpdir, "/tmp/hvd-qmpt-XXXXXX", sizeof(tmpdir));
    if (!g_mkdtemp(tmpdir))
        return 1;
    test_simple_commands();
    test_query_status();
    test_query_cpus();
    test_query_blockstats();
    test_memory_stats();
    test_hmp();
    test_events();
    rmdir(tmpdir);
    return tap_done();
}
