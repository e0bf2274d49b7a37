/* The qcow2 format (the qcow2 specification: two-level cluster mapping
 * L1 -> L2 -> data, reference counts in refcount blocks listed by the
 * refcount table). Reads and writes with cluster allocation; clusters
 * the image does not map come from the backing chain (or read as zeros).
 *
 * Allocation appends at the end of the file. Metadata stays consistent
 * on disk in this order (docs/block.md): data and new refcounts first,
 * fdatasync, then the L2 tables that point at them, fdatasync, then the
 * L1 table, fdatasync, and only then are clusters given up (refcount
 * decrements). A crash can leak clusters, never point at unwritten data
 * or at a cluster counted as free. L2 tables are cached and written back
 * at guest flush or on eviction; one refcount block is cached.
 *
 * Clusters shared with internal snapshots (COPIED flag clear) are copied
 * before a write, so snapshots keep their data; the snapshot table itself
 * is never touched. Compressed clusters fail the request with EIO. One
 * mutex per image serialises requests (the block layer's contract). */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/errbuf.h"
#include "common/log.h"
#include "common/qcow2_header.h"
#include "hv/block/driver.h"

/* Entry layouts (qcow2 spec, "Cluster mapping" and "Refcount table"). */
#define OFFSET_MASK 0x00fffffffffffe00ull      /* L1 and standard L2 entries */
#define RT_OFFSET_MASK 0xfffffffffffffe00ull
#define OFLAG_COPIED (1ull << 63)               /* refcount is exactly 1 */
#define OFLAG_COMPRESSED (1ull << 62)
#define OFLAG_ZERO 1ull                         /* version 3: reads as zeros */

#define L2_CACHE_BYTES (2u << 20)
#define L2_CACHE_MIN 4
#define L2_CACHE_MAX 128
#define PENDING_FREES 64

struct l2_slot {
    uint64_t offset;            /* host offset of the table; 0 = empty */
    uint64_t *table;            /* big-endian entries, one cluster */
    uint64_t last_use;
    bool dirty;
};

struct qcow2 {
    pthread_mutex_t lock;
    unsigned cluster_bits, l2_bits, rb_bits;   /* log2: cluster, L2 entries, refcounts per block */
    uint64_t cluster_size;
    unsigned refcount_order;
    uint32_t version;
    uint64_t incompatible, compatible;  /* feature bits, for the monitor */
    uint8_t compression_type;
    bool broken;                /* a metadata update failed half-way: no more writes */

    uint64_t *l1;               /* big-endian, in memory whole */
    uint32_t l1_size;
    uint64_t l1_offset;
    bool l1_dirty;

    uint64_t *rt;               /* big-endian refcount table */
    uint64_t rt_entries, rt_offset;
    uint32_t rt_clusters;

    uint8_t *rb;                /* one cached refcount block */
    uint64_t rb_offset;         /* 0 = none */
    bool rb_dirty;

    struct l2_slot *l2;
    unsigned nl2;
    uint64_t use_clock;

    uint64_t alloc_end;         /* end of the used file, cluster-aligned: next allocation */
    uint64_t pending_free[PENDING_FREES];
    unsigned npending;

    uint8_t *bounce;            /* two clusters: copy-on-write head and tail */
    struct iovec *scratch;      /* BLK_MAX_IOV + 2 */
};

enum cluster_type { C_UNALLOCATED, C_ZERO, C_NORMAL, C_COMPRESSED };

static uint64_t get64(const uint64_t *t, uint64_t i) { return be64toh(t[i]); }
static void put64(uint64_t *t, uint64_t i, uint64_t v) { t[i] = htobe64(v); }

static int write_buf(struct blk_image *img, const void *buf, size_t len, uint64_t off)
{
    struct iovec v = { (void *)buf, len };
    return blk_file_pwritev(img->fd, &v, 1, off, len);
}

static int read_buf(struct blk_image *img, void *buf, size_t len, uint64_t off)
{
    struct iovec v = { buf, len };
    return blk_file_preadv(img->fd, &v, 1, off, len, false);
}

/* A host offset taken from metadata: cluster-aligned and inside the file. */
static bool host_ok(struct blk_image *img, struct qcow2 *s, uint64_t off, const char *what,
                    uint64_t where)
{
    if (off & (s->cluster_size - 1)) {
        blk_log_corrupt(img, "qcow2: %s for guest offset 0x%" PRIx64 " points at 0x%" PRIx64
                        ", not aligned to a cluster", what, where, off);
        return false;
    }
    if (off >= s->alloc_end) {
        blk_log_corrupt(img, "qcow2: %s for guest offset 0x%" PRIx64 " points at 0x%" PRIx64
                        ", past the end of the file (0x%" PRIx64 ")", what, where, off, s->alloc_end);
        return false;
    }
    return true;
}

