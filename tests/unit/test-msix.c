/* MSI-X table semantics: capability layout, enable and function mask,
 * per-vector masks, pending bits and their delivery on unmask. */
#include <stdint.h>
#include <string.h>

#include "hv/pci/msix.h"
#include "hv/pci/pci.h"
#include "tests/tap.h"

/* Minimal stand-in for the PCI core's capability list. */
static uint8_t next_cap = 0x40;
uint8_t pci_add_cap(struct pci_device *dev, const void *cap, uint8_t len)
{
    uint8_t at = next_cap;
    memcpy(dev->cfg + at, cap, len);
    dev->cfg[at + 1] = dev->cfg[0x34];
    dev->cfg[0x34] = at;
    next_cap += (uint8_t)((len + 3) & ~3);
    return at;
}

static struct pci_device pci;
static struct msix msix;

static int delivered, changes;
static unsigned last_vec, delivered_vec;
static uint64_t last_addr;
static uint32_t last_data;
static bool last_active;

static void deliver(void *opaque, unsigned vec, uint64_t addr, uint32_t data)
{
    (void)opaque;
    delivered++;
    delivered_vec = vec;
    last_addr = addr;
    last_data = data;
}

static void changed(void *opaque, unsigned vec, uint64_t addr, uint32_t data, bool active)
{
    (void)opaque;
    (void)addr;
    (void)data;
    changes++;
    last_vec = vec;
    last_active = active;
}

/* What the PCI core does for a config write: apply through wmask, then hook. */
static void cfg_write16(uint32_t off, uint16_t val)
{
    for (unsigned i = 0; i < 2; i++) {
        uint8_t b = (uint8_t)(val >> (8 * i)), wm = pci.wmask[off + i];
        pci.cfg[off + i] = (uint8_t)((pci.cfg[off + i] & ~wm) | (b & wm));
    }
    msix_cfg_write(&msix, off, 2, val);
}

static void bar_write32(uint64_t off, uint32_t v)
{
    uint8_t d[4];
    memcpy(d, &v, 4);
    msix_bar_access(&msix, off, d, 4, true);
}

static uint32_t bar_read32(uint64_t off)
{
    uint8_t d[4];
    msix_bar_access(&msix, off, d, 4, false);
    uint32_t v;
    memcpy(&v, d, 4);
    return v;
}

int main(void)
{
    TAP_EQ_U64(msix_init(&msix, &pci, 4, 1, 0x0, 0x20, deliver, changed, NULL), -22,
               "overlapping table and PBA rejected");
    TAP_EQ_U64(msix_init(&msix, &pci, 6, 1, 0x0, 0x800, deliver, changed, NULL), 0, "init");
    uint8_t cap = msix.cap;
    uint16_t ctrl;
    uint32_t table, pba;
    memcpy(&ctrl, pci.cfg + cap + 2, 2);
    memcpy(&table, pci.cfg + cap + 4, 4);
    memcpy(&pba, pci.cfg + cap + 8, 4);
    TAP_CHECK(pci.cfg[cap] == MSIX_CAP_ID && ctrl == 5 && table == 0x1 && pba == 0x801,
              "capability: id 0x11, table size N-1, BIR in offsets");
    TAP_EQ_U64(pci.wmask[cap + 3], 0xC0, "only enable and function mask writable");
    TAP_EQ_U64(bar_read32(12), 1, "vectors start masked");
    TAP_CHECK(!msix_notify(&msix, 0), "notify refused while MSI-X disabled");

    cfg_write16(cap + 2, MSIX_CTRL_ENABLE | 0x7ff);
    memcpy(&ctrl, pci.cfg + cap + 2, 2);
    TAP_EQ_U64(ctrl, MSIX_CTRL_ENABLE | 5, "enable set, table size read-only");
    TAP_CHECK(msix_enabled(&msix) && changes == 6 && !last_active, "enable reported for each vector");

    bar_write32(0 * 16 + 0, 0xFEE01003);   /* low bits reserved: read 0 */
    bar_write32(0 * 16 + 4, 0);
    bar_write32(0 * 16 + 8, 0x4041);
    changes = 0;
    bar_write32(0 * 16 + 12, 0xFFFFFFF0);  /* unmask; reserved bits ignored */
    TAP_CHECK(changes == 1 && last_vec == 0 && last_active, "unmask reported as active");
    TAP_EQ_U64(bar_read32(0), 0xFEE01000, "address bits 1:0 read 0");
    TAP_EQ_U64(bar_read32(12), 0, "reserved vector-control bits read 0");
    TAP_CHECK(msix_notify(&msix, 0) && delivered == 1 && last_addr == 0xFEE01000 && last_data == 0x4041,
              "unmasked vector delivers its message");

    /* Vector 1 programmed but masked: latch, then fire on unmask. */
    bar_write32(1 * 16 + 0, 0xFEE00000);
    bar_write32(1 * 16 + 8, 0x51);
    delivered = 0;
    TAP_CHECK(msix_notify(&msix, 1) && delivered == 0 && msix_is_pending(&msix, 1),
              "masked vector latches its pending bit");
    TAP_EQ_U64(bar_read32(0x800), 0x2, "PBA shows bit 1");
    bar_write32(0x800, 0);
    TAP_EQ_U64(bar_read32(0x800), 0x2, "PBA writes ignored");
    bar_write32(1 * 16 + 12, 0);
    TAP_CHECK(delivered == 1 && delivered_vec == 1 && last_data == 0x51 && !msix_is_pending(&msix, 1),
              "unmask delivers the pending message and clears the bit");

    /* Function mask. */
    cfg_write16(cap + 2, MSIX_CTRL_ENABLE | MSIX_CTRL_FUNCTION_MASK);
    delivered = 0;
    msix_notify(&msix, 0);
    TAP_CHECK(delivered == 0 && msix_is_pending(&msix, 0) && msix_is_masked(&msix, 0),
              "function mask latches");
    cfg_write16(cap + 2, MSIX_CTRL_ENABLE);
    TAP_CHECK(delivered == 1 && delivered_vec == 0 && !msix_is_pending(&msix, 0),
              "clearing the function mask delivers pending vectors");

    TAP_CHECK(!msix_notify(&msix, 6), "vector beyond the table refused");
    uint8_t d[4] = { 0 };
    TAP_CHECK(!msix_bar_access(&msix, 0x400, d, 4, false), "offset outside table and PBA not claimed");

    /* 64-bit access to an entry. */
    uint8_t q[8];
    uint64_t addr64 = 0x00000000FEE02000ull;
    memcpy(q, &addr64, 8);
    msix_bar_access(&msix, 2 * 16, q, 8, true);
    TAP_EQ_U64(bar_read32(2 * 16), 0xFEE02000, "QWORD write to the address");

    /* Disable: notify refused (owner uses INTx). */
    cfg_write16(cap + 2, 0);
    TAP_CHECK(!msix_enabled(&msix) && !msix_notify(&msix, 0), "disabled again");

    cfg_write16(cap + 2, MSIX_CTRL_ENABLE);
    msix_reset(&msix);
    memcpy(&ctrl, pci.cfg + cap + 2, 2);
    TAP_CHECK(!msix_enabled(&msix) && ctrl == 5 && bar_read32(12) == 1 && bar_read32(0) == 0,
              "reset: disabled, entries cleared and masked");
    msix_free(&msix);
    return tap_done();
}
