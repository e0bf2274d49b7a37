/* ATA disk and ATAPI cdrom command logic; see ata.h and docs/ide.md. */
#include "hv/devices/ata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "common/log.h"
#include "hv/block/block.h"

/* ATA command codes (ATA8-ACS). */
#define CMD_DEVICE_RESET 0x08
#define CMD_RECALIBRATE 0x10
#define CMD_READ_SECTORS 0x20
#define CMD_READ_SECTORS_NR 0x21
#define CMD_READ_SECTORS_EXT 0x24
#define CMD_READ_DMA_EXT 0x25
#define CMD_READ_MULTIPLE_EXT 0x29
#define CMD_WRITE_SECTORS 0x30
#define CMD_WRITE_SECTORS_NR 0x31
#define CMD_WRITE_SECTORS_EXT 0x34
#define CMD_WRITE_DMA_EXT 0x35
#define CMD_WRITE_MULTIPLE_EXT 0x39
#define CMD_READ_VERIFY 0x40
#define CMD_READ_VERIFY_NR 0x41
#define CMD_READ_VERIFY_EXT 0x42
#define CMD_SEEK 0x70
#define CMD_INIT_DEV_PARAMS 0x91
#define CMD_PACKET 0xA0
#define CMD_IDENTIFY_PACKET 0xA1
#define CMD_READ_MULTIPLE 0xC4
#define CMD_WRITE_MULTIPLE 0xC5
#define CMD_SET_MULTIPLE 0xC6
#define CMD_READ_DMA 0xC8
#define CMD_READ_DMA_NR 0xC9
#define CMD_WRITE_DMA 0xCA
#define CMD_WRITE_DMA_NR 0xCB
#define CMD_STANDBY_IMMEDIATE 0xE0
#define CMD_IDLE_IMMEDIATE 0xE1
#define CMD_STANDBY 0xE2
#define CMD_IDLE 0xE3
#define CMD_CHECK_POWER_MODE 0xE5
#define CMD_FLUSH_CACHE 0xE7
#define CMD_FLUSH_CACHE_EXT 0xEA
#define CMD_IDENTIFY 0xEC
#define CMD_SET_FEATURES 0xEF

/* SCSI/MMC operation codes (SPC-3, MMC-5). */
#define SCSI_TEST_UNIT_READY 0x00
#define SCSI_REQUEST_SENSE 0x03
#define SCSI_INQUIRY 0x12
#define SCSI_START_STOP_UNIT 0x1B
#define SCSI_PREVENT_ALLOW 0x1E
#define SCSI_READ_CAPACITY 0x25
#define SCSI_READ_10 0x28
#define SCSI_SEEK_10 0x2B
#define SCSI_READ_TOC 0x43
#define SCSI_GET_CONFIGURATION 0x46
#define SCSI_GET_EVENT_STATUS 0x4A
#define SCSI_READ_DISC_INFO 0x51
#define SCSI_MODE_SENSE_10 0x5A
#define SCSI_READ_12 0xA8
#define SCSI_SET_CD_SPEED 0xBB
#define SCSI_MECHANISM_STATUS 0xBD

/* ATAPI interrupt reason in the count register (ATA/ATAPI-6). */
#define IREASON_COD 0x01
#define IREASON_IO 0x02

#define MAX_MULTIPLE 16         /* IDENTIFY word 47: sectors per READ/WRITE MULTIPLE block */
#define LBA28_MAX 0x0FFFFFFFull

/* ---- helpers ---- */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void be16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void be32(uint8_t *p, uint32_t v) { be16(p, v >> 16); be16(p + 2, v); }
static uint32_t get_be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t get_be32(const uint8_t *p) { return get_be16(p) << 16 | get_be16(p + 2); }

static bool is_atapi(const struct ata_drive *d) { return d->kind == ATA_CDROM; }

static bool medium_present(const struct ata_drive *d) { return d->img && !d->tray_open; }

static uint8_t ready_status(const struct ata_drive *d)
{
    return is_atapi(d) ? ATA_STAT_DRDY : ATA_STAT_DRDY | ATA_STAT_DSC;
}

/* The command ends: status without BSY/DRQ, INTRQ. */
static void complete(struct ata_drive *d, uint8_t error)
{
    d->xfer = XFER_NONE;
    d->pos = d->end = 0;
    d->error = error;
    d->status = ready_status(d) | (error ? ATA_STAT_ERR : 0);
    d->intrq = true;
}

static void abort_command(struct ata_drive *d) { complete(d, ATA_ERR_ABRT); }

/* ATA strings: two characters per word, the first in the high byte,
 * padded with spaces (ATA/ATAPI-6). */
static void id_string(uint8_t *id, unsigned word, unsigned nwords, const char *s)
{
    size_t n = strlen(s);
    for (unsigned i = 0; i < 2 * nwords; i++) {
        char c = i < n ? s[i] : ' ';
        id[2 * word + (i ^ 1)] = (uint8_t)c;
    }
}

static void id_word(uint8_t *id, unsigned word, uint16_t v) { put16(id + 2 * word, v); }

/* Word 255: signature A5h and a checksum making the 512 bytes sum to 0. */
static void id_checksum(uint8_t *id)
{
    id[510] = 0xA5;
    uint8_t sum = 0;
    for (unsigned i = 0; i < 511; i++)
        sum = (uint8_t)(sum + id[i]);
    id[511] = (uint8_t)-sum;
}

