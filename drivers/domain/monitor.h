/* The daemon's QMP client: one HvdMonitor per running domain, talking to
 * that domain's hv worker over its monitor socket (hv/monitor/, protocol in
 * QEMU's docs/interop/qmp-spec.rst, notes in docs/daemon-monitor.md).
 *
 * Everything runs on a GLib main context (the daemon's main loop): connect
 * with retry until a deadline, greeting, qmp_capabilities, then commands
 * whose replies are matched by the "id" we generate. Events and the end of
 * the connection are reported through callbacks, so the driver notices a
 * crashed worker at once.
 *
 * Errors are GErrors in the HVD_VIR_ERROR domain (drivers/virerror.h) with
 * libvirt's codes and texts:
 *  - QMP error reply to an internal command: VIR_ERR_INTERNAL_ERROR,
 *    "internal error: unable to execute QEMU command 'NAME': DESC" (what
 *    libvirt's QEMU driver reports); the QMP class ("GenericError",
 *    "CommandNotFound", "DeviceNotActive", ...) is passed beside the GError
 *    (reply callback).
 *  - end of file from the worker: VIR_ERR_INTERNAL_ERROR,
 *    "internal error: End of file from qemu monitor (vm='NAME')".
 *  - garbage from the worker (malformed JSON, oversized line, a reply of
 *    the wrong shape): VIR_ERR_INTERNAL_ERROR naming the problem; the
 *    connection is dropped, it is never trusted again.
 *  - no reply in time: VIR_ERR_OPERATION_TIMEOUT.
 *  - command on a closed monitor: VIR_ERR_OPERATION_INVALID.
 * All with domain VIR_FROM_QEMU.
 *
 * Not thread-safe: use a monitor from the thread that runs its context. */
#pragma once
#include <glib.h>
#include <json-c/json.h>
#include <stdbool.h>

typedef struct _HvdMonitor HvdMonitor;

/* An asynchronous event, e.g. "SHUTDOWN" with data {"guest": true,
 * "reason": "guest-shutdown"}. data is NULL for events without members
 * (STOP, RESUME, POWERDOWN); it is borrowed (take a json_object_get() to
 * keep it). seconds/micros: the worker's wall-clock stamp, -1 if absent. */
typedef void (*HvdMonitorEventFunc)(HvdMonitor *mon, const char *event, struct json_object *data,
                                    gint64 seconds, gint64 micros, gpointer user_data);

/* The connection ended after it was ready: EOF (worker exited or crashed),
 * a socket error, or a protocol violation by the worker. Called once, after
 * every pending command got its error. Not called for hvd_monitor_close(). */
typedef void (*HvdMonitorClosedFunc)(HvdMonitor *mon, const GError *reason, gpointer user_data);

/* Connect finished: err is NULL when the monitor is ready for commands. */
typedef void (*HvdMonitorReadyFunc)(HvdMonitor *mon, const GError *err, gpointer user_data);

/* Reply to a command. On success ret is the "return" value (borrowed) and
 * err NULL. On failure err is set; error_class is the QMP class when the
 * worker answered with a QMP error, NULL for transport failures. */
typedef void (*HvdMonitorReplyFunc)(HvdMonitor *mon, struct json_object *ret,
                                    const char *error_class, const GError *err,
                                    gpointer user_data);

/* Reply to a raw passthrough: the reply object re-serialised compactly
 * ({"return":...,"id":"libvirt-N"} or {"id":...,"error":{...}}), exactly
 * what `virsh qemu-monitor-command` prints. A QMP error is a successful
 * reply here (libvirt: RPC success). err only for transport failures. */
typedef void (*HvdMonitorRawFunc)(HvdMonitor *mon, const char *reply, const GError *err,
                                  gpointer user_data);

/* A monitor for the socket at path, for domain vm_name (used in messages).
 * ctx: the context to run on (NULL = the thread-default one). Does not
 * connect yet. */
HvdMonitor *hvd_monitor_new(const char *path, const char *vm_name, GMainContext *ctx);
HvdMonitor *hvd_monitor_ref(HvdMonitor *mon);
/* The last unref closes the connection (like hvd_monitor_close). */
void hvd_monitor_unref(HvdMonitor *mon);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvdMonitor, hvd_monitor_unref)

void hvd_monitor_set_event_handler(HvdMonitor *mon, HvdMonitorEventFunc fn, gpointer user_data);
void hvd_monitor_set_closed_handler(HvdMonitor *mon, HvdMonitorClosedFunc fn, gpointer user_data);

/* Connect, retrying while the socket does not exist yet or refuses (a
 * freshly spawned worker creates it a moment later), read the greeting and
 * negotiate capabilities, all within timeout_ms. Exactly one callback. */
void hvd_monitor_connect(HvdMonitor *mon, int timeout_ms, HvdMonitorReadyFunc fn,
                         gpointer user_data);
bool hvd_monitor_is_ready(const HvdMonitor *mon);
/* The greeting object {"QMP": {...}} (borrowed), NULL before it arrived. */
struct json_object *hvd_monitor_greeting(const HvdMonitor *mon);

/* Send {"execute": cmd, "arguments": args, "id": "libvirt-N"}. args: a JSON
 * object or NULL (borrowed; a reference is taken). Commands issued while
 * connecting are queued until negotiation is done. The callback is always
 * called exactly once, possibly before this returns (closed monitor, bad
 * arguments). Returns the command's serial number (> 0). */
guint64 hvd_monitor_command(HvdMonitor *mon, const char *cmd, struct json_object *args,
                            HvdMonitorReplyFunc fn, gpointer user_data);

/* Raw passthrough for `virsh qemu-monitor-command`: text must be a JSON
 * object (any "id" in it is replaced by ours, as libvirt does). */
guint64 hvd_monitor_command_raw(HvdMonitor *mon, const char *text, HvdMonitorRawFunc fn,
                                gpointer user_data);

/* Drop the connection; pending commands fail with VIR_ERR_OPERATION_FAILED
 * and the closed handler is not called. Safe from callbacks. */
void hvd_monitor_close(HvdMonitor *mon);

/* Limits: the longest line accepted from the worker, and the id prefix. */
#define HVD_MONITOR_MAX_LINE (8u * 1024 * 1024)
#define HVD_MONITOR_ID_PREFIX "libvirt-"
