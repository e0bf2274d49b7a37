#include "daemon/hostinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <unistd.h>

bool host_meminfo_kib(const char *meminfo_path, const char *field, uint64_t *kib)
{
    g_autofree char *text = NULL;
    if (!g_file_get_contents(meminfo_path ? meminfo_path : "/proc/meminfo", &text, NULL, NULL))
        return false;
    size_t flen = strlen(field);
    for (char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            char *end;
            unsigned long long v = strtoull(line + flen + 1, &end, 10);
            if (end == line + flen + 1)
                return false;
            *kib = v;
            return true;
        }
    }
    return false;
}

/* Value after "key<spaces>: " on a cpuinfo line, or NULL. */
static const char *cpuinfo_value(const char *line, const char *key)
{
    size_t klen = strlen(key);
    if (strncmp(line, key, klen) != 0)
        return NULL;
    const char *p = line + klen;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != ':')
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

bool host_node_info(const char *cpuinfo_path, const char *meminfo_path, struct host_node_info *out,
                    char **error)
{
    memset(out, 0, sizeof(*out));
    struct utsname uts;
    if (uname(&uts) == 0)
        g_strlcpy(out->model, uts.machine, sizeof(out->model));
    else
        g_strlcpy(out->model, "x86_64", sizeof(out->model));

    if (!host_meminfo_kib(meminfo_path, "MemTotal", &out->memory_kib)) {
        *error = g_strdup_printf("cannot read MemTotal from %s",
                                 meminfo_path ? meminfo_path : "/proc/meminfo");
        return false;
    }

    g_autofree char *text = NULL;
    const char *cpath = cpuinfo_path ? cpuinfo_path : "/proc/cpuinfo";
    if (!g_file_get_contents(cpath, &text, NULL, NULL)) {
        *error = g_strdup_printf("cannot read %s", cpath);
        return false;
    }
    int processors = 0, cores_per_socket = 0, siblings = 0;
    double mhz = 0;
    GHashTable *sockets = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        const char *v;
        if ((v = cpuinfo_value(*l, "processor")))
            processors++;
        else if ((v = cpuinfo_value(*l, "cpu MHz")) && mhz == 0)
            mhz = g_ascii_strtod(v, NULL);
        else if ((v = cpuinfo_value(*l, "physical id")))
            g_hash_table_add(sockets, g_strdup(v));
        else if ((v = cpuinfo_value(*l, "cpu cores")) && !cores_per_socket)
            cores_per_socket = atoi(v);
        else if ((v = cpuinfo_value(*l, "siblings")) && !siblings)
            siblings = atoi(v);
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    out->cpus = cpuinfo_path ? processors : (online > 0 ? (int32_t)online : processors);
    if (out->cpus <= 0)
        out->cpus = 1;
    out->mhz = mhz > 0 && mhz < 1e6 ? (int32_t)mhz : 0;
    out->nodes = 1;
    out->sockets = g_hash_table_size(sockets) ? (int32_t)g_hash_table_size(sockets) : 1;
    out->cores = cores_per_socket > 0 ? cores_per_socket : out->cpus;
    out->threads = (siblings > 0 && cores_per_socket > 0 && siblings % cores_per_socket == 0)
                       ? siblings / cores_per_socket : 1;
    g_hash_table_destroy(sockets);
    /* As libvirt does when the topology does not add up (offline CPUs,
     * odd hypervisors): report everything as cores of one socket. */
    if ((int64_t)out->sockets * out->cores * out->threads != out->cpus) {
        out->sockets = 1;
        out->cores = out->cpus;
        out->threads = 1;
    }
    return true;
}

int host_max_vcpus(void)
{
    int max = 255; /* what x86 guests without x2APIC routing handle */
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        int r = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
        if (r <= 0)
            r = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
        if (r > 0)
            max = r;
        close(fd);
    }
    return max;
}

