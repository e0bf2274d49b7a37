/* virtio-net (virtio 1.x device type 1, PCI 1AF4:1041) on a tap backend,
 * with multiqueue and an optional kernel vhost-net data plane.
 *
 * Queues (virtio.md §5.3): rx0, tx0, rx1, tx1, ..., rxN-1, txN-1, ctrl.
 * Data plane "worker": one thread per queue pair polls that pair's tap
 * queue fd and its rx/tx kick eventfds; no lock is shared between pairs.
 * Data plane "vhost-net": every pair's rings go to its own /dev/vhost-net
 * fd (hv/backends/vhost_net.h); the worker handles only the control queue.
 * The virtio-net header (12 bytes, VERSION_1) is passed through to the tap
 * unchanged (TUNSETVNETHDRSZ 12), offloads follow the guest's GUEST_*
 * features (TUNSETOFFLOAD). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/backends/net.h"
#include "hv/virtio/net_filter.h"

struct guest_mem;
struct virtio_dev;

#define VIRTIO_NET_MAX_PAIRS 8

enum virtio_net_vhost_mode {
    VNET_VHOST_AUTO,    /* vhost-net when /dev/vhost-net opens, else the worker */
    VNET_VHOST_ON,      /* vhost-net or fail at creation */
    VNET_VHOST_OFF,     /* always the worker's own data plane */
};

struct virtio_net_config {
    const char *id;             /* monitor id, e.g. "net0"; NULL = "net0" */
    uint8_t mac[6];
    /* The tap: either pre-opened queue fds (ownership taken, also on
     * failure; opened with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, and
     * IFF_MULTI_QUEUE when more than one) ... */
    const int *tap_fds;
    unsigned ntap_fds;
    /* ... or an interface name to open (created if missing). */
    const char *tap_name;
    unsigned queues;            /* queue pairs; 0 = 1 (= ntap_fds when fds given) */
    enum virtio_net_vhost_mode vhost;
    /* Pre-opened /dev/vhost-net fds, one per pair (ownership taken); none
     * = open /dev/vhost-net here when vhost is on/auto. */
    const int *vhost_fds;
    unsigned nvhost_fds;
};

struct virtio_net;

/* Open/adopt the tap (and vhost-net) and build the model on guest memory
 * mem; the machine (hv/machine.h) carries it on a transport with
 * virtio_net_msix_vectors vectors, then starts it. NULL with a message
 * naming the device and the cause in err (e.g. "net0: vhost=on but
 * /dev/vhost-net cannot be opened: No such file or directory"). */
struct virtio_net *virtio_net_open(struct guest_mem *mem, const struct virtio_net_config *cfg,
                                   char *err, size_t errlen);
unsigned virtio_net_msix_vectors(const struct virtio_net *net);

/* Start the pair and control threads (the device is on its transport).
 * 0 or -errno with err filled. */
int virtio_net_start(struct virtio_net *net, char *err, size_t errlen);

/* Out of service: stop the threads and vhost, close the tap. */
void virtio_net_stop(struct virtio_net *net);

/* Stop if needed and free the model. */
void virtio_net_destroy(struct virtio_net *net);

/* Link state (monitor set_link): STATUS.LINK_UP and a config interrupt.
 * While down nothing is received and transmitted frames are dropped. */
void virtio_net_set_link(struct virtio_net *net, bool up);

/* Counters for domifstat (net.h semantics), summed over the pairs. */
void virtio_net_get_stats(const struct virtio_net *net, struct net_stats *out);

struct virtio_net_info {
    const char *id;
    uint8_t mac[6];
    const char *ifname;         /* tap interface name ("" when unknown) */
    const char *data_plane;     /* "vhost-net" or "worker" */
    bool vhost;                 /* data_plane is vhost-net */
    bool link_up;
    unsigned max_pairs;         /* queue pairs offered (max_virtqueue_pairs) */
    unsigned active_pairs;      /* pairs the guest enabled (MQ VQ_PAIRS_SET) */
    uint64_t guest_features;
    struct net_filter filter;   /* receive filter the driver set (CTRL_RX, CTRL_VLAN) */
};

/* Called on the control-queue thread after the driver changed the
 * receive filter (RX mode, MAC table or address, VLAN table), so the
 * monitor can raise NIC_RX_FILTER_CHANGED. Set before the guest runs. */
typedef void (*virtio_net_filter_fn)(struct virtio_net *net, void *opaque);
void virtio_net_set_filter_notifier(struct virtio_net *net, virtio_net_filter_fn fn, void *opaque);

/* Identity and state snapshot; safe from any thread. */
void virtio_net_info(const struct virtio_net *net, struct virtio_net_info *out);

/* Transport-free construction for unit tests: the model on `mem` with an
 * already open backend (e.g. net_backend_from_fds over SOCK_SEQPACKET
 * socketpairs with vnet_hdr_len 12); ownership of be is taken. No PCI, no
 * threads, no vhost: queue_notify processes inline. */
struct virtio_net *virtio_net_new_model(struct guest_mem *mem, const struct virtio_net_config *cfg,
                                        struct net_backend *be, char *err, size_t errlen);
struct virtio_dev *virtio_net_dev(struct virtio_net *net);
