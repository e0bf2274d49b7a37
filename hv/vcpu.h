/* vCPUs: one thread each, KVM_RUN loop, pause/resume, reset state
 * (x86-boot.md §4 steps 7-13). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct vm;
struct boot_result;

/* Create the vCPU fds with CPUID, MSRs and LAPIC set up, and snapshot
 * their power-on state. Threads start later (vcpus_start). */
int vcpus_create(struct vm *vm, unsigned ncpus, char *err, size_t errlen);

/* Put every vCPU into its reset state; the BSP enters the kernel at
 * boot->entry in 64-bit mode, or with boot NULL (firmware boot) starts at
 * the reset vector F000:FFF0 as KVM created it; APs wait for INIT/SIPI.
 * vCPUs must be paused (or not started). */
int vcpus_load_boot_state(struct vm *vm, const struct boot_result *boot, char *err, size_t errlen);

/* Start the threads, running. */
int vcpus_start(struct vm *vm, char *err, size_t errlen);

/* Any thread: ask every vCPU to stop at its next exit (kick with a signal
 * and immediate_exit) without waiting. */
void vcpus_request_pause(struct vm *vm);
/* Main thread: request a pause and wait until every vCPU is parked. */
void vcpus_pause(struct vm *vm);
void vcpus_resume(struct vm *vm);

/* Fatal exits (KVM_EXIT_INTERNAL_ERROR, FAIL_ENTRY, KVM_RUN errors) are
 * reported from the vCPU thread, which then parks. */
typedef void (*vcpu_fatal_fn)(void *opaque, unsigned cpu);
void vcpus_set_fatal_handler(struct vm *vm, vcpu_fatal_fn fn, void *opaque);

unsigned vcpus_count(struct vm *vm);
pid_t vcpu_thread_id(struct vm *vm, unsigned cpu);
