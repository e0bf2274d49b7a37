/* Node-device driver: names, lists, XML, detach/reattach/reset and the
 * domain users of host devices (see nodedev.h). */
#include "drivers/nodedev/nodedev.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "drivers/net/vf_netlink.h"
#include "drivers/nodedev/vfio_bind.h"
#include "drivers/virerror.h"

#define COMPUTER "computer"
/* virConnectListAllNodeDevices: cap bits 0..21 plus INACTIVE/ACTIVE. */
#define LIST_FLAGS_KNOWN (0x3fffffu | HVD_NODEDEV_LIST_INACTIVE | HVD_NODEDEV_LIST_ACTIVE)

static struct {
    bool ready;
    char *sysfs_root;
    char *records_dir; /* <state_dir>/nodedev */
    char *pci_ids;
    char *modprobe;
    GMutex lock; /* serializes detach/reattach/reset/prepare/release */
} nd;

static void set_error(GError **err, int number, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void set_error(GError **err, int number, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* drivers/virerror.h knows no prefix for this number; libvirt's is
     * "Node device not found: %s" (traces/36-qemu-errors.txt). */
    hvd_vir_error_set(err, VIR_FROM_NODEDEV, number, "%s%s",
                      number == VIR_ERR_NO_NODE_DEVICE ? "Node device not found: " : "", text);
}

bool hvd_nodedev_init(const HvdNodedevConfig *cfg, GError **err)
{
    hvd_nodedev_shutdown();
    if (!cfg->state_dir) {
        set_error(err, VIR_ERR_INTERNAL_ERROR, "node device driver needs a state directory");
        return false;
    }
    nd.sysfs_root = g_strdup(cfg->sysfs_root ? cfg->sysfs_root : "/sys");
    nd.records_dir = g_build_filename(cfg->state_dir, "nodedev", NULL);
    nd.pci_ids = g_strdup(cfg->pci_ids ? cfg->pci_ids : "/usr/share/misc/pci.ids");
    nd.modprobe = g_strdup(cfg->modprobe ? cfg->modprobe : "modprobe");
    if (g_mkdir_with_parents(nd.records_dir, 0700) != 0) {
        set_error(err, VIR_ERR_SYSTEM_ERROR, "cannot create %s: %s", nd.records_dir,
                  g_strerror(errno));
        hvd_nodedev_shutdown();
        return false;
    }
    nd.ready = true;
    return true;
}

void hvd_nodedev_shutdown(void)
{
    g_clear_pointer(&nd.sysfs_root, g_free);
    g_clear_pointer(&nd.records_dir, g_free);
    g_clear_pointer(&nd.pci_ids, g_free);
    g_clear_pointer(&nd.modprobe, g_free);
    nd.ready = false;
}

void hvd_nodedev_error_unpack(const GError *err, int *number, int *from)
{
    *number = hvd_vir_error_number(err);
    *from = hvd_vir_error_from(err);
}

static HvdVfioContext vfio_ctx(void)
{
    return (HvdVfioContext){
        .sysfs_root = nd.sysfs_root,
        .state_dir = nd.records_dir,
        .modprobe = nd.modprobe && nd.modprobe[0] ? nd.modprobe : NULL,
    };
}

/* ---------------------------------------------------------------- names */

void hvd_nodedev_pci_name(const HvdPciAddr *addr, char *buf, size_t len)
{
    snprintf(buf, len, "pci_%04x_%02x_%02x_%x", addr->domain, addr->bus, addr->slot,
             addr->function);
}

bool hvd_nodedev_parse_pci_name(const char *name, HvdPciAddr *addr)
{
    if (!name || strlen(name) != 16 || strncmp(name, "pci_", 4) != 0)
        return false;
    /* pci_DDDD_BB_SS_F -> DDDD:BB:SS.F, then the strict sysfs parser. */
    char sysfs[13];
    memcpy(sysfs, name + 4, 12);
    sysfs[12] = '\0';
    if (sysfs[4] != '_' || sysfs[7] != '_' || sysfs[10] != '_')
        return false;
    sysfs[4] = ':';
    sysfs[7] = ':';
    sysfs[10] = '.';
    if (!hvd_pci_addr_parse(sysfs, addr))
        return false;
    /* Only the lower-case spelling libvirt produces names a device. */
    char again[20];
    hvd_nodedev_pci_name(addr, again, sizeof again);
    return strcmp(again, name) == 0;
}

static bool not_ready(GError **err)
{
    if (nd.ready)
        return false;
    set_error(err, VIR_ERR_INTERNAL_ERROR, "node device driver is not initialized");
    return true;
}

static void no_such_device(GError **err, const char *name)
{
    /* libvirt's wording (traces/36-qemu-errors.txt). */
    set_error(err, VIR_ERR_NO_NODE_DEVICE, "no node device with matching name '%s'", name);
}

/* The PCI device behind a node device name, or NULL with NO_NODE_DEVICE. */
static HvdPciDevice *find_pci(const char *name, GError **err)
{
    HvdPciAddr addr;
    if (!hvd_nodedev_parse_pci_name(name, &addr)) {
        no_such_device(err, name ? name : "");
        return NULL;
    }
    char sysfs[16];
    hvd_pci_addr_format(&addr, sysfs, sizeof sysfs);
    HvdPciDevice *dev = hvd_pci_device_read(nd.sysfs_root, sysfs, NULL);
    if (!dev)
        no_such_device(err, name);
    return dev;
}

/* ---------------------------------------------------------------- lists */

static bool has_cap(const HvdPciDevice *dev, const char *cap)
{
    if (!dev)
        return strcmp(cap, "system") == 0;
    return strcmp(cap, "pci") == 0 || (strcmp(cap, "virt_functions") == 0 && dev->sriov_capable) ||
           (strcmp(cap, "phys_function") == 0 && dev->has_physfn);
}

GPtrArray *hvd_nodedev_list_all(unsigned flags, GError **err)
{
    if (not_ready(err))
        return NULL;
    if (flags & ~LIST_FLAGS_KNOWN) {
        set_error(err, VIR_ERR_INVALID_ARG, "unsupported flags (0x%x) in function %s",
                  flags & ~LIST_FLAGS_KNOWN, "virConnectListAllNodeDevices");
        return NULL;
    }
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    /* Every device hvd reports exists now: ACTIVE. INACTIVE alone (only
     * defined-but-not-started mediated devices in libvirt) matches none. */
    unsigned state = flags & (HVD_NODEDEV_LIST_ACTIVE | HVD_NODEDEV_LIST_INACTIVE);
    if (state == HVD_NODEDEV_LIST_INACTIVE)
        return names;
    unsigned caps = flags & 0x3fffffu;
    if (!caps || (caps & HVD_NODEDEV_LIST_CAP_SYSTEM))
        g_ptr_array_add(names, g_strdup(COMPUTER));
    if (!caps || (caps & HVD_NODEDEV_LIST_CAP_PCI_DEV)) {
        g_autoptr(GPtrArray) devs = hvd_pci_scan(nd.sysfs_root);
        for (guint i = 0; i < devs->len; i++) {
            char name[20];
            hvd_nodedev_pci_name(&((HvdPciDevice *)devs->pdata[i])->addr, name, sizeof name);
            g_ptr_array_add(names, g_strdup(name));
        }
    }
    return names;
}

GPtrArray *hvd_nodedev_list_names(const char *cap, unsigned flags, GError **err)
{
    if (not_ready(err))
        return NULL;
    if (flags) {
        set_error(err, VIR_ERR_INVALID_ARG, "unsupported flags (0x%x) in function %s", flags,
                  "virNodeListDevices");
        return NULL;
    }
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    if (!cap || has_cap(NULL, cap))
        g_ptr_array_add(names, g_strdup(COMPUTER));
    g_autoptr(GPtrArray) devs = hvd_pci_scan(nd.sysfs_root);
    for (guint i = 0; i < devs->len; i++) {
        HvdPciDevice *dev = devs->pdata[i];
        if (cap && !has_cap(dev, cap))
            continue;
        char name[20];
        hvd_nodedev_pci_name(&dev->addr, name, sizeof name);
        g_ptr_array_add(names, g_strdup(name));
    }
    return names;
}

bool hvd_nodedev_lookup(const char *name, GError **err)
{
    if (not_ready(err))
        return false;
    if (name && strcmp(name, COMPUTER) == 0)
        return true;
    g_autoptr(HvdPciDevice) dev = find_pci(name, err);
    return dev != NULL;
}

bool hvd_nodedev_get_parent(const char *name, char **parent, GError **err)
{
    *parent = NULL;
    if (not_ready(err))
        return false;
    if (name && strcmp(name, COMPUTER) == 0)
        return true;
    g_autoptr(HvdPciDevice) dev = find_pci(name, err);
    if (!dev)
        return false;
    char buf[20];
    if (dev->has_parent)
        hvd_nodedev_pci_name(&dev->parent, buf, sizeof buf);
    *parent = g_strdup(dev->has_parent ? buf : COMPUTER);
    return true;
}

GPtrArray *hvd_nodedev_list_caps(const char *name, GError **err)
{
    if (not_ready(err))
        return NULL;
    GPtrArray *caps = g_ptr_array_new_with_free_func(g_free);
    if (name && strcmp(name, COMPUTER) == 0) {
        g_ptr_array_add(caps, g_strdup("system"));
        return caps;
    }
    g_autoptr(HvdPciDevice) dev = find_pci(name, err);
    if (!dev) {
        g_ptr_array_unref(caps);
        return NULL;
    }
    g_ptr_array_add(caps, g_strdup("pci"));
    if (dev->sriov_capable)
        g_ptr_array_add(caps, g_strdup("virt_functions"));
    if (dev->has_physfn)
        g_ptr_array_add(caps, g_strdup("phys_function"));
    return caps;
}

/* ---------------------------------------------------------------- XML */

static void xml_text_element(GString *xml, const char *indent, const char *tag, const char *text)
{
    g_autofree char *escaped = g_markup_escape_text(text, -1);
    g_string_append_printf(xml, "%s<%s>%s</%s>\n", indent, tag, escaped, tag);
}

static void xml_address(GString *xml, const char *indent, const HvdPciAddr *a)
{
    g_string_append_printf(xml,
                           "%s<address domain='0x%04x' bus='0x%02x' slot='0x%02x' function='0x%x'/>\n",
                           indent, a->domain, a->bus, a->slot, a->function);
}

/* A DMI attribute (class/dmi/id/<attr>) or NULL when empty/unreadable. */
static char *dmi_attr(const char *attr)
{
    g_autofree char *dir = g_build_filename(nd.sysfs_root, "class", "dmi", "id", NULL);
    char *text = hvd_sysfs_read_attr(dir, attr);
    if (text && !*g_strstrip(text))
        g_clear_pointer(&text, g_free);
    if (text && !g_utf8_validate(text, -1, NULL))
        g_clear_pointer(&text, g_free);
    return text;
}

static bool uuid_ok(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = (i == 8 || i == 13 || i == 18 || i == 23);
        if (dash ? s[i] != '-' : !g_ascii_isxdigit(s[i]))
            return false;
    }
    return true;
}

