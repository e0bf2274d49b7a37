/* Intel MultiProcessor Specification 1.4 tables (x86-boot.md §5.1): the
 * CPUs, the I/O APIC and interrupt routing for guests booted with
 * acpi=off whose kernel parses MP tables (CONFIG_X86_MPPARSE). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MPTABLE_MAX_CPUS 254   /* u8 APIC ids; 0xFF means "all" */

/* Write the floating pointer structure followed by the configuration
 * table into buf, which the guest sees at base_gpa (16-byte aligned and
 * within 0xF0000-0xFFFFF, where Linux scans for "_MP_"). intx_gsi gives
 * the I/O APIC pin of PCI slot/pin (0 = INTA). Returns the bytes used, 0
 * when cap is too small or ncpus is out of range. */
size_t mptable_build(uint8_t *buf, size_t cap, uint64_t base_gpa, unsigned ncpus,
                     uint32_t (*intx_gsi)(uint8_t slot, uint8_t pin));
