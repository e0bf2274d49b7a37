/* Domain procedures of the REMOTE program and the libvirt-qemu program's
 * monitor command: one small handler each, XDR args -> domain driver ->
 * XDR ret (layouts: libvirt's remote_protocol.x). The driver
 * (drivers/domain/driver.h) decides everything; slow calls are deferred
 * and answered from the driver's callback. This file: lists, lookups,
 * definitions, queries, lifecycle, devices and registration; statistics,
 * events and the console beside it (remote_domain_priv.h). */
#include "daemon/remote_domain.h"

#include <string.h>

#include "daemon/remote_domain_priv.h"
#include "daemon/remote_util.h"

/* §11 libvirt-qemu program. */
#define QEMU_PROC_DOMAIN_MONITOR_COMMAND 1
#define QEMU_MONITOR_COMMAND_HMP 1u

/* ------------------------------------------------------------ helpers */

void remote_domain_unpack_error(const GError *gerr, int *code, int *domain)
{
    hvd_driver_error_unpack(gerr, code, domain);
}

enum rpc_result remote_domain_fail(struct rpc_error *err, GError *gerr)
{
    return remote_fail(err, remote_domain_unpack_error, gerr);
}

void remote_domain_put(struct xdr_writer *w, HvdDomain *dom)
{
    xdr_put_string(w, hvd_domain_name(dom), REMOTE_STRING_MAX);
    xdr_put_opaque_fixed(w, hvd_domain_uuid(dom), 16);
    xdr_put_i32(w, hvd_domain_id(dom));
}

void remote_domain_get_arg(struct xdr_reader *r, DomArg *d)
{
    d->name = xdr_get_string(r, REMOTE_STRING_MAX);
    xdr_get_opaque_fixed(r, d->uuid, 16);
    xdr_get_i32(r); /* id: the client's cached value, not trusted */
}

HvdDomain *remote_domain_lookup_arg(struct xdr_reader *args, DomArg *d, struct rpc_error *err)
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
        remote_domain_fail(err, gerr);
    return dom;
}

/* ---- deferred answers */

void remote_domain_done_void(HvdDomain *dom, const char *result, const GError *gerr, gpointer data)
{
    (void)dom;
    (void)result;
    struct rpc_call *call = data;
    if (gerr)
        remote_call_finish_gerror(call, remote_domain_unpack_error, gerr);
    else
        rpc_call_finish(call, NULL, NULL);
}

static void done_dom(HvdDomain *dom, const char *result, const GError *gerr, gpointer data)
{
    if (gerr)
        return remote_domain_done_void(dom, result, gerr, data);
    struct xdr_writer w;
    xdr_writer_init(&w, RPC_PAYLOAD_MAX);
    remote_domain_put(&w, dom);
    rpc_call_finish(data, &w, NULL);
    xdr_writer_free(&w);
}

static void done_string(HvdDomain *dom, const char *result, const GError *gerr, gpointer data)
{
    if (gerr)
        return remote_domain_done_void(dom, result, gerr, data);
    struct xdr_writer w;
    xdr_writer_init(&w, RPC_PAYLOAD_MAX);
    xdr_put_string(&w, result ? result : "", REMOTE_STRING_MAX);
    rpc_call_finish(data, &w, NULL);
    xdr_writer_free(&w);
}

/* ------------------------------------------------------------ lists */

static void put_listed_dom(struct xdr_writer *w, gpointer dom)
{
    remote_domain_put(w, dom);
}

static enum rpc_result h_list_all(struct rpc_call *call, struct xdr_reader *args,
                                  struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    static const struct remote_list_all domains = {
        .list = hvd_driver_list,
        .put_entry = put_listed_dom,
        .unpack = remote_domain_unpack_error,
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
        return remote_domain_fail(err, gerr);
    remote_domain_put(ret, dom);
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
    remote_domain_get_arg(args, &d);
    uint32_t flags = with_flags ? xdr_get_u32(args) : 0;
    g_autoptr(HvdDomain) dom = remote_domain_lookup_arg(args, &d, err);
    if (!dom)
        return RPC_REPLY_ERROR;
    GError *gerr = NULL;
    if (!hvd_domain_undefine(dom, flags, &gerr))
        return remote_domain_fail(err, gerr);
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
        remote_domain_get_arg(args, &d);                                                                  \
        uint32_t flags = (nflags) ? xdr_get_u32(args) : 0;                                  \
        (void)flags;                                                                        \
        g_autoptr(HvdDomain) dom = remote_domain_lookup_arg(args, &d, err);                                 \
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
        return remote_domain_fail(err, gerr);
    xdr_put_i32(ret, state);
    xdr_put_i32(ret, reason);
    return RPC_REPLY_OK;
})

