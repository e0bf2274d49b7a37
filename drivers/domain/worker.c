/* The worker's lifecycle (drivers/domain/domain.h): spawn and wait for its
 * monitor, the events it reports (the guest pausing, powering off,
 * resetting), its exit and the teardown after it, and <on_crash>.
 *
 * Guests outlive the daemon: a worker's exit is noticed at once (its child
 * watch, or the pidfd of reconnect.c for an adopted worker), the domain is
 * shut off with libvirt's reason and event, and <on_crash> decides whether
 * a crashed domain comes back. */
#include "drivers/domain/domain.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "drivers/domain/interfaces.h"
#include "drivers/domain/qmp.h"
#include "drivers/domain/storage_chain.h"
#include "drivers/nodedev/nodedev.h"

static void crash_action(HvdDomain *dom);
static void guest_powered_off(HvdDomain *dom);

/* ------------------------------------------------------------ worker exit */

static const char *shutoff_reason_name(int reason)
{
    switch (reason) {
    case VIR_DOMAIN_SHUTOFF_SHUTDOWN: return "shutdown";
    case VIR_DOMAIN_SHUTOFF_DESTROYED: return "destroyed";
    case VIR_DOMAIN_SHUTOFF_CRASHED: return "crashed";
    case VIR_DOMAIN_SHUTOFF_FAILED: return "failed";
    default: return "unknown";
    }
}

/* <hostdev mode='subsystem' type='pci'>: the node-device driver detaches
 * managed devices to vfio-pci and records the domain as their user before
 * the worker opens them (docs/nodedev.md, docs/vfio.md); release gives
 * managed ones back to their host drivers once the worker is gone. */
static bool worker_hostdevs_prepare(const DomainDef *def, GError **err)
{
    /* <interface type='hostdev'> VFs too: their MAC/VLAN go through the PF. */
    guint n = 0;
    g_autofree HvdNodedevHostdev *devs = g_new0(HvdNodedevHostdev, def->hostdevs->len + def->nets->len + 1);
    for (guint i = 0; i < def->nets->len; i++) {
        const DomainNet *net = g_ptr_array_index(def->nets, i);
        if (net->type != DOMAIN_NET_HOSTDEV)
            continue;
        devs[n].addr = (HvdPciAddr){ net->host_addr.domain, net->host_addr.bus, net->host_addr.slot,
                                     net->host_addr.function };
        devs[n].managed = net->managed == DOMAIN_TRISTATE_ON;
        devs[n].is_net = true;
        memcpy(devs[n].mac, net->mac, sizeof devs[n].mac);
        devs[n].vlan = net->has_vlan ? net->vlan_tag : 0;
        n++;
    }
    for (guint i = 0; i < def->hostdevs->len; i++) {
        const DomainHostdev *h = g_ptr_array_index(def->hostdevs, i);
        devs[n].addr = (HvdPciAddr){ h->source.domain, h->source.bus, h->source.slot,
                                     h->source.function };
        /* libvirt's default for <hostdev> is managed='no' */
        devs[n].managed = h->managed == DOMAIN_TRISTATE_ON;
        n++;
    }
    return n == 0 || hvd_nodedev_prepare_hostdevs(def->name, devs, n, err);
}

void worker_hostdevs_release(const DomainDef *def)
{
    bool any = def->hostdevs->len > 0;
    for (guint i = 0; i < def->nets->len; i++)
        any |= ((const DomainNet *)g_ptr_array_index(def->nets, i))->type == DOMAIN_NET_HOSTDEV;
    if (any)
        hvd_nodedev_release_hostdevs(def->name);
}

