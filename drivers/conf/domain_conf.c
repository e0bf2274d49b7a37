/* Domain XML -> DomainDef. See domain_conf.h and docs/domain-xml.md. */
#include "drivers/conf/domain_conf.h"

#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/conf/domain_validate.h"
#include "drivers/conf/xml_autoptr.h"

#define conf_error(err, code, ...) hvd_vir_error_set(err, VIR_FROM_DOMAIN, code, __VA_ARGS__)

/* ------------------------------------------------------------------ */
/* Small value helpers                                                 */

static const char *const lifecycle_names[] = {
    "destroy", "restart", "preserve", "rename-restart", "coredump-destroy", "coredump-restart",
};

const char *domain_lifecycle_to_string(DomainLifecycleAction action)
{
    if ((unsigned)action < G_N_ELEMENTS(lifecycle_names))
        return lifecycle_names[action];
    return "destroy";
}

const char *domain_net_type_to_string(DomainNetType type)
{
    switch (type) {
    case DOMAIN_NET_ETHERNET: return "ethernet";
    case DOMAIN_NET_BRIDGE: return "bridge";
    case DOMAIN_NET_NETWORK: return "network";
    case DOMAIN_NET_HOSTDEV: return "hostdev";
    }
    return "ethernet";
}

const char *domain_net_model_to_string(DomainNetModel model)
{
    return model == DOMAIN_NET_MODEL_E1000 ? "e1000" : "virtio";
}

void domain_uuid_format(const uint8_t uuid[DOMAIN_UUID_LEN], char out[DOMAIN_UUID_STRING_LEN])
{
    g_snprintf(out, DOMAIN_UUID_STRING_LEN,
               "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
               uuid[0], uuid[1], uuid[2], uuid[3], uuid[4], uuid[5], uuid[6], uuid[7],
               uuid[8], uuid[9], uuid[10], uuid[11], uuid[12], uuid[13], uuid[14], uuid[15]);
}

bool domain_uuid_parse(const char *text, uint8_t uuid[DOMAIN_UUID_LEN])
{
    if (!text)
        return false;
    const char *p = text;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    for (int i = 0; i < DOMAIN_UUID_LEN; i++) {
        /* dashes may separate any two bytes, never split one */
        while (*p == '-')
            p++;
        int hi = g_ascii_xdigit_value(p[0]);
        int lo = hi < 0 ? -1 : g_ascii_xdigit_value(p[1]);
        if (hi < 0 || lo < 0)
            return false;
        uuid[i] = (uint8_t)(hi << 4 | lo);
        p += 2;
    }
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return *p == '\0';
}

void domain_uuid_generate(uint8_t uuid[DOMAIN_UUID_LEN])
{
    /* RFC 4122 §4.4: random bits, version 4, variant 10xx */
    for (int i = 0; i < DOMAIN_UUID_LEN; i += 4) {
        guint32 r = g_random_int();
        memcpy(uuid + i, &r, 4);
    }
    uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40);
    uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);
}

void domain_mac_format(const uint8_t mac[DOMAIN_MAC_LEN], char out[DOMAIN_MAC_STRING_LEN])
{
    g_snprintf(out, DOMAIN_MAC_STRING_LEN, "%02x:%02x:%02x:%02x:%02x:%02x",
               mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

bool domain_mac_parse(const char *text, uint8_t mac[DOMAIN_MAC_LEN])
{
    /* six groups of one or two hex digits separated by ':' (libvirt also
     * takes single digits, e.g. 52:54:0:1:2:3) */
    if (!text)
        return false;
    const char *p = text;
    for (int i = 0; i < DOMAIN_MAC_LEN; i++) {
        int d0 = g_ascii_xdigit_value(p[0]);
        if (d0 < 0)
            return false;
        int d1 = g_ascii_xdigit_value(p[1]);
        if (d1 >= 0) {
            mac[i] = (uint8_t)(d0 << 4 | d1);
            p += 2;
        } else {
            mac[i] = (uint8_t)d0;
            p += 1;
        }
        if (i < DOMAIN_MAC_LEN - 1) {
            if (*p != ':')
                return false;
            p++;
        }
    }
    return *p == '\0';
}

void domain_mac_generate(uint8_t mac[DOMAIN_MAC_LEN])
{
    mac[0] = 0x52;
    mac[1] = 0x54;
    mac[2] = 0x00;
    guint32 r = g_random_int();
    mac[3] = (uint8_t)(r >> 16);
    mac[4] = (uint8_t)(r >> 8);
    mac[5] = (uint8_t)r;
}

int domain_disk_name_index(const char *dev, const char *prefix)
{
    /* vda..vdz, vdaa..vdzz, ... like a spreadsheet column: bijective base 26 */
    size_t plen = strlen(prefix);
    if (!dev || strncmp(dev, prefix, plen) != 0 || !dev[plen])
        return -1;
    long idx = 0;
    for (const char *p = dev + plen; *p; p++) {
        if (*p < 'a' || *p > 'z' || idx > 100000)
            return -1;
        idx = idx * 26 + (*p - 'a' + 1);
    }
    return (int)(idx - 1);
}

char *domain_disk_alias(const DomainDisk *disk)
{
    if (disk->bus == DOMAIN_DISK_BUS_IDE)
        return g_strdup_printf("ide%u-%u-%u", disk->drive.controller, disk->drive.bus,
                               disk->drive.unit);
    return g_strdup_printf("virtio-disk%d", domain_disk_name_index(disk->target_dev, "vd"));
}

bool domain_def_has_boot_order(const DomainDef *def)
{
    for (guint i = 0; i < def->disks->len; i++)
        if (((const DomainDisk *)g_ptr_array_index(def->disks, i))->boot_order)
            return true;
    for (guint i = 0; i < def->nets->len; i++)
        if (((const DomainNet *)g_ptr_array_index(def->nets, i))->boot_order)
            return true;
    for (guint i = 0; i < def->hostdevs->len; i++)
        if (((const DomainHostdev *)g_ptr_array_index(def->hostdevs, i))->boot_order)
            return true;
    return false;
}

char *domain_hostdev_alias(guint index)
{
    return g_strdup_printf("hostdev%u", index);
}

char *domain_net_alias(const DomainDef *def, guint index)
{
    /* Like libvirt: interfaces of type hostdev are hostdevs (numbered first,
     * before the <hostdev> elements); the others count net0, net1, ... */
    guint nth_hostdev = 0, nth_net = 0;
    for (guint i = 0; i < index && i < def->nets->len; i++) {
        const DomainNet *n = g_ptr_array_index(def->nets, i);
        if (n->type == DOMAIN_NET_HOSTDEV)
            nth_hostdev++;
        else
            nth_net++;
    }
    const DomainNet *net = g_ptr_array_index(def->nets, index);
    if (net->type == DOMAIN_NET_HOSTDEV)
        return domain_hostdev_alias(nth_hostdev);
    return g_strdup_printf("net%u", nth_net);
}

/* ------------------------------------------------------------------ */
/* Model life cycle                                                    */

static void storage_layer_free(gpointer p)
{
    DomainStorageLayer *l = p;
    if (!l)
        return;
    g_free(l->format);
    g_free(l->source);
    g_free(l);
}

DomainBackingChain *domain_backing_chain_new(void)
{
    DomainBackingChain *chain = g_new0(DomainBackingChain, 1);
    chain->layers = g_ptr_array_new_with_free_func(storage_layer_free);
    return chain;
}

void domain_backing_chain_free(DomainBackingChain *chain)
{
    if (!chain)
        return;
    g_ptr_array_unref(chain->layers);
    g_free(chain);
}

DomainStorageLayer *domain_backing_chain_add(DomainBackingChain *chain, bool is_block,
                                             const char *format, const char *source)
{
    DomainStorageLayer *l = g_new0(DomainStorageLayer, 1);
    l->is_block = is_block;
    l->format = g_strdup(format);
    l->source = g_strdup(source);
    g_ptr_array_add(chain->layers, l);
    return l;
}

static void disk_free(gpointer p)
{
    DomainDisk *d = p;
    if (!d)
        return;
    domain_backing_chain_free(d->backing);
    domain_backing_chain_free(d->live_chain);
    g_free(d->source);
    g_free(d->target_dev);
    g_free(d->driver_name);
    g_free(d->driver_type);
    g_free(d->driver_cache);
    g_free(d->driver_io);
    g_free(d->driver_discard);
    g_free(d->serial);
    g_free(d->user_alias);
    g_free(d);
}

static void net_free(gpointer p)
{
    DomainNet *n = p;
    if (!n)
        return;
    g_free(n->source);
    g_free(n->target_dev);
    g_free(n->user_alias);
    g_free(n);
}

static void hostdev_free(gpointer p)
{
    DomainHostdev *h = p;
    if (!h)
        return;
    g_free(h->user_alias);
    g_free(h);
}

static void serial_free(gpointer p)
{
    DomainSerial *s = p;
    if (!s)
        return;
    g_free(s->log_file);
    g_free(s);
}

DomainDef *domain_def_new(void)
{
    DomainDef *def = g_new0(DomainDef, 1);
    def->boot_devs = g_ptr_array_new_with_free_func(g_free);
    def->disks = g_ptr_array_new_with_free_func(disk_free);
    def->nets = g_ptr_array_new_with_free_func(net_free);
    def->hostdevs = g_ptr_array_new_with_free_func(hostdev_free);
    def->serials = g_ptr_array_new_with_free_func(serial_free);
    def->extra_toplevel = g_ptr_array_new_with_free_func(g_free);
    def->extra_devices = g_ptr_array_new_with_free_func(g_free);
    def->on_poweroff = DOMAIN_LIFECYCLE_DESTROY;
    def->on_reboot = DOMAIN_LIFECYCLE_RESTART;
    def->on_crash = DOMAIN_LIFECYCLE_DESTROY;
    return def;
}

void domain_def_free(DomainDef *def)
{
    if (!def)
        return;
    g_free(def->name);
    g_free(def->title);
    g_free(def->description);
    g_free(def->metadata_xml);
    g_free(def->vcpu_placement);
    g_free(def->vcpu_cpuset);
    g_free(def->os_arch);
    g_free(def->os_machine);
    g_free(def->kernel);
    g_free(def->initrd);
    g_free(def->cmdline);
    g_ptr_array_unref(def->boot_devs);
    g_free(def->smbios_mode);
    g_free(def->bootmenu_timeout);
    g_free(def->loader);
    g_free(def->loader_type);
    g_free(def->features_xml);
    g_free(def->cpu_xml);
    g_free(def->cpu_mode);
    g_free(def->clock_xml);
    g_free(def->clock_offset);
    g_free(def->emulator);
    g_ptr_array_unref(def->disks);
    g_ptr_array_unref(def->nets);
    g_ptr_array_unref(def->hostdevs);
    g_ptr_array_unref(def->serials);
    g_free(def->balloon.user_alias);
    g_ptr_array_unref(def->extra_toplevel);
    g_ptr_array_unref(def->extra_devices);
    g_free(def);
}

DomainRuntime *domain_runtime_new(const DomainDef *def, int id)
{
    DomainRuntime *rt = g_new0(DomainRuntime, 1);
    rt->id = id;
    rt->n_nets = def->nets->len;
    rt->net_ifnames = g_new0(char *, rt->n_nets + 1);
    rt->n_serials = def->serials->len;
    rt->serial_ptys = g_new0(char *, rt->n_serials + 1);
    return rt;
}

void domain_runtime_free(DomainRuntime *rt)
{
    if (!rt)
        return;
    for (guint i = 0; i < rt->n_nets; i++)
        g_free(rt->net_ifnames[i]);
    g_free(rt->net_ifnames);
    for (guint i = 0; i < rt->n_serials; i++)
        g_free(rt->serial_ptys[i]);
    g_free(rt->serial_ptys);
    g_free(rt);
}

/* ------------------------------------------------------------------ */
/* libxml2 helpers                                                     */

static bool is_element(const xmlNode *n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static char *prop(const xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
    if (!v)
        return NULL;
    char *s = g_strdup((const char *)v);
    xmlFree(v);
    return s;
}

static char *text_of(const xmlNode *n)
{
    xmlChar *v = xmlNodeGetContent(n);
    char *s = g_strdup(v ? (const char *)v : "");
    xmlFree(v);
    return s;
}

static char *trimmed_text_of(const xmlNode *n)
{
    char *s = text_of(n);
    return g_strstrip(s);
}

static const xmlNode *first_child(const xmlNode *n, const char *name)
{
    for (const xmlNode *c = n->children; c; c = c->next)
        if (is_element(c, name))
            return c;
    return NULL;
}

static bool name_in(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, list[i]) == 0)
            return true;
    return false;
}

/* The element as standalone XML text, namespaces declared on ancestors
 * carried along, so it can be written back anywhere unchanged. */
static char *node_to_string(const xmlNode *node)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNode *copy = xmlDocCopyNode((xmlNode *)node, doc, 1);
    if (!copy)
        return g_strdup("");
    xmlDocSetRootElement(doc, copy);
    xmlBuffer *buf = xmlBufferCreate();
    xmlNodeDump(buf, doc, copy, 0, 0);
    char *s = g_strdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    return s;
}

