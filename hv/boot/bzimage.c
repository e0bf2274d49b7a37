/* bzImage loader, 64-bit boot protocol (x86-boot.md §1-§3). */
#include "hv/boot/bzimage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errbuf.h"
#include "common/log.h"
#include "hv/boot/vmlinux.h"
#include "hv/guest_mem.h"

/* Setup header / boot_params offsets (boot.rst, zero-page.rst). */
#define HDR_SETUP_SECTS    0x1F1
#define HDR_SYSSIZE        0x1F4
#define HDR_VID_MODE       0x1FA
#define HDR_BOOT_FLAG      0x1FE
#define HDR_JUMP           0x200
#define HDR_MAGIC          0x202
#define HDR_VERSION        0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS      0x211
#define HDR_RAMDISK_IMAGE  0x218
#define HDR_RAMDISK_SIZE   0x21C
#define HDR_CMD_LINE_PTR   0x228
#define HDR_INITRD_MAX     0x22C
#define HDR_KERNEL_ALIGN   0x230
#define HDR_RELOCATABLE    0x234
#define HDR_XLOADFLAGS     0x236
#define HDR_CMDLINE_SIZE   0x238
#define HDR_INIT_SIZE      0x260
#define BP_ACPI_RSDP       0x070
#define BP_EXT_RAMDISK_IMG 0x0C0
#define BP_EXT_RAMDISK_SZ  0x0C4
#define BP_EXT_CMD_LINE    0x0C8
#define BP_E820_ENTRIES    0x1E8
#define BP_SENTINEL        0x1EF
#define BP_E820_TABLE      0x2D0
#define XLF_KERNEL_64      0x1

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void wr64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

bool bzimage_parse(const uint8_t *img, size_t len, struct bzimage_info *info, char *err, size_t errlen)
{
    memset(info, 0, sizeof(*info));
    if (len < 0x400) {
        errbuf_set(err, errlen, "not a bzImage (file is only %zu bytes)", len);
        return false;
    }
    if (rd16(img + HDR_BOOT_FLAG) != 0xAA55 || rd32(img + HDR_MAGIC) != 0x53726448) {
        errbuf_set(err, errlen, "not a bzImage (no 0xAA55 boot flag / \"HdrS\" setup header)");
        return false;
    }
    info->version = rd16(img + HDR_VERSION);
    if (info->version < 0x020C) {
        errbuf_set(err, errlen, "bzImage boot protocol %u.%02u is too old (need 2.12 or later)",
                info->version >> 8, info->version & 0xFF);
        return false;
    }
    info->xloadflags = rd16(img + HDR_XLOADFLAGS);
    if (!(info->xloadflags & XLF_KERNEL_64)) {
        errbuf_set(err, errlen, "bzImage has no 64-bit entry point (xloadflags 0x%x)", info->xloadflags);
        return false;
    }
    info->setup_sects = img[HDR_SETUP_SECTS];
    info->setup_len = (size_t)((info->setup_sects ? info->setup_sects : 4) + 1) * 512;
    info->header_end = 0x202 + img[HDR_JUMP + 1];
    if (img[HDR_JUMP] != 0xEB || info->header_end > 0x290 || info->header_end < HDR_INIT_SIZE + 4) {
        errbuf_set(err, errlen, "bzImage setup header has an unexpected layout");
        return false;
    }
    if (info->setup_len >= len) {
        errbuf_set(err, errlen, "bzImage is truncated (setup %zu bytes, file %zu)", info->setup_len, len);
        return false;
    }
    /* syssize: the protected-mode payload in 16-byte units (boot.rst). */
    uint64_t payload = (uint64_t)rd32(img + HDR_SYSSIZE) * 16;
    if (payload > len - info->setup_len) {
        errbuf_set(err, errlen, "bzImage is truncated (payload %llu bytes, file has %zu)",
                (unsigned long long)payload, len - info->setup_len);
        return false;
    }
    info->init_size = rd32(img + HDR_INIT_SIZE);
    info->initrd_addr_max = rd32(img + HDR_INITRD_MAX);
    info->cmdline_size = rd32(img + HDR_CMDLINE_SIZE);
    info->kernel_alignment = rd32(img + HDR_KERNEL_ALIGN);
    info->relocatable = img[HDR_RELOCATABLE] != 0;
    if (info->initrd_addr_max == 0)
        info->initrd_addr_max = 0x37FFFFFF;  /* boot.rst: default for old protocols */
    return true;
}

unsigned boot_build_e820(struct e820_entry *out, uint64_t below_4g, uint64_t above_4g)
{
    unsigned n = 0;
    out[n++] = (struct e820_entry){ 0, BOOT_EBDA_ADDR, E820_RAM };
    out[n++] = (struct e820_entry){ BOOT_EBDA_ADDR, 0xA0000 - BOOT_EBDA_ADDR, E820_RESERVED };
    out[n++] = (struct e820_entry){ BOOT_BIOS_AREA, 0x100000 - BOOT_BIOS_AREA, E820_RESERVED };
    if (below_4g > 0x100000)
        out[n++] = (struct e820_entry){ 0x100000, below_4g - 0x100000, E820_RAM };
    if (above_4g)
        out[n++] = (struct e820_entry){ 0x100000000ULL, above_4g, E820_RAM };
    return n;
}

