/* hvsh bench: the pure parts (bench/net.sh's result lines, the table and
 * JSON, the host check, finding the script), shared with the unit test. */
#pragma once
#include <stdbool.h>

#include <glib.h>
#include <json-c/json.h>

/* Domain of the GErrors below. */
GQuark hvsh_bench_error_quark(void);

struct hvsh_bench_row {
    char *config; /* e1000, virtio, vhost, mq */
    char *vmm;    /* hv, qemu */
    double g2h_mbps, h2g_mbps, ping_ms; /* NAN: nothing measured */
    unsigned ok_runs, runs;
    char *plane; /* the data plane seen: emulated, vmm, vhost-net ("-": unknown) */
};

/* Rows from bench/net.sh --raw output: lines
 *   RESULT CONFIG VMM G2H H2G PING OK_RUNS RUNS PLANE
 * ("-" for a missing number); other lines are ignored. A malformed RESULT
 * line is an error naming its line number. Returns struct hvsh_bench_row *
 * (freed with the array), or NULL with err set. */
GPtrArray *hvsh_bench_parse(const char *text, GError **err);

/* The configuration's description: "virtio-net + vhost-net", queues, vCPUs. */
const char *hvsh_bench_config_nic(const char *config);
unsigned hvsh_bench_config_queues(const char *config);
unsigned hvsh_bench_config_vcpus(const char *config);

/* Aligned text table (one line per row; a VMM column when with_vmm) and a
 * JSON array of objects with numbers (null where nothing was measured). */
char *hvsh_bench_to_text(const GPtrArray *rows, bool with_vmm);
json_object *hvsh_bench_to_json(const GPtrArray *rows);

/* Whether KVM here boots a stock Linux guest: /dev/kvm exists and
 * /proc/cpuinfo has vmx or svm (under `root`, "/" normally). False with
 * *why set (owned) when not. */
bool hvsh_bench_kvm_boots_linux(const char *root, char **why);

/* The source tree of a build tree: walks up from `dir` to the first
 * Makefile that names abs_top_srcdir, returns that (owned) and the build
 * tree's root in *build_root (owned, may be NULL), or NULL. */
char *hvsh_bench_find_srcdir(const char *dir, char **build_root);
