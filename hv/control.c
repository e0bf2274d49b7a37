/* Machine control: lifecycle, guest reset/poweroff, signals, monitor ops
 * (QEMU 7.2 run states and events, qmp.md §4). */
#include "hv/control.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/errbuf.h"
#include "common/log.h"
#include "hv/boot/firmware.h"
#include "hv/machine_config.h"
#include "hv/devices/platform.h"
#include "hv/loop.h"
#include "hv/machine.h"
#include "hv/monitor/monitor.h"
#include "hv/pci/pci.h"
#include "hv/vcpu.h"
#include "hv/vm.h"

#define PENDING_RESET 0x1
#define PENDING_POWEROFF 0x2
#define PENDING_FATAL 0x4

#define ACPI_AREA_SIZE (0x100000 - BOOT_BIOS_AREA)
#define DEFAULT_APPEND "console=ttyS0"

static void emit(struct control *ctl, const char *event)
{
    if (ctl->monitor)
        monitor_emit_event(ctl->monitor, event, NULL);
}

static void emit_cause(struct control *ctl, const char *event, const char *reason)
{
    if (ctl->monitor)
        monitor_emit_shutdown(ctl->monitor, event, reason);
}

bool control_load_guest(struct control *ctl, char *err, size_t errlen)
{
    if (ctl->firmware)
        return firmware_reset(ctl->firmware, err, errlen) && vcpus_load_boot_state(ctl->vm, NULL, err, errlen) == 0;
    const struct hv_config *cfg = ctl->cfg;
    struct vm *vm = ctl->vm;
    bool ok = false;
    size_t klen = 0, ilen = 0;
    uint8_t *kernel = NULL, *initrd = NULL, *acpi = NULL;

    kernel = boot_read_file(cfg->kernel, &klen, "kernel", err, errlen);
    if (!kernel)
        goto out;
    struct bzimage_info info;
    char why[256];
    if (!bzimage_parse(kernel, klen, &info, why, sizeof(why))) {
        errbuf_set(err, errlen, "kernel %s: %s", cfg->kernel, why);
        goto out;
    }
    if (cfg->initrd) {
        initrd = boot_read_file(cfg->initrd, &ilen, "initrd", err, errlen);
        if (!initrd)
            goto out;
    }

    acpi = calloc(1, ACPI_AREA_SIZE);
    if (!acpi) {
        errbuf_set(err, errlen, "out of memory");
        goto out;
    }
    struct acpi_config acfg = { .ncpus = vm->ncpus, .intx_gsi = pci_intx_gsi };
    struct acpi_layout layout;
    if (!acpi_build(acpi, ACPI_AREA_SIZE, BOOT_BIOS_AREA, &acfg, &layout) ||
        !gm_write(&vm->mem, BOOT_BIOS_AREA, acpi, ACPI_AREA_SIZE)) {
        errbuf_set(err, errlen, "cannot build the ACPI tables");
        goto out;
    }

    struct e820_entry e820[8];
    unsigned ne820 = boot_build_e820(e820, vm->ram_below_4g, vm->ram_above_4g);
    struct boot_params_in in = {
        .kernel = kernel, .kernel_len = klen,
        .initrd = initrd, .initrd_len = ilen,
        .cmdline = cfg->append ? cfg->append : DEFAULT_APPEND,
        .rsdp_addr = layout.rsdp,
        .low_ram_end = vm->ram_below_4g,
        .e820 = e820, .ne820 = ne820,
    };
    struct boot_result boot;
    if (!bzimage_load(&vm->mem, &in, &boot, why, sizeof(why))) {
        errbuf_set(err, errlen, "kernel %s: %s", cfg->kernel, why);
        goto out;
    }
    if (vcpus_load_boot_state(vm, &boot, err, errlen) < 0)
        goto out;
    log_debug("boot: entry 0x%llx, initrd at 0x%llx, RSDP at 0x%llx",
              (unsigned long long)boot.entry, (unsigned long long)boot.initrd_addr,
              (unsigned long long)layout.rsdp);
    ok = true;
out:
    free(kernel);
    free(initrd);
    free(acpi);
    return ok;
}

/* Machine reset (guest or monitor). vCPUs must be paused. */
static bool control_reset_machine(struct control *ctl)
{
    machine_reset(ctl->machine);
    vm_reset_irqchip(ctl->vm);
    char err[512];
    if (!control_load_guest(ctl, err, sizeof(err))) {
        log_error("reset failed: %s", err);
        return false;
    }
    return true;
}

/* A guest that triple-faults right away resets thousands of times a
 * second; log the first few resets of each second and a count after. */
static bool reset_log_allowed(void)
{
    static time_t window;
    static unsigned count, suppressed;
    time_t now = time(NULL);
    if (now != window) {
        if (suppressed)
            log_info("(%u more guest resets not logged)", suppressed);
        window = now;
        count = suppressed = 0;
    }
    if (++count <= 5)
        return true;
    suppressed++;
    return false;
}

