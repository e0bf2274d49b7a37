/* hvsh create: compose a domain from command-line options (what virsh
 * lacks; virt-install's job on a libvirt host) and define it, optionally
 * start it.
 *
 * The XML is built with libvirt-gconfig where it has an API: the domain
 * (type, name, memory, vcpus), <os> (type, arch, kernel, initrd, cmdline),
 * file disks, bridge interfaces (source, model, mac, target dev),
 * <memballoon model>, PCI <hostdev> with its address and managed flag.
 * libvirt-gconfig 4.0 has no API for interface type='ethernet', for an
 * interface's <driver name= queues=> nor for <memballoon><stats period=>:
 * those are added to the serialised document with libxml2 afterwards. */
#include "tools/hvsh/hvsh.h"

#include <stdlib.h>
#include <string.h>

#include <libvirt-gconfig/libvirt-gconfig.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

/* libvirt-gconfig 4.0 declares no g_autoptr cleanups for its classes. */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GVirConfigDomain, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GVirConfigDomainOs, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GVirConfigDomainDisk, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GVirConfigDomainInterfaceBridge, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GVirConfigDomainMemballoon, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GVirConfigDomainHostdevPci, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GVirConfigDomainAddressPci, g_object_unref)

#define SPEC_ERROR(err, ...) g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, __VA_ARGS__)

void hvsh_disk_spec_free(struct hvsh_disk_spec *d)
{
    if (!d)
        return;
    g_free(d->path);
    g_free(d);
}

void hvsh_nic_spec_free(struct hvsh_nic_spec *n)
{
    if (!n)
        return;
    g_free(n->model);
    g_free(n->bridge);
    g_free(n->ifname);
    g_free(n->mac);
    g_free(n);
}

static bool parse_on_off(const char *opt, const char *key, const char *value, bool *out,
                         GError **err)
{
    if (!strcmp(value, "on") || !strcmp(value, "yes") || !strcmp(value, "true")) {
        *out = true;
        return true;
    }
    if (!strcmp(value, "off") || !strcmp(value, "no") || !strcmp(value, "false")) {
        *out = false;
        return true;
    }
    SPEC_ERROR(err, "--%s: %s must be on or off, not '%s'", opt, key, value);
    return false;
}

/* "path=F[,readonly=on]", or just "F" */
bool hvsh_disk_spec_parse(const char *text, struct hvsh_disk_spec *out, GError **err)
{
    memset(out, 0, sizeof(*out));
    g_auto(GStrv) parts = g_strsplit(text ? text : "", ",", -1);
    for (int i = 0; parts[i]; i++) {
        char *eq = strchr(parts[i], '=');
        if (!eq && i == 0 && parts[i][0]) {
            out->path = g_strdup(parts[i]);
            continue;
        }
        if (!eq) {
            SPEC_ERROR(err, "--disk: expected key=value, got '%s'", parts[i]);
            goto fail;
        }
        *eq = '\0';
        const char *key = parts[i], *value = eq + 1;
        if (!strcmp(key, "path")) {
            g_free(out->path);
            out->path = g_strdup(value);
        } else if (!strcmp(key, "readonly")) {
            if (!parse_on_off("disk", key, value, &out->readonly, err))
                goto fail;
        } else {
            SPEC_ERROR(err, "--disk: unknown key '%s' (path, readonly)", key);
            goto fail;
        }
    }
    if (!out->path || !out->path[0]) {
        SPEC_ERROR(err, "--disk: path=FILE is required");
        goto fail;
    }
    return true;
fail:
    g_free(out->path);
    out->path = NULL;
    return false;
}

static bool valid_mac(const char *mac)
{
    if (strlen(mac) != 17)
        return false;
    for (int i = 0; i < 17; i++) {
        if (i % 3 == 2 ? mac[i] != ':' : !g_ascii_isxdigit(mac[i]))
            return false;
    }
    return true;
}

