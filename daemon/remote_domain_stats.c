/* Statistics procedures (virsh domblkstat, dommemstat, domifstat,
 * vcpuinfo) and the host CPU map: XDR args -> domain driver -> XDR ret
 * (layouts: libvirt's remote_protocol.x). */
#include <sched.h>
#include <string.h>

#include "daemon/hostinfo.h"
#include "daemon/remote_domain_priv.h"
#include "daemon/remote_util.h"

/* remote_protocol.x limits of GET_VCPUS / GET_VCPU_PIN_INFO replies */
#define REMOTE_VCPUINFO_MAX 16384
#define REMOTE_CPUMAPS_MAX 8388608
#define REMOTE_CPUMAP_MAX 2048
/* §2 limit of DOMAIN_MEMORY_STATS's reply array */
#define REMOTE_DOMAIN_MEMORY_STATS_MAX 1024u
/* §2 limit of BLOCK_STATS_FLAGS's typed parameters */
#define REMOTE_DOMAIN_BLOCK_STATS_PARAMETERS_MAX 16
/* §3 remote_typed_param discriminant of a long long */
#define TYPED_PARAM_LLONG 3
/* virTypedParameterFlags: the only flag BLOCK_STATS_FLAGS takes */
#define TYPED_PARAM_STRING_OKAY 4u

/* virsh domifstat: args dom, device; ret eight hypers (§10, proc 65). */
static enum rpc_result h_interface_stats(struct rpc_call *call, struct xdr_reader *args,
                                         struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    DomArg d = { 0 };
    remote_domain_get_arg(args, &d);
    g_autofree char *device = xdr_get_string(args, REMOTE_STRING_MAX);
    g_autoptr(HvdDomain) dom = remote_domain_lookup_arg(args, &d, err);
    if (!dom)
        return RPC_REPLY_ERROR;
    GError *gerr = NULL;
    int64_t stats[8];
    if (!hvd_domain_interface_stats(dom, device, stats, &gerr))
        return remote_domain_fail(err, gerr);
    for (size_t i = 0; i < G_N_ELEMENTS(stats); i++)
        xdr_put_i64(ret, stats[i]);
    return RPC_REPLY_OK;
}



/* virsh domblkstat: BLOCK_STATS_FLAGS first (args dom, path, nparams,
 * flags; ret params<typed_param>, nparams), BLOCK_STATS (args dom, path;
 * ret rd_req, rd_bytes, wr_req, wr_bytes, errs) for old servers (§10). */
typedef struct {
    struct rpc_call *call;
    bool with_flags;
    int32_t nparams; /* BLOCK_STATS_FLAGS: 0 = "how many?" */
} BlockStatsCall;

static void done_block_stats(HvdDomain *dom, const HvdBlockStats *stats, int nstats,
                             const GError *gerr, gpointer data)
{
    BlockStatsCall *bc = data;
    if (gerr) {
        remote_domain_done_void(dom, NULL, gerr, bc->call);
        g_free(bc);
        return;
    }
    struct xdr_writer w;
    xdr_writer_init(&w, RPC_PAYLOAD_MAX);
    if (!bc->with_flags) {
        xdr_put_i64(&w, stats->rd_req);
        xdr_put_i64(&w, stats->rd_bytes);
        xdr_put_i64(&w, stats->wr_req);
        xdr_put_i64(&w, stats->wr_bytes);
        xdr_put_i64(&w, -1); /* errs: QEMU does not count them (qemuDomainBlockStats) */
    } else if (bc->nparams == 0) {
        /* remoteDispatchDomainBlockStatsFlags: just the count. */
        xdr_put_u32(&w, 0);
        xdr_put_i32(&w, nstats);
    } else {
        /* qemuDomainBlockStatsFlags's names and order (VIR_DOMAIN_BLOCK_STATS_*),
         * at most as many as asked for. */
        const struct {
            const char *field;
            int64_t value;
        } params[] = {
            { "wr_bytes", stats->wr_bytes },
            { "wr_operations", stats->wr_req },
            { "rd_bytes", stats->rd_bytes },
            { "rd_operations", stats->rd_req },
            { "flush_operations", stats->flush_req },
            { "wr_total_times", stats->wr_total_times },
            { "rd_total_times", stats->rd_total_times },
            { "flush_total_times", stats->flush_total_times },
        };
        uint32_t n = MIN((uint32_t)bc->nparams, (uint32_t)G_N_ELEMENTS(params));
        xdr_put_u32(&w, n);
        for (uint32_t i = 0; i < n; i++) {
            xdr_put_string(&w, params[i].field, REMOTE_STRING_MAX);
            xdr_put_i32(&w, TYPED_PARAM_LLONG);
            xdr_put_i64(&w, params[i].value);
        }
        xdr_put_i32(&w, 0); /* libvirtd leaves nparams 0 when it sends params */
    }
    rpc_call_finish(bc->call, &w, NULL);
    xdr_writer_free(&w);
    g_free(bc);
}

