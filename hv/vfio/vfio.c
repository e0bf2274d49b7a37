/* VFIO PCI passthrough, the kernel side: container, groups, devices,
 * regions, DMA map, interrupts. See vfio.h; the uAPI is
 * <linux/vfio.h> (Documentation/driver-api/vfio.rst). */
#include "hv/vfio/vfio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kvm.h>
#include <linux/vfio.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/errbuf.h"
#include "common/log.h"
#include "hv/machine_config.h"
#include "hv/vfio/vfio_pci.h"
#include "hv/virtio/balloon.h"
#include "hv/vm.h"

#define MAX_GROUPS HV_MAX_HOSTDEVS
#define MAX_VECTORS MSIX_MAX_VECTORS

struct vfio_group {
    int fd;
    int num;        /* /dev/vfio/N, -1 when only a handed-in fd is known */
    bool kvm_added;
};

struct irq_vector {
    int fd;         /* eventfd VFIO signals */
    int gsi;        /* MSI route, -1 = none */
    bool irqfd;     /* fd bound to gsi */
    uint64_t addr;
    uint32_t data;
};

struct hostdev {
    struct vfio_pci vp;
    struct vm *vm;
    int fd;                         /* device fd */
    char host[16];                  /* DDDD:BB:SS.F */
    struct vfio_group *group;
    bool can_reset;
    uint64_t cfg_off;               /* config region offset in fd */
    uint64_t bar_off[PCI_NUM_BARS];
    uint64_t bar_size[PCI_NUM_BARS];
    int bar_prot[PCI_NUM_BARS];     /* mmap protection from the region flags */
    uint64_t trapped;               /* BAR accesses forwarded with pread/pwrite (atomic) */
    pthread_mutex_t irq_lock;       /* mode and vectors (vCPU threads) */
    enum vfio_irq_mode mode;
    unsigned nvec;
    int intx_fd, intx_resample_fd;
    bool intx_irqfd;
    struct irq_vector *vecs;        /* max(MSI, MSI-X counts) entries */
    unsigned vec_cap;
};

static struct {
    int container;
    bool iommu_set;
    struct vfio_group groups[MAX_GROUPS];
    unsigned ngroups;
    unsigned ndevs;                 /* open devices: the container lives while any is */
    int kvm_vfio;                   /* KVM's VFIO pseudo device, -1 = none */
} st = { .container = -1, .kvm_vfio = -1 };

/* ---- backend for vfio_pci.c ---- */

static int be_cfg_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
    struct hostdev *hd = opaque;
    ssize_t n = pread(hd->fd, buf, len, (off_t)(hd->cfg_off + off));
    return n == (ssize_t)len ? 0 : (n < 0 ? -errno : -EIO);
}

static int be_cfg_write(void *opaque, uint32_t off, const void *buf, uint32_t len)
{
    struct hostdev *hd = opaque;
    ssize_t n = pwrite(hd->fd, buf, len, (off_t)(hd->cfg_off + off));
    return n == (ssize_t)len ? 0 : (n < 0 ? -errno : -EIO);
}

static void be_bar_access(void *opaque, int bar, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
    struct hostdev *hd = opaque;
    if (off >= hd->bar_size[bar] || len > hd->bar_size[bar] - off) {
        if (!is_write)
            memset(data, 0xFF, len);
        return;
    }
    /* Counted to show how much the mmapped ranges save (logged at exit). */
    __atomic_fetch_add(&hd->trapped, 1, __ATOMIC_RELAXED);
    off_t at = (off_t)(hd->bar_off[bar] + off);
    ssize_t n = is_write ? pwrite(hd->fd, data, len, at) : pread(hd->fd, data, len, at);
    if (n != (ssize_t)len) {
        if (!is_write)
            memset(data, 0xFF, len);
        log_debug("%s: BAR%d %s of %u bytes at 0x%llx failed: %s", hd->vp.id, bar,
                  is_write ? "write" : "read", len, (unsigned long long)off,
                  n < 0 ? strerror(errno) : "short");
    }
}

