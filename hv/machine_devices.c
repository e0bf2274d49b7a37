/* How each kind of device joins the machine: its operations table
 * (hv/device.h) and its add function (hv/machine.h), one after the other.
 * Virtio models are wrapped here in virtio-pci; they never see it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "hv/block/block.h"
#include "hv/machine_config.h"
#include "hv/devices/chardev.h"
#include "hv/devices/e1000.h"
#include "hv/devices/ide.h"
#include "hv/devices/platform.h"
#include "hv/devices/serial8250.h"
#include "hv/machine.h"
#include "hv/pci/pci.h"
#include "hv/vfio/vfio.h"
#include "hv/virtio/balloon.h"
#include "hv/virtio/blk.h"
#include "hv/virtio/device.h"
#include "hv/virtio/net.h"
#include "hv/virtio/pci.h"
#include "hv/vm.h"

#define COM1_BASE 0x3F8
#define COM1_GSI 4

/* ---- shared by PCI devices ---- */

static void pci_device_reset(struct device *dev) { pci_reset_function(dev->pci); }

/* ---- shared by virtio devices: the transport's half ---- */

static int virtio_save(struct device *dev, struct state_writer *w, char *err, size_t errlen)
{
    struct virtio_dev *vdev = virtio_pci_vdev(dev->transport);
    if (!vdev->ops->save || !vdev->ops->load)
        return device_save_unsupported(dev, w, err, errlen);
    int r = vdev->ops->save(vdev, w);   /* waits for the model to be idle */
    if (r < 0) {
        snprintf(err, errlen, "%s: cannot save the device state: %s", dev->id, strerror(-r));
        return r;
    }
    virtio_pci_save(dev->transport, w);
    return 0;
}

static int virtio_load(struct device *dev, struct state_section *s, char *err, size_t errlen)
{
    struct virtio_dev *vdev = virtio_pci_vdev(dev->transport);
    if (!vdev->ops->save || !vdev->ops->load)
        return device_load_unsupported(dev, s, err, errlen);
    int r = vdev->ops->load(vdev, s, err, errlen);
    return r < 0 ? r : virtio_pci_load(dev->transport, s, err, errlen);
}

/* Wrap vdev (the model's, complete) in a virtio-pci function on bus 0
 * and hand the device to the machine. On failure free_model(model). */
static struct device *add_virtio(struct machine *m, enum device_kind kind, const char *id,
                                 const struct device_ops *ops, void *model,
                                 struct virtio_dev *vdev, unsigned msix_vectors,
                                 void (*free_model)(void *), char *err, size_t errlen)
{
    char perr[256];
    struct virtio_pci *vp = virtio_pci_create(machine_vm(m), vdev, msix_vectors, perr, sizeof(perr));
    if (!vp) {
        snprintf(err, errlen, "%s: %s", id, perr);
        free_model(model);
        return NULL;
    }
    struct device proto = {
        .id = (char *)id, .kind = kind, .ops = ops, .model = model,
        .pci = virtio_pci_device(vp), .transport = vp,
    };
    return machine_add_device(m, &proto, err, errlen);
}

/* ---- virtio-blk ---- */

static int blk_realize(struct device *dev, char *err, size_t errlen)
{
    return virtio_blk_start(dev->model, err, errlen);
}

static void blk_unplug(struct device *dev) { virtio_blk_stop(dev->model); }

static void blk_destroy(struct device *dev)
{
    virtio_pci_destroy(dev->transport);
    virtio_blk_destroy(dev->model);
}

