/* virtio-net receive filter (hv/virtio/net_filter.c): RX mode, MAC table,
 * own address, VLAN filter, overflow, malformed tables. */
#include "hv/virtio/net_filter.h"

#include "tests/tap.h"

static const uint8_t own[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* A 64-byte frame to dst, optionally 802.1Q tagged with vid (-1: untagged). */
static const uint8_t *frame_to(const uint8_t dst[6], int vid)
{
    static uint8_t f[64];
    memset(f, 0, sizeof(f));
    memcpy(f, dst, 6);
    memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
    if (vid >= 0) {
        f[12] = 0x81;
        f[13] = 0x00;
        f[14] = (uint8_t)(vid >> 8);
        f[15] = (uint8_t)vid;
        f[16] = 0x08;
    } else {
        f[12] = 0x08;
    }
    return f;
}

static bool passes(const struct net_filter *f, const uint8_t dst[6], int vid)
{
    return net_filter_accepts(f, frame_to(dst, vid), 64);
}

int main(void)
{
    static struct net_filter f;
    const uint8_t other[6] = { 0x52, 0x54, 0x00, 0xAA, 0xBB, 0xCC };
    const uint8_t bcast[6] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };
    const uint8_t mcast[6] = { 0x01, 0x00, 0x5E, 0x00, 0x00, 0x01 };
    const uint8_t mcast2[6] = { 0x33, 0x33, 0x00, 0x00, 0x00, 0x01 };

    net_filter_reset(&f, own);
    TAP_CHECK(f.promisc && passes(&f, other, -1), "after reset everything passes (promiscuous)");

    net_filter_set_promisc(&f, false);
    TAP_CHECK(passes(&f, own, -1), "own address passes");
    TAP_CHECK(!passes(&f, other, -1), "another unicast address is filtered");
    TAP_CHECK(passes(&f, bcast, -1), "broadcast passes");
    TAP_CHECK(!passes(&f, mcast, -1), "multicast not in the table is filtered");
    TAP_CHECK(!net_filter_accepts(&f, own, 6), "a runt shorter than an Ethernet header is filtered");

    /* 1 unicast + 1 multicast entry. */
    uint8_t table[4 + 6 + 4 + 6] = { 1, 0, 0, 0 };
    memcpy(table + 4, other, 6);
    table[10] = 1;
    memcpy(table + 14, mcast, 6);
    TAP_CHECK(net_filter_set_mac_table(&f, table, sizeof(table)), "MAC table 1+1 accepted");
    TAP_CHECK(passes(&f, other, -1), "unicast in the table passes");
    TAP_CHECK(passes(&f, mcast, -1), "multicast in the table passes");
    TAP_CHECK(!passes(&f, mcast2, -1), "multicast not in the table still filtered");
    net_filter_set_allmulti(&f, true);
    TAP_CHECK(passes(&f, mcast2, -1), "allmulti lets every multicast through");
    TAP_CHECK(!passes(&f, (const uint8_t[6]){ 0x52, 0, 0, 0, 0, 9 }, -1),
              "allmulti does not let foreign unicast through");
    net_filter_set_allmulti(&f, false);

    uint8_t lying[] = { 5, 0, 0, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0 };
    TAP_CHECK(!net_filter_set_mac_table(&f, lying, sizeof(lying)), "count beyond the data refused");
    uint8_t trailing[] = { 0, 0, 0, 0, 0, 0, 0, 0, 9 };
    TAP_CHECK(!net_filter_set_mac_table(&f, trailing, sizeof(trailing)), "trailing bytes refused");
    uint8_t cut[] = { 0, 0, 0, 0, 0, 0 };
    TAP_CHECK(!net_filter_set_mac_table(&f, cut, sizeof(cut)), "second block cut short refused");
    TAP_CHECK(passes(&f, other, -1) && f.uni == 1 && f.multi == 1,
              "a refused table leaves the previous one in force");

    /* More multicast addresses than kept: the whole class passes. */
    size_t n = NET_FILTER_MACS + 1, len = 4 + 4 + 6 * n;
    uint8_t *big = calloc(1, len);
    big[4] = (uint8_t)n;
    for (size_t i = 0; i < n; i++)
        memcpy(big + 8 + 6 * i, mcast, 6);
    TAP_CHECK(!net_filter_set_mac_table(&f, big, 0), "empty payload refused");
    TAP_CHECK(net_filter_set_mac_table(&f, big, len), "65 multicast entries accepted");
    TAP_CHECK(f.multi_overflow && passes(&f, mcast2, -1), "multicast overflow lets every multicast through");
    TAP_CHECK(!passes(&f, other, -1), "the unicast table was replaced (now empty)");
    free(big);

    net_filter_set_mac(&f, other);
    TAP_CHECK(passes(&f, other, -1) && !passes(&f, own, -1), "MAC_ADDR_SET moves the own address");
    net_filter_set_mac(&f, own);

    /* VLAN filtering applies to tagged frames once negotiated. */
    TAP_CHECK(passes(&f, own, 100), "tagged frame passes while VLAN filtering is off");
    net_filter_set_vlan_filtering(&f, true);
    TAP_CHECK(!passes(&f, own, 100), "VLAN 100 not in the filter is dropped");
    TAP_CHECK(passes(&f, own, -1), "untagged frames are not VLAN filtered");
    TAP_CHECK(net_filter_set_vlan(&f, 100, true), "VLAN ADD 100");
    TAP_CHECK(passes(&f, own, 100), "VLAN 100 passes after ADD");
    TAP_CHECK(!passes(&f, own, 101), "VLAN 101 still dropped");
    TAP_CHECK(net_filter_set_vlan(&f, 100, false) && !passes(&f, own, 100), "VLAN DEL 100 drops it again");
    TAP_CHECK(!net_filter_set_vlan(&f, 4096, true), "VLAN id 4096 refused");
    net_filter_set_promisc(&f, true);
    TAP_CHECK(passes(&f, other, 101), "promiscuous overrides MAC and VLAN filters");

    TAP_CHECK((f.seq & 1) == 0, "no write left open");
    return tap_done();
}
