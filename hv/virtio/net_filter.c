#include "hv/virtio/net_filter.h"

#include <string.h>

static void write_begin(struct net_filter *f)
{
    __atomic_store_n(&f->seq, f->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static void write_end(struct net_filter *f)
{
    __atomic_store_n(&f->seq, f->seq + 1, __ATOMIC_RELEASE);
}

void net_filter_reset(struct net_filter *f, const uint8_t mac[6])
{
    write_begin(f);
    /* As QEMU's device does: until the driver says otherwise, everything
     * passes (a driver without CTRL_RX never says). */
    f->promisc = true;
    f->allmulti = false;
    f->vlan_filtering = false;
    f->uni_overflow = f->multi_overflow = false;
    f->uni = f->multi = 0;
    memcpy(f->mac, mac, 6);
    memset(f->vlans, 0, sizeof(f->vlans));
    write_end(f);
}

void net_filter_set_vlan_filtering(struct net_filter *f, bool on)
{
    write_begin(f);
    f->vlan_filtering = on;
    write_end(f);
}

void net_filter_set_promisc(struct net_filter *f, bool on)
{
    write_begin(f);
    f->promisc = on;
    write_end(f);
}

void net_filter_set_allmulti(struct net_filter *f, bool on)
{
    write_begin(f);
    f->allmulti = on;
    write_end(f);
}

void net_filter_set_mac(struct net_filter *f, const uint8_t mac[6])
{
    write_begin(f);
    memcpy(f->mac, mac, 6);
    write_end(f);
}

bool net_filter_set_mac_table(struct net_filter *f, const uint8_t *d, size_t len)
{
    /* Validate both blocks before touching the tables. */
    uint32_t n[2];
    size_t off = 0;
    for (unsigned b = 0; b < 2; b++) {
        if (len - off < 4)
            return false;
        memcpy(&n[b], d + off, 4);
        off += 4;
        if (n[b] > (len - off) / 6)
            return false;
        off += 6 * (size_t)n[b];
    }
    if (off != len)
        return false;
    write_begin(f);
    off = 4;
    for (unsigned b = 0; b < 2; b++) {
        uint32_t keep = n[b] < NET_FILTER_MACS ? n[b] : NET_FILTER_MACS;
        memcpy(f->table[b * NET_FILTER_MACS], d + off, 6 * (size_t)keep);
        off += 6 * (size_t)n[b] + 4;
    }
    f->uni = n[0] < NET_FILTER_MACS ? n[0] : NET_FILTER_MACS;
    f->multi = n[1] < NET_FILTER_MACS ? n[1] : NET_FILTER_MACS;
    /* A table we cannot hold whole lets that whole class through. */
    f->uni_overflow = n[0] > NET_FILTER_MACS;
    f->multi_overflow = n[1] > NET_FILTER_MACS;
    write_end(f);
    return true;
}

bool net_filter_set_vlan(struct net_filter *f, uint16_t vid, bool on)
{
    if (vid >= NET_FILTER_VLANS)
        return false;
    write_begin(f);
    if (on)
        f->vlans[vid / 8] |= (uint8_t)(1u << (vid % 8));
    else
        f->vlans[vid / 8] &= (uint8_t)~(1u << (vid % 8));
    write_end(f);
    return true;
}

static bool in_table(const struct net_filter *f, unsigned first, uint32_t n, const uint8_t *mac)
{
    for (uint32_t i = 0; i < n; i++)
        if (memcmp(f->table[first + i], mac, 6) == 0)
            return true;
    return false;
}

static bool decide(const struct net_filter *f, const uint8_t *frame, size_t len)
{
    if (f->promisc)
        return true;
    if (len < 14)
        return false;
    /* 802.1Q tagged: TPID 0x8100 at offset 12, VLAN id in the low 12 bits
     * of the TCI that follows. Untagged frames are not VLAN filtered. */
    if (f->vlan_filtering && len >= 16 && frame[12] == 0x81 && frame[13] == 0x00) {
        uint16_t vid = (uint16_t)(((frame[14] << 8) | frame[15]) & 0xFFF);
        if (!(f->vlans[vid / 8] & (1u << (vid % 8))))
            return false;
    }
    static const uint8_t broadcast[6] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };
    if (memcmp(frame, broadcast, 6) == 0)
        return true;
    if (frame[0] & 1)   /* group address */
        return f->allmulti || f->multi_overflow ||
               in_table(f, NET_FILTER_MACS, f->multi, frame);
    return memcmp(frame, f->mac, 6) == 0 || f->uni_overflow || in_table(f, 0, f->uni, frame);
}

void net_filter_snapshot(const struct net_filter *f, struct net_filter *out)
{
    for (;;) {
        uint32_t seq = __atomic_load_n(&f->seq, __ATOMIC_ACQUIRE);
        if (seq & 1)
            continue;
        memcpy(out, f, sizeof(*out));
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&f->seq, __ATOMIC_RELAXED) == seq)
            return;
    }
}

bool net_filter_accepts(const struct net_filter *f, const uint8_t *frame, size_t len)
{
    for (;;) {
        uint32_t seq = __atomic_load_n(&f->seq, __ATOMIC_ACQUIRE);
        if (seq & 1)
            continue;   /* a control command is mid-write; it is short */
        bool ok = decide(f, frame, len);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&f->seq, __ATOMIC_RELAXED) == seq)
            return ok;
    }
}
