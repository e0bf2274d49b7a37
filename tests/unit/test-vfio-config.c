/* hv/vfio/vfio_pci.c against a fake device: header identity, BAR sizing
 * from region sizes, ROM off, capability masking and relinking, PM/PCIe
 * read/write-through, command mirroring, BAR traps, MSI and MSI-X
 * emulation driving the interrupt mode and vectors, reset, and malformed
 * config spaces (loops, bad MSI-X geometry, bridges, absent devices). */
#include <errno.h>
#include <string.h>

#include "hv/bus.h"
#include "hv/machine_config.h"
#include "hv/pci/pci.h"
#include "hv/vfio/vfio_pci.h"
#include "hv/vm.h"
#include "tests/tap.h"

/* ---- the fake device behind the "config region" ---- */

struct fake {
    uint8_t cfg[256];
    int cfg_writes;
    uint32_t last_write_off, last_write_len;
    uint8_t last_write[4];
    int bar_calls;
    int last_bar;
    uint64_t last_bar_off;
    bool last_bar_write;
    uint32_t last_bar_val;
    enum vfio_irq_mode mode;
    unsigned mode_nvec;
    int mode_calls;
    struct { uint64_t addr; uint32_t data; bool active; int calls; } vec[64];
    int resets;
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
    f->cfg_writes++;
    f->last_write_off = off;
    f->last_write_len = len;
    memcpy(f->last_write, buf, len > 4 ? 4 : len);
    return 0;
}

static void f_bar_access(void *opaque, int bar, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
    struct fake *f = opaque;
    f->bar_calls++;
    f->last_bar = bar;
    f->last_bar_off = off;
    f->last_bar_write = is_write;
    if (is_write) {
        f->last_bar_val = 0;
        memcpy(&f->last_bar_val, data, len > 4 ? 4 : len);
    } else {
        memset(data, 0xA5, len);
    }
}

static int f_irq_mode(void *opaque, enum vfio_irq_mode mode, unsigned nvec)
{
    struct fake *f = opaque;
    f->mode = mode;
    f->mode_nvec = nvec;
    f->mode_calls++;
    return 0;
}

static void f_irq_vector(void *opaque, unsigned vec, uint64_t addr, uint32_t data, bool active)
{
    struct fake *f = opaque;
    if (vec >= 64)
        return;
    f->vec[vec].addr = addr;
    f->vec[vec].data = data;
    f->vec[vec].active = active;
    f->vec[vec].calls++;
}

static void f_reset(void *opaque) { ((struct fake *)opaque)->resets++; }

static const struct vfio_pci_backend_ops fake_ops = {
    .cfg_read = f_cfg_read,
    .cfg_write = f_cfg_write,
    .bar_access = f_bar_access,
    .irq_mode = f_irq_mode,
    .irq_vector = f_irq_vector,
    .reset = f_reset,
};

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }

/* An e1000e-like function: BAR0/1 128 KiB memory, BAR2 32 bytes I/O,
 * BAR3 16 KiB memory with the MSI-X table (5 vectors) at 0 and the PBA at
 * 0x2000, BAR4/5 a 64-bit prefetchable 1 MiB BAR; capabilities
 * 0x40 vendor-specific -> 0xC8 PM -> 0xD0 MSI (64-bit, maskable, 4
 * vectors) -> 0xE0 PCIe v2 -> 0xA0 MSI-X -> 0x60 VPD. */
