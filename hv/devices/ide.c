/* PIIX3 IDE controller; see ide.h and docs/ide.md.
 *
 * Everything the guest does reaches us as a trapped port access: the task
 * file and data port of each legacy channel, the device control register,
 * and the bus-master registers in BAR4 (Intel 82371SB PIIX3 datasheet
 * "Bus Master IDE Registers"; the SFF-8038i programming model).
 * PIO data moves on the vCPU thread, one DRQ block (at most 16 sectors,
 * or one batch of ATAPI sectors) read or written synchronously when the
 * guest starts or fills it: the guest polls the status register for that
 * block anyway, and the block is small. DMA transfers, up to 32 MiB, run
 * on the controller's I/O thread so that a slow image never stalls a
 * vCPU. */
#include "hv/devices/ide.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "hv/block/block.h"
#include "hv/devices/ata.h"
#include "hv/loop.h"
#include "hv/pci/pci.h"
#include "hv/vm.h"

/* Device control register (ATA/ATAPI-6). */
#define DEVCTL_NIEN 0x02
#define DEVCTL_SRST 0x04
#define DEVCTL_HOB 0x80

/* Bus master command/status bits (PIIX3 datasheet). */
#define BM_CMD_START 0x01
#define BM_CMD_TO_MEMORY 0x08
#define BM_ST_ACTIVE 0x01
#define BM_ST_ERROR 0x02
#define BM_ST_INTR 0x04
#define BM_ST_DMA_CAPABLE 0x60

#define PRD_EOT 0x80000000u
/* A PRD table lives in one 64 KiB region (8192 entries); a table with no
 * end bit stops there. */
#define PRD_MAX_ENTRIES 8192u

#define PCI_VENDOR_INTEL 0x8086
#define PCI_DEVICE_PIIX3_IDE 0x7010
#define PCI_CLASS_IDE_LEGACY_BM 0x010180   /* mass storage, IDE, prog-if 80h */
#define CFG_IDETIM_PRIMARY 0x40
#define CFG_IDETIM_SECONDARY 0x42
#define IDETIM_DECODE_ENABLE 0x80           /* high byte of IDETIM */

struct ide_channel {
    struct ide *ide;
    uint16_t cmd_base, ctl_port;
    uint32_t gsi;
    struct ata_drive drives[2];
    char *ids[2];
    int disk_index[2];          /* in the config, -1: no drive */
    unsigned sel;
    uint8_t devctl;
    bool irq_level, intrq_seen;

    uint8_t bm_cmd, bm_status;
    uint32_t prd_table;
    /* Owned by the I/O thread while dma_running. */
    bool dma_running;
    struct ata_drive *dma_drive;
    uint32_t prd_next;
    unsigned prd_count;
    uint64_t seg_addr;
    uint32_t seg_left;
    bool seg_last, bus_error;
};

struct ide {
    struct pci_device pci;
    struct vm *vm;
    ide_tray_fn tray_fn;
    void *tray_opaque;
    struct ide_channel ch[2];
    pthread_mutex_t lock;
    pthread_cond_t work;    /* a channel may have a DMA to run, or stop */
    pthread_cond_t idle;    /* a DMA finished */
    pthread_t thread;
    bool threaded, stop;
};

static struct ata_drive *selected(struct ide_channel *ch) { return &ch->drives[ch->sel]; }

static bool channel_empty(const struct ide_channel *ch)
{
    return ch->drives[0].kind == ATA_NONE && ch->drives[1].kind == ATA_NONE;
}

/* INTRQ of the selected device, gated by nIEN, is ISA IRQ 14/15: an
 * edge on the PIC and IOAPIC input (both program it edge-triggered). */
static void update_irq(struct ide_channel *ch)
{
    struct ata_drive *d = selected(ch);
    bool level = d->intrq && !(ch->devctl & DEVCTL_NIEN);
    /* The bus master's Interrupt bit latches the rising edge of INTRQ. */
    if (d->intrq && !ch->intrq_seen)
        ch->bm_status |= BM_ST_INTR;
    ch->intrq_seen = d->intrq;
    if (level != ch->irq_level) {
        ch->irq_level = level;
        vm_irq_line(ch->ide->vm, ch->gsi, level);
    }
}

