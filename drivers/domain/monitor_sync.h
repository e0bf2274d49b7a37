/* Synchronous wrappers around the monitor client (drivers/domain/monitor.h),
 * for tests and tools only: the daemon never blocks on a worker. Built into
 * a library only check programs link (drivers/domain/domain.mk).
 *
 * Each call sends, then iterates a private nested main context (onto which
 * the monitor's own sources are moved meanwhile) until the reply arrives or
 * timeout_ms passes. Other sources of the caller's context do not run, and
 * events or a close that arrive meanwhile are delivered from the monitor's
 * context afterwards, so handlers are never re-entered. On timeout the late
 * reply is discarded when it comes. */
#pragma once
#include <glib.h>
#include <json-c/json.h>
#include <stdbool.h>

#include "drivers/domain/monitor.h"

/* hvd_monitor_connect, waiting for the result. */
bool hvd_monitor_connect_sync(HvdMonitor *mon, int timeout_ms, GError **err);

/* The "return" value (a new reference: json_object_put() it), or NULL with
 * err set; hvd_monitor_last_error_class() then gives the QMP class. */
struct json_object *hvd_monitor_command_sync(HvdMonitor *mon, const char *cmd,
                                             struct json_object *args, int timeout_ms,
                                             GError **err);
char *hvd_monitor_command_raw_sync(HvdMonitor *mon, const char *text, int timeout_ms,
                                   GError **err);
/* HMP through human-monitor-command: the output text ("" when none). */
char *hvd_monitor_hmp_sync(HvdMonitor *mon, const char *command_line, int timeout_ms,
                           GError **err);

/* QMP class of the last failed synchronous command on mon, NULL if it was
 * not a QMP error (or the last one succeeded). Valid until the next call. */
const char *hvd_monitor_last_error_class(const HvdMonitor *mon);
