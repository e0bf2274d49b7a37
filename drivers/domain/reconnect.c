/* A restarted daemon adopts the workers that kept running (workers run in
 * their own session and outlive hvd): the status files say which, a pidfd
 * (or polling) reports their exit since they are not our children, and
 * query-status tells what the guest did meanwhile. */
#include "drivers/domain/domain.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "drivers/domain/qmp.h"
#include "drivers/domain/storage_chain.h"

static void adopted_watch_start(HvdDomain *dom);

static gboolean on_pid_poll(gpointer data)
{
    HvdDomain *dom = data;
    /* Not our child: it is reaped by init, so "gone" is kill(pid, 0)
     * failing (or the pid now running something else). */
    g_autofree char *cmdline_path = g_strdup_printf("/proc/%d/cmdline", (int)dom->pid);
    g_autofree char *cmdline = NULL;
    gsize len = 0;
    bool alive = kill(dom->pid, 0) == 0 && g_file_get_contents(cmdline_path, &cmdline, &len, NULL) &&
                 len > 0;
    if (alive)
        return G_SOURCE_CONTINUE;
    dom->pid_poll = 0;
    worker_gone(dom, -1);
    return G_SOURCE_REMOVE;
}

static void on_reconnect_status(HvdMonitor *mon, const HvdQmpStatus *status,
                                const char *error_class, const GError *err, gpointer user_data)
{
    (void)mon;
    (void)error_class;
    HvdDomain *dom = user_data;
    if (!err && hvd_domain_is_active(dom)) {
        if (strcmp(status->status, "shutdown") == 0) {
            /* The guest powered off while hvd was away: finish the job
             * (qemuProcessReconnect -> qemuProcessShutdownOrReboot). */
            domain_set_state(dom, VIR_DOMAIN_SHUTDOWN, VIR_DOMAIN_SHUTDOWN_USER);
            dom->phase = HVD_PHASE_GUEST_OFF;
            if (dom->def->on_poweroff != DOMAIN_LIFECYCLE_PRESERVE)
                worker_terminate_after_shutdown(dom);
        } else if (status->running)
            domain_set_state(dom, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_UNKNOWN);
        else
            domain_set_state(dom, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_UNKNOWN);
    }
    hvd_domain_unref(dom);
}

static void on_reconnect_ready(HvdMonitor *mon, const GError *err, gpointer user_data)
{
    HvdDomain *dom = user_data;
    if (err || dom->mon != mon)
        log_warn("domain %s: cannot reconnect to the worker's monitor: %s", dom->def->name,
                 err ? err->message : "stopped meanwhile");
    else
        hvd_qmp_query_status(mon, on_reconnect_status, hvd_domain_ref(dom));
    hvd_domain_unref(dom);
}

/* Does /proc/PID/cmdline show a worker started with this description? */
static bool is_our_worker(GPid pid, const char *json_path)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
    g_autofree char *cmdline = NULL;
    gsize len = 0;
    if (pid <= 0 || !g_file_get_contents(path, &cmdline, &len, NULL))
        return false;
    for (gsize i = 0; i < len; i += strlen(cmdline + i) + 1)
        if (strcmp(cmdline + i, json_path) == 0)
            return true;
    return false;
}

