/* virtio-balloon (virtio 1.2 §5.5); see balloon.h.
 *
 * Threads: config space accesses, driver_ok and reset arrive on vCPU
 * threads (transport lock held); queue processing, the stats timer and
 * the change notifier run on the main-thread loop. The
 * device lock serialises queue processing against reset. */
#include "hv/virtio/balloon.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include "common/log.h"
#include "hv/loop.h"
#include "hv/virtio/device.h"

/* Feature bits (§5.5.3). */
#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_REPORTING 5

/* Config layout (§5.5.4): num_pages (device), actual (driver). */
#define CFG_NUM_PAGES 0
#define CFG_ACTUAL 4
#define CFG_LEN 8

/* Balloon pages are 4 KiB whatever the guest's page size (§5.5.6). */
#define BALLOON_PFN_SHIFT 12
#define BALLOON_PAGE_SIZE (1u << BALLOON_PFN_SHIFT)

#define BALLOON_QUEUE_SIZE 128           /* QEMU's size for every balloon queue */
#define BALLOON_MAX_QUEUES 4             /* inflate, deflate, stats, reporting */
#define BALLOON_IOV_CAP 256
#define BALLOON_STAT_ENTRY 10            /* packed {le16 tag; le64 val} */
#define BALLOON_STATS_MAX_BYTES 4096     /* more than any driver sends; the rest is skipped */
#define BALLOON_BAD_PFN_LOGS 8           /* log lines per device for hostile PFNs */
#define BALLOON_DEFAULT_ID "balloon0"
#define QOM_PERIPHERAL "/machine/peripheral/"

enum queue_role { ROLE_NONE, ROLE_INFLATE, ROLE_DEFLATE, ROLE_STATS, ROLE_REPORTING };

/* How guest pages go back to the host: MADV_REMOVE works for shared
 * memory (shmem/memfd), private anonymous RAM needs MADV_DONTNEED. The
 * first discard finds out which one the mapping takes. */
enum discard_mode { DISCARD_PROBE, DISCARD_REMOVE, DISCARD_DONTNEED, DISCARD_OFF };

struct virtio_balloon {
    struct virtio_dev dev;
    struct virtq queues[BALLOON_MAX_QUEUES];
    struct iovec iov[BALLOON_IOV_CAP];  /* main thread, under lock */
    struct guest_mem *mem;
    struct loop *loop;
    virtio_balloon_change_fn change_fn;
    void *change_opaque;
    char *id;
    char *qom_path;

    pthread_mutex_t lock;               /* queue processing vs reset; roles; stats buffer */
    enum queue_role roles[BALLOON_MAX_QUEUES];
    bool loop_watching;

    uint32_t num_pages;                 /* target in pages (atomic) */
    uint32_t actual;                    /* driver's count (atomic) */
    uint32_t emitted_actual;            /* last value BALLOON_CHANGE reported (main) */
    bool change_queued;                 /* a loop_call for BALLOON_CHANGE is pending */

    /* Pages currently inflated, one bit per 4 KiB page of RAM in region
     * order; region_first_page[i] is region i's first bit. */
    uint64_t *held;
    uint64_t region_first_page[GM_MAX_REGIONS];
    uint64_t ram_pages;
    uint64_t pages_held;

    enum discard_mode discard;
    uint64_t discarded_bytes, reported_bytes, ignored_pfns;
    unsigned bad_pfn_logs;

    /* Stats queue (§5.5.6.3): the device keeps the driver's one buffer
     * and hands it back when it wants fresh values. */
    bool stats_held;
    uint16_t stats_head;
    uint64_t stats[VIRTIO_BALLOON_S_NR];
    int64_t last_update;
    unsigned stats_period_s;
    int timer_fd;
};

/* ---- discarding guest pages ---- */

/* Set before the guest runs (device assignment), read on the loop thread. */
static bool discard_inhibited;
static bool discard_inhibit_logged;

void virtio_balloon_set_discard_inhibited(bool inhibited, const char *why)
{
    discard_inhibited = inhibited;
    discard_inhibit_logged = false;
    if (inhibited)
        log_info("balloon: pages given by the guest are kept, not returned to the host (%s)",
                 why ? why : "inhibited");
}

