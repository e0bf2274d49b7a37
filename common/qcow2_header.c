/* qcow2 header parser; see qcow2_header.h. Field offsets and rules are
 * those of the qcow2 specification (header, "Header extensions"). */
#include "common/qcow2_header.h"

#include <inttypes.h>
#include <string.h>

#include "common/errbuf.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

bool qcow2_header_probe(const uint8_t *buf, size_t len)
{
    return len >= 4 && be32(buf) == QCOW2_MAGIC;
}

/* A table of `bytes` at `offset` must start on a cluster boundary and not
 * wrap around (the file size is checked by the block layer, which knows it). */
static bool table_ok(const char *what, uint64_t offset, uint64_t bytes, uint64_t cluster_size,
                     char *err, size_t errlen)
{
    if (offset & (cluster_size - 1)) {
        errbuf_set(err, errlen, "qcow2: %s offset 0x%" PRIx64 " is not aligned to the cluster size %" PRIu64,
                   what, offset, cluster_size);
        return false;
    }
    if (offset + bytes < offset) {
        errbuf_set(err, errlen, "qcow2: %s at 0x%" PRIx64 " of %" PRIu64 " bytes wraps around", what,
                   offset, bytes);
        return false;
    }
    return true;
}

static bool parse_extensions(const uint8_t *buf, size_t start, size_t end, size_t avail,
                             struct qcow2_header *h, char *err, size_t errlen)
{
    size_t off = start;
    for (;;) {
        /* An area that ends without an end marker is accepted, as QEMU does. */
        if (off + 8 > end)
            return true;
        if (off + 8 > avail) {
            errbuf_set(err, errlen, "qcow2: header extensions run past the %zu bytes read", avail);
            return false;
        }
        uint32_t type = be32(buf + off), elen = be32(buf + off + 4);
        if (type == QCOW2_EXT_END)
            return true;
        size_t data = off + 8;
        if (elen > end - data) {
            errbuf_set(err, errlen, "qcow2: header extension 0x%08x at offset %zu: length %" PRIu32
                       " runs past the end of the header area (%zu)", type, off, elen, end);
            return false;
        }
        if (data + elen > avail) {
            errbuf_set(err, errlen, "qcow2: header extension 0x%08x runs past the %zu bytes read",
                       type, avail);
            return false;
        }
        switch (type) {
        case QCOW2_EXT_BACKING_FORMAT:
            if (elen == 0 || elen > QCOW2_MAX_FORMAT_NAME) {
                errbuf_set(err, errlen, "qcow2: backing format extension of %" PRIu32
                           " bytes (1..%d)", elen, QCOW2_MAX_FORMAT_NAME);
                return false;
            }
            if (memchr(buf + data, 0, elen)) {
                errbuf_set(err, errlen, "qcow2: backing format name contains a NUL byte");
                return false;
            }
            memcpy(h->backing_format, buf + data, elen);
            h->backing_format[elen] = 0;
            break;
        case QCOW2_EXT_DATA_FILE:
            h->has_data_file_name = true;
            break;
        default:
            break;  /* feature table, bitmaps, crypto, unknown: skipped as the spec allows */
        }
        /* Data is padded to a multiple of 8 bytes. */
        size_t padded = ((size_t)elen + 7) & ~(size_t)7;
        if (padded > end - data)
            return true;  /* padding would pass the end: nothing can follow */
        off = data + padded;
    }
}

