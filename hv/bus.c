/* PIO/MMIO dispatch.
 *
 * Readers (vCPU threads) never take a lock: they read an immutable,
 * sorted snapshot of the ranges. Writers (device registration, PCI BAR
 * moves) build a new snapshot under a mutex and publish it atomically.
 * A BAR move usually happens *inside* a dispatch (the guest's config write
 * to 0xCFC), so a writer cannot wait for readers to drain; replaced
 * snapshots are retired instead and freed by a later writer once no other
 * dispatch is in flight (readers announce themselves in `active` before
 * loading the snapshot pointer, so a reader that starts after the swap
 * can only see the new one). */
#include "hv/bus.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

struct bus_range {
    uint64_t base, len;
    bus_access_fn fn;
    void *opaque;
};

struct bus_snapshot {
    unsigned n[2];               /* per enum bus_space */
    struct bus_range *ranges[2]; /* sorted by base, non-overlapping */
    struct bus_snapshot *retired_next;
};

struct bus {
    _Atomic(struct bus_snapshot *) current;
    atomic_int active;           /* dispatches in flight */
    pthread_mutex_t write_lock;
    struct bus_snapshot *retired;
};

/* Dispatch nesting of the calling thread (a handler may add/remove ranges). */
static _Thread_local int bus_dispatch_depth;

static void snapshot_free(struct bus_snapshot *s)
{
    if (!s)
        return;
    free(s->ranges[0]);
    free(s->ranges[1]);
    free(s);
}

struct bus *bus_new(void)
{
    struct bus *bus = calloc(1, sizeof(*bus));
    struct bus_snapshot *s = calloc(1, sizeof(*s));
    if (!bus || !s) {
        free(bus);
        free(s);
        return NULL;
    }
    atomic_init(&bus->current, s);
    atomic_init(&bus->active, 0);
    pthread_mutex_init(&bus->write_lock, NULL);
    return bus;
}

void bus_free(struct bus *bus)
{
    if (!bus)
        return;
    snapshot_free(atomic_load(&bus->current));
    while (bus->retired) {
        struct bus_snapshot *s = bus->retired;
        bus->retired = s->retired_next;
        snapshot_free(s);
    }
    pthread_mutex_destroy(&bus->write_lock);
    free(bus);
}

/* Copy the current snapshot with room for `extra` more ranges in `space`. */
static struct bus_snapshot *snapshot_copy(const struct bus_snapshot *cur, enum bus_space space,
                                          unsigned extra)
{
    struct bus_snapshot *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    for (int sp = 0; sp < 2; sp++) {
        unsigned cap = cur->n[sp] + (sp == (int)space ? extra : 0);
        s->n[sp] = cur->n[sp];
        if (cap == 0)
            continue;
        s->ranges[sp] = calloc(cap, sizeof(struct bus_range));
        if (!s->ranges[sp]) {
            snapshot_free(s);
            return NULL;
        }
        if (cur->n[sp])
            memcpy(s->ranges[sp], cur->ranges[sp], cur->n[sp] * sizeof(struct bus_range));
    }
    return s;
}

/* Publish `next` and retire the old snapshot; free retired ones when no
 * other thread is dispatching. Called with write_lock held. */
static void snapshot_publish(struct bus *bus, struct bus_snapshot *next)
{
    struct bus_snapshot *old = atomic_exchange(&bus->current, next);
    old->retired_next = bus->retired;
    bus->retired = old;
    /* Dispatch copies the range it found before calling the handler, so
     * this thread holds no snapshot reference even when it is inside one. */
    if (atomic_load(&bus->active) == bus_dispatch_depth) {
        while (bus->retired) {
            struct bus_snapshot *s = bus->retired;
            bus->retired = s->retired_next;
            snapshot_free(s);
        }
    }
}

int bus_add(struct bus *bus, enum bus_space space, uint64_t base, uint64_t len,
            bus_access_fn fn, void *opaque)
{
    if (len == 0 || base + len - 1 < base || !fn || (space != BUS_PIO && space != BUS_MMIO))
        return -EINVAL;
    pthread_mutex_lock(&bus->write_lock);
    struct bus_snapshot *cur = atomic_load(&bus->current);
    unsigned n = cur->n[space], pos = 0;
    const struct bus_range *r = cur->ranges[space];
    for (pos = 0; pos < n && r[pos].base < base; pos++)
        ;
    /* Overlap with the neighbours? Ranges are sorted and disjoint. */
    if ((pos > 0 && r[pos - 1].base + r[pos - 1].len > base) ||
        (pos < n && base + len > r[pos].base)) {
        pthread_mutex_unlock(&bus->write_lock);
        return -EEXIST;
    }
    struct bus_snapshot *next = snapshot_copy(cur, space, 1);
    if (!next) {
        pthread_mutex_unlock(&bus->write_lock);
        return -ENOMEM;
    }
    struct bus_range *nr = next->ranges[space];
    memmove(&nr[pos + 1], &nr[pos], (n - pos) * sizeof(*nr));
    nr[pos] = (struct bus_range){ .base = base, .len = len, .fn = fn, .opaque = opaque };
    next->n[space] = n + 1;
    snapshot_publish(bus, next);
    pthread_mutex_unlock(&bus->write_lock);
    return 0;
}

void bus_remove(struct bus *bus, enum bus_space space, uint64_t base, void *opaque)
{
    if (space != BUS_PIO && space != BUS_MMIO)
        return;
    pthread_mutex_lock(&bus->write_lock);
    struct bus_snapshot *cur = atomic_load(&bus->current);
    unsigned n = cur->n[space];
    for (unsigned i = 0; i < n; i++) {
        const struct bus_range *r = &cur->ranges[space][i];
        if (r->base != base || r->opaque != opaque)
            continue;
        struct bus_snapshot *next = snapshot_copy(cur, space, 0);
        if (!next) {
            log_error("bus: out of memory removing range 0x%llx", (unsigned long long)base);
            break;
        }
        memmove(&next->ranges[space][i], &next->ranges[space][i + 1],
                (n - i - 1) * sizeof(struct bus_range));
        next->n[space] = n - 1;
        snapshot_publish(bus, next);
        break;
    }
    pthread_mutex_unlock(&bus->write_lock);
}

static const struct bus_range *bus_find(const struct bus_snapshot *s, enum bus_space space,
                                        uint64_t addr)
{
    const struct bus_range *r = s->ranges[space];
    unsigned lo = 0, hi = s->n[space];
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        if (addr < r[mid].base)
            hi = mid;
        else if (addr - r[mid].base >= r[mid].len)
            lo = mid + 1;
        else
            return &r[mid];
    }
    return NULL;
}

bool bus_dispatch(struct bus *bus, enum bus_space space, uint64_t addr, uint8_t *data,
                  uint32_t len, bool is_write)
{
    if (space != BUS_PIO && space != BUS_MMIO)
        return false;
    atomic_fetch_add(&bus->active, 1);
    bus_dispatch_depth++;
    const struct bus_snapshot *s = atomic_load(&bus->current);
    const struct bus_range *r = bus_find(s, space, addr);
    /* An access must lie entirely inside the range that claims its start. */
    bool claimed = r && len <= r->len - (addr - r->base);
    if (claimed) {
        /* Copy out: the handler may retire this snapshot. */
        struct bus_range hit = *r;
        hit.fn(hit.opaque, addr - hit.base, data, len, is_write);
    } else if (!is_write) {
        memset(data, 0xff, len);
    }
    bus_dispatch_depth--;
    atomic_fetch_sub(&bus->active, 1);
    return claimed;
}
