/* Tap devices and interface settings: see tap.h. Tap ioctls as in
 * the kernel's Documentation/networking/tuntap.rst and linux/if_tun.h. */
#include "config.h"

#include "drivers/net/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "drivers/net/bridge.h"
#include "drivers/virerror.h"

#define TUN_PATH "/dev/net/tun"
#define VHOST_NET_PATH "/dev/vhost-net"

/* libvirt's net helpers report from VIR_FROM_NONE. */
#define NET_ERR(err, code, ...) hvd_vir_error_set(err, VIR_FROM_NONE, code, __VA_ARGS__)

/* ------------------------------------------------------------------ */
/* Pure helpers                                                        */

bool hvd_tap_name_is_generated(const char *name)
{
    return !name || !*name || g_str_has_prefix(name, HVD_TAP_NAME_PREFIX) || strchr(name, '%');
}

bool hvd_netdev_name_validate(const char *name, GError **err)
{
    if (!name || !*name) {
        NET_ERR(err, VIR_ERR_INVALID_ARG, "empty network interface name");
        return false;
    }
    if (strlen(name) >= IFNAMSIZ) {
        NET_ERR(err, VIR_ERR_INVALID_ARG,
                "network interface name '%s' is longer than %d characters", name, IFNAMSIZ - 1);
        return false;
    }
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        NET_ERR(err, VIR_ERR_INVALID_ARG, "'%s' is not a valid network interface name", name);
        return false;
    }
    for (const char *c = name; *c; c++) {
        /* The kernel's dev_valid_name(): no '/', ':' or whitespace. */
        if (*c == '/' || *c == ':' || g_ascii_isspace(*c) || !g_ascii_isprint(*c)) {
            g_autofree char *shown = g_strescape(name, NULL);
            NET_ERR(err, VIR_ERR_INVALID_ARG,
                    "network interface name '%s' contains an invalid character", shown);
            return false;
        }
    }
    return true;
}

bool hvd_mac_parse(const char *text, uint8_t mac[6], GError **err)
{
    if (!text || strlen(text) != 17)
        goto bad;
    for (int i = 0; i < 6; i++) {
        const char *p = text + i * 3;
        if (!g_ascii_isxdigit(p[0]) || !g_ascii_isxdigit(p[1]) || (i < 5 && p[2] != ':'))
            goto bad;
        mac[i] = (uint8_t)(g_ascii_xdigit_value(p[0]) << 4 | g_ascii_xdigit_value(p[1]));
    }
    return true;
bad:
    NET_ERR(err, VIR_ERR_INVALID_ARG, "unable to parse mac address '%s'", text ? text : "");
    return false;
}

char *hvd_mac_format(const uint8_t mac[6])
{
    return g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                           mac[4], mac[5]);
}

bool hvd_tap_host_mac(const uint8_t guest_mac[6], uint8_t host_mac[6], GError **err)
{
    if (guest_mac[0] == 0xfe) {
        /* Same refusal and text as libvirt's tap set-up. */
        NET_ERR(err, VIR_ERR_CONFIG_UNSUPPORTED,
                "Unable to use MAC address starting with reserved value 0xFE - "
                "'%02X:%02X:%02X:%02X:%02X:%02X' - ", guest_mac[0], guest_mac[1],
                guest_mac[2], guest_mac[3], guest_mac[4], guest_mac[5]);
        return false;
    }
    if (guest_mac[0] & 1) {
        g_autofree char *s = hvd_mac_format(guest_mac);
        NET_ERR(err, VIR_ERR_CONFIG_UNSUPPORTED,
                "MAC address '%s' is a multicast address and cannot be a NIC's address", s);
        return false;
    }
    memcpy(host_mac, guest_mac, 6);
    host_mac[0] = 0xfe;   /* bridges take the lowest port MAC: never the tap's */
    return true;
}

/* ------------------------------------------------------------------ */
/* Interface settings                                                  */

/* An AF_INET datagram socket is the handle for interface ioctls. */
static int ctl_socket(const char *ifname, GError **err)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        NET_ERR(err, VIR_ERR_SYSTEM_ERROR,
                "cannot open a control socket for interface '%s': %s", ifname, g_strerror(e));
    }
    return fd;
}

