/* The domain model: libvirt domain XML parsed into C, the way hvd can run it.
 *
 * domain_def_parse_*() turns XML into a DomainDef (semantic checks in
 * domain_validate.c, structure checked against schemas/domain.rng),
 * domain_def_format() turns it back into libvirt domain XML, inactive
 * (what `virsh dumpxml --inactive` shows) or live (adds the run-time bits
 * from a DomainRuntime the domain driver fills). Everything the model does
 * not interpret but keeps (<metadata>, <graphics>, ...) is stored verbatim
 * and written back unchanged. docs/domain-xml.md lists what is accepted,
 * kept and refused. Errors are GErrors in the HVD_VIR_ERROR domain
 * (drivers/virerror.h). */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "drivers/virerror.h"

#define DOMAIN_UUID_LEN 16
#define DOMAIN_UUID_STRING_LEN 37 /* 36 characters and the NUL */
#define DOMAIN_MAC_LEN 6
#define DOMAIN_MAC_STRING_LEN 18
/* hvd's worker sizes: one PCI bus, 32 slots, up to 255 vCPUs (8-bit APIC
 * IDs, no x2APIC), four ISA serial ports (COM1-4). */
#define DOMAIN_MAX_VCPUS 255
#define DOMAIN_MAX_SERIAL_PORTS 4
#define DOMAIN_MAX_NET_QUEUES 64
/* Deepest backing chain read or probed: libvirt's limit (its
 * virStorageSourceGetMetadataRecurse). */
#define DOMAIN_MAX_BACKING_CHAIN 200
/* First slot hvd hands out: slot 0 is the host bridge, 1 and 2 are kept
 * free as libvirt keeps them for the ISA bridge and the primary VGA on a
 * "pc" machine, so our addresses look like libvirt's. */
#define DOMAIN_PCI_FIRST_AUTO_SLOT 3
#define DOMAIN_PCI_MAX_SLOT 31

typedef enum {
    DOMAIN_TRISTATE_DEFAULT = 0, /* not given: attribute is not written back */
    DOMAIN_TRISTATE_ON,
    DOMAIN_TRISTATE_OFF,
} DomainTristate;

typedef enum {
    DOMAIN_LIFECYCLE_DESTROY = 0,
    DOMAIN_LIFECYCLE_RESTART,
    DOMAIN_LIFECYCLE_PRESERVE,
    DOMAIN_LIFECYCLE_RENAME_RESTART,
    DOMAIN_LIFECYCLE_COREDUMP_DESTROY,
    DOMAIN_LIFECYCLE_COREDUMP_RESTART,
} DomainLifecycleAction;

/* A PCI address: guest side (<address type='pci'> on a device) or host
 * side (<source><address> of a hostdev). */
typedef struct {
    bool present;
    unsigned domain, bus, slot, function;
} DomainPciAddr;

/* One layer of a disk's backing chain (formatdomain "backingStore"):
 * <backingStore type='file|block'><format type=/><source file=|dev=/>. */
typedef struct {
    bool is_block;          /* type='block' (source dev=) vs 'file' (source file=) */
    char *format;           /* "raw", "qcow2", ... as written or probed */
    char *source;           /* path */
    unsigned index;         /* live XML only: libvirt's storage node index (0 = none) */
} DomainStorageLayer;

/* A backing chain below a disk's source, top layer first. `complete`: the
 * last layer (or the disk itself when there is none) is followed by an
 * empty <backingStore/>, i.e. it has no backing file. */
typedef struct {
    GPtrArray *layers;      /* DomainStorageLayer* */
    bool complete;
} DomainBackingChain;

typedef enum {
    DOMAIN_DISK_BUS_VIRTIO = 0,     /* vdX, a virtio-blk PCI device */
    DOMAIN_DISK_BUS_IDE,            /* hdX on the PIIX3 IDE controller */
} DomainDiskBus;

