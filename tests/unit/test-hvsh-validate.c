/* hvsh host-validate against fake /dev, /proc and /sys trees. */
#include "tests/tap.h"
#include "tools/hvsh/hvsh.h"

#include <sys/stat.h>
#include <unistd.h>

static void put(const char *root, const char *path, const char *text)
{
    char *full = g_build_filename(root, path, NULL);
    char *dir = g_path_get_dirname(full);
    g_mkdir_with_parents(dir, 0755);
    g_file_set_contents(full, text, -1, NULL);
    g_free(dir);
    g_free(full);
}

static void mkdirs(const char *root, const char *path)
{
    char *full = g_build_filename(root, path, NULL);
    g_mkdir_with_parents(full, 0755);
    g_free(full);
}

static void link_to(const char *root, const char *path, const char *target)
{
    char *full = g_build_filename(root, path, NULL);
    char *dir = g_path_get_dirname(full);
    g_mkdir_with_parents(dir, 0755);
    if (symlink(target, full) != 0)
        perror("symlink");
    g_free(dir);
    g_free(full);
}

static const struct hvsh_check *find(GPtrArray *checks, const char *id, guint nth)
{
    for (guint i = 0; i < checks->len; i++) {
        const struct hvsh_check *c = g_ptr_array_index(checks, i);
        if (!strcmp(c->id, id) && nth-- == 0)
            return c;
    }
    return NULL;
}

static void expect(GPtrArray *checks, const char *id, guint nth, enum hvsh_check_level level,
                   const char *what_part, const char *label)
{
    const struct hvsh_check *c = find(checks, id, nth);
    TAP_CHECK(c && c->level == level && (!what_part || strstr(c->what, what_part)), "%s", label);
    if (c && (c->level != level || (what_part && !strstr(c->what, what_part))))
        printf("#   got %s: %s\n", hvsh_check_level_name(c->level), c->what);
}

static int count_level(GPtrArray *checks, enum hvsh_check_level level)
{
    int n = 0;
    for (guint i = 0; i < checks->len; i++)
        n += ((const struct hvsh_check *)g_ptr_array_index(checks, i))->level == level;
    return n;
}