/* ---- refcounts ---- */

static uint64_t rb_get(const struct qcow2 *s, uint64_t i)
{
    const uint8_t *b = s->rb;
    switch (s->refcount_order) {
    case 0: case 1: case 2: {
        unsigned bits = 1u << s->refcount_order, per = 8 / bits;
        return (b[i / per] >> (bits * (i % per))) & ((1u << bits) - 1);
    }
    case 3: return b[i];
    case 4: { uint16_t v; memcpy(&v, b + 2 * i, 2); return be16toh(v); }
    case 5: { uint32_t v; memcpy(&v, b + 4 * i, 4); return be32toh(v); }
    default: { uint64_t v; memcpy(&v, b + 8 * i, 8); return be64toh(v); }
    }
}

static void rb_set(struct qcow2 *s, uint64_t i, uint64_t val)
{
    uint8_t *b = s->rb;
    switch (s->refcount_order) {
    case 0: case 1: case 2: {
        unsigned bits = 1u << s->refcount_order, per = 8 / bits, shift = bits * (i % per);
        uint8_t mask = (uint8_t)(((1u << bits) - 1) << shift);
        b[i / per] = (uint8_t)((b[i / per] & ~mask) | ((val << shift) & mask));
        break;
    }
    case 3: b[i] = (uint8_t)val; break;
    case 4: { uint16_t v = htobe16((uint16_t)val); memcpy(b + 2 * i, &v, 2); break; }
    case 5: { uint32_t v = htobe32((uint32_t)val); memcpy(b + 4 * i, &v, 4); break; }
    default: { uint64_t v = htobe64(val); memcpy(b + 8 * i, &v, 8); break; }
    }
    s->rb_dirty = true;
}

static uint64_t refcount_max(const struct qcow2 *s)
{
    return s->refcount_order == 6 ? UINT64_MAX : (1ull << (1u << s->refcount_order)) - 1;
}

static int rb_writeback(struct blk_image *img, struct qcow2 *s)
{
    if (!s->rb_dirty)
        return 0;
    int r = write_buf(img, s->rb, s->cluster_size, s->rb_offset);
    if (r == 0)
        s->rb_dirty = false;
    return r;
}

/* Make the cache hold the refcount block of table entry rti (present). */
static int rb_load(struct blk_image *img, struct qcow2 *s, uint64_t rti)
{
    uint64_t off = get64(s->rt, rti) & RT_OFFSET_MASK;
    if (off == s->rb_offset)
        return 0;
    if (!host_ok(img, s, off, "refcount table entry", (rti << s->rb_bits) << s->cluster_bits))
        return -EIO;
    int r = rb_writeback(img, s);
    if (r < 0)
        return r;
    s->rb_offset = 0;
    r = read_buf(img, s->rb, s->cluster_size, off);
    if (r < 0)
        return r;
    s->rb_offset = off;
    return 0;
}

/* Refcount of the host cluster at off: add delta (+1 or -1). Its refcount
 * block must exist. */
static int refcount_add(struct blk_image *img, struct qcow2 *s, uint64_t off, int delta)
{
    uint64_t ci = off >> s->cluster_bits, rti = ci >> s->rb_bits;
    if (rti >= s->rt_entries || (get64(s->rt, rti) & RT_OFFSET_MASK) == 0) {
        blk_log_corrupt(img, "qcow2: cluster 0x%" PRIx64 " has no refcount block", off);
        return -EIO;
    }
    int r = rb_load(img, s, rti);
    if (r < 0)
        return r;
    uint64_t i = ci & ((1ull << s->rb_bits) - 1), v = rb_get(s, i);
    if ((delta < 0 && v == 0) || (delta > 0 && v == refcount_max(s))) {
        blk_log_corrupt(img, "qcow2: refcount of cluster 0x%" PRIx64 " is %" PRIu64 ", cannot %s it",
                        off, v, delta < 0 ? "decrease" : "increase");
        return -EIO;
    }
    rb_set(s, i, delta < 0 ? v - 1 : v + 1);
    return 0;
}

/* A new refcount block for table entry rti, placed at the end of the file.
 * It counts itself when it lies in its own range; otherwise the block of
 * its place counts it (alloc_clusters makes sure that one exists). Written
 * and synced before the table points at it. */
static int new_refblock(struct blk_image *img, struct qcow2 *s, uint64_t rti)
{
    int r = rb_writeback(img, s);
    if (r < 0)
        return r;
    uint64_t off = s->alloc_end, ci = off >> s->cluster_bits;
    bool self = (ci >> s->rb_bits) == rti;
    memset(s->rb, 0, s->cluster_size);
    s->rb_offset = 0;
    if (self)
        rb_set(s, ci & ((1ull << s->rb_bits) - 1), 1);
    s->rb_dirty = false;
    if ((r = write_buf(img, s->rb, s->cluster_size, off)) < 0 || (r = blk_file_flush(img->fd)) < 0)
        return r;
    uint64_t entry = htobe64(off);
    if ((r = write_buf(img, &entry, 8, s->rt_offset + rti * 8)) < 0)
        return r;
    s->rt[rti] = entry;
    s->rb_offset = off;
    s->alloc_end += s->cluster_size;
    return self ? 0 : refcount_add(img, s, off, +1);
}

