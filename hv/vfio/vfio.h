/* VFIO PCI passthrough: the worker's assigned host devices (hv/machine_config.h
 * "hostdevs", --hostdev).
 *
 * One type-1 IOMMU container per worker (/dev/vfio/vfio); one group fd per
 * IOMMU group (/dev/vfio/N, opened here or handed in by the daemon); all
 * guest RAM is mapped for DMA at guest physical = IOVA. Each device gets a
 * PCI function on bus 0 whose config space is virtualised by
 * hv/vfio/vfio_pci.c; BAR accesses are trapped and forwarded to the
 * device's regions; INTx goes through an irqfd with resample, MSI and
 * MSI-X through irqfd MSI routes, one eventfd per vector. The device is
 * reset (VFIO_DEVICE_RESET) at start, on VM reset and at exit.
 *
 * While any device is assigned, the balloon does not discard guest pages
 * (they are pinned for DMA); see virtio_balloon_set_discard_inhibited. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

struct vm;
struct hostdev;
struct pci_device;
struct hv_hostdev_config;

/* Open host device hc (index: its place among the hostdevs, for the
 * default id "hostdevN"), put its function on PCI bus 0 and wire its
 * interrupts; the first one opens the container and inhibits balloon
 * discards. NULL with err naming the device and what to do on failure. */
struct hostdev *hv_vfio_open(struct vm *vm, const struct hv_hostdev_config *hc, unsigned index,
                             char *err, size_t errlen);
struct pci_device *hv_vfio_pci(struct hostdev *hd);

/* Out of service (vCPUs paused): interrupts off, BARs unmapped, device
 * reset, its fd closed. */
void hv_vfio_stop(struct hostdev *hd);

/* Stop if needed and free (the function is off the bus); the last one
 * closes the container and groups. */
void hv_vfio_destroy(struct hostdev *hd);
