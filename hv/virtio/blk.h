/* virtio-blk (virtio 1.x device type 2) on a disk image of the block
 * layer (hv/block/block.h: raw or qcow2 with its backing chain).
 *
 * The machine (hv/machine.h) creates one device per --disk and carries it
 * on a virtio-pci function; the model sees only hv/virtio/device.h. Each
 * disk has its own I/O thread, so disk I/O never runs on a vCPU thread.
 * The monitor reads identity and counters through virtio_blk_info
 * (query-block, query-blockstats, virsh domblkstat). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/machine_config.h"   /* enum hv_disk_format */

struct blk_image;
struct guest_mem;
struct virtio_dev;

struct virtio_blk_config {
    const char *path;       /* image; opened read-write, or read-only when readonly */
    enum hv_disk_format format;     /* of the image; its backing files record theirs */
    bool readonly;          /* offer VIRTIO_BLK_F_RO; writes fail with IOERR */
    const char *serial;     /* GET_ID answer (up to 20 bytes); NULL = empty */
    const char *id;         /* monitor id, e.g. "virtio-disk0"; NULL = "virtio-disk0" */
    unsigned queues;        /* request queues (VIRTIO_BLK_F_MQ when > 1); 0 = 1 */
};

struct virtio_blk;

/* Open cfg->path and build the model on guest memory mem, reachable
 * through virtio_blk_dev (hv/virtio/device.h). No I/O thread yet: until
 * virtio_blk_start, queue notifications are processed on the caller's
 * thread (unit tests drive it that way). On error returns NULL and writes
 * a message naming the file and the cause into err. */
struct virtio_blk *virtio_blk_new_model(struct guest_mem *mem, const struct virtio_blk_config *cfg,
                                        char *err, size_t errlen);
struct virtio_dev *virtio_blk_dev(struct virtio_blk *blk);

/* Start the I/O thread (the device is on its transport). 0 or -errno. */
int virtio_blk_start(struct virtio_blk *blk, char *err, size_t errlen);

/* Out of service: stop the I/O thread, flush and close the image. */
void virtio_blk_stop(struct virtio_blk *blk);

/* Stop if needed and free the model. */
void virtio_blk_destroy(struct virtio_blk *blk);

struct virtio_blk_info {
    const char *id;         /* monitor id (device name) */
    const char *path;       /* image file */
    const struct blk_image *image;  /* format and backing chain (hv/block/block.h) */
    bool readonly;
    uint64_t size;          /* bytes (capacity = size / 512 sectors) */
    /* Completed requests since creation (virsh domblkstat: rd_req,
     * rd_bytes, wr_req, wr_bytes, flush ops). Failed requests count in
     * failed_ops only. */
    uint64_t rd_ops, rd_bytes;
    uint64_t wr_ops, wr_bytes;
    uint64_t flush_ops;
    uint64_t failed_ops;
};

/* Snapshot of identity and counters; safe from any thread. */
void virtio_blk_info(const struct virtio_blk *blk, struct virtio_blk_info *out);
