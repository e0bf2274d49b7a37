/* Domain XML model: parse, validate, format, round trip, and every error
 * path, with output checked against libvirt's own RelaxNG schema. */
#include <libxml/parser.h>
#include <string.h>

#include "drivers/conf/domain_conf.h"
#include "drivers/conf/domain_validate.h"
#include "drivers/conf/xml_autoptr.h"
#include "tests/tap.h"

static char *srcdir_path(const char *rel)
{
    const char *top = g_getenv("top_srcdir");
    return g_build_filename(top ? top : ".", rel, NULL);
}

static const char *libvirt_rng(void)
{
    const char *env = g_getenv("LIBVIRT_DOMAIN_RNG");
    return env ? env : "/usr/share/libvirt/schemas/domain.rng";
}

static DomainDef *parse_fixture(const char *name, GError **err)
{
    g_autofree char *rel = g_strdup_printf("tests/data/domain/%s", name);
    g_autofree char *path = srcdir_path(rel);
    return domain_def_parse_file(path, 0, err);
}

static bool valid_against(const char *xml, const char *rng, GError **err)
{
    g_autoptr(xmlDoc) doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
    if (!doc)
        return false;
    return domain_schema_validate_doc(doc, rng, err);
}

/* A domain around the given pieces, for the error table. */
static char *doc_with(const char *type, const char *top, const char *devices)
{
    return g_strdup_printf("<domain type='%s'>\n  <name>t</name>\n  <memory unit='MiB'>64</memory>\n"
                           "%s\n  <devices>\n%s\n  </devices>\n</domain>\n",
                           type, top ? top : "  <os><type arch='x86_64'>hvm</type></os>",
                           devices ? devices : "");
}

static void expect_error(const char *label, char *xml, int code, const char *needle)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(xml, 0, &err);
    TAP_CHECK(def == NULL && err != NULL, "%s: refused", label);
    if (err) {
        TAP_EQ_U64(hvd_vir_error_number(err), code, label);
        bool has = strstr(err->message, needle) != NULL;
        TAP_CHECK(has, "%s: message names '%s'", label, needle);
        if (!has || hvd_vir_error_number(err) != code)
            printf("#   message: %s\n", err->message);
    }
    g_free(xml);
}

static void test_full(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = parse_fixture("full.xml", &err);
    TAP_CHECK(def != NULL, "full.xml parses%s%s", err ? ": " : "", err ? err->message : "");
    if (!def)
        return;
    TAP_EQ_STR(def->name, "full", "name");
    char uuid[DOMAIN_UUID_STRING_LEN];
    domain_uuid_format(def->uuid, uuid);
    TAP_EQ_STR(uuid, "c7a5fdbd-cdaf-9455-926a-d65c16db1809", "uuid");
    TAP_EQ_STR(def->title, "A full example", "title");
    TAP_EQ_STR(def->description, "Every element hvd models, & some it keeps.", "description");
    TAP_EQ_U64(def->memory_kib, 2 * 1024 * 1024, "memory GiB -> KiB");
    TAP_EQ_U64(def->current_memory_kib, 1536 * 1024, "currentMemory MiB -> KiB");
    TAP_EQ_U64(def->vcpus, 4, "vcpu max");
    TAP_EQ_U64(def->current_vcpus, 2, "vcpu current");
    TAP_EQ_STR(def->os_machine, "q35", "machine kept");
    TAP_EQ_STR(def->kernel, "/var/lib/hvd/vmlinuz", "kernel");
    TAP_EQ_STR(def->initrd, "/var/lib/hvd/initrd.img", "initrd");
    TAP_EQ_STR(def->cmdline, "console=ttyS0 root=/dev/vda", "cmdline");
    TAP_CHECK(def->feature_acpi && def->feature_apic && def->feature_pae, "features acpi apic pae");
    TAP_EQ_STR(def->cpu_mode, "host-passthrough", "cpu mode");
    TAP_EQ_U64(def->cpu_cores, 2, "cpu cores");
    TAP_EQ_U64(def->cpu_threads, 2, "cpu threads");
    TAP_EQ_STR(def->clock_offset, "utc", "clock offset");
    TAP_EQ_U64(def->on_crash, DOMAIN_LIFECYCLE_PRESERVE, "on_crash preserve");
    TAP_EQ_STR(def->emulator, "/usr/sbin/hv", "emulator kept");

    TAP_EQ_U64(def->disks->len, 2, "two disks");
    DomainDisk *vda = g_ptr_array_index(def->disks, 0);
    DomainDisk *vdb = g_ptr_array_index(def->disks, 1);
    TAP_EQ_STR(vda->source, "/var/lib/hvd/root.img", "vda source");
    TAP_EQ_STR(vda->serial, "root-disk", "vda serial");
    TAP_EQ_STR(vda->driver_cache, "none", "vda cache kept");
    TAP_CHECK(vdb->readonly && vdb->shareable, "vdb readonly shareable");
    TAP_EQ_U64(vdb->addr.slot, 0x0a, "vdb keeps user slot 0x0a");

    TAP_EQ_U64(def->nets->len, 4, "four interfaces");
    DomainNet *br = g_ptr_array_index(def->nets, 0);
    DomainNet *eth = g_ptr_array_index(def->nets, 1);
    DomainNet *nw = g_ptr_array_index(def->nets, 2);
    DomainNet *vf = g_ptr_array_index(def->nets, 3);
    char mac[DOMAIN_MAC_STRING_LEN];
    domain_mac_format(br->mac, mac);
    TAP_EQ_STR(mac, "52:54:00:12:34:56", "bridge mac");
    TAP_EQ_STR(br->source, "br0", "bridge source");
    TAP_EQ_U64(br->backend, DOMAIN_NET_BACKEND_VHOST, "vhost driver");
    TAP_EQ_U64(br->queues, 4, "queues");
    TAP_EQ_STR(eth->target_dev, "tap-full1", "ethernet target dev");
    TAP_EQ_U64(eth->model, DOMAIN_NET_MODEL_E1000, "e1000 model");
    domain_mac_format(eth->mac, mac);
    TAP_CHECK(g_str_has_prefix(mac, "52:54:00:"), "generated mac %s has prefix 52:54:00", mac);
    TAP_EQ_STR(nw->source, "default", "network source");
    TAP_EQ_U64(nw->backend, DOMAIN_NET_BACKEND_QEMU, "qemu driver");
    TAP_EQ_U64(vf->type, DOMAIN_NET_HOSTDEV, "hostdev interface");
    TAP_CHECK(vf->host_addr.bus == 2 && vf->host_addr.slot == 0x10 && vf->host_addr.function == 1,
              "VF source address");
    TAP_CHECK(vf->has_vlan && vf->vlan_tag == 42, "VF vlan 42");
    TAP_EQ_U64(def->hostdevs->len, 1, "one hostdev");
    DomainHostdev *hd = g_ptr_array_index(def->hostdevs, 0);
    TAP_CHECK(hd->managed == DOMAIN_TRISTATE_ON && hd->source.bus == 3, "hostdev managed, bus 3");

    /* PCI slots: user slots 2 (video) and 0x0a taken; then nets, disks,
     * hostdev nets, hostdevs, balloon from slot 3 */
    TAP_EQ_U64(br->addr.slot, 3, "net0 slot 3");
    TAP_EQ_U64(eth->addr.slot, 4, "net1 slot 4");
    TAP_EQ_U64(nw->addr.slot, 5, "net2 slot 5");
    TAP_EQ_U64(vda->addr.slot, 6, "vda slot 6");
    TAP_EQ_U64(vf->addr.slot, 7, "VF slot 7");
    TAP_EQ_U64(hd->addr.slot, 8, "hostdev slot 8");
    TAP_EQ_U64(def->balloon.addr.slot, 9, "balloon slot 9");

    TAP_EQ_U64(def->serials->len, 1, "console + serial make one port");
    TAP_CHECK(def->balloon.enabled && def->balloon.has_stats_period &&
              def->balloon.stats_period == 10, "balloon stats period 10");
    TAP_EQ_U64(def->balloon.autodeflate, DOMAIN_TRISTATE_ON, "autodeflate on");
    TAP_EQ_U64(def->balloon.free_page_reporting, DOMAIN_TRISTATE_OFF, "freePageReporting off");
    TAP_EQ_U64(def->extra_devices->len, 5, "five kept devices");
    TAP_EQ_U64(def->extra_toplevel->len, 1, "sysinfo kept");
    TAP_CHECK(def->metadata_xml && strstr(def->metadata_xml, "openstack.org/xmlns"),
              "metadata keeps its namespace");

    /* live XML */
    g_autoptr(DomainRuntime) rt = domain_runtime_new(def, 7);
    rt->net_ifnames[0] = g_strdup("vnet0");
    rt->net_ifnames[2] = g_strdup("vnet2");
    rt->serial_ptys[0] = g_strdup("/dev/pts/5");
    g_autofree char *live = domain_def_format(def, rt);
    TAP_CHECK(strstr(live, "<domain type='kvm' id='7'>") != NULL, "live has id");
    TAP_CHECK(strstr(live, "<alias name='net0'/>") && strstr(live, "<alias name='net2'/>"),
              "net aliases");
    TAP_CHECK(strstr(live, "<alias name='hostdev0'/>") && strstr(live, "<alias name='hostdev1'/>"),
              "hostdev aliases (VF first)");
    TAP_CHECK(strstr(live, "<alias name='virtio-disk0'/>") && strstr(live, "<alias name='virtio-disk1'/>"),
              "disk aliases");
    TAP_CHECK(strstr(live, "<alias name='balloon0'/>") != NULL, "balloon alias");
    TAP_CHECK(strstr(live, "<target dev='vnet0'/>") != NULL, "tap name");
    TAP_CHECK(strstr(live, "<source path='/dev/pts/5'/>") && strstr(live, "tty='/dev/pts/5'"),
              "pty paths");
    TAP_CHECK(strstr(live, "slot='0x03'") != NULL, "pci address written");
    g_autoptr(GError) verr = NULL;
    bool lv_ok = valid_against(live, libvirt_rng(), &verr);
    TAP_CHECK(lv_ok, "live XML valid against libvirt's domain.rng");
    if (!lv_ok)
        printf("# %s\n", verr ? verr->message : "(not well-formed)");

    /* live XML pasted back defines the same domain (run-time bits dropped) */
    g_autoptr(GError) e2 = NULL;
    g_autoptr(DomainDef) again = domain_def_parse_string(live, 0, &e2);
    TAP_CHECK(again && domain_def_equal(def, again), "live XML re-defines to an equal model%s%s",
              e2 ? ": " : "", e2 ? e2->message : "");
}

