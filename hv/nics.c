/* NIC creation from the config and the NIC monitor commands: see nics.h.
 * Reply shapes: ../shared/ref/qmp.md (set_link, query-rx-filter,
 * human-monitor-command "info network"). */
#include "hv/nics.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "hv/config.h"
#include "hv/loop.h"
#include "hv/monitor/monitor.h"
#include "hv/vm.h"
#include "hv/devices/e1000.h"
#include "hv/monitor/command.h"
#include "hv/virtio/net.h"

/* One NIC of either model, as the monitor sees it. */
struct nic_ref {
    struct e1000 *e1000;
    struct virtio_net *vnet;
};

/* NIC_RX_FILTER_CHANGED (qmp.md): raised when the driver changes a
 * virtio-net NIC's receive filter, then not again for that NIC until
 * query-rx-filter has been asked about it, as QEMU does. */
struct rx_filter_event {
    struct virtio_net *net;
    bool armed;                  /* atomic */
};
static struct rx_filter_event rx_filter_events[HV_MAX_NICS];
static unsigned rx_filter_nevents;
static struct loop *nics_loop;
static struct monitor *nics_monitor;

static void emit_rx_filter_changed(void *opaque)
{
    struct rx_filter_event *e = opaque;
    if (!nics_monitor)
        return;
    struct virtio_net_info info;
    virtio_net_info(e->net, &info);
    char path[128];
    snprintf(path, sizeof(path), "/machine/peripheral/%s/virtio-backend", info.id);
    struct json_object *data = json_object_new_object();
    json_object_object_add(data, "name", json_object_new_string(info.id));
    json_object_object_add(data, "path", json_object_new_string(path));
    monitor_emit_event(nics_monitor, "NIC_RX_FILTER_CHANGED",
                       json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN));
    json_object_put(data);
}

/* Control-queue thread: hand the event to the main thread. */
static void rx_filter_changed(struct virtio_net *net, void *opaque)
{
    (void)net;
    struct rx_filter_event *e = opaque;
    if (__atomic_exchange_n(&e->armed, false, __ATOMIC_ACQ_REL))
        loop_call(nics_loop, emit_rx_filter_changed, e);
}

static void rx_filter_rearm(const struct virtio_net *net)
{
    for (unsigned i = 0; i < rx_filter_nevents; i++)
        if (!net || rx_filter_events[i].net == net)
            __atomic_store_n(&rx_filter_events[i].armed, true, __ATOMIC_RELEASE);
}

struct nic_view {
    const char *id;
    const char *model;        /* QEMU's device names */
    uint8_t mac[6];
    const char *ifname;
    const char *data_plane;
    bool link_up;
    unsigned queues;
};

static void nic_describe(const struct nic_ref *r, struct nic_view *v)
{
    memset(v, 0, sizeof(*v));
    if (r->e1000) {
        struct e1000_info info;
        e1000_get_info(r->e1000, &info);
        v->id = info.id;
        v->model = "e1000";
        memcpy(v->mac, info.mac, 6);
        v->ifname = info.ifname;
        v->data_plane = "worker";
        v->link_up = info.link_up;
        v->queues = 1;
    } else {
        struct virtio_net_info info;
        virtio_net_info(r->vnet, &info);
        v->id = info.id;
        v->model = "virtio-net-pci";
        memcpy(v->mac, info.mac, 6);
        v->ifname = info.ifname;
        v->data_plane = info.data_plane;
        v->link_up = info.link_up;
        v->queues = info.max_pairs;
    }
}

/* The n-th NIC over both models (e1000s first, then virtio-nets). */
static bool nic_nth(unsigned n, struct nic_ref *r)
{
    unsigned ne = 0;
    while (e1000_nth(ne))
        ne++;
    r->e1000 = n < ne ? e1000_nth(n) : NULL;
    r->vnet = n < ne ? NULL : virtio_net_nth(n - ne);
    return r->e1000 || r->vnet;
}

static bool nic_find(const char *id, struct nic_ref *r)
{
    struct nic_ref cur;
    for (unsigned i = 0; nic_nth(i, &cur); i++) {
        struct nic_view v;
        nic_describe(&cur, &v);
        if (v.id && strcmp(v.id, id) == 0) {
            *r = cur;
            return true;
        }
    }
    return false;
}

