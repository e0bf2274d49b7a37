/* Domain procedures (REMOTE program) and the libvirt-qemu monitor command,
 * answered by the domain driver (drivers/domain/driver.h). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "daemon/xdr.h"

/* Register every domain handler and the driver's lifecycle event sink.
 * Call after hvd_driver_init(). */
void remote_domain_register(void);

/* Send a domain event to every client that asked for event_id: as
 * callback_proc (callbackID + msg) to CALLBACK_REGISTER_ANY registrations
 * (remote_domain_event_emit) and as legacy_proc (msg alone) to clients
 * that used the legacy CONNECT_DOMAIN_EVENT_REGISTER_ANY. msg: the event's
 * XDR body starting with remote_nonnull_domain (§7). Returns the number of
 * messages sent. */
unsigned remote_domain_event_send(int event_id, const uint8_t uuid[16], int32_t legacy_proc,
                                  int32_t callback_proc, const struct xdr_writer *msg);
/* remote_nonnull_domain { name, uuid[16], id }. */
void remote_domain_event_put_dom(struct xdr_writer *w, const char *name, const uint8_t uuid[16],
                                 int id);