static void test_fixture_roundtrip(const char *name)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = parse_fixture(name, &err);
    TAP_CHECK(def != NULL, "%s parses%s%s", name, err ? ": " : "", err ? err->message : "");
    if (!def)
        return;
    g_autofree char *xml = domain_def_format(def, NULL);
    g_autoptr(GError) verr = NULL;
    bool ok = valid_against(xml, libvirt_rng(), &verr);
    TAP_CHECK(ok, "%s: inactive XML valid against libvirt's domain.rng", name);
    if (!ok)
        printf("# %s\n%s", verr ? verr->message : "(not well-formed)", xml);
    g_autoptr(DomainRuntime) rt = domain_runtime_new(def, 1);
    g_autofree char *live = domain_def_format(def, rt);
    g_clear_error(&verr);
    ok = valid_against(live, libvirt_rng(), &verr);
    TAP_CHECK(ok, "%s: live XML valid against libvirt's domain.rng", name);
    if (!ok)
        printf("# %s\n", verr ? verr->message : "(not well-formed)");
    g_autofree char *ours = srcdir_path("schemas/domain.rng");
    g_clear_error(&verr);
    ok = valid_against(xml, ours, &verr);
    TAP_CHECK(ok, "%s: our output valid against schemas/domain.rng", name);
    if (!ok)
        printf("# %s\n", verr ? verr->message : "(not well-formed)");

    g_autoptr(GError) e2 = NULL;
    g_autoptr(DomainDef) def2 = domain_def_parse_string(xml, 0, &e2);
    TAP_CHECK(def2 != NULL, "%s: output parses again", name);
    if (!def2)
        return;
    TAP_CHECK(domain_def_equal(def, def2), "%s: parse -> format -> parse is equal", name);
    g_autofree char *xml2 = domain_def_format(def2, NULL);
    TAP_EQ_STR(xml2, xml, "format is stable");
    TAP_CHECK(memcmp(def->uuid, def2->uuid, DOMAIN_UUID_LEN) == 0, "%s: uuid survives", name);
}

static void test_fixtures_valid_in_our_schema(void)
{
    const char *names[] = { "full.xml", "minimal.xml", "nova.xml", "disk-boot.xml", "ide-cdrom.xml" };
    g_autofree char *ours = srcdir_path("schemas/domain.rng");
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *rel = g_strdup_printf("tests/data/domain/%s", names[i]);
        g_autofree char *path = srcdir_path(rel);
        g_autoptr(xmlDoc) doc = xmlReadFile(path, NULL, XML_PARSE_NONET);
        g_autoptr(GError) err = NULL;
        bool ok = doc && domain_schema_validate_doc(doc, ours, &err);
        TAP_CHECK(ok, "schemas/domain.rng accepts %s", names[i]);
        if (!ok && err)
            printf("# %s\n", err->message);
        /* and libvirt's accepts our fixtures too (they are libvirt XML) */
        g_clear_error(&err);
        ok = doc && domain_schema_validate_doc(doc, libvirt_rng(), &err);
        TAP_CHECK(ok, "libvirt's domain.rng accepts %s", names[i]);
        if (!ok && err)
            printf("# %s\n", err->message);
    }
}