/* Strict unsigned parse. base 0 accepts 0x.. as libvirt's address parser. */
static bool parse_uint_base(const char *s, int base, uint64_t max, uint64_t *out)
{
    if (!s)
        return false;
    while (*s == ' ' || *s == '\t' || *s == '\n')
        s++;
    if (!g_ascii_isdigit(*s))
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, base);
    while (*end == ' ' || *end == '\t' || *end == '\n')
        end++;
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

/* Unsigned attribute: absent leaves *out alone and returns true. */
static bool uint_attr(const xmlNode *n, const char *attr, int base, uint64_t max, unsigned *out,
                      GError **err)
{
    g_autofree char *v = prop(n, attr);
    if (!v)
        return true;
    uint64_t val;
    if (!parse_uint_base(v, base, max, &val)) {
        conf_error(err, VIR_ERR_XML_ERROR,
                   "Invalid value for attribute '%s' in element '%s': '%s'.", attr,
                   (const char *)n->name, v);
        return false;
    }
    *out = (unsigned)val;
    return true;
}

static bool tristate_attr(const xmlNode *n, const char *attr, const char *on, const char *off,
                          DomainTristate *out, GError **err)
{
    g_autofree char *v = prop(n, attr);
    if (!v)
        return true;
    if (strcmp(v, on) == 0) {
        *out = DOMAIN_TRISTATE_ON;
    } else if (strcmp(v, off) == 0) {
        *out = DOMAIN_TRISTATE_OFF;
    } else {
        conf_error(err, VIR_ERR_XML_ERROR,
                   "Invalid value for attribute '%s' in element '%s': '%s'.", attr,
                   (const char *)n->name, v);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Memory sizes                                                        */

/* libvirt's scaled integers (formatdomain "Memory Allocation"): unit is
 * b/byte/bytes, or k/m/g/t/p/e optionally followed by "iB" (powers of
 * 1024) or "B" (powers of 1000), case-insensitive; default KiB. */
static bool unit_multiplier(const char *unit, uint64_t *mult)
{
    if (!unit || !*unit) {
        *mult = 1024;
        return true;
    }
    if (!g_ascii_strcasecmp(unit, "b") || !g_ascii_strcasecmp(unit, "byte") ||
        !g_ascii_strcasecmp(unit, "bytes")) {
        *mult = 1;
        return true;
    }
    uint64_t base;
    if (!unit[1] || !g_ascii_strcasecmp(unit + 1, "iB"))
        base = 1024;
    else if (!g_ascii_strcasecmp(unit + 1, "B"))
        base = 1000;
    else
        return false;
    const char *powers = "kmgtpe";
    const char *at = strchr(powers, g_ascii_tolower(unit[0]));
    if (!at || !unit[0])
        return false;
    uint64_t m = 1;
    for (const char *p = powers; p <= at; p++)
        m *= base;
    *mult = m;
    return true;
}

/* Parse <memory>/<currentMemory> into KiB (bytes rounded up, as libvirt). */
static bool parse_memory_kib(const xmlNode *n, uint64_t *kib, GError **err)
{
    g_autofree char *unit = prop(n, "unit");
    g_autofree char *text = trimmed_text_of(n);
    uint64_t mult, value;
    if (!unit_multiplier(unit, &mult)) {
        conf_error(err, VIR_ERR_INVALID_ARG, "unknown suffix '%s' in element '%s'", unit,
                   (const char *)n->name);
        return false;
    }
    if (!parse_uint_base(text, 10, UINT64_MAX, &value)) {
        conf_error(err, VIR_ERR_XML_ERROR, "Invalid value '%s' for element '%s'", text,
                   (const char *)n->name);
        return false;
    }
    /* libvirt caps sizes at LLONG_MAX bytes (virMemoryMaxValue) */
    if (value != 0 && value > (uint64_t)LLONG_MAX / mult) {
        conf_error(err, VIR_ERR_OVERFLOW, "size of element '%s' is larger than %lld bytes",
                   (const char *)n->name, LLONG_MAX);
        return false;
    }
    *kib = (value * mult + 1023) / 1024;
    return true;
}

/* ------------------------------------------------------------------ */
/* Device pieces shared by several device kinds                        */

/* owner names the device in refusals, e.g. "disk 'vda'". */
static bool parse_pci_addr(const xmlNode *n, const char *owner, DomainPciAddr *addr, GError **err)
{
    g_autofree char *type = prop(n, "type");
    if (type && strcmp(type, "pci") != 0) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                   "address type '%s' is not supported for %s (hvd has PCI addresses only)", type,
                   owner);
        return false;
    }
    DomainPciAddr a = { .present = true };
    /* limits of a PCI address (PCI Local Bus 3.0: 8-bit bus, 5-bit device,
     * 3-bit function; segment/domain 16-bit here as in libvirt) */
    static const struct {
        const char *name;
        unsigned max;
    } fields[] = { { "domain", 0xFFFF }, { "bus", 0xFF }, { "slot", 0x1F }, { "function", 0x7 } };
    unsigned *dst[] = { &a.domain, &a.bus, &a.slot, &a.function };
    for (size_t i = 0; i < G_N_ELEMENTS(fields); i++) {
        g_autofree char *v = prop(n, fields[i].name);
        if (!v)
            continue;
        uint64_t val;
        if (!parse_uint_base(v, 0, UINT32_MAX, &val)) {
            conf_error(err, VIR_ERR_XML_ERROR, "Cannot parse <address> '%s' attribute: '%s'",
                       fields[i].name, v);
            return false;
        }
        if (val > fields[i].max) {
            conf_error(err, VIR_ERR_XML_ERROR, "Invalid PCI address %s='0x%" G_GINT64_MODIFIER
                       "x', must be <= 0x%X", fields[i].name, val, fields[i].max);
            return false;
        }
        *dst[i] = (unsigned)val;
    }
    *addr = a;
    return true;
}

/* A child element hvd does not model inside one it does: refused by name
 * rather than silently dropped (libvirt would ignore or interpret it). */
static bool unsupported_child(const xmlNode *c, const char *parent, GError **err)
{
    conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED, "element <%s> in <%s> is not supported by hvd",
               (const char *)c->name, parent);
    return false;
}

/* <address type='drive'> (formatdomain "Device Addresses"): four
 * unsigned numbers, absent ones 0. */
