/* hv/block: raw and qcow2 images made by qemu-img, read and written
 * through the block layer, then checked by qemu-img itself (check,
 * compare against a raw file that received the same writes, convert).
 * Needs qemu-img and qemu-io (package qemu-utils, tools/setup). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "hv/block/block.h"
#include "tests/tap.h"

static char err[1024];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static uint8_t pattern_byte(uint64_t off, unsigned seed)
{
    return (uint8_t)(seed * 31 + off * 7 + (off >> 9) + (off >> 16));
}

/* Write len bytes of pattern seed at off, through three uneven iovecs,
 * into the image and into the raw reference file at the same offset. */
static bool write_both(struct blk_image *img, int ref, uint64_t off, uint64_t len, unsigned seed)
{
    uint8_t *buf = malloc(len);
    for (uint64_t i = 0; i < len; i++)
        buf[i] = pattern_byte(off + i, seed);
    uint64_t a = len / 3, b = len / 2 - a / 2;
    struct iovec iov[3] = { { buf, a }, { buf + a, b }, { buf + a + b, len - a - b } };
    int64_t r = blk_image_pwritev(img, iov, 3, off, len);
    bool ok = r == (int64_t)len && (ref < 0 || pwrite(ref, buf, len, (off_t)off) == (ssize_t)len);
    if (!ok)
        printf("# write 0x%llx+%llu: %lld\n", (unsigned long long)off, (unsigned long long)len,
               (long long)r);
    free(buf);
    return ok;
}

/* Read len at off through the image and compare with the reference file
 * (or with zeros when ref < 0). */
static bool read_matches(struct blk_image *img, int ref, uint64_t off, uint64_t len)
{
    uint8_t *got = malloc(len), *want = calloc(1, len);
    uint64_t a = len / 4 ? len / 4 : len;
    struct iovec iov[2] = { { got, a }, { got + a, len - a } };
    int64_t r = blk_image_preadv(img, iov, 2, off, len);
    if (ref >= 0 && pread(ref, want, len, (off_t)off) < 0)
        r = -errno;
    bool ok = r == (int64_t)len && memcmp(got, want, len) == 0;
    if (!ok)
        printf("# read 0x%llx+%llu: %lld, %s\n", (unsigned long long)off, (unsigned long long)len,
               (long long)r, r == (int64_t)len ? "data differs" : "failed");
    free(got);
    free(want);
    return ok;
}

static int read_status(struct blk_image *img, uint64_t off, uint64_t len)
{
    uint8_t *buf = malloc(len);
    struct iovec iov = { buf, len };
    int64_t r = blk_image_preadv(img, &iov, 1, off, len);
    free(buf);
    return r < 0 ? (int)r : 0;
}

static int mkref(const char *path, uint64_t size)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0 && ftruncate(fd, (off_t)size) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool check_clean(const char *img) { return sh("qemu-img check -q %s", img) == 0; }
static bool same_as(const char *img, const char *ref)
{
    return sh("qemu-img compare -q -f qcow2 -F raw %s %s", img, ref) == 0;
}

static struct blk_image *open_img(const char *path, enum hv_disk_format f, bool ro)
{
    err[0] = 0;
    return blk_image_open(path, f, ro, err, sizeof(err));
}

/* Allocation in a fresh image: aligned, unaligned and cluster-crossing
 * writes, rewrites in place, then qemu-img check and compare. */