static void test_defaults(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) a = parse_fixture("minimal.xml", &err);
    g_autoptr(DomainDef) b = parse_fixture("minimal.xml", NULL);
    TAP_CHECK(a && b, "minimal.xml parses");
    if (!a || !b)
        return;
    TAP_EQ_U64(a->memory_kib, 65536, "unitless memory is KiB");
    TAP_EQ_U64(a->current_memory_kib, 65536, "currentMemory defaults to memory");
    TAP_EQ_U64(a->vcpus, 1, "one vcpu by default");
    TAP_EQ_STR(a->os_arch, "x86_64", "arch defaults to x86_64");
    TAP_EQ_STR(a->os_machine, "pc", "machine defaults to pc");
    TAP_CHECK(a->boot_devs->len == 1 && !strcmp(g_ptr_array_index(a->boot_devs, 0), "hd"),
              "boot dev hd added as libvirt does");
    TAP_CHECK(a->balloon.enabled && a->balloon.addr.slot == 3, "default virtio balloon at slot 3");
    TAP_EQ_U64(a->on_reboot, DOMAIN_LIFECYCLE_RESTART, "on_reboot restart");
    TAP_CHECK(memcmp(a->uuid, b->uuid, DOMAIN_UUID_LEN) != 0, "generated uuids differ");
    TAP_EQ_U64(a->uuid[6] >> 4, 4, "generated uuid is version 4");
    TAP_EQ_U64(a->uuid[8] >> 6, 2, "generated uuid has RFC 4122 variant");
}

static void test_units_and_ids(void)
{
    static const struct {
        const char *unit;
        const char *value;
        uint64_t kib;
    } cases[] = {
        { "b", "1048576", 1024 },     { "bytes", "1025", 2 }, { "KB", "1024", 1000 },
        { "k", "512", 512 },          { "KiB", "512", 512 },  { "MB", "1", 977 },
        { "M", "3", 3072 },           { "MiB", "3", 3072 },   { "GB", "1", 976563 },
        { "G", "1", 1048576 },        { "GiB", "1", 1048576 }, { "TB", "1", 976562500 },
        { "T", "1", 1073741824 },     { "TiB", "1", 1073741824 },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *xml = g_strdup_printf(
            "<domain type='kvm'><name>u</name><memory unit='%s'>%s</memory>"
            "<os><type>hvm</type></os></domain>", cases[i].unit, cases[i].value);
        g_autoptr(GError) err = NULL;
        g_autoptr(DomainDef) def = domain_def_parse_string(xml, 0, &err);
        g_autofree char *label = g_strdup_printf("%s %s = %" G_GUINT64_FORMAT " KiB", cases[i].value,
                                                 cases[i].unit, cases[i].kib);
        TAP_EQ_U64(def ? def->memory_kib : 0, cases[i].kib, label);
    }

    /* currentMemory above memory is clamped, as libvirt does */
    g_autoptr(DomainDef) c = domain_def_parse_string(
        "<domain type='kvm'><name>c</name><memory unit='MiB'>64</memory>"
        "<currentMemory unit='MiB'>128</currentMemory><os><type>hvm</type></os></domain>", 0, NULL);
    TAP_EQ_U64(c ? c->current_memory_kib : 0, 65536, "currentMemory > memory clamped");

    /* undashed uuid accepted, written dashed */
    g_autoptr(DomainDef) u = domain_def_parse_string(
        "<domain type='kvm'><name>u</name><uuid>C7A5FDBDCDAF9455926AD65C16DB1809</uuid>"
        "<memory>1024</memory><os><type>hvm</type></os></domain>", 0, NULL);
    char s[DOMAIN_UUID_STRING_LEN] = "";
    if (u)
        domain_uuid_format(u->uuid, s);
    TAP_EQ_STR(s, "c7a5fdbd-cdaf-9455-926a-d65c16db1809", "undashed uuid accepted");
    uint8_t raw[DOMAIN_UUID_LEN];
    TAP_CHECK(!domain_uuid_parse("c7a5fdbd-cdaf-9455-926a-d65c16db180", raw), "short uuid refused");
    TAP_CHECK(!domain_uuid_parse("c7a5fdbd-cdaf-9455-926a-d65c16db18090", raw), "long uuid refused");
    uint8_t mac[DOMAIN_MAC_LEN];
    TAP_CHECK(domain_mac_parse("52:54:0:1:2:3", mac) && mac[2] == 0 && mac[5] == 3,
              "short MAC groups accepted");
    TAP_CHECK(!domain_mac_parse("52:54:00:12:34", mac), "five-group MAC refused");
    TAP_EQ_U64(domain_disk_name_index("vda", "vd"), 0, "vda index");
    TAP_EQ_U64(domain_disk_name_index("vdz", "vd"), 25, "vdz index");
    TAP_EQ_U64(domain_disk_name_index("vdaa", "vd"), 26, "vdaa index");
}