static void format_mac(const uint8_t mac[6], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
}

/* ---- creation */

static enum virtio_net_vhost_mode vhost_mode(enum hv_nic_vhost v)
{
    return v == HV_NIC_VHOST_ON ? VNET_VHOST_ON : v == HV_NIC_VHOST_OFF ? VNET_VHOST_OFF
                                                                        : VNET_VHOST_AUTO;
}

bool hv_nics_create(struct vm *vm, const struct hv_config *cfg, char *err, size_t errlen)
{
    for (unsigned i = 0; i < cfg->nnics; i++) {
        const struct hv_nic_config *n = &cfg->nics[i];
        if (n->model == HV_NIC_E1000) {
            struct e1000_config ec = {
                .id = n->id,
                .tap_fd = n->nfds ? n->fds[0] : -1,
                .tap_name = n->nfds ? NULL : n->ifname,
                .link_down = n->link_down,
            };
            if (n->has_mac)
                memcpy(ec.mac, n->mac, 6);
            if (!e1000_create(vm, &ec, err, errlen))
                return false;
        } else {
            struct virtio_net_config vc = {
                .id = n->id,
                .tap_fds = n->nfds ? n->fds : NULL,
                .ntap_fds = n->nfds,
                .tap_name = n->nfds ? NULL : n->ifname,
                .queues = n->queues ? n->queues : n->nfds,
                .vhost = vhost_mode(n->vhost),
                .vhost_fds = n->nvhostfds ? n->vhostfds : NULL,
                .nvhost_fds = n->nvhostfds,
            };
            if (n->has_mac) {
                memcpy(vc.mac, n->mac, 6);
            } else {
                /* QEMU's default: 52:54:00:12:34:56 plus the NIC index. */
                const uint8_t def[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t)(0x56 + i) };
                memcpy(vc.mac, def, 6);
            }
            struct virtio_net *net = virtio_net_create(vm, &vc, err, errlen);
            if (!net)
                return false;
            struct rx_filter_event *e = &rx_filter_events[rx_filter_nevents++];
            *e = (struct rx_filter_event){ .net = net, .armed = true };
            nics_loop = vm->loop;
            virtio_net_set_filter_notifier(net, rx_filter_changed, e);
            if (n->link_down)
                virtio_net_set_link(net, false);
        }
    }
    return true;
}

void hv_nics_destroy(void)
{
    /* destroy takes the device off its list, so always take the first */
    for (struct e1000 *nic; (nic = e1000_nth(0)) != NULL;)
        e1000_destroy(nic);
    for (struct virtio_net *net; (net = virtio_net_nth(0)) != NULL;)
        virtio_net_destroy(net);
    rx_filter_nevents = 0;
    nics_monitor = NULL;
}

/* ---- QMP */

static const struct monitor_arg set_link_args[] = {
    { "name", MONITOR_ARG_STRING, false },
    { "up", MONITOR_ARG_BOOL, false },
    { NULL, 0, false },
};

static void nic_set_link(const struct nic_ref *r, bool up)
{
    if (r->e1000)
        e1000_set_link(r->e1000, up);
    else
        virtio_net_set_link(r->vnet, up);
}

static struct json_object *qmp_set_link(void *opaque, struct json_object *args,
                                        struct monitor_error *err)
{
    (void)opaque;
    struct json_object *v;
    json_object_object_get_ex(args, "name", &v);
    const char *name = json_object_get_string(v);
    json_object_object_get_ex(args, "up", &v);
    bool up = json_object_get_boolean(v);
    struct nic_ref r;
    if (!nic_find(name, &r))
        return monitor_error_set(err, MONITOR_ERR_DEVICE_NOT_FOUND, "Device '%s' not found", name);
    nic_set_link(&r, up);
    return json_object_new_object();
}

static const struct monitor_arg name_opt_args[] = {
    { "name", MONITOR_ARG_STRING, true },
    { NULL, 0, false },
};

static const char *arg_name(struct json_object *args)
{
    struct json_object *v;
    return json_object_object_get_ex(args, "name", &v) ? json_object_get_string(v) : NULL;
}

