/* Typed QMP commands and replies (drivers/domain/qmp.h). Argument and
 * reply shapes: QEMU 7.2's QAPI schema (the qapi/ schema files; the QMP reference
 * manual) and its replies as captured in tests/unit/test-qmp-commands.c. */
#include "drivers/domain/qmp.h"

#include <json-c/json.h>
#include <string.h>

#include "common/log.h"
#include "drivers/virerror.h"

/* Any typed callback, stored until its reply (void (*)(void) converts to
 * and from every function pointer type). */
typedef void (*AnyFunc)(void);
#define ANY_FUNC(f) ((AnyFunc)(f))

/* One command in flight: the typed callback and what its parser needs. */
typedef struct {
    AnyFunc fn;
    gpointer data;
    char *qom_path;               /* memory stats: the balloon's path */
    unsigned max;                 /* memory stats: room in the result */
    struct json_object *balloon;  /* memory stats: query-balloon's return */
    GPtrArray *names;             /* blockstats: the entries asked for */
} Call;

static Call *call_new(AnyFunc fn, gpointer data)
{
    Call *c = g_new0(Call, 1);
    c->fn = fn;
    c->data = data;
    return c;
}

static void call_free(Call *c)
{
    g_free(c->qom_path);
    if (c->balloon)
        json_object_put(c->balloon);
    if (c->names)
        g_ptr_array_unref(c->names);
    g_free(c);
}

static GError *shape_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static GError *shape_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    GError *err = NULL;
    hvd_vir_error_set(&err, VIR_FROM_QEMU, VIR_ERR_INTERNAL_ERROR, "%s", msg);
    return err;
}

/* ------------------------------------------------------------ no reply value */

static void on_done(HvdMonitor *mon, struct json_object *ret, const char *error_class,
                    const GError *err, gpointer user_data)
{
    (void)ret;
    Call *c = user_data;
    ((HvdQmpDoneFunc)c->fn)(mon, error_class, err, c->data);
    call_free(c);
}

static void send_done(HvdMonitor *mon, const char *cmd, struct json_object *args, HvdQmpDoneFunc fn,
                      gpointer data)
{
    hvd_monitor_command(mon, cmd, args, on_done, call_new(ANY_FUNC(fn), data));
    if (args)
        json_object_put(args);
}

void hvd_qmp_stop(HvdMonitor *mon, HvdQmpDoneFunc fn, gpointer data)
{
    send_done(mon, "stop", NULL, fn, data);
}

void hvd_qmp_cont(HvdMonitor *mon, HvdQmpDoneFunc fn, gpointer data)
{
    send_done(mon, "cont", NULL, fn, data);
}

void hvd_qmp_system_powerdown(HvdMonitor *mon, HvdQmpDoneFunc fn, gpointer data)
{
    send_done(mon, "system_powerdown", NULL, fn, data);
}

void hvd_qmp_system_reset(HvdMonitor *mon, HvdQmpDoneFunc fn, gpointer data)
{
    send_done(mon, "system_reset", NULL, fn, data);
}

void hvd_qmp_balloon(HvdMonitor *mon, uint64_t bytes, HvdQmpDoneFunc fn, gpointer data)
{
    /* qmp.md: balloon's "value" is the target size in bytes. */
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "value", json_object_new_int64((int64_t)bytes));
    send_done(mon, "balloon", args, fn, data);
}

static struct json_object *qom_args(const char *path, const char *property)
{
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "path", json_object_new_string(path));
    json_object_object_add(args, "property", json_object_new_string(property));
    return args;
}

void hvd_qmp_balloon_set_stats_period(HvdMonitor *mon, const char *qom_path, int64_t seconds,
                                      HvdQmpDoneFunc fn, gpointer data)
{
    struct json_object *args = qom_args(qom_path, "guest-stats-polling-interval");
    json_object_object_add(args, "value", json_object_new_int64(seconds));
    send_done(mon, "qom-set", args, fn, data);
}

/* ------------------------------------------------------------ removable media */

void hvd_qmp_eject(HvdMonitor *mon, const char *id, bool force, HvdQmpDoneFunc fn, gpointer data)
{
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "id", json_object_new_string(id));
    json_object_object_add(args, "force", json_object_new_boolean(force));
    send_done(mon, "eject", args, fn, data);
}

