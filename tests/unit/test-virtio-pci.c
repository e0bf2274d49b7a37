/* virtio-pci transport end to end: a virtio-blk function on the real PCI
 * core and bus (a test VM without KVM), driven the way Linux's
 * virtio_pci_modern driver does it: capability walk, reset, feature
 * negotiation (and its rejection), queue programming, DRIVER_OK, kicks
 * through the notify region, completions from the I/O thread, INTx + ISR,
 * MSI-X vector read-back and masking, NEEDS_RESET, PCI_CFG window.
 * Then, on a real in-kernel irqchip when /dev/kvm allows one, the queue
 * irqfds handed to vhost (virtio_pci_queue_irqfd) and their notifier. */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hv/bus.h"
#include "hv/pci/pci.h"
#include "hv/state.h"
#include "hv/virtio/blk.h"
#include "hv/virtio/device.h"
#include "hv/virtio/pci.h"
#include "hv/vm.h"
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

static struct vm *vm;
static uint8_t *ram;
static unsigned slot;
static uint64_t bar4, bar1;
static uint16_t avail_idx;

static uint32_t cfg_rd(unsigned reg, unsigned len)
{
    return pci_cfg_read(vm, (slot << 11) | (reg & ~3u), reg & 3u, len);
}

static void cfg_wr(unsigned reg, unsigned len, uint32_t v)
{
    pci_cfg_write(vm, (slot << 11) | (reg & ~3u), reg & 3u, len, v);
}

static uint64_t mmio_rd(uint64_t addr, unsigned len)
{
    uint8_t d[8] = { 0 };
    bus_dispatch(vm->bus, BUS_MMIO, addr, d, len, false);
    uint64_t v = 0;
    memcpy(&v, d, len);
    return v;
}

static void mmio_wr(uint64_t addr, unsigned len, uint64_t v)
{
    uint8_t d[8];
    memcpy(d, &v, 8);
    bus_dispatch(vm->bus, BUS_MMIO, addr, d, len, true);
}

/* Common config accessors. */
static uint64_t cc_rd(unsigned off, unsigned len) { return mmio_rd(bar4 + off, len); }
static void cc_wr(unsigned off, unsigned len, uint64_t v) { mmio_wr(bar4 + off, len, v); }

static uint64_t gpa(uint32_t off) { return RAM_GPA + off; }

static void set_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    uint8_t *d = ram + DESC_OFF + 16u * i;
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

static uint16_t used_idx(void)
{
    return __atomic_load_n((uint16_t *)(void *)(ram + USED_OFF + 2), __ATOMIC_ACQUIRE);
}

/* Post a read of `sector` (512 bytes) and kick through the notify region;
 * wait for the I/O thread to complete it. Returns the status or -1. */