static bool ifreq_init(struct ifreq *ifr, const char *ifname, GError **err)
{
    if (!hvd_netdev_name_validate(ifname, err))
        return false;
    memset(ifr, 0, sizeof(*ifr));
    g_strlcpy(ifr->ifr_name, ifname, sizeof(ifr->ifr_name));
    return true;
}

/* Run one interface ioctl; what: "set the MAC address of", ... */
static bool netdev_ioctl(const char *ifname, unsigned long req, struct ifreq *ifr,
                         const char *what, GError **err)
{
    int fd = ctl_socket(ifname, err);
    if (fd < 0)
        return false;
    int rc = ioctl(fd, req, ifr);
    int e = errno;
    close(fd);
    if (rc < 0) {
        NET_ERR(err, VIR_ERR_SYSTEM_ERROR, "cannot %s interface '%s': %s", what, ifname,
                g_strerror(e));
        return false;
    }
    return true;
}

bool hvd_netdev_exists(const char *ifname)
{
    return ifname && *ifname && if_nametoindex(ifname) != 0;
}

bool hvd_netdev_is_up(const char *ifname, GError **err, bool *up)
{
    struct ifreq ifr;
    if (!ifreq_init(&ifr, ifname, err) ||
        !netdev_ioctl(ifname, SIOCGIFFLAGS, &ifr, "get the flags of", err))
        return false;
    *up = (ifr.ifr_flags & IFF_UP) != 0;
    return true;
}

bool hvd_netdev_set_up(const char *ifname, bool up, GError **err)
{
    struct ifreq ifr;
    if (!ifreq_init(&ifr, ifname, err) ||
        !netdev_ioctl(ifname, SIOCGIFFLAGS, &ifr, "get the flags of", err))
        return false;
    short flags = up ? (ifr.ifr_flags | IFF_UP) : (ifr.ifr_flags & ~IFF_UP);
    if (flags == ifr.ifr_flags)
        return true;
    ifr.ifr_flags = flags;
    return netdev_ioctl(ifname, SIOCSIFFLAGS, &ifr, up ? "bring up" : "bring down", err);
}

bool hvd_netdev_set_mac(const char *ifname, const uint8_t mac[6], GError **err)
{
    struct ifreq ifr;
    if (!ifreq_init(&ifr, ifname, err))
        return false;
    ifr.ifr_hwaddr.sa_family = 1;   /* ARPHRD_ETHER */
    memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
    return netdev_ioctl(ifname, SIOCSIFHWADDR, &ifr, "set the MAC address of", err);
}

bool hvd_netdev_get_mac(const char *ifname, uint8_t mac[6], GError **err)
{
    struct ifreq ifr;
    if (!ifreq_init(&ifr, ifname, err) ||
        !netdev_ioctl(ifname, SIOCGIFHWADDR, &ifr, "get the MAC address of", err))
        return false;
    memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    return true;
}

bool hvd_netdev_set_mtu(const char *ifname, unsigned mtu, GError **err)
{
    struct ifreq ifr;
    if (!ifreq_init(&ifr, ifname, err))
        return false;
    if (mtu < 68 || mtu > 65535) {   /* IPv4's minimum; the largest a netdev takes */
        NET_ERR(err, VIR_ERR_INVALID_ARG, "invalid MTU %u for interface '%s'", mtu, ifname);
        return false;
    }
    ifr.ifr_mtu = (int)mtu;
    return netdev_ioctl(ifname, SIOCSIFMTU, &ifr, "set the MTU of", err);
}

bool hvd_netdev_get_mtu(const char *ifname, unsigned *mtu, GError **err)
{
    struct ifreq ifr;
    if (!ifreq_init(&ifr, ifname, err) ||
        !netdev_ioctl(ifname, SIOCGIFMTU, &ifr, "get the MTU of", err))
        return false;
    *mtu = (unsigned)ifr.ifr_mtu;
    return true;
}

/* ------------------------------------------------------------------ */
/* vhost-net                                                           */