static void test_fresh(void)
{
    sh("qemu-img create -q -f qcow2 fresh.qcow2 64M");
    int ref = mkref("fresh.raw", 64 << 20);
    struct blk_image *img = open_img("fresh.qcow2", HV_DISK_FORMAT_QCOW2, false);
    TAP_CHECK(img && blk_image_size(img) == 64 << 20, "fresh qcow2 opens, 64 MiB (%s)", err);
    if (!img)
        return;
    TAP_EQ_STR(blk_image_format_name(img), "qcow2", "format name");
    TAP_CHECK(blk_image_backing(img) == NULL && blk_image_backing_name(img) == NULL, "no backing");
    TAP_CHECK(read_matches(img, -1, 0, 1 << 20), "unallocated clusters read as zeros");
    bool ok = write_both(img, ref, 0, 65536, 1) && write_both(img, ref, 65536 * 3 + 512, 4096, 2) &&
              write_both(img, ref, 65536 * 5 - 1024, 3 * 65536 + 2048, 3) &&
              write_both(img, ref, (32 << 20) + 7 * 512, 512, 4) &&
              write_both(img, ref, (64 << 20) - 512, 512, 5) &&
              write_both(img, ref, 512, 1024, 6);        /* rewrite in place */
    TAP_CHECK(ok, "writes: whole cluster, partial, crossing clusters, last sector, rewrite");
    TAP_CHECK(read_matches(img, ref, 0, 1 << 20) && read_matches(img, ref, 32 << 20, 1 << 20) &&
                  read_matches(img, ref, (64 << 20) - 65536, 65536),
              "data reads back (merged reads across clusters)");
    TAP_CHECK(blk_image_flush(img) == 0, "flush");
    TAP_CHECK(read_status(img, (64 << 20) - 512, 1024) == -EINVAL, "read past the end: EINVAL");
    blk_image_close(img);
    TAP_CHECK(check_clean("fresh.qcow2"), "qemu-img check clean after hv's writes");
    TAP_CHECK(same_as("fresh.qcow2", "fresh.raw"), "qemu-img compare: same data as the raw reference");
    close(ref);
}

/* Backing chains: qcow2 top on a qcow2 middle on a raw base, names
 * relative to the overlay's directory; writes land in the top only. */
static void test_chain(void)
{
    mkdir("chain", 0755);
    int base = mkref("chain/base.raw", 16 << 20);
    uint8_t *buf = malloc(16 << 20);
    for (uint64_t i = 0; i < (16 << 20); i++)
        buf[i] = pattern_byte(i, 9);
    TAP_CHECK(pwrite(base, buf, 16 << 20, 0) == 16 << 20, "raw base written");
    free(buf);
    close(base);
    /* The middle is larger than the base: past the base's end reads zero. */
    sh("cd chain && qemu-img create -q -f qcow2 -b base.raw -F raw mid.qcow2 24M");
    sh("qemu-io -f qcow2 -c 'write -P 0xab 1M 64k' -c 'write -z 2M 64k' -c 'write -P 0xcd 3M 100k' "
       "chain/mid.qcow2 >/dev/null");
    sh("cd chain && qemu-img create -q -f qcow2 -o cluster_size=4096 -b mid.qcow2 -F qcow2 top.qcow2 24M");
    sh("qemu-img convert -f qcow2 -O raw chain/top.qcow2 chain/ref.raw");
    sh("md5sum chain/base.raw chain/mid.qcow2 > chain/sums");
    int ref = open("chain/ref.raw", O_RDWR);

    struct blk_image *img = open_img("chain/top.qcow2", HV_DISK_FORMAT_QCOW2, false);
    TAP_CHECK(img, "3-level chain opens: %s", err);
    if (!img)
        return;
    struct blk_image *mid = blk_image_backing(img), *raw = mid ? blk_image_backing(mid) : NULL;
    TAP_CHECK(mid && raw && !blk_image_backing(raw), "chain depth 3");
    TAP_CHECK(mid && strcmp(blk_image_path(mid), "chain/mid.qcow2") == 0 &&
                  strcmp(blk_image_format_name(mid), "qcow2") == 0 && blk_image_readonly(mid),
              "middle: path relative to the overlay's directory, qcow2, read-only");
    TAP_CHECK(raw && strcmp(blk_image_path(raw), "chain/base.raw") == 0 &&
                  strcmp(blk_image_format_name(raw), "raw") == 0 && blk_image_readonly(raw),
              "base: raw, read-only");
    TAP_EQ_STR(blk_image_backing_format(img), "qcow2", "backing format from the header extension");
    TAP_CHECK(read_matches(img, ref, 0, 24 << 20),
              "reads through the chain: base pattern, qemu-io's 0xab, zero cluster, zeros past the base");
    bool ok = write_both(img, ref, 1000, 3000, 21) &&                 /* COW from the raw base */
              write_both(img, ref, (1 << 20) + 4096 + 100, 200, 22) && /* COW from the middle */
              write_both(img, ref, (2 << 20) + 8192 + 1, 5000, 23) &&  /* into the zero cluster */
              write_both(img, ref, (16 << 20) - 2048, 8192, 24) &&     /* across the base's end */
              write_both(img, ref, 5 << 20, 1 << 20, 25);              /* many clusters at once */
    TAP_CHECK(ok, "partial-cluster writes with copy-on-write from each level");
    TAP_CHECK(read_matches(img, ref, 0, 24 << 20), "whole disk reads back after the writes");
    blk_image_close(img);
    TAP_CHECK(sh("md5sum -c --quiet chain/sums") == 0, "base and middle unchanged (checksums)");
    TAP_CHECK(check_clean("chain/top.qcow2"), "qemu-img check clean on the overlay");
    TAP_CHECK(same_as("chain/top.qcow2", "chain/ref.raw"), "qemu-img compare: overlay equals the reference");
    close(ref);

    /* Reopened, the written data is still there. */
    img = open_img("chain/top.qcow2", HV_DISK_FORMAT_QCOW2, true);
    ref = open("chain/ref.raw", O_RDONLY);
    TAP_CHECK(img && read_matches(img, ref, 0, 24 << 20), "read-only reopen reads the same data");
    blk_image_close(img);
    close(ref);
}

