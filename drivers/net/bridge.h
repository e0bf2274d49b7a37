/* Linux bridges for domain interfaces (<interface type='bridge'>): attach
 * a tap to an existing bridge, detach it, and create or delete a bridge
 * (for tests and hvd-managed networks). Legacy bridge ioctls
 * (SIOCBRADDIF/SIOCBRDELIF, SIOCBRADDBR/SIOCBRDELBR), which every kernel
 * with the bridge module supports. Errors: GErrors in HVD_VIR_ERROR naming
 * the bridge, the interface and the cause. Needs CAP_NET_ADMIN. */
#pragma once
#include <glib.h>
#include <stdbool.h>

/* True if the interface exists and is a bridge (its driver is "bridge"). */
bool hvd_bridge_exists(const char *bridge);

/* Attach ifname as a port of bridge. A missing bridge, or a device that is
 * not a bridge, is an error saying so. */
bool hvd_bridge_add_port(const char *bridge, const char *ifname, GError **err);
bool hvd_bridge_remove_port(const char *bridge, const char *ifname, GError **err);

/* The bridge ifname is a port of, or NULL (/sys/class/net/IF/master). */
char *hvd_bridge_of_port(const char *ifname);

bool hvd_bridge_create(const char *bridge, GError **err);
bool hvd_bridge_delete(const char *bridge, GError **err);