static int set_irqs(struct hostdev *hd, uint32_t index, uint32_t flags, uint32_t count, const int *fds)
{
    size_t sz = sizeof(struct vfio_irq_set) + sizeof(int32_t) * count;
    struct vfio_irq_set *set = calloc(1, sz);
    if (!set)
        return -ENOMEM;
    set->argsz = (uint32_t)sz;
    set->flags = flags;
    set->index = index;
    set->start = 0;
    set->count = count;
    if (count)
        memcpy(set->data, fds, sizeof(int32_t) * count);
    int r = ioctl(hd->fd, VFIO_DEVICE_SET_IRQS, set) < 0 ? -errno : 0;
    free(set);
    return r;
}

static uint32_t vfio_index(enum vfio_irq_mode mode)
{
    return mode == VFIO_IRQ_INTX ? VFIO_PCI_INTX_IRQ_INDEX
         : mode == VFIO_IRQ_MSI  ? VFIO_PCI_MSI_IRQ_INDEX
                                 : VFIO_PCI_MSIX_IRQ_INDEX;
}

/* Called with irq_lock held. */
static void mode_teardown(struct hostdev *hd)
{
    if (hd->mode == VFIO_IRQ_NONE)
        return;
    if (hd->mode == VFIO_IRQ_INTX) {
        if (hd->intx_irqfd)
            vm_irqfd(hd->vm, hd->vp.pci.gsi, hd->intx_fd, -1, false);
        hd->intx_irqfd = false;
    } else {
        for (unsigned v = 0; v < hd->nvec; v++) {
            struct irq_vector *iv = &hd->vecs[v];
            if (iv->irqfd)
                vm_irqfd(hd->vm, (uint32_t)iv->gsi, iv->fd, -1, false);
            iv->irqfd = false;
            if (iv->gsi >= 0)
                vm_msi_route_free(hd->vm, (uint32_t)iv->gsi);
            iv->gsi = -1;
        }
    }
    int r = set_irqs(hd, vfio_index(hd->mode), VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0, NULL);
    if (r < 0)
        log_warn("%s: disabling interrupts: %s", hd->vp.id, strerror(-r));
    hd->mode = VFIO_IRQ_NONE;
    hd->nvec = 0;
}

static int be_irq_mode(void *opaque, enum vfio_irq_mode mode, unsigned nvec)
{
    struct hostdev *hd = opaque;
    int r = 0;
    pthread_mutex_lock(&hd->irq_lock);
    mode_teardown(hd);
    if (mode == VFIO_IRQ_INTX) {
        /* Level-triggered INTx (vfio.rst): VFIO masks the line when it
         * fires; KVM's resampler signals the unmask fd at the guest's EOI. */
        r = set_irqs(hd, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
                     1, &hd->intx_fd);
        if (r == 0)
            r = set_irqs(hd, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK,
                         1, &hd->intx_resample_fd);
        if (r == 0)
            r = vm_irqfd(hd->vm, hd->vp.pci.gsi, hd->intx_fd, hd->intx_resample_fd, true);
        if (r == 0) {
            hd->intx_irqfd = true;
            hd->mode = mode;
            hd->nvec = 1;
        }
    } else if (mode == VFIO_IRQ_MSI || mode == VFIO_IRQ_MSIX) {
        if (nvec == 0 || nvec > hd->vec_cap) {
            r = -EINVAL;
        } else {
            int fds[MAX_VECTORS];
            for (unsigned v = 0; v < nvec; v++)
                fds[v] = hd->vecs[v].fd;
            r = set_irqs(hd, vfio_index(mode), VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
                         nvec, fds);
            if (r == 0) {
                hd->mode = mode;
                hd->nvec = nvec;
            }
        }
    }
    pthread_mutex_unlock(&hd->irq_lock);
    if (r == 0)
        log_debug("%s: interrupts now %s, %u vector(s)", hd->vp.id,
                  mode == VFIO_IRQ_INTX ? "INTx" : mode == VFIO_IRQ_MSI ? "MSI" :
                  mode == VFIO_IRQ_MSIX ? "MSI-X" : "off", hd->nvec);
    return r;
}

