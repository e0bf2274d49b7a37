/* QMP client of the daemon: see monitor.h and docs/daemon-monitor.md.
 * Protocol facts: QEMU's docs/interop/qmp-spec.rst. */
#include "config.h"

#include "drivers/domain/monitor.h"
#include "drivers/domain/monitor_priv.h"

#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "drivers/virerror.h"

/* How often a not-yet-listening socket is retried while connecting. */
#define CONNECT_RETRY_MS 10
/* Worker replies are at most a few levels deep (query-pci, query-block);
 * 64 leaves room without letting a hostile worker recurse deeply. */
#define REPLY_MAX_DEPTH 64
#define READ_CHUNK 65536

enum mon_state {
    MON_IDLE,          /* created, connect not called */
    MON_CONNECTING,    /* socket not there yet: retrying */
    MON_GREETING,      /* connected, waiting for {"QMP": ...} (qmp.md §1.1) */
    MON_NEGOTIATING,   /* qmp_capabilities sent (qmp.md §2) */
    MON_READY,         /* command mode */
    MON_CLOSED,
};

typedef enum {
    PENDING_CAPABILITIES,   /* our own qmp_capabilities */
    PENDING_JSON,
    PENDING_RAW,
} PendingKind;

typedef struct {
    guint64 serial;
    char *id;               /* "libvirt-N", sent as the command's "id" */
    char *cmd_name;         /* for error messages */
    char *text;             /* serialised command, until it is sent */
    PendingKind kind;
    bool sent;
    bool abandoned;         /* its sync waiter timed out: drop the reply */
    bool sync_waiter;       /* completes inside a nested wait */
    HvdMonitorReplyFunc json_fn;
    HvdMonitorRawFunc raw_fn;
    gpointer user_data;
} Pending;

typedef enum { DEFER_EVENT, DEFER_REPLY, DEFER_CLOSED } DeferKind;

/* Something that arrived during a synchronous wait and is handed to the
 * daemon's context afterwards, so no handler runs inside a nested loop. */
typedef struct {
    DeferKind kind;
    char *event;
    struct json_object *obj;      /* event data or reply object */
    gint64 seconds, micros;
    Pending *pending;
    GError *err;
} Deferred;

struct _HvdMonitor {
    int refs;
    char *path;
    char *vm_name;
    GMainContext *ctx;            /* the context the monitor belongs to */
    GMainContext *io_ctx;         /* where its sources are attached now */
    int fd;
    enum mon_state state;
    GString *in;
    size_t in_scanned;            /* leading bytes of `in` known to hold no '\n' */
    GString *out;
    GQueue pending;               /* Pending*, in the order issued */
    guint64 next_serial;
    struct json_object *greeting;

    gint64 connect_deadline;      /* monotonic µs; 0 = none */
    gint64 retry_at;              /* monotonic µs; 0 = none */
    int connect_timeout_ms;
    int last_connect_errno;
    HvdMonitorReadyFunc ready_fn;
    gpointer ready_data;

    HvdMonitorEventFunc event_fn;
    gpointer event_data;
    HvdMonitorClosedFunc closed_fn;
    gpointer closed_data;

    GSource *read_src, *write_src, *retry_src, *deadline_src, *deferred_src;
    int sync_depth;
    GQueue deferred;              /* Deferred* */
};

static void update_sources(HvdMonitor *mon);

/* ------------------------------------------------------------------ */
/* Errors                                                              */

GError *hvd_monitor_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *detail = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* virerror.h has no template for OPERATION_TIMEOUT yet; libvirt's is
     * "Timed out during operation: %s". */
    const char *extra = "";
    if (code == VIR_ERR_OPERATION_TIMEOUT && !*hvd_vir_error_prefix(code))
        extra = "Timed out during operation: ";
    GError *err = NULL;
    hvd_vir_error_set(&err, VIR_FROM_QEMU, code, "%s%s", extra, detail);
    return err;
}

/* A short printable excerpt of hostile input for an error message:
 * control and non-ASCII bytes become \xNN, NUL bytes included. */
static char *excerpt(const char *data, size_t len)
{
    size_t n = MIN(len, (size_t)80);
    GString *s = g_string_sized_new(n + 8);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c >= 0x20 && c < 0x7f)
            g_string_append_c(s, (char)c);
        else
            g_string_append_printf(s, "\\x%02x", c);
    }
    if (len > n)
        g_string_append(s, "...");
    return g_string_free(s, FALSE);
}

static char *json_excerpt(struct json_object *obj)
{
    const char *text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
    return excerpt(text, strlen(text));
}

/* ------------------------------------------------------------------ */
/* Pending commands                                                    */

