/* PCI devices from sysfs (see sysfs.h). */
#include "drivers/nodedev/sysfs.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool hvd_pci_addr_parse(const char *text, HvdPciAddr *out)
{
    /* Exactly DDDD:BB:SS.F in hex, as the kernel names PCI functions. */
    if (!text || strlen(text) != 12)
        return false;
    for (int i = 0; i < 12; i++) {
        char c = text[i];
        bool want_sep = (i == 4 || i == 7 || i == 10);
        if (want_sep) {
            if (c != (i == 10 ? '.' : ':'))
                return false;
        } else if (!isxdigit((unsigned char)c)) {
            return false;
        }
    }
    unsigned d, b, s, f;
    if (sscanf(text, "%4x:%2x:%2x.%1x", &d, &b, &s, &f) != 4 || s > 0x1f || f > 7)
        return false;
    out->domain = d;
    out->bus = b;
    out->slot = s;
    out->function = f;
    return true;
}

void hvd_pci_addr_format(const HvdPciAddr *addr, char *buf, size_t len)
{
    snprintf(buf, len, "%04x:%02x:%02x.%x", addr->domain, addr->bus, addr->slot, addr->function);
}

bool hvd_pci_addr_equal(const HvdPciAddr *a, const HvdPciAddr *b)
{
    return hvd_pci_addr_compare(a, b) == 0;
}

int hvd_pci_addr_compare(const HvdPciAddr *a, const HvdPciAddr *b)
{
    unsigned ka[4] = { a->domain, a->bus, a->slot, a->function };
    unsigned kb[4] = { b->domain, b->bus, b->slot, b->function };
    for (int i = 0; i < 4; i++)
        if (ka[i] != kb[i])
            return ka[i] < kb[i] ? -1 : 1;
    return 0;
}

static gint addr_cmp(gconstpointer a, gconstpointer b)
{
    return hvd_pci_addr_compare(a, b);
}

char *hvd_sysfs_read_attr(const char *dir, const char *attr)
{
    g_autofree char *path = g_build_filename(dir, attr, NULL);
    char *text = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &text, &len, NULL))
        return NULL;
    /* Attributes are one short line; refuse binary junk. */
    if (len > 4096 || memchr(text, '\0', len)) {
        g_free(text);
        return NULL;
    }
    g_strchomp(text);
    return text;
}

char *hvd_sysfs_link_basename(const char *path)
{
    g_autofree char *target = g_file_read_link(path, NULL);
    if (!target)
        return NULL;
    g_autofree char *trimmed = g_strdup(target);
    size_t n = strlen(trimmed);
    while (n > 1 && trimmed[n - 1] == '/')
        trimmed[--n] = '\0';
    char *base = g_path_get_basename(trimmed);
    if (!base[0] || strcmp(base, ".") == 0 || strcmp(base, "..") == 0 || strcmp(base, "/") == 0) {
        g_free(base);
        return NULL;
    }
    return base;
}

/* A hex attribute like "0x8086"; false when absent or malformed. */
static bool read_hex(const char *dir, const char *attr, unsigned max, unsigned *out)
{
    g_autofree char *text = hvd_sysfs_read_attr(dir, attr);
    if (!text)
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(text, &end, 16);
    if (errno || end == text || *end || v > max)
        return false;
    *out = (unsigned)v;
    return true;
}

