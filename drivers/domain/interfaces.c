/* Host side of a running domain's interfaces: see interfaces.h. */
#include "drivers/domain/interfaces.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "drivers/virerror.h"

#define VHOST_NET_DEFAULT "/dev/vhost-net"

static void interface_clear(HvdInterface *ifc)
{
    hvd_tap_free(ifc->tap);
    g_free(ifc->child_tap_fds);
    g_free(ifc->child_vhost_fds);
    memset(ifc, 0, sizeof(*ifc));
}

void hvd_interfaces_free(HvdInterfaces *ifs)
{
    if (!ifs)
        return;
    for (guint i = 0; i < ifs->n; i++)
        interface_clear(&ifs->ifaces[i]);
    g_free(ifs->ifaces);
    g_free(ifs);
}

void hvd_interfaces_close_fds(HvdInterfaces *ifs)
{
    for (guint i = 0; ifs && i < ifs->n; i++)
        hvd_tap_close_fds(ifs->ifaces[i].tap);
}

/* What the worker cannot run is refused before any tap exists. */
static bool check_supported(const DomainDef *def, guint index, GError **err)
{
    const DomainNet *net = g_ptr_array_index(def->nets, index);
    g_autofree char *alias = domain_net_alias(def, index);
    switch (net->type) {
    case DOMAIN_NET_ETHERNET:
    case DOMAIN_NET_BRIDGE:
        break;
    case DOMAIN_NET_HOSTDEV:
        return true;  /* no tap: an assigned VF (the node-device driver prepares it) */
    case DOMAIN_NET_NETWORK:
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_CONFIG_UNSUPPORTED,
                          "interface %s: type 'network' is not supported by hvd (it has no "
                          "virtual network driver); use type 'bridge' with the network's bridge",
                          alias);
        return false;
    default:
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_CONFIG_UNSUPPORTED,
                          "interface %s: type '%s' is not supported by the worker yet", alias,
                          domain_net_type_to_string(net->type));
        return false;
    }
    if (net->type == DOMAIN_NET_BRIDGE && (!net->source || !*net->source)) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_CONFIG_UNSUPPORTED,
                          "interface %s: type 'bridge' needs <source bridge='...'/>", alias);
        return false;
    }
    if (net->model == DOMAIN_NET_MODEL_E1000) {
        /* libvirt: vhost and multiqueue need a virtio model. */
        if (net->backend == DOMAIN_NET_BACKEND_VHOST) {
            hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_CONFIG_UNSUPPORTED,
                              "interface %s: vhost-net is only supported for virtio network "
                              "interfaces, not model 'e1000'",
                              alias);
            return false;
        }
        if (net->queues > 1) {
            hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_CONFIG_UNSUPPORTED,
                              "interface %s: multiqueue (queues=%u) is only supported for virtio "
                              "network interfaces, not model 'e1000'",
                              alias, net->queues);
            return false;
        }
    } else if (net->queues > 8) {
        /* hv's virtio-net offers at most VIRTIO_NET_MAX_PAIRS pairs. */
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_CONFIG_UNSUPPORTED,
                          "interface %s: %u queues requested, the worker supports at most 8",
                          alias, net->queues);
        return false;
    }
    return true;
}

/* vhost-net fds for a virtio interface, per <driver name=>. */
static bool open_vhost(HvdInterface *ifc, const DomainNet *net, const char *alias,
                       const char *vhost_path, GError **err)
{
    ifc->vhost = "off";
    if (net->backend == DOMAIN_NET_BACKEND_QEMU)
        return true;
    bool required = net->backend == DOMAIN_NET_BACKEND_VHOST;
    if (!required && access(vhost_path, F_OK) != 0)
        return true; /* auto: no vhost-net here, the worker's data plane */
    unsigned n = ifc->tap->n_fds;
    int *fds = g_new(int, n);
    for (unsigned q = 0; q < n; q++)
        fds[q] = -1;
    for (unsigned q = 0; q < n; q++) {
        g_autoptr(GError) verr = NULL;
        fds[q] = hvd_vhost_net_open(vhost_path, &verr);
        if (fds[q] >= 0)
            continue;
        for (unsigned k = 0; k < q; k++)
            close(fds[k]);
        g_free(fds);
        if (!required)
            return true; /* auto: refused, so the worker's data plane */
        hvd_vir_error_set(err, VIR_FROM_QEMU, hvd_vir_error_number(verr),
                          "interface %s (<driver name='vhost'>): %s", alias, verr->message);
        return false;
    }
    ifc->tap->vhost_fds = fds;
    ifc->vhost = "on";
    return true;
}

