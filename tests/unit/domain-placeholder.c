/* Empty domain lists for the RPC layer's tests, which run without the
 * domain driver (test-rpc, test-rpc-replay): the five listing procedures
 * answer "no domains", as libvirtd with no domains does. hvd itself gets
 * them from the driver (daemon/remote_domain.c). A later rpc_register()
 * of the same numbers replaces them. */
#include "tests/unit/domain-placeholder.h"

#include "daemon/rpc.h"

static enum rpc_result list_all_domains(struct rpc_call *call, struct xdr_reader *args,
                                        struct xdr_writer *ret, struct rpc_error *err)
{
    xdr_get_i32(args); /* need_results */
    xdr_get_u32(args); /* flags */
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    xdr_put_u32(ret, 0); /* domains<> */
    xdr_put_u32(ret, 0); /* ret */
    return RPC_REPLY_OK;
}

static enum rpc_result count_zero(struct rpc_call *call, struct xdr_reader *args,
                                  struct xdr_writer *ret, struct rpc_error *err)
{
    xdr_put_i32(ret, 0);
    return RPC_REPLY_OK;
}

static enum rpc_result list_empty(struct rpc_call *call, struct xdr_reader *args,
                                  struct xdr_writer *ret, struct rpc_error *err)
{
    int32_t max = xdr_get_i32(args); /* maxids / maxnames */
    if (!rpc_args_done(args, err))
        return RPC_REPLY_ERROR;
    if (max < 0 || (uint32_t)max > REMOTE_DOMAIN_LIST_MAX) {
        rpc_error_set(err, VIR_ERR_RPC, VIR_FROM_RPC, "too many remote domains requested: %d > %u",
                      max, REMOTE_DOMAIN_LIST_MAX);
        return RPC_REPLY_ERROR;
    }
    xdr_put_u32(ret, 0);
    return RPC_REPLY_OK;
}

void domain_placeholder_register(void)
{
    const unsigned flags = RPC_PROC_HIGH_PRIORITY;
    rpc_register(RPC_PROG_REMOTE, REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS, NULL, list_all_domains,
                 NULL, flags);
    rpc_register(RPC_PROG_REMOTE, REMOTE_PROC_CONNECT_NUM_OF_DOMAINS, NULL, count_zero, NULL, flags);
    rpc_register(RPC_PROG_REMOTE, REMOTE_PROC_CONNECT_NUM_OF_DEFINED_DOMAINS, NULL, count_zero,
                 NULL, flags);
    rpc_register(RPC_PROG_REMOTE, REMOTE_PROC_CONNECT_LIST_DOMAINS, NULL, list_empty, NULL, flags);
    rpc_register(RPC_PROG_REMOTE, REMOTE_PROC_CONNECT_LIST_DEFINED_DOMAINS, NULL, list_empty, NULL,
                 flags);
}