static struct json_object *mac_array(const uint8_t (*macs)[6], uint32_t n)
{
    struct json_object *a = json_object_new_array();
    for (uint32_t i = 0; i < n; i++) {
        char mac[18];
        format_mac(macs[i], mac);
        json_object_array_add(a, json_object_new_string(mac));
    }
    return a;
}

/* QEMU's query-rx-filter shape (qmp.md) from the filter the driver set. */
static struct json_object *rx_filter_entry(struct virtio_net *net)
{
    struct virtio_net_info info;
    virtio_net_info(net, &info);
    const struct net_filter *f = &info.filter;
    char mac[18];
    format_mac(f->mac, mac);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(info.id));
    json_object_object_add(o, "promiscuous", json_object_new_boolean(f->promisc));
    json_object_object_add(o, "multicast", json_object_new_string(f->allmulti ? "all" : "normal"));
    json_object_object_add(o, "unicast", json_object_new_string("normal"));
    /* As QEMU: "all" without VLAN filtering, "none" with an empty table. */
    bool any_vlan = false;
    for (unsigned i = 0; i < sizeof(f->vlans); i++)
        any_vlan |= f->vlans[i] != 0;
    json_object_object_add(o, "vlan", json_object_new_string(!f->vlan_filtering ? "all"
                                                             : any_vlan        ? "normal"
                                                                               : "none"));
    /* QEMU reports false here for Linux guests (qmp.md, query-rx-filter). */
    json_object_object_add(o, "broadcast-allowed", json_object_new_boolean(false));
    json_object_object_add(o, "multicast-overflow", json_object_new_boolean(f->multi_overflow));
    json_object_object_add(o, "unicast-overflow", json_object_new_boolean(f->uni_overflow));
    json_object_object_add(o, "main-mac", json_object_new_string(mac));
    struct json_object *vlans = json_object_new_array();
    for (unsigned vid = 0; f->vlan_filtering && vid < NET_FILTER_VLANS; vid++)
        if (f->vlans[vid / 8] & (1u << (vid % 8)))
            json_object_array_add(vlans, json_object_new_int((int)vid));
    json_object_object_add(o, "vlan-table", vlans);
    json_object_object_add(o, "unicast-table", mac_array(f->table, f->uni));
    json_object_object_add(o, "multicast-table", mac_array(f->table + NET_FILTER_MACS, f->multi));
    return o;
}

static struct json_object *qmp_query_rx_filter(void *opaque, struct json_object *args,
                                               struct monitor_error *err)
{
    (void)opaque;
    const char *name = arg_name(args);
    if (name) {
        struct nic_ref r;
        if (!nic_find(name, &r))
            return monitor_error_set(err, MONITOR_ERR_GENERIC, "invalid net client name: %s",
                                     name);
        if (!r.vnet)
            return monitor_error_set(err, MONITOR_ERR_GENERIC,
                                     "net client(%s) doesn't support rx-filter querying", name);
        rx_filter_rearm(r.vnet);
        struct json_object *a = json_object_new_array();
        json_object_array_add(a, rx_filter_entry(r.vnet));
        return a;
    }
    rx_filter_rearm(NULL);
    struct json_object *a = json_object_new_array();
    for (unsigned i = 0; virtio_net_nth(i); i++)
        json_object_array_add(a, rx_filter_entry(virtio_net_nth(i)));
    return a;
}

static void nic_stats(const struct nic_ref *r, struct net_stats *st)
{
    if (r->e1000)
        e1000_get_stats(r->e1000, st);
    else
        virtio_net_get_stats(r->vnet, st);
}

static struct json_object *netstats_entry(const struct nic_ref *r)
{
    struct nic_view v;
    struct net_stats st;
    nic_describe(r, &v);
    nic_stats(r, &st);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(v.id ? v.id : ""));
    json_object_object_add(o, "model", json_object_new_string(v.model));
    json_object_object_add(o, "ifname", json_object_new_string(v.ifname ? v.ifname : ""));
    json_object_object_add(o, "data-plane", json_object_new_string(v.data_plane));
    json_object_object_add(o, "link-up", json_object_new_boolean(v.link_up));
    const struct {
        const char *key;
        uint64_t value;
    } counters[] = {
        { "rx-bytes", st.rx_bytes }, { "rx-packets", st.rx_packets },
        { "rx-errs", st.rx_errs },   { "rx-drop", st.rx_drop },
        { "rx-filtered", st.rx_filtered },
        { "tx-bytes", st.tx_bytes }, { "tx-packets", st.tx_packets },
        { "tx-errs", st.tx_errs },   { "tx-drop", st.tx_drop },
    };
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
        json_object_object_add(o, counters[i].key, json_object_new_uint64(counters[i].value));
    return o;
}