static void be_irq_vector(void *opaque, unsigned vec, uint64_t addr, uint32_t data, bool active)
{
    struct hostdev *hd = opaque;
    pthread_mutex_lock(&hd->irq_lock);
    if ((hd->mode != VFIO_IRQ_MSI && hd->mode != VFIO_IRQ_MSIX) || vec >= hd->nvec)
        goto out;
    struct irq_vector *iv = &hd->vecs[vec];
    if (!active) {
        /* Masked: unbind, so a firing vector stays pending in the
         * eventfd; KVM injects it when the irqfd is bound again. */
        if (iv->irqfd && vm_irqfd(hd->vm, (uint32_t)iv->gsi, iv->fd, -1, false) == 0)
            iv->irqfd = false;
        goto out;
    }
    if (iv->gsi < 0) {
        int gsi = vm_msi_route_alloc(hd->vm, addr, data);
        if (gsi < 0) {
            log_error("%s: vector %u: no MSI route: %s", hd->vp.id, vec, strerror(-gsi));
            goto out;
        }
        iv->gsi = gsi;
    } else if (iv->addr != addr || iv->data != data) {
        int r = vm_msi_route_update(hd->vm, (uint32_t)iv->gsi, addr, data);
        if (r < 0)
            log_error("%s: vector %u: route update: %s", hd->vp.id, vec, strerror(-r));
    }
    iv->addr = addr;
    iv->data = data;
    if (!iv->irqfd) {
        int r = vm_irqfd(hd->vm, (uint32_t)iv->gsi, iv->fd, -1, true);
        if (r < 0)
            log_error("%s: vector %u: irqfd: %s", hd->vp.id, vec, strerror(-r));
        else
            iv->irqfd = true;
    }
out:
    pthread_mutex_unlock(&hd->irq_lock);
}

static void device_reset(struct hostdev *hd)
{
    if (!hd->can_reset)
        return;
    if (ioctl(hd->fd, VFIO_DEVICE_RESET) < 0)
        log_warn("%s: VFIO_DEVICE_RESET: %s", hd->vp.id, strerror(errno));
}

static void be_reset(void *opaque) { device_reset(opaque); }

static void *be_bar_mmap(void *opaque, int bar, uint64_t off, uint64_t size)
{
    struct hostdev *hd = opaque;
    void *p = mmap(NULL, size, hd->bar_prot[bar], MAP_SHARED, hd->fd, (off_t)(hd->bar_off[bar] + off));
    if (p == MAP_FAILED) {
        log_warn("%s: mmap of BAR%d 0x%llx-0x%llx: %s; those accesses stay trapped", hd->vp.id, bar,
                 (unsigned long long)off, (unsigned long long)(off + size), strerror(errno));
        return NULL;
    }
    return p;
}

static void be_bar_munmap(void *opaque, void *host, uint64_t size)
{
    (void)opaque;
    munmap(host, size);
}

static const struct vfio_pci_backend_ops backend_ops = {
    .cfg_read = be_cfg_read,
    .cfg_write = be_cfg_write,
    .bar_access = be_bar_access,
    .irq_mode = be_irq_mode,
    .irq_vector = be_irq_vector,
    .reset = be_reset,
    .bar_mmap = be_bar_mmap,
    .bar_munmap = be_bar_munmap,
};

/* ---- container, groups ---- */

static bool container_open(char *err, size_t errlen)
{
    if (st.container >= 0)
        return true;
    int fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        errbuf_set(err, errlen, "cannot open /dev/vfio/vfio: %s (is the vfio module loaded?)", strerror(errno));
        return false;
    }
    if (ioctl(fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
        errbuf_set(err, errlen, "/dev/vfio/vfio: unknown VFIO API version");
        close(fd);
        return false;
    }
    if (ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0 &&
        ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) <= 0) {
        errbuf_set(err, errlen, "/dev/vfio/vfio: no type-1 IOMMU support (vfio_iommu_type1 not loaded?)");
        close(fd);
        return false;
    }
    st.container = fd;
    return true;
}

/* The last device is gone: KVM's VFIO device, the groups, the container. */
static void container_close(void)
{
    if (st.kvm_vfio >= 0)
        close(st.kvm_vfio);
    st.kvm_vfio = -1;
    for (unsigned i = 0; i < st.ngroups; i++)
        close(st.groups[i].fd);
    st.ngroups = 0;
    if (st.container >= 0)
        close(st.container);
    st.container = -1;
    st.iommu_set = false;
}

