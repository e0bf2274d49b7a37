/* Config space virtualisation of an assigned function; see vfio_pci.h.
 * Section numbers: PCI Local Bus 3.0. */
#include "hv/vfio/vfio_pci.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/errbuf.h"
#include "common/log.h"
#include "hv/vm.h"

#define CFG_COMMAND 0x04
#define CFG_STATUS 0x06
#define CFG_HEADER_TYPE 0x0E
#define CFG_BAR0 0x10
#define CFG_CAP_PTR 0x34
#define CFG_INT_PIN 0x3D
#define STATUS_CAP_LIST 0x0010
/* Command bits the real function must see (§6.2.2): I/O and memory
 * decode, bus master (DMA), INTx disable. */
#define CMD_MIRRORED 0x0407

/* MSI capability (§6.8.1). */
#define MSI_CTRL 2
#define MSI_CTRL_ENABLE 0x0001
#define MSI_CTRL_MMC_SHIFT 1
#define MSI_CTRL_MME_SHIFT 4
#define MSI_CTRL_64BIT 0x0080
#define MSI_CTRL_MASKABLE 0x0100

#define MAX_CAPS 48   /* 192 bytes / 4: more links than that is a loop */

static uint32_t get_le(const uint8_t *p, unsigned len)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < len; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static void put_le(uint8_t *p, unsigned len, uint32_t v)
{
    for (unsigned i = 0; i < len; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static enum vfio_irq_mode start_mode(const struct vfio_pci *vp)
{
    return vp->has_intx ? VFIO_IRQ_INTX : VFIO_IRQ_NONE;
}

static void set_mode(struct vfio_pci *vp, enum vfio_irq_mode mode, unsigned nvec)
{
    int r = vp->ops->irq_mode(vp->opaque, mode, nvec);
    if (r < 0) {
        static const char *const names[] = { "none", "INTx", "MSI", "MSI-X" };
        log_error("%s: cannot switch interrupts to %s (%u vectors): %s", vp->id, names[mode], nvec,
                  strerror(-r));
    }
    vp->mode = mode;
}

/* ---- BARs ---- */

static void bar_trap(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
    struct vfio_pci_bar_ctx *ctx = opaque;
    struct vfio_pci *vp = ctx->vp;
    if (vp->has_msix && ctx->bar == vp->msix.bar && msix_bar_access(&vp->msix, off, data, len, is_write))
        return;
    vp->ops->bar_access(vp->opaque, ctx->bar, off, data, len, is_write);
}

/* ---- mmapped BAR ranges ---- */

unsigned vfio_bar_split(const struct vfio_bar_area *mmappable, unsigned nmmappable,
                        const struct vfio_bar_area *trapped, unsigned ntrapped, uint64_t page,
                        struct vfio_bar_area *out, unsigned max)
{
    if (!page || (page & (page - 1)))
        page = 4096;
    unsigned n = 0;
    for (unsigned a = 0; a < nmmappable; a++) {
        uint64_t off = mmappable[a].off, size = mmappable[a].size;
        if (!size || off + size < off || off > UINT64_MAX - page)
            continue;
        /* Only whole pages can become a KVM memory slot. */
        uint64_t pos = (off + page - 1) & ~(page - 1), end = (off + size) & ~(page - 1);
        while (pos < end) {
            /* The first trapped range (widened to pages) that reaches into [pos, end). */
            uint64_t hole_start = UINT64_MAX, hole_end = 0;
            for (unsigned t = 0; t < ntrapped; t++) {
                if (!trapped[t].size)
                    continue;
                uint64_t hs = trapped[t].off & ~(page - 1);
                uint64_t te = trapped[t].off + trapped[t].size;
                uint64_t he = te < trapped[t].off || te > UINT64_MAX - page ? UINT64_MAX
                                                                           : (te + page - 1) & ~(page - 1);
                if (he > pos && hs < end && hs < hole_start) {
                    hole_start = hs;
                    hole_end = he;
                }
            }
            if (hole_start == UINT64_MAX) {
                if (n < max)
                    out[n++] = (struct vfio_bar_area){ pos, end - pos };
                break;
            }
            if (hole_start > pos && n < max)
                out[n++] = (struct vfio_bar_area){ pos, hole_start - pos };
            pos = hole_end > pos ? hole_end : end;
        }
    }
    return n;
}

static void log_bar_maps(const struct vfio_pci *vp, int bar, bool mmappable, unsigned nparts)
{
    char text[256];
    size_t len = 0;
    text[0] = 0;
    for (unsigned i = 0; i < vp->nmaps[bar] && len < sizeof(text); i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "%s0x%llx-0x%llx", i ? ", " : "",
                                (unsigned long long)vp->maps[bar][i].off,
                                (unsigned long long)(vp->maps[bar][i].off + vp->maps[bar][i].size));
    uint64_t mapped = 0;
    for (unsigned i = 0; i < vp->nmaps[bar]; i++)
        mapped += vp->maps[bar][i].size;
    const struct pci_bar *b = &vp->pci.bars[bar];
    bool msix_here = vp->has_msix && vp->msix.bar == bar;
    if (!vp->nmaps[bar])
        log_info("%s: BAR%d (0x%llx bytes): all accesses trapped (%s)", vp->id, bar,
                 (unsigned long long)b->size,
                 !mmappable ? "VFIO allows no mmap"
                 : nparts ? "mmap failed"
                 : msix_here ? "only MSI-X table/PBA pages or partial pages"
                             : "no whole page mmappable");
    else
        log_info("%s: BAR%d (0x%llx bytes): mmapped %s%s%s", vp->id, bar, (unsigned long long)b->size,
                 text, mapped == b->size ? "" : "; the rest trapped",
                 msix_here ? " (MSI-X table/PBA emulated)" : "");
}

/* Decide and map the direct ranges of each memory BAR (after the
 * capabilities, so the MSI-X table and PBA are known). */
static void setup_bar_maps(struct vfio_pci *vp, const struct vfio_pci_layout *layout)
{
    uint64_t page = layout->page_size ? layout->page_size : 4096;
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        struct pci_bar *b = &vp->pci.bars[i];
        vp->nmaps[i] = 0;
        for (unsigned k = 0; k < VFIO_BAR_MAX_AREAS; k++)
            vp->maps[i][k].slot = -1;
        if (b->type != PCI_BAR_MEM32 && b->type != PCI_BAR_MEM64)
            continue;
        unsigned nm = layout->nmmappable[i] < VFIO_BAR_MAX_AREAS ? layout->nmmappable[i] : VFIO_BAR_MAX_AREAS;
        struct vfio_bar_area holes[2];
        unsigned nholes = 0;
        if (vp->has_msix && vp->msix.bar == i) {
            holes[nholes++] = (struct vfio_bar_area){ vp->msix.table_off, msix_table_bytes(vp->msix.nvec) };
            holes[nholes++] = (struct vfio_bar_area){ vp->msix.pba_off, msix_pba_bytes(vp->msix.nvec) };
        }
        struct vfio_bar_area parts[VFIO_BAR_MAX_AREAS];
        unsigned nparts = 0;
        if (vp->ops->bar_mmap && nm)
            nparts = vfio_bar_split(layout->mmappable[i], nm, holes, nholes, page, parts, VFIO_BAR_MAX_AREAS);
        for (unsigned k = 0; k < nparts; k++) {
            if (parts[k].off + parts[k].size > b->size)
                continue;  /* VFIO's areas lie outside the region: ignore */
            void *host = vp->ops->bar_mmap(vp->opaque, i, parts[k].off, parts[k].size);
            if (!host)
                continue;
            vp->maps[i][vp->nmaps[i]++] = (struct vfio_bar_map){
                .off = parts[k].off, .size = parts[k].size, .host = host, .slot = -1,
            };
        }
        log_bar_maps(vp, i, nm > 0 && vp->ops->bar_mmap, nparts);
    }
}

/* The PCI core (un)mapped BAR `bar` on the bus: the direct ranges follow
 * (a move is an unmap at the old address and a map at the new one;
 * meanwhile the trap on the bus serves every access). Called with the
 * core's config lock held. */
static void vp_bar_changed(struct pci_device *pci, int bar, bool mapped, uint64_t addr)
{
    struct vfio_pci *vp = pci->opaque;
    for (unsigned k = 0; k < vp->nmaps[bar]; k++) {
        struct vfio_bar_map *m = &vp->maps[bar][k];
        if (m->slot >= 0) {
            vm_host_slot_remove(pci->vm, m->slot);
            m->slot = -1;
        }
        if (!mapped)
            continue;
        int r = vm_host_slot_add(pci->vm, addr + m->off, m->size, m->host);
        if (r < 0) {
            log_warn("%s: BAR%d 0x%llx-0x%llx at guest 0x%llx: no memory slot (%s); trapped", vp->id, bar,
                     (unsigned long long)m->off, (unsigned long long)(m->off + m->size),
                     (unsigned long long)(addr + m->off), strerror(-r));
            continue;
        }
        m->slot = r;
    }
    if (vp->nmaps[bar])
        log_debug("%s: BAR%d %s at guest 0x%llx", vp->id, bar, mapped ? "direct" : "unmapped",
                  (unsigned long long)addr);
}

void vfio_pci_unmap_bars(struct vfio_pci *vp)
{
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        for (unsigned k = 0; k < vp->nmaps[i]; k++) {
            struct vfio_bar_map *m = &vp->maps[i][k];
            if (m->slot >= 0 && vp->pci.vm)
                vm_host_slot_remove(vp->pci.vm, m->slot);
            m->slot = -1;
            if (m->host && vp->ops->bar_munmap)
                vp->ops->bar_munmap(vp->opaque, m->host, m->size);
            m->host = NULL;
        }
        vp->nmaps[i] = 0;
    }
}

