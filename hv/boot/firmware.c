/* Firmware boot: the BIOS image, its two mappings, fw_cfg's contents and
 * the CMOS fields SeaBIOS reads (docs/firmware.md). */
#include "hv/boot/firmware.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errbuf.h"
#include "common/log.h"
#include "hv/devices/chardev.h"
#include "hv/devices/fw_cfg.h"
#include "hv/devices/platform.h"
#include "hv/vm.h"

#define ROM_ALIGN (64u << 10)          /* QEMU accepts BIOS images in 64 KiB units */
#define ISA_BIOS_END 0x100000ULL
#define E820_ENTRY_LEN 20              /* le64 address, le64 length, le32 type */
#define BOOT_FAIL_WAIT_FOREVER 0xFFFFFFFFu
#define NO_BOOT_TEXT "No bootable device."
#define BOOTORDER_MAX 2048

/* CMOS fields QEMU's PC sets and SeaBIOS reads (src/hw/rtc.h names;
 * x86-boot.md §7 for the RTC itself). */
#define CMOS_MEM_BASE_LOW     0x15     /* KiB below 640 KiB */
#define CMOS_MEM_EXTMEM_LOW   0x17     /* KiB from 1 MiB to 64 MiB */
#define CMOS_MEM_EXTMEM_LOW2  0x30     /* the same, again */
#define CMOS_MEM_EXTMEM2_LOW  0x34     /* 64 KiB units from 16 MiB to 4 GiB */
#define CMOS_MEM_HIGHMEM_LOW  0x5B     /* 64 KiB units above 4 GiB (3 bytes) */
#define CMOS_BIOS_SMP_COUNT   0x5F     /* vCPUs - 1 */

struct firmware {
    struct vm *vm;
    uint8_t *image;
    size_t size;
    void *rom;                         /* the mapping at 4 GiB - size */
    bool rom_writable;                 /* no KVM_MEM_READONLY: restored on reset */
    struct fw_cfg *fw_cfg;

    pthread_mutex_t watch_lock;        /* console bytes come from vCPU threads */
    size_t watch_pos;                  /* bytes of NO_BOOT_TEXT matched so far */
    bool reported;
};

/* The image's size, or -1 with err set. */
static long long image_size(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        errbuf_set(err, errlen, "cannot read firmware %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size % ROM_ALIGN || (uint64_t)st.st_size > VM_ROM_MAX) {
        errbuf_set(err, errlen, "firmware %s: size %lld is not a multiple of 64 KiB between 64 KiB and %llu MiB",
                   path, (long long)st.st_size, (unsigned long long)(VM_ROM_MAX >> 20));
        return -1;
    }
    return (long long)st.st_size;
}

bool firmware_check_file(const char *path, char *err, size_t errlen)
{
    if (image_size(path, err, errlen) < 0)
        return false;
    if (access(path, R_OK) < 0) {
        errbuf_set(err, errlen, "cannot read firmware %s: %s", path, strerror(errno));
        return false;
    }
    return true;
}

uint8_t *firmware_read_image(const char *path, size_t *size, char *err, size_t errlen)
{
    long long expected = image_size(path, err, errlen);
    if (expected < 0)
        return NULL;
    uint8_t *image = boot_read_file(path, size, "firmware", err, errlen);
    if (image && *size != (size_t)expected) {
        errbuf_set(err, errlen, "firmware %s changed while it was read", path);
        free(image);
        return NULL;
    }
    return image;
}

size_t firmware_bootorder(char *buf, size_t cap, const struct firmware_boot_disk *disks, unsigned ndisks)
{
    size_t len = 0;
    if (cap)
        buf[0] = 0;
    /* Lowest bootindex first; equal ones keep the disks' order. */
    unsigned last = 0;
    for (;;) {
        unsigned next = 0;
        for (unsigned i = 0; i < ndisks; i++)
            if (disks[i].bootindex > last && (!next || disks[i].bootindex < next))
                next = disks[i].bootindex;
        if (!next)
            return len;
        for (unsigned i = 0; i < ndisks; i++) {
            if (disks[i].bootindex != next)
                continue;
            const struct firmware_boot_disk *d = &disks[i];
            const char *sep = len ? "\n" : "";
            int n = d->ide
                        ? snprintf(buf + len, cap - len, "%s/pci@i0cf8/ide@%x/drive@%x/disk@%x", sep,
                                   d->pci_slot, d->ide_unit / 2u, d->ide_unit % 2u)
                        : snprintf(buf + len, cap - len, "%s/pci@i0cf8/scsi@%x/disk@0,0", sep,
                                   d->pci_slot);
            if (n < 0 || (size_t)n >= cap - len) {
                if (cap)
                    buf[0] = 0;
                return 0;
            }
            len += (size_t)n;
        }
        last = next;
    }
}

static bool add(int r, const char *what, char *err, size_t errlen)
{
    if (r < 0)
        errbuf_set(err, errlen, "fw_cfg: cannot add %s: %s", what, strerror(-r));
    return r >= 0;
}

