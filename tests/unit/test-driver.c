/* The domain driver (drivers/domain/driver.c) end to end with a fake
 * worker: this very binary, started by the driver as its "emulator" with
 * `--config FILE`, reads the machine description the driver wrote and
 * serves hv's real QMP monitor (hv/monitor) with a pretend VM behind it.
 * The kernel command line in the description steers the fake:
 *   fake=fail         print an error and exit 1 before the monitor exists
 *   fake=ignore-term  ignore SIGTERM (destroy must escalate to SIGKILL)
 *   fake=balloon      serve query-balloon and qom-get/qom-set of the balloon
 *                     with fixed guest stats (fake=balloon-junk: of the
 *                     wrong types)
 *   fake=no-poweroff  the pretend guest ignores the power button
 * Its disks report fixed block counters (query-blockstats). With
 * "no_shutdown" (always, from the driver) a guest poweroff leaves it in
 * run state "shutdown" until system_reset + cont or SIGTERM, as hv.
 * The fake also checks its "nics": every listed fd must be an open tap (or
 * vhost) fd, and no fd after them may be open (nothing else leaked).
 * Also checks, through the RPC layer with a fake transport, that
 * daemon/remote_domain.c answers lookups as libvirtd does. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/hostinfo.h"
#include "daemon/remote.h"
#include "daemon/remote_domain.h"
#include "daemon/rpc.h"
#include "drivers/domain/driver.h"
#include "drivers/domain/qmp.h"
#include "drivers/net/bridge.h"
#include "drivers/net/tap.h"
#include "hv/loop.h"
#include "hv/machine.h"
#include "hv/monitor/command.h"
#include "hv/monitor/devices.h"
#include "hv/monitor/monitor.h"
#include "tests/tap.h"
#include "tests/unit/rpc-test-util.h"

/* libvirt's numbers (§4, §13), spelled out: the test must not share the
 * driver's definitions to be able to catch a wrong one. */
enum {
    ST_RUNNING = 1, ST_PAUSED = 3, ST_SHUTDOWN = 4, ST_SHUTOFF = 5,
    R_RUNNING_BOOTED = 1, R_RUNNING_UNPAUSED = 5, R_PAUSED_USER = 1,
    R_SHUTOFF_SHUTDOWN = 1, R_SHUTOFF_DESTROYED = 2, R_SHUTOFF_CRASHED = 3, R_SHUTOFF_FAILED = 6,
    EV_DEFINED = 0, EV_UNDEFINED = 1, EV_STARTED = 2, EV_SUSPENDED = 3, EV_RESUMED = 4,
    EV_STOPPED = 5, EV_SHUTDOWN = 6,
    ERR_INTERNAL = 1, ERR_INVALID_ARG = 8, ERR_OPERATION_FAILED = 9, ERR_NO_DOMAIN = 42,
    ERR_OPERATION_INVALID = 55, ERR_NO_TARGET = 20, ERR_SYSTEM = 38, ERR_CONFIG_UNSUPPORTED = 67,
};

/* ------------------------------------------------------------ fake worker */

struct fake_vm {
    struct loop *loop;
    struct monitor *mon;
    bool paused;
    bool off;          /* guest powered off, worker kept (no_shutdown) */
    bool no_shutdown;
    bool ignore_button;
    json_object *disks; /* the description's "disks" */
    int cpus;           /* the description's "cpus" */
    bool burned;
};

static const char *fake_run_state(void *opaque, bool *running)
{
    struct fake_vm *vm = opaque;
    *running = !vm->paused;
    return vm->off ? "shutdown" : vm->paused ? "paused" : "running";
}

static int fake_stop(void *opaque, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct fake_vm *vm = opaque;
    if (!vm->paused) {
        vm->paused = true;
        monitor_emit_event(vm->mon, "STOP", NULL);
    }
    return 0;
}

static int fake_cont(void *opaque, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct fake_vm *vm = opaque;
    if (vm->off) {
        snprintf(err, errlen, "Resetting the Virtual Machine is required");
        return -EINVAL;
    }
    vm->paused = false;
    monitor_emit_event(vm->mon, "RESUME", NULL);
    return 0;
}

static int fake_reset(void *opaque, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct fake_vm *vm = opaque;
    vm->off = false;
    monitor_emit_shutdown(vm->mon, "RESET", "host-qmp-system-reset");
    return 0;
}

/* The pretend guest reacts to the power button by powering off: the
 * worker exits, or with no_shutdown stops and waits, as hv does. */
static void fake_guest_poweroff(void *opaque)
{
    struct fake_vm *vm = opaque;
    monitor_emit_shutdown(vm->mon, "SHUTDOWN", "guest-shutdown");
    if (!vm->no_shutdown) {
        loop_quit(vm->loop, 0);
        return;
    }
    vm->off = true;
    vm->paused = true;
    monitor_emit_event(vm->mon, "STOP", NULL);
}

static int fake_powerdown(void *opaque, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct fake_vm *vm = opaque;
    monitor_emit_event(vm->mon, "POWERDOWN", NULL);
    if (!vm->ignore_button && !vm->off)
        loop_call(vm->loop, fake_guest_poweroff, vm);
    return 0;
}

/* Each disk of the description reads 7 requests of 4 KiB and writes 3 of
 * 512 bytes, times its position (1, 2, ...): a device of the fake's
 * machine with the block family ops (hv/device.h). */
struct fake_disk {
    json_object *desc;
    uint64_t k;
};

static void fake_disk_describe(struct device *dev, struct device_block_info *out)
{
    struct fake_disk *fd = dev->model;
    json_object *v;
    uint64_t k = fd->k;
    *out = (struct device_block_info){
        .file = json_object_object_get_ex(fd->desc, "path", &v) ? json_object_get_string(v) : "",
        .actual_size = -1,
        .rd_operations = 7 * k, .rd_bytes = 7 * 4096 * k,
        .wr_operations = 3 * k, .wr_bytes = 3 * 512 * k,
        .flush_operations = k, .rd_total_time_ns = 1000 * k,
    };
}

static int fake_disk_realize(struct device *dev, char *err, size_t errlen)
{
    (void)dev, (void)err, (void)errlen;
    return 0;
}

static void fake_disk_noop(struct device *dev) { (void)dev; }
static void fake_disk_destroy(struct device *dev) { free(dev->model); }

static const struct device_block_ops fake_disk_block_ops = { .describe = fake_disk_describe };
static const struct device_ops fake_disk_ops = {
    .model = "virtio-blk-pci",
    .realize = fake_disk_realize,
    .reset = fake_disk_noop,
    .unplug = fake_disk_noop,
    .destroy = fake_disk_destroy,
    .save = device_save_unsupported,
    .load = device_load_unsupported,
    .block = &fake_disk_block_ops,
};

static void fake_add_disks(struct machine *m, json_object *disks)
{
    int n = disks ? (int)json_object_array_length(disks) : 0;
    for (int i = 0; i < n; i++) {
        json_object *d = json_object_array_get_idx(disks, (size_t)i), *v;
        struct fake_disk *fd = calloc(1, sizeof(*fd));
        *fd = (struct fake_disk){ .desc = d, .k = (uint64_t)i + 1 };
        struct device proto = {
            .id = json_object_object_get_ex(d, "id", &v) ? (char *)json_object_get_string(v) : "",
            .kind = DEVICE_VIRTIO_BLK, .ops = &fake_disk_ops, .model = fd,
        };
        char err[256];
        if (!machine_add_device(m, &proto, err, sizeof(err)))
            fprintf(stderr, "fake: %s\n", err);
    }
}

/* query-cpus-fast: every pretend vCPU is the fake's main thread, which
 * burns some CPU time first so /proc shows a non-zero utime+stime. The
 * thread's own CPU clock decides, not the wall clock: on a loaded machine
 * 80 ms of wall time may be no CPU tick at all. /proc counts in ticks of
 * 10 ms (USER_HZ 100), so 50 ms of CPU is several. */
static int fake_query_cpus(void *opaque, struct monitor_cpu *cpus, int max)
{
    struct fake_vm *vm = opaque;
    if (!vm->burned) {
        vm->burned = true;
        volatile uint64_t x = 0;
        struct timespec ts;
        do {
            for (int i = 0; i < 100000; i++)
                x += 1;
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        } while (ts.tv_sec == 0 && ts.tv_nsec < 50000000);
        (void)x;
    }
    int n = MIN(vm->cpus, max);
    for (int i = 0; i < n; i++) {
        memset(&cpus[i], 0, sizeof(cpus[i]));
        cpus[i].cpu_index = i;
        cpus[i].thread_id = (int64_t)syscall(SYS_gettid);
        cpus[i].core_id = i;
    }
    return n;
}

static void fake_quit(void *opaque)
{
    struct fake_vm *vm = opaque;
    monitor_emit_shutdown(vm->mon, "SHUTDOWN", "host-qmp-quit");
    loop_quit(vm->loop, 0);
}

/* The inherited NIC fds: taps answer TUNGETIFF; nothing above the last. */
static bool fake_check_nics(json_object *cfg)
{
    json_object *nics = NULL;
    int highest = 2;
    if (!cfg || !json_object_object_get_ex(cfg, "nics", &nics))
        return true;
    for (size_t i = 0; i < json_object_array_length(nics); i++) {
        json_object *nic = json_object_array_get_idx(nics, i), *fds, *vfds;
        if (!json_object_object_get_ex(nic, "fds", &fds)) {
            fprintf(stderr, "fake: nics[%zu] has no fds\n", i);
            return false;
        }
        for (size_t q = 0; q < json_object_array_length(fds); q++) {
            int fd = json_object_get_int(json_object_array_get_idx(fds, q));
            struct ifreq ifr = { 0 };
            if (ioctl(fd, TUNGETIFF, &ifr) != 0) {
                fprintf(stderr, "fake: nics[%zu] fd %d is not a tap: %s\n", i, fd, strerror(errno));
                return false;
            }
            highest = fd > highest ? fd : highest;
        }
        if (json_object_object_get_ex(nic, "vhostfds", &vfds)) {
            for (size_t q = 0; q < json_object_array_length(vfds); q++) {
                int fd = json_object_get_int(json_object_array_get_idx(vfds, q));
                if (fcntl(fd, F_GETFD) < 0) {
                    fprintf(stderr, "fake: nics[%zu] vhost fd %d is not open\n", i, fd);
                    return false;
                }
                highest = fd > highest ? fd : highest;
            }
        }
    }
    for (int fd = highest + 1; fd < highest + 16; fd++) {
        if (fcntl(fd, F_GETFD) >= 0) {
            fprintf(stderr, "fake: fd %d was inherited but not listed\n", fd);
            return false;
        }
    }
    return true;
}

/* ---- a pretend balloon for the memory stats (QEMU 7.2 shapes) */

struct fake_balloon {
    uint64_t actual_bytes;
    int64_t period;
    bool junk;
};
static struct fake_balloon fake_balloon;

static json_object *fake_query_balloon(void *opaque, json_object *args, struct monitor_error *err)
{
    (void)opaque;
    (void)args;
    (void)err;
    json_object *ret = json_object_new_object();
    json_object_object_add(ret, "actual", json_object_new_int64((int64_t)fake_balloon.actual_bytes));
    return ret;
}

static const struct monitor_arg fake_qom_args[] = {
    { "path", MONITOR_ARG_STRING, false },
    { "property", MONITOR_ARG_STRING, false },
    { "value", MONITOR_ARG_ANY, true },
    { NULL, 0, false },
};

static json_object *fake_qom_get(void *opaque, json_object *args, struct monitor_error *err)
{
    (void)opaque;
    const char *path = json_object_get_string(json_object_object_get(args, "path"));
    const char *prop = json_object_get_string(json_object_object_get(args, "property"));
    if (strcmp(path, "/machine/peripheral/balloon0") != 0)
        return monitor_error_set(err, MONITOR_ERR_DEVICE_NOT_FOUND, "Device '%s' not found", path);
    if (strcmp(prop, "guest-stats-polling-interval") == 0)
        return json_object_new_int64(fake_balloon.period);
    if (strcmp(prop, "guest-stats") != 0)
        return monitor_error_set(err, MONITOR_ERR_GENERIC, "Property '%s' not found", prop);
    const char *text =
        fake_balloon.junk
            ? "{\"stats\": {\"stat-swap-in\": \"lots\", \"stat-free-memory\": -5,"
              " \"stat-total-memory\": [1], \"stat-minor-faults\": 1.5}, \"last-update\": null}"
            /* swap-out and the hugetlb counters never sent: 2^64-1 */
            : "{\"stats\": {\"stat-swap-in\": 4096, \"stat-swap-out\": 18446744073709551615,"
              " \"stat-major-faults\": 7, \"stat-minor-faults\": 1234,"
              " \"stat-free-memory\": 104857600, \"stat-total-memory\": 130023424,"
              " \"stat-available-memory\": 115343360, \"stat-disk-caches\": 2097152,"
              " \"stat-htlb-pgalloc\": 18446744073709551615,"
              " \"stat-htlb-pgfail\": 18446744073709551615}, \"last-update\": 1700000000}";
    return json_tokener_parse(text);
}

static json_object *fake_qom_set(void *opaque, json_object *args, struct monitor_error *err)
{
    (void)opaque;
    const char *prop = json_object_get_string(json_object_object_get(args, "property"));
    json_object *value = json_object_object_get(args, "value");
    if (strcmp(prop, "guest-stats-polling-interval") != 0 ||
        !json_object_is_type(value, json_type_int))
        return monitor_error_set(err, MONITOR_ERR_GENERIC, "cannot set '%s'", prop);
    fake_balloon.period = json_object_get_int64(value);
    return json_object_new_object();
}

static void fake_balloon_register(struct monitor *mon, json_object *cfg, int64_t mib, bool junk)
{
    json_object *b, *p;
    fake_balloon.actual_bytes = (uint64_t)mib << 20;
    fake_balloon.junk = junk;
    if (json_object_object_get_ex(cfg, "balloon", &b) &&
        json_object_object_get_ex(b, "stats_period", &p))
        fake_balloon.period = json_object_get_int64(p);
    monitor_register_command(mon, "query-balloon", NULL, fake_query_balloon, NULL);
    monitor_register_command(mon, "qom-get", fake_qom_args, fake_qom_get, NULL);
    monitor_register_command(mon, "qom-set", fake_qom_args, fake_qom_set, NULL);
}

/* The media commands of hv's IDE cdroms (QEMU 7.2's shapes): the fake
 * answers for the drive ids in its "disks" and remembers the last command
 * with its arguments, which x-fake-last-media returns. fake=locked: the
 * guest holds the tray locked, so eject and change-medium without force
 * fail with QEMU's text. */
static struct {
    json_object *disks;
    bool locked;
    char last[512];
} fake_media;

static const struct monitor_arg fake_media_args[] = {
    { "id", MONITOR_ARG_STRING, false },
    { "filename", MONITOR_ARG_STRING, true },
    { "format", MONITOR_ARG_STRING, true },
    { "force", MONITOR_ARG_BOOL, true },
    { NULL, 0, false },
};

