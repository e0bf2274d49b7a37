/* Host networking helpers (drivers/net/): the pure parts (names, MACs,
 * argument checks) everywhere; taps, multiqueue, MAC/MTU, bridge attach and
 * teardown for real inside a private network namespace when the test can
 * create one (root: unshare(CLONE_NEWNET)), skipped otherwise. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <glib.h>

#include "drivers/net/bridge.h"
#include "drivers/net/tap.h"
#include "drivers/virerror.h"
#include "tests/tap.h"

static const char *msg(const GError *err)
{
    return err ? err->message : "(no error)";
}

static void test_names(void)
{
    TAP_CHECK(hvd_tap_name_is_generated(NULL), "NULL name is generated");
    TAP_CHECK(hvd_tap_name_is_generated(""), "empty name is generated");
    TAP_CHECK(hvd_tap_name_is_generated("vnet7"), "vnet7 is ours to generate (libvirt)");
    TAP_CHECK(hvd_tap_name_is_generated("tap%d"), "template with %% is generated");
    TAP_CHECK(!hvd_tap_name_is_generated("mytap0"), "mytap0 is used as given");

    GError *err = NULL;
    TAP_CHECK(hvd_netdev_name_validate("eth0", &err), "eth0 valid");
    TAP_CHECK(hvd_netdev_name_validate("abcdefghijklmno", NULL), "15 characters valid");
    TAP_CHECK(!hvd_netdev_name_validate("abcdefghijklmnop", &err) &&
                  hvd_vir_error_number(err) == VIR_ERR_INVALID_ARG &&
                  strstr(msg(err), "'abcdefghijklmnop' is longer than 15"),
              "16 characters refused: %s", msg(err));
    g_clear_error(&err);
    static const char *bad[] = { "", "a/b", "a b", "a:b", ".", "..", "a\tb", "a\x01" };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        TAP_CHECK(!hvd_netdev_name_validate(bad[i], &err) && err, "bad name %zu refused: %s", i,
                  msg(err));
        g_clear_error(&err);
    }
}

static void test_macs(void)
{
    uint8_t mac[6], host[6];
    GError *err = NULL;
    TAP_CHECK(hvd_mac_parse("52:54:00:AB:cd:0f", mac, &err), "parse mixed case MAC");
    TAP_CHECK(mac[0] == 0x52 && mac[3] == 0xab && mac[4] == 0xcd && mac[5] == 0x0f, "MAC bytes");
    g_autofree char *s = hvd_mac_format(mac);
    TAP_EQ_STR(s, "52:54:00:ab:cd:0f", "format lower case");
    static const char *bad[] = { "52:54:00:12:34", "52-54-00-12-34-56", "zz:54:00:12:34:56",
                                 "52:54:00:12:34:567", "52:54:00:12:34:5", "" };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        TAP_CHECK(!hvd_mac_parse(bad[i], mac, &err) &&
                      hvd_vir_error_number(err) == VIR_ERR_INVALID_ARG,
                  "bad MAC '%s' refused: %s", bad[i], msg(err));
        g_clear_error(&err);
    }

    hvd_mac_parse("52:54:00:12:34:56", mac, NULL);
    TAP_CHECK(hvd_tap_host_mac(mac, host, &err), "host MAC derived");
    g_autofree char *hs = hvd_mac_format(host);
    TAP_EQ_STR(hs, "fe:54:00:12:34:56", "host MAC = guest MAC with 0xFE first (libvirt)");

    hvd_mac_parse("fe:54:00:12:34:56", mac, NULL);
    TAP_CHECK(!hvd_tap_host_mac(mac, host, &err) &&
                  hvd_vir_error_number(err) == VIR_ERR_CONFIG_UNSUPPORTED,
              "guest MAC starting with 0xFE refused");
    TAP_EQ_STR(msg(err),
               "unsupported configuration: Unable to use MAC address starting with reserved "
               "value 0xFE - 'FE:54:00:12:34:56' - ", "libvirt's text");
    g_clear_error(&err);
    hvd_mac_parse("01:00:5e:00:00:01", mac, NULL);
    TAP_CHECK(!hvd_tap_host_mac(mac, host, &err) && strstr(msg(err), "multicast"),
              "multicast guest MAC refused: %s", msg(err));
    g_clear_error(&err);
}

static void test_argument_checks(void)
{
    GError *err = NULL;
    HvdTapOptions o = { .queues = 257 };
    TAP_CHECK(!hvd_tap_create(&o, &err) && hvd_vir_error_number(err) == VIR_ERR_CONFIG_UNSUPPORTED &&
                  strstr(msg(err), "257 queues"),
              "257 queues refused: %s", msg(err));
    g_clear_error(&err);

    o = (HvdTapOptions){ .ifname = "bad/name" };
    TAP_CHECK(!hvd_tap_create(&o, &err) && strstr(msg(err), "'bad/name'"),
              "bad tap name refused: %s", msg(err));
    g_clear_error(&err);

    uint8_t fe[6] = { 0xfe, 0, 0, 0, 0, 1 };
    o = (HvdTapOptions){ .guest_mac = fe };
    TAP_CHECK(!hvd_tap_create(&o, &err) && strstr(msg(err), "0xFE"), "0xFE MAC refused first");
    g_clear_error(&err);

    o = (HvdTapOptions){ .ifname = "t0", .mtu = 20 };
    TAP_CHECK(!hvd_tap_create(&o, &err) && strstr(msg(err), "invalid MTU 20"),
              "MTU 20 refused: %s", msg(err));
    g_clear_error(&err);

    o = (HvdTapOptions){ .ifname = "t0", .bridge = "br:0" };
    TAP_CHECK(!hvd_tap_create(&o, &err) && strstr(msg(err), "'br:0'"),
              "bad bridge name refused: %s", msg(err));
    g_clear_error(&err);

    int fd = hvd_vhost_net_open("/nonexistent/vhost-net", &err);
    TAP_CHECK(fd < 0 && strstr(msg(err), "vhost-net is not available") &&
                  strstr(msg(err), "/nonexistent/vhost-net") && strstr(msg(err), "vhost_net"),
              "missing vhost-net: clear error: %s", msg(err));
    g_clear_error(&err);
}

/* ------------------------------------------------------------------ */
/* In a private network namespace                                      */

