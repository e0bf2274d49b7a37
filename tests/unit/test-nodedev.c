/* Node-device driver against a fake sysfs tree built here: a PCIe root
 * port with an SR-IOV PF (two VFs), a host bridge, and a multi-function
 * device sharing one IOMMU group. Checks naming, lists and flags, XML
 * (exact text and libvirt's nodedev.rng), detach/reattach/reset with this
 * test acting as the kernel on every sysfs write, refusals (no IOMMU,
 * busy group, vfio-pci missing, device used by a domain), managed hostdev
 * prepare/release, and the RPC handlers through rpc.c. */
#include <glib/gstdio.h>
#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <unistd.h>

#include "daemon/remote_nodedev.h"
#include "drivers/nodedev/nodedev.h"
#include "drivers/nodedev/vfio_bind.h"
#include "tests/tap.h"
#include "tests/unit/rpc-test-util.h"

static char *root;      /* fake /sys */
static char *state_dir;
static char *pci_ids;
static GString *writes; /* "rel=value;" per sysfs write, newlines shown as \n */

/* ---------------------------------------------------------------- fake tree */

static void put_file(const char *dir, const char *name, const char *text)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_file_set_contents(path, text, -1, NULL);
}

static void link_to(const char *target, const char *link)
{
    g_autofree char *dir = g_path_get_dirname(link);
    g_mkdir_with_parents(dir, 0755);
    unlink(link);
    if (symlink(target, link) != 0)
        perror(link);
}

static char *dev_dir(const char *addr)
{
    return g_build_filename(root, "bus", "pci", "devices", addr, NULL);
}

static void bind_driver(const char *addr, const char *driver)
{
    g_autofree char *dir = dev_dir(addr);
    g_autofree char *link = g_build_filename(dir, "driver", NULL);
    g_autofree char *target = g_build_filename(root, "bus", "pci", "drivers", driver, NULL);
    link_to(target, link);
}

/* The driver the fake kernel binds on a probe without override. */
static const char *native_driver(const char *addr)
{
    if (strcmp(addr, "0000:02:00.0") == 0)
        return "igb";
    if (strcmp(addr, "0000:02:10.2") == 0)
        return "igbvf";
    return NULL; /* 02:10.0: reattach must bind the remembered driver itself */
}

static void add_device(const char *parent_rel, const char *addr, const char *vendor,
                       const char *device, const char *class_code, const char *driver, int group)
{
    g_autofree char *dir = g_build_filename(root, "devices", parent_rel, addr, NULL);
    g_mkdir_with_parents(dir, 0755);
    put_file(dir, "vendor", vendor);
    put_file(dir, "device", device);
    put_file(dir, "subsystem_vendor", "0x8086\n");
    put_file(dir, "subsystem_device", "0x0000\n");
    put_file(dir, "class", class_code);
    put_file(dir, "driver_override", "(null)\n");
    put_file(dir, "numa_node", "-1\n");
    g_autofree char *bus_link = g_build_filename(root, "bus", "pci", "devices", addr, NULL);
    link_to(dir, bus_link);
    if (driver)
        bind_driver(addr, driver);
    if (group >= 0) {
        char num[16];
        snprintf(num, sizeof num, "%d", group);
        g_autofree char *gdir = g_build_filename(root, "kernel", "iommu_groups", num, NULL);
        g_autofree char *glink = g_build_filename(dir, "iommu_group", NULL);
        g_autofree char *member = g_build_filename(gdir, "devices", addr, NULL);
        link_to(gdir, glink);
        link_to(dir, member);
    }
}

