/* hvsh bench: the subject's comparison on the user's own machine. Boots
 * the guest kit under hv with an emulated e1000, virtio-net with the data
 * plane in the worker, virtio-net with vhost-net, and vhost-net with two
 * queue pairs (two vCPUs), and prints iperf3 throughput both ways and the
 * host->guest ping for each (--qemu adds QEMU's figures from the same run).
 *
 * The measuring is bench/net.sh's (run with --raw and parsed here), so the
 * project's benchmark and this command cannot drift apart. Where this
 * host's KVM cannot boot Linux, --testbed runs it inside the nested
 * testbed (tests/testbed/run). */
#include "tools/hvsh/bench.h"
#include "tools/hvsh/hvsh.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---------------------------------------------------------------- pure */

G_DEFINE_QUARK(hvsh-bench-error, hvsh_bench_error)

static void row_free(gpointer p)
{
    struct hvsh_bench_row *r = p;
    g_free(r->config);
    g_free(r->vmm);
    g_free(r->plane);
    g_free(r);
}

/* "-" is NAN; otherwise a finite non-negative decimal number. */
static bool parse_measure(const char *text, double *out)
{
    if (strcmp(text, "-") == 0) {
        *out = NAN;
        return true;
    }
    char *end;
    errno = 0;
    double v = g_ascii_strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || v < 0)
        return false;
    *out = v;
    return true;
}

static bool parse_count(const char *text, unsigned *out)
{
    guint64 v;
    if (!g_ascii_string_to_unsigned(text, 10, 0, 1000000, &v, NULL))
        return false;
    *out = (unsigned)v;
    return true;
}

static bool known_word(const char *w, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(w, *set) == 0)
            return true;
    return false;
}

GPtrArray *hvsh_bench_parse(const char *text, GError **err)
{
    static const char *const configs[] = { "e1000", "virtio", "vhost", "mq", NULL };
    static const char *const vmms[] = { "hv", "qemu", NULL };
    g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func(row_free);
    g_auto(GStrv) lines = g_strsplit(text ? text : "", "\n", -1);
    for (guint i = 0; lines[i]; i++) {
        if (!g_str_has_prefix(lines[i], "RESULT "))
            continue;
        g_auto(GStrv) f = g_strsplit_set(g_strstrip(lines[i]), " \t", -1);
        /* drop empty fields from repeated blanks */
        guint n = 0;
        for (guint k = 0; f[k]; k++)
            if (*f[k])
                f[n++] = f[k];
            else
                g_free(f[k]);
        f[n] = NULL;
        struct hvsh_bench_row r = { 0 };
        const char *bad = NULL;
        if (n != 9)
            bad = "expected 9 fields: RESULT CONFIG VMM G2H H2G PING OK_RUNS RUNS PLANE";
        else if (!known_word(f[1], configs))
            bad = "unknown configuration (e1000, virtio, vhost, mq)";
        else if (!known_word(f[2], vmms))
            bad = "unknown VMM (hv, qemu)";
        else if (!parse_measure(f[3], &r.g2h_mbps) || !parse_measure(f[4], &r.h2g_mbps) ||
                 !parse_measure(f[5], &r.ping_ms))
            bad = "a measurement is neither a number nor \"-\"";
        else if (!parse_count(f[6], &r.ok_runs) || !parse_count(f[7], &r.runs) ||
                 r.ok_runs > r.runs)
            bad = "run counts are not OK_RUNS <= RUNS";
        if (bad) {
            g_set_error(err, hvsh_bench_error_quark(), 0,
                        "benchmark output line %u: %s", i + 1, bad);
            return NULL;
        }
        struct hvsh_bench_row *row = g_new0(struct hvsh_bench_row, 1);
        *row = r;
        row->config = g_strdup(f[1]);
        row->vmm = g_strdup(f[2]);
        row->plane = g_strdup(f[8]);
        g_ptr_array_add(rows, row);
    }
    return g_steal_pointer(&rows);
}

const char *hvsh_bench_config_nic(const char *config)
{
    if (strcmp(config, "e1000") == 0)
        return "e1000 (emulated)";
    if (strcmp(config, "virtio") == 0)
        return "virtio-net";
    return "virtio-net + vhost-net";
}

unsigned hvsh_bench_config_queues(const char *config)
{
    return strcmp(config, "mq") == 0 ? 2 : 1;
}

unsigned hvsh_bench_config_vcpus(const char *config)
{
    return strcmp(config, "mq") == 0 ? 2 : 1;
}

static char *format_measure(double v, int decimals)
{
    return isnan(v) ? g_strdup("-") : g_strdup_printf("%.*f", decimals, v);
}

