/* The worker's NICs: creates the e1000 and virtio-net devices of the
 * config (hv/config.h "nics", --nic) and serves their monitor commands:
 *   set_link {"name", "up"}            QEMU's shape; DeviceNotFound for unknown ids
 *   query-rx-filter {"name"?}          virtio-net NICs (the receive filter the driver set;
 *                                      re-arms NIC_RX_FILTER_CHANGED for them)
 *   x-hvd-query-netstats {"name"?}     the worker's per-NIC counters (net.h semantics;
 *                                      with vhost-net the kernel moves the data, so
 *                                      hvd reads the tap's counters for domifstat)
 *   HMP: info network, set_link NAME on|off
 * See docs/monitor.md. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

struct vm;
struct monitor;
struct hv_config;

/* Create every NIC of cfg in order (PCI slots after the disks). false
 * with err naming the NIC on failure. */
bool hv_nics_create(struct vm *vm, const struct hv_config *cfg, char *err, size_t errlen);

/* Register the monitor commands above. 0 or -ENOMEM. */
int hv_nics_attach_monitor(struct monitor *mon);

/* Stop the NICs' threads and close their backends (worker exit). */
void hv_nics_destroy(void);