static void test_errors(void)
{
    /* not well-formed: libvirt's shape with line and pointer (traces/36) */
    {
        g_autoptr(GError) err = NULL;
        g_autoptr(DomainDef) def =
            domain_def_parse_string("<domain type=\"qemu\"><name>bad</name>", 0, &err);
        TAP_CHECK(!def && err, "premature end refused");
        TAP_EQ_U64(err ? hvd_vir_error_number(err) : 0, VIR_ERR_XML_DETAIL, "code XML_DETAIL (35)");
        TAP_EQ_U64(err ? hvd_vir_error_from(err) : 0, VIR_FROM_DOMAIN, "from DOMAIN (20)");
        TAP_EQ_STR(err ? err->message : NULL,
                   "(domain_definition):1: Premature end of data in tag domain line 1\n"
                   "<domain type=\"qemu\"><name>bad</name>\n"
                   "------------------------------------^",
                   "same message as libvirt");
    }
    {
        g_autoptr(GError) err = NULL;
        g_autoptr(DomainDef) def = domain_def_parse_string(
            "<domain type='kvm'>\n  <name>x</name>\n  <memory>1</memory oops>\n</domain>", 0, &err);
        TAP_CHECK(!def && err && hvd_vir_error_number(err) == VIR_ERR_XML_DETAIL,
                  "bad end tag is XML_DETAIL");
        TAP_CHECK(err && g_str_has_prefix(err->message, "(domain_definition):3: ") &&
                  strstr(err->message, "\n  <memory>1</memory oops>\n"),
                  "names line 3 and shows it");
        if (err)
            printf("# %s\n", err->message);
    }

    const char *os = "  <os><type arch='x86_64'>hvm</type></os>";
    expect_error("domain type qemu", doc_with("qemu", NULL, NULL), VIR_ERR_CONFIG_UNSUPPORTED,
                 "domain type 'qemu'");
    expect_error("domain type xen", doc_with("xen", NULL, NULL), VIR_ERR_CONFIG_UNSUPPORTED,
                 "'xen'");
    expect_error("arch aarch64", doc_with("kvm", "  <os><type arch='aarch64'>hvm</type></os>", NULL),
                 VIR_ERR_CONFIG_UNSUPPORTED, "architecture 'aarch64'");
    expect_error("os type linux", doc_with("kvm", "  <os><type>linux</type></os>", NULL),
                 VIR_ERR_CONFIG_UNSUPPORTED, "os type 'linux'");
    expect_error("pflash loader",
                 doc_with("kvm", "  <os><type>hvm</type><loader type='pflash'>/x.fd</loader></os>", NULL),
                 VIR_ERR_CONFIG_UNSUPPORTED, "<loader type='pflash'>");
    expect_error("secure loader",
                 doc_with("kvm", "  <os><type>hvm</type><loader secure='yes'>/x.fd</loader></os>", NULL),
                 VIR_ERR_CONFIG_UNSUPPORTED, "attribute 'secure' of <loader>");
    expect_error("empty loader", doc_with("kvm", "  <os><type>hvm</type><loader type='rom'/></os>", NULL),
                 VIR_ERR_XML_ERROR, "<loader>");
    expect_error("nvram", doc_with("kvm", "  <os><type>hvm</type><nvram>/v.fd</nvram></os>", NULL),
                 VIR_ERR_CONFIG_UNSUPPORTED, "<os><nvram>");
    expect_error("no os", doc_with("kvm", "", NULL), VIR_ERR_XML_ERROR, "os <type>");
    expect_error("bad unit",
                 g_strdup("<domain type='kvm'><name>m</name><memory unit='XiB'>1</memory>"
                          "<os><type>hvm</type></os></domain>"),
                 VIR_ERR_INVALID_ARG, "unknown suffix 'XiB'");
    expect_error("bad memory value",
                 g_strdup("<domain type='kvm'><name>m</name><memory>12abc</memory>"
                          "<os><type>hvm</type></os></domain>"),
                 VIR_ERR_XML_ERROR, "'12abc'");
    expect_error("memory overflow",
                 g_strdup("<domain type='kvm'><name>m</name><memory unit='EiB'>9</memory>"
                          "<os><type>hvm</type></os></domain>"),
                 VIR_ERR_OVERFLOW, "memory");
    expect_error("bad uuid",
                 g_strdup("<domain type='kvm'><name>m</name><uuid>1234</uuid><memory>1</memory>"
                          "<os><type>hvm</type></os></domain>"),
                 VIR_ERR_INTERNAL_ERROR, "malformed uuid element");
    expect_error("no name",
                 g_strdup("<domain type='kvm'><memory>1</memory><os><type>hvm</type></os></domain>"),
                 VIR_ERR_NO_NAME, "domain");
    expect_error("slash in name",
                 g_strdup("<domain type='kvm'><name>a/b</name><memory>1</memory>"
                          "<os><type>hvm</type></os></domain>"),
                 VIR_ERR_XML_ERROR, "cannot contain '/'");
    expect_error("vcpu 0", doc_with("kvm", "  <vcpu>0</vcpu><os><type>hvm</type></os>", NULL),
                 VIR_ERR_XML_ERROR, "vcpus");
    expect_error("current > max",
                 doc_with("kvm", "  <vcpu current='4'>2</vcpu><os><type>hvm</type></os>", NULL),
                 VIR_ERR_XML_ERROR, "current vcpus");
    expect_error("topology mismatch",
                 doc_with("kvm", "  <vcpu>2</vcpu><cpu><topology sockets='1' cores='4' threads='1'/></cpu>"
                                 "<os><type>hvm</type></os>", NULL),
                 VIR_ERR_XML_ERROR, "CPU topology");
    expect_error("coredump on_crash",
                 doc_with("kvm", "  <os><type>hvm</type></os><on_crash>coredump-destroy</on_crash>", NULL),
                 VIR_ERR_CONFIG_UNSUPPORTED, "coredump-destroy");
    expect_error("rename-restart on_crash",
                 doc_with("kvm", "  <os><type>hvm</type></os><on_crash>rename-restart</on_crash>", NULL),
                 VIR_ERR_XML_ERROR, "on_crash");
    expect_error("bogus lifecycle",
                 doc_with("kvm", "  <os><type>hvm</type></os><on_reboot>explode</on_reboot>", NULL),
                 VIR_ERR_XML_ERROR, "explode");
    expect_error("maxMemory", doc_with("kvm", "  <os><type>hvm</type></os><maxMemory slots='4'>1</maxMemory>", NULL),
                 VIR_ERR_CONFIG_UNSUPPORTED, "<maxMemory>");
    expect_error("qemu:commandline",
                 doc_with("kvm", "  <os><type>hvm</type></os><qemu:commandline "
                                 "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'/>", NULL),
                 VIR_ERR_CONFIG_UNSUPPORTED, "qemu:commandline");

    expect_error("vmdk", doc_with("kvm", os, "<disk type='file' device='disk'><driver name='qemu' type='vmdk'/>"
                                             "<source file='/a'/><target dev='vdb' bus='virtio'/></disk>"),
                 VIR_ERR_CONFIG_UNSUPPORTED,
                 "disk format 'vmdk' of disk 'vdb' is not supported by hvd (raw, qcow2)");
    expect_error("unknown format", doc_with("kvm", os, "<disk type='file'><driver name='qemu' type='qcow9'/>"
                                                       "<source file='/a'/><target dev='vda'/></disk>"),
                 VIR_ERR_XML_ERROR, "unknown driver format value 'qcow9' of disk 'vda'");
    expect_error("vmdk backing", doc_with("kvm", os, "<disk type='file'><driver name='qemu' type='qcow2'/>"
                                                     "<source file='/o'/><backingStore type='file'>"
                                                     "<format type='vmdk'/><source file='/b.vmdk'/>"
                                                     "</backingStore><target dev='vda'/></disk>"),
                 VIR_ERR_CONFIG_UNSUPPORTED,
                 "format 'vmdk' of backing file '/b.vmdk' of disk 'vda' is not supported");
    expect_error("network backing", doc_with("kvm", os, "<disk type='file'><driver name='qemu' type='qcow2'/>"
                                                        "<source file='/o'/><backingStore type='network'>"
                                                        "<format type='raw'/><source protocol='nbd'/>"
                                                        "</backingStore><target dev='vda'/></disk>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "backingStore type 'network' of disk 'vda'");
    expect_error("drive address on virtio", doc_with("kvm", os, "<disk type='file'><source file='/a'/><target dev='vda'/>"
                                                      "<address type='drive' controller='0' bus='0' unit='0'/></disk>"),
                 VIR_ERR_CONFIG_UNSUPPORTED,
                 "unsupported configuration: Invalid address type 'drive' for the disk 'vda' with the bus type 'virtio'");
    expect_error("pci address on ide", doc_with("kvm", os, "<disk type='file'><source file='/a'/><target dev='hda' bus='ide'/>"
                                                  "<address type='pci' slot='0x07'/></disk>"),
                 VIR_ERR_CONFIG_UNSUPPORTED,
                 "Invalid address type 'pci' for the disk 'hda' with the bus type 'ide'");
    expect_error("no target", doc_with("kvm", os, "<disk type='file'><source file='/srv/a.img'/></disk>"),
                 VIR_ERR_NO_TARGET, "missing target information for device /srv/a.img");
    expect_error("floppy", doc_with("kvm", os, "<disk type='file' device='floppy'><target dev='fda'/></disk>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "disk device 'floppy' of disk 'fda' is not supported by hvd (disk, cdrom)");
    /* libvirt's boot order rules (virDomainDefBootOrderPostParse), its texts */
    expect_error("os/boot with boot order",
                 doc_with("kvm", "  <os><type>hvm</type><boot dev='hd'/></os>",
                          "<disk type='file'><source file='/a'/><target dev='vda'/><boot order='1'/></disk>"),
                 VIR_ERR_CONFIG_UNSUPPORTED,
                 "unsupported configuration: per-device boot elements cannot be used together with os/boot elements");
    expect_error("boot order twice",
                 doc_with("kvm", os, "<disk type='file'><source file='/a'/><target dev='vda'/><boot order='2'/></disk>"
                                     "<interface type='ethernet'><boot order='2'/></interface>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "boot order '2' used for more than one device");
    expect_error("disk network", doc_with("kvm", os, "<disk type='network' device='disk'><target dev='vda'/></disk>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "disk type 'network'");
    expect_error("sata bus", doc_with("kvm", os, "<disk type='file'><source file='/a'/><target dev='sda' bus='sata'/></disk>"),
                 VIR_ERR_CONFIG_UNSUPPORTED,
                 "unsupported configuration: disk bus 'sata' of disk 'sda' is not supported by hvd (virtio, ide)");
    expect_error("scsi implied by sdX", doc_with("kvm", os, "<disk type='file'><source file='/a'/><target dev='sdb'/></disk>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "disk bus 'scsi' of disk 'sdb' is not supported by hvd (virtio, ide)");
    expect_error("bogus bus", doc_with("kvm", os, "<disk type='file'><source file='/a'/><target dev='vda' bus='nosuchbus'/></disk>"),
                 VIR_ERR_XML_ERROR, "Invalid value for attribute 'bus' in element 'target': 'nosuchbus'.");
    expect_error("duplicate target",
                 doc_with("kvm", os, "<disk type='file'><source file='/a'/><target dev='vda'/></disk>"
                                     "<disk type='file'><source file='/b'/><target dev='vda'/></disk>"),
                 VIR_ERR_XML_ERROR, "target 'vda' duplicated");
    expect_error("rtl8139", doc_with("kvm", os, "<interface type='bridge'><source bridge='br0'/><model type='rtl8139'/></interface>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "interface model 'rtl8139'");
    expect_error("user net", doc_with("kvm", os, "<interface type='user'/>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "interface type 'user'");
    expect_error("bad mac", doc_with("kvm", os, "<interface type='ethernet'><mac address='52:54:00:zz:00:01'/></interface>"),
                 VIR_ERR_INVALID_ARG, "unable to parse mac address '52:54:00:zz:00:01'");
    expect_error("multicast mac", doc_with("kvm", os, "<interface type='ethernet'><mac address='01:00:5e:00:00:01'/></interface>"),
                 VIR_ERR_XML_ERROR, "multicast");
    expect_error("bridge without source", doc_with("kvm", os, "<interface type='bridge'/>"),
                 VIR_ERR_XML_ERROR, "bridge");
    expect_error("ovs virtualport",
                 doc_with("kvm", os, "<interface type='bridge'><source bridge='br-int'/><virtualport type='openvswitch'/></interface>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "virtualport type='openvswitch'");
    expect_error("e1000 multiqueue",
                 doc_with("kvm", os, "<interface type='ethernet'><model type='e1000'/><driver queues='2'/></interface>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "e1000");
    expect_error("too many queues",
                 doc_with("kvm", os, "<interface type='ethernet'><model type='virtio'/><driver queues='1000'/></interface>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "queues='1000'");
    expect_error("hostdev slot out of range",
                 doc_with("kvm", os, "<hostdev mode='subsystem' type='pci'><source>"
                                     "<address domain='0' bus='0x02' slot='0x20' function='0'/></source></hostdev>"),
                 VIR_ERR_XML_ERROR, "slot='0x20', must be <= 0x1F");
    expect_error("hostdev function out of range",
                 doc_with("kvm", os, "<hostdev mode='subsystem' type='pci'><source>"
                                     "<address domain='0' bus='2' slot='1' function='8'/></source></hostdev>"),
                 VIR_ERR_XML_ERROR, "function='0x8', must be <= 0x7");
    expect_error("hostdev bus out of range",
                 doc_with("kvm", os, "<hostdev mode='subsystem' type='pci'><source>"
                                     "<address domain='0' bus='0x100' slot='1' function='0'/></source></hostdev>"),
                 VIR_ERR_XML_ERROR, "bus='0x100'");
    expect_error("hostdev usb", doc_with("kvm", os, "<hostdev mode='subsystem' type='usb'/>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "hostdev type 'usb'");
    expect_error("hostdev twice",
                 doc_with("kvm", os, "<hostdev mode='subsystem' type='pci'><source><address bus='2' slot='1'/></source></hostdev>"
                                     "<hostdev mode='subsystem' type='pci'><source><address bus='2' slot='1'/></source></hostdev>"),
                 VIR_ERR_XML_ERROR, "0000:02:01.0 is assigned twice");
    expect_error("guest bus 1",
                 doc_with("kvm", os, "<disk type='file'><source file='/a'/><target dev='vda'/>"
                                     "<address type='pci' domain='0x0000' bus='0x01' slot='0x03' function='0x0'/></disk>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "single PCI bus");
    expect_error("guest slot clash",
                 doc_with("kvm", os, "<disk type='file'><source file='/a'/><target dev='vda'/>"
                                     "<address type='pci' slot='0x05'/></disk>"
                                     "<disk type='file'><source file='/b'/><target dev='vdb'/>"
                                     "<address type='pci' slot='0x05'/></disk>"),
                 VIR_ERR_XML_ERROR, "double use of PCI Address 0000:00:05.0");
    expect_error("balloon xen", doc_with("kvm", os, "<memballoon model='xen'/>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "memballoon model 'xen'");
    expect_error("serial tcp", doc_with("kvm", os, "<serial type='tcp'/>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "serial type 'tcp'");
    expect_error("virtio console", doc_with("kvm", os, "<console type='pty'><target type='virtio'/></console>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "console target type 'virtio'");
    expect_error("serial port 7", doc_with("kvm", os, "<serial type='pty'><target port='7'/></serial>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "target port '7'");
    expect_error("filesystem", doc_with("kvm", os, "<filesystem type='mount'/>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "<filesystem>");
    expect_error("tpm", doc_with("kvm", os, "<tpm model='tpm-crb'/>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "<tpm>");
    expect_error("unknown device", doc_with("kvm", os, "<frobnicator/>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "<frobnicator>");
    expect_error("iotune in disk", doc_with("kvm", os, "<disk type='file'><source file='/a'/>"
                                                       "<target dev='vda'/><iotune/></disk>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "element <iotune> in <disk>");
    expect_error("bandwidth in interface",
                 doc_with("kvm", os, "<interface type='ethernet'><bandwidth/></interface>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "element <bandwidth> in <interface>");
    expect_error("unknown top-level", doc_with("kvm", "  <os><type>hvm</type></os><gizmo/>", NULL),
                 VIR_ERR_CONFIG_UNSUPPORTED, "<gizmo>");
    /* schema: unknown child of a modelled element */
    {
        g_autofree char *xml = doc_with("kvm", os, "<disk type='file' frob='1'><source file='/a'/>"
                                                   "<target dev='vda'/></disk>");
        g_autoptr(GError) err = NULL;
        g_autoptr(DomainDef) def = domain_def_parse_string(xml, 0, &err);
        TAP_CHECK(!def && err && hvd_vir_error_number(err) == VIR_ERR_XML_INVALID_SCHEMA,
                  "unknown attribute fails schema (92)");
        TAP_CHECK(err && strstr(err->message, "XML document failed to validate against schema") &&
                  strstr(err->message, "disk"), "schema error names <disk>");
        if (err)
            printf("# %s\n", err->message);
        g_clear_error(&err);
        g_autoptr(DomainDef) def2 = domain_def_parse_string(xml, DOMAIN_PARSE_NO_SCHEMA, &err);
        TAP_CHECK(def2 != NULL, "NO_SCHEMA skips the schema check");
    }
}

/* A domain without <kernel> as virt-install --import writes it: os/boot
 * list, loader, bootmenu and a qcow2 disk with its <backingStore> as
 * written, formatted back the way libvirt does. */
static void test_disk_boot(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = parse_fixture("disk-boot.xml", &err);
    TAP_CHECK(def != NULL, "disk-boot.xml parses%s%s", err ? ": " : "", err ? err->message : "");
    if (!def)
        return;
    TAP_CHECK(def->kernel == NULL, "no kernel");
    TAP_EQ_STR(def->os_machine, "pc-i440fx-7.2", "versioned i440FX machine kept");
    TAP_EQ_STR(def->loader, "/usr/share/seabios/bios-256k.bin", "loader path");
    TAP_EQ_U64(def->loader_readonly, DOMAIN_TRISTATE_ON, "loader readonly");
    TAP_EQ_STR(def->loader_type, "rom", "loader type rom");
    TAP_EQ_U64(def->boot_devs->len, 2, "two boot devices");
    TAP_EQ_U64(def->bootmenu, DOMAIN_TRISTATE_OFF, "bootmenu off");
    DomainDisk *vda = g_ptr_array_index(def->disks, 0);
    DomainDisk *vdb = g_ptr_array_index(def->disks, 1);
    TAP_EQ_STR(vda->driver_type, "qcow2", "vda qcow2");
    TAP_CHECK(vda->backing && vda->backing->layers->len == 1 && vda->backing->complete,
              "vda: one backing layer, chain complete");
    TAP_CHECK(vdb->backing && vdb->backing->layers->len == 0 && vdb->backing->complete,
              "vdb: empty <backingStore/> kept");

    g_autofree char *xml = domain_def_format(def, NULL);
    TAP_CHECK(strstr(xml, "  <os>\n"
                          "    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>\n"
                          "    <loader readonly='yes' type='rom'>/usr/share/seabios/bios-256k.bin</loader>\n"
                          "    <boot dev='cdrom'/>\n"
                          "    <boot dev='hd'/>\n"
                          "    <bootmenu enable='no'/>\n"
                          "  </os>\n") != NULL, "os formatted as libvirt does");
    TAP_CHECK(strstr(xml, "      <source file='/var/lib/libvirt/images/debian12.qcow2'/>\n"
                          "      <backingStore type='file'>\n"
                          "        <format type='qcow2'/>\n"
                          "        <source file='/var/lib/libvirt/images/_base/debian12-base.qcow2'/>\n"
                          "        <backingStore/>\n"
                          "      </backingStore>\n"
                          "      <target dev='vda' bus='virtio'/>\n") != NULL,
              "backingStore formatted as written");
    TAP_CHECK(strstr(xml, "<source file='/var/lib/libvirt/images/data.img'/>\n"
                          "      <backingStore/>\n") != NULL, "empty backingStore formatted");
    TAP_CHECK(strstr(xml, "<driver name='qemu' type='qcow2' discard='unmap'/>") != NULL,
              "qcow2 driver formatted");

    /* the live XML shows the chain probed at start instead (libvirt 9:
     * index on the source and on each layer, ending with <backingStore/>) */
    vda->live_chain = domain_backing_chain_new();
    vda->live_chain->complete = true;
    domain_backing_chain_add(vda->live_chain, false, "qcow2", "/var/lib/libvirt/images/mid.qcow2")
        ->index = 3;
    domain_backing_chain_add(vda->live_chain, true, "raw", "/dev/vg/base")->index = 4;
    vda->live_index = 2;
    vdb->live_chain = domain_backing_chain_new();
    vdb->live_chain->complete = true;
    vdb->live_index = 1;
    g_autoptr(DomainRuntime) rt = domain_runtime_new(def, 3);
    g_autofree char *live = domain_def_format(def, rt);
    TAP_CHECK(strstr(live, "      <source file='/var/lib/libvirt/images/debian12.qcow2' index='2'/>\n"
                           "      <backingStore type='file' index='3'>\n"
                           "        <format type='qcow2'/>\n"
                           "        <source file='/var/lib/libvirt/images/mid.qcow2'/>\n"
                           "        <backingStore type='block' index='4'>\n"
                           "          <format type='raw'/>\n"
                           "          <source dev='/dev/vg/base'/>\n"
                           "          <backingStore/>\n"
                           "        </backingStore>\n"
                           "      </backingStore>\n"
                           "      <target dev='vda' bus='virtio'/>\n") != NULL,
              "live XML: the probed chain with node indexes");
    TAP_CHECK(strstr(live, "<source file='/var/lib/libvirt/images/data.img' index='1'/>\n"
                           "      <backingStore/>\n") != NULL, "live XML: raw disk index 1, no backing");
    g_autoptr(GError) verr = NULL;
    bool ok = valid_against(live, libvirt_rng(), &verr);
    TAP_CHECK(ok, "live XML with chains valid against libvirt's domain.rng");
    if (!ok)
        printf("# %s\n", verr ? verr->message : "(not well-formed)");
    g_autofree char *inactive = domain_def_format(def, NULL);
    TAP_EQ_STR(inactive, xml, "inactive XML keeps the chain as written");
    /* pasted back, the live XML defines (indexes are run-time data) */
    g_autoptr(GError) e2 = NULL;
    g_autoptr(DomainDef) again = domain_def_parse_string(live, 0, &e2);
    TAP_CHECK(again != NULL, "live XML with chains defines again%s%s", e2 ? ": " : "",
              e2 ? e2->message : "");
    if (again) {
        DomainDisk *a = g_ptr_array_index(again->disks, 0);
        TAP_CHECK(a->backing && a->backing->layers->len == 2 && a->live_chain == NULL,
                  "its chain is a written chain, not a probed one");
    }
}

/* IDE disks and cdroms as virt-install writes them: drive addresses
 * assigned from the target names as libvirt does, cdroms read-only, an
 * empty drive, the implicit IDE controller, ide0-B-U aliases. */
static void test_ide_cdrom(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = parse_fixture("ide-cdrom.xml", &err);
    TAP_CHECK(def != NULL, "ide-cdrom.xml parses%s%s", err ? ": " : "", err ? err->message : "");
    if (!def)
        return;
    TAP_EQ_U64(def->disks->len, 4, "four disks");
    DomainDisk *hda = g_ptr_array_index(def->disks, 0), *hdc = g_ptr_array_index(def->disks, 1);
    DomainDisk *hdd = g_ptr_array_index(def->disks, 2), *vda = g_ptr_array_index(def->disks, 3);
    TAP_CHECK(hda->bus == DOMAIN_DISK_BUS_IDE && hda->device == DOMAIN_DISK_DEVICE_DISK,
              "hda: an IDE disk");
    TAP_CHECK(hda->drive.present && hda->drive.bus == 0 && hda->drive.unit == 0,
              "hda: drive 0:0:0:0 assigned");
    TAP_CHECK(hdc->device == DOMAIN_DISK_DEVICE_CDROM && hdc->readonly, "hdc: a read-only cdrom");
    TAP_CHECK(hdc->drive.bus == 1 && hdc->drive.unit == 0 && hdc->drive.target == 0,
              "hdc: drive 0:1:0:0 assigned");
    TAP_CHECK(hdd->source == NULL && hdd->readonly, "hdd: empty cdrom, read-only implied");
    TAP_CHECK(hdd->drive.bus == 1 && hdd->drive.unit == 1, "hdd: its given address");
    TAP_CHECK(!hda->addr.present && !hdc->addr.present, "IDE disks take no PCI slot");
    TAP_EQ_U64(vda->addr.slot, 3, "vda gets the first free slot");

    g_autofree char *xml = domain_def_format(def, NULL);
    TAP_CHECK(strstr(xml, "    <disk type='file' device='cdrom'>\n"
                          "      <driver name='qemu' type='raw'/>\n"
                          "      <source file='/var/lib/libvirt/images/debian-12-netinst.iso'/>\n"
                          "      <target dev='hdc' bus='ide'/>\n"
                          "      <readonly/>\n"
                          "      <address type='drive' controller='0' bus='1' target='0' unit='0'/>\n"
                          "    </disk>\n") != NULL, "cdrom formatted as libvirt does");
    TAP_CHECK(strstr(xml, "      <target dev='hda' bus='ide'/>\n"
                          "      <address type='drive' controller='0' bus='0' target='0' unit='0'/>\n")
                  != NULL, "hda's assigned address shown");
    TAP_CHECK(strstr(xml, "    <disk type='file' device='cdrom'>\n"
                          "      <driver name='qemu' type='raw'/>\n"
                          "      <target dev='hdd' bus='ide'/>\n"
                          "      <readonly/>\n") != NULL, "empty cdrom: no source");
    const char *usb = strstr(xml, "<controller type=\"usb\"");
    const char *ide = strstr(xml, "<controller type=\"ide\" index=\"0\"/>");
    const char *pci = strstr(xml, "<controller type=\"pci\"");
    TAP_CHECK(usb && ide && pci && usb < ide && ide < pci,
              "implicit IDE controller added between usb and pci, as libvirt lists them");

    g_autoptr(DomainRuntime) rt = domain_runtime_new(def, 2);
    g_autofree char *live = domain_def_format(def, rt);
    TAP_CHECK(strstr(live, "<readonly/>\n      <alias name='ide0-1-0'/>\n") != NULL, "hdc alias ide0-1-0");
    TAP_CHECK(strstr(live, "<alias name='ide0-1-1'/>") && strstr(live, "<alias name='ide0-0-0'/>") &&
                  strstr(live, "<alias name='virtio-disk0'/>"), "hdd, hda and vda aliases");
    g_autofree char *a = domain_disk_alias(hdd);
    TAP_EQ_STR(a, "ide0-1-1", "domain_disk_alias of hdd");

    /* an IDE controller the user wrote is kept once, not added again */
    g_autoptr(GError) e2 = NULL;
    g_autoptr(DomainDef) again = domain_def_parse_string(xml, 0, &e2);
    g_autofree char *xml2 = again ? domain_def_format(again, NULL) : NULL;
    const char *first = xml2 ? strstr(xml2, "<controller type=\"ide\"") : NULL;
    TAP_CHECK(first && !strstr(first + 1, "<controller type=\"ide\""), "one IDE controller after a round trip");
}

static void test_ide_refusals(void)
{
    const char *os = "  <os><type>hvm</type></os>";
    expect_error("ide controller 1", doc_with("kvm", os, "<disk type='file'><source file='/a'/><target dev='hde'/></disk>"),
                 VIR_ERR_INTERNAL_ERROR, "internal error: Only 1 IDE controller is supported");
    expect_error("ide target 1", doc_with("kvm", os, "<disk type='file'><source file='/a'/><target dev='hda' bus='ide'/>"
                                                     "<address type='drive' controller='0' bus='0' target='1' unit='0'/></disk>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "unsupported configuration: target must be 0 for ide controller");
    expect_error("ide bus 2", doc_with("kvm", os, "<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/>"
                                                  "<address type='drive' controller='0' bus='2' target='0' unit='0'/></disk>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "drive address bus='2' unit='0' of disk 'hdc' is out of range");
    expect_error("ide unit 2", doc_with("kvm", os, "<disk type='file'><source file='/a'/><target dev='hdb'/>"
                                                   "<address type='drive' controller='0' bus='0' target='0' unit='2'/></disk>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "bus='0' unit='2' of disk 'hdb' is out of range");
    expect_error("duplicate drive address",
                 doc_with("kvm", os, "<disk type='file'><source file='/a'/><target dev='hda'/></disk>"
                                     "<disk type='file' device='cdrom'><target dev='hdb'/>"
                                     "<address type='drive' controller='0' bus='0' target='0' unit='0'/></disk>"),
                 VIR_ERR_CONFIG_UNSUPPORTED,
                 "unsupported configuration: Found duplicate drive address for disk with target name 'hda' "
                 "controller='0' bus='0' target='0' unit='0'");
    expect_error("bad drive number", doc_with("kvm", os, "<disk type='file'><source file='/a'/><target dev='hda'/>"
                                                        "<address type='drive' unit='x'/></disk>"),
                 VIR_ERR_XML_ERROR, "Cannot parse <address> 'unit' attribute: 'x'");
    expect_error("virtio cdrom", doc_with("kvm", os, "<disk type='file' device='cdrom'><target dev='vdc'/></disk>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "cdrom 'vdc' on bus 'virtio' is not supported by hvd");
    expect_error("qcow2 cdrom", doc_with("kvm", os, "<disk type='file' device='cdrom'><driver name='qemu' type='qcow2'/>"
                                                    "<source file='/a.qcow2'/><target dev='hdc'/></disk>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "format 'qcow2' of cdrom 'hdc' is not supported by hvd (cdroms are raw)");
    expect_error("ide name on virtio", doc_with("kvm", os, "<disk type='file'><source file='/a'/><target dev='hda' bus='virtio'/></disk>"),
                 VIR_ERR_XML_ERROR, "disk target 'hda' is not a virtio disk name");
    expect_error("negative controller index", doc_with("kvm", os, "<controller type='usb' index='-1'/>"),
                 VIR_ERR_INTERNAL_ERROR, "internal error: Cannot parse controller index -1");
    expect_error("second ide controller", doc_with("kvm", os, "<controller type='ide' index='1'/>"),
                 VIR_ERR_CONFIG_UNSUPPORTED, "Only a single IDE controller is supported for this machine type");

    /* attach keeps disks of one bus in target order, others go last */
    g_autoptr(GError) err = NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(
        doc_with("kvm", os, "<disk type='file'><source file='/a'/><target dev='vda'/></disk>"
                            "<disk type='file' device='cdrom'><target dev='hdc'/></disk>"), 0, &err);
    g_autoptr(DomainDevice) dev = domain_device_parse_string(
        "<disk type='file' device='disk'><source file='/b'/><target dev='hda' bus='ide'/></disk>", &err);
    TAP_CHECK(def && dev && domain_def_attach_device(def, dev, &err), "attach hda%s%s",
              err ? ": " : "", err ? err->message : "");
    if (def && def->disks->len == 3) {
        DomainDisk *d1 = g_ptr_array_index(def->disks, 1);
        TAP_EQ_STR(d1->target_dev, "hda", "hda inserted before hdc");
        TAP_CHECK(d1->drive.present && d1->drive.bus == 0 && d1->drive.unit == 0, "hda's address assigned");
    }
    g_autoptr(DomainDevice) dup = domain_device_parse_string(
        "<disk type='file' device='cdrom'><target dev='hdb'/>"
        "<address type='drive' controller='0' bus='1' target='0' unit='0'/></disk>", NULL);
    g_clear_error(&err);
    TAP_CHECK(dup && !domain_def_attach_device(def, dup, &err) && err &&
                  strstr(err->message, "Found duplicate drive address for disk with target name 'hdb'"),
              "attach on hdc's drive address refused");
}

/* Per-device <boot order> instead of <os><boot dev>: libvirt adds no
 * boot dev then; nothing at all gives <boot dev='hd'/>, kernel or not. */
static void test_boot_order(void)
{
    g_autoptr(DomainDef) per_dev = domain_def_parse_string(
        "<domain type='kvm'><name>b</name><memory>65536</memory><os><type>hvm</type></os>"
        "<devices><disk type='file'><source file='/a'/><target dev='vda'/></disk>"
        "<disk type='file'><source file='/b'/><target dev='vdb'/><boot order='1'/></disk>"
        "</devices></domain>", 0, NULL);
    TAP_CHECK(per_dev && per_dev->boot_devs->len == 0, "boot order on a disk: no os/boot added");
    g_autofree char *xml = per_dev ? domain_def_format(per_dev, NULL) : NULL;
    TAP_CHECK(xml && !strstr(xml, "<boot dev=") && strstr(xml, "<boot order='1'/>"),
              "formatted with the disk's boot order only");
    g_autoptr(DomainDef) kernel = domain_def_parse_string(
        "<domain type='kvm'><name>k</name><memory>65536</memory>"
        "<os><type>hvm</type><kernel>/k</kernel></os></domain>", 0, NULL);
    TAP_CHECK(kernel && kernel->boot_devs->len == 1 &&
              !strcmp(g_ptr_array_index(kernel->boot_devs, 0), "hd"),
              "kernel domain gets boot dev hd too (as libvirt)");
    g_autoptr(DomainDef) five = domain_def_parse_string(
        "<domain type='kvm'><name>f</name><memory>65536</memory><os><type>hvm</type>"
        "<boot dev='network'/><boot dev='cdrom'/><boot dev='hd'/><boot dev='fd'/><boot dev='hd'/>"
        "</os></domain>", 0, NULL);
    TAP_CHECK(five && five->boot_devs->len == 4, "at most four boot devices read (as libvirt)");
    /* attaching a disk with a boot order to a domain booting by os/boot */
    g_autoptr(DomainDevice) dev = domain_device_parse_string(
        "<disk type='file'><source file='/c'/><target dev='vdc'/><boot order='1'/></disk>", NULL);
    g_autoptr(GError) err = NULL;
    TAP_CHECK(kernel && dev && !domain_def_attach_device(kernel, dev, &err) && err &&
                  hvd_vir_error_number(err) == VIR_ERR_CONFIG_UNSUPPORTED &&
                  strstr(err->message, "per-device boot elements cannot be used together"),
              "attach with a boot order to an os/boot domain refused as libvirt does");
}

static void test_slots_exhausted(void)
{
    GString *devs = g_string_new(NULL);
    for (int i = 0; i < 30; i++)
        g_string_append_printf(devs, "<interface type='ethernet'><model type='virtio'/></interface>");
    g_autofree char *devices = g_string_free(devs, FALSE);
    expect_error("30 NICs exhaust slots",
                 doc_with("kvm", "  <os><type>hvm</type></os>", devices),
                 VIR_ERR_CONFIG_UNSUPPORTED, "no free PCI slot");
}

int main(void)
{
    if (!g_getenv("HVD_SCHEMA_DIR")) {
        g_autofree char *dir = srcdir_path("schemas");
        g_setenv("HVD_SCHEMA_DIR", dir, TRUE);
    }
    test_full();
    test_fixture_roundtrip("full.xml");
    test_fixture_roundtrip("minimal.xml");
    test_fixture_roundtrip("nova.xml");
    test_fixture_roundtrip("disk-boot.xml");
    test_fixture_roundtrip("ide-cdrom.xml");
    test_disk_boot();
    test_ide_cdrom();
    test_ide_refusals();
    test_boot_order();
    test_fixtures_valid_in_our_schema();
    test_defaults();
    test_units_and_ids();
    test_errors();
    test_slots_exhausted();
    return tap_done();
}