static bool parse_drive_addr(const xmlNode *n, DomainDriveAddr *addr, GError **err)
{
    static const char *const fields[] = { "controller", "bus", "target", "unit" };
    DomainDriveAddr a = { .present = true };
    unsigned *dst[] = { &a.controller, &a.bus, &a.target, &a.unit };
    for (size_t i = 0; i < G_N_ELEMENTS(fields); i++) {
        g_autofree char *v = prop(n, fields[i]);
        uint64_t val;
        if (!v)
            continue;
        if (!parse_uint_base(v, 10, UINT32_MAX, &val)) {
            conf_error(err, VIR_ERR_XML_ERROR, "Cannot parse <address> '%s' attribute: '%s'",
                       fields[i], v);
            return false;
        }
        *dst[i] = (unsigned)val;
    }
    *addr = a;
    return true;
}

/* Elements every modelled device may carry: <address>, <alias>, <boot>.
 * drive: where a disk's <address type='drive'> goes (NULL: other devices,
 * which have PCI addresses only). */
static bool parse_device_common(const xmlNode *c, const char *owner, DomainPciAddr *addr,
                                DomainDriveAddr *drive, char **user_alias, unsigned *boot_order,
                                bool *handled, GError **err)
{
    *handled = true;
    if (is_element(c, "address")) {
        g_autofree char *type = prop(c, "type");
        if (drive && type && strcmp(type, "drive") == 0)
            return parse_drive_addr(c, drive, err);
        return parse_pci_addr(c, owner, addr, err);
    } else if (is_element(c, "alias")) {
        /* only user aliases survive a define, as in libvirt; run-time
         * aliases (net0, ...) in pasted live XML are dropped */
        g_autofree char *name = prop(c, "name");
        if (name && g_str_has_prefix(name, "ua-") && user_alias) {
            g_free(*user_alias);
            *user_alias = g_steal_pointer(&name);
        }
        return true;
    } else if (is_element(c, "boot") && boot_order) {
        unsigned order = 0;
        if (!uint_attr(c, "order", 10, INT_MAX, &order, err))
            return false;
        if (order == 0) {
            conf_error(err, VIR_ERR_XML_ERROR, "incorrect boot order '0', expecting positive integer");
            return false;
        }
        *boot_order = order;
        return true;
    }
    *handled = false;
    return true;
}

/* ------------------------------------------------------------------ */
/* <disk>                                                              */

/* Disk image formats libvirt knows (virStorageFileFormat) that hvd's
 * worker has no driver for: refused naming the disk, rather than handed
 * to the guest as raw bytes. */
static const char *const known_disk_formats[] = {
    "bochs", "cloop", "dmg", "iso", "vpc", "vdi", "fat", "vhd", "ploop", "cow", "qcow",
    "qed", "vmdk", "luks", "luks2", "vhdx", "none", "auto", "dir",
};

/* <backingStore> below a disk source (formatdomain "backingStore"): each
 * level is empty (the level above has no backing file) or a layer with
 * <format> and <source>, nesting the next level. */
static bool parse_backing_store(const xmlNode *n, const char *disk_name,
                                DomainBackingChain **out, GError **err)
{
    g_autoptr(DomainBackingChain) chain = domain_backing_chain_new();
    for (unsigned depth = 0; n; depth++) {
        if (!n->children) {
            chain->complete = true;
            break;
        }
        if (depth >= DOMAIN_MAX_BACKING_CHAIN) {
            conf_error(err, VIR_ERR_OPERATION_UNSUPPORTED,
                       "backing chains more than %d layers deep are not supported for disk '%s'",
                       DOMAIN_MAX_BACKING_CHAIN, disk_name);
            return false;
        }
        g_autofree char *type = prop(n, "type");
        if (!type || (strcmp(type, "file") != 0 && strcmp(type, "block") != 0)) {
            conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                       "backingStore type '%s' of disk '%s' is not supported by hvd "
                       "(only 'file' and 'block')", type ? type : "", disk_name);
            return false;
        }
        bool is_block = strcmp(type, "block") == 0;
        const xmlNode *format = first_child(n, "format");
        const xmlNode *source = first_child(n, "source");
        g_autofree char *format_type = format ? prop(format, "type") : NULL;
        g_autofree char *path = source ? prop(source, is_block ? "dev" : "file") : NULL;
        if (!format_type) {
            conf_error(err, VIR_ERR_XML_ERROR,
                       "missing backing store format of disk '%s'", disk_name);
            return false;
        }
        if (!path) {
            conf_error(err, VIR_ERR_XML_ERROR,
                       "missing backing store source of disk '%s'", disk_name);
            return false;
        }
        if (strcmp(format_type, "raw") != 0 && strcmp(format_type, "qcow2") != 0) {
            conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                       "format '%s' of backing file '%s' of disk '%s' is not supported by hvd "
                       "(raw, qcow2)", format_type, path, disk_name);
            return false;
        }
        domain_backing_chain_add(chain, is_block, format_type, path);
        const xmlNode *next = NULL;
        for (const xmlNode *c = n->children; c; c = c->next) {
            if (c->type != XML_ELEMENT_NODE || is_element(c, "format") || is_element(c, "source"))
                continue;
            if (!is_element(c, "backingStore"))
                return unsupported_child(c, "backingStore", err);
            next = c;
        }
        n = next;
    }
    *out = g_steal_pointer(&chain);
    return true;
}

/* An IDE disk's drive address: the one given, else libvirt's from the
 * target index (virDomainDiskDefAssignAddress: hda 0:0:0:0, hdb 0:0:0:1,
 * hdc 0:1:0:0, hdd 0:1:0:1), checked as libvirt's QEMU driver does
 * (qemuValidateDomainDeviceDefAddressDrive) and against the one PIIX3
 * controller hv has: buses 0 and 1, units 0 and 1 (libvirt leaves those
 * two limits to QEMU, which fails the start). */
static bool assign_ide_address(DomainDisk *disk, int index, GError **err)
{
    DomainDriveAddr *a = &disk->drive;
    if (!a->present) {
        unsigned per_controller = DOMAIN_IDE_BUSES * DOMAIN_IDE_UNITS;
        *a = (DomainDriveAddr){ .present = true,
                                .controller = (unsigned)index / per_controller,
                                .bus = ((unsigned)index % per_controller) / DOMAIN_IDE_UNITS,
                                .unit = (unsigned)index % DOMAIN_IDE_UNITS };
    }
    if (a->controller != 0) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_INTERNAL_ERROR, "%s",
                          "Only 1 IDE controller is supported");
        return false;
    }
    if (a->target != 0) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                          "target must be 0 for ide controller");
        return false;
    }
    if (a->bus >= DOMAIN_IDE_BUSES || a->unit >= DOMAIN_IDE_UNITS) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                   "drive address bus='%u' unit='%u' of disk '%s' is out of range: the IDE "
                   "controller has buses 0 and 1 with units 0 and 1", a->bus, a->unit,
                   disk->target_dev);
        return false;
    }
    return true;
}