bool firmware_fill_fw_cfg(struct fw_cfg *cfg, const struct firmware_params *p, char *err, size_t errlen)
{
    bool ok = add(fw_cfg_add_item_le(cfg, FW_CFG_RAM_SIZE, p->ram_below_4g + p->ram_above_4g, 8), "RAM size",
                  err, errlen) &&
              add(fw_cfg_add_item_le(cfg, FW_CFG_NB_CPUS, p->ncpus, 2), "CPU count", err, errlen) &&
              add(fw_cfg_add_item_le(cfg, FW_CFG_MAX_CPUS, p->ncpus, 2), "CPU limit", err, errlen) &&
              add(fw_cfg_add_item_le(cfg, FW_CFG_NOGRAPHIC, 1, 2), "nographic", err, errlen) &&
              /* SeaBIOS calls this item etc/show-boot-menu; 0: no menu, no
               * wait for a key nobody will press. */
              add(fw_cfg_add_item_le(cfg, FW_CFG_BOOT_MENU, 0, 2), "boot menu", err, errlen) &&
              add(fw_cfg_add_file_le(cfg, "etc/sercon-port", FIRMWARE_SERCON_PORT, 2), "etc/sercon-port",
                  err, errlen) &&
              /* After "No bootable device." wait rather than reboot in a
               * loop (QEMU's default reboot-timeout). */
              add(fw_cfg_add_file_le(cfg, "etc/boot-fail-wait", BOOT_FAIL_WAIT_FOREVER, 4), "etc/boot-fail-wait",
                  err, errlen) &&
              /* hv's DSDT declares only the 32-bit PCI window: 64-bit BARs
               * stay there unless it is full (SeaBIOS src/fw/pciinit.c
               * would move them above 4 GiB whenever RAM is there). */
              add(fw_cfg_add_file(cfg, "opt/org.seabios/pci64", "no", 2), "opt/org.seabios/pci64", err, errlen);
    if (!ok)
        return false;

    uint8_t e820[E820_MAX * E820_ENTRY_LEN];
    if (p->ne820 > E820_MAX) {
        errbuf_set(err, errlen, "fw_cfg: %u e820 entries, at most %d", p->ne820, E820_MAX);
        return false;
    }
    for (unsigned i = 0; i < p->ne820; i++) {
        uint8_t *e = e820 + i * E820_ENTRY_LEN;
        for (int b = 0; b < 8; b++) {
            e[b] = (uint8_t)(p->e820[i].addr >> (8 * b));
            e[8 + b] = (uint8_t)(p->e820[i].size >> (8 * b));
        }
        for (int b = 0; b < 4; b++)
            e[16 + b] = (uint8_t)(p->e820[i].type >> (8 * b));
    }
    if (!add(fw_cfg_add_file(cfg, "etc/e820", e820, p->ne820 * E820_ENTRY_LEN), "etc/e820", err, errlen))
        return false;

    char order[BOOTORDER_MAX];
    size_t olen = firmware_bootorder(order, sizeof(order), p->disks, p->ndisks);
    if (olen && !add(fw_cfg_add_file(cfg, "bootorder", order, (uint32_t)olen + 1), "bootorder", err, errlen))
        return false;

    struct acpi_loader_files acpi;
    if (!acpi_build_for_loader(p->acpi, &acpi)) {
        errbuf_set(err, errlen, "cannot build the ACPI tables for the firmware");
        return false;
    }
    ok = add(fw_cfg_add_file(cfg, ACPI_LOADER_TABLES, acpi.tables, (uint32_t)acpi.tables_len), ACPI_LOADER_TABLES,
             err, errlen) &&
         add(fw_cfg_add_file(cfg, ACPI_LOADER_RSDP, acpi.rsdp, sizeof(acpi.rsdp)), ACPI_LOADER_RSDP, err, errlen) &&
         add(fw_cfg_add_file(cfg, "etc/table-loader", acpi.loader, (uint32_t)acpi.loader_len), "etc/table-loader",
             err, errlen);
    acpi_loader_files_free(&acpi);
    return ok;
}

static void cmos_set16(struct rtc *rtc, uint8_t index, uint64_t value)
{
    if (value > 0xFFFF)
        value = 0xFFFF;
    rtc_cmos_set(rtc, index, (uint8_t)value);
    rtc_cmos_set(rtc, (uint8_t)(index + 1), (uint8_t)(value >> 8));
}

