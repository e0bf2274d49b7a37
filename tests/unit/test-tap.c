/* tap backend: the fd-queue backend on a socketpair, errors for bad
 * input, and (when /dev/net/tun can be used here) real taps by name,
 * multi-queue, vnet header, adoption of pre-opened fds and "busy". */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hv/backends/tap.h"
#include "tests/tap.h"

static bool is_nonblocking(int fd) { return fcntl(fd, F_GETFL) & O_NONBLOCK; }

static void test_fd_backend(void)
{
    char err[256] = "";
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0) {
        TAP_CHECK(false, "socketpair: %s", strerror(errno));
        return;
    }
    struct net_backend *be = net_backend_from_fds(&sv[0], 1, 0, "sp0", err, sizeof(err));
    TAP_CHECK(be && be->nqueues == 1 && !be->is_tap, "fd backend created (%s)", err);
    if (!be)
        return;
    TAP_CHECK(is_nonblocking(net_backend_fd(be, 0)), "fd made non-blocking");
    TAP_EQ_U64(net_backend_fd(be, 1), (uint64_t)-1, "no queue 1");
    uint8_t buf[2048];
    TAP_EQ_U64(net_backend_recv(be, 0, buf, sizeof(buf)), (uint64_t)-EAGAIN, "empty: -EAGAIN");
    uint8_t a[10] = "0123456789", b[5] = "abcde";
    struct iovec iov[2] = { { a, 10 }, { b, 5 } };
    TAP_EQ_U64(net_backend_send(be, 0, iov, 2), 15, "gathered send of 15 bytes");
    TAP_CHECK(recv(sv[1], buf, sizeof(buf), 0) == 15 && memcmp(buf, "0123456789abcde", 15) == 0,
              "peer got one 15-byte frame");
    TAP_CHECK(send(sv[1], "xyz", 3, 0) == 3, "peer sends");
    TAP_EQ_U64(net_backend_recv(be, 0, buf, sizeof(buf)), 3, "one 3-byte frame received");
    TAP_EQ_U64(net_backend_send(be, 3, iov, 2), (uint64_t)-EINVAL, "send on a missing queue");
    net_backend_close(be);
    close(sv[1]);

    int fds[NET_MAX_QUEUES + 1];
    TAP_CHECK(!net_backend_from_fds(fds, 0, 0, NULL, err, sizeof(err)) && strstr(err, "0 queues"),
              "zero fds refused (%s)", err);
    int p[2];
    if (pipe(p) == 0) {
        TAP_CHECK(!net_backend_from_fds(p, 1, 7, NULL, err, sizeof(err)) && strstr(err, "7"),
                  "vnet header length 7 refused (%s)", err);
        TAP_CHECK(fcntl(p[0], F_GETFD) < 0 && errno == EBADF, "the fd was closed on failure");
        close(p[1]);
    }
    int bad = -1;
    TAP_CHECK(!net_backend_from_fds(&bad, 1, 0, NULL, err, sizeof(err)) && strstr(err, "-1"),
              "fd -1 refused (%s)", err);
}

static void test_tap_adopt_non_tap(void)
{
    char err[256] = "";
    int p[2];
    if (pipe(p) < 0)
        return;
    struct tap_config cfg = { .fds = &p[0], .nfds = 1 };
    TAP_CHECK(!tap_open(&cfg, err, sizeof(err)) && strstr(err, "not a tap"),
              "a pipe handed in as a tap fd is refused (%s)", err);
    close(p[1]);
}

static void test_real_tap(void)
{
    int probe = open("/dev/net/tun", O_RDWR);
    if (probe < 0) {
        printf("ok %d - # SKIP /dev/net/tun not usable here (%s)\n", ++tap_count, strerror(errno));
        return;
    }
    close(probe);
    char err[256] = "";
    char name[16];
    snprintf(name, sizeof(name), "hvt%d", (int)getpid() % 100000);

    struct tap_config cfg = { .ifname = name };
    struct net_backend *be = tap_open(&cfg, err, sizeof(err));
    if (!be && strstr(err, "permission")) {
        printf("ok %d - # SKIP cannot create taps here: %s\n", ++tap_count, err);
        return;
    }
    TAP_CHECK(be && strcmp(be->ifname, name) == 0 && be->is_tap, "tap %s opened by name (%s)", name,
              err);
    if (!be)
        return;
    TAP_CHECK(is_nonblocking(be->fds[0]), "tap fd non-blocking");
    uint8_t buf[2048];
    TAP_EQ_U64(net_backend_recv(be, 0, buf, sizeof(buf)), (uint64_t)-EAGAIN,
               "no frames on a fresh tap");
    struct net_backend *again = tap_open(&cfg, err, sizeof(err));
    TAP_CHECK(!again && strstr(err, name) && strstr(err, "busy"), "second attach: busy (%s)", err);
    net_backend_close(again);

    /* The daemon's way: it opens the tap, hv adopts the fd. */
    int fd = open("/dev/net/tun", O_RDWR);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    char name2[16];
    snprintf(name2, sizeof(name2), "hvu%d", (int)getpid() % 100000);
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name2);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    TAP_CHECK(fd >= 0 && ioctl(fd, TUNSETIFF, &ifr) == 0, "test opened %s itself", name2);
    struct tap_config adopt = { .fds = &fd, .nfds = 1, .vnet_hdr_len = 10 };
    int fd_dup = dup(fd);
    TAP_CHECK(!tap_open(&adopt, err, sizeof(err)) && strstr(err, "IFF_VNET_HDR"),
              "adopting without vnet_hdr for a vnet_hdr NIC refused (%s)", err);
    adopt.fds = &fd_dup;
    adopt.vnet_hdr_len = 0;
    struct net_backend *ad = tap_open(&adopt, err, sizeof(err));
    TAP_CHECK(ad && strcmp(ad->ifname, name2) == 0, "pre-opened tap fd adopted, name read back (%s)",
              ad ? ad->ifname : err);
    net_backend_close(ad);
    net_backend_close(be);

    /* Multi-queue with vnet header (virtio-net's configuration). */
    struct tap_config mq = { .ifname = name, .queues = 2, .vnet_hdr_len = 12 };
    be = tap_open(&mq, err, sizeof(err));
    TAP_CHECK(be && be->nqueues == 2 && be->vnet_hdr_len == 12, "2-queue tap with vnet_hdr 12 (%s)",
              err);
    if (be) {
        int sz = 0;
        TAP_CHECK(ioctl(be->fds[1], TUNGETVNETHDRSZ, &sz) == 0 && sz == 12,
                  "TUNSETVNETHDRSZ applied to queue 1 (%d)", sz);
        TAP_EQ_U64(tap_set_offload(be, TAP_OFFLOAD_CSUM | TAP_OFFLOAD_TSO4), 0, "TUNSETOFFLOAD");
        TAP_EQ_U64(tap_set_queue_enabled(be, 1, false), 0, "queue 1 detached");
        TAP_EQ_U64(tap_set_queue_enabled(be, 1, true), 0, "queue 1 attached again");
        TAP_EQ_U64(tap_set_vnet_hdr_len(be, 10), 0, "vnet header length changed to 10");
        TAP_EQ_U64(tap_set_vnet_hdr_len(be, 11), (uint64_t)-EINVAL, "length 11 refused");
        net_backend_close(be);
    }
}

int main(void)
{
    test_fd_backend();
    test_tap_adopt_non_tap();
    test_real_tap();
    return tap_done();
}
