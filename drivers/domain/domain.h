/* The domain object inside the driver (not for the RPC layer: it sees
 * drivers/domain/driver.h only). Shared by the files of drivers/domain/:
 *
 *   driver.c     API entry points (driver.h): define, queries, lifecycle
 *                requests, memory, devices, console
 *   domain.c     the object, the list and lookups, state and events
 *   domain_files.c  configs, autostart links, the status files of running
 *                domains
 *   worker.c     the worker's lifecycle: spawn, monitor events, exit,
 *                teardown, on_crash
 *   reconnect.c  a restarted daemon adopting the workers that kept running
 *   stats.c      memory, block, interface and vCPU statistics
 *
 * Single-threaded (the daemon's main loop). */
#pragma once
#include <glib.h>
#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <stdint.h>

#include "drivers/conf/domain_conf.h"
#include "drivers/domain/console.h"
#include "drivers/domain/driver.h"
#include "drivers/domain/monitor.h"
#include "drivers/domain/process.h"

#define DEFAULT_MONITOR_TIMEOUT_MS 30000
#define DEFAULT_DESTROY_GRACE_MS 10000
/* The balloon's QOM path as libvirt finds it for alias balloon0. */
#define BALLOON_QOM_PATH "/machine/peripheral/balloon0"

typedef struct {
    HvdDomainDoneFunc fn;
    gpointer data;
} Waiter;

/* Where a domain's worker is in its life: the one place that says it.
 * libvirt's state and reason (virDomainState, set with domain_set_state)
 * follow from the transitions below and from the guest's events:
 *
 *   INACTIVE --worker_start--> STARTING           paused/starting-up
 *   STARTING --monitor ready--> RUNNING           running/booted, STARTED
 *   STARTING --exit--> INACTIVE                   shut off/failed, no event
 *   RUNNING  --SHUTDOWN event--> GUEST_OFF        shutdown/user, SHUTDOWN
 *   GUEST_OFF --fake reboot (reset+cont)--> RUNNING   running/booted
 *   RUNNING, GUEST_OFF --exit (after the monitor drained)--> INACTIVE
 *            shut off/destroyed (a destroy was asked for), /shutdown
 *            (GUEST_OFF, or exit status 0 of our own child), else /crashed
 *   (reconnect) --> RUNNING, or GUEST_OFF when the guest powered off
 *            while hvd was away
 *
 * The worker has exited but the domain is not shut off yet while
 * drain_timer is set (the monitor reads up to its end of file first). */
typedef enum {
    HVD_PHASE_INACTIVE,  /* no worker (id -1) */
    HVD_PHASE_STARTING,  /* spawned, waiting for its monitor */
    HVD_PHASE_RUNNING,   /* started or adopted: the guest runs or is paused */
    HVD_PHASE_GUEST_OFF, /* the worker reported SHUTDOWN: its exit is a shutdown */
} HvdDomainPhase;

/* A destroy in progress (virDomainDestroyFlags): the worker's exit is a
 * destroy whatever its phase; GRACEFUL gives up instead of SIGKILL. */
typedef enum {
    HVD_DESTROY_NONE,
    HVD_DESTROY_FORCE,
    HVD_DESTROY_GRACEFUL,
} HvdDestroyRequest;

struct _HvdDomain {
    gint refs;
    DomainDef *def;       /* what runs (active) or the config (inactive) */
    DomainDef *newdef;    /* persistent config defined while running, or NULL */
    bool persistent;
    bool autostart;
    bool listed;          /* still in the driver's list */
    int id;               /* -1 when inactive */
    int state, reason;    /* virDomainState and its reason */

    /* the worker, while active */
    GPid pid;
    guint child_watch;
    guint kill_timer;
    HvdProcessPaths *paths;
    HvdMonitor *mon;
    HvdDomainPhase phase;
    HvdDestroyRequest destroy;
    bool start_paused;    /* VIR_DOMAIN_START_PAUSED: pause once the monitor is up */
    bool fake_reboot;     /* virsh reboot: reset instead of stopping when the guest is off */
    GError *start_error;  /* why a start is being aborted */
    GSList *start_waiters;
    GSList *destroy_waiters;
    int exit_status;
    guint drain_timer;    /* exited: the monitor drains before the domain is shut off */
    bool adopted;         /* reconnected after a daemon restart: not our child */
    guint pid_poll;       /* adopted workers without pidfd: poll the pid */
    int pidfd;            /* adopted workers: pidfd_open() of the worker, or -1 */
    guint pidfd_watch;
    HvdConsole *console;  /* the serial console while active */
    gint64 last_crash_restart; /* monotonic time of the last on_crash restart */
    int pause_reason;     /* reason to record when the next STOP arrives */
    uint64_t balloon_kib; /* guest memory as last set or reported */
    char **net_ifnames;   /* tap of each def->nets entry while active, or NULL */
    char *started_xml;    /* inactive XML of the config it started with (IsUpdated) */
};