DOM_HANDLER(h_get_xml, 1, {
    g_autofree char *xml = hvd_domain_get_xml(dom, flags, &gerr);
    if (!xml)
        return remote_domain_fail(err, gerr);
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
        return remote_domain_fail(err, gerr);
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


static enum rpc_result h_set_autostart(struct rpc_call *call, struct xdr_reader *args,
                                       struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    (void)ret;
    DomArg d = { 0 };
    remote_domain_get_arg(args, &d);
    int32_t autostart = xdr_get_i32(args);
    g_autoptr(HvdDomain) dom = remote_domain_lookup_arg(args, &d, err);
    if (!dom)
        return RPC_REPLY_ERROR;
    GError *gerr = NULL;
    if (!hvd_domain_set_autostart(dom, autostart != 0, &gerr))
        return remote_domain_fail(err, gerr);
    return RPC_REPLY_OK;
}

/* ------------------------------------------------------------ lifecycle */

typedef void (*DomFlagsOp)(HvdDomain *dom, unsigned flags, HvdDomainDoneFunc fn, gpointer data);

/* Decode dom (+ flags), defer, run the driver operation; the answer comes
 * from its callback (remote_domain_done_void or done_dom). */
static enum rpc_result deferred_op(struct rpc_call *call, struct xdr_reader *args,
                                   struct rpc_error *err, bool with_flags, DomFlagsOp op,
                                   HvdDomainDoneFunc done)
{
    DomArg d = { 0 };
    remote_domain_get_arg(args, &d);
    uint32_t flags = with_flags ? xdr_get_u32(args) : 0;
    g_autoptr(HvdDomain) dom = remote_domain_lookup_arg(args, &d, err);
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

DEFERRED_HANDLER(h_create, false, hvd_domain_start, remote_domain_done_void)
DEFERRED_HANDLER(h_create_with_flags, true, hvd_domain_start, done_dom)
DEFERRED_HANDLER(h_destroy, false, hvd_domain_destroy, remote_domain_done_void)
DEFERRED_HANDLER(h_destroy_flags, true, hvd_domain_destroy, remote_domain_done_void)
DEFERRED_HANDLER(h_shutdown, false, hvd_domain_shutdown, remote_domain_done_void)
DEFERRED_HANDLER(h_shutdown_flags, true, hvd_domain_shutdown, remote_domain_done_void)
DEFERRED_HANDLER(h_reboot, true, hvd_domain_reboot, remote_domain_done_void)
DEFERRED_HANDLER(h_suspend, false, op_suspend, remote_domain_done_void)
DEFERRED_HANDLER(h_resume, false, op_resume, remote_domain_done_void)

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
        remote_call_finish_gerror(deferred, remote_domain_unpack_error, gerr);
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
    remote_domain_get_arg(args, &d);
    uint64_t kib = xdr_get_u64(args);
    /* virDomainSetMemory is the live change (qemuDomainSetMemory). */
    uint32_t flags = with_flags ? xdr_get_u32(args) : 1u /* AFFECT_LIVE */;
    g_autoptr(HvdDomain) dom = remote_domain_lookup_arg(args, &d, err);
    if (!dom)
        return RPC_REPLY_ERROR;
    hvd_domain_set_memory(dom, kib, flags, remote_domain_done_void, rpc_call_defer(call));
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
    remote_domain_get_arg(args, &d);
    uint64_t kib = xdr_get_u64(args);
    g_autoptr(HvdDomain) dom = remote_domain_lookup_arg(args, &d, err);
    if (!dom)
        return RPC_REPLY_ERROR;
    hvd_domain_set_memory(dom, kib, 4u /* VIR_DOMAIN_MEM_MAXIMUM */, remote_domain_done_void,
                          rpc_call_defer(call));
    return RPC_REPLY_DEFERRED;
}


/* libvirt-qemu proc 1: text passthrough to the worker's monitor. A QMP
 * error is an RPC success (§11); the reply line goes back verbatim. */
static enum rpc_result h_qemu_monitor_command(struct rpc_call *call, struct xdr_reader *args,
                                              struct xdr_writer *ret, struct rpc_error *err)
{
    (void)ret;
    DomArg d = { 0 };
    remote_domain_get_arg(args, &d);
    g_autofree char *cmd = xdr_get_string(args, REMOTE_STRING_MAX);
    uint32_t flags = xdr_get_u32(args);
    g_autoptr(HvdDomain) dom = remote_domain_lookup_arg(args, &d, err);
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


/* ------------------------------------------------------------ devices */

/* ATTACH_DEVICE / DETACH_DEVICE (args dom, xml: the live change, as
 * qemuDomainAttachDevice) and the _FLAGS forms (args dom, xml, flags). */
static enum rpc_result device_common(struct xdr_reader *args, bool with_flags, bool attach,
                                     struct rpc_error *err)
{
    DomArg d = { 0 };
    remote_domain_get_arg(args, &d);
    g_autofree char *xml = xdr_get_string(args, REMOTE_STRING_MAX);
    uint32_t flags = with_flags ? xdr_get_u32(args) : 1u /* VIR_DOMAIN_AFFECT_LIVE */;
    g_autoptr(HvdDomain) dom = remote_domain_lookup_arg(args, &d, err);
    if (!dom)
        return RPC_REPLY_ERROR;
    GError *gerr = NULL;
    bool ok = attach ? hvd_domain_attach_device(dom, xml, flags, &gerr)
                     : hvd_domain_detach_device(dom, xml, flags, &gerr);
    if (!ok)
        return remote_domain_fail(err, gerr);
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

/* UPDATE_DEVICE_FLAGS (args dom, xml, flags): virsh change-media; the
 * live part waits for the worker. */
static enum rpc_result h_update_device_flags(struct rpc_call *call, struct xdr_reader *args,
                                             struct xdr_writer *ret, struct rpc_error *err)
{
    (void)ret;
    DomArg d = { 0 };
    remote_domain_get_arg(args, &d);
    g_autofree char *xml = xdr_get_string(args, REMOTE_STRING_MAX);
    uint32_t flags = xdr_get_u32(args);
    g_autoptr(HvdDomain) dom = remote_domain_lookup_arg(args, &d, err);
    if (!dom)
        return RPC_REPLY_ERROR;
    hvd_domain_update_device(dom, xml, flags, remote_domain_done_void, rpc_call_defer(call));
    return RPC_REPLY_DEFERRED;
}

DEVICE_HANDLER(h_attach_device, false, true)
DEVICE_HANDLER(h_attach_device_flags, true, true)
DEVICE_HANDLER(h_detach_device, false, false)
DEVICE_HANDLER(h_detach_device_flags, true, false)


/* ------------------------------------------------------------ registration */

void remote_domain_register_procs(const RemoteDomainProc *procs, size_t n)
{
    /* What a read-only connection may call: daemon/remote_procs.def. */
    for (size_t i = 0; i < n; i++)
        rpc_register(RPC_PROG_REMOTE, procs[i].proc, NULL, procs[i].fn, NULL, procs[i].flags);
}

void remote_domain_register(void)
{
    static const RemoteDomainProc procs[] = {
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
        { REMOTE_PROC_DOMAIN_ATTACH_DEVICE, h_attach_device },
        { REMOTE_PROC_DOMAIN_ATTACH_DEVICE_FLAGS, h_attach_device_flags },
        { REMOTE_PROC_DOMAIN_DETACH_DEVICE, h_detach_device },
        { REMOTE_PROC_DOMAIN_DETACH_DEVICE_FLAGS, h_detach_device_flags },
        { REMOTE_PROC_DOMAIN_UPDATE_DEVICE_FLAGS, h_update_device_flags },
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
    };
    remote_domain_register_procs(procs, G_N_ELEMENTS(procs));
    rpc_register(RPC_PROG_QEMU, QEMU_PROC_DOMAIN_MONITOR_COMMAND, "virDomainQemuMonitorCommand",
                 h_qemu_monitor_command, NULL, 0);
    remote_domain_stats_register();
    remote_domain_events_register();
    remote_domain_console_register();
}
