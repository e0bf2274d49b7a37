/* The block layer's generic part: opening an image and its backing chain,
 * range checks, and the I/O helpers the format drivers share; see block.h. */
#include "hv/block/block.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errbuf.h"
#include "common/log.h"
#include "common/qcow2_header.h"
#include "hv/block/driver.h"

#define BLK_MAX_CHAIN 256       /* a bound on open files, far beyond real chains */
#define BLK_CORRUPT_LOG_LINES 8

/* ---- iovec helpers ---- */

void iov_cursor_init(struct iov_cursor *c, const struct iovec *iov, unsigned niov)
{
    *c = (struct iov_cursor){ .iov = iov, .niov = niov };
}

uint64_t iov_cursor_take(struct iov_cursor *c, uint64_t len, struct iovec *out, unsigned *n,
                         unsigned cap)
{
    uint64_t taken = 0;
    while (taken < len && c->idx < c->niov) {
        size_t avail = c->iov[c->idx].iov_len - c->off;
        if (avail == 0) {
            c->idx++;
            c->off = 0;
            continue;
        }
        if (*n >= cap)
            break;
        size_t take = avail < len - taken ? avail : (size_t)(len - taken);
        out[(*n)++] = (struct iovec){ (uint8_t *)c->iov[c->idx].iov_base + c->off, take };
        c->off += take;
        taken += take;
    }
    return taken;
}

/* Advance by len bytes, zeroing them when zero is set. */
static void cursor_advance(struct iov_cursor *c, uint64_t len, bool zero)
{
    while (len && c->idx < c->niov) {
        size_t avail = c->iov[c->idx].iov_len - c->off;
        size_t take = avail < len ? avail : (size_t)len;
        if (zero)
            memset((uint8_t *)c->iov[c->idx].iov_base + c->off, 0, take);
        c->off += take;
        len -= take;
        if (c->off == c->iov[c->idx].iov_len) {
            c->idx++;
            c->off = 0;
        }
    }
}

void iov_cursor_zero(struct iov_cursor *c, uint64_t len) { cursor_advance(c, len, true); }
void iov_cursor_skip(struct iov_cursor *c, uint64_t len) { cursor_advance(c, len, false); }

/* ---- file I/O ---- */

/* Transfer with one syscall in the common case (iovecs of exactly len
 * bytes); otherwise, and after a short transfer (signal, end of file),
 * continue from a cursor, 64 iovecs at a time. */
static int file_rw(int fd, const struct iovec *iov, unsigned niov, uint64_t offset, uint64_t len,
                   bool write, bool zero_past_eof)
{
    uint64_t total = 0, done = 0;
    for (unsigned i = 0; i < niov; i++)
        total += iov[i].iov_len;
    if (total == len) {
        ssize_t r = write ? pwritev(fd, iov, (int)niov, (off_t)offset)
                          : preadv(fd, iov, (int)niov, (off_t)offset);
        if (r >= 0 && (uint64_t)r == len)
            return 0;
        if (r < 0 && errno != EINTR)
            return -errno;
        done = r > 0 ? (uint64_t)r : 0;
    }
    struct iov_cursor c;
    iov_cursor_init(&c, iov, niov);
    iov_cursor_skip(&c, done);
    while (done < len) {
        struct iovec chunk[64];
        unsigned n = 0;
        struct iov_cursor at = c;
        if (iov_cursor_take(&c, len - done, chunk, &n, 64) == 0)
            return -EINVAL;     /* the iovecs hold fewer than len bytes */
        ssize_t r = write ? pwritev(fd, chunk, (int)n, (off_t)(offset + done))
                          : preadv(fd, chunk, (int)n, (off_t)(offset + done));
        c = at;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0) {
            if (write || !zero_past_eof)
                return -EIO;
            iov_cursor_zero(&c, len - done);
            return 0;
        }
        done += (uint64_t)r;
        iov_cursor_skip(&c, (uint64_t)r);
    }
    return 0;
}

int blk_file_preadv(int fd, const struct iovec *iov, unsigned niov, uint64_t offset, uint64_t len,
                    bool zero_past_eof)
{
    return file_rw(fd, iov, niov, offset, len, false, zero_past_eof);
}

int blk_file_pwritev(int fd, const struct iovec *iov, unsigned niov, uint64_t offset, uint64_t len)
{
    return file_rw(fd, iov, niov, offset, len, true, false);
}

