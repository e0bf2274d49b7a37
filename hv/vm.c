/* The KVM VM: /dev/kvm checks, guest RAM, in-kernel irqchip/PIT, GSI
 * routing (x86-boot.md §4, virtio.md §9). */
#include "hv/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/errbuf.h"
#include "common/log.h"

#define IOAPIC_PINS 24
#define MAX_GSI 1024        /* GSIs we hand out for MSI routes: 24..MAX_GSI-1 */

struct vm_core {
    pthread_mutex_t route_lock;
    struct kvm_irq_routing *routing;    /* whole table, resent on every change */
    unsigned nroutes, route_cap;
    uint8_t gsi_used[MAX_GSI];

    struct kvm_irqchip chip_snapshot[3];  /* PIC master, PIC slave, IOAPIC at creation */
    struct kvm_pit_state2 pit_snapshot;
    bool have_snapshot;

    pthread_mutex_t request_lock;
    vm_request_fn request_fn;
    void *request_opaque;

    void *ram;          /* the whole guest RAM mapping (with its guard page), for munmap */
    size_t ram_mapped;

    pthread_mutex_t host_slot_lock;
    struct host_slot {
        bool used;
        bool readonly;
        uint64_t gpa, size;
        void *host;
    } host_slots[VM_MAX_HOST_SLOTS];
};

/* KVM slot numbers of host slots: after the RAM slots (0, 1), with room
 * for more RAM slots should they come. */
#define HOST_SLOT_BASE 16

static struct vm_core *core_of(struct vm *vm) { return vm->core; }

/* The default routing QEMU's PC machine installs: ISA IRQs to both PICs
 * and the IOAPIC, except that IRQ0 (PIT) goes to IOAPIC pin 2, matching
 * the MADT interrupt source override 0 -> GSI 2; GSIs 16-23 IOAPIC only. */
static void routing_add_irqchip(struct vm_core *c, uint32_t gsi, uint32_t chip, uint32_t pin)
{
    struct kvm_irq_routing_entry *e = &c->routing->entries[c->nroutes++];
    memset(e, 0, sizeof(*e));
    e->gsi = gsi;
    e->type = KVM_IRQ_ROUTING_IRQCHIP;
    e->u.irqchip.irqchip = chip;
    e->u.irqchip.pin = pin;
}

static int routing_init(struct vm_core *c)
{
    c->route_cap = 64;
    c->routing = calloc(1, sizeof(*c->routing) + c->route_cap * sizeof(c->routing->entries[0]));
    if (!c->routing)
        return -ENOMEM;
    for (uint32_t gsi = 0; gsi < IOAPIC_PINS; gsi++) {
        if (gsi < 16 && gsi != 2)
            routing_add_irqchip(c, gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
                                gsi % 8);
        if (gsi == 0)
            routing_add_irqchip(c, 0, KVM_IRQCHIP_IOAPIC, 2);
        else if (gsi != 2)
            routing_add_irqchip(c, gsi, KVM_IRQCHIP_IOAPIC, gsi);
        c->gsi_used[gsi] = 1;
    }
    return 0;
}

static int routing_commit(struct vm *vm)
{
    struct vm_core *c = core_of(vm);
    c->routing->nr = c->nroutes;
    c->routing->flags = 0;
    if (ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, c->routing) < 0)
        return -errno;
    return 0;
}

static bool check_cap(int kvm_fd, int cap, const char *name, char *err, size_t errlen)
{
    int r = ioctl(kvm_fd, KVM_CHECK_EXTENSION, cap);
    if (r <= 0) {
        errbuf_set(err, errlen, "/dev/kvm lacks the capability %s", name);
        return false;
    }
    return true;
}

/* Host memory the guest may use: physical RAM plus swap. */
static uint64_t host_memory_limit(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return UINT64_MAX;
    char line[256];
    uint64_t total = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long kb;
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1 || sscanf(line, "SwapTotal: %llu kB", &kb) == 1)
            total += (uint64_t)kb * 1024;
    }
    fclose(f);
    return total ? total : UINT64_MAX;
}