static bool parse_disk(DomainDef *def, const xmlNode *n, GError **err)
{
    g_autofree char *type = prop(n, "type");
    g_autofree char *device = prop(n, "device");
    /* the target names the disk in every refusal below (issue 19) */
    const xmlNode *target = first_child(n, "target");
    g_autofree char *target_dev = target ? prop(target, "dev") : NULL;
    g_autofree char *owner = g_strdup_printf("disk '%s'", target_dev ? target_dev : "");
    if (device && strcmp(device, "disk") != 0 && strcmp(device, "cdrom") != 0) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                   "disk device '%s' of %s is not supported by hvd (disk, cdrom)", device, owner);
        return false;
    }
    if (type && strcmp(type, "file") != 0 && strcmp(type, "block") != 0) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                   "disk type '%s' of %s is not supported by hvd (only 'file' and 'block')", type,
                   owner);
        return false;
    }
    g_autoptr(GPtrArray) holder = g_ptr_array_new_with_free_func(disk_free);
    DomainDisk *disk = g_new0(DomainDisk, 1);
    g_ptr_array_add(holder, disk);
    disk->is_block = type && strcmp(type, "block") == 0;
    disk->device = device && strcmp(device, "cdrom") == 0 ? DOMAIN_DISK_DEVICE_CDROM
                                                           : DOMAIN_DISK_DEVICE_DISK;
    /* libvirt makes every cdrom read-only (virDomainDiskDefParseXML) */
    disk->readonly = disk->device == DOMAIN_DISK_DEVICE_CDROM;
    g_autofree char *bus = NULL;

    for (const xmlNode *c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        bool handled;
        if (!parse_device_common(c, owner, &disk->addr, &disk->drive, &disk->user_alias,
                                 &disk->boot_order, &handled, err))
            return false;
        if (handled)
            continue;
        if (is_element(c, "source")) {
            g_free(disk->source);
            disk->source = prop(c, disk->is_block ? "dev" : "file");
        } else if (is_element(c, "target")) {
            g_free(disk->target_dev);
            disk->target_dev = prop(c, "dev");
            g_free(bus);
            bus = prop(c, "bus");
        } else if (is_element(c, "driver")) {
            g_free(disk->driver_name);
            disk->driver_name = prop(c, "name");
            g_free(disk->driver_type);
            disk->driver_type = prop(c, "type");
            g_free(disk->driver_cache);
            disk->driver_cache = prop(c, "cache");
            g_free(disk->driver_io);
            disk->driver_io = prop(c, "io");
            g_free(disk->driver_discard);
            disk->driver_discard = prop(c, "discard");
        } else if (is_element(c, "readonly")) {
            disk->readonly = true;
        } else if (is_element(c, "shareable")) {
            disk->shareable = true;
        } else if (is_element(c, "serial")) {
            g_free(disk->serial);
            disk->serial = text_of(c);
        } else if (is_element(c, "backingStore")) {
            domain_backing_chain_free(g_steal_pointer(&disk->backing));
            if (!parse_backing_store(c, target_dev ? target_dev : "", &disk->backing, err))
                return false;
        } else {
            return unsupported_child(c, "disk", err);
        }
    }

    if (!disk->target_dev) {
        /* libvirt's VIR_ERR_NO_TARGET, naming the source as it does */
        conf_error(err, VIR_ERR_NO_TARGET, "%s", disk->source ? disk->source : "disk");
        return false;
    }
    if (disk->driver_name && strcmp(disk->driver_name, "qemu") != 0) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                   "disk driver name '%s' is not supported by hvd (only 'qemu')",
                   disk->driver_name);
        return false;
    }
    if (disk->driver_type && strcmp(disk->driver_type, "raw") != 0 &&
        strcmp(disk->driver_type, "qcow2") != 0) {
        if (name_in(disk->driver_type, known_disk_formats, G_N_ELEMENTS(known_disk_formats)))
            conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                       "disk format '%s' of disk '%s' is not supported by hvd (raw, qcow2)",
                       disk->driver_type, disk->target_dev);
        else
            conf_error(err, VIR_ERR_XML_ERROR, "unknown driver format value '%s' of disk '%s'",
                       disk->driver_type, disk->target_dev);
        return false;
    }
    /* libvirt infers the bus from the name prefix when bus is absent
     * (virDomainDiskDefParseXML) */
    static const struct {
        const char *prefix, *bus;
    } implied[] = { { "hd", "ide" }, { "sd", "scsi" }, { "vd", "virtio" }, { "xvd", "xen" },
                    { "ubd", "uml" }, { "fd", "fdc" } };
    for (size_t i = 0; i < G_N_ELEMENTS(implied) && !bus; i++)
        if (g_str_has_prefix(disk->target_dev, implied[i].prefix))
            bus = g_strdup(implied[i].bus);
    if (!bus) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                   "disk target '%s' implies a bus hvd does not have (virtio vdX, ide hdX)",
                   disk->target_dev);
        return false;
    }
    if (strcmp(bus, "virtio") == 0) {
        disk->bus = DOMAIN_DISK_BUS_VIRTIO;
    } else if (strcmp(bus, "ide") == 0) {
        disk->bus = DOMAIN_DISK_BUS_IDE;
    } else {
        if (!strcmp(bus, "scsi") || !strcmp(bus, "sata") || !strcmp(bus, "usb") ||
            !strcmp(bus, "fdc") || !strcmp(bus, "xen") || !strcmp(bus, "sd") ||
            !strcmp(bus, "uml"))
            conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                       "disk bus '%s' of disk '%s' is not supported by hvd (virtio, ide)", bus,
                       disk->target_dev);
        else
            conf_error(err, VIR_ERR_XML_ERROR,
                       "Invalid value for attribute 'bus' in element 'target': '%s'.", bus);
        return false;
    }
    const char *prefix = disk->bus == DOMAIN_DISK_BUS_IDE ? "hd" : "vd";
    int index = domain_disk_name_index(disk->target_dev, prefix);
    if (index < 0) {
        conf_error(err, VIR_ERR_XML_ERROR,
                   "disk target '%s' is not %s disk name (expected %sa, %sb, ...)", disk->target_dev, disk->bus == DOMAIN_DISK_BUS_IDE ? "an IDE" : "a virtio",
                   prefix, prefix);
        return false;
    }
    /* an address of the other kind: virDomainDiskAddressDiskBusCompatibility */
    if ((disk->bus == DOMAIN_DISK_BUS_VIRTIO && disk->drive.present) ||
        (disk->bus == DOMAIN_DISK_BUS_IDE && disk->addr.present)) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                   "Invalid address type '%s' for the disk '%s' with the bus type '%s'",
                   disk->drive.present ? "drive" : "pci", disk->target_dev, bus);
        return false;
    }
    if (disk->device == DOMAIN_DISK_DEVICE_CDROM) {
        if (disk->bus != DOMAIN_DISK_BUS_IDE) {
            conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                       "cdrom '%s' on bus '%s' is not supported by hvd (cdroms are IDE: "
                       "bus 'ide', hda..hdd)", disk->target_dev, bus);
            return false;
        }
        if (disk->driver_type && strcmp(disk->driver_type, "raw") != 0) {
            conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                       "format '%s' of cdrom '%s' is not supported by hvd (cdroms are raw)",
                       disk->driver_type, disk->target_dev);
            return false;
        }
    }
    if (disk->bus == DOMAIN_DISK_BUS_IDE && !assign_ide_address(disk, index, err))
        return false;
    g_ptr_array_add(def->disks, g_ptr_array_steal_index(holder, 0));
    return true;
}

/* ------------------------------------------------------------------ */
/* <interface>                                                         */

static bool parse_net(DomainDef *def, const xmlNode *n, GError **err)
{
    g_autofree char *type = prop(n, "type");
    g_autoptr(GPtrArray) holder = g_ptr_array_new_with_free_func(net_free);
    DomainNet *net = g_new0(DomainNet, 1);
    g_ptr_array_add(holder, net);

    if (!type) {
        conf_error(err, VIR_ERR_XML_ERROR, "missing type attribute in interface");
        return false;
    } else if (!strcmp(type, "ethernet")) {
        net->type = DOMAIN_NET_ETHERNET;
    } else if (!strcmp(type, "bridge")) {
        net->type = DOMAIN_NET_BRIDGE;
    } else if (!strcmp(type, "network")) {
        net->type = DOMAIN_NET_NETWORK;
    } else if (!strcmp(type, "hostdev")) {
        net->type = DOMAIN_NET_HOSTDEV;
        if (!tristate_attr(n, "managed", "yes", "no", &net->managed, err))
            return false;
    } else {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                   "interface type '%s' is not supported by hvd "
                   "(ethernet, bridge, network, hostdev)", type);
        return false;
    }

    bool have_mac = false, have_model = false;
    g_autofree char *model = NULL;
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        bool handled;
        if (!parse_device_common(c, "interface", &net->addr, NULL, &net->user_alias,
                                 &net->boot_order, &handled, err))
            return false;
        if (handled)
            continue;
        if (is_element(c, "mac")) {
            g_autofree char *mac = prop(c, "address");
            if (!domain_mac_parse(mac, net->mac)) {
                conf_error(err, VIR_ERR_INVALID_ARG, "unable to parse mac address '%s'",
                           mac ? mac : "");
                return false;
            }
            if (net->mac[0] & 1) {
                conf_error(err, VIR_ERR_XML_ERROR,
                           "expected unicast mac address, found multicast '%s'", mac);
                return false;
            }
            have_mac = true;
        } else if (is_element(c, "source")) {
            if (net->type == DOMAIN_NET_HOSTDEV) {
                const xmlNode *a = first_child(c, "address");
                if (a && !parse_pci_addr(a, "the source of interface type 'hostdev'",
                                         &net->host_addr, err))
                    return false;
            } else if (net->type == DOMAIN_NET_BRIDGE) {
                g_free(net->source);
                net->source = prop(c, "bridge");
            } else if (net->type == DOMAIN_NET_NETWORK) {
                g_free(net->source);
                net->source = prop(c, "network");
            }
        } else if (is_element(c, "target")) {
            g_autofree char *dev = prop(c, "dev");
            /* libvirt drops generated names (vnetN) from pasted live XML */
            if (dev && !g_str_has_prefix(dev, "vnet") && net->type != DOMAIN_NET_HOSTDEV) {
                if (strlen(dev) >= 16 || strchr(dev, '/') || strchr(dev, '%')) {
                    conf_error(err, VIR_ERR_XML_ERROR,
                               "interface target dev '%s' is not a valid network device name", dev);
                    return false;
                }
                g_free(net->target_dev);
                net->target_dev = g_steal_pointer(&dev);
            }
        } else if (is_element(c, "model")) {
            g_free(model);
            model = prop(c, "type");
            have_model = true;
        } else if (is_element(c, "driver")) {
            g_autofree char *name = prop(c, "name");
            if (net->type == DOMAIN_NET_HOSTDEV && name && !strcmp(name, "vfio")) {
                /* what live XML shows for an assigned VF; nothing to keep */
                continue;
            }
            if (name && !strcmp(name, "vhost")) {
                net->backend = DOMAIN_NET_BACKEND_VHOST;
            } else if (name && !strcmp(name, "qemu")) {
                net->backend = DOMAIN_NET_BACKEND_QEMU;
            } else if (name) {
                conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                           "interface driver '%s' is not supported by hvd (vhost, qemu)", name);
                return false;
            }
            if (!uint_attr(c, "queues", 10, UINT_MAX, &net->queues, err) ||
                !uint_attr(c, "rx_queue_size", 10, UINT_MAX, &net->rx_queue_size, err) ||
                !uint_attr(c, "tx_queue_size", 10, UINT_MAX, &net->tx_queue_size, err))
                return false;
        } else if (is_element(c, "mtu")) {
            if (!uint_attr(c, "size", 10, 65535, &net->mtu, err))
                return false;
        } else if (is_element(c, "vlan")) {
            const xmlNode *tag = first_child(c, "tag");
            if (net->type != DOMAIN_NET_HOSTDEV) {
                conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                           "<vlan> on interface type '%s' is not supported by hvd "
                           "(only on type 'hostdev')", type);
                return false;
            }
            if (tag) {
                /* IEEE 802.1Q VID is 12 bits */
                if (!uint_attr(tag, "id", 10, 4095, &net->vlan_tag, err))
                    return false;
                net->has_vlan = true;
            }
        } else if (is_element(c, "virtualport")) {
            g_autofree char *vtype = prop(c, "type");
            conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                       "interface <virtualport type='%s'> is not supported by hvd", vtype ? vtype : "");
            return false;
        } else {
            return unsupported_child(c, "interface", err);
        }
    }

    if (!have_mac)
        domain_mac_generate(net->mac);
    if ((net->type == DOMAIN_NET_BRIDGE || net->type == DOMAIN_NET_NETWORK) && !net->source) {
        conf_error(err, VIR_ERR_XML_ERROR, "No <source> '%s' attribute specified with <interface type='%s'/>",
                   net->type == DOMAIN_NET_BRIDGE ? "bridge" : "network", type);
        return false;
    }
    if (net->type == DOMAIN_NET_HOSTDEV) {
        if (!net->host_addr.present) {
            conf_error(err, VIR_ERR_XML_ERROR,
                       "interface type 'hostdev' requires <source><address type='pci' .../></source>");
            return false;
        }
        if (have_model || net->backend || net->queues) {
            conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                       "<model> and <driver> do not apply to interface type 'hostdev' "
                       "(the guest drives the assigned device itself)");
            return false;
        }
    } else if (have_model) {
        if (model && !strcmp(model, "virtio")) {
            net->model = DOMAIN_NET_MODEL_VIRTIO;
        } else if (model && !strcmp(model, "e1000")) {
            net->model = DOMAIN_NET_MODEL_E1000;
        } else {
            conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                       "interface model '%s' is not supported by hvd (virtio, e1000)",
                       model ? model : "");
            return false;
        }
    } else {
        /* No <model>: an emulated NIC any guest can drive. hvd's is e1000. */
        net->model = DOMAIN_NET_MODEL_E1000;
    }
    if (net->model == DOMAIN_NET_MODEL_E1000 && net->type != DOMAIN_NET_HOSTDEV &&
        (net->backend != DOMAIN_NET_BACKEND_DEFAULT || net->queues > 1)) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                   "interface <driver name/queues> needs model 'virtio', not 'e1000'");
        return false;
    }
    g_ptr_array_add(def->nets, g_ptr_array_steal_index(holder, 0));
    return true;
}

