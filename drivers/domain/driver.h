/* hvd's domain driver: the domains hvd knows (persistent configs and
 * running workers), their states, lookups and lifecycle.
 *
 * A domain is a parsed definition (drivers/conf) plus live state: id, state
 * and reason, the worker process and its monitor (drivers/domain/monitor.h).
 * Persistent configs live in <state-dir>/qemu/<name>.xml; a running domain's
 * machine description, monitor socket and logs in <state-dir>/run and
 * <state-dir>/log (docs/domain-driver.md).
 *
 * This header deliberately exposes no conf or libvirt types: the RPC layer
 * (daemon/remote_domain.c) passes plain numbers through, and the numbers are
 * libvirt's own (virDomainState, reasons, flags, lifecycle events), so the
 * driver is the only place that interprets them. Errors are GErrors in the
 * HVD_VIR_ERROR domain (drivers/virerror.h): code = from * 1000 + number,
 * message already carrying libvirt's prefix.
 *
 * Single-threaded: everything runs on the daemon's GLib main loop. Slow
 * operations (start, destroy, monitor commands) are asynchronous and call
 * their HvdDomainDoneFunc exactly once. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "drivers/domain/console.h"

typedef struct _HvdDomain HvdDomain;

typedef struct {
    const char *state_dir;  /* configs, run and log directories live below */
    const char *emulator;   /* absolute path of the hv worker */
    int monitor_timeout_ms; /* start: how long to wait for the worker's monitor (0 = 30 s) */
    int destroy_grace_ms;   /* destroy: SIGTERM to SIGKILL delay (0 = 10 s, as libvirt) */
    const char *vhost_net_path; /* NULL = /dev/vhost-net (tests point it elsewhere) */
} HvdDriverConfig;

/* Load the persistent configs (files that do not parse are logged and
 * skipped) and create the directories. */
bool hvd_driver_init(const HvdDriverConfig *cfg, GError **err);
/* Forget every domain (running workers are left alone, as a stopping
 * libvirtd leaves its guests running). */
void hvd_driver_shutdown(void);

/* libvirt's virErrorNumber and virErrorDomain of an error from this
 * driver (false, and internal error, for foreign GErrors). */
bool hvd_driver_error_unpack(const GError *err, int *number, int *from);

/* Lifecycle events (virDomainEventType, detail): the RPC layer installs a
 * sink that turns them into DOMAIN_EVENT_CALLBACK_LIFECYCLE messages. */
typedef void (*HvdDomainEventFunc)(HvdDomain *dom, int event, int detail, gpointer user_data);
void hvd_driver_set_event_sink(HvdDomainEventFunc fn, gpointer user_data);
/* Other events by virDomainEventID: REBOOT (value 0; the worker's RESET)
 * and BALLOON_CHANGE (value = the balloon's new size in KiB). */
typedef void (*HvdDomainOtherEventFunc)(HvdDomain *dom, int event_id, uint64_t value,
                                        gpointer user_data);
void hvd_driver_set_other_event_sink(HvdDomainOtherEventFunc fn, gpointer user_data);

/* Start every inactive domain marked autostart (call once at daemon start,
 * after hvd_driver_init adopted the running workers, so none starts twice).
 * Returns how many starts were begun; failures are logged. */
unsigned hvd_driver_autostart(void);

/* ---- references: a HvdDomain stays valid while referenced, even after it
 * was undefined (its name and uuid remain readable). */
HvdDomain *hvd_domain_ref(HvdDomain *dom);
void hvd_domain_unref(HvdDomain *dom);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvdDomain, hvd_domain_unref)

const char *hvd_domain_name(const HvdDomain *dom);
const uint8_t *hvd_domain_uuid(const HvdDomain *dom); /* 16 bytes */
int hvd_domain_id(const HvdDomain *dom);              /* -1 when inactive */

/* ---- lookups (new references; NULL with VIR_ERR_NO_DOMAIN as libvirt's
 * QEMU driver words it) */
