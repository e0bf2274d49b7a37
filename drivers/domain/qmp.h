/* Typed QMP: one function per command hvd sends to its workers, with typed
 * arguments and typed replies. This is the only code in drivers/ that
 * builds or reads QMP's JSON; drivers/domain/monitor.h below it carries
 * the messages (framing, greeting and capabilities, replies matched by id,
 * events) and knows no command.
 *
 * Shapes are QEMU 7.2's (its QAPI schema, the qapi/ schema files), which is what hv's monitor speaks.
 *
 * Every callback is called exactly once. err is NULL on success; on
 * failure error_class is the QMP class ("DeviceNotActive",
 * "CommandNotFound", ...) when the worker answered with a QMP error, NULL
 * for transport failures and for replies of the wrong shape (those are
 * VIR_ERR_INTERNAL_ERROR naming what is wrong). Reply data is borrowed. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "drivers/domain/driver.h"
#include "drivers/domain/monitor.h"

struct json_object;

/* ---- commands without a reply value */
typedef void (*HvdQmpDoneFunc)(HvdMonitor *mon, const char *error_class, const GError *err,
                               gpointer data);

/* stop / cont: pause and resume the vCPUs. */
void hvd_qmp_stop(HvdMonitor *mon, HvdQmpDoneFunc fn, gpointer data);
void hvd_qmp_cont(HvdMonitor *mon, HvdQmpDoneFunc fn, gpointer data);
/* system_powerdown: the ACPI power button. system_reset: reset the machine. */
void hvd_qmp_system_powerdown(HvdMonitor *mon, HvdQmpDoneFunc fn, gpointer data);
void hvd_qmp_system_reset(HvdMonitor *mon, HvdQmpDoneFunc fn, gpointer data);
/* balloon {"value": bytes}: the guest's new memory size. */
void hvd_qmp_balloon(HvdMonitor *mon, uint64_t bytes, HvdQmpDoneFunc fn, gpointer data);
/* qom-set of the balloon's guest-stats-polling-interval (seconds, 0 = off)
 * at QOM path qom_path. */
void hvd_qmp_balloon_set_stats_period(HvdMonitor *mon, const char *qom_path, int64_t seconds,
                                      HvdQmpDoneFunc fn, gpointer data);

/* ---- removable media (QEMU 7.2's qapi/block.json), the drive named by
 * its qdev id ("ide0-1-0").
 * eject {"id", "force"}: opens the tray and removes the medium (a tray
 * the guest locked refuses unless force).
 * blockdev-change-medium {"id", "filename", "format", "force"?}: opens
 * the tray, puts the image in read-only and closes it again. */
void hvd_qmp_eject(HvdMonitor *mon, const char *id, bool force, HvdQmpDoneFunc fn, gpointer data);
void hvd_qmp_blockdev_change_medium(HvdMonitor *mon, const char *id, const char *filename,
                                    const char *format, bool force, HvdQmpDoneFunc fn,
                                    gpointer data);

/* ---- query-status */
typedef struct {
    bool running;
    char status[32]; /* RunState: "running", "paused", "shutdown", ... */
} HvdQmpStatus;
typedef void (*HvdQmpStatusFunc)(HvdMonitor *mon, const HvdQmpStatus *status,
                                 const char *error_class, const GError *err, gpointer data);
void hvd_qmp_query_status(HvdMonitor *mon, HvdQmpStatusFunc fn, gpointer data);

/* ---- query-cpus-fast */
typedef struct {
    int64_t cpu_index;
    int64_t thread_id;
} HvdQmpCpu;
/* cpus: the entries that carry both numbers (others are left out). */
typedef void (*HvdQmpCpusFunc)(HvdMonitor *mon, const HvdQmpCpu *cpus, unsigned n,
                               const char *error_class, const GError *err, gpointer data);
void hvd_qmp_query_cpus_fast(HvdMonitor *mon, HvdQmpCpusFunc fn, gpointer data);

