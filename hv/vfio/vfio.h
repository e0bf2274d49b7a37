/* VFIO PCI passthrough: the worker's assigned host devices (hv/config.h
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
struct hv_config;

/* Assign every hostdev of cfg (after the emulated PCI devices). false
 * with err naming the device and what to do on failure. */
bool hv_vfio_create_all(struct vm *vm, const struct hv_config *cfg, char *err, size_t errlen);

/* Worker exit (vCPUs stopped): interrupts off, reset, close. */
void hv_vfio_destroy_all(void);

/* Number of assigned devices. */
unsigned hv_vfio_count(void);
