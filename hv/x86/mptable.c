/* MP tables (Intel MP spec 1.4 chapter 4; x86-boot.md §5.1). */
#include "hv/x86/mptable.h"

#include <string.h>

#include "hv/x86/acpi.h"

#define FLOAT_LEN     16
#define HEADER_LEN    44
#define PROC_LEN      20
#define SHORT_LEN     8       /* bus, I/O APIC, I/O and local interrupt entries */

enum { ENTRY_PROCESSOR, ENTRY_BUS, ENTRY_IOAPIC, ENTRY_IO_INTR, ENTRY_LOCAL_INTR };
enum { INT_VECTORED = 0, INT_NMI = 1, INT_EXTINT = 3 };

#define BUS_PCI       0
#define BUS_ISA       1
#define IOAPIC_ID     0       /* as in the MADT and KVM's I/O APIC ID register */
#define PCI_SLOTS     32
/* I/O interrupt flags (spec table 4-10): bits 1:0 polarity, 3:2 trigger. */
#define FLAGS_CONFORM 0x0
#define FLAGS_PCI     0xF     /* active low, level: what PCI INTx lines are */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }

static uint8_t checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + p[i]);
    return (uint8_t)(0x100 - sum);
}

static void interrupt(uint8_t *e, uint8_t entry_type, uint8_t int_type, uint16_t flags, uint8_t bus,
                      uint8_t bus_irq, uint8_t dst_apic, uint8_t dst_pin)
{
    e[0] = entry_type;
    e[1] = int_type;
    put16(e + 2, flags);
    e[4] = bus;
    e[5] = bus_irq;
    e[6] = dst_apic;
    e[7] = dst_pin;
}

size_t mptable_build(uint8_t *buf, size_t cap, uint64_t base_gpa, unsigned ncpus,
                     uint32_t (*intx_gsi)(uint8_t slot, uint8_t pin))
{
    if (ncpus == 0 || ncpus > MPTABLE_MAX_CPUS || (base_gpa & 15))
        return 0;
    unsigned isa_irqs = 15;                 /* 0-15 without the cascade, IRQ 2 */
    unsigned pci_intx = intx_gsi ? PCI_SLOTS * 4 : 0;
    unsigned entries = ncpus + 2 + 1 + isa_irqs + pci_intx + 2;
    size_t table_len = HEADER_LEN + PROC_LEN * ncpus + SHORT_LEN * (entries - ncpus);
    size_t total = FLOAT_LEN + table_len;
    if (total > cap || table_len > 0xFFFF)
        return 0;
    memset(buf, 0, total);

    uint8_t *t = buf + FLOAT_LEN;
    memcpy(t, "PCMP", 4);
    put16(t + 4, (uint16_t)table_len);
    t[6] = 4;                               /* spec revision 1.4 */
    memcpy(t + 8, "HVD     ", 8);
    memcpy(t + 16, "HVDMACH     ", 12);
    put16(t + 34, (uint16_t)entries);
    put32(t + 36, ACPI_LAPIC_ADDR);

    uint8_t *e = t + HEADER_LEN;
    for (unsigned i = 0; i < ncpus; i++, e += PROC_LEN) {
        e[0] = ENTRY_PROCESSOR;
        e[1] = (uint8_t)i;                  /* local APIC id = vCPU index (cpuid.c) */
        e[2] = 0x14;                        /* integrated APIC version */
        e[3] = 0x01 | (i == 0 ? 0x02 : 0);  /* enabled, bootstrap processor */
        put32(e + 4, 0x600);                /* signature: family 6 (informational) */
        put32(e + 8, (1u << 0) | (1u << 9));  /* features: FPU, APIC */
    }
    e[0] = ENTRY_BUS;
    e[1] = BUS_PCI;
    memcpy(e + 2, "PCI   ", 6);
    e += SHORT_LEN;
    e[0] = ENTRY_BUS;
    e[1] = BUS_ISA;
    memcpy(e + 2, "ISA   ", 6);
    e += SHORT_LEN;
    e[0] = ENTRY_IOAPIC;
    e[1] = IOAPIC_ID;
    e[2] = 0x11;                            /* KVM's I/O APIC version */
    e[3] = 0x01;                            /* usable */
    put32(e + 4, ACPI_IOAPIC_ADDR);
    e += SHORT_LEN;
    /* ISA IRQs go to the pin of the same number, except the PIT's IRQ 0,
     * which arrives on pin 2 (vm.c's routing; the MADT says the same). */
    for (unsigned irq = 0; irq < 16; irq++) {
        if (irq == 2)
            continue;
        interrupt(e, ENTRY_IO_INTR, INT_VECTORED, FLAGS_CONFORM, BUS_ISA, (uint8_t)irq, IOAPIC_ID,
                  (uint8_t)(irq == 0 ? 2 : irq));
        e += SHORT_LEN;
    }
    /* PCI INTx: source irq = device << 2 | pin (spec §4.3.4, PCI bus). */
    for (unsigned slot = 0; slot < PCI_SLOTS && pci_intx; slot++) {
        for (unsigned pin = 0; pin < 4; pin++) {
            interrupt(e, ENTRY_IO_INTR, INT_VECTORED, FLAGS_PCI, BUS_PCI, (uint8_t)(slot << 2 | pin), IOAPIC_ID,
                      (uint8_t)intx_gsi((uint8_t)slot, (uint8_t)pin));
            e += SHORT_LEN;
        }
    }
    /* Virtual wire: the 8259 on LINT0, NMI on LINT1, on every CPU. */
    interrupt(e, ENTRY_LOCAL_INTR, INT_EXTINT, FLAGS_CONFORM, BUS_ISA, 0, 0xFF, 0);
    e += SHORT_LEN;
    interrupt(e, ENTRY_LOCAL_INTR, INT_NMI, FLAGS_CONFORM, BUS_ISA, 0, 0xFF, 1);
    t[7] = checksum(t, table_len);

    uint8_t *f = buf;
    memcpy(f, "_MP_", 4);
    put32(f + 4, (uint32_t)(base_gpa + FLOAT_LEN));
    f[8] = 1;                               /* length in 16-byte units */
    f[9] = 4;
    f[11] = 0;                              /* feature 1: a table is present */
    f[12] = 0;                              /* feature 2: no IMCR */
    f[10] = checksum(f, FLOAT_LEN);
    return total;
}