/* Small clusters: many writes force new L2 tables, new refcount blocks
 * and a larger refcount table; several refcount widths. */
static uint64_t be64_at(const char *path, uint64_t off);

static void test_growth(const char *opts, uint64_t size, uint64_t step, uint64_t wlen, const char *what)
{
    sh("rm -f grow.qcow2 && qemu-img create -q -f qcow2 -o %s grow.qcow2 %llu", opts,
       (unsigned long long)size);
    int ref = mkref("grow.raw", size);
    uint64_t rt_before = be64_at("grow.qcow2", 48);
    struct blk_image *img = open_img("grow.qcow2", HV_DISK_FORMAT_QCOW2, false);
    TAP_CHECK(img, "%s: opens (%s)", what, err);
    if (!img)
        return;
    bool ok = true;
    unsigned seed = 0;
    for (uint64_t off = 0; ok && off + wlen <= size; off += step)
        ok = write_both(img, ref, off, wlen, ++seed);
    /* And in reverse, between the first ones. */
    for (uint64_t off = size - step / 2; ok && off > 4 * step; off -= 4 * step)
        ok = write_both(img, ref, off, wlen / 2 + 1, ++seed);
    TAP_CHECK(ok, "%s: %u writes", what, seed);
    TAP_CHECK(read_matches(img, ref, 0, size), "%s: reads back", what);
    blk_image_close(img);
    struct stat st;
    stat("grow.qcow2", &st);
    uint64_t rt_after = be64_at("grow.qcow2", 48);
    printf("# %s: file grew to %lld bytes; refcount table %s (%llu clusters at 0x%llx)\n", what,
           (long long)st.st_size, rt_after == rt_before ? "in place" : "moved",
           (unsigned long long)(be64_at("grow.qcow2", 56) >> 32), (unsigned long long)rt_after);
    if (strstr(what, "refcount table grows"))
        TAP_CHECK(rt_after != rt_before, "%s: a new refcount table was written", what);
    TAP_CHECK(check_clean("grow.qcow2"), "%s: qemu-img check clean", what);
    TAP_CHECK(same_as("grow.qcow2", "grow.raw"), "%s: qemu-img compare equal", what);
    close(ref);
}

/* Clusters shared with an internal snapshot are copied, not overwritten. */
static void test_snapshot(void)
{
    sh("rm -f snap.qcow2 && qemu-img create -q -f qcow2 snap.qcow2 8M && "
       "qemu-io -c 'write -P 0x11 0 1M' snap.qcow2 >/dev/null && qemu-img snapshot -c s1 snap.qcow2 && "
       "qemu-img convert -f qcow2 -O raw snap.qcow2 snap-s1.raw && cp snap-s1.raw snap.raw");
    int ref = open("snap.raw", O_RDWR);
    struct blk_image *img = open_img("snap.qcow2", HV_DISK_FORMAT_QCOW2, false);
    TAP_CHECK(img, "image with an internal snapshot opens (%s)", err);
    if (!img)
        return;
    TAP_CHECK(write_both(img, ref, 4096, 8192, 31) && write_both(img, ref, 600 << 10, 70000, 32) &&
                  read_matches(img, ref, 0, 8 << 20),
              "writes over snapshot-shared clusters read back");
    blk_image_close(img);
    TAP_CHECK(check_clean("snap.qcow2"), "snapshot image: qemu-img check clean");
    TAP_CHECK(same_as("snap.qcow2", "snap.raw"), "snapshot image: active layer equals the reference");
    TAP_CHECK(sh("qemu-img convert -f qcow2 -l snapshot.name=s1 -O raw snap.qcow2 snap-now.raw && "
                 "cmp -s snap-now.raw snap-s1.raw") == 0,
              "the snapshot still holds its data");
    close(ref);
}

