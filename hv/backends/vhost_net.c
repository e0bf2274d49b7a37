/* vhost-net control plane; see vhost_net.h. Ioctl order follows
 * virtio.md §11 (owner, features, memory table, rings, backend). */
#include "hv/backends/vhost_net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/log.h"
#include "hv/guest_mem.h"

/* Feature bits a vhost-net ring understands (virtio.md §11): merged rx
 * buffers, descriptor formats, event index, the 1.x layout. */
#define VHOST_RING_FEATURE_MASK                                                          \
    ((1ull << 15) /* MRG_RXBUF */ | (1ull << 24) /* NOTIFY_ON_EMPTY */ |                 \
     (1ull << 27) /* ANY_LAYOUT */ | (1ull << 28) /* INDIRECT_DESC */ |                  \
     (1ull << 29) /* EVENT_IDX */ | (1ull << 32) /* VERSION_1 */)
#define VHOST_NET_HDR_FEATURE (1ull << 27)   /* VHOST_NET_F_VIRTIO_NET_HDR, same bit as ANY_LAYOUT */

static int fail(char *err, size_t errlen, const char *what, int e)
{
    snprintf(err, errlen, "%s failed: %s", what, strerror(e));
    return -e;
}

int vhost_net_init(struct vhost_net *vh, int fd, char *err, size_t errlen)
{
    memset(vh, 0, sizeof(*vh));
    vh->fd = -1;
    if (fd < 0) {
        fd = open(VHOST_NET_PATH, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            snprintf(err, errlen, "%s cannot be opened: %s%s", VHOST_NET_PATH, strerror(e),
                     e == ENOENT ? " (module vhost_net not loaded?)" : "");
            return -e;
        }
    } else if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        int e = errno;
        snprintf(err, errlen, "vhost-net fd %d: %s", fd, strerror(e));
        close(fd);
        return -e;
    }
    /* The first ioctl binds the fd to this process and its memory map. */
    if (ioctl(fd, VHOST_SET_OWNER) < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: VHOST_SET_OWNER refused: %s%s", VHOST_NET_PATH, strerror(e),
                 e == EBUSY ? " (fd already owned by another process)" : "");
        close(fd);
        return -e;
    }
    uint64_t features = 0;
    if (ioctl(fd, VHOST_GET_FEATURES, &features) < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: VHOST_GET_FEATURES failed: %s", VHOST_NET_PATH, strerror(e));
        close(fd);
        return -e;
    }
    if (!(features & (1ull << 32))) {
        snprintf(err, errlen, "%s: kernel vhost-net lacks VIRTIO_F_VERSION_1", VHOST_NET_PATH);
        close(fd);
        return -EOPNOTSUPP;
    }
    vh->fd = fd;
    vh->features = features;
    return 0;
}

uint64_t vhost_net_ring_features(const struct vhost_net *vh, uint64_t guest_features)
{
    /* The tap has IFF_VNET_HDR with a 12-byte header: vhost must pass the
     * header through, so VHOST_NET_F_VIRTIO_NET_HDR stays off. With
     * VERSION_1 bit 27 is that flag, not ANY_LAYOUT. */
    return guest_features & vh->features & VHOST_RING_FEATURE_MASK & ~VHOST_NET_HDR_FEATURE;
}

static int set_mem_table(struct vhost_net *vh, const struct guest_mem *mem, char *err,
                         size_t errlen)
{
    /* struct vhost_memory ends in a flexible array: room for the regions
     * behind it, in storage aligned for both. */
    union {
        uint64_t align;
        uint8_t bytes[sizeof(struct vhost_memory) + GM_MAX_REGIONS * sizeof(struct vhost_memory_region)];
    } buf;
    memset(&buf, 0, sizeof(buf));
    struct vhost_memory *table = (struct vhost_memory *)buf.bytes;
    for (unsigned i = 0; i < mem->nregions && i < GM_MAX_REGIONS; i++) {
        table->regions[i].guest_phys_addr = mem->regions[i].gpa;
        table->regions[i].memory_size = mem->regions[i].size;
        table->regions[i].userspace_addr = (uint64_t)(uintptr_t)mem->regions[i].host;
        table->nregions++;
    }
    if (ioctl(vh->fd, VHOST_SET_MEM_TABLE, table) < 0)
        return fail(err, errlen, "VHOST_SET_MEM_TABLE", errno);
    return 0;
}

