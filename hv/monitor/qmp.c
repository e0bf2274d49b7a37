/* QMP server: unix socket listener, one client at a time, streaming JSON
 * input, capabilities negotiation, dispatch with QEMU 7.2's error classes and
 * texts, built-in commands, and events. Protocol facts cite
 * QEMU's docs/interop/qmp-spec.rst and QAPI schema; see docs/monitor.md for the decisions taken here. */
#include "config.h"

#include "hv/monitor/monitor_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/errbuf.h"
#include "common/log.h"
#include "hv/loop.h"

/* A client that sends this much without completing one JSON value is
 * dropped (QEMU's parser has a similar limit, qmp.md §1). */
#define MONITOR_MAX_PENDING_INPUT (1024 * 1024)
/* A client that stops reading is dropped once this much output is queued. */
#define MONITOR_MAX_QUEUED_OUTPUT (16 * 1024 * 1024)
#define MONITOR_JSON_DEPTH 64

struct monitor_client {
    struct monitor *mon;
    int fd;
    bool command_mode;        /* qmp_capabilities accepted (qmp.md §2) */
    bool oob_enabled;
    json_tokener *tok;
    size_t pending_input;     /* bytes fed since the last complete value */
    bool skip_to_newline;     /* resynchronising after a parse error */
    struct strbuf out;
    size_t out_sent;
    bool watching_out;
    bool close_after_flush;   /* quit: reply, then EOF (qmp.md §4.2) */
    bool dead;                /* write failed; close when safe */
    int in_dispatch;
};

/* Events QEMU 7.2 rate-limits to one per second, latest wins (qmp.md §4). */
static const char *const throttled_events[] = {
    "RTC_CHANGE", "WATCHDOG", "BALLOON_CHANGE", "QUORUM_REPORT_BAD",
    "QUORUM_FAILURE", "VSERPORT_CHANGE", "MEMORY_DEVICE_SIZE_CHANGE", NULL,
};

struct monitor_throttle {
    struct monitor *mon;
    char event[40];
    int timerfd;
    bool armed;
    char *pending_line;       /* the latest event seen inside the window */
    struct monitor_throttle *next;
};

static void client_close(struct monitor_client *c);
static void listen_watch(struct monitor *mon, bool on);

/* ------------------------------------------------------------------ */
/* Output                                                              */

static void client_update_watch(struct monitor_client *c)
{
    bool want_out = c->out.len > c->out_sent;
    if (want_out != c->watching_out) {
        loop_mod_fd(c->mon->loop, c->fd, EPOLLIN | (want_out ? EPOLLOUT : 0));
        c->watching_out = want_out;
    }
}

/* Write what the socket takes now. */
static void client_flush(struct monitor_client *c)
{
    while (!c->dead && c->out.len > c->out_sent) {
        ssize_t n = send(c->fd, c->out.data + c->out_sent, c->out.len - c->out_sent,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c->out_sent += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            log_debug("monitor: client write failed: %m");
            c->dead = true;
        }
    }
    if (c->out_sent == c->out.len) {
        c->out.len = c->out_sent = 0;
        if (c->out.data)
            c->out.data[0] = '\0';
    }
    if (!c->dead)
        client_update_watch(c);
}

/* Queue one message line; every server message ends in CRLF (qmp.md §1). */
static void client_send_line(struct monitor_client *c, const char *line, size_t len)
{
    if (c->dead || c->close_after_flush)
        return;
    if (c->out.len - c->out_sent + len > MONITOR_MAX_QUEUED_OUTPUT) {
        log_warn("monitor: client is not reading its output (%zu bytes queued), disconnecting",
                 c->out.len - c->out_sent);
        c->dead = true;
        return;
    }
    strbuf_append(&c->out, line, len);
    strbuf_append(&c->out, "\r\n", 2);
    if (c->out.oom) {
        log_error("monitor: out of memory queueing output, disconnecting the client");
        c->dead = true;
        return;
    }
    client_flush(c);
}

static void client_send_json(struct monitor_client *c, struct json_object *msg)
{
    struct strbuf sb = { 0 };
    json_out_value(&sb, msg);
    if (sb.oom)
        c->dead = true;
    else
        client_send_line(c, sb.data, sb.len);
    strbuf_free(&sb);
}

/* Close a dead client unless we are inside its dispatch (then the read
 * handler does it when the stack unwinds). */
static void client_reap(struct monitor_client *c)
{
    if (c->dead && c->in_dispatch == 0)
        client_close(c);
}

/* {"return": VALUE, "id": ID} in QEMU's member order (qmp.md §1). */
struct reply_id {
    bool present;
    struct json_object *value;  /* NULL is JSON null */
};

static void send_return(struct monitor_client *c, struct json_object *value,
                        const struct reply_id *id)
{
    struct json_object *msg = json_object_new_object();
    json_object_object_add(msg, "return", value);
    if (id && id->present)
        json_object_object_add(msg, "id", json_object_get(id->value));
    client_send_json(c, msg);
    json_object_put(msg);
}

/* {"id": ID, "error": {"class": C, "desc": D}} (qmp.md §3). */
static void send_error(struct monitor_client *c, const struct reply_id *id,
                       const char *error_class, const char *desc)
{
    struct json_object *msg = json_object_new_object();
    if (id && id->present)
        json_object_object_add(msg, "id", json_object_get(id->value));
    struct json_object *err = json_object_new_object();
    json_object_object_add(err, "class", json_object_new_string(error_class));
    json_object_object_add(err, "desc", json_object_new_string(desc));
    json_object_object_add(msg, "error", err);
    client_send_json(c, msg);
    json_object_put(msg);
}

/* ------------------------------------------------------------------ */
/* Errors and argument checking                                        */

struct json_object *monitor_error_set(struct monitor_error *err, const char *error_class,
                                      const char *fmt, ...)
{
    snprintf(err->error_class, sizeof(err->error_class), "%s", error_class);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->desc, sizeof(err->desc), fmt, ap);
    va_end(ap);
    return NULL;
}

