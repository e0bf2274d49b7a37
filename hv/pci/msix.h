/* MSI-X capability, vector table and pending-bit array (PCI Local Bus 3.0
 * §6.8.2), for emulated functions (virtio-pci) and later VFIO.
 *
 * The owner places the table and PBA inside one of its BARs and forwards
 * accesses there to msix_bar_access, and config writes (the pci_device
 * cfg_write hook) to msix_cfg_write. Delivery honours MSI-X enable, the
 * function mask and per-vector masks; a masked vector latches its pending
 * bit and fires when unmasked. All state is under one lock; callbacks run
 * with it held and must not call back into msix_*. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct pci_device;

#define MSIX_CAP_ID 0x11
#define MSIX_CAP_LEN 12
#define MSIX_ENTRY_SIZE 16
#define MSIX_MAX_VECTORS 2048
#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_CTRL_FUNCTION_MASK 0x4000
#define MSIX_VECTOR_MASKED 0x1

/* Send the message (the vector is enabled and unmasked). */
typedef void (*msix_deliver_fn)(void *opaque, unsigned vec, uint64_t addr, uint32_t data);
/* A vector's effective state changed: its address/data, its mask, or the
 * capability's enable/function mask. `active` = enabled && !function
 * mask && !vector mask. Lets the owner keep KVM routes in step. */
typedef void (*msix_changed_fn)(void *opaque, unsigned vec, uint64_t addr, uint32_t data,
                                bool active);

struct msix {
    struct pci_device *pci;
    uint8_t cap;                /* config offset of the capability */
    uint16_t nvec;
    uint8_t bar;
    uint32_t table_off, pba_off;   /* within the BAR */
    uint8_t *table;             /* nvec * 16 bytes, little-endian */
    uint64_t *pba;              /* one bit per vector */
    bool enabled, function_masked;
    msix_deliver_fn deliver;
    msix_changed_fn changed;
    void *opaque;
    pthread_mutex_t lock;
};

/* Add the capability to pci (pci_add_cap), make enable/function-mask
 * guest-writable, allocate the table (all vectors masked). Returns 0 or
 * -errno (-EINVAL bad geometry, -ENOSPC config space full). */
int msix_init(struct msix *m, struct pci_device *pci, uint16_t nvec, uint8_t bar,
              uint32_t table_off, uint32_t pba_off, msix_deliver_fn deliver,
              msix_changed_fn changed, void *opaque);
void msix_free(struct msix *m);

/* Function reset: entries zeroed and masked, PBA clear, enable and
 * function mask cleared in config space. */
void msix_reset(struct msix *m);

/* Size the table and PBA need in the BAR from their offsets (for sizing it). */
uint32_t msix_table_bytes(uint16_t nvec);
uint32_t msix_pba_bytes(uint16_t nvec);

/* A BAR access at offset off (relative to the BAR). Returns false when off
 * is neither in the table nor in the PBA (the owner handles it). Reads of
 * the PBA report pending bits; PBA writes are ignored. */
bool msix_bar_access(struct msix *m, uint64_t off, uint8_t *data, uint32_t len, bool is_write);

/* Forward every config write at or past 0x40; acts on the ones touching
 * the message control word. */
void msix_cfg_write(struct msix *m, uint32_t off, uint32_t len, uint32_t val);

bool msix_enabled(struct msix *m);

/* Device state load: the table image (msix_table_bytes) and pending bits
 * (msix_pba_bytes) as saved from m->table / m->pba, and enable / function
 * mask from the (already restored) control word in config space. Every
 * vector reports its state through `changed`; pending unmasked ones fire. */
void msix_restore(struct msix *m, const uint8_t *table, const uint64_t *pba);

/* Signal vector vec. Returns false when MSI-X is disabled or vec is out of
 * range (the owner falls back to INTx); true when delivered or latched as
 * pending because masked. */
bool msix_notify(struct msix *m, unsigned vec);

bool msix_is_pending(struct msix *m, unsigned vec);
bool msix_is_masked(struct msix *m, unsigned vec);   /* vector or function mask */
