/* e1000 (82540EM) device model: driven through its BARs on the real PCI
 * core with fake guest RAM, a SOCK_SEQPACKET socketpair standing in for
 * the tap (one frame per message), and the Linux driver's access patterns
 * (x86-boot.md §9). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hv/backends/net.h"
#include "hv/devices/e1000.h"
#include "hv/devices/e1000_regs.h"
#include "hv/pci/pci.h"
#include "hv/vm.h"
#include "tests/tap.h"

#define RAM_SIZE (16u << 20)
#define RX_RING 0x10000
#define RX_BUFS 0x20000         /* 2048 bytes each, up to 32 */
#define TX_RING 0x40000
#define TX_BUFS 0x50000
#define TX_BIG 0x100000         /* room for a 64 KiB TSO payload */

static struct vm *vm;
static uint8_t *ram;
static struct e1000 *nic;
static struct pci_device *pd;
static int peer;                /* the "host side" of the fake tap */
static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xAA, 0xBB, 0xCC };

/* ---- register access through the BARs ---- */

static uint32_t rd32(uint32_t off)
{
    uint8_t b[4];
    pd->bars[0].fn(pd->bars[0].opaque, off, b, 4, false);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static void wr32(uint32_t off, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    pd->bars[0].fn(pd->bars[0].opaque, off, b, 4, true);
}
static void io_wr32(uint32_t off, uint32_t v)
{
    uint8_t b[4];
    memcpy(b, &v, 4);
    pd->bars[1].fn(pd->bars[1].opaque, off, b, 4, true);
}
static uint32_t io_rd32(uint32_t off)
{
    uint32_t v;
    uint8_t b[4];
    pd->bars[1].fn(pd->bars[1].opaque, off, b, 4, false);
    memcpy(&v, b, 4);
    return v;
}
static uint32_t cfg_rd(uint32_t reg, uint32_t len)
{
    return pci_cfg_read(vm, (uint32_t)pd->slot << 11 | (reg & ~3u), reg & 3u, len);
}
static void cfg_wr(uint32_t reg, uint32_t len, uint32_t v)
{
    pci_cfg_write(vm, (uint32_t)pd->slot << 11 | (reg & ~3u), reg & 3u, len, v);
}

/* ---- checksums, computed independently of the device ---- */

static uint32_t sum16(const uint8_t *p, size_t len, uint32_t s)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        s += (uint32_t)p[len - 1] << 8;
    return s;
}
static uint16_t fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xFFFF) + (s >> 16);
    return (uint16_t)s;
}
/* True when the IPv4 header at ip (ihl 5) checksums to 0xFFFF. */
static bool ip_csum_ok(const uint8_t *ip) { return fold(sum16(ip, 20, 0)) == 0xFFFF; }
/* True when the TCP/UDP segment after the IPv4 header checksums with the
 * pseudo-header (RFC 793 / 768). */
static bool l4_csum_ok(const uint8_t *ip, size_t l4len)
{
    uint32_t s = sum16(ip + 12, 8, 0);
    s += ip[9];
    s += (uint32_t)l4len;
    s = sum16(ip + 20, l4len, s);
    return fold(s) == 0xFFFF;
}
static uint32_t crc32_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }

/* ---- EEPROM Microwire, as Linux's e1000_hw.c bit-bangs it ---- */

static void ee_clock(uint32_t *eecd, bool di)
{
    *eecd = di ? *eecd | E1000_EECD_DI : *eecd & ~E1000_EECD_DI;
    wr32(E1000_EECD, *eecd);
    wr32(E1000_EECD, *eecd | E1000_EECD_SK);
    wr32(E1000_EECD, *eecd);
}
static uint16_t ee_read_word(unsigned addr)
{
    uint32_t eecd = E1000_EECD_REQ;
    wr32(E1000_EECD, eecd);
    eecd |= E1000_EECD_CS;
    wr32(E1000_EECD, eecd);
    unsigned cmd = E1000_EEPROM_OP_READ << 6 | addr;
    for (int i = 8; i >= 0; i--)
        ee_clock(&eecd, cmd >> i & 1);
    eecd &= ~E1000_EECD_DI;
    uint16_t data = 0;
    for (int i = 0; i < 16; i++) {
        wr32(E1000_EECD, eecd | E1000_EECD_SK);
        data = (uint16_t)(data << 1 | ((rd32(E1000_EECD) & E1000_EECD_DO) ? 1 : 0));
        wr32(E1000_EECD, eecd);
    }
    wr32(E1000_EECD, E1000_EECD_REQ);   /* CS low: standby */
    wr32(E1000_EECD, 0);                /* release */
    return data;
}

static uint16_t mdic_read(unsigned phy, unsigned r, uint32_t *raw)
{
    wr32(E1000_MDIC, E1000_MDIC_OP_READ | phy << E1000_MDIC_PHY_SHIFT | r << E1000_MDIC_REG_SHIFT);
    *raw = rd32(E1000_MDIC);
    return (uint16_t)*raw;
}

/* ---- rings ---- */

static void rx_setup(unsigned ndesc, uint32_t rctl)
{
    memset(ram + RX_RING, 0, 32 * 16);
    for (unsigned i = 0; i < ndesc; i++) {
        uint64_t a = RX_BUFS + (uint64_t)i * 2048;
        memcpy(ram + RX_RING + 16 * i, &a, 8);
    }
    wr32(E1000_RCTL, 0);
    wr32(E1000_RDBAL, RX_RING);
    wr32(E1000_RDBAH, 0);
    wr32(E1000_RDLEN, ndesc * 16);
    wr32(E1000_RDH, 0);
    wr32(E1000_RDT, ndesc - 1);
    wr32(E1000_RCTL, rctl);
}
static uint8_t rx_status(unsigned i) { return ram[RX_RING + 16 * i + 12]; }
static uint8_t rx_errors(unsigned i) { return ram[RX_RING + 16 * i + 13]; }
static uint16_t rx_len(unsigned i)
{
    uint16_t v;
    memcpy(&v, ram + RX_RING + 16 * i + 8, 2);
    return v;
}