static const char *arg_type_name(enum monitor_arg_type type)
{
    switch (type) {
    case MONITOR_ARG_STRING: return "string";
    case MONITOR_ARG_INT: return "integer";
    case MONITOR_ARG_BOOL: return "boolean";
    case MONITOR_ARG_NUMBER: return "number";
    case MONITOR_ARG_OBJECT: return "object";
    case MONITOR_ARG_ARRAY: return "array";
    case MONITOR_ARG_ANY: return "value";
    }
    return "value";
}

static bool arg_type_matches(enum monitor_arg_type type, struct json_object *v)
{
    switch (type) {
    case MONITOR_ARG_STRING: return json_object_is_type(v, json_type_string);
    case MONITOR_ARG_INT: return json_object_is_type(v, json_type_int);
    case MONITOR_ARG_BOOL: return json_object_is_type(v, json_type_boolean);
    case MONITOR_ARG_NUMBER:
        return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
    case MONITOR_ARG_OBJECT: return json_object_is_type(v, json_type_object);
    case MONITOR_ARG_ARRAY: return json_object_is_type(v, json_type_array);
    case MONITOR_ARG_ANY: return true;
    }
    return false;
}

/* QEMU's input visitor checks declared members in order (missing, then type),
 * then rejects the first undeclared one (qmp.md §3.2). */