/* "model=virtio|e1000[,bridge=BR|,ifname=TAP][,vhost=on|off][,queues=N][,mac=M]" */
bool hvsh_nic_spec_parse(const char *text, struct hvsh_nic_spec *out, GError **err)
{
    memset(out, 0, sizeof(*out));
    g_auto(GStrv) parts = g_strsplit(text ? text : "", ",", -1);
    for (int i = 0; parts[i]; i++) {
        if (!parts[i][0])
            continue;
        char *eq = strchr(parts[i], '=');
        if (!eq) {
            SPEC_ERROR(err, "--nic: expected key=value, got '%s'", parts[i]);
            goto fail;
        }
        *eq = '\0';
        const char *key = parts[i], *value = eq + 1;
        if (!strcmp(key, "model")) {
            if (strcmp(value, "virtio") && strcmp(value, "e1000")) {
                SPEC_ERROR(err, "--nic: model must be virtio or e1000, not '%s'", value);
                goto fail;
            }
            g_free(out->model);
            out->model = g_strdup(value);
        } else if (!strcmp(key, "bridge")) {
            g_free(out->bridge);
            out->bridge = g_strdup(value);
        } else if (!strcmp(key, "ifname")) {
            g_free(out->ifname);
            out->ifname = g_strdup(value);
        } else if (!strcmp(key, "vhost")) {
            bool on;
            if (!parse_on_off("nic", key, value, &on, err))
                goto fail;
            out->vhost = on ? HVSH_VHOST_ON : HVSH_VHOST_OFF;
        } else if (!strcmp(key, "queues")) {
            char *end;
            unsigned long q = g_ascii_isdigit(value[0]) ? strtoul(value, &end, 10) : 0;
            if (q < 1 || q > 256 || *end) {
                SPEC_ERROR(err, "--nic: queues must be a number from 1 to 256, not '%s'", value);
                goto fail;
            }
            out->queues = (unsigned)q;
        } else if (!strcmp(key, "mac")) {
            if (!valid_mac(value)) {
                SPEC_ERROR(err, "--nic: mac must look like 52:54:00:12:34:56, not '%s'", value);
                goto fail;
            }
            g_free(out->mac);
            out->mac = g_strdup(value);
        } else {
            SPEC_ERROR(err, "--nic: unknown key '%s' (model, bridge, ifname, vhost, queues, mac)", key);
            goto fail;
        }
    }
    if (!out->model)
        out->model = g_strdup("virtio");
    if (out->bridge && out->ifname && !out->bridge[0]) {
        SPEC_ERROR(err, "--nic: empty bridge name");
        goto fail;
    }
    /* libvirt's rule: <driver> vhost and queues are virtio-net's */
    if (strcmp(out->model, "virtio") && (out->vhost != HVSH_VHOST_DEFAULT || out->queues)) {
        SPEC_ERROR(err, "--nic: vhost and queues need model=virtio, not '%s'", out->model);
        goto fail;
    }
    return true;
fail:
    g_free(out->model);
    g_free(out->bridge);
    g_free(out->ifname);
    g_free(out->mac);
    memset(out, 0, sizeof(*out));
    return false;
}

bool hvsh_pci_addr_parse(const char *text, unsigned *domain, unsigned *bus, unsigned *slot,
                         unsigned *function, GError **err)
{
    unsigned d = 0, b, s, f;
    int used = 0;
    const char *t = text ? text : "";
    /* pci_DDDD_BB_SS_F (node device name), DDDD:BB:SS.F or BB:SS.F */
    if ((sscanf(t, "pci_%4x_%2x_%2x_%1x%n", &d, &b, &s, &f, &used) == 4 && !t[used]) ||
        (sscanf(t, "%4x:%2x:%2x.%1x%n", &d, &b, &s, &f, &used) == 4 && !t[used]) ||
        (d = 0, sscanf(t, "%2x:%2x.%1x%n", &b, &s, &f, &used) == 3 && !t[used])) {
        if (s <= 0x1f && f <= 7) {
            *domain = d;
            *bus = b;
            *slot = s;
            *function = f;
            return true;
        }
    }
    SPEC_ERROR(err, "--hostdev: '%s' is not a PCI address (DDDD:BB:SS.F, BB:SS.F or pci_DDDD_BB_SS_F)", t);
    return false;
}

