/* drivers/net/vf_netlink.c: the RTM_SETLINK request that sets an SR-IOV
 * VF's MAC and VLAN through its PF, parsed back attribute by attribute as
 * the kernel's do_setlink would; the exchange against a fake kernel on a
 * socketpair (ack, refusal, foreign sequence numbers, garbage, silence);
 * the VF -> PF / netdev / index lookup on a fake sysfs tree. No SR-IOV NIC
 * is needed (the testbed has none: docs/vfio.md). */
#include <errno.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "drivers/net/vf_netlink.h"
#include "drivers/nodedev/nodedev.h"
#include "tests/tap.h"

static const uint8_t MAC[6] = { 0x52, 0x54, 0x00, 0xAB, 0xCD, 0xEF };

/* What the kernel would take out of the request. */
struct parsed {
    bool ok;
    uint16_t type, flags;
    uint32_t seq;
    int ifindex;
    int n_vf_info;
    bool have_mac, have_vlan;
    uint32_t mac_vf, vlan_vf, vlan, qos;
    uint8_t mac[6];
};

static struct parsed parse(const uint8_t *buf, size_t len)
{
    struct parsed p = { 0 };
    const struct nlmsghdr *nh = (const void *)buf;
    if (!NLMSG_OK(nh, len) || nh->nlmsg_len != len)
        return p;
    p.type = nh->nlmsg_type;
    p.flags = nh->nlmsg_flags;
    p.seq = nh->nlmsg_seq;
    const struct ifinfomsg *ifi = NLMSG_DATA(nh);
    p.ifindex = ifi->ifi_index;
    if (ifi->ifi_family != AF_UNSPEC)
        return p;
    const uint8_t *at = buf + NLMSG_SPACE(sizeof(*ifi)), *end = buf + len;
    while (at + NLA_HDRLEN <= end) {
        const struct nlattr *a = (const void *)at;
        if (a->nla_len < NLA_HDRLEN || at + a->nla_len > end)
            return p;
        if ((a->nla_type & NLA_TYPE_MASK) == IFLA_VFINFO_LIST) {
            const uint8_t *in = at + NLA_HDRLEN, *in_end = at + a->nla_len;
            while (in + NLA_HDRLEN <= in_end) {
                const struct nlattr *vi = (const void *)in;
                if (vi->nla_len < NLA_HDRLEN || in + vi->nla_len > in_end)
                    return p;
                if ((vi->nla_type & NLA_TYPE_MASK) == IFLA_VF_INFO) {
                    p.n_vf_info++;
                    const uint8_t *x = in + NLA_HDRLEN, *x_end = in + vi->nla_len;
                    while (x + NLA_HDRLEN <= x_end) {
                        const struct nlattr *va = (const void *)x;
                        if (va->nla_len < NLA_HDRLEN || x + va->nla_len > x_end)
                            return p;
                        const void *d = x + NLA_HDRLEN;
                        if (va->nla_type == IFLA_VF_MAC && va->nla_len == NLA_HDRLEN + sizeof(struct ifla_vf_mac)) {
                            const struct ifla_vf_mac *m = d;
                            p.have_mac = true;
                            p.mac_vf = m->vf;
                            memcpy(p.mac, m->mac, 6);
                        } else if (va->nla_type == IFLA_VF_VLAN &&
                                   va->nla_len == NLA_HDRLEN + sizeof(struct ifla_vf_vlan)) {
                            const struct ifla_vf_vlan *v = d;
                            p.have_vlan = true;
                            p.vlan_vf = v->vf;
                            p.vlan = v->vlan;
                            p.qos = v->qos;
                        }
                        x += NLA_ALIGN(va->nla_len);
                    }
                }
                in += NLA_ALIGN(vi->nla_len);
            }
        }
        at += NLA_ALIGN(a->nla_len);
    }
    p.ok = true;
    return p;
}