/* ------------------------------------------------------------------ */
/* <hostdev>                                                           */

static bool parse_hostdev(DomainDef *def, const xmlNode *n, GError **err)
{
    g_autofree char *mode = prop(n, "mode");
    g_autofree char *type = prop(n, "type");
    if (mode && strcmp(mode, "subsystem") != 0) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                   "hostdev mode '%s' is not supported by hvd (only 'subsystem')", mode);
        return false;
    }
    if (!type || strcmp(type, "pci") != 0) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                   "hostdev type '%s' is not supported by hvd (only 'pci')", type ? type : "");
        return false;
    }
    g_autoptr(GPtrArray) holder = g_ptr_array_new_with_free_func(hostdev_free);
    DomainHostdev *h = g_new0(DomainHostdev, 1);
    g_ptr_array_add(holder, h);
    if (!tristate_attr(n, "managed", "yes", "no", &h->managed, err))
        return false;
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        bool handled;
        if (!parse_device_common(c, "hostdev", &h->addr, NULL, &h->user_alias, &h->boot_order,
                                 &handled, err))
            return false;
        if (handled)
            continue;
        if (is_element(c, "source")) {
            const xmlNode *a = first_child(c, "address");
            if (a && !parse_pci_addr(a, "the source of a hostdev", &h->source, err))
                return false;
        } else if (is_element(c, "driver")) {
            g_autofree char *name = prop(c, "name");
            if (name && strcmp(name, "vfio") != 0) {
                conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                           "hostdev driver '%s' is not supported by hvd (only 'vfio')", name);
                return false;
            }
        } else {
            return unsupported_child(c, "hostdev", err);
        }
    }
    if (!h->source.present) {
        conf_error(err, VIR_ERR_XML_ERROR, "PCI host devices must use 'pci' or 'unassigned' address type");
        return false;
    }
    g_ptr_array_add(def->hostdevs, g_ptr_array_steal_index(holder, 0));
    return true;
}

/* ------------------------------------------------------------------ */
/* <memballoon>                                                        */

static bool parse_memballoon(DomainDef *def, const xmlNode *n, GError **err)
{
    g_autofree char *model = prop(n, "model");
    DomainMemballoon *b = &def->balloon;
    g_free(b->user_alias);
    memset(b, 0, sizeof(*b));
    if (!model) {
        conf_error(err, VIR_ERR_XML_ERROR, "balloon memory must contain model name");
        return false;
    }
    if (!strcmp(model, "none"))
        return true;
    if (strcmp(model, "virtio") != 0) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                   "memballoon model '%s' is not supported by hvd (virtio, none)", model);
        return false;
    }
    b->enabled = true;
    if (!tristate_attr(n, "autodeflate", "on", "off", &b->autodeflate, err) ||
        !tristate_attr(n, "freePageReporting", "on", "off", &b->free_page_reporting, err))
        return false;
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        bool handled;
        if (!parse_device_common(c, "memballoon", &b->addr, NULL, &b->user_alias, NULL, &handled,
                                 err))
            return false;
        if (handled)
            continue;
        if (is_element(c, "stats")) {
            unsigned period = 0;
            if (!uint_attr(c, "period", 10, INT_MAX, &period, err))
                return false;
            /* period 0 means "no polling", the same as no <stats> */
            b->has_stats_period = period > 0;
            b->stats_period = period;
        } else {
            return unsupported_child(c, "memballoon", err);
        }
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* <serial>, <console>                                                 */

static DomainSerial *serial_by_port(DomainDef *def, unsigned port)
{
    for (guint i = 0; i < def->serials->len; i++) {
        DomainSerial *s = g_ptr_array_index(def->serials, i);
        if (s->port == port)
            return s;
    }
    return NULL;
}

static unsigned next_free_serial_port(DomainDef *def)
{
    unsigned port = 0;
    while (serial_by_port(def, port))
        port++;
    return port;
}

/* Shared by both elements: type must be pty; returns the target port (or
 * -1 if not given) and the target type. */
static bool parse_chardev(const xmlNode *n, const char *what, int *port, char **target_type,
                          char **log_file, DomainTristate *log_append, GError **err)
{
    g_autofree char *type = prop(n, "type");
    if (type && strcmp(type, "pty") != 0) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                   "%s type '%s' is not supported by hvd (only 'pty')", what, type);
        return false;
    }
    *port = -1;
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (is_element(c, "target")) {
            g_autofree char *p = prop(c, "port");
            if (p) {
                uint64_t v;
                if (!parse_uint_base(p, 10, DOMAIN_MAX_SERIAL_PORTS - 1, &v)) {
                    conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                               "%s target port '%s' is not supported by hvd (0 to %d)", what, p,
                               DOMAIN_MAX_SERIAL_PORTS - 1);
                    return false;
                }
                *port = (int)v;
            }
            g_free(*target_type);
            *target_type = prop(c, "type");
            const xmlNode *m = first_child(c, "model");
            g_autofree char *mname = m ? prop(m, "name") : NULL;
            if (mname && strcmp(mname, "isa-serial") != 0) {
                conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                           "%s target model '%s' is not supported by hvd (only 'isa-serial')",
                           what, mname);
                return false;
            }
        } else if (is_element(c, "log") && log_file) {
            g_free(*log_file);
            *log_file = prop(c, "file");
            if (!tristate_attr(c, "append", "on", "off", log_append, err))
                return false;
        }
        /* <source path=> and <alias> are run-time output, ignored */
    }
    return true;
}

static bool parse_serial(DomainDef *def, const xmlNode *n, GError **err)
{
    int port;
    g_autofree char *ttype = NULL;
    g_autofree char *log_file = NULL;
    DomainTristate log_append = DOMAIN_TRISTATE_DEFAULT;
    if (!parse_chardev(n, "serial", &port, &ttype, &log_file, &log_append, err))
        return false;
    if (ttype && strcmp(ttype, "isa-serial") != 0) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                   "serial target type '%s' is not supported by hvd (only 'isa-serial')", ttype);
        return false;
    }
    if (port < 0)
        port = (int)next_free_serial_port(def);
    if (port >= DOMAIN_MAX_SERIAL_PORTS) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED, "hvd supports at most %d serial ports",
                   DOMAIN_MAX_SERIAL_PORTS);
        return false;
    }
    if (serial_by_port(def, (unsigned)port)) {
        conf_error(err, VIR_ERR_XML_ERROR, "target port [%d] already allocated", port);
        return false;
    }
    DomainSerial *s = g_new0(DomainSerial, 1);
    s->port = (unsigned)port;
    s->log_file = g_steal_pointer(&log_file);
    s->log_append = log_append;
    g_ptr_array_add(def->serials, s);
    return true;
}

/* Consoles are parsed after all serials: on x86 the first console of
 * target type 'serial' is the first serial port (libvirt makes one when
 * there is no <serial>); hvd has no virtio console. */
