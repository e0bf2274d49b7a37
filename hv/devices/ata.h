/* ATA and ATAPI command logic of one drive, transport-free (docs/ide.md).
 *
 * A drive sees its task file (register writes and reads), the data port,
 * a DMA data phase run by the transport, and a block-layer image
 * (hv/block/block.h). The IDE channel (hv/devices/ide.c) and later AHCI
 * wrap it: they own device selection, the interrupt wire and the bus
 * master; the drive only says that its INTRQ is pending (intrq).
 *
 * References: ATA/ATAPI-6 (T13/1410D) for registers, protocols and
 * IDENTIFY; ATA8-ACS for the commands; MMC-5 and SPC-3 for the ATAPI
 * packet commands and sense data.
 *
 * Locking: the caller serialises all calls on a drive. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct blk_image;

/* Task-file registers (command block offsets 1..7 of ATA/ATAPI-6). */
enum ata_reg {
    ATA_REG_FEATURE = 1,    /* write; read: error */
    ATA_REG_COUNT = 2,
    ATA_REG_LBA_LOW = 3,
    ATA_REG_LBA_MID = 4,
    ATA_REG_LBA_HIGH = 5,
    ATA_REG_DEVICE = 6,
    ATA_REG_STATUS = 7,     /* read; write: command */
};

/* Status and error bits (ATA/ATAPI-6). */
#define ATA_STAT_BSY 0x80
#define ATA_STAT_DRDY 0x40
#define ATA_STAT_DF 0x20
#define ATA_STAT_DSC 0x10
#define ATA_STAT_DRQ 0x08
#define ATA_STAT_ERR 0x01
#define ATA_ERR_UNC 0x40
#define ATA_ERR_IDNF 0x10
#define ATA_ERR_ABRT 0x04

/* Sense keys and additional sense codes used (SPC-3, MMC-5). */
#define SENSE_NONE 0x0
#define SENSE_NOT_READY 0x2
#define SENSE_MEDIUM_ERROR 0x3
#define SENSE_ILLEGAL_REQUEST 0x5
#define SENSE_UNIT_ATTENTION 0x6
#define ASC_INVALID_OPCODE 0x20
#define ASC_LBA_OUT_OF_RANGE 0x21
#define ASC_INVALID_FIELD 0x24
#define ASC_MEDIUM_MAY_HAVE_CHANGED 0x28
#define ASC_SAVING_NOT_SUPPORTED 0x39
#define ASC_MEDIUM_NOT_PRESENT 0x3A
#define ASC_REMOVAL_PREVENTED 0x53

#define ATA_SECTOR 512u
#define ATAPI_SECTOR 2048u
/* One buffer per drive serves PIO blocks, packet responses and DMA
 * chunks (allocated at creation; requests never allocate). */
#define ATA_BUF_SIZE (128u * 1024u)

enum ata_kind { ATA_NONE, ATA_DISK, ATA_CDROM };

/* The DMA data phase, moved by the transport (bus master, PRD table).
 * Returns false when guest memory or the descriptor table could not take
 * the bytes (the transport records why). */
struct ata_dma_ops {
    bool (*to_guest)(void *opaque, const void *buf, size_t len);
    bool (*from_guest)(void *opaque, void *buf, size_t len);
};

enum ata_dma_result { ATA_DMA_OK, ATA_DMA_IO_ERROR, ATA_DMA_BUS_ERROR };

struct ata_drive {
    enum ata_kind kind;
    char name[32];              /* for log lines */
    struct blk_image *img;      /* NULL: no medium (cdrom) */
    bool readonly;
    uint64_t nsectors;          /* in 512 (disk) or 2048 (cdrom) byte sectors */
    char serial[21], model[41];

    /* task file; hob_* hold the previous write (LBA48 FIFO) */
    uint8_t feature, count, lba_low, lba_mid, lba_high, device;
    uint8_t hob_feature, hob_count, hob_lba_low, hob_lba_mid, hob_lba_high;
    bool hob_read;              /* device control HOB bit */
    uint8_t status, error;
    bool intrq;                 /* the drive asserts INTRQ */

