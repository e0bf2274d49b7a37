/* hv's machine configuration: filled from the command line and/or a JSON
 * machine description (--config FILE, written by the daemon). Both use
 * the same names; see hv --help and docs in hv/config.c. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HV_MAX_DISKS 16
#define HV_MAX_NICS 8
#define HV_MAX_CPUS 254       /* xAPIC ids 0..253; 0xFF is broadcast */
#define HV_MIN_MEMORY (32ULL << 20)
#define HV_DEFAULT_MEMORY (512ULL << 20)

enum hv_serial_type { HV_SERIAL_STDIO, HV_SERIAL_FILE, HV_SERIAL_UNIX, HV_SERIAL_NONE };
enum hv_on_reboot { HV_ON_REBOOT_RESET, HV_ON_REBOOT_EXIT };

struct hv_serial_config {
    enum hv_serial_type type;
    char *path;               /* file / unix */
};

struct hv_disk_config {
    char *path;
    bool readonly;
    char *serial;             /* NULL: none */
    char *id;                 /* NULL: virtio-diskN */
};

/* Reserved for the NIC work (tap/vhost fds handed in by the daemon). */
struct hv_nic_config {
    char *spec;
};

struct hv_config {
    char *name;
    char *uuid;               /* canonical 36-character form, or NULL */
    char *kernel;
    char *initrd;
    char *append;
    char *monitor;            /* unix socket path for the QMP monitor */
    uint64_t memory;          /* bytes */
    unsigned cpus;
    bool hugepages;
    bool no_shutdown;
    enum hv_on_reboot on_reboot;
    struct hv_serial_config serial;
    struct hv_disk_config disks[HV_MAX_DISKS];
    unsigned ndisks;
    struct hv_nic_config nics[HV_MAX_NICS];   /* not parsed yet */
    unsigned nnics;
    /* --balloon / "balloon": a virtio-balloon (hv/virtio/balloon.h). */
    struct hv_balloon_config {
        bool enabled;
        char *id;                 /* NULL: balloon0 */
        bool deflate_on_oom;
        bool free_page_reporting;
        unsigned stats_period;    /* seconds, 0 = no polling */
    } balloon;
    bool debug;               /* --debug: log level debug */
};

/* Defaults: 512 MiB, 1 vCPU, serial on stdio, on_reboot reset. */
void hv_config_init(struct hv_config *cfg);
void hv_config_free(struct hv_config *cfg);

enum hv_args_result { HV_ARGS_OK, HV_ARGS_EXIT, HV_ARGS_ERROR };
/* Parse argv (options may appear in any order; --config is applied where
 * it appears, so later options override the file). HV_ARGS_EXIT after
 * printing --help/--version to stdout. On error err holds one line. */
enum hv_args_result hv_config_parse_args(struct hv_config *cfg, int argc, char **argv,
                                         char *err, size_t errlen);

/* Apply a JSON machine description (text, or a file). Unknown keys and
 * wrongly typed values are errors naming the key. */
bool hv_config_apply_json(struct hv_config *cfg, const char *text, char *err, size_t errlen);
bool hv_config_load_file(struct hv_config *cfg, const char *path, char *err, size_t errlen);

/* Parse one --disk value: path=FILE[,readonly=on|off][,serial=STR][,id=ID]
 * (",," is a literal comma). */
bool hv_config_add_disk_spec(struct hv_config *cfg, const char *spec, char *err, size_t errlen);
/* Parse one --balloon value: "on" or
 * [id=ID][,deflate-on-oom=on][,free-page-reporting=on][,stats-period=SECS]. */
bool hv_config_set_balloon_spec(struct hv_config *cfg, const char *spec, char *err, size_t errlen);
/* Parse one --serial value: stdio | none | file:PATH | unix:PATH. */
bool hv_config_set_serial_spec(struct hv_config *cfg, const char *spec, char *err, size_t errlen);

/* Final checks that need the whole config (kernel present and readable,
 * cpus in range, ...). */
bool hv_config_validate(const struct hv_config *cfg, char *err, size_t errlen);

/* Usage text for --help. */
void hv_config_usage(FILE *out);