static bool parse_console(DomainDef *def, const xmlNode *n, bool first, GError **err)
{
    int port;
    g_autofree char *ttype = NULL;
    if (!parse_chardev(n, "console", &port, &ttype, NULL, NULL, err))
        return false;
    if (ttype && strcmp(ttype, "serial") != 0) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                   "console target type '%s' is not supported by hvd (only 'serial')", ttype);
        return false;
    }
    if (!first) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                   "hvd supports one <console>, the first serial port");
        return false;
    }
    if (def->serials->len == 0) {
        DomainSerial *s = g_new0(DomainSerial, 1);
        s->port = port < 0 ? 0 : (unsigned)port;
        g_ptr_array_add(def->serials, s);
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* <devices>                                                           */

/* Devices hvd does not provide but whose absence leaves a working guest:
 * kept verbatim and written back (docs/domain-xml.md). */
static const char *const kept_devices[] = {
    "graphics", "video", "input", "sound", "audio", "channel", "controller", "rng",
    "watchdog", "panic", "parallel", "hub", "redirdev", "smartcard", "lease", "redirfilter",
};
/* Devices a guest would depend on and hvd cannot provide: refused. */
static const char *const refused_devices[] = {
    "filesystem", "memory", "iommu", "tpm", "vsock", "shmem", "crypto", "nvram", "pstore",
};

/* <controller> is kept verbatim, but its index is checked as libvirt's
 * virDomainControllerDefParseXML does, and hv has one IDE controller. */
static bool check_controller(const xmlNode *n, bool *is_ide, GError **err)
{
    g_autofree char *type = prop(n, "type");
    g_autofree char *index = prop(n, "index");
    *is_ide = g_strcmp0(type, "ide") == 0;
    if (!index)
        return true;
    char *end = NULL;
    errno = 0;
    long value = strtol(index, &end, 10);
    if (errno || end == index || *end || value < 0 || value > INT_MAX) {
        conf_error(err, VIR_ERR_INTERNAL_ERROR, "Cannot parse controller index %s", index);
        return false;
    }
    if (*is_ide && value != 0) {
        /* qemuBuildControllerDevStr's refusal, made at define time */
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                          "Only a single IDE controller is supported for this machine type");
        return false;
    }
    return true;
}

/* libvirt adds the controllers its disks sit on
 * (virDomainDefAddDiskControllersForType): <controller type='ide'
 * index='0'/> when an IDE disk has none, after the USB controller as
 * libvirt orders them; written as kept elements are (node_to_string). */
static void add_implicit_ide_controller(DomainDef *def)
{
    guint at = def->extra_devices->len;
    bool before_first = true;
    for (guint i = 0; i < def->extra_devices->len; i++) {
        const char *x = g_ptr_array_index(def->extra_devices, i);
        if (!g_str_has_prefix(x, "<controller"))
            continue;
        if (strstr(x, "type=\"usb\"") || strstr(x, "type='usb'")) {
            at = i + 1;
            before_first = false;
        } else if (before_first) {
            at = i;
            before_first = false;
        }
    }
    g_ptr_array_insert(def->extra_devices, (gint)at,
                       g_strdup("<controller type=\"ide\" index=\"0\"/>"));
}

static bool parse_devices(DomainDef *def, const xmlNode *devices, GError **err)
{
    bool have_ide_controller = false;
    bool saw_balloon = false;
    for (const xmlNode *c = devices->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        const char *name = (const char *)c->name;
        if (c->ns) {
            conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                       "device element <%s:%s> is not supported by hvd",
                       c->ns->prefix ? (const char *)c->ns->prefix : "", name);
            return false;
        }
        bool ok = true;
        if (!strcmp(name, "emulator")) {
            g_free(def->emulator);
            def->emulator = trimmed_text_of(c);
        } else if (!strcmp(name, "disk")) {
            ok = parse_disk(def, c, err);
        } else if (!strcmp(name, "interface")) {
            ok = parse_net(def, c, err);
        } else if (!strcmp(name, "hostdev")) {
            ok = parse_hostdev(def, c, err);
        } else if (!strcmp(name, "memballoon")) {
            if (saw_balloon) {
                conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED, "hvd supports one <memballoon>");
                return false;
            }
            saw_balloon = true;
            ok = parse_memballoon(def, c, err);
        } else if (!strcmp(name, "serial")) {
            ok = parse_serial(def, c, err);
        } else if (!strcmp(name, "console")) {
            /* handled below, once all serials are known */
        } else if (name_in(name, kept_devices, G_N_ELEMENTS(kept_devices))) {
            bool is_ide = false;
            if (!strcmp(name, "controller") && !check_controller(c, &is_ide, err))
                return false;
            have_ide_controller |= is_ide;
            g_ptr_array_add(def->extra_devices, node_to_string(c));
        } else if (name_in(name, refused_devices, G_N_ELEMENTS(refused_devices))) {
            conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                       "device <%s> is not supported by hvd", name);
            return false;
        } else {
            conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                       "unknown device element <%s> is not supported by hvd", name);
            return false;
        }
        if (!ok)
            return false;
    }
    bool first_console = true;
    for (const xmlNode *c = devices->children; c; c = c->next) {
        if (is_element(c, "console") && !c->ns) {
            if (!parse_console(def, c, first_console, err))
                return false;
            first_console = false;
        }
    }
    bool have_ide_disk = false;
    for (guint i = 0; i < def->disks->len; i++) {
        const DomainDisk *d = g_ptr_array_index(def->disks, i);
        have_ide_disk |= d->bus == DOMAIN_DISK_BUS_IDE;
    }
    if (have_ide_disk && !have_ide_controller)
        add_implicit_ide_controller(def);
    /* libvirt's QEMU driver adds a virtio balloon to x86 guests that do not
     * say <memballoon model='none'/> */
    if (!saw_balloon)
        def->balloon.enabled = true;
    return true;
}

/* ------------------------------------------------------------------ */
/* <os>, <cpu>, <features>, <clock>, lifecycle                         */

/* <loader readonly='yes' type='rom'>PATH</loader>: a BIOS image mapped
 * below 4 GiB (formatdomain "BIOS bootloader"). UEFI needs pflash and
 * NVRAM, which the worker does not have. */
static bool parse_loader(DomainDef *def, const xmlNode *n, GError **err)
{
    g_autofree char *type = prop(n, "type");
    if (type && strcmp(type, "rom") != 0) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                   "<loader type='%s'> is not supported by hvd (only 'rom', a BIOS image)", type);
        return false;
    }
    /* secure boot, stateless, format: UEFI matters */
    for (const xmlAttr *a = n->properties; a; a = a->next) {
        const char *attr = (const char *)a->name;
        if (strcmp(attr, "type") && strcmp(attr, "readonly")) {
            conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                       "attribute '%s' of <loader> is not supported by hvd", attr);
            return false;
        }
    }
    if (!tristate_attr(n, "readonly", "yes", "no", &def->loader_readonly, err))
        return false;
    g_autofree char *path = trimmed_text_of(n);
    if (!*path) {
        conf_error(err, VIR_ERR_XML_ERROR, "<loader> of domain needs the path of a BIOS image");
        return false;
    }
    g_free(def->loader);
    def->loader = g_steal_pointer(&path);
    g_free(def->loader_type);
    def->loader_type = g_steal_pointer(&type);
    return true;
}

static bool parse_os(DomainDef *def, const xmlNode *os, GError **err)
{
    bool saw_type = false;
    for (const xmlNode *c = os->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        const char *name = (const char *)c->name;
        if (!strcmp(name, "type")) {
            saw_type = true;
            g_autofree char *t = trimmed_text_of(c);
            if (strcmp(t, "hvm") != 0) {
                conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                           "os type '%s' is not supported by hvd (only 'hvm')", t);
                return false;
            }
            g_free(def->os_arch);
            def->os_arch = prop(c, "arch");
            g_free(def->os_machine);
            def->os_machine = prop(c, "machine");
        } else if (!strcmp(name, "kernel")) {
            g_free(def->kernel);
            def->kernel = trimmed_text_of(c);
        } else if (!strcmp(name, "initrd")) {
            g_free(def->initrd);
            def->initrd = trimmed_text_of(c);
        } else if (!strcmp(name, "cmdline")) {
            g_free(def->cmdline);
            def->cmdline = text_of(c);
        } else if (!strcmp(name, "boot")) {
            g_autofree char *dev = prop(c, "dev");
            if (!dev || (strcmp(dev, "hd") && strcmp(dev, "cdrom") && strcmp(dev, "network") &&
                         strcmp(dev, "fd"))) {
                conf_error(err, VIR_ERR_XML_ERROR, "unknown boot device '%s'", dev ? dev : "");
                return false;
            }
            /* libvirt reads at most four (VIR_DOMAIN_BOOT_LAST) */
            if (def->boot_devs->len < 4)
                g_ptr_array_add(def->boot_devs, g_steal_pointer(&dev));
        } else if (!strcmp(name, "smbios")) {
            g_free(def->smbios_mode);
            def->smbios_mode = prop(c, "mode");
        } else if (!strcmp(name, "bootmenu")) {
            if (!tristate_attr(c, "enable", "yes", "no", &def->bootmenu, err))
                return false;
            g_free(def->bootmenu_timeout);
            def->bootmenu_timeout = prop(c, "timeout");
        } else if (!strcmp(name, "loader")) {
            if (!parse_loader(def, c, err))
                return false;
        } else if (!strcmp(name, "nvram") || !strcmp(name, "dtb") || !strcmp(name, "firmware") ||
                   !strcmp(name, "acpi") || !strcmp(name, "init")) {
            conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                       "<os><%s> is not supported by hvd (BIOS firmware or direct kernel boot)",
                       name);
            return false;
        } else {
            return unsupported_child(c, "os", err);
        }
    }
    if (!saw_type) {
        conf_error(err, VIR_ERR_XML_ERROR, "an os <type> must be specified");
        return false;
    }
    if (!def->os_arch)
        def->os_arch = g_strdup("x86_64");
    if (strcmp(def->os_arch, "x86_64") != 0) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                   "architecture '%s' is not supported by hvd (only 'x86_64')", def->os_arch);
        return false;
    }
    if (!def->os_machine)
        def->os_machine = g_strdup("pc");
    return true;
}

