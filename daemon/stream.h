/* Streams of the libvirt remote protocol (libvirt's kbase/internals/rpc.html, "Stream"):
 * after a stream procedure (DOMAIN_OPEN_CONSOLE) is answered, the call's
 * (prog, proc, serial) names a stream on that client, and STREAM packets
 * carry raw bytes both ways (status CONTINUE), the end (status OK, empty)
 * or an abort (status ERROR, a remote_error).
 *
 * What libvirtd does, and so what this module does:
 *  - client sends OK (finish): the daemon confirms with an empty STREAM/OK;
 *  - client sends ERROR (abort): also confirmed with an empty STREAM/OK;
 *  - any other status: a REPLY with an RPC error "stream aborted with
 *    unexpected status N";
 *  - packets for a stream that does not exist (any more): dropped, since
 *    stream data is not acknowledged and may cross a close;
 *  - the daemon ends a stream with an empty STREAM/OK (end of data, e.g.
 *    the guest stopped) or a STREAM/ERROR carrying the error; the client's
 *    confirmation of either is swallowed;
 *  - data to the client goes in packets of at most 262120 bytes
 *    (VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX).
 *
 * Flow control. To the client: rpc_stream_send() returns false once the
 * client's output queue holds more than RPC_STREAM_TX_HIGH bytes; the
 * producer stops and is told by ops->writable when the queue has drained
 * below RPC_STREAM_TX_LOW (libvirtd likewise keeps one data message in
 * flight). From the client: ops->data returns how many bytes it took; the
 * rest is kept in order (at most RPC_STREAM_RX_MAX bytes, beyond which the
 * stream is aborted with an error naming the overflow) and offered again
 * when the consumer calls rpc_stream_rx_ready().
 *
 * Lifetime: the stream belongs to the client. The owner (e.g. the console)
 * holds a pointer until either it ends the stream itself (rpc_stream_finish
 * / rpc_stream_abort: no callback follows) or ops->closed is called (the
 * client finished, aborted or went away). Single-threaded, main loop. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/rpc.h"

#define RPC_STREAM_CHUNK_MAX 262120u        /* §8: VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX */
#define RPC_STREAM_TX_HIGH (256u * 1024u)   /* stop producing above this many queued bytes */
#define RPC_STREAM_TX_LOW (64u * 1024u)     /* ...and resume below this */
#define RPC_STREAM_RX_MAX (1024u * 1024u)   /* client bytes not yet taken by the owner */

struct rpc_stream;

enum rpc_stream_close_reason {
    RPC_STREAM_CLOSED_FINISH,     /* the client sent STREAM/OK */
    RPC_STREAM_CLOSED_ABORT,      /* the client sent STREAM/ERROR */
    RPC_STREAM_CLOSED_DISCONNECT, /* the client went away */
    RPC_STREAM_CLOSED_ERROR,      /* a protocol or overflow error; an error was sent */
};

struct rpc_stream_ops {
    /* Bytes from the client. Returns how many were taken (0..len); the rest
     * is offered again after rpc_stream_rx_ready(). */
    size_t (*data)(void *opaque, const uint8_t *buf, size_t len);
    /* The client's output queue drained after rpc_stream_send() said stop. */
    void (*writable)(void *opaque);
    /* The stream is gone (not called when the owner ended it). */
    void (*closed)(void *opaque, enum rpc_stream_close_reason reason);
};

/* Install the rpc.c stream hook. Idempotent. */
void rpc_streams_init(void);

/* A stream for the call being answered (call->hdr gives prog, proc and
 * serial). Returns NULL (err set) when that client already has a stream
 * with the same proc and serial. The caller answers the call itself. */
struct rpc_stream *rpc_stream_new(const struct rpc_call *call, const struct rpc_stream_ops *ops,
                                  void *opaque, struct rpc_error *err);

/* Queue data to the client (split into packets). False when the client
 * is not keeping up (wait for ops->writable) or the stream is closed; the
 * data is queued either way while the client is alive. */
bool rpc_stream_send(struct rpc_stream *s, const void *data, size_t len);
/* Whether rpc_stream_send() would accept more now. */
bool rpc_stream_can_send(const struct rpc_stream *s);
/* The owner can take data again: pending client bytes are offered. */
void rpc_stream_rx_ready(struct rpc_stream *s);
/* End of data: empty STREAM/OK. The owner must forget the stream. */
void rpc_stream_finish(struct rpc_stream *s);
/* Abort with an error: STREAM/ERROR carrying err. The owner must forget
 * the stream. */
void rpc_stream_abort(struct rpc_stream *s, const struct rpc_error *err);

/* Forget a stream that was never used (the call that made it failed):
 * nothing is sent, no callback. */
void rpc_stream_discard(struct rpc_stream *s);

/* Number of open streams of a client (tests). */
unsigned rpc_client_stream_count(struct rpc_client *c);
