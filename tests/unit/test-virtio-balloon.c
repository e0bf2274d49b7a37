/* virtio-balloon: inflate/deflate against fake guest memory (pages really
 * leave the process: they read back as zero and mincore() says they are
 * not resident), hostile PFNs and chains, stats parsing and polling, free
 * page reporting, reset, libvirt memory stats, and the monitor commands and
 * BALLOON_CHANGE event through the real monitor over a unix socket. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hv/guest_mem.h"
#include "hv/loop.h"
#include "hv/machine.h"
#include "hv/monitor/devices.h"
#include "hv/monitor/monitor.h"
#include "hv/virtio/balloon.h"
#include "hv/virtio/device.h"
#include "tests/tap.h"

#define PAGE 4096u
#define LOW_SIZE (8u << 20)             /* region 0: [0, 8 MiB) */
#define HIGH_GPA 0x100000000ull         /* region 1: [4 GiB, 4 GiB + 1 MiB) */
#define HIGH_SIZE (1u << 20)
#define RAM_TOTAL ((uint64_t)LOW_SIZE + HIGH_SIZE)
#define QSIZE 16
#define RING_BASE(q) (0x10000u * (q))   /* desc +0, avail +0x1000, used +0x2000 */
#define BUF_BASE(q) (0x80000u + 0x10000u * (q))
#define TEST_PAGES 0x200000u            /* pages the tests balloon */

#define F_STATS_VQ 1
#define F_DEFLATE_ON_OOM 2
#define F_REPORTING 5

static uint8_t *low, *high;
static struct guest_mem gm;
static int queue_irqs, config_irqs;

static void fake_irq_queue(struct virtio_dev *d, unsigned q)
{
    (void)d, (void)q;
    __atomic_add_fetch(&queue_irqs, 1, __ATOMIC_SEQ_CST);
}
static void fake_irq_config(struct virtio_dev *d)
{
    (void)d;
    __atomic_add_fetch(&config_irqs, 1, __ATOMIC_SEQ_CST);
}
static const struct virtio_transport_ops fake_transport = {
    .interrupt_queue = fake_irq_queue,
    .interrupt_config = fake_irq_config,
};

/* ---- a minimal driver side ---- */

struct drv {
    struct virtio_balloon *b;
    struct virtio_dev *dev;
    uint16_t avail[4];
    uint16_t next_desc[4];
};

