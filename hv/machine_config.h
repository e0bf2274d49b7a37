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
/* Firmware for domains without a kernel: Debian's SeaBIOS (package seabios). */
#define HV_DEFAULT_FIRMWARE "/usr/share/seabios/bios-256k.bin"

enum hv_serial_type { HV_SERIAL_STDIO, HV_SERIAL_FILE, HV_SERIAL_UNIX, HV_SERIAL_NONE };
enum hv_on_reboot { HV_ON_REBOOT_RESET, HV_ON_REBOOT_EXIT };

struct hv_serial_config {
    enum hv_serial_type type;
    char *path;               /* file / unix */
};

enum hv_disk_format { HV_DISK_FORMAT_RAW = 0, HV_DISK_FORMAT_QCOW2 };
#define HV_MAX_BOOTINDEX 65535
/* bus=ide: the PIIX3 IDE controller (hv/devices/ide.h), units 0..3 =
 * primary master/slave, secondary master/slave; media=cdrom only there. */
enum hv_disk_bus { HV_DISK_BUS_VIRTIO = 0, HV_DISK_BUS_IDE };
enum hv_disk_media { HV_DISK_MEDIA_DISK = 0, HV_DISK_MEDIA_CDROM };
#define HV_IDE_UNITS 4

struct hv_disk_config {
    char *path;
    enum hv_disk_format format;   /* of the image itself; backing files name their own */
    bool readonly;
    char *serial;             /* NULL: none */
    char *id;                 /* NULL: virtio-diskN */
    unsigned bootindex;       /* firmware boot order, 1 first; 0: not in the order */
    enum hv_disk_bus bus;
    int unit;                 /* IDE unit 0..3; -1: the first free one */
    enum hv_disk_media media; /* a cdrom is read-only; without path its tray is empty */
};

/* --nic / "nics": an e1000 or virtio-net on a tap, opened by name or
 * handed in as fds by the daemon (hv/config_nic.c; the machine creates them, hv/machine.h). */
#define HV_NIC_MAX_QUEUES 8   /* virtio-net queue pairs (VIRTIO_NET_MAX_PAIRS) */
enum hv_nic_model { HV_NIC_VIRTIO, HV_NIC_E1000 };
enum hv_nic_vhost { HV_NIC_VHOST_AUTO, HV_NIC_VHOST_ON, HV_NIC_VHOST_OFF };
struct hv_nic_config {
    enum hv_nic_model model;
    bool has_model;
    char *ifname;             /* tap to open, or NULL with fds */
    int fds[HV_NIC_MAX_QUEUES];       /* tap queue fds handed in */
    unsigned nfds;
    int vhostfds[HV_NIC_MAX_QUEUES];  /* /dev/vhost-net fds, one per pair */
    unsigned nvhostfds;
    unsigned queues;          /* 0 = one pair (or nfds) */
    enum hv_nic_vhost vhost;
    bool has_mac;
    uint8_t mac[6];
    char *id;                 /* monitor id; NULL: the device's default */
    bool link_down;           /* link=off */
};

/* --hostdev / "hostdevs": a host PCI function assigned with VFIO
 * (hv/vfio/config_hostdev.c, hv/vfio/vfio.h). */
#define HV_MAX_HOSTDEVS 8
struct hv_hostdev_config {
    char host[16];            /* DDDD:BB:SS.F, lower-case hex */
    int group;                /* IOMMU group N (/dev/vfio/N); -1: from sysfs */
    int groupfd;              /* handed-in /dev/vfio/N fd; -1: open it */
    char *id;                 /* monitor id; NULL: hostdevN */
};

