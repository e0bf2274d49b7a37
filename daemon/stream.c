/* Streams of the remote protocol (daemon/stream.h, libvirt-rpc.md §8). */
#include "daemon/stream.h"

#include <glib.h>
#include <string.h>

#include "common/log.h"

#define STREAMS_KEY "streams"
/* While the client is not keeping up, how often its queue is looked at. */
#define TX_POLL_MS 10

enum stream_phase {
    STREAM_OPEN,
    STREAM_ENDED, /* we sent OK or ERROR; waiting for the client's confirmation */
};

struct rpc_stream {
    struct rpc_client *client; /* borrowed: the client's table owns the stream */
    uint32_t prog;
    int32_t proc;
    uint32_t serial;
    enum stream_phase phase;
    const struct rpc_stream_ops *ops;
    void *opaque;
    GByteArray *rx;   /* client bytes the owner has not taken yet */
    guint tx_poll;    /* timer while the client's output queue is above the high mark */
    bool tx_blocked;
    bool in_rx;       /* offering rx to the owner (no re-entry) */
};

static guint64 stream_key(int32_t proc, uint32_t serial)
{
    return (guint64)(uint32_t)proc << 32 | serial;
}

static void stream_free(gpointer p)
{
    struct rpc_stream *s = p;
    if (s->tx_poll)
        g_source_remove(s->tx_poll);
    g_byte_array_unref(s->rx);
    g_free(s);
}

/* The client went away (its data list is cleared) or the table is dropped:
 * tell owners of open streams, then free everything. */
static void table_destroy(gpointer p)
{
    GHashTable *table = p;
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, table);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        struct rpc_stream *s = value;
        if (s->phase == STREAM_OPEN && s->ops->closed) {
            s->phase = STREAM_ENDED;
            s->ops->closed(s->opaque, RPC_STREAM_CLOSED_DISCONNECT);
        }
    }
    g_hash_table_unref(table);
}

static GHashTable *client_streams(struct rpc_client *c, bool create)
{
    GHashTable *t = rpc_client_get_data(c, STREAMS_KEY);
    if (!t && create && rpc_client_is_alive(c)) {
        t = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, stream_free);
        rpc_client_set_data(c, STREAMS_KEY, t, table_destroy);
    }
    return t;
}

unsigned rpc_client_stream_count(struct rpc_client *c)
{
    GHashTable *t = client_streams(c, false);
    unsigned n = 0;
    GHashTableIter it;
    gpointer value;
    if (!t)
        return 0;
    g_hash_table_iter_init(&it, t);
    while (g_hash_table_iter_next(&it, NULL, &value))
        n += ((struct rpc_stream *)value)->phase == STREAM_OPEN;
    return n;
}

static void stream_remove(struct rpc_stream *s)
{
    GHashTable *t = client_streams(s->client, false);
    guint64 key = stream_key(s->proc, s->serial);
    if (t)
        g_hash_table_remove(t, &key); /* frees s */
}

static void send_packet(struct rpc_stream *s, uint32_t type, uint32_t status, const void *data,
                        size_t len)
{
    struct rpc_header hdr = {
        .prog = s->prog, .vers = RPC_PROG_VERSION, .proc = s->proc,
        .type = type, .serial = s->serial, .status = status,
    };
    rpc_client_send_frame(s->client, &hdr, data, len);
}

static void send_error_packet(struct rpc_stream *s, uint32_t type, const struct rpc_error *err)
{
    struct xdr_writer w;
    xdr_writer_init(&w, RPC_PAYLOAD_MAX);
    rpc_error_encode(&w, err);
    send_packet(s, type, RPC_STATUS_ERROR, w.data, w.len);
    xdr_writer_free(&w);
}

/* ---------------------------------------------------------------- creation */

