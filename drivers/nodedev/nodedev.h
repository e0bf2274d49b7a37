/* hvd's node-device driver: the host's PCI devices (from sysfs) as libvirt
 * node devices, named pci_DDDD_BB_SS_F under a "computer" root, with
 * libvirt's node device XML (/usr/share/libvirt/schemas/nodedev.rng),
 * SR-IOV PF/VF capabilities, vfio-pci detach/reattach, reset, and the
 * bookkeeping of which running domain uses which host device.
 *
 * Errors are GErrors in the HVD_VIR_ERROR domain (drivers/virerror.h),
 * VIR_FROM_NODEDEV, message carrying libvirt's prefix; unknown names give
 * VIR_ERR_NO_NODE_DEVICE "no node device with matching name 'x'" as
 * libvirt does. Queries are cheap (a sysfs read) and run on the main loop;
 * detach, reattach, reset and prepare/release may block briefly on the
 * kernel and are serialized by an internal lock, so they may run on a
 * worker thread (daemon/remote_nodedev.c does). */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/nodedev/sysfs.h"

typedef struct {
    const char *sysfs_root; /* NULL = "/sys" */
    const char *state_dir;  /* hvd's state directory; records go to <state_dir>/nodedev */
    const char *pci_ids;    /* NULL = /usr/share/misc/pci.ids (package pci.ids) */
    const char *modprobe;   /* NULL = "modprobe"; "" = never load modules */
} HvdNodedevConfig;

bool hvd_nodedev_init(const HvdNodedevConfig *cfg, GError **err);
void hvd_nodedev_shutdown(void);

/* libvirt's virErrorNumber and virErrorDomain of an error from this driver
 * (internal error for foreign GErrors); for callers that cannot include
 * drivers/virerror.h next to daemon/remote_protocol.h. */
void hvd_nodedev_error_unpack(const GError *err, int *number, int *from);

/* virConnectListAllNodeDevices flags (libvirt-rpc.md §13): cap bits
 * 1 SYSTEM, 2 PCI_DEV, ... 1<<21, plus 1<<30 INACTIVE and 1<<31 ACTIVE. */
#define HVD_NODEDEV_LIST_CAP_SYSTEM (1u << 0)
#define HVD_NODEDEV_LIST_CAP_PCI_DEV (1u << 1)
#define HVD_NODEDEV_LIST_INACTIVE (1u << 30)
#define HVD_NODEDEV_LIST_ACTIVE (1u << 31)

/* Device names (char*, owned) matching virConnectListAllNodeDevices flags:
 * "computer" first, then PCI devices by address. NULL with
 * VIR_ERR_INVALID_ARG for unknown flag bits. */
GPtrArray *hvd_nodedev_list_all(unsigned flags, GError **err);
/* Legacy virNodeListDevices: names having capability `cap` ("pci",
 * "system", "virt_functions", "phys_function"; NULL = all). flags must be 0. */
GPtrArray *hvd_nodedev_list_names(const char *cap, unsigned flags, GError **err);

/* The device exists (lookup by name). */
bool hvd_nodedev_lookup(const char *name, GError **err);
/* Node device XML (flags: 0 or 1 = VIR_NODE_DEVICE_XML_INACTIVE). */
char *hvd_nodedev_get_xml(const char *name, unsigned flags, GError **err);
/* *parent = the parent's name, NULL for "computer". */
bool hvd_nodedev_get_parent(const char *name, char **parent, GError **err);
/* Capability names (char*, owned): "system"; "pci" [+ "virt_functions" |
 * "phys_function"]. */
GPtrArray *hvd_nodedev_list_caps(const char *name, GError **err);

/* virNodeDeviceDetachFlags: driver_name NULL or "vfio" (libvirt's names).
 * Refused while a domain uses the device. */
bool hvd_nodedev_detach(const char *name, const char *driver_name, GError **err);
bool hvd_nodedev_reattach(const char *name, GError **err);
bool hvd_nodedev_reset(const char *name, GError **err);

/* libvirt's name of a PCI address: "pci_0000_00_03_0" (buf >= 20 bytes). */
void hvd_nodedev_pci_name(const HvdPciAddr *addr, char *buf, size_t len);
/* Inverse; false for anything not exactly of that shape. */
bool hvd_nodedev_parse_pci_name(const char *name, HvdPciAddr *addr);

/* ---- host devices of domains (<hostdev mode='subsystem' type='pci'> and
 * <interface type='hostdev'>): the domain driver calls prepare before it
 * spawns the worker and release after the worker is gone. */
typedef struct {
    HvdPciAddr addr;  /* <source><address .../></source> */
    bool managed;     /* managed='yes': detach now, reattach on release */
    /* <interface type='hostdev'>: addr must be an SR-IOV VF; its MAC (and
     * VLAN when vlan != 0) are set through the PF's network device
     * (drivers/net/vf_netlink.h) once the VF is on vfio-pci. */
    bool is_net;
    uint8_t mac[6];
    unsigned vlan;    /* <vlan><tag id=''/></vlan>, 0 = none */
} HvdNodedevHostdev;

/* Check every device exists, is not used by another domain and has a
 * viable IOMMU group; detach managed ones to vfio-pci; unmanaged ones must
 * already be on vfio-pci. Records `dom_name` as the user (persisted in the
 * state directory, so it survives an hvd restart). All or nothing: on
 * failure the devices prepared so far are released again. */
bool hvd_nodedev_prepare_hostdevs(const char *dom_name, const HvdNodedevHostdev *devs, size_t n,
                                  GError **err);
/* Forget `dom_name`'s devices and reattach the managed ones to their host
 * drivers (failures are logged). */
void hvd_nodedev_release_hostdevs(const char *dom_name);
/* The domain using a device, NULL if none. */
char *hvd_nodedev_used_by(const HvdPciAddr *addr);
/* The device's VFIO group number (for /dev/vfio/N), -1 with err set. */
int hvd_nodedev_vfio_group(const HvdPciAddr *addr, GError **err);
