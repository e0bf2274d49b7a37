/* Direct BAR mapping of assigned devices: the VM core's host memory slot
 * bookkeeping (vm_host_slot_*, on a test VM without KVM), the split of a
 * BAR into mmapped and trapped ranges (vfio_bar_split), and vfio_pci.c
 * placing, moving and removing the slots as the guest programs BARs and
 * the command register, with the MSI-X table and PBA pages kept trapped. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hv/bus.h"
#include "hv/pci/pci.h"
#include "hv/vfio/vfio_pci.h"
#include "hv/vm.h"
#include "tests/tap.h"

#define PAGE 4096u

static struct vm *vm;

/* ---- vm_host_slot_* ---- */

static void slot_tests(void)
{
    void *host = aligned_alloc(PAGE, 4 * PAGE);
    void *host2 = aligned_alloc(PAGE, 4 * PAGE);
    uint64_t gpa = 0, size = 0;
    uint32_t kslot = 0;

    int a = vm_host_slot_add(vm, 0xC0000000, 2 * PAGE, host);
    TAP_CHECK(a >= 0, "slot added (handle %d)", a);
    TAP_CHECK(vm_host_slot_get(vm, a, &gpa, &size, &kslot) && gpa == 0xC0000000 && size == 2 * PAGE,
              "slot at its guest address with its size");
    TAP_CHECK(kslot >= 2, "KVM slot number %u is not a RAM slot (0, 1)", kslot);
    TAP_EQ_U64(vm_host_slot_count(vm), 1, "one slot in use");

    TAP_EQ_U64(vm_host_slot_add(vm, 0xC0001000, PAGE, host2), (uint64_t)-EEXIST, "overlapping slot refused");
    TAP_EQ_U64(vm_host_slot_add(vm, 0xC0100800, PAGE, host2), (uint64_t)-EINVAL, "unaligned address refused");
    TAP_EQ_U64(vm_host_slot_add(vm, 0xC0100000, 100, host2), (uint64_t)-EINVAL, "partial page refused");
    TAP_EQ_U64(vm_host_slot_add(vm, 0xC0100000, 0, host2), (uint64_t)-EINVAL, "empty slot refused");
    TAP_EQ_U64(vm_host_slot_add(vm, 0xC0100000, PAGE, (uint8_t *)host2 + 8), (uint64_t)-EINVAL,
               "unaligned host mapping refused");
    TAP_EQ_U64(vm_host_slot_add(vm, 0xFFFFFFFFFFFFF000ull, 2 * PAGE, host2), (uint64_t)-EINVAL,
               "range wrapping around refused");
    uint64_t saved_low = vm->ram_below_4g, saved_high = vm->ram_above_4g;
    vm->ram_below_4g = 256u << 20;
    vm->ram_above_4g = 1u << 30;
    TAP_EQ_U64(vm_host_slot_add(vm, 0x100000, PAGE, host2), (uint64_t)-EEXIST, "slot over low RAM refused");
    TAP_EQ_U64(vm_host_slot_add(vm, VM_HIGH_RAM_BASE + 0x3FFFF000ull, PAGE, host2), (uint64_t)-EEXIST,
               "slot over high RAM refused");
    int b = vm_host_slot_add(vm, 0x10000000, PAGE, host2);
    TAP_CHECK(b >= 0 && b != a, "slot right after low RAM accepted (handle %d)", b);
    vm->ram_below_4g = saved_low;
    vm->ram_above_4g = saved_high;
    TAP_EQ_U64(vm_host_slot_count(vm), 2, "two slots in use");

    TAP_EQ_U64(vm_host_slot_move(vm, a, 0xD0000000), 0, "slot moved");
    TAP_CHECK(vm_host_slot_get(vm, a, &gpa, &size, NULL) && gpa == 0xD0000000 && size == 2 * PAGE,
              "moved slot at the new address, same size");
    TAP_EQ_U64(vm_host_slot_move(vm, a, 0x0FFFF000), (uint64_t)-EEXIST, "move onto another slot refused");
    TAP_CHECK(vm_host_slot_get(vm, a, &gpa, NULL, NULL) && gpa == 0xD0000000, "refused move leaves it");
    TAP_EQ_U64(vm_host_slot_move(vm, a, 0xD0000000 + PAGE), 0, "move overlapping its own old range");
    TAP_EQ_U64(vm_host_slot_move(vm, 31, 0xE0000000), (uint64_t)-ENOENT, "move of an unused handle");
    TAP_EQ_U64(vm_host_slot_move(vm, -1, 0xE0000000), (uint64_t)-EINVAL, "move of a bad handle");

    vm_host_slot_remove(vm, b);
    vm_host_slot_remove(vm, b);     /* twice: no effect */
    vm_host_slot_remove(vm, 1000);  /* bad handle: no effect */
    TAP_CHECK(!vm_host_slot_get(vm, b, NULL, NULL, NULL), "removed slot is gone");
    TAP_EQ_U64(vm_host_slot_count(vm), 1, "one slot left");
    vm_host_slot_remove(vm, a);
    TAP_EQ_U64(vm_host_slot_count(vm), 0, "none left");

    int handles[VM_MAX_HOST_SLOTS];
    bool all = true;
    for (int i = 0; i < VM_MAX_HOST_SLOTS; i++) {
        handles[i] = vm_host_slot_add(vm, 0xE0000000ull + (uint64_t)i * PAGE, PAGE, host);
        all &= handles[i] >= 0;
    }
    TAP_CHECK(all, "%d slots fit", VM_MAX_HOST_SLOTS);
    TAP_EQ_U64(vm_host_slot_add(vm, 0xF0000000, PAGE, host), (uint64_t)-ENOSPC, "one more: no space");
    vm_host_slot_remove(vm, handles[5]);
    TAP_EQ_U64(vm_host_slot_add(vm, 0xF0000000, PAGE, host), (uint64_t)handles[5], "a freed handle is reused");
    for (int i = 0; i < VM_MAX_HOST_SLOTS; i++)
        vm_host_slot_remove(vm, handles[i]);
    TAP_EQ_U64(vm_host_slot_count(vm), 0, "all removed");
    free(host);
    free(host2);
}

