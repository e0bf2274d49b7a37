/* virtio-net on a tap (virtio 1.2 §5.1, virtio.md §5, §10, §11); see net.h.
 *
 * Threads: one per queue pair (rx 2p, tx 2p+1) and one for the control
 * queue. A pair thread owns its two rings, its tap queue fd and a bounce
 * buffer for one received frame; it takes only its own pair's lock, held
 * while it touches the rings so that a device reset can wait for it. The
 * control thread handles the control queue.
 *
 * Interrupts with vhost-net (virtio.md §9, §11): a ring's "call" fd is the
 * eventfd the transport bound with KVM_IRQFD to the queue's MSI-X vector
 * while that vector is usable (virtio_dev_queue_irqfd), so the kernel
 * injects without waking hv. When the guest masks the vector, turns MSI-X
 * off (INTx) or moves the queue to NO_VECTOR, the irqfds_changed op
 * switches the ring to a userspace eventfd that the control thread relays
 * to the transport (which latches the PBA bit or raises ISR + INTx); on
 * unmask it switches back before the pending message is sent. */
#include "hv/virtio/net.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "hv/backends/tap.h"
#include "hv/backends/vhost_net.h"
#include "hv/virtio/device.h"
#include "hv/virtio/net_filter.h"

/* Feature bits (§5.1.3). */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_GUEST_UFO 10
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_HOST_UFO 14
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_CTRL_RX 18
#define VIRTIO_NET_F_CTRL_VLAN 19
#define VIRTIO_NET_F_MQ 22
#define VIRTIO_NET_F_CTRL_MAC_ADDR 23
#define BIT(b) (1ull << (b))

/* Config space (§5.1.4): mac, status, max_virtqueue_pairs. */
#define CFG_MAC 0
#define CFG_STATUS 6
#define CFG_MAX_PAIRS 8
#define CFG_LEN 10
#define NET_S_LINK_UP 1

/* Header (§5.1.6): 12 bytes with VERSION_1; num_buffers at offset 10. */
#define NET_HDR_LEN 12
#define NET_HDR_NUM_BUFFERS 10

/* Control queue (§5.1.6.5). */
#define CTRL_CLASS_RX 0
#define CTRL_RX_PROMISC 0
#define CTRL_RX_ALLMULTI 1
#define CTRL_CLASS_MAC 1
#define CTRL_MAC_TABLE_SET 0
#define CTRL_MAC_ADDR_SET 1
#define CTRL_CLASS_VLAN 2
#define CTRL_VLAN_ADD 0
#define CTRL_VLAN_DEL 1
#define CTRL_CLASS_MQ 4
#define CTRL_MQ_VQ_PAIRS_SET 0
#define CTRL_OK 0
#define CTRL_ERR 1
#define CTRL_CMD_MAX 4096        /* longest command we accept (MAC tables) */

#define NET_QUEUE_SIZE 256
#define NET_IOV_CAP (2 * NET_QUEUE_SIZE)
#define NET_RX_BUF (65536 + 256)  /* a 64 KiB GSO frame plus the header */
#define NET_TX_BUDGET 256         /* tx chains per round before looking at rx */

struct net_pair {
    struct virtio_net *net;
    unsigned index;
    pthread_mutex_t lock;        /* held while the rings are touched */
    pthread_t thread;
    bool thread_started;
    int wake_fd;                 /* eventfd: re-evaluate (pairs, link, mode, stop) */
    struct iovec *iov;           /* NET_IOV_CAP, one chain at a time */
    struct iovec *rx_iov;        /* 2 * NET_IOV_CAP: all chains of one merged frame */
    uint16_t *rx_heads;          /* NET_QUEUE_SIZE */
    uint32_t *rx_lens;
    uint8_t *rx_buf;             /* NET_RX_BUF: one frame from the tap */
    ssize_t rx_pending;          /* length of the frame held in rx_buf, 0 = none */
    bool rx_starved;             /* rx ring empty; wait for a kick before reading the tap */
    bool tx_more;                /* tx budget ran out; go again without sleeping */
    struct vhost_net vhost;      /* fd -1 in worker mode */
    int call_fd[2];              /* vhost -> us, relayed to the transport */
    int call_given[2];           /* the call fd vhost has now (irqfd or call_fd), -1 none */
    bool vhost_started;          /* changed under ctrl_lock and irq_lock */
    /* Counters (relaxed atomics; written by this pair only). */
    struct net_stats stats;
};

struct virtio_net {
    struct virtio_dev dev;
    struct virtq queues[2 * VIRTIO_NET_MAX_PAIRS + 1];
    struct net_pair pairs[VIRTIO_NET_MAX_PAIRS];
    unsigned max_pairs;
    unsigned ctrl_q;             /* 2 * max_pairs */
    struct net_backend *be;
    const struct guest_mem *mem;
    char *id;
    uint8_t mac[6];
    bool threaded;

    bool use_vhost;              /* atomic: the data plane is vhost-net */
    bool link_up;                /* atomic */
    unsigned active_pairs;       /* atomic; pairs the guest enabled */
    bool tap_attached[VIRTIO_NET_MAX_PAIRS];

    /* Control-queue side: guarded by ctrl_lock (also vhost start/stop). */
    pthread_mutex_t ctrl_lock;
    /* Rewiring vhost call fds. Taken from the transport's notifier with
     * its locks held: its holder takes no other lock (order: ctrl_lock,
     * transport/msix locks, irq_lock). */
    pthread_mutex_t irq_lock;
    pthread_t ctrl_thread;
    bool ctrl_started;
    int ctrl_wake_fd;
    bool stop;                   /* atomic */
    struct iovec *ctrl_iov;
    uint8_t *ctrl_buf;           /* CTRL_CMD_MAX */
    struct net_filter filter;    /* written by the control queue */
    virtio_net_filter_fn filter_notify;
    void *filter_notify_opaque;
};


static void count(uint64_t *c, uint64_t n) { __atomic_fetch_add(c, n, __ATOMIC_RELAXED); }
static unsigned active_pairs(const struct virtio_net *net)
{
    return __atomic_load_n(&net->active_pairs, __ATOMIC_ACQUIRE);
}
static bool link_is_up(const struct virtio_net *net)
{
    return __atomic_load_n(&net->link_up, __ATOMIC_ACQUIRE);
}
static bool vhost_mode(const struct virtio_net *net)
{
    return __atomic_load_n(&net->use_vhost, __ATOMIC_ACQUIRE);
}