HvdDomain *hvd_driver_lookup_by_name(const char *name, GError **err);
HvdDomain *hvd_driver_lookup_by_uuid(const uint8_t uuid[16], GError **err);
HvdDomain *hvd_driver_lookup_by_id(int id, GError **err);
/* The domain an API call names (remote_nonnull_domain): found by uuid,
 * error "no domain with matching uuid 'U' (NAME)" otherwise. */
HvdDomain *hvd_driver_lookup_dom(const char *name, const uint8_t uuid[16], GError **err);

/* Domains matching virConnectListAllDomainsFlags (0 = all), new references,
 * active ones first by id, then inactive ones by name. NULL with
 * VIR_ERR_INVALID_ARG for unknown flags. */
GPtrArray *hvd_driver_list(unsigned flags, GError **err);
unsigned hvd_driver_count(bool active);

/* ---- definitions */
/* virDomainDefineXMLFlags: new or updated persistent config. */
HvdDomain *hvd_driver_define(const char *xml, unsigned flags, GError **err);
/* virDomainUndefineFlags. */
bool hvd_domain_undefine(HvdDomain *dom, unsigned flags, GError **err);

/* ---- queries */
typedef struct {
    int state;             /* virDomainState */
    uint64_t max_mem_kib;
    uint64_t memory_kib;
    unsigned nr_vcpus;
    uint64_t cpu_time_ns;
} HvdDomainInfo;
void hvd_domain_get_info(HvdDomain *dom, HvdDomainInfo *info);
void hvd_domain_get_state(HvdDomain *dom, int *state, int *reason);
bool hvd_domain_get_state_flags(HvdDomain *dom, unsigned flags, int *state, int *reason,
                                GError **err);
/* virDomainGetXMLDesc (flags: SECURE, INACTIVE, UPDATE_CPU, MIGRATABLE). */
char *hvd_domain_get_xml(HvdDomain *dom, unsigned flags, GError **err);
bool hvd_domain_is_active(const HvdDomain *dom);
bool hvd_domain_is_persistent(const HvdDomain *dom);
/* virDomainIsUpdated: a running persistent domain whose persistent config
 * now differs from the one it was started with. */
bool hvd_domain_is_updated(const HvdDomain *dom);
bool hvd_domain_get_autostart(const HvdDomain *dom);
bool hvd_domain_set_autostart(HvdDomain *dom, bool autostart, GError **err);
uint64_t hvd_domain_get_max_memory(const HvdDomain *dom);
/* virDomainGetVcpusFlags. */
int hvd_domain_get_vcpus(HvdDomain *dom, unsigned flags, GError **err);
/* virDomainInterfaceStats: device is the tap name ("vnet0"), the guest MAC
 * or the alias ("net0"); counters of the tap, rx/tx from the guest's view
 * (drivers/domain/interfaces.h), in the wire order: rx_bytes, rx_packets,
 * rx_errs, rx_drop, tx_bytes, tx_packets, tx_errs, tx_drop. */
bool hvd_domain_interface_stats(HvdDomain *dom, const char *device, int64_t stats[8],
                                GError **err);

/* ---- lifecycle (asynchronous) */
/* result: the monitor's reply text for hvd_domain_monitor_command, else
 * NULL. err: NULL on success. Both borrowed. */
typedef void (*HvdDomainDoneFunc)(HvdDomain *dom, const char *result, const GError *err,
                                  gpointer user_data);

/* virDomainCreateWithFlags: spawn the worker, wait for its monitor. */
void hvd_domain_start(HvdDomain *dom, unsigned flags, HvdDomainDoneFunc fn, gpointer user_data);
/* virDomainCreateXML: a transient domain, started at once. Returns the new
 * domain (the callback says whether it started) or NULL with err set when
 * the XML is refused before anything starts (no callback then). */
HvdDomain *hvd_driver_create_xml(const char *xml, unsigned flags, HvdDomainDoneFunc fn,
                                 gpointer user_data, GError **err);
/* virDomainDestroyFlags: SIGTERM, SIGKILL after the grace period; done once
 * the worker is reaped. */
