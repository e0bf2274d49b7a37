/* hv: one KVM virtual machine per process (hvd's hypervisor worker).
 * See hv --help; exit status: 0 guest poweroff/quit/signal/reboot with
 * --on-reboot exit, 1 configuration or setup error, 3 fatal KVM error. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "hv/boot/firmware.h"
#include "hv/machine_config.h"
#include "hv/control.h"
#include "hv/devices/chardev.h"
#include "hv/devices/ide.h"
#include "hv/devices/platform.h"
#include "hv/loop.h"
#include "hv/machine.h"
#include "hv/monitor/devices.h"
#include "hv/monitor/monitor.h"
#include "hv/pci/pci.h"
#include "hv/vcpu.h"
#include "hv/vm.h"

/* Setup errors: exactly one line on stderr, status 1. Nothing has run
 * yet that needs tearing down, so leave without atexit/leak reports. */
static int fail(const char *msg)
{
    fprintf(stderr, "hv: error: %s\n", msg);
    fflush(stderr);
    _exit(HV_EXIT_CONFIG);
}

int main(int argc, char **argv)
{
    static struct hv_config cfg;
    static struct control ctl;
    char err[1024];

    log_init("hv", LOG_LVL_INFO);
    signal(SIGPIPE, SIG_IGN);
    /* Termination signals go to the main loop's signalfd (control.c); block
     * them before any thread (disk I/O, vCPUs) exists so none of those
     * threads takes them with the default action. */
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigaddset(&term, SIGINT);
    sigaddset(&term, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &term, NULL);
    hv_config_init(&cfg);
    switch (hv_config_parse_args(&cfg, argc, argv, err, sizeof(err))) {
    case HV_ARGS_EXIT:
        return HV_EXIT_OK;
    case HV_ARGS_ERROR:
        return fail(err);
    case HV_ARGS_OK:
        break;
    }
    if (!hv_config_validate(&cfg, err, sizeof(err)))
        return fail(err);
    if (cfg.debug)
        log_set_level(LOG_LVL_DEBUG);

    /* Check the kernel or firmware image before creating anything. */
    const char *firmware = hv_config_firmware(&cfg);
    if (firmware ? !firmware_check_file(firmware, err, sizeof(err)) : !bzimage_check_file(cfg.kernel, err, sizeof(err)))
        return fail(err);

    struct loop *loop = loop_new();
    if (!loop)
        return fail("cannot create the event loop");
    struct vm_params params = { .ram_size = cfg.memory, .hugepages = cfg.hugepages, .ncpus = cfg.cpus };
    struct vm *vm = vm_create(&params, err, sizeof(err));
    if (!vm)
        return fail(err);
    vm->loop = loop;
    ctl.vm = vm;
    ctl.loop = loop;
    ctl.cfg = &cfg;
    ctl.console = chardev_create(loop, &cfg.serial, err, sizeof(err));
    if (!ctl.console)
        return fail(err);

    /* The machine (hv/machine.h): PCI bus 0, then every device of the
     * config in slot order (disks, balloon, NICs, host devices) and the
     * platform devices. */
    ctl.machine = machine_create(vm, err, sizeof(err));
    if (!ctl.machine || !machine_add_config_devices(ctl.machine, &cfg, ctl.console, err, sizeof(err)))
        return fail(err);

    /* Firmware boot: after every PCI function exists (the boot order
     * names their slots). */
    if (firmware) {
        /* The machine added the virtio disks in config order; IDE disks
         * are named by the controller's slot and their unit. */
        struct firmware_boot_disk disks[HV_MAX_DISKS];
        const struct device *blk = NULL, *ide = machine_next(ctl.machine, DEVICE_IDE, NULL);
        for (unsigned i = 0; i < cfg.ndisks; i++) {
            disks[i] = (struct firmware_boot_disk){ .bootindex = cfg.disks[i].bootindex };
            if (cfg.disks[i].bus == HV_DISK_BUS_IDE) {
                disks[i].pci_slot = ide->pci->slot;
                disks[i].ide = true;
                disks[i].ide_unit = (uint8_t)ide_disk_unit(ide->model, i);
            } else {
                blk = machine_next(ctl.machine, DEVICE_VIRTIO_BLK, blk);
                disks[i].pci_slot = blk->pci->slot;
            }
        }
        struct e820_entry e820[8];
        struct acpi_config acpi = { .ncpus = vm->ncpus, .intx_gsi = pci_intx_gsi };
        struct firmware_params fp = {
            .path = firmware,
            .ncpus = vm->ncpus,
            .ram_below_4g = vm->ram_below_4g,
            .ram_above_4g = vm->ram_above_4g,
            .e820 = e820,
            .ne820 = boot_build_e820(e820, vm->ram_below_4g, vm->ram_above_4g),
            .acpi = &acpi,
            .disks = disks,
            .ndisks = cfg.ndisks,
        };
        struct device *rtc = machine_find(ctl.machine, "rtc");
        ctl.firmware = firmware_create(vm, &fp, rtc ? rtc->model : NULL, ctl.console, err, sizeof(err));
        if (!ctl.firmware)
            return fail(err);
        if (cfg.debug && debugcon_create(vm) < 0)
            return fail("cannot create the firmware debug console");
    }

    if (vcpus_create(vm, cfg.cpus, err, sizeof(err)) < 0 || control_init(&ctl, err, sizeof(err)) < 0 ||
        !control_load_guest(&ctl, err, sizeof(err)))
        return fail(err);

    if (cfg.monitor) {
        struct monitor_info info = {
            .name = cfg.name,
            .uuid = cfg.uuid,
            .ram_size = cfg.memory,
            .kvm_enabled = true,
        };
        ctl.monitor = monitor_create(loop, cfg.monitor, &info, &control_monitor_ops, &ctl, err, sizeof(err));
        if (!ctl.monitor)
            return fail(err);
        /* Device families' commands (balloon: QEMU's DeviceNotActive
         * answers without one). */
        if (monitor_block_register(ctl.monitor, ctl.machine) < 0 ||
            monitor_balloon_register(ctl.monitor, ctl.machine) < 0 ||
            monitor_net_register(ctl.monitor, ctl.machine) < 0 ||
            monitor_media_register(ctl.monitor, ctl.machine) < 0)
            return fail("cannot register the device monitor commands");
    }

    if (control_start(&ctl, err, sizeof(err)) < 0)
        return fail(err);
    log_info("started %s: %u vCPU(s), %llu MiB, %s %s%s%s", cfg.name ? cfg.name : "VM", cfg.cpus,
             (unsigned long long)(cfg.memory >> 20), firmware ? "firmware" : "kernel",
             firmware ? firmware : cfg.kernel, cfg.monitor ? ", monitor " : "", cfg.monitor ? cfg.monitor : "");

    int rc = loop_run(loop);

    vcpus_pause(vm);
    if (ctl.monitor)
        monitor_free(ctl.monitor);
    machine_destroy(ctl.machine);
    chardev_free(ctl.console);
    log_info("exiting with status %d", rc);
    fflush(stdout);
    /* vCPU threads are parked; process exit tears the VM down. */
    _exit(rc);
}