static void discard_range(struct virtio_balloon *b, uint8_t *host, size_t len)
{
    if (!len || b->discard == DISCARD_OFF)
        return;
    if (discard_inhibited) {
        if (!discard_inhibit_logged)
            log_info("%s: discard inhibited (device assignment): %zu bytes stay mapped", b->id, len);
        discard_inhibit_logged = true;
        return;
    }
    if (b->discard == DISCARD_PROBE || b->discard == DISCARD_REMOVE) {
        if (madvise(host, len, MADV_REMOVE) == 0) {
            b->discard = DISCARD_REMOVE;
            b->discarded_bytes += len;
            return;
        }
        if (b->discard == DISCARD_REMOVE || (errno != EINVAL && errno != EACCES &&
                                             errno != EOPNOTSUPP)) {
            log_warn("%s: madvise(MADV_REMOVE) of %zu bytes failed: %s", b->id, len,
                     strerror(errno));
            return;
        }
        b->discard = DISCARD_DONTNEED;
    }
    if (madvise(host, len, MADV_DONTNEED) == 0) {
        b->discarded_bytes += len;
        return;
    }
    /* e.g. 2 MiB hugetlb pages cannot drop a 4 KiB piece: stop trying. */
    log_warn("%s: madvise(MADV_DONTNEED) failed (%s): guest RAM cannot be returned to the host, "
             "balloon pages are kept", b->id, strerror(errno));
    b->discard = DISCARD_OFF;
}

/* Consecutive pages (in either direction: Linux often hands them out
 * descending) are merged into one madvise call. */
struct discard_run {
    struct virtio_balloon *b;
    const struct gm_region *region;
    uint8_t *start;
    size_t len;
};

static void run_flush(struct discard_run *run)
{
    discard_range(run->b, run->start, run->len);
    run->len = 0;
}

static void run_add(struct discard_run *run, const struct gm_region *region, uint8_t *host)
{
    if (run->len && region == run->region) {
        if (host == run->start + run->len) {
            run->len += BALLOON_PAGE_SIZE;
            return;
        }
        if (host + BALLOON_PAGE_SIZE == run->start) {
            run->start = host;
            run->len += BALLOON_PAGE_SIZE;
            return;
        }
    }
    run_flush(run);
    run->region = region;
    run->start = host;
    run->len = BALLOON_PAGE_SIZE;
}

/* ---- inflate / deflate ---- */

static void bad_pfn(struct virtio_balloon *b, const char *what, uint32_t pfn)
{
    b->ignored_pfns++;
    if (b->bad_pfn_logs < BALLOON_BAD_PFN_LOGS) {
        b->bad_pfn_logs++;
        log_warn("%s: %s: PFN 0x%" PRIx32 " (GPA 0x%" PRIx64 ") is outside guest RAM, ignored%s",
                 b->id, what, pfn, (uint64_t)pfn << BALLOON_PFN_SHIFT,
                 b->bad_pfn_logs == BALLOON_BAD_PFN_LOGS ? " (further ones are only counted)" : "");
    }
}

static void balloon_page(struct virtio_balloon *b, struct discard_run *run, uint32_t pfn,
                         bool inflate)
{
    uint64_t gpa = (uint64_t)pfn << BALLOON_PFN_SHIFT;
    uint8_t *host = gm_ptr(b->mem, gpa, BALLOON_PAGE_SIZE);
    const struct gm_region *r = host ? gm_region_of(b->mem, gpa) : NULL;
    if (!host || !r) {
        bad_pfn(b, inflate ? "inflate" : "deflate", pfn);
        return;
    }
    uint64_t bit = b->region_first_page[r - b->mem->regions] + ((gpa - r->gpa) >> BALLOON_PFN_SHIFT);
    uint64_t mask = 1ull << (bit % 64), *word = &b->held[bit / 64];
    if (inflate) {
        if (!(*word & mask)) {
            *word |= mask;
            b->pages_held++;
        }
        run_add(run, r, host);
    } else if (*word & mask) {
        /* Deflated pages come back on first touch (a fresh zero page). */
        *word &= ~mask;
        b->pages_held--;
    }
}

