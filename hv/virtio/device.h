/* The interface between a virtio device model (blk, net, balloon...) and the
 * transport that carries it (virtio-pci today). A device model fills a
 * struct virtio_dev and never includes PCI headers; the transport owns the
 * status byte, feature negotiation and the queues' driver-programmed fields,
 * and provides the interrupt callbacks. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/virtio/queue.h"

struct state_writer;
struct state_section;

/* Device status bits (§2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* Device types (§5). */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_BALLOON 5

struct virtio_dev;

/* Implemented by the device model. Called on vCPU threads (config access,
 * status changes) with the transport's lock held, one at a time. */
struct virtio_dev_ops {
    /* Device-specific config space (little-endian); off+len <= config_len. */
    void (*config_read)(struct virtio_dev *dev, uint32_t off, void *data, uint32_t len);
    void (*config_write)(struct virtio_dev *dev, uint32_t off, const void *data, uint32_t len);
    /* Optional: veto a feature set at FEATURES_OK (the transport already
     * required VERSION_1 and a subset of host_features). */
    bool (*features_ok)(struct virtio_dev *dev, uint64_t features);
    /* Driver set DRIVER_OK: queues are programmed; start processing. */
    void (*driver_ok)(struct virtio_dev *dev);
    /* A kick that reached userspace (no ioeventfd): process queue q or wake
     * whoever does. */
    void (*queue_notify)(struct virtio_dev *dev, unsigned q);
    /* Device reset (status 0 or VM reset): stop touching the queues and
     * return when no request is in flight. The transport resets the
     * queues and negotiation state afterwards. */
    void (*reset)(struct virtio_dev *dev);
    /* Optional, for an in-kernel data plane (vhost): the transport's
     * answer to virtio_dev_queue_irqfd may have changed for some queue
     * (vector masked/unmasked, MSI-X toggled, a queue's vector rewritten,
     * reset). Runs on a vCPU thread with transport locks held: it may only
     * call virtio_dev_queue_irqfd and do non-blocking work. On unmask it
     * runs before the vector's pending message is sent. */
    void (*irqfds_changed)(struct virtio_dev *dev);
    /* Save / load of the model's own state (hv/state.h), vCPUs paused;
     * the transport saves the queues. save first waits until no request
     * is in flight. Without save the device's state cannot be saved. */
    int (*save)(struct virtio_dev *dev, struct state_writer *w);
    int (*load)(struct virtio_dev *dev, struct state_section *s, char *err, size_t errlen);
};

/* Implemented by the transport; callable from any thread. */
struct virtio_transport_ops {
    /* Used-buffer notification for queue q (§2.3). */
    void (*interrupt_queue)(struct virtio_dev *dev, unsigned q);
    /* Configuration-change notification (§2.3); also after NEEDS_RESET. */
    void (*interrupt_config)(struct virtio_dev *dev);
    /* Direct interrupt injection for an in-kernel data plane (vhost-net,
     * virtio.md §9, §11): an eventfd that, signalled, interrupts the guest
     * for queue q without waking any hv thread; -1 when the queue has none
     * right now (then signal through userspace and interrupt_queue, which
     * honours masking and INTx). Lock-free, any thread. */
    int (*queue_irqfd)(struct virtio_dev *dev, unsigned q);
};

struct virtio_dev {
    /* Filled by the device model. */
    uint16_t device_type;               /* VIRTIO_ID_* */
    const char *name;                   /* for logs and the monitor, e.g. "virtio-disk0" */
    uint64_t host_features;             /* offered; VERSION_1 and ring bits included */
    uint32_t config_len;                /* bytes of device config space */
    unsigned num_queues;
    struct virtq *queues;               /* num_queues entries, owned by the model */
    const struct virtio_dev_ops *ops;
    void *model;                        /* the device model's state */

    /* Filled by the transport. */
    const struct virtio_transport_ops *transport;
    void *transport_state;
    uint64_t guest_features;            /* accepted by the driver (final at FEATURES_OK) */
    uint8_t status;                     /* atomic: read from I/O threads */
    uint8_t config_generation;
};

static inline uint8_t virtio_dev_status(const struct virtio_dev *dev)
{
    return __atomic_load_n(&dev->status, __ATOMIC_ACQUIRE);
}

static inline bool virtio_dev_driver_ok(const struct virtio_dev *dev)
{
    return (virtio_dev_status(dev) & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_NEEDS_RESET)) ==
           VIRTIO_STATUS_DRIVER_OK;
}

static inline bool virtio_dev_has(const struct virtio_dev *dev, unsigned feature_bit)
{
    return dev->guest_features & (1ull << feature_bit);
}

/* Interrupt for queue q if the driver wants one (event idx / flags). Call
 * after a batch of virtq_push. */
static inline void virtio_dev_notify_queue(struct virtio_dev *dev, unsigned q)
{
    if (virtq_should_interrupt(&dev->queues[q]) && dev->transport)
        dev->transport->interrupt_queue(dev, q);
}

static inline int virtio_dev_queue_irqfd(struct virtio_dev *dev, unsigned q)
{
    return dev->transport && dev->transport->queue_irqfd ? dev->transport->queue_irqfd(dev, q) : -1;
}

/* Config space changed: bump the generation and send a config interrupt. */
static inline void virtio_dev_config_changed(struct virtio_dev *dev)
{
    __atomic_add_fetch(&dev->config_generation, 1, __ATOMIC_RELEASE);
    if (dev->transport)
        dev->transport->interrupt_config(dev);
}

/* §2.1.2: the device hit an error it cannot recover from (a broken queue):
 * set DEVICE_NEEDS_RESET and tell the driver with a config interrupt.
 * Suitable as a virtq on_broken callback with the virtio_dev as opaque. */
static inline void virtio_dev_needs_reset(struct virtio_dev *dev)
{
    uint8_t old = __atomic_fetch_or(&dev->status, VIRTIO_STATUS_NEEDS_RESET, __ATOMIC_ACQ_REL);
    if (!(old & VIRTIO_STATUS_NEEDS_RESET) && (old & VIRTIO_STATUS_DRIVER_OK) && dev->transport)
        dev->transport->interrupt_config(dev);
}

static inline void virtio_dev_queue_broken(void *opaque, unsigned q)
{
    (void)q;
    virtio_dev_needs_reset(opaque);
}