    /* current command */
    uint8_t cmd;
    enum { XFER_NONE, XFER_PIO_IN, XFER_PIO_OUT, XFER_PACKET, XFER_DMA } xfer;
    uint8_t *buf;
    uint32_t pos, end;          /* PIO window (one DRQ block or chunk) in buf */
    uint64_t lba;               /* next sector of a read/write */
    uint32_t remaining;         /* sectors still to move from/to the image */
    uint32_t block_sectors;     /* sectors per DRQ block */
    bool dma_write;
    uint32_t reply_len;         /* ATAPI: bytes of data in buf for this data phase */
    uint16_t byte_limit;        /* ATAPI PIO byte count limit */

    /* settings */
    unsigned multiple;          /* SET MULTIPLE MODE (0 = off) */
    unsigned heads, spt;        /* CHS translation (INITIALIZE DEVICE PARAMETERS) */
    uint8_t xfer_mode;          /* SET FEATURES 03h value */
    bool write_cache;

    /* ATAPI */
    uint8_t packet[12];
    uint8_t sense_key, asc, ascq;
    bool unit_attention;        /* report "medium may have changed" once */
    bool tray_open, locked;
    uint8_t media_event;        /* GET EVENT STATUS media event code pending */
};

/* Set up a drive (buffer allocated, registers at their reset values).
 * img may be NULL for an empty cdrom tray; a disk needs one. The drive
 * owns img from here. false with err filled. */
bool ata_drive_init(struct ata_drive *d, enum ata_kind kind, const char *name,
                    struct blk_image *img, const char *serial, char *err, size_t errlen);
void ata_drive_fini(struct ata_drive *d);

/* Hardware/software reset (SRST, power-on): signature in the task file,
 * the command in progress dropped. */
void ata_drive_reset(struct ata_drive *d);
/* EXECUTE DEVICE DIAGNOSTIC runs on both devices of a channel; this is
 * one device's part (signature, diagnostic code 01h, INTRQ for device 0). */
void ata_drive_diagnose(struct ata_drive *d, bool raise_irq);

void ata_write_reg(struct ata_drive *d, enum ata_reg reg, uint8_t val);   /* 1..6 */
uint8_t ata_read_reg(struct ata_drive *d, enum ata_reg reg);              /* 1..7 */
void ata_set_hob(struct ata_drive *d, bool hob);
/* The command register. */
void ata_command(struct ata_drive *d, uint8_t cmd);
/* Status read through the status register clears INTRQ; alternate status
 * does not (ata_read_reg(ATA_REG_STATUS) is the former). */
uint8_t ata_alt_status(const struct ata_drive *d);

/* Data port, len 1, 2 or 4 bytes (the value little-endian). */
uint32_t ata_data_read(struct ata_drive *d, unsigned len);
void ata_data_write(struct ata_drive *d, uint32_t val, unsigned len);

/* DMA: a command waits for the transport's bus master while
 * ata_dma_pending. The transport then runs ata_dma_execute (without its
 * lock, may block on I/O; the transport keeps other calls off the drive
 * meanwhile) and ata_dma_end (under the lock: status, INTRQ). */
bool ata_dma_pending(const struct ata_drive *d);
bool ata_dma_is_write(const struct ata_drive *d);
enum ata_dma_result ata_dma_execute(struct ata_drive *d, const struct ata_dma_ops *ops, void *opaque);
void ata_dma_end(struct ata_drive *d, enum ata_dma_result r);

/* Removable media (cdrom): replace the medium with the raw image at path
 * (NULL: eject, leaving the tray open and empty). Fails when the guest
 * locked the tray and !force (the guest then sees an eject request), or
 * when the image does not open; the old medium stays then. */
bool ata_change_medium(struct ata_drive *d, const char *path, bool force, char *err, size_t errlen);
/* Open or close the tray (the medium stays); closing over a medium raises
 * the unit attention. Same locking rule. */
bool ata_set_tray(struct ata_drive *d, bool open, bool force, char *err, size_t errlen);
