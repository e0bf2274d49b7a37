#include "hv/guest_mem.h"

#include <string.h>

bool gm_add_region(struct guest_mem *gm, uint64_t gpa, uint64_t size, void *host)
{
    if (gm->nregions >= GM_MAX_REGIONS || size == 0 || gpa + size < gpa)
        return false;
    for (unsigned i = 0; i < gm->nregions; i++) {
        const struct gm_region *r = &gm->regions[i];
        if (gpa < r->gpa + r->size && r->gpa < gpa + size)
            return false;
    }
    gm->regions[gm->nregions++] = (struct gm_region){ .gpa = gpa, .size = size, .host = host };
    gm->ram_size += size;
    return true;
}

const struct gm_region *gm_region_of(const struct guest_mem *gm, uint64_t gpa)
{
    for (unsigned i = 0; i < gm->nregions; i++) {
        const struct gm_region *r = &gm->regions[i];
        if (gpa >= r->gpa && gpa - r->gpa < r->size)
            return r;
    }
    return NULL;
}

void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
    const struct gm_region *r = gm_region_of(gm, gpa);
    if (!r)
        return NULL;
    uint64_t off = gpa - r->gpa;
    if (len > r->size - off)  /* no overflow: off < size */
        return NULL;
    return r->host + off;
}

/* Walk [gpa, gpa+len) region by region; fail before touching anything if
 * any part is outside RAM. */
static bool gm_check_span(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
    if (gpa + len < gpa)
        return false;
    while (len) {
        const struct gm_region *r = gm_region_of(gm, gpa);
        if (!r)
            return false;
        uint64_t chunk = r->size - (gpa - r->gpa);
        if (chunk >= len)
            return true;
        gpa += chunk;
        len -= chunk;
    }
    return true;
}

bool gm_read(const struct guest_mem *gm, uint64_t gpa, void *dst, uint64_t len)
{
    if (!gm_check_span(gm, gpa, len))
        return false;
    uint8_t *d = dst;
    while (len) {
        const struct gm_region *r = gm_region_of(gm, gpa);
        uint64_t off = gpa - r->gpa, chunk = r->size - off;
        if (chunk > len)
            chunk = len;
        memcpy(d, r->host + off, chunk);
        d += chunk;
        gpa += chunk;
        len -= chunk;
    }
    return true;
}

bool gm_write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len)
{
    if (!gm_check_span(gm, gpa, len))
        return false;
    const uint8_t *s = src;
    while (len) {
        const struct gm_region *r = gm_region_of(gm, gpa);
        uint64_t off = gpa - r->gpa, chunk = r->size - off;
        if (chunk > len)
            chunk = len;
        memcpy(r->host + off, s, chunk);
        s += chunk;
        gpa += chunk;
        len -= chunk;
    }
    return true;
}