static void fake_device(struct fake *f)
{
    memset(f, 0, sizeof(*f));
    uint8_t *c = f->cfg;
    put16(c + 0x00, 0x8086);
    put16(c + 0x02, 0x10D3);
    put16(c + 0x04, 0x0000);
    put16(c + 0x06, 0x0010);          /* capability list */
    c[0x08] = 0x00;
    c[0x09] = 0x00; c[0x0A] = 0x00; c[0x0B] = 0x02;   /* Ethernet controller */
    c[0x0E] = 0x80;                   /* multi-function bit: must not show */
    put32(c + 0x10, 0xFEBC0000);
    put32(c + 0x14, 0xFEBA0000);
    put32(c + 0x18, 0x0000C001);
    put32(c + 0x1C, 0xFEBE0000);
    put32(c + 0x20, 0x0000000C);      /* 64-bit prefetchable */
    put32(c + 0x24, 0x00000001);
    put16(c + 0x2C, 0x8086);
    put16(c + 0x2E, 0x0000);
    put32(c + 0x30, 0xFEB80000);      /* ROM: must not show */
    c[0x34] = 0x40;
    c[0x3C] = 11;
    c[0x3D] = 1;                      /* INTA */
    /* vendor-specific (hidden) */
    c[0x40] = 0x09; c[0x41] = 0xC8; c[0x42] = 8; c[0x43] = 0x77;
    /* PM */
    c[0xC8] = 0x01; c[0xC9] = 0xD0; put16(c + 0xCA, 0x0023); put16(c + 0xCC, 0x0008);
    /* MSI: 64-bit, per-vector mask, MMC = 2 (4 vectors) */
    c[0xD0] = 0x05; c[0xD1] = 0xE0; put16(c + 0xD2, 0x0180 | (2 << 1));
    /* PCIe v2 endpoint */
    c[0xE0] = 0x10; c[0xE1] = 0xA0; put16(c + 0xE2, 0x0002); put32(c + 0xE4, 0x00008CC1);
    /* MSI-X: 5 vectors, table BAR3+0, PBA BAR3+0x2000 */
    c[0xA0] = 0x11; c[0xA1] = 0x60; put16(c + 0xA2, 4); put32(c + 0xA4, 0x00000003);
    put32(c + 0xA8, 0x00002003);
    /* VPD (hidden) */
    c[0x60] = 0x03; c[0x61] = 0x00;
}

static const struct vfio_pci_layout e1000e_layout = {
    .bar_size = { 128 << 10, 128 << 10, 32, 16 << 10, 1 << 20, 0 },
    .intx_count = 1, .msi_count = 1, .msix_count = 5,
};

/* ---- guest config accesses ---- */

static struct vm *vm;
static unsigned slot;

static uint32_t rd(unsigned off, unsigned len)
{
    return pci_cfg_read(vm, 0x80000000u | (slot << 11) | (off & 0xFC), off & 3, len);
}

static void wr(unsigned off, unsigned len, uint32_t val)
{
    pci_cfg_write(vm, 0x80000000u | (slot << 11) | (off & 0xFC), off & 3, len, val);
}

static uint32_t bar_size_probe(unsigned reg)
{
    uint32_t old = rd(reg, 4);
    wr(reg, 4, 0xFFFFFFFF);
    uint32_t v = rd(reg, 4);
    wr(reg, 4, old);
    return v;
}

static uint32_t mmio(uint64_t addr, uint32_t len, bool is_write, uint32_t val)
{
    uint8_t d[4];
    memcpy(d, &val, 4);
    bus_dispatch(vm->bus, BUS_MMIO, addr, d, len, is_write);
    uint32_t out = 0;
    memcpy(&out, d, len);
    return out;
}