static json_object *fake_media_command(const char *name, json_object *args, struct monitor_error *err)
{
    const char *id = json_object_get_string(json_object_object_get(args, "id"));
    bool known = false;
    for (size_t i = 0; fake_media.disks && i < json_object_array_length(fake_media.disks); i++) {
        json_object *v;
        if (json_object_object_get_ex(json_object_array_get_idx(fake_media.disks, i), "id", &v) &&
            strcmp(json_object_get_string(v), id) == 0)
            known = true;
    }
    snprintf(fake_media.last, sizeof(fake_media.last), "%s %s", name,
             json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    if (!known)
        return monitor_error_set(err, MONITOR_ERR_DEVICE_NOT_FOUND, "Device '%s' not found", id);
    json_object *force = json_object_object_get(args, "force");
    if (fake_media.locked && !(force && json_object_get_boolean(force)))
        return monitor_error_set(err, MONITOR_ERR_GENERIC,
                                 "Device '%s' is locked and force was not specified, wait for tray to "
                                 "open and try again", id);
    return json_object_new_object();
}

static json_object *fake_eject(void *opaque, json_object *args, struct monitor_error *err)
{
    (void)opaque;
    return fake_media_command("eject", args, err);
}

static json_object *fake_change_medium(void *opaque, json_object *args, struct monitor_error *err)
{
    (void)opaque;
    return fake_media_command("blockdev-change-medium", args, err);
}

static json_object *fake_last_media(void *opaque, json_object *args, struct monitor_error *err)
{
    (void)opaque;
    (void)args;
    (void)err;
    return json_object_new_string(fake_media.last);
}

static int fake_worker(const char *config_path)
{
    g_autofree char *text = NULL;
    if (!g_file_get_contents(config_path, &text, NULL, NULL)) {
        fprintf(stderr, "fake: cannot read %s\n", config_path);
        return 1;
    }
    json_object *cfg = json_tokener_parse(text);
    json_object *v;
    const char *monitor = NULL, *append = "", *name = NULL, *uuid = NULL;
    int64_t mib = 0;
    if (cfg && json_object_object_get_ex(cfg, "monitor", &v))
        monitor = json_object_get_string(v);
    if (cfg && json_object_object_get_ex(cfg, "append", &v))
        append = json_object_get_string(v);
    if (cfg && json_object_object_get_ex(cfg, "name", &v))
        name = json_object_get_string(v);
    if (cfg && json_object_object_get_ex(cfg, "uuid", &v))
        uuid = json_object_get_string(v);
    if (cfg && json_object_object_get_ex(cfg, "memory_mib", &v))
        mib = json_object_get_int64(v);
    if (!monitor) {
        fprintf(stderr, "fake: no monitor in %s\n", config_path);
        json_object_put(cfg);
        return 1;
    }
    if (!fake_check_nics(cfg)) {
        json_object_put(cfg);
        return 1;
    }
    if (strstr(append, "fake=fail")) {
        fprintf(stderr, "fake: cannot start this guest\n");
        json_object_put(cfg);
        return 1;
    }
    if (strstr(append, "fake=ignore-term"))
        signal(SIGTERM, SIG_IGN);
    struct fake_vm vm = { .loop = loop_new() };
    if (json_object_object_get_ex(cfg, "no_shutdown", &v))
        vm.no_shutdown = json_object_get_boolean(v);
    if (json_object_object_get_ex(cfg, "disks", &v))
        vm.disks = v;
    if (json_object_object_get_ex(cfg, "cpus", &v))
        vm.cpus = json_object_get_int(v);
    vm.ignore_button = strstr(append, "fake=no-poweroff") != NULL;
    static const struct monitor_ops ops = {
        .run_state = fake_run_state,
        .stop = fake_stop,
        .cont = fake_cont,
        .system_reset = fake_reset,
        .system_powerdown = fake_powerdown,
        .quit = fake_quit,
        .query_cpus = fake_query_cpus,
    };
    struct monitor_info info = { .name = name, .uuid = uuid, .ram_size = (uint64_t)mib << 20 };
    char err[256];
    vm.mon = monitor_create(vm.loop, monitor, &info, &ops, &vm, err, sizeof(err));
    if (!vm.mon) {
        fprintf(stderr, "fake: %s\n", err);
        loop_free(vm.loop);
        json_object_put(cfg);
        return 1;
    }
    struct machine *machine = machine_create(NULL, err, sizeof(err));
    fake_add_disks(machine, vm.disks);
    monitor_block_register(vm.mon, machine);
    if (strstr(append, "fake=balloon"))
        fake_balloon_register(vm.mon, cfg, mib, strstr(append, "fake=balloon-junk") != NULL);
    fake_media.disks = vm.disks;
    fake_media.locked = strstr(append, "fake=locked") != NULL;
    monitor_register_command(vm.mon, "eject", fake_media_args, fake_eject, NULL);
    monitor_register_command(vm.mon, "blockdev-change-medium", fake_media_args, fake_change_medium, NULL);
    monitor_register_command(vm.mon, "x-fake-last-media", NULL, fake_last_media, NULL);
    int rc = loop_run(vm.loop);
    monitor_free(vm.mon);
    machine_destroy(machine);
    loop_free(vm.loop);
    json_object_put(cfg);
    return rc;
}

/* ------------------------------------------------------------ helpers */

typedef struct {
    int event, detail;
} Ev;
static GArray *events;

static void on_event(HvdDomain *dom, int event, int detail, gpointer data)
{
    (void)dom;
    (void)data;
    Ev e = { event, detail };
    g_array_append_val(events, e);
}

static bool saw_event(int event, int detail)
{
    for (guint i = 0; i < events->len; i++) {
        Ev *e = &g_array_index(events, Ev, i);
        if (e->event == event && e->detail == detail)
            return true;
    }
    return false;
}

typedef struct {
    bool done;
    int code;       /* 0 = success */
    char *message;
    char *result;
} Done;

static void on_done(HvdDomain *dom, const char *result, const GError *err, gpointer data)
{
    (void)dom;
    Done *d = data;
    d->done = true;
    if (err) {
        int from;
        hvd_driver_error_unpack(err, &d->code, &from);
        d->message = g_strdup(err->message);
    }
    d->result = g_strdup(result);
}

static bool run_until(bool *flag, int ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
    while (!*flag && g_get_monotonic_time() < end)
        g_main_context_iteration(NULL, FALSE), g_usleep(1000);
    return *flag;
}

static void done_clear(Done *d)
{
    g_free(d->message);
    g_free(d->result);
    memset(d, 0, sizeof(*d));
}

static int err_number(const GError *err)
{
    int number = 0, from;
    hvd_driver_error_unpack(err, &number, &from);
    return number;
}

static char *domain_xml(const char *name, const char *uuid, const char *cmdline)
{
    return g_strdup_printf("<domain type='kvm'><name>%s</name>%s%s%s"
                           "<memory unit='MiB'>128</memory><vcpu>2</vcpu>"
                           "<os><type>hvm</type><kernel>/nonexistent/vmlinuz</kernel>"
                           "<cmdline>%s</cmdline></os></domain>",
                           name, uuid ? "<uuid>" : "", uuid ? uuid : "", uuid ? "</uuid>" : "",
                           cmdline);
}

static void expect_state(HvdDomain *dom, int state, int reason, const char *what)
{
    int s, r;
    hvd_domain_get_state(dom, &s, &r);
    TAP_CHECK(s == state && r == reason, "%s: state %d/%d", what, s, r);
}

static void start_ok(HvdDomain *dom, const char *what)
{
    Done d = { 0 };
    hvd_domain_start(dom, 0, on_done, &d);
    TAP_CHECK(run_until(&d.done, 10000) && d.code == 0, "%s: started (%s)", what,
              d.message ? d.message : "ok");
    done_clear(&d);
}

/* SIGKILL our child processes (found by parent pid in /proc); returns how
 * many. Only the fake worker of the running domain is a child here. */
static int kill_children(void)
{
    int n = 0;
    g_autoptr(GDir) dir = g_dir_open("/proc", 0, NULL);
    const char *ent;
    while (dir && (ent = g_dir_read_name(dir))) {
        if (!g_ascii_isdigit(ent[0]))
            continue;
        g_autofree char *path = g_strdup_printf("/proc/%s/stat", ent);
        g_autofree char *text = NULL;
        if (!g_file_get_contents(path, &text, NULL, NULL))
            continue;
        const char *p = strrchr(text, ')');
        char state;
        int ppid;
        if (p && sscanf(p + 1, " %c %d", &state, &ppid) == 2 && ppid == (int)getpid() &&
            state != 'Z') {
            kill(atoi(ent), SIGKILL);
            n++;
        }
    }
    return n;
}

/* ------------------------------------------------------------ tests */

static void test_define_and_lookup(void)
{
    GError *err = NULL;
    g_autofree char *xml = domain_xml("d1", "11111111-2222-3333-4444-555555555555", "quiet");
    g_autoptr(HvdDomain) dom = hvd_driver_define(xml, 0, &err);
    TAP_CHECK(dom != NULL, "define d1");
    TAP_CHECK(saw_event(EV_DEFINED, 0), "DEFINED/ADDED emitted");
    TAP_EQ_U64(hvd_domain_id(dom), (uint64_t)-1, "inactive id is -1");
    expect_state(dom, ST_SHUTOFF, 0, "defined");

    g_autoptr(HvdDomain) again = hvd_driver_define(xml, 0, &err);
    TAP_CHECK(again == dom && saw_event(EV_DEFINED, 1), "redefine updates (DEFINED/UPDATED)");

    g_autofree char *clash = domain_xml("d1", "99999999-2222-3333-4444-555555555555", "");
    HvdDomain *bad = hvd_driver_define(clash, 0, &err);
    TAP_CHECK(!bad && err_number(err) == ERR_OPERATION_FAILED, "same name, other uuid refused");
    TAP_EQ_STR(err ? err->message : NULL,
               "operation failed: domain 'd1' already exists with uuid "
               "11111111-2222-3333-4444-555555555555",
               "libvirt's text for a name clash");
    g_clear_error(&err);

    g_autofree char *renamed = domain_xml("d1-renamed", "11111111-2222-3333-4444-555555555555", "");
    bad = hvd_driver_define(renamed, 0, &err);
    TAP_CHECK(!bad && err_number(err) == ERR_OPERATION_FAILED, "same uuid, other name refused");
    g_clear_error(&err);

    bad = hvd_driver_define("<domain type='kvm'><name>x", 0, &err);
    TAP_CHECK(!bad && err != NULL, "malformed XML refused: %s", err ? err->message : "");
    g_clear_error(&err);

    HvdDomain *none = hvd_driver_lookup_by_name("nosuch", &err);
    TAP_CHECK(!none && err_number(err) == ERR_NO_DOMAIN, "unknown name -> NO_DOMAIN");
    TAP_EQ_STR(err ? err->message : NULL, "Domain not found: no domain with matching name 'nosuch'",
               "libvirt's text (trace 36)");
    g_clear_error(&err);
    uint8_t zero[16] = { 0 };
    none = hvd_driver_lookup_dom("ghost", zero, &err);
    TAP_EQ_STR(err ? err->message : NULL,
               "Domain not found: no domain with matching uuid "
               "'00000000-0000-0000-0000-000000000000' (ghost)",
               "stale handle names uuid and name");
    g_clear_error(&err);
    none = hvd_driver_lookup_by_id(7, &err);
    TAP_EQ_STR(err ? err->message : NULL, "Domain not found: no domain with matching id 7",
               "unknown id text");
    g_clear_error(&err);

    g_autoptr(HvdDomain) by_uuid = hvd_driver_lookup_by_uuid(hvd_domain_uuid(dom), NULL);
    TAP_CHECK(by_uuid == dom, "lookup by uuid finds it");

    g_autoptr(GPtrArray) inactive = hvd_driver_list(2, NULL);
    g_autoptr(GPtrArray) active = hvd_driver_list(1, NULL);
    TAP_CHECK(inactive->len == 1 && active->len == 0, "list INACTIVE 1, ACTIVE 0");
    g_autoptr(GPtrArray) persistent = hvd_driver_list(4, NULL);
    g_autoptr(GPtrArray) transient = hvd_driver_list(8, NULL);
    TAP_CHECK(persistent->len == 1 && transient->len == 0, "list PERSISTENT 1, TRANSIENT 0");
    GPtrArray *badflags = hvd_driver_list(1u << 20, &err);
    TAP_CHECK(!badflags && err_number(err) == ERR_INVALID_ARG, "unknown list flag refused");
    g_clear_error(&err);

    g_autofree char *dumped = hvd_domain_get_xml(dom, 0, &err);
    TAP_CHECK(dumped && strstr(dumped, "<name>d1</name>") &&
                  strstr(dumped, "<uuid>11111111-2222-3333-4444-555555555555</uuid>") &&
                  !strstr(dumped, "id="),
              "inactive XML without id");
    HvdDomainInfo info;
    hvd_domain_get_info(dom, &info);
    TAP_CHECK(info.state == ST_SHUTOFF && info.max_mem_kib == 131072 && info.memory_kib == 131072 &&
                  info.nr_vcpus == 2 && info.cpu_time_ns == 0,
              "info of an inactive domain");
    TAP_CHECK(hvd_domain_get_vcpus(dom, 6 /* MAXIMUM|CONFIG */, NULL) == 2, "vcpucount config");
    TAP_CHECK(hvd_domain_get_vcpus(dom, 1 /* LIVE */, &err) < 0 &&
                  err_number(err) == ERR_OPERATION_INVALID,
              "vcpucount --live of a stopped domain refused");
    g_clear_error(&err);

    TAP_CHECK(hvd_domain_set_autostart(dom, true, NULL) && hvd_domain_get_autostart(dom),
              "autostart set");
    g_autoptr(GPtrArray) autostarted = hvd_driver_list(1024, NULL);
    TAP_CHECK(autostarted->len == 1, "list AUTOSTART");

    Done d = { 0 };
    hvd_domain_destroy(dom, 0, on_done, &d);
    TAP_CHECK(d.done && d.code == ERR_OPERATION_INVALID, "destroy of a stopped domain refused");
    TAP_EQ_STR(d.message, "Requested operation is not valid: domain is not running",
               "libvirt's text (trace 36)");
    done_clear(&d);
}

static void test_lifecycle(const char *state_dir)
{
    g_autoptr(HvdDomain) dom = hvd_driver_lookup_by_name("d1", NULL);
    g_array_set_size(events, 0);
    start_ok(dom, "start d1");
    TAP_CHECK(hvd_domain_id(dom) > 0 && hvd_domain_is_active(dom), "running domain has an id");
    expect_state(dom, ST_RUNNING, R_RUNNING_BOOTED, "after start");
    TAP_CHECK(saw_event(EV_STARTED, 0), "STARTED/BOOTED emitted");
    g_autoptr(HvdDomain) by_id = hvd_driver_lookup_by_id(hvd_domain_id(dom), NULL);
    TAP_CHECK(by_id == dom, "lookup by id finds the running domain");

    g_autofree char *json_path = g_build_filename(state_dir, "run", "d1.json", NULL);
    g_autofree char *json = NULL;
    g_file_get_contents(json_path, &json, NULL, NULL);
    json_object *desc = json ? json_tokener_parse(json) : NULL, *v;
    TAP_CHECK(desc && json_object_object_get_ex(desc, "memory_mib", &v) &&
                  json_object_get_int(v) == 128 && json_object_object_get_ex(desc, "cpus", &v) &&
                  json_object_get_int(v) == 2 && json_object_object_get_ex(desc, "monitor", &v) &&
                  g_str_has_suffix(json_object_get_string(v), "/run/d1.monitor") &&
                  json_object_object_get_ex(desc, "append", &v) &&
                  strcmp(json_object_get_string(v), "quiet") == 0 &&
                  json_object_object_get_ex(desc, "kernel", &v) &&
                  strcmp(json_object_get_string(v), "/nonexistent/vmlinuz") == 0,
              "machine description written: %s", json ? json : "(none)");
    json_object_put(desc);

    Done d = { 0 };
    hvd_domain_start(dom, 0, on_done, &d);
    TAP_CHECK(d.done && d.code == ERR_OPERATION_INVALID, "second start refused");
    TAP_EQ_STR(d.message, "Requested operation is not valid: domain is already running",
               "libvirt's text");
    done_clear(&d);

    g_autofree char *live = hvd_domain_get_xml(dom, 0, NULL);
    g_autofree char *expect_id = g_strdup_printf("id='%d'", hvd_domain_id(dom));
    TAP_CHECK(live && strstr(live, expect_id), "live XML has the id");

    hvd_domain_suspend(dom, on_done, &d);
    TAP_CHECK(run_until(&d.done, 5000) && d.code == 0, "suspend");
    expect_state(dom, ST_PAUSED, R_PAUSED_USER, "after suspend");
    TAP_CHECK(saw_event(EV_SUSPENDED, 0), "SUSPENDED/PAUSED emitted");
    done_clear(&d);
    hvd_domain_resume(dom, on_done, &d);
    TAP_CHECK(run_until(&d.done, 5000) && d.code == 0, "resume");
    expect_state(dom, ST_RUNNING, R_RUNNING_UNPAUSED, "after resume");
    TAP_CHECK(saw_event(EV_RESUMED, 0), "RESUMED/UNPAUSED emitted");
    done_clear(&d);

    hvd_domain_monitor_command(dom, "{\"execute\":\"query-status\"}", false, on_done, &d);
    TAP_CHECK(run_until(&d.done, 5000) && d.code == 0 && d.result &&
                  strstr(d.result, "\"status\"") && strstr(d.result, "running"),
              "qemu-monitor-command query-status: %s", d.result ? d.result : d.message);
    done_clear(&d);
    hvd_domain_monitor_command(dom, "{\"execute\":\"no-such-command\"}", false, on_done, &d);
    TAP_CHECK(run_until(&d.done, 5000) && d.code == 0 && d.result &&
                  strstr(d.result, "CommandNotFound"),
              "a QMP error is a successful passthrough");
    done_clear(&d);
    hvd_domain_monitor_command(dom, "info status", true, on_done, &d);
    TAP_CHECK(run_until(&d.done, 5000) && d.code == 0 && d.result &&
                  strstr(d.result, "VM status: running"),
              "HMP info status: %s", d.result ? d.result : d.message);
    done_clear(&d);

    hvd_domain_set_memory(dom, 65536, 1 /* LIVE */, on_done, &d);
    TAP_CHECK(run_until(&d.done, 5000) && d.code == ERR_OPERATION_INVALID, "setmem without balloon");
    TAP_EQ_STR(d.message,
               "Requested operation is not valid: Unable to change memory of active domain "
               "without the balloon device and guest OS balloon driver",
               "libvirt's text");
    done_clear(&d);
    hvd_domain_set_memory(dom, 1 << 30, 2 /* CONFIG */, on_done, &d);
    TAP_CHECK(d.done && d.code == ERR_INVALID_ARG, "setmem above maximum refused");
    done_clear(&d);

    hvd_domain_shutdown(dom, 0, on_done, &d);
    TAP_CHECK(run_until(&d.done, 5000) && d.code == 0, "shutdown accepted (%s)",
              d.message ? d.message : "ok");
    done_clear(&d);
    bool stopped = false;
    for (int i = 0; i < 5000 && !stopped; i++) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
        stopped = !hvd_domain_is_active(dom);
    }
    TAP_CHECK(stopped, "worker exited after the guest powered off");
    expect_state(dom, ST_SHUTOFF, R_SHUTOFF_SHUTDOWN, "after shutdown");
    TAP_CHECK(saw_event(EV_SHUTDOWN, 1) && saw_event(EV_STOPPED, 0),
              "SHUTDOWN/GUEST and STOPPED/SHUTDOWN emitted");

    start_ok(dom, "restart d1");
    g_array_set_size(events, 0);
    hvd_domain_destroy(dom, 0, on_done, &d);
    TAP_CHECK(run_until(&d.done, 5000) && d.code == 0, "destroy");
    expect_state(dom, ST_SHUTOFF, R_SHUTOFF_DESTROYED, "after destroy");
    TAP_CHECK(saw_event(EV_STOPPED, 1) && hvd_domain_id(dom) == -1, "STOPPED/DESTROYED, id -1");
    done_clear(&d);

    /* A worker that dies on its own: crashed. */
    start_ok(dom, "start for crash");
    GPtrArray *all = hvd_driver_list(1, NULL);
    TAP_CHECK(all->len == 1, "one active domain");
    g_ptr_array_unref(all);
    HvdDomainInfo info;
    hvd_domain_get_info(dom, &info);
    TAP_CHECK(info.state == ST_RUNNING && info.memory_kib == 131072, "info of a running domain");
    TAP_CHECK(kill_children() == 1, "killed the one worker");
    stopped = false;
    for (int i = 0; i < 5000 && !stopped; i++) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
        stopped = !hvd_domain_is_active(dom);
    }
    TAP_CHECK(stopped, "killed worker noticed");
    expect_state(dom, ST_SHUTOFF, R_SHUTOFF_CRASHED, "after the worker died");
}

static void test_failures(void)
{
    GError *err = NULL;
    Done d = { 0 };
    g_autofree char *xml = domain_xml("broken", NULL, "fake=fail");
    g_autoptr(HvdDomain) dom = hvd_driver_define(xml, 0, &err);
    hvd_domain_start(dom, 0, on_done, &d);
    TAP_CHECK(run_until(&d.done, 10000) && d.code == ERR_INTERNAL, "failing worker: start fails");
    TAP_CHECK(d.message && strstr(d.message, "process exited while connecting to monitor") &&
                  strstr(d.message, "fake: cannot start this guest"),
              "error carries the worker's output: %s", d.message ? d.message : "");
    expect_state(dom, ST_SHUTOFF, R_SHUTOFF_FAILED, "after a failed start");
    TAP_CHECK(!hvd_domain_is_active(dom), "failed start leaves it inactive");
    done_clear(&d);

    g_autofree char *stubborn_xml = domain_xml("stubborn", NULL, "fake=ignore-term");
    g_autoptr(HvdDomain) stubborn = hvd_driver_define(stubborn_xml, 0, NULL);
    start_ok(stubborn, "stubborn worker");
    gint64 t0 = g_get_monotonic_time();
    hvd_domain_destroy(stubborn, 0, on_done, &d);
    TAP_CHECK(run_until(&d.done, 5000) && d.code == 0, "destroy escalates to SIGKILL");
    TAP_CHECK(g_get_monotonic_time() - t0 >= 250000, "after the grace period");
    expect_state(stubborn, ST_SHUTOFF, R_SHUTOFF_DESTROYED, "stubborn destroyed");
    done_clear(&d);

    /* Undefine while running: transient until it stops, then gone. */
    start_ok(stubborn, "stubborn again");
    TAP_CHECK(hvd_domain_undefine(stubborn, 0, NULL) && !hvd_domain_is_persistent(stubborn),
              "undefine of a running domain makes it transient");
    HvdDomain *still = hvd_driver_lookup_by_name("stubborn", NULL);
    TAP_CHECK(still != NULL, "still listed while running");
    hvd_domain_unref(still);
    TAP_CHECK(!hvd_domain_undefine(stubborn, 0, &err) && err_number(err) == ERR_OPERATION_INVALID,
              "undefine of a transient domain refused");
    g_clear_error(&err);
    hvd_domain_destroy(stubborn, 0, on_done, &d);
    run_until(&d.done, 5000);
    done_clear(&d);
    still = hvd_driver_lookup_by_name("stubborn", NULL);
    TAP_CHECK(still == NULL, "gone after it stopped");

    /* Transient domain from create_xml. */
    g_autofree char *txml = domain_xml("temp", NULL, "");
    g_autoptr(HvdDomain) temp = hvd_driver_create_xml(txml, 0, on_done, &d, &err);
    TAP_CHECK(temp && run_until(&d.done, 10000) && d.code == 0, "create transient");
    done_clear(&d);
    g_autoptr(GPtrArray) transient = hvd_driver_list(8, NULL);
    TAP_CHECK(transient->len == 1 && !hvd_domain_is_persistent(temp), "listed as transient");
    HvdDomain *dup = hvd_driver_create_xml(txml, 0, on_done, &d, &err);
    /* libvirt checks the uuid first: a random one, so the name clashes. */
    TAP_CHECK(!dup && err_number(err) == ERR_OPERATION_FAILED, "create of a used name refused");
    g_clear_error(&err);
    hvd_domain_destroy(temp, 0, on_done, &d);
    run_until(&d.done, 5000);
    done_clear(&d);
    HvdDomain *gone = hvd_driver_lookup_by_name("temp", NULL);
    TAP_CHECK(gone == NULL, "transient domain gone after destroy");

    TAP_CHECK(hvd_domain_undefine(dom, 0, NULL), "undefine broken");
    TAP_CHECK(saw_event(EV_UNDEFINED, 0), "UNDEFINED/REMOVED emitted");
}