void hvd_qmp_blockdev_change_medium(HvdMonitor *mon, const char *id, const char *filename,
                                    const char *format, bool force, HvdQmpDoneFunc fn,
                                    gpointer data)
{
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "id", json_object_new_string(id));
    json_object_object_add(args, "filename", json_object_new_string(filename));
    json_object_object_add(args, "format", json_object_new_string(format));
    if (force)
        json_object_object_add(args, "force", json_object_new_boolean(true));
    send_done(mon, "blockdev-change-medium", args, fn, data);
}

/* ------------------------------------------------------------ query-status */

static bool parse_status(struct json_object *ret, HvdQmpStatus *out, GError **err)
{
    struct json_object *running = NULL, *status = NULL;
    memset(out, 0, sizeof(*out));
    if (!json_object_is_type(ret, json_type_object) ||
        !json_object_object_get_ex(ret, "running", &running) ||
        !json_object_is_type(running, json_type_boolean)) {
        *err = shape_error("query-status reply was missing the running state");
        return false;
    }
    out->running = json_object_get_boolean(running);
    if (json_object_object_get_ex(ret, "status", &status) &&
        json_object_is_type(status, json_type_string))
        g_strlcpy(out->status, json_object_get_string(status), sizeof(out->status));
    return true;
}

static void on_status(HvdMonitor *mon, struct json_object *ret, const char *error_class,
                      const GError *err, gpointer user_data)
{
    Call *c = user_data;
    HvdQmpStatus st;
    g_autoptr(GError) own = NULL;
    if (!err && !parse_status(ret, &st, &own))
        err = own;
    ((HvdQmpStatusFunc)c->fn)(mon, err ? NULL : &st, error_class, err, c->data);
    call_free(c);
}

void hvd_qmp_query_status(HvdMonitor *mon, HvdQmpStatusFunc fn, gpointer data)
{
    hvd_monitor_command(mon, "query-status", NULL, on_status, call_new(ANY_FUNC(fn), data));
}

/* ------------------------------------------------------------ query-cpus-fast */

static void on_cpus(HvdMonitor *mon, struct json_object *ret, const char *error_class,
                    const GError *err, gpointer user_data)
{
    Call *c = user_data;
    g_autoptr(GError) own = NULL;
    g_autofree HvdQmpCpu *cpus = NULL;
    unsigned n = 0;
    if (!err && !json_object_is_type(ret, json_type_array))
        err = own = shape_error("query-cpus-fast reply was missing return data");
    if (!err) {
        size_t len = json_object_array_length(ret);
        cpus = g_new0(HvdQmpCpu, MAX(len, (size_t)1));
        for (size_t k = 0; k < len; k++) {
            struct json_object *cpu = json_object_array_get_idx(ret, k), *idx = NULL, *tid = NULL;
            if (!json_object_is_type(cpu, json_type_object) ||
                !json_object_object_get_ex(cpu, "cpu-index", &idx) ||
                !json_object_object_get_ex(cpu, "thread-id", &tid) ||
                !json_object_is_type(idx, json_type_int) || !json_object_is_type(tid, json_type_int))
                continue;
            cpus[n++] = (HvdQmpCpu){ json_object_get_int64(idx), json_object_get_int64(tid) };
        }
    }
    ((HvdQmpCpusFunc)c->fn)(mon, err ? NULL : cpus, n, error_class, err, c->data);
    call_free(c);
}

void hvd_qmp_query_cpus_fast(HvdMonitor *mon, HvdQmpCpusFunc fn, gpointer data)
{
    hvd_monitor_command(mon, "query-cpus-fast", NULL, on_cpus, call_new(ANY_FUNC(fn), data));
}

/* ------------------------------------------------------------ query-blockstats */

/* One query-blockstats entry's BlockDeviceStats (qmp.md §5). The first four
 * are mandatory for libvirt (qemuMonitorJSONGetOneBlockStatsInfo); returns
 * how many counters were present, -1 when a mandatory one is missing. */