static enum rpc_result block_stats_common(struct rpc_call *call, struct xdr_reader *args,
                                          struct rpc_error *err, bool with_flags)
{
    DomArg d = { 0 };
    remote_domain_get_arg(args, &d);
    g_autofree char *path = xdr_get_string(args, REMOTE_STRING_MAX);
    int32_t nparams = with_flags ? xdr_get_i32(args) : 0;
    uint32_t flags = with_flags ? xdr_get_u32(args) : 0;
    if (with_flags && (nparams < 0 || nparams > REMOTE_DOMAIN_BLOCK_STATS_PARAMETERS_MAX)) {
        free(d.name);
        if (!rpc_args_done(args, err))
            return RPC_REPLY_ERROR;
        rpc_error_set(err, VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC, "%s", "nparams too large");
        return RPC_REPLY_ERROR;
    }
    g_autoptr(HvdDomain) dom = remote_domain_lookup_arg(args, &d, err);
    if (!dom)
        return RPC_REPLY_ERROR;
    if (flags & ~TYPED_PARAM_STRING_OKAY) {
        rpc_error_set(err, VIR_ERR_INVALID_ARG, VIR_FROM_QEMU,
                      "unsupported flags (0x%x) in function qemuDomainBlockStatsFlags",
                      flags & ~TYPED_PARAM_STRING_OKAY);
        return RPC_REPLY_ERROR;
    }
    BlockStatsCall *bc = g_new0(BlockStatsCall, 1);
    bc->call = rpc_call_defer(call);
    bc->with_flags = with_flags;
    bc->nparams = nparams;
    hvd_domain_block_stats(dom, path, done_block_stats, bc);
    return RPC_REPLY_DEFERRED;
}

static enum rpc_result h_block_stats(struct rpc_call *call, struct xdr_reader *args,
                                     struct xdr_writer *ret, struct rpc_error *err)
{
    (void)ret;
    return block_stats_common(call, args, err, false);
}

static enum rpc_result h_block_stats_flags(struct rpc_call *call, struct xdr_reader *args,
                                           struct xdr_writer *ret, struct rpc_error *err)
{
    (void)ret;
    return block_stats_common(call, args, err, true);
}

/* virsh dommemstat: args dom, maxStats, flags; ret stats<{tag i32, val
 * u64}>, never more than maxStats of them (§10 proc 159, §14.3). */
static void done_memory_stats(HvdDomain *dom, const HvdMemoryStat *stats, unsigned n,
                              const GError *gerr, gpointer data)
{
    if (gerr)
        return remote_domain_done_void(dom, NULL, gerr, data);
    struct xdr_writer w;
    xdr_writer_init(&w, RPC_PAYLOAD_MAX);
    xdr_put_u32(&w, n);
    for (unsigned i = 0; i < n; i++) {
        xdr_put_i32(&w, stats[i].tag);
        xdr_put_u64(&w, stats[i].val);
    }
    rpc_call_finish(data, &w, NULL);
    xdr_writer_free(&w);
}

