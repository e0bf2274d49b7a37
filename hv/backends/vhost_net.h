/* vhost-net control plane (virtio.md §11): one /dev/vhost-net fd serves
 * one virtio-net queue pair (ring 0 = rx, ring 1 = tx). The VMM sets the
 * owner, the features, the guest memory table and the rings, then attaches
 * a tap queue fd as the backend; from then on the kernel moves the
 * packets, reading kicks from the queues' ioeventfds and signalling the
 * call eventfds. Plain ioctls; no threads of its own. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guest_mem;

#define VHOST_NET_PATH "/dev/vhost-net"

struct vhost_net {
    int fd;
    uint64_t features;          /* what the kernel offers (VHOST_GET_FEATURES) */
    bool running;               /* rings configured and backend set */
};

/* One ring as the kernel needs it: host virtual addresses of the three
 * areas (not guest physical), size, next avail index, and eventfds. */
struct vhost_net_ring {
    unsigned num;
    void *desc, *avail, *used;
    uint16_t base;
    int kick_fd;
    int call_fd;
};

/* Open /dev/vhost-net (fd < 0) or adopt fd, then VHOST_SET_OWNER and
 * VHOST_GET_FEATURES. Returns 0, or -errno with a message in err naming
 * the step ("/dev/vhost-net cannot be opened: ...", "VHOST_SET_OWNER
 * refused: ..."). On failure an adopted fd is closed. */
int vhost_net_init(struct vhost_net *vh, int fd, char *err, size_t errlen);

/* Configure and start: SET_FEATURES(features & supported), SET_MEM_TABLE
 * from every guest_mem region, per ring SET_VRING_NUM/BASE/ADDR/KICK/CALL,
 * then NET_SET_BACKEND(tap_fd) on both rings (tap_fd < 0: rings set up
 * but no backend yet). 0 or -errno with err naming the failed ioctl. */
int vhost_net_start(struct vhost_net *vh, const struct guest_mem *mem, uint64_t features,
                    const struct vhost_net_ring rings[2], int tap_fd, char *err, size_t errlen);

/* Attach (tap_fd >= 0) or detach (-1) the backend on both rings, e.g. for
 * MQ VQ_PAIRS_SET or link down. 0 or -errno. */
int vhost_net_set_backend(struct vhost_net *vh, int tap_fd);

/* Point ring 0 (rx) or 1 (tx) at another call eventfd while running
 * (VHOST_SET_VRING_CALL), e.g. the queue's KVM irqfd <-> a userspace-
 * polled eventfd when the guest (un)masks its MSI-X vector. 0 or -errno. */
int vhost_net_set_call(struct vhost_net *vh, unsigned ring, int call_fd);

/* Stop: detach the backend, read back the rings' next avail indices
 * (VHOST_GET_VRING_BASE) into bases (may be NULL). The fd stays open and
 * owned, ready for another start. */
void vhost_net_stop(struct vhost_net *vh, uint16_t bases[2]);

/* Stop if running and close. */
void vhost_net_close(struct vhost_net *vh);

/* The subset of features a vhost-net fd can carry for the guest: the
 * guest-accepted features that are ring/header features vhost handles,
 * minus VHOST_NET_F_VIRTIO_NET_HDR (the tap carries the header). */
uint64_t vhost_net_ring_features(const struct vhost_net *vh, uint64_t guest_features);