HvdInterfaces *hvd_interfaces_open(const DomainDef *def, const char *vhost_path, GError **err)
{
    if (!vhost_path)
        vhost_path = VHOST_NET_DEFAULT;
    for (guint i = 0; i < def->nets->len; i++)
        if (!check_supported(def, i, err))
            return NULL;
    g_autoptr(HvdInterfaces) ifs = g_new0(HvdInterfaces, 1);
    ifs->n = def->nets->len;
    ifs->ifaces = g_new0(HvdInterface, ifs->n ? ifs->n : 1);
    int next_child_fd = HVD_INTERFACES_FIRST_CHILD_FD;
    for (guint i = 0; i < ifs->n; i++) {
        const DomainNet *net = g_ptr_array_index(def->nets, i);
        HvdInterface *ifc = &ifs->ifaces[i];
        if (net->type == DOMAIN_NET_HOSTDEV)
            continue;  /* tap stays NULL */
        g_autofree char *alias = domain_net_alias(def, i);
        bool virtio = net->model == DOMAIN_NET_MODEL_VIRTIO;
        HvdTapOptions opts = {
            .ifname = net->target_dev,
            .guest_mac = net->mac,
            .queues = virtio && net->queues > 1 ? net->queues : 1,
            /* virtio-net passes its 12-byte header through (virtio.md §10);
             * e1000 moves bare frames. */
            .vnet_hdr = virtio,
            .bridge = net->type == DOMAIN_NET_BRIDGE ? net->source : NULL,
            .mtu = net->mtu,
            .up = true,
        };
        ifc->model = virtio ? "virtio" : "e1000";
        ifc->tap = hvd_tap_create(&opts, err);
        if (!ifc->tap)
            return NULL;
        if (virtio && !open_vhost(ifc, net, alias, vhost_path, err))
            return NULL;
        unsigned n = ifc->tap->n_fds;
        ifc->child_tap_fds = g_new(int, n);
        for (unsigned q = 0; q < n; q++)
            ifc->child_tap_fds[q] = next_child_fd++;
        if (ifc->tap->vhost_fds) {
            ifc->child_vhost_fds = g_new(int, n);
            for (unsigned q = 0; q < n; q++)
                ifc->child_vhost_fds[q] = next_child_fd++;
        }
    }
    return g_steal_pointer(&ifs);
}

char **hvd_interfaces_ifnames(const HvdInterfaces *ifs)
{
    guint n = ifs ? ifs->n : 0;
    char **names = g_new0(char *, n + 1);
    for (guint i = 0; i < n; i++)
        names[i] = g_strdup(ifs->ifaces[i].tap ? ifs->ifaces[i].tap->ifname : "");
    return names;
}

void hvd_interfaces_fd_map(const HvdInterfaces *ifs, GArray *source_fds, GArray *target_fds)
{
    for (guint i = 0; ifs && i < ifs->n; i++) {
        const HvdInterface *ifc = &ifs->ifaces[i];
        if (!ifc->tap)
            continue;
        for (unsigned q = 0; q < ifc->tap->n_fds; q++) {
            g_array_append_val(source_fds, ifc->tap->tap_fds[q]);
            g_array_append_val(target_fds, ifc->child_tap_fds[q]);
        }
        for (unsigned q = 0; ifc->child_vhost_fds && q < ifc->tap->n_fds; q++) {
            g_array_append_val(source_fds, ifc->tap->vhost_fds[q]);
            g_array_append_val(target_fds, ifc->child_vhost_fds[q]);
        }
    }
}

static bool read_counter(const char *dir, const char *name, int64_t *out, GError **err)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autofree char *text = NULL;
    GError *local = NULL;
    if (!g_file_get_contents(path, &text, NULL, &local)) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_OPERATION_FAILED,
                          "cannot read interface counters: %s", local->message);
        g_error_free(local);
        return false;
    }
    g_strstrip(text);
    char *end = NULL;
    errno = 0;
    guint64 v = g_ascii_strtoull(text, &end, 10);
    if (end == text || errno || *end || v > G_MAXINT64) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_OPERATION_FAILED,
                          "cannot parse interface counter %s: '%.32s'", path, text);
        return false;
    }
    *out = (int64_t)v;
    return true;
}

bool hvd_interface_stats_read(const char *ifname, const char *statistics_dir,
                              HvdInterfaceStats *out, GError **err)
{
    g_autofree char *dir = statistics_dir
                               ? g_strdup(statistics_dir)
                               : g_strdup_printf("/sys/class/net/%s/statistics", ifname);
    /* The tap's tx is the guest's rx and the other way round (libvirt
     * swaps them for every interface that does not share the host view). */
    return read_counter(dir, "tx_bytes", &out->rx_bytes, err) &&
           read_counter(dir, "tx_packets", &out->rx_packets, err) &&
           read_counter(dir, "tx_errors", &out->rx_errs, err) &&
           read_counter(dir, "tx_dropped", &out->rx_drop, err) &&
           read_counter(dir, "rx_bytes", &out->tx_bytes, err) &&
           read_counter(dir, "rx_packets", &out->tx_packets, err) &&
           read_counter(dir, "rx_errors", &out->tx_errs, err) &&
           read_counter(dir, "rx_dropped", &out->tx_drop, err);
}

int hvd_interfaces_find(const DomainDef *def, char *const *ifnames, const char *device,
                        GError **err)
{
    uint8_t mac[DOMAIN_MAC_LEN];
    bool is_mac = device && domain_mac_parse(device, mac);
    for (guint i = 0; device && i < def->nets->len; i++) {
        const DomainNet *net = g_ptr_array_index(def->nets, i);
        g_autofree char *alias = domain_net_alias(def, i);
        if ((ifnames && ifnames[i] && *ifnames[i] && strcmp(ifnames[i], device) == 0) ||
            (is_mac && memcmp(net->mac, mac, DOMAIN_MAC_LEN) == 0) ||
            strcmp(alias, device) == 0)
            return (int)i;
    }
    hvd_vir_error_set(err, VIR_FROM_DOMAIN, VIR_ERR_INVALID_ARG,
                      "'%s' is not a known interface", device ? device : "");
    return -1;
}
