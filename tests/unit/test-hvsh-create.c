/* hvsh create's XML composition: the elements it writes, and the result
 * validated against libvirt's own domain.rng. */
#include "tests/tap.h"
#include "tools/hvsh/hvsh.h"

#include <libxml/relaxng.h>
#include <libxml/xpath.h>

#define DOMAIN_RNG "/usr/share/libvirt/schemas/domain.rng"

static char *xpath_string(xmlDoc *doc, const char *expr)
{
    xmlXPathContext *ctx = xmlXPathNewContext(doc);
    xmlXPathObject *obj = xmlXPathEvalExpression(BAD_CAST expr, ctx);
    char *out = NULL;
    if (obj) {
        xmlChar *s = xmlXPathCastToString(obj);
        out = g_strdup((const char *)s);
        xmlFree(s);
        xmlXPathFreeObject(obj);
    }
    xmlXPathFreeContext(ctx);
    return out;
}

static void check_xpath(xmlDoc *doc, const char *expr, const char *expected)
{
    char *got = xpath_string(doc, expr);
    TAP_EQ_STR(got, expected, expr);
    g_free(got);
}

static void validate(const char *xml, const char *what)
{
    if (access(DOMAIN_RNG, R_OK) != 0) {
        TAP_CHECK(1, "# SKIP %s: %s not installed", what, DOMAIN_RNG);
        return;
    }
    xmlRelaxNGParserCtxt *pctx = xmlRelaxNGNewParserCtxt(DOMAIN_RNG);
    xmlRelaxNG *schema = xmlRelaxNGParse(pctx);
    xmlRelaxNGValidCtxt *vctx = xmlRelaxNGNewValidCtxt(schema);
    xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), "d.xml", NULL, 0);
    TAP_CHECK(doc && xmlRelaxNGValidateDoc(vctx, doc) == 0, "%s validates against libvirt's domain.rng", what);
    xmlFreeDoc(doc);
    xmlRelaxNGFreeValidCtxt(vctx);
    xmlRelaxNGFree(schema);
    xmlRelaxNGFreeParserCtxt(pctx);
}

static void test_full(void)
{
    GError *err = NULL;
    GPtrArray *disks = g_ptr_array_new_with_free_func((GDestroyNotify)hvsh_disk_spec_free);
    GPtrArray *nics = g_ptr_array_new_with_free_func((GDestroyNotify)hvsh_nic_spec_free);
    GPtrArray *hostdevs = g_ptr_array_new();
    const char *disk_specs[] = { "path=/img/root.img", "path=/img/data.iso,readonly=on" };
    for (size_t i = 0; i < 2; i++) {
        struct hvsh_disk_spec *d = g_new0(struct hvsh_disk_spec, 1);
        hvsh_disk_spec_parse(disk_specs[i], d, &err);
        g_ptr_array_add(disks, d);
    }
    const char *nic_specs[] = { "model=virtio,bridge=br0,vhost=off,queues=2,mac=52:54:00:00:00:01",
                                "model=e1000,ifname=tap5", "model=virtio,ifname=tap6,vhost=on" };
    for (size_t i = 0; i < 3; i++) {
        struct hvsh_nic_spec *n = g_new0(struct hvsh_nic_spec, 1);
        TAP_CHECK(hvsh_nic_spec_parse(nic_specs[i], n, &err), "nic spec %zu parses", i);
        g_ptr_array_add(nics, n);
    }
    g_ptr_array_add(hostdevs, "0000:02:10.1");
    struct hvsh_create_spec spec = {
        .name = "web1", .memory_kib = 524288, .vcpus = 2, .kernel = "/k/vmlinuz",
        .initrd = "/k/initrd.img", .cmdline = "console=ttyS0 quiet", .disks = disks, .nics = nics,
        .balloon = true, .balloon_period = 5, .hostdevs = hostdevs,
    };
    char *xml = hvsh_create_compose_xml(&spec, &err);
    TAP_CHECK(xml != NULL, "composed (%s)", err ? err->message : "ok");
    if (!xml)
        return;
    xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), "d.xml", NULL, 0);
    TAP_CHECK(doc != NULL, "well-formed");
    check_xpath(doc, "string(/domain/@type)", "kvm");
    check_xpath(doc, "string(/domain/name)", "web1");
    check_xpath(doc, "string(/domain/memory)", "524288");
    check_xpath(doc, "string(/domain/currentMemory)", "524288");
    check_xpath(doc, "string(/domain/vcpu)", "2");
    check_xpath(doc, "string(/domain/os/type)", "hvm");
    check_xpath(doc, "string(/domain/os/type/@arch)", "x86_64");
    check_xpath(doc, "string(/domain/os/kernel)", "/k/vmlinuz");
    check_xpath(doc, "string(/domain/os/initrd)", "/k/initrd.img");
    check_xpath(doc, "string(/domain/os/cmdline)", "console=ttyS0 quiet");
    check_xpath(doc, "count(/domain/devices/disk)", "2");
    check_xpath(doc, "string(/domain/devices/disk[1]/source/@file)", "/img/root.img");
    check_xpath(doc, "string(/domain/devices/disk[1]/target/@dev)", "vda");
    check_xpath(doc, "string(/domain/devices/disk[1]/target/@bus)", "virtio");
    check_xpath(doc, "count(/domain/devices/disk[1]/readonly)", "0");
    check_xpath(doc, "string(/domain/devices/disk[2]/target/@dev)", "vdb");
    check_xpath(doc, "count(/domain/devices/disk[2]/readonly)", "1");
    check_xpath(doc, "count(/domain/devices/interface)", "3");
    check_xpath(doc, "string(/domain/devices/interface[@type='bridge']/source/@bridge)", "br0");
    check_xpath(doc, "string(/domain/devices/interface[@type='bridge']/model/@type)", "virtio");
    check_xpath(doc, "string(/domain/devices/interface[@type='bridge']/mac/@address)", "52:54:00:00:00:01");
    check_xpath(doc, "string(/domain/devices/interface[@type='bridge']/driver/@name)", "qemu");
    check_xpath(doc, "string(/domain/devices/interface[@type='bridge']/driver/@queues)", "2");
    check_xpath(doc, "string(/domain/devices/interface[target/@dev='tap5']/@type)", "ethernet");
    check_xpath(doc, "string(/domain/devices/interface[target/@dev='tap5']/model/@type)", "e1000");
    check_xpath(doc, "count(/domain/devices/interface[target/@dev='tap5']/driver)", "0");
    check_xpath(doc, "string(/domain/devices/interface[target/@dev='tap6']/driver/@name)", "vhost");
    check_xpath(doc, "string(/domain/devices/memballoon/@model)", "virtio");
    check_xpath(doc, "string(/domain/devices/memballoon/stats/@period)", "5");
    check_xpath(doc, "string(/domain/devices/hostdev/@mode)", "subsystem");
    check_xpath(doc, "string(/domain/devices/hostdev/@type)", "pci");
    check_xpath(doc, "string(/domain/devices/hostdev/@managed)", "yes");
    check_xpath(doc, "string(/domain/devices/hostdev/source/address/@bus)", "0x02");
    check_xpath(doc, "string(/domain/devices/hostdev/source/address/@slot)", "0x10");
    check_xpath(doc, "string(/domain/devices/hostdev/source/address/@function)", "0x1");
    TAP_CHECK(!g_str_has_prefix(xml, "<?xml"), "no XML declaration (as libvirt prints domains)");
    xmlFreeDoc(doc);
    validate(xml, "full domain");
    g_free(xml);
    g_ptr_array_unref(disks);
    g_ptr_array_unref(nics);
    g_ptr_array_unref(hostdevs);
}

