/* Persistent attach and detach of one device on a DomainDef, with the
 * rules and messages of libvirt's QEMU driver (qemuDomainAttachDeviceConfig,
 * qemuDomainDetachDeviceConfig) and of virDomainNetFindIdx. See
 * domain_conf.h and docs/domain-driver.md. */
#include "drivers/conf/domain_conf.h"

#include <string.h>

#include "drivers/conf/domain_validate.h"

/* The driver-level checks are the QEMU driver's (VIR_FROM_QEMU); the
 * interface lookup is conf code (VIR_FROM_DOMAIN). */
#define qemu_error(err, code, ...) hvd_vir_error_set(err, VIR_FROM_QEMU, code, __VA_ARGS__)

static bool same_pci(const DomainPciAddr *a, const DomainPciAddr *b)
{
    return a->domain == b->domain && a->bus == b->bus && a->slot == b->slot &&
           a->function == b->function;
}

/* virPCIDeviceAddressAsString: 0000:00:03.0 */
static char *pci_string(const DomainPciAddr *a)
{
    return g_strdup_printf("%04x:%02x:%02x.%x", a->domain, a->bus, a->slot, a->function);
}

static int disk_index(const DomainDef *def, const char *target)
{
    for (guint i = 0; i < def->disks->len; i++) {
        const DomainDisk *d = g_ptr_array_index(def->disks, i);
        if (strcmp(d->target_dev, target) == 0)
            return (int)i;
    }
    return -1;
}

/* Index of the hostdev (or hostdev interface) given host device `src`,
 * -1 when none: virDomainHostdevFind. *is_net tells which list. */
static int hostdev_index(const DomainDef *def, const DomainPciAddr *src, bool *is_net)
{
    for (guint i = 0; i < def->hostdevs->len; i++) {
        const DomainHostdev *h = g_ptr_array_index(def->hostdevs, i);
        if (same_pci(&h->source, src)) {
            *is_net = false;
            return (int)i;
        }
    }
    for (guint i = 0; i < def->nets->len; i++) {
        const DomainNet *n = g_ptr_array_index(def->nets, i);
        if (n->type == DOMAIN_NET_HOSTDEV && same_pci(&n->host_addr, src)) {
            *is_net = true;
            return (int)i;
        }
    }
    return -1;
}

/* virDomainNetFindIdx: an interface matches when its MAC equals the given
 * one (if the XML named one) and its guest PCI address equals the given
 * one (if any). Exactly one must match. Returns the index or -1 with err. */
static int net_find(const DomainDef *def, const DomainDevice *dev, GError **err)
{
    const DomainNet *want = g_ptr_array_index(dev->holder->nets, 0);
    bool by_mac = dev->mac_given, by_pci = want->addr.present;
    int found = -1;
    unsigned matches = 0;
    for (guint i = 0; i < def->nets->len; i++) {
        const DomainNet *n = g_ptr_array_index(def->nets, i);
        if (by_mac && memcmp(n->mac, want->mac, DOMAIN_MAC_LEN) != 0)
            continue;
        if (by_pci && (!n->addr.present || !same_pci(&n->addr, &want->addr)))
            continue;
        if (matches++ == 0)
            found = (int)i;
    }
    char mac[DOMAIN_MAC_STRING_LEN];
    domain_mac_format(want->mac, mac);
    g_autofree char *pci = pci_string(&want->addr);
    if (matches == 0) {
        if (by_mac && by_pci)
            hvd_vir_error_set(err, VIR_FROM_DOMAIN, VIR_ERR_DEVICE_MISSING,
                              "no device matching MAC address %s found on %s", mac, pci);
        else if (by_mac)
            hvd_vir_error_set(err, VIR_FROM_DOMAIN, VIR_ERR_DEVICE_MISSING,
                              "no device matching MAC address %s found", mac);
        else if (by_pci)
            hvd_vir_error_set(err, VIR_FROM_DOMAIN, VIR_ERR_DEVICE_MISSING,
                              "no device found on %s", pci);
        else
            hvd_vir_error_set(err, VIR_FROM_DOMAIN, VIR_ERR_DEVICE_MISSING,
                              "%s", "no matching device found");
        return -1;
    }
    if (matches > 1) {
        if (by_mac)
            hvd_vir_error_set(err, VIR_FROM_DOMAIN, VIR_ERR_OPERATION_FAILED,
                              "multiple devices matching MAC address %s found", mac);
        else
            hvd_vir_error_set(err, VIR_FROM_DOMAIN, VIR_ERR_OPERATION_FAILED, "%s",
                              "multiple matching devices found");
        return -1;
    }
    return found;
}

/* virDomainDiskInsert: disks of one bus stay ordered by target index
 * (vda, vdb, ..., vdaa); a disk on a bus no other disk has goes last. */
static void disk_insert(DomainDef *def, DomainDisk *disk)
{
    const char *prefix = disk->bus == DOMAIN_DISK_BUS_IDE ? "hd" : "vd";
    int idx = domain_disk_name_index(disk->target_dev, prefix);
    gint at = -1;
    for (gint i = (gint)def->disks->len - 1; i >= 0; i--) {
        const DomainDisk *d = g_ptr_array_index(def->disks, i);
        if (d->bus != disk->bus)
            continue;
        if (domain_disk_name_index(d->target_dev, prefix) > idx) {
            at = i;
        } else if (at == -1) {
            at = i + 1;
            break;
        }
    }
    g_ptr_array_insert(def->disks, at < 0 ? (gint)def->disks->len : at, disk);
}