/* The host UUID: SMBIOS product_uuid (root-only), else /etc/machine-id
 * spelled as a UUID, as libvirt falls back to a host identifier. */
static char *host_uuid(void)
{
    g_autofree char *dmi = dmi_attr("product_uuid");
    if (uuid_ok(dmi))
        return g_ascii_strdown(dmi, -1);
    g_autofree char *mid = NULL;
    if (g_file_get_contents("/etc/machine-id", &mid, NULL, NULL)) {
        g_strstrip(mid);
        if (strlen(mid) == 32) {
            char *u = g_strdup_printf("%.8s-%.4s-%.4s-%.4s-%.12s", mid, mid + 8, mid + 12,
                                      mid + 16, mid + 20);
            if (uuid_ok(u))
                return u;
            g_free(u);
        }
    }
    return g_strdup("00000000-0000-0000-0000-000000000000");
}

static char *computer_xml(void)
{
    GString *xml = g_string_new("<device>\n  <name>" COMPUTER "</name>\n");
    g_string_append(xml, "  <capability type='system'>\n");
    g_autofree char *product = dmi_attr("product_name");
    if (product)
        xml_text_element(xml, "    ", "product", product);
    g_string_append(xml, "    <hardware>\n");
    static const char *const hw[][2] = {
        { "sys_vendor", "vendor" }, { "product_version", "version" }, { "product_serial", "serial" }
    };
    for (size_t i = 0; i < G_N_ELEMENTS(hw); i++) {
        g_autofree char *v = dmi_attr(hw[i][0]);
        if (v)
            xml_text_element(xml, "      ", hw[i][1], v);
    }
    g_autofree char *uuid = host_uuid();
    xml_text_element(xml, "      ", "uuid", uuid);
    g_string_append(xml, "    </hardware>\n    <firmware>\n");
    static const char *const fw[][2] = {
        { "bios_vendor", "vendor" }, { "bios_version", "version" }, { "bios_date", "release_date" }
    };
    for (size_t i = 0; i < G_N_ELEMENTS(fw); i++) {
        g_autofree char *v = dmi_attr(fw[i][0]);
        if (v)
            xml_text_element(xml, "      ", fw[i][1], v);
    }
    g_string_append(xml, "    </firmware>\n  </capability>\n</device>\n");
    return g_string_free(xml, FALSE);
}