static void main_device_tests(void)
{
    static struct fake f;
    static struct vfio_pci vp;
    char err[256] = "";
    fake_device(&f);
    TAP_EQ_U64(vfio_pci_init(&vp, "hostdev0", &e1000e_layout, &fake_ops, &f, err, sizeof(err)), 0,
               "e1000e-like function initialised");
    TAP_EQ_U64(vfio_pci_register(vm, &vp), 0, "registered on bus 0");
    slot = vp.pci.slot;
    TAP_CHECK(slot >= 1 && slot < 32, "got a slot (%u)", slot);
    TAP_CHECK(f.mode == VFIO_IRQ_INTX && f.mode_nvec == 1, "starts in INTx mode");

    /* identity */
    TAP_EQ_U64(rd(0x00, 4), 0x10D38086u, "vendor/device from the device");
    TAP_EQ_U64(rd(0x08, 4), 0x02000000u, "class/revision from the device");
    TAP_EQ_U64(rd(0x0E, 1), 0, "header type 0, single function");
    TAP_EQ_U64(rd(0x2C, 4), 0x00008086u, "subsystem ids from the device");
    TAP_EQ_U64(rd(0x3D, 1), 1, "interrupt pin INTA");
    TAP_EQ_U64(rd(0x3C, 1), vp.pci.gsi, "interrupt line is the slot's GSI");

    /* BAR sizing from region sizes, types from the device */
    TAP_EQ_U64(bar_size_probe(0x10), 0xFFFE0000u, "BAR0: 128 KiB memory");
    TAP_EQ_U64(bar_size_probe(0x14), 0xFFFE0000u, "BAR1: 128 KiB memory");
    TAP_EQ_U64(bar_size_probe(0x18) & 0xFFFF, 0xFFE1u, "BAR2: 32-byte I/O");
    TAP_EQ_U64(bar_size_probe(0x1C), 0xFFFFC000u, "BAR3: 16 KiB memory");
    TAP_EQ_U64(bar_size_probe(0x20), 0xFFF0000Cu, "BAR4: 1 MiB 64-bit prefetchable");
    TAP_EQ_U64(bar_size_probe(0x24), 0xFFFFFFFFu, "BAR5: upper half of BAR4");
    TAP_CHECK((rd(0x10, 4) & ~0xFu) >= VM_PCI_MMIO_BASE, "BAR0 placed in the PCI window, not at the host address");
    wr(0x30, 4, 0xFFFFFFFF);
    TAP_EQ_U64(rd(0x30, 4), 0, "expansion ROM absent");

    /* capability list: vendor-specific and VPD unlinked */
    TAP_EQ_U64(rd(0x06, 2) & 0x10, 0x10, "status: capability list");
    TAP_EQ_U64(rd(0x34, 1), 0xC8, "list starts at PM (vendor cap skipped)");
    TAP_EQ_U64(rd(0xC8, 2), 0xD001, "PM -> MSI");
    TAP_EQ_U64(rd(0xD0, 2), 0xE005, "MSI -> PCIe");
    TAP_EQ_U64(rd(0xE0, 2), 0xA010, "PCIe -> MSI-X");
    TAP_EQ_U64(rd(0xA0, 2), 0x0011, "MSI-X ends the list (VPD skipped)");
    TAP_EQ_U64(rd(0x40, 4), 0, "hidden vendor capability reads 0");
    TAP_EQ_U64(rd(0x60, 2), 0, "hidden VPD capability reads 0");
    TAP_EQ_U64(rd(0xA2, 2), 4, "MSI-X table size as the device (5 vectors)");
    TAP_EQ_U64(rd(0xA4, 4), 0x3, "MSI-X table in BAR3 at 0");
    TAP_EQ_U64(rd(0xA8, 4), 0x2003, "MSI-X PBA in BAR3 at 0x2000");
    TAP_EQ_U64((rd(0xD2, 2) >> 1) & 7, 0, "MSI offers 1 vector (VFIO's MSI count is 1)");
    TAP_EQ_U64(rd(0xD2, 2) & 0x180, 0x180, "MSI 64-bit and maskable as the device");

    /* read/write-through of PM and PCIe */
    f.cfg[0xCC] = 0x03;  /* the device went to D3 by itself */
    TAP_EQ_U64(rd(0xCC, 2), 0x0003, "PMCSR read through");
    int writes = f.cfg_writes;
    wr(0xCC, 2, 0x0000);
    TAP_CHECK(f.cfg_writes == writes + 1 && f.last_write_off == 0xCC && f.cfg[0xCC] == 0,
              "PMCSR write reaches the device");
    TAP_EQ_U64(rd(0xE4, 4), 0x00008CC1u, "PCIe device capabilities read through");
    writes = f.cfg_writes;
    wr(0x40, 4, 0x12345678);
    TAP_CHECK(f.cfg_writes == writes && f.cfg[0x40] == 0x09, "writes to hidden capabilities are dropped");
    wr(0xA0, 1, 0x42);
    TAP_EQ_U64(rd(0xA0, 2), 0x0011, "capability header is read-only");
    wr(0xC9, 1, 0x00);
    TAP_EQ_U64(rd(0xC8, 2), 0xD001, "next pointer cannot be rewritten by the guest");

    /* command register mirrored */
    wr(0x04, 2, 0x0006);
    TAP_EQ_U64(f.cfg[0x04] & 0x07, 0x06, "memory decode and bus master reach the device");
    TAP_EQ_U64(rd(0x04, 2) & 0x07, 0x06, "guest reads its command value");

    /* BAR traps */
    uint64_t bar0 = rd(0x10, 4) & ~0xFu;
    f.bar_calls = 0;
    TAP_EQ_U64(mmio(bar0 + 0x10, 4, false, 0), 0xA5A5A5A5u, "BAR0 read forwarded to the region");
    TAP_CHECK(f.bar_calls == 1 && f.last_bar == 0 && f.last_bar_off == 0x10 && !f.last_bar_write,
              "BAR0 read at offset 0x10");
    mmio(bar0 + 0x3818, 4, true, 0xDEADBEEF);
    TAP_CHECK(f.last_bar == 0 && f.last_bar_off == 0x3818 && f.last_bar_write &&
              f.last_bar_val == 0xDEADBEEF, "BAR0 write forwarded with its value");
    uint64_t bar4 = ((uint64_t)rd(0x24, 4) << 32) | (rd(0x20, 4) & ~0xFu);
    mmio(bar4 + 8, 2, true, 0x1234);
    TAP_CHECK(f.last_bar == 4 && f.last_bar_off == 8 && f.last_bar_val == 0x1234, "64-bit BAR4 trapped");

    /* MSI-X: table emulated in BAR3, mode switches */
    uint64_t bar3 = rd(0x1C, 4) & ~0xFu;
    f.bar_calls = 0;
    wr(0xA2, 2, 0xC000);  /* enable + function mask, as Linux starts */
    TAP_CHECK(f.mode == VFIO_IRQ_MSIX && f.mode_nvec == 5, "MSI-X enable switches to MSI-X, 5 vectors");
    TAP_EQ_U64(mmio(bar3 + 12, 4, false, 0), 1, "table entry 0 starts masked");
    mmio(bar3 + 0, 4, true, 0xFEE01000);
    mmio(bar3 + 4, 4, true, 0);
    mmio(bar3 + 8, 4, true, 0x4041);
    mmio(bar3 + 12, 4, true, 0);  /* unmask entry 0 */
    TAP_EQ_U64(f.bar_calls, 0, "table accesses never reach the device");
    TAP_CHECK(!f.vec[0].active, "vector 0 inactive while the function is masked");
    wr(0xA2, 2, 0x8000);  /* clear function mask */
    TAP_CHECK(f.vec[0].active && f.vec[0].addr == 0xFEE01000 && f.vec[0].data == 0x4041,
              "vector 0 active with its message");
    TAP_CHECK(!f.vec[1].active, "vector 1 still masked");
    mmio(bar3 + 12, 4, true, 1);
    TAP_CHECK(!f.vec[0].active, "masking entry 0 deactivates the vector");
    mmio(bar3 + 12, 4, true, 0);
    mmio(bar3 + 8, 4, true, 0x4042);
    TAP_CHECK(f.vec[0].active && f.vec[0].data == 0x4042, "reprogrammed data reaches the backend");
    TAP_EQ_U64(mmio(bar3 + 0x2000, 4, false, 0), 0, "PBA emulated (reads 0)");
    TAP_EQ_U64(f.bar_calls, 0, "PBA accesses never reach the device");
    mmio(bar3 + 0x3000, 4, false, 0);
    TAP_CHECK(f.bar_calls == 1 && f.last_bar == 3 && f.last_bar_off == 0x3000,
              "rest of the MSI-X BAR forwarded");
    wr(0xA2, 2, 0x0000);
    TAP_CHECK(!f.vec[0].active, "MSI-X disable deactivates vectors");
    TAP_CHECK(f.mode == VFIO_IRQ_INTX, "MSI-X disable returns to INTx");

    /* MSI */
    wr(0xD4, 4, 0xFEE02000);
    wr(0xD8, 4, 0);
    wr(0xDC, 2, 0x0051);
    wr(0xD2, 2, 0x0001 | (3 << 4));  /* enable, ask for 8 vectors */
    TAP_EQ_U64((rd(0xD2, 2) >> 4) & 7, 0, "Multiple Message Enable clamped to what was offered");
    TAP_CHECK(f.mode == VFIO_IRQ_MSI && f.mode_nvec == 1, "MSI enable switches to MSI, 1 vector");
    TAP_CHECK(f.vec[0].active && f.vec[0].addr == 0xFEE02000 && f.vec[0].data == 0x51,
              "MSI vector 0 message");
    wr(0xE0, 4, 1);  /* mask bits (64-bit layout: +0x10) */
    TAP_CHECK(!f.vec[0].active, "MSI per-vector mask deactivates");
    wr(0xE0, 4, 0);
    wr(0xDC, 2, 0x0052);
    TAP_CHECK(f.vec[0].active && f.vec[0].data == 0x52, "MSI data change updates the vector");
    wr(0xD2, 2, 0x0000);
    TAP_CHECK(f.mode == VFIO_IRQ_INTX && !f.vec[0].active, "MSI disable returns to INTx");

    /* reset */
    wr(0xA2, 2, 0x8000);
    TAP_CHECK(f.mode == VFIO_IRQ_MSIX, "MSI-X on before reset");
    int resets = f.resets;
    pci_reset_all(vm);
    TAP_EQ_U64(f.resets, resets + 1, "VM reset resets the device");
    TAP_CHECK(f.mode == VFIO_IRQ_INTX, "VM reset returns to INTx");
    TAP_EQ_U64(rd(0xA2, 2), 4, "MSI-X control back to its reset value");
    TAP_EQ_U64(f.cfg[0x04] & 0x07, 0, "decode and bus master off on the device after reset");

    vfio_pci_stop(&vp);
    TAP_CHECK(f.mode == VFIO_IRQ_NONE, "stop turns interrupts off");
}

