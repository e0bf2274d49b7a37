/* virtio-blk (virtio 1.2 §5.2) on a block-layer image; see blk.h.
 *
 * One I/O thread per disk waits on the queues' kick eventfds (the same
 * fds KVM signals through ioeventfd), drains the rings with the block
 * layer's preadv/pwritev/flush (hv/block/block.h: the image format is its
 * business), and raises interrupts through the transport. */
#include "hv/virtio/blk.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "hv/block/block.h"
#include "hv/virtio/device.h"

/* Feature bits (§5.2.3). */
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12

/* Request types and status values (§5.2.6). */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_ID_BYTES 20
#define SECTOR_SIZE 512u
#define BLK_QUEUE_SIZE 256
#define BLK_SEG_MAX (BLK_QUEUE_SIZE - 2)   /* header and status take two */
#define BLK_MAX_QUEUES 16
#define BLK_IOV_CAP (2 * BLK_QUEUE_SIZE)   /* buffers may split at RAM region ends */

/* Config layout (§5.2.4) up to num_queues. */
#define CFG_CAPACITY 0x00
#define CFG_SEG_MAX 0x0C
#define CFG_BLK_SIZE 0x14
#define CFG_NUM_QUEUES 0x22
#define CFG_LEN 0x24

struct virtio_blk {
    struct virtio_dev dev;
    struct virtq queues[BLK_MAX_QUEUES];
    struct iovec *iov;              /* BLK_IOV_CAP per queue, allocated once */

    struct blk_image *image;
    bool readonly;
    uint64_t size;                  /* bytes */
    char *path, *id;
    char serial[VIRTIO_BLK_ID_BYTES];

    pthread_mutex_t lock;           /* held while requests are processed */
    bool threaded;
    pthread_t thread;
    int stop_fd;

    uint64_t rd_ops, rd_bytes, wr_ops, wr_bytes, flush_ops, failed_ops;   /* atomics */
};

static void count(uint64_t *counter, uint64_t n)
{
    __atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

/* ---- iovec helpers (buffers were checked by the queue core) ---- */

static void iov_copy_out(const struct iovec *iov, unsigned n, void *dst, size_t len)
{
    uint8_t *d = dst;
    for (unsigned i = 0; i < n && len; i++) {
        size_t c = iov[i].iov_len < len ? iov[i].iov_len : len;
        memcpy(d, iov[i].iov_base, c);
        d += c;
        len -= c;
    }
}

static size_t iov_copy_in(struct iovec *iov, unsigned n, const void *src, size_t len)
{
    const uint8_t *s = src;
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        size_t c = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;
        memcpy(iov[i].iov_base, s + done, c);
        done += c;
    }
    return done;
}

/* Drop the first `len` bytes of the iovec list in place. */
static void iov_skip(struct iovec **iov, unsigned *n, size_t len)
{
    while (*n && len) {
        if ((*iov)->iov_len > len) {
            (*iov)->iov_base = (uint8_t *)(*iov)->iov_base + len;
            (*iov)->iov_len -= len;
            return;
        }
        len -= (*iov)->iov_len;
        (*iov)++;
        (*n)--;
    }
}

/* ---- request processing ---- */

static bool range_ok(const struct virtio_blk *blk, uint64_t sector, uint64_t len)
{
    /* Whole sectors inside the capacity (§5.2.6: capacity in 512-byte units). */
    uint64_t capacity = blk->size / SECTOR_SIZE;
    return len % SECTOR_SIZE == 0 && sector <= capacity && len / SECTOR_SIZE <= capacity - sector;
}

/* Process one chain; returns the used length (bytes written to the
 * driver), or marks the queue broken when the chain cannot be a request. */
