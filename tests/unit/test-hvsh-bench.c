/* hvsh bench's pure parts: bench/net.sh's RESULT lines, the table and JSON,
 * the KVM check on fake trees, finding the source tree of a build tree. */
#include "tests/tap.h"
#include "tools/hvsh/bench.h"
#include "tools/hvsh/hvsh.h"

#include <math.h>
#include <string.h>

static void put(const char *root, const char *path, const char *text)
{
    char *full = g_build_filename(root, path, NULL);
    char *dir = g_path_get_dirname(full);
    g_mkdir_with_parents(dir, 0755);
    g_file_set_contents(full, text, -1, NULL);
    g_free(dir);
    g_free(full);
}

static const char good[] =
    "# progress is ignored\n"
    "RESULT e1000 hv 31.5 160 590.25 1 1 emulated\n"
    "RESULT vhost hv 350 880.5 4.5 1 1 vhost-net\n"
    "RESULT mq  qemu - 901 - 0 2 vhost-net\n"
    "trailing text\n";

static void test_parse(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) rows = hvsh_bench_parse(good, &err);
    TAP_CHECK(rows != NULL && err == NULL, "good output parses");
    if (!rows)
        return;
    TAP_EQ_U64(rows->len, 3, "three RESULT rows, other lines ignored");
    const struct hvsh_bench_row *e = g_ptr_array_index(rows, 0);
    TAP_EQ_STR(e->config, "e1000", "row 1 config");
    TAP_EQ_STR(e->vmm, "hv", "row 1 vmm");
    TAP_CHECK(e->g2h_mbps == 31.5 && e->h2g_mbps == 160 && e->ping_ms == 590.25,
              "row 1 numbers 31.5 / 160 / 590.25");
    TAP_EQ_STR(e->plane, "emulated", "row 1 data plane");
    const struct hvsh_bench_row *m = g_ptr_array_index(rows, 2);
    TAP_CHECK(isnan(m->g2h_mbps) && m->h2g_mbps == 901 && isnan(m->ping_ms),
              "\"-\" becomes NAN, repeated blanks are one separator");
    TAP_CHECK(m->ok_runs == 0 && m->runs == 2, "run counts 0/2");

    static const struct {
        const char *text, *needle, *label;
    } bad[] = {
        { "RESULT e1000 hv 1 2 3 1 1\n", "line 1: expected 9 fields", "too few fields" },
        { "x\nRESULT e1000 hv 1 2 3 1 1 emulated extra\n", "line 2: expected 9", "too many fields" },
        { "RESULT rtl8139 hv 1 2 3 1 1 emulated\n", "unknown configuration", "unknown config" },
        { "RESULT e1000 xen 1 2 3 1 1 emulated\n", "unknown VMM", "unknown VMM" },
        { "RESULT e1000 hv fast 2 3 1 1 emulated\n", "neither a number", "word for a number" },
        { "RESULT e1000 hv -5 2 3 1 1 emulated\n", "neither a number", "negative rate" },
        { "RESULT e1000 hv nan 2 3 1 1 emulated\n", "neither a number", "nan" },
        { "RESULT e1000 hv 1 2 3 2 1 emulated\n", "OK_RUNS <= RUNS", "more ok runs than runs" },
        { "RESULT e1000 hv 1 2 3 x 1 emulated\n", "OK_RUNS <= RUNS", "run count not a number" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) e2 = NULL;
        g_autoptr(GPtrArray) r = hvsh_bench_parse(bad[i].text, &e2);
        TAP_CHECK(r == NULL && e2 && strstr(e2->message, bad[i].needle), "rejects %s (%s)",
                  bad[i].label, e2 ? e2->message : "accepted");
    }
    g_autoptr(GPtrArray) empty = hvsh_bench_parse("", NULL);
    TAP_CHECK(empty && empty->len == 0, "empty output: no rows, no error");
    g_autoptr(GPtrArray) none = hvsh_bench_parse(NULL, NULL);
    TAP_CHECK(none && none->len == 0, "NULL output: no rows");
}

