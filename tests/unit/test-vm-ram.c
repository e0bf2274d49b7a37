/* Guest RAM mapping (hv/vm.c) on a real /dev/kvm: 2 MiB-aligned anonymous
 * RAM with transparent huge pages allowed, an inaccessible guard page just
 * below it, and a clear error when --hugepages cannot be satisfied.
 * Skipped where /dev/kvm cannot be opened. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hv/vm.h"
#include "tests/tap.h"

#define RAM (64ULL << 20)

/* The permissions and VmFlags of the mapping that contains addr. */
static bool mapping_of(uintptr_t addr, char perms[5], bool *hugepage_flag)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return false;
    char line[512];
    bool inside = false, found = false;
    *hugepage_flag = false;
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;
        char p[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3) {
            if (found && inside)
                break;
            inside = addr >= lo && addr < hi;
            if (inside) {
                memcpy(perms, p, 5);
                found = true;
            }
        } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            *hugepage_flag = strstr(line, " hg") != NULL;
        }
    }
    fclose(f);
    return found;
}

int main(void)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        TAP_CHECK(true, "# SKIP no usable /dev/kvm here");
        return tap_done();
    }
    close(fd);

    char err[512] = "";
    struct vm_params p = { .ram_size = RAM, .ncpus = 1 };
    struct vm *vm = vm_create(&p, err, sizeof(err));
    if (!vm && (strncmp(err, "/dev/kvm", 8) == 0 || strncmp(err, "KVM_CREATE_VM", 13) == 0)) {
        TAP_CHECK(true, "# SKIP this /dev/kvm cannot create VMs (%s)", err);
        return tap_done();
    }
    TAP_CHECK(vm != NULL, "VM with %llu MiB created: %s", RAM >> 20, err);
    if (!vm)
        return tap_done();
    uint8_t *ram = gm_ptr(&vm->mem, 0, RAM);
    TAP_CHECK(ram != NULL, "guest RAM [0, 64 MiB) is one host range");
    TAP_EQ_U64((uintptr_t)ram % (2ULL << 20), 0, "guest RAM starts on a 2 MiB boundary (huge nested mappings possible)");
    char perms[5] = "";
    bool hg = false;
    TAP_CHECK(mapping_of((uintptr_t)ram, perms, &hg) && strncmp(perms, "rw", 2) == 0, "guest RAM is read-write (%s)",
              perms);
    TAP_CHECK(hg, "guest RAM is marked for transparent huge pages (VmFlags hg)");
    TAP_CHECK(mapping_of((uintptr_t)ram - 1, perms, &hg) && strcmp(perms, "---p") == 0,
              "the page below guest RAM is an inaccessible guard (%s)", perms);
    ram[0] = 1;
    ram[RAM - 1] = 2;
    TAP_CHECK(gm_ptr(&vm->mem, RAM - 1, 1) && *(uint8_t *)gm_ptr(&vm->mem, RAM - 1, 1) == 2, "last byte reachable");
    vm_destroy(vm);

    /* --hugepages with fewer free huge pages than asked: an error naming
     * the shortage (needs more than this host has reserved). */
    FILE *f = fopen("/proc/meminfo", "r");
    unsigned long long free_huge = 0, kb;
    char line[256];
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "HugePages_Free: %llu", &kb) == 1)
            free_huge = kb;
    if (f)
        fclose(f);
    struct vm_params hp = { .ram_size = (free_huge + 8) * (2ULL << 20), .ncpus = 1, .hugepages = true };
    err[0] = 0;
    vm = vm_create(&hp, err, sizeof(err));
    TAP_CHECK(vm == NULL && strstr(err, "not enough free") && strstr(err, "nr_hugepages"),
              "too few huge pages: %s", err);
    vm_destroy(vm);
    hp.ram_size = (2ULL << 20) + 4096;
    vm = vm_create(&hp, err, sizeof(err));
    TAP_CHECK(vm == NULL && strstr(err, "multiple of"), "--hugepages size not a multiple of the page: %s", err);
    vm_destroy(vm);
    return tap_done();
}
