/* The raw format: the file is the disk. Requests go straight to
 * preadv/pwritev on the file (no lock: they are positioned and
 * independent), flush is fdatasync. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "common/errbuf.h"
#include "hv/block/driver.h"

static bool raw_open(struct blk_image *img, char *err, size_t errlen)
{
    off_t end = lseek(img->fd, 0, SEEK_END);
    if (end < 0) {
        errbuf_set(err, errlen, "cannot determine size: %s", strerror(errno));
        return false;
    }
    img->size = (uint64_t)end;
    return true;
}

static void raw_close(struct blk_image *img) { (void)img; }

static int64_t raw_preadv(struct blk_image *img, const struct iovec *iov, unsigned niov,
                          uint64_t offset, uint64_t len)
{
    /* A file that shrank under us reads as an error, not as zeros. */
    int r = blk_file_preadv(img->fd, iov, niov, offset, len, false);
    return r < 0 ? r : (int64_t)len;
}

static int64_t raw_pwritev(struct blk_image *img, const struct iovec *iov, unsigned niov,
                           uint64_t offset, uint64_t len)
{
    int r = blk_file_pwritev(img->fd, iov, niov, offset, len);
    return r < 0 ? r : (int64_t)len;
}

static int raw_flush(struct blk_image *img) { return blk_file_flush(img->fd); }

const struct blk_driver blk_raw_driver = {
    .name = "raw",
    .open = raw_open,
    .close = raw_close,
    .preadv = raw_preadv,
    .pwritev = raw_pwritev,
    .flush = raw_flush,
};
