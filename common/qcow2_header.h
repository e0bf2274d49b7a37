/* qcow2 image header parser (the qcow2 specification: header, header
 * extensions, backing file name).
 *
 * Pure functions over a buffer, no I/O: hv's block layer and hvd's
 * backing-chain probe share them. Pass the image's first cluster (read at
 * most QCOW2_MAX_CLUSTER_SIZE bytes, or the whole file when smaller);
 * everything the header references must lie in the first cluster and in
 * the buffer, or the parse fails saying which. Integers in the file are
 * big-endian; the struct holds them in host order. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QCOW2_MAGIC 0x514649fbu                 /* "QFI\xfb" */
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_MAX_CLUSTER_SIZE (1u << QCOW2_MAX_CLUSTER_BITS)
#define QCOW2_V2_HEADER_LEN 72
#define QCOW2_V3_HEADER_LEN 104
#define QCOW2_MAX_BACKING_NAME 1023             /* QEMU's limit */
#define QCOW2_MAX_FORMAT_NAME 15                /* longest format name QEMU stores */
#define QCOW2_MAX_L1_ENTRIES ((32u << 20) / 8)    /* QEMU's limits on table sizes */
#define QCOW2_MAX_REFTABLE_BYTES (8u << 20)

/* Incompatible feature bits (header offset 72). */
#define QCOW2_INCOMPAT_DIRTY (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)  /* compression_type is not zlib */
#define QCOW2_INCOMPAT_EXTL2 (1ull << 4)
#define QCOW2_INCOMPAT_KNOWN 0x1full
/* Compatible feature bits (offset 80). */
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ull << 0)

/* Header extension types. */
#define QCOW2_EXT_END 0x00000000u
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_EXT_FEATURE_TABLE 0x6803f857u
#define QCOW2_EXT_BITMAPS 0x23852875u
#define QCOW2_EXT_CRYPTO 0x0537be77u
#define QCOW2_EXT_DATA_FILE 0x44415441u

/* Byte offsets of the header fields the block layer rewrites. */
#define QCOW2_OFF_REFCOUNT_TABLE 48             /* offset (8) then clusters (4) */
#define QCOW2_OFF_AUTOCLEAR 88

struct qcow2_header {
    uint32_t version;                   /* 2 or 3 */
    uint64_t size;                      /* virtual disk size, bytes */
    uint32_t cluster_bits;              /* 9..21 */
    uint64_t l1_table_offset;
    uint32_t l1_size;                   /* entries */
    uint64_t refcount_table_offset;
    uint32_t refcount_table_clusters;
    uint32_t refcount_order;            /* refcount width = 1 << order bits, 0..6 */
    uint64_t incompatible_features, compatible_features, autoclear_features;
    uint32_t crypt_method;              /* always 0 after a successful parse */
    uint32_t header_length;             /* 72 for version 2 */
    uint8_t compression_type;           /* 0 zlib, 1 zstd */
    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    uint64_t backing_file_offset;       /* 0: no backing file */
    uint32_t backing_file_size;
    char backing_file[QCOW2_MAX_BACKING_NAME + 1];     /* "" when none */
    char backing_format[QCOW2_MAX_FORMAT_NAME + 1];    /* "" when not recorded */
    bool has_data_file_name;            /* external data file extension present */
};

/* Parse and check the header in buf[0..len). Refuses, with a message
 * naming the field: a truncated header, a bad magic, versions other than
 * 2 and 3, cluster_bits outside 9..21, a refcount_order above 6,
 * encryption, unknown incompatible feature bits, tables not aligned to a
 * cluster, an L1 table too small for the disk size, header extensions or
 * a backing file name outside the first cluster or the buffer. Known
 * features a reader may not support (dirty, corrupt, external data file,
 * extended L2) are reported in incompatible_features, not refused. */
bool qcow2_header_parse(const uint8_t *buf, size_t len, struct qcow2_header *out, char *err,
                        size_t errlen);

/* True when buf starts with the qcow2 magic (format probing). */
bool qcow2_header_probe(const uint8_t *buf, size_t len);