char *hvsh_bench_to_text(const GPtrArray *rows, bool with_vmm)
{
    static const struct hvsh_col cols[] = {
        { "VMM", "vmm", HVSH_COL_STR },
        { "NIC", "nic", HVSH_COL_STR },
        { "Data plane", "plane", HVSH_COL_STR },
        { "Queues", "queues", HVSH_COL_STR },
        { "vCPUs", "vcpus", HVSH_COL_STR },
        { "Guest->host Mbit/s", "g2h", HVSH_COL_STR },
        { "Host->guest Mbit/s", "h2g", HVSH_COL_STR },
        { "Ping ms", "ping", HVSH_COL_STR },
        { "Runs", "runs", HVSH_COL_STR },
    };
    const struct hvsh_col *first = with_vmm ? cols : cols + 1;
    size_t n_cols = with_vmm ? G_N_ELEMENTS(cols) : G_N_ELEMENTS(cols) - 1;
    g_autoptr(hvsh_table) t = hvsh_table_new(first, n_cols);
    for (guint i = 0; i < rows->len; i++) {
        const struct hvsh_bench_row *r = g_ptr_array_index(rows, i);
        g_autofree char *queues = g_strdup_printf("%u", hvsh_bench_config_queues(r->config));
        g_autofree char *vcpus = g_strdup_printf("%u", hvsh_bench_config_vcpus(r->config));
        g_autofree char *g2h = format_measure(r->g2h_mbps, 0);
        g_autofree char *h2g = format_measure(r->h2g_mbps, 0);
        g_autofree char *ping = format_measure(r->ping_ms, 2);
        g_autofree char *runs = g_strdup_printf("%u/%u", r->ok_runs, r->runs);
        const char *cells[] = { r->vmm, hvsh_bench_config_nic(r->config), r->plane, queues,
                                vcpus, g2h, h2g, ping, runs };
        hvsh_table_add_row(t, with_vmm ? cells : cells + 1);
    }
    return hvsh_table_to_text(t);
}

static json_object *json_measure(double v)
{
    return isnan(v) ? NULL : json_object_new_double(v);
}

json_object *hvsh_bench_to_json(const GPtrArray *rows)
{
    json_object *arr = json_object_new_array();
    for (guint i = 0; i < rows->len; i++) {
        const struct hvsh_bench_row *r = g_ptr_array_index(rows, i);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "config", json_object_new_string(r->config));
        json_object_object_add(o, "vmm", json_object_new_string(r->vmm));
        json_object_object_add(o, "nic", json_object_new_string(hvsh_bench_config_nic(r->config)));
        json_object_object_add(o, "data_plane", json_object_new_string(r->plane));
        json_object_object_add(o, "queues", json_object_new_int((int)hvsh_bench_config_queues(r->config)));
        json_object_object_add(o, "vcpus", json_object_new_int((int)hvsh_bench_config_vcpus(r->config)));
        json_object_object_add(o, "guest_to_host_mbps", json_measure(r->g2h_mbps));
        json_object_object_add(o, "host_to_guest_mbps", json_measure(r->h2g_mbps));
        json_object_object_add(o, "ping_ms", json_measure(r->ping_ms));
        json_object_object_add(o, "ok_runs", json_object_new_int((int)r->ok_runs));
        json_object_object_add(o, "runs", json_object_new_int((int)r->runs));
        json_object_array_add(arr, o);
    }
    return arr;
}

bool hvsh_bench_kvm_boots_linux(const char *root, char **why)
{
    g_autofree char *kvm = g_build_filename(root, "dev/kvm", NULL);
    if (access(kvm, F_OK) != 0) {
        *why = g_strdup("there is no /dev/kvm (load kvm_intel or kvm_amd)");
        return false;
    }
    g_autofree char *cpuinfo_path = g_build_filename(root, "proc/cpuinfo", NULL);
    g_autofree char *cpuinfo = NULL;
    if (!g_file_get_contents(cpuinfo_path, &cpuinfo, NULL, NULL)) {
        *why = g_strdup("cannot read /proc/cpuinfo");
        return false;
    }
    g_auto(GStrv) lines = g_strsplit(cpuinfo, "\n", -1);
    for (guint i = 0; lines[i]; i++) {
        if (!g_str_has_prefix(lines[i], "flags"))
            continue;
        g_auto(GStrv) words = g_strsplit_set(lines[i], " \t", -1);
        for (guint k = 0; words[k]; k++)
            if (strcmp(words[k], "vmx") == 0 || strcmp(words[k], "svm") == 0)
                return true;
    }
    *why = g_strdup("/proc/cpuinfo has no vmx or svm flag: this /dev/kvm is a nested "
                    "(pagetable-based) KVM that cannot boot a stock Linux guest");
    return false;
}