static xmlNode *child_element(xmlNode *parent, const char *name)
{
    for (xmlNode *c = parent ? parent->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name))
            return c;
    return NULL;
}

static void add_nic_driver(xmlNode *iface, const struct hvsh_nic_spec *nic)
{
    if (nic->vhost == HVSH_VHOST_DEFAULT && !nic->queues)
        return;
    xmlNode *driver = xmlNewChild(iface, NULL, BAD_CAST "driver", NULL);
    if (nic->vhost != HVSH_VHOST_DEFAULT) /* SUBJECT: <driver name='qemu'/> turns vhost off */
        xmlNewProp(driver, BAD_CAST "name", BAD_CAST(nic->vhost == HVSH_VHOST_ON ? "vhost" : "qemu"));
    if (nic->queues) {
        char q[16];
        snprintf(q, sizeof(q), "%u", nic->queues);
        xmlNewProp(driver, BAD_CAST "queues", BAD_CAST q);
    }
}

/* <interface type='ethernet'> entirely in libxml2 (no gconfig class). */
static void add_ethernet_nic(xmlNode *devices, const struct hvsh_nic_spec *nic)
{
    xmlNode *iface = xmlNewChild(devices, NULL, BAD_CAST "interface", NULL);
    xmlNewProp(iface, BAD_CAST "type", BAD_CAST "ethernet");
    if (nic->mac)
        xmlNewProp(xmlNewChild(iface, NULL, BAD_CAST "mac", NULL), BAD_CAST "address", BAD_CAST nic->mac);
    if (nic->ifname)
        xmlNewProp(xmlNewChild(iface, NULL, BAD_CAST "target", NULL), BAD_CAST "dev", BAD_CAST nic->ifname);
    xmlNewProp(xmlNewChild(iface, NULL, BAD_CAST "model", NULL), BAD_CAST "type", BAD_CAST nic->model);
    add_nic_driver(iface, nic);
}

