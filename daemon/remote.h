/* Connection-level procedures of the REMOTE program (handshake, host info,
 * event and close-callback registration), registered with rpc_register().
 * Domain procedures are not here: the domain driver registers its own
 * handlers (daemon/remote_domain.c). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "daemon/rpc.h"

struct remote_config {
    /* URI answered by CONNECT_GET_URI after an open with an empty name,
     * e.g. "hvd:///system" or (libvirt's socket paths) "qemu:///system". */
    const char *default_uri;
    /* Hypervisor worker binary named in the capabilities XML. */
    const char *emulator;
};

/* Register every connection-level handler. The config is copied. */
void remote_register(const struct remote_config *cfg);

/* URI check of CONNECT_OPEN: schemes hvd and qemu, no host, path /system or
 * /session, any remaining query. Returns the libvirt error code to send
 * (VIR_ERR_OK when accepted) and fills err. Exposed for tests. */
int remote_check_uri(const char *name, struct rpc_error *err);

/* ---- domain events (§7) ----
 * Clients register with CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY(eventID,
 * optional domain); hvd hands out daemon-wide callback IDs 0, 1, ...
 * The domain driver emits an event with remote_domain_event_emit(): `msg` is
 * the XDR of the event's msg struct WITHOUT the leading callbackID (e.g. for
 * lifecycle, proc 318: remote_nonnull_domain, event, detail); it is sent to
 * every client whose registration matches event_id and (no domain filter or)
 * the domain `uuid`, prefixed with that registration's callbackID, as a
 * MESSAGE with serial 1. Returns how many clients got it. */
unsigned remote_domain_event_emit(int event_id, const uint8_t uuid[16], int32_t proc,
                                  const void *msg, size_t msg_len);

/* Number of event registrations of a client (tests). */
unsigned remote_client_event_count(struct rpc_client *c);
/* Whether the client registered a close callback (proc 360). */
int remote_client_close_callback(struct rpc_client *c);