static void wake(int fd)
{
    uint64_t one = 1;
    if (fd >= 0 && write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("virtio-net: eventfd write: %s", strerror(errno));
}

static void drain(int fd)
{
    uint64_t v;
    if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        log_warn("virtio-net: eventfd read: %s", strerror(errno));
}

static void wake_pairs(struct virtio_net *net)
{
    for (unsigned p = 0; p < net->max_pairs; p++)
        wake(net->pairs[p].wake_fd);
}

/* Give back the last n popped chains (still owned by us, not yet used):
 * they stay in the avail ring and are popped again later. */
static void virtq_unpop(struct virtq *vq, unsigned n)
{
    vq->last_avail = (uint16_t)(vq->last_avail - n);
}

/* ---- transmit ---- */

/* One tx chain: readable header + frame, passed to the tap unchanged. */
static void tx_one(struct net_pair *p, struct virtq *vq, struct virtq_chain *c)
{
    struct virtio_net *net = p->net;
    if (c->nwrite || c->read_len < NET_HDR_LEN) {
        /* §5.1.6.2: a tx buffer is the header plus the packet, all readable. */
        virtq_mark_broken(vq, "tx chain %u: %s", c->head,
                          c->nwrite ? "has device-writable buffers" : "shorter than the 12-byte header");
        count(&p->stats.tx_errs, 1);
        return;
    }
    uint64_t frame = c->read_len - NET_HDR_LEN;
    if (frame > 65535 + 14 || frame < 14) {
        count(&p->stats.tx_errs, 1);
        return;
    }
    if (!link_is_up(net)) {
        count(&p->stats.tx_drop, 1);
        return;
    }
    ssize_t r = net_backend_send(net->be, p->index, c->iov, c->nread);
    if (r < 0) {
        count(&p->stats.tx_drop, 1);
        return;
    }
    count(&p->stats.tx_packets, 1);
    count(&p->stats.tx_bytes, frame);
}

static void process_tx(struct net_pair *p)
{
    struct virtio_net *net = p->net;
    unsigned q = 2 * p->index + 1;
    struct virtq *vq = &net->queues[q];
    p->tx_more = false;
    if (!virtq_ready(vq))
        return;
    struct virtq_chain c = { .cap = NET_IOV_CAP, .iov = p->iov };
    unsigned budget = NET_TX_BUDGET;
    bool pushed = false;
    for (;;) {
        virtq_disable_notify(vq);
        int r;
        while (budget && (r = virtq_pop(vq, &c)) == 1) {
            tx_one(p, vq, &c);
            if (!virtq_ready(vq))
                break;
            virtq_push(vq, c.head, 0);
            pushed = true;
            budget--;
        }
        if (!budget) {
            p->tx_more = true;   /* keep notifications off, come back soon */
            break;
        }
        if (r < 0 || !virtq_ready(vq) || !virtq_enable_notify(vq))
            break;
    }
    if (pushed)
        virtio_dev_notify_queue(&net->dev, q);
}

/* ---- receive ---- */

static size_t iov_fill(struct iovec *iov, unsigned n, const uint8_t *src, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        size_t c = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;
        memcpy(iov[i].iov_base, src + done, c);
        done += c;
    }
    return done;
}

/* Place the frame held in rx_buf into guest buffers. Returns true when it
 * was delivered or dropped (rx_buf free again), false when the ring has
 * too few buffers (frame kept, popped chains given back). Each popped
 * chain's iovecs stay in rx_iov until the frame is complete. */
static bool rx_deliver(struct net_pair *p, struct virtq *vq, bool *pushed)
{
    struct virtio_net *net = p->net;
    size_t len = (size_t)p->rx_pending;
    bool mrg = virtio_dev_has(&net->dev, VIRTIO_NET_F_MRG_RXBUF);
    unsigned nchains = 0, used_iov = 0, first_nwrite = 0;
    size_t room = 0;
    /* Gather chains until the frame fits (one chain without MRG_RXBUF). */
    while (room < len) {
        if (nchains == vq->size || (!mrg && nchains == 1) || used_iov > NET_IOV_CAP) {
            /* It cannot fit: the buffers the ring can offer are too small. */
            virtq_unpop(vq, nchains);
            count(&p->stats.rx_drop, 1);
            return true;
        }
        struct virtq_chain c = { .cap = 2 * NET_IOV_CAP - used_iov, .iov = p->rx_iov + used_iov };
        int r = virtq_pop(vq, &c);
        if (r <= 0) {
            if (r == 0)
                virtq_unpop(vq, nchains);
            return r < 0;   /* broken: the frame goes down with the queue */
        }
        if (c.nread || c.write_len == 0 || (nchains == 0 && c.write_len < NET_HDR_LEN)) {
            /* §5.1.6.3: rx buffers are device-writable, the first holds the header. */
            virtq_mark_broken(vq, "rx chain %u: %s", c.head,
                              c.nread ? "has device-readable buffers"
                                      : "too small for the 12-byte header");
            count(&p->stats.rx_errs, 1);
            return true;
        }
        if (nchains == 0)
            first_nwrite = c.nwrite;
        size_t take = len - room < c.write_len ? len - room : (size_t)c.write_len;
        iov_fill(c.iov, c.nwrite, p->rx_buf + room, take);
        p->rx_heads[nchains] = c.head;
        p->rx_lens[nchains] = (uint32_t)take;
        room += take;
        used_iov += c.nwrite;
        nchains++;
    }
    /* §5.1.6.4: num_buffers = chains used (1 without MRG_RXBUF); the rest
     * of the header comes from the tap unchanged. */
    uint16_t nb = (uint16_t)nchains;
    memcpy(p->rx_buf + NET_HDR_NUM_BUFFERS, &nb, 2);
    iov_fill(p->rx_iov, first_nwrite, p->rx_buf, NET_HDR_LEN);
    for (unsigned i = 0; i < nchains; i++)
        virtq_push(vq, p->rx_heads[i], p->rx_lens[i]);
    *pushed = true;
    count(&p->stats.rx_packets, 1);
    count(&p->stats.rx_bytes, len - NET_HDR_LEN);
    return true;
}

