/* The PIIX3 IDE controller and its ATA/ATAPI drives, driven through the
 * port interface a guest uses (no KVM): IDENTIFY, PIO and DMA against an
 * image file, ATAPI on an ISO made here, media change sense, and hostile
 * input (bad PRDs, huge counts, out-of-range LBAs, absurd packets,
 * commands while busy). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hv/bus.h"
#include "hv/block/block.h"
#include "hv/machine_config.h"
#include "hv/devices/ide.h"
#include "hv/loop.h"
#include "hv/pci/pci.h"
#include "hv/vm.h"
#include "tests/tap.h"

#define RAM_SIZE (8u << 20)
#define DISK_SECTORS 16384u     /* 8 MiB */
#define BM_BASE 0xC100
#define CMD 0x1F0
#define CTL 0x3F6

static struct vm *vm;
static uint8_t *ram;
static char dir[64], disk_path[128], iso_path[128];
static int disk_fd;

static void outb(uint16_t port, uint8_t v) { bus_dispatch(vm->bus, BUS_PIO, port, &v, 1, true); }
static void outw(uint16_t port, uint16_t v)
{
    uint8_t d[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    bus_dispatch(vm->bus, BUS_PIO, port, d, 2, true);
}
static void outl(uint16_t port, uint32_t v)
{
    uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    bus_dispatch(vm->bus, BUS_PIO, port, d, 4, true);
}
static uint32_t in(uint16_t port, unsigned len)
{
    uint8_t d[4] = { 0 };
    bus_dispatch(vm->bus, BUS_PIO, port, d, len, false);
    return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}
static uint8_t inb(uint16_t port) { return (uint8_t)in(port, 1); }
static uint16_t inw(uint16_t port) { return (uint16_t)in(port, 2); }

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }

/* Wait until BSY clears (DMA runs on the controller's I/O thread). */
static uint8_t wait_ready(void)
{
    for (int i = 0; i < 5000; i++) {
        uint8_t st = inb(CTL);
        if (!(st & 0x80))
            return st;
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    return 0x80;
}

static void select_dev(unsigned dev) { outb(CMD + 6, (uint8_t)(0xE0 | dev << 4)); }

static void lba28(uint32_t lba, uint8_t count)
{
    outb(CMD + 2, count);
    outb(CMD + 3, (uint8_t)lba);
    outb(CMD + 4, (uint8_t)(lba >> 8));
    outb(CMD + 5, (uint8_t)(lba >> 16));
    outb(CMD + 6, (uint8_t)(0xE0 | ((lba >> 24) & 0x0F)));
}

static void lba48(uint64_t lba, uint16_t count)
{
    outb(CMD + 2, (uint8_t)(count >> 8));
    outb(CMD + 3, (uint8_t)(lba >> 24));
    outb(CMD + 4, (uint8_t)(lba >> 32));
    outb(CMD + 5, (uint8_t)(lba >> 40));
    outb(CMD + 2, (uint8_t)count);
    outb(CMD + 3, (uint8_t)lba);
    outb(CMD + 4, (uint8_t)(lba >> 8));
    outb(CMD + 5, (uint8_t)(lba >> 16));
    outb(CMD + 6, 0x40);
}

/* The disk's expected content: sector s is filled with bytes s*7+i. */
static uint8_t pattern(uint64_t s, unsigned i) { return (uint8_t)(s * 7 + i); }

static bool file_has(int fd, uint64_t off, const uint8_t *want, size_t len)
{
    uint8_t *got = malloc(len);
    bool ok = pread(fd, got, len, (off_t)off) == (ssize_t)len && memcmp(got, want, len) == 0;
    free(got);
    return ok;
}

/* PRD table at gpa 0x1000: entries (addr, bytes), the last with EOT. */
static void prd_table(const uint32_t *addr, const uint32_t *len, unsigned n, bool eot)
{
    for (unsigned i = 0; i < n; i++) {
        put32(ram + 0x1000 + 8 * i, addr[i]);
        put32(ram + 0x1004 + 8 * i, (len[i] & 0xFFFF) | (eot && i == n - 1 ? 0x80000000u : 0));
    }
    outl(BM_BASE + 4, 0x1000);
}

static void bm_start(bool to_memory)
{
    outb(BM_BASE + 2, 0x06);    /* clear interrupt and error */
    outb(BM_BASE, (uint8_t)(0x01 | (to_memory ? 0x08 : 0)));
}

static uint8_t bm_finish(void)
{
    uint8_t st = wait_ready();
    (void)st;
    uint8_t bm = inb(BM_BASE + 2);
    outb(BM_BASE, 0);
    return bm;
}

static void identify_disk(void)
{
    select_dev(0);
    outb(CMD + 7, 0xEC);
    uint8_t st = inb(CMD + 7);
    TAP_CHECK(st & 0x08, "IDENTIFY DEVICE: DRQ (status %#x)", st);
    uint16_t id[256];
    for (int i = 0; i < 256; i++)
        id[i] = inw(CMD);
    TAP_CHECK(!(inb(CMD + 7) & 0x08), "IDENTIFY: DRQ clear after 512 bytes");
    char model[41], serial[21];
    for (int i = 0; i < 20; i++) {
        model[2 * i] = (char)(id[27 + i] >> 8);
        model[2 * i + 1] = (char)id[27 + i];
    }
    model[40] = 0;
    for (int i = 0; i < 10; i++) {
        serial[2 * i] = (char)(id[10 + i] >> 8);
        serial[2 * i + 1] = (char)id[10 + i];
    }
    serial[20] = 0;
    TAP_EQ_STR(model, "HVD HARDDISK                            ", "IDENTIFY model (words 27-46)");
    TAP_EQ_STR(serial, "IDE-SERIAL-1        ", "IDENTIFY serial (words 10-19)");
    uint64_t cap48 = (uint64_t)id[100] | (uint64_t)id[101] << 16 | (uint64_t)id[102] << 32 |
                     (uint64_t)id[103] << 48;
    TAP_EQ_U64(cap48, DISK_SECTORS, "IDENTIFY LBA48 capacity (words 100-103)");
    TAP_EQ_U64((uint32_t)id[60] | (uint32_t)id[61] << 16, DISK_SECTORS, "IDENTIFY LBA28 capacity");
    TAP_CHECK(id[83] & (1 << 10), "IDENTIFY: LBA48 feature set (word 83 bit 10)");
    TAP_CHECK((id[49] & 0x0300) == 0x0300, "IDENTIFY: LBA and DMA (word 49)");
    uint8_t sum = 0;
    for (int i = 0; i < 256; i++)
        sum = (uint8_t)(sum + (id[i] & 0xFF) + (id[i] >> 8));
    TAP_CHECK((id[255] & 0xFF) == 0xA5 && sum == 0, "IDENTIFY word 255: signature A5h and checksum");
}

static void pio_disk(void)
{
    uint8_t buf[4096], want[4096];
    /* READ SECTORS EXT: 3 sectors at 1000 */
    lba48(1000, 3);
    outb(CMD + 7, 0x24);
    for (int i = 0; i < 3 * 256; i++) {
        uint16_t w = inw(CMD);
        buf[2 * i] = (uint8_t)w;
        buf[2 * i + 1] = (uint8_t)(w >> 8);
    }
    for (unsigned i = 0; i < 3 * 512; i++)
        want[i] = pattern(1000 + i / 512, i % 512);
    TAP_CHECK(memcmp(buf, want, 3 * 512) == 0, "PIO READ SECTORS EXT returns the image's sectors");
    TAP_CHECK((inb(CMD + 7) & 0xC9) == 0x40, "status DRDY, no DRQ/ERR after the last block");

    /* WRITE SECTORS (LBA28), 32-bit data accesses: 2 sectors at 20 */
    for (unsigned i = 0; i < 1024; i++)
        want[i] = (uint8_t)(0xA0 ^ i);
    lba28(20, 2);
    outb(CMD + 7, 0x30);
    TAP_CHECK(inb(CMD + 7) & 0x08, "WRITE SECTORS: DRQ for the first block");
    for (unsigned i = 0; i < 1024; i += 4)
        outl(CMD, (uint32_t)want[i] | (uint32_t)want[i + 1] << 8 | (uint32_t)want[i + 2] << 16 |
                      (uint32_t)want[i + 3] << 24);
    TAP_CHECK((inb(CMD + 7) & 0x89) == 0x00 && (inb(CMD + 7) & 0x40), "WRITE SECTORS completes");
    TAP_CHECK(file_has(disk_fd, 20 * 512, want, 1024), "PIO-written sectors are in the image file");

    /* READ MULTIPLE needs SET MULTIPLE MODE first */
    lba28(0, 8);
    outb(CMD + 7, 0xC4);
    TAP_CHECK((inb(CMD + 7) & 0x01) && inb(CMD + 1) == 0x04, "READ MULTIPLE without SET MULTIPLE aborts");
    outb(CMD + 2, 3);
    outb(CMD + 7, 0xC6);
    TAP_CHECK(inb(CMD + 7) & 0x01, "SET MULTIPLE 3 (not a power of two) aborts");
    outb(CMD + 2, 4);
    outb(CMD + 7, 0xC6);
    TAP_CHECK(!(inb(CMD + 7) & 0x01), "SET MULTIPLE 4");
    lba28(100, 8);
    outb(CMD + 7, 0xC4);
    bool ok = true;
    for (int i = 0; i < 8 * 256; i++) {
        uint16_t w = inw(CMD);
        unsigned b = 2u * (unsigned)i;
        ok &= (uint8_t)w == pattern(100 + b / 512, b % 512) && (uint8_t)(w >> 8) == pattern(100 + b / 512, b % 512 + 1);
    }
    TAP_CHECK(ok, "READ MULTIPLE of 8 sectors in blocks of 4");

    /* CHS addressing in the geometry of INITIALIZE DEVICE PARAMETERS:
     * 4 heads, 32 sectors per track; C/H/S 2/3/5 is LBA (2*4+3)*32+4 = 356. */
    outb(CMD + 2, 32);
    outb(CMD + 6, 0xA0 | 3);
    outb(CMD + 7, 0x91);
    TAP_CHECK(!(inb(CMD + 7) & 0x01), "INITIALIZE DEVICE PARAMETERS 4 heads, 32 sectors");
    outb(CMD + 2, 1);
    outb(CMD + 3, 5);
    outb(CMD + 4, 2);
    outb(CMD + 5, 0);
    outb(CMD + 6, 0xA0 | 3);
    outb(CMD + 7, 0x20);
    uint16_t w0 = inw(CMD);
    for (int i = 1; i < 256; i++)
        inw(CMD);
    TAP_CHECK((w0 & 0xFF) == pattern(356, 0) && (w0 >> 8) == pattern(356, 1), "CHS 2/3/5 reads LBA 356");
    outb(CMD + 3, 33);
    outb(CMD + 7, 0x20);
    TAP_CHECK((inb(CMD + 7) & 0x01) && (inb(CMD + 1) & 0x10), "CHS sector 33 of 32: IDNF");

    /* LBA past the end, huge counts: IDNF */
    lba28(DISK_SECTORS, 1);
    outb(CMD + 7, 0x20);
    uint8_t st = inb(CMD + 7);
    TAP_CHECK((st & 0x09) == 0x01 && (inb(CMD + 1) & 0x10), "READ SECTORS past the end: ERR, IDNF");
    lba48(0, 0);    /* 0 = 65536 sectors, more than the disk */
    outb(CMD + 7, 0x24);
    TAP_CHECK((inb(CMD + 7) & 0x09) == 0x01 && (inb(CMD + 1) & 0x10), "READ SECTORS EXT of 65536 sectors: IDNF");
    lba48(0xFFFFFFFFFFFFull, 0xFFFF);
    outb(CMD + 7, 0x35);
    TAP_CHECK((inb(CMD + 7) & 0x89) == 0x01, "WRITE DMA EXT at LBA 2^48-1: IDNF, not busy");

    /* data port with no transfer: nothing happens */
    TAP_EQ_U64(inw(CMD), 0, "data port reads 0 with no transfer");
    outw(CMD, 0x1234);
    TAP_CHECK(file_has(disk_fd, 20 * 512, want, 1024), "a stray data write changes nothing");

    /* FLUSH CACHE, SET FEATURES, power commands */
    outb(CMD + 7, 0xE7);
    TAP_CHECK(!(inb(CMD + 7) & 0x01), "FLUSH CACHE");
    outb(CMD + 1, 0x03);
    outb(CMD + 2, 0x22);    /* MWDMA 2 */
    outb(CMD + 7, 0xEF);
    TAP_CHECK(!(inb(CMD + 7) & 0x01), "SET FEATURES transfer mode MWDMA2");
    outb(CMD + 1, 0x03);
    outb(CMD + 2, 0x27);    /* MWDMA 7 does not exist */
    outb(CMD + 7, 0xEF);
    TAP_CHECK(inb(CMD + 7) & 0x01, "SET FEATURES MWDMA7 aborts");
    outb(CMD + 7, 0xE5);
    TAP_CHECK(!(inb(CMD + 7) & 0x01) && inb(CMD + 2) == 0xFF, "CHECK POWER MODE: active");
    select_dev(1);
    outb(CMD + 7, 0x90);    /* EXECUTE DEVICE DIAGNOSTIC, issued with device 1 selected */
    TAP_CHECK(inb(CMD + 1) == 0x01 && inb(CMD + 2) == 1 && inb(CMD + 3) == 1 && inb(CMD + 4) == 0 &&
                  inb(CMD + 7) == 0x50,
              "EXECUTE DEVICE DIAGNOSTIC: device 0 answers, code 01h, disk signature");
    outb(CMD + 7, 0x00);    /* NOP: aborts by definition */
    TAP_CHECK(inb(CMD + 7) & 0x01, "unknown command 00h aborts");
}

static void dma_disk(void)
{
    /* READ DMA EXT, 4 sectors at 200, into two PRD regions */
    memset(ram + 0x10000, 0, 4096);
    memset(ram + 0x30000, 0, 4096);
    prd_table((uint32_t[]){ 0x10000, 0x30000 }, (uint32_t[]){ 1024, 1024 }, 2, true);
    lba48(200, 4);
    outb(CMD + 7, 0x25);
    TAP_CHECK(inb(CTL) & 0x80, "READ DMA EXT waits for the bus master (BSY)");
    bm_start(true);
    uint8_t bm = bm_finish();
    uint8_t st = inb(CMD + 7);
    TAP_CHECK((st & 0x89) == 0, "READ DMA EXT completes (status %#x)", st);
    TAP_CHECK((bm & 0x07) == 0x04, "bus master: interrupt, not active, no error (%#x)", bm);
    bool ok = true;
    for (unsigned i = 0; i < 2048; i++) {
        uint8_t *p = i < 1024 ? ram + 0x10000 + i : ram + 0x30000 + i - 1024;
        ok &= *p == pattern(200 + i / 512, i % 512);
    }
    TAP_CHECK(ok, "DMA read scattered the sectors over the PRD regions");

    /* WRITE DMA of 2 sectors from one region, PRD larger than the transfer */
    for (unsigned i = 0; i < 1024; i++)
        ram[0x40000 + i] = (uint8_t)(i * 13);
    prd_table((uint32_t[]){ 0x40000 }, (uint32_t[]){ 0 /* 64 KiB */ }, 1, true);
    lba28(300, 2);
    outb(CMD + 7, 0xCA);
    bm_start(false);
    bm = bm_finish();
    TAP_CHECK(!(inb(CMD + 7) & 0x01), "WRITE DMA completes");
    TAP_CHECK((bm & 0x07) == 0x05, "bus master: interrupt with active still set (table larger) (%#x)", bm);
    TAP_CHECK(file_has(disk_fd, 300 * 512, ram + 0x40000, 1024), "DMA-written sectors are in the image file");

    /* PRD outside RAM */
    prd_table((uint32_t[]){ 0xF0000000u }, (uint32_t[]){ 4096 }, 1, true);
    lba28(0, 8);
    outb(CMD + 7, 0xC8);
    bm_start(true);
    bm = bm_finish();
    st = inb(CMD + 7);
    TAP_CHECK((st & 0x81) == 0x01, "PRD outside RAM: command ends with ERR (%#x)", st);
    TAP_CHECK((bm & 0x03) == 0x02, "PRD outside RAM: bus master error, not active (%#x)", bm);

    /* PRD table outside RAM */
    outl(BM_BASE + 4, 0xFFFFFFF0u);
    lba28(0, 1);
    outb(CMD + 7, 0xC8);
    bm_start(true);
    bm = bm_finish();
    TAP_CHECK((inb(CMD + 7) & 0x81) == 0x01 && (bm & 0x02), "PRD table outside RAM: ERR and bus master error");

    /* a table of 8192 two-byte entries with no end bit, for 32 KiB */
    for (unsigned i = 0; i < 8192; i++) {
        put32(ram + 0x100000 + 8 * i, 0x200000);
        put32(ram + 0x100004 + 8 * i, 2);
    }
    outl(BM_BASE + 4, 0x100000);
    lba28(0, 64);
    outb(CMD + 7, 0xC8);
    bm_start(true);
    bm = bm_finish();
    TAP_CHECK((inb(CMD + 7) & 0x81) == 0x01 && (bm & 0x03) == 0x02,
              "PRD table without end bit too short: stops at 8192 entries with an error (%#x)", bm);

    /* wrong engine direction */
    prd_table((uint32_t[]){ 0x10000 }, (uint32_t[]){ 512 }, 1, true);
    lba28(0, 1);
    outb(CMD + 7, 0xC8);
    bm_start(false);
    bm = bm_finish();
    TAP_CHECK((inb(CMD + 7) & 0x01) && (bm & 0x02), "READ DMA with a memory-to-device engine: error");

    /* commands while busy are ignored; SRST ends the wait */
    lba28(0, 1);
    outb(CMD + 7, 0xC8);
    outb(CMD + 7, 0xEC);
    outb(CMD + 2, 0x55);
    TAP_CHECK((inb(CTL) & 0x88) == 0x80, "IDENTIFY while a DMA command is pending is ignored (BSY)");
    outb(CTL, 0x04);
    outb(CTL, 0x00);
    st = inb(CMD + 7);
    TAP_CHECK(st == 0x50 && inb(CMD + 2) == 1 && inb(CMD + 3) == 1 && inb(CMD + 4) == 0,
              "SRST: disk ready with its signature (status %#x)", st);
}

/* ---- ATAPI ---- */

struct packet_result {
    uint8_t status, error;
    size_t len;
    unsigned chunks;
};

static struct packet_result packet(const uint8_t cdb[12], uint16_t limit, uint8_t *out, size_t max)
{
    struct packet_result r = { 0 };
    outb(CMD + 1, 0);
    outb(CMD + 4, (uint8_t)limit);
    outb(CMD + 5, (uint8_t)(limit >> 8));
    outb(CMD + 7, 0xA0);
    uint8_t st = inb(CMD + 7);
    if (!(st & 0x08) || inb(CMD + 2) != 0x01) {
        r.status = st;
        return r;
    }
    for (int i = 0; i < 6; i++)
        outw(CMD, (uint16_t)(cdb[2 * i] | cdb[2 * i + 1] << 8));
    for (unsigned guard = 0; guard < 100000; guard++) {
        st = inb(CMD + 7);
        if (!(st & 0x08))
            break;
        unsigned n = inb(CMD + 4) | inb(CMD + 5) << 8;
        r.chunks++;
        for (unsigned i = 0; i < n; i += 2) {
            uint16_t w = inw(CMD);
            if (r.len + 1 < max) {
                out[r.len] = (uint8_t)w;
                out[r.len + 1] = (uint8_t)(w >> 8);
            }
            r.len += 2;
        }
    }
    r.status = st;
    r.error = inb(CMD + 1);
    return r;
}

static unsigned sense_key(void)
{
    uint8_t cdb[12] = { 0x03, 0, 0, 0, 18 }, s[18];
    struct packet_result r = packet(cdb, 18, s, sizeof(s));
    return r.len == 18 ? (unsigned)s[2] << 16 | (unsigned)s[12] << 8 | s[13] : 0xFFFFFFFF;
}

static struct packet_result tur(void)
{
    uint8_t cdb[12] = { 0 };
    return packet(cdb, 0, NULL, 0);
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

static char tray_log[256];

static void *run_loop(void *loop)
{
    loop_run(loop);
    return NULL;
}

static void quit_loop(void *loop) { loop_quit(loop, 0); }

static void tray_listener(void *opaque, const char *id, bool open)
{
    (void)opaque;
    size_t n = strlen(tray_log);
    snprintf(tray_log + n, sizeof(tray_log) - n, "%s%s:%s", n ? "," : "", id, open ? "open" : "closed");
}

static void atapi(struct ide *ide, uint64_t iso_sectors, int iso_fd)
{
    select_dev(1);
    outb(CTL, 0x04);
    outb(CTL, 0x00);
    select_dev(1);
    TAP_CHECK(inb(CMD + 4) == 0x14 && inb(CMD + 5) == 0xEB, "ATAPI signature 14h/EBh after SRST");
    outb(CMD + 7, 0xEC);
    TAP_CHECK((inb(CMD + 7) & 0x01) && inb(CMD + 4) == 0x14 && inb(CMD + 5) == 0xEB,
              "IDENTIFY DEVICE on ATAPI aborts with the signature");
    outb(CMD + 7, 0xA1);
    uint16_t id[256];
    for (int i = 0; i < 256; i++)
        id[i] = inw(CMD);
    TAP_EQ_U64(id[0], 0x85C0, "IDENTIFY PACKET word 0: ATAPI CD-ROM, removable, 12-byte packets");
    uint8_t sum = 0;
    for (int i = 0; i < 256; i++)
        sum = (uint8_t)(sum + (id[i] & 0xFF) + (id[i] >> 8));
    TAP_CHECK(sum == 0, "IDENTIFY PACKET checksum");

    struct packet_result r = tur();
    TAP_CHECK(!(r.status & 0x01), "TEST UNIT READY with the ISO: good");

    uint8_t buf[65536];
    uint8_t inq[12] = { 0x12, 0, 0, 0xFF, 0xFF };
    r = packet(inq, 0xFFFF, buf, sizeof(buf));
    TAP_CHECK(r.len == 36 && buf[0] == 0x05 && (buf[1] & 0x80), "INQUIRY: 36 bytes, CD/DVD, removable");

    uint8_t cap[12] = { 0x25 };
    r = packet(cap, 8, buf, sizeof(buf));
    TAP_CHECK(r.len == 8 && be32(buf) == iso_sectors - 1 && be32(buf + 4) == 2048,
              "READ CAPACITY: last LBA %u (ISO has %llu sectors), 2048-byte blocks", be32(buf),
              (unsigned long long)iso_sectors);

    /* READ(10) of 20 sectors (40 KiB) with a 32 KiB byte count limit: two DRQ chunks */
    uint8_t rd[12] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 20 };
    static uint8_t big[20 * 2048];
    r = packet(rd, 0x8000, big, sizeof(big));
    TAP_CHECK(r.len == sizeof(big) && r.chunks == 2 && !(r.status & 0x01),
              "READ(10) of 20 sectors: %zu bytes in %u DRQ chunks", r.len, r.chunks);
    TAP_CHECK(file_has(iso_fd, 0, big, sizeof(big)), "READ(10) data equal the ISO file");
    TAP_CHECK(memcmp(big + 16 * 2048 + 1, "CD001", 5) == 0, "sector 16 is the primary volume descriptor");

    /* READ(12) past the end and of 2^32-1 blocks */
    uint8_t rd12[12] = { 0xA8, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF };
    r = packet(rd12, 0xFFFE, buf, sizeof(buf));
    TAP_CHECK((r.status & 0x01) && r.len == 0 && (r.error >> 4) == 5, "READ(12) of 2^32-1 blocks: ILLEGAL REQUEST");
    TAP_EQ_U64(sense_key(), 0x052100, "sense: LBA out of range");
    uint8_t rdend[12] = { 0x28, 0, 0, 0, (uint8_t)(iso_sectors >> 8), (uint8_t)iso_sectors, 0, 0, 1 };
    r = packet(rdend, 2048, buf, sizeof(buf));
    TAP_CHECK((r.status & 0x01) && r.len == 0, "READ(10) at the capacity: check condition");

    /* READ TOC format 0, LBA and MSF; format 1 */
    uint8_t toc[12] = { 0x43, 0, 0, 0, 0, 0, 0, 0x03, 0x24 };
    r = packet(toc, 0xFFFE, buf, sizeof(buf));
    TAP_CHECK(r.len == 20 && buf[2] == 1 && buf[3] == 1 && buf[6] == 1 && be32(buf + 8) == 0 &&
              buf[14] == 0xAA && be32(buf + 16) == iso_sectors,
              "READ TOC format 0: track 1 at 0, lead-out at %u", be32(buf + 16));
    toc[1] = 0x02;
    r = packet(toc, 0xFFFE, buf, sizeof(buf));
    uint64_t lo = iso_sectors + 150;
    TAP_CHECK(r.len == 20 && buf[9] == 0 && buf[10] == 2 && buf[11] == 0 && buf[17] == lo / 4500 &&
              buf[18] == lo / 75 % 60 && buf[19] == lo % 75, "READ TOC MSF: track 1 at 00:02:00, lead-out MSF");
    uint8_t ses[12] = { 0x43, 0, 1, 0, 0, 0, 0, 0, 12 };
    r = packet(ses, 0xFFFE, buf, sizeof(buf));
    TAP_CHECK(r.len == 12 && buf[1] == 0x0A && buf[2] == 1 && buf[3] == 1 && buf[6] == 1,
              "READ TOC format 1: one session");
    uint8_t bad_toc[12] = { 0x43, 0, 5, 0, 0, 0, 0, 0, 12 };
    r = packet(bad_toc, 0xFFFE, buf, sizeof(buf));
    TAP_CHECK(r.status & 0x01, "READ TOC format 5: check condition");

    /* MODE SENSE(10) page 2Ah, GET CONFIGURATION, disc info, mechanism status */
    uint8_t ms[12] = { 0x5A, 0, 0x2A, 0, 0, 0, 0, 0x01, 0x00 };
    r = packet(ms, 0xFFFE, buf, sizeof(buf));
    TAP_CHECK(r.len == 28 && buf[8] == 0x2A && buf[9] == 0x12, "MODE SENSE(10) capabilities page");
    uint8_t gc[12] = { 0x46, 0, 0, 0, 0, 0, 0, 0x01, 0x00 };
    r = packet(gc, 0xFFFE, buf, sizeof(buf));
    TAP_CHECK(r.len >= 8 && (buf[6] << 8 | buf[7]) == 0x0008, "GET CONFIGURATION: current profile CD-ROM");
    uint8_t di[12] = { 0x51, 0, 0, 0, 0, 0, 0, 0, 34 };
    r = packet(di, 0xFFFE, buf, sizeof(buf));
    TAP_CHECK(r.len == 34 && buf[2] == 0x0E, "READ DISC INFORMATION: complete disc");
    uint8_t mech[12] = { 0xBD, 0, 0, 0, 0, 0, 0, 0, 0, 8 };
    r = packet(mech, 0xFFFE, buf, sizeof(buf));
    TAP_CHECK(r.len == 8 && !(buf[1] & 0x10), "MECHANISM STATUS: door closed");

    /* unknown opcode, odd byte limit, excess packet bytes */
    uint8_t unk[12] = { 0xFF };
    r = packet(unk, 1, buf, sizeof(buf));
    TAP_CHECK((r.status & 0x01) && sense_key() == 0x052000, "unknown packet opcode: ILLEGAL REQUEST, invalid opcode");
    outw(CMD, 0xFFFF);
    TAP_CHECK(!(inb(CMD + 7) & 0x08), "data writes after the packet are ignored");

    /* DMA READ(10) of 3 sectors */
    prd_table((uint32_t[]){ 0x50000 }, (uint32_t[]){ 3 * 2048 }, 1, true);
    outb(CMD + 1, 0x01);
    outb(CMD + 4, 0);
    outb(CMD + 5, 0);
    outb(CMD + 7, 0xA0);
    uint8_t rd3[12] = { 0x28, 0, 0, 0, 0, 16, 0, 0, 3 };
    for (int i = 0; i < 6; i++)
        outw(CMD, (uint16_t)(rd3[2 * i] | rd3[2 * i + 1] << 8));
    bm_start(true);
    uint8_t bm = bm_finish();
    TAP_CHECK(!(inb(CMD + 7) & 0x01) && (bm & 0x07) == 0x04 && file_has(iso_fd, 16 * 2048, ram + 0x50000, 3 * 2048),
              "ATAPI DMA READ(10): data equal the ISO, bus master done (%#x)", bm);

    /* eject and insert from the monitor side */
    char err[256];
    ide_set_tray_listener(ide, tray_listener, NULL);
    TAP_CHECK(ide_change_medium(ide, "ide0-0-1", NULL, false, err, sizeof(err)), "eject the medium");
    struct ide_drive_info info;
    TAP_CHECK(ide_drive_info(ide, "ide0-0-1", &info) && info.cdrom && info.tray_open && !info.image &&
                  info.size == 0, "drive info after eject: cdrom, tray open, no image");
    r = tur();
    TAP_CHECK((r.status & 0x01) && (r.error >> 4) == 2, "TEST UNIT READY after eject: NOT READY");
    TAP_EQ_U64(sense_key(), 0x023A02, "sense: medium not present, tray open");
    r = packet(cap, 8, buf, sizeof(buf));
    TAP_CHECK((r.status & 0x01) && r.len == 0, "READ CAPACITY without medium: check condition");
    TAP_CHECK(!ide_change_medium(ide, "ide0-0-1", "/nonexistent/x.iso", false, err, sizeof(err)),
              "inserting a missing image fails: %s", err);
    TAP_CHECK(!ide_change_medium(ide, "ide0-0-0", NULL, false, err, sizeof(err)), "the disk has no tray: %s", err);
    TAP_CHECK(ide_change_medium(ide, "ide0-0-1", iso_path, false, err, sizeof(err)), "insert the ISO");
    TAP_EQ_STR(tray_log, "ide0-0-1:open,ide0-0-1:closed", "tray events: open on eject, closed on insert, none on failures");
    tray_log[0] = 0;
    TAP_CHECK(ide_set_tray(ide, "ide0-0-1", false, false, err, sizeof(err)) && !tray_log[0],
              "closing a closed tray: no event");
    vm->loop = loop_new();
    pthread_t loop_thread;
    pthread_create(&loop_thread, NULL, run_loop, vm->loop);
    uint8_t gesn[12] = { 0x4A, 0x01, 0, 0, 0x10, 0, 0, 0, 8 };
    r = packet(gesn, 8, buf, sizeof(buf));
    TAP_CHECK(r.len == 8 && buf[2] == 4 && buf[4] == 2 && (buf[5] & 0x02), "GET EVENT STATUS: new media, present");
    r = packet(gesn, 8, buf, sizeof(buf));
    TAP_CHECK(r.len == 8 && buf[4] == 0, "GET EVENT STATUS: the event is reported once");
    r = tur();
    TAP_CHECK((r.status & 0x01) && (r.error >> 4) == 6, "TEST UNIT READY after insert: UNIT ATTENTION");
    TAP_EQ_U64(sense_key(), 0x062800, "sense: medium may have changed");
    r = tur();
    TAP_CHECK(!(r.status & 0x01), "then TEST UNIT READY: good");

    /* the guest locks the tray */
    uint8_t lock[12] = { 0x1E, 0, 0, 0, 1 };
    r = packet(lock, 0, buf, sizeof(buf));
    TAP_CHECK(!(r.status & 0x01), "PREVENT MEDIUM REMOVAL");
    TAP_CHECK(ide_drive_info(ide, "ide0-0-1", &info) && info.locked && !info.tray_open && info.readonly &&
                  info.image && strcmp(blk_image_path(info.image), iso_path) == 0 && info.size == iso_sectors * 2048,
              "drive info: locked, tray closed, read-only, the ISO and its size");
    TAP_CHECK(ide_drive_info(ide, "ide0-0-0", &info) && !info.cdrom && info.image && !ide_drive_info(ide, "nope", &info),
              "drive info: the disk, and no info for an unknown id");
    TAP_CHECK(!ide_change_medium(ide, "ide0-0-1", NULL, false, err, sizeof(err)), "eject of a locked tray refused: %s", err);
    uint8_t eject[12] = { 0x1B, 0, 0, 0, 0x02 };
    r = packet(eject, 0, buf, sizeof(buf));
    TAP_CHECK((r.status & 0x01) && sense_key() == 0x055302, "START STOP UNIT eject while locked: removal prevented");
    TAP_CHECK(ide_change_medium(ide, "ide0-0-1", iso_path, true, err, sizeof(err)), "forced change of a locked tray");
    tray_log[0] = 0;
    tur();
    lock[4] = 0;
    packet(lock, 0, buf, sizeof(buf));
    r = packet(eject, 0, buf, sizeof(buf));
    TAP_CHECK(!(r.status & 0x01) && (tur().error >> 4) == 2, "guest eject: the tray opens, NOT READY");
    eject[4] = 0x03;
    r = packet(eject, 0, buf, sizeof(buf));
    TAP_CHECK(!(tur().status & 0x01), "guest load: medium back, ready");
    /* The guest's tray movements reach the listener through the main loop. */
    loop_call(vm->loop, quit_loop, vm->loop);   /* after the queued events */
    pthread_join(loop_thread, NULL);
    TAP_EQ_STR(tray_log, "ide0-0-1:open,ide0-0-1:closed", "guest eject and load: tray events on the main loop");

    /* the empty drive at secondary master */
    select_dev(0);
    TAP_CHECK(inb(0x177) == 0x00, "secondary master (empty cdrom) status 0 after reset");
    outb(0x176, 0xB0);
    TAP_CHECK(inb(0x177) == 0x00, "secondary slave absent: status 0");
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/test-ata.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(disk_path, sizeof(disk_path), "%s/disk.img", dir);
    snprintf(iso_path, sizeof(iso_path), "%s/cd.iso", dir);
    disk_fd = open(disk_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    static uint8_t sec[512];
    for (uint64_t s = 0; s < DISK_SECTORS; s++) {
        for (unsigned i = 0; i < 512; i++)
            sec[i] = pattern(s, i);
        if (write(disk_fd, sec, 512) != 512)
            return 1;
    }
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "mkdir -p %s/iso && echo 'hello from the hv cdrom' > %s/iso/hello.txt && "
             "head -c 300000 /dev/urandom > %s/iso/random.bin && "
             "genisoimage -quiet -r -V HVTEST -o %s %s/iso", dir, dir, dir, iso_path, dir);
    if (system(cmd) != 0) {
        printf("1..0 # SKIP genisoimage failed (tools/setup installs it)\n");
        return 0;
    }
    int iso_fd = open(iso_path, O_RDONLY);
    struct stat sb;
    fstat(iso_fd, &sb);

    vm = vm_create_for_test();
    ram = calloc(1, RAM_SIZE);
    gm_add_region(&vm->mem, 0, RAM_SIZE, ram);
    TAP_CHECK(pci_bus_create(vm) == 0, "PCI bus");

    struct hv_config cfg;
    hv_config_init(&cfg);
    char err[256];
    char spec[300];
    snprintf(spec, sizeof(spec), "path=%s,bus=ide,unit=0,serial=IDE-SERIAL-1", disk_path);
    TAP_CHECK(hv_config_add_disk_spec(&cfg, spec, err, sizeof(err)), "--disk %s", spec);
    snprintf(spec, sizeof(spec), "path=%s,bus=ide,media=cdrom", iso_path);
    TAP_CHECK(hv_config_add_disk_spec(&cfg, spec, err, sizeof(err)), "--disk %s", spec);
    TAP_CHECK(hv_config_add_disk_spec(&cfg, "bus=ide,unit=2,media=cdrom", err, sizeof(err)), "empty cdrom");
    TAP_CHECK(!hv_config_add_disk_spec(&cfg, "bus=ide,unit=4", err, sizeof(err)), "unit 4 refused: %s", err);
    TAP_CHECK(!hv_config_add_disk_spec(&cfg, "bus=scsi,path=x", err, sizeof(err)), "bus=scsi refused: %s", err);
    TAP_CHECK(!hv_config_add_disk_spec(&cfg, "bus=ide", err, sizeof(err)), "an IDE disk needs a path: %s", err);
    struct hv_config jcfg;
    hv_config_init(&jcfg);
    err[0] = 0;
    TAP_CHECK(hv_config_apply_json(&jcfg, "{\"disks\": [{\"bus\": \"ide\", \"unit\": 3, \"media\": \"cdrom\"},"
                                          " {\"path\": \"d.img\", \"bus\": \"virtio\", \"media\": \"disk\"}]}",
                                   err, sizeof(err)) &&
              jcfg.ndisks == 2 && jcfg.disks[0].bus == HV_DISK_BUS_IDE && jcfg.disks[0].unit == 3 &&
              jcfg.disks[0].media == HV_DISK_MEDIA_CDROM && !jcfg.disks[0].path &&
              jcfg.disks[1].bus == HV_DISK_BUS_VIRTIO && jcfg.disks[1].unit == -1,
              "JSON disks[] bus/unit/media (%s)", err);
    TAP_CHECK(!hv_config_apply_json(&jcfg, "{\"disks\": [{\"path\": \"x\", \"bus\": \"ide\", \"unit\": 4}]}", err,
                                    sizeof(err)), "JSON unit 4 refused: %s", err);
    TAP_CHECK(!hv_config_apply_json(&jcfg, "{\"disks\": [{\"path\": \"x\", \"media\": \"floppy\"}]}", err,
                                    sizeof(err)), "JSON media floppy refused: %s", err);
    TAP_CHECK(!hv_config_apply_json(&jcfg, "{\"disks\": [{\"bus\": \"ide\"}]}", err, sizeof(err)),
              "JSON IDE disk without path refused: %s", err);
    hv_config_free(&jcfg);

    struct ide *ide = ide_create(vm, &cfg, err, sizeof(err));
    TAP_CHECK(ide && ide_start(ide, err, sizeof(err)) == 0, "IDE controller created and started (%s)", ide ? "" : err);
    if (!ide)
        return tap_done();

    /* find the function, place BAR4, enable I/O and bus mastering */
    int slot = -1;
    for (unsigned s = 0; s < 32 && slot < 0; s++)
        if (pci_cfg_read(vm, 0x80000000u | s << 11, 0, 4) == 0x70108086u)
            slot = (int)s;
    TAP_CHECK(slot > 0, "8086:7010 on bus 0 slot %d", slot);
    uint32_t a = 0x80000000u | (unsigned)slot << 11;
    TAP_EQ_U64(pci_cfg_read(vm, a | 0x08, 0, 4) >> 8, 0x010180, "class 0101h, prog-if 80h");
    TAP_CHECK(pci_cfg_read(vm, a | 0x40, 0, 4) == 0x80008000u, "IDE decode enabled on both channels (IDETIM)");
    TAP_EQ_U64(pci_cfg_read(vm, a | 0x3C, 1, 1), 0, "no INTx pin (legacy ISA IRQs)");
    pci_cfg_write(vm, a | 0x20, 0, 4, BM_BASE);
    pci_cfg_write(vm, a | 0x04, 0, 2, 0x0005);
    TAP_EQ_U64(inb(BM_BASE + 2) & 0x60, 0x60, "bus master status: both primary devices DMA capable");

    identify_disk();
    pio_disk();
    dma_disk();
    atapi(ide, (uint64_t)sb.st_size / 2048, iso_fd);

    /* bus mastering off: the engine must not touch memory */
    pci_cfg_write(vm, a | 0x04, 0, 2, 0x0001);
    select_dev(0);
    memset(ram + 0x10000, 0xEE, 512);
    prd_table((uint32_t[]){ 0x10000 }, (uint32_t[]){ 512 }, 1, true);
    lba28(5, 1);
    outb(CMD + 7, 0xC8);
    bm_start(true);
    uint8_t bm = bm_finish();
    TAP_CHECK((inb(CMD + 7) & 0x01) && (bm & 0x02) && ram[0x10000] == 0xEE,
              "bus mastering disabled: error, memory untouched");

    /* unplug: the legacy ports are gone (a floating bus), then the rest */
    ide_stop(ide);
    uint8_t v;
    TAP_CHECK(!bus_dispatch(vm->bus, BUS_PIO, CMD + 7, &v, 1, false) &&
                  !bus_dispatch(vm->bus, BUS_PIO, 0x177, &v, 1, false) &&
                  !bus_dispatch(vm->bus, BUS_PIO, 0x3F6, &v, 1, false),
              "after the unplug no legacy port is claimed");
    ide_destroy(ide);
    hv_config_free(&cfg);
    loop_free(vm->loop);
    vm->loop = NULL;
    vm_destroy(vm);
    close(disk_fd);
    close(iso_fd);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return tap_done();
}