/* Patch bytes of a file at an offset. */
static void patch(const char *path, uint64_t off, const void *bytes, size_t n)
{
    int fd = open(path, O_RDWR);
    if (fd < 0 || pwrite(fd, bytes, n, (off_t)off) != (ssize_t)n)
        printf("# cannot patch %s\n", path);
    close(fd);
}

static uint64_t be64_at(const char *path, uint64_t off)
{
    uint8_t b[8] = { 0 };
    int fd = open(path, O_RDONLY);
    if (fd < 0 || pread(fd, b, 8, (off_t)off) != 8)
        printf("# cannot read %s\n", path);
    close(fd);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

static void put_be64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (56 - 8 * i));
}

static void test_corrupt(void)
{
    /* Layout of a fresh qemu-img image with 64 KiB clusters: header, L1
     * at 0x30000, refcount table at 0x10000, first L2 table after them. */
    sh("rm -f bad*.qcow2 && qemu-img create -q -f qcow2 good.qcow2 1G && "
       "qemu-io -c 'write -P 0x5a 0 128k' good.qcow2 >/dev/null");
    uint64_t l1_off = be64_at("good.qcow2", 40), l1e = be64_at("good.qcow2", l1_off);
    uint64_t l2_off = l1e & 0x00fffffffffffe00ull;
    uint8_t b[8];

    sh("cp good.qcow2 bad-l1.qcow2");
    put_be64(b, (1ull << 63) | (1ull << 40));
    patch("bad-l1.qcow2", l1_off, b, 8);
    struct blk_image *img = open_img("bad-l1.qcow2", HV_DISK_FORMAT_QCOW2, false);
    TAP_CHECK(img && read_status(img, 0, 4096) == -EIO, "L1 entry past the end of the file: read EIO");
    uint8_t data[512] = { 1 };
    struct iovec v = { data, sizeof(data) };
    TAP_CHECK(img && blk_image_pwritev(img, &v, 1, 0, 512) == -EIO, "... and write EIO");
    TAP_CHECK(img && read_status(img, 512 << 20, 4096) == 0, "other L1 entries still read");
    blk_image_close(img);

    sh("cp good.qcow2 bad-l2.qcow2");
    put_be64(b, (1ull << 63) | (0x50000 + 0x1000));
    patch("bad-l2.qcow2", l2_off, b, 8);
    img = open_img("bad-l2.qcow2", HV_DISK_FORMAT_QCOW2, false);
    TAP_CHECK(img && read_status(img, 0, 512) == -EIO && read_status(img, 65536, 512) == 0,
              "misaligned L2 entry: that cluster EIO, the next one reads");
    blk_image_close(img);

    sh("cp good.qcow2 bad-rt.qcow2");
    put_be64(b, 1ull << 40);
    patch("bad-rt.qcow2", 48, b, 8);
    img = open_img("bad-rt.qcow2", HV_DISK_FORMAT_QCOW2, false);
    TAP_CHECK(!img && strstr(err, "refcount table at 0x10000000000") && strstr(err, "outside the file"),
              "refcount table outside the file refused: %s", err);

    sh("cp good.qcow2 bad-rtentry.qcow2");
    uint64_t rt_off = be64_at("good.qcow2", 48);
    put_be64(b, be64_at("good.qcow2", rt_off) + 0x1200);
    patch("bad-rtentry.qcow2", rt_off, b, 8);
    img = open_img("bad-rtentry.qcow2", HV_DISK_FORMAT_QCOW2, false);
    TAP_CHECK(img && blk_image_pwritev(img, &v, 1, 4 << 20, 512) == -EIO && read_status(img, 0, 4096) == 0,
              "misaligned refcount table entry: an allocating write EIO, reads still work");
    blk_image_close(img);

    sh("cp good.qcow2 bad-l1t.qcow2");
    put_be64(b, 1ull << 36);
    patch("bad-l1t.qcow2", 40, b, 8);
    img = open_img("bad-l1t.qcow2", HV_DISK_FORMAT_QCOW2, true);
    TAP_CHECK(!img && strstr(err, "L1 table at") && strstr(err, "outside the file"),
              "L1 table outside the file refused: %s", err);

    sh("qemu-img convert -q -c -f qcow2 -O qcow2 good.qcow2 bad-compressed.qcow2");
    img = open_img("bad-compressed.qcow2", HV_DISK_FORMAT_QCOW2, false);
    TAP_CHECK(img && read_status(img, 0, 4096) == -EIO, "compressed cluster: read EIO");
    TAP_CHECK(img && blk_image_pwritev(img, &v, 1, 512, 512) == -EIO, "compressed cluster: write EIO");
    TAP_CHECK(img && read_status(img, 1 << 20, 4096) == 0, "unallocated part of it still reads");
    blk_image_close(img);

    sh("qemu-img create -q -f qcow2 -o extended_l2=on bad-extl2.qcow2 1M");
    img = open_img("bad-extl2.qcow2", HV_DISK_FORMAT_QCOW2, false);
    TAP_CHECK(!img && strstr(err, "extended L2"), "extended L2 refused: %s", err);
    sh("qemu-img create -q -f qcow2 -o data_file=bad-data.raw bad-datafile.qcow2 1M");
    img = open_img("bad-datafile.qcow2", HV_DISK_FORMAT_QCOW2, false);
    TAP_CHECK(!img && strstr(err, "external data file"), "external data file refused: %s", err);
    /* crypt_method 2 (LUKS) in the header, the field hv refuses on. Not
     * made with qemu-img's encrypt.format=luks: its key-derivation
     * benchmark fails on a busy machine ("Unable to get accurate CPU
     * usage"). */
    sh("cp good.qcow2 bad-luks.qcow2");
    static const uint8_t luks_method[4] = { 0, 0, 0, 2 };
    patch("bad-luks.qcow2", 32, luks_method, sizeof(luks_method));
    img = open_img("bad-luks.qcow2", HV_DISK_FORMAT_QCOW2, false);
    TAP_CHECK(!img && strstr(err, "encrypted (LUKS)"), "LUKS-encrypted image refused: %s", err);
    sh("cp good.qcow2 bad-dirty.qcow2");
    put_be64(b, 1);
    patch("bad-dirty.qcow2", 72, b, 8);
    img = open_img("bad-dirty.qcow2", HV_DISK_FORMAT_QCOW2, false);
    TAP_CHECK(!img && strstr(err, "marked dirty"), "dirty image refused: %s", err);
    img = open_img("good.raw-missing", HV_DISK_FORMAT_RAW, false);
    TAP_CHECK(!img && strstr(err, "good.raw-missing: cannot open disk image read-write"),
              "missing file named: %s", err);
    img = open_img("fresh.raw", HV_DISK_FORMAT_QCOW2, true);
    TAP_CHECK(!img && strstr(err, "fresh.raw: qcow2: bad magic"), "raw file opened as qcow2 refused: %s", err);
}