/* The image chain of a disk for query-block, top first. */
static void blk_describe_chain(struct device_block_info *b, const struct blk_image *top)
{
    int d = 0;
    for (const struct blk_image *im = top; im; im = blk_image_backing(im), d++) {
        if (d >= DEVICE_BLOCK_MAX_CHAIN)
            continue;
        struct blk_image_info bi;
        blk_image_info(im, &bi);
        const struct blk_image *next = blk_image_backing(im);
        b->chain[d] = (struct device_block_image){
            .filename = blk_image_path(im),
            .format = blk_image_format_name(im),
            .virtual_size = blk_image_size(im),
            .actual_size = blk_image_actual_size(im),
            .cluster_size = bi.cluster_size,
            .backing_filename = blk_image_backing_name(im),
            .full_backing_filename = next ? blk_image_path(next) : NULL,
            .backing_format = blk_image_backing_format(im),
            .qcow2_version = bi.qcow2_version,
            .refcount_bits = bi.refcount_bits,
            .lazy_refcounts = bi.lazy_refcounts,
            .corrupt = bi.corrupt,
            .compression_type = bi.compression_type,
        };
    }
    b->chain_len = d < DEVICE_BLOCK_MAX_CHAIN ? d : DEVICE_BLOCK_MAX_CHAIN;
    b->backing_depth = d > 0 ? d - 1 : 0;
    if (d) {
        b->format = b->chain[0].format;
        b->actual_size = b->chain[0].actual_size;
    }
}

static void blk_describe(struct device *dev, struct device_block_info *out)
{
    struct virtio_blk_info info;
    virtio_blk_info(dev->model, &info);
    *out = (struct device_block_info){
        .file = info.path,
        .read_only = info.readonly,
        .size = info.size,
        .actual_size = -1,
        .rd_bytes = info.rd_bytes,
        .wr_bytes = info.wr_bytes,
        .rd_operations = info.rd_ops,
        .wr_operations = info.wr_ops,
        .flush_operations = info.flush_ops,
    };
    blk_describe_chain(out, info.image);
}

static const struct device_block_ops blk_block_ops = { .describe = blk_describe };

static const struct device_ops blk_device_ops = {
    .model = "virtio-blk-pci",
    .state_version = 1,
    .realize = blk_realize,
    .reset = pci_device_reset,
    .unplug = blk_unplug,
    .destroy = blk_destroy,
    .save = virtio_save,
    .load = virtio_load,
    .block = &blk_block_ops,
};

static void blk_free_model(void *model) { virtio_blk_destroy(model); }

struct device *machine_add_disk(struct machine *m, const struct hv_disk_config *dc, char *err,
                                size_t errlen)
{
    char id[32];
    snprintf(id, sizeof(id), "virtio-disk%u", machine_count(m, DEVICE_VIRTIO_BLK));
    struct virtio_blk_config bc = {
        .path = dc->path,
        .format = dc->format,
        .readonly = dc->readonly,
        .serial = dc->serial,
        .id = dc->id ? dc->id : id,
    };
    struct virtio_blk *blk = virtio_blk_new_model(&machine_vm(m)->mem, &bc, err, errlen);
    if (!blk)
        return NULL;
    struct virtio_dev *vdev = virtio_blk_dev(blk);
    /* One config vector plus one per request queue (Linux: "config, req.N"). */
    return add_virtio(m, DEVICE_VIRTIO_BLK, vdev->name, &blk_device_ops, blk, vdev,
                      vdev->num_queues + 1, blk_free_model, err, errlen);
}

/* ---- IDE: the controller, and its drives for the block family ---- */

static int ide_realize(struct device *dev, char *err, size_t errlen)
{
    return ide_start(dev->model, err, errlen);
}

static void ide_unplug(struct device *dev) { ide_stop(dev->model); }
static void ide_device_destroy(struct device *dev) { ide_destroy(dev->model); }

static const struct device_ops ide_device_ops = {
    .model = "piix3-ide",
    .state_version = 1,
    .realize = ide_realize,
    .reset = pci_device_reset,
    .unplug = ide_unplug,
    .destroy = ide_device_destroy,
    .save = device_save_unsupported,
    .load = device_load_unsupported,
};

/* A drive is part of its controller (which resets, stops and frees it);
 * as a device it only names the drive for the monitor. Added after the
 * controller, so taken out before it. */
static int ide_drive_realize(struct device *dev, char *err, size_t errlen)
{
    (void)dev, (void)err, (void)errlen;
    return 0;
}

static void ide_drive_reset(struct device *dev) { (void)dev; /* the controller's reset */ }
static void ide_drive_unplug(struct device *dev) { (void)dev; /* the controller's unplug */ }
static void ide_drive_destroy(struct device *dev) { (void)dev; /* the controller's destroy */ }