static void set_desc(unsigned q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    uint8_t *d = low + RING_BASE(q) + 16u * i;
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

static uint16_t used_idx(unsigned q)
{
    uint16_t v;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    memcpy(&v, low + RING_BASE(q) + 0x2000 + 2, 2);
    return v;
}

static void post(struct drv *d, unsigned q, uint16_t head)
{
    memcpy(low + RING_BASE(q) + 0x1000 + 4 + 2 * (d->avail[q] % QSIZE), &head, 2);
    d->avail[q]++;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    memcpy(low + RING_BASE(q) + 0x1000 + 2, &d->avail[q], 2);
    d->dev->ops->queue_notify(d->dev, q);
}

static void attach(struct drv *d, struct virtio_balloon *b, uint64_t features)
{
    memset(d, 0, sizeof(*d));
    d->b = b;
    d->dev = virtio_balloon_dev(b);
    d->dev->transport = &fake_transport;
    memset(low, 0, 0x100000);
    d->dev->guest_features = features;
    for (unsigned q = 0; q < d->dev->num_queues; q++) {
        struct virtq *vq = &d->dev->queues[q];
        vq->size = QSIZE;
        vq->desc_gpa = RING_BASE(q);
        vq->avail_gpa = RING_BASE(q) + 0x1000;
        vq->used_gpa = RING_BASE(q) + 0x2000;
        virtq_start(vq, features);
    }
    d->dev->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
    d->dev->ops->driver_ok(d->dev);
}

/* One buffer of le32 PFNs on queue q (0 inflate, 1 deflate). */
static void send_pfns(struct drv *d, unsigned q, const uint32_t *pfns, unsigned n)
{
    memcpy(low + BUF_BASE(q), pfns, 4u * n);
    set_desc(q, 0, BUF_BASE(q), 4u * n, 0, 0);
    post(d, q, 0);
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return false;
    return true;
}

static bool resident(const void *p, size_t len)
{
    unsigned char vec[64];
    if (len / PAGE > sizeof(vec) || mincore((void *)p, len, vec) < 0)
        return true;
    for (size_t i = 0; i < len / PAGE; i++)
        if (vec[i] & 1)
            return true;
    return false;
}

static struct virtio_balloon *model(const struct virtio_balloon_config *cfg, struct loop *loop)
{
    char err[256] = "";
    struct virtio_balloon *b = virtio_balloon_new_model(&gm, loop, cfg, err, sizeof(err));
    if (!b)
        printf("# %s\n", err);
    return b;
}

static void cfg_write_actual(struct drv *d, uint32_t pages)
{
    d->dev->ops->config_write(d->dev, 4, &pages, 4);
}

static uint32_t cfg_read(struct drv *d, uint32_t off)
{
    uint32_t v = 0;
    d->dev->ops->config_read(d->dev, off, &v, 4);
    return v;
}

/* ---- device model tests (no loop: notifications processed inline) ---- */

static void test_features(void)
{
    struct virtio_balloon_config cfg = { .id = "balloon0" };
    struct virtio_balloon *b = model(&cfg, NULL);
    TAP_CHECK(b != NULL, "model created");
    if (!b)
        return;
    struct virtio_dev *dev = virtio_balloon_dev(b);
    TAP_EQ_U64(dev->device_type, 5, "device type 5 (balloon)");
    TAP_CHECK(dev->host_features & (1ull << F_STATS_VQ), "STATS_VQ offered");
    TAP_CHECK(dev->host_features & (1ull << VIRTIO_F_VERSION_1), "VERSION_1 offered");
    TAP_CHECK(!(dev->host_features & (1ull << F_DEFLATE_ON_OOM)), "DEFLATE_ON_OOM not offered by default");
    TAP_CHECK(!(dev->host_features & (1ull << F_REPORTING)), "REPORTING not offered by default");
    TAP_EQ_U64(dev->num_queues, 3, "inflate, deflate, stats queues");
    TAP_EQ_U64(dev->config_len, 8, "config is num_pages + actual");
    virtio_balloon_free_model(b);

    cfg.deflate_on_oom = cfg.free_page_reporting = true;
    b = model(&cfg, NULL);
    dev = virtio_balloon_dev(b);
    TAP_CHECK(dev->host_features & (1ull << F_DEFLATE_ON_OOM), "autodeflate offers DEFLATE_ON_OOM");
    TAP_CHECK(dev->host_features & (1ull << F_REPORTING), "freePageReporting offers REPORTING");
    TAP_EQ_U64(dev->num_queues, 4, "a fourth queue for reporting");
    virtio_balloon_free_model(b);

    cfg.id = "bad/id";
    char err[256] = "";
    TAP_CHECK(virtio_balloon_new_model(&gm, NULL, &cfg, err, sizeof(err)) == NULL &&
                  strstr(err, "bad/id"),
              "an id with '/' is refused with a message naming it (%s)", err);
}

static void test_inflate_deflate(void)
{
    struct virtio_balloon_config cfg = { 0 };
    struct virtio_balloon *b = model(&cfg, NULL);
    struct drv d;
    uint64_t feats = (1ull << VIRTIO_F_VERSION_1) | (1ull << F_STATS_VQ);
    attach(&d, b, feats);

    /* 16 pages of guest data, one neighbour page on each side. */
    memset(low + TEST_PAGES - PAGE, 0x55, 18 * PAGE);
    memset(low + TEST_PAGES, 0xAA, 16 * PAGE);
    memset(high + PAGE, 0xCC, PAGE);
    TAP_CHECK(resident(low + TEST_PAGES, 16 * PAGE), "test pages are resident before inflating");

    uint32_t pfns[24];
    unsigned n = 0;
    for (int i = 15; i >= 0; i--)   /* descending, as Linux often hands them out */
        pfns[n++] = (TEST_PAGES >> 12) + (unsigned)i;
    pfns[n++] = (uint32_t)((HIGH_GPA + PAGE) >> 12);  /* a page in the second region */
    pfns[n++] = 0xFFFFFFFFu;                          /* far outside RAM */
    pfns[n++] = LOW_SIZE >> 12;                       /* just past region 0 */
    pfns[n++] = 0xC0000u;                             /* in the PCI hole */
    pfns[n++] = (uint32_t)((HIGH_GPA + HIGH_SIZE) >> 12);  /* just past region 1 */
    int irqs = queue_irqs;
    send_pfns(&d, 0, pfns, n);
    TAP_EQ_U64(used_idx(0), 1, "inflate buffer returned");
    TAP_CHECK(queue_irqs > irqs, "inflate completion interrupts");
    /* mincore first: reading maps the shared zero page, which counts as resident. */
    TAP_CHECK(!resident(low + TEST_PAGES, 16 * PAGE), "inflated pages are no longer resident (mincore)");
    TAP_CHECK(all_bytes(low + TEST_PAGES, 16 * PAGE, 0), "inflated pages read back as zero");
    TAP_CHECK(all_bytes(high + PAGE, PAGE, 0), "inflated page in the high region is zero");
    TAP_CHECK(all_bytes(low + TEST_PAGES - PAGE, PAGE, 0x55) &&
                  all_bytes(low + TEST_PAGES + 16 * PAGE, PAGE, 0x55),
              "neighbouring pages keep their data");
    struct virtio_balloon_info info;
    virtio_balloon_info(b, &info);
    TAP_EQ_U64(info.pages_held, 17, "17 pages held");
    TAP_EQ_U64(info.ignored_pfns, 4, "4 hostile PFNs ignored");
    TAP_EQ_U64(info.discarded_bytes, 17 * PAGE, "17 pages discarded");
    TAP_CHECK(virtio_dev_driver_ok(d.dev), "hostile PFNs do not break the device");

    /* Inflating the same pages again does not count them twice. */
    send_pfns(&d, 0, pfns, 4);
    virtio_balloon_info(b, &info);
    TAP_EQ_U64(info.pages_held, 17, "re-inflating held pages keeps the count");

    /* Deflate 8 of them plus one never inflated and one hostile. */
    uint32_t back[10];
    for (unsigned i = 0; i < 8; i++)
        back[i] = (TEST_PAGES >> 12) + i;
    back[8] = (TEST_PAGES >> 12) + 100;
    back[9] = 0xFFFFFFF0u;
    send_pfns(&d, 1, back, 10);
    TAP_EQ_U64(used_idx(1), 1, "deflate buffer returned");
    virtio_balloon_info(b, &info);
    TAP_EQ_U64(info.pages_held, 9, "9 pages held after deflating 8");
    TAP_EQ_U64(info.ignored_pfns, 5, "hostile deflate PFN ignored too");
    memset(low + TEST_PAGES, 0x77, 8 * PAGE);
    TAP_CHECK(all_bytes(low + TEST_PAGES, 8 * PAGE, 0x77), "deflated pages are usable again");

    /* A PFN split across two descriptors, and 2 trailing bytes. */
    uint32_t split = (TEST_PAGES >> 12) + 20;
    memset(low + TEST_PAGES + 20 * PAGE, 0x99, PAGE);
    memcpy(low + BUF_BASE(0), &split, 2);
    memcpy(low + BUF_BASE(0) + 0x100, (uint8_t *)&split + 2, 2);
    memset(low + BUF_BASE(0) + 0x102, 0xFF, 2);
    set_desc(0, 0, BUF_BASE(0), 2, VIRTQ_DESC_F_NEXT, 1);
    set_desc(0, 1, BUF_BASE(0) + 0x100, 4, 0, 0);
    post(&d, 0, 0);
    TAP_EQ_U64(used_idx(0), 3, "split PFN buffer returned");
    TAP_CHECK(all_bytes(low + TEST_PAGES + 20 * PAGE, PAGE, 0), "a PFN split over two buffers is inflated");

    /* actual / num_pages in config space. */
    cfg_write_actual(&d, 9);
    virtio_balloon_info(b, &info);
    TAP_EQ_U64(info.actual, RAM_TOTAL - 9 * PAGE, "actual bytes = RAM - actual pages * 4096");
    TAP_EQ_U64(cfg_read(&d, 4), 9, "actual reads back");
    uint32_t huge = 0xFFFFFFFF;
    d.dev->ops->config_write(d.dev, 4, &huge, 4);
    virtio_balloon_info(b, &info);
    TAP_EQ_U64(info.actual, 0, "an impossible actual is clamped, never negative");
    uint16_t lo = 5;  /* a 2-byte write into actual */
    d.dev->ops->config_write(d.dev, 4, &lo, 2);
    TAP_EQ_U64(cfg_read(&d, 4), 0xFFFF0005u, "partial config writes merge into actual");
    d.dev->ops->config_write(d.dev, 0, &lo, 2);
    TAP_EQ_U64(cfg_read(&d, 0), 0, "num_pages is not driver-writable");

    /* A descriptor outside RAM breaks the queue, not the process. */
    set_desc(0, 0, 0x7FFF0000000ull, 64, 0, 0);
    post(&d, 0, 0);
    TAP_CHECK(virtio_dev_status(d.dev) & VIRTIO_STATUS_NEEDS_RESET,
              "a buffer outside RAM sets DEVICE_NEEDS_RESET");

    /* Reset: all memory belongs to the guest again. */
    d.dev->ops->reset(d.dev);
    virtio_balloon_info(b, &info);
    TAP_EQ_U64(info.pages_held, 0, "reset forgets the inflated pages");
    TAP_EQ_U64(info.actual, RAM_TOTAL, "reset: actual is the whole RAM");
    virtio_balloon_free_model(b);
}

static void put_stat(uint8_t *p, uint16_t tag, uint64_t val)
{
    memcpy(p, &tag, 2);
    memcpy(p + 2, &val, 8);
}

/* Stats buffer: tags 0..9 plus unknown tag 12, split over two descriptors
 * in the middle of an entry. Returns the byte length. */
static void post_stats(struct drv *d, unsigned q, uint64_t base)
{
    uint8_t buf[11 * 10];
    for (uint16_t t = 0; t < 10; t++)
        put_stat(buf + 10 * t, t, base + t);
    put_stat(buf + 100, 12, 999);
    memcpy(low + BUF_BASE(q), buf, 55);
    memcpy(low + BUF_BASE(q) + 0x800, buf + 55, sizeof(buf) - 55);
    set_desc(q, 0, BUF_BASE(q), 55, VIRTQ_DESC_F_NEXT, 1);
    set_desc(q, 1, BUF_BASE(q) + 0x800, sizeof(buf) - 55, 0, 0);
    post(d, q, 0);
}

static void test_stats(void)
{
    struct virtio_balloon_config cfg = { 0 };
    struct virtio_balloon *b = model(&cfg, NULL);
    struct virtio_balloon_info info;
    virtio_balloon_info(b, &info);
    TAP_CHECK(info.stats[0] == VIRTIO_BALLOON_STAT_NONE && info.stats[9] == VIRTIO_BALLOON_STAT_NONE &&
                  info.last_update == 0,
              "before the driver sends stats they are 2^64-1 and last-update 0");
    struct virtio_balloon_memstat ms[BALLOON_MEMSTAT_NR];
    int n = virtio_balloon_memory_stats(b, RAM_TOTAL, 0, ms, BALLOON_MEMSTAT_NR);
    TAP_CHECK(n == 2 && ms[0].tag == BALLOON_MEMSTAT_ACTUAL_BALLOON && ms[0].val == RAM_TOTAL >> 10 &&
                  ms[1].tag == BALLOON_MEMSTAT_LAST_UPDATE,
              "without guest stats: actual (KiB) and last_update only (%d entries)", n);

    struct drv d;
    attach(&d, b, (1ull << VIRTIO_F_VERSION_1) | (1ull << F_STATS_VQ));
    int64_t now = (int64_t)time(NULL);
    post_stats(&d, 2, 1ull << 20);
    TAP_EQ_U64(used_idx(2), 0, "the stats buffer is kept by the device");
    virtio_balloon_info(b, &info);
    bool all = true;
    for (unsigned t = 0; t < 10; t++)
        all = all && info.stats[t] == (1ull << 20) + t;
    TAP_CHECK(all, "all ten stats parsed, across a split entry");
    TAP_CHECK(info.last_update >= now && info.last_update <= now + 5, "last-update is wall-clock now");

    TAP_CHECK(virtio_balloon_poll_stats(b), "a poll returns the held buffer");
    TAP_EQ_U64(used_idx(2), 1, "stats buffer used");
    TAP_CHECK(!virtio_balloon_poll_stats(b), "nothing to return until the guest refills");
    post_stats(&d, 2, 5000);
    virtio_balloon_info(b, &info);
    TAP_EQ_U64(info.stats[VIRTIO_BALLOON_S_MEMTOT], 5005, "refilled stats replace the old values");

    n = virtio_balloon_memory_stats(b, RAM_TOTAL, 1234, ms, BALLOON_MEMSTAT_NR);
    uint64_t by_tag[BALLOON_MEMSTAT_NR];
    memset(by_tag, 0xFF, sizeof(by_tag));
    for (int i = 0; i < n; i++)
        by_tag[ms[i].tag] = ms[i].val;
    TAP_EQ_U64(n, 13, "all 13 libvirt memory stats");
    TAP_EQ_U64(by_tag[BALLOON_MEMSTAT_AVAILABLE], 5005 >> 10, "stat-total-memory → available in KiB");
    TAP_EQ_U64(by_tag[BALLOON_MEMSTAT_USABLE], 5006 >> 10, "stat-available-memory → usable in KiB");
    TAP_EQ_U64(by_tag[BALLOON_MEMSTAT_UNUSED], 5004 >> 10, "stat-free-memory → unused in KiB");
    TAP_EQ_U64(by_tag[BALLOON_MEMSTAT_MINOR_FAULT], 5003, "minor faults are a count");
    TAP_EQ_U64(by_tag[BALLOON_MEMSTAT_RSS], 1234, "rss as given");
    TAP_EQ_U64(by_tag[BALLOON_MEMSTAT_ACTUAL_BALLOON], RAM_TOTAL >> 10, "actual in KiB");
    n = virtio_balloon_memory_stats(b, RAM_TOTAL, 1234, ms, 3);
    TAP_EQ_U64(n, 3, "never more entries than maxStats");
    n = virtio_balloon_memory_stats(NULL, RAM_TOTAL, 0, ms, BALLOON_MEMSTAT_NR);
    TAP_CHECK(n == 2 && ms[0].val == RAM_TOTAL >> 10, "no balloon: actual = boot memory");
    virtio_balloon_free_model(b);
}

static void test_reporting(void)
{
    struct virtio_balloon_config cfg = { .free_page_reporting = true };
    struct virtio_balloon *b = model(&cfg, NULL);
    struct drv d;
    /* Without STATS_VQ the reporting queue takes index 2 (virtio.md §7.3). */
    attach(&d, b, (1ull << VIRTIO_F_VERSION_1) | (1ull << F_REPORTING));
    memset(low + TEST_PAGES, 0xBB, 8 * PAGE);
    set_desc(2, 0, TEST_PAGES, 4 * PAGE, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(2, 1, TEST_PAGES + 4 * PAGE + 100, 4 * PAGE - 100, VIRTQ_DESC_F_WRITE, 0);
    post(&d, 2, 0);
    TAP_EQ_U64(used_idx(2), 1, "reported ranges returned to the driver");
    TAP_CHECK(all_bytes(low + TEST_PAGES, 4 * PAGE, 0), "reported free pages are discarded");
    TAP_CHECK(all_bytes(low + TEST_PAGES + 4 * PAGE, PAGE, 0xBB),
              "a partial page at a range's start is kept");
    struct virtio_balloon_info info;
    virtio_balloon_info(b, &info);
    TAP_EQ_U64(info.reported_bytes, 7 * PAGE, "7 whole pages reported");
    TAP_EQ_U64(info.pages_held, 0, "reported pages are not balloon pages");
    virtio_balloon_free_model(b);

    b = model(&cfg, NULL);
    attach(&d, b, (1ull << VIRTIO_F_VERSION_1) | (1ull << F_REPORTING) | (1ull << F_STATS_VQ));
    memset(low + TEST_PAGES, 0xBB, PAGE);
    set_desc(3, 0, TEST_PAGES, PAGE, VIRTQ_DESC_F_WRITE, 0);
    post(&d, 3, 0);
    TAP_CHECK(used_idx(3) == 1 && all_bytes(low + TEST_PAGES, PAGE, 0),
              "with STATS_VQ the reporting queue is index 3");
    virtio_balloon_free_model(b);
}

/* ---- monitor tests: real monitor on a loop thread, over a socket ---- */

static struct loop *loop;
static char sock_path[108], sock_path2[108];

static void *loop_thread(void *arg)
{
    loop_run(arg);
    return NULL;
}
static void quit_loop(void *arg) { loop_quit(arg, 0); }

struct client {
    int fd;
    char buf[65536];
    size_t len;
    char events[8192];   /* event lines seen while waiting for replies */
};

static int connect_to(struct client *c, const char *path)
{
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    return connect(c->fd, (struct sockaddr *)&sa, sizeof(sa));
}

/* Next line (without \r\n) or NULL after timeout_ms. Static buffer. */
static char *read_line(struct client *c, int timeout_ms)
{
    static char line[65536];
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl) {
            size_t n = (size_t)(nl - c->buf);
            memcpy(line, c->buf, n);
            line[n && line[n - 1] == '\r' ? n - 1 : n] = 0;
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            return line;
        }
        struct pollfd p = { .fd = c->fd, .events = POLLIN };
        if (poll(&p, 1, timeout_ms) <= 0)
            return NULL;
        ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len - 1);
        if (r <= 0)
            return NULL;
        c->len += (size_t)r;
    }
}

