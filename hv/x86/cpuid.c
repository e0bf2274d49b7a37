/* CPUID filtering (x86-boot.md §4 step 8; Intel SDM vol. 2A CPUID,
 * AMD APM vol. 3 appendix E). */
#include "hv/x86/cpuid.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>

static unsigned bits_for(unsigned n)
{
    unsigned b = 0;
    while ((1u << b) < n)
        b++;
    return b;
}

void cpuid_patch(struct kvm_cpuid_entry2 *entries, unsigned nent, unsigned apic_id, unsigned ncpus,
                 bool tsc_deadline)
{
    unsigned core_bits = bits_for(ncpus);
    for (unsigned i = 0; i < nent; i++) {
        struct kvm_cpuid_entry2 *e = &entries[i];
        switch (e->function) {
        case 1:
            /* EBX[31:24] initial APIC id, [23:16] addressable logical ids. */
            e->ebx = (e->ebx & 0x0000FFFFu) | (apic_id << 24) | ((1u << core_bits) << 16);
            if (ncpus > 1)
                e->edx |= 1u << 28;   /* HTT: the [23:16] field is valid */
            e->ecx |= 1u << 31;       /* running under a hypervisor */
            /* TSC-deadline mode of the in-kernel LAPIC timer: KVM emulates
             * it but leaves the bit out of the supported CPUID (KVM API,
             * KVM_CAP_TSC_DEADLINE_TIMER). Arming the timer is then a
             * WRMSR instead of a trapped LAPIC register write. */
            if (tsc_deadline)
                e->ecx |= 1u << 24;
            break;
        case 4:
            /* Deterministic cache parameters: EAX[31:26] cores per package - 1;
             * [25:14] logical processors sharing the cache - 1. */
            if ((e->eax & 0x1F) != 0) {
                unsigned level = (e->eax >> 5) & 7;
                unsigned sharing = level >= 3 ? (1u << core_bits) - 1 : 0;
                e->eax = (e->eax & 0x3FFFu) | (sharing << 14) | (((1u << core_bits) - 1) << 26);
            }
            break;
        case 0xB:
        case 0x1F:
            /* Extended topology: level 0 SMT (1 thread), level 1 core. */
            e->edx = apic_id;
            if (e->index == 0) {
                e->eax = 0;
                e->ebx = 1;
                e->ecx = (1u << 8) | 0;
            } else if (e->index == 1) {
                e->eax = core_bits;
                e->ebx = ncpus;
                e->ecx = (2u << 8) | 1;
            } else {
                e->eax = 0;
                e->ebx = 0;
                e->ecx = e->index;
            }
            break;
        case 0x80000008:
            /* ECX[15:12] APIC id bits for cores, [7:0] cores - 1. */
            e->ecx = (e->ecx & ~0xF0FFu) | (core_bits << 12) | ((ncpus - 1) & 0xFF);
            break;
        default:
            break;
        }
    }
}

struct kvm_cpuid2 *cpuid_get_supported(int kvm_fd)
{
    for (unsigned n = 64; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
        if (!c)
            return NULL;
        c->nent = n;
        if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
            return c;
        int e = errno;
        free(c);
        if (e != E2BIG)
            return NULL;
    }
    return NULL;
}
