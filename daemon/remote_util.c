/* Shared pieces of the REMOTE program's driver handlers; see remote_util.h. */
#include "daemon/remote_util.h"

void remote_error_from_gerror(struct rpc_error *out, remote_error_unpack_fn unpack,
                              const GError *gerr)
{
    int code, domain;
    unpack(gerr, &code, &domain);
    rpc_error_set_message(out, code, domain, gerr ? gerr->message : "unknown error");
}

enum rpc_result remote_fail(struct rpc_error *err, remote_error_unpack_fn unpack, GError *gerr)
{
    remote_error_from_gerror(err, unpack, gerr);
    g_error_free(gerr);
    return RPC_REPLY_ERROR;
}

void remote_call_finish_gerror(struct rpc_call *call, remote_error_unpack_fn unpack,
                               const GError *gerr)
{
    struct rpc_error e = { 0 };
    remote_error_from_gerror(&e, unpack, gerr);
    rpc_call_finish(call, NULL, &e);
    rpc_error_clear(&e);
}

bool remote_list_all_args(struct xdr_reader *args, int32_t *need_results, uint32_t *flags,
                          struct rpc_error *err)
{
    *need_results = xdr_get_i32(args);
    *flags = xdr_get_u32(args);
    return rpc_args_done(args, err);
}

bool remote_list_within_limit(guint len, uint32_t limit, const char *what,
                              struct rpc_error *err)
{
    if (len <= limit)
        return true;
    rpc_error_set(err, VIR_ERR_RPC, VIR_FROM_RPC, "too many %s '%u' for limit '%u'", what, len,
                  limit);
    return false;
}