/* Waits (lock held) until the I/O thread is not using the channel. */
static void wait_dma_idle(struct ide_channel *ch)
{
    while (ch->dma_running)
        pthread_cond_wait(&ch->ide->idle, &ch->ide->lock);
}

static void channel_reset(struct ide_channel *ch)
{
    wait_dma_idle(ch);
    for (unsigned i = 0; i < 2; i++)
        ata_drive_reset(&ch->drives[i]);
    ch->sel = 0;
}

/* ---- tray events ---- */

struct tray_event {
    struct ide *ide;
    const char *id;
    bool open;
};

static void tray_event_run(void *opaque)
{
    struct tray_event *ev = opaque;
    if (ev->ide->tray_fn)
        ev->ide->tray_fn(ev->ide->tray_opaque, ev->id, ev->open);
    free(ev);
}

/* The guest moved a tray (vCPU thread): tell the listener on the main thread. */
static void tray_moved_by_guest(struct ide_channel *ch, unsigned dev)
{
    struct ide *ide = ch->ide;
    struct tray_event *ev;
    if (!ide->tray_fn || !ide->vm->loop || !(ev = malloc(sizeof(*ev))))
        return;
    *ev = (struct tray_event){ ide, ch->ids[dev], ch->drives[dev].tray_open };
    loop_call(ide->vm->loop, tray_event_run, ev);
}

void ide_set_tray_listener(struct ide *ide, ide_tray_fn fn, void *opaque)
{
    if (!ide)
        return;
    pthread_mutex_lock(&ide->lock);
    ide->tray_fn = fn;
    ide->tray_opaque = opaque;
    pthread_mutex_unlock(&ide->lock);
}

/* ---- legacy ports ---- */

static void cmd_write(struct ide_channel *ch, unsigned reg, uint8_t v)
{
    if (reg == ATA_REG_STATUS) {
        struct ata_drive *d = selected(ch);
        if (ch->dma_running && ch->dma_drive == d)
            return;
        if (v == 0x90) {    /* EXECUTE DEVICE DIAGNOSTIC: both devices, device 0 reports */
            if (ch->dma_running)
                return;
            ata_drive_diagnose(&ch->drives[0], true);
            ata_drive_diagnose(&ch->drives[1], false);
            ch->sel = 0;
            return;
        }
        ata_command(d, v);
        return;
    }
    if (reg == ATA_REG_DEVICE)
        ch->sel = (v >> 4) & 1;
    /* Both devices latch the task file (ATA/ATAPI-6). */
    for (unsigned i = 0; i < 2; i++)
        if (!(ch->dma_running && ch->dma_drive == &ch->drives[i]))
            ata_write_reg(&ch->drives[i], (enum ata_reg)reg, v);
}

static uint8_t cmd_read(struct ide_channel *ch, unsigned reg)
{
    if (channel_empty(ch))
        return 0xFF;    /* nothing drives the bus */
    return ata_read_reg(selected(ch), (enum ata_reg)reg);
}

static void cmd_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
    struct ide_channel *ch = opaque;
    pthread_mutex_lock(&ch->ide->lock);
    if (off == 0) {
        struct ata_drive *d = selected(ch);
        bool busy = ch->dma_running && ch->dma_drive == d;
        if (is_write) {
            uint32_t v = 0;
            for (unsigned i = 0; i < len && i < 4; i++)
                v |= (uint32_t)data[i] << (8 * i);
            bool tray = d->tray_open;
            if (!busy)
                ata_data_write(d, v, len);
            if (d->tray_open != tray)   /* START STOP UNIT */
                tray_moved_by_guest(ch, ch->sel);
        } else {
            uint32_t v = busy || len > 4 ? 0 : ata_data_read(d, len);
            for (unsigned i = 0; i < len; i++)
                data[i] = (uint8_t)(v >> (8 * i));
        }
    } else {
        for (unsigned i = 0; i < len; i++) {
            unsigned reg = (unsigned)off + i;
            if (reg > 7) {
                if (!is_write)
                    data[i] = 0xFF;
                continue;
            }
            if (is_write)
                cmd_write(ch, reg, data[i]);
            else
                data[i] = cmd_read(ch, reg);
        }
    }
    update_irq(ch);
    pthread_mutex_unlock(&ch->ide->lock);
}