static void build_tree(void)
{
    const char *drivers[] = { "igb", "igbvf", "pcieport", "lpc_ich", "ahci", "i801_smbus",
                              "vfio-pci" };
    for (size_t i = 0; i < G_N_ELEMENTS(drivers); i++) {
        g_autofree char *d = g_build_filename(root, "bus", "pci", "drivers", drivers[i], NULL);
        g_mkdir_with_parents(d, 0755);
        put_file(d, "bind", "");
        put_file(d, "unbind", "");
    }
    g_autofree char *bus = g_build_filename(root, "bus", "pci", NULL);
    put_file(bus, "drivers_probe", "");
    add_device("pci0000:00", "0000:00:00.0", "0x8086\n", "0x29c0\n", "0x060000\n", NULL, 0);
    add_device("pci0000:00", "0000:00:1c.0", "0x8086\n", "0x2940\n", "0x060400\n", "pcieport", 1);
    add_device("pci0000:00/0000:00:1c.0", "0000:02:00.0", "0x8086\n", "0x10c9\n", "0x020000\n",
               "igb", 2);
    add_device("pci0000:00/0000:00:1c.0", "0000:02:10.0", "0x8086\n", "0x10ca\n", "0x020000\n",
               "igbvf", 3);
    add_device("pci0000:00/0000:00:1c.0", "0000:02:10.2", "0x8086\n", "0x10ca\n", "0x020000\n",
               "igbvf", 4);
    add_device("pci0000:00", "0000:00:1f.0", "0x8086\n", "0x2918\n", "0x060100\n", "lpc_ich", 5);
    add_device("pci0000:00", "0000:00:1f.2", "0x8086\n", "0x2922\n", "0x010601\n", "ahci", 5);
    add_device("pci0000:00", "0000:00:1f.3", "0x8086\n", "0x2930\n", "0x0c0500\n", "i801_smbus", 5);

    /* SR-IOV: the PF's attributes and links both ways; PCIe link; reset. */
    g_autofree char *pf = g_build_filename(root, "devices", "pci0000:00", "0000:00:1c.0",
                                           "0000:02:00.0", NULL);
    put_file(pf, "sriov_totalvfs", "7\n");
    put_file(pf, "sriov_numvfs", "2\n");
    put_file(pf, "numa_node", "0\n");
    put_file(pf, "max_link_speed", "2.5 GT/s PCIe\n");
    put_file(pf, "max_link_width", "4\n");
    put_file(pf, "current_link_speed", "2.5 GT/s PCIe\n");
    put_file(pf, "current_link_width", "4\n");
    put_file(pf, "reset", "");
    const char *vfs[] = { "0000:02:10.0", "0000:02:10.2" };
    for (int i = 0; i < 2; i++) {
        g_autofree char *vf = g_build_filename(root, "devices", "pci0000:00", "0000:00:1c.0", vfs[i],
                                               NULL);
        char name[16];
        snprintf(name, sizeof name, "virtfn%d", i);
        g_autofree char *vlink = g_build_filename(pf, name, NULL);
        g_autofree char *plink = g_build_filename(vf, "physfn", NULL);
        g_autofree char *vtarget = g_strconcat("../", vfs[i], NULL);
        link_to(vtarget, vlink);
        link_to("../0000:02:00.0", plink);
        put_file(vf, "reset", "");
    }
    g_autofree char *dmi = g_build_filename(root, "class", "dmi", "id", NULL);
    g_mkdir_with_parents(dmi, 0755);
    put_file(dmi, "product_name", "Test Machine <1>\n");
    put_file(dmi, "sys_vendor", "HVD & Co\n");
    put_file(dmi, "product_uuid", "11111111-2222-3333-4444-555555555555\n");
    put_file(dmi, "bios_vendor", "SeaBIOS\n");
    put_file(dmi, "bios_version", "1.16.2\n");
    put_file(dmi, "bios_date", "04/01/2014\n");

    pci_ids = g_build_filename(state_dir, "pci.ids", NULL);
    g_file_set_contents(pci_ids,
                        "# test pci.ids\n"
                        "1af4  Red Hat, Inc.\n"
                        "\t1000  Virtio network device\n"
                        "8086  Intel Corporation\n"
                        "\t10c9  82576 Gigabit Network Connection\n"
                        "\t\t8086 0000  Gigabit ET Dual Port Server Adapter\n"
                        "\t10ca  82576 Virtual Function\n"
                        "\t29c0  82G33/G31/P35/P31 Express DRAM Controller\n"
                        "80ee  InnoTek Systemberatung GmbH\n"
                        "\t10ca  Not this one\n"
                        "C 02  Network controller\n",
                        -1, NULL);
}

/* The fake kernel: react to writes as Linux's PCI core does. */
static void kernel_hook(const char *rel, const char *value, void *data)
{
    (void)data;
    g_autofree char *shown = g_strescape(value, NULL);
    g_string_append_printf(writes, "%s=%s;", rel, shown);
    char addr[13] = { 0 };
    if (g_str_has_prefix(rel, "bus/pci/devices/") && g_str_has_suffix(rel, "/driver/unbind")) {
        memcpy(addr, rel + strlen("bus/pci/devices/"), 12);
        g_autofree char *dir = dev_dir(addr);
        g_autofree char *link = g_build_filename(dir, "driver", NULL);
        unlink(link);
    } else if (strcmp(rel, "bus/pci/drivers_probe") == 0 && strlen(value) == 12) {
        g_autofree char *dir = dev_dir(value);
        g_autofree char *link = g_build_filename(dir, "driver", NULL);
        if (g_file_test(link, G_FILE_TEST_IS_SYMLINK))
            return;
        g_autofree char *override = hvd_sysfs_read_attr(dir, "driver_override");
        const char *driver = override && override[0] ? override : native_driver(value);
        if (driver)
            bind_driver(value, driver);
    } else if (g_str_has_prefix(rel, "bus/pci/drivers/") && g_str_has_suffix(rel, "/bind")) {
        g_autofree char *drv = g_strndup(rel + strlen("bus/pci/drivers/"),
                                         strlen(rel) - strlen("bus/pci/drivers/") - strlen("/bind"));
        bind_driver(value, drv);
    }
}

static char *driver_of(const char *addr)
{
    g_autofree char *dir = dev_dir(addr);
    g_autofree char *link = g_build_filename(dir, "driver", NULL);
    return hvd_sysfs_link_basename(link);
}

static void init_driver(const char *modprobe)
{
    HvdNodedevConfig cfg = { .sysfs_root = root, .state_dir = state_dir, .pci_ids = pci_ids,
                             .modprobe = modprobe };
    g_autoptr(GError) err = NULL;
    bool ok = hvd_nodedev_init(&cfg, &err);
    if (!ok)
        printf("# init: %s\n", err->message);
}

static bool err_has(const GError *err, int number, const char *text)
{
    int n, from;
    if (!err)
        return false;
    hvd_nodedev_error_unpack(err, &n, &from);
    bool ok = n == number && from == 22 && strstr(err->message, text);
    if (!ok)
        printf("#   error was %d/%d: %s\n", n, from, err->message);
    return ok;
}

/* ---------------------------------------------------------------- tests */