/* Send a command, return the first non-event reply line; events seen on
 * the way are appended to c->events. */
static char *cmd(struct client *c, const char *json)
{
    if (write(c->fd, json, strlen(json)) < 0 || write(c->fd, "\n", 1) < 0)
        return NULL;
    for (;;) {
        char *l = read_line(c, 3000);
        if (!l || !strstr(l, "\"event\""))
            return l;
        strncat(c->events, l, sizeof(c->events) - strlen(c->events) - 2);
        strcat(c->events, "\n");
    }
}

static bool wait_event(struct client *c, const char *needle, int timeout_ms)
{
    if (strstr(c->events, needle))
        return true;
    char *l;
    while ((l = read_line(c, timeout_ms)) != NULL) {
        strncat(c->events, l, sizeof(c->events) - strlen(c->events) - 2);
        strcat(c->events, "\n");
        if (strstr(l, needle))
            return true;
    }
    return false;
}

static bool wait_used(unsigned q, uint16_t want, int timeout_ms)
{
    for (int i = 0; i < timeout_ms / 10; i++) {
        if (used_idx(q) == want)
            return true;
        usleep(10000);
    }
    return used_idx(q) == want;
}

#define REPLY_HAS(c, json, needle, name)                                        \
    do {                                                                        \
        char *r_ = cmd(c, json);                                                \
        TAP_CHECK(r_ && strstr(r_, needle), "%s", name);                        \
        if (!r_ || !strstr(r_, needle))                                         \
            printf("#   reply: %s\n#   wanted: %s\n", r_ ? r_ : "(none)", needle); \
    } while (0)