static unsigned tx_tail;
static void tx_setup(void)
{
    memset(ram + TX_RING, 0, 32 * 16);
    wr32(E1000_TCTL, 0);
    wr32(E1000_TDBAL, TX_RING);
    wr32(E1000_TDBAH, 0);
    wr32(E1000_TDLEN, 32 * 16);
    wr32(E1000_TDH, 0);
    wr32(E1000_TDT, 0);
    wr32(E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP);
    tx_tail = 0;
}
static uint8_t *tx_desc(unsigned i) { return ram + TX_RING + 16 * (i % 32); }
static unsigned tx_legacy(uint64_t buf, uint16_t len, uint8_t cmd, uint8_t cso, uint8_t css,
                          uint16_t special)
{
    unsigned i = tx_tail++ % 32;
    uint8_t *d = tx_desc(i);
    memset(d, 0, 16);
    memcpy(d, &buf, 8);
    memcpy(d + 8, &len, 2);
    d[10] = cso;
    d[11] = cmd;
    d[13] = css;
    memcpy(d + 14, &special, 2);
    return i;
}
static unsigned tx_context(uint8_t ipcss, uint8_t ipcso, uint16_t ipcse, uint8_t tucss,
                           uint8_t tucso, uint16_t tucse, uint32_t paylen, uint8_t tucmd,
                           uint8_t hdr_len, uint16_t mss)
{
    unsigned i = tx_tail++ % 32;
    uint8_t *d = tx_desc(i);
    memset(d, 0, 16);
    d[0] = ipcss, d[1] = ipcso;
    memcpy(d + 2, &ipcse, 2);
    d[4] = tucss, d[5] = tucso;
    memcpy(d + 6, &tucse, 2);
    uint32_t cl = (paylen & 0xFFFFF) | (uint32_t)(tucmd | E1000_TXD_CMD_DEXT) << 24;
    memcpy(d + 8, &cl, 4);
    d[13] = hdr_len;
    memcpy(d + 14, &mss, 2);
    return i;
}
static unsigned tx_data(uint64_t buf, uint32_t len, uint8_t dcmd, uint8_t popts)
{
    unsigned i = tx_tail++ % 32;
    uint8_t *d = tx_desc(i);
    memset(d, 0, 16);
    memcpy(d, &buf, 8);
    uint32_t lower = (len & 0xFFFFF) | E1000_TXD_DTYP_DATA << 20 |
                     (uint32_t)(dcmd | E1000_TXD_CMD_DEXT) << 24;
    memcpy(d + 8, &lower, 4);
    d[13] = popts;
    return i;
}
static void tx_kick(void) { wr32(E1000_TDT, tx_tail % 32); }

static uint8_t pkt[70000];
static ssize_t peer_recv(void)
{
    return recv(peer, pkt, sizeof(pkt), MSG_DONTWAIT);
}
static unsigned peer_drain(void)
{
    unsigned n = 0;
    while (peer_recv() >= 0)
        n++;
    return n;
}

/* An Ethernet/IPv4/TCP (or UDP) packet as Linux's stack hands it to a
 * driver with CHECKSUM_PARTIAL: the L4 checksum field holds the
 * pseudo-header sum (with the L4 length unless tso, as e1000_tso does). */
static size_t build_ipv4(uint8_t *p, bool tcp, size_t payload, bool tso)
{
    size_t l4h = tcp ? 20 : 8, len = 14 + 20 + l4h + payload;
    memset(p, 0, len);
    memcpy(p, "\x52\x54\x00\x11\x22\x33", 6);
    memcpy(p + 6, mac, 6);
    put16(p + 12, 0x0800);
    uint8_t *ip = p + 14;
    ip[0] = 0x45;
    put16(ip + 2, tso ? 0 : (uint16_t)(20 + l4h + payload));
    put16(ip + 4, 0x1234);
    ip[8] = 64;
    ip[9] = tcp ? 6 : 17;
    memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
    if (!tso)
        put16(ip + 10, (uint16_t)~fold(sum16(ip, 20, 0)));
    uint8_t *l4 = ip + 20;
    put16(l4, 40000);
    put16(l4 + 2, 5201);
    if (tcp) {
        memcpy(l4 + 4, "\x10\x00\x00\x00", 4);     /* seq 0x10000000 */
        l4[12] = 0x50;
        l4[13] = 0x18 | 0x01;                       /* PSH ACK FIN */
        put16(l4 + 14, 65535);
    } else {
        put16(l4 + 4, (uint16_t)(8 + payload));
    }
    for (size_t i = 0; i < payload; i++)
        l4[l4h + i] = (uint8_t)(i * 7 + 3);
    uint32_t ps = sum16(ip + 12, 8, 0) + ip[9] + (tso ? 0 : (uint32_t)(l4h + payload));
    put16(l4 + (tcp ? 16 : 6), fold(ps));
    return len;
}

static void test_identity_and_reset(void)
{
    TAP_EQ_U64(cfg_rd(0x00, 4), 0x100E8086, "PCI 8086:100E");
    TAP_EQ_U64(cfg_rd(0x08, 4), 0x02000003, "class 020000, revision 3");
    TAP_EQ_U64(cfg_rd(0x2C, 4), 0x11001AF4, "subsystem 1AF4:1100");
    TAP_EQ_U64(cfg_rd(0x3D, 1), 1, "interrupt pin A");
    TAP_EQ_U64(cfg_rd(0x06, 2) & 0x10, 0, "no capability list");
    TAP_CHECK(pd->bars[0].type == PCI_BAR_MEM32 && pd->bars[0].size == 0x20000,
              "BAR0 128 KiB 32-bit memory");
    TAP_CHECK(pd->bars[1].type == PCI_BAR_IO && pd->bars[1].size == 0x40, "BAR1 64-byte I/O");

    wr32(E1000_IMS, 0xFFFF);
    wr32(E1000_RCTL, E1000_RCTL_EN);
    /* Linux issues the reset through IOADDR/IODATA on the 82540. */
    io_wr32(E1000_IOADDR, E1000_CTRL);
    TAP_EQ_U64(io_rd32(E1000_IOADDR), E1000_CTRL, "IOADDR reads back");
    io_wr32(E1000_IODATA, rd32(E1000_CTRL) | E1000_CTRL_RST);
    TAP_EQ_U64(rd32(E1000_CTRL) & E1000_CTRL_RST, 0, "CTRL.RST self-clears");
    TAP_CHECK(rd32(E1000_CTRL) & E1000_CTRL_SLU, "CTRL after reset has SLU");
    TAP_EQ_U64(rd32(E1000_IMS), 0, "reset clears IMS");
    TAP_EQ_U64(rd32(E1000_RCTL), 0, "reset clears RCTL");
    TAP_CHECK(rd32(E1000_STATUS) & E1000_STATUS_LU, "STATUS.LU with carrier");
    TAP_EQ_U64((rd32(E1000_STATUS) >> 6) & 3, 2, "STATUS speed 1000");
    TAP_EQ_U64(io_rd32(E1000_IODATA), rd32(E1000_CTRL), "IODATA reads the selected register");
    TAP_EQ_U64(rd32(E1000_RA), 0xAA005452, "RAL0 = MAC bytes 0-3 after reset");
    TAP_EQ_U64(rd32(E1000_RA + 4), 0x8000CCBB, "RAH0 = MAC bytes 4-5 | AV");
}

