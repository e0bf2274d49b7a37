/* hv's QMP monitor: a unix-socket JSON monitor speaking QMP's framing and
 * QEMU 7.2's argument and reply shapes (QEMU's qmp-spec.rst and QAPI schema, docs/monitor.md).
 *
 * The monitor knows QMP only. It learns VM state and acts on the VM through
 * struct monitor_ops, implemented by the VM core (hv/control.c); the
 * device families' commands (hv/monitor/devices.h) find their devices in
 * the machine. It runs on the worker's main-thread event loop (hv/loop.h).
 *
 * Threading: every function here, and every op, runs on the main thread.
 * Code on other threads (vCPUs) hands work to the main thread with
 * loop_call() and emits events from there.
 *
 * Events: the monitor never invents lifecycle events. Whoever changes the
 * VM's state emits the event with monitor_emit_event(). For monitor-driven
 * actions (stop, cont, system_reset, system_powerdown, quit) the op must emit
 * its event BEFORE returning, so the client sees the event first and the
 * command's return second, exactly as QEMU 7.2 orders them (qmp.md §4). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct monitor;

/* Fixed facts about the VM, given at creation. Strings are copied. */
struct monitor_info {
    const char *name;        /* NULL or "": unnamed (query-name returns {}) */
    const char *uuid;        /* NULL: all-zero UUID, as QEMU without -uuid */
    uint64_t ram_size;       /* bytes; query-memory-size-summary "base-memory" */
    bool kvm_enabled;        /* query-kvm "enabled" (present is always true) */
};

/* One vCPU, for query-cpus-fast and HMP "info cpus" (CPU #0 is the one
 * HMP marks current with '*'). */
struct monitor_cpu {
    int cpu_index;
    int64_t thread_id;       /* host TID of the vCPU thread */
    int socket_id, core_id, thread_in_core;  /* "props" */
    const char *qom_path;    /* NULL: "/machine/unattached/device[N]" */
};

/* One BAR (or the expansion ROM, bar = 6) of a PCI function. */
struct monitor_pci_bar {
    int bar;                 /* 0..5, 6 = ROM */
    bool is_io;              /* "type": "io" vs "memory" */
    bool prefetch;           /* memory only */
    bool mem_type_64;        /* memory only */
    int64_t address;         /* -1 = not assigned (QEMU prints -1) */
    uint64_t size;
};

#define MONITOR_PCI_MAX_BARS 7

/* One PCI function, for query-pci and HMP "info pci". */
struct monitor_pci_dev {
    int bus, slot, function;
    uint16_t class_code;     /* base class << 8 | subclass (QEMU's class_info.class) */
    uint16_t vendor, device;
    uint16_t subsys_vendor, subsys;
    int irq_pin;             /* 0 = none, 1..4 = INTA..INTD */
    int irq;                 /* interrupt line (GSI) when irq_pin != 0 */
    const char *qdev_id;     /* NULL or "" when the device has no id */
    int nr_bars;
    struct monitor_pci_bar bars[MONITOR_PCI_MAX_BARS];
};

/* The VM core's side. All ops are optional: a NULL query op reports no
 * entries; a NULL action op makes the command fail with GenericError.
 * Action ops return 0 or a negative errno and may fill err (NUL-terminated,
 * errlen bytes) with a message that becomes the GenericError "desc". */
struct monitor_ops {
    /* RunState name as QEMU 7.2 spells it: "prelaunch", "running", "paused",
     * "shutdown", "internal-error", "guest-panicked", ... *running is true
     * only for "running". */
    const char *(*run_state)(void *opaque, bool *running);

    int (*stop)(void *opaque, char *err, size_t errlen);             /* emits STOP if it paused */
    int (*cont)(void *opaque, char *err, size_t errlen);             /* emits RESUME */
    int (*system_reset)(void *opaque, char *err, size_t errlen);     /* emits RESET host-qmp-system-reset */
    int (*system_powerdown)(void *opaque, char *err, size_t errlen); /* emits POWERDOWN */
    /* Emits SHUTDOWN {guest: false, reason: host-qmp-quit} and arranges for
     * the worker to exit (e.g. loop_quit). The monitor sends the return
     * after this and monitor_free() flushes it before closing the socket. */
    void (*quit)(void *opaque);

    /* Query ops fill at most max entries and return how many exist in
     * total (the monitor retries with a larger array when that is more than
     * max), or a negative errno. String pointers must stay valid until the
     * op's caller returns to the event loop. */
    int (*query_cpus)(void *opaque, struct monitor_cpu *cpus, int max);
    int (*query_pci)(void *opaque, struct monitor_pci_dev *devs, int max);
};

/* Listen on socket_path (an existing socket file there is replaced) and
 * serve one client at a time, like a QEMU chardev: a second client's
 * connect() succeeds (it waits in the listen backlog) and it gets its
 * greeting when the first disconnects. NULL with err filled on failure. */
struct monitor *monitor_create(struct loop *loop, const char *socket_path,
                               const struct monitor_info *info,
                               const struct monitor_ops *ops, void *opaque,
                               char *err, size_t errlen);

/* Closes the client (after a best-effort flush of queued output, so a
 * `quit` reply reaches the client), the listener, and unlinks the socket. */
void monitor_free(struct monitor *mon);

/* Broadcast an event to the client if it is in command mode (otherwise it
 * is dropped, as in QEMU). data_json is a JSON object text for "data", or
 * NULL for events without data (STOP, RESUME, POWERDOWN). Adds QEMU's
 * wall-clock {"seconds", "microseconds"} timestamp. BALLOON_CHANGE,
 * RTC_CHANGE, WATCHDOG, VSERPORT_CHANGE, QUORUM_* and
 * MEMORY_DEVICE_SIZE_CHANGE are rate-limited to one per second, the latest
 * one winning, as in QEMU 7.2. Main thread only. Returns 0, or -EINVAL when
 * data_json is not a JSON object. */
int monitor_emit_event(struct monitor *mon, const char *event, const char *data_json);

/* Convenience for SHUTDOWN and RESET: data {"guest": ..., "reason": ...};
 * guest is true exactly for the "guest-*" ShutdownCause values. */
void monitor_emit_shutdown(struct monitor *mon, const char *event, const char *reason);

/* The socket path the monitor listens on. */
const char *monitor_socket_path(const struct monitor *mon);