/* The worker is gone and its monitor drained: the domain is shut off. */
static void process_stopped(HvdDomain *dom)
{
    int status = dom->exit_status;
    bool was_starting = dom->phase == HVD_PHASE_STARTING;
    if (dom->drain_timer) {
        g_source_remove(dom->drain_timer);
        dom->drain_timer = 0;
    }
    int reason, detail;
    if (dom->destroy != HVD_DESTROY_NONE) {
        reason = VIR_DOMAIN_SHUTOFF_DESTROYED;
        detail = VIR_DOMAIN_EVENT_STOPPED_DESTROYED;
    } else if (was_starting) {
        reason = VIR_DOMAIN_SHUTOFF_FAILED;
        detail = VIR_DOMAIN_EVENT_STOPPED_FAILED;
    } else if (dom->phase == HVD_PHASE_GUEST_OFF ||
               (!dom->adopted && WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        reason = VIR_DOMAIN_SHUTOFF_SHUTDOWN;
        detail = VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN;
    } else {
        /* libvirt: the monitor went away without a SHUTDOWN first. */
        reason = VIR_DOMAIN_SHUTOFF_CRASHED;
        detail = VIR_DOMAIN_EVENT_STOPPED_FAILED;
    }
    if (dom->pid_poll) {
        g_source_remove(dom->pid_poll);
        dom->pid_poll = 0;
    }
    g_autofree char *tail = hvd_process_log_tail(dom->paths->log, 1024);
    if (dom->adopted)
        hvd_process_log_line(dom->paths->log, "worker %d is gone, reason=%s", (int)dom->pid,
                             shutoff_reason_name(reason));
    else if (WIFEXITED(status))
        hvd_process_log_line(dom->paths->log, "worker exited with status %d, reason=%s",
                             WEXITSTATUS(status), shutoff_reason_name(reason));
    else if (WIFSIGNALED(status))
        hvd_process_log_line(dom->paths->log, "worker killed by signal %d, reason=%s",
                             WTERMSIG(status), shutoff_reason_name(reason));
    log_info("domain %s (id %d) stopped: %s", dom->def->name, dom->id, shutoff_reason_name(reason));

    /* Detach the monitor before closing it: closing may call back (a
     * pending connect fails) and must find the domain already stopped. */
    HvdMonitor *mon = g_steal_pointer(&dom->mon);
    if (mon) {
        hvd_monitor_close(mon);
        hvd_monitor_unref(mon);
    }
    unlink(dom->paths->monitor);
    domain_console_close(dom);
    adopted_watch_stop(dom);
    domain_status_remove(dom->def->name);
    /* The worker closed its VFIO devices: give them back to the host. */
    worker_hostdevs_release(dom->def);
    /* The worker held the last tap fds: the taps are gone with it. */
    g_clear_pointer(&dom->net_ifnames, g_strfreev);
    dom->adopted = false;
    dom->pid = 0;
    dom->id = -1;
    dom->phase = HVD_PHASE_INACTIVE;
    domain_set_state(dom, VIR_DOMAIN_SHUTOFF, reason);
    g_clear_pointer(&dom->started_xml, g_free);
    if (dom->newdef) {
        domain_def_free(dom->def);
        dom->def = g_steal_pointer(&dom->newdef);
    }

    if (was_starting) {
        GError *e = dom->start_error;
        dom->start_error = NULL;
        if (!e) {
            e = g_error_new(HVD_VIR_ERROR, HVD_VIR_ERROR_PACK(VIR_FROM_QEMU, VIR_ERR_INTERNAL_ERROR),
                            "internal error: process exited while connecting to monitor: %s",
                            tail);
        }
        domain_waiters_finish(&dom->start_waiters, dom, NULL, e);
        g_error_free(e);
    }
    /* A transient domain ceases to exist when it stops. */
    if (!dom->persistent)
        domain_list_remove(dom);
    /* The event only for domains that had started (libvirt emits none
     * for a start that failed before the domain ran). */
    if (!was_starting)
        domain_emit(dom, VIR_DOMAIN_EVENT_STOPPED, detail);
    dom->destroy = HVD_DESTROY_NONE;
    domain_waiters_finish(&dom->destroy_waiters, dom, NULL, NULL);
    if (!was_starting && reason == VIR_DOMAIN_SHUTOFF_CRASHED)
        crash_action(dom);
}

static gboolean on_drain_done(gpointer data)
{
    HvdDomain *dom = data;
    dom->drain_timer = 0;
    process_stopped(dom);
    return G_SOURCE_REMOVE;
}

static void on_child_exit(GPid pid, gint status, gpointer data)
{
    HvdDomain *dom = data;
    g_spawn_close_pid(pid);
    dom->child_watch = 0; /* the source is being removed */
    worker_gone(dom, status);
}

void worker_gone(HvdDomain *dom, int status)
{
    dom->exit_status = status;
    /* Our child or an adopted worker: either way a pending SIGKILL from a
     * destroy must not outlive it, or it hits the next worker of this
     * domain, started before the grace period ran out. */
    if (dom->kill_timer) {
        g_source_remove(dom->kill_timer);
        dom->kill_timer = 0;
    }
    /* What the worker said last (a SHUTDOWN event, a reply) may still be
     * unread in the monitor socket: let the monitor read up to its end of
     * file first, but not for long. */
    if (dom->mon && hvd_monitor_is_ready(dom->mon) && dom->phase != HVD_PHASE_STARTING) {
        dom->drain_timer = g_timeout_add_full(G_PRIORITY_DEFAULT, 1000, on_drain_done,
                                              hvd_domain_ref(dom),
                                              (GDestroyNotify)hvd_domain_unref);
        return;
    }
    process_stopped(dom);
}

static gboolean on_kill_timer(gpointer data)
{
    HvdDomain *dom = data;
    dom->kill_timer = 0;
    if (dom->pid <= 0)
        return G_SOURCE_REMOVE;
    if (dom->destroy == HVD_DESTROY_GRACEFUL) {
        GError *e = g_error_new(HVD_VIR_ERROR,
                                HVD_VIR_ERROR_PACK(VIR_FROM_QEMU, VIR_ERR_OPERATION_FAILED),
                                "operation failed: failed to kill qemu process with SIGTERM");
        dom->destroy = HVD_DESTROY_NONE;
        domain_waiters_finish(&dom->destroy_waiters, dom, NULL, e);
        g_error_free(e);
        return G_SOURCE_REMOVE;
    }
    log_warn("domain %s: worker %d ignored SIGTERM, sending SIGKILL", dom->def->name,
             (int)dom->pid);
    kill(dom->pid, SIGKILL);
    return G_SOURCE_REMOVE;
}

void worker_kill(HvdDomain *dom, bool graceful)
{
    dom->destroy = graceful ? HVD_DESTROY_GRACEFUL : HVD_DESTROY_FORCE;
    if (dom->pid > 0 && kill(dom->pid, SIGTERM) != 0 && errno != ESRCH)
        log_warn("domain %s: kill(%d): %s", dom->def->name, (int)dom->pid, g_strerror(errno));
    if (!dom->kill_timer)
        dom->kill_timer = g_timeout_add_full(G_PRIORITY_DEFAULT, (guint)hvd_drv.destroy_grace_ms,
                                             on_kill_timer, hvd_domain_ref(dom),
                                             (GDestroyNotify)hvd_domain_unref);
}

/* ------------------------------------------------------------ monitor events (qmp.md §4) */

/* SHUTDOWN: by_guest = the guest asked for it; powered_off = the guest
 * powered off (not a reset with on_reboot exit, not the worker quitting):
 * the worker, run with no_shutdown, waits for us. */
static void shutdown_event(HvdDomain *dom, bool by_guest, bool powered_off)
{
    bool was_shutdown = dom->phase == HVD_PHASE_GUEST_OFF;
    dom->phase = HVD_PHASE_GUEST_OFF;
    if (powered_off && !was_shutdown && dom->destroy == HVD_DESTROY_NONE &&
        dom->state == VIR_DOMAIN_RUNNING &&
        (dom->fake_reboot || dom->def->on_poweroff == DOMAIN_LIFECYCLE_RESTART)) {
        /* qemuProcessHandleShutdown: a fake reboot's shutdown is
         * transient: no state change, no event. */
        guest_powered_off(dom);
        return;
    }
    if (dom->state != VIR_DOMAIN_SHUTDOWN) {
        domain_set_state(dom, VIR_DOMAIN_SHUTDOWN, VIR_DOMAIN_SHUTDOWN_USER);
        domain_emit(dom, VIR_DOMAIN_EVENT_SHUTDOWN,
                    by_guest ? VIR_DOMAIN_EVENT_SHUTDOWN_GUEST : VIR_DOMAIN_EVENT_SHUTDOWN_HOST);
    }
    if (powered_off && !was_shutdown)
        guest_powered_off(dom);
}

static void on_monitor_event(HvdMonitor *mon, const char *event, struct json_object *data,
                             gint64 seconds, gint64 micros, gpointer user_data)
{
    (void)mon;
    (void)seconds;
    (void)micros;
    HvdDomain *dom = user_data;
    if (dom->phase == HVD_PHASE_STARTING)
        return;
    HvdQmpEvent ev;
    hvd_qmp_event_parse(event, data, &ev);
    switch (ev.kind) {
    case HVD_QMP_EVENT_STOP:
        /* libvirt ignores the STOP a -no-shutdown QEMU sends after SHUTDOWN:
         * the domain is shutting down (or fake-rebooting), not paused. */
        if (dom->phase == HVD_PHASE_GUEST_OFF)
            return;
        domain_set_paused(dom, dom->pause_reason ? dom->pause_reason : VIR_DOMAIN_PAUSED_UNKNOWN);
        dom->pause_reason = 0;
        break;
    case HVD_QMP_EVENT_RESUME:
        domain_set_running(dom, VIR_DOMAIN_RUNNING_UNPAUSED);
        break;
    case HVD_QMP_EVENT_SHUTDOWN:
        shutdown_event(dom, ev.guest, ev.guest_poweroff);
        break;
    case HVD_QMP_EVENT_BALLOON_CHANGE:
        if (ev.balloon_actual > 0) {
            dom->balloon_kib = ev.balloon_actual / 1024;
            /* libvirt: VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE, actual in KiB. */
            domain_emit_other(dom, VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE, dom->balloon_kib);
        }
        break;
    case HVD_QMP_EVENT_RESET:
        /* The guest (or system_reset) reset the machine: libvirt's QEMU
         * driver reports VIR_DOMAIN_EVENT_ID_REBOOT. */
        domain_emit_other(dom, VIR_DOMAIN_EVENT_ID_REBOOT, 0);
        break;
    case HVD_QMP_EVENT_OTHER:
        break;
    }
}

static void on_monitor_closed(HvdMonitor *mon, const GError *reason, gpointer user_data)
{
    (void)mon;
    HvdDomain *dom = user_data;
    /* The child watch decides the domain's fate; an exit seen before this
     * end of file was waiting for it (finish outside this callback). */
    log_info("domain %s: monitor closed: %s", dom->def->name,
             reason ? reason->message : "end of file");
    if (dom->drain_timer) {
        g_source_remove(dom->drain_timer);
        dom->drain_timer = g_idle_add_full(G_PRIORITY_DEFAULT, on_drain_done, hvd_domain_ref(dom),
                                           (GDestroyNotify)hvd_domain_unref);
    }
}

void worker_monitor_new(HvdDomain *dom)
{
    dom->mon = hvd_monitor_new(dom->paths->monitor, dom->def->name, NULL);
    hvd_monitor_set_event_handler(dom->mon, on_monitor_event, dom);
    hvd_monitor_set_closed_handler(dom->mon, on_monitor_closed, dom);
}

/* ------------------------------------------------------------ spawn */

static void ignore_reply(HvdMonitor *mon, const char *error_class, const GError *err,
                         gpointer user_data)
{
    (void)mon;
    (void)error_class;
    (void)user_data;
    if (err)
        log_warn("monitor command failed: %s", err->message);
}

static void start_finish(HvdDomain *dom)
{
    dom->phase = HVD_PHASE_RUNNING;
    domain_set_state(dom, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_BOOTED);
    log_info("domain %s started (id %d, pid %d)", dom->def->name, dom->id, (int)dom->pid);
    domain_status_write(dom);
    domain_emit(dom, VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_BOOTED);
    if (dom->start_paused && dom->mon) {
        /* START_PAUSED: the worker has no -S yet, so pause right away. */
        dom->pause_reason = VIR_DOMAIN_PAUSED_USER;
        hvd_qmp_stop(dom->mon, ignore_reply, NULL);
        domain_set_paused(dom, VIR_DOMAIN_PAUSED_USER);
    }
    domain_waiters_finish(&dom->start_waiters, dom, NULL, NULL);
}

static void on_monitor_ready(HvdMonitor *mon, const GError *err, gpointer user_data)
{
    (void)mon;
    HvdDomain *dom = user_data;
    if (dom->phase != HVD_PHASE_STARTING || dom->mon != mon) {
        hvd_domain_unref(dom);
        return; /* the worker exited first: on_child_exit answered */
    }
    if (err) {
        /* Abort the start: kill the worker; its exit answers the waiters. */
        log_warn("domain %s: monitor not ready: %s", dom->def->name, err->message);
        g_clear_error(&dom->start_error);
        g_autofree char *tail = hvd_process_log_tail(dom->paths->log, 1024);
        dom->start_error = g_error_new(
            HVD_VIR_ERROR, HVD_VIR_ERROR_PACK(VIR_FROM_QEMU, VIR_ERR_INTERNAL_ERROR),
            "internal error: cannot connect to the worker's monitor: %s%s%s", err->message,
            *tail ? "\n" : "", tail);
        kill(dom->pid, SIGKILL);
        hvd_domain_unref(dom);
        return;
    }
    start_finish(dom);
    hvd_domain_unref(dom);
}

bool worker_start(HvdDomain *dom, unsigned flags, GError **err)
{
    g_autoptr(HvdProcessPaths) paths = hvd_process_paths_new(hvd_drv.run_dir, hvd_drv.log_dir,
                                                             dom->def->name);
    if (!hvd_storage_chain_probe(dom->def, err))
        return false;
    g_autoptr(HvdInterfaces) ifs = NULL;
    if (dom->def->nets->len > 0 && !(ifs = hvd_interfaces_open(dom->def, hvd_drv.vhost_net_path, err)))
        return false;
    g_autofree char *json = hvd_process_machine_json(dom->def, paths, ifs, err);
    if (!json)
        return false;
    if (!worker_hostdevs_prepare(dom->def, err))
        return false;
    unlink(paths->monitor); /* a stale socket would look ready */
    GPid pid = 0;
    if (!hvd_process_spawn(hvd_drv.emulator, paths, json, ifs, &pid, err)) {
        worker_hostdevs_release(dom->def);
        return false;
    }
    /* The worker has its copies now; ours would keep the taps alive after it. */
    hvd_interfaces_close_fds(ifs);
    g_strfreev(dom->net_ifnames);
    dom->net_ifnames = ifs ? hvd_interfaces_ifnames(ifs) : NULL;
    hvd_process_paths_free(dom->paths);
    dom->paths = g_steal_pointer(&paths);
    dom->pid = pid;
    dom->id = hvd_drv.next_id++;
    dom->phase = HVD_PHASE_STARTING;
    dom->start_paused = flags & VIR_DOMAIN_START_PAUSED;
    dom->destroy = HVD_DESTROY_NONE;
    dom->fake_reboot = false;
    dom->pause_reason = 0;
    dom->balloon_kib = dom->def->current_memory_kib;
    g_free(dom->started_xml);
    dom->started_xml = domain_def_format(dom->def, NULL);
    domain_set_state(dom, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_STARTING_UP);
    dom->child_watch = g_child_watch_add_full(G_PRIORITY_DEFAULT, pid, on_child_exit,
                                              hvd_domain_ref(dom),
                                              (GDestroyNotify)hvd_domain_unref);
    worker_monitor_new(dom);
    log_info("domain %s: worker pid %d spawned (id %d)", dom->def->name, (int)pid, dom->id);
    domain_console_open(dom, hvd_drv.monitor_timeout_ms);
    hvd_monitor_connect(dom->mon, hvd_drv.monitor_timeout_ms, on_monitor_ready, hvd_domain_ref(dom));
    return true;
}

/* ---- the guest powered off (SHUTDOWN "guest-shutdown"): the worker,
 * started with no_shutdown, stopped and waits (qemuProcessShutdownOrReboot). */

void worker_terminate_after_shutdown(HvdDomain *dom)
{
    /* libvirt kills QEMU (SIGTERM) once the guest is off; its exit then
     * shuts the domain off with reason shutdown (HVD_PHASE_GUEST_OFF). */
    if (dom->pid > 0 && kill(dom->pid, SIGTERM) != 0 && errno != ESRCH)
        log_warn("domain %s: kill(%d): %s", dom->def->name, (int)dom->pid, g_strerror(errno));
}

static void on_fake_reboot_cont(HvdMonitor *mon, const char *error_class, const GError *err,
                                gpointer user_data)
{
    (void)error_class;
    HvdDomain *dom = user_data;
    if (hvd_domain_is_active(dom) && dom->mon == mon) {
        if (err) {
            log_warn("domain %s: fake reboot failed: %s", dom->def->name, err->message);
            worker_terminate_after_shutdown(dom);
        } else {
            log_info("domain %s: rebooted (reset after the guest powered off)", dom->def->name);
            dom->phase = HVD_PHASE_RUNNING;
            domain_set_state(dom, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_BOOTED);
        }
    }
    hvd_domain_unref(dom);
}

static void guest_powered_off(HvdDomain *dom)
{
    if (dom->fake_reboot || dom->def->on_poweroff == DOMAIN_LIFECYCLE_RESTART) {
        dom->fake_reboot = false;
        if (dom->mon && hvd_monitor_is_ready(dom->mon)) {
            /* qemuProcessFakeReboot: system_reset, then start the vCPUs
             * again; the worker's RESET becomes the REBOOT event. The
             * monitor answers in order, so cont's reply ends it. */
            hvd_qmp_system_reset(dom->mon, ignore_reply, NULL);
            hvd_qmp_cont(dom->mon, on_fake_reboot_cont, hvd_domain_ref(dom));
            return;
        }
    }
    if (dom->def->on_poweroff == DOMAIN_LIFECYCLE_PRESERVE)
        return; /* stays stopped in state shutdown until destroyed */
    worker_terminate_after_shutdown(dom);
}

/* ------------------------------------------------------------ console, crashes */

void domain_console_open(HvdDomain *dom, int connect_timeout_ms)
{
    hvd_console_free(dom->console);
    dom->console = NULL;
    if (dom->paths && dom->paths->console)
        dom->console = hvd_console_new(dom->def->name, dom->paths->console,
                                       dom->paths->console_log, connect_timeout_ms);
}

void domain_console_close(HvdDomain *dom)
{
    /* An attached `virsh console` sees the end of its stream. */
    g_clear_pointer(&dom->console, hvd_console_free);
    if (dom->paths && dom->paths->console)
        unlink(dom->paths->console);
}

/* ---- <on_crash> for a worker that died on its own */

static void on_restart_done(HvdDomain *dom, const char *result, const GError *err, gpointer data)
{
    (void)result;
    (void)data;
    if (err)
        log_warn("domain %s: restart after a crash failed: %s", dom->def->name, err->message);
    else
        log_info("domain %s: restarted after a crash (on_crash)", dom->def->name);
}

static gboolean on_restart_idle(gpointer data)
{
    HvdDomain *dom = data;
    if (dom->listed && !hvd_domain_is_active(dom))
        hvd_domain_start(dom, 0, on_restart_done, NULL);
    return G_SOURCE_REMOVE;
}

/* Called once a crashed domain is shut off. */
static void crash_action(HvdDomain *dom)
{
    DomainLifecycleAction action = dom->def->on_crash;
    bool restart = action == DOMAIN_LIFECYCLE_RESTART ||
                   action == DOMAIN_LIFECYCLE_RENAME_RESTART ||
                   action == DOMAIN_LIFECYCLE_COREDUMP_RESTART;
    if (!restart)
        return; /* destroy, preserve, coredump-destroy: it stays shut off */
    if (!dom->listed) {
        log_info("domain %s: transient domain crashed; nothing left to restart", dom->def->name);
        return;
    }
    /* A worker that dies right after every start must not spin: one
     * automatic restart per 10 s at most. */
    gint64 now = g_get_monotonic_time();
    if (dom->last_crash_restart && now - dom->last_crash_restart < 10 * G_USEC_PER_SEC) {
        log_warn("domain %s: crashed again within 10 s of its restart; left shut off",
                 dom->def->name);
        return;
    }
    dom->last_crash_restart = now;
    log_info("domain %s: on_crash=restart, starting it again", dom->def->name);
    g_idle_add_full(G_PRIORITY_DEFAULT, on_restart_idle, hvd_domain_ref(dom),
                    (GDestroyNotify)hvd_domain_unref);
}