void hvd_domain_destroy(HvdDomain *dom, unsigned flags, HvdDomainDoneFunc fn, gpointer user_data);
/* virDomainShutdownFlags (ACPI power button), virDomainReboot,
 * virDomainSuspend, virDomainResume: done when the worker answered.
 * Workers always run with no_shutdown (QEMU's -no-shutdown, as libvirt
 * starts QEMU): when the guest powers off the worker stops and reports
 * SHUTDOWN, and the driver decides: a reboot asked for with
 * hvd_domain_reboot (libvirt's "fake reboot": ACPI power button, then
 * system_reset + cont once the guest is off) or <on_poweroff>restart
 * continues the same worker (event REBOOT from its RESET); <on_poweroff>
 * preserve keeps it stopped; otherwise the worker is terminated and the
 * domain is shut off (shutdown). */
void hvd_domain_shutdown(HvdDomain *dom, unsigned flags, HvdDomainDoneFunc fn, gpointer user_data);
void hvd_domain_reboot(HvdDomain *dom, unsigned flags, HvdDomainDoneFunc fn, gpointer user_data);
void hvd_domain_suspend(HvdDomain *dom, HvdDomainDoneFunc fn, gpointer user_data);
void hvd_domain_resume(HvdDomain *dom, HvdDomainDoneFunc fn, gpointer user_data);
/* virDomainSetMemoryFlags (KiB; LIVE through the balloon, CONFIG in the
 * persistent config, MEM_MAXIMUM for the maximum of an inactive config). */
void hvd_domain_set_memory(HvdDomain *dom, uint64_t kib, unsigned flags, HvdDomainDoneFunc fn,
                           gpointer user_data);
/* ---- serial console (virDomainOpenConsole; drivers/domain/console.h):
 * dev_name NULL, "console0" or "serial0"; flags FORCE (take over an
 * attached session) and SAFE. A second session without FORCE fails with
 * libvirt's "operation failed: Active console session exists for this
 * domain". The client's data pointer identifies it in the calls below. */
bool hvd_domain_open_console(HvdDomain *dom, const char *dev_name, unsigned flags,
                             const HvdConsoleClientOps *ops, gpointer data, GError **err);
/* The client went away (no hangup is called for it). */
void hvd_domain_close_console(HvdDomain *dom, gpointer data);
/* Keystrokes to the guest; *taken = bytes the worker took now. */
void hvd_domain_console_input(HvdDomain *dom, const uint8_t *buf, size_t len, size_t *taken);
/* The client can take output again. */
void hvd_domain_console_resume(HvdDomain *dom);

/* virDomainQemuMonitorCommand: text passthrough; hmp = flag 1 (HMP). The
 * result is the worker's reply line (QMP) or the HMP output text. */
void hvd_domain_monitor_command(HvdDomain *dom, const char *cmd, bool hmp, HvdDomainDoneFunc fn,
                                gpointer user_data);

/* ---- block statistics (virsh domblkstat) */
/* One disk's counters as libvirt's QEMU driver keeps them (qemuBlockStats):
 * requests, bytes and nanoseconds from the worker's query-blockstats. */
typedef struct {
    int64_t rd_req, rd_bytes, wr_req, wr_bytes, flush_req;
    int64_t rd_total_times, wr_total_times, flush_total_times;
} HvdBlockStats;

/* stats: borrowed; nstats: how many statistics the worker reports per
 * disk (libvirt's nstats: 4 mandatory + up to 4); err NULL on success. */
typedef void (*HvdDomainBlockStatsFunc)(HvdDomain *dom, const HvdBlockStats *stats, int nstats,
                                        const GError *err, gpointer user_data);
/* virDomainBlockStats(Flags): path = target ("vda") or source path of a
 * disk, "" for all disks; unknown: libvirt's "invalid argument: invalid
 * path: X"; an inactive domain: "domain is not running". */
void hvd_domain_block_stats(HvdDomain *dom, const char *path, HvdDomainBlockStatsFunc fn,
                            gpointer user_data);

/* ---- memory statistics (virsh dommemstat) */
/* One virDomainMemoryStatStruct: tag = virDomainMemoryStatTags (0 swap_in
 * ... 6 actual, 7 rss, 9 last_update, ... 12 hugetlb_pgfail), sizes in
 * KiB, faults as counts, last_update in epoch seconds. */