static uint32_t blk_request(struct virtio_blk *blk, struct virtq *vq, struct virtq_chain *c)
{
    struct {
        uint32_t type;
        uint32_t reserved;
        uint64_t sector;
    } hdr;
    _Static_assert(sizeof(hdr) == 16, "virtio_blk_outhdr is 16 bytes");
    /* §5.2.6: readable header, data, and a writable status byte last. */
    if (c->read_len < sizeof(hdr) || c->write_len < 1) {
        virtq_mark_broken(vq, "request %u: %s", c->head,
                          c->write_len < 1 ? "no writable status byte"
                                           : "header shorter than 16 bytes");
        return 0;
    }
    iov_copy_out(c->iov, c->nread, &hdr, sizeof(hdr));

    struct iovec *rd = c->iov, *wr = c->iov + c->nread;
    unsigned nrd = c->nread, nwr = c->nwrite;
    iov_skip(&rd, &nrd, sizeof(hdr));
    uint64_t rd_len = c->read_len - sizeof(hdr);
    struct iovec *last = &wr[nwr - 1];
    while (last->iov_len == 0)  /* write_len >= 1, so some iovec is non-empty */
        last--;
    uint8_t *status = (uint8_t *)last->iov_base + last->iov_len - 1;
    last->iov_len--;
    uint64_t wr_len = c->write_len - 1;

    uint8_t st = VIRTIO_BLK_S_OK;
    uint32_t used = 0;
    uint64_t off = hdr.sector * SECTOR_SIZE;
    switch (hdr.type) {
    case VIRTIO_BLK_T_IN:
        if (!range_ok(blk, hdr.sector, wr_len) || blk_image_preadv(blk->image, wr, nwr, off, wr_len) < 0) {
            st = VIRTIO_BLK_S_IOERR;
            break;
        }
        used = (uint32_t)wr_len;
        count(&blk->rd_ops, 1);
        count(&blk->rd_bytes, wr_len);
        break;
    case VIRTIO_BLK_T_OUT:
        if (blk->readonly || !range_ok(blk, hdr.sector, rd_len) ||
            blk_image_pwritev(blk->image, rd, nrd, off, rd_len) < 0) {
            st = VIRTIO_BLK_S_IOERR;
            break;
        }
        count(&blk->wr_ops, 1);
        count(&blk->wr_bytes, rd_len);
        break;
    case VIRTIO_BLK_T_FLUSH:
        if (blk_image_flush(blk->image) < 0) {
            st = VIRTIO_BLK_S_IOERR;
            break;
        }
        count(&blk->flush_ops, 1);
        break;
    case VIRTIO_BLK_T_GET_ID:
        /* Up to 20 bytes, not NUL-terminated when the serial is 20 long. */
        used = (uint32_t)iov_copy_in(wr, nwr, blk->serial, VIRTIO_BLK_ID_BYTES);
        break;
    default:
        st = VIRTIO_BLK_S_UNSUPP;
        break;
    }
    if (st != VIRTIO_BLK_S_OK)
        count(&blk->failed_ops, 1);
    *status = st;
    return used + 1;
}

static void blk_process_queue(struct virtio_blk *blk, unsigned q)
{
    pthread_mutex_lock(&blk->lock);
    struct virtq *vq = &blk->queues[q];
    if (!virtio_dev_driver_ok(&blk->dev) || !virtq_ready(vq)) {
        pthread_mutex_unlock(&blk->lock);
        return;
    }
    struct virtq_chain c = { .cap = BLK_IOV_CAP, .iov = blk->iov + (size_t)q * BLK_IOV_CAP };
    bool pushed = false;
    for (;;) {
        virtq_disable_notify(vq);
        int r;
        while ((r = virtq_pop(vq, &c)) == 1) {
            uint32_t used = blk_request(blk, vq, &c);
            if (!virtq_ready(vq))
                break;
            virtq_push(vq, c.head, used);
            pushed = true;
        }
        if (r < 0 || !virtq_ready(vq) || !virtq_enable_notify(vq))
            break;
    }
    if (pushed)
        virtio_dev_notify_queue(&blk->dev, q);
    pthread_mutex_unlock(&blk->lock);
}

