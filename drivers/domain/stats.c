/* Statistics of a running domain: memory (virDomainMemoryStats), block
 * devices (virDomainBlockStats), interfaces (virDomainInterfaceStats) and
 * vCPUs (virDomainGetVcpus), from the worker's monitor and /proc. */
#include "drivers/domain/domain.h"

#include <json-c/json.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "drivers/domain/interfaces.h"

bool hvd_domain_interface_stats(HvdDomain *dom, const char *device, int64_t stats[8],
                                GError **err)
{
    if (!hvd_domain_is_active(dom)) {
        domain_not_running_error(err);
        return false;
    }
    int index = hvd_interfaces_find(dom->def, dom->net_ifnames, device, err);
    if (index < 0)
        return false;
    const char *ifname = dom->net_ifnames ? dom->net_ifnames[index] : NULL;
    if (!ifname || !*ifname) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_OPERATION_UNSUPPORTED,
                          "interface '%s' has no host tap to read counters from", device);
        return false;
    }
    HvdInterfaceStats st;
    if (!hvd_interface_stats_read(ifname, NULL, &st, err))
        return false;
    const int64_t ordered[8] = { st.rx_bytes, st.rx_packets, st.rx_errs, st.rx_drop,
                                 st.tx_bytes, st.tx_packets, st.tx_errs, st.tx_drop };
    memcpy(stats, ordered, sizeof(ordered));
    return true;
}

/* ------------------------------------------------------------ memory stats */

enum {
    MEMSTAT_ACTUAL = 6, /* virDomainMemoryStatTags (libvirt-rpc.md §13) */
    MEMSTAT_RSS = 7,
    MEMSTAT_LAST_UPDATE = 9,
};

static bool json_u64(json_object *obj, const char *key, uint64_t *out)
{
    json_object *v;
    if (!obj || !json_object_is_type(obj, json_type_object) ||
        !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_int))
        return false;
    /* json-c keeps 2^64-1 as an unsigned value; negative numbers are junk */
    if (json_object_get_int64(v) < 0 && json_object_get_uint64(v) <= INT64_MAX)
        return false;
    *out = json_object_get_uint64(v);
    return true;
}

unsigned hvd_memory_stats_from_replies(json_object *balloon_ret, json_object *guest_stats_ret,
                                       uint64_t rss_kib, HvdMemoryStat *out, unsigned max)
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
    json_object *stats = NULL;
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
    if (rss_kib && n < max)
        out[n++] = (HvdMemoryStat){ MEMSTAT_RSS, rss_kib };
    return n;
}

/* Resident set of the worker in KiB (field 24 of /proc/PID/stat, in
 * pages; proc(5)), 0 when it cannot be read. */
static uint64_t worker_rss_kib(GPid pid)
{
    if (pid <= 0)
        return 0;
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return 0;
    /* the command name may hold spaces and parentheses: skip past the last ')' */
    const char *p = strrchr(text, ')');
    if (!p)
        return 0;
    p++;
    /* fields 3 (state) .. 23 are 21 tokens; the next one is rss */
    for (int field = 3; field <= 24; field++) {
        while (*p == ' ')
            p++;
        if (field == 24) {
            long long pages = g_ascii_strtoll(p, NULL, 10);
            long page = sysconf(_SC_PAGESIZE);
            return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page / 1024 : 0;
        }
        p = strchr(p, ' ');
        if (!p)
            return 0;
    }
    return 0;
}

typedef struct {
    HvdDomain *dom;
    unsigned max;
    HvdDomainMemoryStatsFunc fn;
    gpointer data;
    json_object *balloon_ret; /* query-balloon's return, or NULL */
} MemStatsOp;

static void memstats_finish(MemStatsOp *op, json_object *guest_stats_ret, const GError *err)
{
    HvdMemoryStat stats[HVD_MEMORY_STAT_NR];
    unsigned n = 0;
    if (!err)
        n = hvd_memory_stats_from_replies(op->balloon_ret, guest_stats_ret,
                                          worker_rss_kib(op->dom->pid), stats,
                                          MIN(op->max, (unsigned)HVD_MEMORY_STAT_NR));
    op->fn(op->dom, err ? NULL : stats, n, err, op->data);
    json_object_put(op->balloon_ret);
    hvd_domain_unref(op->dom);
    g_free(op);
}

