/* The PIIX3 IDE function (PCI 8086:7010, class 0101h, prog-if 80h): two
 * legacy channels (0x1F0-0x1F7/0x3F6 on ISA IRQ 14, 0x170-0x177/0x376 on
 * IRQ 15) and bus-master IDE DMA through BAR4, with the ATA/ATAPI drives
 * of hv/devices/ata.h on them (docs/ide.md). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "hv/config.h"

struct vm;
struct ide;

/* Create the controller with the config's bus=ide disks (unit N = channel
 * N/2, device N%2) and register it with the machine: the PCI function,
 * the legacy ports and the I/O thread for DMA. With no IDE disk in the
 * config nothing is created (*out = NULL). false with err filled. */
bool ide_create(struct vm *vm, const struct hv_config *cfg, struct ide **out, char *err, size_t errlen);
void ide_destroy(struct ide *ide);

/* The controller of this process (NULL without IDE disks), for the monitor. */
struct ide *ide_get(void);

/* Removable media, by drive id (the disk's id, default ide0-0-N as
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

/* Whether a drive has this id. */
bool ide_has_drive(struct ide *ide, const char *id);

/* QMP eject, blockdev-open-tray, blockdev-close-tray and
 * blockdev-change-medium in QEMU 7.2's shapes, for hvd's change-media
 * (hv/devices/ide_monitor.c). Works (answering DeviceNotFound) without an
 * IDE controller. Returns 0 or -ENOMEM. */
struct monitor;
int ide_attach_monitor(struct monitor *mon);
