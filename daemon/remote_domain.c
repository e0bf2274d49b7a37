/* Domain procedures of the REMOTE program and the libvirt-qemu program's
 * monitor command: one small handler each, XDR args -> domain driver ->
 * XDR ret (layouts: ../shared/ref/libvirt-rpc.md §10, §11). The driver
 * (drivers/domain/driver.h) decides everything; slow calls are deferred
 * and answered from the driver's callback. */
#include "daemon/remote_domain.h"

#include <sched.h>
#include <string.h>

#include "common/log.h"
#include "daemon/hostinfo.h"
#include "daemon/remote.h"
#include "daemon/remote_util.h"
#include "daemon/rpc.h"
#include "daemon/stream.h"
#include "drivers/domain/driver.h"

/* remote_protocol.x limits of GET_VCPUS / GET_VCPU_PIN_INFO replies */
#define REMOTE_VCPUINFO_MAX 16384
#define REMOTE_CPUMAPS_MAX 8388608
#define REMOTE_CPUMAP_MAX 2048
/* §11 libvirt-qemu program. */
#define QEMU_PROC_DOMAIN_MONITOR_COMMAND 1
#define QEMU_MONITOR_COMMAND_HMP 1u
/* §2 limit of DOMAIN_MEMORY_STATS's reply array */
#define REMOTE_DOMAIN_MEMORY_STATS_MAX 1024u
/* §2 limit of BLOCK_STATS_FLAGS's typed parameters */
#define REMOTE_DOMAIN_BLOCK_STATS_PARAMETERS_MAX 16
/* §3 remote_typed_param discriminant of a long long */
#define TYPED_PARAM_LLONG 3
/* virTypedParameterFlags: the only flag BLOCK_STATS_FLAGS takes */
#define TYPED_PARAM_STRING_OKAY 4u
/* §7 virDomainEventID values. */
#define EVENT_ID_LIFECYCLE 0
#define EVENT_ID_REBOOT 1
#define EVENT_ID_BALLOON_CHANGE 13

/* ------------------------------------------------------------ helpers */

/* The domain driver's GErrors as libvirt error code and domain. */
static void unpack_driver_error(const GError *gerr, int *code, int *domain)
{
    hvd_driver_error_unpack(gerr, code, domain);
}

static enum rpc_result fail(struct rpc_error *err, GError *gerr)
{
    return remote_fail(err, unpack_driver_error, gerr);
}

/* remote_nonnull_domain: name, uuid[16], id. */
static void put_dom(struct xdr_writer *w, HvdDomain *dom)
{
    xdr_put_string(w, hvd_domain_name(dom), REMOTE_STRING_MAX);
    xdr_put_opaque_fixed(w, hvd_domain_uuid(dom), 16);
    xdr_put_i32(w, hvd_domain_id(dom));
}

typedef struct {
    char *name;
    uint8_t uuid[16];
} DomArg;

static void get_dom(struct xdr_reader *r, DomArg *d)
{
    d->name = xdr_get_string(r, REMOTE_STRING_MAX);
    xdr_get_opaque_fixed(r, d->uuid, 16);
    xdr_get_i32(r); /* id: the client's cached value, not trusted */
}

/* Decode a domain argument (plus whatever `more` reads after it), check the
 * whole payload was right and find the domain. NULL with err set. */
static HvdDomain *args_dom(struct xdr_reader *args, DomArg *d, struct rpc_error *err)
{
    if (!rpc_args_done(args, err)) {
        free(d->name);
        d->name = NULL;
        return NULL;
    }
    GError *gerr = NULL;
    HvdDomain *dom = hvd_driver_lookup_dom(d->name, d->uuid, &gerr);
    free(d->name);
    d->name = NULL;
    if (!dom)
        fail(err, gerr);
    return dom;
}

/* ---- deferred answers */

static void done_void(HvdDomain *dom, const char *result, const GError *gerr, gpointer data)
{
    (void)dom;
    (void)result;
    struct rpc_call *call = data;
    if (gerr)
        remote_call_finish_gerror(call, unpack_driver_error, gerr);
    else
        rpc_call_finish(call, NULL, NULL);
}

static void done_dom(HvdDomain *dom, const char *result, const GError *gerr, gpointer data)
{
    if (gerr)
        return done_void(dom, result, gerr, data);
    struct xdr_writer w;
    xdr_writer_init(&w, RPC_PAYLOAD_MAX);
    put_dom(&w, dom);
    rpc_call_finish(data, &w, NULL);
    xdr_writer_free(&w);
}

static void done_string(HvdDomain *dom, const char *result, const GError *gerr, gpointer data)
{
    if (gerr)
        return done_void(dom, result, gerr, data);
    struct xdr_writer w;
    xdr_writer_init(&w, RPC_PAYLOAD_MAX);
    xdr_put_string(&w, result ? result : "", REMOTE_STRING_MAX);
    rpc_call_finish(data, &w, NULL);
    xdr_writer_free(&w);
}

/* ------------------------------------------------------------ lists */

static void put_listed_dom(struct xdr_writer *w, gpointer dom)
{
    put_dom(w, dom);
}

static enum rpc_result h_list_all(struct rpc_call *call, struct xdr_reader *args,
                                  struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    static const struct remote_list_all domains = {
        .list = hvd_driver_list,
        .put_entry = put_listed_dom,
        .unpack = unpack_driver_error,
        .limit = REMOTE_DOMAIN_LIST_MAX,
        .what = "domains",
    };
    return remote_list_all_reply(&domains, args, ret, err);
}