static bool check_args(const struct monitor_arg *spec, struct json_object *args,
                       struct monitor_error *err)
{
    bool open_ended = false;
    for (const struct monitor_arg *a = spec; a && a->name; a++) {
        if (strcmp(a->name, "*") == 0) {
            open_ended = true;
            continue;
        }
        struct json_object *v;
        if (!json_object_object_get_ex(args, a->name, &v)) {
            if (!a->optional) {
                monitor_error_set(err, MONITOR_ERR_GENERIC, "Parameter '%s' is missing", a->name);
                return false;
            }
            continue;
        }
        if (!arg_type_matches(a->type, v)) {
            monitor_error_set(err, MONITOR_ERR_GENERIC,
                              "Invalid parameter type for '%s', expected: %s", a->name,
                              arg_type_name(a->type));
            return false;
        }
    }
    if (open_ended)
        return true;
    json_object_object_foreach(args, key, val) {
        (void)val;
        bool declared = false;
        for (const struct monitor_arg *a = spec; a && a->name && !declared; a++)
            declared = strcmp(a->name, key) == 0;
        if (!declared) {
            monitor_error_set(err, MONITOR_ERR_GENERIC, "Parameter '%s' is unexpected", key);
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Registration                                                        */

static struct monitor_command *find_command(struct monitor *mon, const char *name)
{
    for (size_t i = 0; i < mon->n_commands; i++)
        if (strcmp(mon->commands[i].name, name) == 0)
            return &mon->commands[i];
    return NULL;
}

int monitor_register_command(struct monitor *mon, const char *name,
                             const struct monitor_arg *args, monitor_cmd_fn fn, void *opaque)
{
    struct monitor_command *cmd = find_command(mon, name);
    if (!cmd) {
        if (mon->n_commands == mon->cap_commands) {
            size_t cap = mon->cap_commands ? mon->cap_commands * 2 : 32;
            struct monitor_command *n = realloc(mon->commands, cap * sizeof(*n));
            if (!n)
                return -ENOMEM;
            mon->commands = n;
            mon->cap_commands = cap;
        }
        cmd = &mon->commands[mon->n_commands++];
    }
    *cmd = (struct monitor_command){ .name = name, .args = args, .fn = fn, .opaque = opaque };
    return 0;
}

/* ------------------------------------------------------------------ */
/* Queries shared with hmp.c                                           */

const char *monitor_version_package(void)
{
    return PACKAGE_NAME " " PACKAGE_VERSION;
}

const char *monitor_run_state(struct monitor *mon, bool *running)
{
    *running = false;
    if (!mon->ops || !mon->ops->run_state)
        return "running";
    const char *state = mon->ops->run_state(mon->opaque, running);
    if (!state)
        state = *running ? "running" : "paused";
    return state;
}

/* The query ops return the total count; grow the array until it fits. */
#define DEFINE_GETTER(fn_name, type, op)                                        \
    type *fn_name(struct monitor *mon, int *count)                              \
    {                                                                           \
        *count = 0;                                                             \
        if (!mon->ops || !mon->ops->op)                                         \
            return NULL;                                                        \
        int max = 16;                                                           \
        for (int attempt = 0; attempt < 8; attempt++) {                         \
            type *items = calloc((size_t)max, sizeof(*items));                  \
            if (!items)                                                         \
                return NULL;                                                    \
            int n = mon->ops->op(mon->opaque, items, max);                      \
            if (n <= 0) {                                                       \
                free(items);                                                    \
                return NULL;                                                    \
            }                                                                   \
            if (n <= max) {                                                     \
                *count = n;                                                     \
                return items;                                                   \
            }                                                                   \
            free(items);                                                        \
            max = n;                                                            \
        }                                                                       \
        return NULL;                                                            \
    }

DEFINE_GETTER(monitor_get_cpus, struct monitor_cpu, query_cpus)
DEFINE_GETTER(monitor_get_pci, struct monitor_pci_dev, query_pci)

/* Names QEMU gives PCI classes in query-pci "desc" and HMP "info pci";
 * classes without a name omit "desc" (qmp.md §5, query-pci). */
const char *monitor_pci_class_name(uint16_t class_code)
{
    static const struct { uint16_t code; const char *name; } names[] = {
        { 0x0100, "SCSI controller" }, { 0x0101, "IDE controller" },
        { 0x0102, "Floppy controller" }, { 0x0103, "IPI controller" },
        { 0x0104, "RAID controller" }, { 0x0106, "SATA controller" },
        { 0x0107, "SAS controller" }, { 0x0180, "Storage controller" },
        { 0x0200, "Ethernet controller" }, { 0x0201, "Token Ring controller" },
        { 0x0202, "FDDI controller" }, { 0x0203, "ATM controller" },
        { 0x0280, "Network controller" }, { 0x0300, "VGA controller" },
        { 0x0301, "XGA controller" }, { 0x0302, "3D controller" },
        { 0x0380, "Display controller" }, { 0x0400, "Video controller" },
        { 0x0401, "Audio controller" }, { 0x0402, "Phone" },
        { 0x0403, "Audio controller" }, { 0x0480, "Multimedia controller" },
        { 0x0500, "RAM controller" }, { 0x0501, "Flash controller" },
        { 0x0580, "Memory controller" }, { 0x0600, "Host bridge" },
        { 0x0601, "ISA bridge" }, { 0x0602, "EISA bridge" },
        { 0x0603, "MC bridge" }, { 0x0604, "PCI bridge" },
        { 0x0605, "PCMCIA bridge" }, { 0x0606, "NUBUS bridge" },
        { 0x0607, "CARDBUS bridge" }, { 0x0608, "RACEWAY bridge" },
        { 0x0680, "Bridge" }, { 0x0c03, "USB controller" },
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].code == class_code)
            return names[i].name;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Built-in commands                                                   */

static struct json_object *version_object(void)
{
    /* Same shape as the greeting's "version" (qmp.md §1.1, query-version). */
    struct json_object *qemu = json_object_new_object();
    json_object_object_add(qemu, "micro", json_object_new_int(MONITOR_QEMU_MICRO));
    json_object_object_add(qemu, "minor", json_object_new_int(MONITOR_QEMU_MINOR));
    json_object_object_add(qemu, "major", json_object_new_int(MONITOR_QEMU_MAJOR));
    struct json_object *v = json_object_new_object();
    json_object_object_add(v, "qemu", qemu);
    json_object_object_add(v, "package", json_object_new_string(monitor_version_package()));
    return v;
}

static struct json_object *cmd_query_version(void *opaque, struct json_object *args,
                                             struct monitor_error *err)
{
    return version_object();
}

static struct json_object *cmd_query_name(void *opaque, struct json_object *args,
                                          struct monitor_error *err)
{
    struct monitor *mon = opaque;
    struct json_object *r = json_object_new_object();
    if (mon->name)  /* omitted when the VM has no name (qmp.md, query-name) */
        json_object_object_add(r, "name", json_object_new_string(mon->name));
    return r;
}

static struct json_object *cmd_query_uuid(void *opaque, struct json_object *args,
                                          struct monitor_error *err)
{
    struct monitor *mon = opaque;
    struct json_object *r = json_object_new_object();
    json_object_object_add(r, "UUID", json_object_new_string(mon->uuid));
    return r;
}

static struct json_object *cmd_query_status(void *opaque, struct json_object *args,
                                            struct monitor_error *err)
{
    struct monitor *mon = opaque;
    bool running;
    const char *state = monitor_run_state(mon, &running);
    struct json_object *r = json_object_new_object();
    json_object_object_add(r, "status", json_object_new_string(state));
    json_object_object_add(r, "singlestep", json_object_new_boolean(false));
    json_object_object_add(r, "running", json_object_new_boolean(running));
    return r;
}

static struct json_object *cmd_query_kvm(void *opaque, struct json_object *args,
                                         struct monitor_error *err)
{
    struct monitor *mon = opaque;
    struct json_object *r = json_object_new_object();
    json_object_object_add(r, "enabled", json_object_new_boolean(mon->kvm_enabled));
    json_object_object_add(r, "present", json_object_new_boolean(true));
    return r;
}

static struct json_object *cmd_query_memory_size_summary(void *opaque, struct json_object *args,
                                                         struct monitor_error *err)
{
    struct monitor *mon = opaque;
    struct json_object *r = json_object_new_object();
    json_object_object_add(r, "base-memory", json_object_new_uint64(mon->ram_size));
    json_object_object_add(r, "plugged-memory", json_object_new_int(0));
    return r;
}

static struct json_object *cmd_query_cpus_fast(void *opaque, struct json_object *args,
                                               struct monitor_error *err)
{
    struct monitor *mon = opaque;
    int n;
    struct monitor_cpu *cpus = monitor_get_cpus(mon, &n);
    struct json_object *r = json_object_new_array();
    for (int i = 0; i < n; i++) {
        struct json_object *cpu = json_object_new_object();
        json_object_object_add(cpu, "thread-id", json_object_new_int64(cpus[i].thread_id));
        struct json_object *props = json_object_new_object();
        json_object_object_add(props, "core-id", json_object_new_int(cpus[i].core_id));
        json_object_object_add(props, "thread-id", json_object_new_int(cpus[i].thread_in_core));
        json_object_object_add(props, "socket-id", json_object_new_int(cpus[i].socket_id));
        json_object_object_add(cpu, "props", props);
        char path[64];
        if (!cpus[i].qom_path)
            snprintf(path, sizeof(path), "/machine/unattached/device[%d]", cpus[i].cpu_index);
        json_object_object_add(cpu, "qom-path",
                               json_object_new_string(cpus[i].qom_path ? cpus[i].qom_path : path));
        json_object_object_add(cpu, "cpu-index", json_object_new_int(cpus[i].cpu_index));
        json_object_object_add(cpu, "target", json_object_new_string("x86_64"));
        json_object_array_add(r, cpu);
    }
    free(cpus);
    return r;
}

static struct json_object *pci_device_object(const struct monitor_pci_dev *d)
{
    /* Member order as QEMU 7.2 printed it (qmp-02). */
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "irq_pin", json_object_new_int(d->irq_pin));
    json_object_object_add(o, "bus", json_object_new_int(d->bus));
    json_object_object_add(o, "qdev_id", json_object_new_string(d->qdev_id ? d->qdev_id : ""));
    if (d->irq_pin)
        json_object_object_add(o, "irq", json_object_new_int(d->irq));
    json_object_object_add(o, "slot", json_object_new_int(d->slot));
    struct json_object *ci = json_object_new_object();
    json_object_object_add(ci, "class", json_object_new_int(d->class_code));
    const char *desc = monitor_pci_class_name(d->class_code);
    if (desc)
        json_object_object_add(ci, "desc", json_object_new_string(desc));
    json_object_object_add(o, "class_info", ci);
    struct json_object *id = json_object_new_object();
    json_object_object_add(id, "device", json_object_new_int(d->device));
    json_object_object_add(id, "subsystem-vendor", json_object_new_int(d->subsys_vendor));
    json_object_object_add(id, "vendor", json_object_new_int(d->vendor));
    json_object_object_add(id, "subsystem", json_object_new_int(d->subsys));
    json_object_object_add(o, "id", id);
    json_object_object_add(o, "function", json_object_new_int(d->function));
    struct json_object *regions = json_object_new_array();
    int nr = d->nr_bars < 0 ? 0 : d->nr_bars > MONITOR_PCI_MAX_BARS ? MONITOR_PCI_MAX_BARS : d->nr_bars;
    for (int i = 0; i < nr; i++) {
        const struct monitor_pci_bar *b = &d->bars[i];
        struct json_object *r = json_object_new_object();
        if (!b->is_io) {
            json_object_object_add(r, "prefetch", json_object_new_boolean(b->prefetch));
            json_object_object_add(r, "mem_type_64", json_object_new_boolean(b->mem_type_64));
        }
        json_object_object_add(r, "bar", json_object_new_int(b->bar));
        json_object_object_add(r, "size", json_object_new_uint64(b->size));
        json_object_object_add(r, "address", json_object_new_int64(b->address));
        json_object_object_add(r, "type", json_object_new_string(b->is_io ? "io" : "memory"));
        json_object_array_add(regions, r);
    }
    json_object_object_add(o, "regions", regions);
    return o;
}

static struct json_object *cmd_query_pci(void *opaque, struct json_object *args,
                                         struct monitor_error *err)
{
    struct monitor *mon = opaque;
    int n;
    struct monitor_pci_dev *devs = monitor_get_pci(mon, &n);
    /* [{"bus": 0, "devices": [...]}]: the worker has a single bus 0. */
    struct json_object *bus = json_object_new_object();
    json_object_object_add(bus, "bus", json_object_new_int(0));
    struct json_object *list = json_object_new_array();
    for (int i = 0; i < n; i++)
        json_object_array_add(list, pci_device_object(&devs[i]));
    json_object_object_add(bus, "devices", list);
    free(devs);
    struct json_object *r = json_object_new_array();
    json_object_array_add(r, bus);
    return r;
}

static struct json_object *cmd_query_commands(void *opaque, struct json_object *args,
                                              struct monitor_error *err)
{
    struct monitor *mon = opaque;
    struct json_object *r = json_object_new_array();
    for (size_t i = 0; i < mon->n_commands; i++) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(mon->commands[i].name));
        json_object_array_add(r, o);
    }
    return r;
}