/* ---- vfio_bar_split ---- */

static bool areas_are(const struct vfio_bar_area *got, unsigned n, const struct vfio_bar_area *want, unsigned nwant)
{
    if (n != nwant) {
        printf("#   got %u areas, expected %u\n", n, nwant);
        return false;
    }
    for (unsigned i = 0; i < n; i++) {
        if (got[i].off != want[i].off || got[i].size != want[i].size) {
            printf("#   area %u: got 0x%llx+0x%llx, expected 0x%llx+0x%llx\n", i,
                   (unsigned long long)got[i].off, (unsigned long long)got[i].size,
                   (unsigned long long)want[i].off, (unsigned long long)want[i].size);
            return false;
        }
    }
    return true;
}

static void split_tests(void)
{
    struct vfio_bar_area out[VFIO_BAR_MAX_AREAS];
    unsigned n;

    /* e1000e BAR0: 128 KiB, no MSI-X table: all of it */
    struct vfio_bar_area whole = { 0, 128 << 10 };
    n = vfio_bar_split(&whole, 1, NULL, 0, PAGE, out, VFIO_BAR_MAX_AREAS);
    TAP_CHECK(areas_are(out, n, (struct vfio_bar_area[]){ { 0, 128 << 10 } }, 1), "whole BAR mapped");

    /* e1000e BAR3: 16 KiB, table (5 vectors, 80 bytes) at 0, PBA at 0x2000 */
    struct vfio_bar_area bar3 = { 0, 16 << 10 };
    struct vfio_bar_area msix[2] = { { 0, 80 }, { 0x2000, 8 } };
    n = vfio_bar_split(&bar3, 1, msix, 2, PAGE, out, VFIO_BAR_MAX_AREAS);
    TAP_CHECK(areas_are(out, n, (struct vfio_bar_area[]){ { 0x1000, 0x1000 }, { 0x3000, 0x1000 } }, 2),
              "table and PBA pages cut out, the pages between and after mapped");

    /* NVMe-like: 16 KiB BAR, table at 0x2000 (65 vectors: 1040 bytes, two pages? no: one page + 16) */
    struct vfio_bar_area nvme = { 0, 0x4000 };
    struct vfio_bar_area nv[2] = { { 0x2000, 65 * 16 }, { 0x3000, 16 } };
    n = vfio_bar_split(&nvme, 1, nv, 2, PAGE, out, VFIO_BAR_MAX_AREAS);
    TAP_CHECK(areas_are(out, n, (struct vfio_bar_area[]){ { 0, 0x2000 } }, 1),
              "registers before the table mapped, table and PBA pages trapped");

    /* A table crossing a page boundary takes both pages. */
    struct vfio_bar_area cross[1] = { { 0x1FF0, 0x20 } };
    n = vfio_bar_split(&nvme, 1, cross, 1, PAGE, out, VFIO_BAR_MAX_AREAS);
    TAP_CHECK(areas_are(out, n, (struct vfio_bar_area[]){ { 0, 0x1000 }, { 0x3000, 0x1000 } }, 2),
              "table across a page boundary traps both pages");

    /* Overlapping trapped ranges and one covering everything. */
    struct vfio_bar_area ov[2] = { { 0x1000, 0x1800 }, { 0x800, 0x1000 } };
    n = vfio_bar_split(&nvme, 1, ov, 2, PAGE, out, VFIO_BAR_MAX_AREAS);
    TAP_CHECK(areas_are(out, n, (struct vfio_bar_area[]){ { 0x3000, 0x1000 } }, 1), "overlapping trapped ranges");
    struct vfio_bar_area all[1] = { { 0, 0x4000 } };
    n = vfio_bar_split(&nvme, 1, all, 1, PAGE, out, VFIO_BAR_MAX_AREAS);
    TAP_EQ_U64(n, 0, "trapped range over the whole BAR: nothing mapped");

    /* Sparse areas (older kernels leave the table out themselves); not
     * page aligned ones are cut to whole pages, tiny ones vanish. */
    struct vfio_bar_area sparse[3] = { { 0x0, 0x1000 }, { 0x2100, 0x1F00 }, { 0x5010, 0x20 } };
    n = vfio_bar_split(sparse, 3, NULL, 0, PAGE, out, VFIO_BAR_MAX_AREAS);
    TAP_CHECK(areas_are(out, n, (struct vfio_bar_area[]){ { 0, 0x1000 }, { 0x3000, 0x1000 } }, 2),
              "sparse areas cut to whole pages");

    /* A BAR smaller than a page cannot be a memory slot. */
    struct vfio_bar_area small = { 0, 256 };
    TAP_EQ_U64(vfio_bar_split(&small, 1, NULL, 0, PAGE, out, VFIO_BAR_MAX_AREAS), 0, "sub-page BAR stays trapped");

    /* 64 KiB pages (page size from the host) */
    struct vfio_bar_area big = { 0, 1 << 20 };
    struct vfio_bar_area tbl[1] = { { 0x10000, 0x100 } };
    n = vfio_bar_split(&big, 1, tbl, 1, 0x10000, out, VFIO_BAR_MAX_AREAS);
    TAP_CHECK(areas_are(out, n, (struct vfio_bar_area[]){ { 0, 0x10000 }, { 0x20000, 0xE0000 } }, 2),
              "64 KiB pages: the table's whole 64 KiB page trapped");

    /* More pieces than room: the rest stays trapped. */
    struct vfio_bar_area holes[4] = { { 0x1000, 1 }, { 0x3000, 1 }, { 0x5000, 1 }, { 0x7000, 1 } };
    struct vfio_bar_area eight = { 0, 0x8000 };
    n = vfio_bar_split(&eight, 1, holes, 4, PAGE, out, 2);
    TAP_CHECK(areas_are(out, n, (struct vfio_bar_area[]){ { 0, 0x1000 }, { 0x2000, 0x1000 } }, 2),
              "output limited to its room");

    /* Garbage from the kernel: an area wrapping around, empty areas. */
    struct vfio_bar_area junk[2] = { { UINT64_MAX - 0x100, 0x1000 }, { 0x1000, 0 } };
    TAP_EQ_U64(vfio_bar_split(junk, 2, NULL, 0, PAGE, out, VFIO_BAR_MAX_AREAS), 0, "wrapping and empty areas ignored");
    /* Bad page size: 4096 assumed. */
    n = vfio_bar_split(&bar3, 1, msix, 2, 3000, out, VFIO_BAR_MAX_AREAS);
    TAP_EQ_U64(n, 2, "page size not a power of two: 4 KiB used");
}