static void id_element(GString *xml, const char *tag, unsigned id, const char *name)
{
    if (name && g_utf8_validate(name, -1, NULL)) {
        g_autofree char *escaped = g_markup_escape_text(name, -1);
        g_string_append_printf(xml, "    <%s id='0x%04x'>%s</%s>\n", tag, id, escaped, tag);
    } else {
        g_string_append_printf(xml, "    <%s id='0x%04x'/>\n", tag, id);
    }
}

static char *pci_xml(const HvdPciDevice *dev)
{
    char name[20], parent[20];
    hvd_nodedev_pci_name(&dev->addr, name, sizeof name);
    if (dev->has_parent)
        hvd_nodedev_pci_name(&dev->parent, parent, sizeof parent);
    else
        g_strlcpy(parent, COMPUTER, sizeof parent);

    GString *xml = g_string_new("<device>\n");
    xml_text_element(xml, "  ", "name", name);
    xml_text_element(xml, "  ", "path", dev->path);
    xml_text_element(xml, "  ", "parent", parent);
    if (dev->driver) {
        g_autofree char *escaped = g_markup_escape_text(dev->driver, -1);
        g_string_append_printf(xml, "  <driver>\n    <name>%s</name>\n  </driver>\n", escaped);
    }
    /* Element order follows nodedev.rng's cappcidev. */
    g_string_append(xml, "  <capability type='pci'>\n");
    g_string_append_printf(xml, "    <class>0x%06x</class>\n", dev->class_code);
    g_string_append_printf(xml, "    <domain>%u</domain>\n    <bus>%u</bus>\n", dev->addr.domain,
                           dev->addr.bus);
    g_string_append_printf(xml, "    <slot>%u</slot>\n    <function>%u</function>\n",
                           dev->addr.slot, dev->addr.function);
    g_autofree char *vendor_name = NULL, *device_name = NULL;
    hvd_pci_ids_lookup(nd.pci_ids, dev->vendor, dev->device, &vendor_name, &device_name);
    id_element(xml, "product", dev->device, device_name);
    id_element(xml, "vendor", dev->vendor, vendor_name);
    if (dev->has_physfn) {
        g_string_append(xml, "    <capability type='phys_function'>\n");
        xml_address(xml, "      ", &dev->physfn);
        g_string_append(xml, "    </capability>\n");
    }
    if (dev->sriov_capable) {
        g_string_append_printf(xml, "    <capability type='virt_functions' maxCount='%u'",
                               dev->sriov_totalvfs);
        if (dev->virtfns->len) {
            g_string_append(xml, ">\n");
            for (guint i = 0; i < dev->virtfns->len; i++)
                xml_address(xml, "      ", &g_array_index(dev->virtfns, HvdPciAddr, i));
            g_string_append(xml, "    </capability>\n");
        } else {
            g_string_append(xml, "/>\n");
        }
    }
    if (dev->iommu_group >= 0) {
        g_string_append_printf(xml, "    <iommuGroup number='%d'>\n", dev->iommu_group);
        for (guint i = 0; i < dev->iommu_members->len; i++)
            xml_address(xml, "      ", &g_array_index(dev->iommu_members, HvdPciAddr, i));
        g_string_append(xml, "    </iommuGroup>\n");
    }
    if (dev->numa_node >= 0)
        g_string_append_printf(xml, "    <numa node='%d'/>\n", dev->numa_node);
    bool cap_link = dev->link_cap_speed && dev->link_cap_width > 0;
    bool sta_link = dev->link_sta_speed && dev->link_sta_width >= 0;
    if (cap_link || sta_link) {
        g_string_append(xml, "    <pci-express>\n");
        if (cap_link)
            g_string_append_printf(xml, "      <link validity='cap' speed='%s' width='%d'/>\n",
                                   dev->link_cap_speed, dev->link_cap_width);
        if (sta_link)
            g_string_append_printf(xml, "      <link validity='sta' speed='%s' width='%d'/>\n",
                                   dev->link_sta_speed, dev->link_sta_width);
        g_string_append(xml, "    </pci-express>\n");
    }
    g_string_append(xml, "  </capability>\n</device>\n");
    return g_string_free(xml, FALSE);
}