typedef int (*action_op)(void *opaque, char *err, size_t errlen);

static struct json_object *run_action(struct monitor *mon, action_op op, const char *what,
                                      struct monitor_error *err)
{
    if (!op)
        return monitor_error_set(err, MONITOR_ERR_GENERIC, "%s is not supported by this VM", what);
    char msg[sizeof(err->desc)] = "";
    int rc = op(mon->opaque, msg, sizeof(msg));
    if (rc < 0)
        return monitor_error_set(err, MONITOR_ERR_GENERIC, "%s",
                                 msg[0] ? msg : strerror(-rc));
    return json_object_new_object();
}

static struct json_object *cmd_stop(void *opaque, struct json_object *args,
                                    struct monitor_error *err)
{
    struct monitor *mon = opaque;
    return run_action(mon, mon->ops ? mon->ops->stop : NULL, "stop", err);
}

static struct json_object *cmd_cont(void *opaque, struct json_object *args,
                                    struct monitor_error *err)
{
    struct monitor *mon = opaque;
    return run_action(mon, mon->ops ? mon->ops->cont : NULL, "cont", err);
}

static struct json_object *cmd_system_reset(void *opaque, struct json_object *args,
                                            struct monitor_error *err)
{
    struct monitor *mon = opaque;
    return run_action(mon, mon->ops ? mon->ops->system_reset : NULL, "system_reset", err);
}

static struct json_object *cmd_system_powerdown(void *opaque, struct json_object *args,
                                                struct monitor_error *err)
{
    struct monitor *mon = opaque;
    return run_action(mon, mon->ops ? mon->ops->system_powerdown : NULL, "system_powerdown",
                      err);
}

static struct json_object *cmd_quit(void *opaque, struct json_object *args,
                                    struct monitor_error *err)
{
    struct monitor *mon = opaque;
    if (!mon->ops || !mon->ops->quit)
        return monitor_error_set(err, MONITOR_ERR_GENERIC, "quit is not supported by this VM");
    mon->ops->quit(mon->opaque);
    return json_object_new_object();
}

static const struct monitor_arg args_hmp[] = {
    { "command-line", MONITOR_ARG_STRING, false },
    { "cpu-index", MONITOR_ARG_INT, true },
    { NULL },
};

