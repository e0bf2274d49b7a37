/* PCI bus 0: type-0 header semantics, BAR sizing/placement/mapping,
 * command register, INTx (x86-boot.md §6, §6.1). */
#include "hv/pci/pci.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "hv/vm.h"

#define PCI_SLOTS 32
#define PCI_IO_BASE 0xC000u
#define PCI_IO_END 0x10000u
#define INTX_GSI_BASE 16u
#define INTX_GSI_COUNT 8u
#define I440FX_PAM0 0x59
#define I440FX_PAM_COUNT 7

/* Header offsets and bits (PCI Local Bus 3.0 §6.2). */
#define CFG_COMMAND 0x04
#define CFG_STATUS 0x06
#define CFG_BAR0 0x10
#define CFG_ROM 0x30
#define CFG_CAP_PTR 0x34
#define CFG_INT_LINE 0x3C
#define CFG_INT_PIN 0x3D
#define CMD_IO 0x0001
#define CMD_MEM 0x0002
#define CMD_INTX_DISABLE 0x0400
#define CMD_WRITABLE 0x0547     /* IO, MEM, BM, parity, SERR, INTx disable */
#define STATUS_INTX 0x0008
#define STATUS_CAP_LIST 0x0010

struct pci_bus {
    struct vm *vm;
    pthread_mutex_t cfg_lock;   /* config space accesses and BAR mapping */
    pthread_mutex_t irq_lock;   /* INTx state */
    struct pci_device *devs[PCI_SLOTS];
    uint8_t initial_cfg[PCI_SLOTS][PCI_CFG_SIZE];
    uint64_t initial_bar_addr[PCI_SLOTS][PCI_NUM_BARS];
    bool intx_asserted[PCI_SLOTS];          /* effective (after INTx disable) */
    unsigned gsi_users[INTX_GSI_COUNT];     /* asserted devices per shared GSI */
    uint64_t next_mmio;
    uint32_t next_io;
    struct pci_device host_bridge;
};

static uint32_t cfg_get(const struct pci_device *dev, unsigned off, unsigned len)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < len; i++)
        v |= (uint32_t)dev->cfg[off + i] << (8 * i);
    return v;
}

static void cfg_put(struct pci_device *dev, unsigned off, unsigned len, uint32_t v)
{
    for (unsigned i = 0; i < len; i++)
        dev->cfg[off + i] = (uint8_t)(v >> (8 * i));
}

uint32_t pci_intx_gsi(uint8_t slot, uint8_t pin)
{
    /* Rotate pins over the eight PCI GSIs like a PIIX swizzle, so INTA of
     * neighbouring slots lands on different lines. */
    return INTX_GSI_BASE + ((unsigned)slot + pin) % INTX_GSI_COUNT;
}

void pci_init_header(struct pci_device *dev, uint16_t vendor, uint16_t device, uint8_t revision,
                     uint32_t class_code, uint16_t subsys_vendor, uint16_t subsys_id)
{
    cfg_put(dev, 0x00, 2, vendor);
    cfg_put(dev, 0x02, 2, device);
    dev->cfg[0x08] = revision;
    cfg_put(dev, 0x09, 3, class_code);  /* prog-if, subclass, class */
    dev->cfg[0x0E] = 0;                 /* header type 0, single function */
    cfg_put(dev, 0x2C, 2, subsys_vendor);
    cfg_put(dev, 0x2E, 2, subsys_id);
}

void pci_set_bar(struct pci_device *dev, int bar, enum pci_bar_type type, bool prefetchable,
                 uint64_t size, bus_access_fn fn, void *opaque)
{
    if (bar < 0 || bar >= PCI_NUM_BARS || (type == PCI_BAR_MEM64 && bar == PCI_NUM_BARS - 1)) {
        log_error("pci: %s: invalid BAR %d", dev->id ? dev->id : "device", bar);
        return;
    }
    uint64_t min = type == PCI_BAR_IO ? 4 : 16;
    if (size < min)
        size = min;
    if (size & (size - 1)) {  /* round up to a power of two */
        uint64_t p = 1;
        while (p < size)
            p <<= 1;
        size = p;
    }
    dev->bars[bar] = (struct pci_bar){
        .type = type, .prefetchable = prefetchable, .size = size, .fn = fn, .opaque = opaque,
    };
}