/* The test owns the model; the machine only finds it. */
static int keep_realize(struct device *dev, char *err, size_t errlen)
{
    (void)dev, (void)err, (void)errlen;
    return 0;
}
static void keep_noop(struct device *dev) { (void)dev; }
static const struct device_ops test_balloon_ops = {
    .model = "virtio-balloon-pci",
    .realize = keep_realize,
    .reset = keep_noop,
    .unplug = keep_noop,
    .destroy = keep_noop,
    .save = device_save_unsupported,
    .load = device_load_unsupported,
};

static void test_monitor(void)
{
    static const struct monitor_ops no_ops = { 0 };
    char err[256] = "";
    loop = loop_new();
    snprintf(sock_path, sizeof(sock_path), "/tmp/test-balloon-%d.sock", (int)getpid());
    snprintf(sock_path2, sizeof(sock_path2), "/tmp/test-balloon-%d-absent.sock", (int)getpid());
    struct monitor_info mi = { .name = "bt", .ram_size = RAM_TOTAL, .kvm_enabled = true };
    struct monitor *mon = monitor_create(loop, sock_path, &mi, &no_ops, NULL, err, sizeof(err));
    struct monitor *mon2 = monitor_create(loop, sock_path2, &mi, &no_ops, NULL, err, sizeof(err));
    TAP_CHECK(mon && mon2, "monitors created (%s)", err);
    if (!mon || !mon2)
        return;
    struct virtio_balloon_config cfg = { .id = "balloon0" };
    struct virtio_balloon *b = model(&cfg, loop);
    struct machine *m = machine_create(NULL, err, sizeof(err));
    struct machine *empty = machine_create(NULL, err, sizeof(err));
    TAP_CHECK(monitor_balloon_register(mon, empty) == 0, "absent handlers registered first");
    struct device proto = { .id = "balloon0", .kind = DEVICE_VIRTIO_BALLOON,
                            .ops = &test_balloon_ops, .model = b };
    TAP_CHECK(machine_add_device(m, &proto, err, sizeof(err)) && monitor_balloon_register(mon, m) == 0,
              "balloon commands registered");
    TAP_CHECK(monitor_balloon_register(mon2, empty) == 0, "absent handlers on the second monitor");
    struct drv d;
    attach(&d, b, (1ull << VIRTIO_F_VERSION_1) | (1ull << F_STATS_VQ));

    pthread_t th;
    pthread_create(&th, NULL, loop_thread, loop);

    struct client c;
    TAP_CHECK(connect_to(&c, sock_path) == 0 && read_line(&c, 3000), "connected, greeting read");
    cmd(&c, "{\"execute\": \"qmp_capabilities\"}");

    char q[256];
    snprintf(q, sizeof(q), "{\"return\": {\"actual\": %llu}, \"id\": 1}", (unsigned long long)RAM_TOTAL);
    REPLY_HAS(&c, "{\"execute\": \"query-balloon\", \"id\": 1}", q, "query-balloon: all RAM at start");

    int cfg_irqs = config_irqs;
    snprintf(q, sizeof(q), "{\"execute\": \"balloon\", \"arguments\": {\"value\": %llu}, \"id\": 2}",
             (unsigned long long)(RAM_TOTAL - (1 << 20)));
    REPLY_HAS(&c, q, "{\"return\": {}, \"id\": 2}", "balloon to RAM - 1 MiB returns {}");
    TAP_EQ_U64(cfg_read(&d, 0), 256, "num_pages = 256 (1 MiB of 4 KiB pages)");
    TAP_CHECK(config_irqs > cfg_irqs, "the target change raised a config interrupt");

    snprintf(q, sizeof(q), "{\"execute\": \"balloon\", \"arguments\": {\"value\": %llu}, \"id\": 3}",
             (unsigned long long)(RAM_TOTAL * 2));
    REPLY_HAS(&c, q, "\"class\": \"GenericError\", \"desc\": \"Balloon target",
              "a target above boot memory is a GenericError");
    TAP_EQ_U64(cfg_read(&d, 0), 256, "the refused target changed nothing");
    REPLY_HAS(&c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 0}, \"id\": 4}",
              "\"desc\": \"Parameter 'target' expects a size\"", "value 0: QEMU's text");
    REPLY_HAS(&c, "{\"execute\": \"balloon\", \"arguments\": {}, \"id\": 5}",
              "Parameter 'value' is missing", "missing value");
    REPLY_HAS(&c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": \"big\"}, \"id\": 6}",
              "expected: integer", "string value");

    /* The driver inflates and writes actual → BALLOON_CHANGE. */
    cfg_write_actual(&d, 256);
    snprintf(q, sizeof(q), "\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": %llu}",
             (unsigned long long)(RAM_TOTAL - (1 << 20)));
    TAP_CHECK(wait_event(&c, q, 3000), "BALLOON_CHANGE with actual bytes after the driver's write");
    snprintf(q, sizeof(q), "{\"return\": {\"actual\": %llu}", (unsigned long long)(RAM_TOTAL - (1 << 20)));
    REPLY_HAS(&c, "{\"execute\": \"query-balloon\"}", q, "query-balloon follows actual");

    REPLY_HAS(&c, "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"info balloon\"}}",
              "{\"return\": \"balloon: actual=8\\r\\n\"}", "HMP info balloon in MiB");
    REPLY_HAS(&c, "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"balloon 4\"}}",
              "{\"return\": \"\"}", "HMP balloon 4 prints nothing");
    TAP_EQ_U64(cfg_read(&d, 0), (RAM_TOTAL - (4u << 20)) >> 12, "HMP balloon 4 → num_pages for 4 MiB");
    REPLY_HAS(&c, "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"balloon 4096\"}}",
              "\"Error: Balloon target", "HMP balloon above boot memory: Error text");
    REPLY_HAS(&c, "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"balloon x\"}}",
              "invalid size", "HMP balloon with garbage");

    /* Inflate through the loop (kick → eventfd → loop thread). */
    memset(low + TEST_PAGES, 0xAA, 4 * PAGE);
    uint32_t pfns[4] = { TEST_PAGES >> 12, (TEST_PAGES >> 12) + 1, (TEST_PAGES >> 12) + 2,
                         (TEST_PAGES >> 12) + 3 };
    send_pfns(&d, 0, pfns, 4);
    TAP_CHECK(wait_used(0, 1, 3000) && all_bytes(low + TEST_PAGES, 4 * PAGE, 0),
              "inflate processed on the loop thread");

    /* Stats polling. */
    REPLY_HAS(&c, "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", \"property\": \"guest-stats\"}}",
              "\"stat-swap-in\": 18446744073709551615", "no stats yet: 2^64-1");
    REPLY_HAS(&c, "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", \"property\": \"guest-stats\"}}",
              "\"last-update\": 0}", "no stats yet: last-update 0");
    post_stats(&d, 2, 1000);
    usleep(200000);
    TAP_EQ_U64(used_idx(2), 0, "polling off: the stats buffer stays with the device");
    REPLY_HAS(&c, "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", \"property\": \"guest-stats-polling-interval\", \"value\": 1}}",
              "{\"return\": {}}", "qom-set polling interval 1");
    REPLY_HAS(&c, "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", \"property\": \"guest-stats-polling-interval\"}}",
              "{\"return\": 1}", "qom-get polling interval");
    TAP_CHECK(wait_used(2, 1, 2500), "after ~1 s the device hands the stats buffer back");
    REPLY_HAS(&c, "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"balloon0\", \"property\": \"guest-stats\"}}",
              "\"stat-total-memory\": 1005", "guest-stats carries the guest's values");
    post_stats(&d, 2, 2000);
    TAP_CHECK(wait_used(2, 2, 2500), "the next period returns the refilled buffer");
    REPLY_HAS(&c, "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", \"property\": \"guest-stats-polling-interval\", \"value\": -1}}",
              "timer value must be greater than zero", "negative interval refused");
    REPLY_HAS(&c, "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", \"property\": \"guest-stats-polling-interval\", \"value\": \"2\"}}",
              "expected: integer", "string interval refused");
    REPLY_HAS(&c, "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", \"property\": \"guest-stats-polling-interval\", \"value\": 0}}",
              "{\"return\": {}}", "polling off again");
    REPLY_HAS(&c, "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine/peripheral/nope\", \"property\": \"guest-stats\"}}",
              "\"class\": \"DeviceNotFound\", \"desc\": \"Device '/machine/peripheral/nope' not found\"",
              "qom-get of an unknown path: DeviceNotFound");
    REPLY_HAS(&c, "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", \"property\": \"nope\"}}",
              "Property 'virtio-balloon-pci.nope' not found", "unknown property: QEMU's text");

    /* A VM without a balloon. */
    struct client c2;
    TAP_CHECK(connect_to(&c2, sock_path2) == 0 && read_line(&c2, 3000), "second monitor greeting");
    cmd(&c2, "{\"execute\": \"qmp_capabilities\"}");
    REPLY_HAS(&c2, "{\"execute\": \"query-balloon\"}",
              "{\"error\": {\"class\": \"DeviceNotActive\", \"desc\": \"No balloon device has been activated\"}}",
              "no balloon: query-balloon DeviceNotActive");
    REPLY_HAS(&c2, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 1048576}}",
              "\"class\": \"DeviceNotActive\"", "no balloon: balloon DeviceNotActive");
    REPLY_HAS(&c2, "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"info balloon\"}}",
              "{\"return\": \"Error: No balloon device has been activated\\r\\n\"}", "no balloon: HMP info balloon");
    REPLY_HAS(&c2, "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"balloon 384\"}}",
              "{\"return\": \"Error: No balloon device has been activated\\r\\n\"}", "no balloon: HMP balloon");
    REPLY_HAS(&c2, "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", \"property\": \"guest-stats\"}}",
              "DeviceNotFound", "no balloon: qom-get DeviceNotFound");
    close(c2.fd);
    close(c.fd);

    loop_call(loop, quit_loop, loop);
    pthread_join(th, NULL);
    monitor_free(mon);
    monitor_free(mon2);
    machine_destroy(m);
    machine_destroy(empty);
    virtio_balloon_free_model(b);
    loop_free(loop);
}

