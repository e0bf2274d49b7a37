/* hv: one KVM virtual machine per process (hvd's hypervisor worker).
 * See hv --help; exit status: 0 guest poweroff/quit/signal/reboot with
 * --on-reboot exit, 1 configuration or setup error, 3 fatal KVM error. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "hv/config.h"
#include "hv/control.h"
#include "hv/devices/ide.h"
#include "hv/devices/chardev.h"
#include "hv/devices/platform.h"
#include "hv/devices/serial8250.h"
#include "hv/loop.h"
#include "hv/monitor/monitor.h"
#include "hv/nics.h"
#include "hv/pci/pci.h"
#include "hv/vcpu.h"
#include "hv/vfio/vfio.h"
#include "hv/virtio/balloon.h"
#include "hv/virtio/blk.h"
#include "hv/vm.h"

#define COM1_BASE 0x3F8
#define COM1_GSI 4

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

    /* Check the kernel image before creating anything. */
    if (!bzimage_check_file(cfg.kernel, err, sizeof(err)))
        return fail(err);

    struct loop *loop = loop_new();
    if (!loop)
        return fail("cannot create the event loop");
    struct vm_params params = { .ram_size = cfg.memory, .hugepages = cfg.hugepages, .ncpus = cfg.cpus };
    struct vm *vm = vm_create(&params, err, sizeof(err));
    if (!vm)
        return fail(err);
    vm->loop = loop;
    if (pci_bus_create(vm) < 0)
        return fail("cannot create the PCI bus");

    for (unsigned i = 0; i < cfg.ndisks; i++) {
        if (cfg.disks[i].bus != HV_DISK_BUS_VIRTIO)
            continue;
        struct virtio_blk_config bc = {
            .path = cfg.disks[i].path,
            .format = cfg.disks[i].format,
            .readonly = cfg.disks[i].readonly,
            .serial = cfg.disks[i].serial,
            .id = cfg.disks[i].id,
        };
        if (!virtio_blk_create(vm, &bc, err, sizeof(err)))
            return fail(err);
    }

    /* IDE disks and cdroms (hv/devices/ide.h): the PIIX3 IDE function. */
    struct ide *ide;
    if (!ide_create(vm, &cfg, &ide, err, sizeof(err)))
        return fail(err);

    /* balloon (hv/virtio/balloon.h): PCI function now, monitor commands below. */
    struct virtio_balloon *balloon = NULL;
    if (cfg.balloon.enabled) {
        struct virtio_balloon_config balloon_cfg = {
            .id = cfg.balloon.id,
            .deflate_on_oom = cfg.balloon.deflate_on_oom,
            .free_page_reporting = cfg.balloon.free_page_reporting,
            .stats_period_s = cfg.balloon.stats_period,
        };
        balloon = virtio_balloon_create(vm, NULL, &balloon_cfg, err, sizeof(err));
        if (!balloon)
            return fail(err);
    }

    /* NICs (hv/nics.h): e1000 / virtio-net on taps, after the disks. */
    if (!hv_nics_create(vm, &cfg, err, sizeof(err)))
        return fail(err);

    /* Assigned host devices (hv/vfio/vfio.h): after the emulated functions. */
    if (!hv_vfio_create_all(vm, &cfg, err, sizeof(err)))
        return fail(err);

    ctl.vm = vm;
    ctl.loop = loop;
    ctl.cfg = &cfg;
    ctl.console = chardev_create(loop, &cfg.serial, err, sizeof(err));
    if (!ctl.console)
        return fail(err);
    ctl.serial = serial8250_create(vm, COM1_BASE, COM1_GSI, ctl.console);
    ctl.pm = pm_create(vm);
    ctl.kbd = i8042_create(vm);
    ctl.rtc = rtc_create(vm);
    if (!ctl.serial || !ctl.pm || !ctl.kbd || !ctl.rtc || ioport_sinks_create(vm) < 0)
        return fail("cannot create the platform devices");

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
        /* balloon commands, or QEMU's DeviceNotActive answers without one */
        if ((balloon ? virtio_balloon_attach_monitor(balloon, ctl.monitor)
                     : virtio_balloon_register_absent(ctl.monitor)) < 0)
            return fail("cannot register the balloon monitor commands");
        if (hv_nics_attach_monitor(ctl.monitor) < 0)
            return fail("cannot register the NIC monitor commands");
        if (ide_attach_monitor(ctl.monitor) < 0)
            return fail("cannot register the IDE monitor commands");
    }

    if (control_start(&ctl, err, sizeof(err)) < 0)
        return fail(err);
    log_info("started %s: %u vCPU(s), %llu MiB, kernel %s%s%s", cfg.name ? cfg.name : "VM", cfg.cpus,
             (unsigned long long)(cfg.memory >> 20), cfg.kernel, cfg.monitor ? ", monitor " : "",
             cfg.monitor ? cfg.monitor : "");

    int rc = loop_run(loop);

    vcpus_pause(vm);
    if (ctl.monitor)
        monitor_free(ctl.monitor);
    /* destroy takes the device off the list, so always take the first */
    for (struct virtio_blk *blk; (blk = virtio_blk_nth(0)) != NULL;)
        virtio_blk_destroy(blk);
    virtio_balloon_destroy(balloon);
    ide_destroy(ide);
    hv_nics_destroy();
    hv_vfio_destroy_all();
    chardev_free(ctl.console);
    log_info("exiting with status %d", rc);
    fflush(stdout);
    /* vCPU threads are parked; process exit tears the VM down. */
    _exit(rc);
}