static struct json_object *cmd_human_monitor_command(void *opaque, struct json_object *args,
                                                     struct monitor_error *err)
{
    struct monitor *mon = opaque;
    struct json_object *v;
    if (json_object_object_get_ex(args, "cpu-index", &v)) {
        int64_t index = json_object_get_int64(v);
        int n;
        struct monitor_cpu *cpus = monitor_get_cpus(mon, &n);
        bool found = false;
        for (int i = 0; i < n && !found; i++)
            found = cpus[i].cpu_index == index;
        free(cpus);
        if (!found)  /* text observed from QEMU 7.2 */
            return monitor_error_set(err, MONITOR_ERR_GENERIC,
                                     "Parameter 'cpu-index' expects a CPU number");
    }
    json_object_object_get_ex(args, "command-line", &v);
    char *text = monitor_hmp_run(mon, json_object_get_string(v));
    if (!text)
        return monitor_error_set(err, MONITOR_ERR_GENERIC, "out of memory");
    struct json_object *r = json_object_new_string(text);
    free(text);
    return r;
}

static const struct monitor_arg args_capabilities[] = {
    { "enable", MONITOR_ARG_ARRAY, true },
    { NULL },
};

static struct json_object *cmd_qmp_capabilities(void *opaque, struct json_object *args,
                                                struct monitor_error *err)
{
    struct monitor_client *c = opaque;
    if (c->command_mode)  /* qmp.md §2 step 3 */
        return monitor_error_set(err, MONITOR_ERR_COMMAND_NOT_FOUND,
                                 "Capabilities negotiation is already complete, command ignored");
    bool oob = false;
    struct json_object *enable;
    if (json_object_object_get_ex(args, "enable", &enable)) {
        size_t n = json_object_array_length(enable);
        for (size_t i = 0; i < n; i++) {
            struct json_object *cap = json_object_array_get_idx(enable, i);
            if (!json_object_is_type(cap, json_type_string))
                return monitor_error_set(err, MONITOR_ERR_GENERIC,
                                         "Invalid parameter type for 'enable[%zu]', expected: string",
                                         i);
            if (strcmp(json_object_get_string(cap), "oob") != 0)
                return monitor_error_set(err, MONITOR_ERR_GENERIC,
                                         "Parameter 'enable[%zu]' does not accept value '%s'", i,
                                         json_object_get_string(cap));
            oob = true;
        }
    }
    c->command_mode = true;
    c->oob_enabled = oob;
    return json_object_new_object();
}