/* NUM_OF_DOMAINS (running) and NUM_OF_DEFINED_DOMAINS (inactive): no args. */
static enum rpc_result count_reply(struct xdr_reader *args, bool active, struct xdr_writer *ret,
                                   struct rpc_error *err)
{
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    xdr_put_i32(ret, (int32_t)hvd_driver_count(active));
    return RPC_REPLY_OK;
}

static enum rpc_result h_num_active(struct rpc_call *call, struct xdr_reader *args,
                                    struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    return count_reply(args, true, ret, err);
}

static enum rpc_result h_num_defined(struct rpc_call *call, struct xdr_reader *args,
                                     struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    return count_reply(args, false, ret, err);
}

static bool check_max(int32_t max, struct rpc_error *err)
{
    if (max < 0 || (uint32_t)max > REMOTE_DOMAIN_LIST_MAX) {
        rpc_error_set(err, VIR_ERR_RPC, VIR_FROM_RPC, "too many remote domains requested: %d > %u",
                      max, REMOTE_DOMAIN_LIST_MAX);
        return false;
    }
    return true;
}

static void put_dom_id(struct xdr_writer *w, HvdDomain *dom)
{
    xdr_put_i32(w, hvd_domain_id(dom));
}

static void put_dom_name(struct xdr_writer *w, HvdDomain *dom)
{
    xdr_put_string(w, hvd_domain_name(dom), REMOTE_STRING_MAX);
}

/* Legacy lists: args { int max; }, ret at most `max` entries (§3) of the
 * domains `list_flags` selects, each written by put_entry. */
static enum rpc_result legacy_list(struct xdr_reader *args, unsigned list_flags,
                                   void (*put_entry)(struct xdr_writer *, HvdDomain *),
                                   struct xdr_writer *ret, struct rpc_error *err)
{
    int32_t max = xdr_get_i32(args);
    if (!rpc_args_done(args, err) || !check_max(max, err))
        return RPC_REPLY_ERROR;
    g_autoptr(GPtrArray) list = hvd_driver_list(list_flags, NULL);
    guint n = MIN(list->len, (guint)max);
    xdr_put_u32(ret, n);
    for (guint i = 0; i < n; i++)
        put_entry(ret, g_ptr_array_index(list, i));
    return RPC_REPLY_OK;
}

/* LIST_DOMAINS: ids of the running domains. */
static enum rpc_result h_list_ids(struct rpc_call *call, struct xdr_reader *args,
                                  struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    return legacy_list(args, 1u /* ACTIVE */, put_dom_id, ret, err);
}

/* LIST_DEFINED_DOMAINS: names of the inactive ones. */
static enum rpc_result h_list_defined(struct rpc_call *call, struct xdr_reader *args,
                                      struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    return legacy_list(args, 2u /* INACTIVE */, put_dom_name, ret, err);
}

/* ------------------------------------------------------------ lookups */

static enum rpc_result lookup_reply(HvdDomain *dom, GError *gerr, struct xdr_writer *ret,
                                    struct rpc_error *err)
{
    if (!dom)
        return fail(err, gerr);
    put_dom(ret, dom);
    hvd_domain_unref(dom);
    return RPC_REPLY_OK;
}

static enum rpc_result h_lookup_name(struct rpc_call *call, struct xdr_reader *args,
                                     struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    g_autofree char *name = xdr_get_string(args, REMOTE_STRING_MAX);
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    GError *gerr = NULL;
    HvdDomain *dom = hvd_driver_lookup_by_name(name, &gerr);
    return lookup_reply(dom, gerr, ret, err);
}

static enum rpc_result h_lookup_uuid(struct rpc_call *call, struct xdr_reader *args,
                                     struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    uint8_t uuid[16];
    xdr_get_opaque_fixed(args, uuid, 16);
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    GError *gerr = NULL;
    HvdDomain *dom = hvd_driver_lookup_by_uuid(uuid, &gerr);
    return lookup_reply(dom, gerr, ret, err);
}

static enum rpc_result h_lookup_id(struct rpc_call *call, struct xdr_reader *args,
                                   struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    int32_t id = xdr_get_i32(args);
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    GError *gerr = NULL;
    HvdDomain *dom = hvd_driver_lookup_by_id(id, &gerr);
    return lookup_reply(dom, gerr, ret, err);
}

/* ------------------------------------------------------------ define */

static enum rpc_result define_common(struct xdr_reader *args, bool with_flags,
                                     struct xdr_writer *ret, struct rpc_error *err)
{
    g_autofree char *xml = xdr_get_string(args, REMOTE_STRING_MAX);
    uint32_t flags = with_flags ? xdr_get_u32(args) : 0;
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    GError *gerr = NULL;
    HvdDomain *dom = hvd_driver_define(xml, flags, &gerr);
    return lookup_reply(dom, gerr, ret, err);
}

static enum rpc_result h_define(struct rpc_call *call, struct xdr_reader *args,
                                struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    return define_common(args, false, ret, err);
}

static enum rpc_result h_define_flags(struct rpc_call *call, struct xdr_reader *args,
                                      struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    return define_common(args, true, ret, err);
}