static enum rpc_result h_memory_stats(struct rpc_call *call, struct xdr_reader *args,
                                      struct xdr_writer *ret, struct rpc_error *err)
{
    (void)ret;
    DomArg d = { 0 };
    remote_domain_get_arg(args, &d);
    uint32_t max_stats = xdr_get_u32(args);
    uint32_t flags = xdr_get_u32(args);
    g_autoptr(HvdDomain) dom = remote_domain_lookup_arg(args, &d, err);
    if (!dom)
        return RPC_REPLY_ERROR;
    /* remoteDispatchDomainMemoryStats's own check and text */
    if (max_stats > REMOTE_DOMAIN_MEMORY_STATS_MAX) {
        rpc_error_set(err, VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC, "%s",
                      "maxStats > REMOTE_DOMAIN_MEMORY_STATS_MAX");
        return RPC_REPLY_ERROR;
    }
    hvd_domain_memory_stats(dom, max_stats, flags, done_memory_stats, rpc_call_defer(call));
    return RPC_REPLY_DEFERRED;
}

/* virsh dommemstat --period N: args dom, period i32, flags (proc 308). */
static enum rpc_result h_set_memory_stats_period(struct rpc_call *call, struct xdr_reader *args,
                                                 struct xdr_writer *ret, struct rpc_error *err)
{
    (void)ret;
    DomArg d = { 0 };
    remote_domain_get_arg(args, &d);
    int32_t period = xdr_get_i32(args);
    uint32_t flags = xdr_get_u32(args);
    g_autoptr(HvdDomain) dom = remote_domain_lookup_arg(args, &d, err);
    if (!dom)
        return RPC_REPLY_ERROR;
    hvd_domain_set_memory_stats_period(dom, period, flags, remote_domain_done_void, rpc_call_defer(call));
    return RPC_REPLY_DEFERRED;
}

/* ------------------------------------------------------------ host CPUs, vCPUs */

/* VIR_CPU_MAPLEN */
static int32_t cpu_maplen(int32_t cpus)
{
    return (cpus + 7) / 8;
}

/* virNodeGetCPUMap: args need_map, need_online, flags; ret cpumap<>,
 * online, ret (remote_protocol.x; remoteDispatchNodeGetCPUMap sends a map
 * of VIR_CPU_MAPLEN(ret) bytes only when asked, and online as computed). */
static enum rpc_result h_node_get_cpu_map(struct rpc_call *call, struct xdr_reader *args,
                                          struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    int32_t need_map = xdr_get_i32(args);
    int32_t need_online = xdr_get_i32(args);
    uint32_t flags = xdr_get_u32(args);
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    if (flags) {
        /* virHostCPUGetMap's virCheckFlags(0) (util code: no error domain) */
        rpc_error_set(err, VIR_ERR_INVALID_ARG, VIR_FROM_NONE,
                      "unsupported flags (0x%x) in function virHostCPUGetMap", flags);
        return RPC_REPLY_ERROR;
    }
    g_autofree uint8_t *map = g_malloc0(HOST_CPUMAP_MAX_BYTES);
    unsigned online = 0;
    g_autofree char *why = NULL;
    int cpus = host_cpu_map(NULL, map, &online, &why);
    if (cpus < 0) {
        rpc_error_set(err, VIR_ERR_INTERNAL_ERROR, VIR_FROM_NONE, "%s", why);
        return RPC_REPLY_ERROR;
    }
    xdr_put_opaque_var(ret, map, need_map ? (size_t)cpu_maplen(cpus) : 0, REMOTE_CPUMAP_MAX);
    xdr_put_u32(ret, need_online ? online : 0);
    xdr_put_i32(ret, cpus);
    return RPC_REPLY_OK;
}

/* Fill one vCPU's cpumap (maplen bytes): the thread's affinity when it can
 * be read, else every online host CPU (hvd pins nothing). */
static void fill_affinity(uint8_t *out, int32_t maplen, int tid, const uint8_t *host_online)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (tid > 0 && sched_getaffinity(tid, sizeof(set), &set) == 0) {
        for (int32_t cpu = 0; cpu < maplen * 8 && cpu < CPU_SETSIZE; cpu++)
            if (CPU_ISSET(cpu, &set))
                out[cpu / 8] |= (uint8_t)(1u << (cpu % 8));
        return;
    }
    memcpy(out, host_online, (size_t)MIN(maplen, (int32_t)HOST_CPUMAP_MAX_BYTES));
}