/* Through the RPC layer: LOOKUP_BY_NAME of an unknown domain must give the
 * error frame libvirtd sends (code 42, domain 10, the text of trace 36). */
static void test_rpc(void)
{
    struct fake_transport t;
    struct rpc_client *c = fake_client(&t, false);
    rpc_client_set_open(c, "qemu:///system", false);
    struct xdr_writer w;
    xdr_writer_init(&w, 0);
    xdr_put_string(&w, "nosuch", 1024);
    g_autoptr(GBytes) f = make_frame(RPC_PROG_REMOTE, 23, 0, 5, w.data, w.len);
    xdr_writer_free(&w);
    feed_bytes(c, f);
    TAP_CHECK(t.frames->len == 1, "one reply");
    if (t.frames->len == 1) {
        gsize n;
        const uint8_t *p = g_bytes_get_data(g_ptr_array_index(t.frames, 0), &n);
        struct xdr_reader r;
        xdr_reader_init(&r, p + 28, n - 28);
        int code = xdr_get_i32(&r), domain = xdr_get_i32(&r);
        g_autofree char *msg = xdr_get_optional_string(&r, 4096);
        TAP_CHECK(code == ERR_NO_DOMAIN && domain == 10, "NO_DOMAIN from QEMU (%d/%d)", code, domain);
        TAP_EQ_STR(msg, "Domain not found: no domain with matching name 'nosuch'", "message");
    }
    /* LIST_ALL_DOMAINS(need_results 1, flags 0): d1 is defined. */
    g_ptr_array_set_size(t.frames, 0);
    xdr_writer_init(&w, 0);
    xdr_put_i32(&w, 1);
    xdr_put_u32(&w, 0);
    g_autoptr(GBytes) f2 = make_frame(RPC_PROG_REMOTE, 273, 0, 6, w.data, w.len);
    xdr_writer_free(&w);
    feed_bytes(c, f2);
    if (t.frames->len == 1) {
        gsize n;
        const uint8_t *p = g_bytes_get_data(g_ptr_array_index(t.frames, 0), &n);
        struct xdr_reader r;
        xdr_reader_init(&r, p + 28, n - 28);
        uint32_t count = xdr_get_u32(&r);
        g_autofree char *name = xdr_get_string(&r, 1024);
        uint8_t uuid[16];
        xdr_get_opaque_fixed(&r, uuid, 16);
        int32_t id = xdr_get_i32(&r);
        uint32_t total = xdr_get_u32(&r);
        TAP_CHECK(count == 1 && total == 1 && name && strcmp(name, "d1") == 0 && id == -1 &&
                      uuid[0] == 0x11 && xdr_ok(&r),
                  "LIST_ALL_DOMAINS answers d1 with id -1");
    } else {
        TAP_CHECK(false, "LIST_ALL_DOMAINS answered");
    }
    fake_free(&t, c);
}

/* ------------------------------------------------------------ interfaces */

static bool tap_gone(const char *ifname, int ms)
{
    for (int i = 0; i < ms && hvd_netdev_exists(ifname); i++) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    return !hvd_netdev_exists(ifname);
}

/* Does this process still hold a tap (or any /dev/net/tun) fd? */
static bool daemon_holds_tun_fd(void)
{
    g_autoptr(GDir) dir = g_dir_open("/proc/self/fd", 0, NULL);
    const char *ent;
    while (dir && (ent = g_dir_read_name(dir))) {
        g_autofree char *path = g_strdup_printf("/proc/self/fd/%s", ent);
        g_autofree char *target = g_file_read_link(path, NULL);
        if (target && strcmp(target, "/dev/net/tun") == 0)
            return true;
    }
    return false;
}

static char *net_domain_xml(const char *name, const char *devices)
{
    return g_strdup_printf("<domain type='kvm'><name>%s</name>"
                           "<memory unit='MiB'>128</memory><vcpu>1</vcpu>"
                           "<os><type>hvm</type><kernel>/nonexistent/vmlinuz</kernel></os>"
                           "<devices>%s</devices></domain>",
                           name, devices);
}

static void test_interfaces(const char *state_dir)
{
    GError *err = NULL;
    Done d = { 0 };

    /* type network is refused by name, before anything is created. */
    g_autofree char *netxml = net_domain_xml(
        "netdom", "<interface type='network'><source network='default'/></interface>");
    g_autoptr(HvdDomain) netdom = hvd_driver_define(netxml, 0, &err);
    TAP_CHECK(netdom != NULL, "define a domain with a network interface (%s)",
              err ? err->message : "ok");
    g_clear_error(&err);
    if (netdom) {
        hvd_domain_start(netdom, 0, on_done, &d);
        TAP_CHECK(d.done && d.code == 67 /* CONFIG_UNSUPPORTED */ && d.message &&
                      strstr(d.message, "'network'"),
                  "type network refused: %s", d.message ? d.message : "");
        done_clear(&d);
        hvd_domain_undefine(netdom, 0, NULL);
    }

    int tun = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (tun < 0) {
        TAP_CHECK(true, "# SKIP no /dev/net/tun here: tap interfaces not tested");
        return;
    }
    close(tun);
    if (!hvd_bridge_create("hvdtbr0", &err)) {
        TAP_CHECK(true, "# SKIP cannot create a bridge (%s): tap interfaces not tested", err->message);
        g_clear_error(&err);
        return;
    }
    g_autofree char *xml = net_domain_xml(
        "nics",
        "<interface type='ethernet'><mac address='52:54:00:aa:00:01'/>"
        "<target dev='hvdtnic0'/><model type='virtio'/>"
        "<driver name='qemu' queues='2'/></interface>"
        "<interface type='bridge'><mac address='52:54:00:aa:00:02'/>"
        "<source bridge='hvdtbr0'/><model type='e1000'/></interface>");
    g_autoptr(HvdDomain) dom = hvd_driver_define(xml, 0, &err);
    TAP_CHECK(dom != NULL, "define a domain with two interfaces (%s)", err ? err->message : "ok");
    g_clear_error(&err);
    if (!dom) {
        hvd_bridge_delete("hvdtbr0", NULL);
        return;
    }
    start_ok(dom, "domain with an ethernet and a bridge interface");
    TAP_CHECK(!daemon_holds_tun_fd(), "the daemon closed its tap fds after the spawn");
    TAP_CHECK(hvd_netdev_exists("hvdtnic0"), "tap hvdtnic0 exists while running");

    g_autofree char *json_path = g_build_filename(state_dir, "run", "nics.json", NULL);
    g_autofree char *json = NULL;
    g_file_get_contents(json_path, &json, NULL, NULL);
    json_object *desc = json ? json_tokener_parse(json) : NULL, *nics = NULL;
    bool have = desc && json_object_object_get_ex(desc, "nics", &nics) &&
                json_object_array_length(nics) == 2;
    TAP_CHECK(have, "machine description has two nics");
    if (have) {
        json_object *n0 = json_object_array_get_idx(nics, 0), *n1 = json_object_array_get_idx(nics, 1);
        json_object *v;
        const char *s0 = json_object_to_json_string_ext(n0, JSON_C_TO_STRING_PLAIN);
        TAP_EQ_STR(s0,
                   "{\"model\":\"virtio\",\"id\":\"net0\",\"mac\":\"52:54:00:aa:00:01\","
                   "\"fds\":[3,4],\"vhost\":\"off\",\"queues\":2}",
                   "nics[0]: virtio, two queue fds, vhost off (driver name='qemu')");
        const char *s1 = json_object_to_json_string_ext(n1, JSON_C_TO_STRING_PLAIN);
        TAP_EQ_STR(s1, "{\"model\":\"e1000\",\"id\":\"net1\",\"mac\":\"52:54:00:aa:00:02\",\"fds\":[5]}",
                   "nics[1]: e1000 with one fd");
        (void)v;
    }
    json_object_put(desc);

    g_autofree char *live = hvd_domain_get_xml(dom, 0, NULL);
    TAP_CHECK(live && strstr(live, "<target dev='hvdtnic0'/>"), "live XML names the given tap");
    const char *second = live ? strstr(live, "<target dev='vnet") : NULL;
    char vnet[IFNAMSIZ] = "";
    if (second)
        sscanf(second, "<target dev='%15[^']'", vnet);
    TAP_CHECK(*vnet && hvd_netdev_exists(vnet), "bridge interface got a vnetN tap: %s", vnet);
    g_autofree char *master = *vnet ? hvd_bridge_of_port(vnet) : NULL;
    TAP_CHECK(master && strcmp(master, "hvdtbr0") == 0, "%s is a port of hvdtbr0", vnet);

    int64_t st[8] = { -1 };
    TAP_CHECK(hvd_domain_interface_stats(dom, "hvdtnic0", st, &err) && st[0] >= 0 && st[4] >= 0,
              "domifstat by tap name (%s)", err ? err->message : "ok");
    g_clear_error(&err);
    TAP_CHECK(hvd_domain_interface_stats(dom, "52:54:00:AA:00:02", st, &err),
              "domifstat by MAC (%s)", err ? err->message : "ok");
    g_clear_error(&err);
    TAP_CHECK(hvd_domain_interface_stats(dom, "net1", st, &err), "domifstat by alias");
    g_clear_error(&err);
    TAP_CHECK(!hvd_domain_interface_stats(dom, "nosuch0", st, &err) &&
                  err_number(err) == ERR_INVALID_ARG,
              "unknown interface refused");
    TAP_EQ_STR(err ? err->message : "", "invalid argument: 'nosuch0' is not a known interface",
               "libvirt's text");
    g_clear_error(&err);

    hvd_domain_destroy(dom, 0, on_done, &d);
    TAP_CHECK(run_until(&d.done, 5000) && d.code == 0, "destroy the domain with interfaces");
    done_clear(&d);
    TAP_CHECK(tap_gone("hvdtnic0", 2000) && (!*vnet || tap_gone(vnet, 2000)),
              "taps vanish with the worker");
    TAP_CHECK(!hvd_domain_interface_stats(dom, "hvdtnic0", st, &err) &&
                  err_number(err) == ERR_OPERATION_INVALID,
              "domifstat of a stopped domain refused");
    g_clear_error(&err);
    g_autofree char *inactive = hvd_domain_get_xml(dom, 0, NULL);
    TAP_CHECK(inactive && !strstr(inactive, "vnet"), "no generated tap name in the inactive XML");

    /* <driver name='vhost'> without vhost-net (the driver's path points to
     * a missing device): a clear error, and no tap is left behind. */
    g_autofree char *vxml = net_domain_xml(
        "vhostdom", "<interface type='ethernet'><target dev='hvdtnic1'/><model type='virtio'/>"
                    "<driver name='vhost'/></interface>");
    g_autoptr(HvdDomain) vdom = hvd_driver_define(vxml, 0, NULL);
    if (vdom) {
        hvd_domain_start(vdom, 0, on_done, &d);
        TAP_CHECK(d.done && d.code != 0 && d.message && strstr(d.message, "vhost-net") &&
                      strstr(d.message, "/nonexistent/vhost-net"),
                  "vhost required but missing: %s", d.message ? d.message : "");
        TAP_CHECK(!hvd_netdev_exists("hvdtnic1"), "no tap left after the failed start");
        done_clear(&d);
        hvd_domain_undefine(vdom, 0, NULL);
    }
    hvd_domain_undefine(dom, 0, NULL);
    TAP_CHECK(hvd_bridge_delete("hvdtbr0", &err), "bridge removed (%s)", err ? err->message : "ok");
    g_clear_error(&err);
}

/* ------------------------------------------------------------ memory stats */

enum {
    T_SWAP_IN = 0, T_SWAP_OUT = 1, T_MAJOR = 2, T_MINOR = 3, T_UNUSED = 4, T_AVAILABLE = 5,
    T_ACTUAL = 6, T_RSS = 7, T_USABLE = 8, T_LAST_UPDATE = 9, T_DISK_CACHES = 10,
};

typedef struct {
    bool done;
    int code;
    char *message;
    HvdMemoryStat stats[HVD_MEMORY_STAT_NR];
    unsigned n;
} StatsDone;

static void on_stats(HvdDomain *dom, const HvdMemoryStat *stats, unsigned n, const GError *err,
                     gpointer data)
{
    (void)dom;
    StatsDone *d = data;
    d->done = true;
    if (err) {
        int from;
        hvd_driver_error_unpack(err, &d->code, &from);
        d->message = g_strdup(err->message);
        return;
    }
    d->n = MIN(n, (unsigned)HVD_MEMORY_STAT_NR);
    memcpy(d->stats, stats, d->n * sizeof(*stats));
}

static bool stat_value(const StatsDone *d, int tag, uint64_t *val)
{
    for (unsigned i = 0; i < d->n; i++)
        if (d->stats[i].tag == tag) {
            *val = d->stats[i].val;
            return true;
        }
    return false;
}

static void test_memory_stats_mapping(void)
{
    json_object *balloon = json_tokener_parse("{\"actual\": 268435456}");
    json_object *guest = json_tokener_parse(
        "{\"stats\": {\"stat-swap-in\": 2048, \"stat-swap-out\": 18446744073709551615,"
        " \"stat-free-memory\": 1048576, \"stat-available-memory\": 3145728,"
        " \"stat-major-faults\": 3}, \"last-update\": 42}");
    HvdMemoryStat out[HVD_MEMORY_STAT_NR];
    unsigned n = hvd_memory_stats_from_replies(balloon, guest, 999, out, HVD_MEMORY_STAT_NR);
    /* libvirt's order: actual, the guest's stats, last_update, rss */
    TAP_CHECK(n == 7 && out[0].tag == T_ACTUAL && out[0].val == 262144 && out[1].tag == T_SWAP_IN &&
                  out[1].val == 2 && out[2].tag == T_MAJOR && out[2].val == 3 &&
                  out[3].tag == T_UNUSED && out[3].val == 1024 && out[4].tag == T_USABLE &&
                  out[4].val == 3072 && out[5].tag == T_LAST_UPDATE && out[5].val == 42 &&
                  out[6].tag == T_RSS && out[6].val == 999,
              "replies map to libvirt's tags, KiB and order (%u entries)", n);
    n = hvd_memory_stats_from_replies(balloon, guest, 999, out, 2);
    TAP_CHECK(n == 2 && out[1].tag == T_SWAP_IN, "never more than max entries");
    n = hvd_memory_stats_from_replies(balloon, guest, 999, out, 0);
    TAP_CHECK(n == 0, "max 0: nothing");
    n = hvd_memory_stats_from_replies(NULL, NULL, 0, out, HVD_MEMORY_STAT_NR);
    TAP_CHECK(n == 0, "no replies, no rss: nothing");
    json_object *junk = json_tokener_parse("[1, 2]");
    json_object *junk2 = json_tokener_parse("{\"stats\": 5, \"last-update\": \"x\"}");
    n = hvd_memory_stats_from_replies(junk, junk2, 0, out, HVD_MEMORY_STAT_NR);
    TAP_CHECK(n == 0, "replies of the wrong shape are ignored");
    json_object *neg = json_tokener_parse("{\"actual\": -4096}");
    n = hvd_memory_stats_from_replies(neg, NULL, 0, out, HVD_MEMORY_STAT_NR);
    TAP_CHECK(n == 0, "a negative actual is ignored");
    json_object_put(balloon);
    json_object_put(guest);
    json_object_put(junk);
    json_object_put(junk2);
    json_object_put(neg);
}

