/* The monitor commands of each device family, one file each, finding
 * their devices in the machine (hv/machine.h) when a command runs.
 * QEMU 7.2 shapes (its QAPI schema, the qapi/ schema files); see docs/monitor.md.
 *
 *   block.c    query-block, query-blockstats, HMP info block: every device
 *              with the block family ops (virtio-blk, IDE drives)
 *   net.c      set_link {"name", "up"} (DeviceNotFound for unknown ids),
 *              query-rx-filter {"name"?} (virtio-net NICs; re-arms
 *              NIC_RX_FILTER_CHANGED for them), x-hvd-query-netstats
 *              {"name"?} (the worker's per-NIC counters; with vhost-net the
 *              kernel moves the data, so hvd reads the tap's counters for
 *              domifstat), HMP info network and set_link NAME on|off: every
 *              device with the NIC family ops
 *   balloon.c  balloon, query-balloon, qom-get / qom-set on
 *              /machine/peripheral/<id> (guest-stats,
 *              guest-stats-polling-interval), HMP info balloon and balloon
 *              N, event BALLOON_CHANGE; without a balloon QEMU's
 *              DeviceNotActive "No balloon device has been activated"
 *              (qom-get/qom-set: DeviceNotFound)
 *   media.c    eject, blockdev-open-tray, blockdev-close-tray,
 *              blockdev-change-medium {device|id, ...} on the IDE drives
 *              (DeviceNotFound for other ids), event DEVICE_TRAY_MOVED
 *
 * Each registers its commands on mon (replacing any of the same name) and
 * returns 0 or -ENOMEM. Main thread. */
#pragma once

struct machine;
struct monitor;

int monitor_block_register(struct monitor *mon, struct machine *m);
int monitor_net_register(struct monitor *mon, struct machine *m);
int monitor_balloon_register(struct monitor *mon, struct machine *m);
int monitor_media_register(struct monitor *mon, struct machine *m);
