/* Assigned host devices in hv's configuration: --hostdev values and the
 * JSON "hostdevs" array (hv/machine_config.h, struct hv_hostdev_config). */
#include <ctype.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errbuf.h"
#include "hv/machine_config.h"

void hv_config_free_hostdevs(struct hv_config *cfg)
{
    for (unsigned i = 0; i < cfg->nhostdevs; i++) {
        free(cfg->hostdevs[i].id);
        cfg->hostdevs[i].id = NULL;
    }
    cfg->nhostdevs = 0;
}

/* Hex field of at most `digits` digits, value <= max. */
static bool hex_field(const char **p, unsigned digits, unsigned max, unsigned *out)
{
    unsigned v = 0, n = 0;
    while (n < digits && isxdigit((unsigned char)**p)) {
        char c = (char)tolower((unsigned char)**p);
        v = v * 16 + (unsigned)(isdigit((unsigned char)c) ? c - '0' : c - 'a' + 10);
        (*p)++;
        n++;
    }
    if (!n || v > max)
        return false;
    *out = v;
    return true;
}

/* "DDDD:BB:SS.F" or "BB:SS.F" -> canonical lower-case "dddd:bb:ss.f". */
static bool parse_host(const char *s, char out[16])
{
    unsigned dom = 0, bus, slot, fn;
    const char *p = s;
    int colons = 0;
    for (const char *q = s; *q; q++)
        colons += *q == ':';
    if (colons == 2) {
        if (!hex_field(&p, 4, 0xFFFF, &dom) || *p++ != ':')
            return false;
    } else if (colons != 1) {
        return false;
    }
    if (!hex_field(&p, 2, 0xFF, &bus) || *p++ != ':' || !hex_field(&p, 2, 0x1F, &slot) ||
        *p++ != '.' || !hex_field(&p, 1, 7, &fn) || *p)
        return false;
    snprintf(out, 16, "%04x:%02x:%02x.%x", dom, bus, slot, fn);
    return true;
}

static bool parse_int(const char *s, int *out)
{
    long v;
    if (!hv_config_parse_count(s, INT_MAX, &v))
        return false;
    *out = (int)v;
    return true;
}

static struct hv_hostdev_config *hostdev_new(struct hv_config *cfg, char *err, size_t errlen)
{
    if (cfg->nhostdevs >= HV_MAX_HOSTDEVS) {
        errbuf_set(err, errlen, "too many host devices (at most %d)", HV_MAX_HOSTDEVS);
        return NULL;
    }
    struct hv_hostdev_config *h = &cfg->hostdevs[cfg->nhostdevs];
    memset(h, 0, sizeof(*h));
    h->group = -1;
    h->groupfd = -1;
    return h;
}

static bool hostdev_finish(struct hv_config *cfg, struct hv_hostdev_config *h, const char *what,
                           char *err, size_t errlen)
{
    if (!h->host[0]) {
        errbuf_set(err, errlen, "%s: host=DDDD:BB:SS.F is required", what);
        free(h->id);
        h->id = NULL;
        return false;
    }
    cfg->nhostdevs++;
    return true;
}

bool hv_config_add_hostdev_spec(struct hv_config *cfg, const char *spec, char *err, size_t errlen)
{
    struct hv_hostdev_config *h = hostdev_new(cfg, err, errlen);
    if (!h)
        return false;
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
        if (strcmp(item, "host") == 0) {
            ok = parse_host(val, h->host);
            if (!ok)
                errbuf_set(err, errlen, "invalid hostdev address '%s' (DDDD:BB:SS.F)", val);
        } else if (strcmp(item, "group") == 0) {
            ok = parse_int(val, &h->group);
            if (!ok)
                errbuf_set(err, errlen, "invalid hostdev group '%s'", val);
        } else if (strcmp(item, "groupfd") == 0) {
            ok = parse_int(val, &h->groupfd);
            if (!ok)
                errbuf_set(err, errlen, "invalid hostdev groupfd '%s'", val);
        } else if (strcmp(item, "id") == 0 && *val) {
            free(h->id);
            h->id = strdup(val);
        } else {
            errbuf_set(err, errlen, "unknown hostdev option '%s' in '%s' (host, group, groupfd, id)", item, spec);
            ok = false;
        }
    }
    free(copy);
    if (!ok) {
        free(h->id);
        h->id = NULL;
        return false;
    }
    return hostdev_finish(cfg, h, "--hostdev", err, errlen);
}