int hvd_vhost_net_open(const char *path, GError **err)
{
    if (!path)
        path = VHOST_NET_PATH;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd >= 0)
        return fd;
    int e = errno;
    if (e == ENOENT || e == ENODEV || e == ENXIO)
        NET_ERR(err, VIR_ERR_SYSTEM_ERROR,
                "vhost-net is not available: cannot open %s: %s (is the vhost_net kernel "
                "module loaded?)", path, g_strerror(e));
    else if (e == EACCES || e == EPERM)
        NET_ERR(err, VIR_ERR_SYSTEM_ERROR, "vhost-net was refused: cannot open %s: %s", path,
                g_strerror(e));
    else
        NET_ERR(err, VIR_ERR_SYSTEM_ERROR, "cannot open %s: %s", path, g_strerror(e));
    return -1;
}

/* ------------------------------------------------------------------ */
/* Taps                                                                */

static HvdTap *tap_alloc(unsigned n)
{
    HvdTap *tap = g_new0(HvdTap, 1);
    tap->n_fds = n;
    tap->tap_fds = g_new(int, n);
    for (unsigned i = 0; i < n; i++)
        tap->tap_fds[i] = -1;
    return tap;
}

void hvd_tap_close_fds(HvdTap *tap)
{
    if (!tap)
        return;
    for (unsigned i = 0; i < tap->n_fds; i++) {
        if (tap->tap_fds && tap->tap_fds[i] >= 0)
            close(tap->tap_fds[i]);
        if (tap->tap_fds)
            tap->tap_fds[i] = -1;
        if (tap->vhost_fds && tap->vhost_fds[i] >= 0)
            close(tap->vhost_fds[i]);
        if (tap->vhost_fds)
            tap->vhost_fds[i] = -1;
    }
}

void hvd_tap_free(HvdTap *tap)
{
    if (!tap)
        return;
    hvd_tap_close_fds(tap);
    g_free(tap->tap_fds);
    g_free(tap->vhost_fds);
    g_free(tap);
}

/* Open one queue of the tap named (or templated) in *name; the kernel
 * writes the final name back (a "vnet%d" template gets the lowest free
 * index, atomically). */
static int open_queue(char name[IFNAMSIZ], short flags, unsigned queue, GError **err)
{
    int fd = open(TUN_PATH, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        NET_ERR(err, VIR_ERR_SYSTEM_ERROR, "cannot open %s to create tap '%s': %s", TUN_PATH,
                name, g_strerror(e));
        return -1;
    }
    struct ifreq ifr = { 0 };
    g_strlcpy(ifr.ifr_name, name, sizeof(ifr.ifr_name));
    ifr.ifr_flags = flags;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        if ((e == EBUSY || e == EINVAL) && queue == 0 && hvd_netdev_exists(name))
            NET_ERR(err, VIR_ERR_SYSTEM_ERROR,
                    "cannot create tap '%s': an interface of that name already exists and "
                    "cannot be opened as this tap (%s)", name, g_strerror(e));
        else if (e == EINVAL && (flags & IFF_MULTI_QUEUE))
            NET_ERR(err, VIR_ERR_SYSTEM_ERROR,
                    "cannot open queue %u of multiqueue tap '%s': %s", queue, name,
                    g_strerror(e));
        else
            NET_ERR(err, VIR_ERR_SYSTEM_ERROR, "cannot create tap '%s' (queue %u): %s", name,
                    queue, g_strerror(e));
        return -1;
    }
    g_strlcpy(name, ifr.ifr_name, IFNAMSIZ);
    return fd;
}

/* IFF_VNET_HDR/IFF_MULTI_QUEUE need kernel support: check first so the
 * error says what is missing rather than "Invalid argument". */
static bool check_features(short want, const char *name, GError **err)
{
    int fd = open(TUN_PATH, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        NET_ERR(err, VIR_ERR_SYSTEM_ERROR, "cannot open %s to create tap '%s': %s", TUN_PATH,
                name, g_strerror(e));
        return false;
    }
    unsigned int features = 0;
    int rc = ioctl(fd, TUNGETFEATURES, &features);
    close(fd);
    if (rc < 0)
        features = IFF_TAP | IFF_NO_PI;   /* very old kernel: basic taps only */
    if ((want & IFF_VNET_HDR) && !(features & IFF_VNET_HDR)) {
        NET_ERR(err, VIR_ERR_CONFIG_UNSUPPORTED,
                "tap '%s': the host kernel does not support IFF_VNET_HDR", name);
        return false;
    }
    if ((want & IFF_MULTI_QUEUE) && !(features & IFF_MULTI_QUEUE)) {
        NET_ERR(err, VIR_ERR_CONFIG_UNSUPPORTED,
                "tap '%s': the host kernel does not support multiqueue taps", name);
        return false;
    }
    return true;
}