static bool parse_cpu(DomainDef *def, const xmlNode *cpu, GError **err)
{
    def->cpu_xml = node_to_string(cpu);
    def->cpu_mode = prop(cpu, "mode");
    if (def->cpu_mode && strcmp(def->cpu_mode, "host-passthrough") &&
        strcmp(def->cpu_mode, "host-model") && strcmp(def->cpu_mode, "custom") &&
        strcmp(def->cpu_mode, "maximum")) {
        conf_error(err, VIR_ERR_XML_ERROR, "Invalid value for attribute 'mode' in element 'cpu': '%s'.",
                   def->cpu_mode);
        return false;
    }
    const xmlNode *topo = first_child(cpu, "topology");
    if (topo) {
        def->cpu_dies = 1;
        if (!uint_attr(topo, "sockets", 10, UINT_MAX, &def->cpu_sockets, err) ||
            !uint_attr(topo, "dies", 10, UINT_MAX, &def->cpu_dies, err) ||
            !uint_attr(topo, "cores", 10, UINT_MAX, &def->cpu_cores, err) ||
            !uint_attr(topo, "threads", 10, UINT_MAX, &def->cpu_threads, err))
            return false;
        if (!def->cpu_sockets || !def->cpu_dies || !def->cpu_cores || !def->cpu_threads) {
            conf_error(err, VIR_ERR_XML_ERROR,
                       "CPU topology needs non-zero sockets, cores and threads");
            return false;
        }
    }
    return true;
}

static bool parse_features(DomainDef *def, const xmlNode *features)
{
    def->features_xml = node_to_string(features);
    def->feature_acpi = first_child(features, "acpi") != NULL;
    def->feature_apic = first_child(features, "apic") != NULL;
    def->feature_pae = first_child(features, "pae") != NULL;
    return true;
}

static bool parse_clock(DomainDef *def, const xmlNode *clock, GError **err)
{
    g_autofree char *offset = prop(clock, "offset");
    if (offset && strcmp(offset, "utc") && strcmp(offset, "localtime") &&
        strcmp(offset, "timezone") && strcmp(offset, "variable") && strcmp(offset, "absolute")) {
        conf_error(err, VIR_ERR_XML_ERROR, "unknown clock offset '%s'", offset);
        return false;
    }
    /* a bare <clock offset=.../> is fully described by clock_offset */
    bool bare = !clock->children;
    for (const xmlAttr *a = clock->properties; a; a = a->next)
        bare = bare && strcmp((const char *)a->name, "offset") == 0;
    if (!bare)
        def->clock_xml = node_to_string(clock);
    def->clock_offset = offset ? g_steal_pointer(&offset) : g_strdup("utc");
    return true;
}

static bool parse_lifecycle(const xmlNode *n, bool allow_rename, DomainLifecycleAction *out,
                            GError **err)
{
    g_autofree char *v = trimmed_text_of(n);
    for (size_t i = 0; i < G_N_ELEMENTS(lifecycle_names); i++) {
        if (strcmp(v, lifecycle_names[i]) != 0)
            continue;
        DomainLifecycleAction a = (DomainLifecycleAction)i;
        /* libvirt: rename-restart only for on_poweroff/on_reboot, coredump-*
         * only for on_crash; QEMU itself lacks rename-restart. hvd cannot
         * write guest core dumps either. */
        if (a == DOMAIN_LIFECYCLE_RENAME_RESTART || a == DOMAIN_LIFECYCLE_COREDUMP_DESTROY ||
            a == DOMAIN_LIFECYCLE_COREDUMP_RESTART) {
            bool coredump = a != DOMAIN_LIFECYCLE_RENAME_RESTART;
            if (coredump == allow_rename) {
                conf_error(err, VIR_ERR_XML_ERROR, "Invalid value for element '%s': '%s'",
                           (const char *)n->name, v);
                return false;
            }
            conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                       "%s action '%s' is not supported by hvd", (const char *)n->name, v);
            return false;
        }
        *out = a;
        return true;
    }
    conf_error(err, VIR_ERR_XML_ERROR, "Invalid value for element '%s': '%s'",
               (const char *)n->name, v);
    return false;
}

static bool parse_vcpu(DomainDef *def, const xmlNode *n, GError **err)
{
    g_autofree char *text = trimmed_text_of(n);
    uint64_t v;
    if (!parse_uint_base(text, 10, UINT_MAX, &v) || v == 0) {
        conf_error(err, VIR_ERR_XML_ERROR, "maximum vcpus count must be a positive integer, not '%s'",
                   text);
        return false;
    }
    if (v > DOMAIN_MAX_VCPUS) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                   "%" G_GUINT64_FORMAT " vCPUs requested, hvd supports at most %d", v,
                   DOMAIN_MAX_VCPUS);
        return false;
    }
    def->vcpus = (unsigned)v;
    g_autofree char *current = prop(n, "current");
    if (current) {
        if (!parse_uint_base(current, 10, UINT_MAX, &v) || v == 0) {
            conf_error(err, VIR_ERR_XML_ERROR, "Invalid current vcpus count '%s'", current);
            return false;
        }
        if (v > def->vcpus) {
            conf_error(err, VIR_ERR_XML_ERROR,
                       "maxvcpus must not be less than current vcpus (%u < %" G_GUINT64_FORMAT ")",
                       def->vcpus, v);
            return false;
        }
        def->current_vcpus = (unsigned)v;
        def->has_current_vcpus = true;
    }
    g_free(def->vcpu_placement);
    def->vcpu_placement = prop(n, "placement");
    if (def->vcpu_placement && strcmp(def->vcpu_placement, "static") &&
        strcmp(def->vcpu_placement, "auto")) {
        conf_error(err, VIR_ERR_XML_ERROR, "Invalid value for attribute 'placement' in element 'vcpu': '%s'.",
                   def->vcpu_placement);
        return false;
    }
    g_free(def->vcpu_cpuset);
    def->vcpu_cpuset = prop(n, "cpuset");
    return true;
}

/* ------------------------------------------------------------------ */
/* <domain>                                                            */

/* Top-level elements that tune or describe the host side and leave a
 * working guest when hvd does not honour them: kept verbatim. */
static const char *const kept_toplevel[] = {
    "sysinfo", "memtune", "memoryBacking", "blkiotune", "cputune", "numatune", "resource",
    "pm", "seclabel", "iothreads", "iothreadids", "perf", "idmap", "genid", "keywrap",
    "on_lockfailure", "vcpus", "defaultiothread",
};
static const char *const refused_toplevel[] = {
    "maxMemory", "launchSecurity", "bootloader", "bootloader_args", "throttlegroups",
};

static bool parse_domain_node(DomainDef *def, const xmlNode *root, GError **err)
{
    if (!is_element(root, "domain")) {
        conf_error(err, VIR_ERR_XML_ERROR, "expected root element 'domain', got '%s'",
                   root ? (const char *)root->name : "(none)");
        return false;
    }
    g_autofree char *type = prop(root, "type");
    if (!type) {
        conf_error(err, VIR_ERR_XML_ERROR, "missing domain type attribute");
        return false;
    }
    if (strcmp(type, "kvm") != 0) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                   "domain type '%s' is not supported by hvd (only 'kvm')", type);
        return false;
    }

    bool have_uuid = false, have_memory = false, have_current = false, have_os = false;
    const xmlNode *devices = NULL;
    for (const xmlNode *c = root->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        const char *name = (const char *)c->name;
        if (c->ns) {
            conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                       "element <%s:%s> is not supported by hvd",
                       c->ns->prefix ? (const char *)c->ns->prefix : "", name);
            return false;
        }
        bool ok = true;
        if (!strcmp(name, "name")) {
            g_free(def->name);
            def->name = trimmed_text_of(c);
        } else if (!strcmp(name, "uuid")) {
            g_autofree char *t = text_of(c);
            if (!domain_uuid_parse(t, def->uuid)) {
                conf_error(err, VIR_ERR_INTERNAL_ERROR, "malformed uuid element '%s'", t);
                return false;
            }
            have_uuid = true;
        } else if (!strcmp(name, "title")) {
            g_free(def->title);
            def->title = text_of(c);
            if (strchr(def->title, '\n')) {
                conf_error(err, VIR_ERR_XML_ERROR, "Domain title can't contain newlines");
                return false;
            }
        } else if (!strcmp(name, "description")) {
            g_free(def->description);
            def->description = text_of(c);
        } else if (!strcmp(name, "metadata")) {
            g_free(def->metadata_xml);
            def->metadata_xml = node_to_string(c);
        } else if (!strcmp(name, "memory")) {
            ok = parse_memory_kib(c, &def->memory_kib, err);
            have_memory = true;
        } else if (!strcmp(name, "currentMemory")) {
            ok = parse_memory_kib(c, &def->current_memory_kib, err);
            have_current = true;
        } else if (!strcmp(name, "vcpu")) {
            ok = parse_vcpu(def, c, err);
        } else if (!strcmp(name, "os")) {
            ok = parse_os(def, c, err);
            have_os = true;
        } else if (!strcmp(name, "features")) {
            ok = parse_features(def, c);
        } else if (!strcmp(name, "cpu")) {
            ok = parse_cpu(def, c, err);
        } else if (!strcmp(name, "clock")) {
            ok = parse_clock(def, c, err);
        } else if (!strcmp(name, "on_poweroff")) {
            ok = parse_lifecycle(c, true, &def->on_poweroff, err);
        } else if (!strcmp(name, "on_reboot")) {
            ok = parse_lifecycle(c, true, &def->on_reboot, err);
        } else if (!strcmp(name, "on_crash")) {
            ok = parse_lifecycle(c, false, &def->on_crash, err);
        } else if (!strcmp(name, "devices")) {
            devices = c;
        } else if (name_in(name, kept_toplevel, G_N_ELEMENTS(kept_toplevel))) {
            g_ptr_array_add(def->extra_toplevel, node_to_string(c));
        } else if (name_in(name, refused_toplevel, G_N_ELEMENTS(refused_toplevel))) {
            conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED, "<%s> is not supported by hvd", name);
            return false;
        } else {
            conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                       "unknown element <%s> in <domain> is not supported by hvd", name);
            return false;
        }
        if (!ok)
            return false;
    }

    if (!def->name || !*def->name) {
        conf_error(err, VIR_ERR_NO_NAME, "domain");
        return false;
    }
    if (strchr(def->name, '/')) {
        conf_error(err, VIR_ERR_XML_ERROR, "name %s cannot contain '/'", def->name);
        return false;
    }
    if (!have_uuid)
        domain_uuid_generate(def->uuid);
    if (!have_memory || def->memory_kib == 0) {
        conf_error(err, VIR_ERR_XML_ERROR,
                   "Memory size must be specified via <memory> or in the <numa> configuration");
        return false;
    }
    /* libvirt clamps a balloon target above the maximum (or zero) */
    if (!have_current || def->current_memory_kib == 0 ||
        def->current_memory_kib > def->memory_kib)
        def->current_memory_kib = def->memory_kib;
    if (def->vcpus == 0)
        def->vcpus = 1;
    if (!def->has_current_vcpus)
        def->current_vcpus = def->vcpus;
    if (!have_os) {
        conf_error(err, VIR_ERR_XML_ERROR, "an os <type> must be specified");
        return false;
    }
    if (!def->clock_offset)
        def->clock_offset = g_strdup("utc");
    if (devices) {
        if (!parse_devices(def, devices, err))
            return false;
    } else {
        def->balloon.enabled = true;
    }
    /* libvirt boots from the first disk when neither <os><boot dev> nor
     * any device's <boot order> says otherwise (virDomainDefBootOrderPostParse) */
    if (def->boot_devs->len == 0 && !domain_def_has_boot_order(def))
        g_ptr_array_add(def->boot_devs, g_strdup("hd"));
    return true;
}