static int block_stats_entry(struct json_object *stats, HvdBlockStats *sum, GError **err)
{
    static const struct {
        const char *key;
        size_t offset;
        bool mandatory;
    } fields[] = {
        { "rd_bytes", G_STRUCT_OFFSET(HvdBlockStats, rd_bytes), true },
        { "wr_bytes", G_STRUCT_OFFSET(HvdBlockStats, wr_bytes), true },
        { "rd_operations", G_STRUCT_OFFSET(HvdBlockStats, rd_req), true },
        { "wr_operations", G_STRUCT_OFFSET(HvdBlockStats, wr_req), true },
        { "rd_total_time_ns", G_STRUCT_OFFSET(HvdBlockStats, rd_total_times), false },
        { "wr_total_time_ns", G_STRUCT_OFFSET(HvdBlockStats, wr_total_times), false },
        { "flush_operations", G_STRUCT_OFFSET(HvdBlockStats, flush_req), false },
        { "flush_total_time_ns", G_STRUCT_OFFSET(HvdBlockStats, flush_total_times), false },
    };
    int found = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(fields); i++) {
        struct json_object *v = NULL;
        if (!json_object_object_get_ex(stats, fields[i].key, &v) ||
            !json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) {
            if (fields[i].mandatory) {
                hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_INTERNAL_ERROR,
                                  "cannot read %s statistic", fields[i].key);
                return -1;
            }
            continue;
        }
        if (sum) {
            int64_t *slot = G_STRUCT_MEMBER_P(sum, fields[i].offset);
            *slot += json_object_get_int64(v);
        }
        found++;
    }
    return found;
}

static bool entry_named(struct json_object *entry, const char *name)
{
    static const char *const keys[] = { "device", "qdev" };
    for (size_t k = 0; k < G_N_ELEMENTS(keys); k++) {
        struct json_object *v = NULL;
        if (json_object_object_get_ex(entry, keys[k], &v) &&
            json_object_is_type(v, json_type_string) && strcmp(json_object_get_string(v), name) == 0)
            return true;
    }
    return false;
}

int hvd_block_stats_from_reply(struct json_object *ret, const char *const *names, unsigned n_names,
                               HvdBlockStats *out, GError **err)
{
    memset(out, 0, sizeof(*out));
    if (!ret || !json_object_is_type(ret, json_type_array)) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_INTERNAL_ERROR, "%s",
                          "blockstats reply was missing device list");
        return -1;
    }
    /* libvirt's count: the most counters any entry reports. */
    int nstats = 0;
    size_t n = json_object_array_length(ret);
    for (size_t i = 0; i < n; i++) {
        struct json_object *entry = json_object_array_get_idx(ret, i);
        struct json_object *stats = NULL;
        if (!json_object_is_type(entry, json_type_object) ||
            !json_object_object_get_ex(entry, "stats", &stats) ||
            !json_object_is_type(stats, json_type_object)) {
            hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_INTERNAL_ERROR, "%s",
                              "blockstats stats entry was not in expected format");
            return -1;
        }
        int found = block_stats_entry(stats, NULL, err);
        if (found < 0)
            return -1;
        nstats = MAX(nstats, found);
    }
    for (unsigned k = 0; k < n_names; k++) {
        struct json_object *stats = NULL;
        for (size_t i = 0; i < n && !stats; i++) {
            struct json_object *entry = json_object_array_get_idx(ret, i);
            if (entry_named(entry, names[k]))
                json_object_object_get_ex(entry, "stats", &stats);
        }
        if (!stats) {
            hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_INTERNAL_ERROR,
                              "cannot find statistics for device '%s'", names[k]);
            return -1;
        }
        block_stats_entry(stats, out, NULL);
    }
    return nstats;
}

static void on_blockstats(HvdMonitor *mon, struct json_object *ret, const char *error_class,
                          const GError *err, gpointer user_data)
{
    Call *c = user_data;
    HvdBlockStats stats = { 0 };
    g_autoptr(GError) own = NULL;
    int nstats = -1;
    if (!err) {
        nstats = hvd_block_stats_from_reply(ret, (const char *const *)c->names->pdata,
                                            c->names->len, &stats, &own);
        err = own;
    }
    ((HvdQmpBlockStatsFunc)c->fn)(mon, err ? NULL : &stats, err ? -1 : nstats, error_class, err,
                                  c->data);
    call_free(c);
}