/* ---- vfio_pci with a fake device that can be mmapped ---- */

struct fake {
    uint8_t cfg[256];
    int bar_calls;
    int mmaps, munmaps, refuse_bar;
    uint8_t *maps[16];
    uint64_t map_bar_off[16];
    int map_bar[16];
};

static int f_cfg_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
    struct fake *f = opaque;
    if (off + len > 256)
        return -EINVAL;
    memcpy(buf, f->cfg + off, len);
    return 0;
}

static int f_cfg_write(void *opaque, uint32_t off, const void *buf, uint32_t len)
{
    struct fake *f = opaque;
    if (off + len > 256)
        return -EINVAL;
    memcpy(f->cfg + off, buf, len);
    return 0;
}

static void f_bar_access(void *opaque, int bar, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
    (void)bar, (void)off;
    struct fake *f = opaque;
    f->bar_calls++;
    if (!is_write)
        memset(data, 0x5A, len);
}

static int f_irq_mode(void *opaque, enum vfio_irq_mode mode, unsigned nvec)
{
    (void)opaque, (void)mode, (void)nvec;
    return 0;
}

static void f_irq_vector(void *opaque, unsigned vec, uint64_t addr, uint32_t data, bool active)
{
    (void)opaque, (void)vec, (void)addr, (void)data, (void)active;
}