static void test_minimal_and_errors(void)
{
    GError *err = NULL;
    struct hvsh_create_spec spec = { .name = "m", .memory_kib = 131072, .vcpus = 1, .kernel = "/k" };
    char *xml = hvsh_create_compose_xml(&spec, &err);
    TAP_CHECK(xml != NULL, "minimal domain composes");
    if (xml) {
        xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), "d.xml", NULL, 0);
        check_xpath(doc, "count(/domain/devices/*)", "0");
        check_xpath(doc, "count(/domain/os/initrd)", "0");
        xmlFreeDoc(doc);
        validate(xml, "minimal domain");
    }
    g_free(xml);

    spec.kernel = NULL;
    TAP_CHECK(hvsh_create_compose_xml(&spec, &err) == NULL, "no kernel refused");
    TAP_CHECK(err && strstr(err->message, "--kernel"), "error names --kernel");
    g_clear_error(&err);

    spec.kernel = "/k";
    GPtrArray *hostdevs = g_ptr_array_new();
    g_ptr_array_add(hostdevs, "zz:zz.z");
    spec.hostdevs = hostdevs;
    TAP_CHECK(hvsh_create_compose_xml(&spec, &err) == NULL, "bad hostdev refused");
    TAP_CHECK(err && strstr(err->message, "zz:zz.z"), "error names the address");
    g_clear_error(&err);
    g_ptr_array_unref(hostdevs);

    /* XML special characters in values are escaped, not injected */
    struct hvsh_create_spec evil = { .name = "a<b&c", .memory_kib = 1024, .vcpus = 1,
                                     .kernel = "/k'\"", .cmdline = "x</cmdline><y>" };
    xml = hvsh_create_compose_xml(&evil, &err);
    TAP_CHECK(xml != NULL, "special characters compose");
    if (xml) {
        xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), "d.xml", NULL, 0);
        TAP_CHECK(doc != NULL, "still well-formed");
        check_xpath(doc, "string(/domain/name)", "a<b&c");
        check_xpath(doc, "string(/domain/os/cmdline)", "x</cmdline><y>");
        xmlFreeDoc(doc);
    }
    g_free(xml);
}

int main(void)
{
    test_full();
    test_minimal_and_errors();
    return tap_done();
}
