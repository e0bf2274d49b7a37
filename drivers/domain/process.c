/* Machine description, spawn and /proc facts for hv workers
 * (drivers/domain/process.h). */
#include "drivers/domain/process.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"

HvdProcessPaths *hvd_process_paths_new(const char *run_dir, const char *log_dir, const char *name)
{
    HvdProcessPaths *p = g_new0(HvdProcessPaths, 1);
    g_autofree char *json = g_strconcat(name, ".json", NULL);
    g_autofree char *mon = g_strconcat(name, ".monitor", NULL);
    g_autofree char *log = g_strconcat(name, ".log", NULL);
    g_autofree char *console = g_strconcat(name, ".console.log", NULL);
    p->json = g_build_filename(run_dir, json, NULL);
    p->monitor = g_build_filename(run_dir, mon, NULL);
    p->log = g_build_filename(log_dir, log, NULL);
    p->console_log = g_build_filename(log_dir, console, NULL);
    g_autofree char *sock = g_strconcat(name, ".console", NULL);
    p->console = g_build_filename(run_dir, sock, NULL);
    if (strlen(p->console) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
        g_clear_pointer(&p->console, g_free); /* the worker then writes the log itself */
    return p;
}

void hvd_process_paths_free(HvdProcessPaths *p)
{
    if (!p)
        return;
    g_free(p->json);
    g_free(p->monitor);
    g_free(p->log);
    g_free(p->console_log);
    g_free(p->console);
    g_free(p);
}

static void add_str(json_object *o, const char *key, const char *value)
{
    if (value)
        json_object_object_add(o, key, json_object_new_string(value));
}

/* hv's "nics" (hv/config.c): the tap and vhost fds at their numbers in
 * the worker, the guest MAC and the alias as the monitor id. */
static json_object *nics_json(const DomainDef *def, const HvdInterfaces *ifs)
{
    json_object *nics = json_object_new_array();
    for (guint i = 0; i < ifs->n; i++) {
        const DomainNet *net = g_ptr_array_index(def->nets, i);
        const HvdInterface *ifc = &ifs->ifaces[i];
        if (!ifc->tap)
            continue;  /* <interface type='hostdev'>: in "hostdevs" */
        json_object *jn = json_object_new_object();
        char mac[DOMAIN_MAC_STRING_LEN];
        domain_mac_format(net->mac, mac);
        g_autofree char *alias = domain_net_alias(def, i);
        add_str(jn, "model", ifc->model);
        add_str(jn, "id", alias);
        add_str(jn, "mac", mac);
        json_object *fds = json_object_new_array();
        for (unsigned q = 0; q < ifc->tap->n_fds; q++)
            json_object_array_add(fds, json_object_new_int(ifc->child_tap_fds[q]));
        json_object_object_add(jn, "fds", fds);
        if (ifc->child_vhost_fds) {
            json_object *vfds = json_object_new_array();
            for (unsigned q = 0; q < ifc->tap->n_fds; q++)
                json_object_array_add(vfds, json_object_new_int(ifc->child_vhost_fds[q]));
            json_object_object_add(jn, "vhostfds", vfds);
        }
        if (ifc->vhost) {
            add_str(jn, "vhost", ifc->vhost);
            json_object_object_add(jn, "queues", json_object_new_int((int)ifc->tap->n_fds));
        }
        json_object_array_add(nics, jn);
    }
    return nics;
}

/* hv's "hostdevs" (hv/vfio/config_hostdev.c): the host address and the
 * alias; hv finds the IOMMU group in sysfs and opens /dev/vfio/N itself.
 * Aliases as libvirt's: interfaces of type hostdev take the first numbers. */
static guint offset_of_net_hostdevs(const DomainDef *def)
{
    guint n = 0;
    for (guint i = 0; i < def->nets->len; i++)
        n += ((const DomainNet *)g_ptr_array_index(def->nets, i))->type == DOMAIN_NET_HOSTDEV;
    return n;
}

static json_object *hostdevs_json(const DomainDef *def)
{
    guint offset = 0;
    for (guint i = 0; i < def->nets->len; i++)
        offset += ((const DomainNet *)g_ptr_array_index(def->nets, i))->type == DOMAIN_NET_HOSTDEV;
    json_object *arr = json_object_new_array();
    /* <interface type='hostdev'> VFs first, with their hostdevN aliases. */
    for (guint i = 0; i < def->nets->len; i++) {
        const DomainNet *n = g_ptr_array_index(def->nets, i);
        if (n->type != DOMAIN_NET_HOSTDEV)
            continue;
        json_object *jh = json_object_new_object();
        g_autofree char *host = g_strdup_printf("%04x:%02x:%02x.%x", n->host_addr.domain, n->host_addr.bus,
                                                n->host_addr.slot, n->host_addr.function);
        g_autofree char *alias = domain_net_alias(def, i);
        add_str(jh, "host", host);
        add_str(jh, "id", alias);
        json_object_array_add(arr, jh);
    }
    for (guint i = 0; i < def->hostdevs->len; i++) {
        const DomainHostdev *h = g_ptr_array_index(def->hostdevs, i);
        json_object *jh = json_object_new_object();
        g_autofree char *host = g_strdup_printf("%04x:%02x:%02x.%x", h->source.domain, h->source.bus,
                                                h->source.slot, h->source.function);
        g_autofree char *alias = h->user_alias ? g_strdup(h->user_alias)
                                               : domain_hostdev_alias(offset + i);
        add_str(jh, "host", host);
        add_str(jh, "id", alias);
        json_object_array_add(arr, jh);
    }
    return arr;
}

/* The firmware boot position of disk i, the way libvirt's QEMU driver
 * gives devices their bootindex (qemuProcessPrepareDeviceBootorder): a
 * per-device <boot order='N'/> is N; otherwise the first disk of device
 * 'disk' gets the position of 'hd' in the <os><boot dev> list (1 for the
 * usual lone <boot dev='hd'/>), the first cdrom that of 'cdrom', and the
 * other disks none ('fd' picks none: hv has no floppy). */
static unsigned disk_bootindex(const DomainDef *def, guint i)
{
    const DomainDisk *d = g_ptr_array_index(def->disks, i);
    if (d->boot_order)
        return d->boot_order;
    for (guint k = 0; k < i; k++)
        if (((const DomainDisk *)g_ptr_array_index(def->disks, k))->device == d->device)
            return 0;
    const char *dev = d->device == DOMAIN_DISK_DEVICE_CDROM ? "cdrom" : "hd";
    unsigned position = 0;
    for (guint b = 0; b < def->boot_devs->len; b++)
        if (strcmp(g_ptr_array_index(def->boot_devs, b), dev) == 0)
            position = b + 1;
    return position;
}

/* One entry of hv's "disks" (hv/config.c): virtio disks as before; IDE
 * ones add "bus": "ide", "unit" (0 primary master .. 3 secondary slave)
 * and "media"; an empty cdrom has no "path". */
static json_object *disk_json(const DomainDef *def, guint i)
{
    const DomainDisk *d = g_ptr_array_index(def->disks, i);
    json_object *jd = json_object_new_object();
    g_autofree char *alias = domain_disk_alias(d);
    add_str(jd, "path", d->source);
    add_str(jd, "format", d->driver_type ? d->driver_type : "raw");
    unsigned bootindex = disk_bootindex(def, i);
    if (bootindex)
        json_object_object_add(jd, "bootindex", json_object_new_int((int)bootindex));
    json_object_object_add(jd, "readonly", json_object_new_boolean(d->readonly));
    add_str(jd, "serial", d->serial);
    add_str(jd, "id", alias);
    if (d->bus == DOMAIN_DISK_BUS_IDE) {
        add_str(jd, "bus", "ide");
        unsigned unit = d->drive.bus * DOMAIN_IDE_UNITS + d->drive.unit;
        json_object_object_add(jd, "unit", json_object_new_int((int)unit));
        add_str(jd, "media", d->device == DOMAIN_DISK_DEVICE_CDROM ? "cdrom" : "disk");
    }
    return jd;
}

char *hvd_process_machine_json(const DomainDef *def, const HvdProcessPaths *paths,
                               const HvdInterfaces *ifs, GError **err)
{
    /* Devices the worker cannot provide yet are refused rather than left
     * out: the guest would silently get less than its XML asks for. */
    if (def->nets->len > 0 && (!ifs || ifs->n != def->nets->len)) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_CONFIG_UNSUPPORTED,
                          "network interfaces of domain '%s' have no host side (taps) prepared",
                          def->name);
        return NULL;
    }

    json_object *o = json_object_new_object();
    char uuid[DOMAIN_UUID_STRING_LEN];
    domain_uuid_format(def->uuid, uuid);
    add_str(o, "name", def->name);
    add_str(o, "uuid", uuid);
    /* KiB in the model, MiB for hv: round up so the guest never gets less. */
    json_object_object_add(o, "memory_mib",
                           json_object_new_int64((int64_t)((def->memory_kib + 1023) / 1024)));
    json_object_object_add(o, "cpus", json_object_new_int((int)def->current_vcpus));
    /* <kernel>: hv boots it directly (the fast path); otherwise it boots
     * its firmware, <loader> or its default SeaBIOS, from the disks'
     * bootindex order. */
    if (def->kernel && *def->kernel) {
        add_str(o, "kernel", def->kernel);
        add_str(o, "initrd", def->initrd);
        add_str(o, "append", def->cmdline);
    } else {
        add_str(o, "firmware", def->loader);
    }
    add_str(o, "monitor", paths->monitor);
    /* The serial port is a unix socket hvd stays connected to: it tees the
     * output into the console log and serves `virsh console` from it. */
    json_object *serial = json_object_new_object();
    add_str(serial, "type", paths->console ? "unix" : "file");
    add_str(serial, "path", paths->console ? paths->console : paths->console_log);
    json_object_object_add(o, "serial", serial);
    json_object *disks = json_object_new_array();
    for (guint i = 0; i < def->disks->len; i++) {
        const DomainDisk *d = g_ptr_array_index(def->disks, i);
        if (!d->source && d->device != DOMAIN_DISK_DEVICE_CDROM) {
            hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_CONFIG_UNSUPPORTED,
                              "disk '%s' has no source: only cdroms can be empty",
                              d->target_dev);
            json_object_put(disks);
            json_object_put(o);
            return NULL;
        }
        json_object_array_add(disks, disk_json(def, i));
    }
    json_object_object_add(o, "disks", disks);
    if (def->nets->len > 0)
        json_object_object_add(o, "nics", nics_json(def, ifs));
    if (def->hostdevs->len > 0 || offset_of_net_hostdevs(def) > 0)
        json_object_object_add(o, "hostdevs", hostdevs_json(def));
    /* <memballoon model='virtio'> (libvirt's default): the worker's
     * virtio-balloon, driven by `balloon` on the monitor (virsh setmem). */
    if (def->balloon.enabled) {
        json_object *b = json_object_new_object();
        add_str(b, "id", "balloon0");
        if (def->balloon.autodeflate == DOMAIN_TRISTATE_ON)
            json_object_object_add(b, "deflate_on_oom", json_object_new_boolean(true));
        if (def->balloon.free_page_reporting == DOMAIN_TRISTATE_ON)
            json_object_object_add(b, "free_page_reporting", json_object_new_boolean(true));
        if (def->balloon.has_stats_period)
            json_object_object_add(b, "stats_period",
                                   json_object_new_int64(def->balloon.stats_period));
        json_object_object_add(o, "balloon", b);
    }
    /* on_reboot destroy: the worker exits instead of resetting (QEMU's
     * -no-reboot); the driver then reports a shutdown. */
    add_str(o, "on_reboot", def->on_reboot == DOMAIN_LIFECYCLE_DESTROY ? "exit" : "reset");
    /* Always stay (stopped) after the guest powers off, as libvirt runs
     * QEMU with -no-shutdown: the driver then resets the worker (reboot,
     * <on_poweroff> restart), keeps it (preserve) or terminates it. */
    json_object_object_add(o, "no_shutdown", json_object_new_boolean(true));
    char *text = g_strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return text;
}

