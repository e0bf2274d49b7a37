/* The PIIX3 IDE function (PCI 8086:7010, class 0101h, prog-if 80h): two
 * legacy channels (0x1F0-0x1F7/0x3F6 on ISA IRQ 14, 0x170-0x177/0x376 on
 * IRQ 15) and bus-master IDE DMA through BAR4, with the ATA/ATAPI drives
 * of hv/devices/ata.h on them (docs/ide.md). The machine owns it
 * (machine_add_ide in hv/machine_devices.c); nothing here is global. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/machine_config.h"

struct vm;
struct ide;
struct blk_image;

/* Whether cfg has a bus=ide disk (else there is no controller). */
bool ide_config_has_drives(const struct hv_config *cfg);

/* Create the controller with the config's bus=ide disks (unit N = channel
 * N/2, device N%2) on the VM's buses: the PCI function and the legacy
 * ports. NULL with err filled. */
struct ide *ide_create(struct vm *vm, const struct hv_config *cfg, char *err, size_t errlen);
/* Start the DMA I/O thread (the device's realize). */
int ide_start(struct ide *ide, char *err, size_t errlen);
/* Off the legacy ports, and the I/O thread stopped (waiting for a
 * transfer in flight); idempotent (the device's unplug). */
void ide_stop(struct ide *ide);
/* Stop, close the images and free. */
void ide_destroy(struct ide *ide);

struct pci_device *ide_pci(struct ide *ide);

/* The id of the drive on unit 0..HV_IDE_UNITS-1, NULL when none is there. */
const char *ide_unit_id(const struct ide *ide, unsigned unit);
/* The unit of cfg->disks[disk_index] (the index ide_create saw), -1 when
 * that disk is not on this controller. */
int ide_disk_unit(const struct ide *ide, unsigned disk_index);

/* One drive as the monitor shows it (query-block). */
struct ide_drive_info {
    bool cdrom, readonly;
    bool tray_open, locked;          /* cdroms */
    const struct blk_image *image;   /* NULL: no medium */
    uint64_t size;                   /* bytes; 0 without a medium */
};
/* false when no drive has this id. Main thread (the image does not
 * change under the caller). */
bool ide_drive_info(struct ide *ide, const char *id, struct ide_drive_info *out);

/* Removable media, by drive id (the disk's id, default ide0-B-U as
 * libvirt names IDE devices): path NULL ejects. force overrides the
 * guest's PREVENT MEDIUM REMOVAL. false with err filled (unknown id, not
 * a cdrom, locked, image does not open). */
bool ide_change_medium(struct ide *ide, const char *id, const char *path, bool force,
                       char *err, size_t errlen);
/* Open or close a cdrom's tray (blockdev-open-tray / blockdev-close-tray). */
bool ide_set_tray(struct ide *ide, const char *id, bool open, bool force, char *err, size_t errlen);
/* Called on the main thread whenever a cdrom's tray opens or closes,
 * by the guest (START STOP UNIT) or through ide_change_medium /
 * ide_set_tray (before they return): the monitor's DEVICE_TRAY_MOVED. */
typedef void (*ide_tray_fn)(void *opaque, const char *id, bool open);
void ide_set_tray_listener(struct ide *ide, ide_tray_fn fn, void *opaque);