struct rpc_stream *rpc_stream_new(const struct rpc_call *call, const struct rpc_stream_ops *ops,
                                  void *opaque, struct rpc_error *err)
{
    GHashTable *t = client_streams(call->client, true);
    if (!t) {
        rpc_error_set(err, VIR_ERR_RPC, VIR_FROM_RPC, "%s", "client is disconnected");
        return NULL;
    }
    guint64 key = stream_key(call->hdr.proc, call->hdr.serial);
    struct rpc_stream *old = g_hash_table_lookup(t, &key);
    if (old && old->phase == STREAM_OPEN) {
        rpc_error_set(err, VIR_ERR_RPC, VIR_FROM_RPC,
                      "a stream for procedure %d serial %u is already open", call->hdr.proc,
                      call->hdr.serial);
        return NULL;
    }
    struct rpc_stream *s = g_new0(struct rpc_stream, 1);
    s->client = call->client;
    s->prog = call->hdr.prog;
    s->proc = call->hdr.proc;
    s->serial = call->hdr.serial;
    s->ops = ops;
    s->opaque = opaque;
    s->rx = g_byte_array_new();
    guint64 *k = g_new(guint64, 1);
    *k = key;
    g_hash_table_replace(t, k, s); /* an ended stream with the same key is freed */
    return s;
}

/* ---------------------------------------------------------------- to the client */

static gboolean on_tx_poll(gpointer data)
{
    struct rpc_stream *s = data;
    if (rpc_client_output_queued(s->client) > RPC_STREAM_TX_LOW)
        return G_SOURCE_CONTINUE;
    s->tx_poll = 0;
    s->tx_blocked = false;
    if (s->phase == STREAM_OPEN && s->ops->writable)
        s->ops->writable(s->opaque);
    return G_SOURCE_REMOVE;
}

bool rpc_stream_can_send(const struct rpc_stream *s)
{
    return s->phase == STREAM_OPEN && rpc_client_is_alive(s->client) && !s->tx_blocked;
}

bool rpc_stream_send(struct rpc_stream *s, const void *data, size_t len)
{
    if (s->phase != STREAM_OPEN || !rpc_client_is_alive(s->client))
        return false;
    const uint8_t *p = data;
    while (len > 0) {
        size_t n = len < RPC_STREAM_CHUNK_MAX ? len : RPC_STREAM_CHUNK_MAX;
        /* §8: raw bytes, not XDR, not padded. */
        send_packet(s, RPC_TYPE_STREAM, RPC_STATUS_CONTINUE, p, n);
        p += n;
        len -= n;
    }
    if (rpc_client_output_queued(s->client) > RPC_STREAM_TX_HIGH) {
        s->tx_blocked = true;
        if (!s->tx_poll)
            s->tx_poll = g_timeout_add(TX_POLL_MS, on_tx_poll, s);
        return false;
    }
    return true;
}

void rpc_stream_finish(struct rpc_stream *s)
{
    if (s->phase != STREAM_OPEN)
        return;
    s->phase = STREAM_ENDED;
    send_packet(s, RPC_TYPE_STREAM, RPC_STATUS_OK, NULL, 0);
}

void rpc_stream_abort(struct rpc_stream *s, const struct rpc_error *err)
{
    if (s->phase != STREAM_OPEN)
        return;
    s->phase = STREAM_ENDED;
    send_error_packet(s, RPC_TYPE_STREAM, err);
}

void rpc_stream_discard(struct rpc_stream *s)
{
    stream_remove(s);
}

/* ---------------------------------------------------------------- from the client */

/* Offer pending client bytes to the owner. */
static void rx_offer(struct rpc_stream *s)
{
    if (s->in_rx)
        return;
    s->in_rx = true;
    while (s->phase == STREAM_OPEN && s->rx->len > 0) {
        size_t took = s->ops->data(s->opaque, s->rx->data, s->rx->len);
        if (took == 0)
            break;
        if (took > s->rx->len)
            took = s->rx->len;
        g_byte_array_remove_range(s->rx, 0, (guint)took);
    }
    s->in_rx = false;
}

void rpc_stream_rx_ready(struct rpc_stream *s)
{
    rx_offer(s);
}

/* The client closed its side: confirm with an empty STREAM/OK (libvirtd
 * does this for a finish and for an abort alike), tell the owner. */