static void *f_bar_mmap(void *opaque, int bar, uint64_t off, uint64_t size)
{
    struct fake *f = opaque;
    if (bar == f->refuse_bar || f->mmaps >= 16)
        return NULL;
    void *p = aligned_alloc(PAGE, size);
    f->map_bar[f->mmaps] = bar;
    f->map_bar_off[f->mmaps] = off;
    f->maps[f->mmaps++] = p;
    return p;
}

static void f_bar_munmap(void *opaque, void *host, uint64_t size)
{
    (void)size;
    struct fake *f = opaque;
    f->munmaps++;
    free(host);
}

static const struct vfio_pci_backend_ops fake_ops = {
    .cfg_read = f_cfg_read,
    .cfg_write = f_cfg_write,
    .bar_access = f_bar_access,
    .irq_mode = f_irq_mode,
    .irq_vector = f_irq_vector,
    .bar_mmap = f_bar_mmap,
    .bar_munmap = f_bar_munmap,
};

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }

/* BAR0 128 KiB (registers), BAR2 32 bytes I/O, BAR3 16 KiB with the MSI-X
 * table (5 vectors) at 0 and the PBA at 0x2000, BAR4 256 bytes. */
static void fake_device(struct fake *f)
{
    memset(f, 0, sizeof(*f));
    f->refuse_bar = -1;
    uint8_t *c = f->cfg;
    put16(c + 0x00, 0x8086);
    put16(c + 0x02, 0x10D3);
    put16(c + 0x06, 0x0010);
    c[0x0B] = 0x02;
    put32(c + 0x10, 0xFEBC0000);
    put32(c + 0x18, 0x0000C001);
    put32(c + 0x1C, 0xFEBE0000);
    put32(c + 0x20, 0xFEBF0000);
    c[0x34] = 0xA0;
    c[0x3D] = 1;
    c[0xA0] = 0x11; c[0xA1] = 0x00; put16(c + 0xA2, 4); put32(c + 0xA4, 0x00000003);
    put32(c + 0xA8, 0x00002003);
}

static struct vfio_pci_layout layout_all_mmappable(void)
{
    struct vfio_pci_layout l = {
        .bar_size = { 128 << 10, 0, 32, 16 << 10, 256, 0 },
        .intx_count = 1, .msix_count = 5, .page_size = PAGE,
    };
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        l.mmappable[i][0] = (struct vfio_bar_area){ 0, l.bar_size[i] };
        l.nmmappable[i] = l.bar_size[i] ? 1 : 0;
    }
    return l;
}

static unsigned slot_of;
static uint32_t rd(unsigned off, unsigned len)
{
    return pci_cfg_read(vm, 0x80000000u | (slot_of << 11) | (off & 0xFC), off & 3, len);
}
static void wr(unsigned off, unsigned len, uint32_t val)
{
    pci_cfg_write(vm, 0x80000000u | (slot_of << 11) | (off & 0xFC), off & 3, len, val);
}

