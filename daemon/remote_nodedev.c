/* Node device procedures of the REMOTE program: XDR args -> node-device
 * driver -> XDR ret (layouts: libvirt's remote_protocol.x; what virsh
 * and python send: §12 and traces 10, 11, 12). Detach, reattach and reset
 * touch the kernel (driver unbind can take a while), so they run on a
 * worker thread and answer through a deferred reply. */
#include "daemon/remote_nodedev.h"

#include <gio/gio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "daemon/remote_util.h"
#include "daemon/rpc.h"
#include "drivers/nodedev/nodedev.h"

/* §2 size limits of node device lists. */
#define NODE_DEVICE_LIST_MAX 65536u
#define NODE_DEVICE_CAPS_LIST_MAX 65536u

static enum rpc_result fail(struct rpc_error *err, GError *gerr)
{
    return remote_fail(err, hvd_nodedev_error_unpack, gerr);
}

static void put_names(struct xdr_writer *ret, GPtrArray *names, guint count)
{
    xdr_put_u32(ret, count);
    for (guint i = 0; i < count; i++)
        xdr_put_string(ret, names->pdata[i], REMOTE_STRING_MAX);
}

/* Legacy lists (maxnames): never more than asked for (§3). */
static bool check_maxnames(int32_t maxnames, uint32_t limit, const char *what,
                           struct rpc_error *err)
{
    if (maxnames < 0) {
        rpc_error_set(err, VIR_ERR_INVALID_ARG, VIR_FROM_NODEDEV, "maxnames must not be negative");
        return false;
    }
    if ((uint32_t)maxnames > limit) {
        rpc_error_set(err, VIR_ERR_RPC, VIR_FROM_RPC, "maxnames > %s", what);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------ lists */

/* remote_nonnull_node_device is { string name; }: the same bytes as a
 * name. */
static void put_device(struct xdr_writer *w, gpointer name)
{
    xdr_put_string(w, name, REMOTE_STRING_MAX);
}

static enum rpc_result h_list_all(struct rpc_call *call, struct xdr_reader *args,
                                  struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    static const struct remote_list_all devices = {
        .list = hvd_nodedev_list_all,
        .put_entry = put_device,
        .unpack = hvd_nodedev_error_unpack,
        .limit = NODE_DEVICE_LIST_MAX,
        .what = "node devices",
    };
    return remote_list_all_reply(&devices, args, ret, err);
}

static enum rpc_result h_num_of_devices(struct rpc_call *call, struct xdr_reader *args,
                                        struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    g_autofree char *cap = xdr_get_optional_string(args, REMOTE_STRING_MAX);
    uint32_t flags = xdr_get_u32(args);
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    GError *gerr = NULL;
    g_autoptr(GPtrArray) names = hvd_nodedev_list_names(cap, flags, &gerr);
    if (!names)
        return fail(err, gerr);
    xdr_put_i32(ret, (int32_t)names->len);
    return RPC_REPLY_OK;
}

static enum rpc_result h_list_devices(struct rpc_call *call, struct xdr_reader *args,
                                      struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    g_autofree char *cap = xdr_get_optional_string(args, REMOTE_STRING_MAX);
    int32_t maxnames = xdr_get_i32(args);
    uint32_t flags = xdr_get_u32(args);
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    if (!check_maxnames(maxnames, NODE_DEVICE_LIST_MAX, "REMOTE_NODE_DEVICE_LIST_MAX", err))
        return RPC_REPLY_ERROR;
    GError *gerr = NULL;
    g_autoptr(GPtrArray) names = hvd_nodedev_list_names(cap, flags, &gerr);
    if (!names)
        return fail(err, gerr);
    put_names(ret, names, MIN(names->len, (guint)maxnames));
    return RPC_REPLY_OK;
}

/* ------------------------------------------------------------ one device */

/* Decode { string name; } (plus nothing else) for the simple procedures. */
static char *get_name_only(struct xdr_reader *args, struct rpc_error *err)
{
    char *name = xdr_get_string(args, REMOTE_STRING_MAX);
    if (!rpc_args_done(args, err)) {
        free(name);
        return NULL;
    }
    return name;
}

static enum rpc_result h_lookup_by_name(struct rpc_call *call, struct xdr_reader *args,
                                        struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    g_autofree char *name = get_name_only(args, err);
    if (!name)
        return RPC_REPLY_ERROR;
    GError *gerr = NULL;
    if (!hvd_nodedev_lookup(name, &gerr))
        return fail(err, gerr);
    xdr_put_string(ret, name, REMOTE_STRING_MAX);
    return RPC_REPLY_OK;
}

static enum rpc_result h_get_xml_desc(struct rpc_call *call, struct xdr_reader *args,
                                      struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    g_autofree char *name = xdr_get_string(args, REMOTE_STRING_MAX);
    uint32_t flags = xdr_get_u32(args);
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    GError *gerr = NULL;
    g_autofree char *xml = hvd_nodedev_get_xml(name, flags, &gerr);
    if (!xml)
        return fail(err, gerr);
    xdr_put_string(ret, xml, REMOTE_STRING_MAX);
    return RPC_REPLY_OK;
}

static enum rpc_result h_get_parent(struct rpc_call *call, struct xdr_reader *args,
                                    struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    g_autofree char *name = get_name_only(args, err);
    if (!name)
        return RPC_REPLY_ERROR;
    GError *gerr = NULL;
    g_autofree char *parent = NULL;
    if (!hvd_nodedev_get_parent(name, &parent, &gerr))
        return fail(err, gerr);
    xdr_put_optional_string(ret, parent, REMOTE_STRING_MAX);
    return RPC_REPLY_OK;
}

static enum rpc_result h_num_of_caps(struct rpc_call *call, struct xdr_reader *args,
                                     struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    g_autofree char *name = get_name_only(args, err);
    if (!name)
        return RPC_REPLY_ERROR;
    GError *gerr = NULL;
    g_autoptr(GPtrArray) caps = hvd_nodedev_list_caps(name, &gerr);
    if (!caps)
        return fail(err, gerr);
    xdr_put_i32(ret, (int32_t)caps->len);
    return RPC_REPLY_OK;
}

static enum rpc_result h_list_caps(struct rpc_call *call, struct xdr_reader *args,
                                   struct xdr_writer *ret, struct rpc_error *err)
{
    (void)call;
    g_autofree char *name = xdr_get_string(args, REMOTE_STRING_MAX);
    int32_t maxnames = xdr_get_i32(args);
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    if (!check_maxnames(maxnames, NODE_DEVICE_CAPS_LIST_MAX, "REMOTE_NODE_DEVICE_CAPS_LIST_MAX",
                        err))
        return RPC_REPLY_ERROR;
    GError *gerr = NULL;
    g_autoptr(GPtrArray) caps = hvd_nodedev_list_caps(name, &gerr);
    if (!caps)
        return fail(err, gerr);
    put_names(ret, caps, MIN(caps->len, (guint)maxnames));
    return RPC_REPLY_OK;
}

/* ------------------------------------------------------------ detach, reattach, reset */

enum op_kind { OP_DETACH, OP_REATTACH, OP_RESET };

typedef struct {
    enum op_kind kind;
    char *name;
    char *driver_name;
    struct rpc_call *call; /* deferred */
} Op;

static void op_free(gpointer data)
{
    Op *op = data;
    g_free(op->name);
    g_free(op->driver_name);
    g_free(op);
}

static void op_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
    (void)source;
    (void)cancel;
    Op *op = data;
    GError *gerr = NULL;
    bool ok = false;
    switch (op->kind) {
    case OP_DETACH: ok = hvd_nodedev_detach(op->name, op->driver_name, &gerr); break;
    case OP_REATTACH: ok = hvd_nodedev_reattach(op->name, &gerr); break;
    case OP_RESET: ok = hvd_nodedev_reset(op->name, &gerr); break;
    }
    if (ok)
        g_task_return_boolean(task, TRUE);
    else
        g_task_return_error(task, gerr);
}

/* Back on the main loop: answer the deferred call. */
static void op_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
    (void)source;
    (void)user_data;
    GTask *task = G_TASK(res);
    Op *op = g_task_get_task_data(task);
    GError *gerr = NULL;
    if (g_task_propagate_boolean(task, &gerr)) {
        rpc_call_finish(op->call, NULL, NULL);
    } else {
        remote_call_finish_gerror(op->call, hvd_nodedev_error_unpack, gerr);
        g_error_free(gerr);
    }
}

