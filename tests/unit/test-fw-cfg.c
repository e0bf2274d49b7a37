/* fw_cfg device (hv/devices/fw_cfg.c) through its I/O ports, as SeaBIOS
 * drives it, and the firmware's fw_cfg contents (hv/boot/firmware.c):
 * e820, bootorder and the ACPI table loader, whose commands this test
 * runs the way SeaBIOS's src/fw/romfile_loader.c does. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hv/boot/firmware.h"
#include "hv/devices/fw_cfg.h"
#include "hv/pci/pci.h"
#include "hv/vm.h"
#include "hv/x86/acpi.h"
#include "tests/tap.h"

#define RAM_SIZE (1u << 20)

static struct vm *vm;
static uint8_t *ram;

static void select_key(uint16_t key)
{
    uint8_t d[2] = { (uint8_t)key, (uint8_t)(key >> 8) };
    bus_dispatch(vm->bus, BUS_PIO, FW_CFG_PORT_SEL, d, 2, true);
}

static void read_data(void *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        bus_dispatch(vm->bus, BUS_PIO, FW_CFG_PORT_DATA, (uint8_t *)buf + i, 1, false);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

/* Write FWCfgDmaAccess at `access` in RAM and kick it; returns the
 * control word the device wrote back. */
static uint32_t dma(uint64_t access, uint32_t control, uint32_t length, uint64_t addr)
{
    if (access + 16 <= RAM_SIZE) {
        uint8_t *a = ram + access;
        put_be32(a, control);
        put_be32(a + 4, length);
        put_be32(a + 8, (uint32_t)(addr >> 32));
        put_be32(a + 12, (uint32_t)addr);
    }
    uint8_t hi[4], lo[4];
    put_be32(hi, (uint32_t)(access >> 32));
    put_be32(lo, (uint32_t)access);
    bus_dispatch(vm->bus, BUS_PIO, FW_CFG_PORT_DMA, hi, 4, true);
    bus_dispatch(vm->bus, BUS_PIO, FW_CFG_PORT_DMA + 4, lo, 4, true);
    return access + 16 <= RAM_SIZE ? be32(ram + access) : 0xDEADBEEF;
}

/* The directory entry of `name`: size and selector; false when absent. */
static bool find_file(const char *name, uint32_t *size, uint16_t *key)
{
    uint8_t n[4];
    select_key(FW_CFG_FILE_DIR);
    read_data(n, 4);
    for (uint32_t i = 0; i < be32(n); i++) {
        uint8_t e[64];
        read_data(e, sizeof(e));
        if (strncmp((char *)e + 8, name, 56) == 0) {
            *size = be32(e);
            *key = (uint16_t)(e[4] << 8 | e[5]);
            return true;
        }
    }
    return false;
}

static uint8_t *read_file(const char *name, uint32_t *size)
{
    uint16_t key;
    if (!find_file(name, size, &key))
        return NULL;
    uint8_t *buf = calloc(1, *size + 1);
    select_key(key);
    read_data(buf, *size);
    return buf;
}

