/* virtio-net device model against fake guest memory, with SOCK_SEQPACKET
 * socketpairs standing in for the tap queues (one frame per message,
 * 12-byte vnet header in front). No PCI, no threads, no vhost: the test
 * plays the driver and calls queue_notify. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hv/backends/net.h"
#include "hv/backends/vhost_net.h"
#include "hv/guest_mem.h"
#include "hv/virtio/device.h"
#include "hv/virtio/net.h"
#include "tests/tap.h"

#define RAM_GPA 0x100000ull
#define RAM_SIZE (2u << 20)
#define QSIZE 16
#define QAREA 0x10000u          /* per queue: desc +0, avail +0x1000, used +0x2000, buffers +0x4000 */
#define HDR 12

#define F_CSUM 0
#define F_GUEST_CSUM 1
#define F_MAC 5
#define F_GUEST_TSO4 7
#define F_MRG_RXBUF 15
#define F_STATUS 16
#define F_CTRL_VQ 17
#define F_CTRL_RX 18
#define F_CTRL_VLAN 19
#define F_MQ 22

static uint8_t *ram;
static struct guest_mem gm;
static struct virtio_net *net;
static struct virtio_dev *dev;
static int peer[2];             /* our ends of the tap queues */
static int queue_irqs[5], config_irqs;

struct fq {
    uint16_t avail_idx;
    uint16_t next_desc;
    uint32_t buf_off;           /* next free byte in the buffer area */
};
static struct fq fqs[5];

static void fake_irq_queue(struct virtio_dev *d, unsigned q) { (void)d; queue_irqs[q]++; }
static void fake_irq_config(struct virtio_dev *d) { (void)d; config_irqs++; }
static const struct virtio_transport_ops fake_transport = {
    .interrupt_queue = fake_irq_queue,
    .interrupt_config = fake_irq_config,
};

static uint32_t qbase(unsigned q) { return QAREA * q; }
static uint64_t gpa(uint32_t off) { return RAM_GPA + off; }

