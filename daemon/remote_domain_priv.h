/* What the files of the domain procedures share (daemon/remote_domain.h):
 *
 *   remote_domain.c          lists, lookups, define, queries, lifecycle,
 *                            devices, the qemu monitor command; registration
 *   remote_domain_stats.c    block, memory, interface statistics; host CPUs
 *                            and vCPUs
 *   remote_domain_events.c   domain events to clients, legacy registrations
 *   remote_domain_console.c  DOMAIN_OPEN_CONSOLE and its stream
 */
#pragma once
#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/rpc.h"
#include "daemon/xdr.h"
#include "drivers/domain/driver.h"

/* A remote_nonnull_domain argument while it is decoded. */
typedef struct {
    char *name;
    uint8_t uuid[16];
} DomArg;

/* remote_nonnull_domain: name, uuid[16], id. */
void remote_domain_put(struct xdr_writer *w, HvdDomain *dom);
void remote_domain_get_arg(struct xdr_reader *r, DomArg *d);
/* After the last argument: check the whole payload was right and find the
 * domain (a new reference). NULL with err set. */
HvdDomain *remote_domain_lookup_arg(struct xdr_reader *args, DomArg *d, struct rpc_error *err);

/* The domain driver's GErrors as libvirt error code and domain. */
void remote_domain_unpack_error(const GError *gerr, int *code, int *domain);
/* err from gerr (freed); returns RPC_REPLY_ERROR. */
enum rpc_result remote_domain_fail(struct rpc_error *err, GError *gerr);
/* HvdDomainDoneFunc answering the deferred call in data: void or the error. */
void remote_domain_done_void(HvdDomain *dom, const char *result, const GError *gerr,
                             gpointer data);

typedef struct {
    int proc;        /* REMOTE_PROC_* */
    rpc_handler fn;
    unsigned flags;  /* RPC_PROC_HIGH_PRIORITY or 0 */
} RemoteDomainProc;
void remote_domain_register_procs(const RemoteDomainProc *procs, size_t n);

void remote_domain_stats_register(void);
void remote_domain_events_register(void);
void remote_domain_console_register(void);
