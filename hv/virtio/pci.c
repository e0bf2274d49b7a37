/* virtio-pci modern transport; see pci.h. Section numbers: virtio 1.2 §4.1. */
#include "hv/virtio/pci.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "hv/pci/msix.h"
#include "hv/pci/pci.h"
#include "hv/state.h"
#include "hv/virtio/device.h"
#include "hv/vm.h"

/* Common configuration structure field offsets (§4.1.4.3). */
enum {
    CC_DEVICE_FEATURE_SELECT = 0x00,
    CC_DEVICE_FEATURE = 0x04,
    CC_DRIVER_FEATURE_SELECT = 0x08,
    CC_DRIVER_FEATURE = 0x0C,
    CC_CONFIG_MSIX_VECTOR = 0x10,
    CC_NUM_QUEUES = 0x12,
    CC_DEVICE_STATUS = 0x14,
    CC_CONFIG_GENERATION = 0x15,
    CC_QUEUE_SELECT = 0x16,
    CC_QUEUE_SIZE = 0x18,
    CC_QUEUE_MSIX_VECTOR = 0x1A,
    CC_QUEUE_ENABLE = 0x1C,
    CC_QUEUE_NOTIFY_OFF = 0x1E,
    CC_QUEUE_DESC = 0x20,
    CC_QUEUE_DRIVER = 0x28,
    CC_QUEUE_DEVICE = 0x30,
    CC_SIZE = 0x38,
};

#define ISR_QUEUE 0x1
#define ISR_CONFIG 0x2

struct vp_queue {
    uint16_t msix_vector;       /* read by I/O threads (atomic) */
    bool ioeventfd_on;
    uint64_t ioeventfd_addr;
};

struct vp_vector {
    int gsi;                    /* KVM MSI route, -1 = none */
    int irqfd;                  /* eventfd bound to gsi, -1 = none (atomic) */
    bool active;                /* enabled, unmasked, routed (atomic) */
};

struct virtio_pci {
    struct pci_device pci;
    struct virtio_dev *dev;
    struct vm *vm;
    bool has_msix;
    struct msix msix;
    struct vp_vector *vectors;
    struct vp_queue *queues;

    pthread_mutex_t lock;       /* common/device config, status changes */
    uint32_t device_feature_select, driver_feature_select;
    uint16_t queue_select;
    uint16_t config_vector;     /* atomic */

    pthread_mutex_t isr_lock;   /* ISR byte + INTx line move together */
    uint8_t isr;

    uint8_t pci_cfg_cap;        /* offset of the VIRTIO_PCI_CAP_PCI_CFG capability */
    bool warned_msi_route;      /* log the userspace-injection fallback once */
};

static uint32_t class_for_type(uint16_t type)
{
    switch (type) {
    case VIRTIO_ID_NET: return 0x020000;      /* Ethernet */
    case VIRTIO_ID_BLOCK: return 0x010000;    /* SCSI storage, as QEMU */
    case VIRTIO_ID_CONSOLE: return 0x078000;  /* other communication */
    default: return 0x00ff00;
    }
}

/* ---- interrupts ---- */

static void intx_raise(struct virtio_pci *vp, uint8_t bits)
{
    pthread_mutex_lock(&vp->isr_lock);
    vp->isr |= bits;
    pci_set_irq(&vp->pci, true);
    pthread_mutex_unlock(&vp->isr_lock);
}

/* §4.1.4.5: reading ISR returns it, clears it and de-asserts INTx. */
static uint8_t isr_read_clear(struct virtio_pci *vp)
{
    pthread_mutex_lock(&vp->isr_lock);
    uint8_t v = vp->isr;
    vp->isr = 0;
    if (v)
        pci_set_irq(&vp->pci, false);
    pthread_mutex_unlock(&vp->isr_lock);
    return v;
}

static void signal_vector(struct virtio_pci *vp, uint16_t vec, uint8_t isr_bit)
{
    if (vp->has_msix && msix_enabled(&vp->msix)) {
        /* §4.1.5.1.2: with MSI-X on, NO_VECTOR means no interrupt at all. */
        if (vec != VIRTIO_MSI_NO_VECTOR)
            msix_notify(&vp->msix, vec);
        return;
    }
    intx_raise(vp, isr_bit);
}

static void vp_interrupt_queue(struct virtio_dev *dev, unsigned q)
{
    struct virtio_pci *vp = dev->transport_state;
    if (q >= dev->num_queues)
        return;
    signal_vector(vp, __atomic_load_n(&vp->queues[q].msix_vector, __ATOMIC_ACQUIRE), ISR_QUEUE);
}

static void vp_interrupt_config(struct virtio_dev *dev)
{
    struct virtio_pci *vp = dev->transport_state;
    signal_vector(vp, __atomic_load_n(&vp->config_vector, __ATOMIC_ACQUIRE), ISR_CONFIG);
}