static void ide_drive_describe(struct device *dev, struct device_block_info *out)
{
    struct ide_drive_info info;
    *out = (struct device_block_info){ .qdev = dev->id, .actual_size = -1 };
    if (!ide_drive_info(dev->model, dev->id, &info))
        return;
    out->removable = info.cdrom;
    out->tray_open = info.tray_open;
    out->locked = info.locked;
    out->read_only = info.readonly;
    out->size = info.size;
    if (!info.image) {
        out->no_medium = true;
        return;
    }
    out->file = blk_image_path(info.image);
    blk_describe_chain(out, info.image);
}

static const struct device_block_ops ide_drive_block_ops = { .describe = ide_drive_describe };

static const struct device_ops ide_drive_device_ops = {
    .model = "ide-drive",
    .state_version = 1,
    .realize = ide_drive_realize,
    .reset = ide_drive_reset,
    .unplug = ide_drive_unplug,
    .destroy = ide_drive_destroy,
    .save = device_save_unsupported,
    .load = device_load_unsupported,
    .block = &ide_drive_block_ops,
};

struct device *machine_add_ide(struct machine *m, const struct hv_config *cfg, char *err,
                               size_t errlen)
{
    struct ide *ide = ide_create(machine_vm(m), cfg, err, errlen);
    if (!ide)
        return NULL;
    struct device proto = {
        .id = "ide", .kind = DEVICE_IDE, .ops = &ide_device_ops, .model = ide, .pci = ide_pci(ide),
    };
    struct device *ctl = machine_add_device(m, &proto, err, errlen);
    if (!ctl)
        return NULL;
    for (unsigned u = 0; u < HV_IDE_UNITS; u++) {
        const char *id = ide_unit_id(ide, u);
        struct device drive = { .id = (char *)id, .kind = DEVICE_IDE_DRIVE,
                                .ops = &ide_drive_device_ops, .model = ide };
        if (id && !machine_add_device(m, &drive, err, errlen))
            return NULL;
    }
    return ctl;
}

/* ---- virtio-net ---- */

static int vnet_realize(struct device *dev, char *err, size_t errlen)
{
    return virtio_net_start(dev->model, err, errlen);
}

static void vnet_unplug(struct device *dev) { virtio_net_stop(dev->model); }

static void vnet_destroy(struct device *dev)
{
    virtio_pci_destroy(dev->transport);
    virtio_net_destroy(dev->model);
}

static void vnet_describe(struct device *dev, struct device_nic_info *out)
{
    struct virtio_net_info info;
    virtio_net_info(dev->model, &info);
    *out = (struct device_nic_info){
        .model = "virtio-net-pci",
        .ifname = info.ifname,
        .data_plane = info.data_plane,
        .link_up = info.link_up,
        .queues = info.max_pairs,
    };
    memcpy(out->mac, info.mac, 6);
}

static void vnet_set_link(struct device *dev, bool up) { virtio_net_set_link(dev->model, up); }

static void vnet_get_stats(struct device *dev, struct net_stats *out)
{
    virtio_net_get_stats(dev->model, out);
}

static const struct device_nic_ops vnet_nic_ops = {
    .describe = vnet_describe,
    .set_link = vnet_set_link,
    .get_stats = vnet_get_stats,
};

static const struct device_ops vnet_device_ops = {
    .model = "virtio-net-pci",
    .state_version = 1,
    .realize = vnet_realize,
    .reset = pci_device_reset,
    .unplug = vnet_unplug,
    .destroy = vnet_destroy,
    .save = virtio_save,     /* the model has no save op yet: refused */
    .load = virtio_load,
    .nic = &vnet_nic_ops,
};

static void vnet_free_model(void *model) { virtio_net_destroy(model); }

