/* The machine: the VM's devices and the PCI bus they sit on. It owns every
 * device (hv/device.h), finds them by id and by kind, resets, saves and
 * loads them, and tears them down. How each kind of device joins the
 * machine is one function below (hv/machine_devices.c); the generic part
 * is hv/machine.c. See docs/hv-devices.md.
 *
 * Main thread only; devices change only with the vCPUs paused or before
 * they run. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "hv/device.h"

struct vm;
struct chardev;
struct hv_config;
struct hv_disk_config;
struct hv_nic_config;
struct hv_balloon_config;
struct hv_hostdev_config;

struct machine;

/* A machine on vm with an empty PCI bus 0 (host bridge only). vm may be
 * NULL for unit tests: then there is no bus and only machine_add_device
 * is usable. NULL with err filled on failure. */
struct machine *machine_create(struct vm *vm, char *err, size_t errlen);

/* VM exit (vCPUs paused): every device unplugged and destroyed, last
 * added first, then the PCI bus. */
void machine_destroy(struct machine *m);

struct vm *machine_vm(const struct machine *m);

/* ---- generic ---- */

/* Add a device described by proto (id, kind, ops, model, and pci /
 * transport when it is already on the bus) and realize it. The machine
 * owns the device from here on, also on failure (then it is taken out
 * again with unplug and destroy). NULL with err filled on failure, e.g.
 * a duplicate id. */
struct device *machine_add_device(struct machine *m, const struct device *proto, char *err,
                                  size_t errlen);

/* Take dev out of the machine: unplug, off the PCI bus, destroy. */
void machine_remove_device(struct machine *m, struct device *dev);

struct device *machine_find(const struct machine *m, const char *id);
/* The device of `kind` after prev (NULL: the first), in machine order. */
struct device *machine_next(const struct machine *m, enum device_kind kind,
                            const struct device *prev);
unsigned machine_count(const struct machine *m, enum device_kind kind);
/* Every device in machine order: first, then dev->next. */
struct device *machine_first_device(const struct machine *m);

/* VM reset (vCPUs paused): the host bridge, then every device. */
void machine_reset(struct machine *m);

/* Every device's state as one section each (hv/state.h). 0 or a negative
 * errno with err naming the first device that cannot be saved. */
int machine_save(struct machine *m, struct state_writer *w, char *err, size_t errlen);
/* Load a stream saved by machine_save into a machine built from the same
 * configuration (before the vCPUs run). Every section must name a device
 * of the same model and a state version this hv reads. */
int machine_load(struct machine *m, const void *buf, size_t len, char *err, size_t errlen);

/* ---- how each kind joins the machine (hv/machine_devices.c) ---- */

/* Everything cfg describes, in PCI slot order: virtio disks, the IDE
 * controller (when a disk is on bus=ide), the balloon, NICs,
 * then assigned host devices; then the platform devices (COM1 on console,
 * ACPI PM, i8042, RTC, port sinks). false with err naming the device. */
bool machine_add_config_devices(struct machine *m, const struct hv_config *cfg,
                                struct chardev *console, char *err, size_t errlen);

struct device *machine_add_disk(struct machine *m, const struct hv_disk_config *dc, char *err,
                                size_t errlen);
/* The PIIX3 IDE controller with cfg's bus=ide disks (a DEVICE_IDE), and
 * one DEVICE_IDE_DRIVE per drive, named by the drive's id, for the block
 * family and the media commands. NULL with err filled. */
struct device *machine_add_ide(struct machine *m, const struct hv_config *cfg, char *err,
                               size_t errlen);
struct device *machine_add_balloon(struct machine *m, const struct hv_balloon_config *bc,
                                   char *err, size_t errlen);
struct device *machine_add_nic(struct machine *m, const struct hv_nic_config *nc, unsigned index,
                               char *err, size_t errlen);
struct device *machine_add_hostdev(struct machine *m, const struct hv_hostdev_config *hc,
                                   unsigned index, char *err, size_t errlen);
bool machine_add_platform(struct machine *m, struct chardev *console, char *err, size_t errlen);