static void build_tests(void)
{
    union { struct nlmsghdr h; uint8_t raw[256]; } buf;
    size_t len = hvd_vf_netlink_build(&buf, sizeof(buf), 7, 3, MAC, 42, 1234);
    TAP_CHECK(len > NLMSG_LENGTH(sizeof(struct ifinfomsg)), "request built (%zu bytes)", len);
    TAP_EQ_U64(len % 4, 0, "length 4-byte aligned");
    struct parsed p = parse(buf.raw, len);
    TAP_CHECK(p.ok, "request parses as a netlink message with well-formed attributes");
    TAP_EQ_U64(p.type, RTM_SETLINK, "RTM_SETLINK");
    TAP_EQ_U64(p.flags, NLM_F_REQUEST | NLM_F_ACK, "request with acknowledgement");
    TAP_EQ_U64(p.seq, 1234, "sequence number");
    TAP_EQ_U64(p.ifindex, 7, "on the PF's ifindex");
    TAP_EQ_U64(p.n_vf_info, 1, "one IFLA_VF_INFO in IFLA_VFINFO_LIST");
    TAP_CHECK(p.have_mac && p.mac_vf == 3 && memcmp(p.mac, MAC, 6) == 0, "IFLA_VF_MAC: VF 3, the MAC");
    TAP_CHECK(p.have_vlan && p.vlan_vf == 3 && p.vlan == 42 && p.qos == 0, "IFLA_VF_VLAN: VF 3, VLAN 42, qos 0");

    len = hvd_vf_netlink_build(&buf, sizeof(buf), 7, 0, MAC, 0, 1);
    p = parse(buf.raw, len);
    TAP_CHECK(p.ok && p.have_vlan && p.vlan == 0 && p.vlan_vf == 0, "no VLAN: VLAN 0 (clears an old tag)");

    TAP_EQ_U64(hvd_vf_netlink_build(&buf, sizeof(buf), 7, 0, MAC, 4096, 1), 0, "VLAN 4096 refused");
    TAP_EQ_U64(hvd_vf_netlink_build(&buf, sizeof(buf), 7, -1, MAC, 0, 1), 0, "negative VF refused");
    TAP_EQ_U64(hvd_vf_netlink_build(&buf, 40, 7, 0, MAC, 0, 1), 0, "too small a buffer: 0, no overflow");
    TAP_EQ_U64(hvd_vf_netlink_build(&buf, 8, 7, 0, MAC, 0, 1), 0, "smaller than the header: 0");
}

/* ---- the fake kernel: a socketpair whose far end answers ---- */

static size_t ack(uint8_t *out, uint32_t seq, int error, const void *req, size_t req_len)
{
    struct nlmsghdr *h = (void *)out;
    memset(out, 0, 64);
    h->nlmsg_type = NLMSG_ERROR;
    h->nlmsg_seq = seq;
    h->nlmsg_len = NLMSG_LENGTH(sizeof(struct nlmsgerr));
    struct nlmsgerr *e = NLMSG_DATA(h);
    e->error = error;
    if (req)
        memcpy(&e->msg, req, sizeof(struct nlmsghdr) < req_len ? sizeof(struct nlmsghdr) : req_len);
    return h->nlmsg_len;
}