/* Libvirt's report for a not well-formed document (virxml.c
 * catchXMLError): "<url>:<line>: <libxml2 message>" then the offending
 * line and a "----^" pointer under the column (traces/36, code 35). */
static void report_parse_error(const char *xml, const xmlError *e, GError **err)
{
    if (!e || !e->message) {
        conf_error(err, VIR_ERR_XML_DETAIL, "(domain_definition): failed to parse xml document");
        return;
    }
    int line = e->line > 0 ? e->line : 1;
    const char *p = xml;
    for (int l = 1; l < line && p; l++) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    g_autofree char *context = NULL;
    if (p) {
        size_t len = strcspn(p, "\r\n");
        context = g_strndup(p, len);
    } else {
        context = g_strdup("");
    }
    int col = e->int2 > 0 ? e->int2 - 1 : 0;
    g_autofree char *pointer = g_strnfill((gsize)MIN(col, 4096), '-');
    const char *msg = e->message;
    size_t mlen = strlen(msg);
    conf_error(err, VIR_ERR_XML_DETAIL, "(domain_definition):%d: %.*s\n%s\n%s^", line,
               (int)(mlen && msg[mlen - 1] == '\n' ? mlen - 1 : mlen), msg, context, pointer);
}

static void quiet_structured_error(void *ctx, const xmlError *e)
{
    (void)ctx;
    (void)e;
}

static xmlDoc *read_document(const char *xml, GError **err)
{
    if (!xml) {
        conf_error(err, VIR_ERR_INVALID_ARG, "xml must not be NULL");
        return NULL;
    }
    xmlParserCtxt *ctxt = xmlNewParserCtxt();
    if (!ctxt) {
        conf_error(err, VIR_ERR_INTERNAL_ERROR, "cannot allocate an XML parser");
        return NULL;
    }
    /* structured handler: keeps libxml2 from printing on stderr; the
     * error still lands in ctxt->lastError */
    ctxt->sax->serror = (xmlStructuredErrorFunc)quiet_structured_error;
    size_t len = strlen(xml);
    xmlDoc *doc = NULL;
    if (len > INT_MAX)
        conf_error(err, VIR_ERR_XML_ERROR, "domain XML is too large");
    else
        doc = xmlCtxtReadMemory(ctxt, xml, (int)len, "(domain_definition)", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOWARNING | XML_PARSE_NOERROR);
    if (len <= INT_MAX && (!doc || !ctxt->wellFormed)) {
        report_parse_error(xml, &ctxt->lastError, err);
        if (doc)
            xmlFreeDoc(doc);
        doc = NULL;
    }
    xmlFreeParserCtxt(ctxt);
    return doc;
}

DomainDef *domain_def_parse_string(const char *xml, unsigned flags, GError **err)
{
    g_autoptr(xmlDoc) doc = read_document(xml, err);
    if (!doc)
        return NULL;
    g_autoptr(DomainDef) def = domain_def_new();
    if (!parse_domain_node(def, xmlDocGetRootElement(doc), err))
        return NULL;
    if (!(flags & DOMAIN_PARSE_NO_SCHEMA)) {
        const char *rng = domain_schema_path();
        if (!rng) {
            hvd_vir_error_set(err, VIR_FROM_XML, VIR_ERR_INTERNAL_ERROR,
                              "cannot find hvd's schema domain.rng (set HVD_SCHEMA_DIR)");
            return NULL;
        }
        if (!domain_schema_validate_doc(doc, rng, err))
            return NULL;
    }
    if (!domain_def_validate(def, err))
        return NULL;
    if (!domain_def_assign_pci_addresses(def, err))
        return NULL;
    return g_steal_pointer(&def);
}

DomainDef *domain_def_parse_file(const char *path, unsigned flags, GError **err)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) io_err = NULL;
    if (!g_file_get_contents(path, &text, NULL, &io_err)) {
        hvd_vir_error_set(err, VIR_FROM_DOMAIN, VIR_ERR_SYSTEM_ERROR, "cannot read '%s': %s", path,
                          io_err->message);
        return NULL;
    }
    return domain_def_parse_string(text, flags, err);
}

bool domain_def_equal(const DomainDef *a, const DomainDef *b)
{
    g_autofree char *xa = domain_def_format(a, NULL);
    g_autofree char *xb = domain_def_format(b, NULL);
    return strcmp(xa, xb) == 0;
}

DomainDef *domain_def_copy(const DomainDef *def, GError **err)
{
    g_autofree char *xml = domain_def_format(def, NULL);
    return domain_def_parse_string(xml, DOMAIN_PARSE_NO_SCHEMA, err);
}

/* ------------------------------------------------------------------ */
/* One device element (attach / detach)                                */

/* Element name -> libvirt's virDomainDeviceType name (domain_conf.c's
 * virDomainDeviceDefParse dispatch). */
static const struct {
    const char *element;
    const char *type_name;
} device_type_names[] = {
    { "disk", "disk" }, { "interface", "net" }, { "hostdev", "hostdev" },
    { "memballoon", "memballoon" }, { "lease", "lease" }, { "filesystem", "filesystem" },
    { "input", "input" }, { "sound", "sound" }, { "video", "video" },
    { "watchdog", "watchdog" }, { "controller", "controller" }, { "graphics", "graphics" },
    { "hub", "hub" }, { "redirdev", "redirdev" }, { "smartcard", "smartcard" },
    { "serial", "chr" }, { "parallel", "chr" }, { "console", "chr" }, { "channel", "chr" },
    { "nvram", "nvram" }, { "rng", "rng" }, { "shmem", "shmem" }, { "tpm", "tpm" },
    { "panic", "panic" }, { "memory", "memory" }, { "iommu", "iommu" }, { "vsock", "vsock" },
    { "audio", "audio" }, { "crypto", "crypto" }, { "pstore", "pstore" },
};

void domain_device_free(DomainDevice *dev)
{
    if (!dev)
        return;
    domain_def_free(dev->holder);
    g_free(dev);
}

DomainDevice *domain_device_parse_string(const char *xml, GError **err)
{
    g_autoptr(xmlDoc) doc = read_document(xml, err);
    if (!doc)
        return NULL;
    const xmlNode *root = xmlDocGetRootElement(doc);
    if (!root) {
        conf_error(err, VIR_ERR_XML_ERROR, "%s", "missing device element");
        return NULL;
    }
    const char *name = (const char *)root->name;
    g_autoptr(DomainDevice) dev = g_new0(DomainDevice, 1);
    for (size_t i = 0; i < G_N_ELEMENTS(device_type_names); i++)
        if (!root->ns && strcmp(name, device_type_names[i].element) == 0)
            dev->type_name = device_type_names[i].type_name;
    if (!dev->type_name) {
        conf_error(err, VIR_ERR_XML_ERROR, "unknown device type '%s'", name);
        return NULL;
    }
    dev->holder = domain_def_new();
    bool ok = true;
    if (!strcmp(name, "disk")) {
        dev->kind = DOMAIN_DEVICE_DISK;
        ok = parse_disk(dev->holder, root, err);
    } else if (!strcmp(name, "interface")) {
        dev->kind = DOMAIN_DEVICE_NET;
        const xmlNode *mac = first_child(root, "mac");
        g_autofree char *address = mac ? prop(mac, "address") : NULL;
        dev->mac_given = address != NULL;
        ok = parse_net(dev->holder, root, err);
    } else if (!strcmp(name, "hostdev")) {
        dev->kind = DOMAIN_DEVICE_HOSTDEV;
        ok = parse_hostdev(dev->holder, root, err);
    } else if (!strcmp(name, "memballoon")) {
        dev->kind = DOMAIN_DEVICE_MEMBALLOON;
        ok = parse_memballoon(dev->holder, root, err);
    } else {
        dev->kind = DOMAIN_DEVICE_OTHER;
    }
    if (!ok)
        return NULL;
    return g_steal_pointer(&dev);
}