uint8_t pci_add_cap(struct pci_device *dev, const void *cap, uint8_t len)
{
    unsigned off = dev->cap_end ? dev->cap_end : 0x40;
    off = (off + 3) & ~3u;
    if (len < 2 || off + len > PCI_CFG_SIZE)
        return 0;
    memcpy(&dev->cfg[off], cap, len);
    dev->cfg[off + 1] = 0;
    if (!dev->cfg[CFG_CAP_PTR]) {
        dev->cfg[CFG_CAP_PTR] = (uint8_t)off;
    } else {
        unsigned p = dev->cfg[CFG_CAP_PTR], guard = 0;
        while (dev->cfg[p + 1] && guard++ < 64)
            p = dev->cfg[p + 1];
        dev->cfg[p + 1] = (uint8_t)off;
    }
    dev->cfg[CFG_STATUS] |= STATUS_CAP_LIST;
    dev->cap_end = (uint16_t)(off + len);
    return (uint8_t)off;
}

/* Writable bits and fixed type bits of BAR register `i` (a 64-bit BAR's
 * upper half is the register after it). */
static void bar_reg_masks(const struct pci_device *dev, int i, uint32_t *mask, uint32_t *flags)
{
    *mask = 0;
    *flags = 0;
    const struct pci_bar *b = &dev->bars[i];
    if (i > 0 && dev->bars[i - 1].type == PCI_BAR_MEM64) {
        *mask = (uint32_t)(~(dev->bars[i - 1].size - 1) >> 32);
        return;
    }
    switch (b->type) {
    case PCI_BAR_IO:
        /* All 32 address bits writable, as QEMU's functions: SeaBIOS's
         * pci_bios_get_bar sizes an I/O BAR from the full register, so
         * upper bits hardwired to 0 read as a BAR of almost 4 GiB and its
         * allocation runs out of I/O space (Linux masks to 16 bits). */
        *mask = (uint32_t)~(b->size - 1) & 0xFFFFFFFCu;
        *flags = 0x1;
        break;
    case PCI_BAR_MEM32:
        *mask = (uint32_t)~(b->size - 1) & 0xFFFFFFF0u;
        *flags = b->prefetchable ? 0x8 : 0;
        break;
    case PCI_BAR_MEM64:
        *mask = (uint32_t)~(b->size - 1) & 0xFFFFFFF0u;
        *flags = 0x4 | (b->prefetchable ? 0x8 : 0);
        break;
    default:
        break;
    }
}

static uint64_t bar_addr_from_cfg(const struct pci_device *dev, int i)
{
    const struct pci_bar *b = &dev->bars[i];
    uint32_t lo = cfg_get(dev, CFG_BAR0 + 4 * i, 4);
    if (b->type == PCI_BAR_IO)
        return lo & ~0x3u;
    uint64_t addr = lo & ~0xFu;
    if (b->type == PCI_BAR_MEM64)
        addr |= (uint64_t)cfg_get(dev, CFG_BAR0 + 4 * (i + 1), 4) << 32;
    return addr;
}

/* Bring BAR i's bus registration in line with its address and the
 * command register's decode enables. Called with cfg_lock held. */
static void bar_update(struct vm *vm, struct pci_device *dev, int i)
{
    struct pci_bar *b = &dev->bars[i];
    if (b->type == PCI_BAR_NONE || !b->size)
        return;
    uint16_t cmd = (uint16_t)cfg_get(dev, CFG_COMMAND, 2);
    bool io = b->type == PCI_BAR_IO;
    uint64_t addr = bar_addr_from_cfg(dev, i);
    bool enabled = io ? (cmd & CMD_IO) : (cmd & CMD_MEM);
    bool valid = addr != 0 && addr + b->size > addr &&
                 (io ? addr + b->size <= PCI_IO_END : addr + b->size <= (1ULL << 46));
    bool want = enabled && valid && b->fn;
    enum bus_space space = io ? BUS_PIO : BUS_MMIO;

    if (b->mapped && (!want || addr != b->addr)) {
        bus_remove(vm->bus, space, b->addr, b->opaque);
        b->mapped = false;
        if (dev->ops && dev->ops->bar_changed)
            dev->ops->bar_changed(dev, i, false, b->addr);
    }
    b->addr = addr;
    if (want && !b->mapped) {
        int r = bus_add(vm->bus, space, addr, b->size, b->fn, b->opaque);
        if (r < 0) {
            /* Guest-controlled: log the first few only. */
            static unsigned logged;
            if (logged < 10) {
                logged++;
                log_warn("pci: %s BAR%d at 0x%llx (size 0x%llx) overlaps another range; not mapped",
                         dev->id ? dev->id : "device", i, (unsigned long long)addr,
                         (unsigned long long)b->size);
            }
            return;
        }
        b->mapped = true;
        if (dev->ops && dev->ops->bar_changed)
            dev->ops->bar_changed(dev, i, true, addr);
    }
}