/* BAR types from the device's own BAR registers (§6.2.5.1), sizes from
 * VFIO's region sizes (the device's registers hold host addresses). */
static void setup_bars(struct vfio_pci *vp, const struct vfio_pci_layout *layout)
{
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        uint32_t reg = get_le(vp->phys_cfg + CFG_BAR0 + 4 * i, 4);
        uint64_t size = layout->bar_size[i];
        vp->bar_ctx[i] = (struct vfio_pci_bar_ctx){ .vp = vp, .bar = i };
        if (!size)
            continue;
        if (reg & 1) {
            pci_set_bar(&vp->pci, i, PCI_BAR_IO, false, size, bar_trap, &vp->bar_ctx[i]);
            continue;
        }
        bool prefetch = reg & 0x8;
        bool is64 = ((reg >> 1) & 3) == 2 && i + 1 < PCI_NUM_BARS;
        pci_set_bar(&vp->pci, i, is64 ? PCI_BAR_MEM64 : PCI_BAR_MEM32, prefetch, size, bar_trap,
                    &vp->bar_ctx[i]);
        if (is64)
            i++;  /* the upper half is not a BAR of its own */
    }
}

/* ---- capabilities ---- */

static unsigned msi_cap_len(uint16_t ctrl)
{
    unsigned len = (ctrl & MSI_CTRL_64BIT) ? 14 : 10;
    if (ctrl & MSI_CTRL_MASKABLE)
        len += 10;  /* reserved pad to a dword, mask bits, pending bits */
    return len;
}