/* GDT and 4 GiB identity map with 2 MiB pages (x86-boot.md §2 table). */
static bool write_boot_cpu_tables(struct guest_mem *gm)
{
    static const uint64_t gdt[] = {
        0,
        0,
        0x00AF9B000000FFFFULL,  /* 0x10: 64-bit code, P DPL0 S type 0xB G L */
        0x00CF93000000FFFFULL,  /* 0x18: data, P S type 3 G D/B */
        0x008F8B000000FFFFULL,  /* 0x20: busy 64-bit TSS (VMX wants a usable TR) */
    };
    uint8_t buf[sizeof(gdt)];
    for (size_t i = 0; i < sizeof(gdt) / 8; i++)
        wr64(buf + 8 * i, gdt[i]);
    if (!gm_write(gm, BOOT_GDT_ADDR, buf, sizeof(buf)))
        return false;

    uint8_t page[4096];
    memset(page, 0, sizeof(page));
    wr64(page, BOOT_PDPT_ADDR | 0x3);  /* present, writable */
    if (!gm_write(gm, BOOT_PML4_ADDR, page, sizeof(page)))
        return false;
    memset(page, 0, sizeof(page));
    for (int i = 0; i < 4; i++)
        wr64(page + 8 * i, (BOOT_PD_ADDR + 0x1000ULL * i) | 0x3);
    if (!gm_write(gm, BOOT_PDPT_ADDR, page, sizeof(page)))
        return false;
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 512; j++)
            wr64(page + 8 * j, (((uint64_t)i * 512 + j) << 21) | 0x83);  /* P, RW, PS */
        if (!gm_write(gm, BOOT_PD_ADDR + 0x1000ULL * i, page, sizeof(page)))
            return false;
    }
    return true;
}