static bool slot_at(const struct vfio_bar_map *m, uint64_t gpa, uint64_t size)
{
    uint64_t g = 0, s = 0;
    if (m->slot < 0 || !vm_host_slot_get(vm, m->slot, &g, &s, NULL)) {
        printf("#   no slot\n");
        return false;
    }
    if (g != gpa || s != size)
        printf("#   slot at 0x%llx+0x%llx, expected 0x%llx+0x%llx\n", (unsigned long long)g,
               (unsigned long long)s, (unsigned long long)gpa, (unsigned long long)size);
    return g == gpa && s == size;
}

static void device_tests(void)
{
    static struct fake f;
    static struct vfio_pci vp;
    char err[256] = "";
    fake_device(&f);
    struct vfio_pci_layout l = layout_all_mmappable();
    TAP_EQ_U64(vfio_pci_init(&vp, "hostdev0", &l, &fake_ops, &f, err, sizeof(err)), 0, "device initialised");
    TAP_EQ_U64(vfio_pci_register(vm, &vp), 0, "registered");
    slot_of = vp.pci.slot;

    TAP_EQ_U64(vp.nmaps[0], 1, "BAR0: one mapped range");
    TAP_CHECK(vp.maps[0][0].off == 0 && vp.maps[0][0].size == 128 << 10, "BAR0 mapped whole");
    TAP_EQ_U64(vp.nmaps[2], 0, "I/O BAR never mapped");
    TAP_EQ_U64(vp.nmaps[3], 2, "BAR3: two mapped ranges around the MSI-X pages");
    TAP_CHECK(vp.maps[3][0].off == 0x1000 && vp.maps[3][0].size == 0x1000 &&
              vp.maps[3][1].off == 0x3000 && vp.maps[3][1].size == 0x1000,
              "BAR3: 0x1000-0x2000 and 0x3000-0x4000 mapped (table at 0, PBA at 0x2000 trapped)");
    TAP_EQ_U64(vp.nmaps[4], 0, "256-byte BAR4 stays trapped");
    TAP_EQ_U64(f.mmaps, 3, "three backend mmaps");
    TAP_EQ_U64(vm_host_slot_count(vm), 0, "no memory slot before the guest enables decoding");

    uint64_t bar0 = rd(0x10, 4) & ~0xFu, bar3 = rd(0x1C, 4) & ~0xFu;
    wr(0x04, 2, 0x0002);  /* memory decode on */
    TAP_EQ_U64(vm_host_slot_count(vm), 3, "decode on: three memory slots");
    TAP_CHECK(slot_at(&vp.maps[0][0], bar0, 128 << 10), "BAR0 slot at the BAR's address");
    TAP_CHECK(slot_at(&vp.maps[3][0], bar3 + 0x1000, 0x1000) && slot_at(&vp.maps[3][1], bar3 + 0x3000, 0x1000),
              "BAR3 slots at BAR3 + 0x1000 and + 0x3000");

    /* The trapped parts still reach their handlers. */
    uint8_t d[4] = { 0 };
    f.bar_calls = 0;
    bus_dispatch(vm->bus, BUS_MMIO, bar3 + 12, d, 4, false);
    TAP_CHECK(f.bar_calls == 0 && d[0] == 1, "MSI-X table still emulated (entry 0 masked)");
    bus_dispatch(vm->bus, BUS_MMIO, rd(0x20, 4) + 0x10, d, 4, false);
    TAP_CHECK(f.bar_calls == 1 && d[0] == 0x5A, "sub-page BAR4 still forwarded");

    /* The guest moves BAR0: its slot follows. */
    uint64_t new0 = 0xE0000000;
    wr(0x10, 4, (uint32_t)new0);
    TAP_EQ_U64(rd(0x10, 4) & ~0xFu, new0, "BAR0 reprogrammed");
    TAP_CHECK(slot_at(&vp.maps[0][0], new0, 128 << 10), "BAR0 slot moved with it");
    TAP_EQ_U64(vm_host_slot_count(vm), 3, "still three slots");

    wr(0x04, 2, 0x0000);  /* memory decode off */
    TAP_EQ_U64(vm_host_slot_count(vm), 0, "decode off: every slot removed");
    TAP_CHECK(vp.maps[0][0].slot < 0 && vp.maps[3][0].slot < 0 && vp.maps[3][1].slot < 0, "no handles kept");
    wr(0x04, 2, 0x0002);
    TAP_EQ_U64(vm_host_slot_count(vm), 3, "decode on again: slots back");

    /* A slot that cannot be placed (overlap) leaves the range trapped. */
    void *blocker = aligned_alloc(PAGE, PAGE);
    wr(0x04, 2, 0x0000);
    int h = vm_host_slot_add(vm, new0 + 0x4000, PAGE, blocker);
    TAP_CHECK(h >= 0, "a foreign slot inside BAR0's range");
    wr(0x04, 2, 0x0002);
    TAP_CHECK(vp.maps[0][0].slot < 0, "BAR0 range overlapping it: no slot, trapped");
    TAP_EQ_U64(vm_host_slot_count(vm), 3, "BAR3's two slots and the foreign one");
    vm_host_slot_remove(vm, h);
    free(blocker);

    /* VM reset: decode off, slots gone. */
    pci_reset_all(vm);
    TAP_EQ_U64(vm_host_slot_count(vm), 0, "VM reset removes the slots");

    wr(0x04, 2, 0x0002);
    TAP_EQ_U64(vm_host_slot_count(vm), 3, "decoding after reset: slots back");
    vfio_pci_unmap_bars(&vp);
    TAP_EQ_U64(vm_host_slot_count(vm), 0, "unmap_bars removes the slots");
    TAP_EQ_U64(f.munmaps, 3, "and unmaps every range");
    TAP_EQ_U64(vp.nmaps[0] + vp.nmaps[3], 0, "no ranges left");
    wr(0x04, 2, 0x0000);
    wr(0x04, 2, 0x0002);
    TAP_EQ_U64(vm_host_slot_count(vm), 0, "decode toggles map nothing afterwards");
    vfio_pci_free(&vp);
    TAP_EQ_U64(f.munmaps, 3, "free does not unmap twice");
}

