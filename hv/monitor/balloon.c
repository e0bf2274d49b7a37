/* The balloon's monitor commands (hv/monitor/devices.h): the machine's one
 * virtio-balloon, found when a command runs; QEMU 7.2 shapes (qmp.md
 * "balloon", "query-balloon", qom-get / qom-set, BALLOON_CHANGE). */
#include "hv/monitor/devices.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "hv/device.h"
#include "hv/machine.h"
#include "hv/monitor/command.h"
#include "hv/monitor/monitor.h"
#include "hv/virtio/balloon.h"

struct balloon_monitor {
    struct monitor *mon;
    struct machine *machine;
};

static struct virtio_balloon *the_balloon(void *opaque)
{
    struct balloon_monitor *bm = opaque;
    struct device *d = machine_next(bm->machine, DEVICE_VIRTIO_BALLOON, NULL);
    return d ? d->model : NULL;
}

static void emit_change(void *opaque, uint64_t actual_bytes)
{
    struct balloon_monitor *bm = opaque;
    char data[64];
    snprintf(data, sizeof(data), "{\"actual\": %" PRIu64 "}", actual_bytes);
    monitor_emit_event(bm->mon, "BALLOON_CHANGE", data);
}

#define NO_BALLOON "No balloon device has been activated"

static const char *const stat_names[VIRTIO_BALLOON_S_NR] = {
    "stat-swap-in",      "stat-swap-out",         "stat-major-faults", "stat-minor-faults",
    "stat-free-memory",  "stat-total-memory",     "stat-available-memory",
    "stat-disk-caches",  "stat-htlb-pgalloc",     "stat-htlb-pgfail",
};

static const struct monitor_arg balloon_args[] = {
    { "value", MONITOR_ARG_INT, false },
    { NULL, 0, false },
};

static struct json_object *qmp_balloon(void *opaque, struct json_object *args,
                                       struct monitor_error *err)
{
    struct virtio_balloon *b = the_balloon(opaque);
    if (!b)
        return monitor_error_set(err, MONITOR_ERR_DEVICE_NOT_ACTIVE, NO_BALLOON);
    struct json_object *v = json_object_object_get(args, "value");
    int64_t value = json_object_get_int64(v);
    char why[256];
    if (virtio_balloon_set_target(b, value, why, sizeof(why)) < 0)
        return monitor_error_set(err, MONITOR_ERR_GENERIC, "%s", why);
    return json_object_new_object();
}

static struct json_object *qmp_query_balloon(void *opaque, struct json_object *args,
                                             struct monitor_error *err)
{
    (void)args;
    struct virtio_balloon *b = the_balloon(opaque);
    if (!b)
        return monitor_error_set(err, MONITOR_ERR_DEVICE_NOT_ACTIVE, NO_BALLOON);
    struct virtio_balloon_info info;
    virtio_balloon_info(b, &info);
    struct json_object *ret = json_object_new_object();
    json_object_object_add(ret, "actual", json_object_new_int64((int64_t)info.actual));
    return ret;
}

static bool path_is_balloon(const struct virtio_balloon *b, const char *path)
{
    if (!b)
        return false;
    struct virtio_balloon_info info;
    virtio_balloon_info(b, &info);
    /* The full QOM path, or the bare id (QOM accepts unambiguous partial paths). */
    return strcmp(path, info.qom_path) == 0 || strcmp(path, info.id) == 0;
}

static const struct monitor_arg qom_get_args[] = {
    { "path", MONITOR_ARG_STRING, false },
    { "property", MONITOR_ARG_STRING, false },
    { NULL, 0, false },
};

static struct json_object *qmp_qom_get(void *opaque, struct json_object *args,
                                       struct monitor_error *err)
{
    struct virtio_balloon *b = the_balloon(opaque);
    const char *path = json_object_get_string(json_object_object_get(args, "path"));
    const char *prop = json_object_get_string(json_object_object_get(args, "property"));
    if (!path_is_balloon(b, path))
        return monitor_error_set(err, MONITOR_ERR_DEVICE_NOT_FOUND, "Device '%s' not found", path);
    struct virtio_balloon_info info;
    virtio_balloon_info(b, &info);
    if (strcmp(prop, "guest-stats-polling-interval") == 0)
        return json_object_new_int64(info.stats_period_s);
    if (strcmp(prop, "guest-stats") != 0)
        return monitor_error_set(err, MONITOR_ERR_GENERIC,
                                 "Property 'virtio-balloon-pci.%s' not found", prop);
    struct json_object *stats = json_object_new_object();
    for (unsigned i = 0; i < VIRTIO_BALLOON_S_NR; i++)
        json_object_object_add(stats, stat_names[i], json_object_new_uint64(info.stats[i]));
    struct json_object *ret = json_object_new_object();
    json_object_object_add(ret, "stats", stats);
    json_object_object_add(ret, "last-update", json_object_new_int64(info.last_update));
    return ret;
}

