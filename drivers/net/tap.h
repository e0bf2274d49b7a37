/* Host side of a domain's network interface: the tap device the worker
 * gets as pre-opened file descriptors (DESIGN.md: the worker needs no
 * privileges), its vhost-net fds, and the interface settings the daemon
 * makes (up, MAC, MTU). Bridges are in bridge.h.
 *
 * Taps are not persistent: the device exists while one of its queue fds is
 * open and disappears when the last one is closed (by the daemon after
 * handing them over, or by the worker when it exits).
 *
 * Errors: GErrors in HVD_VIR_ERROR (drivers/virerror.h), naming the
 * interface and the cause. Needs CAP_NET_ADMIN for everything but the
 * pure helpers (names, MACs). */
#pragma once
#include <glib.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

/* The kernel's limit on queues of one tap (MAX_TAP_QUEUES). */
#define HVD_TAP_MAX_QUEUES 256
/* Names starting with this are ours to generate, as in libvirt: a
 * configured "vnet7" is treated like no name at all. */
#define HVD_TAP_NAME_PREFIX "vnet"

/* --- Pure helpers ---------------------------------------------------- */

/* True when the configured target dev means "generate a name": NULL, "",
 * a name starting with "vnet", or a template containing '%'. */
bool hvd_tap_name_is_generated(const char *name);

/* A usable Linux interface name: 1..15 bytes, no '/', ':' or whitespace,
 * not "." or "..". */
bool hvd_netdev_name_validate(const char *name, GError **err);

/* "52:54:00:12:34:56" <-> bytes. Parsing accepts upper or lower case,
 * exactly six two-digit groups. */
bool hvd_mac_parse(const char *text, uint8_t mac[6], GError **err);
char *hvd_mac_format(const uint8_t mac[6]);

/* The tap's own MAC for a guest MAC: the same with the first byte 0xFE, so
 * that a bridge (which takes the lowest port MAC) never picks the tap's
 * address, as libvirt does. A guest MAC starting with 0xFE is refused
 * (VIR_ERR_CONFIG_UNSUPPORTED), as in libvirt, because the host would see
 * its own address as source. Multicast guest MACs are refused too. */
bool hvd_tap_host_mac(const uint8_t guest_mac[6], uint8_t host_mac[6], GError **err);

/* --- Creating taps --------------------------------------------------- */

typedef struct {
    const char *ifname;          /* NULL or generated-style: next free vnetN */
    const uint8_t *guest_mac;    /* NULL: keep the kernel's random MAC */
    unsigned queues;             /* 0 or 1: one queue; >1: IFF_MULTI_QUEUE */
    bool vnet_hdr;               /* IFF_VNET_HDR (virtio-net offloads) */
    bool vhost;                  /* also open one /dev/vhost-net fd per queue */
    const char *bridge;          /* NULL: not attached */
    unsigned mtu;                /* 0: the bridge's MTU when attached */
    bool up;                     /* set IFF_UP */
} HvdTapOptions;

typedef struct {
    char ifname[IFNAMSIZ];
    unsigned n_fds;              /* queues */
    int *tap_fds;                /* n_fds tap queue fds (O_CLOEXEC) */
    int *vhost_fds;              /* n_fds fds, or NULL without vhost */
} HvdTap;

/* Create and configure a tap: open /dev/net/tun once per queue with
 * IFF_TAP|IFF_NO_PI[|IFF_VNET_HDR][|IFF_MULTI_QUEUE], set the host MAC,
 * the MTU, attach to the bridge, bring it up, open vhost-net fds. On any
 * failure everything opened so far is closed (the tap disappears). */
HvdTap *hvd_tap_create(const HvdTapOptions *opts, GError **err);

/* Close every fd (the tap disappears once the worker has closed its copies
 * too) and free. */
void hvd_tap_free(HvdTap *tap);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvdTap, hvd_tap_free)

/* Close the daemon's copies of the fds but keep the name, e.g. once the
 * worker has inherited them. */
void hvd_tap_close_fds(HvdTap *tap);

/* Open one /dev/vhost-net fd (path NULL = "/dev/vhost-net"). A missing
 * device or a refusal is a clear error naming the device and the fix. */
int hvd_vhost_net_open(const char *path, GError **err);

/* --- Interface settings (any netdev) --------------------------------- */

bool hvd_netdev_exists(const char *ifname);
bool hvd_netdev_set_up(const char *ifname, bool up, GError **err);
bool hvd_netdev_is_up(const char *ifname, GError **err, bool *up);
bool hvd_netdev_set_mac(const char *ifname, const uint8_t mac[6], GError **err);
bool hvd_netdev_get_mac(const char *ifname, uint8_t mac[6], GError **err);
bool hvd_netdev_set_mtu(const char *ifname, unsigned mtu, GError **err);
bool hvd_netdev_get_mtu(const char *ifname, unsigned *mtu, GError **err);
