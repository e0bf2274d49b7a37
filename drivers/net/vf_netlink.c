/* SR-IOV VF MAC/VLAN through the PF (rtnetlink); see vf_netlink.h. */
#include "drivers/net/vf_netlink.h"

#include <errno.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "drivers/virerror.h"

static void vf_error(GError **err, int number, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void vf_error(GError **err, int number, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    hvd_vir_error_set(err, VIR_FROM_NODEDEV, number, "%s", text);
}

/* ---- sysfs ---- */

bool hvd_vf_lookup(const char *sysfs_root, const char *vf_addr, char **pf_addr, char **pf_ifname,
                   int *vf_index, GError **err)
{
    const char *root = sysfs_root ? sysfs_root : "/sys";
    g_autofree char *devs = g_build_filename(root, "bus", "pci", "devices", NULL);
    g_autofree char *physfn = g_build_filename(devs, vf_addr, "physfn", NULL);
    g_autofree char *target = g_file_read_link(physfn, NULL);
    if (!target) {
        vf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                 "interface type 'hostdev' needs an SR-IOV virtual function: PCI device %s has no "
                 "physical function (use <hostdev> for other devices)", vf_addr);
        return false;
    }
    g_autofree char *pf = g_path_get_basename(target);

    /* Which virtfnN of the PF is this VF (Documentation/ABI/testing/sysfs-bus-pci). */
    g_autofree char *pf_dir = g_build_filename(devs, pf, NULL);
    int index = -1;
    for (int i = 0; i < 4096 && index < 0; i++) {
        g_autofree char *name = g_strdup_printf("virtfn%d", i);
        g_autofree char *link = g_build_filename(pf_dir, name, NULL);
        g_autofree char *t = g_file_read_link(link, NULL);
        if (!t)
            break;
        g_autofree char *base = g_path_get_basename(t);
        if (strcmp(base, vf_addr) == 0)
            index = i;
    }
    if (index < 0) {
        vf_error(err, VIR_ERR_INTERNAL_ERROR, "VF %s is not among the virtfn links of its PF %s",
                 vf_addr, pf);
        return false;
    }

    g_autofree char *net_dir = g_build_filename(pf_dir, "net", NULL);
    g_autoptr(GDir) dir = g_dir_open(net_dir, 0, NULL);
    const char *ifname = dir ? g_dir_read_name(dir) : NULL;
    if (!ifname) {
        vf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                 "the PF %s of VF %s has no network device (not a NIC, or its driver is not "
                 "loaded): the VF's MAC address is set through the PF", pf, vf_addr);
        return false;
    }
    if (pf_ifname)
        *pf_ifname = g_strdup(ifname);
    if (pf_addr)
        *pf_addr = g_steal_pointer(&pf);
    if (vf_index)
        *vf_index = index;
    return true;
}

/* ---- the message ---- */

struct nl_buf {
    uint8_t *p;
    size_t cap, len;
    bool overflow;
};

static struct nlattr *attr_put(struct nl_buf *b, uint16_t type, const void *data, size_t size)
{
    size_t need = NLA_ALIGN(NLA_HDRLEN + size);
    if (b->overflow || b->len + need > b->cap) {
        b->overflow = true;
        return NULL;
    }
    struct nlattr *a = (struct nlattr *)(b->p + b->len);
    a->nla_type = type;
    a->nla_len = (uint16_t)(NLA_HDRLEN + size);
    if (size)
        memcpy((uint8_t *)a + NLA_HDRLEN, data, size);
    memset((uint8_t *)a + NLA_HDRLEN + size, 0, need - NLA_HDRLEN - size);
    b->len += need;
    return a;
}

/* A nested attribute: its length covers everything added until nest_end. */
static size_t nest_start(struct nl_buf *b, uint16_t type)
{
    size_t at = b->len;
    attr_put(b, type, NULL, 0);
    return at;
}

static void nest_end(struct nl_buf *b, size_t at)
{
    if (!b->overflow)
        ((struct nlattr *)(b->p + at))->nla_len = (uint16_t)(b->len - at);
}

size_t hvd_vf_netlink_build(void *buf, size_t cap, int pf_ifindex, int vf, const uint8_t mac[6],
                            unsigned vlan, uint32_t seq)
{
    size_t head = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    if (vlan > 4095 || vf < 0 || cap < head)
        return 0;
    memset(buf, 0, head);
    struct nlmsghdr *nh = buf;
    nh->nlmsg_type = RTM_SETLINK;
    nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    nh->nlmsg_seq = seq;
    struct ifinfomsg *ifi = NLMSG_DATA(nh);
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = pf_ifindex;

    struct nl_buf b = { .p = buf, .cap = cap, .len = NLMSG_ALIGN(head) };
    size_t list = nest_start(&b, IFLA_VFINFO_LIST);
    size_t info = nest_start(&b, IFLA_VF_INFO);
    struct ifla_vf_mac vmac = { .vf = (uint32_t)vf };
    memcpy(vmac.mac, mac, 6);
    attr_put(&b, IFLA_VF_MAC, &vmac, sizeof(vmac));
    struct ifla_vf_vlan vvlan = { .vf = (uint32_t)vf, .vlan = vlan, .qos = 0 };
    attr_put(&b, IFLA_VF_VLAN, &vvlan, sizeof(vvlan));
    nest_end(&b, info);
    nest_end(&b, list);
    if (b.overflow)
        return 0;
    nh->nlmsg_len = (uint32_t)b.len;
    return b.len;
}