static unsigned msi_data_off(const struct vfio_pci *vp) { return vp->msi_cap + (vp->msi_64bit ? 12u : 8u); }
static unsigned msi_mask_off(const struct vfio_pci *vp) { return vp->msi_cap + (vp->msi_64bit ? 16u : 12u); }

static bool setup_msi(struct vfio_pci *vp, uint8_t pos, const struct vfio_pci_layout *layout)
{
    uint16_t ctrl = (uint16_t)get_le(vp->phys_cfg + pos + MSI_CTRL, 2);
    unsigned len = msi_cap_len(ctrl);
    if (!layout->msi_count || pos + len > PCI_CFG_SIZE)
        return false;
    vp->msi_cap = pos;
    vp->msi_64bit = ctrl & MSI_CTRL_64BIT;
    vp->msi_maskable = ctrl & MSI_CTRL_MASKABLE;
    unsigned mmc = (ctrl >> MSI_CTRL_MMC_SHIFT) & 7;
    if (mmc > 5)
        mmc = 5;  /* 32 vectors at most (values 6, 7 are reserved) */
    vp->msi_max = 1u << mmc;
    if (vp->msi_max > layout->msi_count)
        vp->msi_max = 1;  /* VFIO could not give that many: offer one */
    uint8_t *c = vp->pci.cfg + pos, *w = vp->pci.wmask + pos;
    memset(c, 0, len);
    c[0] = PCI_CAP_ID_MSI;
    unsigned mmc_offered = 0;
    while ((1u << mmc_offered) < vp->msi_max)
        mmc_offered++;
    put_le(c + MSI_CTRL, 2, (ctrl & (MSI_CTRL_64BIT | MSI_CTRL_MASKABLE)) | (mmc_offered << MSI_CTRL_MMC_SHIFT));
    w[MSI_CTRL] = 0x71;                      /* enable, Multiple Message Enable */
    put_le(w + 4, 4, 0xFFFFFFFC);            /* message address, DWORD aligned */
    if (vp->msi_64bit)
        put_le(w + 8, 4, 0xFFFFFFFF);
    put_le(w + (msi_data_off(vp) - pos), 2, 0xFFFF);
    if (vp->msi_maskable)
        put_le(w + (msi_mask_off(vp) - pos), 4, (uint32_t)((1ull << vp->msi_max) - 1));
    return true;
}