static void test_names(void)
{
    HvdPciAddr a;
    char buf[20];
    TAP_CHECK(hvd_nodedev_parse_pci_name("pci_0000_02_10_2", &a) && a.domain == 0 && a.bus == 2 &&
                  a.slot == 0x10 && a.function == 2,
              "pci_0000_02_10_2 parses");
    hvd_nodedev_pci_name(&a, buf, sizeof buf);
    TAP_EQ_STR(buf, "pci_0000_02_10_2", "name round trip");
    const char *bad[] = { "pci_0000_02_1C_0", "pci_0000_00_20_0", "pci_0000_00_03_8", "computer",
                          "pci_0000_00_03_0x", "pci_0000:00:03.0", "", "pci_00000_0_03_0" };
    bool all_refused = true;
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        all_refused &= !hvd_nodedev_parse_pci_name(bad[i], &a);
    TAP_CHECK(all_refused, "malformed node device names are refused");
    TAP_CHECK(!hvd_pci_addr_parse("0000:00:03.0\n", &a) && !hvd_pci_addr_parse("000g:00:03.0", &a),
              "malformed sysfs addresses are refused");
}

static void test_lists(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) all = hvd_nodedev_list_all(0, &err);
    TAP_CHECK(all && all->len == 9, "list_all(0): computer + 8 PCI devices");
    if (all && all->len == 9) {
        TAP_EQ_STR(all->pdata[0], "computer", "computer first");
        TAP_EQ_STR(all->pdata[1], "pci_0000_00_00_0", "then PCI by address");
        TAP_EQ_STR(all->pdata[8], "pci_0000_02_10_2", "last PCI device");
    }
    g_autoptr(GPtrArray) active = hvd_nodedev_list_all(0x80000000u, NULL);
    TAP_EQ_U64(active ? active->len : 0, 9, "ACTIVE (virsh nodedev-list) lists everything");
    g_autoptr(GPtrArray) inactive = hvd_nodedev_list_all(0x40000000u, NULL);
    TAP_EQ_U64(inactive ? inactive->len : 99, 0, "INACTIVE alone lists nothing");
    g_autoptr(GPtrArray) both = hvd_nodedev_list_all(0xC0000000u, NULL);
    TAP_EQ_U64(both ? both->len : 0, 9, "ACTIVE|INACTIVE (--all) lists everything");
    g_autoptr(GPtrArray) pci = hvd_nodedev_list_all(0x80000002u, NULL);
    TAP_EQ_U64(pci ? pci->len : 0, 8, "--cap pci");
    g_autoptr(GPtrArray) sys = hvd_nodedev_list_all(1, NULL);
    TAP_CHECK(sys && sys->len == 1 && strcmp(sys->pdata[0], "computer") == 0, "--cap system");
    g_autoptr(GPtrArray) usb = hvd_nodedev_list_all(4, NULL);
    TAP_EQ_U64(usb ? usb->len : 99, 0, "--cap usb_device: none");
    g_autoptr(GError) ferr = NULL;
    g_autoptr(GPtrArray) bad = hvd_nodedev_list_all(1u << 25, &ferr);
    TAP_CHECK(!bad && err_has(ferr, 8 /* INVALID_ARG */, "unsupported flags (0x2000000)"),
              "unknown flag refused");

    g_autoptr(GPtrArray) vf = hvd_nodedev_list_names("virt_functions", 0, NULL);
    TAP_CHECK(vf && vf->len == 1 && strcmp(vf->pdata[0], "pci_0000_02_00_0") == 0,
              "cap virt_functions: the PF");
    g_autoptr(GPtrArray) pf = hvd_nodedev_list_names("phys_function", 0, NULL);
    TAP_CHECK(pf && pf->len == 2 && strcmp(pf->pdata[1], "pci_0000_02_10_2") == 0,
              "cap phys_function: the two VFs");
    g_autoptr(GPtrArray) legacy = hvd_nodedev_list_names(NULL, 0, NULL);
    TAP_EQ_U64(legacy ? legacy->len : 0, 9, "legacy list without cap");
    g_autoptr(GPtrArray) bogus = hvd_nodedev_list_names("bogus", 0, NULL);
    TAP_EQ_U64(bogus ? bogus->len : 99, 0, "legacy list with an unknown cap: none");

    g_autoptr(GPtrArray) caps = hvd_nodedev_list_caps("pci_0000_02_00_0", NULL);
    TAP_CHECK(caps && caps->len == 2 && strcmp(caps->pdata[1], "virt_functions") == 0,
              "PF caps: pci, virt_functions");
    g_autoptr(GPtrArray) vcaps = hvd_nodedev_list_caps("pci_0000_02_10_0", NULL);
    TAP_CHECK(vcaps && vcaps->len == 2 && strcmp(vcaps->pdata[1], "phys_function") == 0,
              "VF caps: pci, phys_function");

    char *parent = NULL;
    TAP_CHECK(hvd_nodedev_get_parent("pci_0000_02_10_0", &parent, NULL) && parent &&
                  strcmp(parent, "pci_0000_00_1c_0") == 0,
              "VF's parent is the root port");
    g_free(parent);
    TAP_CHECK(hvd_nodedev_get_parent("pci_0000_00_1f_2", &parent, NULL) && parent &&
                  strcmp(parent, "computer") == 0,
              "root bus device's parent is computer");
    g_free(parent);
    TAP_CHECK(hvd_nodedev_get_parent("computer", &parent, NULL) && parent == NULL,
              "computer has no parent");
    g_autoptr(GError) lerr = NULL;
    TAP_CHECK(!hvd_nodedev_lookup("pci_0000_09_00_0", &lerr) &&
                  err_has(lerr, 53, "Node device not found: no node device with matching name "
                                    "'pci_0000_09_00_0'"),
              "unknown device: libvirt's NO_NODE_DEVICE wording");
}