/* A chain of le32 PFNs (§5.5.6.1); PFNs may straddle buffer boundaries. */
static void balloon_pfn_chain(struct virtio_balloon *b, const struct virtq_chain *c, bool inflate)
{
    struct discard_run run = { .b = b };
    uint8_t acc[4];
    unsigned have = 0;
    for (unsigned i = 0; i < c->nread; i++) {
        const uint8_t *p = c->iov[i].iov_base;
        size_t n = c->iov[i].iov_len;
        while (n) {
            if (have == 0 && n >= 4) {
                uint32_t pfn;
                memcpy(&pfn, p, 4);
                balloon_page(b, &run, le32toh(pfn), inflate);
                p += 4;
                n -= 4;
                continue;
            }
            acc[have++] = *p++;
            n--;
            if (have == 4) {
                uint32_t pfn;
                memcpy(&pfn, acc, 4);
                balloon_page(b, &run, le32toh(pfn), inflate);
                have = 0;
            }
        }
    }
    run_flush(&run);
    if (have)
        log_warn("%s: %s buffer %u: %u trailing bytes are not a whole PFN, ignored", b->id,
                 inflate ? "inflate" : "deflate", c->head, have);
}

/* ---- free page reporting (§5.5.6.5) ---- */

static void balloon_report_chain(struct virtio_balloon *b, const struct virtq_chain *c)
{
    /* Each buffer is one free block (Linux posts them device-writable,
     * as "in" buffers); only the ranges matter, whatever the direction. */
    for (unsigned i = 0; i < c->nread + c->nwrite; i++) {
        uintptr_t start = (uintptr_t)c->iov[i].iov_base;
        uintptr_t end = start + c->iov[i].iov_len;
        /* Only whole pages inside the range (guest RAM is page aligned). */
        start = (start + BALLOON_PAGE_SIZE - 1) & ~(uintptr_t)(BALLOON_PAGE_SIZE - 1);
        end &= ~(uintptr_t)(BALLOON_PAGE_SIZE - 1);
        if (end > start) {
            uint64_t before = b->discarded_bytes;
            discard_range(b, (uint8_t *)start, end - start);
            b->reported_bytes += b->discarded_bytes - before;
        }
    }
}

/* ---- statistics (§5.5.6.3) ---- */

static int64_t wall_seconds(void)
{
    struct timespec ts;
    return clock_gettime(CLOCK_REALTIME, &ts) == 0 ? (int64_t)ts.tv_sec : 0;
}

static void stat_entry(struct virtio_balloon *b, const uint8_t *e)
{
    uint16_t tag;
    uint64_t val;
    memcpy(&tag, e, 2);
    memcpy(&val, e + 2, 8);
    tag = le16toh(tag);
    if (tag < VIRTIO_BALLOON_S_NR)   /* newer kernels add tags; ignore them */
        b->stats[tag] = le64toh(val);
}

static void balloon_stats_chain(struct virtio_balloon *b, struct virtq *vq,
                                const struct virtq_chain *c)
{
    uint8_t acc[BALLOON_STAT_ENTRY];
    unsigned have = 0;
    size_t budget = BALLOON_STATS_MAX_BYTES;
    for (unsigned i = 0; i < c->nread && budget; i++) {
        const uint8_t *p = c->iov[i].iov_base;
        size_t n = c->iov[i].iov_len < budget ? c->iov[i].iov_len : budget;
        budget -= n;
        while (n--) {
            acc[have++] = *p++;
            if (have == BALLOON_STAT_ENTRY) {
                stat_entry(b, acc);
                have = 0;
            }
        }
    }
    b->last_update = wall_seconds();
    /* At most one buffer is outstanding; if a driver posts another, give
     * the older one back so it is not lost. */
    if (b->stats_held)
        virtq_push(vq, b->stats_head, 0);
    b->stats_held = true;
    b->stats_head = c->head;
}