static void ctl_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
    struct ide_channel *ch = opaque;
    (void)off;
    pthread_mutex_lock(&ch->ide->lock);
    if (is_write) {
        uint8_t v = data[0];
        if ((v & DEVCTL_SRST) && !(ch->devctl & DEVCTL_SRST))
            channel_reset(ch);
        ch->devctl = v;
        for (unsigned i = 0; i < 2; i++)
            ata_set_hob(&ch->drives[i], v & DEVCTL_HOB);
    } else {
        /* Alternate status: does not acknowledge the interrupt. */
        uint8_t v = channel_empty(ch) ? 0xFF : ata_alt_status(selected(ch));
        memset(data, v, len);
    }
    update_irq(ch);
    pthread_mutex_unlock(&ch->ide->lock);
}

/* ---- bus master DMA ---- */

/* Load the next PRD entry: false at the end of the table or when the
 * entry is not in guest RAM (then bus_error). */
static bool prd_load(struct ide_channel *ch)
{
    if (ch->seg_last || ch->prd_count >= PRD_MAX_ENTRIES)
        return false;
    uint8_t e[8];
    if (!gm_read(&ch->ide->vm->mem, ch->prd_next, e, sizeof(e))) {
        ch->bus_error = true;
        return false;
    }
    /* Physical base (bit 0 ignored), then byte count (bit 0 ignored) and EOT. */
    uint32_t addr = (uint32_t)e[0] | (uint32_t)e[1] << 8 | (uint32_t)e[2] << 16 | (uint32_t)e[3] << 24;
    uint32_t flags = (uint32_t)e[4] | (uint32_t)e[5] << 8 | (uint32_t)e[6] << 16 | (uint32_t)e[7] << 24;
    uint32_t count = flags & 0xFFFE;
    ch->seg_addr = addr & ~1u;
    ch->seg_left = count ? count : 0x10000;     /* 0 means 64 KiB */
    ch->seg_last = flags & PRD_EOT;
    ch->prd_next += 8;
    ch->prd_count++;
    return true;
}

static bool prd_copy(struct ide_channel *ch, uint8_t *buf, size_t len, bool to_guest)
{
    while (len) {
        /* The guest may stop the engine (clear Start) at any time. */
        if (!(__atomic_load_n(&ch->bm_cmd, __ATOMIC_RELAXED) & BM_CMD_START))
            return false;
        if (ch->seg_left == 0 && !prd_load(ch))
            return false;
        size_t n = len < ch->seg_left ? len : ch->seg_left;
        bool ok = to_guest ? gm_write(&ch->ide->vm->mem, ch->seg_addr, buf, n)
                           : gm_read(&ch->ide->vm->mem, ch->seg_addr, buf, n);
        if (!ok) {
            ch->bus_error = true;
            return false;
        }
        ch->seg_addr += n;
        ch->seg_left -= (uint32_t)n;
        buf += n;
        len -= n;
    }
    return true;
}

static bool dma_to_guest(void *opaque, const void *buf, size_t len)
{
    return prd_copy(opaque, (uint8_t *)buf, len, true);
}

static bool dma_from_guest(void *opaque, void *buf, size_t len)
{
    return prd_copy(opaque, buf, len, false);
}

static const struct ata_dma_ops dma_ops = { .to_guest = dma_to_guest, .from_guest = dma_from_guest };

/* A channel whose engine is started and whose drive waits for DMA. */
static struct ide_channel *dma_ready(struct ide *ide)
{
    for (unsigned c = 0; c < 2; c++) {
        struct ide_channel *ch = &ide->ch[c];
        if (ch->dma_running || !(ch->bm_cmd & BM_CMD_START))
            continue;
        for (unsigned i = 0; i < 2; i++)
            if (ata_dma_pending(&ch->drives[i])) {
                ch->dma_drive = &ch->drives[i];
                return ch;
            }
    }
    return NULL;
}

