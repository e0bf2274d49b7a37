/* vfio-pci binding and device reset through sysfs (see vfio_bind.h). */
#include "drivers/nodedev/vfio_bind.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "drivers/virerror.h"

#define VFIO_DRIVER "vfio-pci"

static HvdSysfsWriteHook write_hook;
static void *write_hook_data;

void hvd_vfio_set_write_hook(HvdSysfsWriteHook hook, void *data)
{
    write_hook = hook;
    write_hook_data = data;
}

bool hvd_vfio_is_stub_driver(const char *driver)
{
    return driver && (strcmp(driver, VFIO_DRIVER) == 0 || strcmp(driver, "pci-stub") == 0);
}

static void set_error(GError **err, int number, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void set_error(GError **err, int number, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    hvd_vir_error_set(err, VIR_FROM_NODEDEV, number, "%s", text);
}

static char *dev_dir(const HvdVfioContext *ctx, const HvdPciDevice *dev)
{
    return g_build_filename(ctx->sysfs_root, "bus", "pci", "devices", dev->sysfs_name, NULL);
}

/* Write one sysfs attribute (path relative to the sysfs root). The kernel
 * acts on the write itself; an error from write() is its answer. */
static bool sysfs_write(const HvdVfioContext *ctx, const char *rel_path, const char *value,
                        GError **err)
{
    g_autofree char *path = g_build_filename(ctx->sysfs_root, rel_path, NULL);
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) {
        set_error(err, VIR_ERR_SYSTEM_ERROR, "cannot open %s for writing: %s", path,
                  g_strerror(errno));
        return false;
    }
    size_t len = strlen(value);
    ssize_t n = write(fd, value, len);
    int saved = errno;
    close(fd);
    if (n < 0 || (size_t)n != len) {
        set_error(err, VIR_ERR_SYSTEM_ERROR, "cannot write '%s' to %s: %s", value, path,
                  n < 0 ? g_strerror(saved) : "short write");
        return false;
    }
    if (write_hook)
        write_hook(rel_path, value, write_hook_data);
    return true;
}

/* The driver bound to the device right now (NULL: none). */
static char *current_driver(const HvdVfioContext *ctx, const HvdPciDevice *dev)
{
    g_autofree char *dir = dev_dir(ctx, dev);
    g_autofree char *link = g_build_filename(dir, "driver", NULL);
    return hvd_sysfs_link_basename(link);
}

/* ---- the remembered original driver: <state_dir>/<sysfs name>.driver */

static char *saved_driver_path(const HvdVfioContext *ctx, const HvdPciDevice *dev)
{
    g_autofree char *file = g_strconcat(dev->sysfs_name, ".driver", NULL);
    return g_build_filename(ctx->state_dir, file, NULL);
}

/* Driver names become path components: accept what the kernel uses
 * (letters, digits, '-', '_', '.') and nothing that could leave the
 * drivers directory. */
static bool driver_name_ok(const char *name)
{
    if (!name || !name[0] || strlen(name) > 64 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (const char *p = name; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '.')
            return false;
    return true;
}

char *hvd_vfio_saved_driver(const HvdVfioContext *ctx, const HvdPciDevice *dev)
{
    g_autofree char *path = saved_driver_path(ctx, dev);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return NULL;
    g_strstrip(text);
    if (!driver_name_ok(text)) {
        log_warn("ignoring malformed driver record %s", path);
        return NULL;
    }
    return g_steal_pointer(&text);
}

static bool save_driver(const HvdVfioContext *ctx, const HvdPciDevice *dev, const char *driver,
                        GError **err)
{
    if (g_mkdir_with_parents(ctx->state_dir, 0700) != 0) {
        set_error(err, VIR_ERR_SYSTEM_ERROR, "cannot create %s: %s", ctx->state_dir,
                  g_strerror(errno));
        return false;
    }
    g_autofree char *path = saved_driver_path(ctx, dev);
    g_autofree char *text = g_strconcat(driver, "\n", NULL);
    g_autoptr(GError) ferr = NULL;
    /* g_file_set_contents writes a temporary file and renames it over. */
    if (!g_file_set_contents(path, text, -1, &ferr)) {
        set_error(err, VIR_ERR_SYSTEM_ERROR, "cannot record the original driver of %s: %s",
                  dev->sysfs_name, ferr->message);
        return false;
    }
    return true;
}

static void forget_driver(const HvdVfioContext *ctx, const HvdPciDevice *dev)
{
    g_autofree char *path = saved_driver_path(ctx, dev);
    if (unlink(path) != 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", path, g_strerror(errno));
}

/* ---- checks */

bool hvd_vfio_check_iommu(const HvdVfioContext *ctx, const HvdPciDevice *dev, GError **err)
{
    g_autofree char *groups = g_build_filename(ctx->sysfs_root, "kernel", "iommu_groups", NULL);
    g_autoptr(GDir) dir = g_dir_open(groups, 0, NULL);
    if (!dir || !g_dir_read_name(dir)) {
        set_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                  "no IOMMU found: enable VT-d/AMD-Vi in the firmware and boot the host with "
                  "intel_iommu=on (Intel) or amd_iommu=on (AMD); %s is empty, so %s cannot be "
                  "assigned with VFIO",
                  "/sys/kernel/iommu_groups", dev->sysfs_name);
        return false;
    }
    if (dev->iommu_group < 0) {
        set_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                  "PCI device %s is in no IOMMU group, so it cannot be assigned with VFIO",
                  dev->sysfs_name);
        return false;
    }
    return true;
}

