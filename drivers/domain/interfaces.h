/* A running domain's network interfaces on the host side: one tap per
 * <interface> (type ethernet or bridge), opened by the daemon and handed
 * to the worker as inherited file descriptors, with vhost-net fds for
 * virtio interfaces (docs/domain-driver.md, "Network interfaces").
 *
 * Life cycle: hvd_interfaces_open() before spawning the worker, which
 * inherits the fds at the numbers in child_tap_fds / child_vhost_fds;
 * hvd_interfaces_close_fds() right after the spawn (the worker holds the
 * only copies then, so the taps vanish when it exits); names stay for the
 * live XML and domifstat. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "drivers/conf/domain_conf.h"
#include "drivers/net/tap.h"

/* The first fd number the worker gets (after stdin, stdout, stderr). */
#define HVD_INTERFACES_FIRST_CHILD_FD 3

typedef struct {
    HvdTap *tap;              /* ifname, daemon-side fds */
    const char *model;        /* hv's model name: "virtio" or "e1000" */
    const char *vhost;        /* virtio: "on" (vhost fds given) or "off"; e1000: NULL */
    int *child_tap_fds;       /* tap->n_fds numbers in the worker */
    int *child_vhost_fds;     /* tap->n_fds numbers, or NULL without vhost */
} HvdInterface;

typedef struct {
    guint n;                  /* == def->nets->len */
    HvdInterface *ifaces;
} HvdInterfaces;

/* Create the taps for every interface of def, in order:
 *  - type ethernet: tap named by <target dev> (or the next vnetN);
 *  - type bridge: the same, attached to <source bridge>;
 *  - type network: VIR_ERR_CONFIG_UNSUPPORTED naming the type;
 *  - type hostdev: no tap (tap NULL): an assigned VF, prepared by the
 *    node-device driver and handed to the worker as a hostdev;
 *  - <driver queues=N>: a multiqueue tap with N fds (virtio only);
 *  - <driver name='vhost'>: one /dev/vhost-net fd per queue or an error
 *    naming /dev/vhost-net; name='qemu': none (worker data plane);
 *    no name: vhost fds when /dev/vhost-net opens, else none.
 * vhost_path NULL = "/dev/vhost-net" (tests point it elsewhere).
 * On failure everything opened is closed again. */
HvdInterfaces *hvd_interfaces_open(const DomainDef *def, const char *vhost_path, GError **err);

/* Close the daemon's copies of the fds (names stay). */
void hvd_interfaces_close_fds(HvdInterfaces *ifs);

void hvd_interfaces_free(HvdInterfaces *ifs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvdInterfaces, hvd_interfaces_free)

/* Tap names indexed like def->nets (NULL-terminated, caller frees with
 * g_strfreev). */
char **hvd_interfaces_ifnames(const HvdInterfaces *ifs);

/* Pairs (source fd in the daemon, target fd in the worker) for the spawn,
 * in the order of the child numbers. */
void hvd_interfaces_fd_map(const HvdInterfaces *ifs, GArray *source_fds, GArray *target_fds);

/* virDomainInterfaceStats fields. */
typedef struct {
    int64_t rx_bytes, rx_packets, rx_errs, rx_drop;
    int64_t tx_bytes, tx_packets, tx_errs, tx_drop;
} HvdInterfaceStats;

/* Counters of a domain's tap from sysfs (statistics_dir NULL =
 * /sys/class/net/IFNAME/statistics). Like libvirt, rx and tx are swapped
 * for taps: what the tap transmits the guest receives. */
bool hvd_interface_stats_read(const char *ifname, const char *statistics_dir,
                              HvdInterfaceStats *out, GError **err);

/* Index in def->nets of the interface `device` names: its tap name (from
 * ifnames), its MAC address or its alias ("net0"). -1 when none, with
 * libvirt's "invalid argument: 'X' is not a known interface". */
int hvd_interfaces_find(const DomainDef *def, char *const *ifnames, const char *device,
                        GError **err);