static bool read_int(const char *dir, const char *attr, long min, long max, long *out)
{
    g_autofree char *text = hvd_sysfs_read_attr(dir, attr);
    if (!text)
        return false;
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* "8.0 GT/s PCIe" -> "8", "2.5 GT/s" -> "2.5"; NULL for "Unknown" and junk. */
static char *read_link_speed(const char *dir, const char *attr)
{
    g_autofree char *text = hvd_sysfs_read_attr(dir, attr);
    if (!text)
        return NULL;
    char *end = NULL;
    double gts = g_ascii_strtod(text, &end);
    if (end == text || gts <= 0 || gts > 1000 || strncmp(end, " GT/s", 5) != 0)
        return NULL;
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    return g_strdup(g_ascii_formatd(buf, sizeof buf, "%g", gts));
}

/* The PCI address a symlink points at (physfn, virtfnN, iommu members). */
static bool link_addr(const char *path, HvdPciAddr *out)
{
    g_autofree char *base = hvd_sysfs_link_basename(path);
    return base && hvd_pci_addr_parse(base, out);
}

void hvd_pci_device_free(HvdPciDevice *dev)
{
    if (!dev)
        return;
    g_free(dev->path);
    g_free(dev->driver);
    g_free(dev->driver_override);
    if (dev->iommu_members)
        g_array_unref(dev->iommu_members);
    if (dev->virtfns)
        g_array_unref(dev->virtfns);
    g_free(dev->link_cap_speed);
    g_free(dev->link_sta_speed);
    g_free(dev);
}

/* The device path as a host shows it: the canonical path below the sysfs
 * root, re-rooted at /sys. */
static char *display_path(const char *sysfs_root, const char *dev_dir)
{
    char root_real[PATH_MAX], dev_real[PATH_MAX];
    if (!realpath(sysfs_root, root_real) || !realpath(dev_dir, dev_real))
        return NULL;
    size_t n = strlen(root_real);
    if (strcmp(root_real, "/") == 0)
        n = 0;
    if (strncmp(dev_real, root_real, n) != 0 || (dev_real[n] != '/' && dev_real[n] != '\0'))
        return g_strdup(dev_real);
    return g_strconcat("/sys", dev_real + n, NULL);
}

static void read_iommu_group(HvdPciDevice *dev, const char *sysfs_root, const char *dev_dir)
{
    g_autofree char *link = g_build_filename(dev_dir, "iommu_group", NULL);
    g_autofree char *group = hvd_sysfs_link_basename(link);
    if (!group)
        return;
    char *end = NULL;
    errno = 0;
    long number = strtol(group, &end, 10);
    if (errno || end == group || *end || number < 0 || number > INT_MAX)
        return;
    dev->iommu_group = (int)number;
    g_autofree char *members_dir =
        g_build_filename(sysfs_root, "kernel", "iommu_groups", group, "devices", NULL);
    g_autoptr(GDir) dir = g_dir_open(members_dir, 0, NULL);
    const char *entry;
    while (dir && (entry = g_dir_read_name(dir))) {
        HvdPciAddr addr;
        if (hvd_pci_addr_parse(entry, &addr))
            g_array_append_val(dev->iommu_members, addr);
    }
    /* The device belongs to its own group even if the listing is unreadable. */
    bool self = false;
    for (guint i = 0; i < dev->iommu_members->len; i++)
        self |= hvd_pci_addr_equal(&g_array_index(dev->iommu_members, HvdPciAddr, i), &dev->addr);
    if (!self)
        g_array_append_val(dev->iommu_members, dev->addr);
    g_array_sort(dev->iommu_members, addr_cmp);
}

static void read_sriov(HvdPciDevice *dev, const char *dev_dir)
{
    long v;
    if (read_int(dev_dir, "sriov_totalvfs", 0, 65535, &v)) {
        dev->sriov_capable = v > 0;
        dev->sriov_totalvfs = (unsigned)v;
        if (read_int(dev_dir, "sriov_numvfs", 0, 65535, &v))
            dev->sriov_numvfs = (unsigned)v;
    }
    /* virtfn0, virtfn1, ... in VF order; the kernel numbers them densely,
     * but do not rely on it: probe up to the largest plausible count. */
    unsigned limit = dev->sriov_totalvfs ? dev->sriov_totalvfs : 256;
    for (unsigned i = 0; i < limit; i++) {
        char name[32];
        snprintf(name, sizeof name, "virtfn%u", i);
        g_autofree char *link = g_build_filename(dev_dir, name, NULL);
        HvdPciAddr addr;
        if (!link_addr(link, &addr)) {
            if (!g_file_test(link, G_FILE_TEST_IS_SYMLINK))
                break;
            continue;
        }
        g_array_append_val(dev->virtfns, addr);
    }
    g_autofree char *physfn = g_build_filename(dev_dir, "physfn", NULL);
    dev->has_physfn = link_addr(physfn, &dev->physfn);
}

HvdPciDevice *hvd_pci_device_read(const char *sysfs_root, const char *sysfs_name, GError **err)
{
    HvdPciAddr addr;
    if (!hvd_pci_addr_parse(sysfs_name, &addr)) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL, "'%s' is not a PCI address", sysfs_name);
        return NULL;
    }
    g_autofree char *dev_dir = g_build_filename(sysfs_root, "bus", "pci", "devices", sysfs_name, NULL);
    if (!g_file_test(dev_dir, G_FILE_TEST_IS_DIR)) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_NOENT, "no PCI device %s in %s", sysfs_name,
                    sysfs_root);
        return NULL;
    }
    g_autoptr(HvdPciDevice) dev = g_new0(HvdPciDevice, 1);
    dev->addr = addr;
    hvd_pci_addr_format(&addr, dev->sysfs_name, sizeof dev->sysfs_name);
    dev->iommu_group = -1;
    dev->numa_node = -1;
    dev->link_cap_width = dev->link_sta_width = -1;
    dev->iommu_members = g_array_new(FALSE, FALSE, sizeof(HvdPciAddr));
    dev->virtfns = g_array_new(FALSE, FALSE, sizeof(HvdPciAddr));

    dev->path = display_path(sysfs_root, dev_dir);
    if (!dev->path)
        dev->path = g_strconcat("/sys/bus/pci/devices/", dev->sysfs_name, NULL);
    /* The parent directory is the upstream bridge when it is a PCI function,
     * else the host bridge's pciDDDD:BB node (libvirt's "computer"). */
    g_autofree char *parent_dir = g_path_get_dirname(dev->path);
    g_autofree char *parent_base = g_path_get_basename(parent_dir);
    dev->has_parent = hvd_pci_addr_parse(parent_base, &dev->parent);

    read_hex(dev_dir, "vendor", 0xffff, &dev->vendor);
    read_hex(dev_dir, "device", 0xffff, &dev->device);
    read_hex(dev_dir, "subsystem_vendor", 0xffff, &dev->subsystem_vendor);
    read_hex(dev_dir, "subsystem_device", 0xffff, &dev->subsystem_device);
    read_hex(dev_dir, "class", 0xffffff, &dev->class_code);

    g_autofree char *driver_link = g_build_filename(dev_dir, "driver", NULL);
    dev->driver = hvd_sysfs_link_basename(driver_link);
    char *override = hvd_sysfs_read_attr(dev_dir, "driver_override");
    if (override && (!override[0] || strcmp(override, "(null)") == 0))
        g_clear_pointer(&override, g_free);
    dev->driver_override = override;

    long node;
    if (read_int(dev_dir, "numa_node", -1, 65535, &node))
        dev->numa_node = (int)node;

    read_iommu_group(dev, sysfs_root, dev_dir);
    read_sriov(dev, dev_dir);

    long width;
    dev->link_cap_speed = read_link_speed(dev_dir, "max_link_speed");
    dev->link_sta_speed = read_link_speed(dev_dir, "current_link_speed");
    if (read_int(dev_dir, "max_link_width", 1, 255, &width))
        dev->link_cap_width = (int)width;
    if (read_int(dev_dir, "current_link_width", 0, 255, &width))
        dev->link_sta_width = (int)width;

    g_autofree char *reset = g_build_filename(dev_dir, "reset", NULL);
    dev->has_reset = g_file_test(reset, G_FILE_TEST_EXISTS);
    return g_steal_pointer(&dev);
}

