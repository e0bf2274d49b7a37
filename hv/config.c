/* Command line and JSON machine description -> struct hv_config.
 *
 * JSON keys (all optional, unknown keys rejected; without kernel the
 * firmware boots the disks):
 *   name, uuid, kernel, firmware, initrd, append, monitor  strings
 *   memory_mib                                        integer (MiB)
 *   cpus                                              integer
 *   hugepages, no_shutdown                            booleans
 *   on_reboot                                         "reset" | "exit"
 *   serial {"type": "stdio"|"file"|"unix"|"none", "path": ...}
 *   disks [{"path", "format": "raw"|"qcow2", "bootindex": 0..65535, "readonly",
 *           "serial", "id", "bus": "virtio"|"ide", "unit": 0..3, "media": "disk"|"cdrom"}]
 *   balloon {"id", "deflate_on_oom", "free_page_reporting", "stats_period"}
 *   nics [{"model", "ifname", "fds", "vhostfds", "queues", "vhost", "mac", "id",
 *          "link"}]                                 (hv/config_nic.c)
 *   hostdevs [{"host", "group", "groupfd", "id"}]     (hv/vfio/config_hostdev.c)
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/size.h"
#include <config.h>  /* autoconf: PACKAGE_VERSION */

#include "common/errbuf.h"
#include "hv/machine_config.h"

static void replace_str(char **slot, const char *value)
{
    free(*slot);
    *slot = value ? strdup(value) : NULL;
}

void hv_config_init(struct hv_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->memory = HV_DEFAULT_MEMORY;
    cfg->cpus = 1;
    cfg->serial.type = HV_SERIAL_STDIO;
    cfg->on_reboot = HV_ON_REBOOT_RESET;
}

void hv_config_free(struct hv_config *cfg)
{
    free(cfg->name);
    free(cfg->uuid);
    free(cfg->kernel);
    free(cfg->firmware);
    free(cfg->initrd);
    free(cfg->append);
    free(cfg->monitor);
    free(cfg->serial.path);
    free(cfg->balloon.id);
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        free(cfg->disks[i].path);
        free(cfg->disks[i].serial);
        free(cfg->disks[i].id);
    }
    hv_config_free_nics(cfg);
    hv_config_free_hostdevs(cfg);
    memset(cfg, 0, sizeof(*cfg));
}

bool hv_config_parse_count(const char *s, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || !isdigit((unsigned char)s[0]) || v > max)
        return false;
    *out = v;
    return true;
}

static bool valid_uuid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