/* Recompute the device's effective INTx and the shared GSI line. Called
 * with irq_lock held. */
static void intx_update(struct pci_bus *bus, struct pci_device *dev)
{
    if (!dev->cfg[CFG_INT_PIN] || dev->gsi < INTX_GSI_BASE || dev->gsi >= INTX_GSI_BASE + INTX_GSI_COUNT)
        return;
    uint16_t status = (uint16_t)cfg_get(dev, CFG_STATUS, 2);
    status = dev->intx_level ? (status | STATUS_INTX) : (status & ~STATUS_INTX);
    cfg_put(dev, CFG_STATUS, 2, status);

    bool effective = dev->intx_level && !(cfg_get(dev, CFG_COMMAND, 2) & CMD_INTX_DISABLE);
    if (effective == bus->intx_asserted[dev->slot])
        return;
    bus->intx_asserted[dev->slot] = effective;
    unsigned idx = dev->gsi - INTX_GSI_BASE;
    bool was = bus->gsi_users[idx] > 0;
    bus->gsi_users[idx] += effective ? 1 : -1;
    bool now = bus->gsi_users[idx] > 0;
    if (was != now && bus->vm->vm_fd >= 0)
        vm_irq_line(bus->vm, dev->gsi, now);
}

void pci_set_irq(struct pci_device *dev, bool level)
{
    struct pci_bus *bus = dev->vm ? dev->vm->pci : NULL;
    if (!bus)
        return;
    pthread_mutex_lock(&bus->irq_lock);
    dev->intx_level = level;
    intx_update(bus, dev);
    pthread_mutex_unlock(&bus->irq_lock);
}

static struct pci_device *lookup(struct pci_bus *bus, uint32_t addr)
{
    unsigned busno = (addr >> 16) & 0xFF, slot = (addr >> 11) & 0x1F, fn = (addr >> 8) & 0x7;
    if (busno != 0 || fn != 0)
        return NULL;
    return bus->devs[slot];
}

uint32_t pci_cfg_read(struct vm *vm, uint32_t addr, uint32_t off, uint32_t len)
{
    struct pci_bus *bus = vm->pci;
    uint32_t ones = len >= 4 ? 0xFFFFFFFFu : ((1u << (8 * len)) - 1);
    if (!bus || (len != 1 && len != 2 && len != 4) || off + len > 4)
        return ones;
    pthread_mutex_lock(&bus->cfg_lock);
    struct pci_device *dev = lookup(bus, addr);
    uint32_t val = ones;  /* absent functions read as all-ones */
    if (dev) {
        unsigned o = (addr & 0xFC) + off;
        if (o >= 0x40 && dev->ops && dev->ops->cfg_read)
            dev->ops->cfg_read(dev, o, len);
        /* Status bit 3 is written by pci_set_irq under irq_lock. */
        if (o < CFG_STATUS + 2 && o + len > CFG_STATUS)
            pthread_mutex_lock(&bus->irq_lock);
        val = cfg_get(dev, o, len);
        if (o < CFG_STATUS + 2 && o + len > CFG_STATUS)
            pthread_mutex_unlock(&bus->irq_lock);
    }
    pthread_mutex_unlock(&bus->cfg_lock);
    return val;
}

static void bar_write(struct pci_bus *bus, struct pci_device *dev, unsigned o, unsigned len,
                      uint32_t val)
{
    int reg = (int)(o - CFG_BAR0) / 4;
    unsigned shift = (o & 3) * 8;
    uint32_t cur = cfg_get(dev, CFG_BAR0 + 4 * reg, 4);
    uint32_t lane = len >= 4 ? 0xFFFFFFFFu : (((1u << (8 * len)) - 1) << shift);
    uint32_t merged = (cur & ~lane) | ((val << shift) & lane);
    uint32_t mask, flags;
    bar_reg_masks(dev, reg, &mask, &flags);
    cfg_put(dev, CFG_BAR0 + 4 * reg, 4, (merged & mask) | flags);
    int base = reg;
    if (reg > 0 && dev->bars[reg - 1].type == PCI_BAR_MEM64)
        base = reg - 1;
    bar_update(bus->vm, dev, base);
}