/* Malformed or unusual config spaces. */
static void odd_device_tests(void)
{
    char err[256];
    static struct fake f;
    static struct vfio_pci vp;

    fake_device(&f);
    f.cfg[0x0E] = 0x01;
    TAP_CHECK(vfio_pci_init(&vp, "bridge", &e1000e_layout, &fake_ops, &f, err, sizeof(err)) == -EINVAL &&
              strstr(err, "header type 1"), "a bridge is refused (%s)", err);

    fake_device(&f);
    memset(f.cfg, 0xFF, 4);
    TAP_CHECK(vfio_pci_init(&vp, "gone", &e1000e_layout, &fake_ops, &f, err, sizeof(err)) == -ENODEV &&
              strstr(err, "0xffff"), "vendor 0xffff refused (%s)", err);

    /* a loop in the capability list, MSI-X outside its BAR, no INTx */
    fake_device(&f);
    f.cfg[0x61] = 0xC8;                 /* VPD (after MSI-X) -> PM again */
    put32(f.cfg + 0xA4, 0x00003FF3);    /* table runs past the 16 KiB BAR */
    struct vfio_pci_layout layout = e1000e_layout;
    layout.intx_count = 0;
    TAP_EQ_U64(vfio_pci_init(&vp, "odd", &layout, &fake_ops, &f, err, sizeof(err)), 0, "odd device initialised");
    TAP_CHECK(!vp.has_msix, "MSI-X with a table outside its BAR is hidden");
    TAP_EQ_U64(vp.pci.cfg[0xE1], 0, "capability loop cut, MSI-X unlinked: PCIe ends the list");
    TAP_EQ_U64(vp.pci.cfg[0xA0], 0, "hidden MSI-X leaves no bytes behind");
    TAP_EQ_U64(vp.pci.cfg[0x3D], 0, "no INTx from VFIO: no interrupt pin");
    TAP_EQ_U64(vfio_pci_register(vm, &vp), 0, "odd device registered");
    TAP_EQ_U64(f.mode_calls, 1, "one mode call at register");
    TAP_CHECK(f.mode == VFIO_IRQ_NONE, "no INTx: starts with interrupts off");
    vfio_pci_free(&vp);

    /* no capabilities at all */
    fake_device(&f);
    put16(f.cfg + 0x06, 0);
    layout = e1000e_layout;
    TAP_EQ_U64(vfio_pci_init(&vp, "plain", &layout, &fake_ops, &f, err, sizeof(err)), 0, "capability-less device");
    TAP_EQ_U64(vp.pci.cfg[0x34], 0, "no capability pointer");
    TAP_EQ_U64(vp.pci.cfg[0x06] & 0x10, 0, "no capability-list status bit");
    vfio_pci_free(&vp);
}

