/* DOMAIN_OPEN_CONSOLE (§8): a `virsh console` session is a stream of the
 * client (daemon/stream.c) attached to the domain's serial console
 * (drivers/domain/console.h through the driver). */
#include "common/log.h"
#include "daemon/remote_domain_priv.h"
#include "daemon/remote_util.h"
#include "daemon/stream.h"

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
    remote_domain_get_arg(args, &d);
    g_autofree char *dev_name = xdr_get_optional_string(args, REMOTE_STRING_MAX);
    uint32_t flags = xdr_get_u32(args);
    g_autoptr(HvdDomain) dom = remote_domain_lookup_arg(args, &d, err);
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
        return remote_domain_fail(err, gerr);
    }
    /* The empty reply goes out now; console output follows from the main
     * loop, so it never precedes the reply (§8). */
    return RPC_REPLY_OK;
}

void remote_domain_console_register(void)
{
    static const RemoteDomainProc procs[] = {
        { REMOTE_PROC_DOMAIN_OPEN_CONSOLE, h_open_console },
    };
    remote_domain_register_procs(procs, G_N_ELEMENTS(procs));
    rpc_streams_init();
}