#define RAM_GUARD 4096ULL

/* Anonymous guest RAM whose start is 2 MiB aligned: KVM can only use a
 * huge nested mapping when the guest-physical and host-virtual addresses
 * agree modulo the page size, and guest RAM starts at GPA 0. One
 * inaccessible page stays mapped just below it, so the next mapping the
 * kernel places there (typically a thread's stack, used from its top)
 * does not end on a 2 MiB boundary and get a transparent huge page for
 * a few KiB of stack. The returned mapping starts at that guard page. */
static void *map_ram_aligned(size_t size, int flags)
{
    const size_t align = 2ULL << 20;
    uint8_t *raw = mmap(NULL, size + align + RAM_GUARD, PROT_NONE, flags, -1, 0);
    if (raw == MAP_FAILED)
        return MAP_FAILED;
    uint8_t *start = (uint8_t *)(((uintptr_t)raw + RAM_GUARD + align - 1) & ~(uintptr_t)(align - 1));
    uint8_t *guard = start - RAM_GUARD;
    size_t head = (size_t)(guard - raw), tail = (size_t)(raw + size + align + RAM_GUARD - (start + size));
    if (head)
        munmap(raw, head);
    if (tail)
        munmap(start + size, tail);
    if (mprotect(start, size, PROT_READ | PROT_WRITE) < 0) {
        int e = errno;
        munmap(guard, size + RAM_GUARD);
        errno = e;
        return MAP_FAILED;
    }
    return guard;
}

/* The default huge page size (Hugepagesize in /proc/meminfo), 2 MiB if unknown. */
static uint64_t hugepage_size(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    uint64_t size = 2ULL << 20;
    if (!f)
        return size;
    char line[256];
    unsigned long long kb;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "Hugepagesize: %llu kB", &kb) == 1)
            size = (uint64_t)kb << 10;
    fclose(f);
    return size;
}

/* "N of M free" from /proc/meminfo, for the out-of-hugepages error. */
static const char *hugepages_free_text(void)
{
    static char text[64];
    unsigned long long total = 0, free_pages = 0, kb;
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof(line), f)) {
            if (sscanf(line, "HugePages_Total: %llu", &kb) == 1)
                total = kb;
            else if (sscanf(line, "HugePages_Free: %llu", &kb) == 1)
                free_pages = kb;
        }
        fclose(f);
    }
    snprintf(text, sizeof(text), "%llu of %llu free", free_pages, total);
    return text;
}

