/* virtio-blk request processing, driven through device.h against fake
 * guest memory and a temporary image (no PCI, no KVM, no I/O thread). */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hv/guest_mem.h"
#include "hv/virtio/blk.h"
#include "hv/virtio/device.h"
#include "tests/tap.h"

#define RAM_GPA 0x100000ull
#define RAM_SIZE (1u << 20)
#define DESC_OFF 0x0000
#define AVAIL_OFF 0x1000
#define USED_OFF 0x2000
#define HDR_OFF 0x3000
#define STATUS_OFF 0x3100
#define DATA_OFF 0x10000
#define QSIZE 16
#define DISK_SECTORS 2048

static uint8_t *ram;
static struct guest_mem gm;
static struct virtio_blk *blk;
static struct virtio_dev *dev;
static uint16_t avail_idx;
static int queue_irqs, config_irqs;

static void fake_irq_queue(struct virtio_dev *d, unsigned q) { (void)d, (void)q; queue_irqs++; }
static void fake_irq_config(struct virtio_dev *d) { (void)d; config_irqs++; }
static const struct virtio_transport_ops fake_transport = {
    .interrupt_queue = fake_irq_queue,
    .interrupt_config = fake_irq_config,
};

static uint64_t gpa(uint32_t off) { return RAM_GPA + off; }

static void set_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    uint8_t *d = ram + DESC_OFF + 16u * i;
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

static struct virtio_blk *open_model(const char *path, bool readonly)
{
    char err[256] = "";
    struct virtio_blk_config cfg = { .path = path, .readonly = readonly,
                                     .serial = "hvd-serial-0123456789", .id = "disk0" };
    cfg.serial = "HVDSERIAL01234567890";  /* exactly 20 bytes: no NUL */
    struct virtio_blk *b = virtio_blk_new_model(&gm, &cfg, err, sizeof(err));
    if (!b)
        printf("# %s\n", err);
    return b;
}

/* Program queue 0 and bring the device to DRIVER_OK as a driver would. */
static void attach(struct virtio_blk *b)
{
    blk = b;
    dev = virtio_blk_dev(b);
    dev->transport = &fake_transport;
    memset(ram, 0, RAM_SIZE);
    avail_idx = 0;
    queue_irqs = config_irqs = 0;
    dev->guest_features = dev->host_features & ~(1ull << VIRTIO_F_EVENT_IDX);
    struct virtq *vq = &dev->queues[0];
    vq->size = QSIZE;
    vq->desc_gpa = gpa(DESC_OFF);
    vq->avail_gpa = gpa(AVAIL_OFF);
    vq->used_gpa = gpa(USED_OFF);
    virtq_start(vq, dev->guest_features);
    dev->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                  VIRTIO_STATUS_DRIVER_OK;
}

static void kick(uint16_t head)
{
    memcpy(ram + AVAIL_OFF + 4 + 2 * (avail_idx % QSIZE), &head, 2);
    avail_idx++;
    memcpy(ram + AVAIL_OFF + 2, &avail_idx, 2);
    dev->ops->queue_notify(dev, 0);
}

static uint16_t used_idx(void) { uint16_t v; memcpy(&v, ram + USED_OFF + 2, 2); return v; }
static uint32_t last_used_len(void)
{
    uint32_t v;
    memcpy(&v, ram + USED_OFF + 4 + 8 * ((used_idx() - 1) % QSIZE) + 4, 4);
    return v;
}

/* header, one data buffer (writable for reads), status byte. */
static int submit(uint32_t type, uint64_t sector, uint32_t data_len, bool data_writable)
{
    uint8_t hdr[16] = { 0 };
    memcpy(hdr, &type, 4);
    memcpy(hdr + 8, &sector, 8);
    memcpy(ram + HDR_OFF, hdr, 16);
    ram[STATUS_OFF] = 0xEE;
    uint16_t before = used_idx();
    if (data_len) {
        set_desc(0, gpa(HDR_OFF), 16, VIRTQ_DESC_F_NEXT, 1);
        set_desc(1, gpa(DATA_OFF), data_len,
                 VIRTQ_DESC_F_NEXT | (data_writable ? VIRTQ_DESC_F_WRITE : 0), 2);
    } else {
        set_desc(0, gpa(HDR_OFF), 16, VIRTQ_DESC_F_NEXT, 2);
    }
    set_desc(2, gpa(STATUS_OFF), 1, VIRTQ_DESC_F_WRITE, 0);
    kick(0);
    if (used_idx() != (uint16_t)(before + 1))
        return -1;
    return ram[STATUS_OFF];
}

