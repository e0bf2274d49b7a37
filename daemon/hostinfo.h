/* Facts about the host for the connection-level procedures: NODE_GET_INFO,
 * free memory, memory stats, capabilities XML and sysinfo XML, read from
 * /proc, /sys and /dev/kvm. Paths are parameters so tests can feed files. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* NODE_GET_INFO (§10 proc 6). */
struct host_node_info {
    char model[32];      /* uname machine, e.g. "x86_64" */
    uint64_t memory_kib; /* MemTotal */
    int32_t cpus;        /* online CPUs */
    int32_t mhz;
    int32_t nodes;
    int32_t sockets;     /* per node */
    int32_t cores;       /* per socket */
    int32_t threads;     /* per core */
};

/* Fill from cpuinfo/meminfo files (NULL = /proc/cpuinfo, /proc/meminfo).
 * False with `error` set when neither gives the basics. */
bool host_node_info(const char *cpuinfo_path, const char *meminfo_path, struct host_node_info *out,
                    char **error);

/* A field of /proc/meminfo in KiB (e.g. "MemFree"); false if absent. */
bool host_meminfo_kib(const char *meminfo_path, const char *field, uint64_t *kib);

/* The most vCPUs a KVM guest may have on this host (KVM_CAP_MAX_VCPUS, or a
 * conservative default when /dev/kvm cannot be asked). */
int host_max_vcpus(void);

/* libvirt capabilities XML for this host: host CPU arch, one NUMA cell,
 * guest x86_64 hvm with domain type kvm run by `emulator`. g_free() it. */
char *host_capabilities_xml(const char *emulator);

/* <sysinfo type='smbios'> from /sys/class/dmi/id, NULL when it has nothing. */
char *host_sysinfo_xml(void);

/* A sysfs CPU list ("0-3,8,10-11\n", cpulist format of
 * Documentation/ABI/testing/sysfs-devices-system-cpu) into a bitmap of
 * `nbytes` bytes, CPU n = bit n%8 of byte n/8 (libvirt's cpumap layout).
 * Returns the highest CPU listed + 1 (0 for an empty list), or -1 when the
 * text is malformed or names a CPU beyond the bitmap. */
int host_cpulist_parse(const char *text, uint8_t *bits, size_t nbytes);

/* Largest CPU number hvd handles in a host CPU map (libvirt's
 * REMOTE_CPUMAP_MAX of 2048 bytes = 16384 CPUs). */
#define HOST_CPUMAP_MAX_BYTES 2048u

/* virNodeGetCPUMap (virHostCPUGetMap): the number of host CPUs (highest
 * present CPU + 1, from <sysfs_cpu_dir>/present), the online ones as a
 * bitmap (from <sysfs_cpu_dir>/online; HOST_CPUMAP_MAX_BYTES long) and
 * their count. sysfs_cpu_dir NULL = /sys/devices/system/cpu. -1 with
 * `error` when the files cannot be read. */
int host_cpu_map(const char *sysfs_cpu_dir, uint8_t map[HOST_CPUMAP_MAX_BYTES],
                 unsigned *online, char **error);