char *hvsh_bench_find_srcdir(const char *dir, char **build_root)
{
    g_autofree char *cur = g_strdup(dir);
    if (build_root)
        *build_root = NULL;
    for (int depth = 0; depth < 6; depth++) {
        g_autofree char *mk = g_build_filename(cur, "Makefile", NULL);
        g_autofree char *text = NULL;
        if (g_file_get_contents(mk, &text, NULL, NULL)) {
            g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
            for (guint i = 0; lines[i]; i++) {
                if (!g_str_has_prefix(lines[i], "abs_top_srcdir = "))
                    continue;
                char *src = g_strstrip(g_strdup(lines[i] + strlen("abs_top_srcdir = ")));
                if (!*src) {
                    g_free(src);
                    break;
                }
                if (build_root)
                    *build_root = g_strdup(cur);
                return src;
            }
        }
        g_autofree char *up = g_path_get_dirname(cur);
        if (strcmp(up, cur) == 0)
            break;
        g_free(cur);
        cur = g_steal_pointer(&up);
    }
    return NULL;
}

/* ------------------------------------------------------------- command */

static const struct hvsh_opt_def bench_opts[] = {
    { "seconds", HVSH_OPT_STRING, 0, "iperf3 time each way (default 5)" },
    { "runs", HVSH_OPT_STRING, 0, "boots per configuration; medians are shown (default 1)" },
    { "pings", HVSH_OPT_STRING, 0, "host->guest pings at 0.2 s (default 20)" },
    { "testbed", HVSH_OPT_BOOL, 0, "run inside the nested testbed (QEMU TCG) instead of on this host" },
    { "qemu", HVSH_OPT_BOOL, 0, "also measure QEMU (qemu-system-x86_64) with the same NICs" },
    { "script", HVSH_OPT_STRING, 0, "bench/net.sh to run (default: the build tree's source tree)" },
    { "hv", HVSH_OPT_STRING, 0, "hv binary (default: the build tree's hv/hv, else hv beside hvsh)" },
    { NULL },
};

static bool number_option(const struct hvsh_args *args, const char *name, char **out)
{
    unsigned long long v = 0;
    g_autoptr(GError) err = NULL;
    if (!hvsh_arg_present(args, name))
        return true;
    if (!hvsh_arg_uint(args, name, 600, &v, &err) || v == 0) {
        hvsh_error("option --%s wants a number from 1 to 600%s%s", name, err ? ": " : "",
                   err ? err->message : "");
        return false;
    }
    *out = g_strdup_printf("%llu", v);
    return true;
}

