/* tap network backend (virtio.md §10): /dev/net/tun opened by interface
 * name, or tap fds handed in already open (the daemon opens them so the
 * worker needs no CAP_NET_ADMIN). Shared by e1000 (bare frames) and
 * virtio-net (vnet header, offloads, multiqueue). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "hv/backends/net.h"

/* TUNSETOFFLOAD flags (linux/if_tun.h). */
#define TAP_OFFLOAD_CSUM 0x01
#define TAP_OFFLOAD_TSO4 0x02
#define TAP_OFFLOAD_TSO6 0x04
#define TAP_OFFLOAD_TSO_ECN 0x08
#define TAP_OFFLOAD_UFO 0x10

struct tap_config {
    /* Either an interface name to attach to (created if missing and we may;
     * NULL or "" lets the kernel pick tapN) ... */
    const char *ifname;
    /* ... or nfds pre-opened tap fds (ownership is taken, also on failure);
     * then ifname is ignored and the name is read back with TUNGETIFF. */
    const int *fds;
    unsigned nfds;
    unsigned queues;        /* with ifname: 0/1 = one queue, >1 = IFF_MULTI_QUEUE */
    unsigned vnet_hdr_len;  /* 0 = no IFF_VNET_HDR; 10 or 12 = TUNSETVNETHDRSZ */
};

/* Open or adopt the tap. Errors name the interface and the cause
 * ("permission denied", "no such device", "busy: attached elsewhere or
 * created with other flags", "fd 7 is not a tap device"). */
struct net_backend *tap_open(const struct tap_config *cfg, char *err, size_t errlen);

/* TUNSETOFFLOAD on every queue (what the guest can receive). 0 or -errno. */
int tap_set_offload(struct net_backend *be, unsigned flags);
/* TUNSETVNETHDRSZ on every queue (10 or 12) and remember it. 0 or -errno. */
int tap_set_vnet_hdr_len(struct net_backend *be, unsigned len);
/* TUNSETQUEUE: attach (enabled) or detach one queue of a multiqueue tap. */
int tap_set_queue_enabled(struct net_backend *be, unsigned queue, bool enabled);