static int vp_queue_irqfd(struct virtio_dev *dev, unsigned q)
{
    return virtio_pci_queue_irqfd(dev->transport_state, q);
}

static const struct virtio_transport_ops vp_transport_ops = {
    .interrupt_queue = vp_interrupt_queue,
    .interrupt_config = vp_interrupt_config,
    .queue_irqfd = vp_queue_irqfd,
};

/* msix callbacks (msix lock held). */
static void vp_msix_deliver(void *opaque, unsigned vec, uint64_t addr, uint32_t data)
{
    struct virtio_pci *vp = opaque;
    struct vp_vector *v = &vp->vectors[vec];
    if (v->irqfd >= 0) {
        uint64_t one = 1;
        if (write(v->irqfd, &one, sizeof(one)) == sizeof(one))
            return;
    }
    vm_signal_msi(vp->vm, addr, data);  /* no route: inject directly */
}

static void irqfds_changed(struct virtio_pci *vp)
{
    if (vp->dev->ops->irqfds_changed)
        vp->dev->ops->irqfds_changed(vp->dev);
}

/* Keep a KVM MSI route + irqfd per vector in step with the table, so the
 * kernel (vhost) can inject without us, and tell the data plane when a
 * vector's irqfd may (not) be used directly. */
static void vp_msix_changed(void *opaque, unsigned vec, uint64_t addr, uint32_t data, bool active)
{
    struct virtio_pci *vp = opaque;
    struct vp_vector *v = &vp->vectors[vec];
    if (!active) {
        /* Masked: deliver() is not called, the route may stay; whoever
         * signals the irqfd directly must stop (§9: the PBA latches). */
        if (__atomic_exchange_n(&v->active, false, __ATOMIC_ACQ_REL))
            irqfds_changed(vp);
        return;
    }
    if (v->gsi >= 0) {
        vm_msi_route_update(vp->vm, (uint32_t)v->gsi, addr, data);
        if (!__atomic_exchange_n(&v->active, true, __ATOMIC_ACQ_REL))
            irqfds_changed(vp);
        return;
    }
    int gsi = vm_msi_route_alloc(vp->vm, addr, data);
    if (gsi < 0) {
        if (!vp->warned_msi_route)
            log_warn("%s: MSI-X vector %u: no KVM MSI route (%s); injecting from userspace",
                     vp->dev->name, vec, strerror(-gsi));
        vp->warned_msi_route = true;
        return;
    }
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0 || vm_irqfd(vp->vm, (uint32_t)gsi, fd, -1, true) < 0) {
        if (!vp->warned_msi_route)
            log_warn("%s: MSI-X vector %u: irqfd unavailable; injecting from userspace",
                     vp->dev->name, vec);
        vp->warned_msi_route = true;
        if (fd >= 0)
            close(fd);
        vm_msi_route_free(vp->vm, (uint32_t)gsi);
        return;
    }
    v->gsi = gsi;
    __atomic_store_n(&v->irqfd, fd, __ATOMIC_RELEASE);
    __atomic_store_n(&v->active, true, __ATOMIC_RELEASE);
    irqfds_changed(vp);
}

int virtio_pci_queue_irqfd(struct virtio_pci *vp, unsigned q)
{
    if (!vp->has_msix || q >= vp->dev->num_queues)
        return -1;
    uint16_t vec = __atomic_load_n(&vp->queues[q].msix_vector, __ATOMIC_ACQUIRE);
    if (vec >= vp->msix.nvec)   /* includes VIRTIO_MSI_NO_VECTOR */
        return -1;
    struct vp_vector *v = &vp->vectors[vec];
    if (!__atomic_load_n(&v->active, __ATOMIC_ACQUIRE))
        return -1;
    return __atomic_load_n(&v->irqfd, __ATOMIC_ACQUIRE);
}

/* ---- notifications ---- */

static uint64_t notify_addr(uint64_t bar_addr, unsigned q)
{
    return bar_addr + VIRTIO_PCI_NOTIFY_OFF + (uint64_t)q * VIRTIO_PCI_NOTIFY_MULT;
}

static void ioeventfds_move(struct virtio_pci *vp, bool mapped, uint64_t bar_addr)
{
    struct virtio_dev *dev = vp->dev;
    for (unsigned q = 0; q < dev->num_queues; q++) {
        struct vp_queue *pq = &vp->queues[q];
        int fd = dev->queues[q].kick_fd;
        if (fd < 0)
            continue;
        if (pq->ioeventfd_on) {
            vm_ioeventfd(vp->vm, BUS_MMIO, pq->ioeventfd_addr, 2, -1, fd, false);
            pq->ioeventfd_on = false;
        }
        if (!mapped || !bar_addr)
            continue;
        /* §4.1.4.4: the driver writes the 16-bit queue index there. */
        int r = vm_ioeventfd(vp->vm, BUS_MMIO, notify_addr(bar_addr, q), 2, -1, fd, true);
        if (r < 0) {
            log_warn("%s: queue %u: ioeventfd failed (%s); kicks go through userspace",
                     dev->name, q, strerror(-r));
            continue;
        }
        pq->ioeventfd_on = true;
        pq->ioeventfd_addr = notify_addr(bar_addr, q);
    }
}