void pci_cfg_write(struct vm *vm, uint32_t addr, uint32_t off, uint32_t len, uint32_t val)
{
    struct pci_bus *bus = vm->pci;
    if (!bus || (len != 1 && len != 2 && len != 4) || off + len > 4)
        return;
    pthread_mutex_lock(&bus->cfg_lock);
    struct pci_device *dev = lookup(bus, addr);
    if (!dev)
        goto out;
    unsigned o = (addr & 0xFC) + off;
    if (o >= CFG_BAR0 && o < CFG_BAR0 + 4 * PCI_NUM_BARS) {
        bar_write(bus, dev, o, len, val);
        goto out;
    }
    uint16_t old_cmd = (uint16_t)cfg_get(dev, CFG_COMMAND, 2);
    pthread_mutex_lock(&bus->irq_lock);  /* command/status bytes race with pci_set_irq */
    for (unsigned i = 0; i < len; i++) {
        unsigned b = o + i;
        uint8_t v = (uint8_t)(val >> (8 * i));
        uint8_t wm;
        if (b == CFG_COMMAND || b == CFG_COMMAND + 1)
            wm = (uint8_t)(CMD_WRITABLE >> (8 * (b - CFG_COMMAND)));
        else if (b == CFG_STATUS || b == CFG_STATUS + 1)
            wm = 0;  /* we never set the RW1C error bits */
        else if (b == 0x0C || b == 0x0D || b == CFG_INT_LINE)
            wm = 0xFF;  /* cache line size, latency timer, interrupt line: scratch */
        else if (b >= CFG_ROM && b < CFG_ROM + 4)
            wm = 0;     /* no expansion ROM: reads 0 */
        else
            wm = dev->wmask[b];
        dev->cfg[b] = (uint8_t)((dev->cfg[b] & ~wm) | (v & wm));
    }
    uint16_t cmd = (uint16_t)cfg_get(dev, CFG_COMMAND, 2);
    if ((cmd ^ old_cmd) & CMD_INTX_DISABLE)
        intx_update(bus, dev);
    pthread_mutex_unlock(&bus->irq_lock);
    if ((cmd ^ old_cmd) & (CMD_IO | CMD_MEM))
        for (int i = 0; i < PCI_NUM_BARS; i++)
            bar_update(vm, dev, i);
    if (cmd != old_cmd && dev->ops && dev->ops->command_changed)
        dev->ops->command_changed(dev, old_cmd, cmd);
    if (o + len > 0x40 && dev->ops && dev->ops->cfg_write)
        dev->ops->cfg_write(dev, o, len, val);
out:
    pthread_mutex_unlock(&bus->cfg_lock);
}

/* Give each BAR a naturally aligned address in the 32-bit MMIO window or
 * the I/O window, as firmware would before handing over to Linux. */
static int place_bars(struct pci_bus *bus, struct pci_device *dev)
{
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        struct pci_bar *b = &dev->bars[i];
        if (b->type == PCI_BAR_NONE || !b->size)
            continue;
        uint64_t addr;
        if (b->type == PCI_BAR_IO) {
            addr = (bus->next_io + b->size - 1) & ~(b->size - 1);
            if (addr + b->size > PCI_IO_END)
                return -ENOSPC;
            bus->next_io = (uint32_t)(addr + b->size);
        } else {
            addr = (bus->next_mmio + b->size - 1) & ~(b->size - 1);
            if (addr + b->size > VM_PCI_MMIO_END)
                return -ENOSPC;
            bus->next_mmio = addr + b->size;
        }
        uint32_t mask, flags;
        bar_reg_masks(dev, i, &mask, &flags);
        cfg_put(dev, CFG_BAR0 + 4 * i, 4, ((uint32_t)addr & mask) | flags);
        if (b->type == PCI_BAR_MEM64) {
            cfg_put(dev, CFG_BAR0 + 4 * (i + 1), 4, (uint32_t)(addr >> 32));
            i++;
        }
        b->addr = addr;
        b->mapped = false;
    }
    return 0;
}