/* PCI base class 0x06: bridges. The kernel's VFIO tolerates host drivers
 * (pcieport) on bridges inside a group. */
static bool is_bridge(const HvdPciDevice *dev)
{
    return (dev->class_code >> 16) == 0x06;
}

bool hvd_vfio_check_group(const HvdVfioContext *ctx, const HvdPciDevice *dev, GError **err)
{
    g_autoptr(GString) busy = g_string_new(NULL);
    for (guint i = 0; i < dev->iommu_members->len; i++) {
        const HvdPciAddr *addr = &g_array_index(dev->iommu_members, HvdPciAddr, i);
        if (hvd_pci_addr_equal(addr, &dev->addr))
            continue;
        char name[16];
        hvd_pci_addr_format(addr, name, sizeof name);
        g_autoptr(HvdPciDevice) member = hvd_pci_device_read(ctx->sysfs_root, name, NULL);
        if (!member || !member->driver || hvd_vfio_is_stub_driver(member->driver) ||
            is_bridge(member))
            continue;
        g_string_append_printf(busy, "%s%s (driver %s)", busy->len ? ", " : "", name,
                               member->driver);
    }
    if (busy->len) {
        set_error(err, VIR_ERR_OPERATION_INVALID,
                  "IOMMU group %d of PCI device %s also holds devices bound to host drivers: %s; "
                  "detach them from the host first",
                  dev->iommu_group, dev->sysfs_name, busy->str);
        return false;
    }
    return true;
}

/* vfio-pci must be registered before driver_override can bind it. */
static bool ensure_vfio_driver(const HvdVfioContext *ctx, GError **err)
{
    g_autofree char *drv = g_build_filename(ctx->sysfs_root, "bus", "pci", "drivers", VFIO_DRIVER, NULL);
    if (g_file_test(drv, G_FILE_TEST_IS_DIR))
        return true;
    g_autofree char *why = NULL;
    if (ctx->modprobe) {
        const char *argv[] = { ctx->modprobe, VFIO_DRIVER, NULL };
        g_autofree char *out = NULL, *errout = NULL;
        int status = 0;
        g_autoptr(GError) serr = NULL;
        if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &errout,
                          &status, &serr))
            why = g_strdup_printf("cannot run %s: %s", ctx->modprobe, serr->message);
        else if (!g_spawn_check_wait_status(status, NULL))
            why = g_strdup_printf("%s %s failed: %s", ctx->modprobe, VFIO_DRIVER,
                                  errout && *g_strstrip(errout) ? errout : "no message");
        if (g_file_test(drv, G_FILE_TEST_IS_DIR))
            return true;
    }
    set_error(err, VIR_ERR_OPERATION_FAILED,
              "the vfio-pci driver is not loaded (%s missing)%s%s; load it with "
              "'modprobe vfio-pci' (kernel option CONFIG_VFIO_PCI)",
              "/sys/bus/pci/drivers/vfio-pci", why ? ": " : "", why ? why : "");
    return false;
}

/* ---- operations */