static void id_common(struct ata_drive *d, uint8_t *id)
{
    id_string(id, 10, 10, d->serial);
    id_string(id, 23, 4, "1.0");
    id_string(id, 27, 20, d->model);
    /* Multiword DMA 0-2 supported (word 63), PIO 3-4 (word 64), cycle times. */
    unsigned sel = d->xfer_mode >> 3, mode = d->xfer_mode & 7;
    id_word(id, 63, 0x0007 | (sel == 4 ? 0x100 << mode : 0));
    id_word(id, 64, 0x0003);
    for (unsigned w = 65; w <= 68; w++)
        id_word(id, w, 120);
    id_word(id, 88, 0x003F | (sel == 8 ? 0x100 << mode : 0));   /* UDMA 0-5 */
}

static void identify_disk(struct ata_drive *d, uint8_t *id)
{
    memset(id, 0, 512);
    uint64_t n = d->nsectors;
    uint64_t cyl = n / (16 * 63);
    if (cyl > 16383)
        cyl = 16383;
    /* Words 54-58: the translation INITIALIZE DEVICE PARAMETERS set. */
    uint64_t cur_cyl = n / ((uint64_t)d->heads * d->spt);
    if (cur_cyl > 65535)
        cur_cyl = 65535;
    uint64_t chs_cap = cur_cyl * d->heads * d->spt;
    if (chs_cap > 0xFFFFFFFF)
        chs_cap = 0xFFFFFFFF;
    uint64_t lba28 = n < LBA28_MAX ? n : LBA28_MAX;

    id_word(id, 0, 0x0040);                 /* fixed disk */
    id_word(id, 1, (uint16_t)cyl);
    id_word(id, 3, 16);
    id_word(id, 6, 63);
    id_common(d, id);
    id_word(id, 47, 0x8000 | MAX_MULTIPLE);
    id_word(id, 49, 0x0300);                /* LBA, DMA */
    id_word(id, 50, 0x4000);
    id_word(id, 53, 0x0007);                /* words 54-58, 64-70, 88 valid */
    id_word(id, 54, (uint16_t)cur_cyl);
    id_word(id, 55, (uint16_t)d->heads);
    id_word(id, 56, (uint16_t)d->spt);
    id_word(id, 57, (uint16_t)chs_cap);
    id_word(id, 58, (uint16_t)(chs_cap >> 16));
    id_word(id, 59, d->multiple ? 0x100 | d->multiple : 0);
    id_word(id, 60, (uint16_t)lba28);
    id_word(id, 61, (uint16_t)(lba28 >> 16));
    id_word(id, 80, 0x00F0);                /* ATA-4 .. ATA-7 */
    id_word(id, 82, 0x4028);                /* NOP, write cache, power management */
    id_word(id, 83, 0x7400);                /* FLUSH CACHE EXT, FLUSH CACHE, LBA48 */
    id_word(id, 84, 0x4000);
    id_word(id, 85, 0x4008 | (d->write_cache ? 0x20 : 0));
    id_word(id, 86, 0x3400);
    id_word(id, 87, 0x4000);
    id_word(id, 93, 0x6001);                /* device 0 passed, 80-conductor cable */
    for (unsigned i = 0; i < 4; i++)
        id_word(id, 100 + i, (uint16_t)(n >> (16 * i)));
    id_checksum(id);
}

static void identify_packet(struct ata_drive *d, uint8_t *id)
{
    memset(id, 0, 512);
    /* ATAPI, CD-ROM (05h), removable, DRQ within 50 us, 12-byte packets. */
    id_word(id, 0, 0x85C0);
    id_common(d, id);
    id_word(id, 49, 0x0300);                /* LBA, DMA */
    id_word(id, 53, 0x0006);
    id_word(id, 80, 0x007E);                /* ATA/ATAPI-1 .. 6 */
    id_word(id, 82, 0x4010);                /* NOP, PACKET feature set */
    id_word(id, 83, 0x4000);
    id_word(id, 84, 0x4000);
    id_word(id, 85, 0x4010);
    id_word(id, 87, 0x4000);
    id_checksum(id);
}

/* The reset signature (ATA/ATAPI-6): ATAPI in the LBA registers. */
static void signature(struct ata_drive *d)
{
    d->count = 1;
    d->lba_low = 1;
    d->lba_mid = is_atapi(d) ? 0x14 : 0;
    d->lba_high = is_atapi(d) ? 0xEB : 0;
    d->device = 0;
    d->hob_read = false;
}

/* ---- ATA data transfers ---- */

/* Start a PIO data-in block from the disk. */
static void pio_load_block(struct ata_drive *d)
{
    uint32_t n = d->remaining < d->block_sectors ? d->remaining : d->block_sectors;
    struct iovec iov = { d->buf, (size_t)n * ATA_SECTOR };
    if (blk_image_preadv(d->img, &iov, 1, d->lba * ATA_SECTOR, iov.iov_len) < 0) {
        complete(d, ATA_ERR_UNC | ATA_ERR_ABRT);
        return;
    }
    d->lba += n;
    d->remaining -= n;
    d->pos = 0;
    d->end = n * ATA_SECTOR;
    d->xfer = XFER_PIO_IN;
    d->status = ATA_STAT_DRDY | ATA_STAT_DSC | ATA_STAT_DRQ;
    d->intrq = true;
}

static void pio_expect_block(struct ata_drive *d)
{
    uint32_t n = d->remaining < d->block_sectors ? d->remaining : d->block_sectors;
    d->pos = 0;
    d->end = n * ATA_SECTOR;
    d->xfer = XFER_PIO_OUT;
    d->status = ATA_STAT_DRDY | ATA_STAT_DSC | ATA_STAT_DRQ;
}

static void pio_store_block(struct ata_drive *d)
{
    struct iovec iov = { d->buf, d->end };
    if (blk_image_pwritev(d->img, &iov, 1, d->lba * ATA_SECTOR, d->end) < 0) {
        complete(d, ATA_ERR_ABRT);
        return;
    }
    uint32_t n = d->end / ATA_SECTOR;
    d->lba += n;
    d->remaining -= n;
    if (d->remaining == 0) {
        complete(d, 0);
        return;
    }
    pio_expect_block(d);
    d->intrq = true;
}

