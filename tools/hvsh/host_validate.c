/* hvsh host-validate: the host checks the project's source material walks
 * through by hand (KVM, vhost-net, tun, IOMMU, SR-IOV, hugepages), one line
 * each: "PASS/WARN/FAIL: what — fix". Exit status 0 when nothing FAILs.
 *
 * Every path is read under a root directory ($HVSH_HOST_ROOT, default /)
 * so the unit test runs the checks against a fake /dev, /proc and /sys. */
#include "tools/hvsh/hvsh.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *hvsh_check_level_name(enum hvsh_check_level level)
{
    switch (level) {
    case HVSH_PASS: return "PASS";
    case HVSH_WARN: return "WARN";
    default: return "FAIL";
    }
}

static void check_free(gpointer p)
{
    struct hvsh_check *c = p;
    g_free(c->id);
    g_free(c->what);
    g_free(c->fix);
    g_free(c);
}

static void add(GPtrArray *out, enum hvsh_check_level level, const char *id, char *what, char *fix)
{
    struct hvsh_check *c = g_new0(struct hvsh_check, 1);
    c->level = level;
    c->id = g_strdup(id);
    c->what = what;
    c->fix = fix;
    g_ptr_array_add(out, c);
}

static char *at(const char *root, const char *path)
{
    return g_build_filename(root, path, NULL);
}

static bool exists(const char *root, const char *path)
{
    g_autofree char *p = at(root, path);
    return access(p, F_OK) == 0;
}

static char *read_text(const char *root, const char *path)
{
    g_autofree char *p = at(root, path);
    char *text = NULL;
    if (!g_file_get_contents(p, &text, NULL, NULL))
        return NULL;
    return text;
}