static void test_memory_stats(const char *state_dir)
{
    GError *err = NULL;
    g_autofree char *xml = g_strdup_printf(
        "<domain type='kvm'><name>m1</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>"
        "<os><type>hvm</type><kernel>/nonexistent/vmlinuz</kernel><cmdline>fake=balloon</cmdline>"
        "</os><devices><memballoon model='virtio'><stats period='3'/></memballoon></devices>"
        "</domain>");
    g_autoptr(HvdDomain) dom = hvd_driver_define(xml, 0, &err);
    TAP_CHECK(dom != NULL, "define m1 with <stats period='3'/> (%s)", err ? err->message : "ok");
    g_clear_error(&err);
    if (!dom)
        return;
    StatsDone sd = { 0 };
    hvd_domain_memory_stats(dom, 13, 0, on_stats, &sd);
    TAP_CHECK(sd.done && sd.code == ERR_OPERATION_INVALID, "stats of an inactive domain refused");
    TAP_EQ_STR(sd.message, "Requested operation is not valid: domain is not running", "libvirt's text");
    g_free(sd.message);
    memset(&sd, 0, sizeof(sd));

    start_ok(dom, "start m1");
    g_autofree char *json_path = g_build_filename(state_dir, "run", "m1.json", NULL);
    g_autofree char *json = NULL;
    g_file_get_contents(json_path, &json, NULL, NULL);
    json_object *desc = json ? json_tokener_parse(json) : NULL, *b, *v;
    TAP_CHECK(desc && json_object_object_get_ex(desc, "balloon", &b) &&
                  json_object_object_get_ex(b, "stats_period", &v) && json_object_get_int(v) == 3,
              "the stats period reaches the worker's description");
    json_object_put(desc);

    hvd_domain_memory_stats(dom, 13, 0, on_stats, &sd);
    TAP_CHECK(run_until(&sd.done, 5000) && sd.code == 0, "memory stats (%s)",
              sd.message ? sd.message : "ok");
    uint64_t val = 0;
    TAP_CHECK(sd.n == 10, "10 stats: actual, 7 from the guest, last_update, rss (%u)", sd.n);
    TAP_CHECK(sd.n > 0 && sd.stats[0].tag == T_ACTUAL && sd.stats[0].val == 131072,
              "first actual = 131072 KiB");
    TAP_CHECK(stat_value(&sd, T_SWAP_IN, &val) && val == 4, "swap_in 4 KiB");
    TAP_CHECK(!stat_value(&sd, T_SWAP_OUT, &val), "swap_out (never sent) left out");
    TAP_CHECK(stat_value(&sd, T_MINOR, &val) && val == 1234, "minor_fault is a count");
    TAP_CHECK(stat_value(&sd, T_UNUSED, &val) && val == 102400, "unused 102400 KiB");
    TAP_CHECK(stat_value(&sd, T_AVAILABLE, &val) && val == 126976, "available 126976 KiB");
    TAP_CHECK(stat_value(&sd, T_USABLE, &val) && val == 112640, "usable 112640 KiB");
    TAP_CHECK(stat_value(&sd, T_DISK_CACHES, &val) && val == 2048, "disk_caches 2048 KiB");
    TAP_CHECK(stat_value(&sd, T_LAST_UPDATE, &val) && val == 1700000000, "last_update");
    TAP_CHECK(sd.n > 0 && sd.stats[sd.n - 1].tag == T_RSS && sd.stats[sd.n - 1].val > 0,
              "rss of the worker last (%" G_GUINT64_FORMAT " KiB)",
              sd.n ? sd.stats[sd.n - 1].val : 0);
    memset(&sd, 0, sizeof(sd));
    hvd_domain_memory_stats(dom, 3, 0, on_stats, &sd);
    TAP_CHECK(run_until(&sd.done, 5000) && sd.n == 3, "maxStats 3: 3 entries (%u)", sd.n);
    memset(&sd, 0, sizeof(sd));
    hvd_domain_memory_stats(dom, 13, 1, on_stats, &sd);
    TAP_CHECK(sd.done && sd.code == ERR_INVALID_ARG, "flags refused");
    g_free(sd.message);
    memset(&sd, 0, sizeof(sd));

    Done d = { 0 };
    hvd_domain_set_memory_stats_period(dom, 7, 1 /* LIVE */, on_done, &d);
    TAP_CHECK(run_until(&d.done, 5000) && d.code == 0, "set stats period 7 live (%s)",
              d.message ? d.message : "ok");
    done_clear(&d);
    hvd_domain_monitor_command(dom,
                               "{\"execute\":\"qom-get\",\"arguments\":{\"path\":"
                               "\"/machine/peripheral/balloon0\",\"property\":"
                               "\"guest-stats-polling-interval\"}}",
                               false, on_done, &d);
    TAP_CHECK(run_until(&d.done, 5000) && d.result && strstr(d.result, "\"return\":7"),
              "the worker's polling interval is 7: %s", d.result ? d.result : "(none)");
    done_clear(&d);
    g_autofree char *live = hvd_domain_get_xml(dom, 0, NULL);
    TAP_CHECK(live && strstr(live, "<stats period='7'/>"), "live XML has period 7");
    g_autofree char *inactive = hvd_domain_get_xml(dom, 2, NULL);
    TAP_CHECK(inactive && strstr(inactive, "<stats period='3'/>"), "config keeps period 3");
    hvd_domain_set_memory_stats_period(dom, 5, 3 /* LIVE|CONFIG */, on_done, &d);
    TAP_CHECK(run_until(&d.done, 5000) && d.code == 0, "set period 5 live and config");
    done_clear(&d);
    g_free(inactive);
    inactive = hvd_domain_get_xml(dom, 2, NULL);
    TAP_CHECK(inactive && strstr(inactive, "<stats period='5'/>"), "config now has period 5");
    hvd_domain_set_memory_stats_period(dom, -1, 1, on_done, &d);
    TAP_CHECK(d.done && d.code == ERR_INVALID_ARG, "negative period refused");
    done_clear(&d);
    hvd_domain_set_memory_stats_period(dom, 1, 4, on_done, &d);
    TAP_CHECK(d.done && d.code == ERR_INVALID_ARG, "unknown flag refused");
    done_clear(&d);
    hvd_domain_destroy(dom, 0, on_done, &d);
    TAP_CHECK(run_until(&d.done, 5000) && d.code == 0, "destroy m1");
    done_clear(&d);
    hvd_domain_set_memory_stats_period(dom, 2, 1, on_done, &d);
    TAP_CHECK(d.done && d.code == ERR_OPERATION_INVALID, "live period of an inactive domain refused");
    done_clear(&d);
    hvd_domain_undefine(dom, 0, NULL);

    /* Guest stats of the wrong types: skipped, never a crash. */
    g_autofree char *xml2 = g_strdup_printf(
        "<domain type='kvm'><name>m2</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
        "<os><type>hvm</type><kernel>/nonexistent/vmlinuz</kernel>"
        "<cmdline>fake=balloon-junk</cmdline></os></domain>");
    g_autoptr(HvdDomain) dom2 = hvd_driver_define(xml2, 0, NULL);
    start_ok(dom2, "start m2");
    hvd_domain_memory_stats(dom2, 13, 0, on_stats, &sd);
    TAP_CHECK(run_until(&sd.done, 5000) && sd.code == 0 && sd.n == 2 &&
                  sd.stats[0].tag == T_ACTUAL && sd.stats[0].val == 65536 &&
                  sd.stats[1].tag == T_RSS,
              "junk guest stats: only actual and rss (%u)", sd.n);
    memset(&sd, 0, sizeof(sd));
    hvd_domain_destroy(dom2, 0, on_done, &d);
    run_until(&d.done, 5000);
    done_clear(&d);
    hvd_domain_undefine(dom2, 0, NULL);

    /* <memballoon model='none'>: rss only, no monitor involved; setting a
     * period is libvirt's error. */
    g_autofree char *xml3 = g_strdup_printf(
        "<domain type='kvm'><name>m3</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
        "<os><type>hvm</type><kernel>/nonexistent/vmlinuz</kernel><cmdline>x</cmdline></os>"
        "<devices><memballoon model='none'/></devices></domain>");
    g_autoptr(HvdDomain) dom3 = hvd_driver_define(xml3, 0, NULL);
    start_ok(dom3, "start m3");
    hvd_domain_memory_stats(dom3, 13, 0, on_stats, &sd);
    TAP_CHECK(sd.done && sd.code == 0 && sd.n == 1 && sd.stats[0].tag == T_RSS && sd.stats[0].val > 0,
              "no balloon: rss only");
    hvd_domain_set_memory_stats_period(dom3, 2, 0, on_done, &d);
    TAP_CHECK(d.done && d.code == ERR_OPERATION_INVALID, "no balloon: period refused");
    TAP_EQ_STR(d.message, "Requested operation is not valid: No memory balloon device configured, "
               "can not set the collection period", "libvirt's text");
    done_clear(&d);
    hvd_domain_destroy(dom3, 0, on_done, &d);
    run_until(&d.done, 5000);
    done_clear(&d);
    hvd_domain_undefine(dom3, 0, NULL);
}

/* ------------------------------------------------------------ domops:
 * block stats, memory flags, shutdown and fake reboot */

static GArray *other_events; /* virDomainEventID of other events */

static void on_other(HvdDomain *dom, int event_id, uint64_t value, gpointer data)
{
    (void)dom;
    (void)value;
    (void)data;
    g_array_append_val(other_events, event_id);
}

typedef struct {
    bool done;
    int code;
    char *message;
    HvdBlockStats stats;
    int nstats;
} BlkDone;

static void on_blk(HvdDomain *dom, const HvdBlockStats *stats, int nstats, const GError *err,
                   gpointer data)
{
    (void)dom;
    BlkDone *b = data;
    b->done = true;
    b->nstats = nstats;
    if (err) {
        b->code = err_number(err);
        b->message = g_strdup(err->message);
    } else {
        b->stats = *stats;
    }
}

static void blk_clear(BlkDone *b)
{
    g_free(b->message);
    memset(b, 0, sizeof(*b));
}

static void test_block_stats_reply(void)
{
    const char *reply =
        "[{\"device\": \"virtio-disk0\", \"stats\": {\"rd_bytes\": 10, \"wr_bytes\": 20,"
        " \"rd_operations\": 1, \"wr_operations\": 2, \"flush_operations\": 3,"
        " \"rd_total_time_ns\": 4, \"wr_total_time_ns\": 5, \"flush_total_time_ns\": 6}},"
        " {\"device\": \"\", \"qdev\": \"virtio-disk1\", \"stats\": {\"rd_bytes\": 100,"
        " \"wr_bytes\": 200, \"rd_operations\": 11, \"wr_operations\": 22}}]";
    json_object *ret = json_tokener_parse(reply);
    HvdBlockStats st;
    GError *err = NULL;
    const char *one[] = { "virtio-disk0" };
    int n = hvd_block_stats_from_reply(ret, one, 1, &st, &err);
    TAP_CHECK(n == 8 && st.rd_bytes == 10 && st.wr_bytes == 20 && st.rd_req == 1 &&
                  st.wr_req == 2 && st.flush_req == 3 && st.rd_total_times == 4 &&
                  st.wr_total_times == 5 && st.flush_total_times == 6,
              "blockstats: one disk by device, 8 counters (%d)", n);
    const char *both[] = { "virtio-disk0", "virtio-disk1" };
    n = hvd_block_stats_from_reply(ret, both, 2, &st, &err);
    TAP_CHECK(n == 8 && st.rd_bytes == 110 && st.wr_req == 24 && st.flush_req == 3,
              "blockstats: totals over disks, the second found by qdev");
    const char *unknown[] = { "virtio-disk7" };
    n = hvd_block_stats_from_reply(ret, unknown, 1, &st, &err);
    TAP_CHECK(n == -1 && err_number(err) == ERR_INTERNAL, "blockstats: unknown device refused");
    TAP_EQ_STR(err ? err->message : NULL,
               "internal error: cannot find statistics for device 'virtio-disk7'", "libvirt's text");
    g_clear_error(&err);
    json_object_put(ret);

    ret = json_tokener_parse("[{\"device\": \"virtio-disk0\", \"stats\": {\"rd_bytes\": 1,"
                             " \"rd_operations\": 1, \"wr_operations\": \"x\"}}]");
    n = hvd_block_stats_from_reply(ret, one, 1, &st, &err);
    TAP_CHECK(n == -1 && err, "blockstats: a missing mandatory counter is an error");
    TAP_EQ_STR(err ? err->message : NULL, "internal error: cannot read wr_bytes statistic",
               "libvirt's text");
    g_clear_error(&err);
    json_object_put(ret);
    static const char *const junk[] = { "{}", "[1]", "[{\"device\": \"a\"}]",
                                        "[{\"stats\": []}]" };
    for (size_t i = 0; i < G_N_ELEMENTS(junk); i++) {
        ret = json_tokener_parse(junk[i]);
        n = hvd_block_stats_from_reply(ret, NULL, 0, &st, &err);
        TAP_CHECK(n == -1 && err_number(err) == ERR_INTERNAL, "blockstats reply %s refused", junk[i]);
        g_clear_error(&err);
        json_object_put(ret);
    }
    n = hvd_block_stats_from_reply(NULL, NULL, 0, &st, &err);
    TAP_CHECK(n == -1 && err, "blockstats: no reply refused");
    g_clear_error(&err);
}

static char *domops_xml(const char *name, const char *extra, const char *cmdline)
{
    return g_strdup_printf(
        "<domain type='kvm'><name>%s</name><memory unit='MiB'>256</memory>"
        "<currentMemory unit='MiB'>200</currentMemory><vcpu>1</vcpu>"
        "<os><type>hvm</type><kernel>/nonexistent/vmlinuz</kernel><cmdline>%s</cmdline></os>%s"
        "<devices><disk type='file' device='disk'><source file='/nonexistent/a.img'/>"
        "<target dev='vda' bus='virtio'/></disk>"
        "<disk type='file' device='disk'><source file='/nonexistent/b.img'/>"
        "<target dev='vdb' bus='virtio'/></disk></devices></domain>",
        name, cmdline, extra);
}

/* One RPC call through the fake transport; the reply frame (deferred
 * replies are waited for). */
static GBytes *rpc_roundtrip(struct rpc_client *c, struct fake_transport *t, int proc,
                             const struct xdr_writer *w)
{
    static uint32_t serial = 100;
    g_ptr_array_set_size(t->frames, 0);
    g_autoptr(GBytes) f = make_frame(RPC_PROG_REMOTE, proc, 0, serial++, w->data, w->len);
    feed_bytes(c, f);
    for (int i = 0; i < 5000 && t->frames->len == 0; i++)
        g_main_context_iteration(NULL, FALSE), g_usleep(1000);
    return t->frames->len ? g_bytes_ref(g_ptr_array_index(t->frames, 0)) : NULL;
}

static void put_test_dom(struct xdr_writer *w, HvdDomain *dom)
{
    xdr_put_string(w, hvd_domain_name(dom), 1024);
    xdr_put_opaque_fixed(w, hvd_domain_uuid(dom), 16);
    xdr_put_i32(w, hvd_domain_id(dom));
}

static void test_block_stats_rpc(HvdDomain *dom)
{
    struct fake_transport t;
    struct rpc_client *c = fake_client(&t, true); /* read-only is enough, as in libvirt */
    rpc_client_set_open(c, "qemu:///system", true);
    struct xdr_writer w;
    /* BLOCK_STATS_FLAGS(vda, nparams 0, flags STRING_OKAY): the count. */
    xdr_writer_init(&w, 0);
    put_test_dom(&w, dom);
    xdr_put_string(&w, "vda", 1024);
    xdr_put_i32(&w, 0);
    xdr_put_u32(&w, 4);
    g_autoptr(GBytes) r1 = rpc_roundtrip(c, &t, 243, &w);
    xdr_writer_free(&w);
    struct xdr_reader r;
    if (r1 && frame_header(r1).status == 0) {
        frame_payload(r1, &r);
        uint32_t len = xdr_get_u32(&r);
        int32_t nparams = xdr_get_i32(&r);
        TAP_CHECK(len == 0 && nparams == 8 && xdr_ok(&r) && xdr_remaining(&r) == 0,
                  "BLOCK_STATS_FLAGS nparams 0: count 8 (%u, %d)", len, nparams);
    } else {
        TAP_CHECK(false, "BLOCK_STATS_FLAGS count answered");
    }
    /* ... then 3 of them: libvirt's first three names, LLONG each. */
    xdr_writer_init(&w, 0);
    put_test_dom(&w, dom);
    xdr_put_string(&w, "vda", 1024);
    xdr_put_i32(&w, 3);
    xdr_put_u32(&w, 4);
    g_autoptr(GBytes) r2 = rpc_roundtrip(c, &t, 243, &w);
    xdr_writer_free(&w);
    if (r2 && frame_header(r2).status == 0) {
        frame_payload(r2, &r);
        uint32_t len = xdr_get_u32(&r);
        g_autofree char *f0 = xdr_get_string(&r, 64);
        int32_t t0 = xdr_get_i32(&r);
        int64_t v0 = xdr_get_i64(&r);
        g_autofree char *f1 = xdr_get_string(&r, 64);
        xdr_get_i32(&r);
        int64_t v1 = xdr_get_i64(&r);
        g_autofree char *f2 = xdr_get_string(&r, 64);
        xdr_get_i32(&r);
        int64_t v2 = xdr_get_i64(&r);
        xdr_get_i32(&r);
        TAP_CHECK(len == 3 && g_strcmp0(f0, "wr_bytes") == 0 && t0 == 3 && v0 == 1536 &&
                      g_strcmp0(f1, "wr_operations") == 0 && v1 == 3 &&
                      g_strcmp0(f2, "rd_bytes") == 0 && v2 == 28672 && xdr_ok(&r) &&
                      xdr_remaining(&r) == 0,
                  "BLOCK_STATS_FLAGS params: %s=%lld %s=%lld %s=%lld", f0, (long long)v0, f1,
                  (long long)v1, f2, (long long)v2);
    } else {
        TAP_CHECK(false, "BLOCK_STATS_FLAGS params answered");
    }
    /* BLOCK_STATS (the old call): five hypers, errs -1. */
    xdr_writer_init(&w, 0);
    put_test_dom(&w, dom);
    xdr_put_string(&w, "vda", 1024);
    g_autoptr(GBytes) r3 = rpc_roundtrip(c, &t, 64, &w);
    xdr_writer_free(&w);
    if (r3 && frame_header(r3).status == 0) {
        frame_payload(r3, &r);
        int64_t v[5];
        for (int i = 0; i < 5; i++)
            v[i] = xdr_get_i64(&r);
        TAP_CHECK(v[0] == 7 && v[1] == 28672 && v[2] == 3 && v[3] == 1536 && v[4] == -1 &&
                      xdr_ok(&r) && xdr_remaining(&r) == 0,
                  "BLOCK_STATS: rd_req 7, rd_bytes 28672, wr_req 3, wr_bytes 1536, errs -1");
    } else {
        TAP_CHECK(false, "BLOCK_STATS answered");
    }
    /* Unknown disk and bad flags: libvirt's errors. */
    xdr_writer_init(&w, 0);
    put_test_dom(&w, dom);
    xdr_put_string(&w, "sdz", 1024);
    g_autoptr(GBytes) r4 = rpc_roundtrip(c, &t, 64, &w);
    xdr_writer_free(&w);
    int code = 0, domain = 0;
    g_autofree char *msg = NULL;
    TAP_CHECK(r4 && decode_error(r4, &code, &domain, &msg) && code == ERR_INVALID_ARG &&
                  domain == 10 && g_strcmp0(msg, "invalid argument: invalid path: sdz") == 0,
              "BLOCK_STATS of an unknown disk: %s", msg ? msg : "?");
    xdr_writer_init(&w, 0);
    put_test_dom(&w, dom);
    xdr_put_string(&w, "vda", 1024);
    xdr_put_i32(&w, 17);
    xdr_put_u32(&w, 0);
    g_autoptr(GBytes) r5 = rpc_roundtrip(c, &t, 243, &w);
    xdr_writer_free(&w);
    g_clear_pointer(&msg, g_free);
    TAP_CHECK(r5 && decode_error(r5, &code, &domain, &msg) && code == ERR_INTERNAL &&
                  g_strcmp0(msg, "internal error: nparams too large") == 0,
              "BLOCK_STATS_FLAGS nparams 17: %s", msg ? msg : "?");
    xdr_writer_init(&w, 0);
    put_test_dom(&w, dom);
    xdr_put_string(&w, "vda", 1024);
    xdr_put_i32(&w, 0);
    xdr_put_u32(&w, 1);
    g_autoptr(GBytes) r6 = rpc_roundtrip(c, &t, 243, &w);
    xdr_writer_free(&w);
    g_clear_pointer(&msg, g_free);
    TAP_CHECK(r6 && decode_error(r6, &code, &domain, &msg) && code == ERR_INVALID_ARG &&
                  g_strcmp0(msg, "invalid argument: unsupported flags (0x1) in function "
                                 "qemuDomainBlockStatsFlags") == 0,
              "BLOCK_STATS_FLAGS flags 1: %s", msg ? msg : "?");
    fake_free(&t, c);
}