/* msix.c reports each vector's effective state; the backend keeps its
 * route and irqfd in step. Called with the msix lock held. */
static void msix_vector_changed(void *opaque, unsigned vec, uint64_t addr, uint32_t data, bool active)
{
    struct vfio_pci *vp = opaque;
    if (vp->mode == VFIO_IRQ_MSIX)
        vp->ops->irq_vector(vp->opaque, vec, addr, data, active);
}

static bool setup_msix(struct vfio_pci *vp, uint8_t pos, const struct vfio_pci_layout *layout)
{
    if (!layout->msix_count || pos + MSIX_CAP_LEN > PCI_CFG_SIZE)
        return false;
    uint16_t ctrl = (uint16_t)get_le(vp->phys_cfg + pos + 2, 2);
    uint32_t table = get_le(vp->phys_cfg + pos + 4, 4), pba = get_le(vp->phys_cfg + pos + 8, 4);
    unsigned nvec = (ctrl & 0x7FF) + 1u;
    uint8_t bir = table & 7, pba_bir = pba & 7;
    uint32_t table_off = table & ~7u, pba_off = pba & ~7u;
    if (bir >= PCI_NUM_BARS || bir != pba_bir || !vp->pci.bars[bir].size ||
        vp->pci.bars[bir].type == PCI_BAR_IO ||
        (uint64_t)table_off + msix_table_bytes((uint16_t)nvec) > vp->pci.bars[bir].size ||
        (uint64_t)pba_off + msix_pba_bytes((uint16_t)nvec) > vp->pci.bars[bir].size) {
        log_warn("%s: MSI-X table/PBA (BIR %u/%u at 0x%x/0x%x, %u vectors) do not fit a memory BAR; "
                 "MSI-X hidden", vp->id, bir, pba_bir, table_off, pba_off, nvec);
        return false;
    }
    if (nvec > layout->msix_count) {
        log_warn("%s: MSI-X: device has %u vectors, VFIO offers %u; MSI-X hidden", vp->id, nvec,
                 layout->msix_count);
        return false;
    }
    /* msix_init appends its capability at cap_end; with an empty list
     * that is exactly the device's own offset. The caller relinks. */
    uint8_t saved_ptr = vp->pci.cfg[CFG_CAP_PTR];
    vp->pci.cfg[CFG_CAP_PTR] = 0;
    vp->pci.cap_end = pos;
    int r = msix_init(&vp->msix, &vp->pci, (uint16_t)nvec, bir, table_off, pba_off, NULL,
                      msix_vector_changed, vp);
    vp->pci.cfg[CFG_CAP_PTR] = saved_ptr;
    if (r < 0 || vp->msix.cap != pos) {
        log_warn("%s: MSI-X emulation failed (%s); MSI-X hidden", vp->id, strerror(r < 0 ? -r : EINVAL));
        if (r == 0)
            msix_free(&vp->msix);
        return false;
    }
    vp->has_msix = true;
    return true;
}

/* Bytes of a read/write-through capability: everything after the
 * capability header (the next pointer is ours). */
static void keep_through(struct vfio_pci *vp, uint8_t pos, unsigned len)
{
    if (pos + len > PCI_CFG_SIZE)
        len = PCI_CFG_SIZE - pos;
    vp->pci.cfg[pos] = vp->phys_cfg[pos];
    for (unsigned i = 2; i < len; i++) {
        vp->pci.cfg[pos + i] = vp->phys_cfg[pos + i];
        vp->through[pos + i] = 1;
    }
}