static struct device *add_virtio_net(struct machine *m, const struct hv_nic_config *n,
                                     unsigned index, char *err, size_t errlen)
{
    char id[16];
    snprintf(id, sizeof(id), "net%u", machine_count(m, DEVICE_VIRTIO_NET));
    enum virtio_net_vhost_mode vhost = n->vhost == HV_NIC_VHOST_ON    ? VNET_VHOST_ON
                                       : n->vhost == HV_NIC_VHOST_OFF ? VNET_VHOST_OFF
                                                                      : VNET_VHOST_AUTO;
    struct virtio_net_config vc = {
        .id = n->id ? n->id : id,
        .tap_fds = n->nfds ? n->fds : NULL,
        .ntap_fds = n->nfds,
        .tap_name = n->nfds ? NULL : n->ifname,
        .queues = n->queues ? n->queues : n->nfds,
        .vhost = vhost,
        .vhost_fds = n->nvhostfds ? n->vhostfds : NULL,
        .nvhost_fds = n->nvhostfds,
    };
    if (n->has_mac) {
        memcpy(vc.mac, n->mac, 6);
    } else {
        /* QEMU's default: 52:54:00:12:34:56 plus the NIC index. */
        const uint8_t def[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t)(0x56 + index) };
        memcpy(vc.mac, def, 6);
    }
    struct virtio_net *net = virtio_net_open(&machine_vm(m)->mem, &vc, err, errlen);
    if (!net)
        return NULL;
    if (n->link_down)
        virtio_net_set_link(net, false);
    struct virtio_dev *vdev = virtio_net_dev(net);
    return add_virtio(m, DEVICE_VIRTIO_NET, vdev->name, &vnet_device_ops, net, vdev,
                      virtio_net_msix_vectors(net), vnet_free_model, err, errlen);
}

/* ---- e1000 ---- */

static int e1000_realize(struct device *dev, char *err, size_t errlen)
{
    (void)dev, (void)err, (void)errlen;   /* e1000_create started it */
    return 0;
}

static void e1000_unplug(struct device *dev) { e1000_stop(dev->model); }
static void e1000_device_destroy(struct device *dev) { e1000_destroy(dev->model); }

static void e1000_describe(struct device *dev, struct device_nic_info *out)
{
    struct e1000_info info;
    e1000_get_info(dev->model, &info);
    *out = (struct device_nic_info){
        .model = "e1000",
        .ifname = info.ifname,
        .data_plane = "worker",
        .link_up = info.link_up,
        .queues = 1,
    };
    memcpy(out->mac, info.mac, 6);
}

static void e1000_link(struct device *dev, bool up) { e1000_set_link(dev->model, up); }
static void e1000_stats(struct device *dev, struct net_stats *out) { e1000_get_stats(dev->model, out); }

static const struct device_nic_ops e1000_nic_ops = {
    .describe = e1000_describe,
    .set_link = e1000_link,
    .get_stats = e1000_stats,
};

static const struct device_ops e1000_device_ops = {
    .model = "e1000",
    .state_version = 1,
    .realize = e1000_realize,
    .reset = pci_device_reset,
    .unplug = e1000_unplug,
    .destroy = e1000_device_destroy,
    .save = device_save_unsupported,
    .load = device_load_unsupported,
    .nic = &e1000_nic_ops,
};

static struct device *add_e1000(struct machine *m, const struct hv_nic_config *n, char *err,
                                size_t errlen)
{
    struct e1000_config ec = {
        .id = n->id,
        .index = machine_count(m, DEVICE_E1000),
        .tap_fd = n->nfds ? n->fds[0] : -1,
        .tap_name = n->nfds ? NULL : n->ifname,
        .link_down = n->link_down,
    };
    if (n->has_mac)
        memcpy(ec.mac, n->mac, 6);
    struct e1000 *nic = e1000_create(machine_vm(m), &ec, err, errlen);
    if (!nic)
        return NULL;
    struct e1000_info info;
    e1000_get_info(nic, &info);
    struct device proto = {
        .id = (char *)info.id, .kind = DEVICE_E1000, .ops = &e1000_device_ops, .model = nic,
        .pci = e1000_pci(nic),
    };
    return machine_add_device(m, &proto, err, errlen);
}

struct device *machine_add_nic(struct machine *m, const struct hv_nic_config *nc, unsigned index,
                               char *err, size_t errlen)
{
    return nc->model == HV_NIC_E1000 ? add_e1000(m, nc, err, errlen)
                                     : add_virtio_net(m, nc, index, err, errlen);
}