static const char pf_xml[] =
    "<device>\n"
    "  <name>pci_0000_02_00_0</name>\n"
    "  <path>/sys/devices/pci0000:00/0000:00:1c.0/0000:02:00.0</path>\n"
    "  <parent>pci_0000_00_1c_0</parent>\n"
    "  <driver>\n"
    "    <name>igb</name>\n"
    "  </driver>\n"
    "  <capability type='pci'>\n"
    "    <class>0x020000</class>\n"
    "    <domain>0</domain>\n"
    "    <bus>2</bus>\n"
    "    <slot>0</slot>\n"
    "    <function>0</function>\n"
    "    <product id='0x10c9'>82576 Gigabit Network Connection</product>\n"
    "    <vendor id='0x8086'>Intel Corporation</vendor>\n"
    "    <capability type='virt_functions' maxCount='7'>\n"
    "      <address domain='0x0000' bus='0x02' slot='0x10' function='0x0'/>\n"
    "      <address domain='0x0000' bus='0x02' slot='0x10' function='0x2'/>\n"
    "    </capability>\n"
    "    <iommuGroup number='2'>\n"
    "      <address domain='0x0000' bus='0x02' slot='0x00' function='0x0'/>\n"
    "    </iommuGroup>\n"
    "    <numa node='0'/>\n"
    "    <pci-express>\n"
    "      <link validity='cap' speed='2.5' width='4'/>\n"
    "      <link validity='sta' speed='2.5' width='4'/>\n"
    "    </pci-express>\n"
    "  </capability>\n"
    "</device>\n";

static const char vf_xml[] =
    "<device>\n"
    "  <name>pci_0000_02_10_0</name>\n"
    "  <path>/sys/devices/pci0000:00/0000:00:1c.0/0000:02:10.0</path>\n"
    "  <parent>pci_0000_00_1c_0</parent>\n"
    "  <driver>\n"
    "    <name>igbvf</name>\n"
    "  </driver>\n"
    "  <capability type='pci'>\n"
    "    <class>0x020000</class>\n"
    "    <domain>0</domain>\n"
    "    <bus>2</bus>\n"
    "    <slot>16</slot>\n"
    "    <function>0</function>\n"
    "    <product id='0x10ca'>82576 Virtual Function</product>\n"
    "    <vendor id='0x8086'>Intel Corporation</vendor>\n"
    "    <capability type='phys_function'>\n"
    "      <address domain='0x0000' bus='0x02' slot='0x00' function='0x0'/>\n"
    "    </capability>\n"
    "    <iommuGroup number='3'>\n"
    "      <address domain='0x0000' bus='0x02' slot='0x10' function='0x0'/>\n"
    "    </iommuGroup>\n"
    "  </capability>\n"
    "</device>\n";

static const char computer_xml[] =
    "<device>\n"
    "  <name>computer</name>\n"
    "  <capability type='system'>\n"
    "    <product>Test Machine &lt;1&gt;</product>\n"
    "    <hardware>\n"
    "      <vendor>HVD &amp; Co</vendor>\n"
    "      <uuid>11111111-2222-3333-4444-555555555555</uuid>\n"
    "    </hardware>\n"
    "    <firmware>\n"
    "      <vendor>SeaBIOS</vendor>\n"
    "      <version>1.16.2</version>\n"
    "      <release_date>04/01/2014</release_date>\n"
    "    </firmware>\n"
    "  </capability>\n"
    "</device>\n";

static bool validates(xmlRelaxNGPtr schema, const char *xml)
{
    if (!schema || !xml)
        return false;
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "nodedev.xml", NULL, XML_PARSE_NONET);
    if (!doc)
        return false;
    xmlRelaxNGValidCtxtPtr vc = xmlRelaxNGNewValidCtxt(schema);
    int rc = xmlRelaxNGValidateDoc(vc, doc);
    xmlRelaxNGFreeValidCtxt(vc);
    xmlFreeDoc(doc);
    return rc == 0;
}

static void test_xml(void)
{
    g_autofree char *pf = hvd_nodedev_get_xml("pci_0000_02_00_0", 0, NULL);
    TAP_EQ_STR(pf, pf_xml, "PF XML (SR-IOV virt_functions, IOMMU group, NUMA, PCIe link)");
    g_autofree char *vf = hvd_nodedev_get_xml("pci_0000_02_10_0", 0, NULL);
    TAP_EQ_STR(vf, vf_xml, "VF XML (phys_function)");
    g_autofree char *comp = hvd_nodedev_get_xml("computer", 0, NULL);
    TAP_EQ_STR(comp, computer_xml, "computer XML (DMI, escaped)");
    g_autofree char *bridge = hvd_nodedev_get_xml("pci_0000_00_00_0", 0, NULL);
    TAP_CHECK(bridge && strstr(bridge, "<parent>computer</parent>") &&
                  !strstr(bridge, "<driver>") &&
                  strstr(bridge, "<product id='0x29c0'>82G33/G31/P35/P31 Express DRAM Controller"),
              "host bridge XML: parent computer, no driver, name from pci.ids");
    g_autofree char *smbus = hvd_nodedev_get_xml("pci_0000_00_1f_3", 0, NULL);
    TAP_CHECK(smbus && strstr(smbus, "<product id='0x2930'/>") &&
                  strstr(smbus, "function='0x0'/>\n      <address domain='0x0000' bus='0x00' "
                                "slot='0x1f' function='0x2'/>"),
              "unknown product: empty element; group members listed");
    g_autoptr(GError) ferr = NULL;
    g_autofree char *bad = hvd_nodedev_get_xml("computer", 2, &ferr);
    TAP_CHECK(!bad && err_has(ferr, 8, "unsupported flags"), "GET_XML_DESC refuses unknown flags");

    const char *rng = "/usr/share/libvirt/schemas/nodedev.rng";
    xmlRelaxNGParserCtxtPtr pc = xmlRelaxNGNewParserCtxt(rng);
    xmlRelaxNGPtr schema = xmlRelaxNGParse(pc);
    xmlRelaxNGFreeParserCtxt(pc);
    TAP_CHECK(schema != NULL, "libvirt's nodedev.rng loads (package libvirt-daemon-common or libvirt-clients)");
    g_autoptr(GPtrArray) all = hvd_nodedev_list_all(0, NULL);
    int valid = 0;
    for (guint i = 0; all && i < all->len; i++) {
        g_autofree char *xml = hvd_nodedev_get_xml(all->pdata[i], 0, NULL);
        if (validates(schema, xml))
            valid++;
        else
            printf("# invalid: %s\n", xml ? xml : "(null)");
    }
    TAP_EQ_U64(valid, 9, "every device's XML validates against nodedev.rng");
    if (schema)
        xmlRelaxNGFree(schema);
}