typedef enum {
    DOMAIN_DISK_DEVICE_DISK = 0,
    DOMAIN_DISK_DEVICE_CDROM,       /* IDE only, raw, read-only, may be empty */
} DomainDiskDevice;

/* IDE drive slots: one controller, buses 0 and 1, units 0 and 1 */
#define DOMAIN_IDE_BUSES 2
#define DOMAIN_IDE_UNITS 2

/* <address type='drive' controller= bus= target= unit=> of an IDE disk. */
typedef struct {
    bool present;
    unsigned controller, bus, target, unit;
} DomainDriveAddr;

typedef struct {
    bool is_block;          /* <disk type='block'> (source dev=) vs 'file' (source file=) */
    DomainDiskDevice device;
    DomainDiskBus bus;
    char *source;           /* path; NULL = no medium (an empty cdrom) */
    char *target_dev;       /* "vda", "hdc" */
    char *driver_name;      /* "qemu" or NULL */
    char *driver_type;      /* "raw", "qcow2" or NULL (raw) */
    char *driver_cache;     /* kept as given: none, writeback, ... */
    char *driver_io;        /* kept: native, threads, io_uring */
    char *driver_discard;   /* kept: unmap, ignore */
    bool readonly;
    bool shareable;
    char *serial;
    unsigned boot_order;    /* 0 = none */
    char *user_alias;       /* "ua-..." alias the user gave, or NULL */
    DomainPciAddr addr;     /* virtio disks */
    DomainDriveAddr drive;  /* IDE disks: always present after parse */
    /* <backingStore> as the user wrote it (NULL: none given); kept and
     * written back in the inactive XML. */
    DomainBackingChain *backing;
    /* Run time: the chain probed from the image headers when the domain
     * started (drivers/domain/storage_chain.c), with libvirt's node
     * indexes; only the live XML shows it (and then instead of `backing`).
     * NULL until probed; never parsed from XML. */
    DomainBackingChain *live_chain;
    unsigned live_index;    /* node index of the disk's own source */
} DomainDisk;

typedef enum {
    DOMAIN_NET_ETHERNET = 0,
    DOMAIN_NET_BRIDGE,
    DOMAIN_NET_NETWORK,
    DOMAIN_NET_HOSTDEV,
} DomainNetType;

typedef enum {
    DOMAIN_NET_MODEL_VIRTIO = 0,
    DOMAIN_NET_MODEL_E1000,
} DomainNetModel;

typedef enum {
    DOMAIN_NET_BACKEND_DEFAULT = 0, /* no <driver name=>: vhost when available */
    DOMAIN_NET_BACKEND_VHOST,
    DOMAIN_NET_BACKEND_QEMU,        /* userspace virtio back end in the worker */
} DomainNetBackend;

typedef struct {
    DomainNetType type;
    uint8_t mac[DOMAIN_MAC_LEN];    /* always valid after parse (generated if absent) */
    char *source;                   /* bridge or network name */
    char *target_dev;               /* tap name the user asked for, or NULL */
    DomainNetModel model;           /* unused for hostdev */
    DomainNetBackend backend;
    unsigned queues;                /* 0 = not given (one pair) */
    unsigned rx_queue_size, tx_queue_size; /* 0 = not given */
    unsigned mtu;                   /* 0 = not given */
    /* type='hostdev' (an SR-IOV VF given to the guest with this MAC) */
    DomainTristate managed;
    DomainPciAddr host_addr;
    bool has_vlan;
    unsigned vlan_tag;
    unsigned boot_order;
    char *user_alias;
    DomainPciAddr addr;
} DomainNet;

typedef struct {
    DomainTristate managed;
    DomainPciAddr source;           /* host device */
    unsigned boot_order;
    char *user_alias;
    DomainPciAddr addr;             /* guest address */
} DomainHostdev;

