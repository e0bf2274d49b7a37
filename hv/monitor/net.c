/* The NIC family's monitor commands (hv/monitor/devices.h) over every
 * device of the machine with the NIC family ops. Reply shapes:
 * qapi/net.json and qapi/misc.json (set_link, query-rx-filter, human-monitor-command
 * "info network"). */
#include "hv/monitor/devices.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "hv/backends/net.h"
#include "hv/device.h"
#include "hv/loop.h"
#include "hv/machine.h"
#include "hv/monitor/command.h"
#include "hv/monitor/monitor.h"
#include "hv/virtio/net.h"
#include "hv/vm.h"

struct net_monitor;

/* NIC_RX_FILTER_CHANGED (qmp.md): raised when the driver changes a
 * virtio-net NIC's receive filter, then not again for that NIC until
 * query-rx-filter has been asked about it, as QEMU does. */
struct rx_filter_watch {
    struct net_monitor *nm;
    struct device *dev;
    bool armed;                  /* atomic */
    struct rx_filter_watch *next;
};

struct net_monitor {
    struct monitor *mon;
    struct machine *machine;
    struct rx_filter_watch *watches;
};

static void emit_rx_filter_changed(void *opaque)
{
    struct rx_filter_watch *w = opaque;
    char path[128];
    snprintf(path, sizeof(path), "/machine/peripheral/%s/virtio-backend", w->dev->id);
    struct json_object *data = json_object_new_object();
    json_object_object_add(data, "name", json_object_new_string(w->dev->id));
    json_object_object_add(data, "path", json_object_new_string(path));
    monitor_emit_event(w->nm->mon, "NIC_RX_FILTER_CHANGED",
                       json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN));
    json_object_put(data);
}

/* Control-queue thread: hand the event to the main thread. */
static void rx_filter_changed(struct virtio_net *net, void *opaque)
{
    (void)net;
    struct rx_filter_watch *w = opaque;
    if (__atomic_exchange_n(&w->armed, false, __ATOMIC_ACQ_REL))
        loop_call(machine_vm(w->nm->machine)->loop, emit_rx_filter_changed, w);
}

static void rx_filter_rearm(struct net_monitor *nm, const struct device *dev)
{
    for (struct rx_filter_watch *w = nm->watches; w; w = w->next)
        if (!dev || w->dev == dev)
            __atomic_store_n(&w->armed, true, __ATOMIC_RELEASE);
}

/* The n-th NIC, e1000s first, then virtio-nets (the order the monitor
 * has always listed them in). */
static struct device *nic_nth(struct machine *m, unsigned n)
{
    static const enum device_kind order[] = { DEVICE_E1000, DEVICE_VIRTIO_NET };
    for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++)
        for (struct device *d = machine_next(m, order[k], NULL); d; d = machine_next(m, order[k], d))
            if (d->ops->nic && n-- == 0)
                return d;
    return NULL;
}

static struct device *nic_find(struct machine *m, const char *id)
{
    struct device *d = machine_find(m, id);
    return d && d->ops->nic ? d : NULL;
}

static void format_mac(const uint8_t mac[6], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
}

/* ---- QMP */

static const struct monitor_arg set_link_args[] = {
    { "name", MONITOR_ARG_STRING, false },
    { "up", MONITOR_ARG_BOOL, false },
    { NULL, 0, false },
};

