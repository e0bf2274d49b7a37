/* The MAC address and VLAN of an SR-IOV virtual function, set through its
 * physical function's network device with rtnetlink, as
 * <interface type='hostdev'> asks before the VF is given to a guest: the
 * guest's VF driver cannot choose its own MAC on most NICs, and the PF
 * filters the VF's traffic by it (and tags it with the VLAN).
 *
 * The request (rtnetlink(7), include/uapi/linux/if_link.h): RTM_SETLINK on
 * the PF's ifindex carrying
 *   IFLA_VFINFO_LIST { IFLA_VF_INFO { IFLA_VF_MAC {vf, mac[32]},
 *                                     IFLA_VF_VLAN {vf, vlan, qos} } }
 * with NLM_F_ACK; the kernel answers NLMSG_ERROR (error 0 = done).
 *
 * Errors: GErrors in HVD_VIR_ERROR (drivers/virerror.h), VIR_FROM_NODEDEV,
 * naming the VF, the PF and the kernel's reason. Needs CAP_NET_ADMIN. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* From sysfs (root NULL = "/sys"): the VF at PCI address vf_addr
 * ("DDDD:BB:SS.F") -> its PF's address, the PF's network device and the
 * VF's index on the PF (virtfnN). Fails for a function that is not a VF
 * (no physfn link) and for a PF without a network device. */
bool hvd_vf_lookup(const char *sysfs_root, const char *vf_addr, char **pf_addr, char **pf_ifname,
                   int *vf_index, GError **err);

/* The RTM_SETLINK request into buf (cap bytes, 4-byte aligned): VF vf of
 * the PF with ifindex pf_ifindex gets mac and VLAN vlan (1..4095; 0 = no
 * VLAN, which clears a tag a previous user left). Returns the length, 0
 * when cap is too small or vlan > 4095. */
size_t hvd_vf_netlink_build(void *buf, size_t cap, int pf_ifindex, int vf, const uint8_t mac[6],
                            unsigned vlan, uint32_t seq);

/* Send req on fd (a NETLINK_ROUTE socket connected to the kernel, or a
 * test's socketpair) with send() and
 * wait up to timeout_ms for the acknowledgement with the same sequence
 * number. `what` names the operation in errors. */
bool hvd_vf_netlink_transact(int fd, const void *req, size_t len, uint32_t seq, int timeout_ms,
                             const char *what, GError **err);

/* All of it for a VF: resolve the PF's ifindex, open a NETLINK_ROUTE
 * socket, send, wait for the acknowledgement. */
bool hvd_vf_set_mac_vlan(const char *pf_ifname, int vf, const uint8_t mac[6], unsigned vlan,
                         GError **err);