typedef struct {
    int tag;
    uint64_t val;
} HvdMemoryStat;
#define HVD_MEMORY_STAT_NR 13 /* VIR_DOMAIN_MEMORY_STAT_NR */

/* stats: borrowed, n entries (n <= the max asked for); err NULL on success. */
typedef void (*HvdDomainMemoryStatsFunc)(HvdDomain *dom, const HvdMemoryStat *stats, unsigned n,
                                         const GError *err, gpointer user_data);
/* virDomainMemoryStats (flags must be 0): through the worker's monitor
 * (query-balloon, qom-get guest-stats) plus the worker's RSS from
 * /proc/PID/stat; a domain without a balloon reports only rss. */
void hvd_domain_memory_stats(HvdDomain *dom, unsigned max, unsigned flags,
                             HvdDomainMemoryStatsFunc fn, gpointer user_data);
/* virDomainSetMemoryStatsPeriod (seconds, 0 = off; flags LIVE, CONFIG):
 * LIVE through qom-set guest-stats-polling-interval, CONFIG in the
 * persistent <memballoon><stats period/>. */
void hvd_domain_set_memory_stats_period(HvdDomain *dom, int period, unsigned flags,
                                        HvdDomainDoneFunc fn, gpointer user_data);

/* ---- vCPUs of a running domain (virDomainGetVcpus, virsh vcpuinfo) */
typedef struct {
    unsigned number;      /* vCPU index */
    int state;            /* virVcpuState: 1 running */
    uint64_t cpu_time_ns; /* user + system time of the vCPU thread */
    int cpu;              /* host CPU the thread last ran on, -1 unknown */
    int tid;              /* the worker's vCPU thread, 0 unknown */
} HvdVcpuInfo;

/* One /proc/PID/task/TID/stat line -> utime+stime in ns and the
 * "processor" field (proc(5) fields 14, 15 and 39). False when the text
 * does not have them. */
bool hvd_vcpu_stat_parse(const char *stat_text, uint64_t *cpu_time_ns, int *processor);

/* info: borrowed, n entries (at most the max asked for); err NULL on success. */
typedef void (*HvdDomainVcpusFunc)(HvdDomain *dom, const HvdVcpuInfo *info, unsigned n,
                                   const GError *err, gpointer user_data);
/* qemuDomainGetVcpus: the vCPU threads from the worker's query-cpus-fast,
 * their times and CPUs from /proc. An inactive domain: "cannot list vcpus
 * for an inactive domain" (VIR_ERR_OPERATION_INVALID). */
void hvd_domain_get_vcpu_info(HvdDomain *dom, unsigned max, HvdDomainVcpusFunc fn,
                              gpointer user_data);

/* ---- devices (virDomainAttachDeviceFlags, virDomainDetachDeviceFlags)
 * flags: VIR_DOMAIN_AFFECT_LIVE, AFFECT_CONFIG, 0 = current (live when
 * running, else config). CONFIG changes the persistent definition (a
 * running domain's takes effect at its next start, and IsUpdated turns
 * true); LIVE is refused (the worker has no hotplug): "Operation not
 * supported: live attach of device 'disk' is not supported". */
bool hvd_domain_attach_device(HvdDomain *dom, const char *xml, unsigned flags, GError **err);
bool hvd_domain_detach_device(HvdDomain *dom, const char *xml, unsigned flags, GError **err);
/* virDomainUpdateDeviceFlags (virsh change-media): flags AFFECT_LIVE,
 * AFFECT_CONFIG, DEVICE_MODIFY_FORCE. CONFIG replaces the disk of the
 * device's target in the persistent definition; LIVE changes a cdrom's
 * medium through the worker (eject when the XML has no source,
 * blockdev-change-medium otherwise, force as asked), then the live
 * definition; other changes get libvirt's refusals ("disk source can be
 * changed only in removable drives", "cannot modify field 'bus' of the
 * disk", "live update of device 'net' is not supported"). */
void hvd_domain_update_device(HvdDomain *dom, const char *xml, unsigned flags,
                              HvdDomainDoneFunc fn, gpointer user_data);