typedef struct {
    bool enabled;                   /* false = <memballoon model='none'/> */
    bool has_stats_period;
    unsigned stats_period;          /* seconds */
    DomainTristate autodeflate;
    DomainTristate free_page_reporting;
    char *user_alias;
    DomainPciAddr addr;
} DomainMemballoon;

/* <serial type='pty'> on an ISA port; the first one is also the console. */
typedef struct {
    unsigned port;
    char *log_file;                 /* <log file=> kept, or NULL */
    DomainTristate log_append;
} DomainSerial;

typedef struct {
    /* identity */
    char *name;
    uint8_t uuid[DOMAIN_UUID_LEN];
    char *title;
    char *description;
    char *metadata_xml;             /* verbatim <metadata>…</metadata> or NULL */

    /* resources (KiB, like libvirt) */
    uint64_t memory_kib;
    uint64_t current_memory_kib;    /* <= memory_kib (clamped as libvirt does) */
    unsigned vcpus;                 /* maximum */
    unsigned current_vcpus;         /* == vcpus when not given */
    bool has_current_vcpus;
    char *vcpu_placement;           /* "static" (default) or "auto" */
    char *vcpu_cpuset;              /* kept, or NULL */

    /* os */
    char *os_arch;                  /* "x86_64" */
    char *os_machine;               /* kept as given; "pc" when absent */
    char *kernel, *initrd, *cmdline;
    GPtrArray *boot_devs;           /* char*: "hd", "network", ... */
    char *smbios_mode;              /* <smbios mode=> kept, or NULL */
    DomainTristate bootmenu;
    char *bootmenu_timeout;         /* <bootmenu timeout=> kept (ms), or NULL */
    /* <loader readonly= type='rom'>PATH</loader>: the firmware image the
     * worker boots when there is no kernel (NULL: hv's default SeaBIOS) */
    char *loader;
    DomainTristate loader_readonly;
    char *loader_type;              /* "rom" or NULL */

    /* platform */
    char *features_xml;             /* verbatim <features> or NULL */
    bool feature_acpi, feature_apic, feature_pae;
    char *cpu_xml;                  /* verbatim <cpu> or NULL */
    char *cpu_mode;                 /* host-passthrough, host-model, custom or NULL */
    unsigned cpu_sockets, cpu_dies, cpu_cores, cpu_threads; /* 0 = no <topology> */
    char *clock_xml;                /* verbatim <clock> or NULL (formats as offset='utc') */
    char *clock_offset;             /* "utc" when absent */

    DomainLifecycleAction on_poweroff, on_reboot, on_crash;

    /* devices */
    char *emulator;                 /* kept, or NULL */
    GPtrArray *disks;               /* DomainDisk* */
    GPtrArray *nets;                /* DomainNet* */
    GPtrArray *hostdevs;            /* DomainHostdev* */
    GPtrArray *serials;             /* DomainSerial*, ports unique */
    DomainMemballoon balloon;

    /* verbatim elements kept as given (char* XML text), in input order */
    GPtrArray *extra_toplevel;      /* e.g. <sysinfo>, <memtune>, <seclabel> */
    GPtrArray *extra_devices;       /* e.g. <graphics>, <video>, <controller> */
} DomainDef;

/* What only a running domain has. The domain driver fills it; arrays are
 * indexed like def->nets / def->serials and hold NULL for "unknown". */
typedef struct {
    int id;                         /* libvirt domain id (> 0) */
    guint n_nets;
    char **net_ifnames;             /* tap device of each interface, e.g. "vnet0" */
    guint n_serials;
    char **serial_ptys;             /* pty of each serial port, e.g. "/dev/pts/3" */
} DomainRuntime;

typedef enum {
    /* Skip the RelaxNG check against schemas/domain.rng (semantic checks
     * still run). For callers that already validated the document. */
    DOMAIN_PARSE_NO_SCHEMA = 1 << 0,
} DomainParseFlags;

