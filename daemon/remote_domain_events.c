/* Domain events to clients (§7): the driver's lifecycle, reboot and
 * balloon events as callback-style messages (remote_domain_event_emit) and
 * as the legacy procedures for clients that registered the old way. */
#include <string.h>

#include "daemon/remote.h"
#include "daemon/remote_domain.h"
#include "daemon/remote_domain_priv.h"
#include "daemon/remote_util.h"

/* §7 virDomainEventID values. */
#define EVENT_ID_LIFECYCLE 0
#define EVENT_ID_REBOOT 1
#define EVENT_ID_BALLOON_CHANGE 13

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
    remote_domain_put(&w, dom);
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
    remote_domain_put(&w, dom);
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

void remote_domain_events_register(void)
{
    static const RemoteDomainProc procs[] = {
        { REMOTE_PROC_CONNECT_DOMAIN_EVENT_REGISTER_ANY, h_legacy_register, RPC_PROC_HIGH_PRIORITY },
        { REMOTE_PROC_CONNECT_DOMAIN_EVENT_DEREGISTER_ANY, h_legacy_deregister, RPC_PROC_HIGH_PRIORITY },
    };
    remote_domain_register_procs(procs, G_N_ELEMENTS(procs));
    hvd_driver_set_event_sink(on_lifecycle, NULL);
    hvd_driver_set_other_event_sink(on_other_event, NULL);
}
