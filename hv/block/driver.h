/* Inside the block layer: what a format driver implements and the
 * helpers block.c gives it. Nothing outside hv/block includes this. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "hv/block/block.h"

struct blk_driver {
    const char *name;
    /* Parse the file (img->fd is open and locked), set img->size and,
     * for formats with backing files, img->backing_name/backing_format.
     * Returns false with err filled. */
    bool (*open)(struct blk_image *img, char *err, size_t errlen);
    void (*close)(struct blk_image *img);
    /* Called with offset/len inside the disk and niov <= BLK_MAX_IOV. */
    int64_t (*preadv)(struct blk_image *img, const struct iovec *iov, unsigned niov,
                      uint64_t offset, uint64_t len);
    int64_t (*pwritev)(struct blk_image *img, const struct iovec *iov, unsigned niov,
                       uint64_t offset, uint64_t len);
    int (*flush)(struct blk_image *img);
    void (*info)(const struct blk_image *img, struct blk_image_info *out);   /* optional */
};

extern const struct blk_driver blk_raw_driver;
extern const struct blk_driver blk_qcow2_driver;

struct blk_image {
    const struct blk_driver *drv;
    char *path;
    int fd;
    bool readonly;
    uint64_t size;
    dev_t dev;                  /* identity, for loops in backing chains */
    ino_t ino;
    char *backing_name;         /* as recorded; NULL when none */
    char *backing_format;       /* as recorded; NULL when none */
    struct blk_image *backing;
    void *priv;                 /* the driver's state */
    unsigned corrupt_logged;    /* log lines about bad metadata so far */
};

/* Read len bytes at offset of the backing chain below img into the iovecs:
 * zeros where there is no backing image or past its end. 0 or -errno. */
int blk_read_backing(struct blk_image *img, const struct iovec *iov, unsigned niov,
                     uint64_t offset, uint64_t len);

/* Full-length preadv/pwritev on fd: retries short transfers and EINTR.
 * A read that hits the end of the file fills the rest with zeros when
 * zero_past_eof, else fails with -EIO. Returns 0 or -errno. */
int blk_file_preadv(int fd, const struct iovec *iov, unsigned niov, uint64_t offset, uint64_t len,
                    bool zero_past_eof);
int blk_file_pwritev(int fd, const struct iovec *iov, unsigned niov, uint64_t offset, uint64_t len);
int blk_file_flush(int fd);

/* Log a problem found in the image's metadata (first few per image only,
 * so a guest rereading a bad sector does not flood the log). */
void blk_log_corrupt(struct blk_image *img, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A cursor over an iovec array: take the next len bytes as iovecs, or
 * fill them with zeros, without modifying the array. */
struct iov_cursor {
    const struct iovec *iov;
    unsigned niov, idx;
    size_t off;                 /* into iov[idx] */
};
void iov_cursor_init(struct iov_cursor *c, const struct iovec *iov, unsigned niov);
/* Append up to the next len bytes to out[*n..cap); returns the bytes
 * taken, fewer than len when cap is reached or the iovecs end. */
uint64_t iov_cursor_take(struct iov_cursor *c, uint64_t len, struct iovec *out, unsigned *n,
                         unsigned cap);
void iov_cursor_zero(struct iov_cursor *c, uint64_t len);
void iov_cursor_skip(struct iov_cursor *c, uint64_t len);