static int map_ram(struct vm *vm, const struct vm_params *p, char *err, size_t errlen)
{
    struct vm_core *c = core_of(vm);
    uint64_t limit = host_memory_limit();
    if (p->ram_size > limit) {
        errbuf_set(err, errlen, "memory size %llu MiB exceeds what the host has (%llu MiB RAM+swap)",
                (unsigned long long)(p->ram_size >> 20), (unsigned long long)(limit >> 20));
        return -ENOMEM;
    }
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    if (p->hugepages) {
        uint64_t huge = hugepage_size();
        if (p->ram_size % huge) {
            errbuf_set(err, errlen, "memory size must be a multiple of the %llu KiB hugepage size with --hugepages",
                    (unsigned long long)(huge >> 10));
            return -EINVAL;
        }
        /* No MAP_NORESERVE here: a private hugetlb mapping then reserves
         * its pages at mmap time, so a shortage is an error now instead of
         * a SIGBUS when the guest first touches the missing pages. */
        flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;
    }
    void *map = p->hugepages ? mmap(NULL, p->ram_size, PROT_READ | PROT_WRITE, flags, -1, 0)
                             : map_ram_aligned(p->ram_size, flags);
    if (map == MAP_FAILED) {
        int e = errno;
        if (p->hugepages && e == ENOMEM)
            errbuf_set(err, errlen, "cannot allocate %llu MiB of guest memory from hugepages: not enough "
                    "free %llu KiB hugepages (%s; reserve more in /proc/sys/vm/nr_hugepages)",
                    (unsigned long long)(p->ram_size >> 20), (unsigned long long)(hugepage_size() >> 10),
                    hugepages_free_text());
        else
            errbuf_set(err, errlen, "cannot allocate %llu MiB of guest memory%s: %s",
                    (unsigned long long)(p->ram_size >> 20), p->hugepages ? " from hugepages" : "",
                    strerror(e));
        return -e;
    }
    c->ram = map;
    c->ram_mapped = p->ram_size + (p->hugepages ? 0 : RAM_GUARD);
    void *ram = (uint8_t *)map + (p->hugepages ? 0 : RAM_GUARD);
    if (!p->hugepages) {
        /* Ask for transparent huge pages even where THP is "madvise" only:
         * with host 2 MiB pages at 2 MiB-aligned guest addresses KVM maps
         * guest RAM with 2 MiB nested page table entries, so the guest's
         * first touch of its memory costs one fault per 2 MiB instead of
         * one per 4 KiB (each such fault is a VM exit). */
        madvise(ram, p->ram_size, MADV_HUGEPAGE);
    }
    madvise(ram, p->ram_size, MADV_MERGEABLE);

    vm->ram_below_4g = p->ram_size < VM_LOW_RAM_MAX ? p->ram_size : VM_LOW_RAM_MAX;
    vm->ram_above_4g = p->ram_size - vm->ram_below_4g;
    struct { uint64_t gpa, size; uint8_t *host; } slots[2] = {
        { 0, vm->ram_below_4g, ram },
        { VM_HIGH_RAM_BASE, vm->ram_above_4g, (uint8_t *)ram + vm->ram_below_4g },
    };
    for (uint32_t i = 0; i < 2; i++) {
        if (!slots[i].size)
            continue;
        struct kvm_userspace_memory_region region = {
            .slot = i,
            .guest_phys_addr = slots[i].gpa,
            .memory_size = slots[i].size,
            .userspace_addr = (uintptr_t)slots[i].host,
        };
        if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
            int e = errno;
            errbuf_set(err, errlen, "KVM_SET_USER_MEMORY_REGION (slot %u): %s", i, strerror(e));
            return -e;
        }
        if (!gm_add_region(&vm->mem, slots[i].gpa, slots[i].size, slots[i].host)) {
            errbuf_set(err, errlen, "guest memory map: region %u rejected", i);
            return -EINVAL;
        }
    }
    return 0;
}

static void snapshot_irqchip(struct vm *vm)
{
    struct vm_core *c = core_of(vm);
    bool ok = true;
    for (int i = 0; i < 3; i++) {
        memset(&c->chip_snapshot[i], 0, sizeof(c->chip_snapshot[i]));
        c->chip_snapshot[i].chip_id = i;  /* KVM_IRQCHIP_PIC_MASTER, _SLAVE, _IOAPIC */
        ok = ok && ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &c->chip_snapshot[i]) == 0;
    }
    ok = ok && ioctl(vm->vm_fd, KVM_GET_PIT2, &c->pit_snapshot) == 0;
    c->have_snapshot = ok;
    if (!ok)
        log_warn("cannot snapshot the in-kernel irqchip: %m (reset will keep its state)");
}

void vm_reset_irqchip(struct vm *vm)
{
    struct vm_core *c = core_of(vm);
    if (!c->have_snapshot)
        return;
    for (int i = 0; i < 3; i++)
        if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &c->chip_snapshot[i]) < 0)
            log_warn("KVM_SET_IRQCHIP %d: %m", i);
    if (ioctl(vm->vm_fd, KVM_SET_PIT2, &c->pit_snapshot) < 0)
        log_warn("KVM_SET_PIT2: %m");
}