static enum rpc_result undefine_common(struct xdr_reader *args, bool with_flags,
                                       struct rpc_error *err)
{
    DomArg d = { 0 };
    get_dom(args, &d);
    uint32_t flags = with_flags ? xdr_get_u32(args) : 0;
    g_autoptr(HvdDomain) dom = args_dom(args, &d, err);
    if (!dom)
        return RPC_REPLY_ERROR;
    GError *gerr = NULL;
    if (!hvd_domain_undefine(dom, flags, &gerr))
        return fail(err, gerr);
    return RPC_REPLY_OK;
}

static enum rpc_result h_undefine(struct rpc_call *call, struct xdr_reader *args,
                                  struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    (void)ret;
    return undefine_common(args, false, err);
}

static enum rpc_result h_undefine_flags(struct rpc_call *call, struct xdr_reader *args,
                                        struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    (void)ret;
    return undefine_common(args, true, err);
}

/* ------------------------------------------------------------ queries */

/* Handlers whose args are exactly a domain (plus `nflags` u32 flags). */
#define DOM_HANDLER(fn_name, nflags, ...)                                                   \
    static enum rpc_result fn_name(struct rpc_call *call, struct xdr_reader *args,          \
                                   struct xdr_writer *ret, struct rpc_error *err)           \
    {                                                                                       \
        (void)call;                                                                         \
        (void)ret;                                                                          \
        DomArg d = { 0 };                                                                   \
        get_dom(args, &d);                                                                  \
        uint32_t flags = (nflags) ? xdr_get_u32(args) : 0;                                  \
        (void)flags;                                                                        \
        g_autoptr(HvdDomain) dom = args_dom(args, &d, err);                                 \
        if (!dom)                                                                           \
            return RPC_REPLY_ERROR;                                                         \
        GError *gerr = NULL;                                                                \
        (void)gerr;                                                                         \
        __VA_ARGS__                                                                         \
    }

DOM_HANDLER(h_get_info, 0, {
    HvdDomainInfo info;
    hvd_domain_get_info(dom, &info);
    xdr_put_u32(ret, (uint32_t)info.state); /* unsigned char: 4 bytes (§3) */
    xdr_put_u64(ret, info.max_mem_kib);
    xdr_put_u64(ret, info.memory_kib);
    xdr_put_u32(ret, info.nr_vcpus); /* unsigned short: 4 bytes */
    xdr_put_u64(ret, info.cpu_time_ns);
    return RPC_REPLY_OK;
})

DOM_HANDLER(h_get_state, 1, {
    int state, reason;
    if (!hvd_domain_get_state_flags(dom, flags, &state, &reason, &gerr))
        return fail(err, gerr);
    xdr_put_i32(ret, state);
    xdr_put_i32(ret, reason);
    return RPC_REPLY_OK;
})

DOM_HANDLER(h_get_xml, 1, {
    g_autofree char *xml = hvd_domain_get_xml(dom, flags, &gerr);
    if (!xml)
        return fail(err, gerr);
    xdr_put_string(ret, xml, REMOTE_STRING_MAX);
    return RPC_REPLY_OK;
})

DOM_HANDLER(h_is_active, 0, {
    xdr_put_i32(ret, hvd_domain_is_active(dom));
    return RPC_REPLY_OK;
})

DOM_HANDLER(h_is_persistent, 0, {
    xdr_put_i32(ret, hvd_domain_is_persistent(dom));
    return RPC_REPLY_OK;
})

DOM_HANDLER(h_is_updated, 0, {
    xdr_put_i32(ret, hvd_domain_is_updated(dom));
    return RPC_REPLY_OK;
})

DOM_HANDLER(h_get_autostart, 0, {
    xdr_put_i32(ret, hvd_domain_get_autostart(dom));
    return RPC_REPLY_OK;
})

DOM_HANDLER(h_get_os_type, 0, {
    xdr_put_string(ret, "hvm", REMOTE_STRING_MAX);
    return RPC_REPLY_OK;
})

DOM_HANDLER(h_get_max_memory, 0, {
    xdr_put_u64(ret, hvd_domain_get_max_memory(dom));
    return RPC_REPLY_OK;
})

DOM_HANDLER(h_get_vcpus_flags, 1, {
    int n = hvd_domain_get_vcpus(dom, flags, &gerr);
    if (n < 0)
        return fail(err, gerr);
    xdr_put_i32(ret, n);
    return RPC_REPLY_OK;
})

/* No managed save, snapshots or messages in hvd: the answers libvirt gives
 * for a domain that has none. */
DOM_HANDLER(h_has_managed_save, 1, {
    if (flags) {
        rpc_error_set(err, VIR_ERR_INVALID_ARG, VIR_FROM_QEMU,
                      "unsupported flags (0x%x) in function qemuDomainHasManagedSaveImage",
                      flags);
        return RPC_REPLY_ERROR;
    }
    xdr_put_i32(ret, 0);
    return RPC_REPLY_OK;
})

DOM_HANDLER(h_snapshot_num, 1, {
    xdr_put_i32(ret, 0);
    return RPC_REPLY_OK;
})

DOM_HANDLER(h_get_messages, 1, {
    xdr_put_u32(ret, 0); /* msgs<> */
    return RPC_REPLY_OK;
})

DOM_HANDLER(h_get_control_info, 1, {
    /* §10: state 0 OK, details 0, stateTime (ms in the current state). */
    xdr_put_u32(ret, 0);
    xdr_put_u32(ret, 0);
    xdr_put_u64(ret, 0);
    return RPC_REPLY_OK;
})