/* Map all guest RAM for device DMA at IOVA = guest physical address. */
static bool map_guest_ram(struct vm *vm, char *err, size_t errlen)
{
    for (unsigned i = 0; i < vm->mem.nregions; i++) {
        const struct gm_region *r = &vm->mem.regions[i];
        struct vfio_iommu_type1_dma_map map = {
            .argsz = sizeof(map),
            .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
            .vaddr = (uintptr_t)r->host,
            .iova = r->gpa,
            .size = r->size,
        };
        if (ioctl(st.container, VFIO_IOMMU_MAP_DMA, &map) < 0) {
            errbuf_set(err, errlen, "VFIO_IOMMU_MAP_DMA of guest RAM 0x%llx+0x%llx: %s%s",
                    (unsigned long long)r->gpa, (unsigned long long)r->size, strerror(errno),
                    errno == ENOMEM ? " (locked memory limit: raise RLIMIT_MEMLOCK)" : "");
            return false;
        }
    }
    return true;
}

static int group_of_device(const char *host)
{
    char link[PATH_MAX], path[128];
    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", host);
    ssize_t n = readlink(path, link, sizeof(link) - 1);
    if (n <= 0)
        return -1;
    link[n] = 0;
    const char *base = strrchr(link, '/');
    base = base ? base + 1 : link;
    char *end;
    long g = strtol(base, &end, 10);
    return *base && !*end && g >= 0 && g <= INT_MAX ? (int)g : -1;
}

static struct vfio_group *group_get(struct vm *vm, const struct hv_hostdev_config *hc, char *err, size_t errlen)
{
    int num = hc->group >= 0 ? hc->group : (hc->groupfd < 0 ? group_of_device(hc->host) : -1);
    if (hc->groupfd < 0 && num < 0) {
        errbuf_set(err, errlen, "hostdev %s: no IOMMU group (device missing, or the host has no IOMMU: "
                "boot it with intel_iommu=on / amd_iommu=on)", hc->host);
        return NULL;
    }
    for (unsigned i = 0; i < st.ngroups; i++)
        if (num >= 0 && st.groups[i].num == num)
            return &st.groups[i];
    if (st.ngroups >= MAX_GROUPS) {
        errbuf_set(err, errlen, "too many IOMMU groups");
        return NULL;
    }
    int fd = hc->groupfd;
    if (fd < 0) {
        char path[64];
        snprintf(path, sizeof(path), "/dev/vfio/%d", num);
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            errbuf_set(err, errlen, "hostdev %s: cannot open %s: %s%s", hc->host, path, strerror(errno),
                    errno == ENOENT ? " (bind the device to vfio-pci first: virsh nodedev-detach)" :
                    errno == EBUSY ? " (the group is in use by another process)" : "");
            return NULL;
        }
    }
    struct vfio_group_status status = { .argsz = sizeof(status) };
    if (ioctl(fd, VFIO_GROUP_GET_STATUS, &status) < 0) {
        errbuf_set(err, errlen, "hostdev %s: VFIO_GROUP_GET_STATUS: %s (is fd %d a VFIO group?)", hc->host,
                strerror(errno), fd);
        goto fail;
    }
    if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
        errbuf_set(err, errlen, "hostdev %s: IOMMU group %d is not viable: every device in the group "
                "must be bound to vfio-pci (or to no driver)", hc->host, num);
        goto fail;
    }
    if (!(status.flags & VFIO_GROUP_FLAGS_CONTAINER_SET) &&
        ioctl(fd, VFIO_GROUP_SET_CONTAINER, &st.container) < 0) {
        errbuf_set(err, errlen, "hostdev %s: VFIO_GROUP_SET_CONTAINER: %s", hc->host, strerror(errno));
        goto fail;
    }
    if (!st.iommu_set) {
        int type = ioctl(st.container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0 ? VFIO_TYPE1v2_IOMMU
                                                                                    : VFIO_TYPE1_IOMMU;
        if (ioctl(st.container, VFIO_SET_IOMMU, type) < 0) {
            errbuf_set(err, errlen, "VFIO_SET_IOMMU: %s", strerror(errno));
            goto fail;
        }
        st.iommu_set = true;
        if (!map_guest_ram(vm, err, errlen))
            goto fail;
    }
    struct vfio_group *g = &st.groups[st.ngroups++];
    *g = (struct vfio_group){ .fd = fd, .num = num };
    return g;
fail:
    if (fd != hc->groupfd)
        close(fd);
    return NULL;
}