bool virtio_balloon_poll_stats(struct virtio_balloon *b)
{
    bool returned = false;
    pthread_mutex_lock(&b->lock);
    for (unsigned q = 0; q < b->dev.num_queues; q++) {
        if (b->roles[q] != ROLE_STATS || !b->stats_held || !virtio_dev_driver_ok(&b->dev) ||
            !virtq_ready(&b->queues[q]))
            continue;
        virtq_push(&b->queues[q], b->stats_head, 0);
        b->stats_held = false;
        virtio_dev_notify_queue(&b->dev, q);
        returned = true;
    }
    pthread_mutex_unlock(&b->lock);
    return returned;
}

/* ---- queue processing ---- */

static void balloon_process_queue(struct virtio_balloon *b, unsigned q)
{
    pthread_mutex_lock(&b->lock);
    struct virtq *vq = &b->queues[q];
    enum queue_role role = b->roles[q];
    if (q >= b->dev.num_queues || role == ROLE_NONE || !virtio_dev_driver_ok(&b->dev) ||
        !virtq_ready(vq)) {
        pthread_mutex_unlock(&b->lock);
        return;
    }
    struct virtq_chain c = { .cap = BALLOON_IOV_CAP, .iov = b->iov };
    bool pushed = false;
    for (;;) {
        virtq_disable_notify(vq);
        int r;
        while ((r = virtq_pop(vq, &c)) == 1) {
            switch (role) {
            case ROLE_INFLATE:
            case ROLE_DEFLATE:
                balloon_pfn_chain(b, &c, role == ROLE_INFLATE);
                break;
            case ROLE_REPORTING:
                balloon_report_chain(b, &c);
                break;
            case ROLE_STATS:
                balloon_stats_chain(b, vq, &c);
                continue;       /* kept until the next poll */
            case ROLE_NONE:
                break;
            }
            virtq_push(vq, c.head, 0);
            pushed = true;
        }
        if (r < 0 || !virtq_ready(vq) || !virtq_enable_notify(vq))
            break;
    }
    if (pushed)
        virtio_dev_notify_queue(&b->dev, q);
    pthread_mutex_unlock(&b->lock);
}

static void on_kick(void *opaque, int fd, uint32_t events)
{
    (void)events;
    struct virtio_balloon *b = opaque;
    uint64_t n;
    if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        log_warn("%s: kick read: %s", b->id, strerror(errno));
    for (unsigned q = 0; q < b->dev.num_queues; q++)
        if (b->queues[q].kick_fd == fd)
            balloon_process_queue(b, q);
}

static void on_stats_timer(void *opaque, int fd, uint32_t events)
{
    (void)events;
    uint64_t expirations;
    if (read(fd, &expirations, sizeof(expirations)) < 0)
        return;
    virtio_balloon_poll_stats(opaque);
}

static void arm_stats_timer(struct virtio_balloon *b)
{
    if (b->timer_fd < 0)
        return;
    struct itimerspec its = { 0 };
    its.it_value.tv_sec = its.it_interval.tv_sec = b->stats_period_s;
    timerfd_settime(b->timer_fd, 0, &its, NULL);
}

/* ---- BALLOON_CHANGE ---- */

static uint64_t actual_bytes(const struct virtio_balloon *b, uint32_t actual_pages)
{
    /* A driver may claim more pages than exist; never report less than 0. */
    uint64_t pages = actual_pages < b->ram_pages ? actual_pages : b->ram_pages;
    return b->mem->ram_size - (pages << BALLOON_PFN_SHIFT);
}

static void emit_change(void *opaque)
{
    struct virtio_balloon *b = opaque;
    __atomic_store_n(&b->change_queued, false, __ATOMIC_SEQ_CST);
    uint32_t actual = __atomic_load_n(&b->actual, __ATOMIC_SEQ_CST);
    if (actual == b->emitted_actual)
        return;
    b->emitted_actual = actual;
    if (b->change_fn)
        b->change_fn(b->change_opaque, actual_bytes(b, actual));
}

