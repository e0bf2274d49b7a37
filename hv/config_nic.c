/* NICs in hv's configuration: --nic values and the JSON "nics" array
 * (see hv/machine_config.h, struct hv_nic_config). Both end in nic_finish(),
 * which checks the combination once for either form. */
#include <ctype.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errbuf.h"
#include "hv/machine_config.h"

static void set_str(char **slot, const char *value)
{
    free(*slot);
    *slot = value ? strdup(value) : NULL;
}

static void nic_clear(struct hv_nic_config *n)
{
    free(n->ifname);
    free(n->id);
    memset(n, 0, sizeof(*n));
}

void hv_config_free_nics(struct hv_config *cfg)
{
    for (unsigned i = 0; i < cfg->nnics; i++)
        nic_clear(&cfg->nics[i]);
    cfg->nnics = 0;
}

static struct hv_nic_config *nic_new(struct hv_config *cfg, char *err, size_t errlen)
{
    if (cfg->nnics >= HV_MAX_NICS) {
        errbuf_set(err, errlen, "too many NICs (at most %d)", HV_MAX_NICS);
        return NULL;
    }
    struct hv_nic_config *n = &cfg->nics[cfg->nnics];
    memset(n, 0, sizeof(*n));
    return n;
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
    if (strlen(s) != 17)
        return false;
    for (int i = 0; i < 6; i++) {
        const char *p = s + i * 3;
        if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) ||
            (i < 5 && p[2] != ':'))
            return false;
        char byte[3] = { p[0], p[1], 0 };
        mac[i] = (uint8_t)strtoul(byte, NULL, 16);
    }
    return true;
}

static bool set_mac(struct hv_nic_config *n, const char *v, char *err, size_t errlen)
{
    if (!parse_mac(v, n->mac)) {
        errbuf_set(err, errlen, "invalid NIC mac '%s' (expected xx:xx:xx:xx:xx:xx)", v);
        return false;
    }
    if (n->mac[0] & 1) {
        errbuf_set(err, errlen, "invalid NIC mac '%s': a multicast address", v);
        return false;
    }
    n->has_mac = true;
    return true;
}

static bool set_model(struct hv_nic_config *n, const char *v, char *err, size_t errlen)
{
    if (strcmp(v, "virtio") == 0 || strcmp(v, "virtio-net") == 0 ||
        strcmp(v, "virtio-net-pci") == 0)
        n->model = HV_NIC_VIRTIO;
    else if (strcmp(v, "e1000") == 0)
        n->model = HV_NIC_E1000;
    else {
        errbuf_set(err, errlen, "invalid NIC model '%s' (virtio or e1000)", v);
        return false;
    }
    n->has_model = true;
    return true;
}

static bool set_vhost(struct hv_nic_config *n, const char *v, char *err, size_t errlen)
{
    if (strcmp(v, "on") == 0)
        n->vhost = HV_NIC_VHOST_ON;
    else if (strcmp(v, "off") == 0)
        n->vhost = HV_NIC_VHOST_OFF;
    else if (strcmp(v, "auto") == 0)
        n->vhost = HV_NIC_VHOST_AUTO;
    else {
        errbuf_set(err, errlen, "invalid NIC vhost '%s' (on, off or auto)", v);
        return false;
    }
    return true;
}

static bool set_link(struct hv_nic_config *n, const char *v, char *err, size_t errlen)
{
    if (strcmp(v, "on") == 0 || strcmp(v, "up") == 0)
        n->link_down = false;
    else if (strcmp(v, "off") == 0 || strcmp(v, "down") == 0)
        n->link_down = true;
    else {
        errbuf_set(err, errlen, "invalid NIC link '%s' (on or off)", v);
        return false;
    }
    return true;
}

static bool set_queues(struct hv_nic_config *n, long q, const char *text, char *err, size_t errlen)
{
    if (q < 1 || q > HV_NIC_MAX_QUEUES) {
        errbuf_set(err, errlen, "invalid NIC queues '%s' (1..%d)", text, HV_NIC_MAX_QUEUES);
        return false;
    }
    n->queues = (unsigned)q;
    return true;
}