static void process_rx(struct net_pair *p)
{
    struct virtio_net *net = p->net;
    unsigned q = 2 * p->index;
    struct virtq *vq = &net->queues[q];
    if (!virtq_ready(vq) || !link_is_up(net))
        return;
    bool pushed = false;
    p->rx_starved = false;
    for (unsigned budget = NET_QUEUE_SIZE; budget; budget--) {
        if (!p->rx_pending) {
            ssize_t r = net_backend_recv(net->be, p->index, p->rx_buf, NET_RX_BUF);
            if (r == -EAGAIN)
                break;
            if (r < 0) {
                count(&p->stats.rx_errs, 1);
                break;
            }
            if (r < NET_HDR_LEN + 14) {   /* header plus an Ethernet header at least */
                count(&p->stats.rx_errs, 1);
                continue;
            }
            if (!net_filter_accepts(&net->filter, p->rx_buf + NET_HDR_LEN,
                                    (size_t)r - NET_HDR_LEN)) {
                count(&p->stats.rx_filtered, 1);
                continue;
            }
            p->rx_pending = r;
        }
        virtq_disable_notify(vq);
        if (rx_deliver(p, vq, &pushed)) {
            p->rx_pending = 0;
            if (!virtq_ready(vq))
                break;
            continue;
        }
        /* No room: ask for a kick and re-check, the driver may have
         * refilled in between. */
        if (!virtq_enable_notify(vq)) {
            p->rx_starved = true;
            break;
        }
    }
    if (virtq_ready(vq))
        virtq_enable_notify(vq);
    if (pushed)
        virtio_dev_notify_queue(&net->dev, q);
}

static void process_pair(struct net_pair *p)
{
    struct virtio_net *net = p->net;
    pthread_mutex_lock(&p->lock);
    if (virtio_dev_driver_ok(&net->dev) && !vhost_mode(net) && p->index < active_pairs(net)) {
        process_tx(p);
        process_rx(p);
    }
    pthread_mutex_unlock(&p->lock);
}

static void *pair_thread(void *arg)
{
    struct net_pair *p = arg;
    struct virtio_net *net = p->net;
    struct virtq *rxq = &net->queues[2 * p->index], *txq = &net->queues[2 * p->index + 1];
    for (;;) {
        struct pollfd fds[4];
        unsigned n = 0;
        fds[n++] = (struct pollfd){ .fd = p->wake_fd, .events = POLLIN };
        bool active = !vhost_mode(net) && virtio_dev_driver_ok(&net->dev) &&
                      p->index < active_pairs(net);
        int i_rx = -1, i_tx = -1;
        if (active) {
            i_rx = (int)n;
            fds[n++] = (struct pollfd){ .fd = rxq->kick_fd, .events = POLLIN };
            i_tx = (int)n;
            fds[n++] = (struct pollfd){ .fd = txq->kick_fd, .events = POLLIN };
            /* The tap only while the guest has rx buffers: otherwise the
             * kernel queue holds the frames (net.h). */
            if (!p->rx_starved && link_is_up(net))
                fds[n++] = (struct pollfd){ .fd = net_backend_fd(net->be, p->index), .events = POLLIN };
        }
        int r = poll(fds, n, active && p->tx_more ? 0 : -1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            log_error("%s: pair %u: poll failed: %s", net->id, p->index, strerror(errno));
            return NULL;
        }
        if (__atomic_load_n(&net->stop, __ATOMIC_ACQUIRE))
            return NULL;
        if (fds[0].revents)
            drain(p->wake_fd);
        if (i_rx >= 0 && fds[i_rx].revents) {
            drain(rxq->kick_fd);
            p->rx_starved = false;
        }
        if (i_tx >= 0 && fds[i_tx].revents)
            drain(txq->kick_fd);
        if (active)
            process_pair(p);
    }
}

/* ---- tap queues, offloads and vhost ---- */

/* vhost drops kicks while a ring has no backend (no pair enabled yet,
 * link down) and does not look at the rings again when one is attached:
 * with EVENT_IDX the driver then never kicks again (avail_event stays
 * behind) and that tx queue stalls. Kick both rings ourselves, as a kick
 * the guest sent now would. */
static void kick_vhost_pair(struct virtio_net *net, unsigned p)
{
    wake(net->queues[2 * p].kick_fd);
    wake(net->queues[2 * p + 1].kick_fd);
}

/* Keep tap queues [0, n) attached and the rest detached (virtio.md §10),
 * and in vhost mode give the enabled pairs their backend. ctrl_lock held. */
static void apply_pairs(struct virtio_net *net, unsigned n)
{
    for (unsigned p = 0; p < net->max_pairs; p++) {
        bool on = p < n;
        if (net->be->is_tap && net->max_pairs > 1 && net->tap_attached[p] != on) {
            if (tap_set_queue_enabled(net->be, p, on) == 0)
                net->tap_attached[p] = on;
        }
        struct net_pair *pp = &net->pairs[p];
        if (pp->vhost_started) {
            int fd = on && link_is_up(net) ? net_backend_fd(net->be, p) : -1;
            int r = vhost_net_set_backend(&pp->vhost, fd);
            if (r < 0)
                log_warn("%s: pair %u: VHOST_NET_SET_BACKEND %d: %s", net->id, p, fd, strerror(-r));
            else if (fd >= 0)
                kick_vhost_pair(net, p);
        }
    }
    __atomic_store_n(&net->active_pairs, n, __ATOMIC_RELEASE);
    wake_pairs(net);
}

/* TUNSETOFFLOAD from what the guest can receive (virtio.md §10). */
static void apply_offloads(struct virtio_net *net)
{
    if (!net->be->is_tap)
        return;
    unsigned fl = 0;
    struct virtio_dev *d = &net->dev;
    if (virtio_dev_has(d, VIRTIO_NET_F_GUEST_CSUM)) {
        fl |= TAP_OFFLOAD_CSUM;
        if (virtio_dev_has(d, VIRTIO_NET_F_GUEST_TSO4))
            fl |= TAP_OFFLOAD_TSO4;
        if (virtio_dev_has(d, VIRTIO_NET_F_GUEST_TSO6))
            fl |= TAP_OFFLOAD_TSO6;
        if (virtio_dev_has(d, VIRTIO_NET_F_GUEST_ECN))
            fl |= TAP_OFFLOAD_TSO_ECN;
        if (virtio_dev_has(d, VIRTIO_NET_F_GUEST_UFO))
            fl |= TAP_OFFLOAD_UFO;
    }
    if (tap_set_offload(net->be, fl) < 0 && (fl & TAP_OFFLOAD_UFO)) {
        /* Some kernels refuse UFO; the guest then simply gets no UFO frames. */
        tap_set_offload(net->be, fl & ~(unsigned)TAP_OFFLOAD_UFO);
    }
}