char *hvd_nodedev_get_xml(const char *name, unsigned flags, GError **err)
{
    if (not_ready(err))
        return NULL;
    if (flags & ~1u) {
        set_error(err, VIR_ERR_INVALID_ARG, "unsupported flags (0x%x) in function %s", flags & ~1u,
                  "virNodeDeviceGetXMLDesc");
        return NULL;
    }
    if (name && strcmp(name, COMPUTER) == 0)
        return computer_xml();
    g_autoptr(HvdPciDevice) dev = find_pci(name, err);
    return dev ? pci_xml(dev) : NULL;
}

/* ---------------------------------------------------------------- users */

/* <records_dir>/<sysfs name>.owner: a key file naming the domain. */
static char *owner_path(const HvdPciAddr *addr)
{
    char sysfs[16];
    hvd_pci_addr_format(addr, sysfs, sizeof sysfs);
    g_autofree char *file = g_strconcat(sysfs, ".owner", NULL);
    return g_build_filename(nd.records_dir, file, NULL);
}

static char *read_owner(const HvdPciAddr *addr, bool *managed)
{
    g_autofree char *path = owner_path(addr);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, NULL))
        return NULL;
    char *dom = g_key_file_get_string(kf, "hostdev", "domain", NULL);
    if (dom && !dom[0])
        g_clear_pointer(&dom, g_free);
    if (managed)
        *managed = g_key_file_get_boolean(kf, "hostdev", "managed", NULL);
    return dom;
}