static void test_port_interface(struct fw_cfg *cfg)
{
    char sig[5] = { 0 };
    select_key(FW_CFG_SIGNATURE);
    read_data(sig, 4);
    TAP_EQ_STR(sig, "QEMU", "signature QEMU");
    uint8_t id[4];
    select_key(FW_CFG_ID);
    read_data(id, 4);
    TAP_EQ_U64(le32(id), FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA, "ID: traditional and DMA interfaces");

    uint8_t dsig[8];
    for (int i = 0; i < 8; i++)
        bus_dispatch(vm->bus, BUS_PIO, FW_CFG_PORT_DMA + i, &dsig[i], 1, false);
    TAP_CHECK(memcmp(dsig, "QEMU CFG", 8) == 0, "DMA register reads \"QEMU CFG\"");

    TAP_EQ_U64(fw_cfg_add_file(cfg, "opt/a", "alpha", 5), 0, "add file opt/a");
    TAP_EQ_U64(fw_cfg_add_file(cfg, "etc/b", "bravo!", 6), 0, "add file etc/b");
    TAP_CHECK(fw_cfg_add_file(cfg, "opt/a", "x", 1) < 0, "duplicate name refused");
    char longname[80];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    TAP_CHECK(fw_cfg_add_file(cfg, longname, "x", 1) < 0, "name of 56 bytes or more refused");
    TAP_CHECK(fw_cfg_add_item(cfg, FW_CFG_SIGNATURE, "XXXX", 4) < 0, "signature cannot be replaced");

    uint8_t n[4], e[64];
    select_key(FW_CFG_FILE_DIR);
    read_data(n, 4);
    TAP_EQ_U64(be32(n), 2, "directory count (big-endian)");
    read_data(e, sizeof(e));
    TAP_CHECK(strcmp((char *)e + 8, "etc/b") == 0 && be32(e) == 6 && (e[4] << 8 | e[5]) == FW_CFG_FILE_FIRST + 1,
              "directory sorted by name: etc/b, size 6, selector 0x21 (big-endian)");

    /* Reads go on from where they stopped until the selector changes. */
    uint32_t size;
    uint16_t key;
    find_file("opt/a", &size, &key);
    char part[8] = { 0 };
    select_key(key);
    read_data(part, 2);
    read_data(part + 2, 2);
    TAP_EQ_STR(part, "alph", "item read in two pieces continues");
    read_data(part, 4);
    TAP_CHECK(part[0] == 'a' && part[1] == 0 && part[2] == 0, "past the end reads zero");
    select_key(key);
    memset(part, 0, sizeof(part));
    read_data(part, 3);
    TAP_EQ_STR(part, "alp", "selecting again restarts at offset 0");
    select_key(0x1234);
    read_data(part, 2);
    TAP_CHECK(part[0] == 0 && part[1] == 0, "unknown selector reads zero");
}

static void test_dma(void)
{
    uint32_t size;
    uint16_t key;
    find_file("etc/b", &size, &key);
    memset(ram + 0x1000, 0xAA, 16);
    uint32_t st = dma(0x100, (uint32_t)key << 16 | FW_CFG_DMA_SELECT | FW_CFG_DMA_READ, 6, 0x1000);
    TAP_CHECK(st == 0 && memcmp(ram + 0x1000, "bravo!", 6) == 0 && ram[0x1006] == 0xAA,
              "DMA select+read copies the item, control cleared");

    memset(ram + 0x1000, 0xAA, 16);
    st = dma(0x100, (uint32_t)key << 16 | FW_CFG_DMA_SELECT | FW_CFG_DMA_SKIP, 2, 0);
    TAP_EQ_U64(st, 0, "DMA select+skip");
    st = dma(0x100, FW_CFG_DMA_READ, 8, 0x1000);
    TAP_CHECK(st == 0 && memcmp(ram + 0x1000, "avo!\0\0\0\0", 8) == 0 && ram[0x1008] == 0xAA,
              "DMA read after skip continues at offset 2 and zero-fills past the end");

    /* The selector DMA set is the port interface's too. */
    st = dma(0x100, (uint32_t)key << 16 | FW_CFG_DMA_SELECT, 0, 0);
    char c = 0;
    read_data(&c, 1);
    TAP_CHECK(st == 0 && c == 'b', "DMA select alone, then a data-port read");

    memcpy(ram + 0x1000, "XXXXXX", 6);
    st = dma(0x100, (uint32_t)key << 16 | FW_CFG_DMA_SELECT | FW_CFG_DMA_WRITE, 6, 0x1000);
    find_file("etc/b", &size, &key);
    char back[7] = { 0 };
    select_key(key);
    read_data(back, 6);
    TAP_CHECK(st == FW_CFG_DMA_ERROR && strcmp(back, "bravo!") == 0, "DMA write to a read-only item: error bit, item unchanged");

    st = dma(0x100, (uint32_t)key << 16 | FW_CFG_DMA_SELECT | FW_CFG_DMA_READ, 6, RAM_SIZE - 2);
    TAP_EQ_U64(st, FW_CFG_DMA_ERROR, "DMA read into a range that leaves RAM: error bit");
    st = dma(0x100, (uint32_t)key << 16 | FW_CFG_DMA_SELECT | FW_CFG_DMA_READ, 6, 0xFFFFFFFFFFFFFFF0ULL);
    TAP_EQ_U64(st, FW_CFG_DMA_ERROR, "DMA read to an address far outside RAM: error bit");
    st = dma(0x100, (uint32_t)key << 16 | FW_CFG_DMA_SELECT | FW_CFG_DMA_READ, 0xFFFFFFF0u, 0x2000);
    TAP_EQ_U64(st, FW_CFG_DMA_ERROR, "DMA read of 4 GiB into 1 MiB of RAM: error bit");
    dma(0x40000000ULL, FW_CFG_DMA_READ, 6, 0x1000);
    dma(RAM_SIZE - 8, FW_CFG_DMA_READ, 6, 0x1000);
    TAP_CHECK(1, "DMA control structure outside RAM: ignored, no crash");
}

