/* DomainDef -> libvirt domain XML, in the element order libvirt's own
 * formatter uses, so `virsh dumpxml` against hvd reads like libvirt. */
#include "drivers/conf/domain_conf.h"

#include <string.h>

static void esc_text(GString *out, const char *s)
{
    g_autofree char *e = g_markup_escape_text(s ? s : "", -1);
    g_string_append(out, e);
}

static void attr(GString *out, const char *name, const char *value)
{
    if (!value)
        return;
    g_string_append_printf(out, " %s='", name);
    esc_text(out, value);
    g_string_append_c(out, '\'');
}

static void indent(GString *out, int level)
{
    for (int i = 0; i < level; i++)
        g_string_append(out, "  ");
}

static void text_element(GString *out, int level, const char *name, const char *value)
{
    if (!value)
        return;
    indent(out, level);
    g_string_append_printf(out, "<%s>", name);
    esc_text(out, value);
    g_string_append_printf(out, "</%s>\n", name);
}

static void verbatim(GString *out, int level, const char *xml)
{
    if (!xml)
        return;
    indent(out, level);
    g_string_append(out, xml);
    g_string_append_c(out, '\n');
}

static const char *tristate(DomainTristate t, const char *on, const char *off)
{
    return t == DOMAIN_TRISTATE_ON ? on : t == DOMAIN_TRISTATE_OFF ? off : NULL;
}

static void pci_addr_attrs(GString *out, const DomainPciAddr *a)
{
    g_string_append_printf(out, " domain='0x%04x' bus='0x%02x' slot='0x%02x' function='0x%x'",
                           a->domain, a->bus, a->slot, a->function);
}

static void device_tail_drive(GString *out, int level, unsigned boot_order,
                              const char *user_alias, const char *live_alias,
                              const DomainPciAddr *addr, const DomainDriveAddr *drive)
{
    if (boot_order) {
        indent(out, level);
        g_string_append_printf(out, "<boot order='%u'/>\n", boot_order);
    }
    /* a user alias is part of the config; otherwise running domains show
     * the alias hvd gave the device */
    const char *alias = user_alias ? user_alias : live_alias;
    if (alias) {
        indent(out, level);
        g_string_append(out, "<alias");
        attr(out, "name", alias);
        g_string_append(out, "/>\n");
    }
    if (addr && addr->present) {
        indent(out, level);
        g_string_append(out, "<address type='pci'");
        pci_addr_attrs(out, addr);
        g_string_append(out, "/>\n");
    }
    if (drive && drive->present) {
        indent(out, level);
        g_string_append_printf(out, "<address type='drive' controller='%u' bus='%u' target='%u' "
                               "unit='%u'/>\n", drive->controller, drive->bus, drive->target,
                               drive->unit);
    }
}

static void device_tail(GString *out, int level, unsigned boot_order, const char *user_alias,
                        const char *live_alias, const DomainPciAddr *addr)
{
    device_tail_drive(out, level, boot_order, user_alias, live_alias, addr, NULL);
}

/* <backingStore> levels below a source, top layer first; the live XML
 * adds each layer's node index (formatdomain "backingStore"). */
static void format_backing_chain(GString *out, int level, const DomainBackingChain *chain,
                                 bool live)
{
    guint n = chain->layers->len;
    for (guint i = 0; i < n; i++) {
        const DomainStorageLayer *l = g_ptr_array_index(chain->layers, i);
        indent(out, level + (int)i);
        g_string_append_printf(out, "<backingStore type='%s'", l->is_block ? "block" : "file");
        if (live && l->index)
            g_string_append_printf(out, " index='%u'", l->index);
        g_string_append(out, ">\n");
        indent(out, level + (int)i + 1);
        g_string_append(out, "<format");
        attr(out, "type", l->format);
        g_string_append(out, "/>\n");
        indent(out, level + (int)i + 1);
        g_string_append(out, "<source");
        attr(out, l->is_block ? "dev" : "file", l->source);
        g_string_append(out, "/>\n");
    }
    if (chain->complete) {
        indent(out, level + (int)n);
        g_string_append(out, "<backingStore/>\n");
    }
    for (guint i = n; i > 0; i--) {
        indent(out, level + (int)i - 1);
        g_string_append(out, "</backingStore>\n");
    }
}