HvdTap *hvd_tap_create(const HvdTapOptions *opts, GError **err)
{
    unsigned queues = opts->queues ? opts->queues : 1;
    if (queues > HVD_TAP_MAX_QUEUES) {
        NET_ERR(err, VIR_ERR_CONFIG_UNSUPPORTED,
                "tap '%s': %u queues requested, the kernel allows at most %d",
                opts->ifname ? opts->ifname : HVD_TAP_NAME_PREFIX "N", queues,
                HVD_TAP_MAX_QUEUES);
        return NULL;
    }
    char name[IFNAMSIZ];
    if (hvd_tap_name_is_generated(opts->ifname)) {
        g_strlcpy(name, HVD_TAP_NAME_PREFIX "%d", sizeof(name));
    } else {
        if (!hvd_netdev_name_validate(opts->ifname, err))
            return NULL;
        g_strlcpy(name, opts->ifname, sizeof(name));
    }
    uint8_t host_mac[6];
    if (opts->guest_mac && !hvd_tap_host_mac(opts->guest_mac, host_mac, err))
        return NULL;
    if (opts->bridge && !hvd_netdev_name_validate(opts->bridge, err))
        return NULL;
    if (opts->mtu && (opts->mtu < 68 || opts->mtu > 65535)) {
        NET_ERR(err, VIR_ERR_CONFIG_UNSUPPORTED, "invalid MTU %u for tap '%s'", opts->mtu,
                name);
        return NULL;
    }

    short flags = IFF_TAP | IFF_NO_PI;
    if (opts->vnet_hdr)
        flags |= IFF_VNET_HDR;
    if (queues > 1)
        flags |= IFF_MULTI_QUEUE;
    if (!check_features(flags, name, err))
        return NULL;

    g_autoptr(HvdTap) tap = tap_alloc(queues);
    for (unsigned q = 0; q < queues; q++) {
        /* Queue 0 creates the device (resolving a template); the others
         * attach to that same name. */
        tap->tap_fds[q] = open_queue(name, flags, q, err);
        if (tap->tap_fds[q] < 0)
            return NULL;
    }
    g_strlcpy(tap->ifname, name, sizeof(tap->ifname));

    if (opts->guest_mac && !hvd_netdev_set_mac(name, host_mac, err))
        return NULL;

    unsigned mtu = opts->mtu;
    if (opts->bridge) {
        if (!hvd_bridge_exists(opts->bridge)) {
            NET_ERR(err, VIR_ERR_SYSTEM_ERROR,
                    hvd_netdev_exists(opts->bridge)
                        ? "cannot attach tap '%s': '%s' is not a bridge device"
                        : "cannot attach tap '%s': bridge '%s' does not exist",
                    name, opts->bridge);
            return NULL;
        }
        /* Match the bridge's MTU before joining it, or the bridge would
         * lower its own to the tap's. */
        if (!mtu && !hvd_netdev_get_mtu(opts->bridge, &mtu, err))
            return NULL;
    }
    if (mtu && !hvd_netdev_set_mtu(name, mtu, err))
        return NULL;
    if (opts->bridge && !hvd_bridge_add_port(opts->bridge, name, err))
        return NULL;
    if (opts->up && !hvd_netdev_set_up(name, true, err))
        return NULL;

    if (opts->vhost) {
        /* One vhost-net instance per queue pair (virtio.md, vhost-net). */
        tap->vhost_fds = g_new(int, queues);
        for (unsigned q = 0; q < queues; q++)
            tap->vhost_fds[q] = -1;
        for (unsigned q = 0; q < queues; q++) {
            g_autoptr(GError) verr = NULL;
            tap->vhost_fds[q] = hvd_vhost_net_open(NULL, &verr);
            if (tap->vhost_fds[q] < 0) {
                NET_ERR(err, hvd_vir_error_number(verr), "tap '%s', queue %u: %s", name, q,
                        verr->message);
                return NULL;
            }
        }
    }
    return g_steal_pointer(&tap);
}