static short tun_flags(int fd)
{
    struct ifreq ifr = { 0 };
    if (ioctl(fd, TUNGETIFF, &ifr) < 0)
        return 0;
    return ifr.ifr_flags;
}

static void test_taps_for_real(void)
{
    GError *err = NULL;
    HvdTapOptions o = { 0 };

    /* Generated names: first free vnetN. */
    HvdTap *a = hvd_tap_create(&o, &err);
    HvdTap *b = hvd_tap_create(&o, &err);
    TAP_CHECK(a && b, "two taps with generated names (%s)", msg(err));
    g_clear_error(&err);
    if (!a || !b)
        return;
    TAP_EQ_STR(a->ifname, "vnet0", "first is vnet0");
    TAP_EQ_STR(b->ifname, "vnet1", "second is vnet1");
    TAP_CHECK(hvd_netdev_exists("vnet0") && a->n_fds == 1 && a->tap_fds[0] >= 0,
              "vnet0 exists with one fd");
    hvd_tap_free(a);
    TAP_CHECK(!hvd_netdev_exists("vnet0"), "closing the fd removes vnet0 (not persistent)");
    o.ifname = "vnet5";   /* a configured vnetN is regenerated, like libvirt */
    a = hvd_tap_create(&o, &err);
    TAP_EQ_STR(a ? a->ifname : msg(err), "vnet0", "next tap reuses the first free index");
    hvd_tap_free(a);
    hvd_tap_free(b);

    /* Bridge. */
    TAP_CHECK(hvd_bridge_create("hvdbr0", &err), "create bridge hvdbr0 (%s)", msg(err));
    g_clear_error(&err);
    TAP_CHECK(hvd_bridge_exists("hvdbr0"), "hvdbr0 is a bridge");
    TAP_CHECK(hvd_netdev_set_mtu("hvdbr0", 1400, &err), "bridge MTU 1400 (%s)", msg(err));
    g_clear_error(&err);

    /* A multiqueue tap with everything. */
    uint8_t guest[6];
    hvd_mac_parse("52:54:00:aa:bb:cc", guest, NULL);
    o = (HvdTapOptions){ .ifname = "hvdtap0", .guest_mac = guest, .queues = 4,
                         .vnet_hdr = true, .bridge = "hvdbr0", .up = true };
    HvdTap *t = hvd_tap_create(&o, &err);
    TAP_CHECK(t != NULL, "multiqueue tap on the bridge (%s)", msg(err));
    g_clear_error(&err);
    if (t) {
        TAP_EQ_STR(t->ifname, "hvdtap0", "given name kept");
        TAP_EQ_U64(t->n_fds, 4, "four queue fds");
        bool distinct = true, mq = true;
        for (unsigned i = 0; i < t->n_fds; i++) {
            short f = tun_flags(t->tap_fds[i]);
            mq = mq && (f & IFF_MULTI_QUEUE) && (f & IFF_VNET_HDR) && (f & IFF_TAP) &&
                 (f & IFF_NO_PI);
            for (unsigned j = 0; j < i; j++)
                distinct = distinct && t->tap_fds[i] != t->tap_fds[j];
        }
        TAP_CHECK(distinct && mq, "every fd is a TAP|NO_PI|VNET_HDR|MULTI_QUEUE queue");
        TAP_CHECK(fcntl(t->tap_fds[0], F_GETFD) & FD_CLOEXEC, "fds are close-on-exec");
        TAP_CHECK(t->vhost_fds == NULL, "no vhost fds unless asked");
        uint8_t mac[6] = { 0 };
        hvd_netdev_get_mac("hvdtap0", mac, NULL);
        g_autofree char *ms = hvd_mac_format(mac);
        TAP_EQ_STR(ms, "fe:54:00:aa:bb:cc", "tap MAC fe:54:00:aa:bb:cc");
        unsigned mtu = 0;
        hvd_netdev_get_mtu("hvdtap0", &mtu, NULL);
        TAP_EQ_U64(mtu, 1400, "tap took the bridge's MTU");
        g_autofree char *master = hvd_bridge_of_port("hvdtap0");
        TAP_EQ_STR(master, "hvdbr0", "tap is a port of hvdbr0");
        bool up = false;
        hvd_netdev_is_up("hvdtap0", NULL, &up);
        TAP_CHECK(up, "tap is up");

        /* The same name again conflicts with the live device. */
        HvdTapOptions again = { .ifname = "hvdtap0" };
        HvdTap *dup = hvd_tap_create(&again, &err);
        TAP_CHECK(!dup && strstr(msg(err), "'hvdtap0': an interface of that name already exists"),
                  "name in use: %s", msg(err));
        g_clear_error(&err);
        hvd_tap_free(dup);

        TAP_CHECK(hvd_bridge_remove_port("hvdbr0", "hvdtap0", &err), "detach from bridge (%s)",
                  msg(err));
        g_clear_error(&err);
        g_autofree char *none = hvd_bridge_of_port("hvdtap0");
        TAP_CHECK(none == NULL, "no longer a port");
        hvd_tap_free(t);
        TAP_CHECK(!hvd_netdev_exists("hvdtap0"), "teardown removes the multiqueue tap");
    }

    /* Bridge errors. */
    o = (HvdTapOptions){ .ifname = "hvdtap1", .bridge = "nobr0" };
    t = hvd_tap_create(&o, &err);
    TAP_CHECK(!t && strstr(msg(err), "bridge 'nobr0' does not exist") &&
                  strstr(msg(err), "'hvdtap1'"),
              "missing bridge: %s", msg(err));
    g_clear_error(&err);
    TAP_CHECK(!hvd_netdev_exists("hvdtap1"), "failed tap is gone again");
    HvdTapOptions plain = { .ifname = "hvdtap2" };
    HvdTap *notbr = hvd_tap_create(&plain, NULL);
    o = (HvdTapOptions){ .ifname = "hvdtap1", .bridge = "hvdtap2" };
    t = hvd_tap_create(&o, &err);
    TAP_CHECK(!t && strstr(msg(err), "'hvdtap2' is not a bridge device"), "not a bridge: %s",
              msg(err));
    g_clear_error(&err);
    hvd_tap_free(notbr);

    /* vhost-net: one fd per queue, or a clear error naming the tap. */
    o = (HvdTapOptions){ .ifname = "hvdtap3", .queues = 2, .vnet_hdr = true, .vhost = true };
    t = hvd_tap_create(&o, &err);
    if (access("/dev/vhost-net", F_OK) == 0) {
        TAP_CHECK(t && t->vhost_fds && t->vhost_fds[0] >= 0 && t->vhost_fds[1] >= 0,
                  "two vhost-net fds (%s)", msg(err));
    } else {
        TAP_CHECK(!t && strstr(msg(err), "tap 'hvdtap3'") &&
                      strstr(msg(err), "vhost-net is not available"),
                  "no /dev/vhost-net here: %s", msg(err));
        TAP_CHECK(!hvd_netdev_exists("hvdtap3"), "tap closed after the vhost failure");
    }
    g_clear_error(&err);
    hvd_tap_free(t);

    TAP_CHECK(hvd_bridge_delete("hvdbr0", &err), "delete bridge (%s)", msg(err));
    g_clear_error(&err);
    TAP_CHECK(!hvd_netdev_exists("hvdbr0"), "bridge gone");
}

int main(void)
{
    test_names();
    test_macs();
    test_argument_checks();
    /* A private mount namespace too, so /sys/class/net can be remounted to
     * show the new network namespace (bridge port links). */
    if (geteuid() == 0 && unshare(CLONE_NEWNET | CLONE_NEWNS) == 0) {
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("sysfs", "/sys", "sysfs", 0, NULL) < 0)
            printf("# cannot remount /sys: %s\n", g_strerror(errno));
        test_taps_for_real();
    }
    else
        printf("ok %d - # SKIP cannot create a network namespace (%s)\n", ++tap_count,
               geteuid() ? "not root" : g_strerror(errno));
    return tap_done();
}