/* ---- virtio-balloon ---- */

static int balloon_realize(struct device *dev, char *err, size_t errlen)
{
    (void)dev, (void)err, (void)errlen;   /* its loop watches exist since new_model */
    return 0;
}

static void balloon_unplug(struct device *dev) { virtio_balloon_stop(dev->model); }

static void balloon_destroy(struct device *dev)
{
    virtio_pci_destroy(dev->transport);
    virtio_balloon_free_model(dev->model);
}

static const struct device_ops balloon_device_ops = {
    .model = "virtio-balloon-pci",
    .state_version = 1,
    .realize = balloon_realize,
    .reset = pci_device_reset,
    .unplug = balloon_unplug,
    .destroy = balloon_destroy,
    .save = virtio_save,     /* the model has no save op yet: refused */
    .load = virtio_load,
};

static void balloon_free(void *model) { virtio_balloon_free_model(model); }

struct device *machine_add_balloon(struct machine *m, const struct hv_balloon_config *bc,
                                   char *err, size_t errlen)
{
    if (machine_next(m, DEVICE_VIRTIO_BALLOON, NULL)) {
        snprintf(err, errlen, "%s: only one balloon device per VM", bc->id ? bc->id : "balloon");
        return NULL;
    }
    struct vm *vm = machine_vm(m);
    if (!vm->loop) {
        snprintf(err, errlen, "virtio-balloon: the VM has no event loop yet");
        return NULL;
    }
    struct virtio_balloon_config cfg = {
        .id = bc->id,
        .deflate_on_oom = bc->deflate_on_oom,
        .free_page_reporting = bc->free_page_reporting,
        .stats_period_s = bc->stats_period,
    };
    struct virtio_balloon *b = virtio_balloon_new_model(&vm->mem, vm->loop, &cfg, err, errlen);
    if (!b)
        return NULL;
    struct virtio_dev *vdev = virtio_balloon_dev(b);
    log_info("%s: virtio-balloon, stats period %us%s%s", vdev->name, bc->stats_period,
             bc->deflate_on_oom ? ", deflate-on-oom" : "",
             bc->free_page_reporting ? ", free page reporting" : "");
    /* INTx only, like QEMU's virtio-balloon-pci (no MSI-X BAR). */
    return add_virtio(m, DEVICE_VIRTIO_BALLOON, vdev->name, &balloon_device_ops, b, vdev, 0,
                      balloon_free, err, errlen);
}

/* ---- vfio-pci host devices ---- */

static int vfio_realize(struct device *dev, char *err, size_t errlen)
{
    (void)dev, (void)err, (void)errlen;   /* hv_vfio_open wired it up */
    return 0;
}

static void vfio_unplug(struct device *dev) { hv_vfio_stop(dev->model); }
static void vfio_destroy(struct device *dev) { hv_vfio_destroy(dev->model); }

static const struct device_ops vfio_device_ops = {
    .model = "vfio-pci",
    .state_version = 1,
    .realize = vfio_realize,
    .reset = pci_device_reset,
    .unplug = vfio_unplug,
    .destroy = vfio_destroy,
    .save = device_save_unsupported,
    .load = device_load_unsupported,
};

struct device *machine_add_hostdev(struct machine *m, const struct hv_hostdev_config *hc,
                                   unsigned index, char *err, size_t errlen)
{
    struct hostdev *hd = hv_vfio_open(machine_vm(m), hc, index, err, errlen);
    if (!hd)
        return NULL;
    struct pci_device *pci = hv_vfio_pci(hd);
    struct device proto = {
        .id = (char *)pci->id, .kind = DEVICE_VFIO, .ops = &vfio_device_ops, .model = hd,
        .pci = pci,
    };
    return machine_add_device(m, &proto, err, errlen);
}

/* ---- platform devices ---- */

static int platform_realize(struct device *dev, char *err, size_t errlen)
{
    (void)dev, (void)err, (void)errlen;   /* on the I/O bus since created */
    return 0;
}