void virtio_balloon_set_change_notifier(struct virtio_balloon *b, virtio_balloon_change_fn fn,
                                        void *opaque)
{
    b->change_opaque = opaque;
    b->change_fn = fn;
}

/* vCPU thread: hand the event to the main thread (one call in flight). */
static void actual_changed(struct virtio_balloon *b)
{
    if (!b->loop) {
        emit_change(b);
        return;
    }
    if (!__atomic_exchange_n(&b->change_queued, true, __ATOMIC_SEQ_CST))
        loop_call(b->loop, emit_change, b);
}

/* ---- device model ops ---- */

static void balloon_config_read(struct virtio_dev *dev, uint32_t off, void *data, uint32_t len)
{
    struct virtio_balloon *b = dev->model;
    uint8_t cfg[CFG_LEN];
    uint32_t num = htole32(__atomic_load_n(&b->num_pages, __ATOMIC_ACQUIRE));
    uint32_t act = htole32(__atomic_load_n(&b->actual, __ATOMIC_ACQUIRE));
    memcpy(cfg + CFG_NUM_PAGES, &num, 4);
    memcpy(cfg + CFG_ACTUAL, &act, 4);
    memset(data, 0, len);
    if (off < CFG_LEN)
        memcpy(data, cfg + off, len < CFG_LEN - off ? len : CFG_LEN - off);
}

static void balloon_config_write(struct virtio_dev *dev, uint32_t off, const void *data,
                                 uint32_t len)
{
    struct virtio_balloon *b = dev->model;
    /* Only `actual` is driver-writable; merge partial writes into it. */
    if (off >= CFG_ACTUAL + 4 || off + len <= CFG_ACTUAL)
        return;
    uint32_t cur = htole32(__atomic_load_n(&b->actual, __ATOMIC_ACQUIRE));
    uint8_t bytes[4];
    memcpy(bytes, &cur, 4);
    for (uint32_t i = 0; i < len; i++) {
        uint32_t at = off + i;
        if (at >= CFG_ACTUAL && at < CFG_ACTUAL + 4)
            bytes[at - CFG_ACTUAL] = ((const uint8_t *)data)[i];
    }
    uint32_t val;
    memcpy(&val, bytes, 4);
    val = le32toh(val);
    uint32_t old = __atomic_exchange_n(&b->actual, val, __ATOMIC_ACQ_REL);
    if (old != val)
        actual_changed(b);
}

/* Queue indices go to the queues that exist, in order (virtio.md §7.3):
 * statsq only with STATS_VQ, reporting_vq only with REPORTING. */
static void assign_roles(struct virtio_balloon *b)
{
    unsigned q = 0;
    for (unsigned i = 0; i < BALLOON_MAX_QUEUES; i++)
        b->roles[i] = ROLE_NONE;
    b->roles[q++] = ROLE_INFLATE;
    b->roles[q++] = ROLE_DEFLATE;
    if (virtio_dev_has(&b->dev, VIRTIO_BALLOON_F_STATS_VQ) && q < b->dev.num_queues)
        b->roles[q++] = ROLE_STATS;
    if (virtio_dev_has(&b->dev, VIRTIO_BALLOON_F_REPORTING) && q < b->dev.num_queues)
        b->roles[q++] = ROLE_REPORTING;
}