static void format_disk(GString *out, const DomainDisk *d, bool live)
{
    indent(out, 2);
    bool ide = d->bus == DOMAIN_DISK_BUS_IDE;
    g_string_append_printf(out, "<disk type='%s' device='%s'>\n", d->is_block ? "block" : "file",
                           d->device == DOMAIN_DISK_DEVICE_CDROM ? "cdrom" : "disk");
    indent(out, 3);
    g_string_append(out, "<driver");
    attr(out, "name", d->driver_name ? d->driver_name : "qemu");
    attr(out, "type", d->driver_type ? d->driver_type : "raw");
    attr(out, "cache", d->driver_cache);
    attr(out, "io", d->driver_io);
    attr(out, "discard", d->driver_discard);
    g_string_append(out, "/>\n");
    /* a running domain shows the chain probed at start, as libvirt does */
    const DomainBackingChain *chain = live && d->live_chain ? d->live_chain : d->backing;
    if (d->source) {
        indent(out, 3);
        g_string_append(out, "<source");
        attr(out, d->is_block ? "dev" : "file", d->source);
        if (live && d->live_chain && d->live_index)
            g_string_append_printf(out, " index='%u'", d->live_index);
        g_string_append(out, "/>\n");
    }
    if (chain)
        format_backing_chain(out, 3, chain, live);
    indent(out, 3);
    g_string_append(out, "<target");
    attr(out, "dev", d->target_dev);
    g_string_append_printf(out, " bus='%s'/>\n", ide ? "ide" : "virtio");
    if (d->readonly) {
        indent(out, 3);
        g_string_append(out, "<readonly/>\n");
    }
    if (d->shareable) {
        indent(out, 3);
        g_string_append(out, "<shareable/>\n");
    }
    text_element(out, 3, "serial", d->serial);
    g_autofree char *alias = live ? domain_disk_alias(d) : NULL;
    device_tail_drive(out, 3, d->boot_order, d->user_alias, alias, ide ? NULL : &d->addr,
                      ide ? &d->drive : NULL);
    indent(out, 2);
    g_string_append(out, "</disk>\n");
}

static void format_net(GString *out, const DomainDef *def, guint index, const DomainRuntime *rt)
{
    const DomainNet *n = g_ptr_array_index(def->nets, index);
    char mac[DOMAIN_MAC_STRING_LEN];
    domain_mac_format(n->mac, mac);

    indent(out, 2);
    g_string_append_printf(out, "<interface type='%s'", domain_net_type_to_string(n->type));
    if (n->type == DOMAIN_NET_HOSTDEV)
        attr(out, "managed", tristate(n->managed, "yes", "no"));
    g_string_append(out, ">\n");
    indent(out, 3);
    g_string_append_printf(out, "<mac address='%s'/>\n", mac);

    switch (n->type) {
    case DOMAIN_NET_BRIDGE:
    case DOMAIN_NET_NETWORK:
        indent(out, 3);
        g_string_append(out, "<source");
        attr(out, n->type == DOMAIN_NET_BRIDGE ? "bridge" : "network", n->source);
        g_string_append(out, "/>\n");
        break;
    case DOMAIN_NET_HOSTDEV:
        if (rt) {
            indent(out, 3);
            g_string_append(out, "<driver name='vfio'/>\n");
        }
        indent(out, 3);
        g_string_append(out, "<source>\n");
        indent(out, 4);
        g_string_append(out, "<address type='pci'");
        pci_addr_attrs(out, &n->host_addr);
        g_string_append(out, "/>\n");
        indent(out, 3);
        g_string_append(out, "</source>\n");
        if (n->has_vlan) {
            indent(out, 3);
            g_string_append_printf(out, "<vlan>\n");
            indent(out, 4);
            g_string_append_printf(out, "<tag id='%u'/>\n", n->vlan_tag);
            indent(out, 3);
            g_string_append(out, "</vlan>\n");
        }
        break;
    case DOMAIN_NET_ETHERNET:
        break;
    }

    if (n->type != DOMAIN_NET_HOSTDEV) {
        const char *ifname = n->target_dev;
        if (rt && index < rt->n_nets && rt->net_ifnames[index])
            ifname = rt->net_ifnames[index];
        if (ifname) {
            indent(out, 3);
            g_string_append(out, "<target");
            attr(out, "dev", ifname);
            g_string_append(out, "/>\n");
        }
        indent(out, 3);
        g_string_append_printf(out, "<model type='%s'/>\n", domain_net_model_to_string(n->model));
        if (n->backend || n->queues || n->rx_queue_size || n->tx_queue_size) {
            indent(out, 3);
            g_string_append(out, "<driver");
            if (n->backend)
                attr(out, "name", n->backend == DOMAIN_NET_BACKEND_VHOST ? "vhost" : "qemu");
            if (n->queues)
                g_string_append_printf(out, " queues='%u'", n->queues);
            if (n->rx_queue_size)
                g_string_append_printf(out, " rx_queue_size='%u'", n->rx_queue_size);
            if (n->tx_queue_size)
                g_string_append_printf(out, " tx_queue_size='%u'", n->tx_queue_size);
            g_string_append(out, "/>\n");
        }
        if (n->mtu) {
            indent(out, 3);
            g_string_append_printf(out, "<mtu size='%u'/>\n", n->mtu);
        }
    }
    g_autofree char *alias = rt ? domain_net_alias(def, index) : NULL;
    device_tail(out, 3, n->boot_order, n->user_alias, alias, &n->addr);
    indent(out, 2);
    g_string_append(out, "</interface>\n");
}