static void platform_unplug(struct device *dev) { (void)dev; /* no threads, no host resources */ }

static void serial_reset(struct device *dev) { serial8250_reset(dev->model); }
static void serial_destroy(struct device *dev) { serial8250_free(dev->model); }
static void pm_device_reset(struct device *dev) { pm_reset(dev->model); }
static void pm_destroy(struct device *dev) { pm_free(dev->model); }
static void i8042_device_reset(struct device *dev) { i8042_reset(dev->model); }
static void i8042_destroy(struct device *dev) { i8042_free(dev->model); }
static void rtc_device_reset(struct device *dev) { rtc_reset(dev->model); }
static void rtc_destroy(struct device *dev) { rtc_free(dev->model); }

#define PLATFORM_OPS(name, qemu_model, reset_fn, destroy_fn)                                   \
    static const struct device_ops name = {                                                    \
        .model = qemu_model,                                                                   \
        .state_version = 1,                                                                    \
        .realize = platform_realize,                                                           \
        .reset = reset_fn,                                                                     \
        .unplug = platform_unplug,                                                             \
        .destroy = destroy_fn,                                                                 \
        .save = device_save_unsupported,                                                       \
        .load = device_load_unsupported,                                                       \
    }

PLATFORM_OPS(serial_device_ops, "isa-serial", serial_reset, serial_destroy);
PLATFORM_OPS(pm_device_ops, "piix4-pm", pm_device_reset, pm_destroy);
PLATFORM_OPS(i8042_device_ops, "i8042", i8042_device_reset, i8042_destroy);
PLATFORM_OPS(rtc_device_ops, "mc146818rtc", rtc_device_reset, rtc_destroy);

static bool add_platform(struct machine *m, const char *id, enum device_kind kind,
                         const struct device_ops *ops, void *model, char *err, size_t errlen)
{
    if (!model) {
        snprintf(err, errlen, "cannot create the platform devices (%s)", id);
        return false;
    }
    struct device proto = { .id = (char *)id, .kind = kind, .ops = ops, .model = model };
    return machine_add_device(m, &proto, err, errlen) != NULL;
}

bool machine_add_platform(struct machine *m, struct chardev *console, char *err, size_t errlen)
{
    struct vm *vm = machine_vm(m);
    if (!add_platform(m, "serial0", DEVICE_SERIAL, &serial_device_ops,
                      serial8250_create(vm, COM1_BASE, COM1_GSI, console), err, errlen) ||
        !add_platform(m, "pm", DEVICE_PM, &pm_device_ops, pm_create(vm), err, errlen) ||
        !add_platform(m, "i8042", DEVICE_I8042, &i8042_device_ops, i8042_create(vm), err, errlen) ||
        !add_platform(m, "rtc", DEVICE_RTC, &rtc_device_ops, rtc_create(vm), err, errlen))
        return false;
    if (ioport_sinks_create(vm) < 0) {
        snprintf(err, errlen, "cannot create the platform devices (port sinks)");
        return false;
    }
    return true;
}

/* ---- the configuration ---- */

bool machine_add_config_devices(struct machine *m, const struct hv_config *cfg,
                                struct chardev *console, char *err, size_t errlen)
{
    for (unsigned i = 0; i < cfg->ndisks; i++)
        if (cfg->disks[i].bus == HV_DISK_BUS_VIRTIO && !machine_add_disk(m, &cfg->disks[i], err, errlen))
            return false;
    if (ide_config_has_drives(cfg) && !machine_add_ide(m, cfg, err, errlen))
        return false;
    if (cfg->balloon.enabled && !machine_add_balloon(m, &cfg->balloon, err, errlen))
        return false;
    /* NICs after the disks; assigned host devices after the emulated functions. */
    for (unsigned i = 0; i < cfg->nnics; i++)
        if (!machine_add_nic(m, &cfg->nics[i], i, err, errlen))
            return false;
    for (unsigned i = 0; i < cfg->nhostdevs; i++)
        if (!machine_add_hostdev(m, &cfg->hostdevs[i], i, err, errlen))
            return false;
    return machine_add_platform(m, console, err, errlen);
}