static char *make_image(void)
{
    char *path = strdup("/tmp/test-virtio-blk-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    uint8_t sector[512];
    for (unsigned s = 0; s < DISK_SECTORS; s++) {
        memset(sector, (uint8_t)s, sizeof(sector));
        if (write(fd, sector, sizeof(sector)) != sizeof(sector))
            return NULL;
    }
    close(fd);
    return path;
}

static int file_byte(const char *path, uint64_t off)
{
    int fd = open(path, O_RDONLY);
    uint8_t b = 0;
    ssize_t r = pread(fd, &b, 1, (off_t)off);
    close(fd);
    return r == 1 ? b : -1;
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return false;
    return true;
}

static void test_config(void)
{
    uint64_t capacity = 0;
    uint32_t seg_max = 0, blk_size = 0;
    dev->ops->config_read(dev, 0x00, &capacity, 8);
    dev->ops->config_read(dev, 0x0C, &seg_max, 4);
    dev->ops->config_read(dev, 0x14, &blk_size, 4);
    TAP_EQ_U64(capacity, DISK_SECTORS, "config: capacity in 512-byte sectors");
    TAP_EQ_U64(seg_max, 254, "config: seg_max = queue size - 2");
    TAP_EQ_U64(blk_size, 512, "config: blk_size");
    TAP_EQ_U64(dev->device_type, VIRTIO_ID_BLOCK, "device type 2");
    uint64_t want = (1ull << 2) | (1ull << 6) | (1ull << 9) | (1ull << VIRTIO_F_VERSION_1) |
                    (1ull << VIRTIO_F_INDIRECT_DESC) | (1ull << VIRTIO_F_EVENT_IDX);
    TAP_EQ_U64(dev->host_features, want, "features: SEG_MAX BLK_SIZE FLUSH + ring bits, no RO");
}

static void test_requests(const char *path)
{
    TAP_EQ_U64(submit(0, 3, 1024, true), 0, "IN: status OK");
    TAP_CHECK(all_bytes(ram + DATA_OFF, 512, 3) && all_bytes(ram + DATA_OFF + 512, 512, 4),
              "IN: sectors 3 and 4 landed in guest memory");
    TAP_EQ_U64(last_used_len(), 1025, "IN: used len = data + status");
    TAP_EQ_U64(queue_irqs, 1, "IN: one used-buffer interrupt");

    memset(ram + DATA_OFF, 0xAB, 512);
    TAP_EQ_U64(submit(1, 10, 512, false), 0, "OUT: status OK");
    TAP_EQ_U64(file_byte(path, 10 * 512), 0xAB, "OUT: data reached the image");
    TAP_EQ_U64(file_byte(path, 11 * 512), 11, "OUT: next sector untouched");
    TAP_EQ_U64(last_used_len(), 1, "OUT: used len = status only");

    TAP_EQ_U64(submit(4, 0, 0, false), 0, "FLUSH: status OK");

    memset(ram + DATA_OFF, 0x55, 32);
    TAP_EQ_U64(submit(8, 0, 20, true), 0, "GET_ID: status OK");
    TAP_CHECK(memcmp(ram + DATA_OFF, "HVDSERIAL01234567890", 20) == 0 && ram[DATA_OFF + 20] == 0x55,
              "GET_ID: 20 serial bytes, nothing past them");
    TAP_EQ_U64(last_used_len(), 21, "GET_ID: used len");

    memset(ram + DATA_OFF, 0x77, 1024);
    TAP_EQ_U64(submit(0, DISK_SECTORS - 1, 1024, true), 1, "IN past capacity: IOERR");
    TAP_CHECK(all_bytes(ram + DATA_OFF, 1024, 0x77), "IN past capacity: buffer untouched");
    TAP_EQ_U64(submit(0, 1ull << 60, 512, true), 1, "IN at a huge sector: IOERR (no overflow)");
    TAP_EQ_U64(submit(1, DISK_SECTORS, 512, false), 1, "OUT past capacity: IOERR");
    TAP_EQ_U64(submit(1, 0, 100, false), 1, "OUT of a partial sector: IOERR");
    TAP_EQ_U64(submit(0, DISK_SECTORS - 1, 512, true), 0, "IN of the last sector: OK");
    TAP_EQ_U64(submit(99, 0, 0, false), 2, "unknown type: UNSUPP");

    /* Header split over two descriptors, data in two buffers. */
    uint32_t type = 0;
    uint64_t sector = 7;
    memcpy(ram + HDR_OFF, &type, 4);
    memcpy(ram + HDR_OFF + 8, &sector, 8);
    set_desc(5, gpa(HDR_OFF), 8, VIRTQ_DESC_F_NEXT, 6);
    set_desc(6, gpa(HDR_OFF + 8), 8, VIRTQ_DESC_F_NEXT, 7);
    set_desc(7, gpa(DATA_OFF), 256, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 8);
    set_desc(8, gpa(DATA_OFF + 0x1000), 256, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 9);
    set_desc(9, gpa(STATUS_OFF), 1, VIRTQ_DESC_F_WRITE, 0);
    ram[STATUS_OFF] = 0xEE;
    kick(5);
    TAP_CHECK(ram[STATUS_OFF] == 0 && all_bytes(ram + DATA_OFF, 256, 7) &&
              all_bytes(ram + DATA_OFF + 0x1000, 256, 7), "split header and data: OK");

    struct virtio_blk_info info;
    virtio_blk_info(blk, &info);
    TAP_CHECK(info.rd_ops == 3 && info.rd_bytes == 1024 + 512 + 512, "info: read counters");
    TAP_CHECK(info.wr_ops == 1 && info.wr_bytes == 512, "info: write counters");
    TAP_EQ_U64(info.flush_ops, 1, "info: flush counter");
    TAP_EQ_U64(info.failed_ops, 5, "info: failed requests");
    TAP_CHECK(info.size == DISK_SECTORS * 512ull && !info.readonly && strcmp(info.id, "disk0") == 0 &&
              strcmp(info.path, path) == 0, "info: identity");
    TAP_EQ_U64(dev->status & VIRTIO_STATUS_NEEDS_RESET, 0, "good requests never need reset");
}

static void test_malformed(void)
{
    /* 8-byte header then status: not a request. */
    set_desc(0, gpa(HDR_OFF), 8, VIRTQ_DESC_F_NEXT, 1);
    set_desc(1, gpa(STATUS_OFF), 1, VIRTQ_DESC_F_WRITE, 0);
    ram[STATUS_OFF] = 0xEE;
    uint16_t before = used_idx();
    kick(0);
    TAP_CHECK(dev->queues[0].broken && (dev->status & VIRTIO_STATUS_NEEDS_RESET) && config_irqs == 1,
              "short header: queue broken, NEEDS_RESET, config interrupt");
    TAP_CHECK(used_idx() == before && ram[STATUS_OFF] == 0xEE, "short header: nothing completed");
    TAP_EQ_U64(submit(0, 0, 512, true), (uint64_t)-1, "broken queue processes nothing more");

    /* After a reset the device works again. */
    dev->ops->reset(dev);
    virtq_reset(&dev->queues[0]);
    dev->status = 0;
    attach(blk);
    TAP_EQ_U64(submit(0, 1, 512, true), 0, "after reset: requests work again");

    /* No writable status byte. */
    set_desc(0, gpa(HDR_OFF), 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(1, gpa(DATA_OFF), 512, 0, 0);
    kick(0);
    TAP_CHECK(dev->queues[0].broken && (dev->status & VIRTIO_STATUS_NEEDS_RESET),
              "no status byte: queue broken");

    /* Before DRIVER_OK nothing is processed. */
    attach(blk);
    dev->status &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
    TAP_EQ_U64(submit(0, 0, 512, true), (uint64_t)-1, "no processing before DRIVER_OK");
}

static void test_readonly(const char *path)
{
    struct virtio_blk *ro = open_model(path, true);
    TAP_CHECK(ro != NULL, "read-only model opens");
    if (!ro)
        return;
    attach(ro);
    TAP_CHECK(dev->host_features & (1ull << 5), "read-only: VIRTIO_BLK_F_RO offered");
    memset(ram + DATA_OFF, 0xCD, 512);
    TAP_EQ_U64(submit(1, 5, 512, false), 1, "read-only: OUT gets IOERR");
    TAP_EQ_U64(file_byte(path, 5 * 512), 5, "read-only: image unchanged");
    TAP_EQ_U64(submit(0, 5, 512, true), 0, "read-only: IN works");
    TAP_EQ_U64(submit(4, 0, 0, false), 0, "read-only: FLUSH OK");
    virtio_blk_destroy(ro);
}

static void test_open_errors(const char *path)
{
    char err[256] = "";
    struct virtio_blk_config cfg = { .path = "/nonexistent/disk.img" };
    TAP_CHECK(!virtio_blk_new_model(&gm, &cfg, err, sizeof(err)) &&
              strstr(err, "/nonexistent/disk.img") && strstr(err, "No such file"),
              "missing image: error names file and cause");
    cfg.path = path;  /* already open read-write by the first model */
    TAP_CHECK(!virtio_blk_new_model(&gm, &cfg, err, sizeof(err)) && strstr(err, "in use"),
              "image locked by another writer is refused");
    printf("# %s\n", err);
    cfg.serial = "a-serial-longer-than-twenty";
    cfg.path = "/dev/null";
    TAP_CHECK(!virtio_blk_new_model(&gm, &cfg, err, sizeof(err)) && strstr(err, "serial"),
              "overlong serial refused");
}

int main(void)
{
    ram = aligned_alloc(4096, RAM_SIZE);
    char *img = make_image(), *img_ro = make_image();
    if (!ram || !img || !img_ro || !gm_add_region(&gm, RAM_GPA, RAM_SIZE, ram))
        return 99;
    struct virtio_blk *b = open_model(img, false);
    TAP_CHECK(b != NULL, "model opens the image");
    if (!b)
        return tap_done();
    attach(b);
    test_config();
    test_requests(img);
    test_open_errors(img);
    test_malformed();
    test_readonly(img_ro);
    virtio_blk_destroy(b);
    unlink(img);
    unlink(img_ro);
    free(img);
    free(img_ro);
    free(ram);
    return tap_done();
}
