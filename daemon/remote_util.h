/* Pieces the REMOTE program's driver handlers share (domains:
 * remote_domain.c, node devices: remote_nodedev.c): a driver's GError as
 * libvirtd sends it, and the CONNECT_LIST_ALL_* argument and limit checks
 * (libvirt's virnetprotocol.x and kbase/internals/rpc.html). */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "daemon/rpc.h"

/* How a driver maps one of its GErrors (or NULL) to libvirt's error code
 * and domain. */
typedef void (*remote_error_unpack_fn)(const GError *gerr, int *code, int *domain);

/* A driver GError as libvirtd sends it: code and domain from `unpack`,
 * message verbatim (it carries libvirt's prefix), str1 the template and
 * str2 the detail. */
void remote_error_from_gerror(struct rpc_error *out, remote_error_unpack_fn unpack,
                              const GError *gerr);
/* Set err from gerr and free gerr; RPC_REPLY_ERROR, for `return`. */
enum rpc_result remote_fail(struct rpc_error *err, remote_error_unpack_fn unpack, GError *gerr);
/* Answer a deferred call with a driver's GError (gerr is not freed). */
void remote_call_finish_gerror(struct rpc_call *call, remote_error_unpack_fn unpack,
                               const GError *gerr);

/* One CONNECT_LIST_ALL_* procedure (§10): args { int need_results;
 * unsigned flags; }, ret { entries<limit>; unsigned ret; }. */
struct remote_list_all {
    GPtrArray *(*list)(unsigned flags, GError **gerr); /* the driver's list */
    void (*put_entry)(struct xdr_writer *w, gpointer item);
    remote_error_unpack_fn unpack;
    uint32_t limit;   /* §2 limit of the reply array */
    const char *what; /* plural, for "too many <what> '<n>' for limit '<limit>'" */
};

/* Answer a CONNECT_LIST_ALL_* call: need_results 0 sends an empty array
 * and only the count (§3). */
enum rpc_result remote_list_all_reply(const struct remote_list_all *kind,
                                      struct xdr_reader *args, struct xdr_writer *ret,
                                      struct rpc_error *err);
