/* libvirt remote protocol: framing, header codec, per-client protocol state
 * and dispatch (libvirt's virnetprotocol.x and kbase/internals/rpc.html).
 *
 * The RPC layer knows frames, XDR and dispatch only. Procedures are answered
 * by handlers that other modules register with rpc_register(); remote.c
 * registers the connection-level ones, the domain driver registers its own.
 * A client here is transport-neutral: the server (server.c) feeds it bytes
 * and receives whole frames to write through struct rpc_client_ops, and the
 * unit tests do the same without sockets. Single-threaded: everything runs
 * on the daemon's GLib main loop. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/remote_protocol.h"
#include "daemon/xdr.h"

/* §2: the six header words after the length word. */
struct rpc_header {
    uint32_t prog;
    uint32_t vers;
    int32_t proc;
    uint32_t type;
    uint32_t serial;
    uint32_t status;
};

/* Decode the 24 header bytes at `data` (after the length word). */
void rpc_header_decode(const uint8_t *data, struct rpc_header *hdr);
/* Build a whole frame: length word, header, payload. malloc'ed. */
uint8_t *rpc_frame_build(const struct rpc_header *hdr, const void *payload, size_t payload_len,
                         size_t *frame_len);

/* §4 remote_error, as libvirtd fills it: message = str1 with %s replaced by
 * str2, int1 = int2 = -1, dom/net/str3 absent. */
struct rpc_error {
    int code;
    int domain;
    int level;
    char *message;
    char *str1;
    char *str2;
};

/* Set an error the way libvirt words it: `code` selects libvirt's message
 * prefix ("Domain not found: %s", "internal error: %s", ...), the formatted
 * detail fills %s. Overwrites an earlier error. */