/* 32 hex digits of /etc/machine-id as a UUID, or NULL. */
static char *host_uuid(void)
{
    g_autofree char *id = NULL;
    if (!g_file_get_contents("/etc/machine-id", &id, NULL, NULL))
        return NULL;
    g_strstrip(id);
    if (strlen(id) != 32)
        return NULL;
    for (int i = 0; i < 32; i++)
        if (!g_ascii_isxdigit(id[i]))
            return NULL;
    return g_strdup_printf("%.8s-%.4s-%.4s-%.4s-%.12s", id, id + 8, id + 12, id + 16, id + 20);
}

char *host_capabilities_xml(const char *emulator)
{
    struct host_node_info ni;
    g_autofree char *err = NULL;
    if (!host_node_info(NULL, NULL, &ni, &err)) {
        ni.cpus = 1;
        ni.memory_kib = 0;
        g_strlcpy(ni.model, "x86_64", sizeof(ni.model));
    }
    g_autofree char *uuid = host_uuid();
    g_autofree char *cpuinfo = NULL;
    bool vmx = false, svm = false;
    if (g_file_get_contents("/proc/cpuinfo", &cpuinfo, NULL, NULL)) {
        char *flags = strstr(cpuinfo, "\nflags");
        char *eol = flags ? strchr(flags + 1, '\n') : NULL;
        if (flags && eol) {
            g_autofree char *line = g_strndup(flags, eol - flags);
            g_autofree char *padded = g_strconcat(line, " ", NULL);
            vmx = strstr(padded, " vmx ") != NULL;
            svm = strstr(padded, " svm ") != NULL;
        }
    }
    g_autofree char *emu = g_markup_escape_text(emulator ? emulator : "/usr/bin/hv", -1);
    g_autofree char *arch = g_markup_escape_text(ni.model, -1);

    GString *x = g_string_new("<capabilities>\n\n  <host>\n");
    if (uuid)
        g_string_append_printf(x, "    <uuid>%s</uuid>\n", uuid);
    g_string_append_printf(x, "    <cpu>\n      <arch>%s</arch>\n", arch);
    if (vmx || svm)
        g_string_append_printf(x, "      <features>\n        <%s/>\n      </features>\n",
                               vmx ? "vmx" : "svm");
    g_string_append(x, "    </cpu>\n    <power_management/>\n    <iommu support='");
    g_string_append(x, g_file_test("/sys/kernel/iommu_groups/0", G_FILE_TEST_EXISTS) ? "yes" : "no");
    g_string_append(x, "'/>\n");
    g_string_append_printf(x,
                           "    <topology>\n      <cells num='1'>\n        <cell id='0'>\n"
                           "          <memory unit='KiB'>%" G_GUINT64_FORMAT "</memory>\n"
                           "          <cpus num='%d'>\n",
                           ni.memory_kib, ni.cpus);
    for (int i = 0; i < ni.cpus; i++)
        g_string_append_printf(x, "            <cpu id='%d'/>\n", i);
    g_string_append(x, "          </cpus>\n        </cell>\n      </cells>\n    </topology>\n"
                       "  </host>\n\n");
    /* One guest: x86_64 hvm, domain type kvm, run by hvd's worker. */
    g_string_append_printf(x,
                           "  <guest>\n    <os_type>hvm</os_type>\n    <arch name='x86_64'>\n"
                           "      <wordsize>64</wordsize>\n      <emulator>%s</emulator>\n"
                           "      <machine maxCpus='%d'>pc</machine>\n"
                           "      <domain type='kvm'/>\n    </arch>\n"
                           "    <features>\n      <acpi default='on' toggle='yes'/>\n"
                           "      <apic default='on' toggle='no'/>\n    </features>\n"
                           "  </guest>\n\n</capabilities>\n",
                           emu, host_max_vcpus());
    return g_string_free(x, FALSE);
}

