/* PCI devices on the worker's single bus 0, configuration mechanism #1.
 *
 * A device model fills a struct pci_device (identity in cfg[], BAR sizes,
 * capabilities via pci_add_cap) and registers it. The PCI core owns the
 * generic header semantics: BAR sizing and placement, command register
 * (decode enables), interrupt line/pin, capability list, and maps/unmaps
 * BAR ranges on the bus as the guest programs them. Device models never
 * see the config port protocol. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "hv/bus.h"

struct vm;

#define PCI_CFG_SIZE 256
#define PCI_NUM_BARS 6

enum pci_bar_type {
    PCI_BAR_NONE = 0,
    PCI_BAR_IO,
    PCI_BAR_MEM32,
    PCI_BAR_MEM64,  /* uses this slot and the next */
};

struct pci_bar {
    enum pci_bar_type type;
    bool prefetchable;
    uint64_t size;      /* power of two; 0 = absent */
    uint64_t addr;      /* current guest address; 0 = not programmed */
    bool mapped;        /* currently registered on the bus */
    bus_access_fn fn;   /* accesses, offset relative to the BAR start */
    void *opaque;
};

struct pci_device;

struct pci_device_ops {
    /* Called after the core applied a config write that touches bytes at
     * or past 0x40 (capabilities, device-specific). Optional. */
    void (*cfg_write)(struct pci_device *dev, uint32_t off, uint32_t len, uint32_t val);
    /* Called before the core answers a config read at or past 0x40. Optional. */
    void (*cfg_read)(struct pci_device *dev, uint32_t off, uint32_t len);
    /* A BAR moved or its decode was turned on/off (mapped says which);
     * lets a device move ioeventfds. Optional. */
    void (*bar_changed)(struct pci_device *dev, int bar, bool mapped, uint64_t addr);
    /* Guest or VM reset. Optional. */
    void (*reset)(struct pci_device *dev);
    /* The guest changed the command register (after the core applied
     * it); lets an assigned device mirror decode/bus-master bits to the
     * real function (hv/vfio). Optional. */
    void (*command_changed)(struct pci_device *dev, uint16_t old_cmd, uint16_t cmd);
};

struct pci_device {
    const char *id;                 /* QOM-style id for the monitor, e.g. "virtio-disk0" */
    uint8_t cfg[PCI_CFG_SIZE];      /* config space image (little-endian) */
    uint8_t wmask[PCI_CFG_SIZE];    /* guest-writable bits beyond the core's own */
    struct pci_bar bars[PCI_NUM_BARS];
    const struct pci_device_ops *ops;
    void *opaque;                   /* the device model's state */

    /* Filled in by pci_register. */
    struct vm *vm;
    uint8_t slot;                   /* bus 0 device number, function 0 */
    uint32_t gsi;                   /* INTx route (level) when cfg[0x3D] != 0 */
    bool intx_level;
    uint16_t cap_end;               /* core: next free offset for pci_add_cap (0 = 0x40) */
};

/* Fill vendor/device/class/revision/subsystem and header type 0. */
void pci_init_header(struct pci_device *dev, uint16_t vendor, uint16_t device, uint8_t revision,
                     uint32_t class_code, uint16_t subsys_vendor, uint16_t subsys_id);

/* Declare a BAR (size power of two). */
void pci_set_bar(struct pci_device *dev, int bar, enum pci_bar_type type, bool prefetchable,
                 uint64_t size, bus_access_fn fn, void *opaque);

/* Append a capability (cap[0] = id; cap[1] is the next pointer, filled in).
 * Returns its config offset, or 0 when config space is full. */
uint8_t pci_add_cap(struct pci_device *dev, const void *cap, uint8_t len);

/* Attach to bus 0 at `slot` (0 = next free); assigns the INTx GSI and
 * writes it to cfg[0x3C]. Returns 0 or -errno. */
int pci_register(struct vm *vm, struct pci_device *dev, uint8_t slot);

/* Assert/deassert INTx (honours the command register's INTx-disable bit
 * and sets status bit 3). */
void pci_set_irq(struct pci_device *dev, bool level);

/* Bus-master enable (command bit 2): devices must not DMA without it. */
static inline bool pci_bus_master(const struct pci_device *dev) { return dev->cfg[4] & 0x04; }

/* Take dev off the bus (vCPUs paused): decode off, BARs unmapped, INTx
 * deasserted, its slot free again. The caller frees dev afterwards. */
void pci_unregister(struct pci_device *dev);

/* Iterate registered devices (monitor's query-pci / info pci). */
struct pci_device *pci_device_at(struct vm *vm, uint8_t slot);

/* ---- VM-core side (hv/pci/pci.c, hv/pci/host.c) ---- */

/* Bus 0 with the host bridge at 00:00.0 and config mechanism #1 on
 * 0xCF8-0xCFF (plus the PIIX reset control register, byte 0xCF9). */
int pci_bus_create(struct vm *vm);
/* hv/pci/host.c: the 0xCF8-0xCFF port handler (called by pci_bus_create). */
int pci_host_ports_init(struct vm *vm);
void pci_bus_destroy(struct vm *vm);

/* INTx routing used by pci_register and the ACPI _PRT: slot 1..31,
 * pin 0..3 (INTA..INTD) -> IOAPIC GSI 16..23 (level, active low in ACPI;
 * KVM ignores polarity, x86-boot.md §5.3). */
uint32_t pci_intx_gsi(uint8_t slot, uint8_t pin);

/* Function reset: unmap its BARs, restore its config space to the
 * registration-time image (BAR placement, command 0), call ops->reset. */
void pci_reset_function(struct pci_device *dev);
/* Device state load (vCPUs paused): apply a saved config image as the
 * guest had programmed it — command register, BARs (remapped), cache
 * line / latency, and the capability bytes the device made writable.
 * Identity and interrupt routing are kept. */
void pci_restore_config(struct pci_device *dev, const uint8_t saved[PCI_CFG_SIZE]);
/* Every function on the bus, in slot order. */
void pci_reset_all(struct vm *vm);
/* 00:00.0, NULL before pci_bus_create. */
struct pci_device *pci_host_bridge(struct vm *vm);

/* Config mechanism #1 data access for bus 0 (used by the host's 0xCFC
 * handler and unit tests): `addr` is the 0xCF8 value (enable bit ignored),
 * `off` the byte offset within the dword, len 1, 2 or 4. */
uint32_t pci_cfg_read(struct vm *vm, uint32_t addr, uint32_t off, uint32_t len);
void pci_cfg_write(struct vm *vm, uint32_t addr, uint32_t off, uint32_t len, uint32_t val);