/* A well-equipped Intel host: VT-x, IOMMU on, an SR-IOV NIC with VFs. */
static void test_good_host(void)
{
    char *root = g_dir_make_tmp("hvsh-validate-XXXXXX", NULL);
    put(root, "dev/kvm", "");
    put(root, "dev/vhost-net", "");
    put(root, "dev/net/tun", "");
    put(root, "dev/vfio/vfio", "");
    put(root, "proc/cpuinfo", "vendor_id\t: GenuineIntel\nflags\t\t: fpu vme vmx sse2\n\nflags\t\t: fpu\n");
    put(root, "proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/sda1 intel_iommu=on\n");
    mkdirs(root, "sys/kernel/iommu_groups/0/devices/0000:00:00.0");
    mkdirs(root, "sys/kernel/iommu_groups/1/devices/0000:02:00.0");
    mkdirs(root, "sys/kernel/iommu_groups/1/devices/0000:02:00.1");
    mkdirs(root, "sys/bus/pci/devices/0000:00:00.0");
    put(root, "sys/bus/pci/devices/0000:02:00.0/sriov_totalvfs", "7\n");
    put(root, "sys/bus/pci/devices/0000:02:00.0/sriov_numvfs", "2\n");
    mkdirs(root, "sys/bus/pci/drivers/igb");
    link_to(root, "sys/bus/pci/devices/0000:02:00.0/driver", "../../drivers/igb");
    put(root, "sys/bus/pci/devices/0000:02:00.1/sriov_totalvfs", "4\n");
    put(root, "sys/bus/pci/devices/0000:02:00.1/sriov_numvfs", "0\n");
    put(root, "proc/meminfo", "MemTotal: 1000 kB\nHugePages_Total:     512\nHugePages_Free:      500\nHugepagesize:       2048 kB\n");
    put(root, "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "512\n");
    put(root, "sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "2\n");
    put(root, "sys/fs/cgroup/cgroup.controllers", "cpu memory io\n");

    GPtrArray *checks = hvsh_host_validate(root);
    expect(checks, "kvm-device", 0, HVSH_PASS, "/dev/kvm is present", "kvm device PASS");
    expect(checks, "cpu-virt", 0, HVSH_PASS, "vmx", "vmx found PASS");
    expect(checks, "vhost-net", 0, HVSH_PASS, NULL, "vhost-net PASS");
    expect(checks, "tun", 0, HVSH_PASS, NULL, "tun PASS");
    expect(checks, "vfio", 0, HVSH_PASS, NULL, "vfio PASS");
    expect(checks, "iommu", 0, HVSH_PASS, "intel_iommu=on", "IOMMU enabled PASS");
    expect(checks, "iommu-groups", 0, HVSH_PASS, "2 IOMMU groups, 3 devices; 1 groups hold several",
           "groups counted, shared group noted");
    expect(checks, "sriov", 0, HVSH_PASS, "0000:02:00.0 (igb): 2 of 7 VFs enabled", "PF with VFs PASS");
    expect(checks, "sriov", 1, HVSH_WARN, "0000:02:00.1 (no driver): 0 of 4 VFs enabled", "PF without VFs WARN");
    const struct hvsh_check *c = find(checks, "sriov", 1);
    TAP_CHECK(c && c->fix && strstr(c->fix, "echo 4 > /sys/bus/pci/devices/0000:02:00.1/sriov_numvfs"),
              "fix says how to enable VFs");
    expect(checks, "hugepages", 0, HVSH_PASS, "512 x 2048 kB (500 free), 2 x 1048576 kB", "hugepages PASS with both sizes");
    expect(checks, "cgroups", 0, HVSH_PASS, "cpu memory io", "cgroup v2 PASS");
    TAP_EQ_U64(count_level(checks, HVSH_FAIL), 0, "no FAIL on a good host");
    g_ptr_array_unref(checks);
    char *cmd = g_strdup_printf("rm -rf '%s'", root);
    TAP_CHECK(system(cmd) == 0, "cleanup");
    g_free(cmd);
    g_free(root);
}

/* This project's build machine: PVM nested KVM, no vhost, no IOMMU. */
static void test_nested_host(void)
{
    char *root = g_dir_make_tmp("hvsh-validate-XXXXXX", NULL);
    put(root, "dev/kvm", "");
    put(root, "dev/net/tun", "");
    put(root, "proc/cpuinfo", "vendor_id\t: AuthenticAMD\nflags\t\t: fpu hypervisor sse2\n");
    put(root, "proc/cmdline", "console=ttyS0 quiet\n");
    mkdirs(root, "sys/module/kvm_pvm");
    mkdirs(root, "sys/kernel/iommu_groups");
    mkdirs(root, "sys/bus/pci/devices/0000:00:00.0");
    put(root, "proc/meminfo", "HugePages_Total:       0\nHugePages_Free:        0\nHugepagesize:       2048 kB\n");
    mkdirs(root, "sys/kernel/mm/hugepages/hugepages-2048kB");

    GPtrArray *checks = hvsh_host_validate(root);
    expect(checks, "kvm-device", 0, HVSH_PASS, NULL, "kvm device still PASS");
    expect(checks, "cpu-virt", 0, HVSH_WARN, "nested (kvm_pvm) KVM", "nested KVM WARN");
    const struct hvsh_check *c = find(checks, "cpu-virt", 0);
    TAP_CHECK(c && c->fix && strstr(c->fix, "testbed"), "fix points to the testbed");
    expect(checks, "vhost-net", 0, HVSH_WARN, "missing", "vhost-net missing WARN");
    c = find(checks, "vhost-net", 0);
    TAP_CHECK(c && c->fix && !strcmp(c->fix, "modprobe vhost_net"), "fix: modprobe vhost_net");
    expect(checks, "iommu", 0, HVSH_WARN, "no IOMMU", "no IOMMU WARN");
    c = find(checks, "iommu", 0);
    TAP_CHECK(c && c->fix && strstr(c->fix, "AMD-Vi"), "AMD host: fix names AMD-Vi");
    expect(checks, "iommu-groups", 0, HVSH_WARN, "no IOMMU groups", "no groups WARN");
    expect(checks, "sriov", 0, HVSH_WARN, "no SR-IOV", "no SR-IOV WARN");
    expect(checks, "hugepages", 0, HVSH_WARN, "no hugepages reserved", "hugepages WARN");
    expect(checks, "cgroups", 0, HVSH_WARN, NULL, "no cgroups WARN");
    TAP_EQ_U64(count_level(checks, HVSH_FAIL), 0, "nested host: warnings only");
    g_ptr_array_unref(checks);
    char *cmd = g_strdup_printf("rm -rf '%s'", root);
    TAP_CHECK(system(cmd) == 0, "cleanup");
    g_free(cmd);
    g_free(root);
}

/* Nothing at all: KVM and tun FAIL; an Intel box with DMAR but no flag. */
static void test_bad_host(void)
{
    char *root = g_dir_make_tmp("hvsh-validate-XXXXXX", NULL);
    put(root, "proc/cpuinfo", "vendor_id\t: GenuineIntel\nflags\t\t: fpu vmxx\n");
    put(root, "proc/cmdline", "quiet intel_iommu=off\n");
    put(root, "sys/firmware/acpi/tables/DMAR", "x");
    put(root, "sys/bus/pci/devices/0000:03:00.0/sriov_totalvfs", "garbage\n");

    GPtrArray *checks = hvsh_host_validate(root);
    expect(checks, "kvm-device", 0, HVSH_FAIL, "/dev/kvm is missing", "no /dev/kvm FAIL");
    const struct hvsh_check *c = find(checks, "kvm-device", 0);
    TAP_CHECK(c && c->fix && strstr(c->fix, "modprobe kvm_intel"), "fix: modprobe kvm_intel");
    expect(checks, "cpu-virt", 0, HVSH_FAIL, "no vmx/svm", "'vmxx' is not vmx: FAIL");
    expect(checks, "tun", 0, HVSH_FAIL, NULL, "no tun FAIL");
    expect(checks, "iommu", 0, HVSH_WARN, "did not enable it", "DMAR without intel_iommu=on WARN");
    c = find(checks, "iommu", 0);
    TAP_CHECK(c && c->fix && strstr(c->fix, "intel_iommu=on"), "fix: intel_iommu=on");
    expect(checks, "sriov", 0, HVSH_WARN, "no SR-IOV", "unparsable sriov_totalvfs ignored");
    expect(checks, "hugepages", 0, HVSH_WARN, "no hugepage information", "no meminfo WARN");
    TAP_EQ_U64(count_level(checks, HVSH_FAIL), 3, "three FAILs");
    g_ptr_array_unref(checks);

    /* an unopenable /dev/kvm (a directory stands in for a denied device) */
    mkdirs(root, "dev/kvm");
    checks = hvsh_host_validate(root);
    expect(checks, "kvm-device", 0, HVSH_FAIL, "cannot be opened", "unopenable /dev/kvm FAIL");
    g_ptr_array_unref(checks);

    char *cmd = g_strdup_printf("rm -rf '%s'", root);
    TAP_CHECK(system(cmd) == 0, "cleanup");
    g_free(cmd);
    g_free(root);
}

int main(void)
{
    test_good_host();
    test_nested_host();
    test_bad_host();
    return tap_done();
}
