/* The worker's machine control: run state, guest reset/poweroff requests,
 * fatal vCPU errors, signals, and the monitor's ops (hv/monitor/monitor.h).
 * Everything here runs on the main thread; vCPU-side requests arrive via
 * vm_request()/vcpu fatal handler and are handed over with loop_call. */
#pragma once
#include <stdbool.h>

#include "hv/boot/bzimage.h"
#include "hv/x86/acpi.h"

struct vm;
struct loop;
struct hv_config;
struct monitor;
struct monitor_ops;
struct machine;
struct chardev;
struct firmware;

/* Exit status of the worker (documented in hv --help). */
#define HV_EXIT_OK 0
#define HV_EXIT_CONFIG 1
#define HV_EXIT_KVM_FATAL 3

enum hv_run_state {
    HV_STATE_PRELAUNCH,
    HV_STATE_RUNNING,
    HV_STATE_PAUSED,
    HV_STATE_SHUTDOWN,        /* guest powered off, --no-shutdown */
    HV_STATE_INTERNAL_ERROR,
};

struct control {
    struct vm *vm;
    struct loop *loop;
    const struct hv_config *cfg;
    struct monitor *monitor;
    struct machine *machine;  /* the devices (hv/machine.h) */
    struct chardev *console;
    struct firmware *firmware;    /* firmware boot (no kernel); NULL for direct boot */
    enum hv_run_state state;
    int signal_fd;
    /* Set from any thread, consumed on the main thread. */
    _Atomic int pending;      /* bit mask of CONTROL_PENDING_* */
    _Atomic int fatal_cpu;
};

/* Load kernel, initrd and ACPI tables into guest memory, or restore the
 * firmware's copy below 1 MiB, and put the vCPUs in their boot state
 * (first boot and every reset). */
bool control_load_guest(struct control *ctl, char *err, size_t errlen);

/* Install the VM request / fatal handlers and the signal handling. */
int control_init(struct control *ctl, char *err, size_t errlen);

/* Start the vCPUs: state running. */
int control_start(struct control *ctl, char *err, size_t errlen);

/* The ops table for monitor_create (opaque = ctl). */
extern const struct monitor_ops control_monitor_ops;