/* The refcount table is full: write a table twice the size at the end of
 * the file, followed by the refcount blocks that the new clusters need,
 * switch the header to it, then free the old table. Rare (the default
 * 64 KiB clusters reach it at 16 TiB of file). */
static int grow_refcount_table(struct blk_image *img, struct qcow2 *s)
{
    uint64_t cs = s->cluster_size, old_clusters = s->rt_clusters, old_off = s->rt_offset;
    uint64_t new_clusters = old_clusters * 2;
    if (new_clusters * cs > QCOW2_MAX_REFTABLE_BYTES) {
        blk_log_corrupt(img, "qcow2: the refcount table would exceed %u bytes; the image is full",
                        QCOW2_MAX_REFTABLE_BYTES);
        return -ENOSPC;
    }
    uint64_t new_entries = new_clusters * cs / 8;
    uint64_t *nrt = calloc(new_entries, 8);     /* rare path: one allocation per doubling */
    if (!nrt)
        return -ENOMEM;
    memcpy(nrt, s->rt, s->rt_entries * 8);
    uint64_t start = s->alloc_end, end = start + new_clusters * cs;
    /* Refcount blocks for [start, end), placed at end (which they extend). */
    for (bool added = true; added;) {
        added = false;
        for (uint64_t j = (start >> s->cluster_bits) >> s->rb_bits;
             j <= ((end - 1) >> s->cluster_bits) >> s->rb_bits; j++) {
            if (j >= new_entries) {
                free(nrt);
                return -ENOSPC;
            }
            if (nrt[j] == 0) {
                nrt[j] = htobe64(end);
                end += cs;
                added = true;
            }
        }
    }
    int r = rb_writeback(img, s);
    if (r < 0) {
        free(nrt);
        return r;
    }
    memset(s->rb, 0, cs);
    s->rb_offset = 0;
    for (uint64_t j = 0; j < new_entries; j++) {
        if (nrt[j] && (j >= s->rt_entries || nrt[j] != s->rt[j]) &&
            (r = write_buf(img, s->rb, cs, be64toh(nrt[j]))) < 0) {
            free(nrt);
            return r;
        }
    }
    /* From here on the in-memory state is the new one; a failure leaves
     * the file consistent (the header still names the old table) but
     * this image unusable for writes. */
    uint64_t *old_rt = s->rt;
    s->rt = nrt;
    s->rt_entries = new_entries;
    s->alloc_end = end;
    free(old_rt);
    for (uint64_t c = start; c < end; c += cs)
        if ((r = refcount_add(img, s, c, +1)) < 0)
            goto broken;
    uint8_t hdr[12];
    uint64_t be_off = htobe64(start);
    uint32_t be_clusters = htobe32((uint32_t)new_clusters);
    memcpy(hdr, &be_off, 8);
    memcpy(hdr + 8, &be_clusters, 4);
    if ((r = rb_writeback(img, s)) < 0 || (r = write_buf(img, nrt, new_clusters * cs, start)) < 0 ||
        (r = blk_file_flush(img->fd)) < 0 ||
        (r = write_buf(img, hdr, sizeof(hdr), QCOW2_OFF_REFCOUNT_TABLE)) < 0 ||
        (r = blk_file_flush(img->fd)) < 0)
        goto broken;
    s->rt_offset = start;
    s->rt_clusters = (uint32_t)new_clusters;
    for (uint64_t i = 0; i < old_clusters; i++)
        if ((r = refcount_add(img, s, old_off + i * cs, -1)) < 0)
            goto broken;
    log_info("%s: qcow2 refcount table grown to %" PRIu64 " clusters at 0x%" PRIx64, img->path,
             new_clusters, start);
    return 0;
broken:
    s->broken = true;
    blk_log_corrupt(img, "qcow2: growing the refcount table failed (%s); no more writes",
                    strerror(-r));
    return r;
}

