/* Helpers for the RPC unit tests: a fake transport that records the frames
 * an rpc_client sends, hex conversion and call-frame construction. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/rpc.h"

struct fake_transport {
    GPtrArray *frames; /* GBytes, in send order */
    int closes;
    bool close_flush;
};

static inline void fake_send(void *opaque, uint8_t *frame, size_t len)
{
    struct fake_transport *t = opaque;
    g_ptr_array_add(t->frames, g_bytes_new_take(frame, len));
}

static inline void fake_close(void *opaque, bool flush)
{
    struct fake_transport *t = opaque;
    t->closes++;
    t->close_flush = flush;
}

static const struct rpc_client_ops fake_ops = { .send = fake_send, .close = fake_close };

static inline struct rpc_client *fake_client(struct fake_transport *t, bool readonly)
{
    memset(t, 0, sizeof(*t));
    t->frames = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    return rpc_client_new(readonly, &fake_ops, t);
}

static inline void fake_free(struct fake_transport *t, struct rpc_client *c)
{
    rpc_client_disconnected(c);
    rpc_client_unref(c);
    g_ptr_array_unref(t->frames);
}

static inline uint8_t *hex_decode(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    uint8_t *out = g_malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        char b[3] = { hex[2 * i], hex[2 * i + 1], 0 };
        out[i] = (uint8_t)strtoul(b, NULL, 16);
    }
    *len = n;
    return out;
}

static inline char *hex_encode(const uint8_t *data, size_t len)
{
    char *out = g_malloc(len * 2 + 1);
    for (size_t i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", data[i]);
    out[len * 2] = '\0';
    return out;
}

/* A CALL frame for (prog, proc, serial) with the given payload. */
static inline GBytes *make_frame(uint32_t prog, int32_t proc, uint32_t type, uint32_t serial,
                                 const void *payload, size_t len)
{
    struct rpc_header h = { prog, 1, proc, type, serial, 0 };
    size_t flen;
    uint8_t *f = rpc_frame_build(&h, payload, len, &flen);
    return g_bytes_new_take(f, flen);
}

static inline bool feed_bytes(struct rpc_client *c, GBytes *b)
{
    gsize n;
    const uint8_t *d = g_bytes_get_data(b, &n);
    return rpc_client_feed(c, d, n);
}

/* Header of recorded/sent frame i. */
static inline struct rpc_header frame_header(GBytes *b)
{
    struct rpc_header h = { 0 };
    gsize n;
    const uint8_t *d = g_bytes_get_data(b, &n);
    if (n >= 28)
        rpc_header_decode(d + 4, &h);
    return h;
}

/* Payload reader over a frame. */
static inline void frame_payload(GBytes *b, struct xdr_reader *r)
{
    gsize n;
    const uint8_t *d = g_bytes_get_data(b, &n);
    xdr_reader_init(r, n >= 28 ? d + 28 : NULL, n >= 28 ? n - 28 : 0);
}

/* Decode a remote_error payload: code, domain, message. */
static inline bool decode_error(GBytes *b, int *code, int *domain, char **message)
{
    struct xdr_reader r;
    frame_payload(b, &r);
    *code = xdr_get_i32(&r);
    *domain = xdr_get_i32(&r);
    *message = xdr_get_optional_string(&r, 1 << 22);
    return xdr_ok(&r);
}