static void transact_tests(void)
{
    int sv[2];
    TAP_EQ_U64(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0, "socketpair");
    union { struct nlmsghdr h; uint8_t raw[256]; } req;
    size_t len = hvd_vf_netlink_build(&req, sizeof(req), 5, 1, MAC, 100, 77);
    uint8_t ans[128], got[512];

    /* ack */
    send(sv[1], ans, ack(ans, 77, 0, &req, len), 0);
    g_autoptr(GError) err = NULL;
    TAP_CHECK(hvd_vf_netlink_transact(sv[0], &req, len, 77, 1000, "set VF", &err), "acknowledged: success");
    ssize_t n = recv(sv[1], got, sizeof(got), MSG_DONTWAIT);
    TAP_CHECK(n == (ssize_t)len && memcmp(got, &req, len) == 0, "the fake kernel received the request as built");

    /* a foreign answer first (another sequence number), then ours */
    size_t l1 = ack(ans, 76, -EINVAL, NULL, 0);
    send(sv[1], ans, l1, 0);
    send(sv[1], ans, ack(ans, 77, 0, NULL, 0), 0);
    TAP_CHECK(hvd_vf_netlink_transact(sv[0], &req, len, 77, 1000, "set VF", &err),
              "answers with other sequence numbers skipped");
    recv(sv[1], got, sizeof(got), MSG_DONTWAIT);

    /* refusal */
    send(sv[1], ans, ack(ans, 77, -EOPNOTSUPP, &req, len), 0);
    TAP_CHECK(!hvd_vf_netlink_transact(sv[0], &req, len, 77, 1000, "setting MAC of VF 1 on pf0", &err),
              "refused: failure");
    TAP_CHECK(err && strstr(err->message, "setting MAC of VF 1 on pf0") &&
                  strstr(err->message, g_strerror(EOPNOTSUPP)) && strstr(err->message, "PF's driver"),
              "error names the operation and the kernel's reason (%s)", err ? err->message : "");
    g_clear_error(&err);
    recv(sv[1], got, sizeof(got), MSG_DONTWAIT);

    /* an answer that is not an error/ack message */
    struct nlmsghdr odd = { .nlmsg_len = sizeof(odd), .nlmsg_type = RTM_NEWLINK, .nlmsg_seq = 77 };
    send(sv[1], &odd, sizeof(odd), 0);
    TAP_CHECK(!hvd_vf_netlink_transact(sv[0], &req, len, 77, 1000, "set VF", &err) && err &&
                  strstr(err->message, "unexpected netlink answer"),
              "unexpected message type: clear error");
    g_clear_error(&err);
    recv(sv[1], got, sizeof(got), MSG_DONTWAIT);

    /* garbage */
    uint8_t junk[6] = { 0xFF, 0xFF, 0xFF, 0xFF, 1, 2 };
    send(sv[1], junk, sizeof(junk), 0);
    TAP_CHECK(!hvd_vf_netlink_transact(sv[0], &req, len, 77, 1000, "set VF", &err) && err &&
                  strstr(err->message, "malformed"),
              "garbage answer: clear error, no crash");
    g_clear_error(&err);
    recv(sv[1], got, sizeof(got), MSG_DONTWAIT);

    /* silence */
    TAP_CHECK(!hvd_vf_netlink_transact(sv[0], &req, len, 77, 100, "set VF", &err) && err &&
                  strstr(err->message, "no answer"),
              "no answer: times out with an error");
    g_clear_error(&err);

    /* peer gone */
    close(sv[1]);
    TAP_CHECK(!hvd_vf_netlink_transact(sv[0], &req, len, 77, 100, "set VF", &err) && err,
              "closed peer: error (%s)", err ? err->message : "");
    close(sv[0]);
}

/* ---- sysfs lookup ---- */

static char *root;

static void write_file(const char *rel, const char *text)
{
    g_autofree char *p = g_build_filename(root, rel, NULL);
    g_file_set_contents(p, text, -1, NULL);
}

static void mkdirs(const char *rel)
{
    g_autofree char *p = g_build_filename(root, rel, NULL);
    g_mkdir_with_parents(p, 0755);
}

static void link_to(const char *rel, const char *target)
{
    g_autofree char *p = g_build_filename(root, rel, NULL);
    if (symlink(target, p) != 0)
        printf("# symlink %s: %s\n", p, g_strerror(errno));
}