/* n contiguous clusters at the end of the file, refcount 1 each. */
static int alloc_clusters(struct blk_image *img, struct qcow2 *s, uint64_t n, uint64_t *out)
{
    uint64_t cs = s->cluster_size;
restart:;
    uint64_t start = s->alloc_end;
    for (uint64_t c = start; c < start + n * cs; c += cs) {
        uint64_t rti = (c >> s->cluster_bits) >> s->rb_bits;
        int r = 0;
        if (rti >= s->rt_entries)
            r = grow_refcount_table(img, s);
        else if ((get64(s->rt, rti) & RT_OFFSET_MASK) == 0)
            r = new_refblock(img, s, rti);
        else
            continue;
        if (r < 0)
            return r;
        goto restart;   /* the end of the file moved */
    }
    for (uint64_t c = start; c < start + n * cs; c += cs) {
        uint64_t rti = (c >> s->cluster_bits) >> s->rb_bits;
        int r = rb_load(img, s, rti);
        if (r < 0)
            return r;
        uint64_t i = (c >> s->cluster_bits) & ((1ull << s->rb_bits) - 1);
        if (rb_get(s, i) != 0) {
            blk_log_corrupt(img, "qcow2: cluster 0x%" PRIx64 " past the end of the file has refcount %"
                            PRIu64, c, rb_get(s, i));
            return -EIO;
        }
        rb_set(s, i, 1);
    }
    s->alloc_end = start + n * cs;
    *out = start;
    return 0;
}

/* ---- L2 cache ---- */

static int l2_writeback(struct blk_image *img, struct qcow2 *s, struct l2_slot *slot, bool sync_first)
{
    int r;
    if (sync_first && ((r = rb_writeback(img, s)) < 0 || (r = blk_file_flush(img->fd)) < 0))
        return r;
    if ((r = write_buf(img, slot->table, s->cluster_size, slot->offset)) < 0)
        return r;
    slot->dirty = false;
    return 0;
}

/* The slot holding the L2 table at host offset off, loaded from the file
 * (or left for the caller to fill when !load). */
static int l2_slot(struct blk_image *img, struct qcow2 *s, uint64_t off, bool load,
                   struct l2_slot **out)
{
    struct l2_slot *victim = &s->l2[0];
    for (unsigned i = 0; i < s->nl2; i++) {
        if (s->l2[i].offset == off) {
            s->l2[i].last_use = ++s->use_clock;
            *out = &s->l2[i];
            return 0;
        }
        if (s->l2[i].last_use < victim->last_use)
            victim = &s->l2[i];
    }
    int r;
    /* Evicting a modified table: what it points at must be durable first. */
    if (victim->dirty && (r = l2_writeback(img, s, victim, true)) < 0)
        return r;
    victim->offset = 0;
    victim->last_use = 0;
    if (load && (r = read_buf(img, victim->table, s->cluster_size, off)) < 0)
        return r;
    victim->offset = off;
    victim->last_use = ++s->use_clock;
    *out = victim;
    return 0;
}

/* The L2 entry of guest cluster vc, 0 when its L2 table is unallocated. */
static int l2_entry(struct blk_image *img, struct qcow2 *s, uint64_t vc, uint64_t *entry)
{
    uint64_t l1e = get64(s->l1, vc >> s->l2_bits), off = l1e & OFFSET_MASK;
    if (!off) {
        *entry = 0;
        return 0;
    }
    if (!host_ok(img, s, off, "L1 entry", vc << s->cluster_bits))
        return -EIO;
    struct l2_slot *slot;
    int r = l2_slot(img, s, off, true, &slot);
    if (r < 0)
        return r;
    *entry = get64(slot->table, vc & ((1ull << s->l2_bits) - 1));
    return 0;
}

static int classify(struct blk_image *img, struct qcow2 *s, uint64_t vc, uint64_t entry,
                    enum cluster_type *type, uint64_t *host)
{
    *host = entry & OFFSET_MASK;
    if (entry & OFLAG_COMPRESSED)
        *type = C_COMPRESSED;
    else if (entry & OFLAG_ZERO)
        *type = C_ZERO;
    else if (*host == 0)
        *type = C_UNALLOCATED;
    else if (!host_ok(img, s, *host, "L2 entry", vc << s->cluster_bits))
        return -EIO;
    else
        *type = C_NORMAL;
    return 0;
}

static int compressed_error(struct blk_image *img, uint64_t vc, struct qcow2 *s)
{
    blk_log_corrupt(img, "qcow2: guest offset 0x%" PRIx64 " is in a compressed cluster; compressed "
                    "clusters are not supported (qemu-img convert -O qcow2 writes them uncompressed)",
                    vc << s->cluster_bits);
    return -EIO;
}

/* The L2 table of guest cluster vc for a write: allocated when missing,
 * copied when shared with a snapshot. */
static int defer_free(struct blk_image *img, struct qcow2 *s, uint64_t off);

