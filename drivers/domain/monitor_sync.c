/* Synchronous wrappers around the monitor client, for tests and tools
 * (drivers/domain/monitor_sync.h); the transport hooks they use are in
 * monitor_priv.h. */
#include "drivers/domain/monitor_sync.h"

#include "drivers/domain/monitor_priv.h"
#include "drivers/virerror.h"

/* The class of the last failed synchronous command, and its monitor. */
static const HvdMonitor *last_error_mon;
static char *last_error_class;

static void set_last_error_class(const HvdMonitor *mon, char *error_class)
{
    g_free(last_error_class);
    last_error_class = error_class;
    last_error_mon = mon;
}

const char *hvd_monitor_last_error_class(const HvdMonitor *mon)
{
    return mon == last_error_mon ? last_error_class : NULL;
}

static gboolean on_wait_timeout(gpointer data)
{
    *(bool *)data = true;
    return G_SOURCE_REMOVE;
}

/* Iterate a private context holding only this monitor's sources until
 * *done or timeout_ms. Returns *done. */
static bool wait_for(HvdMonitor *mon, const bool *done, int timeout_ms)
{
    if (*done)
        return true;
    hvd_monitor_ref(mon);
    GMainContext *priv = g_main_context_new();
    g_main_context_push_thread_default(priv);
    GMainContext *prev = hvd_monitor_wait_begin(mon, priv);

    bool timed_out = false;
    GSource *timer = g_timeout_source_new(MAX(timeout_ms, 0));
    g_source_set_callback(timer, on_wait_timeout, &timed_out, NULL);
    g_source_attach(timer, priv);
    while (!*done && !timed_out)
        g_main_context_iteration(priv, TRUE);
    g_source_destroy(timer);
    g_source_unref(timer);

    hvd_monitor_wait_end(mon, prev);
    g_main_context_pop_thread_default(priv);
    g_main_context_unref(priv);
    bool ok = *done;
    hvd_monitor_unref(mon);
    return ok;
}

/* Mark the command's reply as unwanted after a timeout. */
static GError *abandon(HvdMonitor *mon, guint64 serial, const char *what, int timeout_ms)
{
    hvd_monitor_mark(mon, serial, false, true);
    return hvd_monitor_error(VIR_ERR_OPERATION_TIMEOUT,
                             "no reply from the monitor of domain '%s' to '%s' within %d ms",
                             hvd_monitor_vm_name(mon), what, timeout_ms);
}

typedef struct {
    bool done;
    GError *err;
    struct json_object *ret;
    char *text;
    char *error_class;
} SyncWait;

static void sync_connect_cb(HvdMonitor *mon, const GError *err, gpointer data)
{
    SyncWait *w = data;
    w->done = true;
    if (err)
        w->err = g_error_copy(err);
}

bool hvd_monitor_connect_sync(HvdMonitor *mon, int timeout_ms, GError **err)
{
    SyncWait w = { 0 };
    hvd_monitor_connect(mon, timeout_ms, sync_connect_cb, &w);
    /* The connect deadline fires inside the wait; the margin only guards
     * against a clock that never fires. */
    if (!wait_for(mon, &w.done, timeout_ms + 1000)) {
        hvd_monitor_forget_ready(mon);
        hvd_monitor_close(mon);
        g_propagate_error(err, hvd_monitor_error(VIR_ERR_OPERATION_TIMEOUT,
                                         "cannot connect to the monitor of domain '%s'",
                                         hvd_monitor_vm_name(mon)));
        return false;
    }
    if (w.err) {
        g_propagate_error(err, w.err);
        return false;
    }
    return true;
}

static void sync_reply_cb(HvdMonitor *mon, struct json_object *ret, const char *error_class,
                          const GError *err, gpointer data)
{
    SyncWait *w = data;
    w->done = true;
    if (err) {
        w->err = g_error_copy(err);
        w->error_class = g_strdup(error_class);
    } else {
        w->ret = json_object_get(ret);
        if (!w->ret)   /* a JSON null return */
            w->ret = json_object_new_null();
    }
}

static void sync_raw_cb(HvdMonitor *mon, const char *reply, const GError *err, gpointer data)
{
    SyncWait *w = data;
    w->done = true;
    if (err)
        w->err = g_error_copy(err);
    else
        w->text = g_strdup(reply);
}

struct json_object *hvd_monitor_command_sync(HvdMonitor *mon, const char *cmd,
                                             struct json_object *args, int timeout_ms,
                                             GError **err)
{
    SyncWait w = { 0 };
    set_last_error_class(mon, NULL);
    guint64 serial = hvd_monitor_command(mon, cmd, args, sync_reply_cb, &w);
    hvd_monitor_mark(mon, serial, true, false);
    if (!wait_for(mon, &w.done, timeout_ms)) {
        g_propagate_error(err, abandon(mon, serial, cmd, timeout_ms));
        return NULL;
    }
    if (w.err) {
        set_last_error_class(mon, w.error_class);
        g_propagate_error(err, w.err);
        return NULL;
    }
    return w.ret;
}

char *hvd_monitor_command_raw_sync(HvdMonitor *mon, const char *text, int timeout_ms,
                                   GError **err)
{
    SyncWait w = { 0 };
    set_last_error_class(mon, NULL);
    guint64 serial = hvd_monitor_command_raw(mon, text, sync_raw_cb, &w);
    hvd_monitor_mark(mon, serial, true, false);
    if (!wait_for(mon, &w.done, timeout_ms)) {
        g_propagate_error(err, abandon(mon, serial, "raw command", timeout_ms));
        return NULL;
    }
    if (w.err) {
        g_propagate_error(err, w.err);
        return NULL;
    }
    return w.text;
}

char *hvd_monitor_hmp_sync(HvdMonitor *mon, const char *command_line, int timeout_ms,
                           GError **err)
{
    /* qmp.md §5 human-monitor-command: {"command-line": ...} returns the
     * output as one string; HMP errors are text, not QMP errors. */
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "command-line",
                           json_object_new_string(command_line ? command_line : ""));
    struct json_object *ret = hvd_monitor_command_sync(mon, "human-monitor-command", args,
                                                       timeout_ms, err);
    json_object_put(args);
    if (!ret)
        return NULL;
    if (!json_object_is_type(ret, json_type_string)) {
        json_object_put(ret);
        g_propagate_error(err, hvd_monitor_error(VIR_ERR_INTERNAL_ERROR,
                                         "human-monitor-command of domain '%s' did not return "
                                         "a string", hvd_monitor_vm_name(mon)));
        return NULL;
    }
    char *text = g_strdup(json_object_get_string(ret));
    json_object_put(ret);
    return text;
}
