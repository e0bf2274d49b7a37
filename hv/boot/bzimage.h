/* Direct Linux boot of a bzImage through the 64-bit boot protocol
 * (x86-boot.md §1-§3; Linux Documentation/arch/x86/boot.rst). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guest_mem;

/* Low-memory layout of the boot structures (all below 1 MiB). */
#define BOOT_GDT_ADDR     0x500ULL
#define BOOT_PARAMS_ADDR  0x7000ULL
#define BOOT_STACK_TOP    0x8FF0ULL
#define BOOT_PML4_ADDR    0x9000ULL
#define BOOT_PDPT_ADDR    0xA000ULL
#define BOOT_PD_ADDR      0xB000ULL   /* 4 page directories: identity map of 4 GiB */
#define BOOT_CMDLINE_ADDR 0x20000ULL
#define BOOT_CMDLINE_MAX  0x10000ULL
#define BOOT_EBDA_ADDR    0x9FC00ULL
#define BOOT_BIOS_AREA    0xE0000ULL  /* ACPI tables live here; e820 reserved */
#define BOOT_KERNEL_ADDR  0x100000ULL
#define BOOT_CODE_SEL     0x10        /* __BOOT_CS */
#define BOOT_DATA_SEL     0x18        /* __BOOT_DS */
#define BOOT_TSS_SEL      0x20

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_MAX 128

struct e820_entry {
    uint64_t addr, size;
    uint32_t type;
};

struct bzimage_info {
    uint16_t version;           /* boot protocol, e.g. 0x020F */
    uint8_t setup_sects;
    uint16_t xloadflags;
    uint32_t init_size;
    uint32_t initrd_addr_max;
    uint32_t cmdline_size;
    uint32_t kernel_alignment;
    bool relocatable;
    size_t setup_len;           /* bytes before the protected-mode payload */
    size_t header_end;          /* end of the setup header in the file */
};

/* Validate a bzImage's setup header: 0xAA55, "HdrS", protocol >= 2.12 and
 * a 64-bit entry point (xloadflags bit 0). */
bool bzimage_parse(const uint8_t *img, size_t len, struct bzimage_info *info, char *err, size_t errlen);

/* The e820 map for RAM [0, below_4g) and [4 GiB, 4 GiB + above_4g): the EBDA
 * and 0xE0000-0xFFFFF reserved. Returns the entry count. */
unsigned boot_build_e820(struct e820_entry *out, uint64_t below_4g, uint64_t above_4g);

struct boot_params_in {
    const uint8_t *kernel;
    size_t kernel_len;
    const uint8_t *initrd;      /* NULL: none */
    size_t initrd_len;
    const char *cmdline;        /* NULL: empty */
    uint64_t rsdp_addr;         /* 0: let Linux scan 0xE0000-0xFFFFF */
    uint64_t low_ram_end;       /* end of RAM below 4 GiB */
    const struct e820_entry *e820;
    unsigned ne820;
};

struct boot_result {
    uint64_t entry;             /* 64-bit entry: vmlinux startup_64, or load address + 0x200 */
    uint64_t boot_params;       /* goes into RSI */
    uint64_t initrd_addr;
};

/* Write the kernel, zero page, command line, initrd, GDT and boot page
 * tables into guest memory. The kernel goes in as its decompressed vmlinux
 * (hv/boot/vmlinux.h) when hv can decode the payload, else as the
 * self-decompressing protected-mode code at 1 MiB. */
bool bzimage_load(struct guest_mem *gm, const struct boot_params_in *in, struct boot_result *out,
                  char *err, size_t errlen);

/* Check that `path` is a bootable bzImage reading only its first page
 * (for early, cheap command-line validation). */
bool bzimage_check_file(const char *path, char *err, size_t errlen);

/* Read a whole file (kernel, initrd). NULL with err on failure. */
uint8_t *boot_read_file(const char *path, size_t *len, const char *what, char *err, size_t errlen);