struct vm *vm_create(const struct vm_params *p, char *err, size_t errlen)
{
    struct vm *vm = calloc(1, sizeof(*vm));
    struct vm_core *c = calloc(1, sizeof(*c));
    if (!vm || !c) {
        free(vm);
        free(c);
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    vm->core = c;
    vm->kvm_fd = vm->vm_fd = -1;
    vm->ncpus = p->ncpus;
    pthread_mutex_init(&c->route_lock, NULL);
    pthread_mutex_init(&c->request_lock, NULL);
    pthread_mutex_init(&c->host_slot_lock, NULL);

    vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0) {
        errbuf_set(err, errlen, "cannot open /dev/kvm: %s", strerror(errno));
        goto fail;
    }
    int api = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        errbuf_set(err, errlen, "/dev/kvm API version %d, need %d", api, KVM_API_VERSION);
        goto fail;
    }
    static const struct { int cap; const char *name; } caps[] = {
        { KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
        { KVM_CAP_PIT2, "KVM_CAP_PIT2" },
        { KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
        { KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
        { KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING" },
        { KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI" },
        { KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
        { KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR" },
        { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
        { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
        { KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE" },
        { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
    };
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
        if (!check_cap(vm->kvm_fd, caps[i].cap, caps[i].name, err, errlen))
            goto fail;
    int max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (max_vcpus <= 0)
        max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    if (max_vcpus > 0 && p->ncpus > (unsigned)max_vcpus) {
        errbuf_set(err, errlen, "%u vCPUs requested, KVM allows at most %d", p->ncpus, max_vcpus);
        goto fail;
    }

    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0) {
        errbuf_set(err, errlen, "KVM_CREATE_VM: %s", strerror(errno));
        goto fail;
    }
    fcntl(vm->vm_fd, F_SETFD, FD_CLOEXEC);
    /* Both before any vCPU exists (x86-boot.md §4 step 3). */
    if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)VM_TSS_ADDR) < 0) {
        errbuf_set(err, errlen, "KVM_SET_TSS_ADDR: %s", strerror(errno));
        goto fail;
    }
    uint64_t idmap = VM_IDMAP_ADDR;
    if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) {
        errbuf_set(err, errlen, "KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
        goto fail;
    }
    if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
        errbuf_set(err, errlen, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
        goto fail;
    }
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
        errbuf_set(err, errlen, "KVM_CREATE_PIT2: %s", strerror(errno));
        goto fail;
    }
    if (routing_init(c) < 0 || routing_commit(vm) < 0) {
        errbuf_set(err, errlen, "KVM_SET_GSI_ROUTING: %s", strerror(errno));
        goto fail;
    }
    snapshot_irqchip(vm);
    if (map_ram(vm, p, err, errlen) < 0)
        goto fail;
    vm->bus = bus_new();
    if (!vm->bus) {
        errbuf_set(err, errlen, "out of memory");
        goto fail;
    }
    return vm;
fail:
    vm_destroy(vm);
    return NULL;
}

struct vm *vm_create_for_test(void)
{
    struct vm *vm = calloc(1, sizeof(*vm));
    struct vm_core *c = calloc(1, sizeof(*c));
    if (!vm || !c) {
        free(vm);
        free(c);
        return NULL;
    }
    vm->core = c;
    vm->kvm_fd = vm->vm_fd = -1;
    vm->ncpus = 1;
    pthread_mutex_init(&c->route_lock, NULL);
    pthread_mutex_init(&c->request_lock, NULL);
    pthread_mutex_init(&c->host_slot_lock, NULL);
    if (routing_init(c) < 0 || !(vm->bus = bus_new())) {
        vm_destroy(vm);
        return NULL;
    }
    return vm;
}

void vm_destroy(struct vm *vm)
{
    if (!vm)
        return;
    struct vm_core *c = core_of(vm);
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    if (c) {
        if (c->ram)
            munmap(c->ram, c->ram_mapped);
        free(c->routing);
        free(c);
    }
    bus_free(vm->bus);
    free(vm);
}

int vm_irq_line(struct vm *vm, uint32_t gsi, bool level)
{
    struct kvm_irq_level irq = { .irq = gsi, .level = level ? 1 : 0 };
    if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
        return -errno;
    return 0;
}

int vm_ioeventfd(struct vm *vm, enum bus_space space, uint64_t addr, uint32_t len,
                 int64_t datamatch, int fd, bool assign)
{
    struct kvm_ioeventfd io = { .addr = addr, .len = len, .fd = fd };
    if (datamatch >= 0) {
        io.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
        io.datamatch = (uint64_t)datamatch;
    }
    if (space == BUS_PIO)
        io.flags |= KVM_IOEVENTFD_FLAG_PIO;
    if (!assign)
        io.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
    if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0)
        return -errno;
    return 0;
}

static struct kvm_irq_routing_entry *route_find(struct vm_core *c, uint32_t gsi)
{
    for (unsigned i = 0; i < c->nroutes; i++)
        if (c->routing->entries[i].gsi == gsi && c->routing->entries[i].type == KVM_IRQ_ROUTING_MSI)
            return &c->routing->entries[i];
    return NULL;
}

static void route_set_msi(struct kvm_irq_routing_entry *e, uint32_t gsi, uint64_t addr, uint32_t data)
{
    memset(e, 0, sizeof(*e));
    e->gsi = gsi;
    e->type = KVM_IRQ_ROUTING_MSI;
    e->u.msi.address_lo = (uint32_t)addr;
    e->u.msi.address_hi = (uint32_t)(addr >> 32);
    e->u.msi.data = data;
}

int vm_msi_route_alloc(struct vm *vm, uint64_t addr, uint32_t data)
{
    struct vm_core *c = core_of(vm);
    pthread_mutex_lock(&c->route_lock);
    int gsi = -ENOSPC;
    for (uint32_t g = IOAPIC_PINS; g < MAX_GSI; g++) {
        if (!c->gsi_used[g]) {
            gsi = (int)g;
            break;
        }
    }
    if (gsi < 0)
        goto out;
    if (c->nroutes == c->route_cap) {
        unsigned cap = c->route_cap * 2;
        struct kvm_irq_routing *r = realloc(c->routing, sizeof(*r) + cap * sizeof(r->entries[0]));
        if (!r) {
            gsi = -ENOMEM;
            goto out;
        }
        c->routing = r;
        c->route_cap = cap;
    }
    route_set_msi(&c->routing->entries[c->nroutes++], (uint32_t)gsi, addr, data);
    int r = routing_commit(vm);
    if (r < 0) {
        c->nroutes--;
        gsi = r;
        goto out;
    }
    c->gsi_used[gsi] = 1;
out:
    pthread_mutex_unlock(&c->route_lock);
    return gsi;
}

int vm_msi_route_update(struct vm *vm, uint32_t gsi, uint64_t addr, uint32_t data)
{
    struct vm_core *c = core_of(vm);
    pthread_mutex_lock(&c->route_lock);
    int r = -ENOENT;
    struct kvm_irq_routing_entry *e = route_find(c, gsi);
    if (e) {
        struct kvm_irq_routing_entry saved = *e;
        route_set_msi(e, gsi, addr, data);
        r = routing_commit(vm);
        if (r < 0)
            *e = saved;
    }
    pthread_mutex_unlock(&c->route_lock);
    return r;
}

void vm_msi_route_free(struct vm *vm, uint32_t gsi)
{
    struct vm_core *c = core_of(vm);
    pthread_mutex_lock(&c->route_lock);
    struct kvm_irq_routing_entry *e = route_find(c, gsi);
    if (e) {
        *e = c->routing->entries[--c->nroutes];
        c->gsi_used[gsi] = 0;
        if (routing_commit(vm) < 0)
            log_warn("KVM_SET_GSI_ROUTING after freeing GSI %u: %m", gsi);
    }
    pthread_mutex_unlock(&c->route_lock);
}

int vm_coalesce_pio(struct vm *vm, uint16_t port, uint32_t len)
{
    if (vm->vm_fd < 0)
        return -EBADF;
    if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_PIO) <= 0)
        return -ENOTSUP;
    struct kvm_coalesced_mmio_zone zone = { .addr = port, .size = len, .pio = 1 };
    return ioctl(vm->vm_fd, KVM_REGISTER_COALESCED_MMIO, &zone) < 0 ? -errno : 0;
}

int vm_irqfd(struct vm *vm, uint32_t gsi, int fd, int resample_fd, bool assign)
{
    struct kvm_irqfd irqfd = { .fd = (uint32_t)fd, .gsi = gsi };
    if (!assign)
        irqfd.flags |= KVM_IRQFD_FLAG_DEASSIGN;
    else if (resample_fd >= 0) {
        irqfd.flags |= KVM_IRQFD_FLAG_RESAMPLE;
        irqfd.resamplefd = (uint32_t)resample_fd;
    }
    if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0)
        return -errno;
    return 0;
}

int vm_signal_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
    struct kvm_msi msi = {
        .address_lo = (uint32_t)addr,
        .address_hi = (uint32_t)(addr >> 32),
        .data = data,
    };
    /* Returns > 0 when delivered, 0 when the guest blocked it. */
    if (ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
        return -errno;
    return 0;
}

void vm_set_request_handler(struct vm *vm, vm_request_fn fn, void *opaque)
{
    struct vm_core *c = core_of(vm);
    pthread_mutex_lock(&c->request_lock);
    c->request_fn = fn;
    c->request_opaque = opaque;
    pthread_mutex_unlock(&c->request_lock);
}

void vm_request(struct vm *vm, enum vm_request req)
{
    struct vm_core *c = core_of(vm);
    if (!c) {
        log_warn("guest requested %s without a VM core", req == VM_REQUEST_RESET ? "a reset" : "power off");
        return;
    }
    pthread_mutex_lock(&c->request_lock);
    vm_request_fn fn = c->request_fn;
    void *opaque = c->request_opaque;
    pthread_mutex_unlock(&c->request_lock);
    if (fn)
        fn(opaque, req);
    else
        log_warn("guest requested %s, but nothing handles it", req == VM_REQUEST_RESET ? "a reset" : "power off");
}

/* ---- host slots (vm.h) ---- */

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return alen && blen && a < b + blen && b < a + alen;
}