int blk_file_flush(int fd)
{
    while (fdatasync(fd) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

void blk_log_corrupt(struct blk_image *img, const char *fmt, ...)
{
    unsigned n = __atomic_fetch_add(&img->corrupt_logged, 1, __ATOMIC_RELAXED);
    if (n >= BLK_CORRUPT_LOG_LINES)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_error("%s: %s%s", img->path, msg,
              n + 1 == BLK_CORRUPT_LOG_LINES ? " (further metadata errors not logged)" : "");
}

int blk_read_backing(struct blk_image *img, const struct iovec *iov, unsigned niov,
                     uint64_t offset, uint64_t len)
{
    struct blk_image *b = img->backing;
    uint64_t in = 0;
    if (b && offset < b->size)
        in = b->size - offset < len ? b->size - offset : len;
    if (in) {
        int64_t r = b->drv->preadv(b, iov, niov, offset, in);
        if (r < 0)
            return (int)r;
    }
    if (in < len) {
        struct iov_cursor c;
        iov_cursor_init(&c, iov, niov);
        iov_cursor_skip(&c, in);
        iov_cursor_zero(&c, len - in);
    }
    return 0;
}

/* ---- opening ---- */

/* Open and lock one file, as virtio-blk always has: O_RDWR or O_RDONLY, a
 * regular file or block device, and an open-file-description lock over
 * the whole file, shared for read-only opens and exclusive otherwise, as
 * QEMU does (two writers corrupt an image; a writer under a reader
 * changes the reader's data). */
static int open_locked(const char *path, bool readonly, struct stat *st, char *err, size_t errlen)
{
    int fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
        errbuf_set(err, errlen, "%s: cannot open disk image%s: %s", path,
                   readonly ? " read-only" : " read-write", strerror(errno));
        return -1;
    }
    if (fstat(fd, st) < 0 || !(S_ISREG(st->st_mode) || S_ISBLK(st->st_mode))) {
        errbuf_set(err, errlen, "%s: not a regular file or block device", path);
        close(fd);
        return -1;
    }
    struct flock lk = { .l_type = readonly ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET };
    if (fcntl(fd, F_OFD_SETLK, &lk) < 0) {
        errbuf_set(err, errlen, "%s: disk image is in use by another process (%s lock: %s)", path,
                   readonly ? "shared" : "exclusive", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void close_one(struct blk_image *img)
{
    if (img->drv && img->priv)
        img->drv->close(img);
    if (img->fd >= 0)
        close(img->fd);
    free(img->path);
    free(img->backing_name);
    free(img->backing_format);
    free(img);
}

static struct blk_image *open_one(const char *path, enum hv_disk_format format, bool readonly,
                                  char *err, size_t errlen)
{
    struct blk_image *img = calloc(1, sizeof(*img));
    if (!img || !(img->path = strdup(path))) {
        free(img);
        errbuf_set(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    img->readonly = readonly;
    img->drv = format == HV_DISK_FORMAT_QCOW2 ? &blk_qcow2_driver : &blk_raw_driver;
    struct stat st;
    img->fd = open_locked(path, readonly, &st, err, errlen);
    if (img->fd < 0) {
        close_one(img);
        return NULL;
    }
    img->dev = st.st_dev;
    img->ino = st.st_ino;
    char inner[400];
    if (!img->drv->open(img, inner, sizeof(inner))) {
        errbuf_set(err, errlen, "%s: %s", path, inner);
        close_one(img);
        return NULL;
    }
    return img;
}

/* The backing file name as QEMU resolves it: an absolute name as is, a
 * relative one against the directory of the overlay's name as given
 * ("dir/top.qcow2" + "base" = "dir/base"). A "file:" prefix is the local
 * file protocol; other protocols (a ':' before any '/') are refused. */
static char *backing_path(const struct blk_image *top, char *err, size_t errlen)
{
    const char *name = top->backing_name;
    if (strncmp(name, "file:", 5) == 0)
        name += 5;
    size_t proto = strcspn(name, ":/");
    if (name[proto] == ':') {
        errbuf_set(err, errlen, "%s: backing file '%s' names protocol '%.*s'; hv opens local files only",
                   top->path, top->backing_name, (int)proto, name);
        return NULL;
    }
    const char *slash = strrchr(top->path, '/');
    size_t dir = name[0] == '/' || !slash ? 0 : (size_t)(slash - top->path) + 1;
    char *p = malloc(dir + strlen(name) + 1);
    if (!p) {
        errbuf_set(err, errlen, "%s: out of memory", top->path);
        return NULL;
    }
    memcpy(p, top->path, dir);
    strcpy(p + dir, name);
    return p;
}

/* The backing format recorded in the overlay, or, when none is recorded,
 * the one QEMU 7.2 would probe for an image it opens (qcow2 magic, else
 * raw), said in the log with the command that records it. */
static bool backing_format(const struct blk_image *top, const char *path,
                           enum hv_disk_format *out, char *err, size_t errlen)
{
    if (top->backing_format) {
        if (!hv_disk_format_parse(top->backing_format, out)) {
            errbuf_set(err, errlen, "%s: backing file %s has format '%s'; hv supports raw and qcow2",
                       top->path, path, top->backing_format);
            return false;
        }
        return true;
    }
    uint8_t magic[4] = { 0 };
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errbuf_set(err, errlen, "%s: cannot open backing file %s: %s", top->path, path, strerror(errno));
        return false;
    }
    ssize_t r = pread(fd, magic, sizeof(magic), 0);
    close(fd);
    *out = r == (ssize_t)sizeof(magic) && qcow2_header_probe(magic, sizeof(magic))
               ? HV_DISK_FORMAT_QCOW2 : HV_DISK_FORMAT_RAW;
    log_warn("%s: the image records no format for its backing file %s; probed as %s, as QEMU does. "
             "Record it: qemu-img rebase -u -b '%s' -F %s '%s'", top->path, path,
             hv_disk_format_name(*out), top->backing_name, hv_disk_format_name(*out), top->path);
    return true;
}

struct blk_image *blk_image_open(const char *path, enum hv_disk_format format, bool readonly,
                                 char *err, size_t errlen)
{
    struct blk_image *top = open_one(path, format, readonly, err, errlen);
    unsigned depth = 0;
    for (struct blk_image *img = top; img && img->backing_name; img = img->backing) {
        if (++depth >= BLK_MAX_CHAIN) {
            errbuf_set(err, errlen, "%s: backing chain longer than %d images", path, BLK_MAX_CHAIN);
            goto fail;
        }
        char *bpath = backing_path(img, err, errlen);
        enum hv_disk_format bfmt;
        if (!bpath || !backing_format(img, bpath, &bfmt, err, errlen)) {
            free(bpath);
            goto fail;
        }
        /* Before opening: a loop would otherwise show as a lock conflict
         * with the image's own read-write open. */
        struct stat st;
        for (struct blk_image *up = top; stat(bpath, &st) == 0 && up; up = up->backing) {
            if (up->dev == st.st_dev && up->ino == st.st_ino) {
                errbuf_set(err, errlen, "%s: backing chain loops: %s is %s again", path, bpath,
                           up->path);
                free(bpath);
                goto fail;
            }
        }
        char inner[512];
        img->backing = open_one(bpath, bfmt, true, inner, sizeof(inner));
        free(bpath);
        if (!img->backing) {
            errbuf_set(err, errlen, "%s: backing file: %s", img->path, inner);
            goto fail;
        }
    }
    return top;
fail:
    blk_image_close(top);
    return NULL;
}

void blk_image_close(struct blk_image *img)
{
    while (img) {
        struct blk_image *next = img->backing;
        if (!img->readonly) {
            int r = img->drv->flush(img);
            if (r < 0)
                log_error("%s: flush at close failed: %s", img->path, strerror(-r));
        }
        close_one(img);
        img = next;
    }
}

/* ---- requests ---- */

static bool request_ok(const struct blk_image *img, unsigned niov, uint64_t offset, uint64_t len)
{
    return niov <= BLK_MAX_IOV && offset <= img->size && len <= img->size - offset;
}

int64_t blk_image_preadv(struct blk_image *img, const struct iovec *iov, unsigned niov,
                         uint64_t offset, uint64_t len)
{
    if (!request_ok(img, niov, offset, len))
        return -EINVAL;
    return len ? img->drv->preadv(img, iov, niov, offset, len) : 0;
}

int64_t blk_image_pwritev(struct blk_image *img, const struct iovec *iov, unsigned niov,
                          uint64_t offset, uint64_t len)
{
    if (img->readonly)
        return -EROFS;
    if (!request_ok(img, niov, offset, len))
        return -EINVAL;
    return len ? img->drv->pwritev(img, iov, niov, offset, len) : 0;
}

int blk_image_flush(struct blk_image *img)
{
    return img->readonly ? 0 : img->drv->flush(img);
}

uint64_t blk_image_size(const struct blk_image *img) { return img->size; }
const char *blk_image_path(const struct blk_image *img) { return img->path; }
const char *blk_image_format_name(const struct blk_image *img) { return img->drv->name; }
bool blk_image_readonly(const struct blk_image *img) { return img->readonly; }
struct blk_image *blk_image_backing(const struct blk_image *img) { return img->backing; }
const char *blk_image_backing_name(const struct blk_image *img) { return img->backing_name; }
const char *blk_image_backing_format(const struct blk_image *img) { return img->backing_format; }

void blk_image_info(const struct blk_image *img, struct blk_image_info *out)
{
    memset(out, 0, sizeof(*out));
    if (img->drv->info)
        img->drv->info(img, out);
}

int64_t blk_image_actual_size(const struct blk_image *img)
{
    struct stat st;
    return fstat(img->fd, &st) < 0 ? -1 : (int64_t)st.st_blocks * 512;
}