static int name_cmp(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Entries of a directory (without . and ..), sorted; NULL if unreadable. */
static GPtrArray *list_dir(const char *root, const char *path)
{
    g_autofree char *p = at(root, path);
    GDir *dir = g_dir_open(p, 0, NULL);
    if (!dir)
        return NULL;
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    const char *name;
    while ((name = g_dir_read_name(dir)))
        g_ptr_array_add(names, g_strdup(name));
    g_dir_close(dir);
    g_ptr_array_sort(names, name_cmp);
    return names;
}

static bool read_uint(const char *root, const char *path, unsigned long long *value)
{
    g_autofree char *text = read_text(root, path);
    if (!text)
        return false;
    char *end;
    errno = 0;
    *value = strtoull(text, &end, 10);
    return !errno && end != text;
}

/* The first "flags" line of /proc/cpuinfo contains the word `flag`. */
static bool cpu_has_flag(const char *cpuinfo, const char *flag)
{
    if (!cpuinfo)
        return false;
    g_auto(GStrv) lines = g_strsplit(cpuinfo, "\n", -1);
    for (int i = 0; lines[i]; i++) {
        if (!g_str_has_prefix(lines[i], "flags"))
            continue;
        const char *colon = strchr(lines[i], ':');
        if (!colon)
            continue;
        g_auto(GStrv) words = g_strsplit_set(colon + 1, " \t", -1);
        for (int k = 0; words[k]; k++)
            if (!strcmp(words[k], flag))
                return true;
        return false;
    }
    return false;
}

static bool cmdline_has(const char *cmdline, const char *word)
{
    if (!cmdline)
        return false;
    g_auto(GStrv) words = g_strsplit_set(cmdline, " \t\n", -1);
    for (int i = 0; words[i]; i++)
        if (!strcmp(words[i], word))
            return true;
    return false;
}

static void check_kvm(const char *root, GPtrArray *out)
{
    g_autofree char *cpuinfo = read_text(root, "proc/cpuinfo");
    bool vmx = cpu_has_flag(cpuinfo, "vmx"), svm = cpu_has_flag(cpuinfo, "svm");
    bool amd = cpuinfo && strstr(cpuinfo, "AuthenticAMD");
    const char *module = amd ? "kvm_amd" : "kvm_intel";
    bool have_dev = exists(root, "dev/kvm");

    if (!have_dev) {
        add(out, HVSH_FAIL, "kvm-device", g_strdup("/dev/kvm is missing"),
            g_strdup_printf("load the KVM module (modprobe %s) and enable %s in the firmware setup",
                            module, amd ? "AMD-V (SVM)" : "Intel VT-x"));
    } else {
        g_autofree char *p = at(root, "dev/kvm");
        int fd = open(p, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            add(out, HVSH_FAIL, "kvm-device",
                g_strdup_printf("/dev/kvm exists but cannot be opened: %s", g_strerror(e)),
                g_strdup("run as root or add the user to the kvm group (usermod -aG kvm USER)"));
        } else {
            close(fd);
            add(out, HVSH_PASS, "kvm-device", g_strdup("/dev/kvm is present and can be opened"), NULL);
        }
    }

    if (vmx || svm) {
        add(out, HVSH_PASS, "cpu-virt",
            g_strdup_printf("CPU has hardware virtualization (%s)", vmx ? "vmx" : "svm"), NULL);
    } else if (have_dev) {
        /* this project's build machines: /dev/kvm from a PVM nested KVM */
        bool pvm = exists(root, "sys/module/kvm_pvm");
        add(out, HVSH_WARN, "cpu-virt",
            g_strdup_printf("no vmx/svm flag in /proc/cpuinfo but /dev/kvm exists: a nested%s KVM "
                            "that may not boot stock Linux guests",
                            pvm ? " (kvm_pvm)" : ""),
            g_strdup("run guests inside the nested testbed (tests/testbed/run) or on a host "
                     "whose CPU shows vmx/svm"));
    } else {
        add(out, HVSH_FAIL, "cpu-virt", g_strdup("no vmx/svm flag in /proc/cpuinfo"),
            g_strdup("enable Intel VT-x / AMD-V in the firmware setup (for a VM: expose "
                     "nested virtualization)"));
    }
}

static void check_char_devices(const char *root, GPtrArray *out)
{
    if (exists(root, "dev/vhost-net"))
        add(out, HVSH_PASS, "vhost-net", g_strdup("/dev/vhost-net is present (in-kernel virtio-net data plane)"), NULL);
    else
        add(out, HVSH_WARN, "vhost-net",
            g_strdup("/dev/vhost-net is missing: virtio-net runs in the worker, without vhost"),
            g_strdup("modprobe vhost_net"));
    if (exists(root, "dev/net/tun"))
        add(out, HVSH_PASS, "tun", g_strdup("/dev/net/tun is present (tap network devices)"), NULL);
    else
        add(out, HVSH_FAIL, "tun", g_strdup("/dev/net/tun is missing: guests cannot have network interfaces"),
            g_strdup("modprobe tun"));
    if (exists(root, "dev/vfio/vfio") || exists(root, "sys/module/vfio_pci"))
        add(out, HVSH_PASS, "vfio", g_strdup("VFIO is available (device assignment)"), NULL);
    else
        add(out, HVSH_WARN, "vfio", g_strdup("VFIO is not loaded: no PCI device assignment"),
            g_strdup("modprobe vfio-pci"));
}

static void check_iommu(const char *root, GPtrArray *out)
{
    g_autofree char *cmdline = read_text(root, "proc/cmdline");
    g_autofree char *cpuinfo = read_text(root, "proc/cpuinfo");
    bool amd = cpuinfo && strstr(cpuinfo, "AuthenticAMD");
    g_autoptr(GPtrArray) groups = list_dir(root, "sys/kernel/iommu_groups");
    g_autoptr(GPtrArray) units = list_dir(root, "sys/class/iommu");
    bool hw = (units && units->len) || exists(root, "sys/firmware/acpi/tables/DMAR") ||
              exists(root, "sys/firmware/acpi/tables/IVRS");
    bool enabled = groups && groups->len > 0;

    /* Intel needs intel_iommu=on; AMD-Vi is on by default unless amd_iommu=off */
    bool intel_on = cmdline_has(cmdline, "intel_iommu=on");
    bool amd_off = cmdline_has(cmdline, "amd_iommu=off");
    const char *fix = amd ? "enable the IOMMU (AMD-Vi) in the firmware setup; Linux turns it on by default"
                          : "add intel_iommu=on to the kernel command line and enable VT-d in the firmware setup";
    if (enabled) {
        add(out, HVSH_PASS, "iommu",
            g_strdup_printf("IOMMU is enabled%s", intel_on ? " (intel_iommu=on)" : amd ? " (AMD-Vi)" : ""),
            NULL);
    } else if (hw && !amd && !intel_on) {
        add(out, HVSH_WARN, "iommu",
            g_strdup("the firmware describes an IOMMU (DMAR) but the kernel did not enable it"),
            g_strdup("add intel_iommu=on to the kernel command line and reboot"));
    } else if (amd && amd_off) {
        add(out, HVSH_WARN, "iommu", g_strdup("IOMMU disabled by amd_iommu=off"),
            g_strdup("remove amd_iommu=off from the kernel command line"));
    } else {
        add(out, HVSH_WARN, "iommu",
            g_strdup("no IOMMU is enabled: PCI device assignment (VFIO, SR-IOV VFs) is not possible"),
            g_strdup(fix));
    }

    if (!enabled) {
        add(out, HVSH_WARN, "iommu-groups", g_strdup("no IOMMU groups in /sys/kernel/iommu_groups"),
            g_strdup(fix));
        return;
    }
    unsigned devices = 0, shared = 0;
    for (guint i = 0; i < groups->len; i++) {
        g_autofree char *dir = g_strdup_printf("sys/kernel/iommu_groups/%s/devices",
                                               (char *)g_ptr_array_index(groups, i));
        g_autoptr(GPtrArray) members = list_dir(root, dir);
        if (!members)
            continue;
        devices += members->len;
        if (members->len > 1)
            shared++;
    }
    if (shared)
        add(out, HVSH_PASS, "iommu-groups",
            g_strdup_printf("%u IOMMU groups, %u devices; %u groups hold several devices (they are "
                            "assigned together)", groups->len, devices, shared),
            NULL);
    else
        add(out, HVSH_PASS, "iommu-groups",
            g_strdup_printf("%u IOMMU groups, %u devices, each device in its own group", groups->len,
                            devices),
            NULL);
}

static void check_sriov(const char *root, GPtrArray *out)
{
    g_autoptr(GPtrArray) devs = list_dir(root, "sys/bus/pci/devices");
    unsigned capable = 0;
    for (guint i = 0; devs && i < devs->len; i++) {
        const char *addr = g_ptr_array_index(devs, i);
        g_autofree char *total_path = g_strdup_printf("sys/bus/pci/devices/%s/sriov_totalvfs", addr);
        g_autofree char *num_path = g_strdup_printf("sys/bus/pci/devices/%s/sriov_numvfs", addr);
        unsigned long long total, num = 0;
        if (!read_uint(root, total_path, &total) || total == 0)
            continue;
        read_uint(root, num_path, &num);
        capable++;
        g_autofree char *drv_link = g_strdup_printf("sys/bus/pci/devices/%s/driver", addr);
        g_autofree char *drv_path = at(root, drv_link);
        g_autofree char *target = g_file_read_link(drv_path, NULL);
        g_autofree char *driver = target ? g_path_get_basename(target) : g_strdup("no driver");
        if (num)
            add(out, HVSH_PASS, "sriov",
                g_strdup_printf("SR-IOV %s (%s): %llu of %llu VFs enabled", addr, driver, num, total),
                NULL);
        else
            add(out, HVSH_WARN, "sriov",
                g_strdup_printf("SR-IOV %s (%s): 0 of %llu VFs enabled", addr, driver, total),
                g_strdup_printf("echo %llu > /sys/bus/pci/devices/%s/sriov_numvfs (lost on reboot)",
                                total, addr));
    }
    if (!capable)
        add(out, HVSH_WARN, "sriov", g_strdup("no SR-IOV capable PCI devices (no sriov_totalvfs)"),
            g_strdup("only needed to give virtual functions to guests; use an SR-IOV NIC or NVMe"));
}

static void check_hugepages(const char *root, GPtrArray *out)
{
    g_autofree char *meminfo = read_text(root, "proc/meminfo");
    unsigned long long total = 0, free_pages = 0, size_kb = 0;
    bool found = false;
    if (meminfo) {
        g_auto(GStrv) lines = g_strsplit(meminfo, "\n", -1);
        for (int i = 0; lines[i]; i++) {
            if (sscanf(lines[i], "HugePages_Total: %llu", &total) == 1)
                found = true;
            sscanf(lines[i], "HugePages_Free: %llu", &free_pages);
            sscanf(lines[i], "Hugepagesize: %llu kB", &size_kb);
        }
    }
    /* other page sizes reserved only under /sys/kernel/mm/hugepages */
    g_autoptr(GPtrArray) pools = list_dir(root, "sys/kernel/mm/hugepages");
    GString *others = g_string_new(NULL);
    for (guint i = 0; pools && i < pools->len; i++) {
        const char *pool = g_ptr_array_index(pools, i);
        unsigned long long kb, nr;
        g_autofree char *path = g_strdup_printf("sys/kernel/mm/hugepages/%s/nr_hugepages", pool);
        if (sscanf(pool, "hugepages-%llukB", &kb) != 1 || kb == size_kb || !read_uint(root, path, &nr) || !nr)
            continue;
        g_string_append_printf(others, ", %llu x %llu kB", nr, kb);
    }
    g_autofree char *extra = g_string_free(others, FALSE);
    if (!found && !pools) {
        add(out, HVSH_WARN, "hugepages", g_strdup("no hugepage information (kernel without hugetlbfs?)"),
            g_strdup("optional: only for hugepage-backed guest memory"));
    } else if (total || *extra) {
        add(out, HVSH_PASS, "hugepages",
            g_strdup_printf("hugepages reserved: %llu x %llu kB (%llu free)%s", total, size_kb,
                            free_pages, extra),
            NULL);
    } else {
        add(out, HVSH_WARN, "hugepages", g_strdup("no hugepages reserved (HugePages_Total: 0)"),
            g_strdup_printf("optional: echo N > /sys/kernel/mm/hugepages/hugepages-%llukB/nr_hugepages",
                            size_kb ? size_kb : 2048));
    }
}

static void check_cgroups(const char *root, GPtrArray *out)
{
    g_autofree char *controllers = read_text(root, "sys/fs/cgroup/cgroup.controllers");
    if (controllers) {
        g_strstrip(controllers);
        add(out, HVSH_PASS, "cgroups", g_strdup_printf("cgroup v2 mounted (controllers: %s)", controllers), NULL);
    } else if (exists(root, "sys/fs/cgroup/memory") || exists(root, "sys/fs/cgroup/cpu")) {
        add(out, HVSH_PASS, "cgroups", g_strdup("cgroup v1 controllers mounted"), NULL);
    } else {
        add(out, HVSH_WARN, "cgroups", g_strdup("no cgroup hierarchy under /sys/fs/cgroup"),
            g_strdup("optional (hvd does not place workers in cgroups yet): mount -t cgroup2 none /sys/fs/cgroup"));
    }
}

GPtrArray *hvsh_host_validate(const char *root)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(check_free);
    if (!root || !*root)
        root = "/";
    check_kvm(root, out);
    check_char_devices(root, out);
    check_iommu(root, out);
    check_sriov(root, out);
    check_hugepages(root, out);
    check_cgroups(root, out);
    return out;
}