static bool record_exists(const char *addr, const char *suffix)
{
    g_autofree char *file = g_strconcat(addr, suffix, NULL);
    g_autofree char *path = g_build_filename(state_dir, "nodedev", file, NULL);
    return g_file_test(path, G_FILE_TEST_EXISTS);
}

static void test_detach_reattach(void)
{
    /* No IOMMU: clear error, nothing written. */
    g_autofree char *groups = g_build_filename(root, "kernel", "iommu_groups", NULL);
    g_autofree char *groups_off = g_strconcat(groups, ".off", NULL);
    g_rename(groups, groups_off);
    g_string_truncate(writes, 0);
    g_autoptr(GError) e1 = NULL;
    TAP_CHECK(!hvd_nodedev_detach("pci_0000_02_10_0", NULL, &e1) &&
                  err_has(e1, 67 /* CONFIG_UNSUPPORTED */, "no IOMMU found: enable VT-d/AMD-Vi") &&
                  strstr(e1->message, "intel_iommu=on"),
              "detach without IOMMU: clear error");
    TAP_EQ_U64(writes->len, 0, "... and no sysfs write");
    g_rename(groups_off, groups);

    /* Detach a VF. */
    g_string_truncate(writes, 0);
    g_autoptr(GError) e2 = NULL;
    bool ok = hvd_nodedev_detach("pci_0000_02_10_0", NULL, &e2);
    TAP_CHECK(ok, "detach VF: %s", e2 ? e2->message : "ok");
    TAP_EQ_STR(writes->str,
               "bus/pci/devices/0000:02:10.0/driver_override=vfio-pci;"
               "bus/pci/devices/0000:02:10.0/driver/unbind=0000:02:10.0;"
               "bus/pci/drivers_probe=0000:02:10.0;",
               "detach: override, unbind, probe, in that order");
    g_autofree char *drv = driver_of("0000:02:10.0");
    TAP_EQ_STR(drv, "vfio-pci", "VF now on vfio-pci");
    TAP_CHECK(record_exists("0000:02:10.0", ".driver"), "original driver remembered in the state dir");
    g_autofree char *xml = hvd_nodedev_get_xml("pci_0000_02_10_0", 0, NULL);
    TAP_CHECK(xml && strstr(xml, "<name>vfio-pci</name>"), "XML shows driver vfio-pci");

    g_string_truncate(writes, 0);
    TAP_CHECK(hvd_nodedev_detach("pci_0000_02_10_0", "vfio", NULL) && writes->len == 0,
              "detach again (DETACH_FLAGS 'vfio'): no-op");

    /* Reattach after a daemon restart: the record brings igbvf back even
     * though reprobing does not pick it. */
    hvd_nodedev_shutdown();
    init_driver("");
    g_string_truncate(writes, 0);
    g_autoptr(GError) e3 = NULL;
    ok = hvd_nodedev_reattach("pci_0000_02_10_0", &e3);
    TAP_CHECK(ok, "reattach after restart: %s", e3 ? e3->message : "ok");
    TAP_EQ_STR(writes->str,
               "bus/pci/devices/0000:02:10.0/driver/unbind=0000:02:10.0;"
               "bus/pci/devices/0000:02:10.0/driver_override=\\n;"
               "bus/pci/drivers_probe=0000:02:10.0;"
               "bus/pci/drivers/igbvf/bind=0000:02:10.0;",
               "reattach: unbind, clear override, probe, bind the remembered driver");
    g_free(drv);
    drv = driver_of("0000:02:10.0");
    TAP_EQ_STR(drv, "igbvf", "VF back on igbvf");
    TAP_CHECK(!record_exists("0000:02:10.0", ".driver"), "record removed");
    g_string_truncate(writes, 0);
    TAP_CHECK(hvd_nodedev_reattach("pci_0000_02_10_0", NULL) && writes->len == 0,
              "reattach of a host-bound device: no-op");

    /* IOMMU group with a member on a host driver (the ISA bridge does not count). */
    g_string_truncate(writes, 0);
    g_autoptr(GError) e4 = NULL;
    TAP_CHECK(!hvd_nodedev_detach("pci_0000_00_1f_3", NULL, &e4) &&
                  err_has(e4, 55 /* OPERATION_INVALID */, "0000:00:1f.2 (driver ahci)") &&
                  !strstr(e4->message, "1f.0"),
              "busy IOMMU group refused, naming the member and its driver");
    TAP_EQ_U64(writes->len, 0, "... and no sysfs write");

    /* vfio-pci not loaded: modprobe fails -> clear error; succeeds -> detach works. */
    g_autofree char *vfio = g_build_filename(root, "bus", "pci", "drivers", "vfio-pci", NULL);
    g_autofree char *vfio_off = g_strconcat(vfio, ".off", NULL);
    g_rename(vfio, vfio_off);
    hvd_nodedev_shutdown();
    init_driver("/bin/false");
    g_autoptr(GError) e5 = NULL;
    TAP_CHECK(!hvd_nodedev_detach("pci_0000_02_10_2", NULL, &e5) &&
                  err_has(e5, 9 /* OPERATION_FAILED */, "vfio-pci driver is not loaded") &&
                  strstr(e5->message, "/bin/false vfio-pci failed"),
              "vfio-pci missing and modprobe fails: clear error");
    g_autofree char *loader = g_build_filename(state_dir, "fake-modprobe", NULL);
    g_autofree char *script = g_strdup_printf("#!/bin/sh\n[ \"$1\" = vfio-pci ] && mv '%s' '%s'\n",
                                              vfio_off, vfio);
    g_file_set_contents(loader, script, -1, NULL);
    chmod(loader, 0755);
    hvd_nodedev_shutdown();
    init_driver(loader);
    g_autoptr(GError) e6 = NULL;
    TAP_CHECK(hvd_nodedev_detach("pci_0000_02_10_2", NULL, &e6),
              "vfio-pci loaded by modprobe, then detach: %s", e6 ? e6->message : "ok");
    TAP_CHECK(hvd_nodedev_reattach("pci_0000_02_10_2", NULL), "reattach 02:10.2");
    g_autofree char *d2 = driver_of("0000:02:10.2");
    TAP_EQ_STR(d2, "igbvf", "02:10.2 back on igbvf (by reprobe)");
    hvd_nodedev_shutdown();
    init_driver("");

    g_autoptr(GError) e7 = NULL, e8 = NULL, e9 = NULL;
    TAP_CHECK(!hvd_nodedev_detach("pci_0000_02_10_0", "kvm", &e7) &&
                  err_has(e7, 67, "KVM device assignment is no longer supported"),
              "driver 'kvm' refused as libvirt does");
    TAP_CHECK(!hvd_nodedev_detach("pci_0000_02_10_0", "xen", &e8) &&
                  err_has(e8, 8, "unknown driver name 'xen'"),
              "unknown driver name refused");
    TAP_CHECK(!hvd_nodedev_detach("computer", NULL, &e9) && err_has(e9, 55, "not a PCI device"),
              "computer cannot be detached");
}