char *hvsh_create_compose_xml(const struct hvsh_create_spec *spec, GError **err)
{
    if (!spec->name || !spec->name[0]) {
        SPEC_ERROR(err, "a domain name is required");
        return NULL;
    }
    if (!spec->kernel) {
        SPEC_ERROR(err, "--kernel is required (hvd boots a Linux bzImage directly)");
        return NULL;
    }
    if (!gvir_config_init_check(NULL, NULL, err))
        return NULL;

    g_autoptr(GVirConfigDomain) domain = gvir_config_domain_new();
    gvir_config_domain_set_virt_type(domain, GVIR_CONFIG_DOMAIN_VIRT_KVM);
    gvir_config_domain_set_name(domain, spec->name);
    gvir_config_domain_set_memory(domain, spec->memory_kib);
    gvir_config_domain_set_current_memory(domain, spec->memory_kib);
    gvir_config_domain_set_vcpus(domain, spec->vcpus);

    g_autoptr(GVirConfigDomainOs) os = gvir_config_domain_os_new();
    gvir_config_domain_os_set_os_type(os, GVIR_CONFIG_DOMAIN_OS_TYPE_HVM);
    gvir_config_domain_os_set_arch(os, "x86_64");
    gvir_config_domain_os_set_kernel(os, spec->kernel);
    if (spec->initrd)
        gvir_config_domain_os_set_ramdisk(os, spec->initrd);
    if (spec->cmdline)
        gvir_config_domain_os_set_cmdline(os, spec->cmdline);
    gvir_config_domain_set_os(domain, os);

    for (guint i = 0; spec->disks && i < spec->disks->len; i++) {
        const struct hvsh_disk_spec *d = g_ptr_array_index(spec->disks, i);
        if (i >= 26) {
            SPEC_ERROR(err, "at most 26 disks (vda..vdz)");
            return NULL;
        }
        g_autoptr(GVirConfigDomainDisk) disk = gvir_config_domain_disk_new();
        gvir_config_domain_disk_set_type(disk, GVIR_CONFIG_DOMAIN_DISK_FILE);
        gvir_config_domain_disk_set_guest_device_type(disk, GVIR_CONFIG_DOMAIN_DISK_GUEST_DEVICE_DISK);
        gvir_config_domain_disk_set_source(disk, d->path);
        char target[8];
        snprintf(target, sizeof(target), "vd%c", 'a' + i);
        gvir_config_domain_disk_set_target_dev(disk, target);
        gvir_config_domain_disk_set_target_bus(disk, GVIR_CONFIG_DOMAIN_DISK_BUS_VIRTIO);
        if (d->readonly)
            gvir_config_domain_disk_set_readonly(disk, TRUE);
        gvir_config_domain_add_device(domain, GVIR_CONFIG_DOMAIN_DEVICE(disk));
    }

    /* Bridge NICs through gconfig, in order; ethernet ones come later. */
    for (guint i = 0; spec->nics && i < spec->nics->len; i++) {
        const struct hvsh_nic_spec *nic = g_ptr_array_index(spec->nics, i);
        if (!nic->bridge)
            continue;
        g_autoptr(GVirConfigDomainInterfaceBridge) br = gvir_config_domain_interface_bridge_new();
        GVirConfigDomainInterface *iface = GVIR_CONFIG_DOMAIN_INTERFACE(br);
        gvir_config_domain_interface_bridge_set_source(br, nic->bridge);
        if (nic->mac)
            gvir_config_domain_interface_set_mac(iface, nic->mac);
        if (nic->ifname)
            gvir_config_domain_interface_set_ifname(iface, nic->ifname);
        gvir_config_domain_interface_set_model(iface, nic->model);
        gvir_config_domain_add_device(domain, GVIR_CONFIG_DOMAIN_DEVICE(br));
    }

    if (spec->balloon) {
        g_autoptr(GVirConfigDomainMemballoon) balloon = gvir_config_domain_memballoon_new();
        gvir_config_domain_memballoon_set_model(balloon, GVIR_CONFIG_DOMAIN_MEMBALLOON_MODEL_VIRTIO);
        gvir_config_domain_add_device(domain, GVIR_CONFIG_DOMAIN_DEVICE(balloon));
    }

    for (guint i = 0; spec->hostdevs && i < spec->hostdevs->len; i++) {
        unsigned d, b, s, f;
        if (!hvsh_pci_addr_parse(g_ptr_array_index(spec->hostdevs, i), &d, &b, &s, &f, err))
            return NULL;
        g_autoptr(GVirConfigDomainHostdevPci) hostdev = gvir_config_domain_hostdev_pci_new();
        g_autoptr(GVirConfigDomainAddressPci) addr = gvir_config_domain_address_pci_new();
        gvir_config_domain_address_pci_set_domain(addr, (int)d);
        gvir_config_domain_address_pci_set_bus(addr, (int)b);
        gvir_config_domain_address_pci_set_slot(addr, (int)s);
        gvir_config_domain_address_pci_set_function(addr, (int)f);
        gvir_config_domain_hostdev_pci_set_address(hostdev, addr);
        /* managed: hvd binds the device to vfio-pci at start, back at stop */
        gvir_config_domain_hostdev_pci_set_managed(hostdev, TRUE);
        gvir_config_domain_add_device(domain, GVIR_CONFIG_DOMAIN_DEVICE(hostdev));
    }

    /* Now the parts gconfig has no API for, with libxml2. */
    g_autofree char *base = gvir_config_object_to_xml(GVIR_CONFIG_OBJECT(domain));
    xmlDoc *doc = xmlReadMemory(base, (int)strlen(base), "domain.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOBLANKS);
    if (!doc) {
        SPEC_ERROR(err, "internal error: libvirt-gconfig produced XML libxml2 cannot read");
        return NULL;
    }
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *devices = child_element(root, "devices");
    if (!devices)
        devices = xmlNewChild(root, NULL, BAD_CAST "devices", NULL);
    xmlNode *iface_node = devices->children;
    for (guint i = 0; spec->nics && i < spec->nics->len; i++) {
        const struct hvsh_nic_spec *nic = g_ptr_array_index(spec->nics, i);
        if (!nic->bridge)
            continue;
        while (iface_node && (iface_node->type != XML_ELEMENT_NODE ||
                              strcmp((const char *)iface_node->name, "interface")))
            iface_node = iface_node->next;
        if (!iface_node)
            break;
        add_nic_driver(iface_node, nic);
        iface_node = iface_node->next;
    }
    for (guint i = 0; spec->nics && i < spec->nics->len; i++) {
        const struct hvsh_nic_spec *nic = g_ptr_array_index(spec->nics, i);
        if (!nic->bridge)
            add_ethernet_nic(devices, nic);
    }
    if (spec->balloon && spec->balloon_period) {
        xmlNode *balloon = child_element(devices, "memballoon");
        if (balloon) {
            char period[16];
            snprintf(period, sizeof(period), "%u", spec->balloon_period);
            xmlNewProp(xmlNewChild(balloon, NULL, BAD_CAST "stats", NULL), BAD_CAST "period",
                       BAD_CAST period);
        }
    }
    xmlChar *out = NULL;
    int len = 0;
    xmlDocDumpFormatMemory(doc, &out, &len, 1);
    xmlFreeDoc(doc);
    /* without the <?xml ...?> declaration, as libvirt prints domains */
    const char *text = (const char *)out;
    if (g_str_has_prefix(text, "<?xml")) {
        const char *nl = strchr(text, '\n');
        text = nl ? nl + 1 : text;
    }
    char *result = g_strdup(text);
    xmlFree(out);
    return result;
}

/* ---------------------------------------------------------------- command */

static const struct hvsh_opt_def create_opts[] = {
    { "name", HVSH_OPT_STRING, HVSH_OPT_POSITIONAL | HVSH_OPT_REQUIRED, "name of the new domain" },
    { "memory", HVSH_OPT_STRING, HVSH_OPT_REQUIRED, "memory size with unit (default MiB): 512M, 1G" },
    { "vcpus", HVSH_OPT_STRING, 0, "number of virtual CPUs (default 1)" },
    { "kernel", HVSH_OPT_STRING, HVSH_OPT_REQUIRED, "guest kernel (bzImage)" },
    { "initrd", HVSH_OPT_STRING, 0, "initial ramdisk" },
    { "cmdline", HVSH_OPT_STRING, 0, "kernel command line" },
    { "disk", HVSH_OPT_LIST, 0, "path=FILE[,readonly=on] (repeatable; vda, vdb, ...)" },
    { "nic", HVSH_OPT_LIST, 0, "model=virtio|e1000[,bridge=BR|,ifname=TAP][,vhost=on|off][,queues=N][,mac=M] (repeatable)" },
    { "balloon", HVSH_OPT_OPTIONAL, 0, "virtio balloon; =N polls guest memory statistics every N seconds" },
    { "hostdev", HVSH_OPT_LIST, 0, "assign a host PCI device (DDDD:BB:SS.F or pci_DDDD_BB_SS_F; repeatable)" },
    { "start", HVSH_OPT_BOOL, 0, "start the domain once defined" },
    { "print-xml", HVSH_OPT_BOOL, 0, "print the domain XML and do nothing else" },
    { NULL },
};

static int cmd_create(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *xml = NULL;
    struct hvsh_create_spec spec = { .name = hvsh_arg_str(args, "name"), .vcpus = 1 };
    spec.kernel = hvsh_arg_str(args, "kernel");
    spec.initrd = hvsh_arg_str(args, "initrd");
    spec.cmdline = hvsh_arg_str(args, "cmdline");
    g_autoptr(GPtrArray) disks = g_ptr_array_new_with_free_func((GDestroyNotify)hvsh_disk_spec_free);
    g_autoptr(GPtrArray) nics = g_ptr_array_new_with_free_func((GDestroyNotify)hvsh_nic_spec_free);
    spec.disks = disks;
    spec.nics = nics;
    spec.hostdevs = (GPtrArray *)hvsh_arg_list(args, "hostdev");

    unsigned long long n = 1;
    if (!hvsh_parse_size_kib(hvsh_arg_str(args, "memory"), 1024 * 1024, &spec.memory_kib, &err) ||
        !hvsh_arg_uint(args, "vcpus", 4096, &n, &err))
        goto usage;
    if (n < 1) {
        SPEC_ERROR(&err, "--vcpus must be at least 1");
        goto usage;
    }
    spec.vcpus = (unsigned)n;
    if (spec.memory_kib < 1024) {
        SPEC_ERROR(&err, "--memory %s is less than 1 MiB", hvsh_arg_str(args, "memory"));
        goto usage;
    }
    const GPtrArray *list = hvsh_arg_list(args, "disk");
    for (guint i = 0; i < list->len; i++) {
        struct hvsh_disk_spec *d = g_new0(struct hvsh_disk_spec, 1);
        if (!hvsh_disk_spec_parse(g_ptr_array_index(list, i), d, &err)) {
            g_free(d);
            goto usage;
        }
        g_ptr_array_add(disks, d);
    }
    list = hvsh_arg_list(args, "nic");
    for (guint i = 0; i < list->len; i++) {
        struct hvsh_nic_spec *nic = g_new0(struct hvsh_nic_spec, 1);
        if (!hvsh_nic_spec_parse(g_ptr_array_index(list, i), nic, &err)) {
            g_free(nic);
            goto usage;
        }
        g_ptr_array_add(nics, nic);
    }
    if (hvsh_arg_present(args, "balloon")) {
        spec.balloon = true;
        const char *period = hvsh_arg_str(args, "balloon");
        if (period) {
            char *end;
            unsigned long p = g_ascii_isdigit(period[0]) ? strtoul(period, &end, 10) : 0;
            if (!g_ascii_isdigit(period[0]) || *end || p > INT_MAX) {
                SPEC_ERROR(&err, "--balloon=N: N must be a number of seconds, not '%s'", period);
                goto usage;
            }
            spec.balloon_period = (unsigned)p;
        }
    }
    for (guint i = 0; i < spec.hostdevs->len; i++) {
        unsigned d, b, s, f;
        if (!hvsh_pci_addr_parse(g_ptr_array_index(spec.hostdevs, i), &d, &b, &s, &f, &err))
            goto usage;
    }

    xml = hvsh_create_compose_xml(&spec, &err);
    if (!xml) {
        hvsh_error("%s", err->message);
        return HVSH_EXIT_ERROR;
    }
    if (hvsh_arg_bool(args, "print-xml")) {
        fputs(xml, stdout);
        return HVSH_EXIT_OK;
    }
    int rc = hvsh_connect(ctl);
    if (rc != HVSH_EXIT_OK)
        return rc;
    virDomainPtr dom = virDomainDefineXML(ctl->conn, xml);
    if (!dom)
        return hvsh_libvirt_error("Failed to define domain '%s'", spec.name);
    if (hvsh_arg_bool(args, "start")) {
        if (virDomainCreate(dom) < 0)
            rc = hvsh_libvirt_error("Domain '%s' defined, but failed to start", spec.name);
        else
            hvsh_done(ctl, "Domain '%s' defined and started", spec.name);
    } else {
        hvsh_done(ctl, "Domain '%s' defined", spec.name);
    }
    virDomainFree(dom);
    return rc;

usage:
    hvsh_error("%s", err->message);
    return HVSH_EXIT_USAGE;
}

const struct hvsh_cmd_def hvsh_create_cmds[] = {
    { "create", NULL, "compose a domain from options, define it (and start it)",
      "Builds the domain XML (libvirt-gconfig) from the options, defines the domain, and "
      "with --start starts it. --print-xml only prints the XML. Unlike virsh's create, which "
      "takes an XML file, this composes the XML itself.",
      create_opts, cmd_create, HVSH_CMD_NO_CONNECT },
    { NULL },
};