static void test_render(void)
{
    g_autoptr(GPtrArray) rows = hvsh_bench_parse(good, NULL);
    g_autofree char *text = hvsh_bench_to_text(rows, false);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    TAP_CHECK(g_strv_length(lines) >= 5, "text: header, dashes and 3 rows");
    TAP_CHECK(strstr(lines[0], "NIC") && strstr(lines[0], "Guest->host Mbit/s") &&
                  !strstr(lines[0], "VMM"),
              "text header without VMM column: %s", lines[0]);
    TAP_CHECK(strstr(lines[2], "e1000 (emulated)") && strstr(lines[2], " 32 ") &&
                  strstr(lines[2], " 160 ") && strstr(lines[2], "590.25") &&
                  strstr(lines[2], "1/1"),
              "e1000 row: rounded rate, ping with 2 decimals: %s", lines[2]);
    TAP_CHECK(strstr(lines[4], "virtio-net + vhost-net") && strstr(lines[4], " 2 ") &&
                  strstr(lines[4], "0/2"),
              "mq row: 2 queues/vCPUs, 0/2 runs: %s", lines[4]);
    g_autofree char *with_vmm = hvsh_bench_to_text(rows, true);
    TAP_CHECK(g_str_has_prefix(with_vmm, " VMM") || g_str_has_prefix(with_vmm, "VMM"),
              "--qemu table starts with the VMM column");
    TAP_CHECK(strstr(with_vmm, "qemu") != NULL, "qemu row shown");

    json_object *arr = hvsh_bench_to_json(rows);
    TAP_EQ_U64(json_object_array_length(arr), 3, "JSON: three objects");
    json_object *first = json_object_array_get_idx(arr, 0), *v;
    TAP_CHECK(json_object_object_get_ex(first, "guest_to_host_mbps", &v) &&
                  json_object_is_type(v, json_type_double) && json_object_get_double(v) == 31.5,
              "JSON: guest_to_host_mbps is the number 31.5");
    TAP_CHECK(json_object_object_get_ex(first, "data_plane", &v) &&
                  strcmp(json_object_get_string(v), "emulated") == 0,
              "JSON: data_plane");
    json_object *mq = json_object_array_get_idx(arr, 2);
    TAP_CHECK(json_object_object_get_ex(mq, "ping_ms", &v) && v == NULL, "JSON: missing ping is null");
    TAP_CHECK(json_object_object_get_ex(mq, "queues", &v) && json_object_get_int(v) == 2 &&
                  json_object_object_get_ex(mq, "vcpus", &v) && json_object_get_int(v) == 2,
              "JSON: mq has 2 queues and 2 vCPUs");
    json_object_put(arr);
}

static void test_host(void)
{
    g_autofree char *root = g_dir_make_tmp("hvsh-bench-XXXXXX", NULL);
    char *why = NULL;
    TAP_CHECK(!hvsh_bench_kvm_boots_linux(root, &why) && why && strstr(why, "/dev/kvm"),
              "no /dev/kvm: says so (%s)", why ? why : "");
    g_free(why);
    why = NULL;
    put(root, "dev/kvm", "");
    put(root, "proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu vme sse2 hypervisor\n");
    TAP_CHECK(!hvsh_bench_kvm_boots_linux(root, &why) && why && strstr(why, "vmx or svm"),
              "no vmx/svm: nested KVM named (%s)", why ? why : "");
    g_free(why);
    why = NULL;
    put(root, "proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu vme svmx sse2\n");
    TAP_CHECK(!hvsh_bench_kvm_boots_linux(root, &why), "a flag containing 'vmx' is not vmx");
    g_free(why);
    why = NULL;
    put(root, "proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu vme vmx sse2\n");
    TAP_CHECK(hvsh_bench_kvm_boots_linux(root, &why) && why == NULL, "vmx and /dev/kvm: boots Linux");

    /* A build tree: build/Makefile names the source tree; hvsh sits in tools/hvsh. */
    put(root, "build/Makefile", "abs_top_builddir = /x\nabs_top_srcdir = /src/hvd\nfoo = 1\n");
    put(root, "build/tools/hvsh/Makefile.not", "");
    g_autofree char *exe_dir = g_build_filename(root, "build", "tools", "hvsh", NULL);
    g_autofree char *build_root = NULL;
    g_autofree char *src = hvsh_bench_find_srcdir(exe_dir, &build_root);
    g_autofree char *want_build = g_build_filename(root, "build", NULL);
    TAP_EQ_STR(src ? src : "(null)", "/src/hvd", "source tree from the build tree's Makefile");
    TAP_EQ_STR(build_root ? build_root : "(null)", want_build, "build tree root");
    g_autofree char *other = g_build_filename(root, "elsewhere", NULL);
    g_mkdir_with_parents(other, 0755);
    g_autofree char *none_build = NULL;
    g_autofree char *none = hvsh_bench_find_srcdir(other, &none_build);
    TAP_CHECK(none == NULL && none_build == NULL, "no Makefile above: no source tree");
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", root);
    TAP_CHECK(system(cmd) == 0, "clean up");
}

int main(void)
{
    test_parse();
    test_render();
    test_host();
    return tap_done();
}