static unsigned pcie_cap_len(const struct vfio_pci *vp, uint8_t pos)
{
    /* §7.8 of PCIe 3.0: version 1 capabilities end after Slot/Root
     * registers (0x24), version 2 adds the "2" registers (0x3C). */
    unsigned version = vp->phys_cfg[pos + 2] & 0xF;
    return version >= 2 ? 0x3C : 0x24;
}

static void setup_caps(struct vfio_pci *vp, const struct vfio_pci_layout *layout)
{
    uint8_t kept[MAX_CAPS];
    unsigned nkept = 0;
    bool seen[PCI_CFG_SIZE] = { false };
    if (!(get_le(vp->phys_cfg + CFG_STATUS, 2) & STATUS_CAP_LIST))
        return;
    uint8_t pos = vp->phys_cfg[CFG_CAP_PTR] & ~3u;
    for (unsigned steps = 0; pos >= 0x40 && steps < MAX_CAPS; steps++) {
        if (seen[pos] || pos > PCI_CFG_SIZE - 4) {
            log_warn("%s: capability list loops or runs off config space at 0x%x; cut there", vp->id, pos);
            break;
        }
        seen[pos] = true;
        uint8_t cap_id = vp->phys_cfg[pos];
        bool keep = false;
        switch (cap_id) {
        case PCI_CAP_ID_MSIX:
            keep = !vp->has_msix && setup_msix(vp, pos, layout);
            break;
        case PCI_CAP_ID_MSI:
            keep = !vp->msi_cap && setup_msi(vp, pos, layout);
            break;
        case PCI_CAP_ID_PM:
            keep_through(vp, pos, 8);
            keep = true;
            break;
        case PCI_CAP_ID_EXP:
            keep_through(vp, pos, pcie_cap_len(vp, pos));
            keep = true;
            break;
        default:
            log_debug("%s: hiding capability 0x%02x at 0x%x", vp->id, cap_id, pos);
            break;
        }
        if (keep)
            kept[nkept++] = pos;
        pos = vp->phys_cfg[pos + 1] & ~3u;
    }
    /* Relink: pointer register, then each kept capability to the next. */
    vp->pci.cfg[CFG_CAP_PTR] = nkept ? kept[0] : 0;
    for (unsigned i = 0; i < nkept; i++)
        vp->pci.cfg[kept[i] + 1] = i + 1 < nkept ? kept[i + 1] : 0;
    uint16_t status = (uint16_t)get_le(vp->pci.cfg + CFG_STATUS, 2);
    status = nkept ? (status | STATUS_CAP_LIST) : (status & ~STATUS_CAP_LIST);
    put_le(vp->pci.cfg + CFG_STATUS, 2, status);
}

/* ---- config accesses past the header ---- */

static void through_read(struct vfio_pci *vp, uint32_t off, uint32_t len)
{
    bool any = false;
    for (uint32_t i = 0; i < len; i++)
        any |= vp->through[off + i];
    if (!any)
        return;
    uint8_t buf[4];
    if (vp->ops->cfg_read(vp->opaque, off, buf, len) < 0)
        return;  /* keep the last value */
    for (uint32_t i = 0; i < len; i++)
        if (vp->through[off + i])
            vp->pci.cfg[off + i] = buf[i];
}

static void through_write(struct vfio_pci *vp, uint32_t off, uint32_t len, uint32_t val)
{
    uint8_t buf[4];
    put_le(buf, len, val);
    bool all = true, any = false;
    for (uint32_t i = 0; i < len; i++) {
        all &= vp->through[off + i];
        any |= vp->through[off + i];
    }
    if (all) {
        vp->ops->cfg_write(vp->opaque, off, buf, len);
        return;
    }
    for (uint32_t i = 0; any && i < len; i++)
        if (vp->through[off + i])
            vp->ops->cfg_write(vp->opaque, off + i, buf + i, 1);
}

/* The MSI capability after a guest write: enable / vector count changes
 * switch the device's interrupt mode; address, data and mask changes
 * update the vectors (§6.8.1.3-6). */
