/* tap backend and the generic fd-queue backend; see tap.h and net.h. */
#include "hv/backends/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/log.h"

#define TUN_PATH "/dev/net/tun"

static void close_fds(const int *fds, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

static int make_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}

struct net_backend *net_backend_from_fds(const int *fds, unsigned nfds, unsigned vnet_hdr_len,
                                         const char *ifname, char *err, size_t errlen)
{
    if (nfds == 0 || nfds > NET_MAX_QUEUES) {
        snprintf(err, errlen, "network backend: %u queues given, 1..%u supported", nfds,
                 NET_MAX_QUEUES);
        close_fds(fds, nfds);
        return NULL;
    }
    if (vnet_hdr_len != 0 && vnet_hdr_len != 10 && vnet_hdr_len != 12) {
        snprintf(err, errlen, "network backend: vnet header length %u (want 0, 10 or 12)",
                 vnet_hdr_len);
        close_fds(fds, nfds);
        return NULL;
    }
    for (unsigned i = 0; i < nfds; i++) {
        int r = fds[i] < 0 ? -EBADF : make_nonblocking(fds[i]);
        if (r < 0) {
            snprintf(err, errlen, "network backend: fd %d: %s", fds[i], strerror(-r));
            close_fds(fds, nfds);
            return NULL;
        }
    }
    struct net_backend *be = calloc(1, sizeof(*be));
    if (!be) {
        snprintf(err, errlen, "network backend: out of memory");
        close_fds(fds, nfds);
        return NULL;
    }
    if (ifname)
        snprintf(be->ifname, sizeof(be->ifname), "%s", ifname);
    be->nqueues = nfds;
    be->vnet_hdr_len = vnet_hdr_len;
    for (unsigned i = 0; i < NET_MAX_QUEUES; i++)
        be->fds[i] = i < nfds ? fds[i] : -1;
    return be;
}

ssize_t net_backend_send(struct net_backend *be, unsigned queue, const struct iovec *iov,
                         unsigned iovcnt)
{
    if (queue >= be->nqueues)
        return -EINVAL;
    for (;;) {
        ssize_t r = writev(be->fds[queue], iov, (int)iovcnt);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return -errno;
    }
}

ssize_t net_backend_recv(struct net_backend *be, unsigned queue, void *buf, size_t len)
{
    if (queue >= be->nqueues)
        return -EINVAL;
    for (;;) {
        ssize_t r = read(be->fds[queue], buf, len);
        if (r >= 0)
            return r;
        if (errno == EWOULDBLOCK)
            return -EAGAIN;
        if (errno != EINTR)
            return -errno;
    }
}

void net_backend_close(struct net_backend *be)
{
    if (!be)
        return;
    close_fds(be->fds, be->nqueues);
    free(be);
}

/* ---- tap ---- */

/* Turn a TUNSETIFF failure into the sentence a user can act on. */
static void tunsetiff_error(char *err, size_t errlen, const char *name, int e, bool mq)
{
    const char *why;
    switch (e) {
    case EPERM:
    case EACCES:
        why = "permission denied (creating or attaching a tap needs CAP_NET_ADMIN, or a "
              "persistent tap owned by this user)";
        break;
    case EBUSY:
        why = "busy: the tap is attached to another process";
        break;
    case EINVAL:
        why = mq ? "busy or incompatible: the interface exists with other flags (not a "
                   "multi-queue tap, or vnet_hdr differs), or is not a tap"
                 : "incompatible: the interface exists with other flags (multi-queue, "
                   "vnet_hdr) or is not a tap";
        break;
    case ENODEV:
        why = "no such device";
        break;
    default:
        why = strerror(e);
        break;
    }
    snprintf(err, errlen, "tap %s: %s", name && *name ? name : "(new)", why);
}

static int tap_attach(const char *name, bool mq, bool vnet_hdr, char *out_name, char *err,
                      size_t errlen)
{
    int fd = open(TUN_PATH, O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "tap %s: cannot open %s: %s", name && *name ? name : "(new)",
                 TUN_PATH,
                 e == ENOENT || e == ENODEV ? "no such device (tun module not loaded?)"
                 : e == EACCES || e == EPERM ? "permission denied"
                                             : strerror(e));
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (mq)
        ifr.ifr_flags |= IFF_MULTI_QUEUE;
    if (vnet_hdr)
        ifr.ifr_flags |= IFF_VNET_HDR;
    if (name)
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        tunsetiff_error(err, errlen, name, errno, mq);
        close(fd);
        return -1;
    }
    snprintf(out_name, NET_IFNAME_MAX, "%s", ifr.ifr_name);
    return fd;
}

/* A pre-opened fd must be an attached tap (not tun) whose vnet_hdr flag
 * matches what the NIC will read and write. */
static bool tap_check_fd(int fd, unsigned vnet_hdr_len, char *name, char *err, size_t errlen)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
        int e = errno;
        snprintf(err, errlen, "fd %d is not a tap device attached to an interface (%s)", fd,
                 e == EBADF ? "bad file descriptor" : e == EBADFD ? "not attached" : strerror(e));
        return false;
    }
    if (!(ifr.ifr_flags & IFF_TAP)) {
        snprintf(err, errlen, "fd %d (%.16s) is a tun device, not a tap", fd, ifr.ifr_name);
        return false;
    }
    bool has_vnet = ifr.ifr_flags & IFF_VNET_HDR;
    if (has_vnet != (vnet_hdr_len != 0)) {
        snprintf(err, errlen, "tap %.16s (fd %d) was opened %s IFF_VNET_HDR but this NIC %s it",
                 ifr.ifr_name, fd, has_vnet ? "with" : "without",
                 vnet_hdr_len ? "needs" : "cannot use");
        return false;
    }
    snprintf(name, NET_IFNAME_MAX, "%.15s", ifr.ifr_name);
    return true;
}