static void balloon_kick(struct virtio_balloon *b, unsigned q)
{
    uint64_t one = 1;
    if (write(b->queues[q].kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("%s: queue %u: kick write: %s", b->id, q, strerror(errno));
}

static void balloon_queue_notify(struct virtio_dev *dev, unsigned q)
{
    struct virtio_balloon *b = dev->model;
    if (q >= dev->num_queues)
        return;
    if (b->loop)
        balloon_kick(b, q);     /* the main loop does the work */
    else
        balloon_process_queue(b, q);
}

static void balloon_driver_ok(struct virtio_dev *dev)
{
    struct virtio_balloon *b = dev->model;
    pthread_mutex_lock(&b->lock);
    assign_roles(b);
    pthread_mutex_unlock(&b->lock);
    /* Linux posts its first stats buffer before DRIVER_OK: pick it up. */
    for (unsigned q = 0; q < dev->num_queues; q++)
        balloon_queue_notify(dev, q);
}

static void balloon_reset(struct virtio_dev *dev)
{
    struct virtio_balloon *b = dev->model;
    pthread_mutex_lock(&b->lock);
    for (unsigned i = 0; i < BALLOON_MAX_QUEUES; i++)
        b->roles[i] = ROLE_NONE;
    b->stats_held = false;
    /* A reset guest starts with all its memory; the target stays, and the
     * next driver inflates to it again. */
    memset(b->held, 0, ((b->ram_pages + 63) / 64) * sizeof(uint64_t));
    b->pages_held = 0;
    pthread_mutex_unlock(&b->lock);
    if (__atomic_exchange_n(&b->actual, 0, __ATOMIC_ACQ_REL) != 0)
        actual_changed(b);
}

static const struct virtio_dev_ops balloon_ops = {
    .config_read = balloon_config_read,
    .config_write = balloon_config_write,
    .driver_ok = balloon_driver_ok,
    .queue_notify = balloon_queue_notify,
    .reset = balloon_reset,
};

/* ---- construction ---- */

void virtio_balloon_free_model(struct virtio_balloon *b)
{
    if (!b)
        return;
    for (unsigned q = 0; q < BALLOON_MAX_QUEUES; q++) {
        if (b->queues[q].kick_fd >= 0) {
            if (b->loop_watching)
                loop_del_fd(b->loop, b->queues[q].kick_fd);
            close(b->queues[q].kick_fd);
        }
    }
    if (b->timer_fd >= 0) {
        if (b->loop_watching)
            loop_del_fd(b->loop, b->timer_fd);
        close(b->timer_fd);
    }
    pthread_mutex_destroy(&b->lock);
    free(b->held);
    free(b->id);
    free(b->qom_path);
    free(b);
}

struct virtio_balloon *virtio_balloon_new_model(struct guest_mem *mem, struct loop *loop,
                                                const struct virtio_balloon_config *cfg,
                                                char *err, size_t errlen)
{
    const char *id = cfg->id && *cfg->id ? cfg->id : BALLOON_DEFAULT_ID;
    if (strchr(id, '/')) {
        snprintf(err, errlen, "virtio-balloon: id '%s' must not contain '/'", id);
        return NULL;
    }
    if (mem->ram_size < BALLOON_PAGE_SIZE || mem->nregions == 0) {
        snprintf(err, errlen, "%s: the VM has no RAM to balloon", id);
        return NULL;
    }
    struct virtio_balloon *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, errlen, "%s: out of memory", id);
        return NULL;
    }
    b->timer_fd = -1;
    for (unsigned q = 0; q < BALLOON_MAX_QUEUES; q++)
        b->queues[q].kick_fd = -1;
    pthread_mutex_init(&b->lock, NULL);
    b->mem = mem;
    b->loop = loop;
    b->stats_period_s = cfg->stats_period_s;
    for (unsigned i = 0; i < VIRTIO_BALLOON_S_NR; i++)
        b->stats[i] = VIRTIO_BALLOON_STAT_NONE;
    b->id = strdup(id);
    size_t plen = strlen(QOM_PERIPHERAL) + strlen(id) + 1;
    b->qom_path = malloc(plen);
    uint64_t pages = 0;
    for (unsigned i = 0; i < mem->nregions; i++) {
        b->region_first_page[i] = pages;
        pages += mem->regions[i].size >> BALLOON_PFN_SHIFT;
    }
    b->ram_pages = mem->ram_size >> BALLOON_PFN_SHIFT;
    if (pages > b->ram_pages)
        b->ram_pages = pages;
    b->held = calloc((b->ram_pages + 63) / 64, sizeof(uint64_t));
    if (!b->id || !b->qom_path || !b->held) {
        snprintf(err, errlen, "%s: out of memory", id);
        goto fail;
    }
    snprintf(b->qom_path, plen, "%s%s", QOM_PERIPHERAL, id);

    struct virtio_dev *dev = &b->dev;
    dev->device_type = VIRTIO_ID_BALLOON;
    dev->name = b->id;
    /* QEMU 7.2 offers STATS_VQ by default (virtio.md §7.1); the other two
     * follow libvirt's autodeflate / freePageReporting. */
    dev->host_features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX) |
                         (1ull << VIRTIO_BALLOON_F_STATS_VQ);
    if (cfg->deflate_on_oom)
        dev->host_features |= 1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
    if (cfg->free_page_reporting)
        dev->host_features |= 1ull << VIRTIO_BALLOON_F_REPORTING;
    dev->config_len = CFG_LEN;
    dev->num_queues = cfg->free_page_reporting ? 4 : 3;
    dev->queues = b->queues;
    dev->ops = &balloon_ops;
    dev->model = b;
    for (unsigned q = 0; q < dev->num_queues; q++) {
        virtq_init(&b->queues[q], mem, b->id, q, BALLOON_QUEUE_SIZE);
        b->queues[q].on_broken = virtio_dev_queue_broken;
        b->queues[q].opaque = dev;
        b->queues[q].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (b->queues[q].kick_fd < 0) {
            snprintf(err, errlen, "%s: eventfd: %s", id, strerror(errno));
            goto fail;
        }
    }
    if (loop) {
        b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (b->timer_fd < 0) {
            snprintf(err, errlen, "%s: timerfd: %s", id, strerror(errno));
            goto fail;
        }
        b->loop_watching = true;
        for (unsigned q = 0; q < dev->num_queues; q++) {
            int r = loop_add_fd(loop, b->queues[q].kick_fd, EPOLLIN, on_kick, b);
            if (r < 0) {
                snprintf(err, errlen, "%s: cannot watch queue %u: %s", id, q, strerror(-r));
                goto fail;
            }
        }
        int r = loop_add_fd(loop, b->timer_fd, EPOLLIN, on_stats_timer, b);
        if (r < 0) {
            snprintf(err, errlen, "%s: cannot watch the stats timer: %s", id, strerror(-r));
            goto fail;
        }
        arm_stats_timer(b);
    }
    return b;