void rpc_error_set(struct rpc_error *err, int code, int domain, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void rpc_error_clear(struct rpc_error *err);
/* Set an error from a message that already carries libvirt's prefix (a
 * driver's GError): message verbatim, str1 the code's template, str2 the
 * detail after the prefix, as libvirtd fills them. */
void rpc_error_set_message(struct rpc_error *err, int code, int domain, const char *message);
/* Encode as remote_error (11 fields, §4). */
void rpc_error_encode(struct xdr_writer *w, const struct rpc_error *err);
/* The prefix template libvirt uses for a code, e.g. "internal error: %s". */
const char *rpc_error_template(int code);

struct rpc_client;

/* How a client reaches its transport. */
struct rpc_client_ops {
    /* Queue one whole frame for writing; takes ownership of `frame` (free()). */
    void (*send)(void *opaque, uint8_t *frame, size_t len);
    /* Close the transport: after the queued frames are written when `flush`,
     * at once otherwise. The server then calls rpc_client_disconnected(). */
    void (*close)(void *opaque, bool flush);
    /* Optional: bytes queued for writing and not yet written (stream flow
     * control, daemon/stream.h); 0 when absent. */
    size_t (*queued)(void *opaque);
};

enum rpc_result {
    RPC_REPLY_OK,       /* ret holds the encoded <proc>_ret */
    RPC_REPLY_ERROR,    /* err is set */
    RPC_REPLY_DEFERRED, /* the handler called rpc_call_defer() and answers later */
};

/* A call being dispatched. Valid only during the handler, unless deferred. */
struct rpc_call {
    struct rpc_client *client;
    struct rpc_header hdr;
    void *handler_data; /* the pointer given to rpc_register() */
};

/* args: the decoder over the call's payload; ret: where to encode the reply
 * payload; err: set it and return RPC_REPLY_ERROR on failure. Decoding
 * failures: call rpc_args_done() (sets libvirt's decode error). */
typedef enum rpc_result (*rpc_handler)(struct rpc_call *call, struct xdr_reader *args,
                                       struct xdr_writer *ret, struct rpc_error *err);

enum rpc_proc_flags {
    /* Allowed before CONNECT_OPEN (default: "hypervisor connection not open"). */
    RPC_PROC_BEFORE_OPEN = 1u << 0,
    /* The .x "priority:high" annotation (§10): informational for now; all
     * handlers run on the main loop and must not block. */
    RPC_PROC_HIGH_PRIORITY = 1u << 2,
};

/* Register (or replace: the later registration wins) the handler for
 * (prog, proc). `api_name` names the public API in error messages; NULL =
 * look it up in the protocol's name table. */
void rpc_register(uint32_t prog, int32_t proc, const char *api_name, rpc_handler handler,
                  void *handler_data, unsigned flags);
/* Forget every registration (tests). */
void rpc_unregister_all(void);
bool rpc_is_registered(uint32_t prog, int32_t proc);

/* Call at the end of decoding args: false (and libvirt's "Unable to decode
 * message payload" RPC error in err) when the args did not decode. */
bool rpc_args_done(struct xdr_reader *args, struct rpc_error *err);

/* ---- deferred replies ---- */
/* Keep a call for answering later (returns a heap copy holding a client
 * reference); the handler then returns RPC_REPLY_DEFERRED. */
struct rpc_call *rpc_call_defer(const struct rpc_call *call);
/* Answer a deferred call and free it: ret (may be NULL for void) when err is
 * NULL, else the error. A client that went away in between is skipped. */
void rpc_call_finish(struct rpc_call *call, const struct xdr_writer *ret,
                     const struct rpc_error *err);

/* ---- clients ---- */
struct rpc_client *rpc_client_new(bool readonly, const struct rpc_client_ops *ops, void *opaque);
struct rpc_client *rpc_client_ref(struct rpc_client *c);
void rpc_client_unref(struct rpc_client *c);
/* The transport is gone: drop per-client state, stop sending. */
void rpc_client_disconnected(struct rpc_client *c);

/* Feed bytes read from the transport. Complete frames are dispatched at once.
 * Returns false when the client must be closed (malformed, truncated or
 * oversized frame; reason logged); nothing else is affected. */
bool rpc_client_feed(struct rpc_client *c, const uint8_t *data, size_t len);

/* Bytes of an incomplete frame buffered so far (0 between frames). */
size_t rpc_client_pending_input(const struct rpc_client *c);

unsigned rpc_client_id(const struct rpc_client *c);
bool rpc_client_is_readonly(const struct rpc_client *c);
bool rpc_client_is_alive(const struct rpc_client *c);
/* Connection state set by CONNECT_OPEN. */
bool rpc_client_is_open(const struct rpc_client *c);
void rpc_client_set_open(struct rpc_client *c, const char *uri, bool readonly);
const char *rpc_client_uri(const struct rpc_client *c);
/* Close the client after the reply being dispatched has been written. */
void rpc_client_close_after_reply(struct rpc_client *c);
/* Close at once (keepalive timeout, fatal protocol error). */
void rpc_client_close_now(struct rpc_client *c, const char *reason);

/* Per-client data for other modules, keyed by a static string; `destroy` runs
 * when it is replaced or the client goes away. */
void rpc_client_set_data(struct rpc_client *c, const char *key, void *data, void (*destroy)(void *));
void *rpc_client_get_data(struct rpc_client *c, const char *key);

/* Send an unsolicited frame (event or keepalive): type MESSAGE, status OK.
 * Events use serial 1 as libvirtd does (§2), keepalive serial 0. */
void rpc_client_send_message(struct rpc_client *c, uint32_t prog, int32_t proc, uint32_t serial,
                             const void *payload, size_t len);

/* Send a frame with the given header as is (streams: type STREAM with the
 * stream's proc and serial). */
void rpc_client_send_frame(struct rpc_client *c, const struct rpc_header *hdr, const void *payload,
                           size_t len);
/* Bytes queued to this client and not yet written (0 if the transport
 * cannot tell). */
size_t rpc_client_output_queued(const struct rpc_client *c);

/* Every live client, for broadcasts; fn must not free clients. */
void rpc_foreach_client(void (*fn)(struct rpc_client *c, void *data), void *data);

/* Hook for STREAM packets (console streams come later): returns false to
 * close the client. Without a hook, stream packets are logged and dropped. */
typedef bool (*rpc_stream_hook)(struct rpc_client *c, const struct rpc_header *hdr,
                                const uint8_t *payload, size_t len);
void rpc_set_stream_hook(rpc_stream_hook hook);

/* Frames received / answered (tests and logs). */
struct rpc_stats {
    uint64_t frames_in;
    uint64_t replies;
    uint64_t errors;
};
const struct rpc_stats *rpc_client_stats(const struct rpc_client *c);