static bool set_uuid(struct hv_config *cfg, const char *s, char *err, size_t errlen)
{
    if (!valid_uuid(s)) {
        errbuf_set(err, errlen, "invalid UUID '%s' (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", s);
        return false;
    }
    replace_str(&cfg->uuid, s);
    for (char *p = cfg->uuid; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return true;
}

static bool set_cpus(struct hv_config *cfg, long long n, const char *text, char *err, size_t errlen)
{
    if (n < 1 || n > HV_MAX_CPUS) {
        errbuf_set(err, errlen, "invalid vCPU count '%s' (1..%d)", text, HV_MAX_CPUS);
        return false;
    }
    cfg->cpus = (unsigned)n;
    return true;
}

static bool set_memory(struct hv_config *cfg, uint64_t bytes, const char *text, char *err, size_t errlen)
{
    if (bytes < HV_MIN_MEMORY) {
        errbuf_set(err, errlen, "memory size '%s' is too small (at least %llu MiB)", text,
                (unsigned long long)(HV_MIN_MEMORY >> 20));
        return false;
    }
    if (bytes > (1ULL << 46)) {
        errbuf_set(err, errlen, "memory size '%s' is too large", text);
        return false;
    }
    cfg->memory = bytes;
    return true;
}

static bool parse_bool_word(const char *v, bool *out)
{
    static const char *const yes[] = { "on", "yes", "true", "1" };
    static const char *const no[] = { "off", "no", "false", "0" };
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(v, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static bool set_on_reboot(struct hv_config *cfg, const char *v, char *err, size_t errlen)
{
    if (strcmp(v, "reset") == 0)
        cfg->on_reboot = HV_ON_REBOOT_RESET;
    else if (strcmp(v, "exit") == 0 || strcmp(v, "destroy") == 0)
        cfg->on_reboot = HV_ON_REBOOT_EXIT;
    else {
        errbuf_set(err, errlen, "invalid on_reboot '%s' (reset or exit)", v);
        return false;
    }
    return true;
}

bool hv_config_set_serial_spec(struct hv_config *cfg, const char *spec, char *err, size_t errlen)
{
    if (strcmp(spec, "stdio") == 0) {
        cfg->serial.type = HV_SERIAL_STDIO;
        replace_str(&cfg->serial.path, NULL);
    } else if (strcmp(spec, "none") == 0) {
        cfg->serial.type = HV_SERIAL_NONE;
        replace_str(&cfg->serial.path, NULL);
    } else if (strncmp(spec, "file:", 5) == 0 && spec[5]) {
        cfg->serial.type = HV_SERIAL_FILE;
        replace_str(&cfg->serial.path, spec + 5);
    } else if (strncmp(spec, "unix:", 5) == 0 && spec[5]) {
        cfg->serial.type = HV_SERIAL_UNIX;
        replace_str(&cfg->serial.path, spec + 5);
    } else {
        errbuf_set(err, errlen, "invalid serial '%s' (stdio, none, file:PATH or unix:PATH)", spec);
        return false;
    }
    return true;
}

bool hv_disk_format_parse(const char *s, enum hv_disk_format *out)
{
    if (strcmp(s, "raw") == 0)
        *out = HV_DISK_FORMAT_RAW;
    else if (strcmp(s, "qcow2") == 0)
        *out = HV_DISK_FORMAT_QCOW2;
    else
        return false;
    return true;
}

const char *hv_disk_format_name(enum hv_disk_format f)
{
    return f == HV_DISK_FORMAT_QCOW2 ? "qcow2" : "raw";
}

static bool disk_bus_parse(const char *s, enum hv_disk_bus *out)
{
    if (strcmp(s, "virtio") == 0)
        *out = HV_DISK_BUS_VIRTIO;
    else if (strcmp(s, "ide") == 0)
        *out = HV_DISK_BUS_IDE;
    else
        return false;
    return true;
}

static bool disk_media_parse(const char *s, enum hv_disk_media *out)
{
    if (strcmp(s, "disk") == 0)
        *out = HV_DISK_MEDIA_DISK;
    else if (strcmp(s, "cdrom") == 0)
        *out = HV_DISK_MEDIA_CDROM;
    else
        return false;
    return true;
}

static struct hv_disk_config *new_disk(struct hv_config *cfg, char *err, size_t errlen)
{
    if (cfg->ndisks >= HV_MAX_DISKS) {
        errbuf_set(err, errlen, "too many disks (at most %d)", HV_MAX_DISKS);
        return NULL;
    }
    struct hv_disk_config *d = &cfg->disks[cfg->ndisks];
    memset(d, 0, sizeof(*d));
    d->unit = -1;
    return d;
}

static void free_disk(struct hv_disk_config *d)
{
    free(d->path);
    free(d->serial);
    free(d->id);
    memset(d, 0, sizeof(*d));
}

/* Split "k=v,k=v" with ",," escaping a comma; calls fn per pair. */
bool hv_config_add_disk_spec(struct hv_config *cfg, const char *spec, char *err, size_t errlen)
{
    struct hv_disk_config *d = new_disk(cfg, err, errlen);
    if (!d)
        return false;
    size_t n = strlen(spec);
    char *buf = malloc(n + 1);
    if (!buf) {
        errbuf_set(err, errlen, "out of memory");
        return false;
    }
    const char *p = spec;
    bool ok = true;
    while (ok && *p) {
        size_t len = 0;
        while (*p) {
            if (*p == ',' && p[1] == ',') {
                buf[len++] = ',';
                p += 2;
            } else if (*p == ',') {
                p++;
                break;
            } else {
                buf[len++] = *p++;
            }
        }
        buf[len] = 0;
        if (len == 0)
            continue;
        char *eq = strchr(buf, '=');
        if (!eq) {
            if (d->path) {
                errbuf_set(err, errlen, "invalid disk option '%s' in '%s'", buf, spec);
                ok = false;
            } else {
                d->path = strdup(buf);  /* bare FILE */
            }
            continue;
        }
        *eq = 0;
        const char *key = buf, *val = eq + 1;
        if (strcmp(key, "path") == 0 || strcmp(key, "file") == 0) {
            replace_str(&d->path, val);
        } else if (strcmp(key, "format") == 0) {
            if (!hv_disk_format_parse(val, &d->format)) {
                errbuf_set(err, errlen, "invalid disk format '%s' in disk '%s' (raw or qcow2)", val, spec);
                ok = false;
            }
        } else if (strcmp(key, "bootindex") == 0) {
            long index;
            if (!hv_config_parse_count(val, HV_MAX_BOOTINDEX, &index)) {
                errbuf_set(err, errlen, "invalid disk bootindex '%s' in disk '%s' (0..%d)", val, spec,
                           HV_MAX_BOOTINDEX);
                ok = false;
            }
            d->bootindex = ok ? (unsigned)index : 0;
        } else if (strcmp(key, "readonly") == 0) {
            if (!parse_bool_word(val, &d->readonly)) {
                errbuf_set(err, errlen, "invalid readonly value '%s' in disk '%s' (on or off)", val, spec);
                ok = false;
            }
        } else if (strcmp(key, "serial") == 0) {
            replace_str(&d->serial, val);
        } else if (strcmp(key, "id") == 0) {
            replace_str(&d->id, val);
        } else if (strcmp(key, "bus") == 0) {
            if (!disk_bus_parse(val, &d->bus)) {
                errbuf_set(err, errlen, "invalid disk bus '%s' in disk '%s' (virtio or ide)", val, spec);
                ok = false;
            }
        } else if (strcmp(key, "unit") == 0) {
            long unit;
            if (!hv_config_parse_count(val, HV_IDE_UNITS - 1, &unit)) {
                errbuf_set(err, errlen, "invalid disk unit '%s' in disk '%s' (0..%d)", val, spec,
                           HV_IDE_UNITS - 1);
                ok = false;
            }
            d->unit = ok ? (int)unit : -1;
        } else if (strcmp(key, "media") == 0) {
            if (!disk_media_parse(val, &d->media)) {
                errbuf_set(err, errlen, "invalid disk media '%s' in disk '%s' (disk or cdrom)", val, spec);
                ok = false;
            }
        } else {
            errbuf_set(err, errlen, "unknown disk option '%s' in '%s'", key, spec);
            ok = false;
        }
    }
    free(buf);
    if (ok && (!d->path || !*d->path) && d->media != HV_DISK_MEDIA_CDROM) {
        errbuf_set(err, errlen, "disk '%s' has no path", spec);
        ok = false;
    }
    if (!ok) {
        free_disk(d);
        return false;
    }
    cfg->ndisks++;
    return true;
}

/* ---- JSON ---- */

static const char *json_type_of(json_object *o)
{
    return json_type_to_name(json_object_get_type(o));
}

static bool json_want(json_object *v, json_type t, const char *key, char *err, size_t errlen)
{
    if (json_object_get_type(v) == t)
        return true;
    errbuf_set(err, errlen, "machine description: '%s' must be %s, not %s", key,
            t == json_type_string ? "a string" : t == json_type_int ? "an integer"
            : t == json_type_boolean ? "a boolean" : t == json_type_object ? "an object" : "an array",
            json_type_of(v));
    return false;
}

static bool json_str(json_object *v, const char *key, char **slot, char *err, size_t errlen)
{
    if (json_object_get_type(v) == json_type_null) {
        replace_str(slot, NULL);
        return true;
    }
    if (!json_want(v, json_type_string, key, err, errlen))
        return false;
    replace_str(slot, json_object_get_string(v));
    return true;
}

static bool json_serial(struct hv_config *cfg, json_object *v, char *err, size_t errlen)
{
    if (!json_want(v, json_type_object, "serial", err, errlen))
        return false;
    const char *type = NULL, *path = NULL;
    json_object_object_foreach(v, key, val) {
        if (strcmp(key, "type") == 0) {
            if (!json_want(val, json_type_string, "serial.type", err, errlen))
                return false;
            type = json_object_get_string(val);
        } else if (strcmp(key, "path") == 0) {
            if (!json_want(val, json_type_string, "serial.path", err, errlen))
                return false;
            path = json_object_get_string(val);
        } else {
            errbuf_set(err, errlen, "machine description: unknown key 'serial.%s'", key);
            return false;
        }
    }
    if (!type) {
        errbuf_set(err, errlen, "machine description: 'serial.type' is missing");
        return false;
    }
    char spec[4096];
    if (strcmp(type, "file") == 0 || strcmp(type, "unix") == 0) {
        if (!path || !*path) {
            errbuf_set(err, errlen, "machine description: serial type '%s' needs 'path'", type);
            return false;
        }
        snprintf(spec, sizeof(spec), "%s:%s", type, path);
    } else {
        snprintf(spec, sizeof(spec), "%s", type);
    }
    return hv_config_set_serial_spec(cfg, spec, err, errlen);
}

/* ---- balloon (hv/virtio/balloon.h) ---- */

static bool balloon_period(const char *val, unsigned *out)
{
    long v;
    if (!hv_config_parse_count(val, 0xFFFFFFFFL, &v))
        return false;
    *out = (unsigned)v;
    return true;
}

bool hv_config_set_balloon_spec(struct hv_config *cfg, const char *spec, char *err, size_t errlen)
{
    struct hv_balloon_config *b = &cfg->balloon;
    b->enabled = true;
    if (strcmp(spec, "on") == 0 || !*spec)
        return true;
    if (strcmp(spec, "off") == 0 || strcmp(spec, "none") == 0) {
        b->enabled = false;
        return true;
    }
    char *copy = strdup(spec);
    if (!copy) {
        errbuf_set(err, errlen, "out of memory");
        return false;
    }
    bool ok = true;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); ok && item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        const char *val = eq ? eq + 1 : "";
        if (eq)
            *eq = 0;
        if (strcmp(item, "id") == 0 && *val) {
            replace_str(&b->id, val);
        } else if (strcmp(item, "deflate-on-oom") == 0) {
            ok = parse_bool_word(val, &b->deflate_on_oom);
        } else if (strcmp(item, "free-page-reporting") == 0) {
            ok = parse_bool_word(val, &b->free_page_reporting);
        } else if (strcmp(item, "stats-period") == 0) {
            ok = balloon_period(val, &b->stats_period);
        } else {
            errbuf_set(err, errlen, "unknown balloon option '%s' in '%s' (id, deflate-on-oom, "
                    "free-page-reporting, stats-period)", item, spec);
            free(copy);
            return false;
        }
        if (!ok)
            errbuf_set(err, errlen, "invalid value '%s' for balloon option '%s'", val, item);
    }
    free(copy);
    return ok;
}

static bool json_balloon(struct hv_config *cfg, json_object *v, char *err, size_t errlen)
{
    if (!json_want(v, json_type_object, "balloon", err, errlen))
        return false;
    struct hv_balloon_config *b = &cfg->balloon;
    b->enabled = true;
    json_object_object_foreach(v, key, val) {
        char name[64];
        snprintf(name, sizeof(name), "balloon.%s", key);
        bool ok = true;
        if (strcmp(key, "id") == 0) {
            ok = json_str(val, name, &b->id, err, errlen);
        } else if (strcmp(key, "deflate_on_oom") == 0 || strcmp(key, "free_page_reporting") == 0) {
            ok = json_want(val, json_type_boolean, name, err, errlen);
            if (ok)
                *(key[0] == 'd' ? &b->deflate_on_oom : &b->free_page_reporting) =
                    json_object_get_boolean(val);
        } else if (strcmp(key, "stats_period") == 0) {
            ok = json_want(val, json_type_int, name, err, errlen);
            int64_t p = ok ? json_object_get_int64(val) : 0;
            if (ok && (p < 0 || p > 0xFFFFFFFFll)) {
                errbuf_set(err, errlen, "machine description: invalid %s %lld", name, (long long)p);
                ok = false;
            }
            b->stats_period = (unsigned)p;
        } else {
            errbuf_set(err, errlen, "machine description: unknown key '%s'", name);
            ok = false;
        }
        if (!ok)
            return false;
    }
    return true;
}

static bool json_disk(struct hv_config *cfg, json_object *v, size_t idx, char *err, size_t errlen)
{
    char where[32];
    snprintf(where, sizeof(where), "disks[%zu]", idx);
    if (!json_want(v, json_type_object, where, err, errlen))
        return false;
    struct hv_disk_config *d = new_disk(cfg, err, errlen);
    if (!d)
        return false;
    bool ok = true;
    json_object_object_foreach(v, key, val) {
        char name[64];
        snprintf(name, sizeof(name), "%s.%s", where, key);
        if (strcmp(key, "path") == 0)
            ok = json_str(val, name, &d->path, err, errlen);
        else if (strcmp(key, "serial") == 0)
            ok = json_str(val, name, &d->serial, err, errlen);
        else if (strcmp(key, "id") == 0)
            ok = json_str(val, name, &d->id, err, errlen);
        else if (strcmp(key, "format") == 0) {
            ok = json_want(val, json_type_string, name, err, errlen);
            if (ok && !hv_disk_format_parse(json_object_get_string(val), &d->format)) {
                errbuf_set(err, errlen, "machine description: invalid %s '%s' (raw or qcow2)", name,
                           json_object_get_string(val));
                ok = false;
            }
        } else if (strcmp(key, "bootindex") == 0) {
            ok = json_want(val, json_type_int, name, err, errlen);
            int64_t n = ok ? json_object_get_int64(val) : 0;
            if (ok && (n < 0 || n > HV_MAX_BOOTINDEX)) {
                errbuf_set(err, errlen, "machine description: invalid %s %lld (0..%d)", name,
                           (long long)n, HV_MAX_BOOTINDEX);
                ok = false;
            }
            d->bootindex = (unsigned)n;
        } else if (strcmp(key, "readonly") == 0) {
            ok = json_want(val, json_type_boolean, name, err, errlen);
            if (ok)
                d->readonly = json_object_get_boolean(val);
        } else if (strcmp(key, "bus") == 0) {
            ok = json_want(val, json_type_string, name, err, errlen);
            if (ok && !disk_bus_parse(json_object_get_string(val), &d->bus)) {
                errbuf_set(err, errlen, "machine description: invalid %s '%s' (virtio or ide)", name,
                           json_object_get_string(val));
                ok = false;
            }
        } else if (strcmp(key, "unit") == 0) {
            ok = json_want(val, json_type_int, name, err, errlen);
            int64_t n = ok ? json_object_get_int64(val) : 0;
            if (ok && (n < 0 || n >= HV_IDE_UNITS)) {
                errbuf_set(err, errlen, "machine description: invalid %s %lld (0..%d)", name,
                           (long long)n, HV_IDE_UNITS - 1);
                ok = false;
            }
            d->unit = ok ? (int)n : -1;
        } else if (strcmp(key, "media") == 0) {
            ok = json_want(val, json_type_string, name, err, errlen);
            if (ok && !disk_media_parse(json_object_get_string(val), &d->media)) {
                errbuf_set(err, errlen, "machine description: invalid %s '%s' (disk or cdrom)", name,
                           json_object_get_string(val));
                ok = false;
            }
        } else {
            errbuf_set(err, errlen, "machine description: unknown key '%s'", name);
            ok = false;
        }
        if (!ok)
            break;
    }
    if (ok && (!d->path || !*d->path) && d->media != HV_DISK_MEDIA_CDROM) {
        errbuf_set(err, errlen, "machine description: '%s.path' is missing", where);
        ok = false;
    }
    if (!ok) {
        free_disk(d);
        return false;
    }
    cfg->ndisks++;
    return true;
}

bool hv_config_apply_json(struct hv_config *cfg, const char *text, char *err, size_t errlen)
{
    json_tokener *tok = json_tokener_new();
    if (!tok) {
        errbuf_set(err, errlen, "out of memory");
        return false;
    }
    json_object *root = json_tokener_parse_ex(tok, text, (int)strlen(text));
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t consumed = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!root || jerr != json_tokener_success) {
        errbuf_set(err, errlen, "machine description is not valid JSON: %s",
                jerr == json_tokener_continue ? "unexpected end of input" : json_tokener_error_desc(jerr));
        json_object_put(root);
        return false;
    }
    for (const char *p = text + consumed; *p; p++) {
        if (!isspace((unsigned char)*p)) {
            errbuf_set(err, errlen, "machine description: trailing data after the JSON object");
            json_object_put(root);
            return false;
        }
    }
    bool ok = json_want(root, json_type_object, "(top level)", err, errlen);
    if (ok) {
        json_object_object_foreach(root, key, val) {
            if (strcmp(key, "name") == 0)
                ok = json_str(val, key, &cfg->name, err, errlen);
            else if (strcmp(key, "uuid") == 0) {
                ok = json_want(val, json_type_string, key, err, errlen) &&
                     set_uuid(cfg, json_object_get_string(val), err, errlen);
            } else if (strcmp(key, "kernel") == 0)
                ok = json_str(val, key, &cfg->kernel, err, errlen);
            else if (strcmp(key, "firmware") == 0)
                ok = json_str(val, key, &cfg->firmware, err, errlen);
            else if (strcmp(key, "initrd") == 0)
                ok = json_str(val, key, &cfg->initrd, err, errlen);
            else if (strcmp(key, "append") == 0)
                ok = json_str(val, key, &cfg->append, err, errlen);
            else if (strcmp(key, "monitor") == 0)
                ok = json_str(val, key, &cfg->monitor, err, errlen);
            else if (strcmp(key, "memory_mib") == 0) {
                ok = json_want(val, json_type_int, key, err, errlen);
                if (ok) {
                    int64_t mib = json_object_get_int64(val);
                    char text_mib[32];
                    snprintf(text_mib, sizeof(text_mib), "%lldM", (long long)mib);
                    if (mib <= 0 || mib > (1LL << 26)) {
                        errbuf_set(err, errlen, "machine description: invalid memory_mib %lld", (long long)mib);
                        ok = false;
                    } else {
                        ok = set_memory(cfg, (uint64_t)mib << 20, text_mib, err, errlen);
                    }
                }
            } else if (strcmp(key, "cpus") == 0) {
                ok = json_want(val, json_type_int, key, err, errlen);
                if (ok) {
                    char t[32];
                    snprintf(t, sizeof(t), "%lld", (long long)json_object_get_int64(val));
                    ok = set_cpus(cfg, json_object_get_int64(val), t, err, errlen);
                }
            } else if (strcmp(key, "hugepages") == 0) {
                ok = json_want(val, json_type_boolean, key, err, errlen);
                if (ok)
                    cfg->hugepages = json_object_get_boolean(val);
            } else if (strcmp(key, "no_shutdown") == 0) {
                ok = json_want(val, json_type_boolean, key, err, errlen);
                if (ok)
                    cfg->no_shutdown = json_object_get_boolean(val);
            } else if (strcmp(key, "on_reboot") == 0) {
                ok = json_want(val, json_type_string, key, err, errlen) &&
                     set_on_reboot(cfg, json_object_get_string(val), err, errlen);
            } else if (strcmp(key, "serial") == 0) {
                ok = json_serial(cfg, val, err, errlen);
            } else if (strcmp(key, "balloon") == 0) {
                ok = json_balloon(cfg, val, err, errlen);
            } else if (strcmp(key, "nics") == 0) {
                ok = hv_config_json_nics(cfg, val, err, errlen);
            } else if (strcmp(key, "hostdevs") == 0) {
                ok = hv_config_json_hostdevs(cfg, val, err, errlen);
            } else if (strcmp(key, "disks") == 0) {
                ok = json_want(val, json_type_array, key, err, errlen);
                for (size_t i = 0; ok && i < json_object_array_length(val); i++)
                    ok = json_disk(cfg, json_object_array_get_idx(val, i), i, err, errlen);
            } else {
                errbuf_set(err, errlen, "machine description: unknown key '%s'", key);
                ok = false;
            }
            if (!ok)
                break;
        }
    }
    json_object_put(root);
    return ok;
}