/* The call fd ring i (0 rx, 1 tx) of pair pp should have: the queue's
 * KVM irqfd when the transport has a usable one, else our relay fd. */
static int wanted_call_fd(struct virtio_net *net, struct net_pair *pp, unsigned i)
{
    int irqfd = virtio_dev_queue_irqfd(&net->dev, 2 * pp->index + i);
    return irqfd >= 0 ? irqfd : pp->call_fd[i];
}

/* The transport's irqfds changed: a vector was (un)masked, MSI-X toggled,
 * a queue's vector moved. Runs on a vCPU thread with the transport's
 * locks held. */
static void net_irqfds_changed(struct virtio_dev *dev)
{
    struct virtio_net *net = dev->model;
    pthread_mutex_lock(&net->irq_lock);
    for (unsigned p = 0; p < net->max_pairs; p++) {
        struct net_pair *pp = &net->pairs[p];
        if (!pp->vhost_started)
            continue;
        for (unsigned i = 0; i < 2; i++) {
            int fd = wanted_call_fd(net, pp, i);
            if (fd == pp->call_given[i])
                continue;
            int r = vhost_net_set_call(&pp->vhost, i, fd);
            if (r < 0) {
                log_warn("%s: pair %u ring %u: VHOST_SET_VRING_CALL: %s", net->id, p, i,
                         strerror(-r));
                continue;
            }
            /* Signals vhost sent to the relay fd before the switch are
             * still relayed by the control thread (it keeps polling it). */
            pp->call_given[i] = fd;
        }
    }
    pthread_mutex_unlock(&net->irq_lock);
}

static void vhost_stop_all(struct virtio_net *net)
{
    pthread_mutex_lock(&net->irq_lock);
    for (unsigned p = 0; p < net->max_pairs; p++) {
        struct net_pair *pp = &net->pairs[p];
        if (!pp->vhost_started)
            continue;
        uint16_t bases[2];
        vhost_net_stop(&pp->vhost, bases);
        pp->vhost_started = false;
        pp->call_given[0] = pp->call_given[1] = -1;
        log_debug("%s: pair %u: vhost stopped at rx %u tx %u", net->id, p, bases[0], bases[1]);
    }
    pthread_mutex_unlock(&net->irq_lock);
}

/* Hand every ready pair's rings to its vhost fd. ctrl_lock held. On
 * failure vhost is torn down and the worker takes over. */
static void vhost_start_all(struct virtio_net *net)
{
    pthread_mutex_lock(&net->irq_lock);
    for (unsigned p = 0; p < net->max_pairs; p++) {
        struct net_pair *pp = &net->pairs[p];
        struct virtq *rx = &net->queues[2 * p], *tx = &net->queues[2 * p + 1];
        if (!virtq_ready(rx) || !virtq_ready(tx))
            continue;
        struct vhost_net_ring rings[2];
        for (unsigned i = 0; i < 2; i++) {
            struct virtq *vq = i ? tx : rx;
            rings[i] = (struct vhost_net_ring){
                .num = vq->size, .desc = vq->desc, .avail = vq->avail, .used = vq->used,
                .base = vq->last_avail, .kick_fd = vq->kick_fd,
                .call_fd = wanted_call_fd(net, pp, i),
            };
        }
        char err[256];
        if (vhost_net_start(&pp->vhost, net->mem, net->dev.guest_features, rings, -1, err,
                            sizeof(err)) < 0) {
            log_error("%s: pair %u: vhost-net start: %s; falling back to the worker data plane",
                      net->id, p, err);
            pthread_mutex_unlock(&net->irq_lock);
            vhost_stop_all(net);
            __atomic_store_n(&net->use_vhost, false, __ATOMIC_RELEASE);
            return;
        }
        pp->vhost_started = true;
        pp->call_given[0] = rings[0].call_fd;
        pp->call_given[1] = rings[1].call_fd;
    }
    pthread_mutex_unlock(&net->irq_lock);
}

/* ---- control queue ---- */

static uint8_t ctrl_command(struct virtio_net *net, uint8_t cls, uint8_t cmd, const uint8_t *d,
                            size_t len)
{
    struct virtio_dev *dev = &net->dev;
    switch (cls) {
    case CTRL_CLASS_RX:
        if (!virtio_dev_has(dev, VIRTIO_NET_F_CTRL_RX) || len != 1 ||
            (cmd != CTRL_RX_PROMISC && cmd != CTRL_RX_ALLMULTI))
            return CTRL_ERR;   /* ALLUNI.. need CTRL_RX_EXTRA, not offered */
        if (cmd == CTRL_RX_PROMISC)
            net_filter_set_promisc(&net->filter, d[0] != 0);
        else
            net_filter_set_allmulti(&net->filter, d[0] != 0);
        return CTRL_OK;
    case CTRL_CLASS_MAC:
        if (cmd == CTRL_MAC_ADDR_SET) {
            /* §5.1.6.5.2: the driver changed its address; frames to the
             * old one stop passing the filter. */
            if (!virtio_dev_has(dev, VIRTIO_NET_F_CTRL_MAC_ADDR) || len != 6)
                return CTRL_ERR;
            net_filter_set_mac(&net->filter, d);
            return CTRL_OK;
        }
        if (!virtio_dev_has(dev, VIRTIO_NET_F_CTRL_RX) || cmd != CTRL_MAC_TABLE_SET)
            return CTRL_ERR;
        return net_filter_set_mac_table(&net->filter, d, len) ? CTRL_OK : CTRL_ERR;
    case CTRL_CLASS_VLAN: {
        uint16_t vid;
        if (!virtio_dev_has(dev, VIRTIO_NET_F_CTRL_VLAN) || len != 2 ||
            (cmd != CTRL_VLAN_ADD && cmd != CTRL_VLAN_DEL))
            return CTRL_ERR;
        memcpy(&vid, d, 2);
        return net_filter_set_vlan(&net->filter, vid, cmd == CTRL_VLAN_ADD) ? CTRL_OK : CTRL_ERR;
    }
    case CTRL_CLASS_MQ: {
        uint16_t pairs;
        if (!virtio_dev_has(dev, VIRTIO_NET_F_MQ) || cmd != CTRL_MQ_VQ_PAIRS_SET || len != 2)
            return CTRL_ERR;
        memcpy(&pairs, d, 2);
        /* §5.1.6.5.5: 1 <= pairs <= max_virtqueue_pairs. */
        if (pairs < 1 || pairs > net->max_pairs)
            return CTRL_ERR;
        apply_pairs(net, pairs);
        log_info("%s: %u queue pair(s) enabled", net->id, pairs);
        return CTRL_OK;
    }
    default:
        return CTRL_ERR;
    }
}

