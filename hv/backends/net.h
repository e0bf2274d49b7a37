/* The interface between a NIC model (e1000, virtio-net) and the host side
 * that carries its frames (a tap device today).
 *
 * A backend is a set of queues, each a non-blocking file descriptor that
 * moves one whole Ethernet frame per read or write, optionally prefixed by
 * a virtio-net header of vnet_hdr_len bytes (virtio.md §5.4, §10). The NIC
 * model owns the I/O: it polls net_backend_fd(be, q) for POLLIN in its own
 * thread and stops polling while the guest has no receive buffers, so the
 * kernel queue (not the worker) absorbs bursts: no unbounded queue here.
 *
 * Thread safety: send on one queue from one thread at a time, receive on one
 * queue from one thread at a time (send and receive may run concurrently). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define NET_MAX_QUEUES 16
#define NET_IFNAME_MAX 16   /* IFNAMSIZ, including the NUL */

struct net_backend {
    char ifname[NET_IFNAME_MAX];   /* "" when unknown (plain fds) */
    unsigned nqueues;
    unsigned vnet_hdr_len;         /* 0 = bare frames; 10 or 12 with IFF_VNET_HDR */
    bool is_tap;                   /* fds are tap queues (tap ioctls apply) */
    int fds[NET_MAX_QUEUES];       /* non-blocking, close-on-exec, owned */
};

/* Per-NIC counters as virsh domifstat / virDomainInterfaceStats report
 * them, from the host's point of view of the guest: rx = frames the guest
 * received (host -> guest), tx = frames the guest sent. errs = malformed
 * (bad descriptor, oversized), drop = well formed but not delivered (no
 * guest buffers, backend full, receiver disabled). rx_filtered = frames
 * the guest's receive filter refused (addressed elsewhere; not a drop, as
 * on a physical NIC). */
struct net_stats {
    uint64_t rx_bytes, rx_packets, rx_errs, rx_drop, rx_filtered;
    uint64_t tx_bytes, tx_packets, tx_errs, tx_drop;
};

/* Wrap already-open frame-oriented fds (tap queues handed in by the
 * daemon when is_tap, or a SOCK_DGRAM/SOCK_SEQPACKET socketpair in tests).
 * Takes ownership of the fds (also on failure), makes them non-blocking
 * and close-on-exec. NULL with err filled on failure. */
struct net_backend *net_backend_from_fds(const int *fds, unsigned nfds, unsigned vnet_hdr_len,
                                         const char *ifname, char *err, size_t errlen);

/* Send one frame gathered from iov (including the vnet header when
 * vnet_hdr_len != 0). Returns bytes written or -errno (-EAGAIN: the host
 * queue is full; the caller drops and counts). */
ssize_t net_backend_send(struct net_backend *be, unsigned queue, const struct iovec *iov,
                         unsigned iovcnt);

/* Receive one frame into buf. Returns its length, or -EAGAIN when none is
 * waiting, or another -errno. A frame longer than len is truncated by the
 * kernel; callers pass a buffer of at least 65536 + vnet_hdr_len bytes. */
ssize_t net_backend_recv(struct net_backend *be, unsigned queue, void *buf, size_t len);

/* The fd to poll for POLLIN (frames waiting) on a queue, -1 if no such queue. */
static inline int net_backend_fd(const struct net_backend *be, unsigned queue)
{
    return queue < be->nqueues ? be->fds[queue] : -1;
}

/* Close the fds and free. NULL is fine. */
void net_backend_close(struct net_backend *be);