static void test_eeprom(void)
{
    uint16_t w[64];
    uint16_t sum = 0;
    for (unsigned i = 0; i < 64; i++) {
        w[i] = ee_read_word(i);
        sum = (uint16_t)(sum + w[i]);
    }
    TAP_EQ_U64(w[0], 0x5452, "EEPROM word 0 = MAC 52:54");
    TAP_EQ_U64(w[1], 0xAA00, "EEPROM word 1 = MAC 00:aa");
    TAP_EQ_U64(w[2], 0xCCBB, "EEPROM word 2 = MAC bb:cc");
    TAP_EQ_U64(w[0x0D], 0x100E, "EEPROM device id");
    TAP_EQ_U64(w[0x0E], 0x8086, "EEPROM vendor id");
    TAP_EQ_U64(sum, 0xBABA, "EEPROM words 0x00-0x3F sum to 0xBABA");
    TAP_CHECK(rd32(E1000_EECD) & E1000_EECD_PRES, "EECD.PRES");
    TAP_EQ_U64(rd32(E1000_EECD) & E1000_EECD_SIZE, 0, "EECD.SIZE = 0 (64 words)");
    wr32(E1000_EECD, E1000_EECD_REQ);
    TAP_CHECK(rd32(E1000_EECD) & E1000_EECD_GNT, "EECD.REQ is granted");
    wr32(E1000_EECD, 0);
    wr32(E1000_EERD, 0x0D << E1000_EERD_ADDR_SHIFT | E1000_EERD_START);
    uint32_t eerd = rd32(E1000_EERD);
    TAP_CHECK((eerd & E1000_EERD_DONE) && eerd >> 16 == 0x100E, "EERD reads word 0x0D (0x%x)",
              eerd);
    /* A write opcode (101b) followed by clocks changes nothing. */
    uint32_t eecd = E1000_EECD_CS;
    wr32(E1000_EECD, eecd);
    for (int i = 8; i >= 0; i--)
        ee_clock(&eecd, (0x5u << 6 | 0) >> i & 1);
    for (int i = 0; i < 16; i++)
        ee_clock(&eecd, true);
    wr32(E1000_EECD, 0);
    TAP_EQ_U64(ee_read_word(0), 0x5452, "EEPROM write opcode ignored");
}

static void test_phy(void)
{
    uint32_t raw;
    TAP_EQ_U64(mdic_read(1, 2, &raw), 0x0141, "PHY ID1 0x0141");
    TAP_CHECK(raw & E1000_MDIC_READY, "MDIC READY after read");
    TAP_EQ_U64(mdic_read(1, 3, &raw), 0x0C20, "PHY ID2 0x0C20 (M88E1011)");
    mdic_read(2, 2, &raw);
    TAP_CHECK((raw & E1000_MDIC_ERROR) && (raw & E1000_MDIC_READY), "PHY address 2: MDIC ERROR");
    rd32(E1000_ICR);
    wr32(E1000_MDIC, E1000_MDIC_OP_WRITE | 1u << E1000_MDIC_PHY_SHIFT | 0u << 16 | 0x1340);
    TAP_EQ_U64(mdic_read(1, 0, &raw) & 0x0200, 0, "PHY restart-AN bit self-clears");
    TAP_EQ_U64(mdic_read(1, 1, &raw), 0x796D, "PHY status: link up, AN complete");
    TAP_CHECK(mdic_read(1, 17, &raw) & 0x0400, "M88 specific status: link");
    TAP_CHECK(rd32(E1000_ICR) & E1000_ICR_LSC, "AN completion raised LSC");
    wr32(E1000_MDIC, E1000_MDIC_OP_WRITE | 1u << E1000_MDIC_PHY_SHIFT | 16u << 16 | 0x0068);
    TAP_EQ_U64(mdic_read(1, 16, &raw), 0x0068, "M88 specific control is writable");
    wr32(E1000_MDIC, E1000_MDIC_OP_WRITE | 1u << E1000_MDIC_PHY_SHIFT | 2u << 16 | 0x1234);
    TAP_EQ_U64(mdic_read(1, 2, &raw), 0x0141, "PHY ID is read-only");
}

static void test_interrupts(void)
{
    rd32(E1000_ICR);
    wr32(E1000_IMC, 0xFFFFFFFF);
    TAP_CHECK(!pd->intx_level, "INTx low with nothing pending");
    wr32(E1000_ICS, E1000_ICR_LSC);
    TAP_CHECK(!pd->intx_level, "ICS with the cause masked: INTx stays low");
    wr32(E1000_IMS, E1000_ICR_LSC | E1000_ICR_RXT0);
    TAP_EQ_U64(rd32(E1000_IMS), E1000_ICR_LSC | E1000_ICR_RXT0, "IMS reads the mask");
    TAP_CHECK(pd->intx_level, "unmasking a pending cause raises INTx");
    TAP_CHECK(cfg_rd(0x06, 2) & 0x08, "PCI status interrupt bit set");
    uint32_t icr = rd32(E1000_ICR);
    TAP_EQ_U64(icr, E1000_ICR_LSC | E1000_ICR_INT_ASSERTED, "ICR = LSC | INT_ASSERTED");
    TAP_CHECK(!pd->intx_level, "reading ICR deasserts INTx");
    TAP_EQ_U64(rd32(E1000_ICR), 0, "ICR read cleared it");
    wr32(E1000_ICS, E1000_ICR_RXT0);
    TAP_CHECK(pd->intx_level, "ICS RXT0 raises INTx");
    wr32(E1000_IMC, E1000_ICR_RXT0);
    TAP_CHECK(!pd->intx_level, "IMC masks it again");
    wr32(E1000_IMS, E1000_ICR_RXT0);
    cfg_wr(0x04, 2, cfg_rd(0x04, 2) | 0x400);
    TAP_CHECK(cfg_rd(0x06, 2) & 0x08, "INTx disable: status bit still shows the level");
    cfg_wr(0x04, 2, cfg_rd(0x04, 2) & ~0x400u);
    rd32(E1000_ICR);
    wr32(E1000_IMC, 0xFFFFFFFF);
}