static int ioctl_all(struct net_backend *be, unsigned long req, const void *arg, const char *what)
{
    for (unsigned q = 0; q < be->nqueues; q++) {
        if (ioctl(be->fds[q], req, arg) < 0) {
            int e = errno;
            log_warn("tap %s: queue %u: %s: %s", be->ifname, q, what, strerror(e));
            return -e;
        }
    }
    return 0;
}

int tap_set_vnet_hdr_len(struct net_backend *be, unsigned len)
{
    if (len != 10 && len != 12)
        return -EINVAL;
    if (!be->is_tap) {
        be->vnet_hdr_len = len;
        return 0;
    }
    int sz = (int)len;
    int r = ioctl_all(be, TUNSETVNETHDRSZ, &sz, "TUNSETVNETHDRSZ");
    if (r == 0)
        be->vnet_hdr_len = len;
    return r;
}

int tap_set_offload(struct net_backend *be, unsigned flags)
{
    if (!be->is_tap)
        return flags ? -ENOTTY : 0;
    /* TUNSETOFFLOAD takes the flags by value, not by pointer. */
    for (unsigned q = 0; q < be->nqueues; q++) {
        if (ioctl(be->fds[q], TUNSETOFFLOAD, (unsigned long)flags) < 0) {
            int e = errno;
            log_warn("tap %s: queue %u: TUNSETOFFLOAD 0x%x: %s", be->ifname, q, flags,
                     strerror(e));
            return -e;
        }
    }
    return 0;
}

int tap_set_queue_enabled(struct net_backend *be, unsigned queue, bool enabled)
{
    if (queue >= be->nqueues)
        return -EINVAL;
    if (!be->is_tap)
        return -ENOTTY;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = enabled ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
    if (ioctl(be->fds[queue], TUNSETQUEUE, &ifr) < 0) {
        int e = errno;
        log_warn("tap %s: queue %u: %s: %s", be->ifname, queue,
                 enabled ? "attach" : "detach", strerror(e));
        return -e;
    }
    return 0;
}

struct net_backend *tap_open(const struct tap_config *cfg, char *err, size_t errlen)
{
    char name[NET_IFNAME_MAX] = "";
    int fds[NET_MAX_QUEUES];
    unsigned n;
    if (cfg->vnet_hdr_len != 0 && cfg->vnet_hdr_len != 10 && cfg->vnet_hdr_len != 12) {
        snprintf(err, errlen, "tap: vnet header length %u (want 0, 10 or 12)",
                 cfg->vnet_hdr_len);
        if (cfg->nfds)
            close_fds(cfg->fds, cfg->nfds);
        return NULL;
    }
    if (cfg->nfds) {
        n = cfg->nfds;
        if (n > NET_MAX_QUEUES) {
            snprintf(err, errlen, "tap: %u fds given, at most %u queues", n, NET_MAX_QUEUES);
            close_fds(cfg->fds, n);
            return NULL;
        }
        for (unsigned i = 0; i < n; i++) {
            char qname[NET_IFNAME_MAX];
            if (!tap_check_fd(cfg->fds[i], cfg->vnet_hdr_len, qname, err, errlen)) {
                close_fds(cfg->fds, n);
                return NULL;
            }
            if (i == 0) {
                memcpy(name, qname, sizeof(name));
            } else if (strcmp(name, qname) != 0) {
                snprintf(err, errlen, "tap fds belong to different interfaces (%s, %s)", name,
                         qname);
                close_fds(cfg->fds, n);
                return NULL;
            }
            fds[i] = cfg->fds[i];
        }
    } else {
        n = cfg->queues ? cfg->queues : 1;
        if (n > NET_MAX_QUEUES) {
            snprintf(err, errlen, "tap %s: %u queues requested, at most %u",
                     cfg->ifname ? cfg->ifname : "(new)", n, NET_MAX_QUEUES);
            return NULL;
        }
        if (cfg->ifname && strlen(cfg->ifname) >= NET_IFNAME_MAX) {
            snprintf(err, errlen, "tap %s: interface name longer than %d characters",
                     cfg->ifname, NET_IFNAME_MAX - 1);
            return NULL;
        }
        /* Every queue of a multi-queue tap is one more open of the same
         * name with IFF_MULTI_QUEUE (virtio.md §10). */
        for (unsigned i = 0; i < n; i++) {
            fds[i] = tap_attach(i == 0 ? cfg->ifname : name, n > 1, cfg->vnet_hdr_len != 0,
                                name, err, errlen);
            if (fds[i] < 0) {
                close_fds(fds, i);
                return NULL;
            }
        }
    }
    struct net_backend *be = net_backend_from_fds(fds, n, 0, name, err, errlen);
    if (!be)
        return NULL;
    be->is_tap = true;
    if (cfg->vnet_hdr_len) {
        int r = tap_set_vnet_hdr_len(be, cfg->vnet_hdr_len);
        if (r < 0) {
            snprintf(err, errlen, "tap %s: TUNSETVNETHDRSZ %u: %s", name, cfg->vnet_hdr_len,
                     strerror(-r));
            net_backend_close(be);
            return NULL;
        }
    }
    return be;
}