static void test_chain_errors(void)
{
    /* A loop: a -> b -> a (rewritten with rebase -u). */
    sh("qemu-img create -q -f qcow2 loop-a.qcow2 1M && "
       "qemu-img create -q -f qcow2 -b loop-a.qcow2 -F qcow2 loop-b.qcow2 1M && "
       "qemu-img rebase -q -u -f qcow2 -b loop-b.qcow2 -F qcow2 loop-a.qcow2");
    struct blk_image *img = open_img("loop-b.qcow2", HV_DISK_FORMAT_QCOW2, false);
    TAP_CHECK(!img && strstr(err, "loops"), "backing loop refused: %s", err);
    /* No recorded backing format: probed (qcow2 here), and said in the log. */
    sh("qemu-img create -q -f qcow2 nofmt-base.qcow2 1M && "
       "qemu-io -c 'write -P 0x77 0 4k' nofmt-base.qcow2 >/dev/null && "
       "qemu-img create -q -f qcow2 -b nofmt-base.qcow2 -F qcow2 nofmt.qcow2 1M");
    /* qemu-img no longer writes such images: turn the backing format
     * extension (right after the 112-byte header) into an unknown one. */
    TAP_CHECK(be64_at("nofmt.qcow2", 112) >> 32 == 0xe2792aca, "backing format extension at 112");
    patch("nofmt.qcow2", 112, "\x12\x34\x56\x78", 4);
    /* Capture the log (stderr) around the open. */
    fflush(stderr);
    int saved = dup(2), logfd = open("nofmt.log", O_RDWR | O_CREAT | O_TRUNC, 0644);
    dup2(logfd, 2);
    img = open_img("nofmt.qcow2", HV_DISK_FORMAT_QCOW2, true);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char logbuf[1024] = "";
    ssize_t nlog = pread(logfd, logbuf, sizeof(logbuf) - 1, 0);
    close(logfd);
    logbuf[nlog > 0 ? nlog : 0] = 0;
    TAP_CHECK(strstr(logbuf, "records no format for its backing file nofmt-base.qcow2; probed as qcow2") &&
                  strstr(logbuf, "qemu-img rebase -u -b 'nofmt-base.qcow2' -F qcow2 'nofmt.qcow2'"),
              "the probe is said in the log with the command that records the format");
    uint8_t got[4096];
    struct iovec v = { got, sizeof(got) };
    TAP_CHECK(img && !blk_image_backing_format(img) && blk_image_backing(img) &&
                  strcmp(blk_image_format_name(blk_image_backing(img)), "qcow2") == 0 &&
                  blk_image_preadv(img, &v, 1, 0, 4096) == 4096 && got[0] == 0x77 && got[4095] == 0x77,
              "no recorded backing format: probed as qcow2, reads through (%s)", err);
    blk_image_close(img);
    sh("qemu-img create -q -f qcow2 -b /nonexistent/base.qcow2 -F qcow2 -u missing.qcow2 1M");
    img = open_img("missing.qcow2", HV_DISK_FORMAT_QCOW2, true);
    TAP_CHECK(!img && strstr(err, "/nonexistent/base.qcow2"), "missing backing file named: %s", err);
    sh("qemu-img create -q -f qcow2 -b nbd://host/x -F raw -u proto.qcow2 1M");
    img = open_img("proto.qcow2", HV_DISK_FORMAT_QCOW2, true);
    TAP_CHECK(!img && strstr(err, "protocol 'nbd'"), "backing protocol refused: %s", err);
    sh("qemu-img create -q -f vmdk vm.vmdk 1M && qemu-img create -q -f qcow2 -b vm.vmdk -F vmdk vmtop.qcow2");
    img = open_img("vmtop.qcow2", HV_DISK_FORMAT_QCOW2, true);
    TAP_CHECK(!img && strstr(err, "format 'vmdk'"), "unsupported backing format refused: %s", err);
    /* A writer holds the base: the overlay's read-only open of it fails. */
    struct blk_image *base = open_img("nofmt-base.qcow2", HV_DISK_FORMAT_QCOW2, false);
    img = open_img("nofmt.qcow2", HV_DISK_FORMAT_QCOW2, false);
    TAP_CHECK(base && !img && strstr(err, "in use by another process"), "base locked by a writer: %s", err);
    blk_image_close(base);
}

