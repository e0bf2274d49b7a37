/* virtio-balloon (virtio 1.x device type 5, "traditional" balloon).
 *
 * The host sets a target (QMP `balloon`, HMP `balloon N`); the guest driver
 * inflates (hands 4 KiB pages to the host) or deflates (takes them back)
 * and reports how many pages it holds in the balloon. Inflated pages and
 * free-page-reporting ranges are discarded from the worker's memory with
 * madvise, so the worker's RSS really drops. Guest statistics arrive on
 * the stats queue at a polling period set at start or with qom-set.
 *
 * One device per VM, a modern virtio-pci function (1AF4:1045) on bus 0,
 * INTx only like QEMU's virtio-balloon-pci. Queue processing, the stats
 * timer and monitor events run on the worker's main-thread loop.
 *
 * Monitor (QEMU 7.2 shapes, qapi/machine.json): `balloon`,
 * `query-balloon`, `qom-get` / `qom-set` on /machine/peripheral/<id>
 * (guest-stats, guest-stats-polling-interval), HMP `info balloon` and
 * `balloon N`, event BALLOON_CHANGE. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guest_mem;
struct loop;
struct virtio_dev;

struct virtio_balloon_config {
    const char *id;             /* QOM id, e.g. "balloon0" (libvirt's alias); NULL = "balloon0" */
    bool deflate_on_oom;        /* offer VIRTIO_BALLOON_F_DEFLATE_ON_OOM (libvirt autodeflate='on') */
    bool free_page_reporting;   /* offer VIRTIO_BALLOON_F_REPORTING (libvirt freePageReporting='on') */
    unsigned stats_period_s;    /* guest-stats-polling-interval at start; 0 = off */
};

struct virtio_balloon;

/* Out of service: stop the stats timer, drop the loop watches. */
void virtio_balloon_stop(struct virtio_balloon *b);

/* The host's target: `value` bytes of guest RAM (qmp.md "balloon"). 0, or
 * -EINVAL / -ERANGE with QEMU's (or a clearer) message in err. */
int virtio_balloon_set_target(struct virtio_balloon *b, int64_t value, char *err, size_t errlen);

/* guest-stats-polling-interval: 0 stops polling. Main thread. */
void virtio_balloon_set_stats_period(struct virtio_balloon *b, unsigned seconds);

/* Called on the main thread when the driver's balloon size changed
 * (QEMU's BALLOON_CHANGE), with the guest's memory in bytes. */
typedef void (*virtio_balloon_change_fn)(void *opaque, uint64_t actual_bytes);
void virtio_balloon_set_change_notifier(struct virtio_balloon *b, virtio_balloon_change_fn fn,
                                        void *opaque);

/* Device assignment (hv/vfio) pins guest RAM in the IOMMU: a discarded
 * page would be replaced by a new one the device does not see. While
 * inhibited, inflated and reported pages are not madvised away (logged
 * once); the balloon's accounting (query-balloon, info balloon) is
 * unchanged. Process-wide; callable before or after the balloon exists. */
void virtio_balloon_set_discard_inhibited(bool inhibited, const char *why);

/* Guest statistics tags (virtio 1.2 §5.5.6.3); QMP names in qmp.md. */
enum virtio_balloon_stat {
    VIRTIO_BALLOON_S_SWAP_IN = 0,       /* bytes */
    VIRTIO_BALLOON_S_SWAP_OUT = 1,      /* bytes */
    VIRTIO_BALLOON_S_MAJFLT = 2,        /* count */
    VIRTIO_BALLOON_S_MINFLT = 3,        /* count */
    VIRTIO_BALLOON_S_MEMFREE = 4,       /* bytes */
    VIRTIO_BALLOON_S_MEMTOT = 5,        /* bytes */
    VIRTIO_BALLOON_S_AVAIL = 6,         /* bytes */
    VIRTIO_BALLOON_S_CACHES = 7,        /* bytes */
    VIRTIO_BALLOON_S_HTLB_PGALLOC = 8,  /* count */
    VIRTIO_BALLOON_S_HTLB_PGFAIL = 9,   /* count */
    VIRTIO_BALLOON_S_NR = 10,
};
#define VIRTIO_BALLOON_STAT_NONE UINT64_MAX   /* never supplied (QMP prints 2^64-1) */