static struct json_object *qmp_set_link(void *opaque, struct json_object *args,
                                        struct monitor_error *err)
{
    struct net_monitor *nm = opaque;
    struct json_object *v;
    json_object_object_get_ex(args, "name", &v);
    const char *name = json_object_get_string(v);
    json_object_object_get_ex(args, "up", &v);
    bool up = json_object_get_boolean(v);
    struct device *d = nic_find(nm->machine, name);
    if (!d)
        return monitor_error_set(err, MONITOR_ERR_DEVICE_NOT_FOUND, "Device '%s' not found", name);
    d->ops->nic->set_link(d, up);
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
static struct json_object *rx_filter_entry(struct device *d)
{
    struct virtio_net_info info;
    virtio_net_info(d->model, &info);
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
    struct net_monitor *nm = opaque;
    const char *name = arg_name(args);
    if (name) {
        struct device *d = nic_find(nm->machine, name);
        if (!d)
            return monitor_error_set(err, MONITOR_ERR_GENERIC, "invalid net client name: %s",
                                     name);
        if (d->kind != DEVICE_VIRTIO_NET)
            return monitor_error_set(err, MONITOR_ERR_GENERIC,
                                     "net client(%s) doesn't support rx-filter querying", name);
        rx_filter_rearm(nm, d);
        struct json_object *a = json_object_new_array();
        json_object_array_add(a, rx_filter_entry(d));
        return a;
    }
    rx_filter_rearm(nm, NULL);
    struct json_object *a = json_object_new_array();
    for (struct device *d = machine_next(nm->machine, DEVICE_VIRTIO_NET, NULL); d;
         d = machine_next(nm->machine, DEVICE_VIRTIO_NET, d))
        json_object_array_add(a, rx_filter_entry(d));
    return a;
}

static struct json_object *netstats_entry(struct device *d)
{
    struct device_nic_info v;
    struct net_stats st;
    d->ops->nic->describe(d, &v);
    d->ops->nic->get_stats(d, &st);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(d->id));
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
    struct net_monitor *nm = opaque;
    const char *name = arg_name(args);
    struct json_object *a = json_object_new_array();
    if (name) {
        struct device *d = nic_find(nm->machine, name);
        if (!d) {
            json_object_put(a);
            return monitor_error_set(err, MONITOR_ERR_DEVICE_NOT_FOUND, "Device '%s' not found",
                                     name);
        }
        json_object_array_add(a, netstats_entry(d));
        return a;
    }
    struct device *d;
    for (unsigned i = 0; (d = nic_nth(nm->machine, i)) != NULL; i++)
        json_object_array_add(a, netstats_entry(d));
    return a;
}

/* ---- HMP */

/* QEMU's layout (qmp.md, info network): the NIC, then " \ " and its
 * backend on the next line; then our counters, indented the same way. */
static void hmp_info_network(void *opaque, const char *args, struct monitor_text *out)
{
    (void)args;
    struct net_monitor *nm = opaque;
    struct device *d;
    for (unsigned i = 0; (d = nic_nth(nm->machine, i)) != NULL; i++) {
        struct device_nic_info v;
        struct net_stats st;
        d->ops->nic->describe(d, &v);
        d->ops->nic->get_stats(d, &st);
        const char *id = d->id;
        char mac[18];
        format_mac(v.mac, mac);
        monitor_text_printf(out, "%s: index=0,type=nic,model=%s,macaddr=%s%s\n", id,
                            v.model, mac, v.link_up ? "" : ",link=down");
        monitor_text_printf(out, " \\ host%s: index=0,type=tap,ifname=%s,queues=%u,data-plane=%s\n",
                            id, v.ifname ? v.ifname : "", v.queues, v.data_plane);
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
    struct net_monitor *nm = opaque;
    char name[64], state[8];
    if (sscanf(args, "%63s %7s", name, state) != 2 ||
        (strcmp(state, "on") != 0 && strcmp(state, "off") != 0)) {
        monitor_text_printf(out, "Error: usage: set_link name on|off\n");
        return;
    }
    struct device *d = nic_find(nm->machine, name);
    if (!d) {
        monitor_text_printf(out, "Error: Device '%s' not found\n", name);
        return;
    }
    d->ops->nic->set_link(d, strcmp(state, "on") == 0);
}

int monitor_net_register(struct monitor *mon, struct machine *m)
{
    struct net_monitor *nm = calloc(1, sizeof(*nm));
    if (!nm)
        return -ENOMEM;
    nm->mon = mon;
    nm->machine = m;
    for (struct device *d = machine_next(m, DEVICE_VIRTIO_NET, NULL); d;
         d = machine_next(m, DEVICE_VIRTIO_NET, d)) {
        struct rx_filter_watch *w = calloc(1, sizeof(*w));
        if (!w)
            return -ENOMEM;
        *w = (struct rx_filter_watch){ .nm = nm, .dev = d, .armed = true, .next = nm->watches };
        nm->watches = w;
        virtio_net_set_filter_notifier(d->model, rx_filter_changed, w);
    }
    /* nm lives as long as the worker: the monitor and the NICs it watches
     * go away together at exit. */
    int r = 0;
    r |= monitor_register_command(mon, "set_link", set_link_args, qmp_set_link, nm);
    r |= monitor_register_command(mon, "query-rx-filter", name_opt_args, qmp_query_rx_filter, nm);
    r |= monitor_register_command(mon, "x-hvd-query-netstats", name_opt_args, qmp_query_netstats,
                                  nm);
    r |= monitor_register_hmp(mon, "info network", "", "show the network state",
                              hmp_info_network, nm);
    r |= monitor_register_hmp(mon, "set_link", "name on|off",
                              "change the link status of a network adapter", hmp_set_link, nm);
    return r ? -ENOMEM : 0;
}