bool hv_config_load_file(struct hv_config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        errbuf_set(err, errlen, "cannot open machine description %s: %m", path);
        return false;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (len + 1 >= cap) {
            if (cap >= (16u << 20)) {
                errbuf_set(err, errlen, "machine description %s is too large", path);
                free(buf);
                fclose(f);
                return false;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        if (n == 0)
            break;
        len += n;
    }
    fclose(f);
    if (!buf) {
        errbuf_set(err, errlen, "out of memory reading %s", path);
        return false;
    }
    buf[len] = 0;
    if (strlen(buf) != len) {
        errbuf_set(err, errlen, "machine description %s contains a NUL byte", path);
        free(buf);
        return false;
    }
    char inner[512];
    bool ok = hv_config_apply_json(cfg, buf, inner, sizeof(inner));
    if (!ok)
        errbuf_set(err, errlen, "%s: %s", path, inner);
    free(buf);
    return ok;
}

const char *hv_config_firmware(const struct hv_config *cfg)
{
    if (cfg->kernel)
        return NULL;
    return cfg->firmware ? cfg->firmware : HV_DEFAULT_FIRMWARE;
}

bool hv_config_validate(const struct hv_config *cfg, char *err, size_t errlen)
{
    if (cfg->kernel && cfg->firmware) {
        errbuf_set(err, errlen, "--firmware %s and --kernel %s exclude each other (direct kernel boot runs "
                   "no firmware)", cfg->firmware, cfg->kernel);
        return false;
    }
    if (cfg->kernel && !*cfg->kernel) {
        errbuf_set(err, errlen, "empty kernel file name");
        return false;
    }
    if (cfg->kernel && access(cfg->kernel, R_OK) < 0) {
        errbuf_set(err, errlen, "cannot read kernel %s: %m", cfg->kernel);
        return false;
    }
    const char *firmware = hv_config_firmware(cfg);
    if (firmware && (!*firmware || access(firmware, R_OK) < 0)) {
        errbuf_set(err, errlen, "cannot read firmware %s: %s%s", firmware, *firmware ? strerror(errno) : "empty name",
                   cfg->firmware ? "" : " (install the seabios package, or give --firmware FILE or --kernel FILE)");
        return false;
    }
    if (!cfg->kernel && (cfg->initrd || cfg->append)) {
        errbuf_set(err, errlen, "--%s needs --kernel (firmware boot loads the disk's own bootloader)",
                   cfg->initrd ? "initrd" : "append");
        return false;
    }
    if (cfg->initrd && access(cfg->initrd, R_OK) < 0) {
        errbuf_set(err, errlen, "cannot read initrd %s: %m", cfg->initrd);
        return false;
    }
    if (cfg->append && strlen(cfg->append) > 2047) {
        errbuf_set(err, errlen, "kernel command line is longer than 2047 bytes");
        return false;
    }
    if (cfg->cpus < 1 || cfg->cpus > HV_MAX_CPUS) {
        errbuf_set(err, errlen, "invalid vCPU count %u (1..%d)", cfg->cpus, HV_MAX_CPUS);
        return false;
    }
    if (cfg->memory < HV_MIN_MEMORY) {
        errbuf_set(err, errlen, "memory size too small (at least %llu MiB)",
                (unsigned long long)(HV_MIN_MEMORY >> 20));
        return false;
    }
    unsigned nide = 0;
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        const struct hv_disk_config *d = &cfg->disks[i];
        if (d->bus == HV_DISK_BUS_IDE && ++nide > HV_IDE_UNITS) {
            errbuf_set(err, errlen, "too many IDE disks (at most %d)", HV_IDE_UNITS);
            return false;
        }
        if (d->bus != HV_DISK_BUS_IDE && (d->unit >= 0 || d->media == HV_DISK_MEDIA_CDROM)) {
            errbuf_set(err, errlen, "disk %s: unit and media=cdrom need bus=ide",
                       d->path ? d->path : "(no path)");
            return false;
        }
        if (d->media == HV_DISK_MEDIA_CDROM && d->format != HV_DISK_FORMAT_RAW) {
            errbuf_set(err, errlen, "cdrom %s: only raw (ISO) images", d->path ? d->path : "");
            return false;
        }
    }
    for (unsigned i = 0; i < cfg->ndisks; i++)
        for (unsigned j = 0; j < i; j++)
        {
            if (cfg->disks[i].bus == HV_DISK_BUS_IDE && cfg->disks[i].unit >= 0 &&
                cfg->disks[j].bus == HV_DISK_BUS_IDE && cfg->disks[i].unit == cfg->disks[j].unit) {
                errbuf_set(err, errlen, "two IDE disks on unit %d", cfg->disks[i].unit);
                return false;
            }
            if (cfg->disks[i].id && cfg->disks[j].id && strcmp(cfg->disks[i].id, cfg->disks[j].id) == 0) {
                errbuf_set(err, errlen, "duplicate disk id '%s'", cfg->disks[i].id);
                return false;
            }
            /* One device per boot position, as QEMU's bootindex requires. */
            if (cfg->disks[i].bootindex && cfg->disks[i].bootindex == cfg->disks[j].bootindex) {
                errbuf_set(err, errlen, "disks %s and %s have the same bootindex %u",
                           cfg->disks[j].path ? cfg->disks[j].path : "(empty cdrom)",
                           cfg->disks[i].path ? cfg->disks[i].path : "(empty cdrom)", cfg->disks[i].bootindex);
                return false;
            }
        }
    return hv_config_validate_nics(cfg, err, errlen) && hv_config_validate_hostdevs(cfg, err, errlen);
}

