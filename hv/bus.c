/* PIO/MMIO dispatch.
 *
 * vCPU threads dispatch without taking a lock; device registration and
 * PCI BAR moves change the tables under a mutex. A BAR move usually
 * happens *inside* a dispatch (the guest's config write to 0xCFC), so a
 * writer must never wait for readers. The tables are fixed arrays guarded
 * by a sequence counter (a seqlock): a reader looks up its range, copies
 * it out, and retries if a writer was active meanwhile; it calls the
 * handler only after that, on its private copy. Nothing is ever freed
 * while readers run, so a guest that keeps moving BARs costs no memory. */
#include "hv/bus.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define BUS_MAX_RANGES 512   /* per address space */

struct bus_range {
    uint64_t base, len;
    bus_access_fn fn;
    void *opaque;
};

struct bus_table {
    unsigned n;              /* accessed with __atomic builtins */
    struct bus_range r[BUS_MAX_RANGES];  /* sorted by base, disjoint */
};

struct bus {
    _Atomic uint64_t seq;    /* odd while a writer changes the tables */
    pthread_mutex_t write_lock;
    struct bus_table t[2];   /* per enum bus_space */
};

/* Relaxed loads/stores of shared fields: readers may see a table in the
 * middle of a change, detect it through seq and retry. */
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

struct bus *bus_new(void)
{
    struct bus *bus = calloc(1, sizeof(*bus));
    if (!bus)
        return NULL;
    atomic_init(&bus->seq, 0);
    pthread_mutex_init(&bus->write_lock, NULL);
    return bus;
}

void bus_free(struct bus *bus)
{
    if (!bus)
        return;
    pthread_mutex_destroy(&bus->write_lock);
    free(bus);
}

static void write_begin(struct bus *bus)
{
    uint64_t s = atomic_load_explicit(&bus->seq, memory_order_relaxed);
    atomic_store_explicit(&bus->seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

static void write_end(struct bus *bus)
{
    uint64_t s = atomic_load_explicit(&bus->seq, memory_order_relaxed);
    atomic_store_explicit(&bus->seq, s + 1, memory_order_release);
}

static void range_store(struct bus_range *dst, const struct bus_range *src)
{
    STORE(dst->base, src->base);
    STORE(dst->len, src->len);
    STORE(dst->fn, src->fn);
    STORE(dst->opaque, src->opaque);
}

static void range_load(struct bus_range *dst, struct bus_range *src)
{
    dst->base = LOAD(src->base);
    dst->len = LOAD(src->len);
    dst->fn = LOAD(src->fn);
    dst->opaque = LOAD(src->opaque);
}

int bus_add(struct bus *bus, enum bus_space space, uint64_t base, uint64_t len,
            bus_access_fn fn, void *opaque)
{
    if (len == 0 || base + len - 1 < base || !fn || (space != BUS_PIO && space != BUS_MMIO))
        return -EINVAL;
    pthread_mutex_lock(&bus->write_lock);
    struct bus_table *t = &bus->t[space];
    unsigned n = t->n, pos;
    for (pos = 0; pos < n && t->r[pos].base < base; pos++)
        ;
    int r = 0;
    if ((pos > 0 && t->r[pos - 1].base + t->r[pos - 1].len > base) ||
        (pos < n && base + len > t->r[pos].base))
        r = -EEXIST;
    else if (n == BUS_MAX_RANGES)
        r = -ENOSPC;
    if (r == 0) {
        write_begin(bus);
        for (unsigned i = n; i > pos; i--)
            range_store(&t->r[i], &t->r[i - 1]);
        struct bus_range nr = { .base = base, .len = len, .fn = fn, .opaque = opaque };
        range_store(&t->r[pos], &nr);
        STORE(t->n, n + 1);
        write_end(bus);
    }
    pthread_mutex_unlock(&bus->write_lock);
    return r;
}

void bus_remove(struct bus *bus, enum bus_space space, uint64_t base, void *opaque)
{
    if (space != BUS_PIO && space != BUS_MMIO)
        return;
    pthread_mutex_lock(&bus->write_lock);
    struct bus_table *t = &bus->t[space];
    unsigned n = t->n;
    for (unsigned i = 0; i < n; i++) {
        if (t->r[i].base != base || t->r[i].opaque != opaque)
            continue;
        write_begin(bus);
        STORE(t->n, n - 1);
        for (unsigned j = i; j + 1 < n; j++)
            range_store(&t->r[j], &t->r[j + 1]);
        write_end(bus);
        break;
    }
    pthread_mutex_unlock(&bus->write_lock);
}

/* Look addr up; on a hit copy the range to *out. Consistency is checked
 * by the caller through seq. */
static bool bus_find(struct bus_table *t, uint64_t addr, struct bus_range *out)
{
    unsigned lo = 0, hi = LOAD(t->n);
    if (hi > BUS_MAX_RANGES)
        return false;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        uint64_t base = LOAD(t->r[mid].base), len = LOAD(t->r[mid].len);
        if (addr < base) {
            hi = mid;
        } else if (addr - base >= len) {
            lo = mid + 1;
        } else {
            range_load(out, &t->r[mid]);
            return true;
        }
    }
    return false;
}

bool bus_dispatch(struct bus *bus, enum bus_space space, uint64_t addr, uint8_t *data,
                  uint32_t len, bool is_write)
{
    if (space != BUS_PIO && space != BUS_MMIO)
        return false;
    struct bus_range hit;
    bool found;
    for (;;) {
        uint64_t s1 = atomic_load_explicit(&bus->seq, memory_order_acquire);
        if (s1 & 1) {
            sched_yield();
            continue;
        }
        found = bus_find(&bus->t[space], addr, &hit);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&bus->seq, memory_order_relaxed) == s1)
            break;
    }
    /* An access must lie entirely inside the range that claims its start. */
    bool claimed = found && hit.fn && len <= hit.len - (addr - hit.base);
    if (claimed)
        hit.fn(hit.opaque, addr - hit.base, data, len, is_write);
    else if (!is_write)
        memset(data, 0xff, len);
    return claimed;
}