static bool wait_inactive(HvdDomain *dom, int ms)
{
    for (int i = 0; i < ms && hvd_domain_is_active(dom); i++)
        g_main_context_iteration(NULL, FALSE), g_usleep(1000);
    return !hvd_domain_is_active(dom);
}

static bool saw_other(int id)
{
    for (guint i = 0; i < other_events->len; i++)
        if (g_array_index(other_events, int, i) == id)
            return true;
    return false;
}

static void test_domops(void)
{
    other_events = g_array_new(FALSE, FALSE, sizeof(int));
    hvd_driver_set_other_event_sink(on_other, NULL);
    test_block_stats_reply();

    g_autofree char *xml = domops_xml("o1", "", "quiet");
    g_autoptr(HvdDomain) dom = hvd_driver_define(xml, 0, NULL);
    TAP_CHECK(dom != NULL, "define o1 with two disks");
    if (!dom)
        return;
    BlkDone b = { 0 };
    Done d = { 0 };
    hvd_domain_block_stats(dom, "vda", on_blk, &b);
    TAP_CHECK(b.done && b.code == ERR_OPERATION_INVALID, "domblkstat of an inactive domain");
    TAP_EQ_STR(b.message, "Requested operation is not valid: domain is not running", "libvirt's text");
    blk_clear(&b);

    /* setmem / setmaxmem on the inactive config */
    hvd_domain_set_memory(dom, 300 * 1024, 4 /* MAXIMUM (current = config) */, on_done, &d);
    TAP_CHECK(d.done && d.code == 0, "setmaxmem 300 MiB on an inactive domain");
    done_clear(&d);
    hvd_domain_set_memory(dom, 310 * 1024, 2 /* CONFIG */, on_done, &d);
    TAP_CHECK(d.done && d.code == ERR_INVALID_ARG, "setmem --config above the maximum refused");
    TAP_EQ_STR(d.message, "invalid argument: cannot set memory higher than max memory", "libvirt's text");
    done_clear(&d);
    hvd_domain_set_memory(dom, 150 * 1024, 1 /* LIVE */, on_done, &d);
    TAP_CHECK(d.done && d.code == ERR_OPERATION_INVALID, "setmem --live of an inactive domain");
    TAP_EQ_STR(d.message, "Requested operation is not valid: domain is not running", "libvirt's text");
    done_clear(&d);
    hvd_domain_set_memory(dom, 150 * 1024, 0 /* CURRENT */, on_done, &d);
    TAP_CHECK(d.done && d.code == 0, "setmem --current of an inactive domain = config");
    done_clear(&d);
    g_autofree char *inactive = hvd_domain_get_xml(dom, 0, NULL);
    TAP_CHECK(inactive && strstr(inactive, "<memory unit='KiB'>307200</memory>") &&
                  strstr(inactive, "<currentMemory unit='KiB'>153600</currentMemory>"),
              "config: memory 300 MiB, current 150 MiB");
    hvd_domain_set_memory(dom, 100 * 1024, 4 | 2, on_done, &d);
    TAP_CHECK(d.done && d.code == 0, "setmaxmem below current memory");
    done_clear(&d);
    g_clear_pointer(&inactive, g_free);
    inactive = hvd_domain_get_xml(dom, 0, NULL);
    TAP_CHECK(inactive && strstr(inactive, "<memory unit='KiB'>102400</memory>") &&
                  strstr(inactive, "<currentMemory unit='KiB'>102400</currentMemory>"),
              "current memory follows a smaller maximum");
    hvd_domain_set_memory(dom, 256 * 1024, 4 | 2, on_done, &d);
    done_clear(&d);

    /* running */
    start_ok(dom, "start o1");
    hvd_domain_set_memory(dom, 400 * 1024, 4 | 1 /* MAXIMUM|LIVE */, on_done, &d);
    TAP_CHECK(d.done && d.code == ERR_OPERATION_INVALID, "setmaxmem --live refused");
    TAP_EQ_STR(d.message,
               "Requested operation is not valid: cannot resize the maximum memory on an active "
               "domain", "libvirt's text");
    done_clear(&d);
    hvd_domain_set_memory(dom, 400 * 1024, 4 /* MAXIMUM, current = live */, on_done, &d);
    TAP_CHECK(d.done && d.code == ERR_OPERATION_INVALID, "setmaxmem (current) of a running domain refused");
    done_clear(&d);
    hvd_domain_set_memory(dom, 400 * 1024, 4 | 2 /* MAXIMUM|CONFIG */, on_done, &d);
    TAP_CHECK(d.done && d.code == 0, "setmaxmem --config of a running domain");
    done_clear(&d);
    hvd_domain_set_memory(dom, 300 * 1024, 2 /* CONFIG */, on_done, &d);
    TAP_CHECK(d.done && d.code == 0, "setmem --config of a running domain above its live maximum");
    done_clear(&d);
    hvd_domain_set_memory(dom, 300 * 1024, 1 | 2, on_done, &d);
    TAP_CHECK(d.done && d.code == ERR_INVALID_ARG, "setmem --live --config: the smaller maximum counts");
    done_clear(&d);
    g_autofree char *live = hvd_domain_get_xml(dom, 0, NULL);
    g_autofree char *config = hvd_domain_get_xml(dom, 2 /* INACTIVE */, NULL);
    TAP_CHECK(live && strstr(live, "<memory unit='KiB'>262144</memory>"),
              "live XML keeps the running maximum");
    TAP_CHECK(config && strstr(config, "<memory unit='KiB'>409600</memory>") &&
                  strstr(config, "<currentMemory unit='KiB'>307200</currentMemory>"),
              "inactive XML has the new maximum and current memory");

    /* block stats from the worker */
    hvd_domain_block_stats(dom, "vda", on_blk, &b);
    TAP_CHECK(run_until(&b.done, 5000) && b.code == 0 && b.nstats == 8 && b.stats.rd_req == 7 &&
                  b.stats.rd_bytes == 28672 && b.stats.wr_req == 3 && b.stats.wr_bytes == 1536 &&
                  b.stats.flush_req == 1 && b.stats.rd_total_times == 1000,
              "domblkstat vda (%s)", b.message ? b.message : "ok");
    blk_clear(&b);
    hvd_domain_block_stats(dom, "/nonexistent/b.img", on_blk, &b);
    TAP_CHECK(run_until(&b.done, 5000) && b.code == 0 && b.stats.rd_req == 14,
              "domblkstat by source path (vdb)");
    blk_clear(&b);
    hvd_domain_block_stats(dom, "", on_blk, &b);
    TAP_CHECK(run_until(&b.done, 5000) && b.code == 0 && b.stats.rd_req == 21 &&
                  b.stats.wr_bytes == 3 * 512 * 3,
              "domblkstat without a disk: totals");
    blk_clear(&b);
    hvd_domain_block_stats(dom, "vdz", on_blk, &b);
    TAP_CHECK(b.done && b.code == ERR_INVALID_ARG, "domblkstat of an unknown disk");
    TAP_EQ_STR(b.message, "invalid argument: invalid path: vdz", "libvirt's text");
    blk_clear(&b);
    test_block_stats_rpc(dom);

    /* virsh reboot: powerdown, the guest powers off, the worker is reset
     * and continues; REBOOT event, no lifecycle events. */
    int id = hvd_domain_id(dom);
    g_array_set_size(events, 0);
    g_array_set_size(other_events, 0);
    hvd_domain_reboot(dom, 0, on_done, &d);
    TAP_CHECK(run_until(&d.done, 5000) && d.code == 0, "reboot accepted");
    done_clear(&d);
    for (int i = 0; i < 5000 && !saw_other(1); i++)
        g_main_context_iteration(NULL, FALSE), g_usleep(1000);
    for (int i = 0; i < 200; i++) /* let cont's reply arrive */
        g_main_context_iteration(NULL, FALSE), g_usleep(1000);
    TAP_CHECK(saw_other(1 /* VIR_DOMAIN_EVENT_ID_REBOOT */), "REBOOT event after the fake reboot");
    TAP_CHECK(hvd_domain_is_active(dom) && hvd_domain_id(dom) == id, "same worker still running");
    expect_state(dom, ST_RUNNING, R_RUNNING_BOOTED, "after reboot");
    TAP_CHECK(events->len == 0, "no lifecycle event for a fake reboot (%u)", events->len);
    hvd_domain_monitor_command(dom, "{\"execute\":\"query-status\"}", false, on_done, &d);
    TAP_CHECK(run_until(&d.done, 5000) && d.result && strstr(d.result, "\"running\""),
              "worker running again: %s", d.result ? d.result : "?");
    done_clear(&d);

    /* virsh shutdown: the guest powers off, the worker (no_shutdown) is
     * terminated: shut off (shutdown). */
    hvd_domain_shutdown(dom, 0, on_done, &d);
    TAP_CHECK(run_until(&d.done, 5000) && d.code == 0, "shutdown accepted");
    done_clear(&d);
    TAP_CHECK(wait_inactive(dom, 5000), "worker terminated after the guest powered off");
    expect_state(dom, ST_SHUTOFF, R_SHUTOFF_SHUTDOWN, "after shutdown");
    TAP_CHECK(saw_event(EV_SHUTDOWN, 1) && saw_event(EV_STOPPED, 0) && !saw_event(EV_SUSPENDED, 0),
              "SHUTDOWN/GUEST, STOPPED/SHUTDOWN, no SUSPENDED for the worker's STOP");
    g_clear_pointer(&config, g_free);
    config = hvd_domain_get_xml(dom, 0, NULL);
    TAP_CHECK(config && strstr(config, "<memory unit='KiB'>409600</memory>"),
              "stopped: the --config maximum is the definition now");

    /* <on_reboot>destroy: virsh reboot shuts the domain down. */
    g_autofree char *xml2 = domops_xml("o2", "<on_reboot>destroy</on_reboot>", "quiet");
    g_autoptr(HvdDomain) dom2 = hvd_driver_define(xml2, 0, NULL);
    start_ok(dom2, "start o2 (on_reboot destroy)");
    hvd_domain_reboot(dom2, 0, on_done, &d);
    TAP_CHECK(run_until(&d.done, 5000) && d.code == 0, "reboot of o2 accepted");
    done_clear(&d);
    TAP_CHECK(wait_inactive(dom2, 5000), "on_reboot destroy: reboot ends the domain");
    expect_state(dom2, ST_SHUTOFF, R_SHUTOFF_SHUTDOWN, "o2 after reboot");

    /* <on_poweroff>preserve: the domain stays in state shutdown. */
    g_autofree char *xml3 = domops_xml("o3", "<on_poweroff>preserve</on_poweroff>", "quiet");
    g_autoptr(HvdDomain) dom3 = hvd_driver_define(xml3, 0, NULL);
    start_ok(dom3, "start o3 (on_poweroff preserve)");
    g_array_set_size(events, 0);
    hvd_domain_shutdown(dom3, 0, on_done, &d);
    run_until(&d.done, 5000);
    done_clear(&d);
    for (int i = 0; i < 300; i++)
        g_main_context_iteration(NULL, FALSE), g_usleep(1000);
    expect_state(dom3, ST_SHUTDOWN, 1 /* USER */, "o3 preserved after poweroff");
    TAP_CHECK(hvd_domain_is_active(dom3) && saw_event(EV_SHUTDOWN, 1), "o3 still active");
    hvd_domain_destroy(dom3, 0, on_done, &d);
    TAP_CHECK(run_until(&d.done, 5000) && d.code == 0, "destroy a preserved domain");
    done_clear(&d);

    /* <on_poweroff>restart: even virsh shutdown comes back (libvirt's
     * qemuProcessShutdownOrReboot). */
    g_autofree char *xml5 = domops_xml("o5", "<on_poweroff>restart</on_poweroff>", "quiet");
    g_autoptr(HvdDomain) dom5 = hvd_driver_define(xml5, 0, NULL);
    start_ok(dom5, "start o5 (on_poweroff restart)");
    int id5 = hvd_domain_id(dom5);
    g_array_set_size(other_events, 0);
    hvd_domain_shutdown(dom5, 0, on_done, &d);
    run_until(&d.done, 5000);
    done_clear(&d);
    for (int i = 0; i < 5000 && !saw_other(1); i++)
        g_main_context_iteration(NULL, FALSE), g_usleep(1000);
    for (int i = 0; i < 200; i++)
        g_main_context_iteration(NULL, FALSE), g_usleep(1000);
    TAP_CHECK(saw_other(1) && hvd_domain_is_active(dom5) && hvd_domain_id(dom5) == id5,
              "on_poweroff restart: the guest's poweroff resets the same worker");
    expect_state(dom5, ST_RUNNING, R_RUNNING_BOOTED, "o5 after its poweroff");
    hvd_domain_destroy(dom5, 0, on_done, &d);
    run_until(&d.done, 5000);
    done_clear(&d);
    hvd_domain_undefine(dom5, 0, NULL);

    /* A transient domain has no config to change. */
    g_autofree char *xml4 = domops_xml("o4", "", "quiet");
    g_autoptr(HvdDomain) dom4 = hvd_driver_create_xml(xml4, 0, on_done, &d, NULL);
    TAP_CHECK(dom4 && run_until(&d.done, 10000) && d.code == 0, "create transient o4");
    done_clear(&d);
    hvd_domain_set_memory(dom4, 100 * 1024, 2, on_done, &d);
    TAP_CHECK(d.done && d.code == ERR_OPERATION_INVALID, "setmem --config of a transient domain");
    TAP_EQ_STR(d.message,
               "Requested operation is not valid: transient domains do not have any persistent "
               "config", "libvirt's text");
    done_clear(&d);
    hvd_domain_destroy(dom4, 0, on_done, &d);
    run_until(&d.done, 5000);
    done_clear(&d);

    hvd_domain_undefine(dom, 0, NULL);
    hvd_domain_undefine(dom2, 0, NULL);
    hvd_domain_undefine(dom3, 0, NULL);
    g_array_unref(other_events);
}

/* ------------------------------------------------------------ issue 6 APIs */

enum { ERR_DEVICE_MISSING = 99, ERR_OPERATION_UNSUPPORTED = 84, ERR_XML_ERROR = 27,
       ERR_XML_DETAIL = 35 };

static void test_cpulist(const char *state_dir)
{
    uint8_t bits[2];
    TAP_EQ_U64((uint64_t)host_cpulist_parse("0-3,5\n", bits, sizeof(bits)), 6, "cpulist 0-3,5: 6 CPUs");
    TAP_CHECK(bits[0] == 0x2f && bits[1] == 0, "cpulist 0-3,5: bits 0x%02x", bits[0]);
    TAP_EQ_U64((uint64_t)host_cpulist_parse("9\n", bits, sizeof(bits)), 10, "cpulist 9: 10");
    TAP_CHECK(bits[0] == 0 && bits[1] == 0x02, "cpulist 9: bit 9 only");
    TAP_CHECK(host_cpulist_parse("\n", bits, sizeof(bits)) == 0, "empty cpulist: 0 CPUs");
    const char *bad[] = { "3-1", "a", "0-", "0,", "1 2", "0-16", "-1", "0,,1" };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        TAP_CHECK(host_cpulist_parse(bad[i], bits, sizeof(bits)) == -1, "cpulist '%s' refused",
                  bad[i]);

    g_autofree char *sys = g_build_filename(state_dir, "fake-sys-cpu", NULL);
    g_mkdir_with_parents(sys, 0700);
    g_autofree char *present = g_build_filename(sys, "present", NULL);
    g_autofree char *online = g_build_filename(sys, "online", NULL);
    g_file_set_contents(present, "0-7\n", -1, NULL);
    g_file_set_contents(online, "0-2,5\n", -1, NULL);
    g_autofree uint8_t *map = g_malloc0(HOST_CPUMAP_MAX_BYTES);
    unsigned n_online = 0;
    g_autofree char *why = NULL;
    int cpus = host_cpu_map(sys, map, &n_online, &why);
    TAP_CHECK(cpus == 8 && n_online == 4 && map[0] == 0x27, "cpu map: 8 present, 4 online (0x%02x)",
              map[0]);
    g_file_set_contents(online, "0-2,x\n", -1, NULL);
    TAP_CHECK(host_cpu_map(sys, map, &n_online, &why) == -1 && why && strstr(why, "malformed"),
              "malformed online list refused: %s", why ? why : "");
    g_free(why);
    why = NULL;
    TAP_CHECK(host_cpu_map("/nonexistent", map, &n_online, &why) == -1, "missing sysfs refused");
}

/* Send one REMOTE call through a fake client and run the loop until the
 * (possibly deferred) reply arrives; NULL if none did. */
static GBytes *call_once(int32_t proc, const struct xdr_writer *args)
{
    struct fake_transport t;
    struct rpc_client *c = fake_client(&t, false);
    rpc_client_set_open(c, "qemu:///system", false);
    g_autoptr(GBytes) f = make_frame(RPC_PROG_REMOTE, proc, 0, 9, args->data, args->len);
    feed_bytes(c, f);
    gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (t.frames->len == 0 && g_get_monotonic_time() < end)
        g_main_context_iteration(NULL, FALSE), g_usleep(1000);
    GBytes *reply = t.frames->len == 1 ? g_bytes_ref(g_ptr_array_index(t.frames, 0)) : NULL;
    fake_free(&t, c);
    return reply;
}

static void test_node_cpu_map_rpc(void)
{
    g_autofree uint8_t *map = g_malloc0(HOST_CPUMAP_MAX_BYTES);
    unsigned online = 0;
    g_autofree char *why = NULL;
    int host_cpus = host_cpu_map(NULL, map, &online, &why);
    TAP_CHECK(host_cpus > 0 && online > 0, "this host's CPU map: %d CPUs, %u online", host_cpus,
              online);

    struct xdr_writer w;
    xdr_writer_init(&w, 0);
    xdr_put_i32(&w, 1);
    xdr_put_i32(&w, 1);
    xdr_put_u32(&w, 0);
    g_autoptr(GBytes) r1 = call_once(293, &w);
    xdr_writer_free(&w);
    TAP_CHECK(r1 && frame_header(r1).status == 0, "NODE_GET_CPU_MAP answered");
    if (r1) {
        struct xdr_reader r;
        frame_payload(r1, &r);
        const uint8_t *got;
        size_t len;
        bool ok = xdr_get_opaque_var(&r, 2048, &got, &len);
        uint32_t got_online = xdr_get_u32(&r);
        int32_t ret = xdr_get_i32(&r);
        TAP_CHECK(ok && xdr_ok(&r) && xdr_remaining(&r) == 0 && ret == host_cpus &&
                      len == (size_t)(host_cpus + 7) / 8 && got_online == online &&
                      memcmp(got, map, len) == 0,
                  "cpumap of VIR_CPU_MAPLEN(%d) bytes, online %u", ret, got_online);
    }
    /* python's dom.vcpus(): need_map 0, need_online 0 -> just the count */
    xdr_writer_init(&w, 0);
    xdr_put_i32(&w, 0);
    xdr_put_i32(&w, 0);
    xdr_put_u32(&w, 0);
    g_autoptr(GBytes) r2 = call_once(293, &w);
    xdr_writer_free(&w);
    if (r2) {
        struct xdr_reader r;
        frame_payload(r2, &r);
        const uint8_t *got;
        size_t len = 99;
        xdr_get_opaque_var(&r, 2048, &got, &len);
        uint32_t got_online = xdr_get_u32(&r);
        int32_t ret = xdr_get_i32(&r);
        TAP_CHECK(xdr_ok(&r) && len == 0 && got_online == 0 && ret == host_cpus,
                  "count only: no map, online 0, ret %d", ret);
    } else {
        TAP_CHECK(false, "NODE_GET_CPU_MAP (count only) answered");
    }
    xdr_writer_init(&w, 0);
    xdr_put_i32(&w, 1);
    xdr_put_i32(&w, 1);
    xdr_put_u32(&w, 1);
    g_autoptr(GBytes) r3 = call_once(293, &w);
    xdr_writer_free(&w);
    int code = 0, domain = -1;
    g_autofree char *msg = NULL;
    TAP_CHECK(r3 && frame_header(r3).status == 1 && decode_error(r3, &code, &domain, &msg) &&
                  code == ERR_INVALID_ARG && domain == 0,
              "flags refused (%d/%d)", code, domain);
    TAP_EQ_STR(msg, "invalid argument: unsupported flags (0x1) in function virHostCPUGetMap",
               "libvirt's text");
}

