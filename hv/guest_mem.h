/* Guest physical memory, reached only through checked accessors.
 *
 * Every guest-supplied address and length (ring descriptors, device DMA)
 * goes through gm_ptr()/gm_read()/gm_write(), which refuse anything that is
 * not entirely inside one RAM region. Nothing else in the worker turns a
 * guest address into a host pointer. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GM_MAX_REGIONS 4

struct gm_region {
    uint64_t gpa;   /* guest physical start */
    uint64_t size;  /* bytes */
    uint8_t *host;  /* host mapping of gpa */
};

struct guest_mem {
    struct gm_region regions[GM_MAX_REGIONS];
    unsigned nregions;
    uint64_t ram_size;  /* total guest RAM in bytes */
};

/* Add a region; regions must not overlap. Returns false when full/overlapping. */
bool gm_add_region(struct guest_mem *gm, uint64_t gpa, uint64_t size, void *host);

/* Host pointer for [gpa, gpa+len) if the whole range lies in one region,
 * else NULL. len == 0 is valid if gpa itself is inside a region. */
void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/* Copy helpers; they may cross region boundaries only where regions are
 * contiguous in guest physical space. Return false (and copy nothing
 * observable to the guest for writes) when any byte is outside RAM. */
bool gm_read(const struct guest_mem *gm, uint64_t gpa, void *dst, uint64_t len);
bool gm_write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len);

/* Region containing gpa (for callers that hand whole regions to the kernel:
 * vhost memory tables, VFIO DMA maps, balloon madvise). */
const struct gm_region *gm_region_of(const struct guest_mem *gm, uint64_t gpa);
