#include "daemon/keepalive.h"

#include <glib.h>

#include "common/log.h"

static unsigned ka_interval = KEEPALIVE_DEFAULT_INTERVAL;
static unsigned ka_count = KEEPALIVE_DEFAULT_COUNT;

#define KA_KEY "keepalive"

struct keepalive_state {
    struct rpc_client *client; /* not a reference: the state dies with the client */
    guint timer;
    gint64 last_rx;   /* monotonic µs of the last inbound frame */
    unsigned unanswered;
};

void keepalive_configure(unsigned interval_seconds, unsigned count)
{
    ka_interval = interval_seconds;
    ka_count = count ? count : 1;
}

static void send_keepalive(struct rpc_client *c, int proc)
{
    /* §6: MESSAGE, serial 0, status OK, empty payload. */
    rpc_client_send_message(c, RPC_PROG_KEEPALIVE, proc, 0, NULL, 0);
}

void keepalive_handle(struct rpc_client *c, const struct rpc_header *hdr)
{
    if (hdr->type != RPC_TYPE_MESSAGE) {
        log_debug("client %u: keepalive frame of type %u ignored", rpc_client_id(c), hdr->type);
        return;
    }
    if (hdr->proc == KEEPALIVE_PROC_PING)
        send_keepalive(c, KEEPALIVE_PROC_PONG);
    else if (hdr->proc != KEEPALIVE_PROC_PONG)
        log_debug("client %u: unknown keepalive procedure %d ignored", rpc_client_id(c), hdr->proc);
    /* A PONG needs no answer; keepalive_activity() already reset the count. */
}

void keepalive_activity(struct rpc_client *c)
{
    struct keepalive_state *ka = rpc_client_get_data(c, KA_KEY);
    if (ka) {
        ka->last_rx = g_get_monotonic_time();
        ka->unanswered = 0;
    }
}

static gboolean keepalive_tick(gpointer data)
{
    struct keepalive_state *ka = data;
    gint64 idle = g_get_monotonic_time() - ka->last_rx;
    if (idle < (gint64)ka_interval * G_USEC_PER_SEC)
        return G_SOURCE_CONTINUE;
    if (ka->unanswered >= ka_count) {
        log_warn("client %u: no answer to %u keepalive pings in %u s, closing it",
                 rpc_client_id(ka->client), ka->unanswered, ka->unanswered * ka_interval);
        ka->timer = 0;
        rpc_client_close_now(ka->client, "keepalive timeout");
        return G_SOURCE_REMOVE;
    }
    ka->unanswered++;
    send_keepalive(ka->client, KEEPALIVE_PROC_PING);
    return G_SOURCE_CONTINUE;
}

static void keepalive_state_free(void *data)
{
    struct keepalive_state *ka = data;
    if (ka->timer)
        g_source_remove(ka->timer);
    g_free(ka);
}

void keepalive_start(struct rpc_client *c)
{
    if (ka_interval == 0 || rpc_client_get_data(c, KA_KEY))
        return;
    struct keepalive_state *ka = g_new0(struct keepalive_state, 1);
    ka->client = c;
    ka->last_rx = g_get_monotonic_time();
    ka->timer = g_timeout_add_seconds(ka_interval, keepalive_tick, ka);
    rpc_client_set_data(c, KA_KEY, ka, keepalive_state_free);
}