/* SeaBIOS falls back to these when fw_cfg has no etc/e820 (src/fw/paravirt.c). */
static void fill_cmos(struct rtc *rtc, const struct firmware_params *p)
{
    uint64_t below = p->ram_below_4g;
    cmos_set16(rtc, CMOS_MEM_BASE_LOW, 640);
    uint64_t ext_kib = (below - (1ULL << 20)) >> 10;   /* capped at 0xFFFF, as QEMU does */
    cmos_set16(rtc, CMOS_MEM_EXTMEM_LOW, ext_kib);
    cmos_set16(rtc, CMOS_MEM_EXTMEM_LOW2, ext_kib);
    cmos_set16(rtc, CMOS_MEM_EXTMEM2_LOW, below > (16ULL << 20) ? (below - (16ULL << 20)) >> 16 : 0);
    uint64_t high = p->ram_above_4g >> 16;
    for (int i = 0; i < 3; i++)
        rtc_cmos_set(rtc, (uint8_t)(CMOS_MEM_HIGHMEM_LOW + i), (uint8_t)(high >> (8 * i)));
    rtc_cmos_set(rtc, CMOS_BIOS_SMP_COUNT, (uint8_t)(p->ncpus - 1));
}

/* SeaBIOS says it found nothing to boot only on its console; say it in
 * the worker's log as well (the domain log under hvd). */
static void watch_console(void *opaque, const uint8_t *buf, size_t len)
{
    struct firmware *fw = opaque;
    static const char needle[] = NO_BOOT_TEXT;
    bool hit = false;
    pthread_mutex_lock(&fw->watch_lock);
    for (size_t i = 0; i < len && !fw->reported; i++) {
        if (buf[i] == (uint8_t)needle[fw->watch_pos])
            fw->watch_pos++;
        else
            fw->watch_pos = buf[i] == (uint8_t)needle[0];
        if (fw->watch_pos == sizeof(needle) - 1)
            hit = fw->reported = true;
    }
    pthread_mutex_unlock(&fw->watch_lock);
    if (hit)
        log_error("firmware: " NO_BOOT_TEXT " (no disk holds a bootloader the firmware could load)");
}

struct firmware *firmware_create(struct vm *vm, const struct firmware_params *p, struct rtc *rtc,
                                 struct chardev *console, char *err, size_t errlen)
{
    struct firmware *fw = calloc(1, sizeof(*fw));
    if (!fw) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    fw->vm = vm;
    pthread_mutex_init(&fw->watch_lock, NULL);
    fw->image = firmware_read_image(p->path, &fw->size, err, errlen);
    if (!fw->image)
        goto fail;
    fw->rom = mmap(NULL, fw->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (fw->rom == MAP_FAILED) {
        fw->rom = NULL;
        errbuf_set(err, errlen, "cannot map firmware %s: %s", p->path, strerror(errno));
        goto fail;
    }
    memcpy(fw->rom, fw->image, fw->size);
    uint64_t gpa = (1ULL << 32) - fw->size;
    int r = vm_host_slot_add_rom(vm, gpa, fw->size, fw->rom);
    if (r == -ENOTSUP) {
        log_info("firmware: KVM cannot map memory read-only; the ROM is writable and restored on reset");
        fw->rom_writable = true;
        r = vm_host_slot_add(vm, gpa, fw->size, fw->rom);
    }
    if (r < 0) {
        errbuf_set(err, errlen, "cannot map firmware %s at 0x%llx: %s", p->path, (unsigned long long)gpa,
                   strerror(-r));
        munmap(fw->rom, fw->size);
        fw->rom = NULL;
        goto fail;
    }
    fw->fw_cfg = fw_cfg_create(vm);
    if (!fw->fw_cfg) {
        errbuf_set(err, errlen, "cannot create the fw_cfg device");
        goto fail;
    }
    if (!firmware_fill_fw_cfg(fw->fw_cfg, p, err, errlen))
        goto fail;
    fill_cmos(rtc, p);
    chardev_set_observer(console, watch_console, fw);
    log_debug("firmware %s: %zu KiB at 0x%llx", p->path, fw->size >> 10, (unsigned long long)gpa);
    return fw;
fail:
    /* Setup failure: the worker exits. A ROM in a KVM slot stays mapped
     * (the slot goes with the VM). */
    fw_cfg_free(fw->fw_cfg);
    free(fw->image);
    free(fw);
    return NULL;
}

bool firmware_reset(struct firmware *fw, char *err, size_t errlen)
{
    if (fw->rom_writable)
        memcpy(fw->rom, fw->image, fw->size);
    /* The isa-bios copy: the real-mode entry at F000:FFF0 and everything
     * SeaBIOS runs below 1 MiB. Its shadow RAM is plain RAM here, so a
     * reset must put the pristine copy back (docs/firmware.md, PAM). */
    size_t isa = fw->size < FIRMWARE_ISA_BIOS_MAX ? fw->size : FIRMWARE_ISA_BIOS_MAX;
    if (!gm_write(&fw->vm->mem, ISA_BIOS_END - isa, fw->image + fw->size - isa, isa)) {
        errbuf_set(err, errlen, "cannot copy the firmware below 1 MiB");
        return false;
    }
    fw_cfg_reset(fw->fw_cfg);
    pthread_mutex_lock(&fw->watch_lock);
    fw->watch_pos = 0;
    fw->reported = false;
    pthread_mutex_unlock(&fw->watch_lock);
    return true;
}