/* attach/detach through the driver: expect success or (code, message). */
static void expect_device(HvdDomain *dom, bool attach, const char *xml, unsigned flags, int code,
                          const char *message, const char *what)
{
    GError *err = NULL;
    bool ok = attach ? hvd_domain_attach_device(dom, xml, flags, &err)
                     : hvd_domain_detach_device(dom, xml, flags, &err);
    if (code == 0) {
        TAP_CHECK(ok, "%s (%s)", what, err ? err->message : "ok");
    } else {
        TAP_CHECK(!ok && err_number(err) == code, "%s: error %d (%s)", what, err_number(err),
                  err ? err->message : "none");
        if (message) {
            g_autofree char *name = g_strdup_printf("%s: message", what);
            TAP_EQ_STR(err ? err->message : NULL, message, name);
        }
    }
    g_clear_error(&err);
}

static bool config_has(HvdDomain *dom, const char *needle)
{
    g_autofree char *xml = hvd_domain_get_xml(dom, 2 /* INACTIVE */, NULL);
    return xml && strstr(xml, needle);
}

static void test_devices_config(const char *state_dir)
{
    g_autofree char *xml = domain_xml("dv", NULL, "quiet");
    g_autoptr(HvdDomain) dom = hvd_driver_define(xml, 0, NULL);
    TAP_CHECK(dom != NULL, "define dv");
    if (!dom)
        return;
    const char *vdb = "<disk type='file' device='disk'><source file='/tmp/vdb.img'/>"
                      "<target dev='vdb' bus='virtio'/></disk>";
    expect_device(dom, true, vdb, 2 /* CONFIG */, 0, NULL, "attach disk vdb --config");
    TAP_CHECK(config_has(dom, "<target dev='vdb' bus='virtio'/>"), "config shows vdb");
    g_autofree char *path = g_build_filename(state_dir, "qemu", "dv.xml", NULL);
    g_autofree char *saved = NULL;
    g_file_get_contents(path, &saved, NULL, NULL);
    TAP_CHECK(saved && strstr(saved, "/tmp/vdb.img"), "vdb persisted in qemu/dv.xml");
    expect_device(dom, true, vdb, 0 /* CURRENT = config when shut off */, ERR_OPERATION_INVALID,
                  "Requested operation is not valid: target vdb already exists", "vdb again");
    const char *vda = "<disk type='file'><source file='/tmp/a.img'/><target dev='vda'/></disk>";
    expect_device(dom, true, vda, 2, 0, NULL, "attach vda after vdb");
    g_autofree char *cfg = hvd_domain_get_xml(dom, 2, NULL);
    char *a = cfg ? strstr(cfg, "dev='vda'") : NULL, *b = cfg ? strstr(cfg, "dev='vdb'") : NULL;
    TAP_CHECK(a && b && a < b, "disks kept in target order (vda before vdb)");
    const char *clash = "<disk type='file'><source file='/tmp/c.img'/><target dev='vdc'/>"
                        "<address type='pci' domain='0x0000' bus='0x00' slot='0x03' "
                        "function='0x0'/></disk>";
    GError *err = NULL;
    TAP_CHECK(!hvd_domain_attach_device(dom, clash, 2, &err) && err, "PCI slot used twice refused: %s",
              err ? err->message : "");
    g_clear_error(&err);
    TAP_CHECK(!config_has(dom, "vdc"), "refused attach left the config alone");

    expect_device(dom, false, "<disk type='file'><target dev='vdq'/></disk>", 2, ERR_DEVICE_MISSING,
                  "device not found: no target device vdq", "detach a missing disk");
    expect_device(dom, false, vdb, 2, 0, NULL, "detach vdb --config");
    TAP_CHECK(!config_has(dom, "vdb"), "vdb gone from the config");

    /* interfaces: matched by MAC (virDomainNetFindIdx) */
    const char *nic1 = "<interface type='bridge'><mac address='52:54:00:00:00:a1'/>"
                       "<source bridge='br0'/><model type='virtio'/></interface>";
    const char *nic2 = "<interface type='bridge'><source bridge='br0'/></interface>";
    expect_device(dom, true, nic1, 2, 0, NULL, "attach interface with a MAC");
    expect_device(dom, true, nic2, 2, 0, NULL, "attach interface without a MAC");
    expect_device(dom, false, "<interface type='bridge'><source bridge='br0'/></interface>", 2, ERR_OPERATION_FAILED,
                  "operation failed: multiple matching devices found", "detach: two candidates");
    expect_device(dom, false,
                  "<interface type='bridge'><mac address='52:54:00:00:00:ff'/>"
                  "<source bridge='br0'/></interface>", 2,
                  ERR_DEVICE_MISSING,
                  "device not found: no device matching MAC address 52:54:00:00:00:ff found",
                  "detach an unknown MAC");
    expect_device(dom, false, nic1, 2, 0, NULL, "detach the interface by MAC");
    TAP_CHECK(!config_has(dom, "52:54:00:00:00:a1") && config_has(dom, "<interface"),
              "only the other interface is left");

    /* hostdevs: matched by host address */
    const char *hd = "<hostdev mode='subsystem' type='pci' managed='yes'><source>"
                     "<address domain='0x0000' bus='0x00' slot='0x1f' function='0x6'/>"
                     "</source></hostdev>";
    expect_device(dom, true, hd, 2, 0, NULL, "attach hostdev --config");
    expect_device(dom, true, hd, 2, ERR_OPERATION_INVALID,
                  "Requested operation is not valid: device is already in the domain configuration",
                  "the same host device twice");
    expect_device(dom, false, hd, 2, 0, NULL, "detach hostdev");
    expect_device(dom, false, hd, 2, ERR_DEVICE_MISSING,
                  "device not found: device not present in domain configuration",
                  "detach it again");

    expect_device(dom, true, "<memballoon model='virtio'/>", 2, ERR_OPERATION_UNSUPPORTED,
                  "Operation not supported: persistent attach of device 'memballoon' is not supported",
                  "memballoon attach");
    expect_device(dom, false, "<memballoon model='virtio'/>", 2, ERR_OPERATION_UNSUPPORTED,
                  "Operation not supported: persistent detach of device 'memballoon' is not supported",
                  "memballoon detach");
    expect_device(dom, true, "<serial type='pty'/>", 2, ERR_OPERATION_UNSUPPORTED,
                  "Operation not supported: persistent attach of device 'chr' is not supported",
                  "serial attach (a chr device)");
    expect_device(dom, true, "<blob/>", 2, ERR_XML_ERROR, "XML error: unknown device type 'blob'",
                  "unknown element");
    expect_device(dom, true, "<disk type='file'", 2, ERR_XML_DETAIL, NULL, "malformed XML");
    expect_device(dom, true, "<disk type='file'><source file='/x'/></disk>", 2, ERR_NO_TARGET, NULL,
                  "disk without a target");
    expect_device(dom, true, vdb, 1 /* LIVE */, ERR_OPERATION_INVALID,
                  "Requested operation is not valid: domain is not running", "--live when shut off");
    expect_device(dom, true, vdb, 8, ERR_INVALID_ARG,
                  "invalid argument: unsupported flags (0x8) in function qemuDomainAttachDeviceFlags",
                  "unknown flag");
    TAP_CHECK(!hvd_domain_is_updated(dom), "a shut off domain is never 'updated'");
    hvd_domain_undefine(dom, 0, NULL);
}

typedef struct {
    bool done;
    int code;
    unsigned n;
    HvdVcpuInfo info[4];
} VcpusDone;

static void on_vcpus(HvdDomain *dom, const HvdVcpuInfo *info, unsigned n, const GError *err,
                     gpointer data)
{
    (void)dom;
    VcpusDone *v = data;
    v->done = true;
    if (err) {
        int from;
        hvd_driver_error_unpack(err, &v->code, &from);
    }
    v->n = n;
    if (info)
        memcpy(v->info, info, MIN(n, 4u) * sizeof(*info));
}

static void test_running_api(void)
{
    g_autofree char *xml = domain_xml("dr", NULL, "quiet");
    g_autoptr(HvdDomain) dom = hvd_driver_define(xml, 0, NULL);
    TAP_CHECK(dom != NULL, "define dr");
    if (!dom)
        return;
    VcpusDone v = { 0 };
    hvd_domain_get_vcpu_info(dom, 4, on_vcpus, &v);
    TAP_CHECK(v.done && v.code == ERR_OPERATION_INVALID, "vcpu info of a shut off domain refused");

    start_ok(dom, "dr");
    TAP_CHECK(!hvd_domain_is_updated(dom), "just started: not updated");
    memset(&v, 0, sizeof(v));
    hvd_domain_get_vcpu_info(dom, 4, on_vcpus, &v);
    TAP_CHECK(run_until(&v.done, 5000) && v.code == 0 && v.n == 2, "vcpu info: %u vCPUs", v.n);
    TAP_CHECK(v.info[0].number == 0 && v.info[1].number == 1 && v.info[0].state == 1 &&
                  v.info[0].tid > 0 && v.info[0].cpu >= 0,
              "vCPU 0: running, thread %d, CPU %d", v.info[0].tid, v.info[0].cpu);
    TAP_CHECK(v.info[0].cpu_time_ns > 0, "vCPU thread CPU time from /proc: %" G_GUINT64_FORMAT " ns",
              v.info[0].cpu_time_ns);
    memset(&v, 0, sizeof(v));
    hvd_domain_get_vcpu_info(dom, 1, on_vcpus, &v);
    TAP_CHECK(run_until(&v.done, 5000) && v.code == 0 && v.n == 1, "maxinfo 1: one vCPU");
    TAP_CHECK(hvd_domain_get_vcpus(dom, 1 /* LIVE */, NULL) == 2, "vcpucount --live");

    /* GET_VCPUS on the wire: maxinfo 2, maplen 1 */
    struct xdr_writer w;
    xdr_writer_init(&w, 0);
    put_test_dom(&w, dom);
    xdr_put_i32(&w, 2);
    xdr_put_i32(&w, 1);
    g_autoptr(GBytes) r1 = call_once(20, &w);
    xdr_writer_free(&w);
    TAP_CHECK(r1 && frame_header(r1).status == 0, "GET_VCPUS answered");
    if (r1) {
        struct xdr_reader r;
        frame_payload(r1, &r);
        uint32_t n = xdr_get_u32(&r);
        uint64_t t0 = 0;
        int32_t cpu0 = -1;
        for (uint32_t i = 0; i < n && i < 4; i++) {
            xdr_get_u32(&r);
            xdr_get_i32(&r);
            uint64_t t = xdr_get_u64(&r);
            int32_t cpu = xdr_get_i32(&r);
            if (i == 0) {
                t0 = t;
                cpu0 = cpu;
            }
        }
        const uint8_t *maps;
        size_t len;
        xdr_get_opaque_var(&r, 8388608, &maps, &len);
        TAP_CHECK(xdr_ok(&r) && xdr_remaining(&r) == 0 && n == 2 && len == 2 && t0 > 0 &&
                      cpu0 >= 0 && maps[0] != 0 && maps[1] != 0,
                  "2 vcpu_info (cpu_time %" G_GUINT64_FORMAT ", cpu %d), 2 bytes of maps", t0,
                  cpu0);
    }
    xdr_writer_init(&w, 0);
    put_test_dom(&w, dom);
    xdr_put_i32(&w, 20000);
    xdr_put_i32(&w, 1);
    g_autoptr(GBytes) r2 = call_once(20, &w);
    xdr_writer_free(&w);
    int code = 0, domain = 0;
    g_autofree char *msg = NULL;
    TAP_CHECK(r2 && decode_error(r2, &code, &domain, &msg) && code == ERR_INTERNAL,
              "maxinfo above REMOTE_VCPUINFO_MAX refused");
    TAP_EQ_STR(msg, "internal error: maxinfo > REMOTE_VCPUINFO_MAX", "its text");

    /* devices on a running domain: live refused, config pending */
    const char *hd = "<hostdev mode='subsystem' type='pci'><source>"
                     "<address domain='0x0000' bus='0x00' slot='0x1f' function='0x6'/>"
                     "</source></hostdev>";
    expect_device(dom, true, hd, 1 /* LIVE */, ERR_OPERATION_UNSUPPORTED,
                  "Operation not supported: live attach of device 'hostdev' is not supported",
                  "live hostdev attach refused");
    expect_device(dom, true, hd, 0 /* CURRENT = live */, ERR_OPERATION_UNSUPPORTED, NULL,
                  "current = live when running");
    expect_device(dom, true, hd, 3 /* LIVE|CONFIG */, ERR_OPERATION_UNSUPPORTED, NULL,
                  "live+config refused as a whole");
    TAP_CHECK(!hvd_domain_is_updated(dom) && !config_has(dom, "slot='0x1f'"),
              "a refused live part changes no config");
    const char *vdb = "<disk type='file'><source file='/tmp/vdb.img'/><target dev='vdb'/></disk>";
    expect_device(dom, false, vdb, 1, ERR_DEVICE_MISSING, "device not found: no target device vdb",
                  "live detach of a missing disk");
    expect_device(dom, true, vdb, 2 /* CONFIG */, 0, NULL, "attach vdb --config while running");
    TAP_CHECK(hvd_domain_is_updated(dom), "updated after a --config change");
    g_autofree char *live = hvd_domain_get_xml(dom, 0, NULL);
    TAP_CHECK(live && !strstr(live, "vdb") && config_has(dom, "vdb"),
              "vdb in the next config, not in the live XML");
    expect_device(dom, false, vdb, 1, ERR_DEVICE_MISSING, NULL, "live detach: vdb is not live");
    expect_device(dom, false, vdb, 2, 0, NULL, "detach vdb --config again");
    TAP_CHECK(!hvd_domain_is_updated(dom), "config back to what it started with: not updated");
    expect_device(dom, true, vdb, 2, 0, NULL, "attach vdb --config once more");

    /* IS_UPDATED on the wire */
    xdr_writer_init(&w, 0);
    put_test_dom(&w, dom);
    g_autoptr(GBytes) r3 = call_once(202, &w);
    xdr_writer_free(&w);
    if (r3) {
        struct xdr_reader r;
        frame_payload(r3, &r);
        TAP_CHECK(xdr_get_i32(&r) == 1 && xdr_ok(&r), "DOMAIN_IS_UPDATED answers 1");
    } else {
        TAP_CHECK(false, "DOMAIN_IS_UPDATED answered");
    }
    Done d = { 0 };
    hvd_domain_destroy(dom, 0, on_done, &d);
    TAP_CHECK(run_until(&d.done, 5000) && d.code == 0, "destroy dr");
    done_clear(&d);
    TAP_CHECK(!hvd_domain_is_updated(dom), "stopped: not updated");
    g_autofree char *now = hvd_domain_get_xml(dom, 0, NULL);
    TAP_CHECK(now && strstr(now, "vdb"), "the pending config is the definition after the stop");
    hvd_domain_undefine(dom, 0, NULL);
}

/* ------------------------------------------------ disk boot, qcow2 chains */