static gint device_cmp(gconstpointer a, gconstpointer b)
{
    const HvdPciDevice *da = *(HvdPciDevice *const *)a;
    const HvdPciDevice *db = *(HvdPciDevice *const *)b;
    return hvd_pci_addr_compare(&da->addr, &db->addr);
}

GPtrArray *hvd_pci_scan(const char *sysfs_root)
{
    GPtrArray *list = g_ptr_array_new_with_free_func((GDestroyNotify)hvd_pci_device_free);
    g_autofree char *devices = g_build_filename(sysfs_root, "bus", "pci", "devices", NULL);
    g_autoptr(GDir) dir = g_dir_open(devices, 0, NULL);
    const char *entry;
    while (dir && (entry = g_dir_read_name(dir))) {
        HvdPciDevice *dev = hvd_pci_device_read(sysfs_root, entry, NULL);
        if (dev)
            g_ptr_array_add(list, dev);
    }
    g_ptr_array_sort(list, device_cmp);
    return list;
}

/* pci.ids: "vvvv  Vendor" at column 0, "\tdddd  Device" below it,
 * "\t\tssss ssss  Subsystem" below that; '#' comments; the class list
 * ("C xx  Class") follows the vendors. */
void hvd_pci_ids_lookup(const char *pci_ids_path, unsigned vendor, unsigned device,
                        char **vendor_name, char **device_name)
{
    if (vendor_name)
        *vendor_name = NULL;
    if (device_name)
        *device_name = NULL;
    FILE *f = pci_ids_path ? fopen(pci_ids_path, "re") : NULL;
    if (!f)
        return;
    char line[512];
    bool in_vendor = false;
    while (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\r\n");
        bool whole = line[n] != '\0' || feof(f);
        line[n] = '\0';
        if (!whole) {
            /* Overlong line: skip the rest of it. */
            int c;
            while ((c = fgetc(f)) != EOF && c != '\n')
                ;
        }
        if (line[0] == '#' || line[0] == '\0')
            continue;
        unsigned id;
        char sep1, sep2;
        int used = 0;
        if (line[0] != '\t') {
            if (in_vendor)
                break; /* past our vendor: the file is sorted by vendor */
            if (sscanf(line, "%4x%c%c%n", &id, &sep1, &sep2, &used) == 3 && used == 6 &&
                sep1 == ' ' && sep2 == ' ' && isxdigit((unsigned char)line[3]) && id == vendor) {
                in_vendor = true;
                if (vendor_name)
                    *vendor_name = g_strdup(line + 6);
                if (!device_name)
                    break;
            } else if (line[0] == 'C' && line[1] == ' ') {
                break;
            }
            continue;
        }
        if (!in_vendor || line[1] == '\t')
            continue;
        if (sscanf(line + 1, "%4x%c%c%n", &id, &sep1, &sep2, &used) == 3 && used == 6 &&
            sep1 == ' ' && sep2 == ' ' && id == device) {
            if (device_name)
                *device_name = g_strdup(line + 7);
            break;
        }
    }
    fclose(f);
}
