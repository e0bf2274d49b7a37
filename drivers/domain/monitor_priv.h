/* What the monitor's synchronous wrappers (drivers/domain/monitor_sync.h,
 * a test-only library) need from the transport in monitor.c. Not for the
 * driver: it only ever waits asynchronously. */
#pragma once
#include <glib.h>
#include <stdbool.h>

#include "drivers/domain/monitor.h"

/* A GError in HVD_VIR_ERROR with libvirt's code and text (VIR_FROM_QEMU). */
GError *hvd_monitor_error(int code, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* A nested wait iterates priv, a context of its own: move the monitor's
 * sources there (events, replies to other commands and a close that arrive
 * meanwhile are held back) and, at the end, back to the returned context,
 * delivering what was held back from there. */
GMainContext *hvd_monitor_wait_begin(HvdMonitor *mon, GMainContext *priv);
void hvd_monitor_wait_end(HvdMonitor *mon, GMainContext *prev);
/* The command's reply completes inside the nested wait (sync_waiter), or
 * is dropped when it comes (abandoned: its waiter gave up). */
void hvd_monitor_mark(HvdMonitor *mon, guint64 serial, bool sync_waiter, bool abandoned);
/* A connect whose waiter gave up: no ready callback any more. */
void hvd_monitor_forget_ready(HvdMonitor *mon);
const char *hvd_monitor_vm_name(const HvdMonitor *mon);