static void process_ctrl(struct virtio_net *net)
{
    pthread_mutex_lock(&net->ctrl_lock);
    struct virtq *vq = &net->queues[net->ctrl_q];
    if (!virtio_dev_driver_ok(&net->dev) || !virtq_ready(vq)) {
        pthread_mutex_unlock(&net->ctrl_lock);
        return;
    }
    struct virtq_chain c = { .cap = NET_IOV_CAP, .iov = net->ctrl_iov };
    bool pushed = false;
    for (;;) {
        virtq_disable_notify(vq);
        int r;
        while ((r = virtq_pop(vq, &c)) == 1) {
            /* Readable {class, cmd} + data, then a writable ack byte. */
            if (c.read_len < 2 || c.write_len < 1) {
                virtq_mark_broken(vq, "control chain %u: %s", c.head,
                                  c.write_len < 1 ? "no writable ack byte"
                                                  : "shorter than the 2-byte class/command");
                break;
            }
            uint8_t ack = CTRL_ERR;
            if (c.read_len <= CTRL_CMD_MAX) {
                size_t got = 0;
                for (unsigned i = 0; i < c.nread; i++) {
                    memcpy(net->ctrl_buf + got, c.iov[i].iov_base, c.iov[i].iov_len);
                    got += c.iov[i].iov_len;
                }
                uint8_t cls = net->ctrl_buf[0];
                ack = ctrl_command(net, cls, net->ctrl_buf[1], net->ctrl_buf + 2, got - 2);
                if (ack == CTRL_OK && net->filter_notify &&
                    (cls == CTRL_CLASS_RX || cls == CTRL_CLASS_MAC || cls == CTRL_CLASS_VLAN))
                    net->filter_notify(net, net->filter_notify_opaque);
            }
            iov_fill(c.iov + c.nread, c.nwrite, &ack, 1);
            virtq_push(vq, c.head, 1);
            pushed = true;
        }
        if (r < 0 || !virtq_ready(vq) || !virtq_enable_notify(vq))
            break;
    }
    if (pushed)
        virtio_dev_notify_queue(&net->dev, net->ctrl_q);
    pthread_mutex_unlock(&net->ctrl_lock);
}

static void *ctrl_thread(void *arg)
{
    struct virtio_net *net = arg;
    struct virtq *cq = &net->queues[net->ctrl_q];
    for (;;) {
        struct pollfd fds[2 + 2 * VIRTIO_NET_MAX_PAIRS];
        unsigned n = 0;
        fds[n++] = (struct pollfd){ .fd = net->ctrl_wake_fd, .events = POLLIN };
        fds[n++] = (struct pollfd){ .fd = cq->kick_fd, .events = POLLIN };
        for (unsigned q = 0; q < 2 * net->max_pairs; q++)
            fds[n++] = (struct pollfd){ .fd = net->pairs[q / 2].call_fd[q % 2], .events = POLLIN };
        if (poll(fds, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("%s: control thread poll failed: %s", net->id, strerror(errno));
            return NULL;
        }
        if (__atomic_load_n(&net->stop, __ATOMIC_ACQUIRE))
            return NULL;
        if (fds[0].revents)
            drain(net->ctrl_wake_fd);
        for (unsigned q = 0; q < 2 * net->max_pairs; q++) {
            if (!fds[2 + q].revents)
                continue;
            /* vhost used buffers on queue q and decided to interrupt. */
            drain(fds[2 + q].fd);
            if (virtio_dev_driver_ok(&net->dev) && net->dev.transport)
                net->dev.transport->interrupt_queue(&net->dev, q);
        }
        if (fds[1].revents) {
            drain(cq->kick_fd);
            process_ctrl(net);
        }
    }
}

/* ---- device model ops ---- */

static void net_config_read(struct virtio_dev *dev, uint32_t off, void *data, uint32_t len)
{
    struct virtio_net *net = dev->model;
    uint8_t cfg[CFG_LEN];
    uint16_t status = link_is_up(net) ? NET_S_LINK_UP : 0;
    uint16_t pairs = (uint16_t)net->max_pairs;
    memcpy(cfg + CFG_MAC, net->mac, 6);
    memcpy(cfg + CFG_STATUS, &status, 2);
    memcpy(cfg + CFG_MAX_PAIRS, &pairs, 2);
    if (off < CFG_LEN)
        memcpy(data, cfg + off, len < CFG_LEN - off ? len : CFG_LEN - off);
}

static void net_config_write(struct virtio_dev *dev, uint32_t off, const void *data, uint32_t len)
{
    (void)dev, (void)off, (void)data, (void)len;  /* read-only for VERSION_1 drivers (§5.1.4) */
}

static bool net_features_ok(struct virtio_dev *dev, uint64_t f)
{
    (void)dev;
    /* §5.1.3.1 dependencies: offloads need their checksum feature, the
     * control-queue features need CTRL_VQ. */
    uint64_t need_gcsum = BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6) |
                          BIT(VIRTIO_NET_F_GUEST_ECN) | BIT(VIRTIO_NET_F_GUEST_UFO);
    uint64_t need_csum = BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6) |
                         BIT(VIRTIO_NET_F_HOST_ECN) | BIT(VIRTIO_NET_F_HOST_UFO);
    uint64_t need_ctrl = BIT(VIRTIO_NET_F_CTRL_RX) | BIT(VIRTIO_NET_F_CTRL_VLAN) |
                         BIT(VIRTIO_NET_F_MQ) | BIT(VIRTIO_NET_F_CTRL_MAC_ADDR);
    if ((f & need_gcsum) && !(f & BIT(VIRTIO_NET_F_GUEST_CSUM)))
        return false;
    if ((f & need_csum) && !(f & BIT(VIRTIO_NET_F_CSUM)))
        return false;
    if ((f & need_ctrl) && !(f & BIT(VIRTIO_NET_F_CTRL_VQ)))
        return false;
    return true;
}

