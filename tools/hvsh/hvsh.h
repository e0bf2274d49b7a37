/* hvsh: a virsh-style command line client for hvd, on libvirt's client
 * library. This header is shared by the command groups (domain.c,
 * create.c, nodedev.c, monitor.c, host_validate.c), the argument parser
 * (args.c) and the output helpers (output.c). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include <glib.h>
#include <json-c/json.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#define HVSH_DEFAULT_URI "qemu+unix:///system?socket=/run/hvd/hvd-sock"

/* Exit codes: scripts tell a libvirt failure from a typing mistake. */
enum {
    HVSH_EXIT_OK = 0,
    HVSH_EXIT_ERROR = 1, /* libvirt (or the host) said no; message on stderr */
    HVSH_EXIT_USAGE = 2, /* unknown command, bad option, bad value */
};

/* ------------------------------------------------------------ options */

enum hvsh_opt_kind {
    HVSH_OPT_BOOL,     /* --flag */
    HVSH_OPT_STRING,   /* --opt VALUE, --opt=VALUE, or positional */
    HVSH_OPT_LIST,     /* repeatable --opt VALUE; positional: takes the rest */
    HVSH_OPT_OPTIONAL, /* --opt or --opt=VALUE (never takes the next word) */
};

enum {
    HVSH_OPT_POSITIONAL = 1u << 0, /* may be given without its --name */
    HVSH_OPT_REQUIRED = 1u << 1,
};

struct hvsh_opt_def {
    const char *name; /* without the leading "--" */
    enum hvsh_opt_kind kind;
    unsigned flags;
    const char *help;
};

struct hvsh_ctl;
struct hvsh_args;

enum {
    HVSH_CMD_NO_CONNECT = 1u << 0, /* runs without a libvirt connection */
    HVSH_CMD_EVENT_LOOP = 1u << 1, /* needs libvirt's default event loop */
};

struct hvsh_cmd_def {
    const char *name;
    const char *alias; /* another accepted spelling (virsh's old names) */
    const char *summary;
    const char *description;
    const struct hvsh_opt_def *opts; /* terminated by { NULL } */
    int (*run)(struct hvsh_ctl *ctl, const struct hvsh_args *args);
    unsigned flags;
};

#define HVSH_MAX_OPTS 24

struct hvsh_arg_value {
    bool present;
    const char *value; /* last value given (string, optional) */
    GPtrArray *values; /* every value of a LIST option, borrowed strings */
};

struct hvsh_args {
    const struct hvsh_cmd_def *cmd;
    bool help; /* --help was given: show the command's help instead */
    struct hvsh_arg_value v[HVSH_MAX_OPTS];
};

/* Parse a command's arguments (argv excludes the command name). Errors
 * name the command and the option, in virsh's words. `out` must be
 * cleared with hvsh_args_clear() in any case. */
bool hvsh_args_parse(const struct hvsh_cmd_def *cmd, int argc, char **argv,
                     struct hvsh_args *out, GError **err);
void hvsh_args_clear(struct hvsh_args *args);

bool hvsh_arg_bool(const struct hvsh_args *args, const char *name);
bool hvsh_arg_present(const struct hvsh_args *args, const char *name);
const char *hvsh_arg_str(const struct hvsh_args *args, const char *name);
/* Every value of a LIST option (empty array if none); never NULL. */
const GPtrArray *hvsh_arg_list(const struct hvsh_args *args, const char *name);
/* Non-negative integer option; false with err set if malformed. A missing
 * option leaves *value untouched and returns true. */
bool hvsh_arg_uint(const struct hvsh_args *args, const char *name, unsigned long long max,
                   unsigned long long *value, GError **err);

/* "512M", "2G", "1048576" (default_unit_bytes per unit-less number) into
 * KiB, rounded up as libvirt does for sizes given in bytes. */
bool hvsh_parse_size_kib(const char *text, uint64_t default_unit_bytes, uint64_t *kib,
                         GError **err);

/* The help text of one command, virsh's layout (NAME, SYNOPSIS, ...). */
char *hvsh_cmd_help(const struct hvsh_cmd_def *cmd);

/* ------------------------------------------------------------- output */

/* Tables: text aligned like virsh's (" Id   Name   State" + dashes), or a
 * JSON array of objects. INT columns become JSON numbers; "-" or "" in an
 * INT column becomes null. */
enum hvsh_col_kind { HVSH_COL_STR, HVSH_COL_INT };

struct hvsh_col {
    const char *header;
    const char *key; /* JSON member name */
    enum hvsh_col_kind kind;
};