/* Device assignment (hv/vfio) inhibits discards: pages stay mapped and
 * keep their contents, the accounting is unchanged. */
static void test_discard_inhibited(void)
{
    virtio_balloon_set_discard_inhibited(true, "test");
    struct virtio_balloon_config cfg = { 0 };
    struct virtio_balloon *b = model(&cfg, NULL);
    struct drv d;
    attach(&d, b, (1ull << VIRTIO_F_VERSION_1));
    uint8_t *page = low + TEST_PAGES + 32 * PAGE;
    memset(page, 0x3C, 4 * PAGE);
    uint32_t pfns[4];
    for (unsigned i = 0; i < 4; i++)
        pfns[i] = (uint32_t)((TEST_PAGES + (32 + i) * PAGE) >> 12);
    send_pfns(&d, 0, pfns, 4);
    struct virtio_balloon_info info;
    virtio_balloon_info(b, &info);
    TAP_EQ_U64(info.pages_held, 4, "inhibited: 4 pages held");
    TAP_EQ_U64(info.discarded_bytes, 0, "inhibited: nothing discarded");
    TAP_CHECK(all_bytes(page, 4 * PAGE, 0x3C), "inhibited: inflated pages keep their contents");
    virtio_balloon_free_model(b);
    virtio_balloon_set_discard_inhibited(false, NULL);
}

int main(void)
{
    low = mmap(NULL, LOW_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    high = mmap(NULL, HIGH_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (low == MAP_FAILED || high == MAP_FAILED)
        return 99;
    gm_add_region(&gm, 0, LOW_SIZE, low);
    gm_add_region(&gm, HIGH_GPA, HIGH_SIZE, high);
    gm.ram_size = RAM_TOTAL;

    test_features();
    test_inflate_deflate();
    test_stats();
    test_reporting();
    test_monitor();
    test_discard_inhibited();
    return tap_done();
}
