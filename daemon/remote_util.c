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

enum rpc_result remote_list_all_reply(const struct remote_list_all *kind,
                                      struct xdr_reader *args, struct xdr_writer *ret,
                                      struct rpc_error *err)
{
    int32_t need_results = xdr_get_i32(args);
    uint32_t flags = xdr_get_u32(args);
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    GError *gerr = NULL;
    g_autoptr(GPtrArray) items = kind->list(flags, &gerr);
    if (!items)
        return remote_fail(err, kind->unpack, gerr);
    if (items->len > kind->limit) {
        rpc_error_set(err, VIR_ERR_RPC, VIR_FROM_RPC, "too many %s '%u' for limit '%u'",
                      kind->what, items->len, kind->limit);
        return RPC_REPLY_ERROR;
    }
    guint sent = need_results ? items->len : 0;
    xdr_put_u32(ret, sent);
    for (guint i = 0; i < sent; i++)
        kind->put_entry(ret, g_ptr_array_index(items, i));
    xdr_put_u32(ret, items->len);
    return RPC_REPLY_OK;
}