void hvd_qmp_query_blockstats(HvdMonitor *mon, const char *const *names, unsigned n_names,
                              HvdQmpBlockStatsFunc fn, gpointer data)
{
    Call *c = call_new(ANY_FUNC(fn), data);
    c->names = g_ptr_array_new_with_free_func(g_free);
    for (unsigned i = 0; i < n_names; i++)
        g_ptr_array_add(c->names, g_strdup(names[i]));
    hvd_monitor_command(mon, "query-blockstats", NULL, on_blockstats, c);
}

/* ------------------------------------------------------------ memory stats */

enum {
    MEMSTAT_ACTUAL = 6, /* virDomainMemoryStatTags (libvirt-rpc.md §13) */
    MEMSTAT_RSS = 7,
    MEMSTAT_LAST_UPDATE = 9,
};

static bool json_u64(struct json_object *obj, const char *key, uint64_t *out)
{
    struct json_object *v;
    if (!obj || !json_object_is_type(obj, json_type_object) ||
        !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_int))
        return false;
    /* json-c keeps 2^64-1 as an unsigned value; negative numbers are junk */
    if (json_object_get_int64(v) < 0 && json_object_get_uint64(v) <= INT64_MAX)
        return false;
    *out = json_object_get_uint64(v);
    return true;
}

/* actual and the guest's stats: what the two replies say, at most max. */
static unsigned memory_stats_parse(struct json_object *balloon_ret,
                                   struct json_object *guest_stats_ret, HvdMemoryStat *out,
                                   unsigned max)
{
    /* QEMU's guest-stats member → libvirt tag; sizes arrive in bytes. The
     * order is qemuMonitorJSONGetMemoryStats's. */
    static const struct {
        const char *member;
        int tag;
        bool bytes;
        bool top_level; /* "last-update" sits beside "stats" */
    } map[] = {
        { "stat-swap-in", 0, true, false },
        { "stat-swap-out", 1, true, false },
        { "stat-major-faults", 2, false, false },
        { "stat-minor-faults", 3, false, false },
        { "stat-free-memory", 4, true, false },
        { "stat-total-memory", 5, true, false },
        { "stat-available-memory", 8, true, false },
        { "last-update", MEMSTAT_LAST_UPDATE, false, true },
        { "stat-disk-caches", 10, true, false },
        { "stat-htlb-pgalloc", 11, false, false },
        { "stat-htlb-pgfail", 12, false, false },
    };
    unsigned n = 0;
    uint64_t v;
    if (n < max && json_u64(balloon_ret, "actual", &v))
        out[n++] = (HvdMemoryStat){ MEMSTAT_ACTUAL, v / 1024 };
    struct json_object *stats = NULL;
    if (guest_stats_ret && json_object_is_type(guest_stats_ret, json_type_object))
        json_object_object_get_ex(guest_stats_ret, "stats", &stats);
    if (stats) {
        for (size_t i = 0; i < G_N_ELEMENTS(map) && n < max; i++) {
            if (!json_u64(map[i].top_level ? guest_stats_ret : stats, map[i].member, &v))
                continue;
            if (v == UINT64_MAX) /* the guest never sent this one */
                continue;
            out[n++] = (HvdMemoryStat){ map[i].tag, map[i].bytes ? v / 1024 : v };
        }
    }
    return n;
}

unsigned hvd_memory_stats_from_replies(struct json_object *balloon_ret,
                                       struct json_object *guest_stats_ret, uint64_t rss_kib,
                                       HvdMemoryStat *out, unsigned max)
{
    unsigned n = memory_stats_parse(balloon_ret, guest_stats_ret, out, max);
    if (rss_kib && n < max)
        out[n++] = (HvdMemoryStat){ MEMSTAT_RSS, rss_kib };
    return n;
}

static void memory_stats_finish(HvdMonitor *mon, Call *c, struct json_object *guest_stats_ret,
                                const GError *err)
{
    HvdMemoryStat stats[HVD_MEMORY_STAT_NR];
    unsigned n = err ? 0 : memory_stats_parse(c->balloon, guest_stats_ret, stats,
                                               MIN(c->max, (unsigned)HVD_MEMORY_STAT_NR));
    ((HvdQmpMemoryStatsFunc)c->fn)(mon, err ? NULL : stats, n, err, c->data);
    call_free(c);
}

