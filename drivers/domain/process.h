/* The worker side of a running domain: the machine description hv reads
 * (hv/config.c documents its keys), spawning hv with its output in the
 * domain's log file, and what /proc tells about the process.
 *
 * Knows the domain model and hv's JSON keys, nothing of domain states. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "drivers/conf/domain_conf.h"
#include "drivers/domain/interfaces.h"

/* Where one running domain's files are. */
typedef struct {
    char *json;        /* <run>/<name>.json: machine description */
    char *monitor;     /* <run>/<name>.monitor: QMP socket */
    char *log;         /* <log>/<name>.log: hv's stdout and stderr */
    char *console_log; /* <log>/<name>.console.log: the guest's serial console */
    char *console;     /* <run>/<name>.console: the worker's serial socket (hvd connects),
                        * NULL when that path is too long for a unix socket */
} HvdProcessPaths;

HvdProcessPaths *hvd_process_paths_new(const char *run_dir, const char *log_dir, const char *name);
void hvd_process_paths_free(HvdProcessPaths *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvdProcessPaths, hvd_process_paths_free)

/* hv's machine description for def (a JSON object text), or NULL with
 * VIR_ERR_CONFIG_UNSUPPORTED naming what the worker cannot run yet. ifs:
 * the interfaces' host side (hvd_interfaces_open), NULL when def has none;
 * "nics" name the fd numbers the worker inherits. */
char *hvd_process_machine_json(const DomainDef *def, const HvdProcessPaths *paths,
                               const HvdInterfaces *ifs, GError **err);

/* Write the description, append a start line to the log and spawn
 * `EMULATOR --config JSON` with stdin from /dev/null and stdout/stderr
 * appended to the log; the fds of ifs (may be NULL) are inherited at their
 * child numbers, nothing else. The child is not reaped: watch it with
 * g_child_watch_add(). */
bool hvd_process_spawn(const char *emulator, const HvdProcessPaths *paths, const char *json,
                       const HvdInterfaces *ifs, GPid *pid, GError **err);

/* Append one line "<timestamp>: text" to a log file (best effort). */
void hvd_process_log_line(const char *log_path, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* The last lines of a log file (at most max_bytes, whole lines), for error
 * messages; "" when there is nothing. */
char *hvd_process_log_tail(const char *log_path, gsize max_bytes);

/* User plus system CPU time of a process in nanoseconds (0 if unknown). */
uint64_t hvd_process_cpu_time_ns(GPid pid);