/* KVM's VFIO device tells KVM which groups the VM uses (coherency of
 * non-snooping DMA, interrupt bypass); not required for function. */
static void kvm_vfio_add_group(struct vm *vm, struct vfio_group *g)
{
    if (g->kvm_added || vm->vm_fd < 0)
        return;
    if (st.kvm_vfio < 0) {
        struct kvm_create_device cd = { .type = KVM_DEV_TYPE_VFIO };
        if (ioctl(vm->vm_fd, KVM_CREATE_DEVICE, &cd) < 0) {
            log_warn("vfio: KVM_CREATE_DEVICE(vfio): %s", strerror(errno));
            return;
        }
        st.kvm_vfio = (int)cd.fd;
    }
    int32_t gfd = g->fd;
    struct kvm_device_attr attr = {
        .group = KVM_DEV_VFIO_GROUP, .attr = KVM_DEV_VFIO_GROUP_ADD, .addr = (uintptr_t)&gfd,
    };
    if (ioctl(st.kvm_vfio, KVM_SET_DEVICE_ATTR, &attr) < 0)
        log_warn("vfio: adding group %d to KVM: %s", g->num, strerror(errno));
    else
        g->kvm_added = true;
}

/* ---- devices ---- */

static void hostdev_free(struct hostdev *hd)
{
    if (!hd)
        return;
    if (hd->intx_fd >= 0)
        close(hd->intx_fd);
    if (hd->intx_resample_fd >= 0)
        close(hd->intx_resample_fd);
    for (unsigned v = 0; v < hd->vec_cap; v++)
        if (hd->vecs[v].fd >= 0)
            close(hd->vecs[v].fd);
    free(hd->vecs);
    if (hd->fd >= 0)
        close(hd->fd);
    vfio_pci_free(&hd->vp);
    pthread_mutex_destroy(&hd->irq_lock);
    free(hd);
}

static bool region_info(struct hostdev *hd, uint32_t index, struct vfio_region_info *ri)
{
    *ri = (struct vfio_region_info){ .argsz = sizeof(*ri), .index = index };
    return ioctl(hd->fd, VFIO_DEVICE_GET_REGION_INFO, ri) == 0;
}

/* The ranges of BAR region `index` that VFIO lets us mmap
 * (VFIO_REGION_INFO_FLAG_MMAP): its sparse mmap areas when the region
 * carries a VFIO_REGION_INFO_CAP_SPARSE_MMAP capability, else all of it.
 * Newer kernels let the MSI-X table page be mapped too
 * (VFIO_REGION_INFO_CAP_MSIX_MAPPABLE); vfio_pci.c keeps it trapped
 * either way. */
static unsigned mmappable_areas(struct hostdev *hd, uint32_t index, const struct vfio_region_info *ri,
                                struct vfio_bar_area *areas)
{
    if (!(ri->flags & VFIO_REGION_INFO_FLAG_MMAP))
        return 0;
    areas[0] = (struct vfio_bar_area){ 0, ri->size };
    if (!(ri->flags & VFIO_REGION_INFO_FLAG_CAPS) || ri->argsz <= sizeof(*ri) || ri->argsz > 65536)
        return 1;
    uint32_t argsz = ri->argsz;
    struct vfio_region_info *full = calloc(1, argsz);
    if (!full)
        return 1;
    full->argsz = argsz;
    full->index = index;
    unsigned n = 1;
    if (ioctl(hd->fd, VFIO_DEVICE_GET_REGION_INFO, full) < 0 || !(full->flags & VFIO_REGION_INFO_FLAG_CAPS))
        goto out;
    /* Capability chain: offsets from the start of the info (vfio.h). */
    uint32_t at = full->cap_offset;
    for (unsigned steps = 0; at >= sizeof(*full) && steps < 16; steps++) {
        if (at > argsz - sizeof(struct vfio_info_cap_header))
            break;
        const struct vfio_info_cap_header *h = (const void *)((const uint8_t *)full + at);
        if (h->id == VFIO_REGION_INFO_CAP_SPARSE_MMAP &&
            at + sizeof(struct vfio_region_info_cap_sparse_mmap) <= argsz) {
            const struct vfio_region_info_cap_sparse_mmap *sp = (const void *)h;
            uint64_t room = (argsz - at - sizeof(*sp)) / sizeof(sp->areas[0]);
            n = 0;
            for (uint32_t i = 0; i < sp->nr_areas && i < room && n < VFIO_BAR_MAX_AREAS; i++)
                if (sp->areas[i].size)
                    areas[n++] = (struct vfio_bar_area){ sp->areas[i].offset, sp->areas[i].size };
            break;
        }
        if (h->next <= at)
            break;
        at = h->next;
    }
out:
    free(full);
    return n;
}

