/* ACPI tables: checksums, pointers, FADT fields, MADT entries, DSDT AML
 * structure (package lengths, _PRT routing, _S5). */
#include <stdlib.h>
#include <string.h>

#include "hv/pci/pci.h"
#include "hv/x86/acpi.h"
#include "tests/tap.h"

#define BASE 0xE0000ULL
#define CAP 0x20000

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* Decode an AML PkgLength at p; *n gets its size in bytes. */
static size_t pkglen(const uint8_t *p, size_t *n)
{
    unsigned extra = p[0] >> 6;
    *n = 1 + extra;
    if (!extra)
        return p[0] & 0x3F;
    size_t len = p[0] & 0x0F;
    for (unsigned i = 0; i < extra; i++)
        len |= (size_t)p[1 + i] << (4 + 8 * i);
    return len;
}

static const uint8_t *find(const uint8_t *hay, size_t len, const char *needle, size_t nlen)
{
    for (size_t i = 0; i + nlen <= len; i++)
        if (memcmp(hay + i, needle, nlen) == 0)
            return hay + i;
    return NULL;
}

static void check_tables(unsigned ncpus)
{
    uint8_t *buf = calloc(1, CAP);
    struct acpi_config cfg = { .ncpus = ncpus, .intx_gsi = pci_intx_gsi };
    struct acpi_layout l;
    TAP_CHECK(acpi_build(buf, CAP, BASE, &cfg, &l), "[%u cpus] tables built", ncpus);
#define AT(gpa) (buf + ((gpa) - BASE))
    const uint8_t *rsdp = AT(l.rsdp);
    TAP_CHECK(memcmp(rsdp, "RSD PTR ", 8) == 0 && l.rsdp % 16 == 0, "[%u] RSDP signature, 16-byte aligned", ncpus);
    TAP_EQ_U64(acpi_checksum(rsdp, 20), 0, "RSDP checksum (first 20 bytes)");
    TAP_EQ_U64(acpi_checksum(rsdp, 36), 0, "RSDP extended checksum");
    TAP_EQ_U64(rsdp[15], 2, "RSDP revision 2");
    TAP_EQ_U64(rd64(rsdp + 24), l.xsdt, "RSDP -> XSDT");
    TAP_EQ_U64(rd32(rsdp + 16), l.rsdt, "RSDP -> RSDT");

    const struct { uint64_t gpa; const char *sig; } tables[] = {
        { l.xsdt, "XSDT" }, { l.rsdt, "RSDT" }, { l.fadt, "FACP" }, { l.madt, "APIC" }, { l.dsdt, "DSDT" },
    };
    for (size_t i = 0; i < 5; i++) {
        const uint8_t *t = AT(tables[i].gpa);
        TAP_CHECK(memcmp(t, tables[i].sig, 4) == 0, "[%u] %s signature", ncpus, tables[i].sig);
        TAP_EQ_U64(acpi_checksum(t, rd32(t + 4)), 0, tables[i].sig);
        TAP_CHECK(tables[i].gpa + rd32(t + 4) <= BASE + l.size, "[%u] %s inside the area", ncpus, tables[i].sig);
    }
    const uint8_t *xsdt = AT(l.xsdt);
    TAP_EQ_U64(rd32(xsdt + 4), 36 + 16, "XSDT has two entries");
    TAP_CHECK(rd64(xsdt + 36) == l.fadt && rd64(xsdt + 44) == l.madt, "XSDT lists FADT and MADT");
    const uint8_t *facs = AT(l.facs);
    TAP_CHECK(memcmp(facs, "FACS", 4) == 0 && rd32(facs + 4) == 64 && l.facs % 64 == 0, "FACS 64 bytes, aligned");

    const uint8_t *f = AT(l.fadt);
    TAP_EQ_U64(rd32(f + 4), 276, "FADT is the 6.0 length");
    TAP_EQ_U64(rd32(f + 36), l.facs, "FADT FIRMWARE_CTRL");
    TAP_EQ_U64(rd32(f + 40), l.dsdt, "FADT DSDT");
    TAP_EQ_U64(rd64(f + 140), l.dsdt, "FADT X_DSDT matches DSDT");
    TAP_EQ_U64(rd16(f + 46), 9, "SCI_INT 9");
    TAP_EQ_U64(rd32(f + 56), ACPI_PM1_EVT_BLK, "PM1a_EVT_BLK");
    TAP_EQ_U64(rd32(f + 64), ACPI_PM1_CNT_BLK, "PM1a_CNT_BLK");
    TAP_CHECK(f[88] == 4 && f[89] == 2 && f[91] == 4, "PM1 event/control/timer lengths");
    TAP_CHECK(rd32(f + 112) & (1u << 10), "RESET_REG_SUP");
    TAP_CHECK(!(rd32(f + 112) & (1u << 4)), "fixed power button present");
    TAP_CHECK(f[116] == 1 && f[117] == 8 && rd64(f + 120) == 0xCF9 && f[128] == 6, "reset register: I/O 0xCF9 value 6");

    const uint8_t *m = AT(l.madt);
    TAP_EQ_U64(rd32(m + 36), 0xFEE00000u, "MADT local APIC address");
    TAP_EQ_U64(rd32(m + 40) & 1, 1, "PCAT_COMPAT");
    unsigned lapics = 0, ioapics = 0, isos = 0, nmis = 0, total = 0;
    bool ids_ok = true, iso_timer = false, iso_sci = false;
    size_t len = rd32(m + 4);
    for (size_t o = 44; o + 2 <= len && m[o + 1] >= 2; o += m[o + 1]) {
        total++;
        switch (m[o]) {
        case 0: ids_ok = ids_ok && m[o + 3] == lapics && m[o + 2] == lapics && (rd32(m + o + 4) & 1); lapics++; break;
        case 1: ioapics += rd32(m + o + 4) == 0xFEC00000u && rd32(m + o + 8) == 0; break;
        case 2:
            isos++;
            iso_timer |= m[o + 3] == 0 && rd32(m + o + 4) == 2;
            iso_sci |= m[o + 3] == 9 && rd32(m + o + 4) == 9 && rd16(m + o + 8) == 0x000D;
            break;
        case 4: nmis += m[o + 2] == 0xFF && m[o + 5] == 1; break;
        }
    }
    TAP_EQ_U64(lapics, ncpus, "one enabled local APIC per vCPU");
    TAP_CHECK(ids_ok, "[%u] APIC ids and UIDs are 0..n-1", ncpus);
    TAP_EQ_U64(ioapics, 1, "one IOAPIC at 0xFEC00000, GSI base 0");
    TAP_CHECK(iso_timer && iso_sci && isos == 2, "ISOs: IRQ0 -> GSI2, SCI level");
    TAP_EQ_U64(nmis, 1, "LAPIC NMI on LINT1 for all CPUs");
    TAP_EQ_U64(total, l.madt_entries, "entry count matches the layout");
    TAP_EQ_U64(total, ncpus + 4, "MADT entries = vCPUs + IOAPIC + 2 ISOs + NMI");

    /* DSDT AML. */
    const uint8_t *d = AT(l.dsdt);
    size_t dlen = rd32(d + 4);
    TAP_EQ_U64(d[36], 0x10, "DSDT starts with a Scope");
    size_t n;
    size_t scope_len = pkglen(d + 37, &n);
    TAP_CHECK(memcmp(d + 37 + n, "\\_SB_", 5) == 0, "Scope(\\_SB)");
    const uint8_t *s5 = find(d, dlen, "\x08_S5_", 5);
    TAP_CHECK(s5 && (size_t)(s5 - d) == 37 + scope_len, "Scope's PkgLength ends right before _S5_");
    TAP_CHECK(s5 && s5[5] == 0x12 && s5[7] == 4 && (size_t)(s5 - d) + 5 + 1 + s5[6] == dlen,
              "_S5_ is a 4-element package ending the table");
    TAP_CHECK(find(d, dlen, "\x5B\x82", 2) && find(d, dlen, "PCI0", 4), "Device(PCI0)");
    TAP_CHECK(find(d, dlen, "_HID\x0C\x41\xD0\x0A\x03", 9), "_HID EisaId(PNP0A03)");
    const uint8_t *prt = find(d, dlen, "_PRT", 4);
    TAP_CHECK(prt && prt[4] == 0x12, "_PRT package");
    if (prt) {
        size_t plen = pkglen(prt + 5, &n);
        const uint8_t *p = prt + 5 + n;
        TAP_EQ_U64(p[0], 124, "_PRT has 31 slots x 4 pins");
        const uint8_t *end = prt + 5 + plen;
        p++;
        unsigned count = 0, good = 0;
        while (p < end && p[0] == 0x12) {
            size_t elen = pkglen(p + 1, &n);
            const uint8_t *e = p + 1 + n;
            unsigned slot = 1 + count / 4, pin = count % 4;
            uint32_t addr = rd32(e + 2);
            const uint8_t *q = e + 6;
            unsigned pin_val = q[0] == 0x0A ? q[1] : q[0];
            q += q[0] == 0x0A ? 2 : 1;
            bool src0 = q[0] == 0x00;
            unsigned gsi = q[1] == 0x0A ? q[2] : 0xFFFF;
            if (e[0] == 4 && e[1] == 0x0C && addr == ((slot << 16) | 0xFFFF) && pin_val == pin && src0 &&
                gsi == pci_intx_gsi((uint8_t)slot, (uint8_t)pin))
                good++;
            count++;
            p += 1 + elen;
        }
        TAP_EQ_U64(count, 124, "_PRT entries decoded");
        TAP_EQ_U64(good, 124, "every _PRT entry routes (slot, pin) to pci_intx_gsi");
        TAP_CHECK(p == end, "_PRT PkgLength covers exactly its entries");
    }
    free(buf);
}

int main(void)
{
    check_tables(1);
    check_tables(2);
    check_tables(254);
    uint8_t small[256];
    struct acpi_config cfg = { .ncpus = 2, .intx_gsi = pci_intx_gsi };
    struct acpi_layout l;
    TAP_CHECK(!acpi_build(small, sizeof(small), BASE, &cfg, &l), "too small a buffer is refused");
    return tap_done();
}
