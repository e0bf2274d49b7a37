/* ACPI table builder (ACPI 6.4 §5.2 layouts; x86-boot.md §5.2). */
#include "hv/x86/acpi.h"
#include "hv/x86/mptable.h"

#include <stdlib.h>
#include <string.h>

#define OEM_ID "HVD   "
#define OEM_TABLE_ID "HVDMACH "
#define CREATOR_ID "HVD "
#define MP_SCAN_BASE 0xF0000ULL   /* Linux looks for "_MP_" in 0xF0000-0xFFFFF */
#define MP_SCAN_END  0x100000ULL

uint8_t acpi_checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + p[i]);
    return sum;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

/* Standard 36-byte description header; checksum filled by finish_table. */
static void table_header(uint8_t *t, const char sig[4], uint32_t len, uint8_t rev)
{
    memcpy(t, sig, 4);
    put32(t + 4, len);
    t[8] = rev;
    t[9] = 0;
    memcpy(t + 10, OEM_ID, 6);
    memcpy(t + 16, OEM_TABLE_ID, 8);
    put32(t + 24, 1);
    memcpy(t + 28, CREATOR_ID, 4);
    put32(t + 32, 1);
}

static void finish_table(uint8_t *t, uint32_t len)
{
    put32(t + 4, len);
    t[9] = 0;
    t[9] = (uint8_t)(0x100 - acpi_checksum(t, len));
}

/* ---- Minimal AML emitter (ACPI 6.4 §20) ---- */

struct aml {
    uint8_t *buf;
    size_t len, cap;
    bool overflow;
};

static void aml_byte(struct aml *a, uint8_t b)
{
    if (a->len >= a->cap) {
        a->overflow = true;
        return;
    }
    a->buf[a->len++] = b;
}

static void aml_bytes(struct aml *a, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        aml_byte(a, ((const uint8_t *)p)[i]);
}

static void aml_nameseg(struct aml *a, const char name[4]) { aml_bytes(a, name, 4); }

/* An integer as the shortest constant: ZeroOp, OneOp, BytePrefix, ... */
static void aml_int(struct aml *a, uint64_t v)
{
    if (v == 0) {
        aml_byte(a, 0x00);
    } else if (v == 1) {
        aml_byte(a, 0x01);
    } else if (v <= 0xFF) {
        aml_byte(a, 0x0A);
        aml_byte(a, (uint8_t)v);
    } else if (v <= 0xFFFF) {
        aml_byte(a, 0x0B);
        aml_byte(a, (uint8_t)v);
        aml_byte(a, (uint8_t)(v >> 8));
    } else if (v <= 0xFFFFFFFFu) {
        aml_byte(a, 0x0C);
        for (int i = 0; i < 4; i++)
            aml_byte(a, (uint8_t)(v >> (8 * i)));
    } else {
        aml_byte(a, 0x0E);
        for (int i = 0; i < 8; i++)
            aml_byte(a, (uint8_t)(v >> (8 * i)));
    }
}

/* Open a PkgLength-prefixed body: reserve 4 bytes, fix up in aml_close. */
static size_t aml_open(struct aml *a)
{
    size_t start = a->len;
    for (int i = 0; i < 4; i++)
        aml_byte(a, 0);
    return start;
}

/* PkgLength (§20.2.4) counts itself plus the body; 1 byte holds up to 63,
 * otherwise the lead byte's bits 7:6 give the count of extra bytes and
 * its low nibble the low 4 bits of the length. */