static bool add_fd(int *fds, unsigned *nfds, long fd, const char *what, const char *text,
                   char *err, size_t errlen)
{
    if (fd < 0 || fd > 65535) {
        errbuf_set(err, errlen, "invalid NIC %s '%s' (file descriptor numbers)", what, text);
        return false;
    }
    if (*nfds >= HV_NIC_MAX_QUEUES) {
        errbuf_set(err, errlen, "too many NIC %s in '%s' (at most %d)", what, text,
                HV_NIC_MAX_QUEUES);
        return false;
    }
    fds[(*nfds)++] = (int)fd;
    return true;
}

/* "3:4:5" */
static bool parse_fd_list(const char *v, int *fds, unsigned *nfds, const char *what, char *err,
                          size_t errlen)
{
    *nfds = 0;
    const char *p = v;
    for (;;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        char num[16];
        long fd;
        if (len == 0 || len >= sizeof(num)) {
            errbuf_set(err, errlen, "invalid NIC %s '%s' (numbers separated by ':')", what, v);
            return false;
        }
        memcpy(num, p, len);
        num[len] = 0;
        if (!hv_config_parse_count(num, 65535, &fd)) {
            errbuf_set(err, errlen, "invalid NIC %s '%s' (numbers separated by ':')", what, v);
            return false;
        }
        if (!add_fd(fds, nfds, fd, what, v, err, errlen))
            return false;
        if (!colon)
            return true;
        p = colon + 1;
    }
}

/* The combination, the same for both forms. `where` names the NIC. */
static bool nic_finish(struct hv_nic_config *n, const char *where, char *err, size_t errlen)
{
    char inner[384];
    bool ok = false;
    if (!n->has_model)
        errbuf_set(inner, sizeof(inner), "no model (virtio or e1000)");
    else if (!n->nfds && (!n->ifname || !*n->ifname))
        errbuf_set(inner, sizeof(inner), "needs ifname=TAP or fds=N[:N...]");
    else if (n->nfds && n->ifname)
        errbuf_set(inner, sizeof(inner), "ifname and fds are exclusive");
    else if (n->ifname && strlen(n->ifname) > 15)
        errbuf_set(inner, sizeof(inner), "ifname '%s' is longer than 15 characters", n->ifname);
    else if (n->model == HV_NIC_E1000 && (n->queues > 1 || n->nfds > 1))
        errbuf_set(inner, sizeof(inner), "e1000 has one queue (no queues=/several fds)");
    else if (n->model == HV_NIC_E1000 && (n->nvhostfds || n->vhost == HV_NIC_VHOST_ON))
        errbuf_set(inner, sizeof(inner), "vhost is only for model virtio");
    else if (n->nfds && n->queues && n->queues != n->nfds)
        errbuf_set(inner, sizeof(inner), "queues=%u but %u fds", n->queues, n->nfds);
    else if (n->nvhostfds && n->nvhostfds != (n->nfds ? n->nfds : (n->queues ? n->queues : 1)))
        errbuf_set(inner, sizeof(inner), "%u vhostfds for %u queue pair(s)", n->nvhostfds,
                n->nfds ? n->nfds : (n->queues ? n->queues : 1));
    else if (n->nvhostfds && n->vhost == HV_NIC_VHOST_OFF)
        errbuf_set(inner, sizeof(inner), "vhostfds with vhost=off");
    else
        ok = true;
    if (!ok)
        errbuf_set(err, errlen, "%s: %s", where, inner);
    return ok;
}