/* KVM_SET_USER_MEMORY_REGION for host slot i (size 0 deletes it, a new
 * gpa with the same size and address moves it: KVM api.rst 4.35). */
static int host_slot_commit(struct vm *vm, unsigned i, uint64_t gpa, uint64_t size, void *host,
                            bool readonly)
{
    if (vm->vm_fd < 0)
        return 0;  /* test VM: bookkeeping only */
    struct kvm_userspace_memory_region region = {
        .slot = HOST_SLOT_BASE + i,
        .flags = readonly ? KVM_MEM_READONLY : 0,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uintptr_t)host,
    };
    return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0 ? -errno : 0;
}

/* Called with host_slot_lock held; `self` is skipped (a move). */
static int host_slot_check(struct vm *vm, int self, uint64_t gpa, uint64_t size)
{
    struct vm_core *c = core_of(vm);
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    if (!size || (gpa | size) & (page - 1) || gpa + size < gpa)
        return -EINVAL;
    if (ranges_overlap(gpa, size, 0, vm->ram_below_4g) ||
        ranges_overlap(gpa, size, VM_HIGH_RAM_BASE, vm->ram_above_4g))
        return -EEXIST;
    for (int i = 0; i < VM_MAX_HOST_SLOTS; i++)
        if (i != self && c->host_slots[i].used &&
            ranges_overlap(gpa, size, c->host_slots[i].gpa, c->host_slots[i].size))
            return -EEXIST;
    return 0;
}