bool domain_def_attach_device(DomainDef *def, DomainDevice *dev, GError **err)
{
    DomainDef *h = dev->holder;
    switch (dev->kind) {
    case DOMAIN_DEVICE_DISK: {
        DomainDisk *disk = g_ptr_array_index(h->disks, 0);
        if (disk_index(def, disk->target_dev) >= 0) {
            qemu_error(err, VIR_ERR_OPERATION_INVALID, "target %s already exists",
                       disk->target_dev);
            return false;
        }
        disk_insert(def, g_ptr_array_steal_index(h->disks, 0));
        break;
    }
    case DOMAIN_DEVICE_NET: {
        DomainNet *net = g_ptr_array_index(h->nets, 0);
        bool is_net;
        if (net->type == DOMAIN_NET_HOSTDEV && hostdev_index(def, &net->host_addr, &is_net) >= 0) {
            qemu_error(err, VIR_ERR_OPERATION_INVALID, "%s",
                       "device is already in the domain configuration");
            return false;
        }
        g_ptr_array_add(def->nets, g_ptr_array_steal_index(h->nets, 0));
        break;
    }
    case DOMAIN_DEVICE_HOSTDEV: {
        DomainHostdev *hd = g_ptr_array_index(h->hostdevs, 0);
        bool is_net;
        if (hostdev_index(def, &hd->source, &is_net) >= 0) {
            qemu_error(err, VIR_ERR_OPERATION_INVALID, "%s",
                       "device is already in the domain configuration");
            return false;
        }
        g_ptr_array_add(def->hostdevs, g_ptr_array_steal_index(h->hostdevs, 0));
        break;
    }
    case DOMAIN_DEVICE_MEMBALLOON:
    case DOMAIN_DEVICE_OTHER:
    default:
        qemu_error(err, VIR_ERR_OPERATION_UNSUPPORTED,
                   "persistent attach of device '%s' is not supported", dev->type_name);
        return false;
    }
    /* virDomainDefPostParse + validation: addresses for the newcomer, and
     * the cross-device checks (guest PCI addresses used twice, ...). */
    return domain_def_validate(def, err) && domain_def_assign_pci_addresses(def, err);
}

bool domain_def_update_device(DomainDef *def, DomainDevice *dev, GError **err)
{
    if (dev->kind != DOMAIN_DEVICE_DISK) {
        qemu_error(err, VIR_ERR_OPERATION_UNSUPPORTED,
                   "persistent update of device '%s' is not supported", dev->type_name);
        return false;
    }
    DomainDisk *disk = g_ptr_array_index(dev->holder->disks, 0);
    int i = disk_index(def, disk->target_dev);
    if (i < 0) {
        qemu_error(err, VIR_ERR_INVALID_ARG, "target %s doesn't exist.", disk->target_dev);
        return false;
    }
    /* a disk XML without an address keeps the disk's (virsh change-media
     * --config passes the inactive XML's, which has it anyway) */
    const DomainDisk *old = g_ptr_array_index(def->disks, (guint)i);
    if (!disk->addr.present)
        disk->addr = old->addr;
    g_ptr_array_remove_index(def->disks, (guint)i);
    g_ptr_array_insert(def->disks, i, g_ptr_array_steal_index(dev->holder->disks, 0));
    return domain_def_validate(def, err) && domain_def_assign_pci_addresses(def, err);
}

/* Where dev is in def: the list and index, or false with err. */
static bool device_locate(const DomainDef *def, const DomainDevice *dev, GPtrArray **list,
                          guint *index, GError **err)
{
    const DomainDef *h = dev->holder;
    switch (dev->kind) {
    case DOMAIN_DEVICE_DISK: {
        const DomainDisk *disk = g_ptr_array_index(h->disks, 0);
        int i = disk_index(def, disk->target_dev);
        if (i < 0) {
            qemu_error(err, VIR_ERR_DEVICE_MISSING, "no target device %s", disk->target_dev);
            return false;
        }
        *list = def->disks;
        *index = (guint)i;
        return true;
    }
    case DOMAIN_DEVICE_NET: {
        int i = net_find(def, dev, err);
        if (i < 0)
            return false;
        *list = def->nets;
        *index = (guint)i;
        return true;
    }
    case DOMAIN_DEVICE_HOSTDEV: {
        const DomainHostdev *hd = g_ptr_array_index(h->hostdevs, 0);
        bool is_net = false;
        int i = hostdev_index(def, &hd->source, &is_net);
        if (i < 0) {
            qemu_error(err, VIR_ERR_DEVICE_MISSING, "%s", "device not present in domain configuration");
            return false;
        }
        *list = is_net ? def->nets : def->hostdevs;
        *index = (guint)i;
        return true;
    }
    case DOMAIN_DEVICE_MEMBALLOON:
    case DOMAIN_DEVICE_OTHER:
    default:
        qemu_error(err, VIR_ERR_OPERATION_UNSUPPORTED,
                   "persistent detach of device '%s' is not supported", dev->type_name);
        return false;
    }
}

bool domain_def_detach_device(DomainDef *def, const DomainDevice *dev, GError **err)
{
    GPtrArray *list = NULL;
    guint index = 0;
    if (!device_locate(def, dev, &list, &index, err))
        return false;
    g_ptr_array_remove_index(list, index);
    return true;
}

bool domain_def_has_device(const DomainDef *def, const DomainDevice *dev)
{
    GPtrArray *list = NULL;
    guint index = 0;
    return device_locate(def, dev, &list, &index, NULL);
}