fail:
    virtio_balloon_free_model(b);
    return NULL;
}

struct virtio_dev *virtio_balloon_dev(struct virtio_balloon *b) { return &b->dev; }

void virtio_balloon_stop(struct virtio_balloon *b)
{
    if (b->timer_fd >= 0) {
        struct itimerspec off = { 0 };
        timerfd_settime(b->timer_fd, 0, &off, NULL);
    }
    if (!b->loop_watching)
        return;
    for (unsigned q = 0; q < BALLOON_MAX_QUEUES; q++)
        if (b->queues[q].kick_fd >= 0)
            loop_del_fd(b->loop, b->queues[q].kick_fd);
    if (b->timer_fd >= 0)
        loop_del_fd(b->loop, b->timer_fd);
    b->loop_watching = false;
}

/* ---- snapshots ---- */

void virtio_balloon_info(const struct virtio_balloon *b, struct virtio_balloon_info *out)
{
    memset(out, 0, sizeof(*out));
    out->id = b->id;
    out->qom_path = b->qom_path;
    out->ram_size = b->mem->ram_size;
    out->target = actual_bytes(b, __atomic_load_n(&b->num_pages, __ATOMIC_ACQUIRE));
    out->actual = actual_bytes(b, __atomic_load_n(&b->actual, __ATOMIC_ACQUIRE));
    pthread_mutex_t *lock = (pthread_mutex_t *)&b->lock;
    pthread_mutex_lock(lock);
    out->pages_held = b->pages_held;
    out->discarded_bytes = b->discarded_bytes;
    out->reported_bytes = b->reported_bytes;
    out->ignored_pfns = b->ignored_pfns;
    out->stats_period_s = b->stats_period_s;
    out->last_update = b->last_update;
    memcpy(out->stats, b->stats, sizeof(out->stats));
    pthread_mutex_unlock(lock);
    out->driver_ok = virtio_dev_driver_ok(&b->dev);
    out->features = b->dev.guest_features;
}