/* The driver's state (driver.c owns it; hvd_driver_init fills it). */
typedef struct {
    bool initialized;
    char *config_dir, *autostart_dir, *run_dir, *log_dir;
    char *emulator;
    int monitor_timeout_ms;
    int destroy_grace_ms;
    char *vhost_net_path; /* NULL = /dev/vhost-net */
    GPtrArray *domains; /* HvdDomain*, one reference each */
    int next_id;
    HvdDomainEventFunc event_fn;
    gpointer event_data;
    HvdDomainOtherEventFunc other_event_fn;
    gpointer other_event_data;
} HvdDriverState;

extern HvdDriverState hvd_drv;

/* ---- domain.c: the object, the list, state and events */
HvdDomain *domain_new(DomainDef *def);
HvdDomain *domain_find_by_name(const char *name);
HvdDomain *domain_find_by_uuid(const uint8_t uuid[16]);
void domain_list_add(HvdDomain *dom);
void domain_list_remove(HvdDomain *dom);
/* The persistent config: the pending one of a running domain, else def. */
DomainDef *domain_persistent_def(HvdDomain *dom);
void domain_set_state(HvdDomain *dom, int state, int reason);
/* RUNNING -> PAUSED (reason) and RESUMED events; no-ops from other states. */
void domain_set_paused(HvdDomain *dom, int reason);
void domain_set_running(HvdDomain *dom, int reason);
void domain_emit(HvdDomain *dom, int event, int detail);
void domain_emit_other(HvdDomain *dom, int event_id, uint64_t value);
/* Errors libvirt's QEMU driver reports for every entry point. */
void domain_not_running_error(GError **err);
bool domain_check_flags(unsigned flags, unsigned allowed, const char *function, GError **err);
/* The monitor can take a command now (the domain runs and its worker's
 * monitor is connected), else err. */
bool domain_monitor_usable(HvdDomain *dom, GError **err);
/* Asynchronous completions. */
void domain_waiter_add(GSList **list, HvdDomainDoneFunc fn, gpointer data);
void domain_waiters_finish(GSList **list, HvdDomain *dom, const char *result, const GError *err);
/* fn(err) at once, then frees err. */
void domain_fail_now(HvdDomain *dom, HvdDomainDoneFunc fn, gpointer data, GError *err);

/* ---- domain_files.c: files under the state directory */
char *domain_config_path(const char *name);
char *domain_autostart_path(const char *name);
bool domain_config_save(const DomainDef *def, GError **err);
/* persist_load_dir() callback: one config file -> DomainDef. */
gpointer domain_config_load_one(const char *path, const char *contents, gpointer user_data,
                                GError **err);
/* The config and its autostart link (undefine). */
bool domain_config_remove(const char *name, GError **err);
/* As libvirt: the autostart entry is a symlink to the config. */
bool domain_autostart_link(const char *name, bool autostart, GError **err);
char *domain_run_file(const char *name, const char *ext);

/* What <run>/NAME.status and NAME.xml record of a running domain. */
typedef struct {
    DomainDef *def;     /* the definition it runs */
    GPid pid;
    int id;
    bool persistent;
    char **net_ifnames; /* one per def->nets entry, or NULL */
} HvdDomainStatus;
void domain_status_write(HvdDomain *dom);
/* False (err set) when the files are missing or do not parse. */
bool domain_status_read(const char *name, HvdDomainStatus *status, GError **err);
void domain_status_clear(HvdDomainStatus *status);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(HvdDomainStatus, domain_status_clear)
void domain_status_remove(const char *name);

/* ---- worker.c: the worker's lifecycle */
bool worker_start(HvdDomain *dom, unsigned flags, GError **err);
/* Destroy: SIGTERM, SIGKILL after the grace period (or fail when graceful). */
void worker_kill(HvdDomain *dom, bool graceful);
/* SIGTERM to a worker whose guest is off: its exit shuts the domain off. */
void worker_terminate_after_shutdown(HvdDomain *dom);
/* The worker exited (status from waitpid, -1 unknown for adopted ones). */
void worker_gone(HvdDomain *dom, int status);
/* dom->mon for the worker's socket, with the driver's event handlers. */
void worker_monitor_new(HvdDomain *dom);
void worker_hostdevs_release(const DomainDef *def);
void domain_console_open(HvdDomain *dom, int connect_timeout_ms);
void domain_console_close(HvdDomain *dom);

/* ---- reconnect.c: workers that outlived a daemon restart */
void reconnect_workers(void);
void adopted_watch_stop(HvdDomain *dom);