/* Without mmap permission, or with a backend that cannot map: trapped. */
static void trapped_tests(void)
{
    static struct fake f;
    static struct vfio_pci vp;
    char err[256] = "";
    fake_device(&f);
    struct vfio_pci_layout l = layout_all_mmappable();
    l.nmmappable[0] = 0;    /* VFIO_REGION_INFO_FLAG_MMAP not set on BAR0 */
    f.refuse_bar = 3;       /* mmap fails on BAR3 */
    TAP_EQ_U64(vfio_pci_init(&vp, "hostdev1", &l, &fake_ops, &f, err, sizeof(err)), 0, "second device");
    TAP_EQ_U64(vp.nmaps[0] + vp.nmaps[3], 0, "no mmap flag / failed mmap: nothing mapped");
    TAP_EQ_U64(f.mmaps, 0, "no mapping kept");

    /* Sparse areas straight from VFIO, one outside the region (ignored). */
    fake_device(&f);
    static struct vfio_pci vp2;
    l = layout_all_mmappable();
    l.mmappable[0][0] = (struct vfio_bar_area){ 0x0, 0x8000 };
    l.mmappable[0][1] = (struct vfio_bar_area){ 0x10000, 0x8000 };
    l.mmappable[0][2] = (struct vfio_bar_area){ 0x40000, 0x1000 };
    l.nmmappable[0] = 3;
    TAP_EQ_U64(vfio_pci_init(&vp2, "hostdev2", &l, &fake_ops, &f, err, sizeof(err)), 0, "third device");
    TAP_CHECK(vp2.nmaps[0] == 2 && vp2.maps[0][0].off == 0 && vp2.maps[0][0].size == 0x8000 &&
              vp2.maps[0][1].off == 0x10000 && vp2.maps[0][1].size == 0x8000,
              "BAR0: the two sparse areas inside the region mapped");
    vfio_pci_free(&vp);
    vfio_pci_free(&vp2);
    TAP_EQ_U64(f.munmaps, f.mmaps, "every mapping undone by free");
}

int main(void)
{
    vm = vm_create_for_test();
    TAP_CHECK(vm != NULL, "test VM");
    TAP_EQ_U64(pci_bus_create(vm), 0, "PCI bus");
    slot_tests();
    split_tests();
    device_tests();
    trapped_tests();
    pci_bus_destroy(vm);
    vm_destroy(vm);
    return tap_done();
}
