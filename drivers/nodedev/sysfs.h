/* PCI devices as Linux's sysfs shows them (Documentation/ABI/testing/
 * sysfs-bus-pci): ids, class, driver, IOMMU group, NUMA node, SR-IOV links
 * and PCIe link attributes, read below a configurable sysfs root ("/sys" on
 * a host, a directory the unit test builds otherwise).
 *
 * Nothing read from sysfs is trusted: unreadable or malformed attributes
 * count as absent, directory entries that are not PCI addresses are
 * skipped, and symlink targets are reduced to their last component before
 * use. Daemon side: GLib types. */
#pragma once
#include <glib.h>
#include <stdbool.h>

/* A PCI function address: domain:bus:slot.function. */
typedef struct {
    unsigned domain, bus, slot, function;
} HvdPciAddr;

/* "0000:00:03.0" (sysfs' spelling) -> address; false for anything else. */
bool hvd_pci_addr_parse(const char *text, HvdPciAddr *out);
/* "0000:00:03.0" into buf (at least 16 bytes). */
void hvd_pci_addr_format(const HvdPciAddr *addr, char *buf, size_t len);
bool hvd_pci_addr_equal(const HvdPciAddr *a, const HvdPciAddr *b);
int hvd_pci_addr_compare(const HvdPciAddr *a, const HvdPciAddr *b);

typedef struct {
    HvdPciAddr addr;
    char sysfs_name[16];        /* "0000:00:03.0" */
    char *path;                 /* canonical device path as on a host: /sys/devices/pci0000:00/... */
    bool has_parent;            /* the upstream device is a PCI function (a bridge) */
    HvdPciAddr parent;
    unsigned vendor, device;
    unsigned subsystem_vendor, subsystem_device;
    unsigned class_code;        /* 24 bits: base class, subclass, prog-if */
    char *driver;               /* bound driver or NULL */
    char *driver_override;      /* NULL when unset */
    int iommu_group;            /* -1: no IOMMU group */
    GArray *iommu_members;      /* HvdPciAddr, sorted; the device itself included */
    int numa_node;              /* -1: unknown */
    bool sriov_capable;         /* sriov_totalvfs present (a PF) */
    unsigned sriov_totalvfs, sriov_numvfs;
    GArray *virtfns;            /* HvdPciAddr of virtfn0..N, in VF order */
    bool has_physfn;            /* a VF */
    HvdPciAddr physfn;
    /* PCIe link: speed in GT/s as libvirt prints it ("2.5", "8"), NULL if unknown */
    char *link_cap_speed, *link_sta_speed;
    int link_cap_width, link_sta_width; /* -1: unknown */
    bool has_reset;             /* the "reset" attribute exists */
} HvdPciDevice;

void hvd_pci_device_free(HvdPciDevice *dev);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvdPciDevice, hvd_pci_device_free)

/* Read one device (sysfs_name like "0000:00:03.0") below `sysfs_root`
 * (e.g. "/sys"). NULL with a GError (G_FILE_ERROR) when it does not exist. */
HvdPciDevice *hvd_pci_device_read(const char *sysfs_root, const char *sysfs_name, GError **err);

/* Every PCI device, sorted by address (HvdPciDevice*, owned by the array).
 * A missing bus/pci/devices directory gives an empty list. */
GPtrArray *hvd_pci_scan(const char *sysfs_root);

/* Names from a pci.ids file (Debian's pci.ids package: /usr/share/misc/
 * pci.ids). Either out pointer may be NULL; each result is NULL when the
 * file or the entry is missing. */
void hvd_pci_ids_lookup(const char *pci_ids_path, unsigned vendor, unsigned device,
                        char **vendor_name, char **device_name);

/* Read a small sysfs attribute as text without the trailing newline; NULL
 * when absent or unreadable. */
char *hvd_sysfs_read_attr(const char *dir, const char *attr);
/* The last component of a symlink's target (e.g. the driver name behind
 * "driver"), NULL when `path` is not a symlink. */
char *hvd_sysfs_link_basename(const char *path);
