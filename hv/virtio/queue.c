/* Split virtqueue, device side. See queue.h; section numbers are the
 * virtio 1.2 specification's. The worker runs on x86-64 only, so the
 * little-endian ring fields are used as they are. */
#include "hv/virtio/queue.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
_Static_assert(sizeof(struct virtq_desc) == VIRTQ_DESC_SIZE, "descriptor layout");

/* Ring layout offsets (§2.7.6, §2.7.8). */
#define AVAIL_FLAGS 0
#define AVAIL_IDX 2
#define AVAIL_RING 4
#define USED_FLAGS 0
#define USED_IDX 2
#define USED_RING 4
#define USED_ELEM_SIZE 8

/* The ring indices are shared with the guest's vCPUs: single-copy atomic
 * 16-bit accesses (the areas are 2/4-byte aligned, checked at start). */
static inline uint16_t ring_load16(const uint8_t *p)
{
    return __atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_RELAXED);
}

static inline void ring_store16(uint8_t *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)(void *)p, v, __ATOMIC_RELAXED);
}

static size_t avail_area_size(uint16_t size, bool event_idx)
{
    return AVAIL_RING + 2u * size + (event_idx ? 2u : 0u);
}

static size_t used_area_size(uint16_t size, bool event_idx)
{
    return USED_RING + (size_t)USED_ELEM_SIZE * size + (event_idx ? 2u : 0u);
}

void virtq_init(struct virtq *vq, const struct guest_mem *mem, const char *devname,
                unsigned index, uint16_t max_size)
{
    memset(vq, 0, sizeof(*vq));
    vq->mem = mem;
    vq->devname = devname;
    vq->index = index;
    vq->max_size = max_size;
    vq->kick_fd = -1;
    virtq_reset(vq);
}

void virtq_reset(struct virtq *vq)
{
    __atomic_store_n(&vq->ready, false, __ATOMIC_RELEASE);
    vq->size = vq->max_size;
    vq->desc_gpa = vq->avail_gpa = vq->used_gpa = 0;
    vq->desc = vq->avail = vq->used = NULL;
    vq->event_idx = vq->indirect = false;
    vq->last_avail = vq->used_idx = vq->signalled_used = 0;
    __atomic_store_n(&vq->broken, false, __ATOMIC_RELEASE);
}

void virtq_mark_broken(struct virtq *vq, const char *fmt, ...)
{
    if (__atomic_exchange_n(&vq->broken, true, __ATOMIC_ACQ_REL))
        return;  /* already broken: log only once */
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    log_error("%s: queue %u: %s; device needs reset", vq->devname ? vq->devname : "virtio",
              vq->index, why);
    if (vq->on_broken)
        vq->on_broken(vq->opaque, vq->index);
}

bool virtq_ready(const struct virtq *vq)
{
    return __atomic_load_n(&vq->ready, __ATOMIC_ACQUIRE) &&
           !__atomic_load_n(&vq->broken, __ATOMIC_ACQUIRE);
}

bool virtq_start(struct virtq *vq, uint64_t features)
{
    uint16_t n = vq->size;
    /* §2.7: queue size is a power of two no larger than the device's maximum. */
    if (n == 0 || n > vq->max_size || (n & (n - 1))) {
        virtq_mark_broken(vq, "queue size %u invalid (maximum %u, power of two)", n, vq->max_size);
        return false;
    }
    bool event_idx = features & (1ull << VIRTIO_F_EVENT_IDX);
    /* §2.7 table "Virtqueue Part Alignment": 16, 2, 4. */
    if (vq->desc_gpa % 16 || vq->avail_gpa % 2 || vq->used_gpa % 4) {
        virtq_mark_broken(vq, "misaligned ring (desc 0x%" PRIx64 ", driver 0x%" PRIx64
                          ", device 0x%" PRIx64 ")", vq->desc_gpa, vq->avail_gpa, vq->used_gpa);
        return false;
    }
    uint8_t *desc = gm_ptr(vq->mem, vq->desc_gpa, (uint64_t)VIRTQ_DESC_SIZE * n);
    uint8_t *avail = gm_ptr(vq->mem, vq->avail_gpa, avail_area_size(n, event_idx));
    uint8_t *used = gm_ptr(vq->mem, vq->used_gpa, used_area_size(n, event_idx));
    if (!desc || !avail || !used) {
        virtq_mark_broken(vq, "%s area at 0x%" PRIx64 " is not inside guest RAM",
                          !desc ? "descriptor" : !avail ? "driver" : "device",
                          !desc ? vq->desc_gpa : !avail ? vq->avail_gpa : vq->used_gpa);
        return false;
    }
    vq->desc = desc;
    vq->avail = avail;
    vq->used = used;
    vq->event_idx = event_idx;
    vq->indirect = features & (1ull << VIRTIO_F_INDIRECT_DESC);
    vq->last_avail = vq->used_idx = vq->signalled_used = 0;
    __atomic_store_n(&vq->ready, true, __ATOMIC_RELEASE);
    return true;
}