static bool write_owner(const HvdPciAddr *addr, const char *dom_name, bool managed, GError **err)
{
    g_autofree char *path = owner_path(addr);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_key_file_set_string(kf, "hostdev", "domain", dom_name);
    g_key_file_set_boolean(kf, "hostdev", "managed", managed);
    g_autoptr(GError) ferr = NULL;
    if (!g_key_file_save_to_file(kf, path, &ferr)) {
        set_error(err, VIR_ERR_SYSTEM_ERROR, "cannot record the user of a host device: %s",
                  ferr->message);
        return false;
    }
    return true;
}

static void remove_owner(const HvdPciAddr *addr)
{
    g_autofree char *path = owner_path(addr);
    if (unlink(path) != 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", path, g_strerror(errno));
}

char *hvd_nodedev_used_by(const HvdPciAddr *addr)
{
    if (!nd.ready)
        return NULL;
    return read_owner(addr, NULL);
}

static bool refuse_if_used(const HvdPciDevice *dev, const char *what, GError **err)
{
    g_autofree char *owner = read_owner(&dev->addr, NULL);
    if (!owner)
        return true;
    set_error(err, VIR_ERR_OPERATION_INVALID, "PCI device %s is in use by domain '%s'; cannot %s it",
              dev->sysfs_name, owner, what);
    return false;
}

/* ---------------------------------------------------------------- operations */

typedef bool (*VfioOperation)(const HvdVfioContext *ctx, const HvdPciDevice *dev, GError **err);

/* Detach, reattach or reset (`what`) the PCI device `name`: not the
 * computer, not while a domain uses it, under the lock. */
static bool pci_operation(const char *name, const char *what, VfioOperation op, GError **err)
{
    if (name && strcmp(name, COMPUTER) == 0) {
        set_error(err, VIR_ERR_OPERATION_INVALID, "device '%s' is not a PCI device", name);
        return false;
    }
    g_autoptr(HvdPciDevice) dev = find_pci(name, err);
    if (!dev)
        return false;
    g_mutex_lock(&nd.lock);
    HvdVfioContext ctx = vfio_ctx();
    bool ok = refuse_if_used(dev, what, err) && op(&ctx, dev, err);
    g_mutex_unlock(&nd.lock);
    return ok;
}

bool hvd_nodedev_detach(const char *name, const char *driver_name, GError **err)
{
    if (not_ready(err))
        return false;
    if (driver_name && strcmp(driver_name, "vfio") != 0) {
        if (strcmp(driver_name, "kvm") == 0)
            set_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                      "KVM device assignment is no longer supported on this system");
        else
            set_error(err, VIR_ERR_INVALID_ARG, "unknown driver name '%s'", driver_name);
        return false;
    }
    return pci_operation(name, "detach", hvd_vfio_detach, err);
}