bool hv_config_add_nic_spec(struct hv_config *cfg, const char *spec, char *err, size_t errlen)
{
    struct hv_nic_config *n = nic_new(cfg, err, errlen);
    if (!n)
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
        if (!eq || !eq[1]) {
            errbuf_set(err, errlen, "invalid NIC option '%s' in '%s' (key=value)", item, spec);
            ok = false;
            break;
        }
        *eq = 0;
        const char *key = item, *val = eq + 1;
        long q;
        if (strcmp(key, "model") == 0)
            ok = set_model(n, val, err, errlen);
        else if (strcmp(key, "ifname") == 0)
            set_str(&n->ifname, val);
        else if (strcmp(key, "id") == 0)
            set_str(&n->id, val);
        else if (strcmp(key, "mac") == 0)
            ok = set_mac(n, val, err, errlen);
        else if (strcmp(key, "vhost") == 0)
            ok = set_vhost(n, val, err, errlen);
        else if (strcmp(key, "link") == 0)
            ok = set_link(n, val, err, errlen);
        else if (strcmp(key, "fds") == 0 || strcmp(key, "fd") == 0)
            ok = parse_fd_list(val, n->fds, &n->nfds, "fds", err, errlen);
        else if (strcmp(key, "vhostfds") == 0 || strcmp(key, "vhostfd") == 0)
            ok = parse_fd_list(val, n->vhostfds, &n->nvhostfds, "vhostfds", err, errlen);
        else if (strcmp(key, "queues") == 0) {
            if (!hv_config_parse_count(val, 1L << 20, &q)) {
                errbuf_set(err, errlen, "invalid NIC queues '%s' (1..%d)", val, HV_NIC_MAX_QUEUES);
                ok = false;
            } else {
                ok = set_queues(n, q, val, err, errlen);
            }
        } else {
            errbuf_set(err, errlen, "unknown NIC option '%s' in '%s' (model, ifname, fds, vhostfds, "
                    "queues, vhost, mac, id, link)", key, spec);
            ok = false;
        }
    }
    free(copy);
    char where[64];
    snprintf(where, sizeof(where), "NIC '%.40s'", spec);
    if (ok)
        ok = nic_finish(n, where, err, errlen);
    if (!ok) {
        nic_clear(n);
        return false;
    }
    cfg->nnics++;
    return true;
}

/* ---- JSON: {"model", "ifname", "fds", "vhostfds", "queues", "vhost",
 * "mac", "id", "link"} ---- */

static bool want(json_object *v, json_type t, const char *name, char *err, size_t errlen)
{
    if (json_object_get_type(v) == t)
        return true;
    errbuf_set(err, errlen, "machine description: '%s' must be %s, not %s", name,
            t == json_type_string ? "a string" : t == json_type_int ? "an integer" : "an array",
            json_type_to_name(json_object_get_type(v)));
    return false;
}

static bool json_fds(json_object *v, const char *name, int *fds, unsigned *nfds, char *err,
                     size_t errlen)
{
    if (!want(v, json_type_array, name, err, errlen))
        return false;
    *nfds = 0;
    for (size_t i = 0; i < json_object_array_length(v); i++) {
        json_object *e = json_object_array_get_idx(v, i);
        char item[80];
        snprintf(item, sizeof(item), "%s[%zu]", name, i);
        if (!want(e, json_type_int, item, err, errlen))
            return false;
        char text[32];
        snprintf(text, sizeof(text), "%lld", (long long)json_object_get_int64(e));
        if (!add_fd(fds, nfds, (long)json_object_get_int64(e), name, text, err, errlen))
            return false;
    }
    return true;
}