/* Task file -> LBA and count of a read/write command; false (IDNF) when
 * the range is not inside the disk. */
static bool rw_range(struct ata_drive *d, bool lba48)
{
    uint64_t lba;
    uint32_t count;
    if (lba48) {
        lba = (uint64_t)d->hob_lba_high << 40 | (uint64_t)d->hob_lba_mid << 32 |
              (uint64_t)d->hob_lba_low << 24 | (uint64_t)d->lba_high << 16 |
              (uint64_t)d->lba_mid << 8 | d->lba_low;
        count = (uint32_t)d->hob_count << 8 | d->count;
        if (count == 0)
            count = 65536;
    } else {
        if (d->device & 0x40) {
            lba = (uint64_t)(d->device & 0x0F) << 24 | (uint64_t)d->lba_high << 16 |
                  (uint64_t)d->lba_mid << 8 | d->lba_low;
        } else {
            /* CHS in the current translation (INITIALIZE DEVICE PARAMETERS). */
            unsigned cyl = (unsigned)d->lba_high << 8 | d->lba_mid, head = d->device & 0x0F;
            unsigned sector = d->lba_low;
            if (sector == 0 || sector > d->spt || head >= d->heads) {
                complete(d, ATA_ERR_IDNF | ATA_ERR_ABRT);
                return false;
            }
            lba = ((uint64_t)cyl * d->heads + head) * d->spt + sector - 1;
        }
        count = d->count ? d->count : 256;
    }
    if (lba >= d->nsectors || count > d->nsectors - lba) {
        complete(d, ATA_ERR_IDNF | ATA_ERR_ABRT);
        return false;
    }
    d->lba = lba;
    d->remaining = count;
    return true;
}

static void start_dma(struct ata_drive *d, bool write)
{
    d->xfer = XFER_DMA;
    d->dma_write = write;
    d->reply_len = 0;
    d->status = ATA_STAT_BSY | ATA_STAT_DRDY | ATA_STAT_DSC;
}

static void set_features(struct ata_drive *d)
{
    switch (d->feature) {
    case 0x03: {    /* set transfer mode (ATA8-ACS) */
        unsigned sel = d->count >> 3, mode = d->count & 7;
        bool ok = (sel == 0 && mode <= 1) || (sel == 1 && mode <= 4) || (sel == 4 && mode <= 2) ||
                  (sel == 8 && mode <= 5);
        if (!ok) {
            abort_command(d);
            return;
        }
        d->xfer_mode = d->count;
        break;
    }
    case 0x02: d->write_cache = true; break;
    case 0x82: d->write_cache = false; break;
    case 0xAA: case 0x55:   /* read look-ahead on/off */
    case 0x66: case 0xCC:   /* revert to power-on defaults off/on */
        break;
    default:
        abort_command(d);
        return;
    }
    complete(d, 0);
}

static void flush(struct ata_drive *d)
{
    complete(d, d->img && !d->readonly && blk_image_flush(d->img) < 0 ? ATA_ERR_ABRT : 0);
}

static void disk_command(struct ata_drive *d, uint8_t cmd)
{
    bool lba48 = false;
    switch (cmd) {
    case CMD_IDENTIFY:
        identify_disk(d, d->buf);
        d->pos = 0;
        d->end = 512;
        d->remaining = 0;
        d->xfer = XFER_PIO_IN;
        d->status = ATA_STAT_DRDY | ATA_STAT_DSC | ATA_STAT_DRQ;
        d->intrq = true;
        return;
    case CMD_READ_SECTORS_EXT: case CMD_READ_MULTIPLE_EXT:
        lba48 = true;
        /* fall through */
    case CMD_READ_SECTORS: case CMD_READ_SECTORS_NR: case CMD_READ_MULTIPLE:
        if ((cmd == CMD_READ_MULTIPLE || cmd == CMD_READ_MULTIPLE_EXT) && !d->multiple) {
            abort_command(d);
            return;
        }
        if (!rw_range(d, lba48))
            return;
        d->block_sectors = cmd == CMD_READ_MULTIPLE || cmd == CMD_READ_MULTIPLE_EXT ? d->multiple : 1;
        pio_load_block(d);
        return;
    case CMD_WRITE_SECTORS_EXT: case CMD_WRITE_MULTIPLE_EXT:
        lba48 = true;
        /* fall through */
    case CMD_WRITE_SECTORS: case CMD_WRITE_SECTORS_NR: case CMD_WRITE_MULTIPLE:
        if ((cmd == CMD_WRITE_MULTIPLE || cmd == CMD_WRITE_MULTIPLE_EXT) && !d->multiple) {
            abort_command(d);
            return;
        }
        if (d->readonly) {
            abort_command(d);
            return;
        }
        if (!rw_range(d, lba48))
            return;
        d->block_sectors = cmd == CMD_WRITE_MULTIPLE || cmd == CMD_WRITE_MULTIPLE_EXT ? d->multiple : 1;
        pio_expect_block(d);
        return;
    case CMD_READ_DMA_EXT:
        lba48 = true;
        /* fall through */
    case CMD_READ_DMA: case CMD_READ_DMA_NR:
        if (rw_range(d, lba48))
            start_dma(d, false);
        return;
    case CMD_WRITE_DMA_EXT:
        lba48 = true;
        /* fall through */
    case CMD_WRITE_DMA: case CMD_WRITE_DMA_NR:
        if (d->readonly) {
            abort_command(d);
            return;
        }
        if (rw_range(d, lba48))
            start_dma(d, true);
        return;
    case CMD_READ_VERIFY_EXT:
        lba48 = true;
        /* fall through */
    case CMD_READ_VERIFY: case CMD_READ_VERIFY_NR:
        if (rw_range(d, lba48))
            complete(d, 0);
        return;
    case CMD_SET_MULTIPLE:
        /* 0 disables; otherwise a power of two up to word 47's maximum. */
        if (d->count > MAX_MULTIPLE || (d->count & (d->count - 1))) {
            abort_command(d);
            return;
        }
        d->multiple = d->count;
        complete(d, 0);
        return;
    case CMD_INIT_DEV_PARAMS:
        if (d->count == 0) {
            abort_command(d);
            return;
        }
        d->spt = d->count;
        d->heads = (d->device & 0x0F) + 1u;
        complete(d, 0);
        return;
    case CMD_FLUSH_CACHE: case CMD_FLUSH_CACHE_EXT:
        flush(d);
        return;
    case CMD_SEEK:
        complete(d, 0);
        return;
    default:
        if ((cmd & 0xF0) == CMD_RECALIBRATE) {
            complete(d, 0);
            return;
        }
        abort_command(d);
        return;
    }
}