static void reconnect_one(const char *name)
{
    g_auto(HvdDomainStatus) st = { 0 };
    GError *err = NULL;
    if (!domain_status_read(name, &st, &err)) {
        log_warn("domain %s: unreadable live state, ignored: %s", name, err->message);
        g_clear_error(&err);
        domain_status_remove(name);
        return;
    }
    g_autoptr(HvdProcessPaths) paths = hvd_process_paths_new(hvd_drv.run_dir, hvd_drv.log_dir,
                                                             st.def->name);
    GPid pid = st.pid;
    int id = st.id;
    if (id <= 0 || !is_our_worker(pid, paths->json)) {
        /* It died while hvd was down. Its taps went with its fds and its
         * VFIO devices go back to the host; a persistent domain stays
         * defined, shut off as crashed. */
        log_info("domain %s: worker %d died while hvd was down, domain shut off (crashed)", name,
                 (int)pid);
        hvd_process_log_line(paths->log, "hvd found worker %d gone: shut off (crashed)", (int)pid);
        HvdDomain *known = domain_find_by_name(name);
        if (known)
            domain_set_state(known, VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_CRASHED);
        domain_status_remove(name);
        worker_hostdevs_release(st.def);
        return;
    }
    /* the live XML's backing chains, read again from the worker's images */
    g_autoptr(GError) chain_err = NULL;
    if (!hvd_storage_chain_probe(st.def, &chain_err))
        log_warn("domain %s: %s", name, chain_err->message);
    HvdDomain *dom = domain_find_by_uuid(st.def->uuid);
    if (dom && strcmp(dom->def->name, st.def->name) != 0) {
        log_warn("domain %s: live state clashes with domain %s, ignored", name, dom->def->name);
        return;
    }
    if (dom) {
        hvd_domain_ref(dom);
        dom->newdef = dom->def; /* the saved config comes back at the next stop */
        dom->def = g_steal_pointer(&st.def);
    } else {
        dom = domain_new(g_steal_pointer(&st.def));
        domain_list_add(dom);
    }
    dom->persistent = dom->persistent || st.persistent;
    dom->paths = g_steal_pointer(&paths);
    dom->pid = pid;
    dom->id = id;
    dom->adopted = true;
    dom->phase = HVD_PHASE_RUNNING;
    g_strfreev(dom->net_ifnames);
    dom->net_ifnames = g_steal_pointer(&st.net_ifnames);
    dom->balloon_kib = dom->def->current_memory_kib;
    hvd_drv.next_id = MAX(hvd_drv.next_id, id + 1);
    domain_set_state(dom, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_UNKNOWN);
    adopted_watch_start(dom);
    domain_console_open(dom, 5000);
    worker_monitor_new(dom);
    hvd_monitor_connect(dom->mon, 5000, on_reconnect_ready, hvd_domain_ref(dom));
    log_info("domain %s: reconnected to worker %d (id %d)", dom->def->name, (int)pid, id);
    hvd_process_log_line(dom->paths->log, "hvd reconnected to worker %d", (int)pid);
    hvd_domain_unref(dom);
}

void reconnect_workers(void)
{
    g_autoptr(GDir) dir = g_dir_open(hvd_drv.run_dir, 0, NULL);
    const char *ent;
    while (dir && (ent = g_dir_read_name(dir))) {
        if (ent[0] == '.' || !g_str_has_suffix(ent, ".status"))
            continue;
        g_autofree char *name = g_strndup(ent, strlen(ent) - strlen(".status"));
        reconnect_one(name);
    }
}


/* ---- adopted workers: a pidfd becomes readable when the process exits
 * (pidfd_open(2), Linux 5.3); without it, poll the pid. */

static gboolean on_pidfd(gint fd, GIOCondition cond, gpointer data)
{
    (void)fd;
    (void)cond;
    HvdDomain *dom = data;
    dom->pidfd_watch = 0;
    log_info("domain %s: adopted worker %d exited", dom->def->name, (int)dom->pid);
    worker_gone(dom, -1);
    return G_SOURCE_REMOVE;
}

static gboolean on_gone_idle(gpointer data)
{
    HvdDomain *dom = data;
    if (dom->pid > 0 && !dom->drain_timer)
        worker_gone(dom, -1);
    return G_SOURCE_REMOVE;
}

static void adopted_watch_start(HvdDomain *dom)
{
#ifdef SYS_pidfd_open
    int fd = (int)syscall(SYS_pidfd_open, (pid_t)dom->pid, 0);
    if (fd >= 0) {
        /* The pid might have been reused between the status check and
         * pidfd_open: check again through the pidfd's process. */
        if (!is_our_worker(dom->pid, dom->paths->json)) {
            close(fd);
            log_info("domain %s: worker %d is gone", dom->def->name, (int)dom->pid);
            g_idle_add_full(G_PRIORITY_DEFAULT, on_gone_idle, hvd_domain_ref(dom),
                            (GDestroyNotify)hvd_domain_unref);
            return;
        }
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        dom->pidfd = fd;
        dom->pidfd_watch = g_unix_fd_add_full(G_PRIORITY_DEFAULT, fd, G_IO_IN, on_pidfd,
                                              hvd_domain_ref(dom),
                                              (GDestroyNotify)hvd_domain_unref);
        return;
    }
    log_info("domain %s: pidfd_open(%d) failed (%s): polling the worker instead",
             dom->def->name, (int)dom->pid, g_strerror(errno));
#endif
    dom->pid_poll = g_timeout_add_full(G_PRIORITY_DEFAULT, 500, on_pid_poll, hvd_domain_ref(dom),
                                       (GDestroyNotify)hvd_domain_unref);
}

void adopted_watch_stop(HvdDomain *dom)
{
    if (dom->pidfd_watch) {
        g_source_remove(dom->pidfd_watch);
        dom->pidfd_watch = 0;
    }
    if (dom->pidfd >= 0) {
        close(dom->pidfd);
        dom->pidfd = -1;
    }
}

