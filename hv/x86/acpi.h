/* ACPI tables: RSDP, XSDT, RSDT, FADT, FACS, MADT and a small
 * hand-assembled DSDT (x86-boot.md §5.2, ACPI 6.4 §5.2), at fixed
 * addresses for direct Linux boot or relocatable for a firmware's table
 * loader (docs/firmware.md). */
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

/* A field holding a table's guest address: `size` bytes at `offset` in
 * the buffer (what a loader relocates). */
struct acpi_pointer {
    uint32_t offset;
    uint8_t size;
};

/* A table with a header checksum (byte 9): `length` bytes at `offset`. */
struct acpi_span {
    uint32_t offset, length;
};

#define ACPI_MAX_POINTERS 12
#define ACPI_MAX_SPANS 8
#define ACPI_RSDP_LEN 36

struct acpi_layout {
    uint64_t rsdp, xsdt, rsdt, fadt, facs, madt, dsdt;  /* guest addresses */
    size_t size;                                         /* bytes used from base */
    unsigned madt_entries;
    uint64_t mptable;          /* MP floating pointer (hv/x86/mptable.h); 0: none */
    struct acpi_pointer pointers[ACPI_MAX_POINTERS];     /* relative to buf */
    unsigned npointers;
    struct acpi_span checksummed[ACPI_MAX_SPANS];        /* relative to buf; RSDP apart */
    unsigned nchecksummed;
};

/* Build all tables into buf (cap bytes), which the guest sees at base_gpa
 * (16-byte aligned). When buf reaches into 0xF0000-0xFFFFF an MP table
 * goes there too (for acpi=off guests). Returns false when cap is too
 * small. */
bool acpi_build(uint8_t *buf, size_t cap, uint64_t base_gpa, const struct acpi_config *cfg,
                struct acpi_layout *out);

/* The tables as QEMU's BIOS linker/loader hands them to SeaBIOS (its
 * src/fw/romfile_loader.h): "etc/acpi/tables" (every table but the RSDP,
 * pointer fields holding offsets into that file, checksums zero),
 * "etc/acpi/rsdp" and "etc/table-loader", whose commands allocate the RSDP
 * in the F segment and the tables in high memory, add the tables'
 * address to every pointer field and fill in every checksum. */
#define ACPI_LOADER_FILESZ 56
#define ACPI_LOADER_ENTRY_LEN 128
#define ACPI_LOADER_ALLOCATE 1
#define ACPI_LOADER_ADD_POINTER 2
#define ACPI_LOADER_ADD_CHECKSUM 3
#define ACPI_LOADER_ZONE_HIGH 1
#define ACPI_LOADER_ZONE_FSEG 2
#define ACPI_LOADER_TABLES "etc/acpi/tables"
#define ACPI_LOADER_RSDP "etc/acpi/rsdp"

struct acpi_loader_files {
    uint8_t *tables;
    size_t tables_len;
    uint8_t rsdp[ACPI_RSDP_LEN];
    uint8_t *loader;
    size_t loader_len;
};

bool acpi_build_for_loader(const struct acpi_config *cfg, struct acpi_loader_files *out);
void acpi_loader_files_free(struct acpi_loader_files *files);

/* Sum of bytes mod 256 (0 for a valid table). */
uint8_t acpi_checksum(const uint8_t *p, size_t len);
