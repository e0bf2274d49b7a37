/* bzImage loader: header checks, zero page, e820, command line, initrd
 * placement, GDT and boot page tables, against fake guest memory. */
#include <stdlib.h>
#include <string.h>

#include "hv/boot/bzimage.h"
#include "hv/guest_mem.h"
#include "tests/tap.h"

#define RAM (64ULL << 20)

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }

/* A fake bzImage: 39 setup sectors (+ boot sector) then a payload. */
static uint8_t *fake_kernel(size_t *len, uint16_t version, uint16_t xloadflags, uint32_t init_size)
{
    size_t setup = 40 * 512, payload = 8192;
    uint8_t *k = calloc(1, setup + payload);
    k[0x1F1] = 39;
    wr32(k + 0x1F4, (uint32_t)(payload / 16));  /* syssize */
    wr16(k + 0x1FE, 0xAA55);
    k[0x200] = 0xEB;
    k[0x201] = 0x6A;                 /* header ends at 0x26C */
    memcpy(k + 0x202, "HdrS", 4);
    wr16(k + 0x206, version);
    k[0x211] = 0x01;                 /* LOADED_HIGH */
    wr32(k + 0x214, 0x100000);
    wr32(k + 0x22C, 0x7FFFFFFF);     /* initrd_addr_max */
    wr32(k + 0x230, 0x200000);
    k[0x234] = 1;
    wr16(k + 0x236, xloadflags);
    wr32(k + 0x238, 2047);
    wr32(k + 0x260, init_size);
    for (size_t i = 0; i < payload; i++)
        k[setup + i] = (uint8_t)(i * 7 + 3);
    *len = setup + payload;
    return k;
}

