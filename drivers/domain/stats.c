/* Statistics of a running domain: memory (virDomainMemoryStats), block
 * devices (virDomainBlockStats), interfaces (virDomainInterfaceStats) and
 * vCPUs (virDomainGetVcpus), from the worker's monitor and /proc. */
#include "drivers/domain/domain.h"

#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "drivers/domain/interfaces.h"
#include "drivers/domain/qmp.h"

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

#define MEMSTAT_RSS 7 /* virDomainMemoryStatTags (libvirt-rpc.md §13) */

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
} MemStatsOp;

static void on_memory_stats(HvdMonitor *mon, const HvdMemoryStat *guest, unsigned n,
                            const GError *err, gpointer user_data)
{
    (void)mon;
    MemStatsOp *op = user_data;
    HvdMemoryStat stats[HVD_MEMORY_STAT_NR];
    if (!err) {
        memcpy(stats, guest, n * sizeof(*guest));
        uint64_t rss_kib = worker_rss_kib(op->dom->pid);
        if (rss_kib && n < op->max)
            stats[n++] = (HvdMemoryStat){ MEMSTAT_RSS, rss_kib };
    }
    op->fn(op->dom, err ? NULL : stats, err ? 0 : n, err, op->data);
    hvd_domain_unref(op->dom);
    g_free(op);
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
    hvd_qmp_memory_stats(dom->mon, BALLOON_QOM_PATH, max, on_memory_stats, op);
}

/* ------------------------------------------------------------ block stats */

typedef struct {
    HvdDomain *dom;
    HvdDomainBlockStatsFunc fn;
    gpointer data;
} BlockStatsOp;

static void on_blockstats_reply(HvdMonitor *mon, const HvdBlockStats *stats, int nstats,
                                const char *error_class, const GError *err, gpointer user_data)
{
    (void)mon;
    (void)error_class;
    BlockStatsOp *op = user_data;
    op->fn(op->dom, stats, nstats, err, op->data);
    hvd_domain_unref(op->dom);
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
    op->fn = fn;
    op->data = user_data;
    hvd_qmp_query_blockstats(dom->mon, (const char *const *)names->pdata, names->len,
                             on_blockstats_reply, op);
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

static void on_query_cpus_reply(HvdMonitor *mon, const HvdQmpCpu *cpus, unsigned n_cpus,
                                const char *error_class, const GError *err, gpointer user_data)
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
    /* libvirt reports the online vCPUs of the definition, in order; the
     * monitor gives each one's thread. */
    unsigned n = MIN(op->max, op->dom->def->current_vcpus);
    g_autofree HvdVcpuInfo *info = g_new0(HvdVcpuInfo, MAX(n, 1u));
    for (unsigned i = 0; i < n; i++) {
        info[i].number = i;
        info[i].state = VIR_VCPU_RUNNING;
        info[i].cpu = -1;
    }
    for (unsigned k = 0; k < n_cpus; k++) {
        int64_t index = cpus[k].cpu_index, thread = cpus[k].thread_id;
        if (index < 0 || index >= (int64_t)n || thread <= 0 || thread > INT32_MAX)
            continue; /* an entry we cannot use: that vCPU stays "unknown" */
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
    hvd_qmp_query_cpus_fast(dom->mon, on_query_cpus_reply, op);
}