static void send_frame(const uint8_t *f, size_t len)
{
    if (send(peer, f, len, 0) != (ssize_t)len)
        printf("# send to the fake tap failed: %s\n", strerror(errno));
}

static void test_rx(void)
{
    uint8_t f[2048];
    rx_setup(8, E1000_RCTL_EN | E1000_RCTL_BAM | E1000_RCTL_SECRC);
    /* A 42-byte ARP-sized frame to our MAC: padded to 60. */
    memset(f, 0, sizeof(f));
    memcpy(f, mac, 6);
    memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
    put16(f + 12, 0x0806);
    for (int i = 14; i < 42; i++)
        f[i] = (uint8_t)i;
    send_frame(f, 42);
    TAP_EQ_U64(e1000_rx_poll(nic), 1, "one frame taken from the backend");
    TAP_EQ_U64(rx_status(0) & 0x03, 0x03, "descriptor 0: DD | EOP");
    TAP_EQ_U64(rx_len(0), 60, "short frame padded to 60 bytes");
    TAP_CHECK(memcmp(ram + RX_BUFS, f, 42) == 0 && ram[RX_BUFS + 42] == 0 && ram[RX_BUFS + 59] == 0,
              "frame bytes in the buffer, zero padding");
    TAP_EQ_U64(rd32(E1000_RDH), 1, "RDH advanced");
    TAP_CHECK(rd32(E1000_ICR) & E1000_ICR_RXT0, "RXT0 raised");

    /* Filtering. */
    f[5] = 0xCD;    /* another unicast address */
    send_frame(f, 42);
    e1000_rx_poll(nic);
    TAP_EQ_U64(rx_status(1), 0, "frame to another MAC filtered");
    memset(f, 0xFF, 6);
    send_frame(f, 42);
    e1000_rx_poll(nic);
    TAP_EQ_U64(rx_status(1) & 1, 1, "broadcast accepted with BAM");
    memcpy(f, "\x01\x00\x5e\x00\x00\xfb", 6);     /* 224.0.0.251 */
    send_frame(f, 42);
    e1000_rx_poll(nic);
    TAP_EQ_U64(rx_status(2), 0, "multicast not in MTA filtered");
    struct net_stats fst;
    e1000_get_stats(nic, &fst);
    TAP_EQ_U64(fst.rx_filtered, 2, "the two filtered frames counted as filtered");
    TAP_EQ_U64(fst.rx_drop, 0, "and not as drops");
    unsigned hash = ((f[4] >> 4) | (unsigned)f[5] << 4) & 0xFFF;    /* MO = 0 */
    wr32(E1000_MTA + 4 * (hash >> 5), 1u << (hash & 31));
    send_frame(f, 42);
    e1000_rx_poll(nic);
    TAP_EQ_U64(rx_status(2) & 1, 1, "multicast accepted through the MTA hash");
    wr32(E1000_MTA + 4 * (hash >> 5), 0);
    memcpy(f, "\x02\x99\x99\x99\x99\x99", 6);
    wr32(E1000_RCTL, rd32(E1000_RCTL) | E1000_RCTL_UPE);
    send_frame(f, 42);
    e1000_rx_poll(nic);
    TAP_EQ_U64(rx_status(3) & 1, 1, "any unicast accepted with UPE");

    /* Multi-descriptor frame: 256-byte buffers, 600 bytes -> 3 descriptors. */
    rx_setup(8, E1000_RCTL_EN | E1000_RCTL_SECRC | 3u << E1000_RCTL_BSIZE_SHIFT);
    memcpy(f, mac, 6);
    for (int i = 14; i < 600; i++)
        f[i] = (uint8_t)(i * 3);
    send_frame(f, 600);
    e1000_rx_poll(nic);
    TAP_CHECK(rx_len(0) == 256 && rx_len(1) == 256 && rx_len(2) == 88,
              "600 bytes over 256/256/88 (%u/%u/%u)", rx_len(0), rx_len(1), rx_len(2));
    TAP_CHECK(rx_status(0) == 0x05 && rx_status(1) == 0x05 && rx_status(2) == 0x07,
              "EOP only on the last descriptor");
    TAP_CHECK(memcmp(ram + RX_BUFS, f, 256) == 0 && memcmp(ram + RX_BUFS + 2048, f + 256, 256) == 0 &&
                  memcmp(ram + RX_BUFS + 4096, f + 512, 88) == 0,
              "data split in order");

    /* FCS kept (SECRC clear): length + 4 and a valid CRC-32. */
    rx_setup(8, E1000_RCTL_EN);
    send_frame(f, 100);
    e1000_rx_poll(nic);
    uint32_t crc = crc32_bitwise(f, 100), got;
    memcpy(&got, ram + RX_BUFS + 100, 4);
    TAP_CHECK(rx_len(0) == 104 && got == crc, "FCS appended without SECRC (len %u)", rx_len(0));

    /* Oversized without LPE dropped. */
    rx_setup(8, E1000_RCTL_EN | E1000_RCTL_SECRC);
    memset(f + 14, 0, 2000 - 14);
    send_frame(f, 2000);
    e1000_rx_poll(nic);
    TAP_EQ_U64(rx_status(0), 0, "2000-byte frame dropped without LPE");
    TAP_EQ_U64(rd32(E1000_ROC), 1, "ROC counted it");
    wr32(E1000_RCTL, rd32(E1000_RCTL) | E1000_RCTL_LPE);
    send_frame(f, 2000);
    e1000_rx_poll(nic);
    TAP_CHECK(rx_len(0) == 2000 && rx_status(0) == 0x07, "2000-byte frame in one buffer with LPE");

    /* VLAN strip with CTRL.VME. */
    rx_setup(8, E1000_RCTL_EN | E1000_RCTL_SECRC);
    wr32(E1000_CTRL, rd32(E1000_CTRL) | E1000_CTRL_VME);
    uint8_t v[80];
    memcpy(v, f, 12);
    put16(v + 12, 0x8100);
    put16(v + 14, 0x0123);
    put16(v + 16, 0x0800);
    memset(v + 18, 0xAB, sizeof(v) - 18);
    send_frame(v, sizeof(v));
    e1000_rx_poll(nic);
    uint16_t special;
    memcpy(&special, ram + RX_RING + 14, 2);
    TAP_CHECK((rx_status(0) & E1000_RXD_STAT_VP) && special == 0x0123 && rx_len(0) == 76 &&
                  be16(ram + RX_BUFS + 12) == 0x0800,
              "VLAN tag stripped into the descriptor");
    wr32(E1000_CTRL, rd32(E1000_CTRL) & ~E1000_CTRL_VME);

    /* Ring full: the model stops reading; the frame waits in the backend. */
    rx_setup(8, E1000_RCTL_EN | E1000_RCTL_SECRC);
    rd32(E1000_GPRC);
    rd32(E1000_GORCH);
    for (int i = 0; i < 7; i++)
        send_frame(f, 100);
    TAP_EQ_U64(e1000_rx_poll(nic), 7, "7 frames fill the 7 free descriptors");
    send_frame(f, 100);
    TAP_EQ_U64(e1000_rx_poll(nic), 0, "ring full: nothing read from the backend");
    TAP_CHECK(rd32(E1000_ICR) & E1000_ICR_RXDMT0, "RXDMT0 raised when below the threshold");
    struct net_stats st0, st1;
    e1000_get_stats(nic, &st0);
    TAP_CHECK(!e1000_receive(nic, f, 100), "a frame offered with the ring full is dropped");
    e1000_get_stats(nic, &st1);
    TAP_EQ_U64(st1.rx_drop - st0.rx_drop, 1, "rx_drop counted");
    TAP_EQ_U64(rd32(E1000_MPC), 1, "MPC counted (read-to-clear)");
    TAP_EQ_U64(rd32(E1000_MPC), 0, "MPC cleared by the read");
    TAP_CHECK(rd32(E1000_ICR) & E1000_ICR_RXO, "RXO raised");
    memset(ram + RX_RING, 0, 16);
    uint64_t a = RX_BUFS;
    memcpy(ram + RX_RING, &a, 8);
    wr32(E1000_RDT, 0);
    TAP_EQ_U64(e1000_rx_poll(nic), 1, "RDT moved: the waiting frame is read");
    TAP_EQ_U64(rx_status(7) & 1, 1, "and lands in descriptor 7");
    TAP_EQ_U64(rd32(E1000_GPRC), 8, "GPRC counted 8 good frames");
    TAP_EQ_U64(rd32(E1000_GPRC), 0, "GPRC read-to-clear");
    TAP_EQ_U64(rd32(E1000_GORCL), 800, "GORCL counted 800 bytes");
    TAP_EQ_U64(rd32(E1000_GORCH), 0, "GORCH read clears the pair");
    TAP_EQ_U64(rd32(E1000_GORCL), 0, "GORCL cleared");

    /* Held frame: needs 3 descriptors, 2 free -> waits, then fits. */
    rx_setup(8, E1000_RCTL_EN | E1000_RCTL_SECRC | 3u << E1000_RCTL_BSIZE_SHIFT);
    wr32(E1000_RDT, 2);
    send_frame(f, 600);
    TAP_EQ_U64(e1000_rx_poll(nic), 1, "frame read with 2 free descriptors");
    TAP_EQ_U64(rx_status(0), 0, "it needs 3, so it is held, not written");
    wr32(E1000_RDT, 5);
    e1000_rx_poll(nic);
    TAP_CHECK(rx_status(2) == 0x07 && rd32(E1000_RDH) == 3, "after RDT moves it is delivered");

    /* Receiver disabled: frames are read and discarded. */
    wr32(E1000_RCTL, 0);
    send_frame(f, 100);
    TAP_EQ_U64(e1000_rx_poll(nic), 1, "receiver off: frame read and discarded");
    TAP_EQ_U64(rd32(E1000_RDH), 3, "nothing written");
    rd32(E1000_ICR);
}