static int l2_for_write(struct blk_image *img, struct qcow2 *s, uint64_t vc, struct l2_slot **out)
{
    uint64_t l1i = vc >> s->l2_bits, l1e = get64(s->l1, l1i), off = l1e & OFFSET_MASK;
    uint64_t fresh;
    int r;
    if (off && !host_ok(img, s, off, "L1 entry", vc << s->cluster_bits))
        return -EIO;
    if (off && (r = l2_slot(img, s, off, true, out)) < 0)
        return r;
    if (off && (l1e & OFLAG_COPIED))
        return 0;
    if ((r = alloc_clusters(img, s, 1, &fresh)) < 0)
        return r;
    if (off) {
        (*out)->offset = fresh;     /* shared with a snapshot: the loaded table, moved */
    } else {
        if ((r = l2_slot(img, s, fresh, false, out)) < 0)
            return r;
        memset((*out)->table, 0, s->cluster_size);
    }
    (*out)->dirty = true;
    put64(s->l1, l1i, fresh | OFLAG_COPIED);
    s->l1_dirty = true;
    return off ? defer_free(img, s, off) : 0;
}

/* ---- flush ---- */

static int meta_flush(struct blk_image *img, struct qcow2 *s)
{
    int r = rb_writeback(img, s);
    if (r < 0)
        return r;
    bool l2_dirty = false;
    for (unsigned i = 0; i < s->nl2; i++)
        l2_dirty |= s->l2[i].dirty;
    if (l2_dirty || s->l1_dirty || s->npending) {
        if ((r = blk_file_flush(img->fd)) < 0)
            return r;
        for (unsigned i = 0; i < s->nl2; i++)
            if (s->l2[i].dirty && (r = l2_writeback(img, s, &s->l2[i], false)) < 0)
                return r;
        if (s->l1_dirty) {
            if ((r = blk_file_flush(img->fd)) < 0 ||
                (r = write_buf(img, s->l1, (size_t)s->l1_size * 8, s->l1_offset)) < 0)
                return r;
            s->l1_dirty = false;
        }
        if (s->npending) {
            if ((r = blk_file_flush(img->fd)) < 0)
                return r;
            /* A decrement that fails (logged) leaves a leaked cluster, which
             * is harmless; keeping it would fail every later flush. */
            while (s->npending)
                refcount_add(img, s, s->pending_free[--s->npending], -1);
            if ((r = rb_writeback(img, s)) < 0)
                return r;
        }
    }
    return blk_file_flush(img->fd);
}

/* Give up a host cluster once the mapping that replaced it is on disk. */
static int defer_free(struct blk_image *img, struct qcow2 *s, uint64_t off)
{
    if (s->npending == PENDING_FREES) {
        int r = meta_flush(img, s);
        if (r < 0)
            return r;
    }
    s->pending_free[s->npending++] = off;
    return 0;
}

