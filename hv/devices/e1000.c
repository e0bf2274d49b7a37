/* Intel 82540EM (e1000) device model; see e1000.h and x86-boot.md §9.
 *
 * State lives in one struct per NIC with fixed buffers (no allocation per
 * frame). Every guest address (rings, buffers) goes through gm_read /
 * gm_write; a ring that is misprogrammed or lies outside RAM stops being
 * processed (one log line) until the guest reprograms it or resets. */
#include "hv/devices/e1000.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "common/log.h"
#include "hv/backends/tap.h"
#include "hv/devices/e1000_regs.h"
#include "hv/guest_mem.h"
#include "hv/pci/pci.h"
#include "hv/vm.h"

#define ETH_ALEN 6
#define ETH_HLEN 14
#define ETH_ZLEN 60            /* minimum frame without FCS */
#define ETH_FCS_LEN 4
#define VLAN_HLEN 4
#define MAX_FRAME_NO_LPE 1522  /* 1518 + VLAN tag, the limit without RCTL.LPE */
#define FRAME_MAX 65536        /* largest frame moved either way */
#define TSO_HDR_MAX 255        /* hdr_len is one byte */
#define RX_BATCH 64            /* frames per poll wake-up, for fairness */

/* Reasons for log-once warnings (bit numbers in nic->warned). */
enum warn_reason {
    W_RX_RING, W_TX_RING, W_RX_BUF, W_TX_BUF, W_TX_OVERSIZE, W_TSO, W_TX_SEND, W_RX_READ,
    W_TX_DTYP, W_RX_OVERSIZE, W_DMA_OFF,
};

struct tx_context {             /* from the last context descriptor (§9.5) */
    uint8_t ipcss, ipcso, tucss, tucso, tucmd, hdr_len;
    uint16_t ipcse, tucse, mss;
    uint32_t paylen;
};

struct e1000 {
    struct pci_device pci;
    struct vm *vm;
    struct guest_mem *mem;
    struct net_backend *be;
    char *id;
    uint8_t mac[ETH_ALEN];

    pthread_mutex_t lock;       /* everything below */
    uint32_t regs[E1000_MMIO_SIZE / 4];
    uint16_t eeprom[E1000_EEPROM_WORDS];
    uint16_t phy[E1000_PHY_REGS];
    bool carrier;               /* set_link: the cable is in */
    bool irq_level;
    bool mit_armed;             /* the throttling timer will raise INTx */
    uint64_t last_irq_ns;       /* CLOCK_MONOTONIC of the last INTx assertion */
    uint32_t ioaddr;            /* BAR1 IOADDR */
    uint32_t warned;

    struct {                    /* Microwire EEPROM interface behind EECD */
        uint32_t pins;          /* SK/CS/DI at the last write */
        unsigned bits_in;
        uint32_t cmd;
        bool reading, skip_fall;
        unsigned out_pos;       /* bit index into the EEPROM, MSB first per word */
    } ee;

    /* Transmit: the packet being gathered from data descriptors. */
    struct tx_context ctx;
    bool tx_in_packet, tx_dropping, tx_tse, tx_legacy_ic, tx_vle;
    uint8_t tx_popts, tx_cso, tx_css;
    uint16_t tx_vlan;
    size_t tx_len;
    uint8_t txbuf[FRAME_MAX];
    uint8_t segbuf[FRAME_MAX + VLAN_HLEN];

    /* Receive: one frame at a time, read from the backend into rxbuf
     * (room after it for padding, an inserted FCS). */
    uint8_t rxbuf[FRAME_MAX + ETH_ZLEN + ETH_FCS_LEN];
    size_t rx_pending;          /* a frame waiting for guest descriptors */
    bool rx_stalled;            /* the thread is not polling the backend */

    bool threaded;
    pthread_t thread;
    int wake_fd, stop_fd, timer_fd;

    struct net_stats stats;     /* updated under lock, read with atomics */
};

/* ---- small helpers ---- */

static uint16_t get_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static uint16_t get_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_le64(const uint8_t *p) { return get_le32(p) | (uint64_t)get_le32(p + 4) << 32; }
static void put_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }

static uint32_t *reg(struct e1000 *nic, uint32_t off) { return &nic->regs[off / 4]; }