static bool json_hostdev(struct hv_config *cfg, json_object *o, size_t idx, char *err, size_t errlen)
{
    if (!json_object_is_type(o, json_type_object)) {
        errbuf_set(err, errlen, "machine description: hostdevs[%zu] must be an object", idx);
        return false;
    }
    struct hv_hostdev_config *h = hostdev_new(cfg, err, errlen);
    if (!h)
        return false;
    bool ok = true;
    json_object_object_foreach(o, key, val) {
        if (strcmp(key, "host") == 0) {
            ok = json_object_is_type(val, json_type_string) && parse_host(json_object_get_string(val), h->host);
            if (!ok)
                errbuf_set(err, errlen, "machine description: hostdevs[%zu].host must be \"DDDD:BB:SS.F\"", idx);
        } else if (strcmp(key, "group") == 0 || strcmp(key, "groupfd") == 0) {
            int64_t v = json_object_is_type(val, json_type_int) ? json_object_get_int64(val) : -1;
            ok = v >= 0 && v <= INT_MAX;
            if (ok)
                *(key[5] ? &h->groupfd : &h->group) = (int)v;
            else
                errbuf_set(err, errlen, "machine description: hostdevs[%zu].%s must be a non-negative integer",
                       idx, key);
        } else if (strcmp(key, "id") == 0) {
            ok = json_object_is_type(val, json_type_string) && *json_object_get_string(val);
            if (ok) {
                free(h->id);
                h->id = strdup(json_object_get_string(val));
            } else {
                errbuf_set(err, errlen, "machine description: hostdevs[%zu].id must be a non-empty string", idx);
            }
        } else {
            errbuf_set(err, errlen, "machine description: unknown key 'hostdevs[%zu].%s'", idx, key);
            ok = false;
        }
        if (!ok)
            break;
    }
    if (!ok) {
        free(h->id);
        h->id = NULL;
        return false;
    }
    char what[64];
    snprintf(what, sizeof(what), "machine description: hostdevs[%zu]", idx);
    return hostdev_finish(cfg, h, what, err, errlen);
}

bool hv_config_json_hostdevs(struct hv_config *cfg, struct json_object *hostdevs, char *err, size_t errlen)
{
    if (!json_object_is_type(hostdevs, json_type_array)) {
        errbuf_set(err, errlen, "machine description: 'hostdevs' must be an array");
        return false;
    }
    for (size_t i = 0; i < json_object_array_length(hostdevs); i++)
        if (!json_hostdev(cfg, json_object_array_get_idx(hostdevs, i), i, err, errlen))
            return false;
    return true;
}

bool hv_config_validate_hostdevs(const struct hv_config *cfg, char *err, size_t errlen)
{
    for (unsigned i = 0; i < cfg->nhostdevs; i++) {
        const struct hv_hostdev_config *h = &cfg->hostdevs[i];
        for (unsigned j = 0; j < i; j++) {
            if (strcmp(h->host, cfg->hostdevs[j].host) == 0) {
                errbuf_set(err, errlen, "host device %s is assigned twice", h->host);
                return false;
            }
            if (h->id && cfg->hostdevs[j].id && strcmp(h->id, cfg->hostdevs[j].id) == 0) {
                errbuf_set(err, errlen, "duplicate hostdev id '%s'", h->id);
                return false;
            }
        }
        if (h->groupfd >= 0 && fcntl(h->groupfd, F_GETFD) < 0) {
            errbuf_set(err, errlen, "hostdev %s: groupfd %d is not an open file descriptor", h->host, h->groupfd);
            return false;
        }
    }
    return true;
}