static const struct hvsh_opt_def validate_opts[] = {
    { NULL },
};

static int cmd_host_validate(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    const char *root = getenv("HVSH_HOST_ROOT");
    g_autoptr(GPtrArray) checks = hvsh_host_validate(root);
    bool failed = false;
    json_object *arr = json_object_new_array();
    for (guint i = 0; i < checks->len; i++) {
        const struct hvsh_check *c = g_ptr_array_index(checks, i);
        failed |= c->level == HVSH_FAIL;
        if (ctl->json) {
            json_object *o = json_object_new_object();
            json_object_object_add(o, "level", json_object_new_string(hvsh_check_level_name(c->level)));
            json_object_object_add(o, "check", json_object_new_string(c->id));
            json_object_object_add(o, "what", json_object_new_string(c->what));
            json_object_object_add(o, "fix", c->fix ? json_object_new_string(c->fix) : NULL);
            json_object_array_add(arr, o);
        } else if (c->fix && c->level != HVSH_PASS) {
            printf("%s: %s — %s\n", hvsh_check_level_name(c->level), c->what, c->fix);
        } else {
            printf("%s: %s\n", hvsh_check_level_name(c->level), c->what);
        }
    }
    if (ctl->json) {
        g_autofree char *text = hvsh_json_pretty(arr);
        fputs(text, stdout);
    }
    json_object_put(arr);
    return failed ? HVSH_EXIT_ERROR : HVSH_EXIT_OK;
}

const struct hvsh_cmd_def hvsh_host_validate_cmds[] = {
    { "host-validate", NULL, "check that this host can run hvd guests",
      "Checks KVM (/dev/kvm, vmx/svm), /dev/vhost-net, /dev/net/tun, VFIO, the IOMMU and its "
      "groups, SR-IOV devices and their VF counts, hugepages and cgroups. One line per check: "
      "PASS/WARN/FAIL: what — fix. Exit status 1 when a check FAILs. $HVSH_HOST_ROOT reads "
      "/dev, /proc and /sys under another root (for tests).",
      validate_opts, cmd_host_validate, HVSH_CMD_NO_CONNECT },
    { NULL },
};
