/* PCI core: config mechanism #1, host bridge, BAR sizing/placement/mapping,
 * command register, capabilities, INTx status, reset, 0xCF9. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "hv/bus.h"
#include "hv/pci/pci.h"
#include "hv/vm.h"
#include "tests/tap.h"

static uint32_t cfg_addr(unsigned slot, unsigned reg) { return 0x80000000u | (slot << 11) | reg; }

static void outl(struct vm *vm, uint16_t port, uint32_t v)
{
    uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    bus_dispatch(vm->bus, BUS_PIO, port, d, 4, true);
}

static void outb(struct vm *vm, uint16_t port, uint8_t v) { bus_dispatch(vm->bus, BUS_PIO, port, &v, 1, true); }

static uint32_t in(struct vm *vm, uint16_t port, uint32_t len)
{
    uint8_t d[4] = { 0 };
    bus_dispatch(vm->bus, BUS_PIO, port, d, len, false);
    return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static uint32_t cfg_read32(struct vm *vm, unsigned slot, unsigned reg)
{
    outl(vm, 0xCF8, cfg_addr(slot, reg));
    return in(vm, 0xCFC, 4);
}

static void cfg_write32(struct vm *vm, unsigned slot, unsigned reg, uint32_t v)
{
    outl(vm, 0xCF8, cfg_addr(slot, reg));
    outl(vm, 0xCFC, v);
}

static int mmio_hits, io_hits, bar_events;
static uint64_t last_offset;

static void mmio_fn(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    mmio_hits++;
    last_offset = offset;
    if (!is_write)
        memset(data, 0x5A, len);
}

static void io_fn(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    io_hits++;
    if (!is_write)
        memset(data, 0x11, len);
}

static int reset_calls;
static void dev_reset(struct pci_device *dev) { reset_calls++; }
static void dev_bar_changed(struct pci_device *dev, int bar, bool mapped, uint64_t addr) { bar_events++; }
static const struct pci_device_ops test_ops = { .reset = dev_reset, .bar_changed = dev_bar_changed };

static int resets;
static void on_request(void *opaque, enum vm_request req)
{
    if (req == VM_REQUEST_RESET)
        resets++;
}

/* Bus under concurrent change: a reader thread keeps hitting a stable
 * range while the main thread adds and removes ranges around it. */
static int stable_hits;
static void stable_fn(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    stable_hits++;
    if (!is_write)
        memset(data, 0x42, len);
}
static void other_fn(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write) {}

struct reader_arg {
    struct bus *bus;
    int iterations, misses;
};

static void *reader(void *p)
{
    struct reader_arg *a = p;
    for (int i = 0; i < a->iterations; i++) {
        uint8_t d[4];
        if (!bus_dispatch(a->bus, BUS_MMIO, 0x5000 + (uint64_t)(i % 16), d, 4, false) || d[0] != 0x42)
            a->misses++;
    }
    return NULL;
}

static void bus_concurrency_tests(void)
{
    struct bus *bus = bus_new();
    TAP_EQ_U64(bus_add(bus, BUS_MMIO, 0x5000, 0x100, stable_fn, NULL), 0, "stable range added");
    TAP_CHECK(bus_add(bus, BUS_MMIO, 0x50F0, 0x100, other_fn, NULL) == -EEXIST, "overlap refused");
    TAP_CHECK(bus_add(bus, BUS_MMIO, 0x4F00, 0x101, other_fn, NULL) == -EEXIST, "overlap from below refused");
    TAP_CHECK(bus_add(bus, BUS_MMIO, 0, 0, other_fn, NULL) == -EINVAL, "empty range refused");
    TAP_CHECK(bus_add(bus, BUS_MMIO, ~0ULL - 4, 16, other_fn, NULL) == -EINVAL, "wrapping range refused");
    struct reader_arg a = { .bus = bus, .iterations = 200000 };
    pthread_t th;
    pthread_create(&th, NULL, reader, &a);
    int churn_ok = 1;
    for (int i = 0; i < 20000; i++) {
        uint64_t base = (i % 2) ? 0x1000 + 0x100 * (uint64_t)(i % 7) : 0x9000 + 0x100 * (uint64_t)(i % 5);
        if (bus_add(bus, BUS_MMIO, base, 0x80, other_fn, &a) != 0)
            churn_ok = 0;
        bus_remove(bus, BUS_MMIO, base, &a);
    }
    pthread_join(th, NULL);
    TAP_CHECK(churn_ok, "20000 add/remove pairs while dispatching");
    TAP_EQ_U64(a.misses, 0, "reader never missed the stable range");
    TAP_EQ_U64(stable_hits, 200000, "every dispatch reached the handler once");
    uint8_t d[4];
    TAP_CHECK(!bus_dispatch(bus, BUS_MMIO, 0x1000, d, 4, false), "churned ranges all removed");
    TAP_CHECK(!bus_dispatch(bus, BUS_MMIO, 0x50FE, d, 4, false), "access crossing the range end unclaimed");
    int added = 0;
    while (bus_add(bus, BUS_PIO, 0x10000 + 16 * (uint64_t)added, 16, other_fn, NULL) == 0 && added < 10000)
        added++;
    TAP_CHECK(added > 100 && added < 10000, "table full is reported, not overrun (%d ranges)", added);
    bus_free(bus);
}