static void sysinfo_entry(GString *x, const char *name, const char *file)
{
    g_autofree char *path = g_strdup_printf("/sys/class/dmi/id/%s", file);
    g_autofree char *v = NULL;
    if (!g_file_get_contents(path, &v, NULL, NULL))
        return;
    g_strstrip(v);
    if (!*v)
        return;
    g_autofree char *esc = g_markup_escape_text(v, -1);
    g_string_append_printf(x, "    <entry name='%s'>%s</entry>\n", name, esc);
}

char *host_sysinfo_xml(void)
{
    if (!g_file_test("/sys/class/dmi/id", G_FILE_TEST_IS_DIR))
        return NULL;
    GString *x = g_string_new("<sysinfo type='smbios'>\n  <bios>\n");
    sysinfo_entry(x, "vendor", "bios_vendor");
    sysinfo_entry(x, "version", "bios_version");
    sysinfo_entry(x, "date", "bios_date");
    sysinfo_entry(x, "release", "bios_release");
    g_string_append(x, "  </bios>\n  <system>\n");
    sysinfo_entry(x, "manufacturer", "sys_vendor");
    sysinfo_entry(x, "product", "product_name");
    sysinfo_entry(x, "version", "product_version");
    sysinfo_entry(x, "family", "product_family");
    g_string_append(x, "  </system>\n</sysinfo>\n");
    return g_string_free(x, FALSE);
}

int host_cpulist_parse(const char *text, uint8_t *bits, size_t nbytes)
{
    if (!text)
        return -1;
    memset(bits, 0, nbytes);
    int top = 0;
    const char *p = text;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\n' || !*p)
        return 0;
    for (;;) {
        char *end;
        if (!g_ascii_isdigit(*p))
            return -1;
        guint64 first = g_ascii_strtoull(p, &end, 10), last = first;
        p = end;
        if (*p == '-') {
            p++;
            if (!g_ascii_isdigit(*p))
                return -1;
            last = g_ascii_strtoull(p, &end, 10);
            p = end;
        }
        if (last < first || last >= (guint64)nbytes * 8)
            return -1;
        for (guint64 cpu = first; cpu <= last; cpu++)
            bits[cpu / 8] |= (uint8_t)(1u << (cpu % 8));
        if ((int)last + 1 > top)
            top = (int)last + 1;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '\n')
            p++;
        return *p ? -1 : top;
    }
}

int host_cpu_map(const char *sysfs_cpu_dir, uint8_t map[HOST_CPUMAP_MAX_BYTES],
                 unsigned *online, char **error)
{
    const char *dir = sysfs_cpu_dir ? sysfs_cpu_dir : "/sys/devices/system/cpu";
    g_autofree char *present_path = g_build_filename(dir, "present", NULL);
    g_autofree char *online_path = g_build_filename(dir, "online", NULL);
    g_autofree char *present_text = NULL, *online_text = NULL;
    if (!g_file_get_contents(present_path, &present_text, NULL, NULL) ||
        !g_file_get_contents(online_path, &online_text, NULL, NULL)) {
        *error = g_strdup_printf("cannot read %s or %s", present_path, online_path);
        return -1;
    }
    g_autofree uint8_t *present = g_malloc0(HOST_CPUMAP_MAX_BYTES);
    int count = host_cpulist_parse(present_text, present, HOST_CPUMAP_MAX_BYTES);
    int top_online = host_cpulist_parse(online_text, map, HOST_CPUMAP_MAX_BYTES);
    if (count <= 0 || top_online < 0) {
        *error = g_strdup_printf("malformed CPU list in %s or %s", present_path, online_path);
        return -1;
    }
    unsigned n = 0;
    for (size_t i = 0; i < HOST_CPUMAP_MAX_BYTES; i++)
        n += (unsigned)__builtin_popcount(map[i]);
    *online = n;
    /* online CPUs are present ones, but be safe with odd sysfs contents */
    return MAX(count, top_online);
}
