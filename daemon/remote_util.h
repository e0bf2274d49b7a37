/* Pieces the REMOTE program's driver handlers share (domains:
 * remote_domain.c, node devices: remote_nodedev.c): a driver's GError as
 * libvirtd sends it, and the CONNECT_LIST_ALL_* argument and limit checks
 * (../shared/ref/libvirt-rpc.md §2, §3, §4). */
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

/* CONNECT_LIST_ALL_* args { int need_results; unsigned flags; } (§10);
 * false with err set when they did not decode. */
bool remote_list_all_args(struct xdr_reader *args, int32_t *need_results, uint32_t *flags,
                          struct rpc_error *err);
/* §2 limit of a CONNECT_LIST_ALL_* reply array: false with libvirt's
 * "too many <what> '<len>' for limit '<limit>'" in err when len exceeds it. */
bool remote_list_within_limit(guint len, uint32_t limit, const char *what,
                              struct rpc_error *err);