int virtio_balloon_memory_stats(const struct virtio_balloon *b, uint64_t ram_size,
                                uint64_t rss_kib, struct virtio_balloon_memstat *out, int max)
{
    /* libvirt's QEMU driver: QMP stat → tag, bytes → KiB. */
    static const struct {
        enum virtio_balloon_stat stat;
        int tag;
        bool bytes;
    } map[] = {
        { VIRTIO_BALLOON_S_SWAP_IN, BALLOON_MEMSTAT_SWAP_IN, true },
        { VIRTIO_BALLOON_S_SWAP_OUT, BALLOON_MEMSTAT_SWAP_OUT, true },
        { VIRTIO_BALLOON_S_MAJFLT, BALLOON_MEMSTAT_MAJOR_FAULT, false },
        { VIRTIO_BALLOON_S_MINFLT, BALLOON_MEMSTAT_MINOR_FAULT, false },
        { VIRTIO_BALLOON_S_MEMFREE, BALLOON_MEMSTAT_UNUSED, true },
        { VIRTIO_BALLOON_S_MEMTOT, BALLOON_MEMSTAT_AVAILABLE, true },
        { VIRTIO_BALLOON_S_AVAIL, BALLOON_MEMSTAT_USABLE, true },
        { VIRTIO_BALLOON_S_CACHES, BALLOON_MEMSTAT_DISK_CACHES, true },
        { VIRTIO_BALLOON_S_HTLB_PGALLOC, BALLOON_MEMSTAT_HUGETLB_PGALLOC, false },
        { VIRTIO_BALLOON_S_HTLB_PGFAIL, BALLOON_MEMSTAT_HUGETLB_PGFAIL, false },
    };
    int n = 0;
    struct virtio_balloon_info info;
    if (b) {
        virtio_balloon_info(b, &info);
        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]) && n < max; i++) {
            uint64_t v = info.stats[map[i].stat];
            if (v == VIRTIO_BALLOON_STAT_NONE)
                continue;
            out[n++] = (struct virtio_balloon_memstat){ map[i].tag, map[i].bytes ? v >> 10 : v };
        }
    }
    if (n < max)
        out[n++] = (struct virtio_balloon_memstat){ BALLOON_MEMSTAT_ACTUAL_BALLOON,
                                                    (b ? info.actual : ram_size) >> 10 };
    if (n < max)
        out[n++] = (struct virtio_balloon_memstat){ BALLOON_MEMSTAT_LAST_UPDATE,
                                                    b ? (uint64_t)info.last_update : 0 };
    if (rss_kib && n < max)
        out[n++] = (struct virtio_balloon_memstat){ BALLOON_MEMSTAT_RSS, rss_kib };
    return n;
}

/* ---- host requests ---- */

int virtio_balloon_set_target(struct virtio_balloon *b, int64_t value, char *err, size_t errlen)
{
    uint64_t ram = b->mem->ram_size;
    if (value <= 0) {
        snprintf(err, errlen, "Parameter 'target' expects a size");
        return -EINVAL;
    }
    if ((uint64_t)value > ram) {
        /* QEMU silently clamps; a clear refusal says why nothing grows. */
        snprintf(err, errlen,
                 "Balloon target %" PRId64 " bytes exceeds the guest's boot memory of %" PRIu64
                 " bytes: a balloon cannot grow a guest past the memory it booted with",
                 value, ram);
        return -ERANGE;
    }
    uint64_t pages = (ram - (uint64_t)value) >> BALLOON_PFN_SHIFT;
    uint32_t old = __atomic_exchange_n(&b->num_pages, (uint32_t)pages, __ATOMIC_ACQ_REL);
    if (old != pages)
        virtio_dev_config_changed(&b->dev);
    return 0;
}

void virtio_balloon_set_stats_period(struct virtio_balloon *b, unsigned seconds)
{
    pthread_mutex_lock(&b->lock);
    b->stats_period_s = seconds;
    pthread_mutex_unlock(&b->lock);
    arm_stats_timer(b);
}
