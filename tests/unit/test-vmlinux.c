/* Direct vmlinux boot (hv/boot/vmlinux.h): ELF checks against malformed
 * images, the xz payload decoder against damaged data, the kernel cache,
 * and bzimage_load choosing between direct and classic boot. */
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv/boot/bzimage.h"
#include "hv/boot/vmlinux.h"
#include "hv/guest_mem.h"
#include "tests/tap.h"

#define RAM (64ULL << 20)
#define KBASE 0x1000000ULL

static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void wr64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

/* An x86-64 ELF like vmlinux: text at 16 MiB (entry), data with a bss
 * tail at 16 MiB + 64 KiB, a PT_NOTE that must be ignored. */
#define ELF_LEN 0x6000
static uint8_t *fake_elf(void)
{
    uint8_t *e = calloc(1, ELF_LEN);
    memcpy(e, "\x7f" "ELF", 4);
    e[4] = 2;                       /* ELFCLASS64 */
    e[5] = 1;                       /* little endian */
    e[6] = 1;
    wr16(e + 16, 2);                /* ET_EXEC */
    wr16(e + 18, 62);               /* EM_X86_64 */
    wr64(e + 24, KBASE);            /* e_entry: physical startup_64 */
    wr64(e + 32, 64);               /* e_phoff */
    wr16(e + 52, 64);
    wr16(e + 54, 56);
    wr16(e + 56, 3);
    static const struct { uint32_t type; uint64_t off, paddr, filesz, memsz; } ph[3] = {
        { 1, 0x1000, KBASE, 0x2000, 0x2000 },
        { 4, 0x1100, 0, 0x20, 0x20 },
        { 1, 0x3000, KBASE + 0x10000, 0x3000, 0x8000 },
    };
    for (int i = 0; i < 3; i++) {
        uint8_t *p = e + 64 + 56 * i;
        wr32(p, ph[i].type);
        wr64(p + 8, ph[i].off);
        wr64(p + 16, 0xffffffff81000000ULL + ph[i].paddr - KBASE);
        wr64(p + 24, ph[i].paddr);
        wr64(p + 32, ph[i].filesz);
        wr64(p + 40, ph[i].memsz);
    }
    for (size_t i = 0x1000; i < ELF_LEN; i++)
        e[i] = (uint8_t)(i * 13 + 1);
    return e;
}

static void set_ph(uint8_t *e, int i, int field_off, uint64_t v) { wr64(e + 64 + 56 * i + field_off, v); }

/* xz (CRC32, as the kernel build uses) plus the LE32 size trailer. */
static uint8_t *xz_payload(const uint8_t *data, size_t len, size_t *out_len)
{
    size_t cap = len + len / 2 + 4096, pos = 0;
    uint8_t *out = malloc(cap);
    if (lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, data, len, out, &pos, cap - 4) != LZMA_OK)
        return NULL;
    wr32(out + pos, (uint32_t)len);
    *out_len = pos + 4;
    return out;
}

/* A bzImage (protocol 2.15) around `payload`, payload_offset 0x40 past a
 * stub, like the real one's startup code before the payload. */
static uint8_t *fake_bzimage(const uint8_t *payload, size_t plen, size_t *len)
{
    size_t setup = 40 * 512, pm = (0x40 + plen + 15) & ~(size_t)15;  /* syssize counts 16-byte units */
    uint8_t *k = calloc(1, setup + pm);
    k[0x1F1] = 39;
    wr32(k + 0x1F4, (uint32_t)(pm / 16));
    wr16(k + 0x1FE, 0xAA55);
    k[0x200] = 0xEB;
    k[0x201] = 0x6A;
    memcpy(k + 0x202, "HdrS", 4);
    wr16(k + 0x206, 0x020F);
    k[0x211] = 0x01;
    wr32(k + 0x22C, 0x7FFFFFFF);
    wr32(k + 0x230, 0x200000);
    k[0x234] = 1;
    wr16(k + 0x236, 0x7F);
    wr32(k + 0x238, 2047);
    wr32(k + 0x248, 0x40);          /* payload_offset */
    wr32(k + 0x24C, (uint32_t)plen);
    wr32(k + 0x260, 8 << 20);       /* init_size */
    memset(k + setup, 0x90, 0x40);
    memcpy(k + setup + 0x40, payload, plen);
    *len = setup + pm;
    return k;
}

static bool load(struct guest_mem *gm, const uint8_t *k, size_t klen, struct boot_result *res, char *err, size_t errlen)
{
    struct e820_entry e820[8];
    unsigned n = boot_build_e820(e820, RAM, 0);
    struct boot_params_in in = {
        .kernel = k, .kernel_len = klen, .cmdline = "console=ttyS0", .low_ram_end = RAM, .e820 = e820, .ne820 = n,
    };
    return bzimage_load(gm, &in, res, err, errlen);
}

