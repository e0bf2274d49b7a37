/* hv's block layer: a disk image is a format driver (raw, qcow2) plus its
 * backing chain, so that virtio-blk reads and writes guest sectors and
 * never knows the format (docs/block.md).
 *
 * Calls on one image may come from several threads (a device's queues);
 * each driver serialises what needs it. Requests never allocate: the
 * drivers preallocate their caches and buffers at open. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "hv/machine_config.h"   /* enum hv_disk_format */

/* Most iovecs one request may carry (the drivers' scratch arrays hold
 * this many plus two for copy-on-write pieces). */
#define BLK_MAX_IOV 1022

struct blk_image;

/* Open path as format (read-only when readonly), then its backing chain,
 * every backing file read-only. Each file gets an open-file-description
 * lock, shared when read-only and exclusive otherwise, so two writers
 * never share an image. On error returns NULL with one line in err naming
 * the file and the problem. */
struct blk_image *blk_image_open(const char *path, enum hv_disk_format format, bool readonly,
                                 char *err, size_t errlen);

/* Flush what is pending (read-write images), close the chain, free. */
void blk_image_close(struct blk_image *img);

/* Virtual disk size in bytes. */
uint64_t blk_image_size(const struct blk_image *img);

/* Read or write len bytes at offset (inside the disk) through niov
 * iovecs that hold at least len bytes. Returns len, or -errno: -EINVAL
 * for a range outside the disk or too many iovecs, -EROFS for a write to
 * a read-only image, -EIO for an image whose metadata is corrupt or uses
 * something hv does not support (logged once per cause). */
int64_t blk_image_preadv(struct blk_image *img, const struct iovec *iov, unsigned niov,
                         uint64_t offset, uint64_t len);
int64_t blk_image_pwritev(struct blk_image *img, const struct iovec *iov, unsigned niov,
                          uint64_t offset, uint64_t len);

/* Make every completed write durable (metadata included): 0 or -errno. */
int blk_image_flush(struct blk_image *img);

const char *blk_image_path(const struct blk_image *img);    /* as opened */
const char *blk_image_format_name(const struct blk_image *img);  /* "raw", "qcow2" */
bool blk_image_readonly(const struct blk_image *img);
/* Bytes the file occupies on the host (st_blocks), -1 unknown. */
int64_t blk_image_actual_size(const struct blk_image *img);
/* Format details, for the monitor (query-block "image"). */
struct blk_image_info {
    uint32_t cluster_size;          /* 0: the format has no clusters (raw) */
    /* qcow2 only */
    uint32_t qcow2_version;         /* 2 ("compat 0.10") or 3 ("1.1") */
    uint32_t refcount_bits;
    bool lazy_refcounts, corrupt;
    const char *compression_type;   /* "zlib", "zstd" */
};
void blk_image_info(const struct blk_image *img, struct blk_image_info *out);
/* The next image in the chain, NULL at the end. */
struct blk_image *blk_image_backing(const struct blk_image *img);
/* The backing file name as recorded in the image (NULL when none) and
 * its recorded format (NULL when the image records none). */
const char *blk_image_backing_name(const struct blk_image *img);
const char *blk_image_backing_format(const struct blk_image *img);