static int host_slot_add(struct vm *vm, uint64_t gpa, uint64_t size, void *host, bool readonly)
{
    struct vm_core *c = core_of(vm);
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    if (!host || (uintptr_t)host & (page - 1))
        return -EINVAL;
    pthread_mutex_lock(&c->host_slot_lock);
    int r = host_slot_check(vm, -1, gpa, size);
    if (r < 0)
        goto out;
    r = -ENOSPC;
    for (int i = 0; i < VM_MAX_HOST_SLOTS; i++) {
        if (c->host_slots[i].used)
            continue;
        r = host_slot_commit(vm, (unsigned)i, gpa, size, host, readonly);
        if (r == 0) {
            c->host_slots[i] = (struct host_slot){ .used = true, .readonly = readonly, .gpa = gpa,
                                                   .size = size, .host = host };
            r = i;
        }
        break;
    }
out:
    pthread_mutex_unlock(&c->host_slot_lock);
    return r;
}

int vm_host_slot_add(struct vm *vm, uint64_t gpa, uint64_t size, void *host)
{
    return host_slot_add(vm, gpa, size, host, false);
}

int vm_host_slot_add_rom(struct vm *vm, uint64_t gpa, uint64_t size, void *host)
{
    if (vm->kvm_fd >= 0 && ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) <= 0)
        return -ENOTSUP;
    return host_slot_add(vm, gpa, size, host, true);
}

