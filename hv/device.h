/* A device of the machine (hv/machine.h): one record per device, whatever
 * its kind, and one operations table that every device implements. See
 * docs/hv-devices.md.
 *
 * Life of a device: the machine's add function for its kind builds the
 * model, puts it on its bus (for virtio, wrapped in a virtio-pci function;
 * the model never sees the transport), then calls realize. The machine
 * resets devices on a VM reset, saves and loads their state, and takes
 * them out again with unplug followed by destroy; the machine's own
 * teardown at VM exit goes through the same two ops. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct device;
struct net_stats;
struct pci_device;
struct state_section;
struct state_writer;
struct virtio_pci;

enum device_kind {
    DEVICE_VIRTIO_BLK,
    DEVICE_VIRTIO_NET,
    DEVICE_VIRTIO_BALLOON,
    DEVICE_E1000,
    DEVICE_VFIO,
    DEVICE_IDE,             /* the PIIX3 IDE function */
    DEVICE_IDE_DRIVE,       /* an ATA disk or ATAPI cdrom on it (model: its controller) */
    DEVICE_SERIAL,
    DEVICE_PM,
    DEVICE_I8042,
    DEVICE_RTC,
};

/* The NIC family (monitor set_link, query netstats, info network): what
 * the monitor needs from any NIC model. */
struct device_nic_info {
    const char *model;          /* QEMU's device name: "e1000", "virtio-net-pci" */
    uint8_t mac[6];
    const char *ifname;         /* backend tap, "" when unknown */
    const char *data_plane;     /* "worker" or "vhost-net" */
    bool link_up;
    unsigned queues;            /* queue pairs offered */
};

struct device_nic_ops {
    void (*describe)(struct device *dev, struct device_nic_info *out);
    void (*set_link)(struct device *dev, bool up);
    void (*get_stats)(struct device *dev, struct net_stats *out);   /* hv/backends/net.h */
};

/* One image of a disk's chain (query-block "image", "backing-image"). */
#define DEVICE_BLOCK_MAX_CHAIN 8    /* images reported; backing_depth counts all */
struct device_block_image {
    const char *filename;
    const char *format;
    uint64_t virtual_size;
    int64_t actual_size;            /* -1 unknown */
    uint32_t cluster_size;          /* 0: none (raw) */
    const char *backing_filename;   /* as recorded in the image; NULL: no backing */
    const char *full_backing_filename;  /* as opened */
    const char *backing_format;     /* as recorded; NULL: none recorded */
    /* qcow2 "format-specific" (qcow2_version 0: not qcow2) */
    uint32_t qcow2_version, refcount_bits;
    bool lazy_refcounts, corrupt;
    const char *compression_type;
};

/* The block family (query-block, query-blockstats, info block). */
struct device_block_info {
    const char *file;           /* host path of the image */
    const char *format;         /* NULL means "raw" */
    const char *qdev;           /* QOM path of the frontend or NULL */
    bool read_only;
    /* Removable media (cdroms): the tray, the guest's lock, and whether
     * there is no medium (then no "inserted" and nothing below counts). */
    bool removable, tray_open, locked, no_medium;
    uint64_t size;              /* virtual size in bytes */
    int64_t actual_size;        /* bytes allocated on the host, -1 unknown */
    /* The image chain, top first; chain_len 0: only the fields above. */
    int chain_len;
    int backing_depth;          /* images below the top, all of them */
    struct device_block_image chain[DEVICE_BLOCK_MAX_CHAIN];
    /* Counters (0 when the backend keeps none). */
    uint64_t rd_bytes, wr_bytes, rd_operations, wr_operations, flush_operations;
    uint64_t rd_total_time_ns, wr_total_time_ns, flush_total_time_ns;
    uint64_t wr_highest_offset;
    uint64_t failed_rd_operations, failed_wr_operations, failed_flush_operations;
};

struct device_block_ops {
    void (*describe)(struct device *dev, struct device_block_info *out);
};

/* Every op is called on the main thread. All but the family pointers are
 * mandatory; a device whose state cannot be saved yet says so through
 * device_save_unsupported / device_load_unsupported, never by a no-op. */
struct device_ops {
    const char *model;          /* for messages; QEMU's device name */
    /* Layout version of the device's state section (hv/state.h). */
    uint32_t state_version;
    /* The device is on its bus: start its threads and watches. */
    int (*realize)(struct device *dev, char *err, size_t errlen);
    /* VM reset (vCPUs paused): back to the power-on state. */
    void (*reset)(struct device *dev);
    /* Take the device out of service (vCPUs paused): stop its threads,
     * release host resources (images, taps, vfio fds). After unplug the
     * device does nothing; its memory stays until destroy. */
    void (*unplug)(struct device *dev);
    /* Free the model once nothing references it any more. */
    void (*destroy)(struct device *dev);
    /* Write / read the device's state section payload (vCPUs paused).
     * 0, or a negative errno with err naming the device and the cause. */
    int (*save)(struct device *dev, struct state_writer *w, char *err, size_t errlen);
    int (*load)(struct device *dev, struct state_section *s, char *err, size_t errlen);
    /* Family interfaces, NULL when the device is not of that family; the
     * monitor reads a device's identity and counters through them. */
    const struct device_nic_ops *nic;
    const struct device_block_ops *block;
};

struct device {
    char *id;                   /* unique in the machine; the monitor's name */
    enum device_kind kind;
    const struct device_ops *ops;
    void *model;                /* the model's state: struct virtio_blk *, struct e1000 *, ... */
    struct pci_device *pci;     /* its PCI function, NULL for platform devices */
    struct virtio_pci *transport;   /* virtio devices: the virtio-pci wrapper */
    struct device *next;        /* machine order = creation order */
};

/* For devices whose state cannot be saved or loaded yet: -ENOTSUP with
 * "ID: saving the state of a MODEL device is not supported yet". */
int device_save_unsupported(struct device *dev, struct state_writer *w, char *err, size_t errlen);
int device_load_unsupported(struct device *dev, struct state_section *s, char *err, size_t errlen);