static void set_running(struct control *ctl)
{
    ctl->state = HV_STATE_RUNNING;
    vcpus_resume(ctl->vm);
}

/* Main thread: act on what vCPU threads asked for. */
static void control_process(void *opaque)
{
    struct control *ctl = opaque;
    int pending = atomic_exchange(&ctl->pending, 0);
    if (!pending)
        return;
    vcpus_pause(ctl->vm);
    if (pending & PENDING_FATAL) {
        ctl->state = HV_STATE_INTERNAL_ERROR;
        log_error("fatal KVM error on vCPU %d; exiting with status %d", atomic_load(&ctl->fatal_cpu),
                  HV_EXIT_KVM_FATAL);
        loop_quit(ctl->loop, HV_EXIT_KVM_FATAL);
        return;
    }
    if (pending & PENDING_POWEROFF) {
        log_info("guest powered off");
        emit_cause(ctl, "SHUTDOWN", "guest-shutdown");
        if (ctl->cfg->no_shutdown) {
            ctl->state = HV_STATE_SHUTDOWN;
            emit(ctl, "STOP");
        } else {
            loop_quit(ctl->loop, HV_EXIT_OK);
        }
        return;
    }
    if (pending & PENDING_RESET) {
        if (ctl->cfg->on_reboot == HV_ON_REBOOT_EXIT) {
            log_info("guest reset: exiting with status 0 (--on-reboot exit)");
            emit_cause(ctl, "SHUTDOWN", "guest-reset");
            loop_quit(ctl->loop, HV_EXIT_OK);
            return;
        }
        if (reset_log_allowed())
            log_info("guest reset: restarting the machine");
        if (!control_reset_machine(ctl)) {
            loop_quit(ctl->loop, HV_EXIT_CONFIG);
            return;
        }
        emit_cause(ctl, "RESET", "guest-reset");
        if (ctl->state == HV_STATE_RUNNING)
            vcpus_resume(ctl->vm);
    }
}

static void on_vm_request(void *opaque, enum vm_request req)
{
    struct control *ctl = opaque;
    int bit = req == VM_REQUEST_POWEROFF ? PENDING_POWEROFF : PENDING_RESET;
    vcpus_request_pause(ctl->vm);
    if (!(atomic_fetch_or(&ctl->pending, bit) & bit))
        loop_call(ctl->loop, control_process, ctl);
}

static void on_vcpu_fatal(void *opaque, unsigned cpu)
{
    struct control *ctl = opaque;
    atomic_store(&ctl->fatal_cpu, (int)cpu);
    vcpus_request_pause(ctl->vm);
    if (!(atomic_fetch_or(&ctl->pending, PENDING_FATAL) & PENDING_FATAL))
        loop_call(ctl->loop, control_process, ctl);
}

static void on_signal(void *opaque, int fd, uint32_t events)
{
    struct control *ctl = opaque;
    struct signalfd_siginfo si;
    if (read(fd, &si, sizeof(si)) != sizeof(si))
        return;
    log_info("received signal %u (%s): shutting down", si.ssi_signo, strsignal((int)si.ssi_signo));
    vcpus_pause(ctl->vm);
    emit_cause(ctl, "SHUTDOWN", "host-signal");
    loop_quit(ctl->loop, HV_EXIT_OK);
}