static void lookup_tests(void)
{
    root = g_dir_make_tmp("hvd-vf-XXXXXX", NULL);
    /* PF 0000:02:00.0 with netdev enp2s0f0 and VFs 02:10.0, 02:10.2 */
    mkdirs("devices/pci0000:00/0000:02:00.0/net/enp2s0f0");
    mkdirs("devices/pci0000:00/0000:02:10.0");
    mkdirs("devices/pci0000:00/0000:02:10.2");
    mkdirs("devices/pci0000:00/0000:03:00.0");   /* no SR-IOV */
    mkdirs("devices/pci0000:00/0000:04:00.0");   /* a PF without netdev (NVMe) */
    mkdirs("devices/pci0000:00/0000:04:00.1");
    mkdirs("bus/pci/devices");
    const char *devs[] = { "0000:02:00.0", "0000:02:10.0", "0000:02:10.2", "0000:03:00.0", "0000:04:00.0",
                           "0000:04:00.1" };
    for (size_t i = 0; i < G_N_ELEMENTS(devs); i++) {
        g_autofree char *rel = g_build_filename("bus/pci/devices", devs[i], NULL);
        g_autofree char *target = g_strdup_printf("../../../devices/pci0000:00/%s", devs[i]);
        link_to(rel, target);
    }
    link_to("devices/pci0000:00/0000:02:00.0/virtfn0", "../0000:02:10.0");
    link_to("devices/pci0000:00/0000:02:00.0/virtfn1", "../0000:02:10.2");
    link_to("devices/pci0000:00/0000:02:10.0/physfn", "../0000:02:00.0");
    link_to("devices/pci0000:00/0000:02:10.2/physfn", "../0000:02:00.0");
    link_to("devices/pci0000:00/0000:04:00.0/virtfn0", "../0000:04:00.1");
    link_to("devices/pci0000:00/0000:04:00.1/physfn", "../0000:04:00.0");

    g_autofree char *pf = NULL, *ifname = NULL;
    int vf = -1;
    g_autoptr(GError) err = NULL;
    TAP_CHECK(hvd_vf_lookup(root, "0000:02:10.2", &pf, &ifname, &vf, &err), "VF 02:10.2 found");
    TAP_EQ_STR(pf, "0000:02:00.0", "its PF");
    TAP_EQ_STR(ifname, "enp2s0f0", "the PF's netdev");
    TAP_EQ_U64(vf, 1, "VF index 1 (virtfn1)");
    g_clear_pointer(&pf, g_free);
    g_clear_pointer(&ifname, g_free);
    TAP_CHECK(hvd_vf_lookup(root, "0000:02:10.0", &pf, &ifname, &vf, &err) && vf == 0, "VF 02:10.0 is index 0");

    TAP_CHECK(!hvd_vf_lookup(root, "0000:03:00.0", NULL, NULL, NULL, &err), "not a VF: refused");
    TAP_CHECK(err && strstr(err->message, "needs an SR-IOV virtual function") && strstr(err->message, "0000:03:00.0"),
              "error says a VF is needed (%s)", err ? err->message : "");
    g_clear_error(&err);
    TAP_CHECK(!hvd_vf_lookup(root, "0000:04:00.1", NULL, NULL, NULL, &err) && err &&
                  strstr(err->message, "has no network device"),
              "PF without netdev: refused, says why");
    g_clear_error(&err);
    TAP_CHECK(!hvd_vf_lookup(root, "0000:09:00.0", NULL, NULL, NULL, &err) && err, "missing device: refused");
    g_clear_error(&err);

    /* the real entry point: an interface that does not exist */
    TAP_CHECK(!hvd_vf_set_mac_vlan("hvd-no-such0", 0, MAC, 0, &err) && err &&
                  strstr(err->message, "no network device hvd-no-such0"),
              "unknown PF netdev: clear error");
    g_clear_error(&err);

    /* hvd_nodedev_prepare_hostdevs with is_net: the VF's MAC is the
     * last step before the device is recorded; any failure leaves nothing
     * recorded. The VF and the non-VF sit on vfio-pci in their own
     * IOMMU groups. */
    mkdirs("bus/pci/drivers/vfio-pci");
    mkdirs("kernel/iommu_groups/7/devices");
    mkdirs("kernel/iommu_groups/8/devices");
    const char *assigned[][2] = { { "0000:02:10.2", "7" }, { "0000:03:00.0", "8" } };
    for (size_t i = 0; i < 2; i++) {
        g_autofree char *dir = g_strdup_printf("devices/pci0000:00/%s", assigned[i][0]);
        g_autofree char *f_vendor = g_strdup_printf("%s/vendor", dir), *f_device = g_strdup_printf("%s/device", dir),
                        *f_class = g_strdup_printf("%s/class", dir), *l_drv = g_strdup_printf("%s/driver", dir),
                        *l_grp = g_strdup_printf("%s/iommu_group", dir);
        write_file(f_vendor, "0x8086\n");
        write_file(f_device, "0x10ca\n");
        write_file(f_class, "0x020000\n");
        link_to(l_drv, "../../../bus/pci/drivers/vfio-pci");
        g_autofree char *grp = g_strdup_printf("../../../kernel/iommu_groups/%s", assigned[i][1]);
        link_to(l_grp, grp);
        g_autofree char *member = g_strdup_printf("kernel/iommu_groups/%s/devices/%s", assigned[i][1], assigned[i][0]);
        g_autofree char *back = g_strdup_printf("../../../../devices/pci0000:00/%s", assigned[i][0]);
        link_to(member, back);
    }
    g_autofree char *state = g_build_filename(root, "state", NULL);
    g_mkdir_with_parents(state, 0755);
    HvdNodedevConfig cfg = { .sysfs_root = root, .state_dir = state, .modprobe = "" };
    TAP_CHECK(hvd_nodedev_init(&cfg, &err), "node-device driver on the fake tree");
    g_clear_error(&err);

    HvdNodedevHostdev plain = { .addr = { 0, 2, 0x10, 2 } };
    TAP_CHECK(hvd_nodedev_prepare_hostdevs("dom1", &plain, 1, &err), "the VF as a plain hostdev: prepared (%s)",
              err ? err->message : "ok");
    g_clear_error(&err);
    hvd_nodedev_release_hostdevs("dom1");

    HvdNodedevHostdev nonvf = { .addr = { 0, 3, 0, 0 }, .is_net = true, .mac = { 0x52, 0x54, 0, 1, 2, 3 } };
    TAP_CHECK(!hvd_nodedev_prepare_hostdevs("dom1", &nonvf, 1, &err) && err &&
                  strstr(err->message, "needs an SR-IOV virtual function"),
              "interface type='hostdev' on a non-VF: refused (%s)", err ? err->message : "");
    g_clear_error(&err);
    g_autofree char *user = hvd_nodedev_used_by(&nonvf.addr);
    TAP_CHECK(user == NULL, "nothing recorded for it");

    HvdNodedevHostdev vfnet = { .addr = { 0, 2, 0x10, 2 }, .is_net = true, .mac = { 0x52, 0x54, 0, 1, 2, 3 },
                                .vlan = 12 };
    TAP_CHECK(!hvd_nodedev_prepare_hostdevs("dom1", &vfnet, 1, &err) && err &&
                  strstr(err->message, "VF 1 on enp2s0f0") && strstr(err->message, "no network device"),
              "VF whose PF netdev is absent here: the MAC step fails and says where (%s)", err ? err->message : "");
    g_clear_error(&err);
    g_autofree char *user2 = hvd_nodedev_used_by(&vfnet.addr);
    TAP_CHECK(user2 == NULL, "all or nothing: the VF is not recorded as used");
    hvd_nodedev_shutdown();

    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", root);
    if (system(cmd) != 0)
        printf("# cleanup of %s failed\n", root);
    g_free(root);
}

int main(void)
{
    build_tests();
    transact_tests();
    lookup_tests();
    return tap_done();
}
