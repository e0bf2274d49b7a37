/* drivers/domain/interfaces.c and the "nics" of the machine description
 * (drivers/domain/process.c), without creating any tap: refusals that
 * come before a tap exists, the fd numbering, the JSON hv reads, the
 * interface lookup of domifstat and libvirt's rx/tx swap of the counters.
 * (test-driver starts domains with real taps when the host allows.) */
#include <glib.h>
#include <glib/gstdio.h>
#include <json-c/json.h>
#include <string.h>

#include "drivers/domain/interfaces.h"
#include "drivers/domain/process.h"
#include "tests/tap.h"

static DomainDef *parse(const char *devices)
{
    g_autofree char *xml = g_strdup_printf(
        "<domain type='kvm'><name>n</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>"
        "<os><type>hvm</type><kernel>/boot/vmlinuz</kernel></os><devices>%s</devices></domain>",
        devices);
    GError *err = NULL;
    DomainDef *def = domain_def_parse_string(xml, 0, &err);
    if (!def)
        printf("# parse: %s\n", err->message);
    g_clear_error(&err);
    return def;
}

static void test_refusals(void)
{
    const struct {
        const char *devices, *expect;
    } cases[] = {
        { "<interface type='network'><source network='default'/></interface>",
          "type 'network' is not supported" },
        /* (e1000 with <driver name/queues> is refused by the parser) */
        { "<interface type='ethernet'><model type='virtio'/><driver queues='9'/></interface>",
          "at most 8" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(DomainDef) def = parse(cases[i].devices);
        GError *err = NULL;
        HvdInterfaces *ifs = def ? hvd_interfaces_open(def, "/nonexistent", &err) : NULL;
        TAP_CHECK(def && !ifs && hvd_vir_error_number(err) == VIR_ERR_CONFIG_UNSUPPORTED &&
                      strstr(err->message, cases[i].expect) && strstr(err->message, "net0"),
                  "refused: %s", err ? err->message : "(accepted)");
        hvd_interfaces_free(ifs);
        g_clear_error(&err);
    }
    /* Without prepared taps the description refuses interfaces. */
    g_autoptr(DomainDef) def = parse("<interface type='ethernet'/>");
    g_autoptr(HvdProcessPaths) paths = hvd_process_paths_new("/run/x", "/log/x", "n");
    GError *err = NULL;
    char *json = def ? hvd_process_machine_json(def, paths, NULL, &err) : NULL;
    TAP_CHECK(!json && hvd_vir_error_number(err) == VIR_ERR_CONFIG_UNSUPPORTED,
              "no taps, no description: %s", err ? err->message : "");
    g_free(json);
    g_clear_error(&err);
}

/* Interfaces as hvd_interfaces_open leaves them, with made-up fd numbers
 * (nothing is opened or closed: fds stay -1 on the daemon side). */
static HvdInterfaces *fake_interfaces(void)
{
    HvdInterfaces *ifs = g_new0(HvdInterfaces, 1);
    ifs->n = 2;
    ifs->ifaces = g_new0(HvdInterface, 2);
    const unsigned nfds[2] = { 2, 1 };
    int next = HVD_INTERFACES_FIRST_CHILD_FD;
    for (int i = 0; i < 2; i++) {
        HvdInterface *ifc = &ifs->ifaces[i];
        ifc->tap = g_new0(HvdTap, 1);
        g_snprintf(ifc->tap->ifname, sizeof(ifc->tap->ifname), "vnet%d", i + 4);
        ifc->tap->n_fds = nfds[i];
        ifc->tap->tap_fds = g_new(int, nfds[i]);
        ifc->child_tap_fds = g_new(int, nfds[i]);
        for (unsigned q = 0; q < nfds[i]; q++) {
            ifc->tap->tap_fds[q] = -1;
            ifc->child_tap_fds[q] = next++;
        }
        if (i == 0) {
            ifc->tap->vhost_fds = g_new(int, nfds[i]);
            ifc->child_vhost_fds = g_new(int, nfds[i]);
            for (unsigned q = 0; q < nfds[i]; q++) {
                ifc->tap->vhost_fds[q] = -1;
                ifc->child_vhost_fds[q] = next++;
            }
        }
        ifc->model = i == 0 ? "virtio" : "e1000";
        ifc->vhost = i == 0 ? "on" : NULL;
    }
    return ifs;
}

static void test_machine_json(void)
{
    g_autoptr(DomainDef) def = parse(
        "<interface type='ethernet'><mac address='52:54:00:00:00:0a'/><model type='virtio'/>"
        "<driver name='vhost' queues='2'/></interface>"
        "<interface type='bridge'><mac address='52:54:00:00:00:0b'/><source bridge='br0'/>"
        "<model type='e1000'/></interface>");
    g_autoptr(HvdInterfaces) ifs = fake_interfaces();
    g_autoptr(HvdProcessPaths) paths = hvd_process_paths_new("/run/x", "/log/x", "n");
    GError *err = NULL;
    g_autofree char *json = def ? hvd_process_machine_json(def, paths, ifs, &err) : NULL;
    TAP_CHECK(json != NULL, "description with nics (%s)", err ? err->message : "ok");
    g_clear_error(&err);
    json_object *o = json ? json_tokener_parse(json) : NULL, *nics = NULL;
    TAP_CHECK(o && json_object_object_get_ex(o, "nics", &nics) &&
                  json_object_array_length(nics) == 2,
              "two nics");
    if (nics && json_object_array_length(nics) == 2) {
        TAP_EQ_STR(json_object_to_json_string_ext(json_object_array_get_idx(nics, 0),
                                                  JSON_C_TO_STRING_PLAIN),
                   "{\"model\":\"virtio\",\"id\":\"net0\",\"mac\":\"52:54:00:00:00:0a\","
                   "\"fds\":[3,4],\"vhostfds\":[5,6],\"vhost\":\"on\",\"queues\":2}",
                   "virtio nic: queue fds, vhost fds, MAC, alias");
        TAP_EQ_STR(json_object_to_json_string_ext(json_object_array_get_idx(nics, 1),
                                                  JSON_C_TO_STRING_PLAIN),
                   "{\"model\":\"e1000\",\"id\":\"net1\",\"mac\":\"52:54:00:00:00:0b\","
                   "\"fds\":[7]}",
                   "e1000 nic: one fd after the vhost fds");
    }
    json_object_put(o);

    g_autoptr(GArray) src = g_array_new(FALSE, FALSE, sizeof(int));
    g_autoptr(GArray) dst = g_array_new(FALSE, FALSE, sizeof(int));
    hvd_interfaces_fd_map(ifs, src, dst);
    bool in_order = dst->len == 5;
    for (guint i = 0; in_order && i < dst->len; i++)
        in_order = g_array_index(dst, int, i) == (int)(3 + i);
    TAP_CHECK(src->len == 5 && in_order, "spawn maps five fds to 3..7");

    char **names = hvd_interfaces_ifnames(ifs);
    TAP_CHECK(names && g_strv_length(names) == 2 && strcmp(names[0], "vnet4") == 0 &&
                  strcmp(names[1], "vnet5") == 0,
              "tap names in interface order");

    /* domifstat's device: tap name, MAC (any case) or alias. */
    TAP_EQ_U64(hvd_interfaces_find(def, names, "vnet5", NULL), 1, "find by tap name");
    TAP_EQ_U64(hvd_interfaces_find(def, names, "52:54:00:00:00:0A", NULL), 0, "find by MAC");
    TAP_EQ_U64(hvd_interfaces_find(def, names, "net1", NULL), 1, "find by alias");
    TAP_CHECK(hvd_interfaces_find(def, names, "vnet9", &err) == -1 &&
                  hvd_vir_error_number(err) == VIR_ERR_INVALID_ARG &&
                  hvd_vir_error_from(err) == VIR_FROM_DOMAIN,
              "unknown device: INVALID_ARG from the domain module");
    TAP_EQ_STR(err ? err->message : NULL, "invalid argument: 'vnet9' is not a known interface",
               "libvirt's text");
    g_clear_error(&err);
    g_strfreev(names);
}

static void test_stats_swap(void)
{
    g_autofree char *dir = g_dir_make_tmp("test-ifstats-XXXXXX", NULL);
    const char *names[] = { "rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
                            "tx_bytes", "tx_packets", "tx_errors", "tx_dropped" };
    for (int i = 0; i < 8; i++) {
        g_autofree char *p = g_build_filename(dir, names[i], NULL);
        g_autofree char *v = g_strdup_printf("%d\n", (i + 1) * 100);
        g_file_set_contents(p, v, -1, NULL);
    }
    HvdInterfaceStats st = { 0 };
    TAP_CHECK(hvd_interface_stats_read("x", dir, &st, NULL), "read counters from a directory");
    /* The tap's tx (500..800) is what the guest received. */
    TAP_CHECK(st.rx_bytes == 500 && st.rx_packets == 600 && st.rx_errs == 700 &&
                  st.rx_drop == 800 && st.tx_bytes == 100 && st.tx_packets == 200 &&
                  st.tx_errs == 300 && st.tx_drop == 400,
              "rx/tx swapped as libvirt does (rx_bytes %lld)", (long long)st.rx_bytes);
    g_autofree char *bad = g_build_filename(dir, "rx_bytes", NULL);
    g_file_set_contents(bad, "12x\n", -1, NULL);
    GError *err = NULL;
    TAP_CHECK(!hvd_interface_stats_read("x", dir, &st, &err) && err &&
                  strstr(err->message, "rx_bytes"),
              "garbage counter refused: %s", err ? err->message : "");
    g_clear_error(&err);
    TAP_CHECK(!hvd_interface_stats_read("nosuchtap0", NULL, &st, &err) && err &&
                  strstr(err->message, "nosuchtap0"),
              "missing tap named: %s", err ? err->message : "");
    g_clear_error(&err);
    for (int i = 0; i < 8; i++) {
        g_autofree char *p = g_build_filename(dir, names[i], NULL);
        g_unlink(p);
    }
    g_rmdir(dir);
}

int main(void)
{
    test_refusals();
    test_machine_json();
    test_stats_swap();
    return tap_done();
}