static int register_at(struct pci_bus *bus, struct pci_device *dev, uint8_t slot)
{
    dev->vm = bus->vm;
    dev->slot = slot;
    uint8_t pin = dev->cfg[CFG_INT_PIN];
    if (pin >= 1 && pin <= 4) {
        dev->gsi = pci_intx_gsi(slot, pin - 1);
        dev->cfg[CFG_INT_LINE] = (uint8_t)dev->gsi;
    } else {
        dev->cfg[CFG_INT_PIN] = 0;
        dev->cfg[CFG_INT_LINE] = 0;
    }
    cfg_put(dev, CFG_COMMAND, 2, 0);
    int r = place_bars(bus, dev);
    if (r < 0)
        return r;
    bus->devs[slot] = dev;
    memcpy(bus->initial_cfg[slot], dev->cfg, PCI_CFG_SIZE);
    for (int i = 0; i < PCI_NUM_BARS; i++)
        bus->initial_bar_addr[slot][i] = dev->bars[i].addr;
    return 0;
}

int pci_register(struct vm *vm, struct pci_device *dev, uint8_t slot)
{
    struct pci_bus *bus = vm->pci;
    if (!bus)
        return -ENODEV;
    if (slot >= PCI_SLOTS)
        return -EINVAL;
    pthread_mutex_lock(&bus->cfg_lock);
    int r = -EBUSY;
    if (slot == 0) {
        for (uint8_t s = 1; s < PCI_SLOTS; s++) {
            if (!bus->devs[s]) {
                slot = s;
                break;
            }
        }
        if (slot == 0) {
            r = -ENOSPC;
            goto out;
        }
    }
    if (bus->devs[slot])
        goto out;
    r = register_at(bus, dev, slot);
    if (r == 0)
        log_debug("pci: %s at 00:%02x.0, INTx GSI %u", dev->id ? dev->id : "device", slot,
                  dev->cfg[CFG_INT_PIN] ? dev->gsi : 0);
out:
    pthread_mutex_unlock(&bus->cfg_lock);
    return r;
}

struct pci_device *pci_device_at(struct vm *vm, uint8_t slot)
{
    if (!vm->pci || slot >= PCI_SLOTS)
        return NULL;
    return vm->pci->devs[slot];
}

static int slot_of(struct pci_bus *bus, const struct pci_device *dev)
{
    for (unsigned s = 0; s < PCI_SLOTS; s++)
        if (bus->devs[s] == dev)
            return (int)s;
    return -1;
}

void pci_reset_function(struct pci_device *dev)
{
    struct pci_bus *bus = dev->vm ? dev->vm->pci : NULL;
    int s = bus ? slot_of(bus, dev) : -1;
    if (s < 0)
        return;
    pthread_mutex_lock(&bus->cfg_lock);
    /* Decode off first, so every mapped BAR is removed from the bus. */
    cfg_put(dev, CFG_COMMAND, 2, 0);
    for (int i = 0; i < PCI_NUM_BARS; i++)
        bar_update(bus->vm, dev, i);
    memcpy(dev->cfg, bus->initial_cfg[s], PCI_CFG_SIZE);
    for (int i = 0; i < PCI_NUM_BARS; i++)
        dev->bars[i].addr = bus->initial_bar_addr[s][i];
    pthread_mutex_unlock(&bus->cfg_lock);
    pthread_mutex_lock(&bus->irq_lock);
    dev->intx_level = false;
    intx_update(bus, dev);
    pthread_mutex_unlock(&bus->irq_lock);
    if (dev->ops && dev->ops->reset)
        dev->ops->reset(dev);
}

void pci_reset_all(struct vm *vm)
{
    struct pci_bus *bus = vm->pci;
    if (!bus)
        return;
    for (unsigned s = 0; s < PCI_SLOTS; s++)
        if (bus->devs[s])
            pci_reset_function(bus->devs[s]);
}