void hvd_process_log_line(const char *log_path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format(now, "%Y-%m-%d %H:%M:%S.%f");
    FILE *f = fopen(log_path, "ae");
    if (!f)
        return;
    fprintf(f, "%.23s+0000: %s\n", stamp, text);
    fclose(f);
}

/* Runs in the child between fork and exec: its own session, so a Ctrl-C
 * to the daemon's terminal does not reach the guests (libvirt's QEMU
 * processes are not in the daemon's process group either). */
static void child_setup(gpointer data)
{
    (void)data;
    setsid();
}

bool hvd_process_spawn(const char *emulator, const HvdProcessPaths *paths, const char *json,
                       const HvdInterfaces *ifs, GPid *pid, GError **err)
{
    GError *local = NULL;
    if (!g_file_set_contents_full(paths->json, json, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                  &local)) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_SYSTEM_ERROR,
                          "cannot write machine description: %s", local->message);
        g_error_free(local);
        return false;
    }
    int log_fd = open(paths->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_SYSTEM_ERROR, "cannot open log file %s: %s",
                          paths->log, g_strerror(errno));
        return false;
    }
    hvd_process_log_line(paths->log, "starting up: %s --config %s", emulator, paths->json);
    const char *argv[] = { emulator, "--config", paths->json, NULL };
    /* The taps and vhost-net fds: close-on-exec in the daemon, dup2()ed by
     * GLib in the child to the numbers the description names, so only the
     * worker inherits them. */
    g_autoptr(GArray) source_fds = g_array_new(FALSE, FALSE, sizeof(int));
    g_autoptr(GArray) target_fds = g_array_new(FALSE, FALSE, sizeof(int));
    hvd_interfaces_fd_map(ifs, source_fds, target_fds);
    gboolean ok = g_spawn_async_with_pipes_and_fds(
        NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL, child_setup,
        NULL, -1, log_fd, log_fd, (const int *)(void *)source_fds->data,
        (const int *)(void *)target_fds->data, source_fds->len, pid, NULL, NULL, NULL, &local);
    close(log_fd);
    if (!ok) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_INTERNAL_ERROR,
                          "cannot start worker %s: %s", emulator, local->message);
        g_error_free(local);
        return false;
    }
    return true;
}

char *hvd_process_log_tail(const char *log_path, gsize max_bytes)
{
    g_autofree char *all = NULL;
    gsize len = 0;
    if (!g_file_get_contents(log_path, &all, &len, NULL))
        return g_strdup("");
    while (len > 0 && (all[len - 1] == '\n' || all[len - 1] == '\r'))
        all[--len] = '\0';
    gsize start = len > max_bytes ? len - max_bytes : 0;
    if (start > 0) {
        const char *nl = strchr(all + start, '\n');
        start = nl ? (gsize)(nl + 1 - all) : start;
    }
    return g_strdup(all + start);
}

uint64_t hvd_process_cpu_time_ns(GPid pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;
    if (pid <= 0 || !g_file_get_contents(path, &text, NULL, NULL))
        return 0;
    /* proc(5): the command name (field 2) is in parentheses and may hold
     * spaces, so count fields after the last ')'; utime and stime are
     * fields 14 and 15, in clock ticks. */
    const char *p = strrchr(text, ')');
    if (!p)
        return 0;
    unsigned long long utime = 0, stime = 0;
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
               &stime) != 2)
        return 0;
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        hz = 100;
    return (utime + stime) * (1000000000ull / (unsigned long long)hz);
}