/* ---- ATAPI ---- */

static void set_sense(struct ata_drive *d, uint8_t key, uint8_t asc, uint8_t ascq)
{
    d->sense_key = key;
    d->asc = asc;
    d->ascq = ascq;
}

/* The packet command ends (status phase: I/O and C/D set). */
static void atapi_done(struct ata_drive *d)
{
    complete(d, (uint8_t)(d->sense_key << 4));
    if (d->sense_key == SENSE_NONE)
        d->status &= (uint8_t)~ATA_STAT_ERR;
    d->count = IREASON_IO | IREASON_COD;
}

static void atapi_ok(struct ata_drive *d)
{
    set_sense(d, SENSE_NONE, 0, 0);
    atapi_done(d);
}

static void atapi_check(struct ata_drive *d, uint8_t key, uint8_t asc, uint8_t ascq)
{
    set_sense(d, key, asc, ascq);
    atapi_done(d);
}

static void atapi_not_ready(struct ata_drive *d)
{
    atapi_check(d, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT, d->tray_open ? 0x02 : 0x01);
}

/* Next PIO data-in chunk of at most the byte count limit. */
static void atapi_pio_chunk(struct ata_drive *d)
{
    uint32_t left = d->reply_len - d->pos;
    uint32_t n = left < d->byte_limit ? left : d->byte_limit;
    d->end = d->pos + n;
    d->lba_mid = (uint8_t)n;
    d->lba_high = (uint8_t)(n >> 8);
    d->count = IREASON_IO;
    d->xfer = XFER_PIO_IN;
    d->status = ATA_STAT_DRDY | ATA_STAT_DRQ;
    d->intrq = true;
}

/* Load the next batch of 2048-byte sectors of a READ into buf; false
 * after ending the command with a medium error. */
static bool atapi_load_sectors(struct ata_drive *d)
{
    uint32_t n = d->remaining < ATA_BUF_SIZE / ATAPI_SECTOR ? d->remaining : ATA_BUF_SIZE / ATAPI_SECTOR;
    struct iovec iov = { d->buf, (size_t)n * ATAPI_SECTOR };
    if (blk_image_preadv(d->img, &iov, 1, d->lba * ATAPI_SECTOR, iov.iov_len) < 0) {
        atapi_check(d, SENSE_MEDIUM_ERROR, 0x11, 0);   /* unrecovered read error */
        return false;
    }
    d->lba += n;
    d->remaining -= n;
    d->pos = 0;
    d->reply_len = n * ATAPI_SECTOR;
    return true;
}

/* Data-in phase of len bytes already in buf, or of `sectors` from the
 * medium (remaining/lba set, len 0). */
static void atapi_data_in(struct ata_drive *d, uint32_t len)
{
    set_sense(d, SENSE_NONE, 0, 0);
    if (len == 0 && d->remaining == 0) {
        atapi_ok(d);
        return;
    }
    if (d->feature & 0x01) {    /* DMA requested in the PACKET command's features */
        start_dma(d, false);
        d->reply_len = len;
        return;
    }
    d->pos = 0;
    d->reply_len = len;
    if (len == 0 && d->remaining && !atapi_load_sectors(d))
        return;
    if (d->reply_len == 0) {
        atapi_ok(d);
        return;
    }
    atapi_pio_chunk(d);
}

static void atapi_reply(struct ata_drive *d, uint32_t len, uint32_t alloc)
{
    d->remaining = 0;
    atapi_data_in(d, len < alloc ? len : alloc);
}