/* What SeaBIOS's romfile_loader_execute does, with the two files placed
 * at fixed addresses in a flat buffer standing in for guest memory. */
struct placed {
    const char *name;
    uint8_t *data;
    uint32_t size, addr;
};

static struct placed *placed_of(struct placed *files, unsigned n, const char *name)
{
    for (unsigned i = 0; i < n; i++)
        if (files[i].data && strncmp(name, files[i].name, ACPI_LOADER_FILESZ) == 0)
            return &files[i];
    return NULL;
}

static uint8_t sum(const uint8_t *p, size_t len)
{
    uint8_t s = 0;
    while (len--)
        s = (uint8_t)(s + *p++);
    return s;
}

static void test_table_loader(void)
{
    uint32_t lsize, tsize, rsize;
    uint8_t *loader = read_file("etc/table-loader", &lsize);
    uint8_t *tables = read_file(ACPI_LOADER_TABLES, &tsize);
    uint8_t *rsdp = read_file(ACPI_LOADER_RSDP, &rsize);
    TAP_CHECK(loader && tables && rsdp && lsize % ACPI_LOADER_ENTRY_LEN == 0 && rsize == ACPI_RSDP_LEN,
              "etc/table-loader, etc/acpi/tables and etc/acpi/rsdp present (%u, %u, %u bytes)", lsize, tsize, rsize);
    if (!loader || !tables || !rsdp)
        return;
    /* "Guest memory": tables at 0x7ff00040 (64-aligned), RSDP at 0xF5A30. */
    static uint8_t mem_tables[0x10000], mem_rsdp[64];
    struct placed files[2] = {
        { ACPI_LOADER_TABLES, NULL, tsize, 0x7FF00040u },
        { ACPI_LOADER_RSDP, NULL, rsize, 0xF5A30u },
    };
    unsigned allocs = 0, pointers = 0, checksums = 0, bad = 0;
    for (uint32_t off = 0; off < lsize; off += ACPI_LOADER_ENTRY_LEN) {
        const uint8_t *e = loader + off;
        const char *f1 = (const char *)e + 4, *f2 = (const char *)e + 4 + ACPI_LOADER_FILESZ;
        switch (le32(e)) {
        case ACPI_LOADER_ALLOCATE: {
            struct placed *p = strcmp(f1, ACPI_LOADER_TABLES) == 0 ? &files[0] : &files[1];
            uint32_t align = le32(e + 4 + ACPI_LOADER_FILESZ);
            uint8_t zone = e[8 + ACPI_LOADER_FILESZ];
            bool ok = p == &files[0] ? (zone == ACPI_LOADER_ZONE_HIGH && align >= 64)
                                     : (zone == ACPI_LOADER_ZONE_FSEG && align >= 16);
            bad += !ok || (align & (align - 1)) || p->addr % align;
            p->data = p == &files[0] ? memcpy(mem_tables, tables, tsize) : memcpy(mem_rsdp, rsdp, rsize);
            allocs++;
            break;
        }
        case ACPI_LOADER_ADD_POINTER: {
            struct placed *d = placed_of(files, 2, f1), *s = placed_of(files, 2, f2);
            uint32_t at = le32(e + 4 + 2 * ACPI_LOADER_FILESZ);
            uint8_t sz = e[8 + 2 * ACPI_LOADER_FILESZ];
            if (!d || !s || (sz != 4 && sz != 8) || at + sz > d->size) {
                bad++;
                break;
            }
            uint64_t v = sz == 8 ? le64(d->data + at) : le32(d->data + at);
            bad += v >= s->size;   /* must be an offset into the source file */
            v += s->addr;
            for (int i = 0; i < sz; i++)
                d->data[at + i] = (uint8_t)(v >> (8 * i));
            pointers++;
            break;
        }
        case ACPI_LOADER_ADD_CHECKSUM: {
            struct placed *d = placed_of(files, 2, f1);
            uint32_t at = le32(e + 4 + ACPI_LOADER_FILESZ), start = le32(e + 8 + ACPI_LOADER_FILESZ),
                     len = le32(e + 12 + ACPI_LOADER_FILESZ);
            if (!d || at >= d->size || start + len > d->size) {
                bad++;
                break;
            }
            d->data[at] = (uint8_t)(d->data[at] - sum(d->data + start, len));
            checksums++;
            break;
        }
        default:
            bad++;
        }
    }
    TAP_CHECK(allocs == 2 && pointers >= 9 && checksums >= 7 && bad == 0,
              "loader commands well-formed: %u allocations, %u pointers, %u checksums, %u bad", allocs, pointers,
              checksums, bad);

    /* Resolve a guest address into the two placed files. */
    #define AT(gpa) ((gpa) >= files[0].addr && (gpa) < files[0].addr + tsize ? mem_tables + ((gpa) - files[0].addr) : \
                     (gpa) >= files[1].addr && (gpa) < files[1].addr + rsize ? mem_rsdp + ((gpa) - files[1].addr) : NULL)
    TAP_CHECK(memcmp(mem_rsdp, "RSD PTR ", 8) == 0 && sum(mem_rsdp, 20) == 0 && sum(mem_rsdp, 36) == 0,
              "RSDP signature and both checksums valid");
    uint64_t xsdt_gpa = le64(mem_rsdp + 24);
    uint8_t *xsdt = AT(xsdt_gpa);
    uint8_t *rsdt = AT(le32(mem_rsdp + 16));
    TAP_CHECK(xsdt && memcmp(xsdt, "XSDT", 4) == 0 && sum(xsdt, le32(xsdt + 4)) == 0, "RSDP -> XSDT, checksum valid");
    TAP_CHECK(rsdt && memcmp(rsdt, "RSDT", 4) == 0 && sum(rsdt, le32(rsdt + 4)) == 0, "RSDP -> RSDT, checksum valid");
    if (!xsdt || !rsdt)
        return;
    uint8_t *fadt = NULL, *madt = NULL;
    unsigned n = (le32(xsdt + 4) - 36) / 8;
    for (unsigned i = 0; i < n; i++) {
        uint8_t *t = AT(le64(xsdt + 36 + 8 * i));
        TAP_CHECK(t && sum(t, le32(t + 4)) == 0 && AT(le32(rsdt + 36 + 4 * i)) == t,
                  "XSDT entry %u -> %.4s, checksum valid, same as the RSDT's", i, t ? (char *)t : "????");
        if (t && memcmp(t, "FACP", 4) == 0)
            fadt = t;
        if (t && memcmp(t, "APIC", 4) == 0)
            madt = t;
    }
    TAP_CHECK(fadt && madt, "XSDT lists the FADT and the MADT");
    if (!fadt || !madt)
        return;
    uint8_t *dsdt = AT(le32(fadt + 40)), *facs = AT(le32(fadt + 36));
    TAP_CHECK(dsdt && memcmp(dsdt, "DSDT", 4) == 0 && sum(dsdt, le32(dsdt + 4)) == 0 && AT(le64(fadt + 140)) == dsdt,
              "FADT -> DSDT (32- and 64-bit fields), checksum valid");
    TAP_CHECK(facs && memcmp(facs, "FACS", 4) == 0 && le32(fadt + 36) % 64 == 0, "FADT -> FACS, 64-byte aligned");
    TAP_EQ_U64(le32(fadt + 64), ACPI_PM1_CNT_BLK, "FADT PM1a control block is hv's (poweroff works)");
    unsigned cpus = 0;
    for (uint32_t o = 44; o + 2 <= le32(madt + 4); o += madt[o + 1]) {
        if (!madt[o + 1])
            break;
        cpus += madt[o] == 0;
    }
    TAP_EQ_U64(cpus, 3, "MADT lists 3 processors");
    TAP_CHECK(memcmp(tables, "\0\0\0\0\0\0\0\0", 8) == 0, "no second RSDP signature in the tables file");
    #undef AT
    free(loader);
    free(tables);
    free(rsdp);
}