bool bzimage_load(struct guest_mem *gm, const struct boot_params_in *in, struct boot_result *out,
                  char *err, size_t errlen)
{
    struct bzimage_info info;
    if (!bzimage_parse(in->kernel, in->kernel_len, &info, err, errlen))
        return false;
    const uint8_t *payload = in->kernel + info.setup_len;
    size_t payload_len = in->kernel_len - info.setup_len;

    /* The decompressor needs load..load+init_size and then relocates
     * itself to 16 MiB (LOAD_PHYSICAL_ADDR) or a KASLR spot; keep the
     * initrd clear of both windows. */
    uint64_t need = info.init_size > payload_len ? info.init_size : payload_len;
    uint64_t kernel_end = BOOT_KERNEL_ADDR + need;
    uint64_t reloc_end = 0x1000000ULL + need;
    if (kernel_end > reloc_end)
        reloc_end = kernel_end;
    if (reloc_end > in->low_ram_end) {
        errbuf_set(err, errlen, "guest memory too small for this kernel (needs %llu MiB below 4 GiB)",
                (unsigned long long)((reloc_end + (1 << 20) - 1) >> 20));
        return false;
    }
    /* Prefer entering the decompressed vmlinux (vmlinux.h); otherwise the
     * protected-mode code at 1 MiB decompresses itself. */
    struct vmlinux_buffer elf;
    char why[256];
    enum vmlinux_prep prep = vmlinux_boot_prepare(in->kernel, in->kernel_len, info.setup_len, info.init_size,
                                                  &elf, why, sizeof(why));
    if (prep == VMLINUX_FAILED) {
        errbuf_set(err, errlen, "%s", why);
        return false;
    }
    uint64_t entry = BOOT_KERNEL_ADDR + 0x200;  /* startup_64 of the decompressor (boot.rst) */
    if (prep == VMLINUX_READY) {
        struct vmlinux_image image;
        bool ok = vmlinux_buffer_parse(&elf, BOOT_KERNEL_ADDR, in->low_ram_end, &image, why, sizeof(why)) &&
                  vmlinux_elf_load(gm, &elf, &image, why, sizeof(why));
        bool cached = elf.from_cache;
        vmlinux_release(&elf);
        if (!ok) {
            errbuf_set(err, errlen, "%s", why);
            return false;
        }
        if (image.highest > reloc_end)
            reloc_end = image.highest;
        entry = image.entry;
        log_info("kernel: direct vmlinux boot, entry 0x%llx (xz payload %s)", (unsigned long long)entry,
                 cached ? "from the kernel cache" : "decompressed by hv");
    } else {
        log_info("kernel: bzImage boot through its own decompressor (%s)", why);
        if (!gm_write(gm, BOOT_KERNEL_ADDR, payload, payload_len)) {
            errbuf_set(err, errlen, "kernel payload does not fit in guest memory");
            return false;
        }
    }

    uint8_t bp[4096];
    memset(bp, 0, sizeof(bp));
    memcpy(bp + HDR_SETUP_SECTS, in->kernel + HDR_SETUP_SECTS, info.header_end - HDR_SETUP_SECTS);
    bp[HDR_TYPE_OF_LOADER] = 0xFF;
    wr16(bp + HDR_VID_MODE, 0xFFFF);
    bp[BP_SENTINEL] = 0;

    const char *cmdline = in->cmdline ? in->cmdline : "";
    size_t clen = strlen(cmdline);
    uint32_t cmax = info.cmdline_size ? info.cmdline_size : 255;
    if (clen > cmax || clen >= BOOT_CMDLINE_MAX) {
        errbuf_set(err, errlen, "kernel command line is %zu bytes, this kernel accepts %u", clen, cmax);
        return false;
    }
    if (!gm_write(gm, BOOT_CMDLINE_ADDR, cmdline, clen + 1)) {
        errbuf_set(err, errlen, "cannot write the command line");
        return false;
    }
    wr32(bp + HDR_CMD_LINE_PTR, (uint32_t)BOOT_CMDLINE_ADDR);
    wr32(bp + BP_EXT_CMD_LINE, 0);

    out->initrd_addr = 0;
    if (in->initrd && in->initrd_len) {
        uint64_t top = in->low_ram_end;
        if (top > (uint64_t)info.initrd_addr_max + 1)
            top = (uint64_t)info.initrd_addr_max + 1;
        if (in->initrd_len > top) {
            errbuf_set(err, errlen, "initrd (%zu bytes) does not fit below the kernel's limit", in->initrd_len);
            return false;
        }
        uint64_t addr = (top - in->initrd_len) & ~0xFFFULL;
        if (addr < reloc_end) {
            errbuf_set(err, errlen, "guest memory too small for kernel + initrd (initrd is %zu MiB)",
                    in->initrd_len >> 20);
            return false;
        }
        if (!gm_write(gm, addr, in->initrd, in->initrd_len)) {
            errbuf_set(err, errlen, "cannot place the initrd at 0x%llx", (unsigned long long)addr);
            return false;
        }
        wr32(bp + HDR_RAMDISK_IMAGE, (uint32_t)addr);
        wr32(bp + HDR_RAMDISK_SIZE, (uint32_t)in->initrd_len);
        wr32(bp + BP_EXT_RAMDISK_IMG, (uint32_t)(addr >> 32));
        wr32(bp + BP_EXT_RAMDISK_SZ, (uint32_t)((uint64_t)in->initrd_len >> 32));
        out->initrd_addr = addr;
    }

    if (in->ne820 > E820_MAX) {
        errbuf_set(err, errlen, "too many e820 entries");
        return false;
    }
    for (unsigned i = 0; i < in->ne820; i++) {
        uint8_t *e = bp + BP_E820_TABLE + 20 * i;
        wr64(e, in->e820[i].addr);
        wr64(e + 8, in->e820[i].size);
        wr32(e + 16, in->e820[i].type);
    }
    bp[BP_E820_ENTRIES] = (uint8_t)in->ne820;
    wr64(bp + BP_ACPI_RSDP, in->rsdp_addr);

    if (!gm_write(gm, BOOT_PARAMS_ADDR, bp, sizeof(bp)) || !write_boot_cpu_tables(gm)) {
        errbuf_set(err, errlen, "guest memory too small for the boot structures");
        return false;
    }
    out->entry = entry;
    out->boot_params = BOOT_PARAMS_ADDR;
    return true;
}

bool bzimage_check_file(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errbuf_set(err, errlen, "cannot open kernel %s: %s", path, strerror(errno));
        return false;
    }
    struct stat st = { 0 };
    uint8_t head[4096];
    memset(head, 0, sizeof(head));
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        n = pread(fd, head, sizeof(head), 0);
    close(fd);
    if (n < 0) {
        errbuf_set(err, errlen, "cannot read kernel %s: %s", path,
                S_ISREG(st.st_mode) ? strerror(errno) : "not a regular file");
        return false;
    }
    /* bzimage_parse reads only the setup header (below 0x290) and checks
     * sizes against len, so the first page plus the real size will do. */
    struct bzimage_info info;
    char why[256];
    if (!bzimage_parse(head, (size_t)st.st_size, &info, why, sizeof(why))) {
        errbuf_set(err, errlen, "kernel %s: %s", path, why);
        return false;
    }
    return true;
}

uint8_t *boot_read_file(const char *path, size_t *len, const char *what, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errbuf_set(err, errlen, "cannot open %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        errbuf_set(err, errlen, "%s %s is not a regular file", what, path);
        close(fd);
        return NULL;
    }
    if ((uint64_t)st.st_size > (2ULL << 30)) {
        errbuf_set(err, errlen, "%s %s is too large", what, path);
        close(fd);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        errbuf_set(err, errlen, "out of memory reading %s %s", what, path);
        close(fd);
        return NULL;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            errbuf_set(err, errlen, "cannot read %s %s: %s", what, path, n < 0 ? strerror(errno) : "short read");
            free(buf);
            close(fd);
            return NULL;
        }
        got += (size_t)n;
    }
    close(fd);
    *len = size;
    return buf;
}