/* ---- common configuration ---- */

static void put(uint8_t *img, uint32_t off, uint64_t v, unsigned len)
{
    memcpy(img + off, &v, len);  /* little-endian host */
}

static uint64_t get(const uint8_t *img, uint32_t off, unsigned len)
{
    uint64_t v = 0;
    memcpy(&v, img + off, len);
    return v;
}

static struct virtq *selected_queue(struct virtio_pci *vp)
{
    return vp->queue_select < vp->dev->num_queues ? &vp->dev->queues[vp->queue_select] : NULL;
}

static void common_image(struct virtio_pci *vp, uint8_t img[CC_SIZE])
{
    struct virtio_dev *dev = vp->dev;
    memset(img, 0, CC_SIZE);
    put(img, CC_DEVICE_FEATURE_SELECT, vp->device_feature_select, 4);
    if (vp->device_feature_select < 2)
        put(img, CC_DEVICE_FEATURE, dev->host_features >> (32 * vp->device_feature_select), 4);
    put(img, CC_DRIVER_FEATURE_SELECT, vp->driver_feature_select, 4);
    if (vp->driver_feature_select < 2)
        put(img, CC_DRIVER_FEATURE, dev->guest_features >> (32 * vp->driver_feature_select), 4);
    put(img, CC_CONFIG_MSIX_VECTOR, vp->config_vector, 2);
    put(img, CC_NUM_QUEUES, dev->num_queues, 2);
    put(img, CC_DEVICE_STATUS, virtio_dev_status(dev), 1);
    put(img, CC_CONFIG_GENERATION, __atomic_load_n(&dev->config_generation, __ATOMIC_ACQUIRE), 1);
    put(img, CC_QUEUE_SELECT, vp->queue_select, 2);
    struct virtq *vq = selected_queue(vp);
    if (vq) {  /* an absent queue reads size 0 (§4.1.4.3) */
        put(img, CC_QUEUE_SIZE, vq->size, 2);
        put(img, CC_QUEUE_MSIX_VECTOR, vp->queues[vp->queue_select].msix_vector, 2);
        put(img, CC_QUEUE_ENABLE, __atomic_load_n(&vq->ready, __ATOMIC_ACQUIRE) ? 1 : 0, 2);
        put(img, CC_QUEUE_NOTIFY_OFF, vp->queue_select, 2);
        put(img, CC_QUEUE_DESC, vq->desc_gpa, 8);
        put(img, CC_QUEUE_DRIVER, vq->avail_gpa, 8);
        put(img, CC_QUEUE_DEVICE, vq->used_gpa, 8);
    }
}

static uint16_t accept_vector(struct virtio_pci *vp, uint16_t vec)
{
    /* §4.1.5.1.2: a vector the device cannot use reads back NO_VECTOR. */
    if (!vp->has_msix || vec >= vp->msix.nvec)
        return VIRTIO_MSI_NO_VECTOR;
    return vec;
}