static enum rpc_result start_op(struct rpc_call *call, enum op_kind kind, char *name,
                                char *driver_name)
{
    Op *op = g_new0(Op, 1);
    op->kind = kind;
    op->name = name;
    op->driver_name = driver_name;
    op->call = rpc_call_defer(call);
    GTask *task = g_task_new(NULL, NULL, op_done, NULL);
    g_task_set_task_data(task, op, op_free);
    g_task_run_in_thread(task, op_thread);
    g_object_unref(task);
    return RPC_REPLY_DEFERRED;
}

static enum rpc_result h_dettach(struct rpc_call *call, struct xdr_reader *args,
                                 struct xdr_writer *ret, struct rpc_error *err)
{
    (void)ret;
    char *name = get_name_only(args, err);
    if (!name)
        return RPC_REPLY_ERROR;
    return start_op(call, OP_DETACH, name, NULL);
}

static enum rpc_result h_detach_flags(struct rpc_call *call, struct xdr_reader *args,
                                      struct xdr_writer *ret, struct rpc_error *err)
{
    (void)ret;
    g_autofree char *name = xdr_get_string(args, REMOTE_STRING_MAX);
    g_autofree char *driver_name = xdr_get_optional_string(args, REMOTE_STRING_MAX);
    uint32_t flags = xdr_get_u32(args);
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    if (flags) {
        rpc_error_set(err, VIR_ERR_INVALID_ARG, VIR_FROM_NODEDEV,
                      "unsupported flags (0x%x) in function %s", flags, "virNodeDeviceDetachFlags");
        return RPC_REPLY_ERROR;
    }
    return start_op(call, OP_DETACH, g_steal_pointer(&name), g_steal_pointer(&driver_name));
}

