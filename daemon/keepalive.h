/* Keepalive program 0x6b656570 (libvirt's virkeepaliveprotocol.x): answer
 * every PING with a PONG; once a client has asked for feature 10
 * (PROGRAM_KEEPALIVE), PING it after `interval` seconds without any inbound
 * packet and drop it after `count` unanswered PINGs (libvirtd's defaults:
 * interval 5, count 5). */
#pragma once
#include "daemon/rpc.h"

#define KEEPALIVE_DEFAULT_INTERVAL 5
#define KEEPALIVE_DEFAULT_COUNT 5

/* interval 0 disables hvd's own PINGs (PINGs are still answered). */
void keepalive_configure(unsigned interval_seconds, unsigned count);
/* A keepalive-program frame arrived. */
void keepalive_handle(struct rpc_client *c, const struct rpc_header *hdr);
/* Any frame arrived from the client: it is alive. */
void keepalive_activity(struct rpc_client *c);
/* The client advertised keepalive support: start watching it. */
void keepalive_start(struct rpc_client *c);