/* Append guest buffer [addr, addr+len) to the chain, split at RAM region
 * boundaries. §2.7.4.2: all device-readable buffers come before the
 * device-writable ones. */
static bool chain_add(struct virtq *vq, struct virtq_chain *c, uint64_t addr, uint32_t len,
                      bool writable)
{
    if (!writable && c->nwrite) {
        virtq_mark_broken(vq, "chain %u: device-readable descriptor after a writable one", c->head);
        return false;
    }
    uint64_t gpa = addr;
    uint32_t left = len;
    while (left) {
        const struct gm_region *r = gm_region_of(vq->mem, gpa);
        if (!r) {
            virtq_mark_broken(vq, "chain %u: buffer 0x%" PRIx64 "+%u is outside guest RAM",
                              c->head, addr, len);
            return false;
        }
        uint64_t off = gpa - r->gpa;
        uint64_t chunk = r->size - off;
        if (chunk > left)
            chunk = left;
        unsigned slot = c->nread + c->nwrite;
        if (slot >= c->cap) {
            virtq_mark_broken(vq, "chain %u needs more than %u buffers", c->head, c->cap);
            return false;
        }
        c->iov[slot].iov_base = r->host + off;
        c->iov[slot].iov_len = chunk;
        if (writable) {
            c->nwrite++;
            c->write_len += chunk;
        } else {
            c->nread++;
            c->read_len += chunk;
        }
        gpa += chunk;
        left -= (uint32_t)chunk;
    }
    return true;
}

/* §2.7.5.3: an indirect descriptor's table; it ends the chain. `room` is
 * how many descriptors the chain may still have (queue size bound). */
static bool walk_indirect(struct virtq *vq, struct virtq_chain *c, const struct virtq_desc *ind,
                          unsigned room)
{
    if (!vq->indirect) {
        virtq_mark_broken(vq, "chain %u: indirect descriptor but VIRTIO_F_INDIRECT_DESC not negotiated",
                          c->head);
        return false;
    }
    if (ind->flags & VIRTQ_DESC_F_NEXT) {
        virtq_mark_broken(vq, "chain %u: descriptor has both INDIRECT and NEXT", c->head);
        return false;
    }
    if (ind->len == 0 || ind->len % VIRTQ_DESC_SIZE) {
        virtq_mark_broken(vq, "chain %u: indirect table length %u is not a non-zero multiple of 16",
                          c->head, ind->len);
        return false;
    }
    unsigned n = ind->len / VIRTQ_DESC_SIZE;
    if (n > room) {
        virtq_mark_broken(vq, "chain %u: indirect table of %u descriptors exceeds queue size %u",
                          c->head, n, vq->size);
        return false;
    }
    /* The whole table must be guest RAM (one region: drivers allocate it
     * physically contiguous). */
    const uint8_t *table = gm_ptr(vq->mem, ind->addr, ind->len);
    if (!table) {
        virtq_mark_broken(vq, "chain %u: indirect table 0x%" PRIx64 "+%u is outside guest RAM",
                          c->head, ind->addr, ind->len);
        return false;
    }
    unsigned j = 0;
    for (unsigned steps = 0;; steps++) {
        if (steps >= n) {
            virtq_mark_broken(vq, "chain %u: indirect chain longer than its table (loop)", c->head);
            return false;
        }
        struct virtq_desc d;
        memcpy(&d, table + (size_t)j * VIRTQ_DESC_SIZE, sizeof(d));  /* one copy, see virtq_pop */
        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            virtq_mark_broken(vq, "chain %u: indirect descriptor inside an indirect table", c->head);
            return false;
        }
        if (!chain_add(vq, c, d.addr, d.len, d.flags & VIRTQ_DESC_F_WRITE))
            return false;
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            return true;
        if (d.next >= n) {
            virtq_mark_broken(vq, "chain %u: indirect next index %u >= table size %u", c->head,
                              d.next, n);
            return false;
        }
        j = d.next;
    }
}