void pci_unregister(struct pci_device *dev)
{
    struct pci_bus *bus = dev->vm ? dev->vm->pci : NULL;
    int s = bus ? slot_of(bus, dev) : -1;
    if (s <= 0)     /* not on the bus, or the host bridge */
        return;
    pthread_mutex_lock(&bus->cfg_lock);
    cfg_put(dev, CFG_COMMAND, 2, 0);
    for (int i = 0; i < PCI_NUM_BARS; i++)
        bar_update(bus->vm, dev, i);
    bus->devs[s] = NULL;
    pthread_mutex_unlock(&bus->cfg_lock);
    pthread_mutex_lock(&bus->irq_lock);
    dev->intx_level = false;
    intx_update(bus, dev);
    pthread_mutex_unlock(&bus->irq_lock);
    log_debug("pci: %s left 00:%02x.0", dev->id ? dev->id : "device", s);
}

void pci_restore_config(struct pci_device *dev, const uint8_t saved[PCI_CFG_SIZE])
{
    struct pci_bus *bus = dev->vm ? dev->vm->pci : NULL;
    if (!bus || slot_of(bus, dev) < 0)
        return;
    pthread_mutex_lock(&bus->cfg_lock);
    cfg_put(dev, CFG_COMMAND, 2, 0);
    for (int i = 0; i < PCI_NUM_BARS; i++)
        bar_update(bus->vm, dev, i);
    /* Only what a guest could have written: identity, capability layout
     * and the slot's interrupt routing stay this function's own. */
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        uint32_t mask, flags;
        bar_reg_masks(dev, i, &mask, &flags);
        uint32_t v = 0;
        for (unsigned b = 0; b < 4; b++)
            v |= (uint32_t)saved[CFG_BAR0 + 4 * i + b] << (8 * b);
        cfg_put(dev, CFG_BAR0 + 4 * i, 4, (v & mask) | flags);
    }
    for (unsigned b = 0x0C; b <= 0x0D; b++)
        dev->cfg[b] = saved[b];
    for (unsigned b = 0x40; b < PCI_CFG_SIZE; b++)
        dev->cfg[b] = (uint8_t)((dev->cfg[b] & ~dev->wmask[b]) | (saved[b] & dev->wmask[b]));
    uint16_t cmd = (uint16_t)(saved[CFG_COMMAND] | saved[CFG_COMMAND + 1] << 8);
    cfg_put(dev, CFG_COMMAND, 2, cmd & CMD_WRITABLE);
    for (int i = 0; i < PCI_NUM_BARS; i++)
        bar_update(bus->vm, dev, i);
    pthread_mutex_unlock(&bus->cfg_lock);
    pthread_mutex_lock(&bus->irq_lock);
    intx_update(bus, dev);
    pthread_mutex_unlock(&bus->irq_lock);
}

struct pci_device *pci_host_bridge(struct vm *vm)
{
    return vm->pci ? &vm->pci->host_bridge : NULL;
}

int pci_bus_create(struct vm *vm)
{
    struct pci_bus *bus = calloc(1, sizeof(*bus));
    if (!bus)
        return -ENOMEM;
    bus->vm = vm;
    pthread_mutex_init(&bus->cfg_lock, NULL);
    pthread_mutex_init(&bus->irq_lock, NULL);
    bus->next_mmio = VM_PCI_MMIO_BASE;
    bus->next_io = PCI_IO_BASE;
    vm->pci = bus;

    /* 00:00.0 host bridge, as QEMU's i440FX: Linux's type-1 probe wants a
     * host bridge or an Intel device on bus 0 (x86-boot.md §6). */
    struct pci_device *hb = &bus->host_bridge;
    hb->id = "host-bridge";
    pci_init_header(hb, 0x8086, 0x1237, 0x02, 0x060000, 0x1AF4, 0x1100);
    /* The i440FX PAM registers (82441FX datasheet §3.2.18; SeaBIOS's
     * src/fw/shadow.c writes them to unlock and lock its shadow copy at
     * 0xC0000-0xFFFFF). They are plain storage here: that range is
     * always RAM, readable and writable, and a reset restores both the
     * registers (0: "RAM absent", so SeaBIOS copies itself from the ROM)
     * and the firmware's copy (docs/firmware.md). */
    memset(hb->wmask + I440FX_PAM0, 0xFF, I440FX_PAM_COUNT);
    register_at(bus, hb, 0);

    int r = pci_host_ports_init(vm);
    if (r < 0) {
        vm->pci = NULL;
        free(bus);
    }
    return r;
}

void pci_bus_destroy(struct vm *vm)
{
    if (!vm->pci)
        return;
    free(vm->pci);
    vm->pci = NULL;
}