static void dma_run(struct ide *ide, struct ide_channel *ch)
{
    struct ata_drive *d = ch->dma_drive;
    ch->dma_running = true;
    ch->prd_next = ch->prd_table;
    ch->prd_count = 0;
    ch->seg_left = 0;
    ch->seg_last = false;
    ch->bus_error = false;
    /* The engine's direction must match the command's; without bus
     * mastering enabled the function may not touch memory at all. */
    bool to_memory = ch->bm_cmd & BM_CMD_TO_MEMORY;
    enum ata_dma_result r;
    if (!pci_bus_master(&ide->pci) || to_memory == ata_dma_is_write(d)) {
        ch->bus_error = true;
        r = ATA_DMA_BUS_ERROR;
    } else {
        pthread_mutex_unlock(&ide->lock);
        r = ata_dma_execute(d, &dma_ops, ch);
        pthread_mutex_lock(&ide->lock);
    }
    /* Active stays set when the table is larger than the transfer
     * (SFF-8038i: interrupt with Active = 1); it clears at the table's
     * end and on errors. */
    bool table_done = ch->seg_left == 0 && ch->seg_last;
    if (r != ATA_DMA_OK || table_done)
        ch->bm_status &= (uint8_t)~BM_ST_ACTIVE;
    if (ch->bus_error || (r == ATA_DMA_BUS_ERROR))
        ch->bm_status |= BM_ST_ERROR;
    if (r != ATA_DMA_OK)
        log_debug("%s: DMA ended with %s", d->name, r == ATA_DMA_IO_ERROR ? "an I/O error" : "a bus error");
    ata_dma_end(d, r);
    ch->dma_running = false;
    ch->dma_drive = NULL;
    update_irq(ch);
    pthread_cond_broadcast(&ide->idle);
}

static void *io_thread(void *arg)
{
    struct ide *ide = arg;
    pthread_mutex_lock(&ide->lock);
    while (!ide->stop) {
        struct ide_channel *ch = dma_ready(ide);
        if (ch)
            dma_run(ide, ch);
        else
            pthread_cond_wait(&ide->work, &ide->lock);
    }
    pthread_mutex_unlock(&ide->lock);
    return NULL;
}

static void bm_write(struct ide_channel *ch, unsigned reg, uint8_t v)
{
    switch (reg) {
    case 0: {
        uint8_t old = ch->bm_cmd;
        /* The direction bit only changes while the engine is stopped. */
        if (old & BM_CMD_START)
            v = (uint8_t)((v & BM_CMD_START) | (old & BM_CMD_TO_MEMORY));
        __atomic_store_n(&ch->bm_cmd, (uint8_t)(v & (BM_CMD_START | BM_CMD_TO_MEMORY)), __ATOMIC_RELAXED);
        if ((v & BM_CMD_START) && !(old & BM_CMD_START)) {
            ch->bm_status |= BM_ST_ACTIVE;
            pthread_cond_signal(&ch->ide->work);
        } else if (!(v & BM_CMD_START)) {
            ch->bm_status &= (uint8_t)~BM_ST_ACTIVE;
        }
        break;
    }
    case 2:
        ch->bm_status = (uint8_t)((ch->bm_status & ~(BM_ST_DMA_CAPABLE | (v & (BM_ST_ERROR | BM_ST_INTR)))) |
                                  (v & BM_ST_DMA_CAPABLE));
        break;
    case 4: case 5: case 6: case 7: {
        unsigned shift = 8 * (reg - 4);
        ch->prd_table = (ch->prd_table & ~(0xFFu << shift)) | (uint32_t)v << shift;
        ch->prd_table &= ~3u;
        break;
    }
    default:
        break;
    }
}

static uint8_t bm_read(struct ide_channel *ch, unsigned reg)
{
    switch (reg) {
    case 0: return ch->bm_cmd;
    case 2: return ch->bm_status;
    case 4: case 5: case 6: case 7: return (uint8_t)(ch->prd_table >> (8 * (reg - 4)));
    default: return 0;
    }
}