bool hvd_nodedev_reattach(const char *name, GError **err)
{
    if (not_ready(err))
        return false;
    return pci_operation(name, "reattach", hvd_vfio_reattach, err);
}

bool hvd_nodedev_reset(const char *name, GError **err)
{
    if (not_ready(err))
        return false;
    return pci_operation(name, "reset", hvd_vfio_reset, err);
}

/* Release one device of a domain (lock held). */
static void release_one(const HvdPciAddr *addr, bool managed)
{
    remove_owner(addr);
    if (!managed)
        return;
    char sysfs[16];
    hvd_pci_addr_format(addr, sysfs, sizeof sysfs);
    g_autoptr(HvdPciDevice) dev = hvd_pci_device_read(nd.sysfs_root, sysfs, NULL);
    if (!dev)
        return;
    HvdVfioContext ctx = vfio_ctx();
    g_autoptr(GError) err = NULL;
    if (!hvd_vfio_reattach(&ctx, dev, &err))
        log_warn("managed host device %s: %s", sysfs, err->message);
}

/* <interface type='hostdev'>: the VF's MAC and VLAN through its PF, as
 * libvirt does once the VF is detached. */
static bool set_vf_net_config(const HvdNodedevHostdev *hd, const char *sysfs, GError **err)
{
    g_autofree char *pf = NULL, *pf_ifname = NULL;
    int vf = -1;
    if (!hvd_vf_lookup(nd.sysfs_root, sysfs, &pf, &pf_ifname, &vf, err))
        return false;
    if (!hvd_vf_set_mac_vlan(pf_ifname, vf, hd->mac, hd->vlan, err))
        return false;
    log_info("VF %s (VF %d of PF %s, %s): MAC %02x:%02x:%02x:%02x:%02x:%02x, VLAN %u", sysfs, vf, pf,
              pf_ifname, hd->mac[0], hd->mac[1], hd->mac[2], hd->mac[3], hd->mac[4], hd->mac[5], hd->vlan);
    return true;
}