int vm_host_slot_move(struct vm *vm, int handle, uint64_t gpa)
{
    struct vm_core *c = core_of(vm);
    if (handle < 0 || handle >= VM_MAX_HOST_SLOTS)
        return -EINVAL;
    pthread_mutex_lock(&c->host_slot_lock);
    struct host_slot *hs = &c->host_slots[handle];
    int r = -ENOENT;
    if (hs->used && (r = host_slot_check(vm, handle, gpa, hs->size)) == 0 &&
        (r = host_slot_commit(vm, (unsigned)handle, gpa, hs->size, hs->host, hs->readonly)) == 0)
        hs->gpa = gpa;
    pthread_mutex_unlock(&c->host_slot_lock);
    return r;
}

void vm_host_slot_remove(struct vm *vm, int handle)
{
    struct vm_core *c = core_of(vm);
    if (handle < 0 || handle >= VM_MAX_HOST_SLOTS)
        return;
    pthread_mutex_lock(&c->host_slot_lock);
    struct host_slot *hs = &c->host_slots[handle];
    if (hs->used) {
        int r = host_slot_commit(vm, (unsigned)handle, hs->gpa, 0, hs->host, false);
        if (r < 0)
            log_warn("removing the KVM memory slot at 0x%llx: %s", (unsigned long long)hs->gpa,
                     strerror(-r));
        *hs = (struct host_slot){ 0 };
    }
    pthread_mutex_unlock(&c->host_slot_lock);
}

bool vm_host_slot_get(struct vm *vm, int handle, uint64_t *gpa, uint64_t *size, uint32_t *kvm_slot)
{
    struct vm_core *c = core_of(vm);
    if (handle < 0 || handle >= VM_MAX_HOST_SLOTS)
        return false;
    pthread_mutex_lock(&c->host_slot_lock);
    const struct host_slot *hs = &c->host_slots[handle];
    bool used = hs->used;
    if (used) {
        if (gpa)
            *gpa = hs->gpa;
        if (size)
            *size = hs->size;
        if (kvm_slot)
            *kvm_slot = HOST_SLOT_BASE + (uint32_t)handle;
    }
    pthread_mutex_unlock(&c->host_slot_lock);
    return used;
}

unsigned vm_host_slot_count(struct vm *vm)
{
    struct vm_core *c = core_of(vm);
    unsigned n = 0;
    pthread_mutex_lock(&c->host_slot_lock);
    for (int i = 0; i < VM_MAX_HOST_SLOTS; i++)
        n += c->host_slots[i].used;
    pthread_mutex_unlock(&c->host_slot_lock);
    return n;
}