static void register_builtins(struct monitor *mon)
{
    /* qmp_capabilities is dispatched per client (see dispatch()); listed
     * here so query-commands shows it. */
    monitor_register_command(mon, "qmp_capabilities", args_capabilities, NULL, NULL);
    monitor_register_command(mon, "query-version", NULL, cmd_query_version, mon);
    monitor_register_command(mon, "query-name", NULL, cmd_query_name, mon);
    monitor_register_command(mon, "query-uuid", NULL, cmd_query_uuid, mon);
    monitor_register_command(mon, "query-status", NULL, cmd_query_status, mon);
    monitor_register_command(mon, "query-kvm", NULL, cmd_query_kvm, mon);
    monitor_register_command(mon, "query-cpus-fast", NULL, cmd_query_cpus_fast, mon);
    monitor_register_command(mon, "query-pci", NULL, cmd_query_pci, mon);
    monitor_register_command(mon, "query-memory-size-summary", NULL,
                             cmd_query_memory_size_summary, mon);
    monitor_register_command(mon, "query-commands", NULL, cmd_query_commands, mon);
    monitor_register_command(mon, "stop", NULL, cmd_stop, mon);
    monitor_register_command(mon, "cont", NULL, cmd_cont, mon);
    monitor_register_command(mon, "system_reset", NULL, cmd_system_reset, mon);
    monitor_register_command(mon, "system_powerdown", NULL, cmd_system_powerdown, mon);
    monitor_register_command(mon, "quit", NULL, cmd_quit, mon);
    monitor_register_command(mon, "human-monitor-command", args_hmp, cmd_human_monitor_command,
                             mon);
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */

/* One complete JSON value from the client (qmp.md §3). */
static void dispatch(struct monitor_client *c, struct json_object *req)
{
    struct monitor *mon = c->mon;
    if (!json_object_is_type(req, json_type_object)) {
        send_error(c, NULL, MONITOR_ERR_GENERIC, "QMP input must be a JSON object");
        return;
    }
    /* "id" may be any JSON value, null included (json-c's NULL), and is
     * echoed verbatim; without it the reply has none (qmp.md §3). */
    struct json_object *id = NULL;
    bool has_id = json_object_object_get_ex(req, "id", &id);
    struct reply_id rid = { .present = has_id, .value = id };

    const char *command = NULL;
    bool oob = false, has_execute = false, has_oob = false;
    struct json_object *args = NULL;
    char desc[256];
    json_object_object_foreach(req, key, val) {
        if (strcmp(key, "execute") == 0 || (strcmp(key, "exec-oob") == 0 && c->oob_enabled)) {
            if (!json_object_is_type(val, json_type_string)) {
                snprintf(desc, sizeof(desc), "QMP input member '%s' must be a string", key);
                send_error(c, &rid, MONITOR_ERR_GENERIC, desc);
                goto out;
            }
            if (key[4] == '-') {
                has_oob = true;
                oob = true;
            } else {
                has_execute = true;
            }
            command = json_object_get_string(val);
            if (strlen(command) != (size_t)json_object_get_string_len(val))
                command = "";  /* an embedded NUL names no command */
        } else if (strcmp(key, "arguments") == 0) {
            if (!json_object_is_type(val, json_type_object)) {
                send_error(c, &rid, MONITOR_ERR_GENERIC,
                           "QMP input member 'arguments' must be an object");
                goto out;
            }
            args = val;
        } else if (strcmp(key, "id") != 0) {
            snprintf(desc, sizeof(desc), "QMP input member '%.200s' is unexpected", key);
            send_error(c, &rid, MONITOR_ERR_GENERIC, desc);
            goto out;
        }
    }
    if (!has_execute && !has_oob) {
        send_error(c, &rid, MONITOR_ERR_GENERIC, "QMP input lacks member 'execute'");
        goto out;
    }
    if (has_execute && has_oob) {
        send_error(c, &rid, MONITOR_ERR_GENERIC,
                   "QMP input must not contain both 'execute' and 'exec-oob'");
        goto out;
    }

    struct monitor_command *cmd = find_command(mon, command);
    bool is_caps = strcmp(command, "qmp_capabilities") == 0;
    /* Before negotiation only qmp_capabilities exists, and QEMU rewrites
     * every CommandNotFound into this text (qmp.md §2). */
    if (!c->command_mode && !is_caps) {
        send_error(c, &rid, MONITOR_ERR_COMMAND_NOT_FOUND,
                   "Expecting capabilities negotiation with 'qmp_capabilities'");
        goto out;
    }
    if (!cmd) {
        snprintf(desc, sizeof(desc), "The command %.200s has not been found", command);
        send_error(c, &rid, MONITOR_ERR_COMMAND_NOT_FOUND, desc);
        goto out;
    }
    if (oob) {  /* none of our commands is allow-oob (qmp.md §3.3) */
        snprintf(desc, sizeof(desc), "The command %.200s does not support OOB", command);
        send_error(c, &rid, MONITOR_ERR_GENERIC, desc);
        goto out;
    }

    struct json_object *empty = NULL;
    if (!args)
        args = empty = json_object_new_object();
    struct monitor_error err = { .error_class = "", .desc = "" };
    struct json_object *ret = NULL;
    /* Arguments are checked before any side effect (qmp.md §3.2). */
    if (check_args(cmd->args, args, &err)) {
        if (is_caps)
            ret = cmd_qmp_capabilities(c, args, &err);
        else
            ret = cmd->fn(cmd->opaque, args, &err);
    }
    bool ok = ret != NULL;
    if (ret) {
        send_return(c, ret, &rid);
    } else {
        if (!err.error_class[0])
            monitor_error_set(&err, MONITOR_ERR_GENERIC, "%s failed", command);
        send_error(c, &rid, err.error_class, err.desc);
    }
    json_object_put(empty);
    if (ok && strcmp(command, "quit") == 0)
        c->close_after_flush = true;  /* return, then EOF (qmp.md §4.2) */
out:
    return;
}

/* ------------------------------------------------------------------ */
/* Input                                                               */

/* QEMU's parser messages for the input our tokenizer rejects (qmp.md §3.2). */
static void send_parse_error(struct monitor_client *c, enum json_tokener_error e,
                             const char *at, size_t avail)
{
    char desc[128];
    const char *what;
    switch (e) {
    case json_tokener_error_parse_object_key_sep:
        what = "missing : in object pair";
        break;
    case json_tokener_error_parse_object_value_sep:
        what = "expected separator in dict";
        break;
    case json_tokener_error_parse_array:
        what = "expected separator in list";
        break;
    case json_tokener_error_parse_object_key_name:
        what = "key is not a string in object";
        break;
    case json_tokener_error_parse_string:
        what = "invalid escape sequence in string";
        break;
    case json_tokener_error_depth:
        what = "nesting too deep";
        break;
    default:
        /* A structural character where a value belongs (trailing comma,
         * stray brace) is "expecting value"; anything else is a stray token. */
        if (avail == 0 || strchr("}]:,", *at)) {
            what = "expecting value";
        } else if ((unsigned char)*at >= 0x20 && (unsigned char)*at < 0x7F) {
            snprintf(desc, sizeof(desc), "JSON parse error, stray '%c'", *at);
            send_error(c, NULL, MONITOR_ERR_GENERIC, desc);
            return;
        } else {
            what = "invalid character";
        }
    }
    snprintf(desc, sizeof(desc), "JSON parse error, %s", what);
    send_error(c, NULL, MONITOR_ERR_GENERIC, desc);
}

/* Feed bytes to the streaming parser; newlines are only whitespace, one
 * value may span reads and several may share one (qmp.md §1). */
static void client_feed(struct monitor_client *c, const char *buf, size_t len)
{
    size_t off = 0;
    while (off < len && !c->dead && !c->close_after_flush) {
        if (c->skip_to_newline) {
            /* After a parse error, resume at the next line. */
            const char *nl = memchr(buf + off, '\n', len - off);
            if (!nl) {
                c->pending_input += len - off;
                off = len;
                break;
            }
            off = (size_t)(nl - buf) + 1;
            c->skip_to_newline = false;
            c->pending_input = 0;
            continue;
        }
        if ((unsigned char)buf[off] == 0xFF) {
            /* 0xFF resets the parser (qmp.md §1). */
            json_tokener_reset(c->tok);
            c->pending_input = 0;
            off++;
            continue;
        }
        /* Parse only up to a 0xFF reset byte, if one follows. */
        const char *reset = memchr(buf + off, 0xFF, len - off);
        size_t chunk = reset ? (size_t)(reset - buf) - off : len - off;
        struct json_object *obj = json_tokener_parse_ex(c->tok, buf + off, (int)chunk);
        enum json_tokener_error e = json_tokener_get_error(c->tok);
        size_t used = json_tokener_get_parse_end(c->tok);
        if (used > chunk)
            used = chunk;
        if (e == json_tokener_continue) {
            c->pending_input += chunk;
            off += chunk;
            continue;
        }
        if (e == json_tokener_success) {
            off += used;
            c->pending_input = 0;
            json_tokener_reset(c->tok);
            dispatch(c, obj);
            json_object_put(obj);
            continue;
        }
        send_parse_error(c, e, buf + off + used, chunk - used);
        json_tokener_reset(c->tok);
        off += used;
        c->skip_to_newline = true;
    }
    if (c->pending_input > MONITOR_MAX_PENDING_INPUT && !c->dead) {
        log_warn("monitor: client sent more than %d bytes without a complete JSON value, "
                 "disconnecting it", MONITOR_MAX_PENDING_INPUT);
        c->dead = true;
    }
}

static void client_io(void *opaque, int fd, uint32_t events)
{
    struct monitor_client *c = opaque;
    c->in_dispatch++;
    if (events & EPOLLOUT)
        client_flush(c);
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        char buf[16384];
        /* Bounded rounds so one chatty client cannot starve the loop. */
        for (int round = 0; round < 16 && !c->dead; round++) {
            ssize_t n = read(fd, buf, sizeof(buf));
            if (n > 0) {
                if (!c->close_after_flush)
                    client_feed(c, buf, (size_t)n);
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            /* EOF or error: a partial command is simply dropped. */
            c->dead = true;
        }
    }
    c->in_dispatch--;
    if (!c->dead && c->close_after_flush && c->out.len == c->out_sent)
        c->dead = true;
    client_reap(c);
}

static void client_close(struct monitor_client *c)
{
    struct monitor *mon = c->mon;
    loop_del_fd(mon->loop, c->fd);
    close(c->fd);
    json_tokener_free(c->tok);
    strbuf_free(&c->out);
    free(c);
    mon->client = NULL;
    log_debug("monitor: client disconnected");
    listen_watch(mon, true);  /* let a waiting client in (qmp.md §1) */
}

static void listen_io(void *opaque, int fd, uint32_t events)
{
    struct monitor *mon = opaque;
    if (mon->client)
        return;
    int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            log_warn("monitor: accept on %s: %m", mon->socket_path);
        return;
    }
    struct monitor_client *c = calloc(1, sizeof(*c));
    json_tokener *tok = json_tokener_new_ex(MONITOR_JSON_DEPTH);
    if (!c || !tok) {
        log_error("monitor: out of memory accepting a client");
        free(c);
        if (tok)
            json_tokener_free(tok);
        close(cfd);
        return;
    }
    /* Strict JSON (QEMU rejects trailing commas), values back to back. */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
    c->mon = mon;
    c->fd = cfd;
    c->tok = tok;
    if (loop_add_fd(mon->loop, cfd, EPOLLIN, client_io, c) < 0) {
        log_error("monitor: cannot watch the client socket");
        json_tokener_free(tok);
        free(c);
        close(cfd);
        return;
    }
    mon->client = c;
    listen_watch(mon, false);  /* one client at a time, like a QEMU chardev */
    log_debug("monitor: client connected");

    /* The greeting goes out at once (qmp.md §1.1). We advertise "oob" like
     * QEMU's socket monitors so negotiation code written for QEMU works. */
    struct json_object *greeting = json_object_new_object();
    struct json_object *qmp = json_object_new_object();
    json_object_object_add(qmp, "version", version_object());
    struct json_object *caps = json_object_new_array();
    json_object_array_add(caps, json_object_new_string("oob"));
    json_object_object_add(qmp, "capabilities", caps);
    json_object_object_add(greeting, "QMP", qmp);
    client_send_json(c, greeting);
    json_object_put(greeting);
    client_reap(c);
}