static void net_driver_ok(struct virtio_dev *dev)
{
    struct virtio_net *net = dev->model;
    pthread_mutex_lock(&net->ctrl_lock);
    apply_offloads(net);
    net_filter_set_vlan_filtering(&net->filter, virtio_dev_has(dev, VIRTIO_NET_F_CTRL_VLAN));
    if (vhost_mode(net))
        vhost_start_all(net);
    /* Until VQ_PAIRS_SET only pair 0 is in use (§5.1.6.5.5). */
    apply_pairs(net, 1);
    pthread_mutex_unlock(&net->ctrl_lock);
    if (!net->threaded) {
        process_pair(&net->pairs[0]);
        process_ctrl(net);
    }
}

static void net_queue_notify(struct virtio_dev *dev, unsigned q)
{
    struct virtio_net *net = dev->model;
    if (q >= dev->num_queues)
        return;
    if (net->threaded) {
        /* A kick that missed the ioeventfd: post it where the ioeventfd
         * would have (the pair thread, the control thread or vhost). */
        wake(net->queues[q].kick_fd);
        return;
    }
    if (q == net->ctrl_q)
        process_ctrl(net);
    else {
        if (q % 2 == 0)
            net->pairs[q / 2].rx_starved = false;
        process_pair(&net->pairs[q / 2]);
    }
}

static void net_reset(struct virtio_dev *dev)
{
    struct virtio_net *net = dev->model;
    /* Status is 0 already: threads stop picking up work. Wait for the
     * batches in flight and take the rings back from vhost. */
    pthread_mutex_lock(&net->ctrl_lock);
    vhost_stop_all(net);
    pthread_mutex_unlock(&net->ctrl_lock);
    for (unsigned p = 0; p < net->max_pairs; p++) {
        struct net_pair *pp = &net->pairs[p];
        pthread_mutex_lock(&pp->lock);
        pp->rx_starved = false;
        pp->tx_more = false;
        pthread_mutex_unlock(&pp->lock);
    }
    net_filter_reset(&net->filter, net->mac);
    wake_pairs(net);
}

static const struct virtio_dev_ops net_ops = {
    .config_read = net_config_read,
    .config_write = net_config_write,
    .features_ok = net_features_ok,
    .driver_ok = net_driver_ok,
    .queue_notify = net_queue_notify,
    .reset = net_reset,
    .irqfds_changed = net_irqfds_changed,
};

/* ---- construction ---- */

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void net_free(struct virtio_net *net)
{
    for (unsigned q = 0; q < 2 * VIRTIO_NET_MAX_PAIRS + 1; q++)
        close_fd(&net->queues[q].kick_fd);
    for (unsigned p = 0; p < VIRTIO_NET_MAX_PAIRS; p++) {
        struct net_pair *pp = &net->pairs[p];
        vhost_net_close(&pp->vhost);
        close_fd(&pp->wake_fd);
        close_fd(&pp->call_fd[0]);
        close_fd(&pp->call_fd[1]);
        free(pp->iov);
        free(pp->rx_iov);
        free(pp->rx_heads);
        free(pp->rx_lens);
        free(pp->rx_buf);
        pthread_mutex_destroy(&pp->lock);
    }
    close_fd(&net->ctrl_wake_fd);
    net_backend_close(net->be);
    pthread_mutex_destroy(&net->ctrl_lock);
    pthread_mutex_destroy(&net->irq_lock);
    free(net->ctrl_iov);
    free(net->ctrl_buf);
    free(net->id);
    free(net);
}

struct virtio_net *virtio_net_new_model(struct guest_mem *mem, const struct virtio_net_config *cfg,
                                        struct net_backend *be, char *err, size_t errlen)
{
    const char *id = cfg->id ? cfg->id : "net0";
    unsigned pairs = cfg->queues ? cfg->queues : 1;
    if (pairs > VIRTIO_NET_MAX_PAIRS) {
        snprintf(err, errlen, "%s: %u queue pairs requested, at most %u supported", id, pairs,
                 VIRTIO_NET_MAX_PAIRS);
        net_backend_close(be);
        return NULL;
    }
    if (be->nqueues < pairs) {
        snprintf(err, errlen, "%s: %u queue pairs need %u tap queues, the backend has %u", id,
                 pairs, pairs, be->nqueues);
        net_backend_close(be);
        return NULL;
    }
    if (be->vnet_hdr_len != NET_HDR_LEN) {
        snprintf(err, errlen, "%s: backend vnet header is %u bytes, virtio-net needs %u", id,
                 be->vnet_hdr_len, NET_HDR_LEN);
        net_backend_close(be);
        return NULL;
    }
    struct virtio_net *net = calloc(1, sizeof(*net));
    if (!net) {
        snprintf(err, errlen, "%s: out of memory", id);
        net_backend_close(be);
        return NULL;
    }
    net->be = be;
    net->mem = mem;
    net->max_pairs = pairs;
    net->ctrl_q = 2 * pairs;
    net->link_up = true;
    net->active_pairs = 1;
    net->ctrl_wake_fd = -1;
    memcpy(net->mac, cfg->mac, 6);
    net_filter_reset(&net->filter, net->mac);
    pthread_mutex_init(&net->ctrl_lock, NULL);
    pthread_mutex_init(&net->irq_lock, NULL);
    for (unsigned q = 0; q < 2 * VIRTIO_NET_MAX_PAIRS + 1; q++)
        net->queues[q].kick_fd = -1;
    for (unsigned p = 0; p < VIRTIO_NET_MAX_PAIRS; p++) {
        struct net_pair *pp = &net->pairs[p];
        pp->net = net;
        pp->index = p;
        pp->wake_fd = pp->call_fd[0] = pp->call_fd[1] = -1;
        pp->call_given[0] = pp->call_given[1] = -1;
        pp->vhost.fd = -1;
        pthread_mutex_init(&pp->lock, NULL);
        net->tap_attached[p] = true;   /* a fresh multiqueue tap has every queue attached */
    }
    net->id = strdup(id);
    net->ctrl_iov = calloc(NET_IOV_CAP, sizeof(struct iovec));
    net->ctrl_buf = malloc(CTRL_CMD_MAX);
    if (!net->id || !net->ctrl_iov || !net->ctrl_buf)
        goto oom;
    for (unsigned p = 0; p < pairs; p++) {
        struct net_pair *pp = &net->pairs[p];
        pp->iov = calloc(NET_IOV_CAP, sizeof(struct iovec));
        pp->rx_iov = calloc(2 * NET_IOV_CAP, sizeof(struct iovec));
        pp->rx_heads = calloc(NET_QUEUE_SIZE, sizeof(uint16_t));
        pp->rx_lens = calloc(NET_QUEUE_SIZE, sizeof(uint32_t));
        pp->rx_buf = malloc(NET_RX_BUF);
        if (!pp->iov || !pp->rx_iov || !pp->rx_heads || !pp->rx_lens || !pp->rx_buf)
            goto oom;
    }