static int set_ring(struct vhost_net *vh, unsigned index, const struct vhost_net_ring *r,
                    char *err, size_t errlen)
{
    struct vhost_vring_state num = { .index = index, .num = r->num };
    if (ioctl(vh->fd, VHOST_SET_VRING_NUM, &num) < 0)
        return fail(err, errlen, "VHOST_SET_VRING_NUM", errno);
    struct vhost_vring_state base = { .index = index, .num = r->base };
    if (ioctl(vh->fd, VHOST_SET_VRING_BASE, &base) < 0)
        return fail(err, errlen, "VHOST_SET_VRING_BASE", errno);
    struct vhost_vring_addr addr = {
        .index = index,
        .desc_user_addr = (uint64_t)(uintptr_t)r->desc,
        .avail_user_addr = (uint64_t)(uintptr_t)r->avail,
        .used_user_addr = (uint64_t)(uintptr_t)r->used,
    };
    if (ioctl(vh->fd, VHOST_SET_VRING_ADDR, &addr) < 0)
        return fail(err, errlen, "VHOST_SET_VRING_ADDR", errno);
    struct vhost_vring_file kick = { .index = index, .fd = r->kick_fd };
    if (ioctl(vh->fd, VHOST_SET_VRING_KICK, &kick) < 0)
        return fail(err, errlen, "VHOST_SET_VRING_KICK", errno);
    struct vhost_vring_file call = { .index = index, .fd = r->call_fd };
    if (ioctl(vh->fd, VHOST_SET_VRING_CALL, &call) < 0)
        return fail(err, errlen, "VHOST_SET_VRING_CALL", errno);
    return 0;
}

int vhost_net_set_backend(struct vhost_net *vh, int tap_fd)
{
    for (unsigned i = 0; i < 2; i++) {
        struct vhost_vring_file be = { .index = i, .fd = tap_fd };
        if (ioctl(vh->fd, VHOST_NET_SET_BACKEND, &be) < 0)
            return -errno;
    }
    return 0;
}

int vhost_net_set_call(struct vhost_net *vh, unsigned ring, int call_fd)
{
    if (vh->fd < 0 || ring > 1)
        return -EINVAL;
    struct vhost_vring_file call = { .index = ring, .fd = call_fd };
    return ioctl(vh->fd, VHOST_SET_VRING_CALL, &call) < 0 ? -errno : 0;
}

int vhost_net_start(struct vhost_net *vh, const struct guest_mem *mem, uint64_t features,
                    const struct vhost_net_ring rings[2], int tap_fd, char *err, size_t errlen)
{
    if (vh->fd < 0) {
        snprintf(err, errlen, "vhost-net not open");
        return -EBADF;
    }
    uint64_t f = vhost_net_ring_features(vh, features);
    if (ioctl(vh->fd, VHOST_SET_FEATURES, &f) < 0)
        return fail(err, errlen, "VHOST_SET_FEATURES", errno);
    int r = set_mem_table(vh, mem, err, errlen);
    for (unsigned i = 0; r == 0 && i < 2; i++)
        r = set_ring(vh, i, &rings[i], err, errlen);
    if (r == 0 && tap_fd >= 0) {
        r = vhost_net_set_backend(vh, tap_fd);
        if (r < 0)
            fail(err, errlen, "VHOST_NET_SET_BACKEND", -r);
    }
    if (r < 0)
        return r;
    vh->running = true;
    return 0;
}

void vhost_net_stop(struct vhost_net *vh, uint16_t bases[2])
{
    if (vh->fd < 0 || !vh->running)
        return;
    vhost_net_set_backend(vh, -1);
    for (unsigned i = 0; i < 2; i++) {
        struct vhost_vring_state st = { .index = i };
        if (ioctl(vh->fd, VHOST_GET_VRING_BASE, &st) < 0)
            log_warn("vhost-net: ring %u: VHOST_GET_VRING_BASE: %s", i, strerror(errno));
        else if (bases)
            bases[i] = (uint16_t)st.num;
        /* Unhook the eventfds so a later start begins from a clean ring. */
        struct vhost_vring_file none = { .index = i, .fd = -1 };
        ioctl(vh->fd, VHOST_SET_VRING_KICK, &none);
        ioctl(vh->fd, VHOST_SET_VRING_CALL, &none);
    }
    vh->running = false;
}

void vhost_net_close(struct vhost_net *vh)
{
    if (vh->fd < 0)
        return;
    vhost_net_stop(vh, NULL);
    close(vh->fd);
    vh->fd = -1;
}
