/* MP tables (hv/x86/mptable.h) read back the way Linux's mpparse does:
 * floating pointer found by scanning 0xF0000-0xFFFFF, checksums, one
 * processor entry per vCPU with the BSP flagged, the I/O APIC, ISA and PCI
 * interrupt routing; and refusals for sizes it cannot describe. */
#include <stdlib.h>
#include <string.h>

#include "hv/pci/pci.h"
#include "hv/x86/acpi.h"
#include "hv/x86/mptable.h"
#include "tests/tap.h"

#define BASE 0xE0000ULL
#define CAP  0x20000ULL

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint8_t sum(const uint8_t *p, size_t n) { uint8_t s = 0; while (n--) s = (uint8_t)(s + *p++); return s; }

static void check(unsigned ncpus)
{
    uint8_t *buf = calloc(1, CAP);
    struct acpi_config cfg = { .ncpus = ncpus, .intx_gsi = pci_intx_gsi };
    struct acpi_layout l;
    TAP_CHECK(acpi_build(buf, CAP, BASE, &cfg, &l), "[%u cpus] tables built", ncpus);
    /* Scan like smp_scan_config(0xF0000, 0x10000): 16-byte steps. */
    uint64_t found = 0;
    for (uint64_t a = 0xF0000; a < 0x100000; a += 16)
        if (memcmp(buf + (a - BASE), "_MP_", 4) == 0 && buf[a - BASE + 8] == 1 && sum(buf + (a - BASE), 16) == 0) {
            found = a;
            break;
        }
    TAP_CHECK(found != 0 && found == l.mptable, "[%u] floating pointer found by a scan at 0x%llx", ncpus,
              (unsigned long long)found);
    if (!found) {
        free(buf);
        return;
    }
    const uint8_t *f = buf + (found - BASE);
    TAP_EQ_U64(f[9], 4, "spec revision 1.4");
    TAP_EQ_U64(f[11], 0, "feature byte 1: configuration table present");
    uint32_t tp = rd32(f + 4);
    TAP_CHECK(tp >= 0xF0000 && tp < 0x100000, "configuration table in the scanned area");
    const uint8_t *t = buf + (tp - BASE);
    uint16_t len = rd16(t + 4);
    TAP_CHECK(memcmp(t, "PCMP", 4) == 0, "PCMP signature");
    TAP_CHECK(tp + len <= BASE + l.size && tp + len <= 0x100000, "table inside the area and below 1 MiB");
    TAP_EQ_U64(sum(t, len), 0, "configuration table checksum");
    TAP_EQ_U64(rd32(t + 36), 0xFEE00000, "local APIC address");

    unsigned procs = 0, bsp = 0, ioapics = 0, isa = 0, pci = 0, lint = 0, count = 0;
    int isa_bus = -1, pci_bus = -1;
    bool ids_ok = true, irq0_on_pin2 = false, pci_ok = true, sizes_ok = true;
    size_t o = 44;
    while (o < len) {
        const uint8_t *e = t + o;
        count++;
        if (e[0] == 0) {
            ids_ok = ids_ok && e[1] == procs && (e[3] & 1);
            if (e[3] & 2)
                bsp++;
            procs++;
            o += 20;
            continue;
        }
        if (e[0] == 1) {
            if (memcmp(e + 2, "ISA   ", 6) == 0)
                isa_bus = e[1];
            if (memcmp(e + 2, "PCI   ", 6) == 0)
                pci_bus = e[1];
        } else if (e[0] == 2) {
            ioapics++;
            TAP_EQ_U64(rd32(e + 4), 0xFEC00000, "I/O APIC address");
        } else if (e[0] == 3 && e[4] == isa_bus) {
            isa++;
            if (e[5] == 0 && e[7] == 2)
                irq0_on_pin2 = true;
        } else if (e[0] == 3 && e[4] == pci_bus) {
            pci++;
            uint8_t slot = e[5] >> 2, pin = e[5] & 3;
            pci_ok = pci_ok && e[7] == pci_intx_gsi(slot, pin) && (rd16(e + 2) & 0xF) == 0xF;
        } else if (e[0] == 4) {
            lint++;
        } else {
            sizes_ok = false;
            break;
        }
        o += 8;
    }
    TAP_CHECK(sizes_ok && o == len, "[%u] entries fill the table exactly", ncpus);
    TAP_EQ_U64(count, rd16(t + 34), "entry count in the header");
    TAP_EQ_U64(procs, ncpus, "one processor entry per vCPU");
    TAP_CHECK(ids_ok, "APIC ids 0..n-1, all enabled");
    TAP_EQ_U64(bsp, 1, "exactly one bootstrap processor");
    TAP_EQ_U64(ioapics, 1, "one I/O APIC");
    TAP_EQ_U64(isa, 15, "ISA IRQs 0-15 without the cascade");
    TAP_CHECK(irq0_on_pin2, "ISA IRQ 0 (PIT) on I/O APIC pin 2");
    TAP_EQ_U64(pci, 128, "PCI INTA-D for 32 slots");
    TAP_CHECK(pci_ok, "PCI INTx pins match pci_intx_gsi, level/active low");
    TAP_EQ_U64(lint, 2, "ExtINT and NMI local interrupts");
    free(buf);
}

int main(void)
{
    check(1);
    check(2);
    check(4);
    check(64);

    uint8_t small[64];
    TAP_EQ_U64(mptable_build(small, sizeof(small), 0xF0000, 2, pci_intx_gsi), 0, "too small a buffer refused");
    uint8_t *big = calloc(1, 0x10000);
    TAP_EQ_U64(mptable_build(big, 0x10000, 0xF0000, 0, pci_intx_gsi), 0, "0 CPUs refused");
    TAP_EQ_U64(mptable_build(big, 0x10000, 0xF0000, 255, pci_intx_gsi), 0, "255 CPUs refused (0xFF is broadcast)");
    TAP_EQ_U64(mptable_build(big, 0x10000, 0xF0008, 2, pci_intx_gsi), 0, "unaligned address refused");
    TAP_CHECK(mptable_build(big, 0x10000, 0xF0000, 254, pci_intx_gsi) > 0, "254 CPUs fit");
    free(big);

    /* An ACPI area that stops below 0xF0000 gets no MP table. */
    uint8_t *low = calloc(1, 0x8000);
    struct acpi_config cfg = { .ncpus = 2, .intx_gsi = pci_intx_gsi };
    struct acpi_layout l;
    TAP_CHECK(acpi_build(low, 0x8000, 0xE0000, &cfg, &l) && l.mptable == 0, "no room in 0xF0000-0xFFFFF: no MP table");
    free(low);
    return tap_done();
}