int main(void)
{
    bus_concurrency_tests();
    struct vm *vm = vm_create_for_test();
    TAP_CHECK(vm != NULL, "test VM created");
    TAP_EQ_U64(pci_bus_create(vm), 0, "PCI bus created");
    vm_set_request_handler(vm, on_request, NULL);

    /* Linux's type-1 probe: write 0x80000000 to 0xCF8, read it back. */
    outl(vm, 0xCF8, 0x80000000u);
    TAP_EQ_U64(in(vm, 0xCF8, 4), 0x80000000u, "CONFIG_ADDRESS reads back");
    outb(vm, 0xCFB, 0x01);  /* conf1 probe pokes 0xCFB; must be harmless */
    TAP_EQ_U64(in(vm, 0xCF8, 4), 0x80000000u, "byte write to 0xCFB does not clobber CONFIG_ADDRESS");

    /* Host bridge identity. */
    TAP_EQ_U64(cfg_read32(vm, 0, 0x00), 0x12378086u, "00:00.0 is 8086:1237");
    TAP_EQ_U64(cfg_read32(vm, 0, 0x08) >> 8, 0x060000u, "host bridge class 060000");
    TAP_EQ_U64(cfg_read32(vm, 0, 0x08) & 0xFF, 2, "host bridge revision 2");
    outl(vm, 0xCF8, cfg_addr(0, 0x00));
    TAP_EQ_U64(in(vm, 0xCFE, 2), 0x1237, "word read at 0xCFE is the device id");

    /* Absent devices and functions read as all-ones. */
    TAP_EQ_U64(cfg_read32(vm, 7, 0x00), 0xFFFFFFFFu, "empty slot reads all-ones");
    outl(vm, 0xCF8, 0x80000000u | (0 << 11) | (3 << 8));
    TAP_EQ_U64(in(vm, 0xCFC, 4), 0xFFFFFFFFu, "function 3 of the host bridge is absent");
    outl(vm, 0xCF8, 0x80010000u);
    TAP_EQ_U64(in(vm, 0xCFC, 4), 0xFFFFFFFFu, "bus 1 is absent");
    outl(vm, 0xCF8, 0x00000000u);
    TAP_EQ_U64(in(vm, 0xCFC, 4), 0xFFFFFFFFu, "enable bit clear: no config cycle");

    /* A device with a 4 KiB MMIO BAR, a 16 KiB 64-bit prefetchable BAR,
     * a 64-byte I/O BAR and INTA. */
    static struct pci_device dev;
    dev.id = "testdev0";
    dev.ops = &test_ops;
    pci_init_header(&dev, 0x1AF4, 0x1042, 1, 0x010000, 0x1AF4, 0x1100);
    dev.cfg[0x3D] = 1;
    pci_set_bar(&dev, 0, PCI_BAR_MEM32, false, 0x1000, mmio_fn, &dev);
    pci_set_bar(&dev, 1, PCI_BAR_IO, false, 0x40, io_fn, &dev);
    pci_set_bar(&dev, 2, PCI_BAR_MEM64, true, 0x4000, mmio_fn, &dev);
    uint8_t cap1[4] = { 0x09, 0, 0xAA, 0xBB };
    uint8_t cap2[8] = { 0x11, 0, 1, 2, 3, 4, 5, 6 };
    uint8_t c1 = pci_add_cap(&dev, cap1, sizeof(cap1));
    uint8_t c2 = pci_add_cap(&dev, cap2, sizeof(cap2));
    TAP_EQ_U64(c1, 0x40, "first capability at 0x40");
    TAP_EQ_U64(c2, 0x44, "second capability after the first");
    TAP_EQ_U64(pci_register(vm, &dev, 0), 0, "device registered");
    TAP_EQ_U64(dev.slot, 1, "first free slot is 1");
    TAP_CHECK(pci_device_at(vm, 1) == &dev, "pci_device_at finds it");
    TAP_CHECK(pci_register(vm, &dev, 1) < 0, "slot 1 cannot be taken twice");

    TAP_EQ_U64(dev.gsi, pci_intx_gsi(1, 0), "INTx GSI follows pci_intx_gsi");
    TAP_CHECK(dev.gsi >= 16 && dev.gsi <= 23, "INTx GSI is an IOAPIC PCI input (16-23)");
    TAP_EQ_U64(cfg_read32(vm, 1, 0x3C) & 0xFFFF, 0x0100u | dev.gsi, "interrupt line = GSI, pin = INTA");
    TAP_EQ_U64(cfg_read32(vm, 1, 0x04) >> 16 & 0x10, 0x10, "status: capability list");
    TAP_EQ_U64(cfg_read32(vm, 1, 0x34) & 0xFF, 0x40, "capability pointer");
    TAP_EQ_U64(cfg_read32(vm, 1, 0x40) & 0xFFFF, 0x4409, "cap 1 links to cap 2");
    TAP_EQ_U64(cfg_read32(vm, 1, 0x44) & 0xFFFF, 0x0011, "cap 2 ends the list");

    /* Placement: naturally aligned in the windows. */
    uint32_t bar0 = cfg_read32(vm, 1, 0x10), bar1 = cfg_read32(vm, 1, 0x14);
    uint32_t bar2 = cfg_read32(vm, 1, 0x18), bar3 = cfg_read32(vm, 1, 0x1C);
    TAP_CHECK(bar0 >= 0xC0000000u && (bar0 & 0xFFF) == 0, "BAR0 placed in the MMIO window, aligned");
    TAP_CHECK((bar1 & 1) == 1 && (bar1 & ~3u) >= 0xC000 && (bar1 & 0x3F) == 1, "BAR1 placed in I/O space, aligned");
    TAP_EQ_U64(bar2 & 0xF, 0xC, "BAR2 type bits: 64-bit prefetchable");
    TAP_CHECK((bar2 & ~0xFu) % 0x4000 == 0 && bar3 == 0, "BAR2 aligned, upper half 0");

    /* Sizing. */
    cfg_write32(vm, 1, 0x10, 0xFFFFFFFFu);
    TAP_EQ_U64(cfg_read32(vm, 1, 0x10), 0xFFFFF000u, "BAR0 sizing reads ~(4K-1)");
    cfg_write32(vm, 1, 0x10, bar0);
    TAP_EQ_U64(cfg_read32(vm, 1, 0x10), bar0, "BAR0 restored");
    cfg_write32(vm, 1, 0x14, 0xFFFFFFFFu);
    TAP_EQ_U64(cfg_read32(vm, 1, 0x14), 0xFFFFFFC1u, "I/O BAR sizing reads 0xFFFFFFC1 (64 bytes, all 32 bits as SeaBIOS sizes it)");
    cfg_write32(vm, 1, 0x14, bar1);
    cfg_write32(vm, 1, 0x18, 0xFFFFFFFFu);
    cfg_write32(vm, 1, 0x1C, 0xFFFFFFFFu);
    TAP_EQ_U64(cfg_read32(vm, 1, 0x18), 0xFFFFC00Cu, "64-bit BAR low sizing keeps type bits");
    TAP_EQ_U64(cfg_read32(vm, 1, 0x1C), 0xFFFFFFFFu, "64-bit BAR high half all-ones for sizes < 4G");
    cfg_write32(vm, 1, 0x18, bar2);
    cfg_write32(vm, 1, 0x1C, 0);
    TAP_EQ_U64(cfg_read32(vm, 1, 0x20), 0, "unused BAR4 reads 0");
    cfg_write32(vm, 1, 0x20, 0xFFFFFFFFu);
    TAP_EQ_U64(cfg_read32(vm, 1, 0x20), 0, "unused BAR4 not writable");
    cfg_write32(vm, 1, 0x30, 0xFFFFFFFFu);
    TAP_EQ_U64(cfg_read32(vm, 1, 0x30), 0, "no expansion ROM");

    /* Read-only identity. */
    cfg_write32(vm, 1, 0x00, 0);
    TAP_EQ_U64(cfg_read32(vm, 1, 0x00), 0x10421AF4u, "vendor/device are read-only");

    /* Decode off: nothing answers at the BAR. */
    uint8_t d[4];
    mmio_hits = 0;
    TAP_CHECK(!bus_dispatch(vm->bus, BUS_MMIO, bar0 + 4, d, 4, false), "BAR0 not decoded with MEM off");
    TAP_EQ_U64(d[0], 0xFF, "unclaimed MMIO reads all-ones");

    /* Enable MEM + IO: decoded. */
    bar_events = 0;
    cfg_write32(vm, 1, 0x04, 0x0003);
    TAP_EQ_U64(cfg_read32(vm, 1, 0x04) & 0xFFFF, 0x0003, "command reads back IO|MEM");
    TAP_EQ_U64(bar_events, 3, "bar_changed reported for the three BARs");
    TAP_CHECK(bus_dispatch(vm->bus, BUS_MMIO, bar0 + 8, d, 4, false) && d[0] == 0x5A, "BAR0 decoded with MEM on");
    TAP_EQ_U64(last_offset, 8, "handler gets the offset within the BAR");
    TAP_CHECK(bus_dispatch(vm->bus, BUS_MMIO, (bar2 & ~0xFu) + 0x3FFC, d, 4, false), "64-bit BAR decoded");
    TAP_CHECK(bus_dispatch(vm->bus, BUS_PIO, (bar1 & ~3u) + 2, d, 2, false) && d[0] == 0x11, "I/O BAR decoded");

    /* Move BAR0 while decoding: old address gone, new one answers. */
    cfg_write32(vm, 1, 0x10, 0xD0000000u);
    TAP_CHECK(!bus_dispatch(vm->bus, BUS_MMIO, bar0, d, 4, false), "old BAR0 address released");
    TAP_CHECK(bus_dispatch(vm->bus, BUS_MMIO, 0xD0000000u, d, 4, false), "BAR0 answers at its new address");
    TAP_EQ_U64(dev.bars[0].addr, 0xD0000000u, "bars[0].addr tracks the guest's value");

    /* Byte-wide write of the command register's high byte (INTx disable). */
    pci_set_irq(&dev, true);
    TAP_EQ_U64(cfg_read32(vm, 1, 0x04) >> 16 & 0x08, 0x08, "status bit 3 set while INTx asserted");
    outl(vm, 0xCF8, cfg_addr(1, 0x04));
    outb(vm, 0xCFD, 0x04);
    TAP_EQ_U64(cfg_read32(vm, 1, 0x04) & 0xFFFF, 0x0403, "INTx disable set by a byte write");
    TAP_EQ_U64(cfg_read32(vm, 1, 0x04) >> 16 & 0x08, 0x08, "status bit 3 still reflects the device");
    pci_set_irq(&dev, false);
    TAP_EQ_U64(cfg_read32(vm, 1, 0x04) >> 16 & 0x08, 0, "status bit 3 clears on deassert");

    /* Interrupt line is scratch, pin read-only. */
    outl(vm, 0xCF8, cfg_addr(1, 0x3C));
    outb(vm, 0xCFC, 0x0B);
    outb(vm, 0xCFD, 0x03);
    TAP_EQ_U64(cfg_read32(vm, 1, 0x3C) & 0xFFFF, 0x010B, "line writable, pin read-only");

    /* Reset: original image back, decode off, ops->reset called. */
    reset_calls = 0;
    pci_reset_all(vm);
    TAP_EQ_U64(reset_calls, 1, "device reset op called once");
    TAP_EQ_U64(cfg_read32(vm, 1, 0x04) & 0xFFFF, 0, "command cleared by reset");
    TAP_EQ_U64(cfg_read32(vm, 1, 0x10), bar0, "BAR0 back at its placement");
    TAP_CHECK(!bus_dispatch(vm->bus, BUS_MMIO, 0xD0000000u, d, 4, false), "moved BAR unmapped by reset");

    /* 0xCF9 reset control: reset on RST_CPU 0 -> 1. */
    resets = 0;
    outb(vm, 0xCF9, 0x02);
    TAP_EQ_U64(resets, 0, "SYS_RST alone does not reset");
    outb(vm, 0xCF9, 0x06);
    TAP_EQ_U64(resets, 1, "RST_CPU rising edge resets");

    /* Hostile config access widths. */
    outl(vm, 0xCF8, cfg_addr(1, 0x00));
    uint8_t big[8] = { 0 };
    bus_dispatch(vm->bus, BUS_PIO, 0xCFD, big, 4, false);
    TAP_EQ_U64(big[0], 0xFF, "dword read at 0xCFD (crossing the window) reads all-ones");

    TAP_EQ_U64(pci_intx_gsi(1, 0) != pci_intx_gsi(2, 0), 1, "neighbouring slots' INTA differ");
    pci_bus_destroy(vm);
    vm_destroy(vm);
    return tap_done();
}