static void bm_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
    struct ide *ide = opaque;
    pthread_mutex_lock(&ide->lock);
    for (unsigned i = 0; i < len; i++) {
        unsigned o = (unsigned)off + i;
        if (o >= 16) {
            if (!is_write)
                data[i] = 0xFF;
            continue;
        }
        struct ide_channel *ch = &ide->ch[o / 8];
        if (is_write)
            bm_write(ch, o % 8, data[i]);
        else
            data[i] = bm_read(ch, o % 8);
    }
    pthread_mutex_unlock(&ide->lock);
}

static void ide_pci_reset(struct pci_device *dev)
{
    struct ide *ide = dev->opaque;
    pthread_mutex_lock(&ide->lock);
    for (unsigned c = 0; c < 2; c++) {
        struct ide_channel *ch = &ide->ch[c];
        channel_reset(ch);
        ch->devctl = 0;
        ch->bm_cmd = 0;
        ch->bm_status = 0;
        ch->prd_table = 0;
        update_irq(ch);
    }
    pthread_mutex_unlock(&ide->lock);
}

static const struct pci_device_ops ide_pci_ops = { .reset = ide_pci_reset };

/* ---- creation ---- */

/* One drive: its image (none for an empty tray) and the ATA/ATAPI state.
 * name is libvirt's IDE device name, ide0-<bus>-<unit>. */
static bool open_drive(struct ide_channel *ch, unsigned dev, const struct hv_disk_config *dc,
                       const char *name, char *err, size_t errlen)
{
    bool cdrom = dc->media == HV_DISK_MEDIA_CDROM;
    const char *id = dc->id ? dc->id : name;
    struct blk_image *img = NULL;
    if (dc->path) {
        img = blk_image_open(dc->path, dc->format, cdrom || dc->readonly, err, errlen);
        if (!img)
            return false;
    }
    if (!ata_drive_init(&ch->drives[dev], cdrom ? ATA_CDROM : ATA_DISK, id, img, dc->serial, err,
                        errlen)) {
        if (img)
            blk_image_close(img);
        return false;
    }
    ch->ids[dev] = strdup(id);
    if (!ch->ids[dev]) {
        snprintf(err, errlen, "%s: out of memory", id);
        return false;
    }
    return true;
}

static bool place_drives(struct ide *ide, const struct hv_config *cfg, char *err, size_t errlen)
{
    const struct hv_disk_config *at[HV_IDE_UNITS] = { 0 };
    int index[HV_IDE_UNITS] = { -1, -1, -1, -1 };
    /* Explicit units first, then the rest in order into the free ones
     * (hv_config_validate refused duplicates and more than four). */
    for (unsigned pass = 0; pass < 2; pass++)
        for (unsigned i = 0; i < cfg->ndisks; i++) {
            const struct hv_disk_config *dc = &cfg->disks[i];
            if (dc->bus != HV_DISK_BUS_IDE || (pass == 0) != (dc->unit >= 0))
                continue;
            unsigned u = 0;
            if (dc->unit >= 0)
                u = (unsigned)dc->unit;
            else
                while (u < HV_IDE_UNITS && at[u])
                    u++;
            if (u >= HV_IDE_UNITS || at[u]) {
                snprintf(err, errlen, "%s: no free IDE unit (%d units: primary and secondary master/slave)",
                         dc->path ? dc->path : "cdrom", HV_IDE_UNITS);
                return false;
            }
            at[u] = dc;
            index[u] = (int)i;
        }
    for (unsigned u = 0; u < HV_IDE_UNITS; u++) {
        char name[16];
        snprintf(name, sizeof(name), "ide0-%u-%u", u / 2, u % 2);
        struct ide_channel *ch = &ide->ch[u / 2];
        ch->disk_index[u % 2] = index[u];
        if (!at[u])
            ata_drive_init(&ch->drives[u % 2], ATA_NONE, name, NULL, NULL, err, errlen);
        else if (!open_drive(ch, u % 2, at[u], name, err, errlen))
            return false;
    }
    return true;
}

bool ide_config_has_drives(const struct hv_config *cfg)
{
    for (unsigned i = 0; i < cfg->ndisks; i++)
        if (cfg->disks[i].bus == HV_DISK_BUS_IDE)
            return true;
    return false;
}