static void test_firmware_files(void)
{
    struct e820_entry e820[8];
    unsigned ne820 = boot_build_e820(e820, 0x8000000, 0x40000000);
    struct firmware_boot_disk disks[] = { { 0, 1 }, { 2, 3 }, { 1, 0x1a } };
    struct acpi_config acpi = { .ncpus = 3, .intx_gsi = pci_intx_gsi };
    struct firmware_params p = {
        .path = "unused", .ncpus = 3, .ram_below_4g = 0x8000000, .ram_above_4g = 0x40000000,
        .e820 = e820, .ne820 = ne820, .acpi = &acpi, .disks = disks, .ndisks = 3,
    };
    struct fw_cfg *cfg = fw_cfg_create(vm);
    char err[256] = "";
    TAP_CHECK(cfg && firmware_fill_fw_cfg(cfg, &p, err, sizeof(err)), "firmware fw_cfg contents built %s", err);

    uint8_t v[8];
    select_key(FW_CFG_NB_CPUS);
    read_data(v, 2);
    TAP_EQ_U64(v[0] | v[1] << 8, 3, "FW_CFG_NB_CPUS");
    select_key(FW_CFG_MAX_CPUS);
    read_data(v, 2);
    TAP_EQ_U64(v[0] | v[1] << 8, 3, "FW_CFG_MAX_CPUS");
    select_key(FW_CFG_RAM_SIZE);
    read_data(v, 8);
    TAP_EQ_U64(le64(v), 0x48000000ULL, "FW_CFG_RAM_SIZE");
    select_key(FW_CFG_BOOT_MENU);
    v[0] = v[1] = 0xFF;
    read_data(v, 2);
    TAP_CHECK(v[0] == 0 && v[1] == 0, "boot menu off");

    uint32_t size;
    uint8_t *e = read_file("etc/e820", &size);
    TAP_CHECK(e && size == ne820 * 20, "etc/e820: %u entries of 20 bytes", ne820);
    bool same = e != NULL;
    for (unsigned i = 0; e && i < ne820 && i * 20 < size; i++)
        same = same && le64(e + 20 * i) == e820[i].addr && le64(e + 20 * i + 8) == e820[i].size &&
               le32(e + 20 * i + 16) == e820[i].type;
    TAP_CHECK(same && e820[ne820 - 1].addr == 0x100000000ULL, "etc/e820 is hv's own map, RAM above 4 GiB included");
    free(e);

    char *order = (char *)read_file("bootorder", &size);
    TAP_EQ_STR(order, "/pci@i0cf8/scsi@1a/disk@0,0\n/pci@i0cf8/scsi@3/disk@0,0",
               "bootorder: bootindex 1 then 2, slots in hex, the disk without bootindex absent");
    free(order);
    uint8_t *port = read_file("etc/sercon-port", &size);
    TAP_CHECK(port && size == 2 && (port[0] | port[1] << 8) == 0x3F8, "etc/sercon-port = 0x3f8");
    free(port);
    uint8_t *wait = read_file("etc/boot-fail-wait", &size);
    TAP_CHECK(wait && size == 4 && le32(wait) == 0xFFFFFFFFu, "etc/boot-fail-wait = -1 (wait, no reboot loop)");
    free(wait);

    char *pci64 = (char *)read_file("opt/org.seabios/pci64", &size);
    TAP_EQ_STR(pci64, "no", "opt/org.seabios/pci64 = no (BARs in the DSDT's 32-bit window)");
    free(pci64);

    test_table_loader();
    fw_cfg_free(cfg);

    char buf[64];
    struct firmware_boot_disk none[] = { { 0, 1 } };
    TAP_EQ_U64(firmware_bootorder(buf, sizeof(buf), none, 1), 0, "no bootindex: no bootorder");
    struct firmware_boot_disk one[] = { { 1, 5 } };
    TAP_CHECK(firmware_bootorder(buf, 10, one, 1) == 0 && buf[0] == 0, "bootorder that does not fit: empty");
    /* IDE drives as SeaBIOS's bootprio_find_ata_device names them: the
     * controller's slot, the channel (unit / 2) and the device (unit % 2). */
    char ide_buf[256];
    struct firmware_boot_disk mixed[] = {
        { .bootindex = 3, .pci_slot = 4 },
        { .bootindex = 1, .pci_slot = 0xb, .ide = true, .ide_unit = 3 },
        { .bootindex = 2, .pci_slot = 0xb, .ide = true, .ide_unit = 0 },
        { .bootindex = 0, .pci_slot = 0xb, .ide = true, .ide_unit = 1 },
    };
    firmware_bootorder(ide_buf, sizeof(ide_buf), mixed, 4);
    TAP_EQ_STR(ide_buf, "/pci@i0cf8/ide@b/drive@1/disk@1\n/pci@i0cf8/ide@b/drive@0/disk@0\n/pci@i0cf8/scsi@4/disk@0,0",
               "bootorder: IDE unit 3 and unit 0 by channel and device, then virtio, IDE without bootindex absent");
}

