/* One KVM virtual machine per worker process.
 *
 * This header is the contract between the VM core and device models:
 * guest memory, the PIO/MMIO bus, interrupt lines, ioeventfds and MSI
 * routes. The core (vm.c, vcpu.c) owns struct vm's other members. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "hv/bus.h"
#include "hv/guest_mem.h"

struct loop;

struct vm {
    int kvm_fd;
    int vm_fd;
    struct guest_mem mem;
    struct bus *bus;
    struct loop *loop;  /* main-thread event loop */
    void *core;         /* private state of vm.c / vcpu.c */
};

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

/* Inject one MSI directly (slow path, e.g. when no route is set up). */
int vm_signal_msi(struct vm *vm, uint64_t addr, uint32_t data);