static void format_hostdev(GString *out, const DomainDef *def, guint index, const DomainRuntime *rt)
{
    const DomainHostdev *h = g_ptr_array_index(def->hostdevs, index);
    indent(out, 2);
    g_string_append(out, "<hostdev mode='subsystem' type='pci'");
    attr(out, "managed", tristate(h->managed, "yes", "no"));
    g_string_append(out, ">\n");
    if (rt) {
        indent(out, 3);
        g_string_append(out, "<driver name='vfio'/>\n");
    }
    indent(out, 3);
    g_string_append(out, "<source>\n");
    indent(out, 4);
    g_string_append(out, "<address");
    pci_addr_attrs(out, &h->source);
    g_string_append(out, "/>\n");
    indent(out, 3);
    g_string_append(out, "</source>\n");
    /* hostdev-type interfaces take the first hostdev numbers */
    guint net_hostdevs = 0;
    for (guint i = 0; i < def->nets->len; i++)
        if (((DomainNet *)g_ptr_array_index(def->nets, i))->type == DOMAIN_NET_HOSTDEV)
            net_hostdevs++;
    g_autofree char *alias = rt ? domain_hostdev_alias(net_hostdevs + index) : NULL;
    device_tail(out, 3, h->boot_order, h->user_alias, alias, &h->addr);
    indent(out, 2);
    g_string_append(out, "</hostdev>\n");
}

static void format_serials(GString *out, const DomainDef *def, const DomainRuntime *rt)
{
    for (guint i = 0; i < def->serials->len; i++) {
        const DomainSerial *s = g_ptr_array_index(def->serials, i);
        const char *pty = rt && i < rt->n_serials ? rt->serial_ptys[i] : NULL;
        indent(out, 2);
        g_string_append(out, "<serial type='pty'>\n");
        if (pty) {
            indent(out, 3);
            g_string_append(out, "<source");
            attr(out, "path", pty);
            g_string_append(out, "/>\n");
        }
        if (s->log_file) {
            indent(out, 3);
            g_string_append(out, "<log");
            attr(out, "file", s->log_file);
            attr(out, "append", tristate(s->log_append, "on", "off"));
            g_string_append(out, "/>\n");
        }
        indent(out, 3);
        g_string_append_printf(out, "<target type='isa-serial' port='%u'>\n", s->port);
        indent(out, 4);
        g_string_append(out, "<model name='isa-serial'/>\n");
        indent(out, 3);
        g_string_append(out, "</target>\n");
        if (rt) {
            indent(out, 3);
            g_string_append_printf(out, "<alias name='serial%u'/>\n", i);
        }
        indent(out, 2);
        g_string_append(out, "</serial>\n");
    }
    if (def->serials->len == 0)
        return;
    /* the console mirrors the first serial port (libvirt on x86) */
    const DomainSerial *s0 = g_ptr_array_index(def->serials, 0);
    const char *pty = rt && rt->n_serials ? rt->serial_ptys[0] : NULL;
    indent(out, 2);
    g_string_append(out, "<console type='pty'");
    attr(out, "tty", pty);
    g_string_append(out, ">\n");
    if (pty) {
        indent(out, 3);
        g_string_append(out, "<source");
        attr(out, "path", pty);
        g_string_append(out, "/>\n");
    }
    indent(out, 3);
    g_string_append_printf(out, "<target type='serial' port='%u'/>\n", s0->port);
    if (rt) {
        indent(out, 3);
        g_string_append(out, "<alias name='serial0'/>\n");
    }
    indent(out, 2);
    g_string_append(out, "</console>\n");
}

static void format_balloon(GString *out, const DomainMemballoon *b, bool live)
{
    indent(out, 2);
    if (!b->enabled) {
        g_string_append(out, "<memballoon model='none'/>\n");
        return;
    }
    g_string_append(out, "<memballoon model='virtio'");
    attr(out, "autodeflate", tristate(b->autodeflate, "on", "off"));
    attr(out, "freePageReporting", tristate(b->free_page_reporting, "on", "off"));
    g_string_append(out, ">\n");
    if (b->has_stats_period) {
        indent(out, 3);
        g_string_append_printf(out, "<stats period='%u'/>\n", b->stats_period);
    }
    device_tail(out, 3, 0, b->user_alias, live ? "balloon0" : NULL, &b->addr);
    indent(out, 2);
    g_string_append(out, "</memballoon>\n");
}