int virtq_pop(struct virtq *vq, struct virtq_chain *c)
{
    if (!virtq_ready(vq))
        return -1;
    uint16_t avail_idx = ring_load16(vq->avail + AVAIL_IDX);
    if (avail_idx == vq->last_avail)
        return 0;
    if ((uint16_t)(avail_idx - vq->last_avail) > vq->size) {
        virtq_mark_broken(vq, "avail idx moved from %u to %u, more than queue size %u",
                          vq->last_avail, avail_idx, vq->size);
        return -1;
    }
    /* §2.7.13.3: read the ring entries only after seeing idx (read barrier). */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    uint16_t head = ring_load16(vq->avail + AVAIL_RING + 2u * (vq->last_avail & (vq->size - 1)));
    vq->last_avail++;

    c->head = head;
    c->nread = c->nwrite = 0;
    c->read_len = c->write_len = 0;
    if (head >= vq->size) {
        virtq_mark_broken(vq, "avail ring head %u >= queue size %u", head, vq->size);
        return -1;
    }
    unsigned used_descs = 0;
    uint16_t i = head;
    for (;;) {
        if (used_descs >= vq->size) {
            virtq_mark_broken(vq, "chain %u longer than queue size %u (loop?)", head, vq->size);
            return -1;
        }
        struct virtq_desc d;
        /* One copy: the guest may rewrite the table concurrently. */
        memcpy(&d, vq->desc + (size_t)i * VIRTQ_DESC_SIZE, sizeof(d));
        if (d.flags & VIRTQ_DESC_F_INDIRECT)
            return walk_indirect(vq, c, &d, vq->size - used_descs) ? 1 : -1;
        used_descs++;
        if (!chain_add(vq, c, d.addr, d.len, d.flags & VIRTQ_DESC_F_WRITE))
            return -1;
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            return 1;
        if (d.next >= vq->size) {
            virtq_mark_broken(vq, "chain %u: next index %u >= queue size %u", head, d.next, vq->size);
            return -1;
        }
        i = d.next;
    }
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t len)
{
    if (!virtq_ready(vq))
        return;
    uint8_t *elem = vq->used + USED_RING + (size_t)USED_ELEM_SIZE * (vq->used_idx & (vq->size - 1));
    uint32_t id = head;
    memcpy(elem, &id, 4);
    memcpy(elem + 4, &len, 4);
    vq->used_idx++;
    /* §2.7.8.2 / §2.7.13.3: the element is visible before the new idx. */
    __atomic_store_n((uint16_t *)(void *)(vq->used + USED_IDX), vq->used_idx, __ATOMIC_RELEASE);
}

void virtq_disable_notify(struct virtq *vq)
{
    if (!virtq_ready(vq) || vq->event_idx)
        return;  /* with EVENT_IDX, avail_event simply stays behind */
    ring_store16(vq->used + USED_FLAGS, VIRTQ_USED_F_NO_NOTIFY);
}

bool virtq_enable_notify(struct virtq *vq)
{
    if (!virtq_ready(vq))
        return false;
    if (vq->event_idx)  /* §2.7.10: avail_event follows the used ring */
        ring_store16(vq->used + USED_RING + (size_t)USED_ELEM_SIZE * vq->size, vq->last_avail);
    else
        ring_store16(vq->used + USED_FLAGS, 0);
    /* The store above must be visible before we re-read avail.idx, or a
     * kick sent in between would be lost. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return ring_load16(vq->avail + AVAIL_IDX) != vq->last_avail;
}

bool virtq_should_interrupt(struct virtq *vq)
{
    if (!virtq_ready(vq))
        return false;
    /* used.idx is published before used_event / flags are read (§2.7.7.2). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint16_t old_idx = vq->signalled_used, new_idx = vq->used_idx;
    vq->signalled_used = new_idx;
    if (new_idx == old_idx)
        return false;
    if (vq->event_idx) {
        uint16_t used_event = ring_load16(vq->avail + AVAIL_RING + 2u * vq->size);
        return virtq_need_event(used_event, new_idx, old_idx);
    }
    return !(ring_load16(vq->avail + AVAIL_FLAGS) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}
