/* vCPU threads and state (x86-boot.md §2 and §4). */
#include "hv/vcpu.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <stdatomic.h>

#include "common/errbuf.h"
#include "common/log.h"
#include "hv/boot/bzimage.h"
#include "hv/vm.h"
#include "hv/x86/cpuid.h"

#define SIG_VCPU_KICK SIGUSR1

/* LAPIC registers (Intel SDM vol. 3A §11.4.1 / §11.5.1). */
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

struct vcpu {
    struct vm *vm;
    unsigned id;
    int fd;
    struct kvm_run *run;
    size_t run_size;
    pthread_t thread;
    bool started;
    _Atomic pid_t tid;
    bool pending_io;  /* last exit was IO/MMIO: complete it before parking */
    /* Power-on state snapshot, restored on reset. */
    struct kvm_regs regs0;
    struct kvm_sregs sregs0;
    struct kvm_lapic_state lapic0;
};

struct vcpus {
    unsigned n;
    struct vcpu *v;
    pthread_mutex_t lock;
    pthread_cond_t run_cond;   /* paused -> running */
    pthread_cond_t park_cond;  /* a vCPU parked */
    bool paused;
    unsigned parked;
    vcpu_fatal_fn fatal_fn;
    void *fatal_opaque;
    /* KVM's ring of coalesced writes (shared by the VM, mapped after any
     * vCPU's kvm_run); NULL when KVM has none. */
    struct kvm_coalesced_mmio_ring *coalesced;
    unsigned coalesced_max;
    pthread_mutex_t coalesced_lock;
};

static void kick_handler(int sig) { (void)sig; }

static uint32_t lapic_get(const struct kvm_lapic_state *l, unsigned off)
{
    uint32_t v;
    memcpy(&v, &l->regs[off], 4);
    return v;
}

static void lapic_set(struct kvm_lapic_state *l, unsigned off, uint32_t v) { memcpy(&l->regs[off], &v, 4); }

static uint32_t lvt_mode(uint32_t reg, uint32_t mode)
{
    /* Delivery mode bits 10:8, unmasked (bit 16 clear). */
    return (reg & ~(0x700u | (1u << 16))) | (mode << 8);
}