/* ---- the exchange ---- */

bool hvd_vf_netlink_transact(int fd, const void *req, size_t len, uint32_t seq, int timeout_ms,
                             const char *what, GError **err)
{
    ssize_t sent = send(fd, req, len, 0);
    if (sent != (ssize_t)len) {
        vf_error(err, VIR_ERR_SYSTEM_ERROR, "%s: cannot send the netlink request: %s", what,
                 sent < 0 ? g_strerror(errno) : "short write");
        return false;
    }
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    for (;;) {
        int left = (int)((deadline - g_get_monotonic_time()) / 1000);
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int r = left > 0 ? poll(&pfd, 1, left) : 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            vf_error(err, VIR_ERR_OPERATION_TIMEOUT, "%s: no answer from the kernel (netlink) in %d ms",
                     what, timeout_ms);
            return false;
        }
        /* Large enough for an error answer echoing the request. */
        union { struct nlmsghdr h; uint8_t raw[8192]; } ans;
        ssize_t n = recv(fd, &ans, sizeof(ans), 0);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            vf_error(err, VIR_ERR_SYSTEM_ERROR, "%s: netlink receive: %s", what, g_strerror(errno));
            return false;
        }
        size_t rest = (size_t)n;
        if (!NLMSG_OK(&ans.h, rest)) {
            vf_error(err, VIR_ERR_INTERNAL_ERROR, "%s: malformed netlink answer (%zd bytes)", what, n);
            return false;
        }
        for (struct nlmsghdr *h = &ans.h; NLMSG_OK(h, rest); h = NLMSG_NEXT(h, rest)) {
            if (h->nlmsg_seq != seq)
                continue;  /* not ours: keep waiting */
            if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
                vf_error(err, VIR_ERR_INTERNAL_ERROR, "%s: unexpected netlink answer (type %u, %u bytes)",
                         what, h->nlmsg_type, h->nlmsg_len);
                return false;
            }
            const struct nlmsgerr *e = NLMSG_DATA(h);
            if (e->error == 0)
                return true;
            int code = e->error < 0 ? -e->error : e->error;
            vf_error(err, VIR_ERR_SYSTEM_ERROR, "%s: the kernel refused: %s%s", what, g_strerror(code),
                     code == EOPNOTSUPP ? " (the PF's driver cannot set it)"
                     : code == EPERM    ? " (needs CAP_NET_ADMIN)"
                                        : "");
            return false;
        }
    }
}

bool hvd_vf_set_mac_vlan(const char *pf_ifname, int vf, const uint8_t mac[6], unsigned vlan,
                         GError **err)
{
    char what[96];
    snprintf(what, sizeof what, "setting MAC %02x:%02x:%02x:%02x:%02x:%02x%s of VF %d on %s", mac[0],
             mac[1], mac[2], mac[3], mac[4], mac[5], vlan ? " and VLAN" : "", vf, pf_ifname);
    unsigned ifindex = if_nametoindex(pf_ifname);
    if (!ifindex) {
        vf_error(err, VIR_ERR_SYSTEM_ERROR, "%s: no network device %s: %s", what, pf_ifname,
                 g_strerror(errno));
        return false;
    }
    uint32_t seq = (uint32_t)g_get_monotonic_time();
    union { struct nlmsghdr h; uint8_t raw[256]; } req;
    size_t len = hvd_vf_netlink_build(&req, sizeof(req), (int)ifindex, vf, mac, vlan, seq);
    if (!len) {
        vf_error(err, VIR_ERR_CONFIG_UNSUPPORTED, "%s: VLAN %u out of range (1..4095)", what, vlan);
        return false;
    }
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) {
        vf_error(err, VIR_ERR_SYSTEM_ERROR, "%s: netlink socket: %s", what, g_strerror(errno));
        return false;
    }
    /* Connected to the kernel (port 0), so plain send() reaches it. */
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    if (connect(fd, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
        vf_error(err, VIR_ERR_SYSTEM_ERROR, "%s: netlink connect: %s", what, g_strerror(errno));
        close(fd);
        return false;
    }
    bool ok = hvd_vf_netlink_transact(fd, &req, len, seq, 5000, what, err);
    close(fd);
    return ok;
}
