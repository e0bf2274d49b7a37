/* The guest's view of an assigned PCI function: config space
 * virtualisation and interrupt-mode logic, independent of /dev/vfio.
 *
 * The kernel side (hv/vfio/vfio.c) supplies a backend: reads/writes of the
 * device's config region and BAR regions, and the switch of interrupt mode
 * and per-vector routing. Everything here can be driven by a fake backend
 * (tests/unit/test-vfio-config.c).
 *
 * What the guest sees (PCI Local Bus 3.0 §6.1, §6.2, §6.7, §6.8):
 *  - header: vendor, device, revision, class, subsystem ids and the
 *    interrupt pin come from the device; header type 0, single function;
 *    command/status/BARs/interrupt line are the PCI core's emulation; the
 *    command register's I/O, memory, bus-master and INTx-disable bits are
 *    mirrored to the device (DMA needs bus master on the real function);
 *  - BARs: type and prefetchable bit from the device's BAR registers, size
 *    from the VFIO region size. Whole pages that VFIO lets us mmap
 *    (VFIO_REGION_INFO_FLAG_MMAP, sparse mmap areas) and that hold neither
 *    the MSI-X table nor the PBA are mapped into the guest with KVM memory
 *    slots (vm_host_slot_*) while the BAR decodes; every other access is
 *    trapped and forwarded to the region (pread/pwrite), except the MSI-X
 *    table and PBA, which are emulated;
 *  - expansion ROM: absent (reads 0);
 *  - capabilities: power management and PCI Express are read and written
 *    through to the device; MSI and MSI-X are emulated (kept at their
 *    offsets, so drivers that look for them find them); every other
 *    capability is unlinked from the list; bytes at or past 0x40 outside
 *    the kept capabilities read 0 and ignore writes. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "hv/pci/msix.h"
#include "hv/pci/pci.h"

struct vm;

enum vfio_irq_mode { VFIO_IRQ_NONE, VFIO_IRQ_INTX, VFIO_IRQ_MSI, VFIO_IRQ_MSIX };

struct vfio_pci_backend_ops {
    /* The device's config region: 0 or -errno. */
    int (*cfg_read)(void *opaque, uint32_t off, void *buf, uint32_t len);
    int (*cfg_write)(void *opaque, uint32_t off, const void *buf, uint32_t len);
    /* A guest access to BAR `bar` at `off` that is not emulated here. */
    void (*bar_access)(void *opaque, int bar, uint64_t off, uint8_t *data, uint32_t len,
                       bool is_write);
    /* Switch the device to mode with nvec vectors (MSI, MSI-X), 1 (INTx)
     * or 0 (none). Vectors start inactive. 0 or -errno. */
    int (*irq_mode)(void *opaque, enum vfio_irq_mode mode, unsigned nvec);
    /* MSI/MSI-X vector vec got a new message or can/cannot fire now. */
    void (*irq_vector)(void *opaque, unsigned vec, uint64_t addr, uint32_t data, bool active);
    /* Function reset of the real device (VM reset). Optional. */
    void (*reset)(void *opaque);
    /* Map `size` bytes of BAR `bar` at `off` (page aligned) into the
     * worker: the host address, or NULL (the range stays trapped).
     * Optional: without it every access is trapped. */
    void *(*bar_mmap)(void *opaque, int bar, uint64_t off, uint64_t size);
    void (*bar_munmap)(void *opaque, void *host, uint64_t size);
};

/* A range of a BAR, as an offset from its start. */
struct vfio_bar_area {
    uint64_t off, size;
};
#define VFIO_BAR_MAX_AREAS 8

/* What VFIO reports about the device (region and irq infos). */
struct vfio_pci_layout {
    uint64_t bar_size[PCI_NUM_BARS];  /* region sizes, 0 = no BAR */
    unsigned intx_count, msi_count, msix_count;   /* VFIO irq info counts */
    /* Ranges VFIO allows to mmap, per BAR (the whole region, or its sparse
     * mmap areas); none = trap every access. */
    struct vfio_bar_area mmappable[PCI_NUM_BARS][VFIO_BAR_MAX_AREAS];
    unsigned nmmappable[PCI_NUM_BARS];
    uint64_t page_size;             /* host page size; 0 = 4096 */
};

/* The parts of a BAR to map into the guest: the mmappable areas cut to
 * whole pages, minus the trapped ranges (each widened to whole pages; the
 * MSI-X table and PBA). Fills out[] in offset order and returns how many
 * (at most max; what does not fit stays trapped). Pure: unit-tested. */
unsigned vfio_bar_split(const struct vfio_bar_area *mmappable, unsigned nmmappable,
                        const struct vfio_bar_area *trapped, unsigned ntrapped, uint64_t page,
                        struct vfio_bar_area *out, unsigned max);

/* One mapped part of a BAR. */
struct vfio_bar_map {
    uint64_t off, size;
    void *host;                     /* backend's mapping */
    int slot;                       /* vm_host_slot handle while the BAR decodes, else -1 */
};

#define VFIO_MSI_MAX_VECTORS 32

struct vfio_pci;
struct vfio_pci_bar_ctx {
    struct vfio_pci *vp;
    int bar;
};

struct vfio_pci {
    struct pci_device pci;
    const struct vfio_pci_backend_ops *ops;
    void *opaque;
    uint8_t phys_cfg[PCI_CFG_SIZE];     /* the device's config space at init */
    uint8_t through[PCI_CFG_SIZE];      /* 1: byte read/written through to the device */
    struct vfio_pci_bar_ctx bar_ctx[PCI_NUM_BARS];
    struct vfio_bar_map maps[PCI_NUM_BARS][VFIO_BAR_MAX_AREAS];
    unsigned nmaps[PCI_NUM_BARS];
    enum vfio_irq_mode mode;
    bool has_intx;
    /* MSI-X (emulated table, hv/pci/msix.c) */
    bool has_msix;
    struct msix msix;
    /* MSI (emulated capability) */
    uint8_t msi_cap;                    /* 0 = none */
    bool msi_64bit, msi_maskable;
    unsigned msi_max;                   /* 1 << Multiple Message Capable */
    unsigned msi_nvec;                  /* vectors enabled now (0 = MSI off) */
    char id[32];
};

/* Build the guest's config image from the device's config region and
 * layout. `id` names the device in logs and the monitor. 0, or -errno
 * with err filled (not a type-0 function, config unreadable, ...). */
int vfio_pci_init(struct vfio_pci *vp, const char *id, const struct vfio_pci_layout *layout,
                  const struct vfio_pci_backend_ops *ops, void *opaque, char *err,
                  size_t errlen);

/* Register on bus 0 (next free slot) and enter the start interrupt mode
 * (INTx when the device has a pin, else none). 0 or -errno. */
int vfio_pci_register(struct vm *vm, struct vfio_pci *vp);

/* Leave MSI/MSI-X/INTx (backend told: mode none). */
void vfio_pci_stop(struct vfio_pci *vp);
/* Remove the BARs' memory slots and unmap them (worker exit, vCPUs
 * stopped); accesses are trapped again afterwards. Also done by free. */
void vfio_pci_unmap_bars(struct vfio_pci *vp);
void vfio_pci_free(struct vfio_pci *vp);

/* MSI capability offsets (PCI Local Bus 3.0 §6.8.1). */
#define PCI_CAP_ID_PM 0x01
#define PCI_CAP_ID_MSI 0x05
#define PCI_CAP_ID_EXP 0x10
#define PCI_CAP_ID_MSIX 0x11
