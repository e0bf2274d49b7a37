/* Per-vCPU CPUID from KVM_GET_SUPPORTED_CPUID (x86-boot.md §4 step 8). */
#pragma once
#include <linux/kvm.h>
#include <stdbool.h>

/* Patch a copy of the supported CPUID for vCPU `apic_id` of `ncpus`: APIC
 * ids in leaves 1/0xB/0x1F, one socket of ncpus single-thread cores in the
 * topology leaves (4 on Intel, 0x80000008 on AMD), hypervisor bit set, the
 * TSC-deadline timer bit when KVM has KVM_CAP_TSC_DEADLINE_TIMER; KVM's own
 * leaves 0x40000000+ are kept as reported. */
void cpuid_patch(struct kvm_cpuid_entry2 *entries, unsigned nent, unsigned apic_id, unsigned ncpus,
                 bool tsc_deadline);

/* KVM_GET_SUPPORTED_CPUID, growing the buffer on E2BIG. NULL on failure. */
struct kvm_cpuid2 *cpuid_get_supported(int kvm_fd);
