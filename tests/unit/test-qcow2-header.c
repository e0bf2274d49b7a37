/* common/qcow2_header: valid version 2 and 3 headers with a backing file
 * and its format, and each malformed or unsupported header refused with
 * a message naming the field. Headers are built in memory as qemu-img
 * lays them out (64 KiB clusters, header, extensions, backing name). */
#include <stdint.h>
#include <string.h>

#include "common/qcow2_header.h"
#include "tests/tap.h"

#define CLUSTER 65536
static uint8_t img[2 * CLUSTER];

static void put32(size_t off, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        img[off + i] = (uint8_t)(v >> (24 - 8 * i));
}

static void put64(size_t off, uint64_t v)
{
    put32(off, (uint32_t)(v >> 32));
    put32(off + 4, (uint32_t)v);
}

/* A version 3 image of 1 GiB (L1 of 2 entries) with extensions at 112:
 * backing format "qcow2", a feature table stub, end; name at 0x200. */
static void build_v3(const char *backing, const char *format)
{
    memset(img, 0, sizeof(img));
    put32(0, QCOW2_MAGIC);
    put32(4, 3);
    put32(20, 16);                 /* cluster_bits */
    put64(24, 1ull << 30);         /* size */
    put32(36, 2);                  /* l1_size */
    put64(40, 3 * CLUSTER);        /* l1_table_offset */
    put64(48, CLUSTER);            /* refcount_table_offset */
    put32(56, 1);                  /* refcount_table_clusters */
    put32(96, 4);                  /* refcount_order */
    put32(100, 112);               /* header_length */
    size_t off = 112;
    if (format) {
        put32(off, QCOW2_EXT_BACKING_FORMAT);
        put32(off + 4, (uint32_t)strlen(format));
        memcpy(img + off + 8, format, strlen(format));
        off += 8 + ((strlen(format) + 7) & ~7u);
    }
    put32(off, QCOW2_EXT_FEATURE_TABLE);
    put32(off + 4, 48);
    off += 8 + 48;
    put32(off, QCOW2_EXT_END);
    if (backing) {
        put64(8, 0x200);
        put32(16, (uint32_t)strlen(backing));
        memcpy(img + 0x200, backing, strlen(backing));
    }
}

static struct qcow2_header h;
static char err[256];

static bool parse(size_t len)
{
    err[0] = 0;
    return qcow2_header_parse(img, len, &h, err, sizeof(err));
}

/* Expect a refusal whose message contains needle. */
static void refused(size_t len, const char *needle, const char *what)
{
    bool ok = parse(len);
    TAP_CHECK(!ok && strstr(err, needle), "%s refused: %s", what, err);
}