static enum rpc_result h_re_attach(struct rpc_call *call, struct xdr_reader *args,
                                   struct xdr_writer *ret, struct rpc_error *err)
{
    (void)ret;
    char *name = get_name_only(args, err);
    if (!name)
        return RPC_REPLY_ERROR;
    return start_op(call, OP_REATTACH, name, NULL);
}

static enum rpc_result h_reset(struct rpc_call *call, struct xdr_reader *args,
                               struct xdr_writer *ret, struct rpc_error *err)
{
    (void)ret;
    char *name = get_name_only(args, err);
    if (!name)
        return RPC_REPLY_ERROR;
    return start_op(call, OP_RESET, name, NULL);
}

/* ------------------------------------------------------------ registration */

bool remote_nodedev_register(const char *state_dir)
{
    HvdNodedevConfig cfg = {
        .sysfs_root = g_getenv("HVD_NODEDEV_SYSFS_ROOT"),
        .state_dir = state_dir,
        .pci_ids = g_getenv("HVD_NODEDEV_PCI_IDS"),
    };
    g_autoptr(GError) gerr = NULL;
    if (!hvd_nodedev_init(&cfg, &gerr)) {
        log_error("node device driver: %s", gerr->message);
        return false;
    }
    const unsigned query = RPC_PROC_HIGH_PRIORITY;
    rpc_register(RPC_PROG_REMOTE, REMOTE_PROC_CONNECT_LIST_ALL_NODE_DEVICES, NULL, h_list_all, NULL, query);
    rpc_register(RPC_PROG_REMOTE, REMOTE_PROC_NODE_NUM_OF_DEVICES, NULL, h_num_of_devices, NULL, query);
    rpc_register(RPC_PROG_REMOTE, REMOTE_PROC_NODE_LIST_DEVICES, NULL, h_list_devices, NULL, query);
    rpc_register(RPC_PROG_REMOTE, REMOTE_PROC_NODE_DEVICE_LOOKUP_BY_NAME, NULL, h_lookup_by_name, NULL,
                 query);
    rpc_register(RPC_PROG_REMOTE, REMOTE_PROC_NODE_DEVICE_GET_XML_DESC, NULL, h_get_xml_desc, NULL, 0);
    rpc_register(RPC_PROG_REMOTE, REMOTE_PROC_NODE_DEVICE_GET_PARENT, NULL, h_get_parent, NULL, query);
    rpc_register(RPC_PROG_REMOTE, REMOTE_PROC_NODE_DEVICE_NUM_OF_CAPS, NULL, h_num_of_caps, NULL, query);
    rpc_register(RPC_PROG_REMOTE, REMOTE_PROC_NODE_DEVICE_LIST_CAPS, NULL, h_list_caps, NULL, query);
    rpc_register(RPC_PROG_REMOTE, REMOTE_PROC_NODE_DEVICE_DETTACH, NULL, h_dettach, NULL, 0);
    rpc_register(RPC_PROG_REMOTE, REMOTE_PROC_NODE_DEVICE_DETACH_FLAGS, NULL, h_detach_flags, NULL, 0);
    rpc_register(RPC_PROG_REMOTE, REMOTE_PROC_NODE_DEVICE_RE_ATTACH, NULL, h_re_attach, NULL, 0);
    rpc_register(RPC_PROG_REMOTE, REMOTE_PROC_NODE_DEVICE_RESET, NULL, h_reset, NULL, 0);
    return true;
}