int main(void)
{
    char err[256];
    size_t klen;
    uint8_t *k = fake_kernel(&klen, 0x020F, 0x7F, 4 << 20);
    struct bzimage_info info;
    TAP_CHECK(bzimage_parse(k, klen, &info, err, sizeof(err)), "valid header accepted");
    TAP_EQ_U64(info.version, 0x020F, "protocol 2.15");
    TAP_EQ_U64(info.setup_len, 40 * 512, "setup is (setup_sects + 1) sectors");
    TAP_EQ_U64(info.header_end, 0x26C, "header end from the jump");
    TAP_EQ_U64(info.init_size, 4 << 20, "init_size");

    /* Header errors. */
    uint8_t *bad = malloc(klen);
    memcpy(bad, k, klen);
    bad[0x1FE] = 0;
    TAP_CHECK(!bzimage_parse(bad, klen, &info, err, sizeof(err)) && strstr(err, "not a bzImage"), "no boot flag: %s", err);
    memcpy(bad, k, klen);
    memcpy(bad + 0x202, "ELF!", 4);
    TAP_CHECK(!bzimage_parse(bad, klen, &info, err, sizeof(err)) && strstr(err, "HdrS"), "no HdrS: %s", err);
    memcpy(bad, k, klen);
    wr16(bad + 0x206, 0x0204);
    TAP_CHECK(!bzimage_parse(bad, klen, &info, err, sizeof(err)) && strstr(err, "too old"), "old protocol: %s", err);
    memcpy(bad, k, klen);
    wr16(bad + 0x236, 0);
    TAP_CHECK(!bzimage_parse(bad, klen, &info, err, sizeof(err)) && strstr(err, "64-bit"), "no 64-bit entry: %s", err);
    TAP_CHECK(!bzimage_parse(k, 40 * 512, &info, err, sizeof(err)) && strstr(err, "truncated"), "truncated: %s", err);
    TAP_CHECK(!bzimage_parse(k, 100, &info, err, sizeof(err)), "tiny file refused: %s", err);
    TAP_CHECK(!bzimage_parse(k, klen - 16, &info, err, sizeof(err)) && strstr(err, "truncated"),
              "payload shorter than syssize refused: %s", err);
    uint8_t text[2048];
    memset(text, 'A', sizeof(text));
    TAP_CHECK(!bzimage_parse(text, sizeof(text), &info, err, sizeof(err)), "text file refused: %s", err);
    free(bad);

    /* e820. */
    struct e820_entry e820[8];
    unsigned n = boot_build_e820(e820, RAM, 0);
    TAP_EQ_U64(n, 4, "four e820 entries below 4G");
    TAP_CHECK(e820[0].addr == 0 && e820[0].size == 0x9FC00 && e820[0].type == E820_RAM, "base RAM up to the EBDA");
    TAP_CHECK(e820[2].addr == 0xE0000 && e820[2].size == 0x20000 && e820[2].type == E820_RESERVED, "BIOS/ACPI area reserved");
    TAP_CHECK(e820[3].addr == 0x100000 && e820[3].addr + e820[3].size == RAM, "RAM from 1 MiB to the end");
    struct e820_entry big[8];
    TAP_EQ_U64(boot_build_e820(big, 0xC0000000ULL, 1ULL << 30), 5, "high RAM adds an entry");
    TAP_CHECK(big[4].addr == 1ULL << 32 && big[4].size == 1ULL << 30, "RAM above 4 GiB");

    /* Load into fake memory. */
    struct guest_mem gm = { 0 };
    uint8_t *ram = calloc(1, RAM);
    TAP_CHECK(ram && gm_add_region(&gm, 0, RAM, ram), "fake RAM");
    uint8_t initrd[10000];
    memset(initrd, 0x5A, sizeof(initrd));
    struct boot_params_in in = {
        .kernel = k, .kernel_len = klen, .initrd = initrd, .initrd_len = sizeof(initrd),
        .cmdline = "console=ttyS0 hvtest=info", .rsdp_addr = 0xE0000, .low_ram_end = RAM,
        .e820 = e820, .ne820 = n,
    };
    struct boot_result res;
    TAP_CHECK(bzimage_load(&gm, &in, &res, err, sizeof(err)), "kernel loaded: %s", err);
    TAP_EQ_U64(res.entry, 0x100200, "64-bit entry at load address + 0x200");
    TAP_EQ_U64(res.boot_params, BOOT_PARAMS_ADDR, "boot_params address");
    TAP_CHECK(memcmp(ram + 0x100000, k + 40 * 512, 8192) == 0, "payload copied to 1 MiB");
    const uint8_t *bp = ram + BOOT_PARAMS_ADDR;
    TAP_EQ_U64(bp[0x210], 0xFF, "type_of_loader 0xFF");
    TAP_EQ_U64(bp[0x1FA] | bp[0x1FB] << 8, 0xFFFF, "vid_mode normal");
    TAP_EQ_U64(rd32(bp + 0x202), 0x53726448, "setup header copied");
    TAP_EQ_U64(rd32(bp + 0x228), BOOT_CMDLINE_ADDR, "cmd_line_ptr");
    TAP_EQ_STR((const char *)ram + BOOT_CMDLINE_ADDR, "console=ttyS0 hvtest=info", "command line in memory");
    uint32_t rd_addr = rd32(bp + 0x218);
    TAP_EQ_U64(rd_addr, res.initrd_addr, "ramdisk_image");
    TAP_EQ_U64(rd32(bp + 0x21C), sizeof(initrd), "ramdisk_size");
    TAP_CHECK(rd_addr % 4096 == 0 && rd_addr + sizeof(initrd) <= RAM && rd_addr + sizeof(initrd) > RAM - 8192,
              "initrd page aligned at the top of RAM");
    TAP_CHECK(memcmp(ram + rd_addr, initrd, sizeof(initrd)) == 0, "initrd copied");
    TAP_EQ_U64(rd64(bp + 0x070), 0xE0000, "acpi_rsdp_addr");
    TAP_EQ_U64(bp[0x1E8], n, "e820_entries");
    TAP_EQ_U64(rd64(bp + 0x2D0 + 20 * 3), 0x100000, "e820[3].addr in the zero page");
    TAP_EQ_U64(rd32(bp + 0x2D0 + 20 * 2 + 16), E820_RESERVED, "e820[2].type in the zero page");
    TAP_EQ_U64(bp[0x1EF], 0, "sentinel zero");
    TAP_EQ_U64(rd64(ram + BOOT_GDT_ADDR + 16), 0x00AF9B000000FFFFULL, "GDT 0x10 is 64-bit code");
    TAP_EQ_U64(rd64(ram + BOOT_GDT_ADDR + 24), 0x00CF93000000FFFFULL, "GDT 0x18 is data");
    TAP_EQ_U64(rd64(ram + BOOT_PML4_ADDR), BOOT_PDPT_ADDR | 3, "PML4[0] -> PDPT");
    TAP_EQ_U64(rd64(ram + BOOT_PDPT_ADDR + 8 * 3), (BOOT_PD_ADDR + 0x3000) | 3, "PDPT[3] -> fourth PD");
    TAP_EQ_U64(rd64(ram + BOOT_PD_ADDR + 8 * 5), (5ULL << 21) | 0x83, "PD maps 2 MiB pages identity");
    TAP_EQ_U64(rd64(ram + BOOT_PD_ADDR + 0x3000 + 8 * 511), (2047ULL << 21) | 0x83, "last PD entry maps 4 GiB - 2 MiB");

    /* Limits. */
    in.low_ram_end = 16ULL << 20;
    TAP_CHECK(!bzimage_load(&gm, &in, &res, err, sizeof(err)) && strstr(err, "too small"), "too little RAM: %s", err);
    in.low_ram_end = RAM;
    char longline[3000];
    memset(longline, 'x', sizeof(longline) - 1);
    longline[sizeof(longline) - 1] = 0;
    in.cmdline = longline;
    TAP_CHECK(!bzimage_load(&gm, &in, &res, err, sizeof(err)) && strstr(err, "command line"), "long cmdline: %s", err);
    in.cmdline = NULL;
    in.initrd_len = RAM;
    TAP_CHECK(!bzimage_load(&gm, &in, &res, err, sizeof(err)), "initrd larger than RAM refused: %s", err);

    free(ram);
    free(k);
    return tap_done();
}
