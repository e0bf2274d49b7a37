/* virtio-net receive filter: the RX mode, MAC table and VLAN filter the
 * driver sets through the control queue (virtio 1.2 §5.1.6.5.1 packet
 * receive filtering, §5.1.6.5.2 VLAN filtering), applied to each frame the
 * worker data plane takes from the backend. vhost-net does not filter (the
 * kernel delivers every frame the tap gets), as with QEMU.
 *
 * One writer (the control queue, serialised by its lock) and any number of
 * readers (the pair threads): a sequence counter lets readers run without
 * a lock and retry when a write overlapped. */
#ifndef HV_VIRTIO_NET_FILTER_H
#define HV_VIRTIO_NET_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NET_FILTER_MACS 64      /* entries kept per table; more = overflow */
#define NET_FILTER_VLANS 4096

struct net_filter {
    uint32_t seq;               /* odd while a write is in progress */
    bool promisc, allmulti;
    bool vlan_filtering;        /* VIRTIO_NET_F_CTRL_VLAN negotiated */
    bool uni_overflow, multi_overflow;
    uint32_t uni, multi;        /* table entries in use */
    uint8_t mac[6];             /* the device's own address */
    uint8_t table[2 * NET_FILTER_MACS][6];   /* unicast, then multicast */
    uint8_t vlans[NET_FILTER_VLANS / 8];
};

/* After a device reset: promiscuous, empty tables, no VLAN filtering, so a
 * driver that never configures filtering receives everything. */
void net_filter_reset(struct net_filter *f, const uint8_t mac[6]);
void net_filter_set_vlan_filtering(struct net_filter *f, bool on);
void net_filter_set_promisc(struct net_filter *f, bool on);
void net_filter_set_allmulti(struct net_filter *f, bool on);
/* VIRTIO_NET_CTRL_MAC_ADDR_SET: the driver's new own address. */
void net_filter_set_mac(struct net_filter *f, const uint8_t mac[6]);
/* VIRTIO_NET_CTRL_MAC_TABLE_SET payload: two blocks of le32 entries +
 * entries * 6 bytes. False (nothing changed) when it is malformed. */
bool net_filter_set_mac_table(struct net_filter *f, const uint8_t *d, size_t len);
/* False for a VLAN id out of range. */
bool net_filter_set_vlan(struct net_filter *f, uint16_t vid, bool on);

/* A consistent copy for reporting (monitor). */
void net_filter_snapshot(const struct net_filter *f, struct net_filter *out);

/* Whether an Ethernet frame (destination MAC first) passes. */
bool net_filter_accepts(const struct net_filter *f, const uint8_t *frame, size_t len);

#endif