DomainDef *domain_def_new(void);
void domain_def_free(DomainDef *def);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DomainDef, domain_def_free)

/* Parse a domain description. On failure returns NULL and sets err:
 *  - not well-formed XML: VIR_ERR_XML_DETAIL, message like libvirt's
 *    "(domain_definition):LINE: <libxml2 message>\n<line>\n----^";
 *  - semantic problems: VIR_ERR_XML_ERROR / VIR_ERR_INVALID_ARG /
 *    VIR_ERR_INTERNAL_ERROR (bad uuid) / VIR_ERR_OVERFLOW;
 *  - valid XML hvd cannot run: VIR_ERR_CONFIG_UNSUPPORTED naming the
 *    element, attribute or value;
 *  - structure our schema does not accept: VIR_ERR_XML_INVALID_SCHEMA.
 * Missing uuid and MACs are generated; PCI addresses are assigned. */
DomainDef *domain_def_parse_string(const char *xml, unsigned flags, GError **err);
DomainDef *domain_def_parse_file(const char *path, unsigned flags, GError **err);

/* Libvirt domain XML for def. rt == NULL: inactive XML; otherwise live XML
 * (id, aliases, interface target devs, pty paths). Always succeeds. */
char *domain_def_format(const DomainDef *def, const DomainRuntime *rt);

/* Models are equal when they format to the same inactive XML (the format
 * writes every field of the model). */
bool domain_def_equal(const DomainDef *a, const DomainDef *b);

DomainRuntime *domain_runtime_new(const DomainDef *def, int id);
void domain_runtime_free(DomainRuntime *rt);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DomainRuntime, domain_runtime_free)

/* Helpers shared with the rest of the daemon. */
void domain_uuid_format(const uint8_t uuid[DOMAIN_UUID_LEN], char out[DOMAIN_UUID_STRING_LEN]);
/* Accepts 32 hex digits, dashes allowed between digit pairs, surrounding
 * blanks ignored (as libvirt's virUUIDParse). */
bool domain_uuid_parse(const char *text, uint8_t uuid[DOMAIN_UUID_LEN]);
void domain_uuid_generate(uint8_t uuid[DOMAIN_UUID_LEN]);
void domain_mac_format(const uint8_t mac[DOMAIN_MAC_LEN], char out[DOMAIN_MAC_STRING_LEN]);
bool domain_mac_parse(const char *text, uint8_t mac[DOMAIN_MAC_LEN]);
/* 52:54:00:xx:xx:xx, the locally administered prefix libvirt/QEMU use. */
void domain_mac_generate(uint8_t mac[DOMAIN_MAC_LEN]);

const char *domain_lifecycle_to_string(DomainLifecycleAction action);
const char *domain_net_type_to_string(DomainNetType type);
const char *domain_net_model_to_string(DomainNetModel model);

/* Libvirt's alias for a device, as the live XML and the worker's monitor
 * ids use: "virtio-disk<N>" where N is the vdX index, "ide<C>-<B>-<U>" for
 * an IDE disk at controller C, bus B, unit U, "net<i>", "hostdev<i>"
 * (interfaces of type hostdev take hostdev numbers after the <hostdev>s),
 * "balloon0", "serial<i>". Caller frees. */
char *domain_disk_alias(const DomainDisk *disk);
char *domain_net_alias(const DomainDef *def, guint index);
char *domain_hostdev_alias(guint index);

DomainBackingChain *domain_backing_chain_new(void);
void domain_backing_chain_free(DomainBackingChain *chain);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DomainBackingChain, domain_backing_chain_free)
/* Appends a layer (strings copied) and returns it. */
DomainStorageLayer *domain_backing_chain_add(DomainBackingChain *chain, bool is_block,
                                             const char *format, const char *source);

/* Whether any device carries a per-device <boot order>. */
bool domain_def_has_boot_order(const DomainDef *def);