typedef struct hvsh_table hvsh_table;
struct hvsh_table *hvsh_table_new(const struct hvsh_col *cols, size_t n_cols);
void hvsh_table_add_row(struct hvsh_table *t, const char *const *cells);
char *hvsh_table_to_text(const struct hvsh_table *t);
char *hvsh_table_to_json(const struct hvsh_table *t);
void hvsh_table_free(struct hvsh_table *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(hvsh_table, hvsh_table_free)

/* Key/value records (dominfo): "Label:          value" lines (virsh's
 * %-15s), or one JSON object. */
typedef struct hvsh_kv hvsh_kv;
struct hvsh_kv *hvsh_kv_new(void);
void hvsh_kv_add_str(struct hvsh_kv *kv, const char *label, const char *key, const char *value);
void hvsh_kv_add_int(struct hvsh_kv *kv, const char *label, const char *key, int64_t value,
                     const char *text_unit);
/* Text and JSON given separately (json may be NULL for null; owned). */
void hvsh_kv_add_raw(struct hvsh_kv *kv, const char *label, const char *key, const char *text,
                     json_object *json);
void hvsh_kv_add_bool(struct hvsh_kv *kv, const char *label, const char *key, bool value);
char *hvsh_kv_to_text(const struct hvsh_kv *kv);
char *hvsh_kv_to_json(const struct hvsh_kv *kv);
void hvsh_kv_free(struct hvsh_kv *kv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(hvsh_kv, hvsh_kv_free)

/* Pretty JSON text of `obj` (2-space indent), newline-terminated. */
char *hvsh_json_pretty(json_object *obj);

/* ----------------------------------------------------------- runtime */

struct hvsh_ctl {
    const char *uri;
    bool readonly;
    bool json; /* --json: machine-readable output on every read command */
    virConnectPtr conn;
};

/* Open ctl->uri (with libvirt's default event loop) unless open already;
 * HVSH_EXIT_OK or HVSH_EXIT_ERROR with the error printed. */
int hvsh_connect(struct hvsh_ctl *ctl);
/* Print "error: <message>" to stderr. */
void hvsh_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* Print "error: <context>" and libvirt's last error, as virsh does;
 * returns HVSH_EXIT_ERROR. */
int hvsh_libvirt_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* Route libvirt's errors to hvsh (no default printing; kept for the
 * next hvsh_libvirt_error). */
void hvsh_install_error_handler(void);
/* virErrorNumber of the last libvirt error seen. */
int hvsh_last_error_code(void);
/* Action result: text line, or {"ok":true,"message":...} with --json. */
void hvsh_done(struct hvsh_ctl *ctl, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Domain by id, uuid or name (virsh's order); prints the error. */
virDomainPtr hvsh_lookup_domain(struct hvsh_ctl *ctl, const char *text);

/* Command tables of each group, terminated by { NULL }. */
extern const struct hvsh_cmd_def hvsh_domain_cmds[];
extern const struct hvsh_cmd_def hvsh_create_cmds[];
extern const struct hvsh_cmd_def hvsh_nodedev_cmds[];
extern const struct hvsh_cmd_def hvsh_monitor_cmds[];
extern const struct hvsh_cmd_def hvsh_host_validate_cmds[];
extern const struct hvsh_cmd_def hvsh_bench_cmds[]; /* bench.c */

/* ------------------------------------------------------- create (pure) */

struct hvsh_disk_spec {
    char *path;
    bool readonly;
};

enum hvsh_nic_vhost { HVSH_VHOST_DEFAULT, HVSH_VHOST_ON, HVSH_VHOST_OFF };

struct hvsh_nic_spec {
    char *model;  /* "virtio" or "e1000" */
    char *bridge; /* type='bridge' ... */
    char *ifname; /* ... or type='ethernet' with this tap */
    enum hvsh_nic_vhost vhost;
    unsigned queues; /* 0: not given */
    char *mac;
};

struct hvsh_create_spec {
    const char *name;
    uint64_t memory_kib;
    unsigned vcpus;
    const char *kernel;
    const char *initrd;
    const char *cmdline;
    GPtrArray *disks;    /* struct hvsh_disk_spec * */
    GPtrArray *nics;     /* struct hvsh_nic_spec * */
    bool balloon;
    unsigned balloon_period; /* seconds; 0: no <stats> */
    GPtrArray *hostdevs; /* char * "DDDD:BB:SS.F" normalised */
};

bool hvsh_disk_spec_parse(const char *text, struct hvsh_disk_spec *out, GError **err);
bool hvsh_nic_spec_parse(const char *text, struct hvsh_nic_spec *out, GError **err);
/* "0000:02:10.0", "02:10.0" or "pci_0000_02_10_0" into domain/bus/slot/function. */
bool hvsh_pci_addr_parse(const char *text, unsigned *domain, unsigned *bus, unsigned *slot,
                         unsigned *function, GError **err);
void hvsh_disk_spec_free(struct hvsh_disk_spec *d);
void hvsh_nic_spec_free(struct hvsh_nic_spec *n);
/* Domain XML for the spec (libvirt-gconfig, plus libxml2 where gconfig
 * has no API; see create.c). */
char *hvsh_create_compose_xml(const struct hvsh_create_spec *spec, GError **err);

/* --------------------------------------------------- host-validate (pure) */

enum hvsh_check_level { HVSH_PASS, HVSH_WARN, HVSH_FAIL };

struct hvsh_check {
    enum hvsh_check_level level;
    char *id;   /* short stable name for scripts: "kvm-device" */
    char *what; /* what was found */
    char *fix;  /* how to fix it (WARN/FAIL), or NULL */
};

/* Run every check with /dev, /proc and /sys under `root` ("/" normally;
 * tests give a fake tree). Returns struct hvsh_check *. */
GPtrArray *hvsh_host_validate(const char *root);
const char *hvsh_check_level_name(enum hvsh_check_level level);