static void listen_watch(struct monitor *mon, bool on)
{
    if (on == mon->listen_watched || mon->listen_fd < 0)
        return;
    if (on) {
        if (loop_add_fd(mon->loop, mon->listen_fd, EPOLLIN, listen_io, mon) < 0) {
            log_error("monitor: cannot watch %s", mon->socket_path);
            return;
        }
    } else {
        loop_del_fd(mon->loop, mon->listen_fd);
    }
    mon->listen_watched = on;
}

/* ------------------------------------------------------------------ */
/* Events                                                              */

static void event_line(struct strbuf *sb, const char *event, struct json_object *data)
{
    /* Wall-clock time, -1/-1 when unavailable (qmp.md §4). */
    struct timeval tv;
    long long sec = -1, usec = -1;
    if (gettimeofday(&tv, NULL) == 0) {
        sec = tv.tv_sec;
        usec = tv.tv_usec;
    }
    strbuf_printf(sb, "{\"timestamp\": {\"seconds\": %lld, \"microseconds\": %lld}, \"event\": ",
                  sec, usec);
    json_out_string(sb, event, strlen(event));
    if (data) {
        strbuf_puts(sb, ", \"data\": ");
        json_out_value(sb, data);
    }
    strbuf_puts(sb, "}");
}

static void broadcast_line(struct monitor *mon, const char *line, size_t len)
{
    struct monitor_client *c = mon->client;
    if (!c || !c->command_mode)  /* never before negotiation (qmp.md §4) */
        return;
    client_send_line(c, line, len);
    client_reap(c);
}

static void throttle_timer(void *opaque, int fd, uint32_t events)
{
    struct monitor_throttle *t = opaque;
    uint64_t expirations;
    ssize_t r = read(fd, &expirations, sizeof(expirations));
    (void)r;
    if (!t->pending_line) {
        t->armed = false;
        return;
    }
    char *line = t->pending_line;
    t->pending_line = NULL;
    struct itimerspec its = { .it_value = { .tv_sec = 1 } };
    timerfd_settime(t->timerfd, 0, &its, NULL);
    broadcast_line(t->mon, line, strlen(line));
    free(line);
}

static struct monitor_throttle *throttle_for(struct monitor *mon, const char *event)
{
    bool throttled = false;
    for (int i = 0; throttled_events[i] && !throttled; i++)
        throttled = strcmp(throttled_events[i], event) == 0;
    if (!throttled)
        return NULL;
    for (struct monitor_throttle *t = mon->throttles; t; t = t->next)
        if (strcmp(t->event, event) == 0)
            return t;
    struct monitor_throttle *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->mon = mon;
    snprintf(t->event, sizeof(t->event), "%s", event);
    t->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (t->timerfd < 0 || loop_add_fd(mon->loop, t->timerfd, EPOLLIN, throttle_timer, t) < 0) {
        log_warn("monitor: cannot rate-limit %s events: %m", event);
        if (t->timerfd >= 0)
            close(t->timerfd);
        free(t);
        return NULL;
    }
    t->next = mon->throttles;
    mon->throttles = t;
    return t;
}

