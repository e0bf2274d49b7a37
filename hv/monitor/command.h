/* Registering extra monitor commands from other modules (balloon, network,
 * ...) without editing qmp.c. Handlers see json-c objects; the monitor does
 * the framing, the id echo, and checks arguments against a declared list
 * before calling the handler, with QEMU 7.2's error texts (qmp.md §3.2),
 * so a handler never sees a missing, unexpected or mistyped argument.
 *
 * Main thread only, like everything in the monitor. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

struct monitor;

enum monitor_arg_type {
    MONITOR_ARG_STRING,
    MONITOR_ARG_INT,      /* a JSON integer (int64 or uint64) */
    MONITOR_ARG_BOOL,
    MONITOR_ARG_NUMBER,   /* integer or floating point */
    MONITOR_ARG_OBJECT,
    MONITOR_ARG_ARRAY,
    MONITOR_ARG_ANY,      /* any JSON value, checked by the handler */
};

/* One declared argument. A command's list ends with { .name = NULL }.
 * A final entry named "*" accepts any further members unchecked (QEMU's
 * device_add-style commands). */
struct monitor_arg {
    const char *name;
    enum monitor_arg_type type;
    bool optional;
};

/* QEMU 7.2's error classes (qmp.md §3.1). */
#define MONITOR_ERR_GENERIC "GenericError"
#define MONITOR_ERR_COMMAND_NOT_FOUND "CommandNotFound"
#define MONITOR_ERR_DEVICE_NOT_ACTIVE "DeviceNotActive"
#define MONITOR_ERR_DEVICE_NOT_FOUND "DeviceNotFound"
#define MONITOR_ERR_KVM_MISSING_CAP "KVMMissingCap"

struct monitor_error {
    char error_class[32];
    char desc[512];
};

/* Fill err (class is one of MONITOR_ERR_*). Returns NULL so a handler can
 * `return monitor_error_set(err, ...);`. */
struct json_object *monitor_error_set(struct monitor_error *err, const char *error_class,
                                      const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A command handler. args is the "arguments" object (an empty object when
 * the client sent none; borrowed, already checked against the declared
 * list). Return the "return" value as a new reference (json_object_new_object()
 * for commands that return nothing), or NULL after monitor_error_set(). */
typedef struct json_object *(*monitor_cmd_fn)(void *opaque, struct json_object *args,
                                              struct monitor_error *err);

/* Add (or replace, when the name exists) a QMP command; it shows up in
 * query-commands. args may be NULL for commands that take no arguments.
 * The args array and name must outlive the monitor (use static data).
 * Returns 0 or -ENOMEM. */
int monitor_register_command(struct monitor *mon, const char *name,
                             const struct monitor_arg *args, monitor_cmd_fn fn, void *opaque);

/* HMP text output for human-monitor-command. Handlers print lines ending
 * in "\n"; the monitor turns them into "\r\n" as QEMU's monitor does. */
struct monitor_text;
void monitor_text_printf(struct monitor_text *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* An HMP command. `name` is the command word ("balloon") or, for info
 * subcommands, "info WORD" ("info balloon"). `args` is the rest of the
 * command line with leading blanks removed ("" when none). HMP errors are
 * printed text ("Error: ...\n"), never QMP errors (qmp.md §5). */
typedef void (*monitor_hmp_fn)(void *opaque, const char *args, struct monitor_text *out);

/* Add (or replace) an HMP command. params_help and help are what "help" /
 * "info" list, e.g. ("balloon", "target", "request VM to change its memory
 * allocation (in MB)"). Strings must outlive the monitor. Returns 0 or
 * -ENOMEM. */
int monitor_register_hmp(struct monitor *mon, const char *name, const char *params_help,
                         const char *help, monitor_hmp_fn fn, void *opaque);