static int set_msr(int fd, uint32_t index, uint64_t value)
{
    /* struct kvm_msrs ends in a flexible array: room for one entry. */
    union {
        uint64_t align;
        uint8_t bytes[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
    } buf;
    memset(&buf, 0, sizeof(buf));
    struct kvm_msrs *m = (struct kvm_msrs *)buf.bytes;
    m->nmsrs = 1;
    m->entries[0].index = index;
    m->entries[0].data = value;
    int r = ioctl(fd, KVM_SET_MSRS, m);
    return r == 1 ? 0 : -1;
}

/* Architectural and paravirtual MSRs a fresh boot expects (x86-boot.md
 * §4 step 9); the kvmclock/async-PF/steal-time/PV-EOI ones are cleared so
 * a reset guest's memory is not written by the previous kernel's setup. */
static void reset_msrs(struct vcpu *v)
{
    static const struct { uint32_t index; uint64_t value; bool required; } msrs[] = {
        { 0x174, 0, true },          /* IA32_SYSENTER_CS */
        { 0x175, 0, true },          /* IA32_SYSENTER_ESP */
        { 0x176, 0, true },          /* IA32_SYSENTER_EIP */
        { 0xC0000081, 0, true },     /* STAR */
        { 0xC0000082, 0, true },     /* LSTAR */
        { 0xC0000083, 0, false },    /* CSTAR */
        { 0xC0000084, 0, true },     /* SYSCALL_MASK */
        { 0xC0000102, 0, true },     /* KERNEL_GS_BASE */
        /* TSC (0x10) is left alone: KVM starts all vCPUs' TSCs in sync,
         * and writing it per vCPU makes Linux see them unsynchronized. */
        { 0x1A0, 1, false },         /* IA32_MISC_ENABLE: fast strings */
        { 0x2FF, 0x806, false },     /* MTRRdefType: enabled, default write-back */
        { 0x11, 0, false },          /* MSR_KVM_WALL_CLOCK */
        { 0x12, 0, false },          /* MSR_KVM_SYSTEM_TIME */
        { 0x4b564d00, 0, false },    /* MSR_KVM_WALL_CLOCK_NEW */
        { 0x4b564d01, 0, false },    /* MSR_KVM_SYSTEM_TIME_NEW */
        { 0x4b564d02, 0, false },    /* MSR_KVM_ASYNC_PF_EN */
        { 0x4b564d03, 0, false },    /* MSR_KVM_STEAL_TIME */
        { 0x4b564d04, 0, false },    /* MSR_KVM_PV_EOI_EN */
    };
    for (size_t i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++)
        if (set_msr(v->fd, msrs[i].index, msrs[i].value) < 0 && msrs[i].required)
            log_warn("vCPU %u: cannot set MSR 0x%x", v->id, msrs[i].index);
}

static int vcpu_init_one(struct vm *vm, struct vcpu *v, unsigned id, const struct kvm_cpuid2 *supported,
                         char *err, size_t errlen)
{
    v->vm = vm;
    v->id = id;
    v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
    if (v->fd < 0) {
        errbuf_set(err, errlen, "KVM_CREATE_VCPU %u: %s", id, strerror(errno));
        return -1;
    }
    fcntl(v->fd, F_SETFD, FD_CLOEXEC);
    int sz = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (sz <= 0) {
        errbuf_set(err, errlen, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
        return -1;
    }
    v->run_size = (size_t)sz;
    v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED) {
        v->run = NULL;
        errbuf_set(err, errlen, "mmap of vCPU %u's kvm_run: %s", id, strerror(errno));
        return -1;
    }

    size_t bytes = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
    struct kvm_cpuid2 *cpuid = malloc(bytes);
    if (!cpuid) {
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    memcpy(cpuid, supported, bytes);
    bool tsc_deadline = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
    cpuid_patch(cpuid->entries, cpuid->nent, id, vm->ncpus, tsc_deadline);
    int r = ioctl(v->fd, KVM_SET_CPUID2, cpuid);
    free(cpuid);
    if (r < 0) {
        errbuf_set(err, errlen, "KVM_SET_CPUID2 (vCPU %u): %s", id, strerror(errno));
        return -1;
    }
    reset_msrs(v);

    struct kvm_lapic_state lapic;
    if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0) {
        errbuf_set(err, errlen, "KVM_GET_LAPIC: %s", strerror(errno));
        return -1;
    }
    /* Virtual-wire mode as a BIOS leaves it: LINT0 ExtINT, LINT1 NMI. */
    lapic_set(&lapic, APIC_LVT_LINT0, lvt_mode(lapic_get(&lapic, APIC_LVT_LINT0), APIC_MODE_EXTINT));
    lapic_set(&lapic, APIC_LVT_LINT1, lvt_mode(lapic_get(&lapic, APIC_LVT_LINT1), APIC_MODE_NMI));
    if (ioctl(v->fd, KVM_SET_LAPIC, &lapic) < 0) {
        errbuf_set(err, errlen, "KVM_SET_LAPIC: %s", strerror(errno));
        return -1;
    }
    v->lapic0 = lapic;
    if (ioctl(v->fd, KVM_GET_REGS, &v->regs0) < 0 || ioctl(v->fd, KVM_GET_SREGS, &v->sregs0) < 0) {
        errbuf_set(err, errlen, "reading vCPU %u's initial state: %s", id, strerror(errno));
        return -1;
    }
    return 0;
}

int vcpus_create(struct vm *vm, unsigned ncpus, char *err, size_t errlen)
{
    struct vcpus *m = calloc(1, sizeof(*m));
    if (!m) {
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    m->v = calloc(ncpus, sizeof(*m->v));
    if (!m->v) {
        free(m);
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->run_cond, NULL);
    pthread_cond_init(&m->park_cond, NULL);
    vm->vcpus = m;

    struct sigaction sa = { .sa_handler = kick_handler };
    sigemptyset(&sa.sa_mask);
    sigaction(SIG_VCPU_KICK, &sa, NULL);  /* no SA_RESTART: KVM_RUN returns EINTR */

    struct kvm_cpuid2 *supported = cpuid_get_supported(vm->kvm_fd);
    if (!supported) {
        errbuf_set(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
        return -1;
    }
    for (unsigned i = 0; i < ncpus; i++) {
        m->v[i].fd = -1;
        if (vcpu_init_one(vm, &m->v[i], i, supported, err, errlen) < 0) {
            free(supported);
            m->n = i + 1;
            return -1;
        }
        m->n = i + 1;
    }
    free(supported);
    /* KVM_CHECK_EXTENSION(KVM_CAP_COALESCED_MMIO) is the ring's page
     * offset in the vCPU mapping. */
    long page = sysconf(_SC_PAGESIZE);
    int off = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO);
    if (off > 0 && page > 0 && (size_t)(off + 1) * (size_t)page <= m->v[0].run_size) {
        m->coalesced = (void *)((char *)m->v[0].run + (size_t)off * (size_t)page);
        m->coalesced_max = (unsigned)(((size_t)page - sizeof(struct kvm_coalesced_mmio_ring)) /
                                      sizeof(struct kvm_coalesced_mmio));
        pthread_mutex_init(&m->coalesced_lock, NULL);
    }
    return 0;
}

/* Apply the writes KVM buffered in the coalesced ring (vm_coalesce_pio),
 * in order, before anything else of this exit is handled: a later read
 * must see them. Any vCPU thread may drain; one at a time. */
static void drain_coalesced(struct vcpus *m, struct vm *vm)
{
    struct kvm_coalesced_mmio_ring *ring = m->coalesced;
    if (!ring || __atomic_load_n(&ring->first, __ATOMIC_ACQUIRE) ==
                     __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE))
        return;
    pthread_mutex_lock(&m->coalesced_lock);
    uint32_t first = __atomic_load_n(&ring->first, __ATOMIC_ACQUIRE);
    while (first != __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE) && first < m->coalesced_max) {
        struct kvm_coalesced_mmio *e = &ring->coalesced_mmio[first];
        uint8_t data[8];
        uint32_t len = e->len <= sizeof(data) ? e->len : (uint32_t)sizeof(data);
        memcpy(data, e->data, len);
        bus_dispatch(vm->bus, e->pio ? BUS_PIO : BUS_MMIO, e->phys_addr, data, len, true);
        first = (first + 1) % m->coalesced_max;
        __atomic_store_n(&ring->first, first, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&m->coalesced_lock);
}

static int set_boot_regs(struct vcpu *v, const struct boot_result *boot, char *err, size_t errlen)
{
    struct kvm_sregs s = v->sregs0;
    struct kvm_segment code = {
        .base = 0, .limit = 0xFFFFFFFF, .selector = BOOT_CODE_SEL, .type = 0xB,
        .present = 1, .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1,
    };
    struct kvm_segment data = code;
    data.selector = BOOT_DATA_SEL;
    data.type = 0x3;
    data.db = 1;
    data.l = 0;
    s.cs = code;
    s.ds = s.es = s.fs = s.gs = s.ss = data;
    s.tr = (struct kvm_segment){ .base = 0, .limit = 0x67, .selector = BOOT_TSS_SEL, .type = 0xB,
                                 .present = 1, .s = 0 };
    s.gdt.base = BOOT_GDT_ADDR;
    s.gdt.limit = 5 * 8 - 1;
    s.idt.base = 0;
    s.idt.limit = 0;
    s.cr0 = 0x80000011;  /* PG | ET | PE */
    s.cr3 = BOOT_PML4_ADDR;
    s.cr4 = 0x20;        /* PAE */
    s.efer = 0x500;      /* LME | LMA */
    if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0) {
        errbuf_set(err, errlen, "KVM_SET_SREGS: %s", strerror(errno));
        return -1;
    }
    struct kvm_regs r;
    memset(&r, 0, sizeof(r));
    r.rip = boot->entry;
    r.rsi = boot->boot_params;
    r.rsp = BOOT_STACK_TOP;
    r.rflags = 0x2;
    if (ioctl(v->fd, KVM_SET_REGS, &r) < 0) {
        errbuf_set(err, errlen, "KVM_SET_REGS: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int vcpus_load_boot_state(struct vm *vm, const struct boot_result *boot, char *err, size_t errlen)
{
    struct vcpus *m = vm->vcpus;
    for (unsigned i = 0; i < m->n; i++) {
        struct vcpu *v = &m->v[i];
        /* sregs first: it carries the APIC base, which decides how the
         * LAPIC state is interpreted. */
        if (ioctl(v->fd, KVM_SET_SREGS, &v->sregs0) < 0 || ioctl(v->fd, KVM_SET_REGS, &v->regs0) < 0) {
            errbuf_set(err, errlen, "restoring vCPU %u state: %s", i, strerror(errno));
            return -1;
        }
        struct kvm_fpu fpu;
        memset(&fpu, 0, sizeof(fpu));
        fpu.fcw = 0x37F;
        fpu.mxcsr = 0x1F80;
        if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
            log_warn("vCPU %u: KVM_SET_FPU: %m", i);
        struct kvm_xcrs xcrs;
        memset(&xcrs, 0, sizeof(xcrs));
        xcrs.nr_xcrs = 1;
        xcrs.xcrs[0].xcr = 0;
        xcrs.xcrs[0].value = 1;  /* x87 only, as after RESET */
        ioctl(v->fd, KVM_SET_XCRS, &xcrs);
        reset_msrs(v);
        if (ioctl(v->fd, KVM_SET_LAPIC, &v->lapic0) < 0)
            log_warn("vCPU %u: KVM_SET_LAPIC: %m", i);
        struct kvm_vcpu_events ev;
        memset(&ev, 0, sizeof(ev));
        ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING;
        ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev);
        struct kvm_mp_state mp = { .mp_state = i == 0 ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_UNINITIALIZED };
        if (ioctl(v->fd, KVM_SET_MP_STATE, &mp) < 0)
            log_warn("vCPU %u: KVM_SET_MP_STATE: %m", i);
        if (i == 0 && boot && set_boot_regs(v, boot, err, errlen) < 0)
            return -1;
        v->pending_io = false;
    }
    return 0;
}

static void report_fatal(struct vcpu *v)
{
    struct vcpus *m = v->vm->vcpus;
    pthread_mutex_lock(&m->lock);
    vcpu_fatal_fn fn = m->fatal_fn;
    void *opaque = m->fatal_opaque;
    pthread_mutex_unlock(&m->lock);
    if (fn)
        fn(opaque, v->id);
    else
        exit(3);
    vcpus_request_pause(v->vm);
}

static void handle_io(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    uint32_t size = run->io.size, count = run->io.count;
    uint64_t off = run->io.data_offset;
    if ((size != 1 && size != 2 && size != 4) || off > v->run_size ||
        (uint64_t)size * count > v->run_size - off)
        return;
    uint8_t *data = (uint8_t *)run + off;
    bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
    for (uint32_t i = 0; i < count; i++)
        bus_dispatch(v->vm->bus, BUS_PIO, run->io.port, data + (size_t)i * size, size, is_write);
}

/* At most a few triple-fault lines per second (a guest that faults at
 * once would otherwise fill the log). */
static bool triple_fault_log_allowed(void)
{
    static _Atomic long window;
    static _Atomic unsigned count;
    long now = (long)time(NULL);
    if (atomic_exchange(&window, now) != now)
        atomic_store(&count, 0);
    return atomic_fetch_add(&count, 1) < 5;
}

/* Returns false when the thread must stop running guest code. */
static bool handle_exit(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        handle_io(v);
        v->pending_io = true;
        return true;
    case KVM_EXIT_MMIO:
        if (run->mmio.len <= 8)
            bus_dispatch(v->vm->bus, BUS_MMIO, run->mmio.phys_addr, run->mmio.data, run->mmio.len,
                         run->mmio.is_write);
        v->pending_io = true;
        return true;
    case KVM_EXIT_INTR:
        return true;
    case KVM_EXIT_HLT:
        return true;  /* not expected with the in-kernel LAPIC */
    case KVM_EXIT_SHUTDOWN:
        if (triple_fault_log_allowed())
            log_info("vCPU %u: triple fault (KVM_EXIT_SHUTDOWN): guest reset", v->id);
        vm_request(v->vm, VM_REQUEST_RESET);
        return false;
    case KVM_EXIT_SYSTEM_EVENT:
        switch (run->system_event.type) {
        case KVM_SYSTEM_EVENT_SHUTDOWN:
            vm_request(v->vm, VM_REQUEST_POWEROFF);
            return false;
        case KVM_SYSTEM_EVENT_RESET:
            vm_request(v->vm, VM_REQUEST_RESET);
            return false;
        default:
            log_error("vCPU %u: system event %u (crash)", v->id, run->system_event.type);
            report_fatal(v);
            return false;
        }
    case KVM_EXIT_FAIL_ENTRY:
        log_error("vCPU %u: KVM_EXIT_FAIL_ENTRY, hardware entry failure reason 0x%llx", v->id,
                  (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        report_fatal(v);
        return false;
    case KVM_EXIT_INTERNAL_ERROR: {
        struct kvm_regs r;
        ioctl(v->fd, KVM_GET_REGS, &r);
        log_error("vCPU %u: KVM_EXIT_INTERNAL_ERROR suberror %u%s at rip 0x%llx", v->id,
                  run->internal.suberror,
                  run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? " (emulation failure)" : "",
                  (unsigned long long)r.rip);
        report_fatal(v);
        return false;
    }
    default:
        log_error("vCPU %u: unexpected KVM exit reason %u", v->id, run->exit_reason);
        report_fatal(v);
        return false;
    }
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *v = arg;
    struct vcpus *m = v->vm->vcpus;
    char name[16];
    snprintf(name, sizeof(name), "vcpu%u", v->id);
    pthread_setname_np(pthread_self(), name);
    v->tid = (pid_t)syscall(SYS_gettid);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIG_VCPU_KICK);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    pthread_mutex_lock(&m->lock);
    for (;;) {
        if (m->paused && v->pending_io) {
            /* Finish the emulated instruction without running guest
             * code, so a reset or state read sees a consistent vCPU
             * (KVM API: immediate_exit). */
            v->run->immediate_exit = 1;
            pthread_mutex_unlock(&m->lock);
            ioctl(v->fd, KVM_RUN, 0);
            pthread_mutex_lock(&m->lock);
            v->pending_io = false;
        }
        while (m->paused) {
            m->parked++;
            pthread_cond_broadcast(&m->park_cond);
            pthread_cond_wait(&m->run_cond, &m->lock);
            m->parked--;
        }
        v->run->immediate_exit = 0;
        pthread_mutex_unlock(&m->lock);

        int r = ioctl(v->fd, KVM_RUN, 0);
        drain_coalesced(m, v->vm);
        bool keep_running = true;
        if (r < 0) {
            if (errno != EINTR && errno != EAGAIN) {
                log_error("vCPU %u: KVM_RUN: %m", v->id);
                report_fatal(v);
                keep_running = false;
            }
        } else {
            keep_running = handle_exit(v);
        }
        pthread_mutex_lock(&m->lock);
        if (!keep_running && !m->paused) {
            /* The request handler pauses everyone; until it does, do not
             * re-enter a vCPU that asked to stop. */
            pthread_mutex_unlock(&m->lock);
            vcpus_request_pause(v->vm);
            pthread_mutex_lock(&m->lock);
        }
    }
    return NULL;
}

int vcpus_start(struct vm *vm, char *err, size_t errlen)
{
    struct vcpus *m = vm->vcpus;
    sigset_t block, old;
    sigfillset(&block);
    /* Threads inherit a full mask; each unblocks only its kick signal. */
    pthread_sigmask(SIG_SETMASK, &block, &old);
    for (unsigned i = 0; i < m->n; i++) {
        int r = pthread_create(&m->v[i].thread, NULL, vcpu_thread, &m->v[i]);
        if (r != 0) {
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            errbuf_set(err, errlen, "cannot start vCPU thread %u: %s", i, strerror(r));
            return -1;
        }
        m->v[i].started = true;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return 0;
}

void vcpus_request_pause(struct vm *vm)
{
    struct vcpus *m = vm->vcpus;
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->paused = true;
    for (unsigned i = 0; i < m->n; i++) {
        if (!m->v[i].run)
            continue;
        m->v[i].run->immediate_exit = 1;
        if (m->v[i].started && !pthread_equal(m->v[i].thread, pthread_self()))
            pthread_kill(m->v[i].thread, SIG_VCPU_KICK);
    }
    pthread_mutex_unlock(&m->lock);
}

void vcpus_pause(struct vm *vm)
{
    struct vcpus *m = vm->vcpus;
    if (!m)
        return;
    vcpus_request_pause(vm);
    unsigned started = 0;
    for (unsigned i = 0; i < m->n; i++)
        started += m->v[i].started;
    pthread_mutex_lock(&m->lock);
    while (m->parked < started)
        pthread_cond_wait(&m->park_cond, &m->lock);
    pthread_mutex_unlock(&m->lock);
}

void vcpus_resume(struct vm *vm)
{
    struct vcpus *m = vm->vcpus;
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->paused = false;
    pthread_cond_broadcast(&m->run_cond);
    pthread_mutex_unlock(&m->lock);
}

void vcpus_set_fatal_handler(struct vm *vm, vcpu_fatal_fn fn, void *opaque)
{
    struct vcpus *m = vm->vcpus;
    pthread_mutex_lock(&m->lock);
    m->fatal_fn = fn;
    m->fatal_opaque = opaque;
    pthread_mutex_unlock(&m->lock);
}

unsigned vcpus_count(struct vm *vm) { return vm->vcpus ? vm->vcpus->n : 0; }

pid_t vcpu_thread_id(struct vm *vm, unsigned cpu)
{
    if (!vm->vcpus || cpu >= vm->vcpus->n)
        return 0;
    return vm->vcpus->v[cpu].tid;
}