/* virsh domifstat: args dom, device; ret eight hypers (§10, proc 65). */
static enum rpc_result h_interface_stats(struct rpc_call *call, struct xdr_reader *args,
                                         struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    DomArg d = { 0 };
    get_dom(args, &d);
    g_autofree char *device = xdr_get_string(args, REMOTE_STRING_MAX);
    g_autoptr(HvdDomain) dom = args_dom(args, &d, err);
    if (!dom)
        return RPC_REPLY_ERROR;
    GError *gerr = NULL;
    int64_t stats[8];
    if (!hvd_domain_interface_stats(dom, device, stats, &gerr))
        return fail(err, gerr);
    for (size_t i = 0; i < G_N_ELEMENTS(stats); i++)
        xdr_put_i64(ret, stats[i]);
    return RPC_REPLY_OK;
}

static enum rpc_result h_set_autostart(struct rpc_call *call, struct xdr_reader *args,
                                       struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    (void)ret;
    DomArg d = { 0 };
    get_dom(args, &d);
    int32_t autostart = xdr_get_i32(args);
    g_autoptr(HvdDomain) dom = args_dom(args, &d, err);
    if (!dom)
        return RPC_REPLY_ERROR;
    GError *gerr = NULL;
    if (!hvd_domain_set_autostart(dom, autostart != 0, &gerr))
        return fail(err, gerr);
    return RPC_REPLY_OK;
}

/* ------------------------------------------------------------ lifecycle */

typedef void (*DomFlagsOp)(HvdDomain *dom, unsigned flags, HvdDomainDoneFunc fn, gpointer data);

/* Decode dom (+ flags), defer, run the driver operation; the answer comes
 * from its callback (done_void or done_dom). */
static enum rpc_result deferred_op(struct rpc_call *call, struct xdr_reader *args,
                                   struct rpc_error *err, bool with_flags, DomFlagsOp op,
                                   HvdDomainDoneFunc done)
{
    DomArg d = { 0 };
    get_dom(args, &d);
    uint32_t flags = with_flags ? xdr_get_u32(args) : 0;
    g_autoptr(HvdDomain) dom = args_dom(args, &d, err);
    if (!dom)
        return RPC_REPLY_ERROR;
    op(dom, flags, done, rpc_call_defer(call));
    return RPC_REPLY_DEFERRED;
}

static void op_suspend(HvdDomain *dom, unsigned flags, HvdDomainDoneFunc fn, gpointer data)
{
    (void)flags;
    hvd_domain_suspend(dom, fn, data);
}

static void op_resume(HvdDomain *dom, unsigned flags, HvdDomainDoneFunc fn, gpointer data)
{
    (void)flags;
    hvd_domain_resume(dom, fn, data);
}

#define DEFERRED_HANDLER(fn_name, with_flags, op, done)                                    \
    static enum rpc_result fn_name(struct rpc_call *call, struct xdr_reader *args,         \
                                   struct xdr_writer *ret, struct rpc_error *err)          \
    {                                                                                      \
        (void)ret;                                                                         \
        return deferred_op(call, args, err, with_flags, op, done);                         \
    }

DEFERRED_HANDLER(h_create, false, hvd_domain_start, done_void)
DEFERRED_HANDLER(h_create_with_flags, true, hvd_domain_start, done_dom)
DEFERRED_HANDLER(h_destroy, false, hvd_domain_destroy, done_void)
DEFERRED_HANDLER(h_destroy_flags, true, hvd_domain_destroy, done_void)
DEFERRED_HANDLER(h_shutdown, false, hvd_domain_shutdown, done_void)
DEFERRED_HANDLER(h_shutdown_flags, true, hvd_domain_shutdown, done_void)
DEFERRED_HANDLER(h_reboot, true, hvd_domain_reboot, done_void)
DEFERRED_HANDLER(h_suspend, false, op_suspend, done_void)
DEFERRED_HANDLER(h_resume, false, op_resume, done_void)

static enum rpc_result h_create_xml(struct rpc_call *call, struct xdr_reader *args,
                                    struct xdr_writer *ret, struct rpc_error *err)
{
    (void)ret;
    g_autofree char *xml = xdr_get_string(args, REMOTE_STRING_MAX);
    uint32_t flags = xdr_get_u32(args);
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    GError *gerr = NULL;
    struct rpc_call *deferred = rpc_call_defer(call);
    HvdDomain *dom = hvd_driver_create_xml(xml, flags, done_dom, deferred, &gerr);
    if (!dom) {
        remote_call_finish_gerror(deferred, unpack_driver_error, gerr);
        g_error_free(gerr);
        return RPC_REPLY_DEFERRED;
    }
    hvd_domain_unref(dom);
    return RPC_REPLY_DEFERRED;
}

static enum rpc_result set_memory_common(struct rpc_call *call, struct xdr_reader *args,
                                         struct rpc_error *err, bool with_flags)
{
    DomArg d = { 0 };
    get_dom(args, &d);
    uint64_t kib = xdr_get_u64(args);
    /* virDomainSetMemory is the live change (qemuDomainSetMemory). */
    uint32_t flags = with_flags ? xdr_get_u32(args) : 1u /* AFFECT_LIVE */;
    g_autoptr(HvdDomain) dom = args_dom(args, &d, err);
    if (!dom)
        return RPC_REPLY_ERROR;
    hvd_domain_set_memory(dom, kib, flags, done_void, rpc_call_defer(call));
    return RPC_REPLY_DEFERRED;
}