static void set_desc_at(uint8_t *table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                        uint16_t next)
{
    uint8_t *d = table + 16u * i;
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

/* Reserve len bytes of buffer space in queue q's area; returns the offset. */
static uint32_t alloc_buf(unsigned q, uint32_t len)
{
    uint32_t off = qbase(q) + 0x4000 + fqs[q].buf_off;
    fqs[q].buf_off += (len + 15) & ~15u;
    return off;
}

/* Post a chain of n buffers {off, len, writable} and publish it. */
struct seg { uint32_t off, len; bool writable; };
static uint16_t post(unsigned q, const struct seg *segs, unsigned n)
{
    uint8_t *table = ram + qbase(q);
    uint16_t head = fqs[q].next_desc;
    for (unsigned i = 0; i < n; i++) {
        uint16_t d = (uint16_t)((head + i) % QSIZE);
        uint16_t flags = (segs[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
                         (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
        set_desc_at(table, d, gpa(segs[i].off), segs[i].len, flags, (uint16_t)((d + 1) % QSIZE));
    }
    fqs[q].next_desc = (uint16_t)((head + n) % QSIZE);
    uint8_t *avail = ram + qbase(q) + 0x1000;
    memcpy(avail + 4 + 2 * (fqs[q].avail_idx % QSIZE), &head, 2);
    fqs[q].avail_idx++;
    memcpy(avail + 2, &fqs[q].avail_idx, 2);
    return head;
}

static void kick(unsigned q) { dev->ops->queue_notify(dev, q); }

static uint16_t used_idx(unsigned q)
{
    uint16_t v;
    memcpy(&v, ram + qbase(q) + 0x2000 + 2, 2);
    return v;
}
static void used_elem(unsigned q, uint16_t i, uint32_t *id, uint32_t *len)
{
    const uint8_t *e = ram + qbase(q) + 0x2000 + 4 + 8 * (i % QSIZE);
    memcpy(id, e, 4);
    memcpy(len, e + 4, 4);
}

/* A fresh device with `pairs` queue pairs, driven to DRIVER_OK with the
 * given features (all queues programmed). */
static bool setup(unsigned pairs, uint64_t features)
{
    memset(ram, 0, RAM_SIZE);
    memset(fqs, 0, sizeof(fqs));
    memset(queue_irqs, 0, sizeof(queue_irqs));
    config_irqs = 0;
    int fds[2];
    for (unsigned p = 0; p < pairs; p++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
            return false;
        fds[p] = sv[0];
        peer[p] = sv[1];
    }
    char err[256] = "";
    struct net_backend *be = net_backend_from_fds(fds, pairs, HDR, "test0", err, sizeof(err));
    if (!be) {
        printf("# backend: %s\n", err);
        return false;
    }
    struct virtio_net_config cfg = { .id = "net0", .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 },
                                     .queues = pairs, .vhost = VNET_VHOST_OFF };
    net = virtio_net_new_model(&gm, &cfg, be, err, sizeof(err));
    if (!net) {
        printf("# model: %s\n", err);
        return false;
    }
    dev = virtio_net_dev(net);
    dev->transport = &fake_transport;
    dev->guest_features = features;
    if (dev->ops->features_ok && !dev->ops->features_ok(dev, features))
        return false;
    for (unsigned q = 0; q < dev->num_queues; q++) {
        struct virtq *vq = &dev->queues[q];
        vq->size = QSIZE;
        vq->desc_gpa = gpa(qbase(q));
        vq->avail_gpa = gpa(qbase(q) + 0x1000);
        vq->used_gpa = gpa(qbase(q) + 0x2000);
        if (!virtq_start(vq, features))
            return false;
    }
    dev->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                  VIRTIO_STATUS_DRIVER_OK;
    dev->ops->driver_ok(dev);
    return true;
}

static void teardown(unsigned pairs)
{
    virtio_net_destroy(net);
    for (unsigned p = 0; p < pairs; p++)
        close(peer[p]);
    net = NULL;
    dev = NULL;
}

static uint64_t base_features(void)
{
    return (1ull << VIRTIO_F_VERSION_1) | (1ull << F_MAC) | (1ull << F_STATUS) |
           (1ull << F_CTRL_VQ) | (1ull << F_CTRL_RX) | (1ull << F_CTRL_VLAN) | (1ull << F_CSUM) |
           (1ull << F_GUEST_CSUM) | (1ull << VIRTIO_F_INDIRECT_DESC);
}

static void make_frame(uint8_t *buf, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seed + i * 7);
}

/* ---- tests ---- */

static void test_identity(void)
{
    TAP_CHECK(setup(2, base_features() | (1ull << F_MQ)), "2-pair device reaches DRIVER_OK");
    uint64_t f = dev->host_features;
    TAP_CHECK(dev->device_type == 1, "device type 1 (net)");
    TAP_EQ_U64(dev->num_queues, 5, "queues rx0 tx0 rx1 tx1 ctrl");
    TAP_CHECK((f & (1ull << VIRTIO_F_VERSION_1)) && (f & (1ull << F_MRG_RXBUF)) &&
                  (f & (1ull << F_MQ)) && (f & (1ull << F_CTRL_VQ)) && (f & (1ull << F_STATUS)) &&
                  (f & (1ull << VIRTIO_F_EVENT_IDX)) && (f & (1ull << VIRTIO_F_INDIRECT_DESC)) &&
                  (f & (1ull << F_GUEST_TSO4)) && (f & (1ull << F_CSUM)),
              "offers VERSION_1, MRG_RXBUF, MQ, CTRL_VQ, STATUS, EVENT_IDX, INDIRECT, offloads");
    uint8_t cfg[10];
    dev->ops->config_read(dev, 0, cfg, sizeof(cfg));
    TAP_CHECK(memcmp(cfg, "\x52\x54\x00\x12\x34\x56", 6) == 0, "config mac");
    TAP_EQ_U64(cfg[6] | cfg[7] << 8, 1, "config status LINK_UP");
    TAP_EQ_U64(cfg[8] | cfg[9] << 8, 2, "config max_virtqueue_pairs 2");
    TAP_CHECK(!dev->ops->features_ok(dev, (1ull << VIRTIO_F_VERSION_1) | (1ull << F_GUEST_TSO4)),
              "GUEST_TSO4 without GUEST_CSUM refused");
    TAP_CHECK(!dev->ops->features_ok(dev, (1ull << VIRTIO_F_VERSION_1) | (1ull << F_MQ)),
              "MQ without CTRL_VQ refused");
    struct virtio_net_info info;
    virtio_net_info(net, &info);
    TAP_EQ_STR(info.data_plane, "worker", "data plane reported as worker (vhost=off)");
    TAP_EQ_U64(info.active_pairs, 1, "one pair active until VQ_PAIRS_SET");
    teardown(2);

    TAP_CHECK(setup(1, base_features()), "1-pair device");
    TAP_CHECK(!(dev->host_features & (1ull << F_MQ)), "MQ not offered with one pair");
    TAP_EQ_U64(dev->num_queues, 3, "queues rx0 tx0 ctrl");
    teardown(1);
}

static void test_tx(void)
{
    TAP_CHECK(setup(1, base_features()), "tx: device up");
    /* Header with NEEDS_CSUM + csum_start/offset: must reach the tap unchanged. */
    uint8_t hdr[HDR] = { 1, 0, 0, 0, 0, 0, 34, 0, 16, 0, 0, 0 };
    uint8_t frame[60];
    make_frame(frame, sizeof(frame), 3);
    uint32_t h = alloc_buf(1, HDR), d = alloc_buf(1, sizeof(frame));
    memcpy(ram + h, hdr, HDR);
    memcpy(ram + d, frame, sizeof(frame));
    struct seg segs[] = { { h, HDR, false }, { d, sizeof(frame), false } };
    post(1, segs, 2);
    kick(1);
    uint8_t got[256];
    ssize_t n = recv(peer[0], got, sizeof(got), MSG_DONTWAIT);
    TAP_EQ_U64(n, HDR + sizeof(frame), "tx: one 72-byte message on the tap queue");
    TAP_CHECK(n == HDR + (ssize_t)sizeof(frame) && memcmp(got, hdr, HDR) == 0,
              "tx: vnet header passed through unchanged");
    TAP_CHECK(n == HDR + (ssize_t)sizeof(frame) && memcmp(got + HDR, frame, sizeof(frame)) == 0,
              "tx: frame bytes intact");
    TAP_EQ_U64(used_idx(1), 1, "tx: chain returned (used.idx 1)");
    uint32_t id, len;
    used_elem(1, 0, &id, &len);
    TAP_EQ_U64(len, 0, "tx: used.len 0");
    TAP_CHECK(queue_irqs[1] >= 1, "tx: interrupt raised");
    struct net_stats st;
    virtio_net_get_stats(net, &st);
    TAP_EQ_U64(st.tx_packets, 1, "tx: tx_packets 1");
    TAP_EQ_U64(st.tx_bytes, 60, "tx: tx_bytes 60 (header not counted)");

    /* Header and frame in one descriptor, through an indirect table. */
    uint32_t tbl = alloc_buf(1, 32), one = alloc_buf(1, HDR + 40);
    memset(ram + one, 0, HDR);
    make_frame(ram + one + HDR, 40, 9);
    set_desc_at(ram + tbl, 0, gpa(one), HDR + 40, 0, 0);
    uint16_t head = fqs[1].next_desc;
    set_desc_at(ram + qbase(1), head, gpa(tbl), 16, VIRTQ_DESC_F_INDIRECT, 0);
    fqs[1].next_desc = (uint16_t)((head + 1) % QSIZE);
    uint8_t *avail = ram + qbase(1) + 0x1000;
    memcpy(avail + 4 + 2 * (fqs[1].avail_idx % QSIZE), &head, 2);
    fqs[1].avail_idx++;
    memcpy(avail + 2, &fqs[1].avail_idx, 2);
    kick(1);
    n = recv(peer[0], got, sizeof(got), MSG_DONTWAIT);
    TAP_EQ_U64(n, HDR + 40, "tx: indirect single-buffer frame sent");

    /* Link down: frames are consumed and dropped. */
    int before = config_irqs;
    virtio_net_set_link(net, false);
    TAP_EQ_U64(config_irqs, before + 1, "link down: config interrupt");
    uint8_t cfg[8];
    dev->ops->config_read(dev, 0, cfg, sizeof(cfg));
    TAP_EQ_U64(cfg[6], 0, "link down: status LINK_UP clear");
    post(1, segs, 2);
    kick(1);
    TAP_CHECK(recv(peer[0], got, sizeof(got), MSG_DONTWAIT) < 0, "link down: nothing reaches the tap");
    virtio_net_get_stats(net, &st);
    TAP_EQ_U64(st.tx_drop, 1, "link down: tx_drop 1");
    virtio_net_set_link(net, true);
    dev->ops->config_read(dev, 0, cfg, sizeof(cfg));
    TAP_EQ_U64(cfg[6], 1, "link up again");

    /* Hostile: a chain shorter than the header breaks the device, not us. */
    uint32_t s = alloc_buf(1, 4);
    struct seg shortseg[] = { { s, 4, false } };
    before = config_irqs;
    post(1, shortseg, 1);
    kick(1);
    TAP_CHECK(dev->status & VIRTIO_STATUS_NEEDS_RESET, "tx: 4-byte chain -> DEVICE_NEEDS_RESET");
    TAP_EQ_U64(config_irqs, before + 1, "tx: config interrupt for NEEDS_RESET");
    teardown(1);

    /* Hostile: a descriptor pointing outside guest RAM. */
    TAP_CHECK(setup(1, base_features()), "tx: device up again");
    struct seg outside[] = { { RAM_SIZE + 0x100000u, 64, false } };
    post(1, outside, 1);
    kick(1);
    TAP_CHECK(dev->status & VIRTIO_STATUS_NEEDS_RESET, "tx: buffer outside RAM -> NEEDS_RESET");
    TAP_CHECK(recv(peer[0], got, sizeof(got), MSG_DONTWAIT) < 0, "tx: nothing sent from a broken ring");
    teardown(1);
}

static void test_rx(void)
{
    uint8_t frame[HDR + 2500];
    TAP_CHECK(setup(1, base_features()), "rx: device up (no MRG_RXBUF)");
    uint32_t b = alloc_buf(0, 2048);
    struct seg seg = { b, 2048, true };
    uint16_t head = post(0, &seg, 1);
    kick(0);
    make_frame(frame, HDR + 100, 5);
    memset(frame, 0, HDR);
    frame[0] = 2;   /* DATA_VALID from the tap */
    frame[10] = 0x77;   /* garbage num_buffers: the device must overwrite it */
    TAP_CHECK(send(peer[0], frame, HDR + 100, 0) == HDR + 100, "rx: frame sent into the tap queue");
    kick(0);   /* stands in for the pair thread noticing POLLIN */
    TAP_EQ_U64(used_idx(0), 1, "rx: one buffer used");
    uint32_t id, len;
    used_elem(0, 0, &id, &len);
    TAP_EQ_U64(id, head, "rx: used id is the posted head");
    TAP_EQ_U64(len, HDR + 100, "rx: used.len = header + frame");
    TAP_EQ_U64(ram[b], 2, "rx: header flags from the tap kept");
    TAP_EQ_U64(ram[b + 10] | ram[b + 11] << 8, 1, "rx: num_buffers 1 without MRG_RXBUF");
    TAP_CHECK(memcmp(ram + b + HDR, frame + HDR, 100) == 0, "rx: frame bytes intact");
    TAP_CHECK(queue_irqs[0] >= 1, "rx: interrupt raised");

    /* A frame larger than the posted buffer is dropped, the buffer kept. */
    uint32_t small = alloc_buf(0, 200);
    struct seg sseg = { small, 200, true };
    post(0, &sseg, 1);
    make_frame(frame, HDR + 500, 1);
    send(peer[0], frame, HDR + 500, 0);
    kick(0);
    TAP_EQ_U64(used_idx(0), 1, "rx: oversized frame not placed in a small buffer");
    struct net_stats st;
    virtio_net_get_stats(net, &st);
    TAP_EQ_U64(st.rx_drop, 1, "rx: oversized frame counted in rx_drop");
    TAP_EQ_U64(st.rx_packets, 1, "rx: rx_packets 1");
    TAP_EQ_U64(st.rx_bytes, 100, "rx: rx_bytes 100");
    /* The kept buffer still serves the next frame that fits. */
    make_frame(frame, HDR + 50, 2);
    send(peer[0], frame, HDR + 50, 0);
    kick(0);
    TAP_EQ_U64(used_idx(0), 2, "rx: kept buffer used by the next frame");
    teardown(1);

    /* Merged buffers: 2500 bytes over three 1000-byte buffers. */
    TAP_CHECK(setup(1, base_features() | (1ull << F_MRG_RXBUF)), "rx: device up with MRG_RXBUF");
    uint32_t bufs[3];
    uint16_t heads[3];
    for (int i = 0; i < 3; i++) {
        bufs[i] = alloc_buf(0, 1000);
        struct seg s = { bufs[i], 1000, true };
        heads[i] = post(0, &s, 1);
    }
    kick(0);
    /* Nothing waiting yet: nothing used. */
    TAP_EQ_U64(used_idx(0), 0, "rx mrg: no frame, no used buffer");
    make_frame(frame, HDR + 2488, 11);
    memset(frame, 0, HDR);
    send(peer[0], frame, HDR + 2488, 0);
    kick(0);
    TAP_EQ_U64(used_idx(0), 3, "rx mrg: three buffers used for one frame");
    uint32_t lens[3], ids[3];
    for (int i = 0; i < 3; i++)
        used_elem(0, (uint16_t)i, &ids[i], &lens[i]);
    TAP_CHECK(lens[0] == 1000 && lens[1] == 1000 && lens[2] == 500,
              "rx mrg: used lens 1000/1000/500 (got %u/%u/%u)", lens[0], lens[1], lens[2]);
    TAP_CHECK(ids[0] == heads[0] && ids[1] == heads[1] && ids[2] == heads[2], "rx mrg: ids in order");
    TAP_EQ_U64(ram[bufs[0] + 10] | ram[bufs[0] + 11] << 8, 3, "rx mrg: num_buffers 3");
    uint8_t joined[2500];
    memcpy(joined, ram + bufs[0], 1000);
    memcpy(joined + 1000, ram + bufs[1], 1000);
    memcpy(joined + 2000, ram + bufs[2], 500);
    TAP_CHECK(memcmp(joined + HDR, frame + HDR, 2488) == 0, "rx mrg: frame intact across buffers");

    /* Starvation: a frame with too few buffers waits for a refill kick. */
    uint32_t one = alloc_buf(0, 1000);
    struct seg s1 = { one, 1000, true };
    post(0, &s1, 1);
    send(peer[0], frame, HDR + 1500, 0);
    kick(0);
    TAP_EQ_U64(used_idx(0), 3, "rx mrg: 1512-byte frame waits while only 1000 bytes are posted");
    uint32_t two = alloc_buf(0, 1000);
    struct seg s2 = { two, 1000, true };
    post(0, &s2, 1);
    kick(0);
    TAP_EQ_U64(used_idx(0), 5, "rx mrg: delivered over two buffers after the refill");
    TAP_EQ_U64(ram[one + 10], 2, "rx mrg: num_buffers 2");

    /* Hostile: a device-readable rx buffer. */
    uint32_t bad = alloc_buf(0, 100);
    struct seg rs = { bad, 100, false };
    post(0, &rs, 1);
    send(peer[0], frame, HDR + 60, 0);
    kick(0);
    TAP_CHECK(dev->status & VIRTIO_STATUS_NEEDS_RESET, "rx: readable rx buffer -> NEEDS_RESET");
    /* Reset brings it back. */
    dev->status = 0;
    dev->ops->reset(dev);
    TAP_CHECK(!(dev->status & VIRTIO_STATUS_NEEDS_RESET), "rx: reset clears the error");
    teardown(1);
}

/* Send one control command: {class, cmd} + data readable, ack writable. */
static int ctrl(unsigned cq, uint8_t cls, uint8_t cmd, const void *data, uint32_t len)
{
    uint32_t h = alloc_buf(cq, 2), d = alloc_buf(cq, len ? len : 1), a = alloc_buf(cq, 1);
    ram[h] = cls;
    ram[h + 1] = cmd;
    if (len)
        memcpy(ram + d, data, len);
    ram[a] = 0xEE;
    struct seg segs[3] = { { h, 2, false }, { d, len, false }, { a, 1, true } };
    if (len)
        post(cq, segs, 3);
    else {
        segs[1] = segs[2];
        post(cq, segs, 2);
    }
    kick(cq);
    return ram[a];
}

static unsigned filter_changes;
static void count_filter_change(struct virtio_net *n, void *opaque)
{
    (void)opaque;
    if (n == net)
        filter_changes++;
}

static void test_ctrl_and_mq(void)
{
    TAP_CHECK(setup(2, base_features() | (1ull << F_MQ) | (1ull << F_MRG_RXBUF)), "ctrl: 2-pair device up");
    unsigned cq = 4;
    struct virtio_net_info info;
    uint8_t on = 1;
    virtio_net_set_filter_notifier(net, count_filter_change, NULL);
    TAP_EQ_U64(ctrl(cq, 0, 0, &on, 1), 0, "ctrl: RX PROMISC on -> OK");
    TAP_EQ_U64(filter_changes, 1, "ctrl: the filter notifier ran for RX PROMISC");
    TAP_EQ_U64(ctrl(cq, 0, 0, "\1\1", 2), 1, "ctrl: a refused RX command ...");
    TAP_EQ_U64(filter_changes, 1, "... does not notify");
    TAP_EQ_U64(ctrl(cq, 0, 1, &on, 1), 0, "ctrl: RX ALLMULTI on -> OK");
    virtio_net_info(net, &info);
    TAP_CHECK(info.filter.promisc && info.filter.allmulti, "ctrl: promisc and allmulti recorded");
    TAP_EQ_U64(ctrl(cq, 0, 2, &on, 1), 1, "ctrl: RX ALLUNI (CTRL_RX_EXTRA not offered) -> ERR");
    TAP_EQ_U64(ctrl(cq, 0, 0, "\1\1", 2), 1, "ctrl: RX PROMISC with 2 data bytes -> ERR");

    uint8_t table[4 + 6 + 4 + 12] = { 1, 0, 0, 0, 0x52, 0x54, 0, 1, 2, 3, 2, 0, 0, 0,
                                      0x01, 0, 0x5e, 0, 0, 1, 0x33, 0x33, 0, 0, 0, 1 };
    TAP_EQ_U64(ctrl(cq, 1, 0, table, sizeof(table)), 0, "ctrl: MAC TABLE_SET 1 uni + 2 multi -> OK");
    virtio_net_info(net, &info);
    TAP_CHECK(info.filter.uni == 1 && info.filter.multi == 2, "ctrl: MAC table sizes recorded");
    uint8_t lying[] = { 5, 0, 0, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0 };
    TAP_EQ_U64(ctrl(cq, 1, 0, lying, sizeof(lying)), 1, "ctrl: MAC table count larger than data -> ERR");
    uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0 };
    TAP_EQ_U64(ctrl(cq, 1, 0, huge, sizeof(huge)), 1, "ctrl: MAC table count 2^32-1 -> ERR");
    uint8_t trailing[] = { 0, 0, 0, 0, 0, 0, 0, 0, 9 };
    TAP_EQ_U64(ctrl(cq, 1, 0, trailing, sizeof(trailing)), 1, "ctrl: MAC table with trailing bytes -> ERR");
    uint16_t vid = 100;
    TAP_EQ_U64(ctrl(cq, 2, 0, &vid, 2), 0, "ctrl: VLAN ADD 100 -> OK");
    vid = 5000;
    TAP_EQ_U64(ctrl(cq, 2, 0, &vid, 2), 1, "ctrl: VLAN ADD 5000 -> ERR");
    TAP_EQ_U64(ctrl(cq, 9, 0, NULL, 0), 1, "ctrl: unknown class 9 -> ERR");
    TAP_EQ_U64(ctrl(cq, 5, 0, "\0\0\0\0\0\0\0\0", 8), 1, "ctrl: GUEST_OFFLOADS (not offered) -> ERR");

    /* MQ: before VQ_PAIRS_SET only pair 0 works. */
    uint8_t hdrframe[HDR + 60];
    memset(hdrframe, 0, sizeof(hdrframe));
    make_frame(hdrframe + HDR, 60, 4);
    uint32_t t = alloc_buf(3, sizeof(hdrframe));
    memcpy(ram + t, hdrframe, sizeof(hdrframe));
    struct seg ts = { t, sizeof(hdrframe), false };
    post(3, &ts, 1);
    kick(3);
    TAP_EQ_U64(used_idx(3), 0, "mq: tx1 idle while one pair is enabled");
    uint16_t pairs = 0;
    TAP_EQ_U64(ctrl(cq, 4, 0, &pairs, 2), 1, "mq: VQ_PAIRS_SET 0 -> ERR");
    pairs = 3;
    TAP_EQ_U64(ctrl(cq, 4, 0, &pairs, 2), 1, "mq: VQ_PAIRS_SET 3 (> max 2) -> ERR");
    TAP_EQ_U64(ctrl(cq, 4, 0, &pairs, 1), 1, "mq: VQ_PAIRS_SET with 1 data byte -> ERR");
    pairs = 2;
    TAP_EQ_U64(ctrl(cq, 4, 0, &pairs, 2), 0, "mq: VQ_PAIRS_SET 2 -> OK");
    TAP_EQ_U64(filter_changes, 4, "ctrl: notified for PROMISC, ALLMULTI, MAC table, VLAN; not for MQ");
    virtio_net_info(net, &info);
    TAP_EQ_U64(info.active_pairs, 2, "mq: two pairs active");
    kick(3);
    TAP_EQ_U64(used_idx(3), 1, "mq: tx1 processed after VQ_PAIRS_SET 2");
    uint8_t got[256];
    TAP_CHECK(recv(peer[0], got, sizeof(got), MSG_DONTWAIT) < 0, "mq: tx1 frame not on tap queue 0");
    TAP_EQ_U64(recv(peer[1], got, sizeof(got), MSG_DONTWAIT), sizeof(hdrframe), "mq: tx1 frame on tap queue 1");
    /* rx: tap queue 1 feeds rx1 (queue 2), not rx0. */
    uint32_t r0 = alloc_buf(0, 1600), r1 = alloc_buf(2, 1600);
    struct seg rs0 = { r0, 1600, true }, rs1 = { r1, 1600, true };
    post(0, &rs0, 1);
    post(2, &rs1, 1);
    kick(0);
    kick(2);
    send(peer[1], hdrframe, sizeof(hdrframe), 0);
    kick(2);
    kick(0);
    TAP_EQ_U64(used_idx(2), 1, "mq: tap queue 1 frame delivered on rx1");
    TAP_EQ_U64(used_idx(0), 0, "mq: rx0 untouched");
    pairs = 1;
    TAP_EQ_U64(ctrl(cq, 4, 0, &pairs, 2), 0, "mq: back to 1 pair -> OK");
    post(3, &ts, 1);
    kick(3);
    TAP_EQ_U64(used_idx(3), 1, "mq: tx1 idle again after VQ_PAIRS_SET 1");

    /* Receive filter (worker data plane): with promiscuous and allmulti
     * off, a frame to a foreign unicast address is not delivered. rx0
     * still holds the buffer posted above. */
    uint8_t off = 0;
    TAP_EQ_U64(ctrl(cq, 0, 0, &off, 1), 0, "filter: RX PROMISC off -> OK");
    TAP_EQ_U64(ctrl(cq, 0, 1, &off, 1), 0, "filter: RX ALLMULTI off -> OK");
    memcpy(hdrframe + HDR, "\x52\x54\x00\x99\x99\x99", 6);
    send(peer[0], hdrframe, sizeof(hdrframe), 0);
    kick(0);
    TAP_EQ_U64(used_idx(0), 0, "filter: frame to a foreign unicast address not delivered");
    struct net_stats st;
    virtio_net_get_stats(net, &st);
    TAP_EQ_U64(st.rx_filtered, 1, "filter: counted as filtered, not as a drop");
    TAP_EQ_U64(st.rx_drop, 0, "filter: no drop counted");
    memcpy(hdrframe + HDR, "\x52\x54\x00\x12\x34\x56", 6);
    send(peer[0], hdrframe, sizeof(hdrframe), 0);
    kick(0);
    TAP_EQ_U64(used_idx(0), 1, "filter: frame to the device's own address delivered");
    uint8_t newmac[6] = { 0x52, 0x54, 0x00, 0x77, 0x77, 0x77 };
    TAP_EQ_U64(ctrl(cq, 1, 1, newmac, 6), 1, "filter: MAC_ADDR_SET without CTRL_MAC_ADDR -> ERR");

    /* Hostile control chains: no ack byte, or too short a header. */
    uint32_t h = alloc_buf(cq, 2);
    struct seg noack = { h, 2, false };
    post(cq, &noack, 1);
    kick(cq);
    TAP_CHECK(dev->status & VIRTIO_STATUS_NEEDS_RESET, "ctrl: chain without ack byte -> NEEDS_RESET");
    teardown(2);

    TAP_CHECK(setup(1, base_features()), "ctrl: device up without MQ");
    pairs = 1;
    TAP_EQ_U64(ctrl(2, 4, 0, &pairs, 2), 1, "ctrl: VQ_PAIRS_SET without MQ negotiated -> ERR");
    uint32_t a = alloc_buf(2, 1);
    struct seg onlyack = { a, 1, true };
    post(2, &onlyack, 1);
    kick(2);
    TAP_CHECK(dev->status & VIRTIO_STATUS_NEEDS_RESET, "ctrl: chain without class/cmd -> NEEDS_RESET");
    teardown(1);
}

static void test_config_errors(void)
{
    char err[256] = "";
    int sv[2];
    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
    struct net_backend *be = net_backend_from_fds(&sv[0], 1, HDR, "t", err, sizeof(err));
    struct virtio_net_config cfg = { .id = "netX", .queues = 2 };
    TAP_CHECK(!virtio_net_new_model(&gm, &cfg, be, err, sizeof(err)) && strstr(err, "tap queues"),
              "2 pairs on a 1-queue backend refused (%s)", err);
    close(sv[1]);
    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
    be = net_backend_from_fds(&sv[0], 1, 10, "t", err, sizeof(err));
    cfg.queues = 1;
    TAP_CHECK(!virtio_net_new_model(&gm, &cfg, be, err, sizeof(err)) && strstr(err, "12"),
              "10-byte vnet header refused (%s)", err);
    close(sv[1]);

    /* vhost-net: a fd that is not /dev/vhost-net is refused with the step named. */
    struct vhost_net vh;
    int fd = dup(1);
    TAP_CHECK(vhost_net_init(&vh, fd, err, sizeof(err)) < 0 && strstr(err, "VHOST_SET_OWNER"),
              "vhost: non-vhost fd refused at VHOST_SET_OWNER (%s)", err);
    int r = vhost_net_init(&vh, -1, err, sizeof(err));
    if (r == 0) {
        TAP_CHECK(vh.features & (1ull << VIRTIO_F_VERSION_1), "vhost: /dev/vhost-net offers VERSION_1");
        uint64_t f = vhost_net_ring_features(&vh, (1ull << VIRTIO_F_VERSION_1) | (1ull << F_MRG_RXBUF) |
                                                      (1ull << F_GUEST_TSO4) | (1ull << 27));
        TAP_CHECK((f & (1ull << F_MRG_RXBUF)) && !(f & (1ull << F_GUEST_TSO4)) && !(f & (1ull << 27)),
                  "vhost: ring features keep MRG_RXBUF, drop offloads and VIRTIO_NET_HDR");
        vhost_net_close(&vh);
    } else {
        TAP_CHECK(strstr(err, "/dev/vhost-net") != NULL,
                  "vhost: missing /dev/vhost-net named in the error (%s)", err);
    }
}

int main(void)
{
    ram = aligned_alloc(4096, RAM_SIZE);
    gm_add_region(&gm, RAM_GPA, RAM_SIZE, ram);
    test_identity();
    test_tx();
    test_rx();
    test_ctrl_and_mq();
    test_config_errors();
    free(ram);
    return tap_done();
}