void hv_config_usage(FILE *out)
{
    fputs("Usage: hv [OPTIONS]\n"
          "Run one KVM virtual machine (hvd's hypervisor worker).\n"
          "\n"
          "  --kernel FILE          bzImage to boot directly (the fast path)\n"
          "  --firmware FILE        BIOS image to boot the disks with when there is no --kernel\n"
          "                         (default " HV_DEFAULT_FIRMWARE ")\n"
          "  --initrd FILE          initial ramdisk\n"
          "  --append CMDLINE       kernel command line\n"
          "  --memory SIZE          guest RAM, e.g. 512M, 2G (default 512M; bare number = MiB)\n"
          "  --cpus N               vCPUs (default 1)\n"
          "  --disk path=FILE[,format=raw|qcow2][,bootindex=N][,readonly=on][,serial=STR][,id=ID]\n"
          "        [,bus=virtio|ide][,unit=0..3][,media=disk|cdrom]\n"
          "                         disk (repeatable; format default raw): virtio-blk, or on the\n"
          "                         PIIX3 IDE controller with bus=ide (unit 0/1 primary master/slave,\n"
          "                         2/3 secondary; default the first free); media=cdrom is a read-only\n"
          "                         ATAPI drive, its tray empty without path\n"
          "  --serial stdio|none|file:PATH|unix:PATH                COM1 console (default stdio)\n"
          "  --nic model=e1000|virtio,(ifname=TAP|fds=N[:N...])[,vhostfds=N[:N...]][,queues=N]\n"
          "        [,vhost=on|off|auto][,mac=MAC][,id=ID][,link=on|off]\n"
          "                         NIC on a tap opened by name or handed in as fds (repeatable)\n"
          "  --hostdev host=DDDD:BB:SS.F[,group=N][,groupfd=N][,id=ID]\n"
          "                         assign a host PCI function bound to vfio-pci (repeatable)\n"
          "  --monitor PATH         QMP monitor on a unix socket\n"
          "  --balloon on|[id=ID][,deflate-on-oom=on][,free-page-reporting=on][,stats-period=SECS]\n"
          "                         virtio-balloon device\n"
          "  --name NAME            VM name (query-name)\n"
          "  --uuid UUID            VM UUID (query-uuid)\n"
          "  --hugepages            back guest RAM with hugepages\n"
          "  --on-reboot reset|exit on guest reboot: reset the VM (default) or exit with status 0\n"
          "  --no-shutdown          on guest poweroff, stay paused instead of exiting\n"
          "  --config FILE          JSON machine description (same keys; later options override)\n"
          "  --debug                verbose logging\n"
          "  --help, --version\n"
          "\n"
          "Exit status: 0 guest powered off, quit, signal, or reboot with --on-reboot exit;\n"
          "1 bad configuration or setup failure; 3 fatal KVM error (internal error, entry failure).\n",
          out);
}