static bool json_nic(struct hv_config *cfg, json_object *v, size_t idx, char *err, size_t errlen)
{
    char where[32];
    snprintf(where, sizeof(where), "nics[%zu]", idx);
    if (json_object_get_type(v) != json_type_object) {
        errbuf_set(err, errlen, "machine description: '%s' must be an object, not %s", where,
                json_type_to_name(json_object_get_type(v)));
        return false;
    }
    struct hv_nic_config *n = nic_new(cfg, err, errlen);
    if (!n)
        return false;
    bool ok = true;
    char inner[384];
    json_object_object_foreach(v, key, val) {
        char name[64];
        snprintf(name, sizeof(name), "%s.%s", where, key);
        bool is_str = json_object_get_type(val) == json_type_string;
        const char *s = is_str ? json_object_get_string(val) : NULL;
        if (strcmp(key, "fds") == 0) {
            ok = json_fds(val, name, n->fds, &n->nfds, err, errlen);
        } else if (strcmp(key, "vhostfds") == 0) {
            ok = json_fds(val, name, n->vhostfds, &n->nvhostfds, err, errlen);
        } else if (strcmp(key, "queues") == 0) {
            ok = want(val, json_type_int, name, err, errlen);
            if (ok) {
                char text[32];
                snprintf(text, sizeof(text), "%lld", (long long)json_object_get_int64(val));
                int64_t q = json_object_get_int64(val);
                ok = set_queues(n, q < 0 || q > 1000 ? -1 : (long)q, text, err, errlen);
            }
        } else if (strcmp(key, "link") == 0 && json_object_get_type(val) == json_type_boolean) {
            n->link_down = !json_object_get_boolean(val);
        } else if (strcmp(key, "model") == 0 || strcmp(key, "ifname") == 0 ||
                   strcmp(key, "id") == 0 || strcmp(key, "mac") == 0 ||
                   strcmp(key, "vhost") == 0 || strcmp(key, "link") == 0) {
            ok = want(val, json_type_string, name, err, errlen);
            if (ok) {
                if (key[0] == 'm' && key[1] == 'o')
                    ok = set_model(n, s, inner, sizeof(inner));
                else if (key[0] == 'i' && key[1] == 'f')
                    set_str(&n->ifname, s);
                else if (key[0] == 'i')
                    set_str(&n->id, s);
                else if (key[0] == 'm')
                    ok = set_mac(n, s, inner, sizeof(inner));
                else if (key[0] == 'v')
                    ok = set_vhost(n, s, inner, sizeof(inner));
                else
                    ok = set_link(n, s, inner, sizeof(inner));
                if (!ok)
                    errbuf_set(err, errlen, "machine description: %s: %s", where, inner);
            }
        } else {
            errbuf_set(err, errlen, "machine description: unknown key '%s'", name);
            ok = false;
        }
        if (!ok)
            break;
    }
    if (ok) {
        char label[64];
        snprintf(label, sizeof(label), "machine description: %s", where);
        ok = nic_finish(n, label, err, errlen);
    }
    if (!ok) {
        nic_clear(n);
        return false;
    }
    cfg->nnics++;
    return true;
}

bool hv_config_json_nics(struct hv_config *cfg, json_object *v, char *err, size_t errlen)
{
    if (!want(v, json_type_array, "nics", err, errlen))
        return false;
    for (size_t i = 0; i < json_object_array_length(v); i++)
        if (!json_nic(cfg, json_object_array_get_idx(v, i), i, err, errlen))
            return false;
    return true;
}

bool hv_config_validate_nics(const struct hv_config *cfg, char *err, size_t errlen)
{
    for (unsigned i = 0; i < cfg->nnics; i++) {
        const struct hv_nic_config *n = &cfg->nics[i];
        for (unsigned j = 0; j < i; j++)
            if (n->id && cfg->nics[j].id && strcmp(n->id, cfg->nics[j].id) == 0) {
                errbuf_set(err, errlen, "duplicate NIC id '%s'", n->id);
                return false;
            }
        /* Handed-in fds must be open now (the daemon passes them). */
        const int *lists[2] = { n->fds, n->vhostfds };
        const unsigned counts[2] = { n->nfds, n->nvhostfds };
        for (int l = 0; l < 2; l++)
            for (unsigned k = 0; k < counts[l]; k++)
                if (fcntl(lists[l][k], F_GETFD) < 0) {
                    errbuf_set(err, errlen, "NIC %s: %s %d is not an open file descriptor",
                            n->id ? n->id : "(no id)", l ? "vhostfd" : "fd", lists[l][k]);
                    return false;
                }
    }
    return true;
}
