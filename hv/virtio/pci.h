/* Modern (virtio 1.x, non-transitional) virtio-pci transport (§4.1).
 *
 * Layout follows QEMU 7.2 (virtio 1.2 §4.1.4 leaves the placement to the device): BAR4, 64-bit prefetchable,
 * 16 KiB holding common config (0x0000), ISR (0x1000), device config
 * (0x2000) and notify (0x3000, one 4-byte slot per queue); BAR1, 32-bit,
 * 4 KiB holding the MSI-X table (0x000) and PBA (0x800). Kicks go through
 * one KVM ioeventfd per queue (the queue's kick_fd), interrupts through
 * MSI-X vectors bound to KVM MSI routes + irqfds, or INTx + ISR when the
 * guest does not enable MSI-X. */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct vm;
struct virtio_dev;
struct pci_device;

#define VIRTIO_PCI_VENDOR 0x1AF4
#define VIRTIO_PCI_DEVICE_BASE 0x1040
#define VIRTIO_PCI_SUBSYS_DEVICE 0x1100

#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG 5

#define VIRTIO_PCI_BAR_MSIX 1
#define VIRTIO_PCI_BAR_CFG 4
#define VIRTIO_PCI_COMMON_OFF 0x0000
#define VIRTIO_PCI_ISR_OFF 0x1000
#define VIRTIO_PCI_DEVICE_OFF 0x2000
#define VIRTIO_PCI_NOTIFY_OFF 0x3000
#define VIRTIO_PCI_NOTIFY_MULT 4
#define VIRTIO_PCI_BAR_CFG_SIZE 0x4000
#define VIRTIO_PCI_MSIX_PBA_OFF 0x800
#define VIRTIO_PCI_MAX_VECTORS 128     /* table must fit below the PBA */
#define VIRTIO_MSI_NO_VECTOR 0xFFFF

struct virtio_pci;

/* Wrap dev (fully filled by its model, queues initialised with their
 * kick_fd) in a PCI function and register it on bus 0 (next free slot).
 * msix_vectors = 0 gives an INTx-only function without BAR1 (like QEMU's
 * balloon); otherwise at most VIRTIO_PCI_MAX_VECTORS (usually queues + 1).
 * NULL with err filled on failure. */
struct virtio_pci *virtio_pci_create(struct vm *vm, struct virtio_dev *dev,
                                     unsigned msix_vectors, char *err, size_t errlen);

/* Release the transport: ioeventfds, irqfds and MSI routes dropped, vp
 * freed. The function must be off the bus (pci_unregister) already. */
void virtio_pci_destroy(struct virtio_pci *vp);

struct pci_device *virtio_pci_device(struct virtio_pci *vp);
struct virtio_dev *virtio_pci_vdev(struct virtio_pci *vp);

/* The eventfd bound with KVM_IRQFD to the MSI route of queue q's MSI-X
 * vector, for an in-kernel data plane (the model reaches it through
 * virtio_dev_queue_irqfd, hv/virtio/device.h). -1 when the queue has no
 * such fd right now: MSI-X off (INTx needs ISR + line), the vector is
 * NO_VECTOR, masked or function-masked (its PBA bit must latch), or KVM
 * gave no route. Whenever the answer may change the transport calls the
 * model's irqfds_changed op. Lock-free; callable from any thread. */
int virtio_pci_queue_irqfd(struct virtio_pci *vp, unsigned q);

/* Bus 0 device number. */
uint8_t virtio_pci_slot(const struct virtio_pci *vp);

/* Device state (hv/state.h), vCPUs paused, the model idle: the function's
 * config space, the MSI-X table and pending bits, negotiated features,
 * status, and per queue its size, ring addresses, indices and vector, so
 * that a loaded queue resumes where the saved one was. Load goes onto a
 * device created with the same geometry; it validates every ring against
 * guest memory and refuses a stream that does not fit (err filled). */
struct state_writer;
struct state_section;
void virtio_pci_save(struct virtio_pci *vp, struct state_writer *w);
int virtio_pci_load(struct virtio_pci *vp, struct state_section *s, char *err, size_t errlen);