static struct json_object *qmp_query_netstats(void *opaque, struct json_object *args,
                                              struct monitor_error *err)
{
    (void)opaque;
    const char *name = arg_name(args);
    struct json_object *a = json_object_new_array();
    struct nic_ref r;
    if (name) {
        if (!nic_find(name, &r)) {
            json_object_put(a);
            return monitor_error_set(err, MONITOR_ERR_DEVICE_NOT_FOUND, "Device '%s' not found",
                                     name);
        }
        json_object_array_add(a, netstats_entry(&r));
        return a;
    }
    for (unsigned i = 0; nic_nth(i, &r); i++)
        json_object_array_add(a, netstats_entry(&r));
    return a;
}

/* ---- HMP */

/* QEMU's layout (qmp.md, info network): the NIC, then " \ " and its
 * backend on the next line; then our counters, indented the same way. */
static void hmp_info_network(void *opaque, const char *args, struct monitor_text *out)
{
    (void)opaque;
    (void)args;
    struct nic_ref r;
    for (unsigned i = 0; nic_nth(i, &r); i++) {
        struct nic_view v;
        struct net_stats st;
        nic_describe(&r, &v);
        nic_stats(&r, &st);
        char mac[18];
        format_mac(v.mac, mac);
        monitor_text_printf(out, "%s: index=0,type=nic,model=%s,macaddr=%s%s\n", v.id ? v.id : "",
                            v.model, mac, v.link_up ? "" : ",link=down");
        monitor_text_printf(out, " \\ host%s: index=0,type=tap,ifname=%s,queues=%u,data-plane=%s\n",
                            v.id ? v.id : "", v.ifname ? v.ifname : "", v.queues, v.data_plane);
        monitor_text_printf(out,
                            " \\ counters: rx_bytes=%llu,rx_packets=%llu,rx_errs=%llu,rx_drop=%llu,"
                            "tx_bytes=%llu,tx_packets=%llu,tx_errs=%llu,tx_drop=%llu\n",
                            (unsigned long long)st.rx_bytes, (unsigned long long)st.rx_packets,
                            (unsigned long long)st.rx_errs, (unsigned long long)st.rx_drop,
                            (unsigned long long)st.tx_bytes, (unsigned long long)st.tx_packets,
                            (unsigned long long)st.tx_errs, (unsigned long long)st.tx_drop);
    }
}

static void hmp_set_link(void *opaque, const char *args, struct monitor_text *out)
{
    (void)opaque;
    char name[64], state[8];
    if (sscanf(args, "%63s %7s", name, state) != 2 ||
        (strcmp(state, "on") != 0 && strcmp(state, "off") != 0)) {
        monitor_text_printf(out, "Error: usage: set_link name on|off\n");
        return;
    }
    struct nic_ref r;
    if (!nic_find(name, &r)) {
        monitor_text_printf(out, "Error: Device '%s' not found\n", name);
        return;
    }
    nic_set_link(&r, strcmp(state, "on") == 0);
}

int hv_nics_attach_monitor(struct monitor *mon)
{
    nics_monitor = mon;
    int r = 0;
    r |= monitor_register_command(mon, "set_link", set_link_args, qmp_set_link, NULL);
    r |= monitor_register_command(mon, "query-rx-filter", name_opt_args, qmp_query_rx_filter, NULL);
    r |= monitor_register_command(mon, "x-hvd-query-netstats", name_opt_args, qmp_query_netstats,
                                  NULL);
    r |= monitor_register_hmp(mon, "info network", "", "show the network state",
                              hmp_info_network, NULL);
    r |= monitor_register_hmp(mon, "set_link", "name on|off",
                              "change the link status of a network adapter", hmp_set_link, NULL);
    return r ? -ENOMEM : 0;
}