static void test_reset(void)
{
    g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL;
    TAP_CHECK(!hvd_nodedev_reset("pci_0000_02_00_0", &e1) &&
                  err_has(e1, 55, "bound to host driver 'igb'"),
              "reset refused while a host driver owns the device");
    TAP_CHECK(!hvd_nodedev_reset("pci_0000_00_00_0", &e2) && err_has(e2, 84, "no reset method"),
              "reset without a reset attribute: unsupported");
    hvd_nodedev_detach("pci_0000_02_10_0", NULL, NULL);
    g_string_truncate(writes, 0);
    TAP_CHECK(hvd_nodedev_reset("pci_0000_02_10_0", &e3), "reset a detached VF");
    TAP_EQ_STR(writes->str, "bus/pci/devices/0000:02:10.0/reset=1;", "reset writes 1 to reset");
    hvd_nodedev_reattach("pci_0000_02_10_0", NULL);
}

static void test_hostdevs(void)
{
    HvdNodedevHostdev vf2 = { .addr = { 0, 2, 0x10, 2 }, .managed = true };
    g_autoptr(GError) e1 = NULL;
    TAP_CHECK(hvd_nodedev_prepare_hostdevs("vm1", &vf2, 1, &e1),
              "prepare managed VF for vm1: %s", e1 ? e1->message : "ok");
    g_autofree char *d = driver_of("0000:02:10.2");
    TAP_EQ_STR(d, "vfio-pci", "managed hostdev detached to vfio-pci");
    g_autofree char *user = hvd_nodedev_used_by(&vf2.addr);
    TAP_EQ_STR(user, "vm1", "used_by = vm1");
    TAP_EQ_U64(hvd_nodedev_vfio_group(&vf2.addr, NULL), 4, "VFIO group of the VF");

    g_autoptr(GError) e2 = NULL, e3 = NULL, e4 = NULL, e5 = NULL;
    TAP_CHECK(!hvd_nodedev_reattach("pci_0000_02_10_2", &e2) && err_has(e2, 55, "in use by domain 'vm1'"),
              "reattach refused while vm1 uses it");
    TAP_CHECK(!hvd_nodedev_reset("pci_0000_02_10_2", &e3) && err_has(e3, 55, "in use by domain 'vm1'"),
              "reset refused while vm1 uses it");
    TAP_CHECK(!hvd_nodedev_detach("pci_0000_02_10_2", NULL, &e4) && err_has(e4, 55, "in use by domain 'vm1'"),
              "detach refused while vm1 uses it");
    TAP_CHECK(!hvd_nodedev_prepare_hostdevs("vm2", &vf2, 1, &e5) &&
                  err_has(e5, 55, "in use by domain 'vm1'"),
              "a second domain cannot take it");

    /* The user survives a daemon restart (recorded in the state dir). */
    hvd_nodedev_shutdown();
    init_driver("");
    g_free(user);
    user = hvd_nodedev_used_by(&vf2.addr);
    TAP_EQ_STR(user, "vm1", "used_by survives a restart");

    hvd_nodedev_release_hostdevs("vm1");
    g_free(d);
    d = driver_of("0000:02:10.2");
    TAP_EQ_STR(d, "igbvf", "release reattaches the managed device");
    g_free(user);
    user = hvd_nodedev_used_by(&vf2.addr);
    TAP_CHECK(user == NULL, "no user after release");

    HvdNodedevHostdev unmanaged = { .addr = { 0, 2, 0x10, 0 }, .managed = false };
    g_autoptr(GError) e6 = NULL;
    TAP_CHECK(!hvd_nodedev_prepare_hostdevs("vm1", &unmanaged, 1, &e6) &&
                  err_has(e6, 55, "not bound to vfio-pci (driver: igbvf)"),
              "unmanaged hostdev on a host driver refused");

    /* All or nothing: the second device fails (busy group), the first is given back. */
    HvdNodedevHostdev two[2] = { { .addr = { 0, 2, 0x10, 0 }, .managed = true },
                                 { .addr = { 0, 0, 0x1f, 3 }, .managed = true } };
    g_autoptr(GError) e7 = NULL;
    TAP_CHECK(!hvd_nodedev_prepare_hostdevs("vm3", two, 2, &e7) && err_has(e7, 55, "0000:00:1f.2"),
              "prepare fails on the busy group");
    g_free(d);
    d = driver_of("0000:02:10.0");
    g_autofree char *u0 = hvd_nodedev_used_by(&two[0].addr);
    TAP_CHECK(d && strcmp(d, "igbvf") == 0 && u0 == NULL, "first device rolled back to igbvf, unowned");

    HvdNodedevHostdev missing = { .addr = { 0, 7, 0, 0 }, .managed = true };
    g_autoptr(GError) e8 = NULL;
    TAP_CHECK(!hvd_nodedev_prepare_hostdevs("vm1", &missing, 1, &e8) && err_has(e8, 53, "0000:07:00.0 not found"),
              "missing host device named");
}