static int read_sector(uint64_t sector, bool short_header)
{
    uint32_t type = 0;
    memcpy(ram + HDR_OFF, &type, 4);
    memcpy(ram + HDR_OFF + 8, &sector, 8);
    ram[STATUS_OFF] = 0xEE;
    set_desc(0, gpa(HDR_OFF), short_header ? 8 : 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(1, gpa(DATA_OFF), 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    set_desc(2, gpa(STATUS_OFF), 1, VIRTQ_DESC_F_WRITE, 0);
    uint16_t before = used_idx();
    uint16_t head = 0;
    memcpy(ram + AVAIL_OFF + 4 + 2 * (avail_idx % QSIZE), &head, 2);
    avail_idx++;
    __atomic_store_n((uint16_t *)(void *)(ram + AVAIL_OFF + 2), avail_idx, __ATOMIC_RELEASE);
    mmio_wr(bar4 + VIRTIO_PCI_NOTIFY_OFF + 0 * VIRTIO_PCI_NOTIFY_MULT, 2, 0);
    for (int i = 0; i < 200 && used_idx() == before; i++)
        usleep(5000);
    return used_idx() == before ? -1 : ram[STATUS_OFF];
}

static void wait_status_bit(uint8_t bit)
{
    for (int i = 0; i < 200 && !(cc_rd(0x14, 1) & bit); i++)
        usleep(5000);
}

/* Find a virtio vendor capability of cfg_type; returns its config offset. */
static unsigned find_vcap(uint8_t type)
{
    for (unsigned p = cfg_rd(0x34, 1), n = 0; p && n < 48; p = cfg_rd(p + 1, 1), n++)
        if (cfg_rd(p, 1) == 0x09 && cfg_rd(p + 3, 1) == type)
            return p;
    return 0;
}

static unsigned find_cap(uint8_t id)
{
    for (unsigned p = cfg_rd(0x34, 1), n = 0; p && n < 48; p = cfg_rd(p + 1, 1), n++)
        if (cfg_rd(p, 1) == id)
            return p;
    return 0;
}

static void program_queue(void)
{
    cc_wr(0x16, 2, 0);                      /* queue_select */
    cc_wr(0x18, 2, QSIZE);
    cc_wr(0x20, 4, gpa(DESC_OFF));
    cc_wr(0x24, 4, 0);
    cc_wr(0x28, 4, gpa(AVAIL_OFF));
    cc_wr(0x2C, 4, 0);
    cc_wr(0x30, 4, gpa(USED_OFF));
    cc_wr(0x34, 4, 0);
    cc_wr(0x1C, 2, 1);                      /* queue_enable */
}

static void negotiate(uint64_t features)
{
    cc_wr(0x14, 1, 0);
    cc_wr(0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE);
    cc_wr(0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    cc_wr(0x08, 4, 0);
    cc_wr(0x0C, 4, (uint32_t)features);
    cc_wr(0x08, 4, 1);
    cc_wr(0x0C, 4, (uint32_t)(features >> 32));
    cc_wr(0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
}

static const uint8_t DRIVER_OK_ALL = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;

/* ---- queue irqfds for vhost (pci.h virtio_pci_queue_irqfd) ---- */

static unsigned irqfd_notified;
static void count_notify(struct virtio_dev *dev) { (void)dev; irqfd_notified++; }
static const struct virtio_dev_ops bare_ops = { .irqfds_changed = count_notify };

/* A KVM VM fd with an in-kernel irqchip, so MSI routes and irqfds work
 * (no vCPUs, nothing runs); -1 when this host cannot make one. */
static int kvm_irqchip_vm(void)
{
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        return -1;
    int fd = ioctl(kvm, KVM_CREATE_VM, 0);
    close(kvm);
    if (fd >= 0 && ioctl(fd, KVM_CREATE_IRQCHIP, 0) < 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void test_queue_irqfds(void)
{
    int vm_fd = kvm_irqchip_vm();
    if (vm_fd < 0) {
        printf("ok %d - # SKIP no KVM VM with an irqchip here (queue irqfds)\n", ++tap_count);
        return;
    }
    vm = vm_create_for_test();
    if (!vm || pci_bus_create(vm) < 0) {
        TAP_CHECK(false, "second test VM");
        return;
    }
    vm->vm_fd = vm_fd;
    static struct virtq queues[2];
    static struct virtio_dev dev;
    dev = (struct virtio_dev){ .device_type = VIRTIO_ID_NET, .name = "bare0", .num_queues = 2,
                               .queues = queues, .ops = &bare_ops };
    for (unsigned q = 0; q < 2; q++) {
        virtq_init(&queues[q], &vm->mem, "bare0", q, 16);
        queues[q].kick_fd = -1;
    }
    char err[256] = "";
    struct virtio_pci *vp = virtio_pci_create(vm, &dev, 3, err, sizeof(err));
    TAP_CHECK(vp != NULL, "bare virtio function with 3 vectors (%s)", err);
    if (!vp)
        return;
    slot = virtio_pci_slot(vp);
    bar1 = cfg_rd(0x14, 4) & ~0xFull;
    bar4 = (cfg_rd(0x20, 4) & ~0xFull) | ((uint64_t)cfg_rd(0x24, 4) << 32);
    cfg_wr(0x04, 2, 0x0006);
    unsigned msix = find_cap(0x11);

    /* Queue 0 -> vector 1, queue 1 -> vector 2; MSI-X still off (INTx). */
    cc_wr(0x16, 2, 0); cc_wr(0x1A, 2, 1);
    cc_wr(0x16, 2, 1); cc_wr(0x1A, 2, 2);
    TAP_CHECK(irqfd_notified >= 2, "queue_msix_vector writes notify (%u)", irqfd_notified);
    TAP_CHECK(virtio_pci_queue_irqfd(vp, 0) < 0 && virtio_pci_queue_irqfd(vp, 1) < 0,
              "MSI-X off (INTx): no queue irqfd, the userspace path sets ISR");
    cfg_wr(msix + 2, 2, 0x8000);
    TAP_CHECK(virtio_pci_queue_irqfd(vp, 0) < 0, "MSI-X on but vector 1 masked: no irqfd");
    for (unsigned v = 1; v <= 2; v++) {
        mmio_wr(bar1 + 16 * v + 0, 4, 0xFEE00000);
        mmio_wr(bar1 + 16 * v + 8, 4, 0x40 + v);
    }
    unsigned before = irqfd_notified;
    mmio_wr(bar1 + 16 + 12, 4, 0);   /* unmask vector 1 */
    int fd0 = virtio_pci_queue_irqfd(vp, 0);
    TAP_CHECK(fd0 >= 0, "vector 1 unmasked: queue 0 has an irqfd (%d)", fd0);
    TAP_CHECK(irqfd_notified > before, "unmask notified");
    TAP_CHECK(virtio_pci_queue_irqfd(vp, 1) < 0, "queue 1's vector 2 still masked: none");
    mmio_wr(bar1 + 32 + 12, 4, 0);
    int fd1 = virtio_pci_queue_irqfd(vp, 1);
    TAP_CHECK(fd1 >= 0 && fd1 != fd0, "queue 1 gets vector 2's own irqfd");

    /* Masking a vector takes its irqfd away (the PBA must latch). */
    before = irqfd_notified;
    mmio_wr(bar1 + 16 + 12, 4, 1);
    TAP_CHECK(virtio_pci_queue_irqfd(vp, 0) < 0 && irqfd_notified > before,
              "vector 1 masked: queue 0 back to userspace, notified");
    mmio_wr(bar1 + 16 + 12, 4, 0);
    TAP_EQ_U64(virtio_pci_queue_irqfd(vp, 0), fd0, "unmasked again: the same irqfd");

    /* Function mask. */
    cfg_wr(msix + 2, 2, 0xC000);
    TAP_CHECK(virtio_pci_queue_irqfd(vp, 0) < 0 && virtio_pci_queue_irqfd(vp, 1) < 0,
              "function mask: no queue irqfds");
    cfg_wr(msix + 2, 2, 0x8000);
    TAP_CHECK(virtio_pci_queue_irqfd(vp, 0) == fd0 && virtio_pci_queue_irqfd(vp, 1) == fd1,
              "function unmask: irqfds back");

    /* Reassigning the queue's vector follows it; NO_VECTOR and an
     * out-of-range vector have none. */
    before = irqfd_notified;
    cc_wr(0x16, 2, 0); cc_wr(0x1A, 2, 2);
    TAP_CHECK(virtio_pci_queue_irqfd(vp, 0) == fd1 && irqfd_notified > before,
              "queue 0 moved to vector 2: vector 2's irqfd, notified");
    cc_wr(0x1A, 2, 0xFFFF);
    TAP_CHECK(virtio_pci_queue_irqfd(vp, 0) < 0, "queue 0 at NO_VECTOR: none");
    cc_wr(0x1A, 2, 7);
    TAP_EQ_U64(cc_rd(0x1A, 2), 0xFFFF, "vector 7 (>= table size) reads back NO_VECTOR");
    TAP_CHECK(virtio_pci_queue_irqfd(vp, 0) < 0, "... and has no irqfd");
    TAP_CHECK(virtio_pci_queue_irqfd(vp, 5) < 0, "no such queue: none");

    /* The irqfd really injects: KVM consumed the count we write. */
    uint64_t one = 1, left = 0;
    TAP_CHECK(write(fd1, &one, 8) == 8, "signal vector 2's irqfd");
    TAP_CHECK(read(fd1, &left, 8) < 0, "KVM consumed it (bound with KVM_IRQFD)");

    /* MSI-X off again: back to INTx, no irqfds. */
    before = irqfd_notified;
    cfg_wr(msix + 2, 2, 0x0000);
    TAP_CHECK(virtio_pci_queue_irqfd(vp, 1) < 0 && irqfd_notified > before,
              "MSI-X disabled: queue 1 back to userspace, notified");
    virtio_pci_destroy(vp);
}

/* ---- save/load (virtio_pci_save / virtio_pci_load) ---- */

/* Save the live device, take it away, load the state into a new device
 * on the same image, and check that its queue resumes where the old one
 * was: same BARs, features, status, vectors, MSI-X table, ring indices. */
static void test_save_load(struct virtio_blk *blk, struct virtio_pci *vp,
                           const struct virtio_blk_config *cfg, unsigned msix)
{
    cc_wr(0x10, 2, 0);
    cc_wr(0x16, 2, 0);
    cc_wr(0x1A, 2, 1);
    TAP_EQ_U64(read_sector(10, false), 0, "save/load: a read before saving");
    uint16_t used_before = used_idx();
    uint64_t old_bar4 = bar4, old_bar1 = bar1;

    struct virtio_dev *vdev = virtio_blk_dev(blk);
    struct state_writer w;
    state_writer_init(&w);
    state_begin_section(&w, "virtio-disk0", 1);
    TAP_CHECK(vdev->ops->save && vdev->ops->save(vdev, &w) == 0, "save/load: model saved");
    virtio_pci_save(vp, &w);
    state_end_section(&w);
    TAP_CHECK(state_writer_finish(&w), "save/load: stream written (%zu bytes)", w.len);

    /* The source goes away (its image lock with it). */
    virtio_blk_stop(blk);
    pci_unregister(virtio_pci_device(vp));
    virtio_pci_destroy(vp);
    virtio_blk_destroy(blk);

    char err[256] = "";
    struct virtio_blk *blk2 = virtio_blk_new_model(&vm->mem, cfg, err, sizeof(err));
    struct virtio_pci *vp2 = blk2 ? virtio_pci_create(vm, virtio_blk_dev(blk2), 2, err, sizeof(err)) : NULL;
    TAP_CHECK(vp2 != NULL, "save/load: destination device created (%s)", err);
    if (!vp2) {
        state_writer_free(&w);
        return;
    }
    slot = virtio_pci_slot(vp2);
    struct virtio_dev *vdev2 = virtio_blk_dev(blk2);
    struct state_reader r;
    struct state_section sec = { 0 };
    bool found = state_reader_init(&r, w.buf, w.len, err, sizeof(err)) &&
                 state_next_section(&r, &sec, err, sizeof(err)) == 1;
    TAP_CHECK(found, "save/load: section found (%s)", err);
    if (!found) {
        state_writer_free(&w);
        return;
    }

    struct state_section cut = sec;
    cut.len = sec.len - 20;     /* inside the queue state */
    TAP_CHECK(vdev2->ops->load(vdev2, &cut, err, sizeof(err)) == 0 &&
                  virtio_pci_load(vp2, &cut, err, sizeof(err)) < 0 && strstr(err, "truncated") &&
                  cc_rd(0x14, 1) == 0,
              "save/load: a truncated section is refused, the device left reset (%s)", err);

    err[0] = '\0';
    TAP_CHECK(vdev2->ops->load(vdev2, &sec, err, sizeof(err)) == 0 &&
                  virtio_pci_load(vp2, &sec, err, sizeof(err)) == 0 && state_section_complete(&sec),
              "save/load: loaded, section consumed exactly (%s)", err);
    state_writer_free(&w);
    bar1 = cfg_rd(0x14, 4) & ~0xFull;
    bar4 = (cfg_rd(0x20, 4) & ~0xFull) | ((uint64_t)cfg_rd(0x24, 4) << 32);
    TAP_CHECK(bar4 == old_bar4 && bar1 == old_bar1 && (cfg_rd(0x04, 2) & 0x6) == 0x6,
              "save/load: BARs at the saved addresses, decode and bus master on");
    TAP_EQ_U64(cc_rd(0x14, 1), DRIVER_OK_ALL, "save/load: status DRIVER_OK");
    cc_wr(0x08, 4, 0);
    TAP_EQ_U64(cc_rd(0x0C, 4) & (1u << 9), 1u << 9, "save/load: negotiated FLUSH kept");
    cc_wr(0x16, 2, 0);
    TAP_CHECK(cc_rd(0x10, 2) == 0 && cc_rd(0x1A, 2) == 1 && cc_rd(0x1C, 2) == 1 &&
                  cc_rd(0x20, 8) == gpa(DESC_OFF) && cc_rd(0x30, 8) == gpa(USED_OFF),
              "save/load: vectors, queue enable and ring addresses");
    TAP_CHECK((cfg_rd(msix + 2, 2) & 0x8000) && mmio_rd(bar1 + 16 + 8, 4) == 0x41,
              "save/load: MSI-X enabled, vector 1's message restored");
    TAP_CHECK(virtio_blk_start(blk2, err, sizeof(err)) == 0, "save/load: I/O thread started");
    TAP_EQ_U64(read_sector(11, false), 0, "save/load: the next request completes");
    struct virtio_blk_info info;
    virtio_blk_info(blk2, &info);
    /* From index 0 the device would have redone every earlier request. */
    TAP_CHECK(used_idx() == (uint16_t)(used_before + 1) && info.rd_ops == 1,
              "save/load: the queue resumed at its index (one request processed, used %u)",
              used_idx());
    TAP_EQ_U64(ram[DATA_OFF], 12, "save/load: sector 11 data");
    virtio_blk_stop(blk2);
    pci_unregister(virtio_pci_device(vp2));
    virtio_pci_destroy(vp2);
    virtio_blk_destroy(blk2);
}

int main(void)
{
    vm = vm_create_for_test();
    ram = aligned_alloc(4096, RAM_SIZE);
    if (!vm || !ram || pci_bus_create(vm) < 0 || !gm_add_region(&vm->mem, RAM_GPA, RAM_SIZE, ram))
        return 99;
    memset(ram, 0, RAM_SIZE);
    char img[] = "/tmp/test-virtio-pci-XXXXXX";
    int fd = mkstemp(img);
    uint8_t sector[512];
    for (unsigned s = 0; s < 64; s++) {
        memset(sector, (uint8_t)(s + 1), sizeof(sector));
        if (write(fd, sector, sizeof(sector)) != sizeof(sector))
            return 99;
    }
    close(fd);

    char err[256] = "";
    struct virtio_blk_config cfg = { .path = img, .id = "virtio-disk0" };
    /* As the machine does it: the model, its transport, then its thread. */
    struct virtio_blk *blk = virtio_blk_new_model(&vm->mem, &cfg, err, sizeof(err));
    struct virtio_pci *vp = blk ? virtio_pci_create(vm, virtio_blk_dev(blk), 2, err, sizeof(err)) : NULL;
    TAP_CHECK(vp && virtio_blk_start(blk, err, sizeof(err)) == 0,
              "virtio-blk created on PCI bus 0 (%s)", err);
    if (!vp)
        return tap_done();
    struct virtio_blk_info info;
    slot = virtio_pci_slot(vp);
    TAP_CHECK(slot > 0 && slot < 32, "function got a slot");

    /* Identity (§4.1.2). */
    TAP_EQ_U64(cfg_rd(0x00, 4), 0x10421AF4, "vendor 1AF4, device 1042");
    TAP_EQ_U64(cfg_rd(0x08, 4), 0x01000001, "class 010000, revision 1");
    TAP_EQ_U64(cfg_rd(0x2C, 4), 0x11001AF4, "subsystem 1AF4:1100");
    TAP_EQ_U64(cfg_rd(0x3D, 1), 1, "interrupt pin INTA");
    TAP_CHECK(cfg_rd(0x06, 2) & 0x10, "capability list present");

    /* Capabilities (§4.1.4). */
    unsigned common = find_vcap(1), notify = find_vcap(2), isr = find_vcap(3), device = find_vcap(4),
             pcicfg = find_vcap(5), msix = find_cap(0x11);
    TAP_CHECK(common && notify && isr && device && pcicfg && msix, "all capabilities found");
    TAP_CHECK(cfg_rd(common + 4, 1) == 4 && cfg_rd(common + 8, 4) == 0x0000 &&
              cfg_rd(isr + 8, 4) == 0x1000 && cfg_rd(device + 8, 4) == 0x2000 &&
              cfg_rd(notify + 8, 4) == 0x3000, "structures in BAR4 at 0/0x1000/0x2000/0x3000");
    TAP_EQ_U64(cfg_rd(notify + 16, 4), 4, "notify_off_multiplier 4");
    TAP_CHECK(cfg_rd(notify + 2, 1) == 20 && cfg_rd(pcicfg + 2, 1) == 20, "notify and pci_cfg caps are 20 bytes");
    TAP_CHECK((cfg_rd(msix + 2, 2) & 0x7FF) == 1 && cfg_rd(msix + 4, 4) == 1 && cfg_rd(msix + 8, 4) == 0x801,
              "MSI-X: 2 vectors, table BAR1+0, PBA BAR1+0x800");
    TAP_EQ_U64(cfg_rd(0x20, 4) & 0xF, 0xC, "BAR4 is 64-bit prefetchable memory");

    bar4 = (cfg_rd(0x20, 4) & ~0xFull) | ((uint64_t)cfg_rd(0x24, 4) << 32);
    bar1 = cfg_rd(0x14, 4) & ~0xFull;
    cfg_wr(0x04, 2, 0x0006);  /* memory decode + bus master */
    TAP_CHECK(bar4 && bar1, "BARs placed");

    /* Device config through BAR4 (§5.2.4). */
    TAP_EQ_U64(mmio_rd(bar4 + 0x2000, 4), 64, "device config: capacity (low half)");
    TAP_EQ_U64(mmio_rd(bar4 + 0x2000 + 0x0C, 4), 254, "device config: seg_max");

    /* Features (§4.1.4.3) and their rejection without VERSION_1. */
    cc_wr(0x14, 1, 0);
    TAP_EQ_U64(cc_rd(0x14, 1), 0, "status reads 0 after reset");
    cc_wr(0x00, 4, 1);
    TAP_EQ_U64(cc_rd(0x04, 4) & 1, 1, "device_feature[32]: VERSION_1 offered");
    cc_wr(0x00, 4, 0);
    uint32_t f_lo = (uint32_t)cc_rd(0x04, 4);
    TAP_CHECK((f_lo & (1u << 9)) && (f_lo & (1u << 2)) && (f_lo & (1u << 28)), "FLUSH, SEG_MAX, INDIRECT offered");
    TAP_EQ_U64(cc_rd(0x12, 2), 1, "num_queues 1");
    negotiate(1u << 9);
    TAP_CHECK(!(cc_rd(0x14, 1) & VIRTIO_STATUS_FEATURES_OK), "FEATURES_OK refused without VERSION_1");
    negotiate((1ull << 33) | (1ull << VIRTIO_F_VERSION_1));
    TAP_CHECK(!(cc_rd(0x14, 1) & VIRTIO_STATUS_FEATURES_OK), "FEATURES_OK refused for unoffered bits");
    uint64_t want = (1ull << VIRTIO_F_VERSION_1) | (1u << 9) | (1u << 2) | (1u << 6) |
                    (1ull << VIRTIO_F_INDIRECT_DESC);
    negotiate(want);
    TAP_CHECK(cc_rd(0x14, 1) & VIRTIO_STATUS_FEATURES_OK, "FEATURES_OK kept for a valid set");
    cc_wr(0x08, 4, 0);
    cc_wr(0x0C, 4, 0);
    TAP_EQ_U64(cc_rd(0x0C, 4), (uint32_t)want, "driver features frozen after FEATURES_OK");

    /* Queue registers. */
    cc_wr(0x16, 2, 0);
    TAP_EQ_U64(cc_rd(0x18, 2), 256, "queue_size reset value = maximum");
    TAP_EQ_U64(cc_rd(0x1E, 2), 0, "queue_notify_off = index");
    cc_wr(0x16, 2, 5);
    TAP_EQ_U64(cc_rd(0x18, 2), 0, "absent queue reads size 0");
    cc_wr(0x1A, 2, 0);
    TAP_EQ_U64(cc_rd(0x1A, 2), 0, "absent queue: vector write ignored");
    cc_wr(0x10, 2, 7);
    TAP_EQ_U64(cc_rd(0x10, 2), 0xFFFF, "config vector beyond the table reads NO_VECTOR");
    program_queue();
    TAP_EQ_U64(cc_rd(0x1C, 2), 1, "queue enabled");
    TAP_EQ_U64(cc_rd(0x20, 4), gpa(DESC_OFF), "queue_desc reads back");
    cc_wr(0x14, 1, DRIVER_OK_ALL);
    TAP_EQ_U64(cc_rd(0x14, 1), DRIVER_OK_ALL, "DRIVER_OK");

    /* INTx path (MSI-X not enabled). */
    TAP_EQ_U64(read_sector(5, false), 0, "read through the notify region completes");
    TAP_CHECK(ram[DATA_OFF] == 6 && ram[DATA_OFF + 511] == 6, "sector 5 data in guest memory");
    for (int i = 0; i < 200 && !(cfg_rd(0x06, 2) & 0x08); i++)
        usleep(5000);
    TAP_CHECK(cfg_rd(0x06, 2) & 0x08, "INTx asserted (PCI status interrupt bit)");
    TAP_EQ_U64(mmio_rd(bar4 + 0x1000, 1), 1, "ISR reads queue bit");
    TAP_EQ_U64(mmio_rd(bar4 + 0x1000, 1), 0, "ISR cleared by the read");
    TAP_CHECK(!(cfg_rd(0x06, 2) & 0x08), "INTx de-asserted after the ISR read");

    /* PCI_CFG window (§4.1.4.9): read device_status through config space. */
    cfg_wr(pcicfg + 4, 1, 4);
    cfg_wr(pcicfg + 8, 4, 0x14);
    cfg_wr(pcicfg + 12, 4, 1);
    TAP_EQ_U64(cfg_rd(pcicfg + 16, 1), DRIVER_OK_ALL, "PCI_CFG window reads device_status");

    /* MSI-X: enable, vectors, masking latches the PBA bit. */
    cfg_wr(msix + 2, 2, 0x8000);
    cc_wr(0x10, 2, 0);
    cc_wr(0x16, 2, 0);
    cc_wr(0x1A, 2, 1);
    TAP_CHECK(cc_rd(0x10, 2) == 0 && cc_rd(0x1A, 2) == 1, "config vector 0, queue vector 1 accepted");
    mmio_wr(bar1 + 16 + 0, 4, 0xFEE00000);
    mmio_wr(bar1 + 16 + 8, 4, 0x41);
    TAP_EQ_U64(read_sector(6, false), 0, "read with MSI-X on completes");
    usleep(20000);
    TAP_EQ_U64(mmio_rd(bar1 + 0x800, 8), 0x2, "masked vector 1 latched in the PBA, no INTx");
    TAP_CHECK(!(cfg_rd(0x06, 2) & 0x08) && mmio_rd(bar4 + 0x1000, 1) == 0, "ISR unused with MSI-X");
    mmio_wr(bar1 + 16 + 12, 4, 0);
    TAP_EQ_U64(mmio_rd(bar1 + 0x800, 8), 0, "unmask delivers and clears the pending bit");

    /* A malformed request: NEEDS_RESET, then reset brings it back. */
    TAP_EQ_U64(read_sector(7, true), (uint64_t)-1, "short header is not completed");
    wait_status_bit(VIRTIO_STATUS_NEEDS_RESET);
    TAP_CHECK(cc_rd(0x14, 1) & VIRTIO_STATUS_NEEDS_RESET, "device sets DEVICE_NEEDS_RESET");
    TAP_EQ_U64(mmio_rd(bar1 + 0x800, 8), 0x1, "config change signalled on (masked) config vector 0");
    cc_wr(0x14, 1, 0);
    TAP_CHECK(cc_rd(0x14, 1) == 0 && cc_rd(0x1C, 2) == 0 && cc_rd(0x1A, 2) == 0xFFFF,
              "reset: status 0, queue disabled, vectors NO_VECTOR");
    memset(ram, 0, RAM_SIZE);
    avail_idx = 0;
    negotiate(want);
    program_queue();
    cc_wr(0x14, 1, DRIVER_OK_ALL);
    TAP_EQ_U64(read_sector(9, false), 0, "after reset the device works again");
    TAP_EQ_U64(ram[DATA_OFF], 10, "sector 9 data");

    virtio_blk_info(blk, &info);
    TAP_CHECK(info.rd_ops == 3 && info.rd_bytes == 3 * 512, "counters: 3 reads of 512 bytes");
    test_save_load(blk, vp, &cfg, msix);
    test_queue_irqfds();
    unlink(img);
    return tap_done();
}