static void atapi_read(struct ata_drive *d, uint64_t lba, uint64_t n)
{
    if (lba > d->nsectors || n > d->nsectors - lba) {
        atapi_check(d, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
        return;
    }
    if (n == 0) {
        atapi_ok(d);
        return;
    }
    d->lba = lba;
    d->remaining = (uint32_t)n;
    atapi_data_in(d, 0);
}

static void lba_to_msf(uint8_t *p, uint64_t lba)
{
    lba += 150;     /* the 2-second pregap (MMC-5) */
    p[0] = 0;
    p[1] = (uint8_t)(lba / (60 * 75));
    p[2] = (uint8_t)(lba / 75 % 60);
    p[3] = (uint8_t)(lba % 75);
}

static void toc_addr(uint8_t *p, uint64_t lba, bool msf)
{
    if (msf)
        lba_to_msf(p, lba);
    else
        be32(p, (uint32_t)lba);
}

static void read_toc(struct ata_drive *d, const uint8_t *p)
{
    bool msf = p[1] & 0x02;
    unsigned format = p[2] & 0x0F, track = p[6];
    uint32_t alloc = get_be16(p + 7);
    uint8_t *b = d->buf;
    memset(b, 0, 64);
    unsigned len;
    if (format == 0) {          /* TOC: one data track and the lead-out */
        if (track > 1 && track != 0xAA) {
            atapi_check(d, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
            return;
        }
        b[2] = 1;
        b[3] = 1;
        len = 4;
        if (track <= 1) {
            b[len + 1] = 0x14;  /* ADR 1, control: data track */
            b[len + 2] = 1;
            toc_addr(b + len + 4, 0, msf);
            len += 8;
        }
        b[len + 1] = 0x14;
        b[len + 2] = 0xAA;
        toc_addr(b + len + 4, d->nsectors, msf);
        len += 8;
    } else if (format == 1) {   /* session info: one session from track 1 at 0 */
        b[2] = 1;
        b[3] = 1;
        b[5] = 0x14;
        b[6] = 1;
        toc_addr(b + 8, 0, msf);
        len = 12;
    } else {
        atapi_check(d, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
        return;
    }
    be16(b, len - 2);
    atapi_reply(d, len, alloc);
}

/* A DVD-ROM profile for media larger than a CD (MMC-5). */
static uint16_t current_profile(const struct ata_drive *d)
{
    if (!medium_present(d))
        return 0;
    return d->nsectors > 360000 ? 0x0010 : 0x0008;    /* 80-minute CD: 360000 sectors */
}

/* GET CONFIGURATION's RT field: 0 and 1 list the features from the
 * starting number on (all of ours are current), 2 only that one. */
static bool want_feature(unsigned rt, unsigned start, unsigned feature)
{
    return rt == 2 ? start == feature : start <= feature;
}

static void get_configuration(struct ata_drive *d, const uint8_t *p)
{
    unsigned rt = p[1] & 0x03, start = get_be16(p + 2);
    uint32_t alloc = get_be16(p + 7);
    uint8_t *b = d->buf;
    memset(b, 0, 64);
    uint16_t cur = current_profile(d);
    be16(b + 6, cur);
    unsigned len = 8;
    /* Profile List (0000h): DVD-ROM and CD-ROM. */
    if (want_feature(rt, start, 0x0000)) {
        uint8_t *f = b + len;
        f[2] = 0x03;            /* persistent, current */
        f[3] = 8;
        be16(f + 4, 0x0010);
        f[6] = cur == 0x0010;
        be16(f + 8, 0x0008);
        f[10] = cur == 0x0008;
        len += 12;
    }
    /* Core (0001h): ATAPI interface. */
    if (want_feature(rt, start, 0x0001)) {
        uint8_t *f = b + len;
        be16(f, 0x0001);
        f[2] = 0x0B;            /* version 2, persistent, current */
        f[3] = 8;
        be32(f + 4, 2);         /* ATAPI */
        f[8] = 0x01;            /* DBE */
        len += 12;
    }
    /* Removable Medium (0003h): tray, eject, lock. */
    if (want_feature(rt, start, 0x0003)) {
        uint8_t *f = b + len;
        be16(f, 0x0003);
        f[2] = 0x03;
        f[3] = 4;
        f[4] = 0x29;            /* tray loading mechanism, eject, lock */
        len += 8;
    }
    be32(b, len - 4);
    atapi_reply(d, len, alloc);
}

static void get_event_status(struct ata_drive *d, const uint8_t *p)
{
    uint32_t alloc = get_be16(p + 7);
    if (!(p[1] & 0x01)) {       /* only polled operation */
        atapi_check(d, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
        return;
    }
    uint8_t *b = d->buf;
    memset(b, 0, 8);
    b[3] = 0x10;                /* supported: media class */
    unsigned len = 4;
    if (p[4] & 0x10) {
        b[2] = 0x04;
        b[len] = d->media_event;
        b[len + 1] = (d->tray_open ? 0x01 : 0) | (medium_present(d) ? 0x02 : 0);
        d->media_event = 0;
        len += 4;
    } else {
        b[2] = 0x80;            /* no event available for the classes asked */
    }
    be16(b, len - 2);
    atapi_reply(d, len, alloc);
}

static void mode_sense(struct ata_drive *d, const uint8_t *p)
{
    unsigned pc = p[2] >> 6, page = p[2] & 0x3F;
    uint32_t alloc = get_be16(p + 7);
    if (pc == 3) {
        atapi_check(d, SENSE_ILLEGAL_REQUEST, ASC_SAVING_NOT_SUPPORTED, 0);
        return;
    }
    if (page != 0x01 && page != 0x2A && page != 0x3F) {
        atapi_check(d, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
        return;
    }
    uint8_t *b = d->buf;
    memset(b, 0, 64);
    unsigned len = 8;
    b[2] = medium_present(d) ? 0x01 : 0x70;     /* medium type: data CD, or door open */
    bool changeable = pc == 1;
    if (page == 0x01 || page == 0x3F) {         /* read error recovery */
        b[len] = 0x01;
        b[len + 1] = 0x06;
        if (!changeable)
            b[len + 3] = 5;                     /* read retry count */
        len += 8;
    }
    if (page == 0x2A || page == 0x3F) {         /* MM capabilities and mechanical status */
        uint8_t *m = b + len;
        m[0] = 0x2A;
        m[1] = 0x12;
        if (!changeable) {
            m[2] = 0x08;                        /* reads DVD-ROM */
            m[4] = 0x71;                        /* mode 2 form 1/2, multisession, audio */
            m[5] = 0x5F;
            m[6] = 0x29 | (d->locked ? 0x02 : 0);   /* tray, eject, lock (state) */
            be16(m + 8, 706 * 4);               /* max read speed, kB/s */
            be16(m + 12, 512);                  /* buffer, KiB */
            be16(m + 14, 706 * 4);
        }
        len += 20;
    }
    be16(b, len - 2);
    atapi_reply(d, len, alloc);
}

static void atapi_command(struct ata_drive *d)
{
    const uint8_t *p = d->packet;
    uint8_t op = p[0];
    /* A pending unit attention answers every command but these (MMC-5). */
    if (d->unit_attention && op != SCSI_INQUIRY && op != SCSI_REQUEST_SENSE &&
        op != SCSI_GET_CONFIGURATION && op != SCSI_GET_EVENT_STATUS) {
        d->unit_attention = false;
        atapi_check(d, SENSE_UNIT_ATTENTION, ASC_MEDIUM_MAY_HAVE_CHANGED, 0);
        return;
    }
    uint8_t *b = d->buf;
    switch (op) {
    case SCSI_TEST_UNIT_READY:
        if (!medium_present(d))
            atapi_not_ready(d);
        else
            atapi_ok(d);
        return;
    case SCSI_REQUEST_SENSE: {
        memset(b, 0, 18);
        b[0] = 0x70;            /* current, fixed format */
        if (d->sense_key == SENSE_NONE && !medium_present(d))
            set_sense(d, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT, d->tray_open ? 0x02 : 0x01);
        b[2] = d->sense_key;
        b[7] = 10;
        b[12] = d->asc;
        b[13] = d->ascq;
        atapi_reply(d, 18, p[4]);
        return;
    }
    case SCSI_INQUIRY: {
        memset(b, 0, 36);
        b[0] = 0x05;            /* CD/DVD device */
        b[1] = 0x80;            /* removable */
        b[2] = 0x05;            /* SPC-3 */
        b[3] = 0x02;
        b[4] = 31;
        memcpy(b + 8, "HVD     ", 8);
        memcpy(b + 16, "HVD DVD-ROM     ", 16);
        memcpy(b + 32, "1.0 ", 4);
        atapi_reply(d, 36, get_be16(p + 3));
        return;
    }
    case SCSI_START_STOP_UNIT:
        if (p[4] & 0x02) {      /* LoEj: Start loads (closes), otherwise ejects */
            char err[64];
            if (!ata_set_tray(d, !(p[4] & 0x01), false, err, sizeof(err))) {
                atapi_check(d, SENSE_ILLEGAL_REQUEST, ASC_REMOVAL_PREVENTED, 0x02);
                return;
            }
            d->unit_attention = false;  /* the guest did it; no attention for itself */
        }
        atapi_ok(d);
        return;
    case SCSI_PREVENT_ALLOW:
        d->locked = p[4] & 0x01;
        atapi_ok(d);
        return;
    case SCSI_SET_CD_SPEED:
    case SCSI_SEEK_10:
        if (!medium_present(d) && op == SCSI_SEEK_10)
            atapi_not_ready(d);
        else
            atapi_ok(d);
        return;
    case SCSI_MODE_SENSE_10:
        mode_sense(d, p);
        return;
    case SCSI_GET_CONFIGURATION:
        get_configuration(d, p);
        return;
    case SCSI_GET_EVENT_STATUS:
        get_event_status(d, p);
        return;
    case SCSI_MECHANISM_STATUS:
        memset(b, 0, 8);
        b[1] = d->tray_open ? 0x10 : 0;
        atapi_reply(d, 8, get_be16(p + 8));
        return;
    default:
        break;
    }
    /* The rest need a medium. */
    if (!medium_present(d)) {
        if (op == SCSI_READ_CAPACITY || op == SCSI_READ_10 || op == SCSI_READ_12 ||
            op == SCSI_READ_TOC || op == SCSI_READ_DISC_INFO)
            atapi_not_ready(d);
        else
            atapi_check(d, SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0);
        return;
    }
    switch (op) {
    case SCSI_READ_CAPACITY:
        be32(b, (uint32_t)(d->nsectors - 1));
        be32(b + 4, ATAPI_SECTOR);
        atapi_reply(d, 8, 8);
        return;
    case SCSI_READ_10:
        atapi_read(d, get_be32(p + 2), get_be16(p + 7));
        return;
    case SCSI_READ_12:
        atapi_read(d, get_be32(p + 2), get_be32(p + 6));
        return;
    case SCSI_READ_TOC:
        read_toc(d, p);
        return;
    case SCSI_READ_DISC_INFO:
        if (p[1] & 0x07) {      /* only the standard disc information */
            atapi_check(d, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
            return;
        }
        memset(b, 0, 34);
        be16(b, 32);
        b[2] = 0x0E;            /* last session complete, disc complete */
        b[3] = 1;               /* first track */
        b[4] = 1;               /* sessions */
        b[5] = 1;               /* first and last track of the last session */
        b[6] = 1;
        b[7] = 0x20;            /* unrestricted use */
        memset(b + 16, 0xFF, 8);    /* no lead-in / lead-out times */
        atapi_reply(d, 34, get_be16(p + 7));
        return;
    default:
        atapi_check(d, SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0);
        return;
    }
}

static void cdrom_command(struct ata_drive *d, uint8_t cmd)
{
    switch (cmd) {
    case CMD_PACKET: {
        if (d->feature & 0x02) {    /* overlapped: not supported */
            abort_command(d);
            return;
        }
        /* PIO byte count limit; 0 is invalid, odd limits are rounded down. */
        uint32_t limit = ((uint32_t)d->lba_high << 8 | d->lba_mid) & ~1u;
        d->byte_limit = (uint16_t)(limit ? limit : 0xFFFE);
        d->pos = 0;
        d->end = sizeof(d->packet);
        d->xfer = XFER_PACKET;
        d->count = IREASON_COD;
        d->status = ATA_STAT_DRDY | ATA_STAT_DRQ;
        return;
    }
    case CMD_IDENTIFY_PACKET:
        identify_packet(d, d->buf);
        d->pos = 0;
        d->end = 512;
        d->reply_len = 0;
        d->xfer = XFER_PIO_IN;
        d->status = ATA_STAT_DRDY | ATA_STAT_DRQ;
        d->intrq = true;
        return;
    case CMD_DEVICE_RESET:
        ata_drive_reset(d);
        return;
    case CMD_IDENTIFY:
        /* An ATAPI device aborts it and shows its signature (ATA/ATAPI-6). */
        abort_command(d);
        signature(d);
        return;
    default:
        abort_command(d);
        return;
    }
}

/* ---- the register interface ---- */

bool ata_drive_init(struct ata_drive *d, enum ata_kind kind, const char *name,
                    struct blk_image *img, const char *serial, char *err, size_t errlen)
{
    memset(d, 0, sizeof(*d));
    d->kind = kind;
    snprintf(d->name, sizeof(d->name), "%s", name);
    if (kind == ATA_NONE)
        return true;
    if (kind == ATA_DISK && !img) {
        snprintf(err, errlen, "%s: a disk needs an image", name);
        return false;
    }
    d->buf = malloc(ATA_BUF_SIZE);
    if (!d->buf) {
        snprintf(err, errlen, "%s: out of memory", name);
        return false;
    }
    snprintf(d->serial, sizeof(d->serial), "%s", serial && *serial ? serial : name);
    snprintf(d->model, sizeof(d->model), "%s", kind == ATA_DISK ? "HVD HARDDISK" : "HVD DVD-ROM");
    d->img = img;
    if (img) {
        d->readonly = kind == ATA_CDROM || blk_image_readonly(img);
        d->nsectors = blk_image_size(img) / (kind == ATA_DISK ? ATA_SECTOR : ATAPI_SECTOR);
    }
    d->readonly |= kind == ATA_CDROM;
    d->write_cache = true;
    ata_drive_reset(d);
    return true;
}

void ata_drive_fini(struct ata_drive *d)
{
    if (d->img)
        blk_image_close(d->img);
    free(d->buf);
    memset(d, 0, sizeof(*d));
}

void ata_drive_reset(struct ata_drive *d)
{
    d->xfer = XFER_NONE;
    d->pos = d->end = 0;
    d->remaining = 0;
    d->intrq = false;
    d->multiple = 0;
    d->heads = 16;
    d->spt = 63;
    signature(d);
    d->feature = d->hob_feature = d->hob_count = 0;
    d->hob_lba_low = d->hob_lba_mid = d->hob_lba_high = 0;
    d->error = 0x01;    /* diagnostic code: passed */
    d->status = d->kind == ATA_DISK ? ATA_STAT_DRDY | ATA_STAT_DSC : 0;
}

void ata_drive_diagnose(struct ata_drive *d, bool raise_irq)
{
    ata_drive_reset(d);
    d->intrq = raise_irq && d->kind != ATA_NONE;
}

void ata_set_hob(struct ata_drive *d, bool hob) { d->hob_read = hob; }

void ata_write_reg(struct ata_drive *d, enum ata_reg reg, uint8_t val)
{
    /* Writes while the device is busy are ignored (ATA/ATAPI-6). */
    if (d->status & ATA_STAT_BSY)
        return;
    d->hob_read = false;
    switch (reg) {
    case ATA_REG_FEATURE: d->hob_feature = d->feature; d->feature = val; break;
    case ATA_REG_COUNT: d->hob_count = d->count; d->count = val; break;
    case ATA_REG_LBA_LOW: d->hob_lba_low = d->lba_low; d->lba_low = val; break;
    case ATA_REG_LBA_MID: d->hob_lba_mid = d->lba_mid; d->lba_mid = val; break;
    case ATA_REG_LBA_HIGH: d->hob_lba_high = d->lba_high; d->lba_high = val; break;
    case ATA_REG_DEVICE: d->device = val; break;
    case ATA_REG_STATUS: break;
    }
}

uint8_t ata_read_reg(struct ata_drive *d, enum ata_reg reg)
{
    bool hob = d->hob_read;
    switch (reg) {
    case ATA_REG_FEATURE: return d->error;
    case ATA_REG_COUNT: return hob ? d->hob_count : d->count;
    case ATA_REG_LBA_LOW: return hob ? d->hob_lba_low : d->lba_low;
    case ATA_REG_LBA_MID: return hob ? d->hob_lba_mid : d->lba_mid;
    case ATA_REG_LBA_HIGH: return hob ? d->hob_lba_high : d->lba_high;
    case ATA_REG_DEVICE: return d->device;
    case ATA_REG_STATUS:
        d->intrq = false;
        return ata_alt_status(d);
    }
    return 0;
}

uint8_t ata_alt_status(const struct ata_drive *d)
{
    return d->kind == ATA_NONE ? 0 : d->status;
}

void ata_command(struct ata_drive *d, uint8_t cmd)
{
    if (d->kind == ATA_NONE || (d->status & ATA_STAT_BSY))
        return;
    d->cmd = cmd;
    d->intrq = false;
    d->xfer = XFER_NONE;
    switch (cmd) {
    case CMD_SET_FEATURES:
        set_features(d);
        return;
    case CMD_CHECK_POWER_MODE:
        d->count = 0xFF;    /* active or idle */
        complete(d, 0);
        return;
    case CMD_STANDBY_IMMEDIATE: case CMD_IDLE_IMMEDIATE: case CMD_STANDBY: case CMD_IDLE:
        complete(d, 0);
        return;
    }
    if (is_atapi(d))
        cdrom_command(d, cmd);
    else
        disk_command(d, cmd);
}

/* The host took the whole PIO window. */
static void pio_in_done(struct ata_drive *d)
{
    if (!is_atapi(d)) {
        if (d->remaining)
            pio_load_block(d);
        else {
            d->xfer = XFER_NONE;
            d->status = ready_status(d);
        }
        return;
    }
    if (d->cmd == CMD_IDENTIFY_PACKET) {
        d->xfer = XFER_NONE;
        d->status = ready_status(d);
        return;
    }
    if (d->pos >= d->reply_len) {
        if (!d->remaining) {
            atapi_ok(d);
            return;
        }
        if (!atapi_load_sectors(d))
            return;
    }
    atapi_pio_chunk(d);
}

uint32_t ata_data_read(struct ata_drive *d, unsigned len)
{
    if (d->xfer != XFER_PIO_IN || len > 4)
        return 0;
    uint32_t v = 0;
    for (unsigned i = 0; i < len && d->pos < d->end; i++)
        v |= (uint32_t)d->buf[d->pos++] << (8 * i);
    if (d->pos >= d->end)
        pio_in_done(d);
    return v;
}

void ata_data_write(struct ata_drive *d, uint32_t val, unsigned len)
{
    if ((d->xfer != XFER_PIO_OUT && d->xfer != XFER_PACKET) || len > 4)
        return;
    uint8_t *dst = d->xfer == XFER_PACKET ? d->packet : d->buf;
    for (unsigned i = 0; i < len && d->pos < d->end; i++)
        dst[d->pos++] = (uint8_t)(val >> (8 * i));
    if (d->pos < d->end)
        return;
    if (d->xfer == XFER_PACKET) {
        d->xfer = XFER_NONE;
        atapi_command(d);
    } else {
        pio_store_block(d);
    }
}

/* ---- DMA ---- */

bool ata_dma_pending(const struct ata_drive *d) { return d->xfer == XFER_DMA; }
bool ata_dma_is_write(const struct ata_drive *d) { return d->dma_write; }

enum ata_dma_result ata_dma_execute(struct ata_drive *d, const struct ata_dma_ops *ops, void *opaque)
{
    if (d->reply_len)     /* a packet reply already in buf */
        return ops->to_guest(opaque, d->buf, d->reply_len) ? ATA_DMA_OK : ATA_DMA_BUS_ERROR;
    uint32_t ss = is_atapi(d) ? ATAPI_SECTOR : ATA_SECTOR;
    while (d->remaining) {
        uint32_t n = d->remaining < ATA_BUF_SIZE / ss ? d->remaining : ATA_BUF_SIZE / ss;
        struct iovec iov = { d->buf, (size_t)n * ss };
        if (d->dma_write) {
            if (!ops->from_guest(opaque, d->buf, iov.iov_len))
                return ATA_DMA_BUS_ERROR;
            if (blk_image_pwritev(d->img, &iov, 1, d->lba * ss, iov.iov_len) < 0)
                return ATA_DMA_IO_ERROR;
        } else {
            if (blk_image_preadv(d->img, &iov, 1, d->lba * ss, iov.iov_len) < 0)
                return ATA_DMA_IO_ERROR;
            if (!ops->to_guest(opaque, d->buf, iov.iov_len))
                return ATA_DMA_BUS_ERROR;
        }
        d->lba += n;
        d->remaining -= n;
    }
    return ATA_DMA_OK;
}

void ata_dma_end(struct ata_drive *d, enum ata_dma_result r)
{
    d->reply_len = 0;
    d->remaining = 0;
    if (is_atapi(d)) {
        if (r == ATA_DMA_OK)
            atapi_ok(d);
        else if (r == ATA_DMA_IO_ERROR)
            atapi_check(d, SENSE_MEDIUM_ERROR, 0x11, 0);
        else
            abort_command(d);
        return;
    }
    complete(d, r == ATA_DMA_OK ? 0 : r == ATA_DMA_IO_ERROR ? ATA_ERR_UNC | ATA_ERR_ABRT : ATA_ERR_ABRT);
}

/* ---- removable media ---- */

bool ata_set_tray(struct ata_drive *d, bool open, bool force, char *err, size_t errlen)
{
    if (d->kind != ATA_CDROM) {
        snprintf(err, errlen, "%s is not a removable-media device", d->name);
        return false;
    }
    if (open == d->tray_open)
        return true;
    if (open && d->locked && !force) {
        d->media_event = 1;     /* eject request: the guest may unlock and eject */
        snprintf(err, errlen, "Device '%s' is locked and force was not specified, wait for tray to open and try again",
                 d->name);
        return false;
    }
    d->tray_open = open;
    if (open) {
        d->locked = false;
        if (d->img)
            d->media_event = 3;             /* media removal */
    } else if (d->img) {
        d->unit_attention = true;
        d->media_event = 2;                 /* new media */
    }
    return true;
}

bool ata_change_medium(struct ata_drive *d, const char *path, bool force, char *err, size_t errlen)
{
    if (d->kind == ATA_CDROM && d->locked && !force)
        return ata_set_tray(d, true, false, err, errlen);   /* refused, with an eject request */
    struct blk_image *img = NULL;
    if (path) {
        img = blk_image_open(path, HV_DISK_FORMAT_RAW, true, err, errlen);
        if (!img)
            return false;
    }
    if (!ata_set_tray(d, true, force, err, errlen)) {
        if (img)
            blk_image_close(img);
        return false;
    }
    if (d->img)
        blk_image_close(d->img);
    d->img = img;
    d->nsectors = img ? blk_image_size(img) / ATAPI_SECTOR : 0;
    if (img)
        ata_set_tray(d, false, true, err, errlen);
    log_info("%s: medium %s%s", d->name, img ? "changed to " : "ejected", img ? path : "");
    return true;
}