static enum rpc_result h_set_memory(struct rpc_call *call, struct xdr_reader *args,
                                    struct xdr_writer *ret, struct rpc_error *err)
{
    (void)ret;
    return set_memory_common(call, args, err, false);
}

static enum rpc_result h_set_memory_flags(struct rpc_call *call, struct xdr_reader *args,
                                          struct xdr_writer *ret, struct rpc_error *err)
{
    (void)ret;
    return set_memory_common(call, args, err, true);
}

/* virsh setmaxmem without --live/--config/--current: args dom, memory
 * (u64 KiB). qemuDomainSetMaxMemory is SetMemoryFlags(MEM_MAXIMUM). */
static enum rpc_result h_set_max_memory(struct rpc_call *call, struct xdr_reader *args,
                                        struct xdr_writer *ret, struct rpc_error *err)
{
    (void)ret;
    DomArg d = { 0 };
    get_dom(args, &d);
    uint64_t kib = xdr_get_u64(args);
    g_autoptr(HvdDomain) dom = args_dom(args, &d, err);
    if (!dom)
        return RPC_REPLY_ERROR;
    hvd_domain_set_memory(dom, kib, 4u /* VIR_DOMAIN_MEM_MAXIMUM */, done_void,
                          rpc_call_defer(call));
    return RPC_REPLY_DEFERRED;
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
        done_void(dom, NULL, gerr, bc->call);
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
    get_dom(args, &d);
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
    g_autoptr(HvdDomain) dom = args_dom(args, &d, err);
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
        return done_void(dom, NULL, gerr, data);
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
    get_dom(args, &d);
    uint32_t max_stats = xdr_get_u32(args);
    uint32_t flags = xdr_get_u32(args);
    g_autoptr(HvdDomain) dom = args_dom(args, &d, err);
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
    get_dom(args, &d);
    int32_t period = xdr_get_i32(args);
    uint32_t flags = xdr_get_u32(args);
    g_autoptr(HvdDomain) dom = args_dom(args, &d, err);
    if (!dom)
        return RPC_REPLY_ERROR;
    hvd_domain_set_memory_stats_period(dom, period, flags, done_void, rpc_call_defer(call));
    return RPC_REPLY_DEFERRED;
}

/* libvirt-qemu proc 1: text passthrough to the worker's monitor. A QMP
 * error is an RPC success (§11); the reply line goes back verbatim. */