static void close_by_client(struct rpc_stream *s, enum rpc_stream_close_reason reason)
{
    s->phase = STREAM_ENDED;
    send_packet(s, RPC_TYPE_STREAM, RPC_STATUS_OK, NULL, 0);
    const struct rpc_stream_ops *ops = s->ops;
    void *opaque = s->opaque;
    stream_remove(s);
    if (ops->closed)
        ops->closed(opaque, reason);
}

static bool stream_hook(struct rpc_client *c, const struct rpc_header *hdr, const uint8_t *payload,
                        size_t len)
{
    GHashTable *t = client_streams(c, false);
    guint64 key = stream_key(hdr->proc, hdr->serial);
    struct rpc_stream *s = t ? g_hash_table_lookup(t, &key) : NULL;
    if (!s || s->prog != hdr->prog) {
        /* Stream data is not acknowledged: packets may cross a close. */
        log_debug("client %u: stream packet for proc %d serial %u without a stream, dropped",
                  rpc_client_id(c), hdr->proc, hdr->serial);
        return true;
    }
    if (s->phase == STREAM_ENDED) {
        /* The client's confirmation of our end (or data sent before it saw
         * it): the stream is over now. */
        if (hdr->type == RPC_TYPE_STREAM && hdr->status != RPC_STATUS_CONTINUE)
            stream_remove(s);
        return true;
    }
    if (hdr->type == RPC_TYPE_STREAM_HOLE) {
        /* Only sparse streams (volume up/download) have holes. */
        struct rpc_error err = { 0 };
        rpc_error_set(&err, VIR_ERR_RPC, VIR_FROM_RPC, "%s", "Unexpected stream hole");
        s->phase = STREAM_ENDED;
        send_error_packet(s, RPC_TYPE_STREAM, &err);
        rpc_error_clear(&err);
        const struct rpc_stream_ops *ops = s->ops;
        void *opaque = s->opaque;
        if (ops->closed)
            ops->closed(opaque, RPC_STREAM_CLOSED_ERROR);
        return true;
    }
    switch (hdr->status) {
    case RPC_STATUS_CONTINUE:
        if (len == 0)
            return true;
        if (s->rx->len + len > RPC_STREAM_RX_MAX) {
            struct rpc_error err = { 0 };
            rpc_error_set(&err, VIR_ERR_RPC, VIR_FROM_RPC,
                          "stream input overflow: more than %u bytes not yet consumed",
                          RPC_STREAM_RX_MAX);
            log_warn("client %u: %s (proc %d serial %u)", rpc_client_id(c), err.message,
                     hdr->proc, hdr->serial);
            s->phase = STREAM_ENDED;
            send_error_packet(s, RPC_TYPE_STREAM, &err);
            rpc_error_clear(&err);
            if (s->ops->closed)
                s->ops->closed(s->opaque, RPC_STREAM_CLOSED_ERROR);
            return true;
        }
        g_byte_array_append(s->rx, payload, (guint)len);
        rx_offer(s);
        return true;
    case RPC_STATUS_OK:
        close_by_client(s, RPC_STREAM_CLOSED_FINISH);
        return true;
    case RPC_STATUS_ERROR:
        close_by_client(s, RPC_STREAM_CLOSED_ABORT);
        return true;
    default: {
        /* libvirtd: a REPLY carrying an RPC error, and the stream is gone. */
        struct rpc_error err = { 0 };
        rpc_error_set(&err, VIR_ERR_RPC, VIR_FROM_RPC, "stream aborted with unexpected status %u",
                      hdr->status);
        send_error_packet(s, RPC_TYPE_REPLY, &err);
        rpc_error_clear(&err);
        const struct rpc_stream_ops *ops = s->ops;
        void *opaque = s->opaque;
        stream_remove(s);
        if (ops->closed)
            ops->closed(opaque, RPC_STREAM_CLOSED_ERROR);
        return true;
    }
    }
}

void rpc_streams_init(void)
{
    rpc_set_stream_hook(stream_hook);
}