static void msi_update(struct vfio_pci *vp)
{
    uint8_t *c = vp->pci.cfg + vp->msi_cap;
    uint16_t ctrl = (uint16_t)get_le(c + MSI_CTRL, 2);
    unsigned mme = (ctrl >> MSI_CTRL_MME_SHIFT) & 7;
    if ((1u << mme) > vp->msi_max) {
        /* More than offered: the function may allocate fewer (§6.8.1.3). */
        mme = 0;
        while ((1u << (mme + 1)) <= vp->msi_max)
            mme++;
        ctrl = (uint16_t)((ctrl & ~(7u << MSI_CTRL_MME_SHIFT)) | (mme << MSI_CTRL_MME_SHIFT));
        put_le(c + MSI_CTRL, 2, ctrl);
    }
    unsigned nvec = (ctrl & MSI_CTRL_ENABLE) ? 1u << mme : 0;
    if (nvec != vp->msi_nvec) {
        for (unsigned v = 0; v < vp->msi_nvec; v++)
            vp->ops->irq_vector(vp->opaque, v, 0, 0, false);
        vp->msi_nvec = nvec;
        if (nvec)
            set_mode(vp, VFIO_IRQ_MSI, nvec);
        else if (vp->mode == VFIO_IRQ_MSI)
            set_mode(vp, start_mode(vp), vp->has_intx ? 1 : 0);
    }
    if (!nvec)
        return;
    uint64_t addr = get_le(c + 4, 4);
    if (vp->msi_64bit)
        addr |= (uint64_t)get_le(c + 8, 4) << 32;
    uint32_t data = get_le(vp->pci.cfg + msi_data_off(vp), 2);
    uint32_t mask = vp->msi_maskable ? get_le(vp->pci.cfg + msi_mask_off(vp), 4) : 0;
    for (unsigned v = 0; v < nvec; v++) {
        /* With several vectors the function puts the vector number in
         * the low bits of the data (§6.8.1.6). */
        uint32_t d = (data & ~(nvec - 1)) | v;
        vp->ops->irq_vector(vp->opaque, v, addr, d, !(mask & (1u << v)));
    }
}

static void msix_control_write(struct vfio_pci *vp, uint32_t off, uint32_t len, uint32_t val)
{
    bool want = vp->pci.cfg[vp->msix.cap + 3] & (MSIX_CTRL_ENABLE >> 8);
    if (want && vp->mode != VFIO_IRQ_MSIX) {
        if (vp->msi_nvec) {  /* both enabled is undefined (§6.8.2): MSI-X wins */
            for (unsigned v = 0; v < vp->msi_nvec; v++)
                vp->ops->irq_vector(vp->opaque, v, 0, 0, false);
            vp->msi_nvec = 0;
        }
        set_mode(vp, VFIO_IRQ_MSIX, vp->msix.nvec);
    }
    msix_cfg_write(&vp->msix, off, len, val);
    if (!want && vp->mode == VFIO_IRQ_MSIX)
        set_mode(vp, start_mode(vp), vp->has_intx ? 1 : 0);
}

static bool touches(uint32_t off, uint32_t len, uint32_t start, uint32_t size)
{
    return off < start + size && off + len > start;
}

static void vp_cfg_write(struct pci_device *pci, uint32_t off, uint32_t len, uint32_t val)
{
    struct vfio_pci *vp = pci->opaque;
    through_write(vp, off, len, val);
    if (vp->msi_cap && touches(off, len, vp->msi_cap, msi_cap_len((uint16_t)get_le(pci->cfg + vp->msi_cap + 2, 2))))
        msi_update(vp);
    if (vp->has_msix && touches(off, len, vp->msix.cap + 2u, 2))
        msix_control_write(vp, off, len, val);
}

static void vp_cfg_read(struct pci_device *pci, uint32_t off, uint32_t len)
{
    through_read(pci->opaque, off, len);
}

static void vp_command_changed(struct pci_device *pci, uint16_t old_cmd, uint16_t cmd)
{
    struct vfio_pci *vp = pci->opaque;
    if (!((old_cmd ^ cmd) & CMD_MIRRORED))
        return;
    uint8_t buf[2];
    if (vp->ops->cfg_read(vp->opaque, CFG_COMMAND, buf, 2) < 0) {
        log_warn("%s: cannot read the device's command register", vp->id);
        return;
    }
    uint16_t phys = (uint16_t)get_le(buf, 2);
    phys = (uint16_t)((phys & ~CMD_MIRRORED) | (cmd & CMD_MIRRORED));
    put_le(buf, 2, phys);
    if (vp->ops->cfg_write(vp->opaque, CFG_COMMAND, buf, 2) < 0)
        log_warn("%s: cannot write the device's command register", vp->id);
}

