/* Linux bridges: see bridge.h. */
#include "config.h"

#include "drivers/net/bridge.h"

#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "drivers/net/tap.h"
#include "drivers/virerror.h"

#define NET_ERR(err, code, ...) hvd_vir_error_set(err, VIR_FROM_NONE, code, __VA_ARGS__)

bool hvd_bridge_exists(const char *bridge)
{
    if (!hvd_netdev_name_validate(bridge, NULL))
        return false;
    /* Ask the driver's name (ETHTOOL_GDRVINFO) rather than sysfs: a socket
     * ioctl sees the caller's network namespace even where /sys was
     * mounted for another one. */
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
    struct ifreq ifr = { 0 };
    g_strlcpy(ifr.ifr_name, bridge, sizeof(ifr.ifr_name));
    ifr.ifr_data = (char *)&info;
    int rc = ioctl(fd, SIOCETHTOOL, &ifr);
    close(fd);
    return rc == 0 && strcmp(info.driver, "bridge") == 0;
}

char *hvd_bridge_of_port(const char *ifname)
{
    if (!hvd_netdev_name_validate(ifname, NULL))
        return NULL;
    g_autofree char *path = g_strdup_printf("/sys/class/net/%s/master", ifname);
    g_autofree char *target = g_file_read_link(path, NULL);
    return target ? g_path_get_basename(target) : NULL;
}

/* SIOCBRADDIF/SIOCBRDELIF take the bridge name and the port's ifindex. */
static bool port_ioctl(const char *bridge, const char *ifname, unsigned long req,
                       GError **err)
{
    bool add = req == SIOCBRADDIF;
    if (!hvd_netdev_name_validate(bridge, err) || !hvd_netdev_name_validate(ifname, err))
        return false;
    unsigned index = if_nametoindex(ifname);
    if (!index) {
        NET_ERR(err, VIR_ERR_SYSTEM_ERROR, "cannot %s interface '%s' %s bridge '%s': "
                "no such interface", add ? "attach" : "detach", ifname, add ? "to" : "from",
                bridge);
        return false;
    }
    if (!hvd_bridge_exists(bridge)) {
        NET_ERR(err, VIR_ERR_SYSTEM_ERROR,
                hvd_netdev_exists(bridge) ? "cannot %s interface '%s': '%s' is not a bridge "
                                            "device"
                                          : "cannot %s interface '%s': bridge '%s' does not "
                                            "exist",
                add ? "attach" : "detach", ifname, bridge);
        return false;
    }
    int fd = socket(AF_LOCAL, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        NET_ERR(err, VIR_ERR_SYSTEM_ERROR, "cannot open a control socket for bridge '%s': %s",
                bridge, g_strerror(e));
        return false;
    }
    struct ifreq ifr = { 0 };
    g_strlcpy(ifr.ifr_name, bridge, sizeof(ifr.ifr_name));
    ifr.ifr_ifindex = (int)index;
    int rc = ioctl(fd, req, &ifr);
    int e = errno;
    close(fd);
    if (rc < 0) {
        NET_ERR(err, VIR_ERR_SYSTEM_ERROR, "cannot %s interface '%s' %s bridge '%s': %s",
                add ? "attach" : "detach", ifname, add ? "to" : "from", bridge, g_strerror(e));
        return false;
    }
    return true;
}

bool hvd_bridge_add_port(const char *bridge, const char *ifname, GError **err)
{
    return port_ioctl(bridge, ifname, SIOCBRADDIF, err);
}

bool hvd_bridge_remove_port(const char *bridge, const char *ifname, GError **err)
{
    return port_ioctl(bridge, ifname, SIOCBRDELIF, err);
}

static bool bridge_ioctl(const char *bridge, unsigned long req, GError **err)
{
    bool add = req == SIOCBRADDBR;
    if (!hvd_netdev_name_validate(bridge, err))
        return false;
    int fd = socket(AF_LOCAL, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        NET_ERR(err, VIR_ERR_SYSTEM_ERROR, "cannot open a control socket for bridge '%s': %s",
                bridge, g_strerror(e));
        return false;
    }
    char name[IFNAMSIZ];
    g_strlcpy(name, bridge, sizeof(name));
    int rc = ioctl(fd, req, name);
    int e = errno;
    close(fd);
    if (rc < 0) {
        NET_ERR(err, VIR_ERR_SYSTEM_ERROR, "cannot %s bridge '%s': %s",
                add ? "create" : "delete", bridge, g_strerror(e));
        return false;
    }
    return true;
}

bool hvd_bridge_create(const char *bridge, GError **err)
{
    return bridge_ioctl(bridge, SIOCBRADDBR, err);
}

bool hvd_bridge_delete(const char *bridge, GError **err)
{
    /* A bridge must be down before the kernel deletes it. */
    if (hvd_netdev_exists(bridge))
        hvd_netdev_set_up(bridge, false, NULL);
    return bridge_ioctl(bridge, SIOCBRDELBR, err);
}