static int qcow2_flush(struct blk_image *img)
{
    struct qcow2 *s = img->priv;
    pthread_mutex_lock(&s->lock);
    int r = meta_flush(img, s);
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* ---- reads ---- */

static int read_locked(struct blk_image *img, struct qcow2 *s, struct iov_cursor *cur,
                       uint64_t off, uint64_t len)
{
    uint64_t cs = s->cluster_size;
    while (len) {
        uint64_t vc = off >> s->cluster_bits, in = off & (cs - 1), entry, host;
        enum cluster_type type;
        int r = l2_entry(img, s, vc, &entry);
        if (r < 0 || (r = classify(img, s, vc, entry, &type, &host)) < 0)
            return r;
        if (type == C_COMPRESSED)
            return compressed_error(img, vc, s);
        /* Extend over following clusters of the same kind (contiguous on
         * the host for allocated ones): one preadv for a sequential read. */
        uint64_t run = cs - in < len ? cs - in : len;
        while (run < len) {
            uint64_t nvc = vc + ((in + run) >> s->cluster_bits), ne, nh;
            enum cluster_type nt;
            if ((r = l2_entry(img, s, nvc, &ne)) < 0 || (r = classify(img, s, nvc, ne, &nt, &nh)) < 0)
                return r;
            if (nt != type || (type == C_NORMAL && nh != host + in + run))
                break;
            run += cs < len - run ? cs : len - run;
        }
        unsigned n = 0;
        if (type == C_ZERO) {
            iov_cursor_zero(cur, run);
        } else if (iov_cursor_take(cur, run, s->scratch, &n, BLK_MAX_IOV) != run) {
            return -EINVAL;
        } else if (type == C_NORMAL) {
            /* An allocated cluster may end past the file's last byte. */
            if ((r = blk_file_preadv(img->fd, s->scratch, n, host + in, run, true)) < 0)
                return r;
        } else if ((r = blk_read_backing(img, s->scratch, n, off, run)) < 0) {
            return r;
        }
        off += run;
        len -= run;
    }
    return 0;
}

static int64_t qcow2_preadv(struct blk_image *img, const struct iovec *iov, unsigned niov,
                            uint64_t offset, uint64_t len)
{
    struct qcow2 *s = img->priv;
    struct iov_cursor cur;
    iov_cursor_init(&cur, iov, niov);
    pthread_mutex_lock(&s->lock);
    int r = read_locked(img, s, &cur, offset, len);
    pthread_mutex_unlock(&s->lock);
    return r < 0 ? r : (int64_t)len;
}

/* ---- writes ---- */

static bool writable_in_place(uint64_t entry)
{
    return (entry & OFLAG_COPIED) && !(entry & (OFLAG_COMPRESSED | OFLAG_ZERO)) &&
           (entry & OFFSET_MASK);
}

/* The part [from, from + n) of guest cluster vc as it reads now, into buf:
 * what a new cluster must keep where the guest does not write. */
static int cow_fill(struct blk_image *img, struct qcow2 *s, uint64_t vc, uint64_t entry,
                    uint64_t from, uint64_t n, uint8_t *buf)
{
    enum cluster_type type;
    uint64_t host;
    int r = classify(img, s, vc, entry, &type, &host);
    if (r < 0)
        return r;
    struct iovec v = { buf, n };
    switch (type) {
    case C_ZERO:
        memset(buf, 0, n);
        return 0;
    case C_NORMAL:      /* shared with a snapshot */
        return blk_file_preadv(img->fd, &v, 1, host + from, n, true);
    case C_UNALLOCATED:
        return blk_read_backing(img, &v, 1, (vc << s->cluster_bits) + from, n);
    default:
        return compressed_error(img, vc, s);
    }
}

/* Write into clusters that need a new host cluster, starting at guest
 * cluster vc: as many following clusters of the same L2 table as the
 * request covers and that need one too, in one contiguous allocation and
 * one pwritev (copied head, guest data, copied tail). Returns the bytes
 * of the request consumed, or -errno. */
static int64_t write_allocating(struct blk_image *img, struct qcow2 *s, struct l2_slot *slot,
                                uint64_t vc, uint64_t in, struct iov_cursor *cur, uint64_t len)
{
    uint64_t cs = s->cluster_size, mask = (1ull << s->l2_bits) - 1, l2i = vc & mask;
    uint64_t first = get64(slot->table, l2i);
    if (first & OFLAG_COMPRESSED)
        return compressed_error(img, vc, s);
    uint64_t k = 1, total = cs - in < len ? cs - in : len;
    while (total < len && l2i + k <= mask) {
        uint64_t e = get64(slot->table, l2i + k);
        if (writable_in_place(e) || (e & OFLAG_COMPRESSED))
            break;
        total += cs < len - total ? cs : len - total;
        k++;
    }
    uint64_t last = get64(slot->table, l2i + k - 1);
    uint64_t head = in, tail_from = (in + total) - (k - 1) * cs, tail = cs - tail_from;
    uint64_t host;
    int r = alloc_clusters(img, s, k, &host);
    if (r < 0)
        return r;
    if (head && (r = cow_fill(img, s, vc, first, 0, head, s->bounce)) < 0)
        return r;
    if (tail && (r = cow_fill(img, s, vc + k - 1, last, tail_from, tail, s->bounce + cs)) < 0)
        return r;
    unsigned n = 0;
    if (head)
        s->scratch[n++] = (struct iovec){ s->bounce, head };
    if (iov_cursor_take(cur, total, s->scratch, &n, BLK_MAX_IOV + 1) != total)
        return -EINVAL;
    if (tail)
        s->scratch[n++] = (struct iovec){ s->bounce + cs, tail };
    if ((r = blk_file_pwritev(img->fd, s->scratch, n, host, k * cs)) < 0)
        return r;
    for (uint64_t i = 0; i < k; i++) {
        uint64_t old = get64(slot->table, l2i + i) & OFFSET_MASK;
        put64(slot->table, l2i + i, (host + i * cs) | OFLAG_COPIED);
        slot->dirty = true;
        /* A replaced cluster (shared, or preallocated zero) is released later. */
        if (old && host_ok(img, s, old, "L2 entry", (vc + i) << s->cluster_bits) &&
            (r = defer_free(img, s, old)) < 0)
            return r;
    }
    return (int64_t)total;
}

static int write_locked(struct blk_image *img, struct qcow2 *s, struct iov_cursor *cur,
                        uint64_t off, uint64_t len)
{
    uint64_t cs = s->cluster_size;
    while (len) {
        uint64_t vc = off >> s->cluster_bits, in = off & (cs - 1);
        struct l2_slot *slot;
        int r = l2_for_write(img, s, vc, &slot);
        if (r < 0)
            return r;
        uint64_t entry = get64(slot->table, vc & ((1ull << s->l2_bits) - 1)), host;
        enum cluster_type type;
        if ((r = classify(img, s, vc, entry, &type, &host)) < 0)
            return r;
        if (!writable_in_place(entry)) {
            int64_t done = write_allocating(img, s, slot, vc, in, cur, len);
            if (done < 0)
                return (int)done;
            off += (uint64_t)done;
            len -= (uint64_t)done;
            continue;
        }
        /* In place, merged over following clusters contiguous on the host. */
        uint64_t run = cs - in < len ? cs - in : len;
        while (run < len) {
            uint64_t nvc = vc + ((in + run) >> s->cluster_bits), ne, nh;
            enum cluster_type nt;
            if ((r = l2_entry(img, s, nvc, &ne)) < 0 || (r = classify(img, s, nvc, ne, &nt, &nh)) < 0)
                return r;
            if (!writable_in_place(ne) || nh != host + in + run)
                break;
            run += cs < len - run ? cs : len - run;
        }
        unsigned n = 0;
        if (iov_cursor_take(cur, run, s->scratch, &n, BLK_MAX_IOV) != run)
            return -EINVAL;
        if ((r = blk_file_pwritev(img->fd, s->scratch, n, host + in, run)) < 0)
            return r;
        off += run;
        len -= run;
    }
    return 0;
}

static int64_t qcow2_pwritev(struct blk_image *img, const struct iovec *iov, unsigned niov,
                             uint64_t offset, uint64_t len)
{
    struct qcow2 *s = img->priv;
    struct iov_cursor cur;
    iov_cursor_init(&cur, iov, niov);
    pthread_mutex_lock(&s->lock);
    int r = s->broken ? -EIO : write_locked(img, s, &cur, offset, len);
    pthread_mutex_unlock(&s->lock);
    return r < 0 ? r : (int64_t)len;
}

/* ---- open / close ---- */

static void qcow2_close(struct blk_image *img)
{
    struct qcow2 *s = img->priv;
    if (!s)
        return;
    if (s->l2)
        for (unsigned i = 0; i < s->nl2; i++)
            free(s->l2[i].table);
    free(s->l2);
    free(s->l1);
    free(s->rt);
    free(s->rb);
    free(s->bounce);
    free(s->scratch);
    pthread_mutex_destroy(&s->lock);
    free(s);
    img->priv = NULL;
}

/* What hv does not serve, refused at open (docs/block.md). */
static bool features_ok(const struct qcow2_header *h, bool readonly, char *err, size_t errlen)
{
    uint64_t f = h->incompatible_features;
    if (f & QCOW2_INCOMPAT_DIRTY)
        errbuf_set(err, errlen, "qcow2: the image is marked dirty (its refcounts were not written back "
                   "after use with lazy refcounts); repair it with qemu-img check -r all");
    else if ((f & QCOW2_INCOMPAT_CORRUPT) && !readonly)
        errbuf_set(err, errlen, "qcow2: the image is marked corrupt; repair it with qemu-img check -r all "
                   "(it can still be opened read-only)");
    else if ((f & QCOW2_INCOMPAT_DATA_FILE) || h->has_data_file_name)
        errbuf_set(err, errlen, "qcow2: the image keeps its data in an external data file; not supported");
    else if (f & QCOW2_INCOMPAT_EXTL2)
        errbuf_set(err, errlen, "qcow2: the image uses extended L2 entries (subclusters); not supported");
    else
        return true;
    return false;
}

static bool qcow2_open(struct blk_image *img, char *err, size_t errlen)
{
    off_t end = lseek(img->fd, 0, SEEK_END);
    if (end < 0) {
        errbuf_set(err, errlen, "cannot determine size: %s", strerror(errno));
        return false;
    }
    uint64_t file_size = (uint64_t)end;
    size_t head_len = file_size < QCOW2_MAX_CLUSTER_SIZE ? (size_t)file_size : QCOW2_MAX_CLUSTER_SIZE;
    uint8_t *head = malloc(head_len ? head_len : 1);
    struct qcow2_header h;
    if (!head) {
        errbuf_set(err, errlen, "out of memory");
        return false;
    }
    int r = read_buf(img, head, head_len, 0);
    bool ok = r == 0 && qcow2_header_parse(head, head_len, &h, err, errlen);
    if (r < 0)
        errbuf_set(err, errlen, "cannot read the qcow2 header: %s", strerror(-r));
    free(head);
    if (!ok || !features_ok(&h, img->readonly, err, errlen))
        return false;

    uint64_t cs = 1ull << h.cluster_bits;
    uint64_t l1_bytes = (uint64_t)h.l1_size * 8, rt_bytes = (uint64_t)h.refcount_table_clusters * cs;
    if (h.l1_size && (h.l1_table_offset > file_size || l1_bytes > file_size - h.l1_table_offset)) {
        errbuf_set(err, errlen, "qcow2: L1 table at 0x%" PRIx64 " (%" PRIu32 " entries) lies outside "
                   "the file (%" PRIu64 " bytes)", h.l1_table_offset, h.l1_size, file_size);
        return false;
    }
    if (h.refcount_table_offset > file_size || rt_bytes > file_size - h.refcount_table_offset) {
        errbuf_set(err, errlen, "qcow2: refcount table at 0x%" PRIx64 " (%" PRIu32 " clusters) lies "
                   "outside the file (%" PRIu64 " bytes)", h.refcount_table_offset,
                   h.refcount_table_clusters, file_size);
        return false;
    }

    struct qcow2 *s = calloc(1, sizeof(*s));
    if (!s) {
        errbuf_set(err, errlen, "out of memory");
        return false;
    }
    pthread_mutex_init(&s->lock, NULL);
    img->priv = s;
    s->cluster_bits = h.cluster_bits;
    s->cluster_size = cs;
    s->l2_bits = h.cluster_bits - 3;
    s->refcount_order = h.refcount_order;
    s->version = h.version;
    s->incompatible = h.incompatible_features;
    s->compatible = h.compatible_features;
    s->compression_type = h.compression_type;
    s->rb_bits = h.cluster_bits + 3 - h.refcount_order;
    s->l1_size = h.l1_size;
    s->l1_offset = h.l1_table_offset;
    s->rt_offset = h.refcount_table_offset;
    s->rt_clusters = h.refcount_table_clusters;
    s->rt_entries = rt_bytes / 8;
    s->alloc_end = (file_size + cs - 1) & ~(cs - 1);
    s->nl2 = (unsigned)(L2_CACHE_BYTES >> h.cluster_bits);
    s->nl2 = s->nl2 < L2_CACHE_MIN ? L2_CACHE_MIN : s->nl2 > L2_CACHE_MAX ? L2_CACHE_MAX : s->nl2;
    s->l1 = malloc(l1_bytes ? l1_bytes : 8);
    s->rt = malloc(rt_bytes);
    s->rb = malloc(cs);
    s->bounce = malloc(2 * cs);
    s->scratch = calloc(BLK_MAX_IOV + 2, sizeof(*s->scratch));
    s->l2 = calloc(s->nl2, sizeof(*s->l2));
    ok = s->l1 && s->rt && s->rb && s->bounce && s->scratch && s->l2;
    for (unsigned i = 0; ok && i < s->nl2; i++)
        ok = (s->l2[i].table = malloc(cs)) != NULL;
    if (!ok) {
        errbuf_set(err, errlen, "out of memory for the qcow2 tables and caches");
        return false;
    }
    if ((r = read_buf(img, s->l1, l1_bytes, s->l1_offset)) < 0 ||
        (r = read_buf(img, s->rt, rt_bytes, s->rt_offset)) < 0) {
        errbuf_set(err, errlen, "cannot read the qcow2 tables: %s", strerror(-r));
        return false;
    }
    img->size = h.size;
    if (h.backing_file[0] && !(img->backing_name = strdup(h.backing_file))) {
        errbuf_set(err, errlen, "out of memory");
        return false;
    }
    if (h.backing_format[0] && !(img->backing_format = strdup(h.backing_format))) {
        errbuf_set(err, errlen, "out of memory");
        return false;
    }
    /* A writer that does not know an autoclear feature clears its bit (the
     * spec's rule: e.g. persistent bitmaps become invalid, as they must). */
    if (!img->readonly && h.autoclear_features) {
        uint64_t zero = 0;
        if ((r = write_buf(img, &zero, 8, QCOW2_OFF_AUTOCLEAR)) < 0 || (r = blk_file_flush(img->fd)) < 0) {
            errbuf_set(err, errlen, "cannot clear the autoclear features: %s", strerror(-r));
            return false;
        }
        log_info("%s: cleared qcow2 autoclear features 0x%" PRIx64, img->path, h.autoclear_features);
    }
    if (h.nb_snapshots)
        log_info("%s: %" PRIu32 " internal snapshot(s) kept as they are", img->path, h.nb_snapshots);
    return true;
}

static void qcow2_info(const struct blk_image *img, struct blk_image_info *out)
{
    const struct qcow2 *s = img->priv;
    out->cluster_size = (uint32_t)s->cluster_size;
    out->qcow2_version = s->version;
    out->refcount_bits = 1u << s->refcount_order;
    out->lazy_refcounts = s->compatible & QCOW2_COMPAT_LAZY_REFCOUNTS;
    out->corrupt = s->incompatible & QCOW2_INCOMPAT_CORRUPT;
    out->compression_type = s->compression_type ? "zstd" : "zlib";
}

const struct blk_driver blk_qcow2_driver = {
    .name = "qcow2",
    .open = qcow2_open,
    .close = qcow2_close,
    .preadv = qcow2_preadv,
    .pwritev = qcow2_pwritev,
    .flush = qcow2_flush,
    .info = qcow2_info,
};
