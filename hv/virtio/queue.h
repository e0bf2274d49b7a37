/* Split virtqueue, device side (virtio 1.x §2.7).
 *
 * The ring areas are validated once when the driver enables the queue and
 * then reached through cached host pointers; every descriptor buffer is
 * checked against guest RAM when a chain is popped. Anything malformed
 * marks the queue broken: it is logged once, the owner's on_broken callback
 * runs (the device sets DEVICE_NEEDS_RESET) and the queue stops.
 * Nothing here allocates: chains land in a caller-owned iovec array. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "hv/guest_mem.h"

/* Descriptor flags (§2.7.5) and ring flags (§2.7.6, §2.7.8). */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

/* Transport-independent feature bits (§6). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

#define VIRTQ_MAX_SIZE 32768
#define VIRTQ_DESC_SIZE 16

/* One popped descriptor chain: iov[0..nread) are device-readable buffers,
 * iov[nread..nread+nwrite) device-writable, all inside guest RAM. */
struct virtq_chain {
    uint16_t head;
    unsigned nread, nwrite;
    uint64_t read_len, write_len;   /* byte totals of each part */
    unsigned cap;                   /* capacity of iov (set by the owner) */
    struct iovec *iov;
};

typedef void (*virtq_broken_fn)(void *opaque, unsigned index);

struct virtq {
    /* Identity, set once by virtq_init. */
    const struct guest_mem *mem;
    const char *devname;            /* for log messages */
    unsigned index;
    uint16_t max_size;
    int kick_fd;                    /* eventfd the driver's kicks land in; -1 = none (owner sets) */
    virtq_broken_fn on_broken;
    void *opaque;

    /* Programmed by the driver through the transport while not ready. */
    uint16_t size;
    uint64_t desc_gpa, avail_gpa, used_gpa;

    /* Run state. ready/broken are read across threads (atomics). */
    bool ready;
    bool broken;
    bool event_idx, indirect;       /* negotiated at virtq_start */
    uint8_t *desc, *avail, *used;   /* host views of the three areas */
    uint16_t last_avail;            /* next avail index to consume */
    uint16_t used_idx;              /* our copy of used.idx */
    uint16_t signalled_used;        /* used.idx at the last interrupt decision */
};

void virtq_init(struct virtq *vq, const struct guest_mem *mem, const char *devname,
                unsigned index, uint16_t max_size);

/* Back to the reset state of §4.1.4.3: not ready, size = max, no areas,
 * indices 0, not broken. kick_fd and callbacks are kept. */
void virtq_reset(struct virtq *vq);

/* The driver enabled the queue: check size and the three areas against
 * guest RAM and alignment (§2.7), remember the negotiated ring features,
 * become ready. Returns false (and marks the queue broken) when invalid. */
bool virtq_start(struct virtq *vq, uint64_t features);

/* Ready and not broken. */
bool virtq_ready(const struct virtq *vq);

/* Next available chain into c. Returns 1 when a chain was popped, 0 when
 * the ring is empty, -1 when the queue is not ready or is (now) broken. */
int virtq_pop(struct virtq *vq, struct virtq_chain *c);

/* Hand a chain back: used element {head, len} then used.idx (with the
 * write barrier between them). len = bytes written into writable buffers. */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t len);

/* Driver-notification suppression (§2.7.10). Call disable before draining
 * the ring, enable after; enable returns true when more buffers arrived in
 * the meantime (drain again). */
void virtq_disable_notify(struct virtq *vq);
bool virtq_enable_notify(struct virtq *vq);

/* After pushing a batch: does the driver want an interrupt (§2.7.7,
 * used_event with EVENT_IDX, else avail.flags NO_INTERRUPT)? */
bool virtq_should_interrupt(struct virtq *vq);

/* The event-index test of §2.7.7.2: has the index passed event_idx when
 * moving from old_idx to new_idx? */
static inline bool virtq_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
    return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

/* Mark broken (first time: log "devname: queue N: why", call on_broken). */
void virtq_mark_broken(struct virtq *vq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