/* Index of a disk name after its prefix (libvirt's virDiskNameToIndex):
 * vda -> 0, vdz -> 25, vdaa -> 26, hdc -> 2; -1 if dev is not the prefix
 * followed by lower-case letters. */
int domain_disk_name_index(const char *dev, const char *prefix);

/* A copy of def (format and parse again, without the schema check).
 * NULL with err only if def does not survive its own format. */
DomainDef *domain_def_copy(const DomainDef *def, GError **err);

/* ---- single devices (virDomainAttachDevice / DetachDevice XML) ---- */

typedef enum {
    DOMAIN_DEVICE_DISK = 0,
    DOMAIN_DEVICE_NET,
    DOMAIN_DEVICE_HOSTDEV,
    DOMAIN_DEVICE_MEMBALLOON,
    DOMAIN_DEVICE_OTHER, /* a device element hvd keeps or refuses (<graphics>, <serial>, ...) */
} DomainDeviceKind;

/* One parsed <device> element. The device itself sits in `holder`, a
 * scratch definition: holder->disks[0], nets[0], hostdevs[0] or
 * holder->balloon, by kind. */
typedef struct {
    DomainDeviceKind kind;
    /* libvirt's virDomainDeviceType name of the element, used in its error
     * texts: "disk", "net" (<interface>), "hostdev", "memballoon", "chr"
     * (<serial>, <console>, <channel>, <parallel>), "graphics", ... */
    const char *type_name;
    bool mac_given;         /* NET: the XML named a <mac address=> */
    DomainDef *holder;
} DomainDevice;

/* Parse the XML of one device element with the same rules as inside
 * <devices>. Not well-formed XML: VIR_ERR_XML_DETAIL as for a domain; an
 * element that is no device: VIR_ERR_XML_ERROR "unknown device type 'X'".
 * Device elements hvd does not model (kind OTHER) parse successfully so
 * the caller can refuse them with libvirt's wording. */
DomainDevice *domain_device_parse_string(const char *xml, GError **err);
void domain_device_free(DomainDevice *dev);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DomainDevice, domain_device_free)

/* libvirt's persistent (config) attach and detach on def, the rules of its
 * QEMU driver (qemuDomainAttachDeviceConfig / DetachDeviceConfig):
 *  attach disk: "target vdX already exists" (VIR_ERR_OPERATION_INVALID);
 *  attach hostdev of a host device already given: "device is already in
 *    the domain configuration"; interfaces are appended; PCI addresses are
 *    assigned and the whole definition checked again (duplicate guest
 *    addresses refused);
 *  detach disk by target: "no target device vdX" (VIR_ERR_DEVICE_MISSING);
 *  detach interface by MAC and/or guest PCI address (virDomainNetFindIdx's
 *    messages), hostdev by host address ("device not present in domain
 *    configuration");
 *  other kinds: "persistent attach|detach of device 'T' is not supported"
 *    (VIR_ERR_OPERATION_UNSUPPORTED).
 * Attach moves the device out of dev->holder. On failure def may be partly
 * changed: work on a copy (domain_def_copy). */
bool domain_def_attach_device(DomainDef *def, DomainDevice *dev, GError **err);
bool domain_def_detach_device(DomainDef *def, const DomainDevice *dev, GError **err);
/* libvirt's persistent update (qemuDomainUpdateDeviceConfig): a disk
 * replaces the disk of its target ("target hdc doesn't exist.",
 * VIR_ERR_INVALID_ARG), keeping the old PCI address when it names none;
 * other kinds: "persistent update of device 'T' is not supported"
 * (VIR_ERR_OPERATION_UNSUPPORTED). Moves the device out of dev->holder;
 * on failure def may be partly changed (work on a copy). */
bool domain_def_update_device(DomainDef *def, DomainDevice *dev, GError **err);
/* Whether def has the device dev names (the detach matching rules). */
bool domain_def_has_device(const DomainDef *def, const DomainDevice *dev);