    struct virtio_dev *dev = &net->dev;
    dev->device_type = VIRTIO_ID_NET;
    dev->name = net->id;
    /* The tap carries a vnet header, so checksum/TSO offloads can be
     * offered both ways (virtio.md §5.1: only then does QEMU offer them). */
    dev->host_features = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_INDIRECT_DESC) |
                         BIT(VIRTIO_F_EVENT_IDX) | BIT(VIRTIO_NET_F_MAC) |
                         BIT(VIRTIO_NET_F_STATUS) | BIT(VIRTIO_NET_F_MRG_RXBUF) |
                         BIT(VIRTIO_NET_F_CTRL_VQ) | BIT(VIRTIO_NET_F_CTRL_RX) |
                         BIT(VIRTIO_NET_F_CTRL_VLAN) | BIT(VIRTIO_NET_F_CSUM) |
                         BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_GUEST_TSO4) |
                         BIT(VIRTIO_NET_F_GUEST_TSO6) | BIT(VIRTIO_NET_F_GUEST_ECN) |
                         BIT(VIRTIO_NET_F_GUEST_UFO) | BIT(VIRTIO_NET_F_HOST_TSO4) |
                         BIT(VIRTIO_NET_F_HOST_TSO6) | BIT(VIRTIO_NET_F_HOST_ECN) |
                         BIT(VIRTIO_NET_F_HOST_UFO) | BIT(VIRTIO_NET_F_CTRL_MAC_ADDR);
    if (pairs > 1)
        dev->host_features |= BIT(VIRTIO_NET_F_MQ);
    dev->config_len = CFG_LEN;
    dev->num_queues = 2 * pairs + 1;
    dev->queues = net->queues;
    dev->ops = &net_ops;
    dev->model = net;
    for (unsigned q = 0; q < dev->num_queues; q++) {
        virtq_init(&net->queues[q], mem, net->id, q, NET_QUEUE_SIZE);
        net->queues[q].on_broken = virtio_dev_queue_broken;
        net->queues[q].opaque = dev;
        net->queues[q].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (net->queues[q].kick_fd < 0) {
            snprintf(err, errlen, "%s: eventfd: %s", net->id, strerror(errno));
            net_free(net);
            return NULL;
        }
    }
    return net;
oom:
    snprintf(err, errlen, "%s: out of memory", id);
    net_free(net);
    return NULL;
}

struct virtio_dev *virtio_net_dev(struct virtio_net *net) { return &net->dev; }

/* Decide the data plane and open the vhost fds (one per pair). */
static bool setup_vhost(struct virtio_net *net, const struct virtio_net_config *cfg, char *err,
                        size_t errlen)
{
    if (cfg->vhost == VNET_VHOST_OFF) {
        for (unsigned i = 0; i < cfg->nvhost_fds; i++)
            close(cfg->vhost_fds[i]);
        return true;
    }
    if (cfg->nvhost_fds && cfg->nvhost_fds != net->max_pairs) {
        snprintf(err, errlen, "%s: %u vhost fds given for %u queue pairs (need one per pair)",
                 net->id, cfg->nvhost_fds, net->max_pairs);
        for (unsigned i = 0; i < cfg->nvhost_fds; i++)
            close(cfg->vhost_fds[i]);
        return false;
    }
    for (unsigned p = 0; p < net->max_pairs; p++) {
        char verr[256];
        int fd = cfg->nvhost_fds ? cfg->vhost_fds[p] : -1;
        int r = vhost_net_init(&net->pairs[p].vhost, fd, verr, sizeof(verr));
        if (r < 0) {
            for (unsigned i = p + 1; i < cfg->nvhost_fds; i++)
                close(cfg->vhost_fds[i]);
            for (unsigned i = 0; i < p; i++)
                vhost_net_close(&net->pairs[i].vhost);
            if (cfg->vhost == VNET_VHOST_ON) {
                snprintf(err, errlen, "%s: vhost=on but %s", net->id, verr);
                return false;
            }
            log_info("%s: vhost-net unavailable (%s)", net->id, verr);
            return true;
        }
    }
    net->use_vhost = true;
    return true;
}

