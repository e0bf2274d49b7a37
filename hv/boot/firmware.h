/* Firmware boot (docs/firmware.md): a BIOS image such as Debian's SeaBIOS
 * mapped read-only below 4 GiB with its last 128 KiB copied to
 * 0xE0000-0xFFFFF, fed through fw_cfg (hv/devices/fw_cfg.h) with hv's
 * own e820 map, CPU count, boot order and ACPI tables. The vCPUs start at
 * the reset vector; the firmware then loads the disk's bootloader. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/boot/bzimage.h"   /* struct e820_entry */
#include "hv/x86/acpi.h"

struct vm;
struct rtc;
struct chardev;
struct fw_cfg;
struct firmware;

#define FIRMWARE_ISA_BIOS_MAX (128u << 10)   /* the copy at 0xE0000-0xFFFFF */
#define FIRMWARE_SERCON_PORT 0x3F8           /* COM1: hv has no display */

/* A disk the firmware may boot: its bootindex (0: none), PCI slot (its
 * virtio-blk function's, or the IDE controller's) and, for an IDE drive,
 * its unit (0..3). */
struct firmware_boot_disk {
    unsigned bootindex;
    uint8_t pci_slot;
    bool ide;
    uint8_t ide_unit;
};

struct firmware_params {
    const char *path;                 /* the image */
    unsigned ncpus;
    uint64_t ram_below_4g, ram_above_4g;
    const struct e820_entry *e820;    /* hv's map (boot_build_e820) */
    unsigned ne820;
    const struct acpi_config *acpi;
    const struct firmware_boot_disk *disks;
    unsigned ndisks;
};

/* Read the image: its size must be a non-zero multiple of 64 KiB and at
 * most VM_ROM_MAX. NULL with err naming the file on failure. */
uint8_t *firmware_read_image(const char *path, size_t *size, char *err, size_t errlen);
/* The same checks without reading it (early command-line validation). */
bool firmware_check_file(const char *path, char *err, size_t errlen);

/* SeaBIOS's "bootorder" file: one Open Firmware device path per line for
 * each disk with a bootindex, lowest first, "/pci@i0cf8/scsi@SLOT/disk@0,0"
 * as QEMU writes it for a virtio-blk function (SeaBIOS's src/boot.c
 * matches such a function by the path up to its slot), and
 * "/pci@i0cf8/ide@SLOT/drive@CHANNEL/disk@DEVICE" for an IDE disk or
 * cdrom (unit = 2 * channel + device; SeaBIOS's bootprio_find_ata_device
 * builds that path for both ATA and ATAPI drives). Returns the length (0: no disk has a bootindex), or 0 with
 * buf[0] = 0 when cap is too small. */
size_t firmware_bootorder(char *buf, size_t cap, const struct firmware_boot_disk *disks, unsigned ndisks);

/* Every fw_cfg item and file the firmware reads (docs/firmware.md). */
bool firmware_fill_fw_cfg(struct fw_cfg *cfg, const struct firmware_params *p, char *err, size_t errlen);

/* Build the machine's firmware: read and map the image, create fw_cfg,
 * fill the CMOS fields SeaBIOS reads, and watch the console for
 * "No bootable device.". */
struct firmware *firmware_create(struct vm *vm, const struct firmware_params *p, struct rtc *rtc,
                                 struct chardev *console, char *err, size_t errlen);

/* Power-on and every reset: the BIOS copy at 0xE0000 (and the ROM when
 * KVM could not map it read-only) restored, fw_cfg reset. */
bool firmware_reset(struct firmware *fw, char *err, size_t errlen);