bool hvd_nodedev_prepare_hostdevs(const char *dom_name, const HvdNodedevHostdev *devs, size_t n,
                                  GError **err)
{
    if (not_ready(err))
        return false;
    if (!dom_name || !dom_name[0]) {
        set_error(err, VIR_ERR_INTERNAL_ERROR, "host devices prepared for a domain without a name");
        return false;
    }
    g_mutex_lock(&nd.lock);
    HvdVfioContext ctx = vfio_ctx();
    size_t done = 0;
    bool ok = true;
    for (; done < n && ok; done++) {
        const HvdNodedevHostdev *hd = &devs[done];
        for (size_t j = 0; j < done; j++) {
            if (hvd_pci_addr_equal(&devs[j].addr, &hd->addr)) {
                char sysfs[16];
                hvd_pci_addr_format(&hd->addr, sysfs, sizeof sysfs);
                set_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                          "host PCI device %s is assigned twice to domain '%s'", sysfs, dom_name);
                ok = false;
            }
        }
        if (!ok)
            break;
        char sysfs[16];
        hvd_pci_addr_format(&hd->addr, sysfs, sizeof sysfs);
        g_autoptr(HvdPciDevice) dev = hvd_pci_device_read(nd.sysfs_root, sysfs, NULL);
        if (!dev) {
            set_error(err, VIR_ERR_NO_NODE_DEVICE, "host PCI device %s not found", sysfs);
            ok = false;
            break;
        }
        g_autofree char *owner = read_owner(&hd->addr, NULL);
        if (owner && strcmp(owner, dom_name) != 0) {
            set_error(err, VIR_ERR_OPERATION_INVALID, "PCI device %s is in use by domain '%s'",
                      sysfs, owner);
            ok = false;
            break;
        }
        if (hd->managed) {
            ok = hvd_vfio_detach(&ctx, dev, err);
        } else if (!dev->driver || strcmp(dev->driver, "vfio-pci") != 0) {
            set_error(err, VIR_ERR_OPERATION_INVALID,
                      "PCI device %s is not bound to vfio-pci (driver: %s); detach it first "
                      "(virsh nodedev-detach pci_%04x_%02x_%02x_%x) or use managed='yes'",
                      sysfs, dev->driver ? dev->driver : "none", hd->addr.domain, hd->addr.bus,
                      hd->addr.slot, hd->addr.function);
            ok = false;
        } else {
            ok = hvd_vfio_check_iommu(&ctx, dev, err) && hvd_vfio_check_group(&ctx, dev, err);
        }
        if (ok && hd->is_net)
            ok = set_vf_net_config(hd, sysfs, err);
        if (ok)
            ok = write_owner(&hd->addr, dom_name, hd->managed, err);
        if (!ok && hd->managed) {
            done++; /* undo this device's detach too */
            break;
        }
    }
    if (!ok) {
        /* All or nothing: give back what this call took. */
        for (size_t j = 0; j < done; j++)
            release_one(&devs[j].addr, devs[j].managed);
    }
    g_mutex_unlock(&nd.lock);
    return ok;
}

void hvd_nodedev_release_hostdevs(const char *dom_name)
{
    if (!nd.ready || !dom_name)
        return;
    g_mutex_lock(&nd.lock);
    g_autoptr(GDir) dir = g_dir_open(nd.records_dir, 0, NULL);
    const char *entry;
    while (dir && (entry = g_dir_read_name(dir))) {
        if (!g_str_has_suffix(entry, ".owner") || strlen(entry) != 12 + 6)
            continue;
        char sysfs[13];
        memcpy(sysfs, entry, 12);
        sysfs[12] = '\0';
        HvdPciAddr addr;
        if (!hvd_pci_addr_parse(sysfs, &addr))
            continue;
        bool managed = false;
        g_autofree char *owner = read_owner(&addr, &managed);
        if (owner && strcmp(owner, dom_name) == 0)
            release_one(&addr, managed);
    }
    g_mutex_unlock(&nd.lock);
}

int hvd_nodedev_vfio_group(const HvdPciAddr *addr, GError **err)
{
    if (not_ready(err))
        return -1;
    char sysfs[16];
    hvd_pci_addr_format(addr, sysfs, sizeof sysfs);
    g_autoptr(HvdPciDevice) dev = hvd_pci_device_read(nd.sysfs_root, sysfs, NULL);
    if (!dev) {
        set_error(err, VIR_ERR_NO_NODE_DEVICE, "host PCI device %s not found", sysfs);
        return -1;
    }
    HvdVfioContext ctx = vfio_ctx();
    if (!hvd_vfio_check_iommu(&ctx, dev, err))
        return -1;
    return dev->iommu_group;
}