typedef struct {
    struct rpc_call *call;
    int32_t maxinfo, maplen;
} VcpusCall;

static void done_vcpus(HvdDomain *dom, const HvdVcpuInfo *info, unsigned n, const GError *gerr,
                       gpointer data)
{
    VcpusCall *vc = data;
    if (gerr) {
        remote_domain_done_void(dom, NULL, gerr, vc->call);
        g_free(vc);
        return;
    }
    g_autofree uint8_t *host_online = g_malloc0(HOST_CPUMAP_MAX_BYTES);
    unsigned online = 0;
    g_autofree char *why = NULL;
    if (host_cpu_map(NULL, host_online, &online, &why) < 0)
        host_online[0] = 1; /* at least CPU 0 */
    struct xdr_writer w;
    xdr_writer_init(&w, RPC_PAYLOAD_MAX);
    xdr_put_u32(&w, n);
    for (unsigned i = 0; i < n; i++) {
        xdr_put_u32(&w, info[i].number);
        xdr_put_i32(&w, info[i].state);
        xdr_put_u64(&w, info[i].cpu_time_ns);
        xdr_put_i32(&w, info[i].cpu);
    }
    /* remoteDispatchDomainGetVcpus: maxinfo * maplen bytes, the maps of
     * the vCPUs reported first, zeros after */
    size_t total = (size_t)vc->maxinfo * (size_t)MAX(vc->maplen, 0);
    g_autofree uint8_t *maps = g_malloc0(MAX(total, (size_t)1));
    for (unsigned i = 0; vc->maplen > 0 && i < n; i++)
        fill_affinity(maps + (size_t)i * (size_t)vc->maplen, vc->maplen, info[i].tid, host_online);
    xdr_put_opaque_var(&w, maps, total, REMOTE_CPUMAPS_MAX);
    rpc_call_finish(vc->call, &w, NULL);
    xdr_writer_free(&w);
    g_free(vc);
}

/* The checks remoteDispatchDomainGetVcpus and virDomainGetVcpus make
 * before the driver runs (maplen 0 = no maps wanted). */
static bool check_vcpu_args(int32_t count, int32_t maplen, const char *count_name,
                            const char *api, struct rpc_error *err)
{
    if (count > REMOTE_VCPUINFO_MAX) {
        rpc_error_set(err, VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC, "%s > REMOTE_VCPUINFO_MAX",
                      count_name);
        return false;
    }
    if ((int64_t)count * maplen > REMOTE_CPUMAPS_MAX) {
        rpc_error_set(err, VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC, "%s",
                      "maxinfo * maplen > REMOTE_CPUMAPS_MAX");
        return false;
    }
    if (count <= 0) {
        rpc_error_set(err, VIR_ERR_INVALID_ARG, VIR_FROM_DOMAIN,
                      "%s in %s must be greater than zero", count_name, api);
        return false;
    }
    if (maplen < 0) {
        rpc_error_set(err, VIR_ERR_INVALID_ARG, VIR_FROM_DOMAIN, "maplen in %s must be zero", api);
        return false;
    }
    return true;
}

/* virDomainGetVcpus (python dom.vcpus(), virsh vcpuinfo): args dom,
 * maxinfo, maplen; ret info<{number, state, cpu_time, cpu}>, cpumaps<>. */
static enum rpc_result h_get_vcpus(struct rpc_call *call, struct xdr_reader *args,
                                   struct xdr_writer *ret, struct rpc_error *err)
{
    (void)ret;
    DomArg d = { 0 };
    remote_domain_get_arg(args, &d);
    int32_t maxinfo = xdr_get_i32(args);
    int32_t maplen = xdr_get_i32(args);
    g_autoptr(HvdDomain) dom = remote_domain_lookup_arg(args, &d, err);
    if (!dom)
        return RPC_REPLY_ERROR;
    if (!check_vcpu_args(maxinfo, maplen, "maxinfo", "virDomainGetVcpus", err))
        return RPC_REPLY_ERROR;
    VcpusCall *vc = g_new0(VcpusCall, 1);
    vc->call = rpc_call_defer(call);
    vc->maxinfo = maxinfo;
    vc->maplen = maplen;
    hvd_domain_get_vcpu_info(dom, (unsigned)maxinfo, done_vcpus, vc);
    return RPC_REPLY_DEFERRED;
}

