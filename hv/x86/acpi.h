/* ACPI tables for direct Linux boot: RSDP, XSDT, RSDT, FADT, FACS, MADT
 * and a small hand-assembled DSDT (x86-boot.md §5.2, ACPI 6.4 §5.2). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fixed hardware the tables describe (implemented by hv/devices/pm.c). */
#define ACPI_PM_BASE      0x600
#define ACPI_PM1_EVT_BLK  (ACPI_PM_BASE + 0)  /* PM1a status (2) + enable (2) */
#define ACPI_PM1_CNT_BLK  (ACPI_PM_BASE + 4)  /* PM1a control (2) */
#define ACPI_PM_TMR_BLK   (ACPI_PM_BASE + 8)  /* 32-bit PM timer (4) */
#define ACPI_PM_LEN       12
#define ACPI_SCI_GSI      9                  /* ISA IRQ 9, level, active high (ISO) */
#define ACPI_S5_SLP_TYP   0                  /* \_S5_ package value, as QEMU's PIIX */
#define ACPI_RESET_PORT   0xCF9
#define ACPI_RESET_VALUE  0x06
#define ACPI_IOAPIC_ADDR  0xFEC00000u
#define ACPI_LAPIC_ADDR   0xFEE00000u

struct acpi_config {
    unsigned ncpus;                              /* APIC ids 0..ncpus-1 */
    uint32_t (*intx_gsi)(uint8_t slot, uint8_t pin);  /* _PRT routing */
};

struct acpi_layout {
    uint64_t rsdp, xsdt, rsdt, fadt, facs, madt, dsdt;  /* guest addresses */
    size_t size;                                         /* bytes used from base */
    unsigned madt_entries;
    uint64_t mptable;          /* MP floating pointer (hv/x86/mptable.h); 0: none */
};

/* Build all tables into buf (cap bytes), which the guest sees at base_gpa
 * (16-byte aligned). When buf reaches into 0xF0000-0xFFFFF an MP table
 * goes there too (for acpi=off guests). Returns false when cap is too
 * small. */
bool acpi_build(uint8_t *buf, size_t cap, uint64_t base_gpa, const struct acpi_config *cfg,
                struct acpi_layout *out);

/* Sum of bytes mod 256 (0 for a valid table). */
uint8_t acpi_checksum(const uint8_t *p, size_t len);