int main(void)
{
    log_init("test-qcow2", LOG_LVL_WARN);
    if (sh("qemu-img --version >/dev/null 2>&1 && qemu-io --version >/dev/null 2>&1") != 0) {
        TAP_CHECK(0, "qemu-img and qemu-io are installed (package qemu-utils, tools/setup)");
        return tap_done();
    }
    char dir[] = "/tmp/test-qcow2-XXXXXX";
    if (!mkdtemp(dir) || chdir(dir) < 0) {
        TAP_CHECK(0, "temporary directory");
        return tap_done();
    }
    test_fresh();
    test_chain();
    test_growth("cluster_size=4096", 48 << 20, 16384, 4096, "4 KiB clusters, new L2 tables and refcount blocks");
    test_growth("cluster_size=512", 20 << 20, 1024, 512, "512-byte clusters, refcount table grows");
    test_growth("cluster_size=512,refcount_bits=1", 2 << 20, 1536, 700, "1-bit refcounts");
    test_growth("cluster_size=1024,refcount_bits=64", 4 << 20, 3000, 2000, "64-bit refcounts");
    test_growth("compat=0.10", 8 << 20, 300000, 70000, "version 2 image");
    test_snapshot();
    test_corrupt();
    test_chain_errors();
    if (!getenv("TEST_QCOW2_KEEP"))
        sh("cd / && rm -rf %s", dir);
    else
        printf("# kept %s\n", dir);
    return tap_done();
}