/* virDomainGetVcpuPinInfo (virsh vcpuinfo/vcpupin of a shut off domain):
 * args dom, ncpumaps, maplen, flags; ret cpumaps<>, num. hvd pins nothing,
 * so every vCPU may run on every online host CPU. */
static enum rpc_result h_get_vcpu_pin_info(struct rpc_call *call, struct xdr_reader *args,
                                           struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    DomArg d = { 0 };
    remote_domain_get_arg(args, &d);
    int32_t ncpumaps = xdr_get_i32(args);
    int32_t maplen = xdr_get_i32(args);
    uint32_t flags = xdr_get_u32(args);
    g_autoptr(HvdDomain) dom = remote_domain_lookup_arg(args, &d, err);
    if (!dom)
        return RPC_REPLY_ERROR;
    if (!check_vcpu_args(ncpumaps, maplen, "ncpumaps", "virDomainGetVcpuPinInfo", err))
        return RPC_REPLY_ERROR;
    if (maplen <= 0) {
        rpc_error_set(err, VIR_ERR_INVALID_ARG, VIR_FROM_DOMAIN, "%s",
                      "maplen in virDomainGetVcpuPinInfo must be greater than zero");
        return RPC_REPLY_ERROR;
    }
    const unsigned impact = 1u /* AFFECT_LIVE */ | 2u /* AFFECT_CONFIG */;
    if (flags & ~impact) {
        rpc_error_set(err, VIR_ERR_INVALID_ARG, VIR_FROM_QEMU,
                      "unsupported flags (0x%x) in function qemuDomainGetVcpuPinInfo",
                      flags & ~impact);
        return RPC_REPLY_ERROR;
    }
    GError *gerr = NULL;
    int vcpus = hvd_domain_get_vcpus(dom, flags | 4u /* VCPU_MAXIMUM */, &gerr);
    if (vcpus < 0)
        return remote_domain_fail(err, gerr);
    g_autofree uint8_t *host_online = g_malloc0(HOST_CPUMAP_MAX_BYTES);
    unsigned online = 0;
    g_autofree char *why = NULL;
    if (host_cpu_map(NULL, host_online, &online, &why) < 0)
        host_online[0] = 1;
    int32_t num = MIN(vcpus, ncpumaps);
    size_t total = (size_t)ncpumaps * (size_t)maplen;
    g_autofree uint8_t *maps = g_malloc0(total);
    for (int32_t i = 0; i < num; i++)
        fill_affinity(maps + (size_t)i * (size_t)maplen, maplen, 0, host_online);
    xdr_put_opaque_var(ret, maps, total, REMOTE_CPUMAPS_MAX);
    xdr_put_i32(ret, num);
    return RPC_REPLY_OK;
}

void remote_domain_stats_register(void)
{
    static const RemoteDomainProc procs[] = {
        { REMOTE_PROC_DOMAIN_GET_VCPUS, h_get_vcpus },
        { REMOTE_PROC_DOMAIN_GET_VCPU_PIN_INFO, h_get_vcpu_pin_info },
        { REMOTE_PROC_NODE_GET_CPU_MAP, h_node_get_cpu_map, RPC_PROC_HIGH_PRIORITY },
        { REMOTE_PROC_DOMAIN_INTERFACE_STATS, h_interface_stats },
        { REMOTE_PROC_DOMAIN_MEMORY_STATS, h_memory_stats },
        { REMOTE_PROC_DOMAIN_SET_MEMORY_STATS_PERIOD, h_set_memory_stats_period },
        { REMOTE_PROC_DOMAIN_BLOCK_STATS, h_block_stats },
        { REMOTE_PROC_DOMAIN_BLOCK_STATS_FLAGS, h_block_stats_flags },
    };
    remote_domain_register_procs(procs, G_N_ELEMENTS(procs));
}