static void on_guest_stats_reply(HvdMonitor *mon, json_object *ret, const char *error_class,
                                 const GError *err, gpointer user_data)
{
    (void)mon;
    MemStatsOp *op = user_data;
    if (err && error_class) {
        /* The worker answered but has no guest stats to give: report what
         * there is (actual, rss) rather than fail the whole call. */
        log_debug("%s: qom-get guest-stats: %s", hvd_domain_name(op->dom), err->message);
        return memstats_finish(op, NULL, NULL);
    }
    memstats_finish(op, ret, err);
}

static void on_query_balloon_reply(HvdMonitor *mon, json_object *ret, const char *error_class,
                                   const GError *err, gpointer user_data)
{
    MemStatsOp *op = user_data;
    /* DeviceNotActive: no balloon in the worker (libvirt then leaves actual out). */
    if (err && !(error_class && strcmp(error_class, "DeviceNotActive") == 0))
        return memstats_finish(op, NULL, err);
    if (!err)
        op->balloon_ret = json_object_get(ret);
    json_object *args = json_object_new_object();
    json_object_object_add(args, "path", json_object_new_string(BALLOON_QOM_PATH));
    json_object_object_add(args, "property", json_object_new_string("guest-stats"));
    hvd_monitor_command(mon, "qom-get", args, on_guest_stats_reply, op);
    json_object_put(args);
}

void hvd_domain_memory_stats(HvdDomain *dom, unsigned max, unsigned flags,
                             HvdDomainMemoryStatsFunc fn, gpointer user_data)
{
    GError *err = NULL;
    if (!domain_check_flags(flags, 0, "qemuDomainMemoryStats", &err) ||
        (!hvd_domain_is_active(dom) && (domain_not_running_error(&err), true))) {
        fn(dom, NULL, 0, err, user_data);
        g_error_free(err);
        return;
    }
    max = MIN(max, (unsigned)HVD_MEMORY_STAT_NR);
    if (!dom->def->balloon.enabled) {
        /* qemuDomainMemoryStatsInternal without a balloon: rss only. */
        HvdMemoryStat rss = { MEMSTAT_RSS, worker_rss_kib(dom->pid) };
        fn(dom, &rss, max > 0 && rss.val ? 1 : 0, NULL, user_data);
        return;
    }
    if (!domain_monitor_usable(dom, &err)) {
        fn(dom, NULL, 0, err, user_data);
        g_error_free(err);
        return;
    }
    MemStatsOp *op = g_new0(MemStatsOp, 1);
    op->dom = hvd_domain_ref(dom);
    op->max = max;
    op->fn = fn;
    op->data = user_data;
    hvd_monitor_command(dom->mon, "query-balloon", NULL, on_query_balloon_reply, op);
}

/* ------------------------------------------------------------ block stats */

/* One query-blockstats entry's BlockDeviceStats (qmp.md §5). The first four
 * are mandatory for libvirt (qemuMonitorJSONGetOneBlockStatsInfo); returns
 * how many counters were present, -1 when a mandatory one is missing. */
static int block_stats_entry(json_object *stats, HvdBlockStats *sum, GError **err)
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
        json_object *v = NULL;
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

static bool entry_named(json_object *entry, const char *name)
{
    static const char *const keys[] = { "device", "qdev" };
    for (size_t k = 0; k < G_N_ELEMENTS(keys); k++) {
        json_object *v = NULL;
        if (json_object_object_get_ex(entry, keys[k], &v) &&
            json_object_is_type(v, json_type_string) && strcmp(json_object_get_string(v), name) == 0)
            return true;
    }
    return false;
}