struct virtio_net *virtio_net_open(struct guest_mem *mem, const struct virtio_net_config *cfg,
                                   char *err, size_t errlen)
{
    const char *id = cfg->id ? cfg->id : "net0";
    unsigned pairs = cfg->queues ? cfg->queues : (cfg->ntap_fds ? cfg->ntap_fds : 1);
    if (cfg->ntap_fds && cfg->ntap_fds != pairs) {
        snprintf(err, errlen, "%s: %u tap fds given for %u queue pairs (need one per pair)", id,
                 cfg->ntap_fds, pairs);
        goto close_given;
    }
    struct tap_config tc = {
        .ifname = cfg->tap_name, .fds = cfg->tap_fds, .nfds = cfg->ntap_fds,
        .queues = pairs, .vnet_hdr_len = NET_HDR_LEN,
    };
    char terr[256];
    struct net_backend *be = tap_open(&tc, terr, sizeof(terr));
    if (!be) {
        snprintf(err, errlen, "%s: %s", id, terr);
        for (unsigned i = 0; i < cfg->nvhost_fds; i++)
            close(cfg->vhost_fds[i]);
        return NULL;
    }
    struct virtio_net_config mc = *cfg;
    mc.queues = pairs;
    struct virtio_net *net = virtio_net_new_model(mem, &mc, be, err, errlen);
    if (!net) {
        for (unsigned i = 0; i < cfg->nvhost_fds; i++)
            close(cfg->vhost_fds[i]);
        return NULL;
    }
    if (!setup_vhost(net, cfg, err, errlen)) {
        net_free(net);
        return NULL;
    }
    for (unsigned p = 0; p < pairs; p++) {
        struct net_pair *pp = &net->pairs[p];
        pp->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        pp->call_fd[0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        pp->call_fd[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (pp->wake_fd < 0 || pp->call_fd[0] < 0 || pp->call_fd[1] < 0) {
            snprintf(err, errlen, "%s: eventfd: %s", net->id, strerror(errno));
            net_free(net);
            return NULL;
        }
    }
    net->ctrl_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (net->ctrl_wake_fd < 0) {
        snprintf(err, errlen, "%s: eventfd: %s", net->id, strerror(errno));
        net_free(net);
        return NULL;
    }
    return net;
close_given:
    for (unsigned i = 0; i < cfg->ntap_fds; i++)
        close(cfg->tap_fds[i]);
    for (unsigned i = 0; i < cfg->nvhost_fds; i++)
        close(cfg->vhost_fds[i]);
    return NULL;
}

unsigned virtio_net_msix_vectors(const struct virtio_net *net)
{
    /* Config + one per rx/tx queue; the control queue has none (Linux:
     * "config, input.N, output.N"), as QEMU: 2N + 2. */
    return 2 * net->max_pairs + 2;
}

int virtio_net_start(struct virtio_net *net, char *err, size_t errlen)
{
    net->threaded = true;
    for (unsigned p = 0; p < net->max_pairs; p++) {
        struct net_pair *pp = &net->pairs[p];
        int r = pthread_create(&pp->thread, NULL, pair_thread, pp);
        if (r != 0) {
            snprintf(err, errlen, "%s: cannot start the thread of pair %u: %s", net->id, p,
                     strerror(r));
            return -r;
        }
        pp->thread_started = true;
        char tname[32];
        snprintf(tname, sizeof(tname), "%.8s-q%u", net->id, p);
        tname[15] = '\0';   /* thread names are at most 15 characters */
        pthread_setname_np(pp->thread, tname);
    }
    int r = pthread_create(&net->ctrl_thread, NULL, ctrl_thread, net);
    if (r != 0) {
        snprintf(err, errlen, "%s: cannot start the control thread: %s", net->id, strerror(r));
        return -r;
    }
    net->ctrl_started = true;
    char tname[32];
    snprintf(tname, sizeof(tname), "%.8s-ctl", net->id);
    tname[15] = '\0';
    pthread_setname_np(net->ctrl_thread, tname);
    log_info("%s: virtio-net %02x:%02x:%02x:%02x:%02x:%02x on tap %s, %u queue pair(s)", net->id,
             net->mac[0], net->mac[1], net->mac[2], net->mac[3], net->mac[4], net->mac[5],
             net->be->ifname, net->max_pairs);
    log_info("%s: data plane: %s", net->id, net->use_vhost ? "vhost-net" : "worker");
    return 0;
}

void virtio_net_stop(struct virtio_net *net)
{
    __atomic_store_n(&net->stop, true, __ATOMIC_RELEASE);
    for (unsigned p = 0; p < net->max_pairs; p++) {
        struct net_pair *pp = &net->pairs[p];
        if (pp->thread_started) {
            wake(pp->wake_fd);
            pthread_join(pp->thread, NULL);
            pp->thread_started = false;
        }
    }
    if (net->ctrl_started) {
        wake(net->ctrl_wake_fd);
        pthread_join(net->ctrl_thread, NULL);
        net->ctrl_started = false;
    }
    net->threaded = false;
    pthread_mutex_lock(&net->ctrl_lock);
    vhost_stop_all(net);
    pthread_mutex_unlock(&net->ctrl_lock);
    for (unsigned p = 0; p < net->max_pairs; p++)
        vhost_net_close(&net->pairs[p].vhost);
    net_backend_close(net->be);
    net->be = NULL;
}

void virtio_net_destroy(struct virtio_net *net)
{
    if (!net)
        return;
    virtio_net_stop(net);
    net_free(net);
}

void virtio_net_set_link(struct virtio_net *net, bool up)
{
    if (link_is_up(net) == up)
        return;
    pthread_mutex_lock(&net->ctrl_lock);
    __atomic_store_n(&net->link_up, up, __ATOMIC_RELEASE);
    /* vhost: link down detaches the tap from the rings (no traffic). */
    if (virtio_dev_driver_ok(&net->dev))
        apply_pairs(net, active_pairs(net));
    pthread_mutex_unlock(&net->ctrl_lock);
    wake_pairs(net);
    log_info("%s: link %s", net->id, up ? "up" : "down");
    if (virtio_dev_has(&net->dev, VIRTIO_NET_F_STATUS) && virtio_dev_driver_ok(&net->dev))
        virtio_dev_config_changed(&net->dev);
}

void virtio_net_get_stats(const struct virtio_net *net, struct net_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned p = 0; p < net->max_pairs; p++) {
        const struct net_stats *s = &net->pairs[p].stats;
#define ADD(f) out->f += __atomic_load_n(&s->f, __ATOMIC_RELAXED)
        ADD(rx_bytes); ADD(rx_packets); ADD(rx_errs); ADD(rx_drop); ADD(rx_filtered);
        ADD(tx_bytes); ADD(tx_packets); ADD(tx_errs); ADD(tx_drop);
#undef ADD
    }
}

void virtio_net_set_filter_notifier(struct virtio_net *net, virtio_net_filter_fn fn, void *opaque)
{
    net->filter_notify_opaque = opaque;
    net->filter_notify = fn;
}

void virtio_net_info(const struct virtio_net *net, struct virtio_net_info *out)
{
    memset(out, 0, sizeof(*out));
    out->id = net->id;
    memcpy(out->mac, net->mac, 6);
    out->ifname = net->be ? net->be->ifname : "";
    out->vhost = vhost_mode(net);
    out->data_plane = out->vhost ? "vhost-net" : "worker";
    out->link_up = link_is_up(net);
    out->max_pairs = net->max_pairs;
    out->active_pairs = active_pairs(net);
    out->guest_features = net->dev.guest_features;
    net_filter_snapshot(&net->filter, &out->filter);
}

