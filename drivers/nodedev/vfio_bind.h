/* Moving a host PCI device between its host driver and vfio-pci, and
 * resetting it, through sysfs (Documentation/ABI/testing/sysfs-bus-pci:
 * driver_override, drivers_probe, driver/unbind, drivers/X/bind, reset).
 *
 * detach: check the host has an IOMMU and the device's IOMMU group is
 * viable (every other member unbound, on a stub driver, or a bridge), make
 * sure vfio-pci is loaded, remember the current driver in the state
 * directory, set driver_override=vfio-pci, unbind, reprobe, verify.
 * reattach: unbind from vfio-pci, clear driver_override, reprobe, and bind
 * the remembered driver explicitly if reprobing did not (the record lives
 * in the state directory, so this works after an hvd restart).
 * reset: write the device's "reset" attribute.
 *
 * Errors are libvirt-shaped GErrors (drivers/virerror.h, VIR_FROM_NODEDEV)
 * naming the device and what to do. Callers serialize these operations
 * (drivers/nodedev/nodedev.c holds a lock); they may block briefly on the
 * kernel, so the daemon runs them off its main loop. */
#pragma once
#include <glib.h>
#include <stdbool.h>

#include "drivers/nodedev/sysfs.h"

typedef struct {
    const char *sysfs_root; /* "/sys" on a host */
    const char *state_dir;  /* where original drivers are remembered (created on demand) */
    const char *modprobe;   /* program run as "<modprobe> vfio-pci" when vfio-pci is
                             * not loaded; NULL = never load modules */
} HvdVfioContext;

/* The stub drivers a device waits on while assigned. */
bool hvd_vfio_is_stub_driver(const char *driver);

/* The host has an IOMMU (/sys/kernel/iommu_groups has entries) and the
 * device is in a group; else "no IOMMU found: ..." (CONFIG_UNSUPPORTED). */
bool hvd_vfio_check_iommu(const HvdVfioContext *ctx, const HvdPciDevice *dev, GError **err);
/* Every other member of the device's IOMMU group is unbound, bound to
 * vfio-pci/pci-stub, or a PCI bridge; else an error naming the others. */
bool hvd_vfio_check_group(const HvdVfioContext *ctx, const HvdPciDevice *dev, GError **err);

bool hvd_vfio_detach(const HvdVfioContext *ctx, const HvdPciDevice *dev, GError **err);
bool hvd_vfio_reattach(const HvdVfioContext *ctx, const HvdPciDevice *dev, GError **err);
bool hvd_vfio_reset(const HvdVfioContext *ctx, const HvdPciDevice *dev, GError **err);

/* The driver remembered for a device by detach (NULL if none). */
char *hvd_vfio_saved_driver(const HvdVfioContext *ctx, const HvdPciDevice *dev);

/* Tests: called after every successful sysfs write with the path relative
 * to the sysfs root and the value written, so a fake sysfs tree can act as
 * the kernel would (move driver links). NULL to remove. */
typedef void (*HvdSysfsWriteHook)(const char *rel_path, const char *value, void *data);
void hvd_vfio_set_write_hook(HvdSysfsWriteHook hook, void *data);