static void test_tx(void)
{
    peer_drain();
    tx_setup();
    uint8_t *buf = ram + TX_BUFS;
    size_t len = build_ipv4(buf, true, 100, false);
    /* Legacy: plain frame, split over two descriptors. */
    tx_legacy(TX_BUFS, 20, 0, 0, 0, 0);
    unsigned last = tx_legacy(TX_BUFS + 20, (uint16_t)(len - 20),
                              E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS | E1000_TXD_CMD_IFCS, 0, 0, 0);
    tx_kick();
    ssize_t n = peer_recv();
    TAP_CHECK(n == (ssize_t)len && memcmp(pkt, buf, len) == 0, "legacy frame sent intact (%zd)", n);
    TAP_EQ_U64(tx_desc(last)[12] & 1, 1, "DD written back for RS");
    TAP_EQ_U64(rd32(E1000_TDH), 2, "TDH advanced to TDT");
    TAP_CHECK(rd32(E1000_ICR) & E1000_ICR_TXDW, "TXDW raised");

    /* Legacy IC: checksum inserted at cso summing from css. */
    size_t ulen = build_ipv4(buf, false, 51, false);
    tx_legacy(TX_BUFS, (uint16_t)ulen, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IC, 14 + 20 + 6, 14 + 20, 0);
    tx_kick();
    n = peer_recv();
    TAP_CHECK(n == (ssize_t)ulen && l4_csum_ok(pkt + 14, ulen - 34), "legacy IC: UDP checksum valid");

    /* Context + data with TXSM: TCP checksum over two data buffers. */
    len = build_ipv4(buf, true, 333, false);
    tx_context(14, 24, 33, 34, 34 + 16, 0, 0, E1000_TUCMD_TCP | E1000_TUCMD_IP, 0, 0);
    tx_data(TX_BUFS, 54, 0, E1000_TXD_POPTS_TXSM);
    tx_data(TX_BUFS + 54, (uint32_t)(len - 54), E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
    tx_kick();
    n = peer_recv();
    TAP_CHECK(n == (ssize_t)len && l4_csum_ok(pkt + 14, len - 34) && ip_csum_ok(pkt + 14),
              "context/data TXSM: TCP checksum valid");
    TAP_CHECK(memcmp(pkt + 54, buf + 54, len - 54) == 0, "payload intact");

    /* UDP with IXSM too (IP checksum zeroed first). */
    ulen = build_ipv4(buf, false, 200, false);
    put16(buf + 24, 0);
    tx_context(14, 24, 33, 34, 34 + 6, 0, 0, E1000_TUCMD_IP, 0, 0);
    tx_data(TX_BUFS, (uint32_t)ulen, E1000_TXD_CMD_EOP, E1000_TXD_POPTS_TXSM | E1000_TXD_POPTS_IXSM);
    tx_kick();
    n = peer_recv();
    TAP_CHECK(n == (ssize_t)ulen && l4_csum_ok(pkt + 14, ulen - 34) && ip_csum_ok(pkt + 14),
              "UDP and IP header checksums inserted");

    /* VLAN insertion. */
    wr32(E1000_CTRL, rd32(E1000_CTRL) | E1000_CTRL_VME);
    len = build_ipv4(buf, true, 10, false);
    tx_legacy(TX_BUFS, (uint16_t)len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_VLE, 0, 0, 0x0123);
    tx_kick();
    n = peer_recv();
    TAP_CHECK(n == (ssize_t)len + 4 && be16(pkt + 12) == 0x8100 && be16(pkt + 14) == 0x0123 &&
                  memcmp(pkt + 16, buf + 12, len - 12) == 0,
              "VLE inserts the 802.1Q tag");
    wr32(E1000_CTRL, rd32(E1000_CTRL) & ~E1000_CTRL_VME);

    struct net_stats st;
    e1000_get_stats(nic, &st);
    TAP_EQ_U64(st.tx_packets, 5, "tx_packets counts 5 frames");
    TAP_EQ_U64(rd32(E1000_GPTC), 5, "GPTC 5");
    rd32(E1000_ICR);
}

static void test_tso(void)
{
    peer_drain();
    tx_setup();
    uint8_t *buf = ram + TX_BIG;
    const size_t payload = 2500, mss = 1000, hdr = 54;
    size_t len = build_ipv4(buf, true, payload, true);
    tx_context(14, 24, 33, 34, 50, 0, (uint32_t)payload,
               E1000_TUCMD_TCP | E1000_TUCMD_IP | E1000_TUCMD_TSE, (uint8_t)hdr, (uint16_t)mss);
    tx_data(TX_BIG, (uint32_t)hdr, E1000_TXD_CMD_TSE, E1000_TXD_POPTS_TXSM | E1000_TXD_POPTS_IXSM);
    tx_data(TX_BIG + hdr, 1500, E1000_TXD_CMD_TSE, 0);
    tx_data(TX_BIG + hdr + 1500, (uint32_t)(len - hdr - 1500),
            E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
    tx_kick();
    size_t want_len[3] = { hdr + 1000, hdr + 1000, hdr + 500 };
    for (unsigned s = 0; s < 3; s++) {
        ssize_t n = peer_recv();
        uint8_t *ip = pkt + 14, *tcp = pkt + 34;
        TAP_EQ_U64(n, want_len[s], "TSO segment length");
        if (n != (ssize_t)want_len[s])
            continue;
        TAP_EQ_U64(be16(ip + 2), n - 14, "segment IP total length");
        TAP_EQ_U64(be16(ip + 4), 0x1234 + s, "segment IP id increments");
        TAP_EQ_U64(be32(tcp + 4), 0x10000000u + s * mss, "segment TCP sequence number");
        TAP_EQ_U64(tcp[13] & 0x09, s == 2 ? 0x09 : 0, "FIN/PSH only on the last segment");
        TAP_CHECK(ip_csum_ok(ip), "segment %u IP checksum valid", s);
        TAP_CHECK(l4_csum_ok(ip, (size_t)n - 34), "segment %u TCP checksum valid", s);
        TAP_CHECK(memcmp(pkt + hdr, buf + hdr + s * mss, (size_t)n - hdr) == 0,
                  "segment %u payload", s);
    }
    TAP_CHECK(peer_recv() < 0, "exactly three segments");
    TAP_EQ_U64(rd32(E1000_TSCTC), 1, "TSCTC counts the TSO context");

    /* A 64000-byte payload with MSS 1448 -> 45 segments, all valid. */
    const size_t big = 64000, bmss = 1448;
    len = build_ipv4(buf, true, big, true);
    tx_context(14, 24, 33, 34, 50, 0, (uint32_t)big,
               E1000_TUCMD_TCP | E1000_TUCMD_IP | E1000_TUCMD_TSE, (uint8_t)hdr, (uint16_t)bmss);
    tx_data(TX_BIG, (uint32_t)len, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP,
            E1000_TXD_POPTS_TXSM | E1000_TXD_POPTS_IXSM);
    tx_kick();
    unsigned segs = 0, good = 0;
    size_t bytes = 0;
    ssize_t n;
    while ((n = peer_recv()) > 0) {
        segs++;
        bytes += (size_t)n - hdr;
        if (ip_csum_ok(pkt + 14) && l4_csum_ok(pkt + 14, (size_t)n - 34) &&
            be32(pkt + 38) == 0x10000000u + (segs - 1) * bmss)
            good++;
    }
    TAP_CHECK(segs == 45 && good == 45 && bytes == big, "64000 bytes in 45 valid segments (%u/%u)",
              good, segs);
}

static void test_hostile(void)
{
    peer_drain();
    struct net_stats st0, st1;
    /* TX buffer outside RAM: frame dropped, descriptor still completes. */
    tx_setup();
    e1000_get_stats(nic, &st0);
    unsigned d = tx_legacy(0xF0000000ull, 100, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0, 0);
    tx_legacy(TX_BUFS, 60, E1000_TXD_CMD_EOP, 0, 0, 0);
    tx_kick();
    e1000_get_stats(nic, &st1);
    TAP_EQ_U64(st1.tx_errs - st0.tx_errs, 1, "tx buffer outside RAM: counted as error");
    TAP_EQ_U64(tx_desc(d)[12] & 1, 1, "its descriptor still completes");
    TAP_EQ_U64(peer_drain(), 1, "the next frame goes out");

    /* Buffer straddling the end of RAM. */
    tx_legacy(RAM_SIZE - 10, 100, E1000_TXD_CMD_EOP, 0, 0, 0);
    tx_kick();
    TAP_EQ_U64(peer_drain(), 0, "buffer crossing the end of RAM: dropped");

    /* More than 64 KiB gathered without EOP. */
    e1000_get_stats(nic, &st0);
    for (int i = 0; i < 3; i++)
        tx_data(TX_BIG, 30000, 0, 0);
    tx_data(TX_BIG, 100, E1000_TXD_CMD_EOP, 0);
    tx_kick();
    e1000_get_stats(nic, &st1);
    TAP_CHECK(peer_drain() == 0 && st1.tx_errs - st0.tx_errs == 1, "90 KiB packet dropped");

    /* TSO with MSS 0 and with hdr_len beyond the packet. */
    size_t len = build_ipv4(ram + TX_BIG, true, 3000, true);
    tx_context(14, 24, 33, 34, 50, 0, 3000, E1000_TUCMD_TCP | E1000_TUCMD_IP | E1000_TUCMD_TSE,
               54, 0);
    tx_data(TX_BIG, (uint32_t)len, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP, E1000_TXD_POPTS_TXSM);
    tx_context(14, 24, 33, 200, 250, 0, 3000, E1000_TUCMD_TCP | E1000_TUCMD_IP | E1000_TUCMD_TSE,
               255, 100);
    tx_data(TX_BIG, 100, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP, E1000_TXD_POPTS_TXSM);
    tx_kick();
    TAP_EQ_U64(peer_drain(), 0, "TSO with MSS 0 / header beyond the packet: dropped");
    /* Checksum offsets beyond the frame: sent unmodified, no overrun. */
    tx_context(14, 250, 0, 34, 250, 0, 0, E1000_TUCMD_TCP, 0, 0);
    tx_data(TX_BUFS, 60, E1000_TXD_CMD_EOP, E1000_TXD_POPTS_TXSM | E1000_TXD_POPTS_IXSM);
    tx_kick();
    TAP_EQ_U64(peer_drain(), 1, "checksum offsets past the frame: frame sent untouched");

    /* TDLEN not a multiple of 128: the ring is not processed. */
    unsigned head = rd32(E1000_TDH);
    wr32(E1000_TDLEN, 32 * 16 + 16);
    tx_legacy(TX_BUFS, 60, E1000_TXD_CMD_EOP, 0, 0, 0);
    tx_kick();
    TAP_CHECK(rd32(E1000_TDH) == head && peer_drain() == 0, "TDLEN not a multiple of 128: ring stopped");
    /* Ring outside RAM. */
    wr32(E1000_TDLEN, 32 * 16);
    wr32(E1000_TDBAL, 0xFFFFF000u);
    tx_kick();
    TAP_CHECK(rd32(E1000_TDH) == head && peer_drain() == 0, "tx ring outside RAM: ring stopped");
    wr32(E1000_TDBAL, RAM_SIZE - 256);
    tx_kick();
    TAP_CHECK(rd32(E1000_TDH) == head, "tx ring crossing the end of RAM: ring stopped");
    /* TDT beyond the ring. */
    wr32(E1000_TDBAL, TX_RING);
    wr32(E1000_TDT, 1000);
    TAP_CHECK(rd32(E1000_TDH) == head, "TDT beyond the ring: ignored");
    wr32(E1000_TDT, head);

    /* RX buffer outside RAM: descriptor completes with RXE, nothing written. */
    rx_setup(8, E1000_RCTL_EN | E1000_RCTL_SECRC);
    uint64_t bad = 0xFFFFFFF0ull;
    memcpy(ram + RX_RING, &bad, 8);
    uint8_t f[64] = { 0 };
    memcpy(f, mac, 6);
    e1000_get_stats(nic, &st0);
    TAP_CHECK(!e1000_receive(nic, f, 64), "rx into a buffer outside RAM fails");
    e1000_get_stats(nic, &st1);
    TAP_CHECK((rx_status(0) & 1) && (rx_errors(0) & E1000_RXD_ERR_RXE) && rx_len(0) == 0,
              "descriptor completes with RXE");
    TAP_EQ_U64(st1.rx_errs - st0.rx_errs, 1, "rx_errs counted");
    TAP_CHECK(e1000_receive(nic, f, 64) && (rx_status(1) & 1), "next descriptor still works");
    /* RX ring misprogrammed. */
    wr32(E1000_RDLEN, 100);
    TAP_CHECK(!e1000_receive(nic, f, 64), "RDLEN not a multiple of 128: frame dropped");
    wr32(E1000_RDLEN, 128);
    wr32(E1000_RDBAL, RAM_SIZE - 64);
    TAP_CHECK(!e1000_receive(nic, f, 64), "rx ring crossing the end of RAM: frame dropped");
    wr32(E1000_RDBAL, RX_RING);
    wr32(E1000_RDT, 4000);
    TAP_CHECK(!e1000_receive(nic, f, 64), "RDT beyond the ring: frame dropped");
    TAP_CHECK(!e1000_receive(nic, f, 5), "runt frame (5 bytes) dropped");

    /* Unaligned and odd-sized register accesses do not crash. */
    uint8_t b[8] = { 0 };
    pd->bars[0].fn(pd->bars[0].opaque, 0x1FFFF, b, 1, false);
    pd->bars[0].fn(pd->bars[0].opaque, 0x1FFFE, b, 4, true);
    pd->bars[0].fn(pd->bars[0].opaque, E1000_RCTL, b, 8, false);
    pd->bars[1].fn(pd->bars[1].opaque, 0x3C, b, 2, false);
    io_wr32(E1000_IOADDR, 0xFFFFFFFF);
    io_rd32(E1000_IODATA);
    TAP_CHECK(true, "out-of-range and odd-sized accesses survived");

    /* Bus mastering off: no DMA at all. */
    tx_setup();
    cfg_wr(0x04, 2, cfg_rd(0x04, 2) & ~0x4u);
    tx_legacy(TX_BUFS, 60, E1000_TXD_CMD_EOP, 0, 0, 0);
    tx_kick();
    TAP_CHECK(rd32(E1000_TDH) == 0 && peer_drain() == 0, "no bus mastering: no transmit");
    cfg_wr(0x04, 2, cfg_rd(0x04, 2) | 0x4u);
}

static void test_link(void)
{
    peer_drain();
    rd32(E1000_ICR);
    wr32(E1000_IMS, E1000_ICR_LSC);
    e1000_set_link(nic, false);
    TAP_EQ_U64(rd32(E1000_STATUS) & E1000_STATUS_LU, 0, "set_link off: STATUS.LU clear");
    uint32_t raw;
    TAP_EQ_U64(mdic_read(1, 1, &raw) & 0x04, 0, "PHY status link bit clear");
    TAP_CHECK(pd->intx_level, "LSC interrupt raised");
    TAP_CHECK(rd32(E1000_ICR) & E1000_ICR_LSC, "ICR.LSC");
    struct e1000_info info;
    e1000_get_info(nic, &info);
    TAP_CHECK(!info.link_up && strcmp(info.id, "net0") == 0, "info: net0, link down");
    tx_setup();
    tx_legacy(TX_BUFS, 60, E1000_TXD_CMD_EOP, 0, 0, 0);
    tx_kick();
    TAP_EQ_U64(peer_drain(), 0, "nothing sent while the link is down");
    e1000_set_link(nic, true);
    TAP_CHECK(rd32(E1000_STATUS) & E1000_STATUS_LU, "set_link on: STATUS.LU");
    TAP_CHECK(rd32(E1000_ICR) & E1000_ICR_LSC, "LSC again");
    wr32(E1000_IMC, 0xFFFFFFFF);
}

/* ITR throttling on a NIC with its receive thread: a cause raised within
 * the interval after an assertion waits for the thread's timer. */
static void test_throttling(void)
{
    int sv[2];
    char err[256] = "";
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
        return;
    struct net_backend *be = net_backend_from_fds(&sv[0], 1, 0, "fake1", err, sizeof(err));
    struct e1000_config cfg = { .id = "net1", .backend = be, .tap_fd = -1 };
    struct e1000 *t = be ? e1000_create(vm, &cfg, err, sizeof(err)) : NULL;
    TAP_CHECK(t != NULL, "threaded e1000 created (%s)", err);
    if (!t)
        return;
    struct pci_device *saved = pd;
    pd = e1000_pci(t);
    wr32(E1000_ITR, 0xFFFF);            /* 16.8 ms between interrupts */
    wr32(E1000_IMS, E1000_ICR_TXDW);
    wr32(E1000_ICS, E1000_ICR_TXDW);
    TAP_CHECK(pd->intx_level, "first cause asserts INTx at once");
    rd32(E1000_ICR);
    TAP_CHECK(!pd->intx_level, "ICR read deasserts");
    wr32(E1000_ICS, E1000_ICR_TXDW);
    TAP_CHECK(!pd->intx_level, "a second cause within the ITR interval waits");
    bool raised = false;
    for (int i = 0; i < 200 && !raised; i++) {
        usleep(1000);
        raised = __atomic_load_n(&pd->intx_level, __ATOMIC_RELAXED);
    }
    TAP_CHECK(raised, "the throttle timer asserts it when the interval ends");
    wr32(E1000_ITR, 0);
    rd32(E1000_ICR);
    wr32(E1000_ICS, E1000_ICR_TXDW);
    TAP_CHECK(pd->intx_level, "ITR 0: no throttling");
    rd32(E1000_ICR);
    e1000_destroy(t);
    pd = saved;
    close(sv[1]);
}

int main(void)
{
    vm = vm_create_for_test();
    ram = aligned_alloc(4096, RAM_SIZE);
    if (!vm || !ram || pci_bus_create(vm) < 0 || !gm_add_region(&vm->mem, 0, RAM_SIZE, ram))
        return 99;
    memset(ram, 0, RAM_SIZE);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
        return 99;
    int bufsz = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
    peer = sv[1];
    char err[256] = "";
    struct net_backend *be = net_backend_from_fds(&sv[0], 1, 0, "fake0", err, sizeof(err));
    TAP_CHECK(be != NULL, "fd backend from a socketpair (%s)", err);
    if (!be)
        return tap_done();
    struct e1000_config cfg = { .id = "net0", .backend = be, .tap_fd = -1 };
    memcpy(cfg.mac, mac, 6);
    nic = e1000_create_unthreaded(vm, &cfg, err, sizeof(err));
    TAP_CHECK(nic != NULL, "e1000 created (%s)", err);
    if (!nic)
        return tap_done();
    pd = e1000_pci(nic);
    struct e1000_info ninfo;
    e1000_get_info(nic, &ninfo);
    TAP_CHECK(strcmp(ninfo.id, "net0") == 0 && ninfo.pci_slot == pd->slot && ninfo.pci_slot > 0,
              "e1000_get_info names it at its PCI slot");
    cfg_wr(0x04, 2, 0x7);   /* I/O, memory, bus master */

    struct e1000_config bad = { .id = "net9", .tap_fd = -1 };
    TAP_CHECK(e1000_create(vm, &bad, err, sizeof(err)) == NULL && strstr(err, "net9") &&
                  strstr(err, "backend"),
              "no backend: error names the NIC (%s)", err);
    bad.tap_name = "this-name-is-far-too-long-for-a-tap";
    TAP_CHECK(e1000_create(vm, &bad, err, sizeof(err)) == NULL && strstr(err, "too long") == NULL &&
                  strstr(err, "longer than"),
              "overlong tap name refused (%s)", err);

    test_identity_and_reset();
    test_eeprom();
    test_phy();
    test_interrupts();
    test_rx();
    test_tx();
    test_tso();
    test_hostile();
    test_link();
    test_throttling();

    /* Device reset through CTRL.RST clears the rings' state. */
    wr32(E1000_CTRL, E1000_CTRL_RST);
    TAP_CHECK(rd32(E1000_TDLEN) == 0 && rd32(E1000_RDH) == 0 && rd32(E1000_ICR) == 0,
              "CTRL.RST clears ring registers and causes");
    return tap_done();
}