void ide_stop(struct ide *ide)
{
    /* Off the legacy ports first: after unplug the guest reaches nothing. */
    for (unsigned c = 0; c < 2; c++) {
        bus_remove(ide->vm->bus, BUS_PIO, ide->ch[c].cmd_base, &ide->ch[c]);
        bus_remove(ide->vm->bus, BUS_PIO, ide->ch[c].ctl_port, &ide->ch[c]);
    }
    if (!ide->threaded)
        return;
    pthread_mutex_lock(&ide->lock);
    ide->stop = true;
    pthread_cond_signal(&ide->work);
    pthread_mutex_unlock(&ide->lock);
    pthread_join(ide->thread, NULL);
    ide->threaded = false;
}

void ide_destroy(struct ide *ide)
{
    if (!ide)
        return;
    ide_stop(ide);
    for (unsigned c = 0; c < 2; c++)
        for (unsigned i = 0; i < 2; i++) {
            ata_drive_fini(&ide->ch[c].drives[i]);
            free(ide->ch[c].ids[i]);
        }
    pthread_cond_destroy(&ide->work);
    pthread_cond_destroy(&ide->idle);
    pthread_mutex_destroy(&ide->lock);
    free(ide);
}

struct ide *ide_create(struct vm *vm, const struct hv_config *cfg, char *err, size_t errlen)
{
    struct ide *ide = calloc(1, sizeof(*ide));
    if (!ide) {
        snprintf(err, errlen, "IDE: out of memory");
        return NULL;
    }
    ide->vm = vm;
    pthread_mutex_init(&ide->lock, NULL);
    pthread_cond_init(&ide->work, NULL);
    pthread_cond_init(&ide->idle, NULL);
    static const uint16_t cmd_base[2] = { 0x1F0, 0x170 }, ctl_port[2] = { 0x3F6, 0x376 };
    static const uint32_t gsi[2] = { 14, 15 };
    for (unsigned c = 0; c < 2; c++) {
        ide->ch[c] = (struct ide_channel){ .ide = ide, .cmd_base = cmd_base[c],
                                           .ctl_port = ctl_port[c], .gsi = gsi[c],
                                           .disk_index = { -1, -1 } };
    }
    if (!place_drives(ide, cfg, err, errlen))
        goto fail;

    /* The PCI function: identity, BAR4 for the bus master, IDE timing
     * registers with both channels' decode enabled (as firmware leaves
     * them; Linux's ata_piix skips a channel whose enable bit is clear),
     * and no INTx pin: legacy mode interrupts are ISA IRQ 14/15. */
    struct pci_device *dev = &ide->pci;
    dev->id = "ide";
    dev->ops = &ide_pci_ops;
    dev->opaque = ide;
    pci_init_header(dev, PCI_VENDOR_INTEL, PCI_DEVICE_PIIX3_IDE, 0x00, PCI_CLASS_IDE_LEGACY_BM, 0, 0);
    dev->cfg[CFG_IDETIM_PRIMARY + 1] = IDETIM_DECODE_ENABLE;
    dev->cfg[CFG_IDETIM_SECONDARY + 1] = IDETIM_DECODE_ENABLE;
    memset(dev->wmask + 0x40, 0xFF, 0x10);     /* IDETIM, SIDETIM, UDMA control/timing */
    pci_set_bar(dev, 4, PCI_BAR_IO, false, 16, bm_io, ide);
    for (unsigned c = 0; c < 2; c++)
        ide->ch[c].bm_status = (uint8_t)((ide->ch[c].drives[0].kind != ATA_NONE ? 0x20 : 0) |
                                         (ide->ch[c].drives[1].kind != ATA_NONE ? 0x40 : 0));

    int r = pci_register(vm, dev, 0);
    if (r < 0) {
        snprintf(err, errlen, "IDE: cannot register the PCI function: %s", strerror(-r));
        goto fail;
    }
    for (unsigned c = 0; c < 2; c++) {
        struct ide_channel *ch = &ide->ch[c];
        if (bus_add(vm->bus, BUS_PIO, ch->cmd_base, 8, cmd_io, ch) < 0 ||
            bus_add(vm->bus, BUS_PIO, ch->ctl_port, 1, ctl_io, ch) < 0) {
            snprintf(err, errlen, "IDE: ports 0x%x/0x%x are taken", ch->cmd_base, ch->ctl_port);
            pci_unregister(dev);
            goto fail;
        }
    }
    return ide;
fail:
    ide_destroy(ide);
    return NULL;
}

