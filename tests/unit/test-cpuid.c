/* hv/x86/cpuid.c: what cpuid_patch changes in KVM's supported CPUID. */
#include <string.h>

#include "hv/x86/cpuid.h"
#include "tests/tap.h"

enum { L1, L4_CACHE, LB_SMT, LB_CORE, L80000008, LKVM, NLEAVES };

static void supported(struct kvm_cpuid_entry2 *e)
{
    memset(e, 0, NLEAVES * sizeof(*e));
    e[L1] = (struct kvm_cpuid_entry2){ .function = 1, .eax = 0x00060fb1, .ebx = 0x0b010800,
                                       .ecx = 0x00002001, .edx = 0x078bfbfd };
    e[L4_CACHE] = (struct kvm_cpuid_entry2){ .function = 4, .index = 0, .eax = 0xfc004121 };
    e[LB_SMT] = (struct kvm_cpuid_entry2){ .function = 0xB, .index = 0 };
    e[LB_CORE] = (struct kvm_cpuid_entry2){ .function = 0xB, .index = 1 };
    e[L80000008] = (struct kvm_cpuid_entry2){ .function = 0x80000008, .ecx = 0x0000f00f };
    e[LKVM] = (struct kvm_cpuid_entry2){ .function = 0x40000001, .eax = 0x01007afb };
}

int main(void)
{
    struct kvm_cpuid_entry2 e[NLEAVES];

    supported(e);
    cpuid_patch(e, NLEAVES, 0, 1, false);
    TAP_EQ_U64(e[L1].ebx >> 24, 0, "vCPU 0: initial APIC id 0");
    TAP_CHECK(e[L1].ecx & (1u << 31), "hypervisor bit set");
    TAP_CHECK(!(e[L1].ecx & (1u << 24)), "no TSC-deadline bit without KVM_CAP_TSC_DEADLINE_TIMER");
    TAP_CHECK(!(e[L1].edx & (1u << 28)), "one vCPU: HTT left as KVM reports it (clear)");
    TAP_EQ_U64(e[L1].eax, 0x00060fb1, "family/model/stepping kept");
    TAP_EQ_U64(e[LKVM].eax, 0x01007afb, "KVM's own leaf kept");

    supported(e);
    cpuid_patch(e, NLEAVES, 3, 4, true);
    TAP_EQ_U64(e[L1].ebx >> 24, 3, "vCPU 3: initial APIC id 3");
    TAP_EQ_U64((e[L1].ebx >> 16) & 0xFF, 4, "4 addressable logical ids");
    TAP_CHECK(e[L1].edx & (1u << 28), "HTT set with 4 vCPUs");
    TAP_CHECK(e[L1].ecx & (1u << 24), "TSC-deadline bit with KVM_CAP_TSC_DEADLINE_TIMER");
    TAP_CHECK((e[L1].ecx & 0x2001) == 0x2001, "other leaf-1 ECX bits kept");
    TAP_EQ_U64(e[L4_CACHE].eax >> 26, 3, "leaf 4: 4 cores per package");
    TAP_EQ_U64(e[LB_SMT].ebx, 1, "leaf 0xB level 0: one thread per core");
    TAP_EQ_U64(e[LB_CORE].ebx, 4, "leaf 0xB level 1: 4 logical processors");
    TAP_EQ_U64(e[LB_CORE].edx, 3, "leaf 0xB: x2APIC id 3");
    TAP_EQ_U64(e[L80000008].ecx & 0xFF, 3, "leaf 0x80000008: 4 cores");
    TAP_EQ_U64((e[L80000008].ecx >> 12) & 0xF, 2, "leaf 0x80000008: 2 APIC id bits");
    return tap_done();
}