int main(void)
{
    build_v3("base.qcow2", "qcow2");
    TAP_CHECK(parse(CLUSTER), "version 3 header with a backing file parses: %s", err);
    TAP_EQ_U64(h.version, 3, "version");
    TAP_EQ_U64(h.cluster_bits, 16, "cluster_bits");
    TAP_EQ_U64(h.size, 1ull << 30, "size");
    TAP_EQ_U64(h.l1_size, 2, "l1_size");
    TAP_EQ_U64(h.l1_table_offset, 3 * CLUSTER, "l1_table_offset");
    TAP_EQ_U64(h.refcount_table_offset, CLUSTER, "refcount_table_offset");
    TAP_EQ_U64(h.refcount_table_clusters, 1, "refcount_table_clusters");
    TAP_EQ_U64(h.refcount_order, 4, "refcount_order");
    TAP_EQ_U64(h.header_length, 112, "header_length");
    TAP_EQ_STR(h.backing_file, "base.qcow2", "backing file name");
    TAP_EQ_STR(h.backing_format, "qcow2", "backing format from the extension");
    TAP_CHECK(qcow2_header_probe(img, 4) && !qcow2_header_probe((const uint8_t *)"QFI", 3),
              "probe: magic recognised, short buffer not");

    /* The buffer only needs to hold what the header references. */
    TAP_CHECK(parse(0x200 + 10), "a buffer ending after the backing name is enough: %s", err);

    build_v3(NULL, NULL);
    TAP_CHECK(parse(CLUSTER) && h.backing_file[0] == 0 && h.backing_format[0] == 0,
              "no backing file: empty name and format");
    build_v3("raw.img", NULL);
    TAP_CHECK(parse(CLUSTER) && strcmp(h.backing_file, "raw.img") == 0 && h.backing_format[0] == 0,
              "backing file without a recorded format: format empty");

    /* Version 2: 72-byte header, refcount order 4, no feature fields. */
    build_v3("b", NULL);
    put32(4, 2);
    memset(img + 72, 0, 40);
    TAP_CHECK(parse(CLUSTER) && h.version == 2 && h.header_length == 72 && h.refcount_order == 4 &&
                  strcmp(h.backing_file, "b") == 0,
              "version 2 header parses: %s", err);

    /* Features are reported; the known incompatible ones are not refused here. */
    build_v3(NULL, NULL);
    put64(72, QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_EXTL2);
    put64(80, QCOW2_COMPAT_LAZY_REFCOUNTS);
    put64(88, 1);
    TAP_CHECK(parse(CLUSTER) && h.incompatible_features == (QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_EXTL2) &&
                  h.compatible_features == 1 && h.autoclear_features == 1,
              "feature bitmaps reported");

    /* Refusals. */
    build_v3(NULL, NULL);
    refused(71, "truncated header (71 bytes", "truncated header");
    refused(100, "truncated version 3 header", "truncated version 3 header");
    img[3] = 0xfc;
    refused(CLUSTER, "bad magic 0x514649fc", "bad magic");
    build_v3(NULL, NULL);
    put32(4, 1);
    refused(CLUSTER, "version 1 is not supported", "version 1");
    put32(4, 4);
    refused(CLUSTER, "version 4 is not supported", "version 4");
    build_v3(NULL, NULL);
    put32(20, 8);
    refused(CLUSTER, "cluster_bits 8 out of range (9..21)", "cluster_bits 8");
    put32(20, 22);
    refused(CLUSTER, "cluster_bits 22 out of range", "cluster_bits 22");
    build_v3(NULL, NULL);
    put32(96, 7);
    refused(CLUSTER, "refcount_order 7 out of range (0..6)", "refcount_order 7");
    build_v3(NULL, NULL);
    put32(32, 1);
    refused(CLUSTER, "encrypted (AES)", "AES encryption");
    put32(32, 2);
    refused(CLUSTER, "encrypted (LUKS)", "LUKS encryption");
    build_v3(NULL, NULL);
    put64(72, 1ull << 5 | 1ull << 40);
    refused(CLUSTER, "unknown incompatible feature bits 0x10000000020", "unknown incompatible features");
    build_v3(NULL, NULL);
    put32(100, 96);
    refused(CLUSTER, "header_length 96 out of range", "header_length below 104");
    build_v3(NULL, NULL);
    put32(36, 1);
    refused(CLUSTER, "l1_size 1 too small", "L1 table too small for the size");
    build_v3(NULL, NULL);
    put64(40, 3 * CLUSTER + 8);
    refused(CLUSTER, "L1 table offset 0x30008 is not aligned", "misaligned L1 table");
    build_v3(NULL, NULL);
    put64(48, CLUSTER + 512);
    refused(CLUSTER, "refcount table offset 0x10200 is not aligned", "misaligned refcount table");
    build_v3(NULL, NULL);
    put32(56, 0);
    refused(CLUSTER, "refcount_table_clusters 0 out of range", "empty refcount table");

    /* Backing file name outside the first cluster or the buffer. */
    build_v3("base", NULL);
    put64(8, CLUSTER - 2);
    refused(2 * CLUSTER, "lies outside the first cluster", "backing name crossing the cluster end");
    build_v3("base", NULL);
    put64(8, CLUSTER + 16);
    refused(2 * CLUSTER, "lies outside the first cluster", "backing name after the first cluster");
    build_v3("base", NULL);
    put64(8, 40);
    refused(CLUSTER, "lies outside the first cluster", "backing name inside the header");
    build_v3("base", NULL);
    refused(0x200 + 2, "is past the 514 bytes read", "backing name past the buffer");
    build_v3("base", NULL);
    put32(16, 2000);
    refused(CLUSTER, "backing file name of 2000 bytes", "backing name too long");
    build_v3("base", NULL);
    img[0x201] = 0;
    refused(CLUSTER, "contains a NUL byte", "backing name with a NUL");

    /* Extensions running past the end of their area or of the buffer. */
    build_v3("base", "qcow2");
    put32(112 + 4, 0x1000);        /* backing format extension now ends past 0x200 */
    refused(CLUSTER, "length 4096 runs past the end of the header area (512)", "extension past the backing name");
    build_v3(NULL, NULL);
    put32(112 + 4, 2 * CLUSTER);
    refused(CLUSTER, "runs past the end of the header area (65536)", "extension past the first cluster");
    build_v3(NULL, NULL);
    put32(112 + 4, 1000);
    refused(600, "runs past the 600 bytes read", "extension past the buffer");
    build_v3(NULL, NULL);
    put32(112, 0x12345678);        /* unknown extension: skipped */
    put32(112 + 4, 48);
    TAP_CHECK(parse(CLUSTER), "unknown extension type skipped: %s", err);
    build_v3("b", "averyveryverylongformat");
    refused(CLUSTER, "backing format extension of 23 bytes", "backing format name too long");
    return tap_done();
}