enum {
    OPT_KERNEL = 256, OPT_INITRD, OPT_APPEND, OPT_MEMORY, OPT_CPUS, OPT_DISK, OPT_SERIAL,
    OPT_MONITOR, OPT_NAME, OPT_UUID, OPT_HUGEPAGES, OPT_ON_REBOOT, OPT_NO_SHUTDOWN, OPT_CONFIG,
    OPT_HELP, OPT_VERSION, OPT_DEBUG, OPT_BALLOON, OPT_NIC, OPT_HOSTDEV, OPT_FIRMWARE,
};

enum hv_args_result hv_config_parse_args(struct hv_config *cfg, int argc, char **argv,
                                         char *err, size_t errlen)
{
    static const struct option opts[] = {
        { "kernel", required_argument, NULL, OPT_KERNEL },
        { "firmware", required_argument, NULL, OPT_FIRMWARE },
        { "initrd", required_argument, NULL, OPT_INITRD },
        { "append", required_argument, NULL, OPT_APPEND },
        { "memory", required_argument, NULL, OPT_MEMORY },
        { "cpus", required_argument, NULL, OPT_CPUS },
        { "disk", required_argument, NULL, OPT_DISK },
        { "serial", required_argument, NULL, OPT_SERIAL },
        { "monitor", required_argument, NULL, OPT_MONITOR },
        { "name", required_argument, NULL, OPT_NAME },
        { "uuid", required_argument, NULL, OPT_UUID },
        { "hugepages", no_argument, NULL, OPT_HUGEPAGES },
        { "on-reboot", required_argument, NULL, OPT_ON_REBOOT },
        { "no-shutdown", no_argument, NULL, OPT_NO_SHUTDOWN },
        { "config", required_argument, NULL, OPT_CONFIG },
        { "debug", no_argument, NULL, OPT_DEBUG },
        { "balloon", required_argument, NULL, OPT_BALLOON },
        { "nic", required_argument, NULL, OPT_NIC },
        { "hostdev", required_argument, NULL, OPT_HOSTDEV },
        { "help", no_argument, NULL, OPT_HELP },
        { "version", no_argument, NULL, OPT_VERSION },
        { NULL, 0, NULL, 0 },
    };
    opterr = 0;  /* we print one line ourselves */
    optind = 1;
    for (;;) {
        int prev = optind;
        int c = getopt_long(argc, argv, ":", opts, NULL);
        if (c == -1)
            break;
        const char *arg = optarg;
        char *end = NULL;
        switch (c) {
        case OPT_KERNEL: replace_str(&cfg->kernel, arg); break;
        case OPT_FIRMWARE: replace_str(&cfg->firmware, arg); break;
        case OPT_INITRD: replace_str(&cfg->initrd, arg); break;
        case OPT_APPEND: replace_str(&cfg->append, arg); break;
        case OPT_MONITOR: replace_str(&cfg->monitor, arg); break;
        case OPT_NAME: replace_str(&cfg->name, arg); break;
        case OPT_HUGEPAGES: cfg->hugepages = true; break;
        case OPT_NO_SHUTDOWN: cfg->no_shutdown = true; break;
        case OPT_DEBUG: cfg->debug = true; break;
        case OPT_UUID:
            if (!set_uuid(cfg, arg, err, errlen))
                return HV_ARGS_ERROR;
            break;
        case OPT_MEMORY: {
            uint64_t bytes;
            if (!size_parse(arg, 1ULL << 20, &bytes)) {
                errbuf_set(err, errlen, "invalid memory size '%s' (e.g. 512M, 2G)", arg);
                return HV_ARGS_ERROR;
            }
            if (!set_memory(cfg, bytes, arg, err, errlen))
                return HV_ARGS_ERROR;
            break;
        }
        case OPT_CPUS: {
            long long n = strtoll(arg, &end, 10);
            if (!*arg || *end || !isdigit((unsigned char)arg[0])) {
                errbuf_set(err, errlen, "invalid vCPU count '%s'", arg);
                return HV_ARGS_ERROR;
            }
            if (!set_cpus(cfg, n, arg, err, errlen))
                return HV_ARGS_ERROR;
            break;
        }
        case OPT_DISK:
            if (!hv_config_add_disk_spec(cfg, arg, err, errlen))
                return HV_ARGS_ERROR;
            break;
        case OPT_SERIAL:
            if (!hv_config_set_serial_spec(cfg, arg, err, errlen))
                return HV_ARGS_ERROR;
            break;
        case OPT_ON_REBOOT:
            if (!set_on_reboot(cfg, arg, err, errlen))
                return HV_ARGS_ERROR;
            break;
        case OPT_BALLOON:
            if (!hv_config_set_balloon_spec(cfg, arg, err, errlen))
                return HV_ARGS_ERROR;
            break;
        case OPT_NIC:
            if (!hv_config_add_nic_spec(cfg, arg, err, errlen))
                return HV_ARGS_ERROR;
            break;
        case OPT_HOSTDEV:
            if (!hv_config_add_hostdev_spec(cfg, arg, err, errlen))
                return HV_ARGS_ERROR;
            break;
        case OPT_CONFIG:
            if (!hv_config_load_file(cfg, arg, err, errlen))
                return HV_ARGS_ERROR;
            break;
        case OPT_HELP:
            hv_config_usage(stdout);
            return HV_ARGS_EXIT;
        case OPT_VERSION:
            printf("hv (hvd) %s\n", PACKAGE_VERSION);
            return HV_ARGS_EXIT;
        case ':':
            errbuf_set(err, errlen, "option '%s' needs a value", argv[prev]);
            return HV_ARGS_ERROR;
        default:
            errbuf_set(err, errlen, "unknown option '%s' (see hv --help)", argv[prev]);
            return HV_ARGS_ERROR;
        }
    }
    if (optind < argc) {
        errbuf_set(err, errlen, "unexpected argument '%s' (see hv --help)", argv[optind]);
        return HV_ARGS_ERROR;
    }
    return HV_ARGS_OK;
}