bool qcow2_header_parse(const uint8_t *buf, size_t len, struct qcow2_header *out, char *err,
                        size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (len < QCOW2_V2_HEADER_LEN) {
        errbuf_set(err, errlen, "qcow2: truncated header (%zu bytes, at least %d needed)", len,
                   QCOW2_V2_HEADER_LEN);
        return false;
    }
    uint32_t magic = be32(buf);
    if (magic != QCOW2_MAGIC) {
        errbuf_set(err, errlen, "qcow2: bad magic 0x%08" PRIx32 " (expected 0x%08x, \"QFI\\xfb\")", magic,
                   QCOW2_MAGIC);
        return false;
    }
    struct qcow2_header *h = out;
    h->version = be32(buf + 4);
    if (h->version != 2 && h->version != 3) {
        errbuf_set(err, errlen, "qcow2: version %" PRIu32 " is not supported (2 or 3)%s", h->version,
                   h->version == 1 ? "; version 1 is the old qcow format" : "");
        return false;
    }
    h->backing_file_offset = be64(buf + 8);
    h->backing_file_size = be32(buf + 16);
    h->cluster_bits = be32(buf + 20);
    h->size = be64(buf + 24);
    h->crypt_method = be32(buf + 32);
    h->l1_size = be32(buf + 36);
    h->l1_table_offset = be64(buf + 40);
    h->refcount_table_offset = be64(buf + 48);
    h->refcount_table_clusters = be32(buf + 56);
    h->nb_snapshots = be32(buf + 60);
    h->snapshots_offset = be64(buf + 64);
    if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS || h->cluster_bits > QCOW2_MAX_CLUSTER_BITS) {
        errbuf_set(err, errlen, "qcow2: cluster_bits %" PRIu32 " out of range (%d..%d)", h->cluster_bits,
                   QCOW2_MIN_CLUSTER_BITS, QCOW2_MAX_CLUSTER_BITS);
        return false;
    }
    uint64_t cluster_size = 1ull << h->cluster_bits;
    size_t area = len < cluster_size ? len : (size_t)cluster_size;  /* bytes of the first cluster we have */

    if (h->version == 2) {
        h->header_length = QCOW2_V2_HEADER_LEN;
        h->refcount_order = 4;
    } else {
        if (len < QCOW2_V3_HEADER_LEN) {
            errbuf_set(err, errlen, "qcow2: truncated version 3 header (%zu bytes, at least %d needed)",
                       len, QCOW2_V3_HEADER_LEN);
            return false;
        }
        h->incompatible_features = be64(buf + 72);
        h->compatible_features = be64(buf + 80);
        h->autoclear_features = be64(buf + 88);
        h->refcount_order = be32(buf + 96);
        h->header_length = be32(buf + 100);
        if (h->header_length < QCOW2_V3_HEADER_LEN || h->header_length > cluster_size) {
            errbuf_set(err, errlen, "qcow2: header_length %" PRIu32 " out of range (%d..%" PRIu64 ")",
                       h->header_length, QCOW2_V3_HEADER_LEN, cluster_size);
            return false;
        }
        if (h->header_length > len) {
            errbuf_set(err, errlen, "qcow2: header_length %" PRIu32 " is past the %zu bytes read",
                       h->header_length, len);
            return false;
        }
        if (h->header_length > QCOW2_V3_HEADER_LEN)
            h->compression_type = buf[104];
    }
    if (h->refcount_order > 6) {
        errbuf_set(err, errlen, "qcow2: refcount_order %" PRIu32 " out of range (0..6)", h->refcount_order);
        return false;
    }
    if (h->crypt_method != 0) {
        errbuf_set(err, errlen, "qcow2: the image is encrypted (%s); encrypted images are not supported",
                   h->crypt_method == 1 ? "AES" : h->crypt_method == 2 ? "LUKS" : "unknown method");
        return false;
    }
    uint64_t unknown = h->incompatible_features & ~QCOW2_INCOMPAT_KNOWN;
    if (unknown) {
        errbuf_set(err, errlen, "qcow2: unknown incompatible feature bits 0x%" PRIx64, unknown);
        return false;
    }
    bool non_zlib = h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION;
    if (non_zlib != (h->compression_type != 0) || h->compression_type > 1) {
        errbuf_set(err, errlen, "qcow2: compression_type %u does not match the compression "
                   "feature bit", h->compression_type);
        return false;
    }

    /* Tables: aligned, sized within QEMU's limits, L1 big enough. */
    if (h->l1_size > QCOW2_MAX_L1_ENTRIES) {
        errbuf_set(err, errlen, "qcow2: l1_size %" PRIu32 " too large (at most %u entries)", h->l1_size,
                   QCOW2_MAX_L1_ENTRIES);
        return false;
    }
    uint64_t per_l1 = cluster_size * (cluster_size / 8);   /* bytes one L2 table maps */
    uint64_t l1_needed = h->size / per_l1 + (h->size % per_l1 != 0);
    if (h->l1_size < l1_needed) {
        errbuf_set(err, errlen, "qcow2: l1_size %" PRIu32 " too small for a disk of %" PRIu64
                   " bytes (%" PRIu64 " entries needed)", h->l1_size, h->size, l1_needed);
        return false;
    }
    if (h->l1_size && !table_ok("L1 table", h->l1_table_offset, (uint64_t)h->l1_size * 8,
                                cluster_size, err, errlen))
        return false;
    if (h->refcount_table_clusters == 0 ||
        (uint64_t)h->refcount_table_clusters * cluster_size > QCOW2_MAX_REFTABLE_BYTES) {
        errbuf_set(err, errlen, "qcow2: refcount_table_clusters %" PRIu32 " out of range (1..%" PRIu64 ")",
                   h->refcount_table_clusters, QCOW2_MAX_REFTABLE_BYTES / cluster_size);
        return false;
    }
    if (h->refcount_table_offset == 0 ||
        !table_ok("refcount table", h->refcount_table_offset,
                  (uint64_t)h->refcount_table_clusters * cluster_size, cluster_size, err, errlen)) {
        if (h->refcount_table_offset == 0)
            errbuf_set(err, errlen, "qcow2: refcount table offset is 0 (inside the header)");
        return false;
    }
    if (h->nb_snapshots &&
        !table_ok("snapshot table", h->snapshots_offset, 0, cluster_size, err, errlen))
        return false;

    /* Extensions end where the backing file name starts, or at the end
     * of the first cluster. */
    size_t ext_end = (size_t)cluster_size;
    if (h->backing_file_offset) {
        uint64_t bo = h->backing_file_offset, bs = h->backing_file_size;
        if (bo < h->header_length || bo > cluster_size || bs > cluster_size - bo) {
            errbuf_set(err, errlen, "qcow2: backing file name at offset %" PRIu64 " of %" PRIu64
                       " bytes lies outside the first cluster (%d..%" PRIu64 ")", bo, bs,
                       (int)h->header_length, cluster_size);
            return false;
        }
        if (bs == 0 || bs > QCOW2_MAX_BACKING_NAME) {
            errbuf_set(err, errlen, "qcow2: backing file name of %" PRIu64 " bytes (1..%d)", bs,
                       QCOW2_MAX_BACKING_NAME);
            return false;
        }
        if (bo + bs > len) {
            errbuf_set(err, errlen, "qcow2: backing file name at offset %" PRIu64 " of %" PRIu64
                       " bytes is past the %zu bytes read", bo, bs, len);
            return false;
        }
        if (memchr(buf + bo, 0, bs)) {
            errbuf_set(err, errlen, "qcow2: backing file name contains a NUL byte");
            return false;
        }
        memcpy(h->backing_file, buf + bo, bs);
        h->backing_file[bs] = 0;
        ext_end = (size_t)bo;
    }
    return parse_extensions(buf, h->header_length, ext_end, area, h, err, errlen);
}