static void stat_add(uint64_t *counter, uint64_t n)
{
    __atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

#define warn_once(nic, reason, ...)                                            \
    do {                                                                       \
        if (!((nic)->warned & (1u << (reason)))) {                             \
            (nic)->warned |= 1u << (reason);                                   \
            log_warn(__VA_ARGS__);                                             \
        }                                                                      \
    } while (0)

/* Internet checksum (RFC 1071) partial sum over a byte range. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += get_be16(p + i);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}
static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return (uint16_t)sum;
}

/* Ethernet FCS: IEEE 802.3's CRC-32 is zlib's crc32 (same reflected
 * polynomial, preset and final inversion). zlib's braided version is ~10x
 * a byte-wise table, and this runs once per received frame. */
static uint32_t eth_crc(const uint8_t *p, size_t len)
{
    return (uint32_t)crc32(0, p, (uInt)len);
}

/* ---- interrupts (§6.1: level = (ICR & IMS) != 0) ---- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Interrupt throttling (ITR, in 256 ns units): at most one assertion per
 * interval; a cause raised sooner is asserted when the interval ends (the
 * receive thread's timer). Every interrupt costs the guest several
 * register exits (ICR, IMC, IMS), so this is what keeps a busy NIC cheap.
 * Without the thread (unit tests) interrupts are never deferred. */
static bool irq_throttled(struct e1000 *nic)
{
    uint64_t interval = (uint64_t)(*reg(nic, E1000_ITR) & 0xFFFF) * 256;
    if (!interval || nic->timer_fd < 0)
        return false;
    uint64_t now = now_ns();
    if (now - nic->last_irq_ns >= interval) {
        nic->last_irq_ns = now;
        return false;
    }
    if (!nic->mit_armed) {
        uint64_t at = nic->last_irq_ns + interval;
        struct itimerspec its = { .it_value = { .tv_sec = (time_t)(at / 1000000000u),
                                                .tv_nsec = (long)(at % 1000000000u) } };
        if (timerfd_settime(nic->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
            return false;
        nic->mit_armed = true;
    }
    return true;
}

static void update_irq(struct e1000 *nic)
{
    bool level = (*reg(nic, E1000_ICR) & *reg(nic, E1000_IMS)) != 0;
    if (level == nic->irq_level || (level && irq_throttled(nic)))
        return;
    nic->irq_level = level;
    pci_set_irq(&nic->pci, level);
}

static void raise_cause(struct e1000 *nic, uint32_t causes)
{
    *reg(nic, E1000_ICR) |= causes & E1000_ICR_CAUSES;
    update_irq(nic);
}

static void wake_rx(struct e1000 *nic)
{
    if (!nic->threaded || !nic->rx_stalled)
        return;
    uint64_t one = 1;
    if (write(nic->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("%s: rx wake-up: %s", nic->id, strerror(errno));
}

/* ---- statistics registers (read-to-clear, §9.2) ---- */

static void stat_reg_add(struct e1000 *nic, uint32_t off, uint32_t n)
{
    uint32_t *r = reg(nic, off);
    *r = *r + n < *r ? 0xFFFFFFFFu : *r + n;    /* counters saturate */
}

static void stat_reg_add64(struct e1000 *nic, uint32_t low_off, uint64_t n)
{
    uint64_t v = *reg(nic, low_off) | (uint64_t)*reg(nic, low_off + 4) << 32;
    v += n;
    *reg(nic, low_off) = (uint32_t)v;
    *reg(nic, low_off + 4) = (uint32_t)(v >> 32);
}

static bool is_stat_high_half(uint32_t off)
{
    return off == E1000_GORCH || off == E1000_GOTCH || off == E1000_TORH || off == E1000_TOTH;
}
static bool is_stat_low_half(uint32_t off)
{
    return off == E1000_GORCL || off == E1000_GOTCL || off == E1000_TORL || off == E1000_TOTL;
}

/* ---- PHY (§9.3) ---- */

static void phy_set_link_bits(struct e1000 *nic)
{
    if (nic->carrier) {
        nic->phy[PHY_STATUS] |= PHY_STATUS_LINK | PHY_STATUS_AN_DONE;
        nic->phy[M88_PHY_SPEC_STATUS] |= M88_STATUS_LINK | M88_STATUS_RESOLVED;
    } else {
        nic->phy[PHY_STATUS] &= (uint16_t)~(PHY_STATUS_LINK | PHY_STATUS_AN_DONE);
        nic->phy[M88_PHY_SPEC_STATUS] &= (uint16_t)~(M88_STATUS_LINK | M88_STATUS_RESOLVED);
    }
}

static void phy_reset(struct e1000 *nic)
{
    memset(nic->phy, 0, sizeof(nic->phy));
    nic->phy[PHY_CTRL] = 0x1140;
    nic->phy[PHY_STATUS] = 0x794D;
    nic->phy[PHY_ID1] = 0x0141;
    nic->phy[PHY_ID2] = 0x0C20;
    nic->phy[PHY_AUTONEG_ADV] = 0x0DE1;
    nic->phy[PHY_LP_ABILITY] = 0x01E0;
    nic->phy[PHY_1000T_CTRL] = 0x0E00;
    nic->phy[PHY_1000T_STATUS] = 0x3C00;
    nic->phy[M88_PHY_SPEC_CTRL] = 0x0360;
    nic->phy[M88_PHY_SPEC_STATUS] = 0xAC00;
    nic->phy[M88_EXT_PHY_SPEC_CTRL] = 0x0D60;
    phy_set_link_bits(nic);
}

/* Autonegotiation has no partner to wait for: it completes at once, and
 * the driver hears about it through LSC. */
static void phy_autoneg_done(struct e1000 *nic)
{
    phy_set_link_bits(nic);
    raise_cause(nic, E1000_ICR_LSC);
}

static void phy_write(struct e1000 *nic, unsigned r, uint16_t val)
{
    switch (r) {
    case PHY_CTRL:
        if (val & PHY_CTRL_RESET) {
            phy_reset(nic);
            nic->phy[PHY_CTRL] = val & (uint16_t)~(PHY_CTRL_RESET | PHY_CTRL_RESTART_AN);
            phy_autoneg_done(nic);
            return;
        }
        nic->phy[PHY_CTRL] = val & (uint16_t)~PHY_CTRL_RESTART_AN;
        if (val & PHY_CTRL_RESTART_AN)
            phy_autoneg_done(nic);
        return;
    case PHY_STATUS: case PHY_ID1: case PHY_ID2: case PHY_LP_ABILITY: case PHY_1000T_STATUS:
    case M88_PHY_SPEC_STATUS:
        return;     /* read-only */
    default:
        nic->phy[r] = val;
        return;
    }
}

static void mdic_write(struct e1000 *nic, uint32_t val)
{
    unsigned phy_addr = (val >> E1000_MDIC_PHY_SHIFT) & 0x1F;
    unsigned r = (val >> E1000_MDIC_REG_SHIFT) & 0x1F;
    uint32_t op = val & (3u << 26);
    uint32_t out = val & ~(E1000_MDIC_READY | E1000_MDIC_ERROR);
    if (phy_addr != E1000_PHY_ADDR || (op != E1000_MDIC_OP_READ && op != E1000_MDIC_OP_WRITE)) {
        out |= E1000_MDIC_ERROR;
    } else if (op == E1000_MDIC_OP_READ) {
        out = (out & ~E1000_MDIC_DATA_MASK) | nic->phy[r];
    } else {
        phy_write(nic, r, (uint16_t)(val & E1000_MDIC_DATA_MASK));
    }
    /* Accesses complete immediately (§9.3). */
    *reg(nic, E1000_MDIC) = out | E1000_MDIC_READY;
    if (val & E1000_MDIC_INT_EN)
        raise_cause(nic, E1000_ICR_MDAC);
}

/* ---- EEPROM (§9.4) ---- */

static void eeprom_init(struct e1000 *nic)
{
    uint16_t *w = nic->eeprom;
    memset(nic->eeprom, 0, sizeof(nic->eeprom));
    for (int i = 0; i < 3; i++)
        w[E1000_EEW_MAC0 + i] = (uint16_t)(nic->mac[2 * i] | nic->mac[2 * i + 1] << 8);
    w[E1000_EEW_INIT_CTRL1] = 0x0000;
    w[E1000_EEW_SUBSYS_ID] = E1000_SUBSYS_ID;
    w[E1000_EEW_SUBSYS_VENDOR] = E1000_SUBSYS_VENDOR;
    w[E1000_EEW_DEVICE_ID] = E1000_DEV_82540EM;
    w[E1000_EEW_VENDOR_ID] = E1000_VENDOR_INTEL;
    /* Init control 2: PAUSE and ASM_DIR (bits 13:12), full flow control. */
    w[E1000_EEW_INIT_CTRL2] = 0x3000;
    uint16_t sum = 0;
    for (int i = 0; i < E1000_EEW_CHECKSUM; i++)
        sum = (uint16_t)(sum + w[i]);
    w[E1000_EEW_CHECKSUM] = (uint16_t)(E1000_EEPROM_SUM - sum);
}

/* Microwire: on CS rising the part starts listening; DI is sampled on SK
 * rising edges: 3 opcode bits, then 6 address bits. For READ the part then
 * shifts data out on DO, MSB first, the next bit after each SK falling
 * edge, continuing into the following words until CS drops. */
static void eecd_write(struct e1000 *nic, uint32_t val)
{
    uint32_t pins = val & (E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI);
    uint32_t old = nic->ee.pins;
    nic->ee.pins = pins;
    *reg(nic, E1000_EECD) = val & (E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI |
                                   E1000_EECD_FWE_MASK | E1000_EECD_REQ);
    if (!(pins & E1000_EECD_CS))
        return;
    if (!(old & E1000_EECD_CS)) {
        nic->ee.bits_in = 0;
        nic->ee.cmd = 0;
        nic->ee.reading = false;
    }
    bool rising = (pins & E1000_EECD_SK) && !(old & E1000_EECD_SK);
    bool falling = !(pins & E1000_EECD_SK) && (old & E1000_EECD_SK);
    if (nic->ee.reading) {
        if (falling) {
            if (nic->ee.skip_fall)
                nic->ee.skip_fall = false;
            else
                nic->ee.out_pos = (nic->ee.out_pos + 1) % (E1000_EEPROM_WORDS * 16);
        }
        return;
    }
    if (!rising || nic->ee.bits_in >= 3 + E1000_EEPROM_ADDR_BITS)
        return;
    nic->ee.cmd = nic->ee.cmd << 1 | ((pins & E1000_EECD_DI) ? 1 : 0);
    if (++nic->ee.bits_in == 3 + E1000_EEPROM_ADDR_BITS) {
        unsigned op = (nic->ee.cmd >> E1000_EEPROM_ADDR_BITS) & 7;
        unsigned addr = nic->ee.cmd & (E1000_EEPROM_WORDS - 1);
        if (op == E1000_EEPROM_OP_READ) {
            nic->ee.reading = true;
            nic->ee.out_pos = addr * 16;
            nic->ee.skip_fall = true;   /* the falling edge that ends the last address bit */
        }
        /* Write/erase opcodes: the EEPROM is read-only here. */
    }
}

static uint32_t eecd_read(struct e1000 *nic)
{
    uint32_t v = *reg(nic, E1000_EECD) | E1000_EECD_PRES;
    if (v & E1000_EECD_REQ)
        v |= E1000_EECD_GNT;
    if (nic->ee.reading && (nic->ee.pins & E1000_EECD_CS)) {
        unsigned word = nic->ee.out_pos / 16, bit = 15 - nic->ee.out_pos % 16;
        if (nic->eeprom[word] >> bit & 1)
            v |= E1000_EECD_DO;
    }
    return v;
}

/* ---- reset ---- */

static void set_receive_address0(struct e1000 *nic)
{
    *reg(nic, E1000_RA) = get_le32(nic->mac);
    *reg(nic, E1000_RA + 4) = get_le16(nic->mac + 4) | E1000_RAH_AV;
}

static void device_reset(struct e1000 *nic)
{
    memset(nic->regs, 0, sizeof(nic->regs));
    *reg(nic, E1000_CTRL) = E1000_CTRL_SWDPIN2 | E1000_CTRL_SWDPIN0 | E1000_CTRL_SPD_1000 |
                            E1000_CTRL_SLU | E1000_CTRL_FD;
    *reg(nic, E1000_LEDCTL) = 0x602;
    *reg(nic, E1000_PBA) = 0x00100030;
    *reg(nic, E1000_VET) = 0x8100;
    *reg(nic, E1000_MDIC) = E1000_MDIC_READY;
    set_receive_address0(nic);
    memset(&nic->ee, 0, sizeof(nic->ee));
    phy_reset(nic);
    memset(&nic->ctx, 0, sizeof(nic->ctx));
    nic->tx_in_packet = nic->tx_dropping = false;
    nic->tx_len = 0;
    nic->warned = 0;
    update_irq(nic);
    wake_rx(nic);
}

/* ---- rings ---- */

/* Base and descriptor count of a ring, or false (logged once) when the
 * guest programmed something the device cannot use. */
static bool ring_geometry(struct e1000 *nic, bool tx, uint64_t *base, uint32_t *count)
{
    uint32_t bal = *reg(nic, tx ? E1000_TDBAL : E1000_RDBAL);
    uint32_t bah = *reg(nic, tx ? E1000_TDBAH : E1000_RDBAH);
    uint32_t len = *reg(nic, tx ? E1000_TDLEN : E1000_RDLEN);
    uint32_t head = *reg(nic, tx ? E1000_TDH : E1000_RDH);
    uint32_t tail = *reg(nic, tx ? E1000_TDT : E1000_RDT);
    const char *which = tx ? "tx" : "rx";
    enum warn_reason w = tx ? W_TX_RING : W_RX_RING;
    *base = (uint64_t)bah << 32 | (bal & ~0xFu);
    if (len == 0)
        return false;
    if (len % E1000_RING_ALIGN) {
        warn_once(nic, w, "%s: %s ring length %u is not a multiple of 128; ring stopped",
                  nic->id, which, len);
        return false;
    }
    *count = len / E1000_DESC_SIZE;
    if (!gm_ptr(nic->mem, *base, len)) {
        warn_once(nic, w, "%s: %s ring at 0x%llx (%u bytes) is outside guest RAM; ring stopped",
                  nic->id, which, (unsigned long long)*base, len);
        return false;
    }
    if (head >= *count || tail >= *count) {
        warn_once(nic, w, "%s: %s ring head %u / tail %u beyond %u descriptors; ring stopped",
                  nic->id, which, head, tail, *count);
        return false;
    }
    if (!pci_bus_master(&nic->pci)) {
        warn_once(nic, W_DMA_OFF, "%s: %s ring used without PCI bus mastering; ignored", nic->id,
                  which);
        return false;
    }
    return true;
}

/* ---- receive (§9.5) ---- */

static uint32_t rx_buffer_size(struct e1000 *nic)
{
    uint32_t rctl = *reg(nic, E1000_RCTL);
    static const uint32_t sizes[4] = { 2048, 1024, 512, 256 };
    unsigned bsize = (rctl >> E1000_RCTL_BSIZE_SHIFT) & 3;
    if ((rctl & E1000_RCTL_BSEX) && bsize != 0)
        return sizes[bsize] * 16;   /* 16384 / 8192 / 4096 */
    return sizes[bsize];
}

static uint32_t rx_free_descriptors(struct e1000 *nic, uint32_t count)
{
    uint32_t head = *reg(nic, E1000_RDH), tail = *reg(nic, E1000_RDT);
    return (tail + count - head) % count;
}

static bool rx_address_match(struct e1000 *nic, const uint8_t *dst)
{
    for (unsigned i = 0; i < E1000_RA_ENTRIES; i++) {
        uint32_t rah = *reg(nic, E1000_RA + 8 * i + 4);
        if (!(rah & E1000_RAH_AV))
            continue;
        uint32_t ral = *reg(nic, E1000_RA + 8 * i);
        if (get_le32(dst) == ral && get_le16(dst + 4) == (rah & 0xFFFF))
            return true;
    }
    return false;
}

/* Destination filtering: promiscuous modes, broadcast, exact match in
 * RAL/RAH, then the multicast hash table indexed per RCTL.MO (§9.5). */
static bool rx_accept(struct e1000 *nic, const uint8_t *frame)
{
    static const uint8_t bcast[ETH_ALEN] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };
    uint32_t rctl = *reg(nic, E1000_RCTL);
    bool multicast = frame[0] & 1;
    if (!multicast)
        return (rctl & E1000_RCTL_UPE) || rx_address_match(nic, frame);
    if (memcmp(frame, bcast, ETH_ALEN) == 0 && (rctl & E1000_RCTL_BAM))
        return true;
    if (rctl & E1000_RCTL_MPE)
        return true;
    if (rx_address_match(nic, frame))
        return true;
    unsigned mo = (rctl >> E1000_RCTL_MO_SHIFT) & 3;
    static const unsigned shift4[4] = { 4, 3, 2, 0 };
    uint32_t hash = (uint32_t)(frame[4] >> shift4[mo]) | (uint32_t)frame[5] << (8 - shift4[mo]);
    hash &= 0xFFF;
    return *reg(nic, E1000_MTA + 4 * (hash >> 5)) >> (hash & 31) & 1;
}

enum rx_result { RX_DELIVERED, RX_FILTERED, RX_DROPPED, RX_NO_ROOM };

static enum rx_result rx_count_filtered(struct e1000 *nic)
{
    stat_add(&nic->stats.rx_filtered, 1);
    return RX_FILTERED;
}

static void rx_count_drop(struct e1000 *nic)
{
    stat_add(&nic->stats.rx_drop, 1);
}

/* Write the frame in rxbuf[0..len) into the guest's ring. With may_hold,
 * a frame that needs more free descriptors than there are is left in
 * rxbuf for a later retry (RX_NO_ROOM); otherwise it is dropped and
 * counted as the hardware would (MPC, RNBC, RXO). */
static enum rx_result rx_deliver(struct e1000 *nic, size_t len, bool may_hold)
{
    uint8_t *f = nic->rxbuf;
    uint32_t rctl = *reg(nic, E1000_RCTL);
    if (!(rctl & E1000_RCTL_EN) || !nic->carrier) {
        rx_count_drop(nic);
        return RX_DROPPED;
    }
    if (len < ETH_HLEN) {
        stat_add(&nic->stats.rx_errs, 1);
        return RX_DROPPED;
    }
    if (len > MAX_FRAME_NO_LPE && !(rctl & (E1000_RCTL_LPE | E1000_RCTL_SBP))) {
        stat_reg_add(nic, E1000_ROC, 1);
        rx_count_drop(nic);
        return RX_DROPPED;
    }
    if (!rx_accept(nic, f))
        return rx_count_filtered(nic);

    /* VLAN: drop per the filter table, strip the tag into the descriptor
     * when CTRL.VME is set. */
    uint16_t vlan_tci = 0;
    bool tagged = len >= ETH_HLEN + VLAN_HLEN && get_be16(f + 12) == (*reg(nic, E1000_VET) & 0xFFFF);
    if (tagged) {
        uint16_t tci = get_be16(f + 14);
        if ((rctl & E1000_RCTL_VFE) &&
            !(*reg(nic, E1000_VFTA + 4 * ((tci & 0xFFF) >> 5)) >> (tci & 31) & 1))
            return rx_count_filtered(nic);
        if (*reg(nic, E1000_CTRL) & E1000_CTRL_VME) {
            vlan_tci = tci;
            memmove(f + 12, f + 16, len - 16);
            len -= VLAN_HLEN;
        } else {
            tagged = false;
        }
    }
    size_t frame_len = len;     /* for statistics, before padding and FCS */
    if (len < ETH_ZLEN) {
        memset(f + len, 0, ETH_ZLEN - len);
        len = ETH_ZLEN;
    }
    if (!(rctl & E1000_RCTL_SECRC)) {
        /* The driver expects the FCS in the buffer and strips it itself. */
        uint32_t crc = eth_crc(f, len);
        for (int i = 0; i < ETH_FCS_LEN; i++)
            f[len + i] = (uint8_t)(crc >> (8 * i));
        len += ETH_FCS_LEN;
    }

    uint64_t base;
    uint32_t count;
    if (!ring_geometry(nic, false, &base, &count)) {
        rx_count_drop(nic);
        return RX_DROPPED;
    }
    uint32_t bufsize = rx_buffer_size(nic);
    uint32_t needed = (uint32_t)((len + bufsize - 1) / bufsize);
    uint32_t avail = rx_free_descriptors(nic, count);
    if (needed > avail) {
        if (may_hold && needed <= count - 1)
            return RX_NO_ROOM;  /* fits once the guest returns buffers */
        stat_reg_add(nic, E1000_MPC, 1);
        stat_reg_add(nic, E1000_RNBC, 1);
        rx_count_drop(nic);
        raise_cause(nic, E1000_ICR_RXO);
        return RX_DROPPED;
    }

    uint32_t head = *reg(nic, E1000_RDH);
    size_t done = 0;
    bool buf_error = false;
    while (done < len) {
        uint64_t daddr = base + (uint64_t)head * E1000_DESC_SIZE;
        uint8_t desc[E1000_DESC_SIZE];
        if (!gm_read(nic->mem, daddr, desc, sizeof(desc)))
            break;  /* not reached: ring_geometry checked the whole ring */
        uint64_t buf = get_le64(desc);
        size_t chunk = len - done < bufsize ? len - done : bufsize;
        uint8_t errors = 0;
        if (buf_error || !gm_write(nic->mem, buf, f + done, chunk)) {
            if (!buf_error)
                warn_once(nic, W_RX_BUF,
                          "%s: rx buffer 0x%llx (%zu bytes) is outside guest RAM; frame dropped",
                          nic->id, (unsigned long long)buf, chunk);
            buf_error = true;
            errors = E1000_RXD_ERR_RXE;
        }
        done += chunk;
        bool last = done >= len;
        uint8_t wb[8];
        put_le16(wb, buf_error ? 0 : (uint16_t)chunk);
        put_le16(wb + 2, 0);    /* packet checksum: not computed (IXSM) */
        wb[4] = E1000_RXD_STAT_DD | E1000_RXD_STAT_IXSM | (last ? E1000_RXD_STAT_EOP : 0) |
                (tagged ? E1000_RXD_STAT_VP : 0);
        wb[5] = errors;
        put_le16(wb + 6, tagged ? vlan_tci : 0);
        gm_write(nic->mem, daddr + 8, wb, sizeof(wb));
        head = (head + 1) % count;
    }
    *reg(nic, E1000_RDH) = head;

    uint32_t causes = E1000_ICR_RXT0;
    unsigned rdmts = (rctl >> E1000_RCTL_RDMTS_SHIFT) & 3;
    if (rx_free_descriptors(nic, count) < (count >> (rdmts + 1)))
        causes |= E1000_ICR_RXDMT0;
    if (buf_error) {
        stat_add(&nic->stats.rx_errs, 1);
        raise_cause(nic, causes);
        return RX_DROPPED;
    }
    stat_reg_add(nic, E1000_GPRC, 1);
    stat_reg_add(nic, E1000_TPR, 1);
    stat_reg_add64(nic, E1000_GORCL, len);
    stat_reg_add64(nic, E1000_TORL, len);
    if (f[0] & 1)
        stat_reg_add(nic, memcmp(f, "\xff\xff\xff\xff\xff\xff", 6) == 0 ? E1000_BPRC : E1000_MPRC,
                     1);
    stat_add(&nic->stats.rx_packets, 1);
    stat_add(&nic->stats.rx_bytes, frame_len);
    raise_cause(nic, causes);
    return RX_DELIVERED;
}

/* Whether the receive thread should read from the backend now: yes when
 * the guest has a free descriptor, and also when frames are going to be
 * discarded anyway (receiver off, no carrier, broken ring) so the host
 * queue does not fill with stale frames. */
static bool rx_should_read(struct e1000 *nic)
{
    uint64_t base;
    uint32_t count;
    if (!(*reg(nic, E1000_RCTL) & E1000_RCTL_EN) || !nic->carrier)
        return true;
    if (!ring_geometry(nic, false, &base, &count))
        return true;
    return rx_free_descriptors(nic, count) > 0;
}

/* Retry a held frame; true when rxbuf is free again. Lock held. */
static bool rx_retry_pending(struct e1000 *nic)
{
    if (!nic->rx_pending)
        return true;
    if (rx_deliver(nic, nic->rx_pending, true) == RX_NO_ROOM)
        return false;
    nic->rx_pending = 0;
    return true;
}

/* Move up to `max` frames from the backend into the guest. Returns the
 * number read from the backend. */
static unsigned rx_poll(struct e1000 *nic, unsigned max)
{
    unsigned n = 0;
    while (n < max) {
        pthread_mutex_lock(&nic->lock);
        bool go = rx_retry_pending(nic) && rx_should_read(nic);
        pthread_mutex_unlock(&nic->lock);
        if (!go)
            break;
        /* rxbuf is only touched by this thread while rx_pending == 0. */
        ssize_t r = net_backend_recv(nic->be, 0, nic->rxbuf, FRAME_MAX);
        if (r == -EAGAIN)
            break;
        if (r < 0) {
            pthread_mutex_lock(&nic->lock);
            warn_once(nic, W_RX_READ, "%s: reading from %s: %s", nic->id,
                      nic->be->ifname[0] ? nic->be->ifname : "backend", strerror((int)-r));
            pthread_mutex_unlock(&nic->lock);
            usleep(100000);     /* a broken backend must not spin this thread */
            break;
        }
        n++;
        pthread_mutex_lock(&nic->lock);
        if (rx_deliver(nic, (size_t)r, true) == RX_NO_ROOM)
            nic->rx_pending = (size_t)r;
        pthread_mutex_unlock(&nic->lock);
    }
    return n;
}

static void *rx_thread(void *arg)
{
    struct e1000 *nic = arg;
    struct pollfd fds[4] = {
        { .fd = nic->stop_fd, .events = POLLIN },
        { .fd = nic->wake_fd, .events = POLLIN },
        { .fd = nic->timer_fd, .events = POLLIN },
        { .fd = net_backend_fd(nic->be, 0), .events = POLLIN },
    };
    for (;;) {
        pthread_mutex_lock(&nic->lock);
        bool poll_backend = rx_retry_pending(nic) && rx_should_read(nic);
        nic->rx_stalled = !poll_backend;
        pthread_mutex_unlock(&nic->lock);
        if (poll(fds, poll_backend ? 4 : 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("%s: rx thread poll failed: %s", nic->id, strerror(errno));
            return NULL;
        }
        if (fds[0].revents)
            return NULL;
        if (fds[1].revents) {
            uint64_t v;
            if (read(nic->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                log_warn("%s: rx wake-up read: %s", nic->id, strerror(errno));
        }
        if (fds[2].revents) {
            uint64_t v;
            if (read(nic->timer_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                log_warn("%s: throttle timer read: %s", nic->id, strerror(errno));
            pthread_mutex_lock(&nic->lock);
            nic->mit_armed = false;
            update_irq(nic);
            pthread_mutex_unlock(&nic->lock);
        }
        if (poll_backend && fds[3].revents)
            rx_poll(nic, RX_BATCH);
    }
}

/* ---- transmit (§9.5) ---- */

/* Store the one's-complement checksum of frame[css..end) at cso, end being
 * cse + 1 (inclusive end offset) or the frame end when cse is 0. */
static bool insert_checksum(uint8_t *frame, size_t len, unsigned css, unsigned cso, unsigned cse,
                            bool udp)
{
    size_t end = cse ? (size_t)cse + 1 : len;
    if (end > len)
        end = len;
    if (css >= end || (size_t)cso + 2 > len)
        return false;
    uint16_t sum = (uint16_t)~csum_fold(csum_add(0, frame + css, end - css));
    if (udp && sum == 0)
        sum = 0xFFFF;   /* RFC 768: zero means "no checksum" */
    put_be16(frame + cso, sum);
    return true;
}

static void tx_send(struct e1000 *nic, uint8_t *frame, size_t len)
{
    if (len < ETH_HLEN) {
        stat_add(&nic->stats.tx_errs, 1);
        return;
    }
    if (!nic->carrier) {
        stat_add(&nic->stats.tx_drop, 1);
        return;
    }
    struct iovec iov[3];
    unsigned n;
    uint8_t tag[VLAN_HLEN];
    size_t wire_len = len;
    if (nic->tx_vle && (*reg(nic, E1000_CTRL) & E1000_CTRL_VME)) {
        /* 802.1Q tag after the addresses: TPID from VET, TCI from the descriptor. */
        put_be16(tag, (uint16_t)*reg(nic, E1000_VET));
        put_be16(tag + 2, nic->tx_vlan);
        iov[0] = (struct iovec){ frame, 12 };
        iov[1] = (struct iovec){ tag, VLAN_HLEN };
        iov[2] = (struct iovec){ frame + 12, len - 12 };
        n = 3;
        wire_len += VLAN_HLEN;
    } else {
        iov[0] = (struct iovec){ frame, len };
        n = 1;
    }
    ssize_t r = net_backend_send(nic->be, 0, iov, n);
    if (r < 0) {
        if (r == -EAGAIN || r == -ENOBUFS) {
            stat_add(&nic->stats.tx_drop, 1);
        } else {
            stat_add(&nic->stats.tx_errs, 1);
            warn_once(nic, W_TX_SEND, "%s: sending to %s: %s", nic->id,
                      nic->be->ifname[0] ? nic->be->ifname : "backend", strerror((int)-r));
        }
        return;
    }
    stat_reg_add(nic, E1000_GPTC, 1);
    stat_reg_add(nic, E1000_TPT, 1);
    stat_reg_add64(nic, E1000_GOTCL, wire_len);
    stat_reg_add64(nic, E1000_TOTL, wire_len);
    if (frame[0] & 1)
        stat_reg_add(nic,
                     memcmp(frame, "\xff\xff\xff\xff\xff\xff", 6) == 0 ? E1000_BPTC : E1000_MPTC,
                     1);
    stat_add(&nic->stats.tx_packets, 1);
    stat_add(&nic->stats.tx_bytes, wire_len);
}

/* TCP segmentation (TSE): split the payload after hdr_len into MSS-sized
 * frames, each with the header copied and fixed up: IPv4 total length and
 * identification (or the IPv6 payload length), TCP sequence number and
 * flags (FIN/PSH only on the last), UDP length, then the checksums. The
 * driver leaves the pseudo-header sum without the length in the L4
 * checksum field; the length of each segment is added here. */
static void tx_tso(struct e1000 *nic)
{
    const struct tx_context *c = &nic->ctx;
    size_t hlen = c->hdr_len, total = nic->tx_len;
    bool ipv4 = c->tucmd & E1000_TUCMD_IP, tcp = c->tucmd & E1000_TUCMD_TCP;
    size_t l3_min = ipv4 ? 20 : 40, l4_min = tcp ? 20 : 8;
    if (c->mss == 0 || hlen == 0 || hlen > total || (size_t)c->ipcss + l3_min > hlen ||
        (size_t)c->tucss + l4_min > hlen || c->tucss < c->ipcss || (size_t)c->tucso + 2 > hlen ||
        ((nic->tx_popts & E1000_TXD_POPTS_IXSM) && (size_t)c->ipcso + 2 > hlen)) {
        warn_once(nic, W_TSO,
                  "%s: TSO context unusable (hdr_len %u, mss %u, ipcss %u, tucss %u, "
                  "packet %zu bytes); packet dropped",
                  nic->id, c->hdr_len, c->mss, c->ipcss, c->tucss, total);
        stat_add(&nic->stats.tx_errs, 1);
        return;
    }
    size_t payload = total - hlen, mss = c->mss;
    if (hlen + mss > FRAME_MAX)
        mss = FRAME_MAX - hlen;
    const uint8_t *hdr = nic->txbuf;
    uint16_t ip_id = get_be16(hdr + c->ipcss + 4);
    uint32_t seq = get_be32(hdr + c->tucss + 4);
    uint16_t l4_pseudo = get_be16(hdr + c->tucso);
    uint8_t *seg = nic->segbuf;
    size_t off = 0;
    /* At least one frame; at most payload / mss + 1 (bounded by FRAME_MAX). */
    for (unsigned segno = 0;; segno++) {
        size_t chunk = payload - off < mss ? payload - off : mss;
        bool last = off + chunk >= payload;
        size_t flen = hlen + chunk;
        memcpy(seg, hdr, hlen);
        memcpy(seg + hlen, nic->txbuf + hlen + off, chunk);
        if (ipv4) {
            put_be16(seg + c->ipcss + 2, (uint16_t)(flen - c->ipcss));
            put_be16(seg + c->ipcss + 4, (uint16_t)(ip_id + segno));
        } else {
            put_be16(seg + c->ipcss + 4, (uint16_t)(flen - c->ipcss - 40));
        }
        if (tcp) {
            put_be32(seg + c->tucss + 4, seq + (uint32_t)off);
            if (!last)
                seg[c->tucss + 13] &= (uint8_t)~0x09;   /* FIN, PSH */
        } else {
            put_be16(seg + c->tucss + 4, (uint16_t)(flen - c->tucss));
        }
        if (nic->tx_popts & E1000_TXD_POPTS_TXSM) {
            put_be16(seg + c->tucso, csum_fold((uint32_t)l4_pseudo + (uint32_t)(flen - c->tucss)));
            insert_checksum(seg, flen, c->tucss, c->tucso, 0, !tcp);
        }
        if (nic->tx_popts & E1000_TXD_POPTS_IXSM)
            insert_checksum(seg, flen, c->ipcss, c->ipcso, c->ipcse, false);
        tx_send(nic, seg, flen);
        off += chunk;
        if (last)
            break;
    }
    stat_reg_add(nic, E1000_TSCTC, 1);
}

static void tx_finish_packet(struct e1000 *nic)
{
    if (nic->tx_tse && (nic->ctx.tucmd & E1000_TUCMD_TSE)) {
        tx_tso(nic);
        return;
    }
    uint8_t *f = nic->txbuf;
    size_t len = nic->tx_len;
    if (nic->tx_legacy_ic) {
        insert_checksum(f, len, nic->tx_css, nic->tx_cso, 0, false);
    } else {
        const struct tx_context *c = &nic->ctx;
        if (nic->tx_popts & E1000_TXD_POPTS_TXSM)
            insert_checksum(f, len, c->tucss, c->tucso, c->tucse, !(c->tucmd & E1000_TUCMD_TCP));
        if (nic->tx_popts & E1000_TXD_POPTS_IXSM)
            insert_checksum(f, len, c->ipcss, c->ipcso, c->ipcse, false);
    }
    tx_send(nic, f, len);
}

static void tx_context_load(struct e1000 *nic, const uint8_t *d)
{
    struct tx_context *c = &nic->ctx;
    c->ipcss = d[0];
    c->ipcso = d[1];
    c->ipcse = get_le16(d + 2);
    c->tucss = d[4];
    c->tucso = d[5];
    c->tucse = get_le16(d + 6);
    uint32_t cmd_len = get_le32(d + 8);
    c->paylen = cmd_len & 0xFFFFF;
    c->tucmd = (uint8_t)(cmd_len >> 24);
    c->hdr_len = d[13];
    c->mss = get_le16(d + 14);
}

/* One descriptor. Data buffers are appended to txbuf until EOP. */
static void tx_descriptor(struct e1000 *nic, const uint8_t *d)
{
    uint32_t lower = get_le32(d + 8);
    uint8_t cmd = (uint8_t)(lower >> 24);
    unsigned dtyp = (lower >> 20) & 0xF;
    uint64_t addr = get_le64(d);
    size_t len;
    if (cmd & E1000_TXD_CMD_DEXT) {
        if (dtyp == E1000_TXD_DTYP_CONTEXT) {
            tx_context_load(nic, d);
            return;
        }
        if (dtyp != E1000_TXD_DTYP_DATA) {
            warn_once(nic, W_TX_DTYP, "%s: tx descriptor type %u unknown; skipped", nic->id, dtyp);
            return;
        }
        len = lower & 0xFFFFF;
        if (!nic->tx_in_packet) {
            nic->tx_popts = d[13];
            nic->tx_tse = cmd & E1000_TXD_CMD_TSE;
            nic->tx_legacy_ic = false;
        }
    } else {
        len = lower & 0xFFFF;
        if (!nic->tx_in_packet) {
            nic->tx_legacy_ic = cmd & E1000_TXD_CMD_IC;
            nic->tx_cso = d[10];
            nic->tx_css = d[13];
            nic->tx_popts = 0;
            nic->tx_tse = false;
        }
    }
    nic->tx_in_packet = true;
    if (!nic->tx_dropping && len) {
        if (len > sizeof(nic->txbuf) - nic->tx_len) {
            warn_once(nic, W_TX_OVERSIZE, "%s: tx packet larger than %d bytes; dropped", nic->id,
                      FRAME_MAX);
            nic->tx_dropping = true;
        } else if (!gm_read(nic->mem, addr, nic->txbuf + nic->tx_len, len)) {
            warn_once(nic, W_TX_BUF,
                      "%s: tx buffer 0x%llx (%zu bytes) is outside guest RAM; packet dropped",
                      nic->id, (unsigned long long)addr, len);
            nic->tx_dropping = true;
        } else {
            nic->tx_len += len;
        }
    }
    if (!(cmd & E1000_TXD_CMD_EOP))
        return;
    nic->tx_vle = cmd & E1000_TXD_CMD_VLE;
    nic->tx_vlan = get_le16(d + 14);
    if (nic->tx_dropping)
        stat_add(&nic->stats.tx_errs, 1);
    else
        tx_finish_packet(nic);
    nic->tx_in_packet = nic->tx_dropping = false;
    nic->tx_len = 0;
}

/* Process TDH .. TDT-1 (called on TDT writes, lock held). */
static void tx_process(struct e1000 *nic)
{
    uint64_t base;
    uint32_t count;
    if (!(*reg(nic, E1000_TCTL) & E1000_TCTL_EN) || !ring_geometry(nic, true, &base, &count))
        return;
    uint32_t head = *reg(nic, E1000_TDH), tail = *reg(nic, E1000_TDT);
    bool any = false;
    while (head != tail) {  /* at most count - 1 steps: both are < count */
        uint64_t daddr = base + (uint64_t)head * E1000_DESC_SIZE;
        uint8_t d[E1000_DESC_SIZE];
        if (!gm_read(nic->mem, daddr, d, sizeof(d)))
            break;  /* not reached: the whole ring is in RAM */
        tx_descriptor(nic, d);
        if (d[11] & E1000_TXD_CMD_RS) {
            uint8_t status = d[12] | E1000_TXD_STAT_DD;
            gm_write(nic->mem, daddr + 12, &status, 1);
        }
        head = (head + 1) % count;
        *reg(nic, E1000_TDH) = head;
        any = true;
    }
    if (any)
        raise_cause(nic, E1000_ICR_TXDW | E1000_ICR_TXQE);
}

/* ---- register file ---- */

static uint32_t reg_read(struct e1000 *nic, uint32_t off)
{
    switch (off) {
    case E1000_STATUS: {
        uint32_t v = E1000_STATUS_FD | E1000_STATUS_SPEED_1000 | E1000_STATUS_ASDV_1000 |
                     E1000_STATUS_MTXCKOK | E1000_STATUS_GIO_MASTER_EN | 0x80000000u;
        return nic->carrier ? v | E1000_STATUS_LU : v;
    }
    case E1000_EECD:
        return eecd_read(nic);
    case E1000_ICR: {
        /* Read-to-clear; bit 31 says "some cause was pending" (§9.2). */
        uint32_t v = *reg(nic, E1000_ICR);
        *reg(nic, E1000_ICR) = 0;
        update_irq(nic);
        return v ? v | E1000_ICR_INT_ASSERTED : 0;
    }
    case E1000_ICS:
    case E1000_IMC:
        return 0;   /* write-only */
    default:
        break;
    }
    if (off >= E1000_STATS_FIRST && off <= E1000_STATS_LAST) {
        uint32_t v = *reg(nic, off);
        if (is_stat_high_half(off)) {
            *reg(nic, off) = 0;
            *reg(nic, off - 4) = 0;
        } else if (!is_stat_low_half(off)) {
            *reg(nic, off) = 0;
        }
        return v;
    }
    return *reg(nic, off);
}

static void reg_write(struct e1000 *nic, uint32_t off, uint32_t val)
{
    switch (off) {
    case E1000_CTRL:
        if (val & E1000_CTRL_RST) {
            device_reset(nic);  /* RST self-clears: CTRL reads back its reset value */
            return;
        }
        if ((val & E1000_CTRL_PHY_RST) && !(*reg(nic, E1000_CTRL) & E1000_CTRL_PHY_RST)) {
            phy_reset(nic);
            phy_autoneg_done(nic);
        }
        *reg(nic, E1000_CTRL) = val;
        return;
    case E1000_STATUS:
        return;
    case E1000_EECD:
        eecd_write(nic, val);
        return;
    case E1000_EERD:
        if (val & E1000_EERD_START) {
            unsigned a = (val >> E1000_EERD_ADDR_SHIFT) & 0xFF;
            uint16_t data = a < E1000_EEPROM_WORDS ? nic->eeprom[a] : 0;
            *reg(nic, E1000_EERD) = (uint32_t)data << E1000_EERD_DATA_SHIFT |
                                    a << E1000_EERD_ADDR_SHIFT | E1000_EERD_DONE;
        }
        return;
    case E1000_MDIC:
        mdic_write(nic, val);
        return;
    case E1000_ICR:
        *reg(nic, E1000_ICR) &= ~val;
        update_irq(nic);
        return;
    case E1000_ICS:
        raise_cause(nic, val);
        return;
    case E1000_IMS:
        *reg(nic, E1000_IMS) |= val & E1000_ICR_CAUSES;
        update_irq(nic);
        return;
    case E1000_IMC:
        *reg(nic, E1000_IMS) &= ~val;
        update_irq(nic);
        return;
    case E1000_RCTL:
        *reg(nic, off) = val;
        wake_rx(nic);
        return;
    case E1000_RDBAL: case E1000_RDBAH: case E1000_RDLEN:
    case E1000_TDBAL: case E1000_TDBAH: case E1000_TDLEN:
        *reg(nic, off) = off == E1000_RDLEN || off == E1000_TDLEN ? val & 0xFFFFFu : val;
        nic->warned &= ~(1u << (off >= E1000_TDBAL ? W_TX_RING : W_RX_RING));
        wake_rx(nic);
        return;
    case E1000_RDH: case E1000_RDT: case E1000_TDH:
        *reg(nic, off) = val & 0xFFFF;
        if (off != E1000_TDH)
            wake_rx(nic);
        return;
    case E1000_TDT:
        *reg(nic, off) = val & 0xFFFF;
        tx_process(nic);
        return;
    default:
        break;
    }
    if (off >= E1000_STATS_FIRST && off <= E1000_STATS_LAST)
        return;     /* counters are read-only */
    *reg(nic, off) = val;
}

static void access_locked(struct e1000 *nic, uint32_t offset, uint8_t *data, uint32_t len,
                          bool is_write)
{
    if (offset >= E1000_MMIO_SIZE || len == 0 || len > 4 || offset + len > E1000_MMIO_SIZE) {
        if (!is_write)
            memset(data, 0, len);
        return;
    }
    uint32_t aligned = offset & ~3u, shift = (offset & 3) * 8;
    if ((offset & 3) + len > 4) {   /* straddles two registers: ignore */
        if (!is_write)
            memset(data, 0, len);
        return;
    }
    if (is_write) {
        uint32_t v = 0;
        memcpy(&v, data, len);
        if (len < 4) {  /* merge into the stored value (plain registers only matter) */
            uint32_t mask = (len == 1 ? 0xFFu : 0xFFFFu) << shift;
            v = (*reg(nic, aligned) & ~mask) | ((v << shift) & mask);
        }
        reg_write(nic, aligned, v);
    } else {
        uint32_t v = reg_read(nic, aligned) >> shift;
        memcpy(data, &v, len);
    }
}

static void mmio_access(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct e1000 *nic = opaque;
    pthread_mutex_lock(&nic->lock);
    if (len == 8 && !(offset & 7)) {  /* two 32-bit registers */
        access_locked(nic, (uint32_t)offset, data, 4, is_write);
        access_locked(nic, (uint32_t)offset + 4, data + 4, 4, is_write);
    } else {
        access_locked(nic, (uint32_t)(offset < E1000_MMIO_SIZE ? offset : E1000_MMIO_SIZE), data,
                      len, is_write);
    }
    pthread_mutex_unlock(&nic->lock);
}

/* BAR1: IOADDR selects a register, IODATA reads/writes it (§9.1; Linux
 * issues CTRL.RST this way on the 82540). */
static void io_access(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct e1000 *nic = opaque;
    pthread_mutex_lock(&nic->lock);
    if (offset == E1000_IOADDR && len == 4) {
        if (is_write)
            memcpy(&nic->ioaddr, data, 4);
        else
            memcpy(data, &nic->ioaddr, 4);
    } else if (offset == E1000_IODATA && len == 4) {
        access_locked(nic, nic->ioaddr & (E1000_MMIO_SIZE - 4), data, 4, is_write);
    } else if (!is_write) {
        memset(data, 0, len);
    }
    pthread_mutex_unlock(&nic->lock);
}

static void pci_reset_op(struct pci_device *dev)
{
    struct e1000 *nic = dev->opaque;
    pthread_mutex_lock(&nic->lock);
    nic->irq_level = false;     /* the PCI core dropped INTx already */
    device_reset(nic);
    pthread_mutex_unlock(&nic->lock);
}

static const struct pci_device_ops e1000_pci_ops = {
    .reset = pci_reset_op,
};

/* ---- construction ---- */

static void nic_free(struct e1000 *nic)
{
    net_backend_close(nic->be);
    if (nic->wake_fd >= 0)
        close(nic->wake_fd);
    if (nic->stop_fd >= 0)
        close(nic->stop_fd);
    if (nic->timer_fd >= 0)
        close(nic->timer_fd);
    pthread_mutex_destroy(&nic->lock);
    free(nic->id);
    free(nic);
}

static struct net_backend *open_backend(const struct e1000_config *cfg, const char *id, char *err,
                                        size_t errlen)
{
    if (cfg->backend)
        return cfg->backend;
    char berr[256];
    struct net_backend *be = NULL;
    if (cfg->tap_fd >= 0) {
        struct tap_config tc = { .fds = &cfg->tap_fd, .nfds = 1 };
        be = tap_open(&tc, berr, sizeof(berr));
    } else if (cfg->tap_name && *cfg->tap_name) {
        struct tap_config tc = { .ifname = cfg->tap_name, .queues = 1 };
        be = tap_open(&tc, berr, sizeof(berr));
    } else {
        snprintf(err, errlen, "%s: no network backend (give a tap name or a tap fd)", id);
        return NULL;
    }
    if (!be)
        snprintf(err, errlen, "%s: %s", id, berr);
    return be;
}

static struct e1000 *nic_create(struct vm *vm, const struct e1000_config *cfg, bool threaded,
                                char *err, size_t errlen)
{
    char idbuf[32];
    snprintf(idbuf, sizeof(idbuf), "e1000-%u", cfg->index);
    const char *id = cfg->id && *cfg->id ? cfg->id : idbuf;
    struct net_backend *be = open_backend(cfg, id, err, errlen);
    if (!be)
        return NULL;
    struct e1000 *nic = calloc(1, sizeof(*nic));
    if (!nic) {
        snprintf(err, errlen, "%s: out of memory", id);
        net_backend_close(be);
        return NULL;
    }
    nic->be = be;
    nic->wake_fd = nic->stop_fd = nic->timer_fd = -1;
    pthread_mutex_init(&nic->lock, NULL);
    nic->vm = vm;
    nic->mem = &vm->mem;
    nic->id = strdup(id);
    if (!nic->id) {
        snprintf(err, errlen, "%s: out of memory", id);
        nic_free(nic);
        return NULL;
    }
    static const uint8_t zero[ETH_ALEN];
    if (memcmp(cfg->mac, zero, ETH_ALEN) == 0) {
        const uint8_t def[ETH_ALEN] = { 0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t)(0x56 + cfg->index) };
        memcpy(nic->mac, def, ETH_ALEN);
    } else if (cfg->mac[0] & 1) {
        snprintf(err, errlen, "%s: MAC %02x:%02x:%02x:%02x:%02x:%02x is a multicast address", id,
                 cfg->mac[0], cfg->mac[1], cfg->mac[2], cfg->mac[3], cfg->mac[4], cfg->mac[5]);
        nic_free(nic);
        return NULL;
    } else {
        memcpy(nic->mac, cfg->mac, ETH_ALEN);
    }
    nic->carrier = !cfg->link_down;
    eeprom_init(nic);

    struct pci_device *pd = &nic->pci;
    pd->id = nic->id;
    pci_init_header(pd, E1000_VENDOR_INTEL, E1000_DEV_82540EM, E1000_REVISION,
                    E1000_CLASS_ETHERNET, E1000_SUBSYS_VENDOR, E1000_SUBSYS_ID);
    pd->cfg[0x3D] = 1;  /* INTA: the only interrupt the 82540 has (§6.1) */
    pci_set_bar(pd, 0, PCI_BAR_MEM32, false, E1000_MMIO_SIZE, mmio_access, nic);
    pci_set_bar(pd, 1, PCI_BAR_IO, false, E1000_IO_SIZE, io_access, nic);
    pd->ops = &e1000_pci_ops;
    pd->opaque = nic;
    device_reset(nic);

    if (threaded) {
        nic->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        nic->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        nic->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (nic->wake_fd < 0 || nic->stop_fd < 0 || nic->timer_fd < 0) {
            snprintf(err, errlen, "%s: eventfd/timerfd: %s", id, strerror(errno));
            nic_free(nic);
            return NULL;
        }
    }
    int r = pci_register(vm, pd, cfg->slot);
    if (r < 0) {
        snprintf(err, errlen, "%s: cannot add the PCI function%s: %s", id,
                 cfg->slot ? " at the requested slot" : "", strerror(-r));
        nic_free(nic);
        return NULL;
    }
    if (threaded) {
        nic->threaded = true;
        r = pthread_create(&nic->thread, NULL, rx_thread, nic);
        if (r != 0) {
            nic->threaded = false;
            snprintf(err, errlen, "%s: cannot start the receive thread: %s", id, strerror(r));
            pci_unregister(pd);
            nic_free(nic);
            return NULL;
        }
        char tname[16];
        snprintf(tname, sizeof(tname), "rx-%s", nic->id);
        pthread_setname_np(nic->thread, tname);
    }
    log_info("%s: e1000 %02x:%02x:%02x:%02x:%02x:%02x on %s, PCI slot %u%s", nic->id, nic->mac[0],
             nic->mac[1], nic->mac[2], nic->mac[3], nic->mac[4], nic->mac[5],
             be->ifname[0] ? be->ifname : "fd backend", pd->slot,
             nic->carrier ? "" : ", link down");
    return nic;
}

struct e1000 *e1000_create(struct vm *vm, const struct e1000_config *cfg, char *err, size_t errlen)
{
    return nic_create(vm, cfg, true, err, errlen);
}

struct e1000 *e1000_create_unthreaded(struct vm *vm, const struct e1000_config *cfg, char *err,
                                      size_t errlen)
{
    return nic_create(vm, cfg, false, err, errlen);
}

void e1000_stop(struct e1000 *nic)
{
    if (nic->threaded) {
        uint64_t one = 1;
        if (write(nic->stop_fd, &one, sizeof(one)) == sizeof(one))
            pthread_join(nic->thread, NULL);
        nic->threaded = false;
    }
    /* Carrier off first: a transmit finds the link down, never the
     * closed backend. */
    pthread_mutex_lock(&nic->lock);
    nic->carrier = false;
    net_backend_close(nic->be);
    nic->be = NULL;
    pthread_mutex_unlock(&nic->lock);
}

void e1000_destroy(struct e1000 *nic)
{
    if (!nic)
        return;
    e1000_stop(nic);
    nic_free(nic);
}

void e1000_set_link(struct e1000 *nic, bool up)
{
    pthread_mutex_lock(&nic->lock);
    if (nic->carrier != up) {
        nic->carrier = up;
        phy_set_link_bits(nic);
        raise_cause(nic, E1000_ICR_LSC);
        wake_rx(nic);
        log_info("%s: link %s", nic->id, up ? "up" : "down");
    }
    pthread_mutex_unlock(&nic->lock);
}

void e1000_get_stats(const struct e1000 *nic, struct net_stats *out)
{
    const struct net_stats *s = &nic->stats;
    out->rx_bytes = __atomic_load_n(&s->rx_bytes, __ATOMIC_RELAXED);
    out->rx_packets = __atomic_load_n(&s->rx_packets, __ATOMIC_RELAXED);
    out->rx_errs = __atomic_load_n(&s->rx_errs, __ATOMIC_RELAXED);
    out->rx_drop = __atomic_load_n(&s->rx_drop, __ATOMIC_RELAXED);
    out->rx_filtered = __atomic_load_n(&s->rx_filtered, __ATOMIC_RELAXED);
    out->tx_bytes = __atomic_load_n(&s->tx_bytes, __ATOMIC_RELAXED);
    out->tx_packets = __atomic_load_n(&s->tx_packets, __ATOMIC_RELAXED);
    out->tx_errs = __atomic_load_n(&s->tx_errs, __ATOMIC_RELAXED);
    out->tx_drop = __atomic_load_n(&s->tx_drop, __ATOMIC_RELAXED);
}

void e1000_get_info(const struct e1000 *nic, struct e1000_info *out)
{
    out->id = nic->id;
    memcpy(out->mac, nic->mac, ETH_ALEN);
    out->ifname = nic->be ? nic->be->ifname : "";
    out->pci_slot = nic->pci.slot;
    out->link_up = __atomic_load_n(&nic->carrier, __ATOMIC_RELAXED);
}

unsigned e1000_rx_poll(struct e1000 *nic)
{
    return rx_poll(nic, FRAME_MAX);
}

bool e1000_receive(struct e1000 *nic, const void *frame, size_t len)
{
    if (len > FRAME_MAX)
        return false;
    pthread_mutex_lock(&nic->lock);
    bool ok = false;
    if (!nic->rx_pending) {
        memcpy(nic->rxbuf, frame, len);
        ok = rx_deliver(nic, len, false) == RX_DELIVERED;
    }
    pthread_mutex_unlock(&nic->lock);
    return ok;
}

struct pci_device *e1000_pci(struct e1000 *nic) { return &nic->pci; }