/* ---------------------------------------------------------------- RPC */

static GBytes *call(struct rpc_client *c, struct fake_transport *t, int32_t proc, uint32_t serial,
                    struct xdr_writer *args)
{
    guint before = t->frames->len;
    g_autoptr(GBytes) f = make_frame(0x20008086u, proc, 0, serial, args->data, args->len);
    feed_bytes(c, f);
    for (int i = 0; i < 500 && t->frames->len == before; i++) {
        if (!g_main_context_iteration(NULL, FALSE))
            g_usleep(2000);
    }
    xdr_writer_free(args);
    return t->frames->len > before ? g_bytes_ref(t->frames->pdata[t->frames->len - 1]) : NULL;
}

static void test_rpc(void)
{
    g_setenv("HVD_NODEDEV_SYSFS_ROOT", root, TRUE);
    g_setenv("HVD_NODEDEV_PCI_IDS", pci_ids, TRUE);
    TAP_CHECK(remote_nodedev_register(state_dir), "remote_nodedev_register");
    struct fake_transport t;
    struct rpc_client *c = fake_client(&t, false);
    rpc_client_set_open(c, "hvd:///system", false);
    struct xdr_writer w;
    struct xdr_reader r;

    /* virsh nodedev-list: LIST_ALL(1, ACTIVE). */
    xdr_writer_init(&w, 0);
    xdr_put_i32(&w, 1);
    xdr_put_u32(&w, 0x80000000u);
    g_autoptr(GBytes) f1 = call(c, &t, 285, 1, &w);
    TAP_CHECK(f1 && frame_header(f1).status == 0, "LIST_ALL_NODE_DEVICES with ACTIVE succeeds");
    if (f1) {
        frame_payload(f1, &r);
        uint32_t n = xdr_get_u32(&r);
        g_autofree char *first = xdr_get_string(&r, 1000);
        for (uint32_t i = 1; i < n; i++)
            g_free(xdr_get_string(&r, 1000));
        uint32_t ret = xdr_get_u32(&r);
        TAP_CHECK(xdr_ok(&r) && n == 9 && ret == 9 && first && strcmp(first, "computer") == 0 &&
                      xdr_remaining(&r) == 0,
                  "9 devices, computer first, ret 9");
    }
    /* Legacy: NODE_LIST_DEVICES(cap absent, maxnames 2). */
    xdr_writer_init(&w, 0);
    xdr_put_u32(&w, 0);
    xdr_put_i32(&w, 2);
    xdr_put_u32(&w, 0);
    g_autoptr(GBytes) f2 = call(c, &t, 112, 2, &w);
    if (f2) {
        frame_payload(f2, &r);
        uint32_t n = xdr_get_u32(&r);
        TAP_CHECK(frame_header(f2).status == 0 && n == 2, "NODE_LIST_DEVICES honours maxnames");
    } else {
        TAP_CHECK(false, "NODE_LIST_DEVICES answered");
    }
    /* Unknown device: error 53/22 as libvirtd (trace 36). */
    xdr_writer_init(&w, 0);
    xdr_put_string(&w, "nosuchdev", 1000);
    g_autoptr(GBytes) f3 = call(c, &t, 113, 3, &w);
    int code = 0, dom = 0;
    g_autofree char *msg = NULL;
    TAP_CHECK(f3 && frame_header(f3).status == 1 && decode_error(f3, &code, &dom, &msg) &&
                  code == 53 && dom == 22 && msg &&
                  strcmp(msg, "Node device not found: no node device with matching name 'nosuchdev'") == 0,
              "LOOKUP_BY_NAME of an unknown device: libvirtd's error");
    /* GET_XML_DESC and GET_PARENT. */
    xdr_writer_init(&w, 0);
    xdr_put_string(&w, "pci_0000_02_00_0", 1000);
    xdr_put_u32(&w, 0);
    g_autoptr(GBytes) f4 = call(c, &t, 114, 4, &w);
    if (f4) {
        frame_payload(f4, &r);
        g_autofree char *xml = xdr_get_string(&r, 1 << 22);
        TAP_EQ_STR(xml, pf_xml, "GET_XML_DESC returns the PF XML");
    } else {
        TAP_CHECK(false, "GET_XML_DESC answered");
    }
    xdr_writer_init(&w, 0);
    xdr_put_string(&w, "computer", 1000);
    g_autoptr(GBytes) f5 = call(c, &t, 115, 5, &w);
    if (f5) {
        frame_payload(f5, &r);
        TAP_CHECK(frame_header(f5).status == 0 && xdr_get_u32(&r) == 0 && xdr_remaining(&r) == 0,
                  "GET_PARENT of computer: absent");
    } else {
        TAP_CHECK(false, "GET_PARENT answered");
    }
    /* DETTACH (deferred, worker thread) then RE_ATTACH. */
    xdr_writer_init(&w, 0);
    xdr_put_string(&w, "pci_0000_02_10_0", 1000);
    g_autoptr(GBytes) f6 = call(c, &t, 118, 6, &w);
    g_autofree char *d = driver_of("0000:02:10.0");
    TAP_CHECK(f6 && frame_header(f6).status == 0 && frame_header(f6).serial == 6 && d &&
                  strcmp(d, "vfio-pci") == 0,
              "NODE_DEVICE_DETTACH binds vfio-pci and replies");
    xdr_writer_init(&w, 0);
    xdr_put_string(&w, "pci_0000_02_10_0", 1000);
    g_autoptr(GBytes) f7 = call(c, &t, 119, 7, &w);
    g_free(d);
    d = driver_of("0000:02:10.0");
    TAP_CHECK(f7 && frame_header(f7).status == 0 && d && strcmp(d, "igbvf") == 0,
              "NODE_DEVICE_RE_ATTACH gives it back");
    /* DETACH_FLAGS with a bad driver name: error through the thread. */
    xdr_writer_init(&w, 0);
    xdr_put_string(&w, "pci_0000_02_10_0", 1000);
    xdr_put_optional_string(&w, "xen", 1000);
    xdr_put_u32(&w, 0);
    g_autoptr(GBytes) f8 = call(c, &t, 301, 8, &w);
    g_free(msg);
    msg = NULL;
    TAP_CHECK(f8 && frame_header(f8).status == 1 && decode_error(f8, &code, &dom, &msg) && code == 8,
              "DETACH_FLAGS with driver 'xen': INVALID_ARG (%s)", msg ? msg : "");
    /* Truncated args. */
    xdr_writer_init(&w, 0);
    xdr_put_u32(&w, 100);
    g_autoptr(GBytes) f9 = call(c, &t, 120, 9, &w);
    TAP_CHECK(f9 && frame_header(f9).status == 1, "undecodable RESET args refused");
    fake_free(&t, c);

    /* Read-only clients may list but not detach. */
    struct rpc_client *ro = fake_client(&t, true);
    rpc_client_set_open(ro, "hvd:///system", true);
    xdr_writer_init(&w, 0);
    xdr_put_string(&w, "pci_0000_02_10_0", 1000);
    g_autoptr(GBytes) f10 = call(ro, &t, 118, 1, &w);
    g_free(msg);
    msg = NULL;
    TAP_CHECK(f10 && frame_header(f10).status == 1 && decode_error(f10, &code, &dom, &msg) &&
                  code == 6 /* OPERATION_DENIED */,
              "read-only DETTACH denied");
    xdr_writer_init(&w, 0);
    xdr_put_i32(&w, 0);
    xdr_put_u32(&w, 0);
    g_autoptr(GBytes) f11 = call(ro, &t, 285, 2, &w);
    TAP_CHECK(f11 && frame_header(f11).status == 0, "read-only LIST_ALL allowed");
    fake_free(&t, ro);
    rpc_unregister_all();
}

int main(void)
{
    g_autofree char *tmp = g_dir_make_tmp("test-nodedev-XXXXXX", NULL);
    root = g_build_filename(tmp, "sys", NULL);
    state_dir = g_build_filename(tmp, "state", NULL);
    g_mkdir_with_parents(root, 0755);
    g_mkdir_with_parents(state_dir, 0755);
    writes = g_string_new(NULL);
    build_tree();
    hvd_vfio_set_write_hook(kernel_hook, NULL);
    init_driver("");

    test_names();
    test_lists();
    test_xml();
    test_detach_reattach();
    test_reset();
    test_hostdevs();
    test_rpc();

    hvd_nodedev_shutdown();
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", tmp);
    g_string_free(writes, TRUE);
    return tap_done();
}