int main(void)
{
    char err[256];
    uint8_t *elf = fake_elf();
    struct vmlinux_image img;

    /* ELF checks. */
    TAP_CHECK(vmlinux_elf_parse(elf, ELF_LEN, 1 << 20, RAM, &img, err, sizeof(err)), "fake vmlinux parses: %s", err);
    TAP_EQ_U64(img.nsegs, 2, "two PT_LOAD segments (PT_NOTE ignored)");
    TAP_EQ_U64(img.entry, KBASE, "entry from e_entry");
    TAP_EQ_U64(img.lowest, KBASE, "lowest address");
    TAP_EQ_U64(img.highest, KBASE + 0x18000, "highest address includes bss");

    uint8_t *bad = malloc(ELF_LEN);
    struct { const char *what; int at; uint64_t value; int width; const char *expect; } cases[] = {
        { "bad magic", 1, 'X', 1, "not an ELF" },
        { "32-bit class", 4, 1, 1, "64-bit" },
        { "big endian", 5, 2, 1, "little-endian" },
        { "not x86-64", 18, 3, 2, "x86-64" },
        { "shared object", 16, 3, 2, "executable" },
        { "program headers past the end", 32, ELF_LEN - 8, 8, "program headers" },
        { "huge phoff", 32, UINT64_MAX - 10, 8, "program headers" },
        { "wrong phentsize", 54, 32, 2, "program headers" },
        { "entry outside", 24, KBASE + 0x40000, 8, "entry point" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(bad, elf, ELF_LEN);
        if (cases[i].width == 1)
            bad[cases[i].at] = (uint8_t)cases[i].value;
        else if (cases[i].width == 2)
            wr16(bad + cases[i].at, (uint16_t)cases[i].value);
        else
            wr64(bad + cases[i].at, cases[i].value);
        TAP_CHECK(!vmlinux_elf_parse(bad, ELF_LEN, 1 << 20, RAM, &img, err, sizeof(err)) &&
                  strstr(err, cases[i].expect), "%s refused: %s", cases[i].what, err);
    }
    struct { const char *what; int ph, field; uint64_t value; const char *expect; } segs[] = {
        { "segment data past the end of the file", 2, 32, 0x4000, "outside the file" },
        { "segment offset overflow", 0, 8, UINT64_MAX - 4, "outside the file" },
        { "filesz > memsz", 2, 40, 0x1000, "memsz" },
        { "segment below 1 MiB", 0, 24, 0x8000, "outside guest RAM" },
        { "segment above RAM", 2, 24, RAM - 0x1000, "outside guest RAM" },
        { "segment address wraps", 2, 24, UINT64_MAX - 0x100, "outside guest RAM" },
        { "overlapping segments", 2, 24, KBASE + 0x1000, "overlap" },
    };
    for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
        memcpy(bad, elf, ELF_LEN);
        set_ph(bad, segs[i].ph, segs[i].field, segs[i].value);
        TAP_CHECK(!vmlinux_elf_parse(bad, ELF_LEN, 1 << 20, RAM, &img, err, sizeof(err)) &&
                  strstr(err, segs[i].expect), "%s refused: %s", segs[i].what, err);
    }
    memcpy(bad, elf, ELF_LEN);
    wr32(bad + 64, 4);
    wr32(bad + 64 + 112, 4);
    TAP_CHECK(!vmlinux_elf_parse(bad, ELF_LEN, 1 << 20, RAM, &img, err, sizeof(err)) && strstr(err, "no loadable"),
              "no PT_LOAD refused: %s", err);
    bool all_truncations_refused = true;
    for (size_t n = 0; n < 0x6000; n += 0x10)
        if (vmlinux_elf_parse(elf, n, 1 << 20, RAM, &img, err, sizeof(err)))
            all_truncations_refused = false;
    TAP_CHECK(all_truncations_refused, "every truncation of the ELF is refused");
    free(bad);

    /* Payload formats and the xz decoder. */
    TAP_EQ_U64(payload_format_of((const uint8_t *)"\xFD" "7zXZ\0\0", 7), PAYLOAD_XZ, "xz magic");
    TAP_EQ_U64(payload_format_of((const uint8_t *)"\x1F\x8B\x08", 3), PAYLOAD_GZIP, "gzip magic");
    TAP_EQ_U64(payload_format_of((const uint8_t *)"\x28\xB5\x2F\xFD", 4), PAYLOAD_ZSTD, "zstd magic");
    TAP_EQ_U64(payload_format_of((const uint8_t *)"\xFD", 1), PAYLOAD_UNKNOWN, "one byte is no format");
    size_t xzlen, outlen;
    uint8_t *xz = xz_payload(elf, ELF_LEN, &xzlen);
    TAP_CHECK(xz != NULL, "test payload compressed");
    uint8_t *out = payload_unxz(xz, xzlen, 1 << 20, &outlen, err, sizeof(err));
    TAP_CHECK(out && outlen == ELF_LEN && memcmp(out, elf, ELF_LEN) == 0, "xz payload decompressed exactly: %s", err);
    free(out);
    uint8_t *xbad = malloc(xzlen);
    memcpy(xbad, xz, xzlen);
    xbad[xzlen / 2] ^= 0x55;
    out = payload_unxz(xbad, xzlen, 1 << 20, &outlen, err, sizeof(err));
    TAP_CHECK(!out && strstr(err, "xz payload"), "damaged xz data refused: %s", err);
    free(out);
    memcpy(xbad, xz, xzlen);
    wr32(xbad + xzlen - 4, ELF_LEN - 100);
    out = payload_unxz(xbad, xzlen, 1 << 20, &outlen, err, sizeof(err));
    TAP_CHECK(!out && strstr(err, "larger"), "size trailer too small refused: %s", err);
    free(out);
    wr32(xbad + xzlen - 4, ELF_LEN + 100);
    out = payload_unxz(xbad, xzlen, 1 << 20, &outlen, err, sizeof(err));
    TAP_CHECK(!out && strstr(err, "size trailer"), "size trailer too large refused: %s", err);
    free(out);
    out = payload_unxz(xz, xzlen, 0x1000, &outlen, err, sizeof(err));
    TAP_CHECK(!out && strstr(err, "limit"), "size above the limit refused: %s", err);
    memcpy(xbad, xz, xzlen);
    memmove(xbad + xzlen / 2, xz + xzlen - 4, 4);   /* truncated stream, trailer kept */
    out = payload_unxz(xbad, xzlen / 2 + 4, 1 << 20, &outlen, err, sizeof(err));
    TAP_CHECK(!out && strstr(err, "truncated"), "truncated xz stream refused: %s", err);
    free(out);
    free(xbad);
    TAP_CHECK(vmlinux_hash(elf, ELF_LEN) != vmlinux_hash(elf, ELF_LEN - 1), "hash depends on the length");
    TAP_CHECK(vmlinux_hash(elf, ELF_LEN) == vmlinux_hash(elf, ELF_LEN), "hash is stable");

    /* bzimage_load: direct boot of the xz payload, with a cache. */
    char cache[] = "/tmp/test-vmlinux-XXXXXX";
    TAP_CHECK(mkdtemp(cache) != NULL, "cache directory");
    setenv("HVD_KERNEL_CACHE", cache, 1);
    unsetenv("HV_DIRECT_KERNEL");
    size_t klen;
    uint8_t *k = fake_bzimage(xz, xzlen, &klen);
    struct guest_mem gm = { 0 };
    uint8_t *ram = malloc(RAM);
    memset(ram, 0xCC, RAM);
    TAP_CHECK(gm_add_region(&gm, 0, RAM, ram), "fake RAM");
    struct boot_result res;
    TAP_CHECK(load(&gm, k, klen, &res, err, sizeof(err)), "direct boot loads: %s", err);
    TAP_EQ_U64(res.entry, KBASE, "entry is vmlinux's startup_64");
    TAP_CHECK(memcmp(ram + KBASE, elf + 0x1000, 0x2000) == 0, "text segment at its physical address");
    TAP_CHECK(memcmp(ram + KBASE + 0x10000, elf + 0x3000, 0x3000) == 0, "data segment at its physical address");
    bool bss_zero = true;
    for (size_t i = 0x13000; i < 0x18000; i++)
        bss_zero = bss_zero && ram[KBASE + i] == 0;
    TAP_CHECK(bss_zero, "bss zeroed");
    TAP_EQ_U64(ram[0x100000], 0xCC, "nothing written at 1 MiB");
    TAP_EQ_U64(rd32(ram + BOOT_PARAMS_ADDR + 0x202), 0x53726448, "zero page still written");

    char file[512];
    snprintf(file, sizeof(file), "%s/vmlinux-%016llx-%u.elf", cache,
             (unsigned long long)vmlinux_hash(xz, xzlen), (unsigned)ELF_LEN);
    struct stat st;
    TAP_CHECK(stat(file, &st) == 0 && st.st_size == ELF_LEN && (st.st_mode & 0777) == 0600,
              "decompressed kernel cached (%s)", file);
    struct vmlinux_buffer buf;
    TAP_EQ_U64(vmlinux_boot_prepare(k, klen, 40 * 512, 8 << 20, &buf, err, sizeof(err)), VMLINUX_READY,
               "second prepare succeeds");
    TAP_CHECK(buf.from_cache && buf.fd >= 0 && buf.file_len == ELF_LEN && buf.len < ELF_LEN,
              "second prepare opens the cache file and reads only its headers (%zu bytes)", buf.len);
    vmlinux_release(&buf);
    /* Booting from the cache: segments read from the file into RAM. */
    memset(ram, 0xCC, RAM);
    TAP_CHECK(load(&gm, k, klen, &res, err, sizeof(err)), "direct boot from the cache: %s", err);
    TAP_CHECK(res.entry == KBASE && memcmp(ram + KBASE, elf + 0x1000, 0x2000) == 0 &&
                  memcmp(ram + KBASE + 0x10000, elf + 0x3000, 0x3000) == 0,
              "from the cache: the same segments at the same addresses");
    bss_zero = true;
    for (size_t i = 0x13000; i < 0x18000; i++)
        bss_zero = bss_zero && ram[KBASE + i] == 0;
    TAP_CHECK(bss_zero, "from the cache: bss zeroed");
    /* A damaged cache file (right size, wrong bytes) is replaced. */
    FILE *f = fopen(file, "r+");
    fputs("garbage", f);
    fclose(f);
    TAP_EQ_U64(vmlinux_boot_prepare(k, klen, 40 * 512, 8 << 20, &buf, err, sizeof(err)), VMLINUX_READY,
               "damaged cache entry: decompressed again");
    TAP_CHECK(!buf.from_cache && buf.data && memcmp(buf.data, elf, ELF_LEN) == 0, "fresh data used");
    vmlinux_release(&buf);
    /* A cache file others may write is not trusted. */
    chmod(file, 0666);
    TAP_EQ_U64(vmlinux_boot_prepare(k, klen, 40 * 512, 8 << 20, &buf, err, sizeof(err)), VMLINUX_READY,
               "world-writable cache entry: prepare still works");
    TAP_CHECK(!buf.from_cache, "world-writable cache entry ignored");
    vmlinux_release(&buf);

    /* Fallbacks: disabled by the environment, or a compressor hv does not
     * decode: the payload goes to 1 MiB and the guest decompresses it. */
    setenv("HV_DIRECT_KERNEL", "0", 1);
    TAP_CHECK(load(&gm, k, klen, &res, err, sizeof(err)), "HV_DIRECT_KERNEL=0 loads: %s", err);
    TAP_EQ_U64(res.entry, 0x100200, "HV_DIRECT_KERNEL=0: classic 64-bit entry");
    TAP_CHECK(memcmp(ram + 0x100000 + 0x40, xz, xzlen) == 0, "HV_DIRECT_KERNEL=0: payload at 1 MiB");
    unsetenv("HV_DIRECT_KERNEL");
    uint8_t gz[64] = { 0x1F, 0x8B, 0x08 };
    wr32(gz + 60, 1000);
    size_t glen;
    uint8_t *kg = fake_bzimage(gz, sizeof(gz), &glen);
    TAP_CHECK(load(&gm, kg, glen, &res, err, sizeof(err)) && res.entry == 0x100200,
              "gzip payload: classic boot: %s", err);
    free(kg);

    /* Bad images give an error, not a hanging guest. */
    uint8_t *kb = fake_bzimage(xz, xzlen, &klen);
    kb[40 * 512 + 0x40 + xzlen / 2] ^= 0x55;
    TAP_CHECK(!load(&gm, kb, klen, &res, err, sizeof(err)) && strstr(err, "xz payload"), "damaged payload: %s", err);
    memcpy(kb, k, klen);
    wr32(kb + 0x248, 0x100000);
    TAP_CHECK(!load(&gm, kb, klen, &res, err, sizeof(err)) && strstr(err, "outside the file"),
              "payload_offset past the end: %s", err);
    free(kb);
    uint8_t *e2 = fake_elf();
    set_ph(e2, 2, 24, RAM - 0x2000);            /* data segment past the end of RAM */
    size_t x2len;
    uint8_t *x2 = xz_payload(e2, ELF_LEN, &x2len);
    uint8_t *k2 = fake_bzimage(x2, x2len, &klen);
    TAP_CHECK(!load(&gm, k2, klen, &res, err, sizeof(err)) && strstr(err, "outside guest RAM"),
              "segment past guest RAM: %s", err);
    memcpy(e2, "\x7f" "ELG", 4);
    free(x2);
    free(k2);
    x2 = xz_payload(e2, ELF_LEN, &x2len);
    k2 = fake_bzimage(x2, x2len, &klen);
    TAP_CHECK(!load(&gm, k2, klen, &res, err, sizeof(err)) && strstr(err, "not an ELF"), "payload is no ELF: %s", err);
    free(x2);
    free(k2);
    free(e2);

    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", cache);
    TAP_CHECK(system(cmd) == 0, "cache directory removed");
    free(ram);
    free(k);
    free(xz);
    free(elf);
    return tap_done();
}