static void pending_free(Pending *p)
{
    if (!p)
        return;
    g_free(p->id);
    g_free(p->cmd_name);
    g_free(p->text);
    g_free(p);
}

static void deferred_free(Deferred *d)
{
    g_free(d->event);
    if (d->obj)
        json_object_put(d->obj);
    pending_free(d->pending);
    g_clear_error(&d->err);
    g_free(d);
}

static gboolean deliver_deferred(gpointer data);

static void schedule_deferred(HvdMonitor *mon)
{
    if (mon->deferred_src || g_queue_is_empty(&mon->deferred) || mon->sync_depth > 0)
        return;
    mon->deferred_src = g_idle_source_new();
    g_source_set_callback(mon->deferred_src, deliver_deferred, hvd_monitor_ref(mon),
                          (GDestroyNotify)hvd_monitor_unref);
    g_source_attach(mon->deferred_src, mon->ctx);
}

/* Map a QMP reply to the command's callback. reply: the whole reply
 * object, or NULL with transport_err set. */
static void complete_now(HvdMonitor *mon, Pending *p, struct json_object *reply,
                         const GError *transport_err)
{
    if (p->abandoned)
        return;
    if (p->kind == PENDING_RAW) {
        if (!reply) {
            p->raw_fn(mon, NULL, transport_err, p->user_data);
            return;
        }
        /* libvirt hands back the reply re-serialised compactly (trace 32). */
        const char *text = json_object_to_json_string_ext(
            reply, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        p->raw_fn(mon, text, NULL, p->user_data);
        return;
    }
    if (!reply) {
        p->json_fn(mon, NULL, NULL, transport_err, p->user_data);
        return;
    }
    struct json_object *ret, *error;
    if (json_object_object_get_ex(reply, "return", &ret)) {
        p->json_fn(mon, ret, NULL, NULL, p->user_data);
        return;
    }
    /* qmp.md §3: {"error": {"class": ..., "desc": ...}}; libvirt reports
     * "unable to execute QEMU command 'NAME': DESC" as an internal error. */
    json_object_object_get_ex(reply, "error", &error);
    struct json_object *cls = NULL, *desc = NULL;
    if (json_object_is_type(error, json_type_object)) {
        json_object_object_get_ex(error, "class", &cls);
        json_object_object_get_ex(error, "desc", &desc);
    }
    const char *cls_s = json_object_is_type(cls, json_type_string) ? json_object_get_string(cls)
                                                                    : "GenericError";
    const char *desc_s = json_object_is_type(desc, json_type_string) ? json_object_get_string(desc)
                                                                      : cls_s;
    g_autoptr(GError) err = hvd_monitor_error(VIR_ERR_INTERNAL_ERROR,
                                      "unable to execute QEMU command '%s': %s", p->cmd_name,
                                      desc_s);
    p->json_fn(mon, NULL, cls_s, err, p->user_data);
}

/* Complete p (which the caller has taken out of the queue), now or, during
 * someone else's synchronous wait, later from the monitor's context. */
static void complete(HvdMonitor *mon, Pending *p, struct json_object *reply,
                     const GError *transport_err)
{
    if (mon->sync_depth > 0 && !p->sync_waiter && !p->abandoned) {
        Deferred *d = g_new0(Deferred, 1);
        d->kind = DEFER_REPLY;
        d->pending = p;
        d->obj = reply ? json_object_get(reply) : NULL;
        d->err = transport_err ? g_error_copy(transport_err) : NULL;
        g_queue_push_tail(&mon->deferred, d);
        return;
    }
    complete_now(mon, p, reply, transport_err);
    pending_free(p);
}

static void fail_all_pending(HvdMonitor *mon, const GError *err)
{
    Pending *p;
    while ((p = g_queue_pop_head(&mon->pending))) {
        if (p->kind == PENDING_CAPABILITIES) {
            pending_free(p);
            continue;
        }
        complete(mon, p, NULL, err);
    }
}

/* ------------------------------------------------------------------ */
/* Connection teardown                                                 */

static void destroy_source(GSource **src)
{
    if (*src) {
        g_source_destroy(*src);
        g_source_unref(*src);
        *src = NULL;
    }
}

static void close_socket(HvdMonitor *mon)
{
    destroy_source(&mon->read_src);
    destroy_source(&mon->write_src);
    destroy_source(&mon->retry_src);
    destroy_source(&mon->deadline_src);
    if (mon->fd >= 0) {
        close(mon->fd);
        mon->fd = -1;
    }
    mon->retry_at = 0;
    mon->connect_deadline = 0;
    g_string_truncate(mon->in, 0);
    mon->in_scanned = 0;
    g_string_truncate(mon->out, 0);
    mon->state = MON_CLOSED;
}

/* The connect attempt failed: one ready callback, pending commands fail. */
static void fail_connect(HvdMonitor *mon, GError *err)
{
    HvdMonitorReadyFunc fn = mon->ready_fn;
    gpointer data = mon->ready_data;
    mon->ready_fn = NULL;
    close_socket(mon);
    log_warn("monitor %s: %s", mon->vm_name, err->message);
    fail_all_pending(mon, err);
    if (fn)
        fn(mon, err, data);
    g_error_free(err);
}

/* The worker went away or misbehaved: drop everything, tell the driver. */
static void fatal(HvdMonitor *mon, GError *err)
{
    if (mon->state == MON_CLOSED) {
        g_error_free(err);
        return;
    }
    if (mon->state != MON_READY) {
        fail_connect(mon, err);
        return;
    }
    close_socket(mon);
    log_warn("monitor %s: %s", mon->vm_name, err->message);
    fail_all_pending(mon, err);
    if (mon->closed_fn) {
        if (mon->sync_depth > 0) {
            Deferred *d = g_new0(Deferred, 1);
            d->kind = DEFER_CLOSED;
            d->err = err;
            g_queue_push_tail(&mon->deferred, d);
            return;
        }
        mon->closed_fn(mon, err, mon->closed_data);
    }
    g_error_free(err);
}

/* ------------------------------------------------------------------ */
/* Output                                                              */

static void queue_text(HvdMonitor *mon, const char *text)
{
    g_string_append(mon->out, text);
    /* Newlines are whitespace to the server's lexer (qmp.md §1); CRLF
     * keeps transcripts readable. */
    g_string_append(mon->out, "\r\n");
}

/* Move commands issued before negotiation to the output, in order. */
static void send_ready_commands(HvdMonitor *mon)
{
    for (GList *l = mon->pending.head; l; l = l->next) {
        Pending *p = l->data;
        if (p->sent)
            continue;
        if (mon->state != MON_READY && p->kind != PENDING_CAPABILITIES)
            continue;
        queue_text(mon, p->text);
        g_clear_pointer(&p->text, g_free);
        p->sent = true;
    }
    update_sources(mon);
}

static gboolean on_writable(int fd, GIOCondition cond, gpointer data)
{
    HvdMonitor *mon = data;
    while (mon->out->len > 0) {
        ssize_t n = send(mon->fd, mon->out->str, mon->out->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return G_SOURCE_CONTINUE;
        if (n < 0) {
            int e = errno;
            hvd_monitor_ref(mon);
            fatal(mon, hvd_monitor_error(VIR_ERR_INTERNAL_ERROR,
                                 "cannot write to the monitor of domain '%s': %s", mon->vm_name,
                                 g_strerror(e)));
            hvd_monitor_unref(mon);
            return G_SOURCE_CONTINUE;
        }
        g_string_erase(mon->out, 0, n);
    }
    destroy_source(&mon->write_src);
    return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------------ */
/* Input                                                               */

static Pending *next_id(HvdMonitor *mon, PendingKind kind, const char *cmd_name)
{
    Pending *p = g_new0(Pending, 1);
    p->serial = ++mon->next_serial;
    p->id = g_strdup_printf(HVD_MONITOR_ID_PREFIX "%" G_GUINT64_FORMAT, p->serial);
    p->cmd_name = g_strdup(cmd_name);
    p->kind = kind;
    return p;
}

static void send_capabilities(HvdMonitor *mon)
{
    Pending *p = next_id(mon, PENDING_CAPABILITIES, "qmp_capabilities");
    struct json_object *cmd = json_object_new_object();
    json_object_object_add(cmd, "execute", json_object_new_string("qmp_capabilities"));
    json_object_object_add(cmd, "id", json_object_new_string(p->id));
    p->text = g_strdup(json_object_to_json_string_ext(cmd, JSON_C_TO_STRING_PLAIN));
    json_object_put(cmd);
    g_queue_push_head(&mon->pending, p);
    send_ready_commands(mon);
}

static void handle_greeting(HvdMonitor *mon, struct json_object *msg)
{
    struct json_object *qmp;
    if (!json_object_object_get_ex(msg, "QMP", &qmp) ||
        !json_object_is_type(qmp, json_type_object)) {
        g_autofree char *ex = json_excerpt(msg);
        fatal(mon, hvd_monitor_error(VIR_ERR_INTERNAL_ERROR,
                             "monitor of domain '%s' did not start with a QMP greeting: %s",
                             mon->vm_name, ex));
        return;
    }
    mon->greeting = json_object_get(msg);
    mon->state = MON_NEGOTIATING;
    send_capabilities(mon);
}

static void handle_capabilities_reply(HvdMonitor *mon, struct json_object *msg)
{
    struct json_object *error, *desc;
    if (!json_object_object_get_ex(msg, "return", NULL)) {
        const char *d = "no return value";
        if (json_object_object_get_ex(msg, "error", &error) &&
            json_object_object_get_ex(error, "desc", &desc) &&
            json_object_is_type(desc, json_type_string))
            d = json_object_get_string(desc);
        fatal(mon, hvd_monitor_error(VIR_ERR_INTERNAL_ERROR,
                             "unable to execute QEMU command 'qmp_capabilities': %s", d));
        return;
    }
    mon->state = MON_READY;
    destroy_source(&mon->deadline_src);
    mon->connect_deadline = 0;
    send_ready_commands(mon);
    HvdMonitorReadyFunc fn = mon->ready_fn;
    mon->ready_fn = NULL;
    if (fn)
        fn(mon, NULL, mon->ready_data);
}

static void handle_event(HvdMonitor *mon, struct json_object *msg)
{
    struct json_object *ev, *data = NULL, *ts, *v;
    json_object_object_get_ex(msg, "event", &ev);
    if (!json_object_is_type(ev, json_type_string)) {
        fatal(mon, hvd_monitor_error(VIR_ERR_INTERNAL_ERROR,
                             "monitor of domain '%s' sent an event without a name",
                             mon->vm_name));
        return;
    }
    if (json_object_object_get_ex(msg, "data", &data) &&
        !json_object_is_type(data, json_type_object))
        data = NULL;
    /* qmp.md §4: {"seconds", "microseconds"}, both -1 when unknown. */
    gint64 seconds = -1, micros = -1;
    if (json_object_object_get_ex(msg, "timestamp", &ts) &&
        json_object_is_type(ts, json_type_object)) {
        if (json_object_object_get_ex(ts, "seconds", &v) && json_object_is_type(v, json_type_int))
            seconds = json_object_get_int64(v);
        if (json_object_object_get_ex(ts, "microseconds", &v) &&
            json_object_is_type(v, json_type_int))
            micros = json_object_get_int64(v);
    }
    if (!mon->event_fn)
        return;
    if (mon->sync_depth > 0) {
        Deferred *d = g_new0(Deferred, 1);
        d->kind = DEFER_EVENT;
        d->event = g_strdup(json_object_get_string(ev));
        d->obj = data ? json_object_get(data) : NULL;
        d->seconds = seconds;
        d->micros = micros;
        g_queue_push_tail(&mon->deferred, d);
        return;
    }
    mon->event_fn(mon, json_object_get_string(ev), data, seconds, micros, mon->event_data);
}

static void handle_reply(HvdMonitor *mon, struct json_object *msg)
{
    struct json_object *id;
    GList *link = NULL;
    if (json_object_object_get_ex(msg, "id", &id)) {
        const char *s = json_object_is_type(id, json_type_string) ? json_object_get_string(id)
                                                                  : NULL;
        for (GList *l = mon->pending.head; s && l; l = l->next) {
            if (strcmp(((Pending *)l->data)->id, s) == 0) {
                link = l;
                break;
            }
        }
    } else {
        /* Only replies to input the server could not read lack an id
         * (qmp.md §3.2); the server answers in order, so it is the oldest
         * command still waiting. */
        for (GList *l = mon->pending.head; l; l = l->next) {
            if (((Pending *)l->data)->sent) {
                link = l;
                break;
            }
        }
    }
    if (!link) {
        g_autofree char *ex = json_excerpt(msg);
        log_warn("monitor %s: ignoring a reply nobody waits for: %s", mon->vm_name, ex);
        return;
    }
    Pending *p = link->data;
    g_queue_delete_link(&mon->pending, link);
    if (p->kind == PENDING_CAPABILITIES) {
        pending_free(p);
        handle_capabilities_reply(mon, msg);
        return;
    }
    complete(mon, p, msg, NULL);
}

static void handle_line(HvdMonitor *mon, const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && g_ascii_isspace(line[i]))
        i++;
    if (i == len)
        return;   /* blank line */

    json_tokener *tok = json_tokener_new_ex(REPLY_MAX_DEPTH);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    struct json_object *msg = json_tokener_parse_ex(tok, line + i, (int)(len - i));
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = i + json_tokener_get_parse_end(tok);
    json_tokener_free(tok);

    if (jerr != json_tokener_success || !msg) {
        g_autofree char *ex = excerpt(line, len);
        fatal(mon, hvd_monitor_error(VIR_ERR_INTERNAL_ERROR,
                             "cannot parse json from the monitor of domain '%s': %s: %s",
                             mon->vm_name,
                             jerr == json_tokener_continue ? "incomplete value on one line"
                                                          : json_tokener_error_desc(jerr),
                             ex));
        json_object_put(msg);
        return;
    }
    while (end < len && g_ascii_isspace(line[end]))
        end++;
    if (end != len || !json_object_is_type(msg, json_type_object)) {
        g_autofree char *ex = excerpt(line, len);
        fatal(mon, hvd_monitor_error(VIR_ERR_INTERNAL_ERROR,
                             "monitor of domain '%s' sent something other than one JSON "
                             "object per line: %s", mon->vm_name, ex));
        json_object_put(msg);
        return;
    }

    if (mon->state == MON_GREETING)
        handle_greeting(mon, msg);
    else if (json_object_object_get_ex(msg, "event", NULL))
        handle_event(mon, msg);
    else if (json_object_object_get_ex(msg, "return", NULL) ||
             json_object_object_get_ex(msg, "error", NULL))
        handle_reply(mon, msg);
    else {
        g_autofree char *ex = excerpt(line, len);
        fatal(mon, hvd_monitor_error(VIR_ERR_INTERNAL_ERROR,
                             "unexpected message from the monitor of domain '%s': %s",
                             mon->vm_name, ex));
    }
    json_object_put(msg);
}

static void process_input(HvdMonitor *mon)
{
    while (mon->fd >= 0) {
        char *nl = memchr(mon->in->str + mon->in_scanned, '\n',
                          mon->in->len - mon->in_scanned);
        if (!nl) {
            mon->in_scanned = mon->in->len;
            if (mon->in->len > HVD_MONITOR_MAX_LINE)
                fatal(mon, hvd_monitor_error(VIR_ERR_INTERNAL_ERROR,
                                     "monitor of domain '%s' sent a line longer than %u bytes",
                                     mon->vm_name, HVD_MONITOR_MAX_LINE));
            return;
        }
        size_t len = nl - mon->in->str;
        if (len > HVD_MONITOR_MAX_LINE) {
            fatal(mon, hvd_monitor_error(VIR_ERR_INTERNAL_ERROR,
                                 "monitor of domain '%s' sent a line longer than %u bytes",
                                 mon->vm_name, HVD_MONITOR_MAX_LINE));
            return;
        }
        /* Detach the line first: handlers may close (and so clear) mon->in. */
        g_autofree char *line = g_malloc(len + 1);   /* may hold NUL bytes */
        memcpy(line, mon->in->str, len);
        line[len] = 0;
        g_string_erase(mon->in, 0, len + 1);
        mon->in_scanned = 0;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        handle_line(mon, line, len);
    }
}

static gboolean on_readable(int fd, GIOCondition cond, gpointer data)
{
    HvdMonitor *mon = data;
    char buf[READ_CHUNK];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return G_SOURCE_CONTINUE;
    hvd_monitor_ref(mon);
    if (n > 0) {
        g_string_append_len(mon->in, buf, n);
        process_input(mon);
    } else if (n == 0) {
        /* libvirt's text for a worker that went away. */
        fatal(mon, hvd_monitor_error(VIR_ERR_INTERNAL_ERROR, "End of file from qemu monitor (vm='%s')",
                             mon->vm_name));
    } else {
        int e = errno;
        fatal(mon, hvd_monitor_error(VIR_ERR_INTERNAL_ERROR,
                             "cannot read from the monitor of domain '%s': %s", mon->vm_name,
                             g_strerror(e)));
    }
    hvd_monitor_unref(mon);
    return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------------ */
/* Connecting                                                          */

static void try_connect(HvdMonitor *mon);

static gboolean on_retry(gpointer data)
{
    HvdMonitor *mon = data;
    destroy_source(&mon->retry_src);
    mon->retry_at = 0;
    hvd_monitor_ref(mon);
    try_connect(mon);
    hvd_monitor_unref(mon);
    return G_SOURCE_REMOVE;
}

static gboolean on_connect_deadline(gpointer data)
{
    HvdMonitor *mon = data;
    destroy_source(&mon->deadline_src);
    hvd_monitor_ref(mon);
    if (mon->state == MON_CONNECTING)
        fail_connect(mon, hvd_monitor_error(VIR_ERR_OPERATION_TIMEOUT,
                                    "cannot connect to the monitor of domain '%s' at '%s' "
                                    "within %d ms: %s", mon->vm_name, mon->path,
                                    mon->connect_timeout_ms,
                                    g_strerror(mon->last_connect_errno)));
    else if (mon->state == MON_GREETING || mon->state == MON_NEGOTIATING)
        fail_connect(mon, hvd_monitor_error(VIR_ERR_OPERATION_TIMEOUT,
                                    "monitor of domain '%s' did not complete the QMP "
                                    "handshake within %d ms", mon->vm_name,
                                    mon->connect_timeout_ms));
    hvd_monitor_unref(mon);
    return G_SOURCE_REMOVE;
}

static void try_connect(HvdMonitor *mon)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(mon->path) >= sizeof(addr.sun_path)) {
        fail_connect(mon, hvd_monitor_error(VIR_ERR_INTERNAL_ERROR,
                                    "monitor socket path '%s' of domain '%s' is too long",
                                    mon->path, mon->vm_name));
        return;
    }
    strcpy(addr.sun_path, mon->path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        fail_connect(mon, hvd_monitor_error(VIR_ERR_SYSTEM_ERROR, "cannot create a socket: %s",
                                    g_strerror(e)));
        return;
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
        mon->fd = fd;
        mon->state = MON_GREETING;
        update_sources(mon);
        return;
    }
    int e = errno;
    close(fd);
    /* Not there yet, not listening yet, or backlog full: try again. */
    if (e == ENOENT || e == ECONNREFUSED || e == EAGAIN || e == EINTR) {
        mon->last_connect_errno = e;
        mon->retry_at = g_get_monotonic_time() + CONNECT_RETRY_MS * 1000;
        update_sources(mon);
        return;
    }
    fail_connect(mon, hvd_monitor_error(VIR_ERR_SYSTEM_ERROR,
                                "cannot connect to the monitor of domain '%s' at '%s': %s",
                                mon->vm_name, mon->path, g_strerror(e)));
}

/* ------------------------------------------------------------------ */
/* Sources: (re)attached to io_ctx according to the state, so that a
 * nested wait (monitor_priv.h) can move them all to its private context
 * and back. */

static int ms_until(gint64 when)
{
    gint64 left = when - g_get_monotonic_time();
    return left <= 0 ? 0 : (int)MIN((left + 999) / 1000, (gint64)G_MAXINT);
}

static void update_sources(HvdMonitor *mon)
{
    if (mon->fd >= 0 && !mon->read_src) {
        mon->read_src = g_unix_fd_source_new(mon->fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
        g_source_set_callback(mon->read_src, (GSourceFunc)(void (*)(void))on_readable, mon, NULL);
        g_source_attach(mon->read_src, mon->io_ctx);
    }
    if (mon->fd >= 0 && mon->out->len > 0 && !mon->write_src) {
        mon->write_src = g_unix_fd_source_new(mon->fd, G_IO_OUT);
        g_source_set_callback(mon->write_src, (GSourceFunc)(void (*)(void))on_writable, mon,
                              NULL);
        g_source_attach(mon->write_src, mon->io_ctx);
    }
    if (mon->retry_at && !mon->retry_src) {
        mon->retry_src = g_timeout_source_new(ms_until(mon->retry_at));
        g_source_set_callback(mon->retry_src, on_retry, mon, NULL);
        g_source_attach(mon->retry_src, mon->io_ctx);
    }
    if (mon->connect_deadline && mon->state != MON_READY && !mon->deadline_src) {
        mon->deadline_src = g_timeout_source_new(ms_until(mon->connect_deadline));
        g_source_set_callback(mon->deadline_src, on_connect_deadline, mon, NULL);
        g_source_attach(mon->deadline_src, mon->io_ctx);
    }
}

static void move_sources(HvdMonitor *mon, GMainContext *ctx)
{
    destroy_source(&mon->read_src);
    destroy_source(&mon->write_src);
    destroy_source(&mon->retry_src);
    destroy_source(&mon->deadline_src);
    mon->io_ctx = ctx;
    update_sources(mon);
}

/* ------------------------------------------------------------------ */
/* Deferred delivery                                                   */

static gboolean deliver_deferred(gpointer data)
{
    HvdMonitor *mon = data;
    g_source_unref(mon->deferred_src);
    mon->deferred_src = NULL;
    Deferred *d;
    while (mon->sync_depth == 0 && (d = g_queue_pop_head(&mon->deferred))) {
        switch (d->kind) {
        case DEFER_EVENT:
            if (mon->event_fn)
                mon->event_fn(mon, d->event, d->obj, d->seconds, d->micros, mon->event_data);
            break;
        case DEFER_REPLY:
            complete_now(mon, d->pending, d->obj, d->err);
            break;
        case DEFER_CLOSED:
            if (mon->closed_fn)
                mon->closed_fn(mon, d->err, mon->closed_data);
            break;
        }
        deferred_free(d);
    }
    return G_SOURCE_REMOVE;
}

/* ------------------------------------------------------------------ */
/* Public API                                                          */

HvdMonitor *hvd_monitor_new(const char *path, const char *vm_name, GMainContext *ctx)
{
    HvdMonitor *mon = g_new0(HvdMonitor, 1);
    mon->refs = 1;
    mon->path = g_strdup(path);
    mon->vm_name = g_strdup(vm_name ? vm_name : "");
    mon->ctx = ctx ? g_main_context_ref(ctx) : g_main_context_ref_thread_default();
    mon->io_ctx = mon->ctx;
    mon->fd = -1;
    mon->in = g_string_new(NULL);
    mon->out = g_string_new(NULL);
    g_queue_init(&mon->pending);
    g_queue_init(&mon->deferred);
    return mon;
}

HvdMonitor *hvd_monitor_ref(HvdMonitor *mon)
{
    mon->refs++;
    return mon;
}

void hvd_monitor_unref(HvdMonitor *mon)
{
    if (!mon || --mon->refs > 0)
        return;
    mon->refs = 1;   /* callbacks run by close see a live object */
    hvd_monitor_close(mon);
    mon->event_fn = NULL;
    mon->closed_fn = NULL;
    Deferred *d;
    while ((d = g_queue_pop_head(&mon->deferred))) {
        if (d->kind == DEFER_REPLY)
            complete_now(mon, d->pending, d->obj, d->err);
        deferred_free(d);
    }
    destroy_source(&mon->deferred_src);
    if (mon->greeting)
        json_object_put(mon->greeting);
    g_string_free(mon->in, TRUE);
    g_string_free(mon->out, TRUE);
    g_main_context_unref(mon->ctx);
    g_free(mon->path);
    g_free(mon->vm_name);
    g_free(mon);
}

void hvd_monitor_set_event_handler(HvdMonitor *mon, HvdMonitorEventFunc fn, gpointer user_data)
{
    mon->event_fn = fn;
    mon->event_data = user_data;
}

void hvd_monitor_set_closed_handler(HvdMonitor *mon, HvdMonitorClosedFunc fn, gpointer user_data)
{
    mon->closed_fn = fn;
    mon->closed_data = user_data;
}

void hvd_monitor_connect(HvdMonitor *mon, int timeout_ms, HvdMonitorReadyFunc fn,
                         gpointer user_data)
{
    if (mon->state != MON_IDLE && mon->state != MON_CLOSED) {
        g_autoptr(GError) err = hvd_monitor_error(VIR_ERR_OPERATION_INVALID,
                                          "monitor of domain '%s' is already connected",
                                          mon->vm_name);
        if (fn)
            fn(mon, err, user_data);
        return;
    }
    if (mon->greeting)
        g_clear_pointer(&mon->greeting, json_object_put);
    mon->ready_fn = fn;
    mon->ready_data = user_data;
    mon->state = MON_CONNECTING;
    mon->connect_timeout_ms = MAX(timeout_ms, 0);
    mon->connect_deadline = g_get_monotonic_time() + (gint64)mon->connect_timeout_ms * 1000;
    mon->last_connect_errno = ENOENT;
    update_sources(mon);
    hvd_monitor_ref(mon);
    try_connect(mon);
    hvd_monitor_unref(mon);
}

bool hvd_monitor_is_ready(const HvdMonitor *mon)
{
    return mon->state == MON_READY;
}

struct json_object *hvd_monitor_greeting(const HvdMonitor *mon)
{
    return mon->greeting;
}

static guint64 submit(HvdMonitor *mon, Pending *p, struct json_object *cmd)
{
    json_object_object_add(cmd, "id", json_object_new_string(p->id));
    p->text = g_strdup(json_object_to_json_string_ext(
        cmd, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    guint64 serial = p->serial;
    if (mon->state == MON_IDLE || mon->state == MON_CLOSED) {
        g_autoptr(GError) err = hvd_monitor_error(VIR_ERR_OPERATION_INVALID,
                                          "monitor of domain '%s' is not connected",
                                          mon->vm_name);
        complete_now(mon, p, NULL, err);
        pending_free(p);
        return serial;
    }
    g_queue_push_tail(&mon->pending, p);
    if (mon->state == MON_READY)
        send_ready_commands(mon);
    return serial;
}

guint64 hvd_monitor_command(HvdMonitor *mon, const char *cmd, struct json_object *args,
                            HvdMonitorReplyFunc fn, gpointer user_data)
{
    Pending *p = next_id(mon, PENDING_JSON, cmd ? cmd : "");
    p->json_fn = fn;
    p->user_data = user_data;
    if (!cmd || !*cmd || (args && !json_object_is_type(args, json_type_object))) {
        g_autoptr(GError) err = hvd_monitor_error(VIR_ERR_INTERNAL_ERROR,
                                          "invalid monitor command '%s': %s", cmd ? cmd : "",
                                          !cmd || !*cmd ? "no command name"
                                                        : "arguments must be a JSON object");
        guint64 serial = p->serial;
        complete_now(mon, p, NULL, err);
        pending_free(p);
        return serial;
    }
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "execute", json_object_new_string(cmd));
    if (args)
        json_object_object_add(obj, "arguments", json_object_get(args));
    guint64 serial = submit(mon, p, obj);
    json_object_put(obj);
    return serial;
}

guint64 hvd_monitor_command_raw(HvdMonitor *mon, const char *text, HvdMonitorRawFunc fn,
                                gpointer user_data)
{
    Pending *p = next_id(mon, PENDING_RAW, "");
    p->raw_fn = fn;
    p->user_data = user_data;
    enum json_tokener_error jerr = json_tokener_success;
    struct json_object *obj = NULL;
    if (text) {
        json_tokener *tok = json_tokener_new_ex(REPLY_MAX_DEPTH);
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        size_t len = strlen(text);
        obj = json_tokener_parse_ex(tok, text, (int)MIN(len, (size_t)G_MAXINT));
        jerr = json_tokener_get_error(tok);
        size_t end = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        while (end < len && g_ascii_isspace(text[end]))
            end++;
        if (jerr == json_tokener_success && end != len)
            jerr = json_tokener_error_parse_unexpected;
    }
    if (!text || jerr != json_tokener_success || !json_object_is_type(obj, json_type_object)) {
        g_autofree char *ex = excerpt(text ? text : "", text ? strlen(text) : 0);
        g_autoptr(GError) err = hvd_monitor_error(
            VIR_ERR_INTERNAL_ERROR, "cannot parse json %s: %s", ex,
            jerr == json_tokener_continue ? "unexpected end of input"
            : jerr != json_tokener_success ? json_tokener_error_desc(jerr)
                                           : "not a JSON object");
        guint64 serial = p->serial;
        complete_now(mon, p, NULL, err);
        pending_free(p);
        json_object_put(obj);
        return serial;
    }
    struct json_object *exec;
    if (json_object_object_get_ex(obj, "execute", &exec) &&
        json_object_is_type(exec, json_type_string)) {
        g_free(p->cmd_name);
        p->cmd_name = g_strdup(json_object_get_string(exec));
    }
    /* The caller's id is replaced by ours so that the reply finds its
     * waiter (json-c replaces an existing member in place). */
    guint64 serial = submit(mon, p, obj);
    json_object_put(obj);
    return serial;
}

void hvd_monitor_close(HvdMonitor *mon)
{
    if (mon->state == MON_IDLE || mon->state == MON_CLOSED)
        return;
    hvd_monitor_ref(mon);
    bool connecting = mon->state != MON_READY;
    close_socket(mon);
    g_autoptr(GError) err = hvd_monitor_error(VIR_ERR_OPERATION_FAILED,
                                      "monitor of domain '%s' was closed", mon->vm_name);
    fail_all_pending(mon, err);
    HvdMonitorReadyFunc fn = mon->ready_fn;
    mon->ready_fn = NULL;
    if (connecting && fn)
        fn(mon, err, mon->ready_data);
    hvd_monitor_unref(mon);
}

/* ------------------------------------------------------------------ */
/* Hooks for nested waits (monitor_priv.h)                             */

GMainContext *hvd_monitor_wait_begin(HvdMonitor *mon, GMainContext *priv)
{
    GMainContext *prev = mon->io_ctx;
    mon->sync_depth++;
    move_sources(mon, priv);
    return prev;
}

void hvd_monitor_wait_end(HvdMonitor *mon, GMainContext *prev)
{
    mon->sync_depth--;
    move_sources(mon, prev);
    schedule_deferred(mon);
}

void hvd_monitor_mark(HvdMonitor *mon, guint64 serial, bool sync_waiter, bool abandoned)
{
    for (GList *l = mon->pending.head; l; l = l->next) {
        Pending *p = l->data;
        if (p->serial == serial) {
            p->sync_waiter = p->sync_waiter || sync_waiter;
            p->abandoned = p->abandoned || abandoned;
            return;
        }
    }
}

void hvd_monitor_forget_ready(HvdMonitor *mon)
{
    mon->ready_fn = NULL;
}

const char *hvd_monitor_vm_name(const HvdMonitor *mon)
{
    return mon->vm_name;
}