static bool sh(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static bool sh(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autofree char *quiet = g_strdup_printf("%s >/dev/null 2>&1", cmd);
    return system(quiet) == 0;
}

static char *disk_boot_xml(const char *name, const char *os_extra, const char *disks)
{
    return g_strdup_printf("<domain type='kvm'><name>%s</name><memory unit='MiB'>128</memory>"
                           "<os><type arch='x86_64' machine='pc'>hvm</type>%s</os>"
                           "<devices>%s</devices></domain>", name, os_extra, disks);
}

static char *qcow2_disk(const char *dev, const char *path)
{
    return g_strdup_printf("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                           "<source file='%s'/><target dev='%s' bus='virtio'/></disk>", path, dev);
}

static json_object *read_json(const char *path)
{
    g_autofree char *text = NULL;
    return g_file_get_contents(path, &text, NULL, NULL) ? json_tokener_parse(text) : NULL;
}

/* The machine description the driver writes for an XML (run/NAME.json),
 * parsed: the domain is defined, started on the fake worker, stopped and
 * undefined again. */
static json_object *machine_json(const char *xml, const char *state_dir)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(HvdDomain) dom = hvd_driver_define(xml, 0, &err);
    if (!dom) {
        printf("# %s\n", err->message);
        return NULL;
    }
    start_ok(dom, hvd_domain_name(dom));
    g_autofree char *path = g_strdup_printf("%s/run/%s.json", state_dir, hvd_domain_name(dom));
    json_object *o = read_json(path);
    Done d = { 0 };
    hvd_domain_destroy(dom, 0, on_done, &d);
    run_until(&d.done, 5000);
    done_clear(&d);
    hvd_domain_undefine(dom, 0, NULL);
    return o;
}

static const char *jstr(json_object *o, const char *key)
{
    json_object *v;
    return o && json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

/* disks[i].bootindex, 0 when absent */
static int disk_bootindex(json_object *o, size_t i)
{
    json_object *disks, *v;
    if (!o || !json_object_object_get_ex(o, "disks", &disks) ||
        i >= json_object_array_length(disks))
        return -1;
    json_object *d = json_object_array_get_idx(disks, i);
    return json_object_object_get_ex(d, "bootindex", &v) ? json_object_get_int(v) : 0;
}

static const char *disk_str(json_object *o, size_t i, const char *key)
{
    json_object *disks;
    if (!o || !json_object_object_get_ex(o, "disks", &disks) ||
        i >= json_object_array_length(disks))
        return NULL;
    return jstr(json_object_array_get_idx(disks, i), key);
}

static void test_machine_description_boot(const char *state_dir)
{
    const char *run = state_dir;
#define TWO_DISKS(boot_a, boot_b)                                                              \
    "<disk type='file'><source file='/nonexistent/a'/><target dev='vda'/>" boot_a "</disk>"     \
    "<disk type='file'><source file='/nonexistent/b'/><target dev='vdb'/>" boot_b "</disk>"
    /* <boot dev='hd'/> (what virt-install --import and nova write): the
     * first disk is bootindex 1, no kernel key, hv's default firmware */
    const char *plain_disks = TWO_DISKS("", "");
    g_autofree char *hd = disk_boot_xml("mj1", "<boot dev='hd'/>", plain_disks);
    json_object *o = machine_json(hd, run);
    TAP_CHECK(o && !json_object_object_get_ex(o, "kernel", NULL) &&
                  !json_object_object_get_ex(o, "initrd", NULL) &&
                  !json_object_object_get_ex(o, "append", NULL),
              "no <kernel>: no kernel, initrd or append key");
    TAP_CHECK(o && !json_object_object_get_ex(o, "firmware", NULL),
              "no <loader>: no firmware key (hv's default SeaBIOS)");
    TAP_CHECK(disk_bootindex(o, 0) == 1 && disk_bootindex(o, 1) == 0,
              "boot dev hd: first disk bootindex 1, the other none");
    TAP_CHECK(g_strcmp0(disk_str(o, 0, "format"), "raw") == 0 &&
                  g_strcmp0(disk_str(o, 1, "format"), "raw") == 0,
              "disks[].format raw (no driver type)");
    json_object_put(o);

    /* an os/boot list: hd's position in it (libvirt's bootindex rule) */
    g_autofree char *list = disk_boot_xml("mj2",
                                          "<loader readonly='yes' type='rom'>/srv/bios.bin</loader>"
                                          "<boot dev='network'/><boot dev='cdrom'/><boot dev='hd'/>",
                                          plain_disks);
    o = machine_json(list, run);
    TAP_CHECK(disk_bootindex(o, 0) == 3 && disk_bootindex(o, 1) == 0,
              "boot network, cdrom, hd: first disk bootindex 3");
    TAP_EQ_STR(jstr(o, "firmware"), "/srv/bios.bin", "<loader> is the firmware key");
    json_object_put(o);

    /* no hd in the list: no disk is in the boot order */
    g_autofree char *net_only = disk_boot_xml("mj3", "<boot dev='network'/>", plain_disks);
    o = machine_json(net_only, run);
    TAP_CHECK(disk_bootindex(o, 0) == 0 && disk_bootindex(o, 1) == 0,
              "boot network only: no disk bootindex");
    json_object_put(o);

    /* per-device boot order: each disk its own */
    g_autofree char *ordered = disk_boot_xml("mj4", "", TWO_DISKS("<boot order='2'/>",
                                                                  "<boot order='1'/>"));
    o = machine_json(ordered, run);
    TAP_CHECK(disk_bootindex(o, 0) == 2 && disk_bootindex(o, 1) == 1,
              "per-device boot order: vda 2, vdb 1");
    json_object_put(o);

    /* a kernel: direct boot as before, the loader is not used */
    g_autofree char *kernel = disk_boot_xml("mj5",
                                            "<loader type='rom'>/srv/bios.bin</loader>"
                                            "<kernel>/k</kernel><cmdline>console=ttyS0</cmdline>",
                                            plain_disks);
    o = machine_json(kernel, run);
    TAP_CHECK(g_strcmp0(jstr(o, "kernel"), "/k") == 0 && g_strcmp0(jstr(o, "append"), "console=ttyS0") == 0 &&
                  !json_object_object_get_ex(o, "firmware", NULL),
              "kernel: kernel and append, no firmware");
    json_object_put(o);
}

static bool disk_has(json_object *o, size_t i, const char *key)
{
    json_object *disks;
    return o && json_object_object_get_ex(o, "disks", &disks) &&
           i < json_object_array_length(disks) &&
           json_object_object_get_ex(json_object_array_get_idx(disks, i), key, NULL);
}

static int disk_int(json_object *o, size_t i, const char *key)
{
    json_object *disks, *v;
    if (!o || !json_object_object_get_ex(o, "disks", &disks) ||
        i >= json_object_array_length(disks) ||
        !json_object_object_get_ex(json_object_array_get_idx(disks, i), key, &v))
        return -1;
    return json_object_get_int(v);
}

#define IDE_DISKS                                                                              \
    "<disk type='file' device='disk'><source file='/nonexistent/hda.img'/>"                    \
    "<target dev='hda' bus='ide'/></disk>"                                                     \
    "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"                        \
    "<source file='/nonexistent/install.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>"  \
    "<disk type='file' device='cdrom'><target dev='hdd' bus='ide'/></disk>"                    \
    "<disk type='file'><source file='/nonexistent/vda.img'/><target dev='vda'/></disk>"

/* IDE disks and cdroms in hv's machine description: bus, unit, media, the
 * ide0-B-U ids, no path for an empty drive, and bootindex as libvirt's
 * QEMU driver gives it (the first cdrom takes cdrom's place in the boot
 * list, the first disk hd's). */
static void test_machine_description_ide(const char *state_dir)
{
    g_autofree char *xml = disk_boot_xml("mide1", "<boot dev='cdrom'/><boot dev='hd'/>", IDE_DISKS);
    json_object *o = machine_json(xml, state_dir);
    TAP_CHECK(o != NULL, "IDE domain starts on the fake worker");
    TAP_EQ_STR(disk_str(o, 0, "bus"), "ide", "hda: bus ide");
    TAP_CHECK(disk_int(o, 0, "unit") == 0 && g_strcmp0(disk_str(o, 0, "media"), "disk") == 0,
              "hda: unit 0, media disk");
    TAP_EQ_STR(disk_str(o, 0, "id"), "ide0-0-0", "hda: id ide0-0-0");
    TAP_CHECK(disk_int(o, 1, "unit") == 2 && g_strcmp0(disk_str(o, 1, "media"), "cdrom") == 0 &&
                  g_strcmp0(disk_str(o, 1, "path"), "/nonexistent/install.iso") == 0,
              "hdc: unit 2 (secondary master), cdrom with its ISO");
    json_object *disks = NULL, *ro = NULL;
    TAP_CHECK(o && json_object_object_get_ex(o, "disks", &disks) &&
                  json_object_object_get_ex(json_object_array_get_idx(disks, 1), "readonly", &ro) &&
                  json_object_get_boolean(ro), "hdc: readonly");
    TAP_EQ_STR(disk_str(o, 1, "id"), "ide0-1-0", "hdc: id ide0-1-0");
    TAP_CHECK(disk_int(o, 2, "unit") == 3 && !disk_has(o, 2, "path") &&
                  g_strcmp0(disk_str(o, 2, "media"), "cdrom") == 0,
              "hdd: unit 3, an empty cdrom has no path");
    TAP_CHECK(disk_bootindex(o, 1) == 1 && disk_bootindex(o, 0) == 2 && disk_bootindex(o, 2) == 0 &&
                  disk_bootindex(o, 3) == 0,
              "boot cdrom, hd: hdc bootindex 1, hda 2, hdd and vda none");
    TAP_CHECK(!disk_has(o, 3, "bus") && !disk_has(o, 3, "unit") && !disk_has(o, 3, "media") &&
                  g_strcmp0(disk_str(o, 3, "id"), "virtio-disk0") == 0,
              "vda: the virtio keys only");
    json_object_put(o);

    g_autofree char *ordered = disk_boot_xml("mide2", "",
        "<disk type='file' device='cdrom'><target dev='hdc'/><boot order='1'/></disk>"
        "<disk type='file'><source file='/nonexistent/a'/><target dev='hda'/><boot order='2'/></disk>");
    o = machine_json(ordered, state_dir);
    TAP_CHECK(disk_bootindex(o, 0) == 1 && disk_bootindex(o, 1) == 2,
              "per-device boot order on an IDE cdrom and disk");
    json_object_put(o);
}

static const char *CDROM_HDC_ISO =
    "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
    "<source file='/srv/new.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>";
static const char *CDROM_HDC_EMPTY =
    "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
    "<target dev='hdc' bus='ide'/><readonly/></disk>";

static void update_device(HvdDomain *dom, const char *xml, unsigned flags, Done *d)
{
    done_clear(d);
    hvd_domain_update_device(dom, xml, flags, on_done, d);
    run_until(&d->done, 5000);
}

static char *last_media_command(HvdDomain *dom)
{
    Done d = { 0 };
    hvd_domain_monitor_command(dom, "{\"execute\":\"x-fake-last-media\"}", false, on_done, &d);
    run_until(&d.done, 5000);
    /* the passthrough gives the reply line: {"return": "...", "id": ...} */
    json_object *reply = d.result ? json_tokener_parse(d.result) : NULL;
    char *r = g_strdup(jstr(reply, "return"));
    json_object_put(reply);
    done_clear(&d);
    return r;
}

/* virsh change-media: virDomainUpdateDeviceFlags with a cdrom's XML. */
static void test_change_media(void)
{
    enum { LIVE = 1, CONFIG = 2, FORCE = 4 };
    Done d = { 0 };
    g_autoptr(GError) err = NULL;
    g_autofree char *xml = disk_boot_xml("media1", "<kernel>/k</kernel><cmdline>quiet</cmdline>",
                                         IDE_DISKS);
    g_autoptr(HvdDomain) dom = hvd_driver_define(xml, 0, &err);
    TAP_CHECK(dom != NULL, "media domain defined%s%s", err ? ": " : "", err ? err->message : "");
    if (!dom)
        return;

    /* inactive: --config (and current) change the persistent XML */
    update_device(dom, CDROM_HDC_EMPTY, 0, &d);
    TAP_CHECK(d.code == 0, "eject --current of an inactive domain (%s)", d.message ? d.message : "ok");
    g_autofree char *x1 = hvd_domain_get_xml(dom, 0, NULL);
    TAP_CHECK(x1 && !strstr(x1, "install.iso") && strstr(x1, "<target dev='hdc' bus='ide'/>"),
              "config: hdc now empty");
    update_device(dom, CDROM_HDC_ISO, CONFIG, &d);
    g_autofree char *x2 = hvd_domain_get_xml(dom, 0, NULL);
    TAP_CHECK(d.code == 0 && x2 && strstr(x2, "<source file='/srv/new.iso'/>\n      <target dev='hdc'"),
              "insert --config: the new ISO in the config");
    update_device(dom, CDROM_HDC_ISO, LIVE, &d);
    TAP_CHECK(d.code == VIR_ERR_OPERATION_INVALID && d.message && strstr(d.message, "domain is not running"),
              "--live of an inactive domain: %s", d.message ? d.message : "");
    update_device(dom, "<disk type='file' device='cdrom'><target dev='hdb'/></disk>", CONFIG, &d);
    TAP_CHECK(d.code == VIR_ERR_INVALID_ARG && g_strcmp0(d.message, "invalid argument: target hdb doesn't exist.") == 0,
              "unknown target: %s", d.message ? d.message : "");
    update_device(dom, "<interface type='ethernet'/>", CONFIG, &d);
    TAP_CHECK(d.code == VIR_ERR_OPERATION_UNSUPPORTED && d.message &&
                  strstr(d.message, "persistent update of device 'net' is not supported"),
              "interface update --config: %s", d.message ? d.message : "");
    update_device(dom, CDROM_HDC_ISO, 8, &d);
    TAP_CHECK(d.code == VIR_ERR_INVALID_ARG && d.message && strstr(d.message, "unsupported flags (0x8)"),
              "unknown flag: %s", d.message ? d.message : "");

    /* attach-device --config of an empty IDE cdrom: its address from hdb */
    g_clear_error(&err);
    TAP_CHECK(hvd_domain_attach_device(dom, "<disk type='file' device='cdrom'><target dev='hdb' bus='ide'/></disk>",
                                       CONFIG, &err),
              "attach-device --config of an IDE cdrom%s%s", err ? ": " : "", err ? err->message : "");
    g_autofree char *x3 = hvd_domain_get_xml(dom, 0, NULL);
    const char *hdb = x3 ? strstr(x3, "<target dev='hdb' bus='ide'/>") : NULL;
    const char *hdc = x3 ? strstr(x3, "<target dev='hdc' bus='ide'/>") : NULL;
    TAP_CHECK(hdb && hdc && hdb < hdc &&
                  strstr(hdb, "<address type='drive' controller='0' bus='0' target='0' unit='1'/>"),
              "hdb inserted before hdc with drive 0:0:0:1");

    /* running: --live goes to the worker in QEMU 7.2's shapes */
    start_ok(dom, "media domain");
    update_device(dom, CDROM_HDC_EMPTY, LIVE, &d);
    TAP_CHECK(d.code == 0, "eject --live (%s)", d.message ? d.message : "ok");
    g_autofree char *m1 = last_media_command(dom);
    TAP_EQ_STR(m1, "eject {\"id\":\"ide0-1-0\",\"force\":false}", "eject sent with the drive's id");
    g_autofree char *live1 = hvd_domain_get_xml(dom, 0, NULL);
    TAP_CHECK(live1 && !strstr(live1, "/srv/new.iso") &&
                  strstr(live1, "<target dev='hdc' bus='ide'/>\n      <readonly/>\n      <alias name='ide0-1-0'/>"),
              "live XML: hdc empty");
    g_autofree char *cfg1 = hvd_domain_get_xml(dom, 2 /* INACTIVE */, NULL);
    TAP_CHECK(cfg1 && strstr(cfg1, "/srv/new.iso"), "live eject leaves the config's medium");

    update_device(dom, CDROM_HDC_ISO, LIVE | CONFIG, &d);
    TAP_CHECK(d.code == 0, "insert --live --config (%s)", d.message ? d.message : "ok");
    g_autofree char *m2 = last_media_command(dom);
    TAP_EQ_STR(m2, "blockdev-change-medium {\"id\":\"ide0-1-0\",\"filename\":\"/srv/new.iso\",\"format\":\"raw\"}",
               "blockdev-change-medium sent with filename and format raw");
    g_autofree char *live2 = hvd_domain_get_xml(dom, 0, NULL);
    TAP_CHECK(live2 && strstr(live2, "<source file='/srv/new.iso' index="), "live XML: the new medium with its node index");

    update_device(dom, "<disk type='file' device='cdrom'><source file='/srv/other.iso'/>"
                       "<target dev='hdc' bus='ide'/></disk>", LIVE | FORCE, &d);
    g_autofree char *m3 = last_media_command(dom);
    TAP_CHECK(d.code == 0 && m3 && strstr(m3, "\"filename\":\"/srv/other.iso\"") && strstr(m3, "\"force\":true"),
              "update --force: force passed (%s)", m3 ? m3 : "");
    g_autofree char *cfg2 = hvd_domain_get_xml(dom, 2, NULL);
    TAP_CHECK(cfg2 && strstr(cfg2, "/srv/new.iso") && !strstr(cfg2, "/srv/other.iso"),
              "--live only: the config keeps /srv/new.iso");
    TAP_CHECK(!hvd_domain_is_updated(dom), "a live-only media change leaves IsUpdated false");

    /* domblkstat by an IDE target: the worker's entry of its ide0-B-U id
     * (hdc is the fake's third disk now, after hdb: 3 x 7 reads) */
    BlkDone b = { 0 };
    hvd_domain_block_stats(dom, "hdc", on_blk, &b);
    run_until(&b.done, 5000);
    TAP_CHECK(b.done && b.code == 0 && b.stats.rd_req == 21, "domblkstat hdc: ide0-1-0's counters (%s)",
              b.message ? b.message : "ok");
    blk_clear(&b);

    /* the RPC procedure virsh change-media calls (174, deferred reply) */
    struct xdr_writer w;
    xdr_writer_init(&w, 0);
    put_test_dom(&w, dom);
    xdr_put_string(&w, CDROM_HDC_EMPTY, 1 << 20);
    xdr_put_u32(&w, LIVE);
    g_autoptr(GBytes) reply = call_once(174, &w);
    xdr_writer_free(&w);
    g_autofree char *m4 = last_media_command(dom);
    TAP_CHECK(reply && frame_header(reply).status == 0 && g_str_has_prefix(m4 ? m4 : "", "eject "),
              "UPDATE_DEVICE_FLAGS frame: eject done, success reply");

    /* what cannot change live */
    update_device(dom, "<disk type='file' device='disk'><source file='/srv/b.img'/><target dev='hda' bus='ide'/></disk>",
                  LIVE, &d);
    TAP_CHECK(d.code == VIR_ERR_OPERATION_UNSUPPORTED &&
                  g_strcmp0(d.message, "Operation not supported: disk source can be changed only in removable drives") == 0,
              "disk source change refused: %s", d.message ? d.message : "");
    update_device(dom, "<disk type='file' device='disk'><target dev='hdc' bus='ide'/></disk>", LIVE, &d);
    TAP_CHECK(d.code == VIR_ERR_OPERATION_UNSUPPORTED && d.message &&
                  strstr(d.message, "cannot modify field 'device' of the disk"),
              "cdrom -> disk refused: %s", d.message ? d.message : "");
    update_device(dom, "<disk type='file'><source file='/x'/><target dev='vdq'/></disk>", LIVE, &d);
    TAP_CHECK(d.code == VIR_ERR_INTERNAL_ERROR && d.message && strstr(d.message, "disk 'vdq' not found"),
              "live: unknown target: %s", d.message ? d.message : "");
    update_device(dom, "<interface type='ethernet'/>", LIVE, &d);
    TAP_CHECK(d.code == VIR_ERR_OPERATION_UNSUPPORTED && d.message &&
                  strstr(d.message, "live update of device 'net' is not supported"),
              "interface live update: %s", d.message ? d.message : "");

    Done dd = { 0 };
    hvd_domain_destroy(dom, 0, on_done, &dd);
    run_until(&dd.done, 5000);
    done_clear(&dd);

    /* a tray the guest locked: the worker's error, as libvirt reports it */
    g_autofree char *locked_xml = disk_boot_xml("media2", "<kernel>/k</kernel><cmdline>fake=locked</cmdline>",
                                                IDE_DISKS);
    g_autoptr(HvdDomain) locked = hvd_driver_define(locked_xml, 0, NULL);
    start_ok(locked, "media domain with a locked tray");
    update_device(locked, "<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk>", LIVE, &d);
    TAP_CHECK(d.code == VIR_ERR_INTERNAL_ERROR && d.message &&
                  strstr(d.message, "internal error: unable to execute QEMU command 'eject': Device 'ide0-1-0' "
                                    "is locked"),
              "locked eject: %s", d.message ? d.message : "");
    g_autofree char *live3 = hvd_domain_get_xml(locked, 0, NULL);
    TAP_CHECK(live3 && strstr(live3, "install.iso"), "failed eject: live XML keeps the medium");
    update_device(locked, "<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk>", LIVE | FORCE, &d);
    TAP_CHECK(d.code == 0, "eject --force of a locked tray (%s)", d.message ? d.message : "ok");
    hvd_domain_destroy(locked, 0, on_done, &dd);
    run_until(&dd.done, 5000);
    done_clear(&dd);
    done_clear(&d);
    hvd_domain_undefine(locked, 0, NULL);
    hvd_domain_undefine(dom, 0, NULL);
}

/* libvirt's own check of domain XML (its RelaxNG schema) */
static bool virt_xml_validate(const char *xml, const char *dir)
{
    g_autofree char *path = g_build_filename(dir, "live.xml", NULL);
    if (!g_file_set_contents(path, xml, -1, NULL))
        return false;
    return sh("virt-xml-validate '%s' domain", path);
}

static void expect_start_error(const char *name, const char *disks, int code, const char *n1,
                               const char *n2, const char *what)
{
    g_autofree char *xml = disk_boot_xml(name, "", disks);
    g_autoptr(GError) err = NULL;
    g_autoptr(HvdDomain) dom = hvd_driver_define(xml, 0, &err);
    TAP_CHECK(dom != NULL, "%s: defines", what);
    if (!dom)
        return;
    Done d = { 0 };
    hvd_domain_start(dom, 0, on_done, &d);
    TAP_CHECK(run_until(&d.done, 5000) && d.code == code, "%s: start fails with code %d (%d)", what,
              code, d.code);
    TAP_CHECK(d.message && strstr(d.message, n1) && strstr(d.message, n2),
              "%s: message names '%s' and '%s': %s", what, n1, n2, d.message ? d.message : "");
    TAP_CHECK(!hvd_domain_is_active(dom), "%s: not running", what);
    done_clear(&d);
    hvd_domain_undefine(dom, 0, NULL);
}

/* Zero the backing format extension's type in a qcow2 file: the list of
 * header extensions then ends there (qcow2 spec), as in images made
 * without a backing format. */
static bool drop_backing_format(const char *path)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &data, &len, NULL))
        return false;
    static const char ext[4] = { (char)0xe2, 0x79, 0x2a, (char)0xca };
    char *at = memmem(data, MIN(len, 4096), ext, sizeof(ext));
    if (!at)
        return false;
    memset(at, 0, sizeof(ext));
    return g_file_set_contents(path, data, (gssize)len, NULL);
}