static void device_reset(struct virtio_pci *vp)
{
    struct virtio_dev *dev = vp->dev;
    /* Status first, so I/O threads stop picking up work; then wait for
     * the request in flight. */
    __atomic_store_n(&dev->status, 0, __ATOMIC_RELEASE);
    if (dev->ops->reset)
        dev->ops->reset(dev);
    for (unsigned q = 0; q < dev->num_queues; q++) {
        virtq_reset(&dev->queues[q]);
        __atomic_store_n(&vp->queues[q].msix_vector, VIRTIO_MSI_NO_VECTOR, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&vp->config_vector, VIRTIO_MSI_NO_VECTOR, __ATOMIC_RELEASE);
    irqfds_changed(vp);
    dev->guest_features = 0;
    vp->device_feature_select = vp->driver_feature_select = 0;
    vp->queue_select = 0;
    __atomic_store_n(&dev->status, 0, __ATOMIC_RELEASE);
    isr_read_clear(vp);
}

static void status_write(struct virtio_pci *vp, uint8_t val)
{
    struct virtio_dev *dev = vp->dev;
    if (val == 0) {  /* §4.1.4.3.1: writing 0 resets the device */
        device_reset(vp);
        return;
    }
    uint8_t cur = virtio_dev_status(dev);
    uint8_t next = val | (cur & VIRTIO_STATUS_NEEDS_RESET);  /* device-owned bit */
    if ((next & VIRTIO_STATUS_FEATURES_OK) && !(cur & VIRTIO_STATUS_FEATURES_OK)) {
        uint64_t f = dev->guest_features;
        const char *why = NULL;
        if (!(f & (1ull << VIRTIO_F_VERSION_1)))
            why = "VIRTIO_F_VERSION_1 not accepted (modern-only device)";
        else if (f & ~dev->host_features)
            why = "driver accepted features the device does not offer";
        else if (dev->ops->features_ok && !dev->ops->features_ok(dev, f))
            why = "feature combination refused by the device";
        if (why) {
            /* §2.2.2: leave FEATURES_OK clear; the driver re-reads and gives up. */
            log_warn("%s: features 0x%" PRIx64 " rejected: %s", dev->name, f, why);
            next &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
        }
    }
    if ((next & VIRTIO_STATUS_DRIVER_OK) && !(next & VIRTIO_STATUS_FEATURES_OK)) {
        log_warn("%s: DRIVER_OK without FEATURES_OK ignored", dev->name);
        next &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
    }
    __atomic_store_n(&dev->status, next, __ATOMIC_RELEASE);
    if ((next & VIRTIO_STATUS_DRIVER_OK) && !(cur & VIRTIO_STATUS_DRIVER_OK) && dev->ops->driver_ok)
        dev->ops->driver_ok(dev);
}

static void queue_field_write(struct virtio_pci *vp, uint32_t field, uint64_t v)
{
    struct virtio_dev *dev = vp->dev;
    struct virtq *vq = selected_queue(vp);
    if (!vq)
        return;
    bool ready = __atomic_load_n(&vq->ready, __ATOMIC_ACQUIRE);
    switch (field) {
    case CC_QUEUE_MSIX_VECTOR:
        __atomic_store_n(&vp->queues[vp->queue_select].msix_vector,
                         accept_vector(vp, (uint16_t)v), __ATOMIC_RELEASE);
        irqfds_changed(vp);   /* the queue's irqfd is now another vector's */
        return;
    case CC_QUEUE_ENABLE:
        /* §4.1.4.3.2: the driver writes 1 after programming the queue; 0
         * is not a valid write without RING_RESET (not offered). */
        if (v == 1 && !ready)
            virtq_start(vq, dev->guest_features);
        return;
    }
    if (ready)
        return;  /* the ring is live: its programming is frozen */
    switch (field) {
    case CC_QUEUE_SIZE: vq->size = (uint16_t)v; break;
    case CC_QUEUE_DESC: vq->desc_gpa = v; break;
    case CC_QUEUE_DRIVER: vq->avail_gpa = v; break;
    case CC_QUEUE_DEVICE: vq->used_gpa = v; break;
    }
}

static void common_write(struct virtio_pci *vp, uint32_t off, const uint8_t *data, uint32_t len)
{
    struct virtio_dev *dev = vp->dev;
    uint8_t img[CC_SIZE];
    common_image(vp, img);
    if (off >= CC_SIZE)
        return;
    if (len > CC_SIZE - off)
        len = CC_SIZE - off;
    memcpy(img + off, data, len);
    /* Writable fields touched by this access, with their new values. */
    static const struct { uint32_t off, len; } fields[] = {
        { CC_DEVICE_FEATURE_SELECT, 4 }, { CC_DRIVER_FEATURE_SELECT, 4 },
        { CC_DRIVER_FEATURE, 4 }, { CC_CONFIG_MSIX_VECTOR, 2 }, { CC_DEVICE_STATUS, 1 },
        { CC_QUEUE_SELECT, 2 }, { CC_QUEUE_SIZE, 2 }, { CC_QUEUE_MSIX_VECTOR, 2 },
        { CC_QUEUE_ENABLE, 2 }, { CC_QUEUE_DESC, 8 }, { CC_QUEUE_DRIVER, 8 },
        { CC_QUEUE_DEVICE, 8 },
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        uint32_t f = fields[i].off, flen = fields[i].len;
        if (off >= f + flen || off + len <= f)
            continue;
        uint64_t v = get(img, f, flen);
        switch (f) {
        case CC_DEVICE_FEATURE_SELECT: vp->device_feature_select = (uint32_t)v; break;
        case CC_DRIVER_FEATURE_SELECT: vp->driver_feature_select = (uint32_t)v; break;
        case CC_DRIVER_FEATURE:
            /* Frozen once FEATURES_OK is set (§3.1.1). */
            if (vp->driver_feature_select < 2 &&
                !(virtio_dev_status(dev) & VIRTIO_STATUS_FEATURES_OK)) {
                unsigned shift = 32 * vp->driver_feature_select;
                dev->guest_features = (dev->guest_features & ~(0xFFFFFFFFull << shift)) | (v << shift);
            }
            break;
        case CC_CONFIG_MSIX_VECTOR:
            __atomic_store_n(&vp->config_vector, accept_vector(vp, (uint16_t)v), __ATOMIC_RELEASE);
            break;
        case CC_DEVICE_STATUS: status_write(vp, (uint8_t)v); break;
        case CC_QUEUE_SELECT: vp->queue_select = (uint16_t)v; break;
        default: queue_field_write(vp, f, v); break;
        }
    }
}

/* ---- BAR handlers ---- */

static void device_cfg_access(struct virtio_pci *vp, uint32_t off, uint8_t *data, uint32_t len,
                              bool is_write)
{
    struct virtio_dev *dev = vp->dev;
    if (off >= dev->config_len) {
        if (!is_write)
            memset(data, 0, len);
        return;
    }
    uint32_t n = dev->config_len - off < len ? dev->config_len - off : len;
    if (is_write) {
        if (dev->ops->config_write)
            dev->ops->config_write(dev, off, data, n);
    } else {
        memset(data, 0, len);
        if (dev->ops->config_read)
            dev->ops->config_read(dev, off, data, n);
    }
}

static void vp_bar_cfg_access(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
    struct virtio_pci *vp = opaque;
    struct virtio_dev *dev = vp->dev;
    if (off >= VIRTIO_PCI_NOTIFY_OFF) {
        /* A kick that KVM did not catch (no ioeventfd, or an odd width). */
        if (!is_write) {
            memset(data, 0, len);
            return;
        }
        uint64_t q = (off - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULT;
        if (q < dev->num_queues && dev->ops->queue_notify)
            dev->ops->queue_notify(dev, (unsigned)q);
        return;
    }
    if (off >= VIRTIO_PCI_ISR_OFF && off < VIRTIO_PCI_DEVICE_OFF) {
        if (!is_write) {
            memset(data, 0, len);
            if (off == VIRTIO_PCI_ISR_OFF)
                data[0] = isr_read_clear(vp);
        }
        return;
    }
    pthread_mutex_lock(&vp->lock);
    if (off >= VIRTIO_PCI_DEVICE_OFF) {
        device_cfg_access(vp, (uint32_t)(off - VIRTIO_PCI_DEVICE_OFF), data, len, is_write);
    } else if (is_write) {
        common_write(vp, (uint32_t)off, data, len);
    } else {
        uint8_t img[CC_SIZE];
        common_image(vp, img);
        for (uint32_t i = 0; i < len; i++)
            data[i] = off + i < CC_SIZE ? img[off + i] : 0;
    }
    pthread_mutex_unlock(&vp->lock);
}

static void vp_bar_msix_access(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
    struct virtio_pci *vp = opaque;
    if (!msix_bar_access(&vp->msix, off, data, len, is_write) && !is_write)
        memset(data, 0, len);
}

/* ---- PCI hooks ---- */

/* VIRTIO_PCI_CAP_PCI_CFG (§4.1.4.9): an access to its data window is an
 * access to BAR `bar` at `offset`, `length` bytes. */
static bool pci_cfg_window(struct virtio_pci *vp, uint32_t off, uint32_t len, uint32_t *bar_off,
                           uint32_t *acc_len)
{
    uint32_t data = vp->pci_cfg_cap + 16u;
    if (!vp->pci_cfg_cap || off + len <= data || off >= data + 4)
        return false;
    uint8_t bar = vp->pci.cfg[vp->pci_cfg_cap + 4];
    uint32_t boff, blen;
    memcpy(&boff, vp->pci.cfg + vp->pci_cfg_cap + 8, 4);
    memcpy(&blen, vp->pci.cfg + vp->pci_cfg_cap + 12, 4);
    if (bar != VIRTIO_PCI_BAR_CFG || (blen != 1 && blen != 2 && blen != 4) ||
        boff >= VIRTIO_PCI_BAR_CFG_SIZE || boff % blen)
        return false;
    *bar_off = boff;
    *acc_len = blen;
    return true;
}

static void vp_cfg_write(struct pci_device *pci, uint32_t off, uint32_t len, uint32_t val)
{
    struct virtio_pci *vp = pci->opaque;
    if (vp->has_msix)
        msix_cfg_write(&vp->msix, off, len, val);
    uint32_t boff, blen;
    if (pci_cfg_window(vp, off, len, &boff, &blen))
        vp_bar_cfg_access(vp, boff, vp->pci.cfg + vp->pci_cfg_cap + 16, blen, true);
}

static void vp_cfg_read(struct pci_device *pci, uint32_t off, uint32_t len)
{
    struct virtio_pci *vp = pci->opaque;
    uint32_t boff, blen;
    if (pci_cfg_window(vp, off, len, &boff, &blen))
        vp_bar_cfg_access(vp, boff, vp->pci.cfg + vp->pci_cfg_cap + 16, blen, false);
}

static void vp_bar_changed(struct pci_device *pci, int bar, bool mapped, uint64_t addr)
{
    struct virtio_pci *vp = pci->opaque;
    if (bar == VIRTIO_PCI_BAR_CFG)
        ioeventfds_move(vp, mapped, addr);
}

static void vp_pci_reset(struct pci_device *pci)
{
    struct virtio_pci *vp = pci->opaque;
    pthread_mutex_lock(&vp->lock);
    device_reset(vp);
    pthread_mutex_unlock(&vp->lock);
    if (vp->has_msix)
        msix_reset(&vp->msix);
}

static const struct pci_device_ops vp_pci_ops = {
    .cfg_write = vp_cfg_write,
    .cfg_read = vp_cfg_read,
    .bar_changed = vp_bar_changed,
    .reset = vp_pci_reset,
};

/* ---- construction ---- */

static bool add_vendor_cap(struct virtio_pci *vp, uint8_t type, uint32_t offset, uint32_t length,
                           bool notify)
{
    uint8_t cap[20] = { 0x09, 0, notify ? 20 : 16, type, VIRTIO_PCI_BAR_CFG };
    memcpy(cap + 8, &offset, 4);
    memcpy(cap + 12, &length, 4);
    if (notify) {
        uint32_t mult = VIRTIO_PCI_NOTIFY_MULT;
        memcpy(cap + 16, &mult, 4);
    }
    return pci_add_cap(&vp->pci, cap, cap[2]) != 0;
}

struct virtio_pci *virtio_pci_create(struct vm *vm, struct virtio_dev *dev,
                                     unsigned msix_vectors, char *err, size_t errlen)
{
    if (msix_vectors > VIRTIO_PCI_MAX_VECTORS || dev->num_queues == 0 ||
        dev->num_queues * VIRTIO_PCI_NOTIFY_MULT > VIRTIO_PCI_BAR_CFG_SIZE - VIRTIO_PCI_NOTIFY_OFF ||
        dev->config_len > VIRTIO_PCI_NOTIFY_OFF - VIRTIO_PCI_DEVICE_OFF) {
        snprintf(err, errlen, "%s: unsupported virtio-pci geometry (%u queues, %u vectors)",
                 dev->name, dev->num_queues, msix_vectors);
        return NULL;
    }
    struct virtio_pci *vp = calloc(1, sizeof(*vp));
    if (vp) {
        vp->queues = calloc(dev->num_queues, sizeof(*vp->queues));
        vp->vectors = calloc(msix_vectors ? msix_vectors : 1, sizeof(*vp->vectors));
    }
    if (!vp || !vp->queues || !vp->vectors) {
        snprintf(err, errlen, "%s: out of memory", dev->name);
        goto fail;
    }
    vp->dev = dev;
    vp->vm = vm;
    pthread_mutex_init(&vp->lock, NULL);
    pthread_mutex_init(&vp->isr_lock, NULL);
    for (unsigned v = 0; v < msix_vectors; v++)
        vp->vectors[v] = (struct vp_vector){ .gsi = -1, .irqfd = -1, .active = false };
    for (unsigned q = 0; q < dev->num_queues; q++)
        vp->queues[q].msix_vector = VIRTIO_MSI_NO_VECTOR;
    vp->config_vector = VIRTIO_MSI_NO_VECTOR;
    dev->transport = &vp_transport_ops;
    dev->transport_state = vp;
    dev->host_features |= 1ull << VIRTIO_F_VERSION_1;

    struct pci_device *pci = &vp->pci;
    pci->id = dev->name;
    pci->ops = &vp_pci_ops;
    pci->opaque = vp;
    /* §4.1.2: modern-only ID 0x1040 + type, revision 1, subsystem >= 0x40. */
    pci_init_header(pci, VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_BASE + dev->device_type, 1,
                    class_for_type(dev->device_type), VIRTIO_PCI_VENDOR, VIRTIO_PCI_SUBSYS_DEVICE);
    pci->cfg[0x3D] = 1;  /* INTA for the INTx fallback */
    pci_set_bar(pci, VIRTIO_PCI_BAR_CFG, PCI_BAR_MEM64, true, VIRTIO_PCI_BAR_CFG_SIZE,
                vp_bar_cfg_access, vp);
    bool caps_ok = add_vendor_cap(vp, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF, 0x1000, false) &&
                   add_vendor_cap(vp, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, 0x1000, false) &&
                   add_vendor_cap(vp, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF, 0x1000, false) &&
                   add_vendor_cap(vp, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF, 0x1000, true);
    uint8_t pci_cfg_cap[20] = { 0x09, 0, 20, VIRTIO_PCI_CAP_PCI_CFG };
    vp->pci_cfg_cap = caps_ok ? pci_add_cap(pci, pci_cfg_cap, sizeof(pci_cfg_cap)) : 0;
    if (!vp->pci_cfg_cap) {
        snprintf(err, errlen, "%s: PCI config space full", dev->name);
        goto fail;
    }
    /* The driver programs bar, offset, length and data of PCI_CFG. */
    pci->wmask[vp->pci_cfg_cap + 4] = 0xFF;
    memset(pci->wmask + vp->pci_cfg_cap + 8, 0xFF, 12);
    if (msix_vectors) {
        pci_set_bar(pci, VIRTIO_PCI_BAR_MSIX, PCI_BAR_MEM32, false, 0x1000, vp_bar_msix_access, vp);
        int r = msix_init(&vp->msix, pci, (uint16_t)msix_vectors, VIRTIO_PCI_BAR_MSIX, 0,
                          VIRTIO_PCI_MSIX_PBA_OFF, vp_msix_deliver, vp_msix_changed, vp);
        if (r < 0) {
            snprintf(err, errlen, "%s: MSI-X set-up failed: %s", dev->name, strerror(-r));
            goto fail;
        }
        vp->has_msix = true;
    }
    int r = pci_register(vm, pci, 0);
    if (r < 0) {
        snprintf(err, errlen, "%s: cannot register on PCI bus 0: %s", dev->name, strerror(-r));
        if (vp->has_msix)
            msix_free(&vp->msix);
        goto fail;
    }
    return vp;
fail:
    if (vp) {
        dev->transport = NULL;
        dev->transport_state = NULL;
        free(vp->queues);
        free(vp->vectors);
        free(vp);
    }
    return NULL;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
    if (!vp)
        return;
    ioeventfds_move(vp, false, 0);
    if (vp->has_msix) {
        for (unsigned v = 0; v < vp->msix.nvec; v++) {
            struct vp_vector *pv = &vp->vectors[v];
            if (pv->irqfd >= 0) {
                vm_irqfd(vp->vm, (uint32_t)pv->gsi, pv->irqfd, -1, false);
                close(pv->irqfd);
            }
            if (pv->gsi >= 0)
                vm_msi_route_free(vp->vm, (uint32_t)pv->gsi);
        }
        msix_free(&vp->msix);
    }
    vp->dev->transport = NULL;
    vp->dev->transport_state = NULL;
    pthread_mutex_destroy(&vp->lock);
    pthread_mutex_destroy(&vp->isr_lock);
    free(vp->queues);
    free(vp->vectors);
    free(vp);
}

struct pci_device *virtio_pci_device(struct virtio_pci *vp) { return &vp->pci; }
struct virtio_dev *virtio_pci_vdev(struct virtio_pci *vp) { return vp->dev; }
uint8_t virtio_pci_slot(const struct virtio_pci *vp) { return vp->pci.slot; }

/* ---- device state (hv/state.h) ---- */

void virtio_pci_save(struct virtio_pci *vp, struct state_writer *w)
{
    struct virtio_dev *dev = vp->dev;
    pthread_mutex_lock(&vp->lock);
    state_put_u8(w, vp->has_msix);
    state_put_u16(w, vp->has_msix ? vp->msix.nvec : 0);
    state_put_u16(w, (uint16_t)dev->num_queues);
    state_put_bytes(w, vp->pci.cfg, PCI_CFG_SIZE);
    if (vp->has_msix) {
        pthread_mutex_lock(&vp->msix.lock);
        state_put_bytes(w, vp->msix.table, msix_table_bytes(vp->msix.nvec));
        state_put_bytes(w, vp->msix.pba, msix_pba_bytes(vp->msix.nvec));
        pthread_mutex_unlock(&vp->msix.lock);
    }
    state_put_u64(w, dev->guest_features);
    state_put_u8(w, virtio_dev_status(dev));
    state_put_u8(w, __atomic_load_n(&dev->config_generation, __ATOMIC_ACQUIRE));
    state_put_u16(w, __atomic_load_n(&vp->config_vector, __ATOMIC_ACQUIRE));
    state_put_u32(w, vp->device_feature_select);
    state_put_u32(w, vp->driver_feature_select);
    state_put_u16(w, vp->queue_select);
    pthread_mutex_lock(&vp->isr_lock);
    state_put_u8(w, vp->isr);
    pthread_mutex_unlock(&vp->isr_lock);
    for (unsigned q = 0; q < dev->num_queues; q++) {
        const struct virtq *vq = &dev->queues[q];
        state_put_u16(w, vq->size);
        state_put_u8(w, __atomic_load_n(&vq->ready, __ATOMIC_ACQUIRE));
        state_put_u8(w, __atomic_load_n(&vq->broken, __ATOMIC_ACQUIRE));
        state_put_u64(w, vq->desc_gpa);
        state_put_u64(w, vq->avail_gpa);
        state_put_u64(w, vq->used_gpa);
        state_put_u16(w, vq->last_avail);
        state_put_u16(w, vq->used_idx);
        state_put_u16(w, vq->signalled_used);
        state_put_u16(w, __atomic_load_n(&vp->queues[q].msix_vector, __ATOMIC_ACQUIRE));
    }
    pthread_mutex_unlock(&vp->lock);
}

int virtio_pci_load(struct virtio_pci *vp, struct state_section *s, char *err, size_t errlen)
{
    struct virtio_dev *dev = vp->dev;
    uint8_t has_msix = 0;
    uint16_t nvec = 0, nq = 0;
    uint8_t cfg[PCI_CFG_SIZE];
    state_get_u8(s, &has_msix);
    state_get_u16(s, &nvec);
    state_get_u16(s, &nq);
    if (!s->failed && ((bool)has_msix != vp->has_msix || nvec != (vp->has_msix ? vp->msix.nvec : 0) ||
                       nq != dev->num_queues)) {
        snprintf(err, errlen, "%s: saved transport has %u queues and %u MSI-X vectors, this device "
                 "%u and %u", dev->name, nq, nvec, dev->num_queues, vp->has_msix ? vp->msix.nvec : 0);
        return -EINVAL;
    }
    state_get_bytes(s, cfg, sizeof(cfg));
    uint8_t *table = NULL;
    uint64_t *pba = NULL;
    if (vp->has_msix && !s->failed) {
        table = malloc(msix_table_bytes(nvec));
        pba = malloc(msix_pba_bytes(nvec));
        if (!table || !pba) {
            free(table);
            free(pba);
            snprintf(err, errlen, "%s: out of memory", dev->name);
            return -ENOMEM;
        }
        state_get_bytes(s, table, msix_table_bytes(nvec));
        state_get_bytes(s, pba, msix_pba_bytes(nvec));
    }
    uint64_t features = 0;
    uint8_t status = 0, generation = 0, isr = 0;
    uint16_t config_vector = 0, queue_select = 0;
    uint32_t dfs = 0, drfs = 0;
    state_get_u64(s, &features);
    state_get_u8(s, &status);
    state_get_u8(s, &generation);
    state_get_u16(s, &config_vector);
    state_get_u32(s, &dfs);
    state_get_u32(s, &drfs);
    state_get_u16(s, &queue_select);
    state_get_u8(s, &isr);
    int rc = 0;
    if (s->failed) {
        snprintf(err, errlen, "%s: transport state truncated", dev->name);
        rc = -EINVAL;
        goto out;
    }
    if (features & ~dev->host_features) {
        snprintf(err, errlen, "%s: saved features 0x%" PRIx64 " are not all offered by this device",
                 dev->name, features);
        rc = -EINVAL;
        goto out;
    }

    pci_restore_config(&vp->pci, cfg);
    pthread_mutex_lock(&vp->lock);
    device_reset(vp);
    dev->guest_features = features;
    __atomic_store_n(&dev->config_generation, generation, __ATOMIC_RELEASE);
    __atomic_store_n(&vp->config_vector, accept_vector(vp, config_vector), __ATOMIC_RELEASE);
    vp->device_feature_select = dfs;
    vp->driver_feature_select = drfs;
    vp->queue_select = queue_select;
    for (unsigned q = 0; q < dev->num_queues && rc == 0; q++) {
        struct virtq *vq = &dev->queues[q];
        uint8_t ready = 0, broken = 0;
        uint16_t last_avail = 0, used_idx = 0, signalled = 0, vec = 0;
        state_get_u16(s, &vq->size);
        state_get_u8(s, &ready);
        state_get_u8(s, &broken);
        state_get_u64(s, &vq->desc_gpa);
        state_get_u64(s, &vq->avail_gpa);
        state_get_u64(s, &vq->used_gpa);
        state_get_u16(s, &last_avail);
        state_get_u16(s, &used_idx);
        state_get_u16(s, &signalled);
        state_get_u16(s, &vec);
        if (s->failed) {
            snprintf(err, errlen, "%s: queue %u state truncated", dev->name, q);
            rc = -EINVAL;
            break;
        }
        __atomic_store_n(&vp->queues[q].msix_vector, accept_vector(vp, vec), __ATOMIC_RELEASE);
        if (ready && !virtq_start(vq, features)) {
            snprintf(err, errlen, "%s: saved queue %u does not fit this VM's memory", dev->name, q);
            rc = -EINVAL;
            break;
        }
        vq->last_avail = last_avail;
        vq->used_idx = used_idx;
        vq->signalled_used = signalled;
        if (broken)
            __atomic_store_n(&vq->broken, true, __ATOMIC_RELEASE);
    }
    if (rc == 0) {
        if (vp->has_msix)
            msix_restore(&vp->msix, table, pba);
        if (isr)
            intx_raise(vp, isr);
        __atomic_store_n(&dev->status, status, __ATOMIC_RELEASE);
        irqfds_changed(vp);
        if ((status & VIRTIO_STATUS_DRIVER_OK) && dev->ops->driver_ok)
            dev->ops->driver_ok(dev);
    } else {
        device_reset(vp);
    }
    pthread_mutex_unlock(&vp->lock);
out:
    free(table);
    free(pba);
    return rc;
}