char *domain_def_format(const DomainDef *def, const DomainRuntime *rt)
{
    GString *out = g_string_new("<domain type='kvm'");
    if (rt && rt->id > 0)
        g_string_append_printf(out, " id='%d'", rt->id);
    g_string_append(out, ">\n");

    text_element(out, 1, "name", def->name);
    char uuid[DOMAIN_UUID_STRING_LEN];
    domain_uuid_format(def->uuid, uuid);
    text_element(out, 1, "uuid", uuid);
    text_element(out, 1, "title", def->title);
    text_element(out, 1, "description", def->description);
    verbatim(out, 1, def->metadata_xml);
    indent(out, 1);
    g_string_append_printf(out, "<memory unit='KiB'>%" G_GUINT64_FORMAT "</memory>\n",
                           def->memory_kib);
    indent(out, 1);
    g_string_append_printf(out, "<currentMemory unit='KiB'>%" G_GUINT64_FORMAT "</currentMemory>\n",
                           def->current_memory_kib);
    indent(out, 1);
    g_string_append(out, "<vcpu");
    attr(out, "placement", def->vcpu_placement ? def->vcpu_placement : "static");
    attr(out, "cpuset", def->vcpu_cpuset);
    if (def->current_vcpus != def->vcpus)
        g_string_append_printf(out, " current='%u'", def->current_vcpus);
    g_string_append_printf(out, ">%u</vcpu>\n", def->vcpus);
    for (guint i = 0; i < def->extra_toplevel->len; i++)
        verbatim(out, 1, g_ptr_array_index(def->extra_toplevel, i));

    indent(out, 1);
    g_string_append(out, "<os>\n");
    indent(out, 2);
    g_string_append(out, "<type");
    attr(out, "arch", def->os_arch ? def->os_arch : "x86_64");
    attr(out, "machine", def->os_machine ? def->os_machine : "pc");
    g_string_append(out, ">hvm</type>\n");
    if (def->loader) {
        indent(out, 2);
        g_string_append(out, "<loader");
        attr(out, "readonly", tristate(def->loader_readonly, "yes", "no"));
        attr(out, "type", def->loader_type);
        g_string_append(out, ">");
        esc_text(out, def->loader);
        g_string_append(out, "</loader>\n");
    }
    text_element(out, 2, "kernel", def->kernel);
    text_element(out, 2, "initrd", def->initrd);
    text_element(out, 2, "cmdline", def->cmdline);
    for (guint i = 0; i < def->boot_devs->len; i++) {
        indent(out, 2);
        g_string_append(out, "<boot");
        attr(out, "dev", g_ptr_array_index(def->boot_devs, i));
        g_string_append(out, "/>\n");
    }
    if (def->bootmenu) {
        indent(out, 2);
        g_string_append(out, "<bootmenu");
        attr(out, "enable", tristate(def->bootmenu, "yes", "no"));
        attr(out, "timeout", def->bootmenu_timeout);
        g_string_append(out, "/>\n");
    }
    if (def->smbios_mode) {
        indent(out, 2);
        g_string_append(out, "<smbios");
        attr(out, "mode", def->smbios_mode);
        g_string_append(out, "/>\n");
    }
    indent(out, 1);
    g_string_append(out, "</os>\n");

    verbatim(out, 1, def->features_xml);
    verbatim(out, 1, def->cpu_xml);
    if (def->clock_xml) {
        verbatim(out, 1, def->clock_xml);
    } else {
        indent(out, 1);
        g_string_append(out, "<clock");
        attr(out, "offset", def->clock_offset ? def->clock_offset : "utc");
        g_string_append(out, "/>\n");
    }
    text_element(out, 1, "on_poweroff", domain_lifecycle_to_string(def->on_poweroff));
    text_element(out, 1, "on_reboot", domain_lifecycle_to_string(def->on_reboot));
    text_element(out, 1, "on_crash", domain_lifecycle_to_string(def->on_crash));

    indent(out, 1);
    g_string_append(out, "<devices>\n");
    text_element(out, 2, "emulator", def->emulator);
    for (guint i = 0; i < def->disks->len; i++)
        format_disk(out, g_ptr_array_index(def->disks, i), rt != NULL);
    for (guint i = 0; i < def->nets->len; i++)
        format_net(out, def, i, rt);
    format_serials(out, def, rt);
    for (guint i = 0; i < def->extra_devices->len; i++)
        verbatim(out, 2, g_ptr_array_index(def->extra_devices, i));
    for (guint i = 0; i < def->hostdevs->len; i++)
        format_hostdev(out, def, i, rt);
    format_balloon(out, &def->balloon, rt != NULL);
    indent(out, 1);
    g_string_append(out, "</devices>\n");
    g_string_append(out, "</domain>\n");
    return g_string_free(out, FALSE);
}