/* --hostdev and JSON "hostdevs" (hv/vfio/config_hostdev.c). */
static void config_tests(void)
{
    static struct hv_config cfg;
    char err[256] = "";
    hv_config_init(&cfg);
    TAP_CHECK(hv_config_add_hostdev_spec(&cfg, "host=0000:0A:1f.7,group=12,id=nic0", err, sizeof(err)),
              "--hostdev with group and id");
    TAP_EQ_STR(cfg.hostdevs[0].host, "0000:0a:1f.7", "address canonical, lower-case");
    TAP_EQ_U64(cfg.hostdevs[0].group, 12, "group");
    TAP_CHECK(cfg.hostdevs[0].groupfd == -1, "no groupfd");
    TAP_EQ_STR(cfg.hostdevs[0].id, "nic0", "id");
    TAP_CHECK(hv_config_add_hostdev_spec(&cfg, "host=03:00.0", err, sizeof(err)), "short address");
    TAP_EQ_STR(cfg.hostdevs[1].host, "0000:03:00.0", "domain 0000 implied");
    TAP_CHECK(cfg.hostdevs[1].group == -1, "group from sysfs later");
    TAP_CHECK(!hv_config_add_hostdev_spec(&cfg, "host=0000:03:20.0", err, sizeof(err)) &&
              strstr(err, "0000:03:20.0"), "slot 0x20 refused (%s)", err);
    TAP_CHECK(!hv_config_add_hostdev_spec(&cfg, "host=0000:03:00.0x", err, sizeof(err)), "trailing junk refused");
    TAP_CHECK(!hv_config_add_hostdev_spec(&cfg, "group=3", err, sizeof(err)) && strstr(err, "host="),
              "host required (%s)", err);
    TAP_CHECK(!hv_config_add_hostdev_spec(&cfg, "host=03:00.0,rombar=1", err, sizeof(err)) &&
              strstr(err, "rombar"), "unknown option named (%s)", err);
    TAP_CHECK(!hv_config_add_hostdev_spec(&cfg, "host=03:00.1,group=-1", err, sizeof(err)), "negative group refused");
    TAP_EQ_U64(cfg.nhostdevs, 2, "failed specs add nothing");
    TAP_CHECK(hv_config_validate_hostdevs(&cfg, err, sizeof(err)), "two distinct devices valid");
    TAP_CHECK(hv_config_apply_json(&cfg, "{\"hostdevs\": [{\"host\": \"0000:03:00.0\", \"group\": 4}]}",
                                   err, sizeof(err)), "JSON hostdevs");
    TAP_CHECK(!hv_config_validate_hostdevs(&cfg, err, sizeof(err)) && strstr(err, "twice"),
              "same device twice refused (%s)", err);
    hv_config_free(&cfg);
    hv_config_init(&cfg);
    TAP_CHECK(!hv_config_apply_json(&cfg, "{\"hostdevs\": [{\"host\": \"0000:03:00.0\", \"bar\": 1}]}",
                                    err, sizeof(err)) && strstr(err, "hostdevs[0].bar"), "unknown JSON key named (%s)", err);
    TAP_CHECK(!hv_config_apply_json(&cfg, "{\"hostdevs\": [{\"host\": 5}]}", err, sizeof(err)),
              "non-string host refused");
    TAP_CHECK(!hv_config_apply_json(&cfg, "{\"hostdevs\": {}}", err, sizeof(err)), "hostdevs must be an array");
    hv_config_free(&cfg);
    hv_config_init(&cfg);
    TAP_CHECK(hv_config_apply_json(&cfg, "{\"hostdevs\": [{\"host\": \"0000:03:00.0\", \"groupfd\": 999}]}",
                                   err, sizeof(err)), "JSON groupfd");
    TAP_CHECK(!hv_config_validate_hostdevs(&cfg, err, sizeof(err)) && strstr(err, "999"),
              "closed groupfd refused (%s)", err);
    hv_config_free(&cfg);
}

int main(void)
{
    config_tests();
    vm = vm_create_for_test();
    TAP_CHECK(vm != NULL, "test VM");
    TAP_EQ_U64(pci_bus_create(vm), 0, "PCI bus");
    main_device_tests();
    odd_device_tests();
    return tap_done();
}