static unsigned irq_count(struct hostdev *hd, uint32_t index)
{
    struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = index };
    if (ioctl(hd->fd, VFIO_DEVICE_GET_IRQ_INFO, &ii) < 0 || !(ii.flags & VFIO_IRQ_INFO_EVENTFD))
        return 0;
    return ii.count;
}

static struct hostdev *hostdev_open(struct vm *vm, const struct hv_hostdev_config *hc, unsigned idx,
                                    char *err, size_t errlen)
{
    struct hostdev *hd = calloc(1, sizeof(*hd));
    if (!hd) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    hd->vm = vm;
    hd->fd = hd->intx_fd = hd->intx_resample_fd = -1;
    pthread_mutex_init(&hd->irq_lock, NULL);
    snprintf(hd->host, sizeof(hd->host), "%s", hc->host);
    char id[32];
    if (hc->id)
        snprintf(id, sizeof(id), "%s", hc->id);
    else
        snprintf(id, sizeof(id), "hostdev%u", idx);

    hd->group = group_get(vm, hc, err, errlen);
    if (!hd->group)
        goto fail;
    hd->fd = ioctl(hd->group->fd, VFIO_GROUP_GET_DEVICE_FD, hd->host);
    if (hd->fd < 0) {
        errbuf_set(err, errlen, "hostdev %s: VFIO_GROUP_GET_DEVICE_FD: %s (not in IOMMU group %d, "
                "not bound to vfio-pci, or already in use)", hd->host, strerror(errno), hd->group->num);
        goto fail;
    }
    struct vfio_device_info info = { .argsz = sizeof(info) };
    if (ioctl(hd->fd, VFIO_DEVICE_GET_INFO, &info) < 0) {
        errbuf_set(err, errlen, "hostdev %s: VFIO_DEVICE_GET_INFO: %s", hd->host, strerror(errno));
        goto fail;
    }
    if (!(info.flags & VFIO_DEVICE_FLAGS_PCI) || info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX ||
        info.num_irqs <= VFIO_PCI_MSIX_IRQ_INDEX) {
        errbuf_set(err, errlen, "hostdev %s: not a VFIO PCI device", hd->host);
        goto fail;
    }
    hd->can_reset = info.flags & VFIO_DEVICE_FLAGS_RESET;

    struct vfio_pci_layout layout = { 0 };
    struct vfio_region_info ri;
    if (!region_info(hd, VFIO_PCI_CONFIG_REGION_INDEX, &ri) || ri.size < PCI_CFG_SIZE) {
        errbuf_set(err, errlen, "hostdev %s: no config region", hd->host);
        goto fail;
    }
    hd->cfg_off = ri.offset;
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        if (!region_info(hd, VFIO_PCI_BAR0_REGION_INDEX + (uint32_t)i, &ri) || !ri.size ||
            !(ri.flags & (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE)))
            continue;
        hd->bar_off[i] = ri.offset;
        hd->bar_size[i] = ri.size;
        layout.bar_size[i] = ri.size;
        hd->bar_prot[i] = (ri.flags & VFIO_REGION_INFO_FLAG_READ ? PROT_READ : 0) |
                          (ri.flags & VFIO_REGION_INFO_FLAG_WRITE ? PROT_WRITE : 0);
        layout.nmmappable[i] = mmappable_areas(hd, VFIO_PCI_BAR0_REGION_INDEX + (uint32_t)i, &ri,
                                               layout.mmappable[i]);
    }
    layout.page_size = (uint64_t)sysconf(_SC_PAGESIZE);
    layout.intx_count = irq_count(hd, VFIO_PCI_INTX_IRQ_INDEX);
    layout.msi_count = irq_count(hd, VFIO_PCI_MSI_IRQ_INDEX);
    layout.msix_count = irq_count(hd, VFIO_PCI_MSIX_IRQ_INDEX);
    if (layout.msi_count > VFIO_MSI_MAX_VECTORS)
        layout.msi_count = VFIO_MSI_MAX_VECTORS;
    if (layout.msix_count > MAX_VECTORS)
        layout.msix_count = MAX_VECTORS;

    hd->vec_cap = layout.msix_count > layout.msi_count ? layout.msix_count : layout.msi_count;
    hd->vecs = calloc(hd->vec_cap ? hd->vec_cap : 1, sizeof(*hd->vecs));
    if (!hd->vecs) {
        errbuf_set(err, errlen, "out of memory");
        goto fail;
    }
    for (unsigned v = 0; v < hd->vec_cap; v++) {
        hd->vecs[v].gsi = -1;
        hd->vecs[v].fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (hd->vecs[v].fd < 0) {
            errbuf_set(err, errlen, "hostdev %s: eventfd: %s", hd->host, strerror(errno));
            goto fail;
        }
    }
    hd->intx_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    hd->intx_resample_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (hd->intx_fd < 0 || hd->intx_resample_fd < 0) {
        errbuf_set(err, errlen, "hostdev %s: eventfd: %s", hd->host, strerror(errno));
        goto fail;
    }

    device_reset(hd);  /* start from a clean function */
    if (vfio_pci_init(&hd->vp, id, &layout, &backend_ops, hd, err, errlen) < 0)
        goto fail;
    int r = vfio_pci_register(vm, &hd->vp);
    if (r < 0) {
        errbuf_set(err, errlen, "hostdev %s: cannot place it on PCI bus 0: %s", hd->host, strerror(-r));
        goto fail;
    }
    kvm_vfio_add_group(vm, hd->group);
    log_info("%s: host %s (%04x:%04x) at 00:%02x.0, group %d, %s%s%s, reset %s", hd->vp.id, hd->host,
             hd->vp.pci.cfg[0] | hd->vp.pci.cfg[1] << 8, hd->vp.pci.cfg[2] | hd->vp.pci.cfg[3] << 8,
             hd->vp.pci.slot, hd->group->num, hd->vp.has_intx ? "INTx" : "no INTx",
             hd->vp.msi_cap ? ", MSI" : "", hd->vp.has_msix ? ", MSI-X" : "",
             hd->can_reset ? "yes" : "no");
    return hd;