int control_init(struct control *ctl, char *err, size_t errlen)
{
    atomic_store(&ctl->pending, 0);
    ctl->state = HV_STATE_PRELAUNCH;
    vm_set_request_handler(ctl->vm, on_vm_request, ctl);
    vcpus_set_fatal_handler(ctl->vm, on_vcpu_fatal, ctl);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    ctl->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (ctl->signal_fd < 0 || loop_add_fd(ctl->loop, ctl->signal_fd, EPOLLIN, on_signal, ctl) < 0) {
        errbuf_set(err, errlen, "signalfd: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int control_start(struct control *ctl, char *err, size_t errlen)
{
    if (vcpus_start(ctl->vm, err, errlen) < 0)
        return -1;
    ctl->state = HV_STATE_RUNNING;
    return 0;
}

/* ---- monitor ops ---- */

static const char *op_run_state(void *opaque, bool *running)
{
    struct control *ctl = opaque;
    *running = ctl->state == HV_STATE_RUNNING;
    switch (ctl->state) {
    case HV_STATE_PRELAUNCH: return "prelaunch";
    case HV_STATE_RUNNING: return "running";
    case HV_STATE_PAUSED: return "paused";
    case HV_STATE_SHUTDOWN: return "shutdown";
    case HV_STATE_INTERNAL_ERROR: return "internal-error";
    }
    return "running";
}

static int op_stop(void *opaque, char *err, size_t errlen)
{
    struct control *ctl = opaque;
    if (ctl->state != HV_STATE_RUNNING)
        return 0;  /* QEMU: stopping a stopped VM is a no-op without an event */
    vcpus_pause(ctl->vm);
    ctl->state = HV_STATE_PAUSED;
    emit(ctl, "STOP");
    return 0;
}

static int op_cont(void *opaque, char *err, size_t errlen)
{
    struct control *ctl = opaque;
    if (ctl->state == HV_STATE_SHUTDOWN || ctl->state == HV_STATE_INTERNAL_ERROR) {
        errbuf_set(err, errlen, "Resetting the Virtual Machine is required");
        return -EINVAL;
    }
    if (ctl->state == HV_STATE_RUNNING)
        return 0;
    set_running(ctl);
    emit(ctl, "RESUME");
    return 0;
}

static int op_system_reset(void *opaque, char *err, size_t errlen)
{
    struct control *ctl = opaque;
    vcpus_pause(ctl->vm);
    if (!control_reset_machine(ctl)) {
        errbuf_set(err, errlen, "reset failed (see the worker's log)");
        return -EIO;
    }
    emit_cause(ctl, "RESET", "host-qmp-system-reset");
    if (ctl->state == HV_STATE_RUNNING)
        vcpus_resume(ctl->vm);
    else
        ctl->state = HV_STATE_PRELAUNCH;  /* as QEMU: a reset stopped VM waits for cont */
    return 0;
}

static int op_system_powerdown(void *opaque, char *err, size_t errlen)
{
    struct control *ctl = opaque;
    struct device *pm = machine_next(ctl->machine, DEVICE_PM, NULL);
    if (pm)
        pm_power_button(pm->model);
    emit(ctl, "POWERDOWN");
    return 0;
}

static void op_quit(void *opaque)
{
    struct control *ctl = opaque;
    vcpus_pause(ctl->vm);
    emit_cause(ctl, "SHUTDOWN", "host-qmp-quit");
    log_info("quit requested by the monitor");
    loop_quit(ctl->loop, HV_EXIT_OK);
}

static int op_query_cpus(void *opaque, struct monitor_cpu *cpus, int max)
{
    struct control *ctl = opaque;
    int n = (int)vcpus_count(ctl->vm);
    for (int i = 0; i < n && i < max; i++) {
        cpus[i] = (struct monitor_cpu){
            .cpu_index = i,
            .thread_id = vcpu_thread_id(ctl->vm, (unsigned)i),
            .socket_id = 0,
            .core_id = i,
            .thread_in_core = 0,
            .qom_path = NULL,
        };
    }
    return n;
}

static int op_query_pci(void *opaque, struct monitor_pci_dev *devs, int max)
{
    struct control *ctl = opaque;
    int n = 0;
    for (unsigned slot = 0; slot < 32; slot++) {
        struct pci_device *d = pci_device_at(ctl->vm, (uint8_t)slot);
        if (!d)
            continue;
        if (n < max) {
            struct monitor_pci_dev *o = &devs[n];
            memset(o, 0, sizeof(*o));
            o->bus = 0;
            o->slot = (int)slot;
            o->function = 0;
            o->class_code = (uint16_t)(d->cfg[0x0B] << 8 | d->cfg[0x0A]);
            o->vendor = (uint16_t)(d->cfg[0] | d->cfg[1] << 8);
            o->device = (uint16_t)(d->cfg[2] | d->cfg[3] << 8);
            o->subsys_vendor = (uint16_t)(d->cfg[0x2C] | d->cfg[0x2D] << 8);
            o->subsys = (uint16_t)(d->cfg[0x2E] | d->cfg[0x2F] << 8);
            o->irq_pin = d->cfg[0x3D];
            o->irq = d->cfg[0x3C];
            o->qdev_id = slot == 0 ? NULL : d->id;
            for (int b = 0; b < PCI_NUM_BARS && o->nr_bars < MONITOR_PCI_MAX_BARS; b++) {
                const struct pci_bar *bar = &d->bars[b];
                if (bar->type == PCI_BAR_NONE || !bar->size)
                    continue;
                o->bars[o->nr_bars++] = (struct monitor_pci_bar){
                    .bar = b,
                    .is_io = bar->type == PCI_BAR_IO,
                    .prefetch = bar->prefetchable,
                    .mem_type_64 = bar->type == PCI_BAR_MEM64,
                    .address = bar->mapped ? (int64_t)bar->addr : -1,
                    .size = bar->size,
                };
            }
        }
        n++;
    }
    return n;
}

const struct monitor_ops control_monitor_ops = {
    .run_state = op_run_state,
    .stop = op_stop,
    .cont = op_cont,
    .system_reset = op_system_reset,
    .system_powerdown = op_system_powerdown,
    .quit = op_quit,
    .query_cpus = op_query_cpus,
    .query_pci = op_query_pci,
};