static void aml_close(struct aml *a, size_t start)
{
    if (a->overflow)
        return;
    size_t body = a->len - (start + 4);
    size_t n = body + 1 < 64 ? 1 : body + 2 < (1u << 12) ? 2 : body + 3 < (1u << 20) ? 3 : 4;
    size_t total = body + n;
    memmove(a->buf + start + n, a->buf + start + 4, body);
    a->len = start + n + body;
    if (n == 1) {
        a->buf[start] = (uint8_t)total;
    } else {
        a->buf[start] = (uint8_t)(((n - 1) << 6) | (total & 0x0F));
        for (size_t i = 1; i < n; i++)
            a->buf[start + i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
    }
}

/* DSDT body:
 *   Scope (\_SB) {
 *     Device (PCI0) {
 *       Name (_HID, EisaId ("PNP0A03"))   // PCI host bridge
 *       Name (_UID, 0)
 *       Name (_BBN, 0)
 *       Name (_CRS, ResourceTemplate () { bus 0-255, I/O 0xCF8/8,
 *             I/O 0-0xCF7, I/O 0xD00-0xFFFF, memory 0xC0000000-0xFEBFFFFF })
 *       Name (_PRT, Package () { Package () { 0xSSSSFFFF, pin, 0, GSI }, ... })
 *     }
 *   }
 *   Name (_S5, Package () { SLP_TYP, SLP_TYP, 0, 0 })
 */
static void dsdt_body(struct aml *a, const struct acpi_config *cfg)
{
    aml_byte(a, 0x10);  /* ScopeOp */
    size_t scope = aml_open(a);
    aml_byte(a, '\\');
    aml_nameseg(a, "_SB_");

    aml_byte(a, 0x5B);  /* ExtOpPrefix */
    aml_byte(a, 0x82);  /* DeviceOp */
    size_t dev = aml_open(a);
    aml_nameseg(a, "PCI0");

    aml_byte(a, 0x08);  /* NameOp */
    aml_nameseg(a, "_HID");
    aml_int(a, 0x030AD041);  /* EisaId("PNP0A03"): compressed "PNP" 0x41D0, product 0x0A03 */
    aml_byte(a, 0x08);
    aml_nameseg(a, "_UID");
    aml_int(a, 0);
    aml_byte(a, 0x08);
    aml_nameseg(a, "_BBN");
    aml_int(a, 0);

    /* Resource descriptors (ACPI 6.4 §6.4). */
    static const uint8_t crs[] = {
        /* Word Address Space, bus numbers 0-0xFF (0x88, len 13, type 2,
         * flags MinFixed|MaxFixed, granularity, min, max, translation, length) */
        0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x01,
        /* I/O port 0xCF8, 8 ports, 16-bit decode (0x47) */
        0x47, 0x01, 0xF8, 0x0C, 0xF8, 0x0C, 0x01, 0x08,
        /* Word I/O 0x0000-0x0CF7 (type 1, ranges: entire) */
        0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0x00, 0x00, 0x00, 0x00, 0xF7, 0x0C, 0x00, 0x00, 0xF8, 0x0C,
        /* Word I/O 0x0D00-0xFFFF */
        0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0x00, 0x00, 0x00, 0x0D, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0xF3,
        /* DWord memory 0xC0000000-0xFEBFFFFF, read-write, non-cacheable (0x87, len 23) */
        0x87, 0x17, 0x00, 0x00, 0x0C, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0,
        0xFF, 0xFF, 0xBF, 0xFE, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x3E,
        /* End tag, checksum 0 */
        0x79, 0x00,
    };
    aml_byte(a, 0x08);
    aml_nameseg(a, "_CRS");
    aml_byte(a, 0x11);  /* BufferOp */
    size_t buf = aml_open(a);
    aml_int(a, sizeof(crs));
    aml_bytes(a, crs, sizeof(crs));
    aml_close(a, buf);

    aml_byte(a, 0x08);
    aml_nameseg(a, "_PRT");
    aml_byte(a, 0x12);  /* PackageOp */
    size_t prt = aml_open(a);
    aml_byte(a, 31 * 4);  /* NumElements: slots 1..31, pins A..D */
    for (unsigned slot = 1; slot < 32; slot++) {
        for (unsigned pin = 0; pin < 4; pin++) {
            aml_byte(a, 0x12);
            size_t e = aml_open(a);
            aml_byte(a, 4);
            aml_int(a, ((uint64_t)slot << 16) | 0xFFFF);  /* _ADR: any function */
            aml_int(a, pin);
            aml_int(a, 0);                                /* Source: GSI form */
            aml_int(a, cfg->intx_gsi((uint8_t)slot, (uint8_t)pin));
            aml_close(a, e);
        }
    }
    aml_close(a, prt);

    aml_close(a, dev);
    aml_close(a, scope);

    aml_byte(a, 0x08);
    aml_nameseg(a, "_S5_");
    aml_byte(a, 0x12);
    size_t s5 = aml_open(a);
    aml_byte(a, 4);
    aml_int(a, ACPI_S5_SLP_TYP);
    aml_int(a, ACPI_S5_SLP_TYP);
    aml_int(a, 0);
    aml_int(a, 0);
    aml_close(a, s5);
}

struct builder {
    uint8_t *buf;
    size_t cap, len;
    uint64_t base;
    bool overflow;
};

/* Reserve `len` zeroed bytes aligned to `align`; returns the offset. */
static size_t reserve(struct builder *b, size_t len, size_t align)
{
    size_t off = (b->len + align - 1) & ~(align - 1);
    if (off + len > b->cap) {
        b->overflow = true;
        return 0;
    }
    memset(b->buf + off, 0, len);
    b->len = off + len;
    return off;
}

static void gas_io(uint8_t *g, uint8_t bit_width, uint8_t access, uint64_t port)
{
    g[0] = 1;  /* System I/O */
    g[1] = bit_width;
    g[2] = 0;
    g[3] = access;  /* 1 byte, 2 word, 3 dword */
    put64(g + 4, port);
}

static void note_pointer(struct acpi_layout *out, size_t offset, uint8_t size)
{
    if (out->npointers < ACPI_MAX_POINTERS)
        out->pointers[out->npointers++] = (struct acpi_pointer){ (uint32_t)offset, size };
}

static void note_checksummed(struct acpi_layout *out, size_t offset, size_t length)
{
    if (out->nchecksummed < ACPI_MAX_SPANS)
        out->checksummed[out->nchecksummed++] = (struct acpi_span){ (uint32_t)offset, (uint32_t)length };
}

bool acpi_build(uint8_t *buf, size_t cap, uint64_t base_gpa, const struct acpi_config *cfg,
                struct acpi_layout *out)
{
    struct builder b = { .buf = buf, .cap = cap, .base = base_gpa };
    memset(out, 0, sizeof(*out));
    const unsigned ntables = 2;  /* FADT, MADT */

    size_t rsdp = reserve(&b, 36, 16);
    size_t xsdt = reserve(&b, 36 + 8 * ntables, 16);
    size_t rsdt = reserve(&b, 36 + 4 * ntables, 16);
    size_t fadt = reserve(&b, 276, 16);
    size_t facs = reserve(&b, 64, 64);  /* FACS must be 64-byte aligned */
    size_t madt_len = 44 + 8 * cfg->ncpus + 12 + 10 * 2 + 6;
    size_t madt = reserve(&b, madt_len, 16);
    size_t dsdt = reserve(&b, 36, 16);
    if (b.overflow)
        return false;

    /* DSDT: header + AML, built in place after its header. */
    struct aml a = { .buf = buf + dsdt + 36, .cap = cap - (dsdt + 36) };
    dsdt_body(&a, cfg);
    if (a.overflow)
        return false;
    size_t dsdt_len = 36 + a.len;
    b.len = dsdt + dsdt_len;
    table_header(buf + dsdt, "DSDT", (uint32_t)dsdt_len, 2);
    finish_table(buf + dsdt, (uint32_t)dsdt_len);
    note_checksummed(out, dsdt, dsdt_len);

    uint64_t g_fadt = base_gpa + fadt, g_madt = base_gpa + madt, g_dsdt = base_gpa + dsdt;
    uint64_t g_facs = base_gpa + facs, g_xsdt = base_gpa + xsdt, g_rsdt = base_gpa + rsdt;

    /* FACS (§5.2.10): no checksum. */
    memcpy(buf + facs, "FACS", 4);
    put32(buf + facs + 4, 64);
    buf[facs + 32] = 2;  /* version */

    /* FADT (§5.2.9), revision 6.0 layout. */
    uint8_t *f = buf + fadt;
    table_header(f, "FACP", 276, 6);
    put32(f + 36, (uint32_t)g_facs);          /* FIRMWARE_CTRL */
    put32(f + 40, (uint32_t)g_dsdt);          /* DSDT */
    put16(f + 46, ACPI_SCI_GSI);              /* SCI_INT */
    put32(f + 48, 0);                         /* SMI_CMD 0: always in ACPI mode */
    put32(f + 56, ACPI_PM1_EVT_BLK);
    put32(f + 64, ACPI_PM1_CNT_BLK);
    put32(f + 76, ACPI_PM_TMR_BLK);
    f[88] = 4;                                /* PM1_EVT_LEN */
    f[89] = 2;                                /* PM1_CNT_LEN */
    f[91] = 4;                                /* PM_TMR_LEN */
    put16(f + 96, 0x0FFF);                    /* P_LVL2_LAT > 100: no C2 */
    put16(f + 98, 0x0FFF);                    /* P_LVL3_LAT > 1000: no C3 */
    f[108] = 0x32;                            /* CENTURY: CMOS index */
    /* IAPC_BOOT_ARCH: no 8042 (the tiny i8042 only takes the reset
     * command; Linux then skips probing it), no VGA. */
    put16(f + 109, 0x0004);
    /* Flags: WBINVD | PROC_C1 | SLP_BUTTON (none) | TMR_VAL_EXT (32-bit
     * PM timer) | RESET_REG_SUP. PWR_BUTTON clear: fixed power button. */
    put32(f + 112, (1u << 0) | (1u << 2) | (1u << 5) | (1u << 8) | (1u << 10));
    gas_io(f + 116, 8, 1, ACPI_RESET_PORT);   /* RESET_REG */
    f[128] = ACPI_RESET_VALUE;
    f[131] = 0;                               /* minor version */
    put64(f + 140, g_dsdt);                   /* X_DSDT (same as DSDT) */
    finish_table(f, 276);
    note_pointer(out, fadt + 36, 4);
    note_pointer(out, fadt + 40, 4);
    note_pointer(out, fadt + 140, 8);
    note_checksummed(out, fadt, 276);

    /* MADT (§5.2.12). */
    uint8_t *m = buf + madt;
    table_header(m, "APIC", (uint32_t)madt_len, 3);
    put32(m + 36, ACPI_LAPIC_ADDR);
    put32(m + 40, 1);                         /* PCAT_COMPAT: 8259s present */
    size_t o = 44;
    unsigned entries = 0;
    for (unsigned i = 0; i < cfg->ncpus; i++, entries++) {
        m[o] = 0;                             /* Processor Local APIC */
        m[o + 1] = 8;
        m[o + 2] = (uint8_t)i;                /* ACPI processor UID */
        m[o + 3] = (uint8_t)i;                /* APIC ID */
        put32(m + o + 4, 1);                  /* enabled */
        o += 8;
    }
    m[o] = 1;                                 /* I/O APIC */
    m[o + 1] = 12;
    m[o + 2] = 0;                             /* id */
    put32(m + o + 4, ACPI_IOAPIC_ADDR);
    put32(m + o + 8, 0);                      /* GSI base */
    o += 12;
    entries++;
    /* ISA IRQ0 (PIT) arrives on GSI 2, as on PC hardware; vm.c routes it so. */
    m[o] = 2;
    m[o + 1] = 10;
    m[o + 2] = 0;
    m[o + 3] = 0;
    put32(m + o + 4, 2);
    put16(m + o + 8, 0);                      /* conforms to the bus */
    o += 10;
    entries++;
    /* SCI: ISA IRQ 9 as GSI 9, level triggered, active high. */
    m[o] = 2;
    m[o + 1] = 10;
    m[o + 2] = 0;
    m[o + 3] = ACPI_SCI_GSI;
    put32(m + o + 4, ACPI_SCI_GSI);
    put16(m + o + 8, 0x000D);
    o += 10;
    entries++;
    m[o] = 4;                                 /* Local APIC NMI */
    m[o + 1] = 6;
    m[o + 2] = 0xFF;                          /* all processors */
    put16(m + o + 3, 0);
    m[o + 5] = 1;                             /* LINT1 */
    o += 6;
    entries++;
    finish_table(m, (uint32_t)madt_len);
    note_checksummed(out, madt, madt_len);

    /* XSDT / RSDT. */
    uint8_t *x = buf + xsdt;
    table_header(x, "XSDT", 36 + 8 * ntables, 1);
    put64(x + 36, g_fadt);
    put64(x + 44, g_madt);
    finish_table(x, 36 + 8 * ntables);
    for (unsigned i = 0; i < ntables; i++)
        note_pointer(out, xsdt + 36 + 8 * i, 8);
    note_checksummed(out, xsdt, 36 + 8 * ntables);
    uint8_t *r = buf + rsdt;
    table_header(r, "RSDT", 36 + 4 * ntables, 1);
    put32(r + 36, (uint32_t)g_fadt);
    put32(r + 40, (uint32_t)g_madt);
    finish_table(r, 36 + 4 * ntables);
    for (unsigned i = 0; i < ntables; i++)
        note_pointer(out, rsdt + 36 + 4 * i, 4);
    note_checksummed(out, rsdt, 36 + 4 * ntables);

    /* RSDP (§5.2.5), revision 2. */
    uint8_t *p = buf + rsdp;
    memcpy(p, "RSD PTR ", 8);
    memcpy(p + 9, OEM_ID, 6);
    p[15] = 2;
    put32(p + 16, (uint32_t)g_rsdt);
    put32(p + 20, 36);
    put64(p + 24, g_xsdt);
    p[8] = (uint8_t)(0x100 - acpi_checksum(p, 20));
    p[32] = (uint8_t)(0x100 - acpi_checksum(p, 36));
    note_pointer(out, rsdp + 16, 4);
    note_pointer(out, rsdp + 24, 8);

    out->rsdp = base_gpa + rsdp;
    out->xsdt = g_xsdt;
    out->rsdt = g_rsdt;
    out->fadt = g_fadt;
    out->facs = g_facs;
    out->madt = g_madt;
    out->dsdt = g_dsdt;
    out->madt_entries = entries;

    /* MP table for acpi=off guests, where Linux scans for it: the BIOS
     * area 0xF0000-0xFFFFF (x86-boot.md §5.1). Skipped when the buffer
     * does not reach there. */
    uint64_t mp_gpa = base_gpa + ((b.len + 15) & ~(size_t)15);
    if (mp_gpa < MP_SCAN_BASE)
        mp_gpa = MP_SCAN_BASE;
    if (mp_gpa < base_gpa + cap && mp_gpa < MP_SCAN_END) {
        size_t room = (size_t)(base_gpa + cap - mp_gpa);
        if (room > MP_SCAN_END - mp_gpa)
            room = (size_t)(MP_SCAN_END - mp_gpa);
        size_t used = mptable_build(buf + (mp_gpa - base_gpa), room, mp_gpa, cfg->ncpus, cfg->intx_gsi);
        if (used) {
            out->mptable = mp_gpa;
            b.len = (size_t)(mp_gpa - base_gpa) + used;
        }
    }
    out->size = b.len;
    return true;
}

/* ---- relocatable tables for a firmware's table loader ---- */

#define LOADER_TABLES_CAP 0x10000
#define LOADER_MAX_COMMANDS (2 + ACPI_MAX_POINTERS + ACPI_MAX_SPANS + 2)

static uint8_t *loader_command(struct acpi_loader_files *f, uint32_t command)
{
    uint8_t *e = f->loader + f->loader_len;
    f->loader_len += ACPI_LOADER_ENTRY_LEN;
    put32(e, command);
    return e;
}

static void loader_name(uint8_t *field, const char *name) { memcpy(field, name, strlen(name)); }

static void loader_allocate(struct acpi_loader_files *f, const char *file, uint32_t align, uint8_t zone)
{
    uint8_t *e = loader_command(f, ACPI_LOADER_ALLOCATE);
    loader_name(e + 4, file);
    put32(e + 4 + ACPI_LOADER_FILESZ, align);
    e[8 + ACPI_LOADER_FILESZ] = zone;
}

static void loader_add_pointer(struct acpi_loader_files *f, const char *dest, const char *src,
                               uint32_t offset, uint8_t size)
{
    uint8_t *e = loader_command(f, ACPI_LOADER_ADD_POINTER);
    loader_name(e + 4, dest);
    loader_name(e + 4 + ACPI_LOADER_FILESZ, src);
    put32(e + 4 + 2 * ACPI_LOADER_FILESZ, offset);
    e[8 + 2 * ACPI_LOADER_FILESZ] = size;
}

static void loader_add_checksum(struct acpi_loader_files *f, const char *file, uint32_t offset,
                                uint32_t start, uint32_t length)
{
    uint8_t *e = loader_command(f, ACPI_LOADER_ADD_CHECKSUM);
    loader_name(e + 4, file);
    put32(e + 4 + ACPI_LOADER_FILESZ, offset);
    put32(e + 8 + ACPI_LOADER_FILESZ, start);
    put32(e + 12 + ACPI_LOADER_FILESZ, length);
}

bool acpi_build_for_loader(const struct acpi_config *cfg, struct acpi_loader_files *out)
{
    memset(out, 0, sizeof(*out));
    /* Built at guest address 0, so every pointer field holds an offset
     * into the buffer; the tables file is the whole buffer (its first
     * bytes, where the RSDP was built, are left zero). */
    struct acpi_layout layout;
    out->tables = calloc(1, LOADER_TABLES_CAP);
    out->loader = calloc(LOADER_MAX_COMMANDS, ACPI_LOADER_ENTRY_LEN);
    if (!out->tables || !out->loader || !acpi_build(out->tables, LOADER_TABLES_CAP, 0, cfg, &layout) ||
        layout.mptable) {
        acpi_loader_files_free(out);
        return false;
    }
    out->tables_len = layout.size;
    uint8_t *rsdp = out->tables + layout.rsdp;
    memcpy(out->rsdp, rsdp, ACPI_RSDP_LEN);
    memset(rsdp, 0, ACPI_RSDP_LEN);
    out->rsdp[8] = out->rsdp[32] = 0;

    loader_allocate(out, ACPI_LOADER_RSDP, 16, ACPI_LOADER_ZONE_FSEG);
    loader_allocate(out, ACPI_LOADER_TABLES, 64, ACPI_LOADER_ZONE_HIGH);  /* the FACS wants 64 */
    for (unsigned i = 0; i < layout.npointers; i++) {
        const struct acpi_pointer *p = &layout.pointers[i];
        if (p->offset >= layout.rsdp && p->offset < layout.rsdp + ACPI_RSDP_LEN)
            loader_add_pointer(out, ACPI_LOADER_RSDP, ACPI_LOADER_TABLES, p->offset - (uint32_t)layout.rsdp,
                               p->size);
        else
            loader_add_pointer(out, ACPI_LOADER_TABLES, ACPI_LOADER_TABLES, p->offset, p->size);
    }
    for (unsigned i = 0; i < layout.nchecksummed; i++) {
        const struct acpi_span *t = &layout.checksummed[i];
        out->tables[t->offset + 9] = 0;
        loader_add_checksum(out, ACPI_LOADER_TABLES, t->offset + 9, t->offset, t->length);
    }
    /* RSDP (§5.2.5.3): the ACPI 1.0 checksum over 20 bytes first, then the
     * extended one over all 36, which covers the first. */
    loader_add_checksum(out, ACPI_LOADER_RSDP, 8, 0, 20);
    loader_add_checksum(out, ACPI_LOADER_RSDP, 32, 0, ACPI_RSDP_LEN);
    return true;
}

void acpi_loader_files_free(struct acpi_loader_files *files)
{
    free(files->tables);
    free(files->loader);
    memset(files, 0, sizeof(*files));
}