int ide_start(struct ide *ide, char *err, size_t errlen)
{
    ide->stop = false;
    int r = pthread_create(&ide->thread, NULL, io_thread, ide);
    if (r != 0) {
        snprintf(err, errlen, "IDE: cannot start the I/O thread: %s", strerror(r));
        return -r;
    }
    pthread_setname_np(ide->thread, "ide-io");
    ide->threaded = true;
    return 0;
}

struct pci_device *ide_pci(struct ide *ide) { return &ide->pci; }

const char *ide_unit_id(const struct ide *ide, unsigned unit)
{
    if (unit >= HV_IDE_UNITS)
        return NULL;
    const struct ide_channel *ch = &ide->ch[unit / 2];
    return ch->drives[unit % 2].kind == ATA_NONE ? NULL : ch->ids[unit % 2];
}

int ide_disk_unit(const struct ide *ide, unsigned disk_index)
{
    for (unsigned u = 0; u < HV_IDE_UNITS; u++)
        if (ide->ch[u / 2].disk_index[u % 2] == (int)disk_index)
            return (int)u;
    return -1;
}

/* ---- removable media ---- */

static struct ide_channel *find_drive(struct ide *ide, const char *id, struct ata_drive **out,
                                      char *err, size_t errlen)
{
    for (unsigned c = 0; ide && c < 2; c++)
        for (unsigned i = 0; i < 2; i++)
            if (ide->ch[c].ids[i] && strcmp(ide->ch[c].ids[i], id) == 0) {
                *out = &ide->ch[c].drives[i];
                return &ide->ch[c];
            }
    snprintf(err, errlen, "Device '%s' not found", id);
    return NULL;
}

bool ide_drive_info(struct ide *ide, const char *id, struct ide_drive_info *out)
{
    struct ata_drive *d;
    char err[64];
    if (!find_drive(ide, id, &d, err, sizeof(err)))
        return false;
    pthread_mutex_lock(&ide->lock);
    bool cdrom = d->kind == ATA_CDROM;
    *out = (struct ide_drive_info){
        .cdrom = cdrom,
        .readonly = d->readonly,
        .tray_open = d->tray_open,
        .locked = d->locked,
        .image = d->img,
        .size = d->img ? d->nsectors * (cdrom ? ATAPI_SECTOR : ATA_SECTOR) : 0,
    };
    pthread_mutex_unlock(&ide->lock);
    return true;
}

bool ide_change_medium(struct ide *ide, const char *id, const char *path, bool force,
                       char *err, size_t errlen)
{
    struct ata_drive *d;
    struct ide_channel *ch = find_drive(ide, id, &d, err, errlen);
    if (!ch)
        return false;
    pthread_mutex_lock(&ide->lock);
    wait_dma_idle(ch);
    bool was_open = d->tray_open;
    bool ok = ata_change_medium(d, path, force, err, errlen);
    bool now_open = d->tray_open;
    pthread_mutex_unlock(&ide->lock);
    /* A change opens the tray and, with a new medium, closes it again. */
    if (ok && ide->tray_fn) {
        if (!was_open)
            ide->tray_fn(ide->tray_opaque, id, true);
        if (!now_open)
            ide->tray_fn(ide->tray_opaque, id, false);
    }
    return ok;
}

bool ide_set_tray(struct ide *ide, const char *id, bool open, bool force, char *err, size_t errlen)
{
    struct ata_drive *d;
    struct ide_channel *ch = find_drive(ide, id, &d, err, errlen);
    if (!ch)
        return false;
    pthread_mutex_lock(&ide->lock);
    wait_dma_idle(ch);
    bool moved = d->tray_open != open;
    bool ok = ata_set_tray(d, open, force, err, errlen);
    pthread_mutex_unlock(&ide->lock);
    if (ok && moved && ide->tray_fn)
        ide->tray_fn(ide->tray_opaque, id, open);
    return ok;
}
