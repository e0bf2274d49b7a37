/* The removable media family's monitor commands (hv/monitor/devices.h):
 * QMP eject, blockdev-open-tray, blockdev-close-tray and
 * blockdev-change-medium in QEMU 7.2's shapes (its qapi/block.json), and
 * the DEVICE_TRAY_MOVED event, for the machine's IDE drives. A drive is
 * named by its qdev id ("id", e.g. ide0-1-0) or by its block backend
 * name ("device", libvirt's drive-ide0-1-0). */
#include "hv/monitor/devices.h"

#include <errno.h>
#include <string.h>

#include "hv/device.h"
#include "hv/devices/ide.h"
#include "hv/machine.h"
#include "hv/monitor/command.h"
#include "hv/monitor/monitor.h"

static const struct monitor_arg tray_args[] = {
    { "device", MONITOR_ARG_STRING, true },
    { "id", MONITOR_ARG_STRING, true },
    { "force", MONITOR_ARG_BOOL, true },
    { NULL, 0, false },
};

static const struct monitor_arg close_args[] = {
    { "device", MONITOR_ARG_STRING, true },
    { "id", MONITOR_ARG_STRING, true },
    { NULL, 0, false },
};

static const struct monitor_arg change_args[] = {
    { "device", MONITOR_ARG_STRING, true },
    { "id", MONITOR_ARG_STRING, true },
    { "filename", MONITOR_ARG_STRING, false },
    { "format", MONITOR_ARG_STRING, true },
    { "read-only-mode", MONITOR_ARG_STRING, true },
    { "force", MONITOR_ARG_BOOL, true },
    { NULL, 0, false },
};

static const char *arg_str(json_object *args, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(args, key, &v) ? json_object_get_string(v) : NULL;
}

static bool arg_bool(json_object *args, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(args, key, &v) && json_object_get_boolean(v);
}

/* The drive named by "device" or "id" (exactly one), or NULL after an error. */
static struct device *drive(struct machine *m, json_object *args, struct monitor_error *err)
{
    const char *device = arg_str(args, "device"), *id = arg_str(args, "id");
    if (!device == !id) {
        monitor_error_set(err, MONITOR_ERR_GENERIC, "Need exactly one of 'device' and 'id'");
        return NULL;
    }
    struct device *d = machine_find(m, id ? id : device);
    if ((!d || d->kind != DEVICE_IDE_DRIVE) && device && strncmp(device, "drive-", 6) == 0)
        d = machine_find(m, device + 6);
    if (!d || d->kind != DEVICE_IDE_DRIVE) {
        monitor_error_set(err, MONITOR_ERR_DEVICE_NOT_FOUND, "Device '%s' not found", id ? id : device);
        return NULL;
    }
    return d;
}

static json_object *done(bool ok, const char *msg, struct monitor_error *err)
{
    if (!ok)
        return monitor_error_set(err, MONITOR_ERR_GENERIC, "%s", msg);
    return json_object_new_object();
}

static json_object *qmp_eject(void *opaque, json_object *args, struct monitor_error *err)
{
    struct device *d = drive(opaque, args, err);
    if (!d)
        return NULL;
    char msg[256];
    return done(ide_change_medium(d->model, d->id, NULL, arg_bool(args, "force"), msg, sizeof(msg)), msg, err);
}

static json_object *qmp_open_tray(void *opaque, json_object *args, struct monitor_error *err)
{
    struct device *d = drive(opaque, args, err);
    if (!d)
        return NULL;
    char msg[256];
    /* A locked tray without force: the guest gets an eject request and the
     * command succeeds with the tray still closed (QEMU 7.2's semantics). */
    bool ok = ide_set_tray(d->model, d->id, true, arg_bool(args, "force"), msg, sizeof(msg));
    if (!ok && strstr(msg, "is locked"))
        ok = true;
    return done(ok, msg, err);
}

static json_object *qmp_close_tray(void *opaque, json_object *args, struct monitor_error *err)
{
    struct device *d = drive(opaque, args, err);
    if (!d)
        return NULL;
    char msg[256];
    return done(ide_set_tray(d->model, d->id, false, true, msg, sizeof(msg)), msg, err);
}

static json_object *qmp_change_medium(void *opaque, json_object *args, struct monitor_error *err)
{
    struct device *d = drive(opaque, args, err);
    if (!d)
        return NULL;
    const char *format = arg_str(args, "format"), *mode = arg_str(args, "read-only-mode");
    if (format && strcmp(format, "raw") != 0)
        return monitor_error_set(err, MONITOR_ERR_GENERIC, "hv's cdroms take raw images only, not '%s'", format);
    if (mode && strcmp(mode, "retain") != 0 && strcmp(mode, "read-only") != 0)
        return monitor_error_set(err, MONITOR_ERR_GENERIC, "a cdrom is read-only (read-only-mode '%s')", mode);
    char msg[256];
    return done(ide_change_medium(d->model, d->id, arg_str(args, "filename"), arg_bool(args, "force"), msg,
                                  sizeof(msg)), msg, err);
}

/* DEVICE_TRAY_MOVED as QEMU 7.2 sends it for a -blockdev drive: "device"
 * is the (anonymous) block backend's empty name, "id" the qdev id. */
static void tray_moved(void *opaque, const char *id, bool open)
{
    json_object *data = json_object_new_object();
    json_object_object_add(data, "device", json_object_new_string(""));
    json_object_object_add(data, "id", json_object_new_string(id));
    json_object_object_add(data, "tray-open", json_object_new_boolean(open));
    monitor_emit_event(opaque, "DEVICE_TRAY_MOVED", json_object_to_json_string(data));
    json_object_put(data);
}

int monitor_media_register(struct monitor *mon, struct machine *m)
{
    struct device *ide = machine_next(m, DEVICE_IDE, NULL);
    if (ide)
        ide_set_tray_listener(ide->model, tray_moved, mon);
    int r = 0;
    r |= monitor_register_command(mon, "eject", tray_args, qmp_eject, m);
    r |= monitor_register_command(mon, "blockdev-open-tray", tray_args, qmp_open_tray, m);
    r |= monitor_register_command(mon, "blockdev-close-tray", close_args, qmp_close_tray, m);
    r |= monitor_register_command(mon, "blockdev-change-medium", change_args, qmp_change_medium, m);
    return r ? -ENOMEM : 0;
}