static void vp_reset(struct pci_device *pci)
{
    struct vfio_pci *vp = pci->opaque;
    /* The core restored the config image; bring interrupts and the real
     * function back to their start state. */
    if (vp->msi_nvec) {
        for (unsigned v = 0; v < vp->msi_nvec; v++)
            vp->ops->irq_vector(vp->opaque, v, 0, 0, false);
        vp->msi_nvec = 0;
    }
    if (vp->has_msix)
        msix_reset(&vp->msix);
    vp_command_changed(pci, CMD_MIRRORED, 0);  /* no DMA, no decode until the guest says so */
    if (vp->ops->reset)
        vp->ops->reset(vp->opaque);
    set_mode(vp, start_mode(vp), vp->has_intx ? 1 : 0);
}

static const struct pci_device_ops vfio_pci_ops = {
    .cfg_write = vp_cfg_write,
    .cfg_read = vp_cfg_read,
    .command_changed = vp_command_changed,
    .reset = vp_reset,
    .bar_changed = vp_bar_changed,
};

/* ---- construction ---- */

int vfio_pci_init(struct vfio_pci *vp, const char *id, const struct vfio_pci_layout *layout,
                  const struct vfio_pci_backend_ops *ops, void *opaque, char *err, size_t errlen)
{
    memset(vp, 0, sizeof(*vp));
    snprintf(vp->id, sizeof(vp->id), "%s", id ? id : "hostdev");
    vp->ops = ops;
    vp->opaque = opaque;
    int r = ops->cfg_read(opaque, 0, vp->phys_cfg, PCI_CFG_SIZE);
    if (r < 0) {
        errbuf_set(err, errlen, "%s: cannot read config space: %s", vp->id, strerror(-r));
        return r;
    }
    uint16_t vendor = (uint16_t)get_le(vp->phys_cfg, 2);
    if (vendor == 0xFFFF || vendor == 0) {
        errbuf_set(err, errlen, "%s: config space reads vendor 0x%04x (device gone or powered off)",
                vp->id, vendor);
        return -ENODEV;
    }
    if ((vp->phys_cfg[CFG_HEADER_TYPE] & 0x7F) != 0) {
        errbuf_set(err, errlen, "%s: header type %u: only type-0 functions (endpoints) can be assigned",
                vp->id, vp->phys_cfg[CFG_HEADER_TYPE] & 0x7F);
        return -EINVAL;
    }

    struct pci_device *pci = &vp->pci;
    pci->id = vp->id;
    pci->ops = &vfio_pci_ops;
    pci->opaque = vp;
    pci_init_header(pci, vendor, (uint16_t)get_le(vp->phys_cfg + 2, 2), vp->phys_cfg[8],
                    get_le(vp->phys_cfg + 9, 3), (uint16_t)get_le(vp->phys_cfg + 0x2C, 2),
                    (uint16_t)get_le(vp->phys_cfg + 0x2E, 2));
    uint8_t pin = vp->phys_cfg[CFG_INT_PIN];
    vp->has_intx = layout->intx_count > 0 && pin >= 1 && pin <= 4;
    pci->cfg[CFG_INT_PIN] = vp->has_intx ? pin : 0;

    setup_bars(vp, layout);
    setup_caps(vp, layout);
    setup_bar_maps(vp, layout);
    return 0;
}

int vfio_pci_register(struct vm *vm, struct vfio_pci *vp)
{
    int r = pci_register(vm, &vp->pci, 0);
    if (r < 0)
        return r;
    set_mode(vp, start_mode(vp), vp->has_intx ? 1 : 0);
    return 0;
}

void vfio_pci_stop(struct vfio_pci *vp)
{
    for (unsigned v = 0; v < vp->msi_nvec; v++)
        vp->ops->irq_vector(vp->opaque, v, 0, 0, false);
    vp->msi_nvec = 0;
    if (vp->mode != VFIO_IRQ_NONE)
        set_mode(vp, VFIO_IRQ_NONE, 0);
}

void vfio_pci_free(struct vfio_pci *vp)
{
    vfio_pci_unmap_bars(vp);
    if (vp->has_msix) {
        msix_free(&vp->msix);
        pthread_mutex_destroy(&vp->msix.lock);
        vp->has_msix = false;
    }
}