static void *blk_thread(void *arg)
{
    struct virtio_blk *blk = arg;
    unsigned nq = blk->dev.num_queues;
    struct pollfd fds[BLK_MAX_QUEUES + 1];
    for (unsigned q = 0; q < nq; q++)
        fds[q] = (struct pollfd){ .fd = blk->queues[q].kick_fd, .events = POLLIN };
    fds[nq] = (struct pollfd){ .fd = blk->stop_fd, .events = POLLIN };
    for (;;) {
        if (poll(fds, nq + 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("%s: I/O thread poll failed: %s", blk->dev.name, strerror(errno));
            return NULL;
        }
        if (fds[nq].revents)
            return NULL;
        for (unsigned q = 0; q < nq; q++) {
            if (!fds[q].revents)
                continue;
            uint64_t kicks;
            if (read(fds[q].fd, &kicks, sizeof(kicks)) < 0 && errno != EAGAIN)
                log_warn("%s: queue %u: kick read: %s", blk->dev.name, q, strerror(errno));
            blk_process_queue(blk, q);
        }
    }
}

/* ---- device model ops ---- */

static void blk_config_read(struct virtio_dev *dev, uint32_t off, void *data, uint32_t len)
{
    struct virtio_blk *blk = dev->model;
    uint8_t cfg[CFG_LEN] = { 0 };
    uint64_t capacity = blk->size / SECTOR_SIZE;
    uint32_t seg_max = BLK_SEG_MAX, blk_size = SECTOR_SIZE;
    uint16_t nq = (uint16_t)dev->num_queues;
    memcpy(cfg + CFG_CAPACITY, &capacity, 8);
    memcpy(cfg + CFG_SEG_MAX, &seg_max, 4);
    memcpy(cfg + CFG_BLK_SIZE, &blk_size, 4);
    memcpy(cfg + CFG_NUM_QUEUES, &nq, 2);
    if (off < CFG_LEN)
        memcpy(data, cfg + off, len < CFG_LEN - off ? len : CFG_LEN - off);
}

static void blk_config_write(struct virtio_dev *dev, uint32_t off, const void *data, uint32_t len)
{
    (void)dev, (void)off, (void)data, (void)len;  /* no writable field without CONFIG_WCE */
}

static void blk_kick(struct virtio_blk *blk, unsigned q)
{
    uint64_t one = 1;
    if (write(blk->queues[q].kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("%s: queue %u: kick write: %s", blk->dev.name, q, strerror(errno));
}

static void blk_queue_notify(struct virtio_dev *dev, unsigned q)
{
    struct virtio_blk *blk = dev->model;
    if (q >= dev->num_queues)
        return;
    if (blk->threaded)
        blk_kick(blk, q);       /* the I/O thread does the work */
    else
        blk_process_queue(blk, q);
}

static void blk_driver_ok(struct virtio_dev *dev)
{
    /* Pick up anything queued before DRIVER_OK. */
    for (unsigned q = 0; q < dev->num_queues; q++)
        blk_queue_notify(dev, q);
}

static void blk_reset(struct virtio_dev *dev)
{
    struct virtio_blk *blk = dev->model;
    /* The transport already cleared the status; taking the lock waits for
     * the batch in flight to finish. */
    pthread_mutex_lock(&blk->lock);
    pthread_mutex_unlock(&blk->lock);
}

/* The model's state is its queues (saved by the transport) and the
 * image; saving only has to wait for the batch in flight. */
static int blk_save(struct virtio_dev *dev, struct state_writer *w)
{
    (void)w;
    blk_reset(dev);
    return 0;
}

static int blk_load(struct virtio_dev *dev, struct state_section *s, char *err, size_t errlen)
{
    (void)dev, (void)s, (void)err, (void)errlen;
    return 0;
}

static const struct virtio_dev_ops blk_ops = {
    .config_read = blk_config_read,
    .config_write = blk_config_write,
    .driver_ok = blk_driver_ok,
    .queue_notify = blk_queue_notify,
    .reset = blk_reset,
    .save = blk_save,
    .load = blk_load,
};

/* ---- construction ---- */

static void blk_free(struct virtio_blk *blk)
{
    for (unsigned q = 0; q < BLK_MAX_QUEUES; q++)
        if (blk->queues[q].kick_fd >= 0)
            close(blk->queues[q].kick_fd);
    if (blk->stop_fd >= 0)
        close(blk->stop_fd);
    blk_image_close(blk->image);
    pthread_mutex_destroy(&blk->lock);
    free(blk->iov);
    free(blk->path);
    free(blk->id);
    free(blk);
}

struct virtio_blk *virtio_blk_new_model(struct guest_mem *mem, const struct virtio_blk_config *cfg,
                                        char *err, size_t errlen)
{
    if (!cfg->path || !*cfg->path) {
        snprintf(err, errlen, "virtio-blk: no image path given");
        return NULL;
    }
    unsigned nq = cfg->queues ? cfg->queues : 1;
    if (nq > BLK_MAX_QUEUES) {
        snprintf(err, errlen, "%s: %u queues requested, at most %u supported", cfg->path, nq,
                 BLK_MAX_QUEUES);
        return NULL;
    }
    if (cfg->serial && strlen(cfg->serial) > VIRTIO_BLK_ID_BYTES) {
        snprintf(err, errlen, "%s: serial '%s' is longer than %u bytes", cfg->path, cfg->serial,
                 VIRTIO_BLK_ID_BYTES);
        return NULL;
    }
    struct virtio_blk *blk = calloc(1, sizeof(*blk));
    if (!blk) {
        snprintf(err, errlen, "%s: out of memory", cfg->path);
        return NULL;
    }
    blk->stop_fd = -1;
    for (unsigned q = 0; q < BLK_MAX_QUEUES; q++)
        blk->queues[q].kick_fd = -1;
    pthread_mutex_init(&blk->lock, NULL);
    blk->readonly = cfg->readonly;
    blk->path = strdup(cfg->path);
    blk->id = strdup(cfg->id ? cfg->id : "virtio-disk0");
    blk->iov = calloc((size_t)nq * BLK_IOV_CAP, sizeof(*blk->iov));
    if (!blk->path || !blk->id || !blk->iov) {
        snprintf(err, errlen, "%s: out of memory", cfg->path);
        goto fail;
    }
    if (cfg->serial)
        memcpy(blk->serial, cfg->serial, strlen(cfg->serial));

    blk->image = blk_image_open(cfg->path, cfg->format, cfg->readonly, err, errlen);
    if (!blk->image)
        goto fail;
    blk->size = blk_image_size(blk->image);
    if (blk->size % SECTOR_SIZE)
        log_warn("%s: size %" PRIu64 " is not a multiple of 512; the tail is not visible",
                 cfg->path, blk->size);

    struct virtio_dev *dev = &blk->dev;
    dev->device_type = VIRTIO_ID_BLOCK;
    dev->name = blk->id;
    dev->host_features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_INDIRECT_DESC) |
                         (1ull << VIRTIO_F_EVENT_IDX) | (1ull << VIRTIO_BLK_F_SEG_MAX) |
                         (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH);
    if (cfg->readonly)
        dev->host_features |= 1ull << VIRTIO_BLK_F_RO;
    if (nq > 1)
        dev->host_features |= 1ull << VIRTIO_BLK_F_MQ;
    dev->config_len = CFG_LEN;
    dev->num_queues = nq;
    dev->queues = blk->queues;
    dev->ops = &blk_ops;
    dev->model = blk;
    for (unsigned q = 0; q < nq; q++) {
        virtq_init(&blk->queues[q], mem, blk->id, q, BLK_QUEUE_SIZE);
        blk->queues[q].on_broken = virtio_dev_queue_broken;
        blk->queues[q].opaque = dev;
        blk->queues[q].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (blk->queues[q].kick_fd < 0) {
            snprintf(err, errlen, "%s: eventfd: %s", cfg->path, strerror(errno));
            goto fail;
        }
    }
    return blk;
fail:
    blk_free(blk);
    return NULL;
}

struct virtio_dev *virtio_blk_dev(struct virtio_blk *blk) { return &blk->dev; }

int virtio_blk_start(struct virtio_blk *blk, char *err, size_t errlen)
{
    blk->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (blk->stop_fd < 0) {
        snprintf(err, errlen, "%s: eventfd: %s", blk->path, strerror(errno));
        return -errno;
    }
    int r = pthread_create(&blk->thread, NULL, blk_thread, blk);
    if (r != 0) {
        snprintf(err, errlen, "%s: cannot start the I/O thread: %s", blk->path, strerror(r));
        return -r;
    }
    blk->threaded = true;
    char tname[16];
    snprintf(tname, sizeof(tname), "blk-%s", blk->id);
    pthread_setname_np(blk->thread, tname);
    log_info("%s: %s, %s, %" PRIu64 " bytes%s, %u queue(s)", blk->id, blk->path,
             blk_image_format_name(blk->image), blk->size, blk->readonly ? ", read-only" : "",
             blk->dev.num_queues);
    return 0;
}

void virtio_blk_stop(struct virtio_blk *blk)
{
    if (blk->threaded) {
        uint64_t one = 1;
        if (write(blk->stop_fd, &one, sizeof(one)) == sizeof(one))
            pthread_join(blk->thread, NULL);
        blk->threaded = false;
    }
    /* flushed on close */
    blk_image_close(blk->image);
    blk->image = NULL;
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
    if (!blk)
        return;
    virtio_blk_stop(blk);
    blk_free(blk);
}

void virtio_blk_info(const struct virtio_blk *blk, struct virtio_blk_info *out)
{
    out->id = blk->id;
    out->path = blk->path;
    out->image = blk->image;
    out->readonly = blk->readonly;
    out->size = blk->size;
    out->rd_ops = __atomic_load_n(&blk->rd_ops, __ATOMIC_RELAXED);
    out->rd_bytes = __atomic_load_n(&blk->rd_bytes, __ATOMIC_RELAXED);
    out->wr_ops = __atomic_load_n(&blk->wr_ops, __ATOMIC_RELAXED);
    out->wr_bytes = __atomic_load_n(&blk->wr_bytes, __ATOMIC_RELAXED);
    out->flush_ops = __atomic_load_n(&blk->flush_ops, __ATOMIC_RELAXED);
    out->failed_ops = __atomic_load_n(&blk->failed_ops, __ATOMIC_RELAXED);
}