static int cmd_bench(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    g_autofree char *seconds = g_strdup("5"), *runs = g_strdup("1"), *pings = g_strdup("20");
    if (!number_option(args, "seconds", &seconds) || !number_option(args, "runs", &runs) ||
        !number_option(args, "pings", &pings))
        return HVSH_EXIT_USAGE;
    bool testbed = hvsh_arg_bool(args, "testbed");
    bool with_qemu = hvsh_arg_bool(args, "qemu");

    const char *root = getenv("HVSH_HOST_ROOT");
    g_autofree char *why = NULL;
    if (!testbed && !hvsh_bench_kvm_boots_linux(root && *root ? root : "/", &why)) {
        hvsh_error("this host cannot boot the benchmark guest: %s. 'hvsh bench --testbed' "
                   "runs the same measurement inside the nested testbed (QEMU TCG with a "
                   "working KVM; several minutes, figures comparable only within one run)",
                   why);
        return HVSH_EXIT_ERROR;
    }
    if (!testbed && geteuid() != 0) {
        hvsh_error("hvsh bench needs root here: it creates a tap device (10.77.9.1/24) for "
                   "the guest and removes it afterwards");
        return HVSH_EXIT_ERROR;
    }

    /* Where this hvsh runs from: a build tree knows its source tree. */
    g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
    g_autofree char *exe_dir = exe ? g_path_get_dirname(exe) : g_strdup(".");
    g_autofree char *build_root = NULL;
    g_autofree char *srcdir = hvsh_bench_find_srcdir(exe_dir, &build_root);

    g_autofree char *script = NULL;
    if (hvsh_arg_str(args, "script"))
        script = g_strdup(hvsh_arg_str(args, "script"));
    else if (getenv("HVSH_BENCH_SCRIPT") && *getenv("HVSH_BENCH_SCRIPT"))
        script = g_strdup(getenv("HVSH_BENCH_SCRIPT"));
    else if (srcdir)
        script = g_build_filename(srcdir, "bench", "net.sh", NULL);
    if (!script || access(script, R_OK) != 0) {
        hvsh_error("cannot find the benchmark script bench/net.sh%s%s (run the hvsh of a build "
                   "tree, or give --script PATH to hvd's source tree's bench/net.sh)",
                   script ? " at " : "", script ? script : "");
        return HVSH_EXIT_ERROR;
    }

    g_autofree char *hv = NULL;
    if (hvsh_arg_str(args, "hv"))
        hv = g_strdup(hvsh_arg_str(args, "hv"));
    else if (build_root)
        hv = g_build_filename(build_root, "hv", "hv", NULL);
    else
        hv = g_build_filename(exe_dir, "hv", NULL);
    if (access(hv, X_OK) != 0) {
        g_autofree char *in_path = g_find_program_in_path("hv");
        if (!in_path || hvsh_arg_str(args, "hv")) {
            hvsh_error("cannot run the hv binary %s (build it, or give --hv PATH)", hv);
            return HVSH_EXIT_ERROR;
        }
        g_free(hv);
        hv = g_steal_pointer(&in_path);
    }

    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    const char *fixed[] = { "bash", script, "--raw", "--seconds", seconds, "--runs", runs,
                            "--pings", pings, "--vmms", with_qemu ? "hv qemu" : "hv" };
    for (size_t i = 0; i < G_N_ELEMENTS(fixed); i++)
        g_ptr_array_add(argv, (gpointer)fixed[i]);
    if (testbed)
        g_ptr_array_add(argv, (gpointer) "--testbed");
    g_ptr_array_add(argv, NULL);
    g_auto(GStrv) envp = g_get_environ();
    envp = g_environ_setenv(envp, "HVD_HV", hv, TRUE);

    fprintf(stderr, "hvsh bench: %s (%s s each way, %s run(s)%s); progress follows\n",
            testbed ? "inside the nested testbed" : "on this host", seconds, runs,
            with_qemu ? ", hv and QEMU" : "");
    g_autofree char *out = NULL;
    int status = 0;
    g_autoptr(GError) err = NULL;
    /* stderr is inherited: the script's progress reaches the user live */
    if (!g_spawn_sync(NULL, (char **)argv->pdata, envp, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                      NULL, &status, &err)) {
        hvsh_error("cannot run %s: %s", script, err->message);
        return HVSH_EXIT_ERROR;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    g_autoptr(GPtrArray) rows = hvsh_bench_parse(out, &err);
    if (!rows) {
        hvsh_error("%s", err->message);
        return HVSH_EXIT_ERROR;
    }
    if (rows->len == 0) {
        hvsh_error("the benchmark measured nothing (%s exited with status %d%s)", script, code,
                   code == 125 ? ": the testbed could not run" : code == 124 ? ": timed out" : "");
        return HVSH_EXIT_ERROR;
    }
    if (ctl->json) {
        json_object *arr = hvsh_bench_to_json(rows);
        g_autofree char *text = hvsh_json_pretty(arr);
        json_object_put(arr);
        fputs(text, stdout);
    } else {
        g_autofree char *text = hvsh_bench_to_text(rows, with_qemu);
        fputs(text, stdout);
    }
    if (code != 0) {
        hvsh_error("some boots measured nothing (see the progress above; status %d)", code);
        return HVSH_EXIT_ERROR;
    }
    return HVSH_EXIT_OK;
}

const struct hvsh_cmd_def hvsh_bench_cmds[] = {
    { "bench", NULL, "measure e1000, virtio-net, vhost-net and multiqueue under hv",
      "Boots the guest kit under hv four times: emulated e1000, virtio-net with the data plane "
      "in the worker (vhost=off), virtio-net with vhost-net, and vhost-net with 2 queue pairs "
      "and 2 vCPUs. For each it measures iperf3 throughput guest->host and host->guest "
      "(Mbit/s) over a tap with private addresses (10.77.9.0/24) and the average host->guest "
      "ping, and prints one row per NIC. --qemu measures QEMU with the same NICs in the same "
      "run. Needs root and a KVM that boots Linux (vmx/svm); otherwise --testbed runs it in "
      "the nested testbed. Runs bench/net.sh (see docs/benchmarks.md). Exit status 1 when a "
      "boot measured nothing.",
      bench_opts, cmd_bench, HVSH_CMD_NO_CONNECT },
    { NULL },
};