int monitor_emit_event(struct monitor *mon, const char *event, const char *data_json)
{
    struct json_object *data = NULL;
    if (data_json) {
        data = json_tokener_parse(data_json);
        if (!json_object_is_type(data, json_type_object)) {
            log_error("monitor: event %s: data is not a JSON object: %s", event, data_json);
            json_object_put(data);
            return -EINVAL;
        }
    }
    struct strbuf sb = { 0 };
    event_line(&sb, event, data);
    json_object_put(data);
    if (sb.oom) {
        strbuf_free(&sb);
        return -ENOMEM;
    }
    struct monitor_throttle *t = throttle_for(mon, event);
    if (t && t->armed) {
        /* Inside the window: keep only the latest, sent when it ends. */
        free(t->pending_line);
        t->pending_line = sb.data;
        return 0;
    }
    if (t) {
        struct itimerspec its = { .it_value = { .tv_sec = 1 } };
        timerfd_settime(t->timerfd, 0, &its, NULL);
        t->armed = true;
    }
    broadcast_line(mon, sb.data, sb.len);
    strbuf_free(&sb);
    return 0;
}

void monitor_emit_shutdown(struct monitor *mon, const char *event, const char *reason)
{
    /* ShutdownCause: "guest" is true exactly for guest-* (qmp.md §4.1). */
    bool guest = strncmp(reason, "guest-", 6) == 0;
    char data[160];
    struct strbuf sb = { 0 };
    json_out_string(&sb, reason, strlen(reason));
    snprintf(data, sizeof(data), "{\"guest\": %s, \"reason\": %s}", guest ? "true" : "false",
             sb.data ? sb.data : "\"none\"");
    strbuf_free(&sb);
    monitor_emit_event(mon, event, data);
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */

struct monitor *monitor_create(struct loop *loop, const char *socket_path,
                               const struct monitor_info *info,
                               const struct monitor_ops *ops, void *opaque,
                               char *err, size_t errlen)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (!socket_path || !*socket_path) {
        errbuf_set(err, errlen, "monitor socket path is empty");
        return NULL;
    }
    if (strlen(socket_path) >= sizeof(addr.sun_path)) {
        errbuf_set(err, errlen, "monitor socket path %s is too long (max %zu bytes)", socket_path,
                sizeof(addr.sun_path) - 1);
        return NULL;
    }
    memcpy(addr.sun_path, socket_path, strlen(socket_path) + 1);

    struct stat st;
    if (lstat(socket_path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            errbuf_set(err, errlen, "monitor socket path %s exists and is not a socket",
                    socket_path);
            return NULL;
        }
        unlink(socket_path);  /* a stale socket from an earlier run */
    }

    struct monitor *mon = calloc(1, sizeof(*mon));
    if (!mon) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    mon->loop = loop;
    mon->listen_fd = -1;
    mon->ops = ops;
    mon->opaque = opaque;
    mon->socket_path = strdup(socket_path);
    if (info && info->name && *info->name)
        mon->name = strdup(info->name);
    mon->uuid = strdup(info && info->uuid && *info->uuid ? info->uuid
                                                         : "00000000-0000-0000-0000-000000000000");
    mon->ram_size = info ? info->ram_size : 0;
    mon->kvm_enabled = info ? info->kvm_enabled : false;
    if (!mon->socket_path || !mon->uuid || (info && info->name && *info->name && !mon->name)) {
        errbuf_set(err, errlen, "out of memory");
        monitor_free(mon);
        return NULL;
    }

    mon->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (mon->listen_fd < 0) {
        errbuf_set(err, errlen, "monitor socket: %s", strerror(errno));
        monitor_free(mon);
        return NULL;
    }
    if (bind(mon->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(mon->listen_fd, 8) < 0) {
        errbuf_set(err, errlen, "monitor socket %s: %s", socket_path, strerror(errno));
        close(mon->listen_fd);
        mon->listen_fd = -1;
        free(mon->socket_path);
        mon->socket_path = NULL;  /* not ours to unlink */
        monitor_free(mon);
        return NULL;
    }
    register_builtins(mon);
    monitor_hmp_register_builtins(mon);
    listen_watch(mon, true);
    if (!mon->listen_watched) {
        errbuf_set(err, errlen, "monitor socket %s: cannot watch it in the event loop",
                socket_path);
        monitor_free(mon);
        return NULL;
    }
    return mon;
}

/* Best-effort: give queued output (e.g. the quit reply) up to 500 ms. */
static void client_final_flush(struct monitor_client *c)
{
    for (int i = 0; i < 50 && !c->dead && c->out.len > c->out_sent; i++) {
        client_flush(c);
        if (c->out.len > c->out_sent) {
            struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
            poll(&pfd, 1, 10);
        }
    }
}

void monitor_free(struct monitor *mon)
{
    if (!mon)
        return;
    if (mon->client) {
        client_final_flush(mon->client);
        mon->client->in_dispatch = 0;
        struct monitor_client *c = mon->client;
        loop_del_fd(mon->loop, c->fd);
        close(c->fd);
        json_tokener_free(c->tok);
        strbuf_free(&c->out);
        free(c);
        mon->client = NULL;
    }
    listen_watch(mon, false);
    if (mon->listen_fd >= 0)
        close(mon->listen_fd);
    if (mon->socket_path)
        unlink(mon->socket_path);
    while (mon->throttles) {
        struct monitor_throttle *t = mon->throttles;
        mon->throttles = t->next;
        loop_del_fd(mon->loop, t->timerfd);
        close(t->timerfd);
        free(t->pending_line);
        free(t);
    }
    free(mon->commands);
    free(mon->hmp);
    free(mon->socket_path);
    free(mon->name);
    free(mon->uuid);
    free(mon);
}

const char *monitor_socket_path(const struct monitor *mon)
{
    return mon->socket_path;
}