static void on_guest_stats(HvdMonitor *mon, struct json_object *ret, const char *error_class,
                           const GError *err, gpointer user_data)
{
    Call *c = user_data;
    if (err && error_class) {
        /* The worker answered but has no guest stats to give: report what
         * there is (actual) rather than fail the whole call. */
        log_debug("qom-get guest-stats: %s", err->message);
        return memory_stats_finish(mon, c, NULL, NULL);
    }
    memory_stats_finish(mon, c, ret, err);
}

static void on_query_balloon(HvdMonitor *mon, struct json_object *ret, const char *error_class,
                             const GError *err, gpointer user_data)
{
    Call *c = user_data;
    /* DeviceNotActive: no balloon in the worker (libvirt then leaves actual out). */
    if (err && !(error_class && strcmp(error_class, "DeviceNotActive") == 0))
        return memory_stats_finish(mon, c, NULL, err);
    if (!err)
        c->balloon = json_object_get(ret);
    struct json_object *args = qom_args(c->qom_path, "guest-stats");
    hvd_monitor_command(mon, "qom-get", args, on_guest_stats, c);
    json_object_put(args);
}

void hvd_qmp_memory_stats(HvdMonitor *mon, const char *qom_path, unsigned max,
                          HvdQmpMemoryStatsFunc fn, gpointer data)
{
    Call *c = call_new(ANY_FUNC(fn), data);
    c->qom_path = g_strdup(qom_path);
    c->max = max;
    hvd_monitor_command(mon, "query-balloon", NULL, on_query_balloon, c);
}

/* ------------------------------------------------------------ human-monitor-command */

static void on_text(HvdMonitor *mon, struct json_object *ret, const char *error_class,
                    const GError *err, gpointer user_data)
{
    Call *c = user_data;
    /* qmp.md §5: the output is the "return" string. */
    const char *text = NULL;
    if (!err)
        text = json_object_is_type(ret, json_type_string) ? json_object_get_string(ret) : "";
    ((HvdQmpTextFunc)c->fn)(mon, text, error_class, err, c->data);
    call_free(c);
}

void hvd_qmp_human_monitor_command(HvdMonitor *mon, const char *command_line, HvdQmpTextFunc fn,
                                   gpointer data)
{
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "command-line", json_object_new_string(command_line));
    hvd_monitor_command(mon, "human-monitor-command", args, on_text,
                        call_new(ANY_FUNC(fn), data));
    json_object_put(args);
}

/* ------------------------------------------------------------ events */

void hvd_qmp_event_parse(const char *name, struct json_object *data, HvdQmpEvent *out)
{
    static const struct {
        const char *name;
        HvdQmpEventKind kind;
    } kinds[] = {
        { "STOP", HVD_QMP_EVENT_STOP },
        { "RESUME", HVD_QMP_EVENT_RESUME },
        { "SHUTDOWN", HVD_QMP_EVENT_SHUTDOWN },
        { "RESET", HVD_QMP_EVENT_RESET },
        { "BALLOON_CHANGE", HVD_QMP_EVENT_BALLOON_CHANGE },
    };
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < G_N_ELEMENTS(kinds); i++)
        if (strcmp(name, kinds[i].name) == 0)
            out->kind = kinds[i].kind;
    struct json_object *v = NULL;
    switch (out->kind) {
    case HVD_QMP_EVENT_SHUTDOWN:
        /* {"guest": bool, "reason": ShutdownCause} */
        out->guest = data && json_object_object_get_ex(data, "guest", &v) &&
                     json_object_get_boolean(v);
        out->guest_poweroff = data && json_object_object_get_ex(data, "reason", &v) &&
                              g_strcmp0(json_object_get_string(v), "guest-shutdown") == 0;
        break;
    case HVD_QMP_EVENT_BALLOON_CHANGE:
        /* {"actual": bytes} */
        if (data && json_object_object_get_ex(data, "actual", &v) &&
            json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0)
            out->balloon_actual = (uint64_t)json_object_get_int64(v);
        break;
    default:
        break;
    }
}