struct hv_config {
    char *name;
    char *uuid;               /* canonical 36-character form, or NULL */
    char *kernel;             /* direct Linux boot; NULL: boot the firmware */
    char *firmware;           /* BIOS image; NULL: HV_DEFAULT_FIRMWARE (docs/firmware.md) */
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
    struct hv_nic_config nics[HV_MAX_NICS];
    unsigned nnics;
    /* --balloon / "balloon": a virtio-balloon (hv/virtio/balloon.h). */
    struct hv_balloon_config {
        bool enabled;
        char *id;                 /* NULL: balloon0 */
        bool deflate_on_oom;
        bool free_page_reporting;
        unsigned stats_period;    /* seconds, 0 = no polling */
    } balloon;
    struct hv_hostdev_config hostdevs[HV_MAX_HOSTDEVS];
    unsigned nhostdevs;
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

/* A count written as decimal digits only, 0..max ("", "+1", "-1", "1x"
 * and overflow refused); the option parsers' common number form. */
bool hv_config_parse_count(const char *s, long max, long *out);

/* Parse one --disk value: path=FILE[,format=raw|qcow2][,bootindex=N]
 * [,readonly=on|off][,serial=STR][,id=ID][,bus=virtio|ide][,unit=0..3]
 * [,media=disk|cdrom] (",," is a literal comma; a cdrom needs no path). */
bool hv_config_add_disk_spec(struct hv_config *cfg, const char *spec, char *err, size_t errlen);
/* Parse one --balloon value: "on" or
 * [id=ID][,deflate-on-oom=on][,free-page-reporting=on][,stats-period=SECS]. */
bool hv_config_set_balloon_spec(struct hv_config *cfg, const char *spec, char *err, size_t errlen);
/* Parse one --nic value: model=e1000|virtio,(ifname=TAP|fds=N[:N...])
 * [,vhostfds=N[:N...]][,queues=N][,vhost=on|off|auto][,mac=MAC][,id=ID]
 * [,link=on|off]. */
bool hv_config_add_nic_spec(struct hv_config *cfg, const char *spec, char *err, size_t errlen);
/* The JSON "nics" array (same keys; fds/vhostfds are integer arrays,
 * link also a boolean). */
struct json_object;
bool hv_config_json_nics(struct hv_config *cfg, struct json_object *nics, char *err,
                         size_t errlen);
/* Per-NIC checks needing the whole config: unique ids, handed-in fds open. */
bool hv_config_validate_nics(const struct hv_config *cfg, char *err, size_t errlen);
void hv_config_free_nics(struct hv_config *cfg);
/* Parse one --hostdev value: host=DDDD:BB:SS.F[,group=N][,groupfd=N][,id=ID]
 * ("BB:SS.F" means domain 0000). */
bool hv_config_add_hostdev_spec(struct hv_config *cfg, const char *spec, char *err, size_t errlen);
/* The JSON "hostdevs" array: [{"host", "group"?, "groupfd"?, "id"?}]. */
bool hv_config_json_hostdevs(struct hv_config *cfg, struct json_object *hostdevs, char *err,
                             size_t errlen);
/* Unique hosts and ids, handed-in group fds open. */
bool hv_config_validate_hostdevs(const struct hv_config *cfg, char *err, size_t errlen);
void hv_config_free_hostdevs(struct hv_config *cfg);
/* Parse one --serial value: stdio | none | file:PATH | unix:PATH. */
bool hv_config_set_serial_spec(struct hv_config *cfg, const char *spec, char *err, size_t errlen);

/* "raw" / "qcow2" <-> enum hv_disk_format; parse returns false for
 * anything else. */
bool hv_disk_format_parse(const char *s, enum hv_disk_format *out);
const char *hv_disk_format_name(enum hv_disk_format f);

/* The firmware image this config boots: NULL with a kernel (direct boot),
 * else cfg->firmware or HV_DEFAULT_FIRMWARE. */
const char *hv_config_firmware(const struct hv_config *cfg);

/* Final checks that need the whole config (kernel or firmware readable,
 * cpus in range, ...). */
bool hv_config_validate(const struct hv_config *cfg, char *err, size_t errlen);

/* Usage text for --help. */
void hv_config_usage(FILE *out);