static enum rpc_result h_qemu_monitor_command(struct rpc_call *call, struct xdr_reader *args,
                                              struct xdr_writer *ret, struct rpc_error *err)
{
    (void)ret;
    DomArg d = { 0 };
    get_dom(args, &d);
    g_autofree char *cmd = xdr_get_string(args, REMOTE_STRING_MAX);
    uint32_t flags = xdr_get_u32(args);
    g_autoptr(HvdDomain) dom = args_dom(args, &d, err);
    if (!dom)
        return RPC_REPLY_ERROR;
    if (flags & ~QEMU_MONITOR_COMMAND_HMP) {
        rpc_error_set(err, VIR_ERR_INVALID_ARG, VIR_FROM_QEMU,
                      "unsupported flags (0x%x) in function qemuDomainQemuMonitorCommandWithFiles",
                      flags & ~QEMU_MONITOR_COMMAND_HMP);
        return RPC_REPLY_ERROR;
    }
    hvd_domain_monitor_command(dom, cmd, flags & QEMU_MONITOR_COMMAND_HMP, done_string,
                               rpc_call_defer(call));
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
        done_void(dom, NULL, gerr, vc->call);
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
    get_dom(args, &d);
    int32_t maxinfo = xdr_get_i32(args);
    int32_t maplen = xdr_get_i32(args);
    g_autoptr(HvdDomain) dom = args_dom(args, &d, err);
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
    get_dom(args, &d);
    int32_t ncpumaps = xdr_get_i32(args);
    int32_t maplen = xdr_get_i32(args);
    uint32_t flags = xdr_get_u32(args);
    g_autoptr(HvdDomain) dom = args_dom(args, &d, err);
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
        return fail(err, gerr);
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

/* ------------------------------------------------------------ devices */

/* ATTACH_DEVICE / DETACH_DEVICE (args dom, xml: the live change, as
 * qemuDomainAttachDevice) and the _FLAGS forms (args dom, xml, flags). */
static enum rpc_result device_common(struct xdr_reader *args, bool with_flags, bool attach,
                                     struct rpc_error *err)
{
    DomArg d = { 0 };
    get_dom(args, &d);
    g_autofree char *xml = xdr_get_string(args, REMOTE_STRING_MAX);
    uint32_t flags = with_flags ? xdr_get_u32(args) : 1u /* VIR_DOMAIN_AFFECT_LIVE */;
    g_autoptr(HvdDomain) dom = args_dom(args, &d, err);
    if (!dom)
        return RPC_REPLY_ERROR;
    GError *gerr = NULL;
    bool ok = attach ? hvd_domain_attach_device(dom, xml, flags, &gerr)
                     : hvd_domain_detach_device(dom, xml, flags, &gerr);
    if (!ok)
        return fail(err, gerr);
    return RPC_REPLY_OK;
}

#define DEVICE_HANDLER(fn_name, with_flags, attach)                                         \
    static enum rpc_result fn_name(struct rpc_call *call, struct xdr_reader *args,          \
                                   struct xdr_writer *ret, struct rpc_error *err)           \
    {                                                                                       \
        (void)call;                                                                         \
        (void)ret;                                                                          \
        return device_common(args, with_flags, attach, err);                                \
    }

DEVICE_HANDLER(h_attach_device, false, true)
DEVICE_HANDLER(h_attach_device_flags, true, true)
DEVICE_HANDLER(h_detach_device, false, false)
DEVICE_HANDLER(h_detach_device_flags, true, false)

/* ------------------------------------------------------------ console (§8) */

/* One `virsh console` session: a stream of the client that called
 * DOMAIN_OPEN_CONSOLE, attached to the domain's console. Ends when
 * either side does; whoever ends it frees it. */
typedef struct {
    HvdDomain *dom;
    struct rpc_stream *stream;
} ConsoleSession;

static void console_session_free(ConsoleSession *s)
{
    hvd_domain_unref(s->dom);
    g_free(s);
}

/* stream -> guest */
static size_t session_data(void *opaque, const uint8_t *buf, size_t len)
{
    ConsoleSession *s = opaque;
    size_t taken = 0;
    hvd_domain_console_input(s->dom, buf, len, &taken);
    return taken;
}

static void session_writable(void *opaque)
{
    ConsoleSession *s = opaque;
    hvd_domain_console_resume(s->dom);
}

static void session_closed(void *opaque, enum rpc_stream_close_reason reason)
{
    ConsoleSession *s = opaque;
    log_debug("domain %s: console stream closed (%d)", hvd_domain_name(s->dom), (int)reason);
    hvd_domain_close_console(s->dom, s);
    console_session_free(s);
}

static const struct rpc_stream_ops session_stream_ops = {
    .data = session_data,
    .writable = session_writable,
    .closed = session_closed,
};

/* guest -> stream */
static bool session_output(gpointer data, const uint8_t *buf, size_t len)
{
    ConsoleSession *s = data;
    return rpc_stream_send(s->stream, buf, len);
}

static void session_input_ready(gpointer data)
{
    ConsoleSession *s = data;
    rpc_stream_rx_ready(s->stream);
}

static void session_hangup(gpointer data, bool taken_over)
{
    ConsoleSession *s = data;
    if (taken_over) {
        struct rpc_error e = { 0 };
        rpc_error_set(&e, VIR_ERR_OPERATION_FAILED, VIR_FROM_QEMU,
                      "console of domain '%s' was taken over by another session (force)",
                      hvd_domain_name(s->dom));
        rpc_stream_abort(s->stream, &e);
        rpc_error_clear(&e);
    } else {
        /* The guest's console is gone (the domain stopped): end of data. */
        rpc_stream_finish(s->stream);
    }
    console_session_free(s);
}

static const HvdConsoleClientOps session_console_ops = {
    .output = session_output,
    .input_ready = session_input_ready,
    .hangup = session_hangup,
};

static enum rpc_result h_open_console(struct rpc_call *call, struct xdr_reader *args,
                                      struct xdr_writer *ret, struct rpc_error *err)
{
    (void)ret;
    DomArg d = { 0 };
    get_dom(args, &d);
    g_autofree char *dev_name = xdr_get_optional_string(args, REMOTE_STRING_MAX);
    uint32_t flags = xdr_get_u32(args);
    g_autoptr(HvdDomain) dom = args_dom(args, &d, err);
    if (!dom)
        return RPC_REPLY_ERROR;
    ConsoleSession *s = g_new0(ConsoleSession, 1);
    s->dom = hvd_domain_ref(dom);
    s->stream = rpc_stream_new(call, &session_stream_ops, s, err);
    if (!s->stream) {
        console_session_free(s);
        return RPC_REPLY_ERROR;
    }
    GError *gerr = NULL;
    if (!hvd_domain_open_console(dom, dev_name, flags, &session_console_ops, s, &gerr)) {
        rpc_stream_discard(s->stream);
        console_session_free(s);
        return fail(err, gerr);
    }
    /* The empty reply goes out now; console output follows from the main
     * loop, so it never precedes the reply (§8). */
    return RPC_REPLY_OK;
}

/* ------------------------------------------------------------ events (§7) */

void remote_domain_event_put_dom(struct xdr_writer *w, const char *name, const uint8_t uuid[16],
                                 int id)
{
    xdr_put_string(w, name, REMOTE_STRING_MAX);
    xdr_put_opaque_fixed(w, uuid, 16);
    xdr_put_i32(w, id);
}

/* Legacy registrations (CONNECT_DOMAIN_EVENT_REGISTER_ANY, proc 167): a
 * set of event IDs per client; events go out as the old procedures
 * (107 lifecycle, 169 reboot, 276 balloon change) without a callbackID.
 * Stock clients use these only when SUPPORTS_FEATURE(14) says 0. */
#define LEGACY_EVENTS_KEY "domain-events-legacy"
#define EVENT_ID_MAX 26 /* VIR_DOMAIN_EVENT_ID_MEMORY_DEVICE_SIZE_CHANGE in 9.0 */

static guint32 *legacy_set(struct rpc_client *c, bool create)
{
    guint32 *set = rpc_client_get_data(c, LEGACY_EVENTS_KEY);
    if (!set && create) {
        set = g_new0(guint32, 1);
        rpc_client_set_data(c, LEGACY_EVENTS_KEY, set, g_free);
    }
    return set;
}

static enum rpc_result h_legacy_register(struct rpc_call *call, struct xdr_reader *args,
                                         struct xdr_writer *ret, struct rpc_error *err)
{
    (void)ret;
    int32_t id = xdr_get_i32(args);
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    if (id < 0 || id > EVENT_ID_MAX) {
        rpc_error_set(err, VIR_ERR_INVALID_ARG, VIR_FROM_NONE, "unsupported event ID %d", id);
        return RPC_REPLY_ERROR;
    }
    guint32 *set = legacy_set(call->client, true);
    if (*set & (1u << id)) {
        rpc_error_set(err, VIR_ERR_INTERNAL_ERROR, VIR_FROM_NONE,
                      "domain event %d already registered", id);
        return RPC_REPLY_ERROR;
    }
    *set |= 1u << id;
    return RPC_REPLY_OK;
}

static enum rpc_result h_legacy_deregister(struct rpc_call *call, struct xdr_reader *args,
                                           struct xdr_writer *ret, struct rpc_error *err)
{
    (void)ret;
    int32_t id = xdr_get_i32(args);
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    guint32 *set = legacy_set(call->client, false);
    if (id < 0 || id > EVENT_ID_MAX || !set || !(*set & (1u << id))) {
        rpc_error_set(err, VIR_ERR_INTERNAL_ERROR, VIR_FROM_NONE,
                      "domain event %d not registered", id);
        return RPC_REPLY_ERROR;
    }
    *set &= ~(1u << id);
    return RPC_REPLY_OK;
}

struct legacy_emit {
    int event_id;
    int32_t proc;
    const struct xdr_writer *msg;
    unsigned sent;
};

static void legacy_emit_one(struct rpc_client *c, void *data)
{
    struct legacy_emit *e = data;
    guint32 *set = legacy_set(c, false);
    if (!set || !(*set & (1u << e->event_id)))
        return;
    rpc_client_send_message(c, RPC_PROG_REMOTE, e->proc, 1, e->msg->data, e->msg->len);
    e->sent++;
}

unsigned remote_domain_event_send(int event_id, const uint8_t uuid[16], int32_t legacy_proc,
                                  int32_t callback_proc, const struct xdr_writer *msg)
{
    if (msg->failed)
        return 0;
    unsigned sent = remote_domain_event_emit(event_id, uuid, callback_proc, msg->data, msg->len);
    struct legacy_emit e = { event_id, legacy_proc, msg, 0 };
    rpc_foreach_client(legacy_emit_one, &e);
    return sent + e.sent;
}

/* §7: lifecycle msg = dom, event, detail. */
static void on_lifecycle(HvdDomain *dom, int event, int detail, gpointer user_data)
{
    (void)user_data;
    struct xdr_writer w;
    xdr_writer_init(&w, RPC_PAYLOAD_MAX);
    put_dom(&w, dom);
    xdr_put_i32(&w, event);
    xdr_put_i32(&w, detail);
    remote_domain_event_send(EVENT_ID_LIFECYCLE, hvd_domain_uuid(dom), REMOTE_PROC_DOMAIN_EVENT_LIFECYCLE,
                             REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE, &w);
    xdr_writer_free(&w);
}

/* §7: reboot msg = dom; balloon change msg = dom, actual (u64 KiB). */
static void on_other_event(HvdDomain *dom, int event_id, uint64_t value, gpointer user_data)
{
    (void)user_data;
    struct xdr_writer w;
    xdr_writer_init(&w, RPC_PAYLOAD_MAX);
    put_dom(&w, dom);
    if (event_id == EVENT_ID_REBOOT) {
        remote_domain_event_send(EVENT_ID_REBOOT, hvd_domain_uuid(dom), REMOTE_PROC_DOMAIN_EVENT_REBOOT,
                                 REMOTE_PROC_DOMAIN_EVENT_CALLBACK_REBOOT, &w);
    } else if (event_id == EVENT_ID_BALLOON_CHANGE) {
        xdr_put_u64(&w, value);
        remote_domain_event_send(EVENT_ID_BALLOON_CHANGE, hvd_domain_uuid(dom),
                                 REMOTE_PROC_DOMAIN_EVENT_BALLOON_CHANGE, REMOTE_PROC_DOMAIN_EVENT_CALLBACK_BALLOON_CHANGE, &w);
    }
    xdr_writer_free(&w);
}

/* ------------------------------------------------------------ registration */

void remote_domain_register(void)
{
    /* What a read-only connection may call: daemon/remote_procs.def. */
    const struct {
        int proc;
        rpc_handler fn;
        unsigned flags;
    } table[] = {
        { REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS, h_list_all },
        { REMOTE_PROC_CONNECT_NUM_OF_DOMAINS, h_num_active },
        { REMOTE_PROC_CONNECT_NUM_OF_DEFINED_DOMAINS, h_num_defined },
        { REMOTE_PROC_CONNECT_LIST_DOMAINS, h_list_ids },
        { REMOTE_PROC_CONNECT_LIST_DEFINED_DOMAINS, h_list_defined },
        { REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME, h_lookup_name },
        { REMOTE_PROC_DOMAIN_LOOKUP_BY_UUID, h_lookup_uuid },
        { REMOTE_PROC_DOMAIN_LOOKUP_BY_ID, h_lookup_id },
        { REMOTE_PROC_DOMAIN_DEFINE_XML, h_define },
        { REMOTE_PROC_DOMAIN_DEFINE_XML_FLAGS, h_define_flags },
        { REMOTE_PROC_DOMAIN_UNDEFINE, h_undefine },
        { REMOTE_PROC_DOMAIN_UNDEFINE_FLAGS, h_undefine_flags },
        { REMOTE_PROC_DOMAIN_GET_INFO, h_get_info },
        { REMOTE_PROC_DOMAIN_GET_STATE, h_get_state },
        { REMOTE_PROC_DOMAIN_GET_XML_DESC, h_get_xml },
        { REMOTE_PROC_DOMAIN_IS_ACTIVE, h_is_active },
        { REMOTE_PROC_DOMAIN_IS_PERSISTENT, h_is_persistent },
        { REMOTE_PROC_DOMAIN_IS_UPDATED, h_is_updated },
        { REMOTE_PROC_DOMAIN_GET_AUTOSTART, h_get_autostart },
        { REMOTE_PROC_DOMAIN_SET_AUTOSTART, h_set_autostart },
        { REMOTE_PROC_DOMAIN_GET_OS_TYPE, h_get_os_type },
        { REMOTE_PROC_DOMAIN_GET_MAX_MEMORY, h_get_max_memory },
        { REMOTE_PROC_DOMAIN_GET_VCPUS_FLAGS, h_get_vcpus_flags },
        { REMOTE_PROC_DOMAIN_GET_VCPUS, h_get_vcpus },
        { REMOTE_PROC_DOMAIN_GET_VCPU_PIN_INFO, h_get_vcpu_pin_info },
        { REMOTE_PROC_NODE_GET_CPU_MAP, h_node_get_cpu_map, RPC_PROC_HIGH_PRIORITY },
        { REMOTE_PROC_DOMAIN_ATTACH_DEVICE, h_attach_device },
        { REMOTE_PROC_DOMAIN_ATTACH_DEVICE_FLAGS, h_attach_device_flags },
        { REMOTE_PROC_DOMAIN_DETACH_DEVICE, h_detach_device },
        { REMOTE_PROC_DOMAIN_DETACH_DEVICE_FLAGS, h_detach_device_flags },
        { REMOTE_PROC_DOMAIN_INTERFACE_STATS, h_interface_stats },
        { REMOTE_PROC_DOMAIN_MEMORY_STATS, h_memory_stats },
        { REMOTE_PROC_DOMAIN_SET_MEMORY_STATS_PERIOD, h_set_memory_stats_period },
        { REMOTE_PROC_DOMAIN_HAS_MANAGED_SAVE_IMAGE, h_has_managed_save },
        { REMOTE_PROC_DOMAIN_SNAPSHOT_NUM, h_snapshot_num },
        { REMOTE_PROC_DOMAIN_GET_MESSAGES, h_get_messages },
        { REMOTE_PROC_DOMAIN_GET_CONTROL_INFO, h_get_control_info },
        { REMOTE_PROC_DOMAIN_CREATE, h_create },
        { REMOTE_PROC_DOMAIN_CREATE_WITH_FLAGS, h_create_with_flags },
        { REMOTE_PROC_DOMAIN_CREATE_XML, h_create_xml },
        { REMOTE_PROC_DOMAIN_DESTROY, h_destroy },
        { REMOTE_PROC_DOMAIN_DESTROY_FLAGS, h_destroy_flags },
        { REMOTE_PROC_DOMAIN_SHUTDOWN, h_shutdown },
        { REMOTE_PROC_DOMAIN_SHUTDOWN_FLAGS, h_shutdown_flags },
        { REMOTE_PROC_DOMAIN_REBOOT, h_reboot },
        { REMOTE_PROC_DOMAIN_SUSPEND, h_suspend },
        { REMOTE_PROC_DOMAIN_RESUME, h_resume },
        { REMOTE_PROC_DOMAIN_SET_MEMORY, h_set_memory },
        { REMOTE_PROC_DOMAIN_SET_MEMORY_FLAGS, h_set_memory_flags },
        { REMOTE_PROC_DOMAIN_SET_MAX_MEMORY, h_set_max_memory },
        { REMOTE_PROC_DOMAIN_BLOCK_STATS, h_block_stats },
        { REMOTE_PROC_DOMAIN_BLOCK_STATS_FLAGS, h_block_stats_flags },
        { REMOTE_PROC_DOMAIN_OPEN_CONSOLE, h_open_console },
        { REMOTE_PROC_CONNECT_DOMAIN_EVENT_REGISTER_ANY, h_legacy_register, RPC_PROC_HIGH_PRIORITY },
        { REMOTE_PROC_CONNECT_DOMAIN_EVENT_DEREGISTER_ANY, h_legacy_deregister, RPC_PROC_HIGH_PRIORITY },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(table); i++)
        rpc_register(RPC_PROG_REMOTE, table[i].proc, NULL, table[i].fn, NULL, table[i].flags);
    rpc_register(RPC_PROG_QEMU, QEMU_PROC_DOMAIN_MONITOR_COMMAND, "virDomainQemuMonitorCommand",
                 h_qemu_monitor_command, NULL, 0);
    hvd_driver_set_event_sink(on_lifecycle, NULL);
    hvd_driver_set_other_event_sink(on_other_event, NULL);
    rpc_streams_init();
}