/* ---- query-blockstats: the counters of the entries named in names (the
 * disks' "device" or "qdev"; several are summed). nstats as
 * hvd_block_stats_from_reply. */
typedef void (*HvdQmpBlockStatsFunc)(HvdMonitor *mon, const HvdBlockStats *stats, int nstats,
                                     const char *error_class, const GError *err, gpointer data);
void hvd_qmp_query_blockstats(HvdMonitor *mon, const char *const *names, unsigned n_names,
                              HvdQmpBlockStatsFunc fn, gpointer data);
/* The reply's parser (also for tests): the counters of the entries named
 * in `names` ("device" or "qdev" of an entry; several names are summed, as
 * libvirt totals all disks for an empty path). Returns how many statistics
 * the worker reports per disk (libvirt's nstats: 4 mandatory + up to 4), or
 * -1 with err: VIR_ERR_INTERNAL_ERROR for a malformed reply, a missing
 * mandatory counter ("cannot read rd_bytes statistic") or an unknown name
 * ("cannot find statistics for device 'X'"). */
int hvd_block_stats_from_reply(struct json_object *ret, const char *const *names, unsigned n_names,
                               HvdBlockStats *out, GError **err);

/* ---- memory statistics, as libvirt's QEMU driver gathers them:
 * query-balloon ("actual"), then qom-get of the balloon's guest-stats at
 * qom_path. A worker without a balloon (DeviceNotActive) leaves actual out;
 * a QMP error for the guest stats leaves them out; both are successes.
 * stats: at most max entries, in hvd_memory_stats_from_replies' order
 * without rss. */
typedef void (*HvdQmpMemoryStatsFunc)(HvdMonitor *mon, const HvdMemoryStat *stats, unsigned n,
                                      const GError *err, gpointer data);
void hvd_qmp_memory_stats(HvdMonitor *mon, const char *qom_path, unsigned max,
                          HvdQmpMemoryStatsFunc fn, gpointer data);
/* The replies' parser (also for tests): the stats libvirt's QEMU driver
 * derives from them, in its order: actual (query-balloon's "actual",
 * bytes), then the guest's stats from qom-get guest-stats ({"stats":
 * {"stat-...": bytes or count}, "last-update": s}; values of 2^64-1 were
 * never sent by the guest and are left out), then rss when rss_kib is not
 * 0. Either reply may be NULL; members of the wrong type are skipped. At
 * most max entries; returns the count. */
unsigned hvd_memory_stats_from_replies(struct json_object *balloon_ret,
                                       struct json_object *guest_stats_ret, uint64_t rss_kib,
                                       HvdMemoryStat *out, unsigned max);

/* ---- human-monitor-command {"command-line": ...}: the HMP output ("" when
 * the reply is not a string, as libvirt passes it on). */
typedef void (*HvdQmpTextFunc)(HvdMonitor *mon, const char *text, const char *error_class,
                               const GError *err, gpointer data);
void hvd_qmp_human_monitor_command(HvdMonitor *mon, const char *command_line, HvdQmpTextFunc fn,
                                   gpointer data);

/* ---- events (qmp.md §4), typed for the driver */
typedef enum {
    HVD_QMP_EVENT_OTHER,          /* one the driver does not act on */
    HVD_QMP_EVENT_STOP,
    HVD_QMP_EVENT_RESUME,
    HVD_QMP_EVENT_SHUTDOWN,
    HVD_QMP_EVENT_RESET,
    HVD_QMP_EVENT_BALLOON_CHANGE,
} HvdQmpEventKind;

typedef struct {
    HvdQmpEventKind kind;
    bool guest;                   /* SHUTDOWN: the guest asked for it */
    bool guest_poweroff;          /* SHUTDOWN: reason "guest-shutdown" (the guest powered off) */
    uint64_t balloon_actual;      /* BALLOON_CHANGE: bytes, 0 when missing or not positive */
} HvdQmpEvent;

/* The event a worker sent (name and data as HvdMonitorEventFunc gets them). */
void hvd_qmp_event_parse(const char *name, struct json_object *data, HvdQmpEvent *out);