bool hvd_vfio_detach(const HvdVfioContext *ctx, const HvdPciDevice *dev, GError **err)
{
    g_autofree char *driver = current_driver(ctx, dev);
    if (driver && strcmp(driver, VFIO_DRIVER) == 0)
        return true; /* already detached: nothing to do, as libvirt */
    if (!hvd_vfio_check_iommu(ctx, dev, err) || !hvd_vfio_check_group(ctx, dev, err) ||
        !ensure_vfio_driver(ctx, err))
        return false;
    if (driver && !hvd_vfio_is_stub_driver(driver) && !save_driver(ctx, dev, driver, err))
        return false;

    g_autofree char *rel = g_build_filename("bus", "pci", "devices", dev->sysfs_name, NULL);
    g_autofree char *override = g_build_filename(rel, "driver_override", NULL);
    g_autofree char *unbind = g_build_filename(rel, "driver", "unbind", NULL);
    if (!sysfs_write(ctx, override, VFIO_DRIVER, err))
        return false;
    if (!driver || sysfs_write(ctx, unbind, dev->sysfs_name, err)) {
        /* drivers_probe fails when no driver takes the device; the check
         * below gives the clearer message. */
        g_autoptr(GError) probe_err = NULL;
        sysfs_write(ctx, "bus/pci/drivers_probe", dev->sysfs_name, &probe_err);
        g_autofree char *now = current_driver(ctx, dev);
        if (now && strcmp(now, VFIO_DRIVER) == 0) {
            log_info("PCI device %s detached from %s, bound to vfio-pci", dev->sysfs_name,
                     driver ? driver : "no driver");
            return true;
        }
        set_error(err, VIR_ERR_OPERATION_FAILED, "PCI device %s did not bind to vfio-pci (%s%s%s%s)",
                  dev->sysfs_name, now ? "now bound to " : "left without a driver", now ? now : "",
                  probe_err ? ": " : "", probe_err ? probe_err->message : "");
    }
    /* Give the device back to its host driver. */
    sysfs_write(ctx, override, "\n", NULL);
    g_autofree char *after = current_driver(ctx, dev);
    if (!after)
        sysfs_write(ctx, "bus/pci/drivers_probe", dev->sysfs_name, NULL);
    forget_driver(ctx, dev);
    return false;
}

bool hvd_vfio_reattach(const HvdVfioContext *ctx, const HvdPciDevice *dev, GError **err)
{
    g_autofree char *driver = current_driver(ctx, dev);
    g_autofree char *rel = g_build_filename("bus", "pci", "devices", dev->sysfs_name, NULL);
    g_autofree char *dir = dev_dir(ctx, dev);
    g_autofree char *override_now = hvd_sysfs_read_attr(dir, "driver_override");
    bool override_stub = hvd_vfio_is_stub_driver(override_now);
    g_autofree char *saved = hvd_vfio_saved_driver(ctx, dev);

    if (driver && !hvd_vfio_is_stub_driver(driver) && !override_stub) {
        forget_driver(ctx, dev);
        return true; /* already on a host driver: nothing to do */
    }
    if (driver) {
        g_autofree char *unbind = g_build_filename(rel, "driver", "unbind", NULL);
        if (!sysfs_write(ctx, unbind, dev->sysfs_name, err))
            return false;
    }
    if (override_stub) {
        g_autofree char *override = g_build_filename(rel, "driver_override", NULL);
        if (!sysfs_write(ctx, override, "\n", err))
            return false;
    }
    sysfs_write(ctx, "bus/pci/drivers_probe", dev->sysfs_name, NULL);
    g_autofree char *now = current_driver(ctx, dev);
    if (!now && saved) {
        g_autofree char *bind = g_build_filename("bus", "pci", "drivers", saved, "bind", NULL);
        g_autoptr(GError) bind_err = NULL;
        if (!sysfs_write(ctx, bind, dev->sysfs_name, &bind_err))
            log_warn("PCI device %s: binding %s again failed: %s", dev->sysfs_name, saved,
                     bind_err->message);
        g_free(now);
        now = current_driver(ctx, dev);
    }
    forget_driver(ctx, dev);
    if (now && hvd_vfio_is_stub_driver(now)) {
        set_error(err, VIR_ERR_OPERATION_FAILED, "PCI device %s is still bound to %s after reattach",
                  dev->sysfs_name, now);
        return false;
    }
    log_info("PCI device %s reattached to %s", dev->sysfs_name, now ? now : "no driver");
    return true;
}

bool hvd_vfio_reset(const HvdVfioContext *ctx, const HvdPciDevice *dev, GError **err)
{
    g_autofree char *driver = current_driver(ctx, dev);
    if (driver && !hvd_vfio_is_stub_driver(driver)) {
        /* A reset under a live host driver pulls the device from under it. */
        set_error(err, VIR_ERR_OPERATION_INVALID,
                  "PCI device %s is bound to host driver '%s'; detach it first "
                  "(virsh nodedev-detach) before resetting it",
                  dev->sysfs_name, driver);
        return false;
    }
    if (!dev->has_reset) {
        set_error(err, VIR_ERR_OPERATION_UNSUPPORTED,
                  "PCI device %s has no reset method (no 'reset' attribute in sysfs)",
                  dev->sysfs_name);
        return false;
    }
    g_autofree char *reset = g_build_filename("bus", "pci", "devices", dev->sysfs_name, "reset", NULL);
    return sysfs_write(ctx, reset, "1", err);
}