fail:
    hostdev_free(hd);
    return NULL;
}

struct hostdev *hv_vfio_open(struct vm *vm, const struct hv_hostdev_config *hc, unsigned index,
                             char *err, size_t errlen)
{
    if (!container_open(err, errlen))
        return NULL;
    struct hostdev *hd = hostdev_open(vm, hc, index, err, errlen);
    if (!hd) {
        if (!st.ndevs)
            container_close();
        return NULL;
    }
    if (st.ndevs++ == 0)
        virtio_balloon_set_discard_inhibited(true, "VFIO device assignment pins guest RAM for DMA");
    return hd;
}

struct pci_device *hv_vfio_pci(struct hostdev *hd) { return &hd->vp.pci; }

void hv_vfio_stop(struct hostdev *hd)
{
    if (hd->fd < 0)
        return;
    vfio_pci_stop(&hd->vp);
    log_info("%s: %llu BAR accesses trapped and forwarded (MSI-X table/PBA accesses are emulated, "
             "mmapped ranges never exit)", hd->vp.id,
             (unsigned long long)__atomic_load_n(&hd->trapped, __ATOMIC_RELAXED));
    vfio_pci_unmap_bars(&hd->vp);
    device_reset(hd);
    close(hd->fd);
    hd->fd = -1;
}

void hv_vfio_destroy(struct hostdev *hd)
{
    if (!hd)
        return;
    hv_vfio_stop(hd);
    hostdev_free(hd);
    if (--st.ndevs == 0) {
        container_close();
        virtio_balloon_set_discard_inhibited(false, NULL);
    }
}
