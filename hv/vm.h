/* One KVM virtual machine per worker process.
 *
 * This header is the contract between the VM core and device models:
 * guest memory, the PIO/MMIO bus, interrupt lines, ioeventfds and MSI
 * routes. The core (vm.c, vcpu.c) owns struct vm's other members. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/bus.h"
#include "hv/guest_mem.h"

struct loop;
struct pci_bus;
struct vcpus;

struct vm {
    int kvm_fd;
    int vm_fd;
    struct guest_mem mem;
    struct bus *bus;
    struct loop *loop;  /* main-thread event loop */
    void *core;         /* private state of vm.c / vcpu.c */
    /* Added by the VM core (compatible extension; device models may read). */
    struct pci_bus *pci;    /* bus 0 (hv/pci/pci.c), NULL until pci_bus_create */
    unsigned ncpus;
    uint64_t ram_below_4g;  /* RAM at [0, ram_below_4g) */
    uint64_t ram_above_4g;  /* RAM at [4 GiB, 4 GiB + ram_above_4g) */
    struct vcpus *vcpus;    /* hv/vcpu.c */
};

/* Guest physical layout (x86-boot.md §3): RAM below the 3 GiB-4 GiB hole,
 * the rest above 4 GiB. */
#define VM_LOW_RAM_MAX   0xC0000000ULL
#define VM_HIGH_RAM_BASE 0x100000000ULL
#define VM_PCI_MMIO_BASE 0xC0000000ULL   /* 32-bit BAR window ... */
#define VM_PCI_MMIO_END  0xFEC00000ULL   /* ... up to the IOAPIC (exclusive) */
/* KVM's 3 TSS pages and identity-map page, in the hole below the top
 * 16 MiB, which stay free for a firmware ROM (QEMU's PC uses the same
 * addresses). */
#define VM_TSS_ADDR      0xFEFFD000ULL
#define VM_IDMAP_ADDR    0xFEFFC000ULL
#define VM_ROM_MAX       (16ULL << 20)   /* a firmware ROM ends at 4 GiB */

struct vm_params {
    uint64_t ram_size;
    bool hugepages;
    unsigned ncpus;
};

/* Open /dev/kvm, check capabilities, create the VM with in-kernel irqchip
 * and PIT, map and register guest RAM. NULL with err filled on failure.
 * vm->loop is set by the caller. */
struct vm *vm_create(const struct vm_params *params, char *err, size_t errlen);
void vm_destroy(struct vm *vm);
/* A VM without KVM, for unit tests of device models: a bus, no RAM (add
 * regions to vm->mem yourself), interrupt/ioeventfd/route calls fail with
 * -EBADF. Free with vm_destroy. */
struct vm *vm_create_for_test(void);

/* Snapshot / restore of the in-kernel PIC, IOAPIC and PIT (VM reset). */
void vm_reset_irqchip(struct vm *vm);

/* Guest-initiated machine events (reset line, ACPI sleep, triple fault),
 * callable from any thread. The handler installed by the worker's control
 * code stops the vCPUs and finishes the work on the main thread. */
enum vm_request { VM_REQUEST_RESET, VM_REQUEST_POWEROFF };
typedef void (*vm_request_fn)(void *opaque, enum vm_request req);
void vm_set_request_handler(struct vm *vm, vm_request_fn fn, void *opaque);
void vm_request(struct vm *vm, enum vm_request req);

/* Level-triggered or edge line on an in-kernel IOAPIC/PIC input (GSI). */
int vm_irq_line(struct vm *vm, uint32_t gsi, bool level);

/* Register (assign=true) or remove a KVM ioeventfd: a guest write of `len`
 * bytes at addr (PIO or MMIO) signals fd without leaving the kernel.
 * datamatch < 0 means any value. */
int vm_ioeventfd(struct vm *vm, enum bus_space space, uint64_t addr, uint32_t len,
                 int64_t datamatch, int fd, bool assign);

/* MSI routes: allocate a GSI routed to an MSI message; update it when the
 * guest reprograms the vector; free it. */
int vm_msi_route_alloc(struct vm *vm, uint64_t addr, uint32_t data);  /* returns gsi or -errno */
int vm_msi_route_update(struct vm *vm, uint32_t gsi, uint64_t addr, uint32_t data);
void vm_msi_route_free(struct vm *vm, uint32_t gsi);

/* Bind an eventfd to a GSI (irqfd): signalling fd injects the interrupt in
 * the kernel. resample_fd >= 0 makes it a level-triggered INTx with
 * KVM_IRQFD_FLAG_RESAMPLE. */
int vm_irqfd(struct vm *vm, uint32_t gsi, int fd, int resample_fd, bool assign);

/* Guest writes to ports [port, port + len) need no exit of their own: KVM
 * buffers them (KVM_REGISTER_COALESCED_MMIO with pio) and the vCPU loop
 * applies them, in order, before it handles the next exit of any vCPU.
 * Only for registers whose writes have no effect until the next access
 * that exits. 0, -ENOTSUP without KVM_CAP_COALESCED_PIO, or -errno. */
int vm_coalesce_pio(struct vm *vm, uint16_t port, uint32_t len);

/* Inject one MSI directly (slow path, e.g. when no route is set up). */
int vm_signal_msi(struct vm *vm, uint64_t addr, uint32_t data);

/* Extra KVM memory slots for host mappings that are not guest RAM, such
 * as an assigned device's mmapped BAR: guest accesses inside such a slot
 * go to the mapping without a VM exit. They are kept apart from the RAM
 * slots and never enter vm->mem (device models cannot DMA into them).
 * gpa, size and host must be page aligned; the range may overlap neither
 * guest RAM nor another host slot (an MMIO bus registration underneath is
 * fine: KVM looks at memory slots first, so the bus only sees accesses
 * outside the slot, or all of them once the slot is removed).
 * Thread-safe (vCPU threads call this from BAR programming). On a
 * vm_create_for_test VM only the bookkeeping runs (no KVM ioctl). */
#define VM_MAX_HOST_SLOTS 32
/* Returns a handle >= 0, or -EINVAL (alignment, size 0, wraps), -EEXIST
 * (overlap), -ENOSPC (all VM_MAX_HOST_SLOTS in use), -errno from KVM. */
int vm_host_slot_add(struct vm *vm, uint64_t gpa, uint64_t size, void *host);
/* The same for a ROM: KVM_MEM_READONLY, so guest reads come from `host`
 * and writes exit as MMIO to the bus (where nothing claims them). -ENOTSUP
 * when KVM lacks KVM_CAP_READONLY_MEM. */
int vm_host_slot_add_rom(struct vm *vm, uint64_t gpa, uint64_t size, void *host);
/* Move a slot to another guest address (same mapping, same size). */
int vm_host_slot_move(struct vm *vm, int handle, uint64_t gpa);
/* Remove it; the guest range falls back to the MMIO bus. */
void vm_host_slot_remove(struct vm *vm, int handle);
/* Where a slot is (false when the handle is not in use), and how many
 * are in use: for logs, the monitor and tests. */
bool vm_host_slot_get(struct vm *vm, int handle, uint64_t *gpa, uint64_t *size, uint32_t *kvm_slot);
unsigned vm_host_slot_count(struct vm *vm);