int hvd_block_stats_from_reply(json_object *ret, const char *const *names, unsigned n_names,
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
        json_object *entry = json_object_array_get_idx(ret, i);
        json_object *stats = NULL;
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
        json_object *stats = NULL;
        for (size_t i = 0; i < n && !stats; i++) {
            json_object *entry = json_object_array_get_idx(ret, i);
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

typedef struct {
    HvdDomain *dom;
    GPtrArray *names; /* the worker's ids of the disks asked for */
    HvdDomainBlockStatsFunc fn;
    gpointer data;
} BlockStatsOp;

static void on_blockstats_reply(HvdMonitor *mon, json_object *ret, const char *error_class,
                                const GError *err, gpointer user_data)
{
    (void)mon;
    (void)error_class;
    BlockStatsOp *op = user_data;
    HvdBlockStats stats = { 0 };
    GError *own = NULL;
    int nstats = -1;
    if (!err) {
        nstats = hvd_block_stats_from_reply(ret, (const char *const *)op->names->pdata,
                                            op->names->len, &stats, &own);
        err = own;
    }
    op->fn(op->dom, err ? NULL : &stats, err ? -1 : nstats, err, op->data);
    g_clear_error(&own);
    hvd_domain_unref(op->dom);
    g_ptr_array_unref(op->names);
    g_free(op);
}

/* virDomainDiskByName: a disk by target name or by source path. */
static const DomainDisk *disk_by_name(const DomainDef *def, const char *name)
{
    for (guint i = 0; i < def->disks->len; i++) {
        const DomainDisk *d = g_ptr_array_index(def->disks, i);
        if (g_strcmp0(d->target_dev, name) == 0)
            return d;
    }
    for (guint i = 0; i < def->disks->len; i++) {
        const DomainDisk *d = g_ptr_array_index(def->disks, i);
        if (d->source && strcmp(d->source, name) == 0)
            return d;
    }
    return NULL;
}

void hvd_domain_block_stats(HvdDomain *dom, const char *path, HvdDomainBlockStatsFunc fn,
                            gpointer user_data)
{
    GError *err = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    if (!hvd_domain_is_active(dom)) {
        domain_not_running_error(&err);
        goto fail;
    }
    if (path && *path) {
        const DomainDisk *d = disk_by_name(dom->def, path);
        if (!d) {
            hvd_vir_error_set(&err, VIR_FROM_QEMU, VIR_ERR_INVALID_ARG, "invalid path: %s", path);
            goto fail;
        }
        g_ptr_array_add(names, domain_disk_alias(d));
    } else {
        for (guint i = 0; i < dom->def->disks->len; i++)
            g_ptr_array_add(names, domain_disk_alias(g_ptr_array_index(dom->def->disks, i)));
    }
    if (!domain_monitor_usable(dom, &err))
        goto fail;
    BlockStatsOp *op = g_new0(BlockStatsOp, 1);
    op->dom = hvd_domain_ref(dom);
    op->names = g_steal_pointer(&names);
    op->fn = fn;
    op->data = user_data;
    hvd_monitor_command(dom->mon, "query-blockstats", NULL, on_blockstats_reply, op);
    return;
fail:
    fn(dom, NULL, -1, err, user_data);
    g_error_free(err);
}

/* ------------------------------------------------------------ vCPUs */

bool hvd_vcpu_stat_parse(const char *stat_text, uint64_t *cpu_time_ns, int *processor)
{
    /* proc(5): the command name (field 2) may hold spaces and ')' */
    const char *p = stat_text ? strrchr(stat_text, ')') : NULL;
    if (!p)
        return false;
    p++;
    unsigned long long utime = 0, stime = 0;
    long long cpu = -1;
    bool have_times = false;
    for (int field = 3; field <= 39; field++) {
        while (*p == ' ')
            p++;
        if (!*p || *p == '\n')
            return false;
        char *end = NULL;
        if (field == 14 || field == 15 || field == 39) {
            long long v = g_ascii_strtoll(p, &end, 10);
            if (end == p || v < 0)
                return false;
            if (field == 14)
                utime = (unsigned long long)v;
            else if (field == 15) {
                stime = (unsigned long long)v;
                have_times = true;
            } else
                cpu = v;
        }
        p = strchr(p, ' ');
        if (!p && field < 39)
            return false;
        if (!p)
            break;
    }
    if (!have_times || cpu < 0 || cpu > INT32_MAX)
        return false;
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        hz = 100;
    *cpu_time_ns = (utime + stime) * (1000000000ull / (unsigned long long)hz);
    *processor = (int)cpu;
    return true;
}

typedef struct {
    HvdDomain *dom;
    unsigned max;
    HvdDomainVcpusFunc fn;
    gpointer data;
} VcpusOp;

static void vcpus_fail(VcpusOp *op, const GError *err)
{
    op->fn(op->dom, NULL, 0, err, op->data);
    hvd_domain_unref(op->dom);
    g_free(op);
}

static void on_query_cpus_reply(HvdMonitor *mon, json_object *ret, const char *error_class,
                                const GError *err, gpointer user_data)
{
    (void)mon;
    (void)error_class;
    VcpusOp *op = user_data;
    if (err)
        return vcpus_fail(op, err);
    if (!hvd_domain_is_active(op->dom)) {
        g_autoptr(GError) e = NULL;
        domain_not_running_error(&e);
        return vcpus_fail(op, e);
    }
    if (!json_object_is_type(ret, json_type_array)) {
        g_autoptr(GError) e = NULL;
        hvd_vir_error_set(&e, VIR_FROM_QEMU, VIR_ERR_INTERNAL_ERROR, "%s",
                          "query-cpus-fast reply was missing return data");
        return vcpus_fail(op, e);
    }
    /* libvirt reports the online vCPUs of the definition, in order; the
     * monitor gives each one's thread. */
    unsigned n = MIN(op->max, op->dom->def->current_vcpus);
    g_autofree HvdVcpuInfo *info = g_new0(HvdVcpuInfo, MAX(n, 1u));
    for (unsigned i = 0; i < n; i++) {
        info[i].number = i;
        info[i].state = VIR_VCPU_RUNNING;
        info[i].cpu = -1;
    }
    size_t len = json_object_array_length(ret);
    for (size_t k = 0; k < len; k++) {
        json_object *cpu = json_object_array_get_idx(ret, k), *idx = NULL, *tid = NULL;
        if (!json_object_is_type(cpu, json_type_object) ||
            !json_object_object_get_ex(cpu, "cpu-index", &idx) ||
            !json_object_object_get_ex(cpu, "thread-id", &tid) ||
            !json_object_is_type(idx, json_type_int) || !json_object_is_type(tid, json_type_int))
            continue; /* an entry we cannot use: that vCPU stays "unknown" */
        int64_t index = json_object_get_int64(idx), thread = json_object_get_int64(tid);
        if (index < 0 || index >= (int64_t)n || thread <= 0 || thread > INT32_MAX)
            continue;
        HvdVcpuInfo *v = &info[index];
        v->tid = (int)thread;
        g_autofree char *path = g_strdup_printf("/proc/%d/task/%d/stat", (int)op->dom->pid,
                                                v->tid);
        g_autofree char *text = NULL;
        if (g_file_get_contents(path, &text, NULL, NULL))
            hvd_vcpu_stat_parse(text, &v->cpu_time_ns, &v->cpu);
        if (v->cpu < 0)
            v->cpu = 0; /* libvirt reports 0 when it cannot read the thread */
    }
    op->fn(op->dom, info, n, NULL, op->data);
    hvd_domain_unref(op->dom);
    g_free(op);
}

void hvd_domain_get_vcpu_info(HvdDomain *dom, unsigned max, HvdDomainVcpusFunc fn,
                              gpointer user_data)
{
    GError *err = NULL;
    if (!hvd_domain_is_active(dom)) {
        hvd_vir_error_set(&err, VIR_FROM_QEMU, VIR_ERR_OPERATION_INVALID, "%s",
                          "cannot list vcpus for an inactive domain");
    } else {
        domain_monitor_usable(dom, &err);
    }
    if (err) {
        fn(dom, NULL, 0, err, user_data);
        g_error_free(err);
        return;
    }
    VcpusOp *op = g_new0(VcpusOp, 1);
    op->dom = hvd_domain_ref(dom);
    op->max = max;
    op->fn = fn;
    op->data = user_data;
    hvd_monitor_command(dom->mon, "query-cpus-fast", NULL, on_query_cpus_reply, op);
}