static bool patch_byte(const char *path, gsize offset, char value)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &data, &len, NULL) || offset >= len)
        return false;
    data[offset] = value;
    return g_file_set_contents(path, data, (gssize)len, NULL);
}

static void test_disk_boot(const HvdDriverConfig *cfg)
{
    g_autofree char *dir = g_dir_make_tmp("test-driver-img-XXXXXX", NULL);
    /* base (raw) <- mid.qcow2 (absolute name) <- top.qcow2 (relative name) */
    bool made = sh("cd '%s' && qemu-img create -f raw base.raw 1M && "
                   "qemu-img create -f qcow2 -b '%s/base.raw' -F raw mid.qcow2 && "
                   "mkdir sub && qemu-img create -f qcow2 -b ../mid.qcow2 -F qcow2 sub/top.qcow2 && "
                   "qemu-img create -f raw data.img 1M", dir, dir);
    TAP_CHECK(made, "qemu-img made base.raw <- mid.qcow2 <- sub/top.qcow2");
    if (!made)
        return;
    g_autofree char *top = g_build_filename(dir, "sub", "top.qcow2", NULL);
    g_autofree char *mid_resolved = g_build_filename(dir, "sub", "..", "mid.qcow2", NULL);
    g_autofree char *base = g_build_filename(dir, "base.raw", NULL);
    g_autofree char *vda = qcow2_disk("vda", top);
    g_autofree char *disks = g_strdup_printf(
        "%s<disk type='file'><source file='%s/data.img'/><target dev='vdb'/></disk>", vda, dir);
    g_autofree char *xml = disk_boot_xml("diskboot",
                                         "<loader readonly='yes' type='rom'>/usr/share/seabios/bios-256k.bin</loader>"
                                         "<boot dev='cdrom'/><boot dev='hd'/><bootmenu enable='no'/>",
                                         disks);
    g_autoptr(GError) err = NULL;
    g_autoptr(HvdDomain) dom = hvd_driver_define(xml, 0, &err);
    TAP_CHECK(dom != NULL, "domain without a kernel defines%s%s", err ? ": " : "",
              err ? err->message : "");
    if (!dom)
        return;
    start_ok(dom, "domain without a kernel");
    TAP_CHECK(hvd_domain_is_active(dom), "it runs");

    /* the description the worker got */
    g_autofree char *json_path = g_build_filename(cfg->state_dir, "run", "diskboot.json", NULL);
    json_object *o = read_json(json_path);
    TAP_CHECK(o && !json_object_object_get_ex(o, "kernel", NULL), "run/diskboot.json: no kernel key");
    TAP_EQ_STR(jstr(o, "firmware"), "/usr/share/seabios/bios-256k.bin", "firmware key from <loader>");
    TAP_EQ_STR(disk_str(o, 0, "format"), "qcow2", "disks[0].format qcow2");
    TAP_EQ_STR(disk_str(o, 0, "path"), top, "disks[0].path the overlay");
    TAP_CHECK(disk_bootindex(o, 0) == 2 && disk_bootindex(o, 1) == 0,
              "boot cdrom, hd: disks[0].bootindex 2, disks[1] none");
    TAP_EQ_STR(disk_str(o, 1, "format"), "raw", "disks[1].format raw");
    json_object_put(o);

    /* live XML: the chain from the headers, libvirt's node indexes (vdb
     * first: 1; then vda's layers top down: 2, 3, 4) */
    g_autofree char *live = hvd_domain_get_xml(dom, 0, NULL);
    g_autofree char *expect_chain = g_strdup_printf(
        "      <source file='%s' index='2'/>\n"
        "      <backingStore type='file' index='3'>\n"
        "        <format type='qcow2'/>\n"
        "        <source file='%s'/>\n"
        "        <backingStore type='file' index='4'>\n"
        "          <format type='raw'/>\n"
        "          <source file='%s'/>\n"
        "          <backingStore/>\n"
        "        </backingStore>\n"
        "      </backingStore>\n", top, mid_resolved, base);
    TAP_CHECK(live && strstr(live, expect_chain), "live XML shows the probed chain");
    if (live && !strstr(live, expect_chain))
        printf("# %s", live);
    g_autofree char *expect_vdb = g_strdup_printf("<source file='%s/data.img' index='1'/>\n"
                                                  "      <backingStore/>\n", dir);
    TAP_CHECK(live && strstr(live, expect_vdb), "raw vdb: index 1 and an empty backingStore");
    TAP_CHECK(live && virt_xml_validate(live, dir), "virt-xml-validate: live XML is libvirt's");
    g_autofree char *inactive = hvd_domain_get_xml(dom, 2 /* INACTIVE */, NULL);
    TAP_CHECK(inactive && !strstr(inactive, "backingStore") && !strstr(inactive, "index="),
              "inactive XML: no probed chain (none was written)");
    TAP_CHECK(inactive && strstr(inactive, "<loader readonly='yes' type='rom'>") &&
                  strstr(inactive, "<boot dev='cdrom'/>") && strstr(inactive, "<bootmenu enable='no'/>"),
              "inactive XML keeps loader, boot list, bootmenu");

    /* a restarted daemon adopts the worker and probes the chain again */
    g_clear_pointer(&dom, hvd_domain_unref);
    hvd_driver_shutdown();
    TAP_CHECK(hvd_driver_init(cfg, NULL), "driver re-init with diskboot running");
    dom = hvd_driver_lookup_by_name("diskboot", NULL);
    g_clear_pointer(&live, g_free);
    live = dom ? hvd_domain_get_xml(dom, 0, NULL) : NULL;
    TAP_CHECK(live && strstr(live, expect_chain), "adopted: live XML shows the chain again");
    if (dom) {
        Done d = { 0 };
        hvd_domain_destroy(dom, 0, on_done, &d);
        TAP_CHECK(run_until(&d.done, 5000) && d.code == 0, "destroy diskboot");
        done_clear(&d);
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ; /* the first driver's child */
        hvd_domain_undefine(dom, 0, NULL);
    }

    /* chains that cannot be read stop the start, naming disk and file */
    TAP_CHECK(sh("cd '%s' && qemu-img create -f qcow2 -u -b gone.qcow2 -F qcow2 broken.qcow2 1M && "
                 "qemu-img create -f qcow2 -u -b loop-b.qcow2 -F qcow2 loop-a.qcow2 1M && "
                 "qemu-img create -f qcow2 -u -b loop-a.qcow2 -F qcow2 loop-b.qcow2 1M && "
                 "qemu-img create -f qcow2 -b base.raw -F raw nofmt.qcow2 && "
                 "qemu-img create -f qcow2 -b mid.qcow2 -F qcow2 nofmt2.qcow2 && "
                 "qemu-img create -f qcow2 -u -b x.img -F vmdk vmdk.qcow2 1M && "
                 "qemu-img create -f qcow2 -u -b nbd:localhost:10809 -F raw nbd.qcow2 1M && "
                 "qemu-img create -f qcow2 bad.qcow2 1M",
                 dir),
              "qemu-img made the broken chains");
    g_autofree char *broken = g_strdup_printf("%s/broken.qcow2", dir);
    g_autofree char *gone = g_strdup_printf("%s/gone.qcow2", dir);
    g_autofree char *d1 = qcow2_disk("vdc", broken);
    expect_start_error("chain-missing", d1, ERR_SYSTEM, "disk 'vdc'", gone, "missing base");
    TAP_CHECK(g_file_test(gone, G_FILE_TEST_EXISTS) == FALSE, "(the base really is missing)");
    g_autofree char *loop = g_strdup_printf("%s/loop-a.qcow2", dir);
    g_autofree char *d2 = qcow2_disk("vda", loop);
    expect_start_error("chain-loop", d2, ERR_INVALID_ARG, "disk 'vda'", "is self-referential",
                       "backing loop");
    g_autofree char *bad = g_strdup_printf("%s/bad.qcow2", dir);
    TAP_CHECK(patch_byte(bad, 7, 99), "bad.qcow2: version 99 in the header");
    g_autofree char *d3 = qcow2_disk("vda", bad);
    expect_start_error("chain-bad", d3, ERR_INTERNAL, "disk 'vda'", bad, "malformed header");
    g_autofree char *nofmt2 = g_strdup_printf("%s/nofmt2.qcow2", dir);
    TAP_CHECK(drop_backing_format(nofmt2), "backing format extension dropped from nofmt2.qcow2");
    g_autofree char *d4 = qcow2_disk("vda", nofmt2);
    expect_start_error("chain-nofmt", d4, ERR_OPERATION_INVALID,
                       "was not specified in the image metadata", nofmt2,
                       "qcow2 backing without a recorded format");
    g_autofree char *vmdk = g_strdup_printf("%s/vmdk.qcow2", dir);
    g_autofree char *d5 = qcow2_disk("vda", vmdk);
    expect_start_error("chain-vmdk", d5, ERR_CONFIG_UNSUPPORTED, "format 'vmdk'", "disk 'vda'",
                       "vmdk backing");
    g_autofree char *nbd = g_strdup_printf("%s/nbd.qcow2", dir);
    g_autofree char *d6 = qcow2_disk("vda", nbd);
    expect_start_error("chain-nbd", d6, ERR_CONFIG_UNSUPPORTED, "nbd:localhost:10809",
                       "not a local file", "nbd backing");

    /* a raw base without a recorded format is raw (libvirt's rule) */
    g_autofree char *nofmt = g_strdup_printf("%s/nofmt.qcow2", dir);
    TAP_CHECK(drop_backing_format(nofmt), "backing format extension dropped from nofmt.qcow2");
    g_autofree char *d7 = qcow2_disk("vda", nofmt);
    g_autofree char *rawbase_xml = disk_boot_xml("chain-rawbase", "", d7);
    g_autoptr(HvdDomain) rawbase = hvd_driver_define(rawbase_xml, 0, NULL);
    if (rawbase) {
        start_ok(rawbase, "raw base without a recorded format");
        g_autofree char *rl = hvd_domain_get_xml(rawbase, 0, NULL);
        g_autofree char *want = g_strdup_printf("<format type='raw'/>\n        <source file='%s'/>",
                                                base);
        TAP_CHECK(rl && strstr(rl, want), "its base shows as raw");
        Done d = { 0 };
        hvd_domain_destroy(rawbase, 0, on_done, &d);
        run_until(&d.done, 5000);
        done_clear(&d);
        hvd_domain_undefine(rawbase, 0, NULL);
    }

    /* 201 layers: deeper than libvirt follows */
    GString *cmd = g_string_new(NULL);
    g_string_append_printf(cmd, "cd '%s' && qemu-img create -f qcow2 l0.qcow2 1M", dir);
    for (int i = 1; i <= 201; i++)
        g_string_append_printf(cmd, " && qemu-img create -f qcow2 -u -b l%d.qcow2 -F qcow2 l%d.qcow2 1M",
                               i - 1, i);
    TAP_CHECK(sh("%s", cmd->str), "qemu-img made a chain of 202 images");
    g_string_free(cmd, TRUE);
    g_autofree char *deep = g_strdup_printf("%s/l201.qcow2", dir);
    g_autofree char *d8 = qcow2_disk("vda", deep);
    expect_start_error("chain-deep", d8, ERR_OPERATION_UNSUPPORTED, "disk 'vda'",
                       "more than 200 layers", "chain too deep");
    sh("rm -rf '%s'", dir);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--config") == 0)
        return fake_worker(argv[2]);
    log_init("test-driver", g_getenv("TEST_VERBOSE") ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
    signal(SIGPIPE, SIG_IGN);
    g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
    g_autofree char *state_dir = g_dir_make_tmp("test-driver-XXXXXX", NULL);
    events = g_array_new(FALSE, FALSE, sizeof(Ev));
    HvdDriverConfig cfg = {
        .state_dir = state_dir,
        .emulator = self,
        .monitor_timeout_ms = 5000,
        .destroy_grace_ms = 300,
        .vhost_net_path = "/nonexistent/vhost-net",
    };
    GError *err = NULL;
    TAP_CHECK(hvd_driver_init(&cfg, &err), "driver init");
    struct remote_config rcfg = { .default_uri = "qemu:///system", .emulator = self };
    remote_register(&rcfg);
    remote_domain_register();
    hvd_driver_set_event_sink(on_event, NULL);

    test_define_and_lookup();
    test_rpc();
    test_lifecycle(state_dir);
    test_failures();
    test_interfaces(state_dir);
    test_memory_stats_mapping();
    test_memory_stats(state_dir);
    test_domops();
    test_cpulist(state_dir);
    test_node_cpu_map_rpc();
    test_devices_config(state_dir);
    test_running_api();
    test_machine_description_boot(state_dir);
    test_machine_description_ide(state_dir);
    test_change_media();
    test_disk_boot(&cfg);

    /* Persistence: a fresh driver finds d1 (and its autostart) on disk. */
    hvd_driver_shutdown();
    TAP_CHECK(hvd_driver_init(&cfg, NULL), "driver re-init");
    g_autoptr(HvdDomain) d1 = hvd_driver_lookup_by_name("d1", NULL);
    TAP_CHECK(d1 && hvd_domain_is_persistent(d1) && hvd_domain_get_autostart(d1) &&
                  !hvd_domain_is_active(d1),
              "d1 reloaded from its config with autostart");

    /* A worker outlives the daemon: a new driver adopts it. */
    start_ok(d1, "start d1 before the daemon \"restarts\"");
    int old_id = hvd_domain_id(d1);
    g_clear_pointer(&d1, hvd_domain_unref);
    hvd_driver_shutdown();
    TAP_CHECK(hvd_driver_init(&cfg, NULL), "driver init with a worker running");
    d1 = hvd_driver_lookup_by_name("d1", NULL);
    TAP_CHECK(d1 && hvd_domain_is_active(d1) && hvd_domain_id(d1) == old_id,
              "running d1 reconnected with its id");
    int st = 0, reason = 0;
    for (int i = 0; i < 3000 && reason == 0; i++) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
        if (d1)
            hvd_domain_get_state(d1, &st, &reason);
    }
    TAP_CHECK(st == ST_PAUSED || st == ST_RUNNING, "state after reconnect: %d", st);
    g_autofree char *inactive_xml = d1 ? hvd_domain_get_xml(d1, 2, NULL) : NULL;
    TAP_CHECK(inactive_xml && strstr(inactive_xml, "<name>d1</name>"), "config kept beside the live def");
    if (d1) {
        Done d = { 0 };
        hvd_domain_suspend(d1, on_done, &d);
        TAP_CHECK(run_until(&d.done, 5000) && d.code == 0, "monitor usable after reconnect");
        done_clear(&d);
        hvd_domain_destroy(d1, 0, on_done, &d);
        TAP_CHECK(run_until(&d.done, 5000) && d.code == 0, "destroy an adopted worker");
        expect_state(d1, ST_SHUTOFF, R_SHUTOFF_DESTROYED, "adopted worker destroyed");
        done_clear(&d);
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ; /* the daemon of the first life would have reaped it */
        g_autofree char *status = g_build_filename(state_dir, "run", "d1.status", NULL);
        TAP_CHECK(!g_file_test(status, G_FILE_TEST_EXISTS), "live state removed after stop");
    }

    /* A worker that dies while the daemon is down: crashed at the restart. */
    if (d1) {
        start_ok(d1, "start d1 again");
        /* The destroy above armed a SIGKILL for the adopted worker after
         * the grace period (300 ms): it must die with that worker, not
         * hit this new one. */
        for (int i = 0; i < 600; i++) {
            g_main_context_iteration(NULL, FALSE);
            g_usleep(1000);
        }
        TAP_CHECK(hvd_domain_is_active(d1), "d1 still running past the destroy's grace period");
        g_clear_pointer(&d1, hvd_domain_unref);
        hvd_driver_shutdown();
        g_autofree char *status = g_build_filename(state_dir, "run", "d1.status", NULL);
        g_autofree char *text = NULL;
        json_object *obj = g_file_get_contents(status, &text, NULL, NULL) ? json_tokener_parse(text)
                                                                          : NULL;
        json_object *v = NULL;
        int pid = obj && json_object_object_get_ex(obj, "pid", &v) ? json_object_get_int(v) : 0;
        json_object_put(obj);
        TAP_CHECK(pid > 0 && kill(pid, SIGKILL) == 0 && waitpid(pid, NULL, 0) == pid,
                  "worker %d killed while the daemon is down", pid);
        TAP_CHECK(hvd_driver_init(&cfg, NULL), "driver init after the worker died");
        d1 = hvd_driver_lookup_by_name("d1", NULL);
        TAP_CHECK(d1 && !hvd_domain_is_active(d1), "d1 found shut off");
        if (d1)
            expect_state(d1, ST_SHUTOFF, R_SHUTOFF_CRASHED, "worker gone at the restart");
        TAP_CHECK(!g_file_test(status, G_FILE_TEST_EXISTS), "its live state removed");
    }
    g_clear_pointer(&d1, hvd_domain_unref);
    hvd_driver_shutdown();
    rpc_unregister_all();

    g_autofree char *rm = g_strdup_printf("rm -rf '%s'", state_dir);
    if (system(rm) != 0)
        fprintf(stderr, "# could not remove %s\n", state_dir);
    g_array_unref(events);
    return tap_done();
}