static void test_image_checks(void)
{
    char path[] = "/tmp/test-fw-cfg-XXXXXX";
    int fd = mkstemp(path);
    char err[256] = "";
    size_t size = 0;
    TAP_CHECK(fd >= 0 && ftruncate(fd, 100) == 0 && !firmware_read_image(path, &size, err, sizeof(err)) &&
              strstr(err, path) && strstr(err, "64 KiB"), "firmware of 100 bytes refused: %s", err);
    TAP_CHECK(ftruncate(fd, 17 << 20) == 0 && !firmware_read_image(path, &size, err, sizeof(err)) && strstr(err, "16 MiB"),
              "firmware of 17 MiB refused: %s", err);
    uint8_t *img = NULL;
    TAP_CHECK(ftruncate(fd, 256 << 10) == 0 && (img = firmware_read_image(path, &size, err, sizeof(err))) &&
              size == 256 << 10, "firmware of 256 KiB accepted");
    free(img);
    close(fd);
    unlink(path);
    TAP_CHECK(!firmware_read_image("/nonexistent/bios.bin", &size, err, sizeof(err)) &&
              strstr(err, "/nonexistent/bios.bin"), "missing firmware named: %s", err);
}

int main(void)
{
    test_image_checks();
    vm = vm_create_for_test();
    ram = calloc(1, RAM_SIZE);
    gm_add_region(&vm->mem, 0, RAM_SIZE, ram);
    struct fw_cfg *cfg = fw_cfg_create(vm);
    TAP_CHECK(cfg != NULL, "fw_cfg created");
    test_port_interface(cfg);
    test_dma();
    fw_cfg_reset(cfg);
    fw_cfg_free(cfg);
    test_firmware_files();
    vm_destroy(vm);
    free(ram);
    return tap_done();
}