static const struct monitor_arg qom_set_args[] = {
    { "path", MONITOR_ARG_STRING, false },
    { "property", MONITOR_ARG_STRING, false },
    { "value", MONITOR_ARG_ANY, false },
    { NULL, 0, false },
};

static struct json_object *qmp_qom_set(void *opaque, struct json_object *args,
                                       struct monitor_error *err)
{
    struct virtio_balloon *b = the_balloon(opaque);
    const char *path = json_object_get_string(json_object_object_get(args, "path"));
    const char *prop = json_object_get_string(json_object_object_get(args, "property"));
    struct json_object *value = json_object_object_get(args, "value");
    if (!path_is_balloon(b, path))
        return monitor_error_set(err, MONITOR_ERR_DEVICE_NOT_FOUND, "Device '%s' not found", path);
    if (strcmp(prop, "guest-stats") == 0)
        return monitor_error_set(err, MONITOR_ERR_GENERIC,
                                 "Property 'virtio-balloon-pci.guest-stats' is read-only");
    if (strcmp(prop, "guest-stats-polling-interval") != 0)
        return monitor_error_set(err, MONITOR_ERR_GENERIC,
                                 "Property 'virtio-balloon-pci.%s' not found", prop);
    if (!json_object_is_type(value, json_type_int))
        return monitor_error_set(err, MONITOR_ERR_GENERIC,
                                 "Invalid parameter type for 'value', expected: integer");
    int64_t v = json_object_get_int64(value);
    /* QEMU's texts for the polling interval's range. */
    if (v < 0)
        return monitor_error_set(err, MONITOR_ERR_GENERIC, "timer value must be greater than zero");
    if (v > UINT32_MAX || (v == INT64_MAX && json_object_get_uint64(value) > INT64_MAX))
        return monitor_error_set(err, MONITOR_ERR_GENERIC, "timer value is too big");
    virtio_balloon_set_stats_period(b, (unsigned)v);
    return json_object_new_object();
}

static void hmp_info_balloon(void *opaque, const char *args, struct monitor_text *out)
{
    (void)args;
    struct virtio_balloon *b = the_balloon(opaque);
    if (!b) {
        monitor_text_printf(out, "Error: " NO_BALLOON "\n");
        return;
    }
    struct virtio_balloon_info info;
    virtio_balloon_info(b, &info);
    monitor_text_printf(out, "balloon: actual=%" PRIu64 "\n", info.actual >> 20);
}

/* HMP sizes: a plain number is MiB; k/M/G/T suffixes (QEMU's size syntax). */
static bool parse_hmp_size(const char *s, int64_t *bytes)
{
    char *end;
    errno = 0;
    if (*s == '-' || !*s)
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return false;
    unsigned shift = 20;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    case 'b': case 'B': shift = 0; end++; break;
    default: break;
    }
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end || v > (unsigned long long)(INT64_MAX >> shift))
        return false;
    *bytes = (int64_t)(v << shift);
    return true;
}

static void hmp_balloon(void *opaque, const char *args, struct monitor_text *out)
{
    struct virtio_balloon *b = the_balloon(opaque);
    int64_t bytes;
    if (!*args) {
        monitor_text_printf(out, "Parameter 'value' is missing\n");
        return;
    }
    if (!parse_hmp_size(args, &bytes)) {
        monitor_text_printf(out, "balloon: invalid size '%s' (MiB, or a number with k/M/G/T)\n",
                            args);
        return;
    }
    if (!b) {
        monitor_text_printf(out, "Error: " NO_BALLOON "\n");
        return;
    }
    char why[256];
    if (virtio_balloon_set_target(b, bytes, why, sizeof(why)) < 0)
        monitor_text_printf(out, "Error: %s\n", why);
}

int monitor_balloon_register(struct monitor *mon, struct machine *m)
{
    struct balloon_monitor *bm = calloc(1, sizeof(*bm));
    if (!bm)
        return -ENOMEM;
    /* bm lives as long as the worker, like the monitor it serves. */
    *bm = (struct balloon_monitor){ .mon = mon, .machine = m };
    struct virtio_balloon *b = the_balloon(bm);
    if (b)
        virtio_balloon_set_change_notifier(b, emit_change, bm);
    int r = 0;
    r |= monitor_register_command(mon, "balloon", balloon_args, qmp_balloon, bm);
    r |= monitor_register_command(mon, "query-balloon", NULL, qmp_query_balloon, bm);
    r |= monitor_register_command(mon, "qom-get", qom_get_args, qmp_qom_get, bm);
    r |= monitor_register_command(mon, "qom-set", qom_set_args, qmp_qom_set, bm);
    r |= monitor_register_hmp(mon, "info balloon", "", "show balloon information",
                              hmp_info_balloon, bm);
    r |= monitor_register_hmp(mon, "balloon", "target",
                              "request VM to change its memory allocation (in MB)", hmp_balloon, bm);
    return r ? -ENOMEM : 0;
}
