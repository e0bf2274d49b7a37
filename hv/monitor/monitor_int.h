/* Monitor internals shared by qmp.c (protocol, QMP commands) and hmp.c
 * (human-monitor-command). Not for use outside hv/monitor/. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/monitor/command.h"
#include "hv/monitor/json_out.h"
#include "hv/monitor/monitor.h"

/* The QEMU version this monitor's shapes follow; clients such as libvirt
 * check it, hvd's own version goes into "package" (docs/monitor.md). */
#define MONITOR_QEMU_MAJOR 7
#define MONITOR_QEMU_MINOR 2
#define MONITOR_QEMU_MICRO 0

struct monitor_command {
    const char *name;
    const struct monitor_arg *args;
    monitor_cmd_fn fn;
    void *opaque;
};

struct monitor_hmp_command {
    const char *name;         /* "stop|s", "info pci", ... */
    const char *params_help;
    const char *help;
    monitor_hmp_fn fn;
    void *opaque;
};

struct monitor_text {
    struct strbuf buf;
};

struct monitor_client;
struct monitor_throttle;

struct monitor {
    struct loop *loop;
    char *socket_path;
    int listen_fd;
    bool listen_watched;
    struct monitor_client *client;  /* at most one, like a QEMU chardev */

    char *name;  /* NULL when unnamed */
    char *uuid;
    uint64_t ram_size;
    bool kvm_enabled;

    const struct monitor_ops *ops;
    void *opaque;

    struct monitor_command *commands;
    size_t n_commands, cap_commands;
    struct monitor_hmp_command *hmp;
    size_t n_hmp, cap_hmp;

    struct monitor_throttle *throttles;
};

/* hmp.c */
void monitor_hmp_register_builtins(struct monitor *mon);
/* Runs one HMP command line; returns the output with "\r\n" line ends
 * (caller frees), or NULL when out of memory. */
char *monitor_hmp_run(struct monitor *mon, const char *command_line);

/* hmp.c helpers for HMP commands elsewhere in hv/monitor/ */
const char *monitor_skip_blanks(const char *s);
size_t monitor_word_len(const char *s);
/* Commands without parameters refuse extra words with QEMU's text;
 * false (and the text printed) when args is not empty. */
bool monitor_hmp_no_args(struct monitor_text *out, const char *help_name,
                         const char *short_name, const char *args);

/* qmp.c helpers used by hmp.c */
const char *monitor_run_state(struct monitor *mon, bool *running);
/* Query ops with the grow-and-retry convention; return a malloc'd array
 * (free with free()), *count entries; NULL with *count 0 when none. */
struct monitor_cpu *monitor_get_cpus(struct monitor *mon, int *count);
struct monitor_pci_dev *monitor_get_pci(struct monitor *mon, int *count);
const char *monitor_pci_class_name(uint16_t class_code);
const char *monitor_version_package(void);