struct virtio_balloon_info {
    const char *id;
    const char *qom_path;       /* /machine/peripheral/<id> */
    uint64_t ram_size;          /* boot memory, bytes */
    uint64_t target;            /* bytes the host wants the guest to have */
    uint64_t actual;            /* bytes the guest has (ram_size - balloon), query-balloon */
    uint64_t pages_held;        /* 4 KiB pages currently inflated (host bookkeeping) */
    uint64_t discarded_bytes;   /* total given back to the host with madvise (inflate + reporting) */
    uint64_t reported_bytes;    /* of which free page reporting */
    uint64_t ignored_pfns;      /* PFNs outside RAM that were ignored */
    unsigned stats_period_s;
    int64_t last_update;        /* wall-clock seconds of the last stats buffer, 0 = none */
    uint64_t stats[VIRTIO_BALLOON_S_NR];   /* raw values, VIRTIO_BALLOON_STAT_NONE when missing */
    bool driver_ok;             /* the guest driver is bound */
    uint64_t features;          /* negotiated */
};

/* Snapshot; main thread. */
void virtio_balloon_info(const struct virtio_balloon *b, struct virtio_balloon_info *out);

/* libvirt's virDomainMemoryStatTags (libvirt-rpc.md): what virsh dommemstat
 * prints. Sizes in KiB, counts as counts, last_update in epoch seconds. */
enum virtio_balloon_memstat_tag {
    BALLOON_MEMSTAT_SWAP_IN = 0,
    BALLOON_MEMSTAT_SWAP_OUT = 1,
    BALLOON_MEMSTAT_MAJOR_FAULT = 2,
    BALLOON_MEMSTAT_MINOR_FAULT = 3,
    BALLOON_MEMSTAT_UNUSED = 4,
    BALLOON_MEMSTAT_AVAILABLE = 5,
    BALLOON_MEMSTAT_ACTUAL_BALLOON = 6,
    BALLOON_MEMSTAT_RSS = 7,
    BALLOON_MEMSTAT_USABLE = 8,
    BALLOON_MEMSTAT_LAST_UPDATE = 9,
    BALLOON_MEMSTAT_DISK_CACHES = 10,
    BALLOON_MEMSTAT_HUGETLB_PGALLOC = 11,
    BALLOON_MEMSTAT_HUGETLB_PGFAIL = 12,
    BALLOON_MEMSTAT_NR = 13,
};

struct virtio_balloon_memstat {
    int tag;                    /* enum virtio_balloon_memstat_tag */
    uint64_t val;
};

/* Fill at most max entries the way libvirt's QEMU driver maps QEMU's stats
 * (stat-total-memory → available, stat-available-memory → usable,
 * stat-free-memory → unused, ...; stats the guest never sent are left
 * out), plus actual (KiB) and, when rss_kib is not 0, rss. Returns the
 * number of entries written. b may be NULL (no balloon: actual = ram). */
int virtio_balloon_memory_stats(const struct virtio_balloon *b, uint64_t ram_size,
                                uint64_t rss_kib, struct virtio_balloon_memstat *out,
                                int max);

/* The device model on mem; the machine puts it on its transport. With
 * loop == NULL (unit tests) queue
 * notifications are processed at once on the caller's thread and no
 * stats timer runs (call virtio_balloon_poll_stats); with a loop, kicks
 * go through the queues' eventfds to the loop thread. */
struct virtio_balloon *virtio_balloon_new_model(struct guest_mem *mem, struct loop *loop,
                                                const struct virtio_balloon_config *cfg,
                                                char *err, size_t errlen);
struct virtio_dev *virtio_balloon_dev(struct virtio_balloon *b);
/* What the stats timer does on each tick: return the held stats buffer to
 * the guest so it refills it. Returns true when a buffer was returned. */
bool virtio_balloon_poll_stats(struct virtio_balloon *b);
/* Stop if needed and free the model. */
void virtio_balloon_free_model(struct virtio_balloon *b);
