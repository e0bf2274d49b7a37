/* hvd's domain driver (drivers/domain/driver.h, docs/domain-driver.md).
 *
 * States, reasons, flags and events are libvirt's numbers from
 * <libvirt/libvirt-domain.h>; messages follow libvirt's QEMU driver
 * (../shared/ref/libvirt-rpc.md §4, §13; traces 24, 35, 36). */
#include "drivers/domain/driver.h"

#include <errno.h>
#include <json-c/json.h>
#include <libvirt/libvirt.h>
#include <signal.h>
#include <string.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "drivers/conf/domain_conf.h"
#include "drivers/domain/console.h"
#include "drivers/domain/monitor.h"
#include "drivers/domain/persist.h"
#include "drivers/domain/interfaces.h"
#include "drivers/domain/process.h"
#include "drivers/domain/storage_chain.h"
#include "drivers/nodedev/nodedev.h"

#define DEFAULT_MONITOR_TIMEOUT_MS 30000
#define DEFAULT_DESTROY_GRACE_MS 10000
/* How long a monitor command may take before the call fails. */
#define MONITOR_COMMAND_TIMEOUT_MS 30000

typedef struct {
    HvdDomainDoneFunc fn;
    gpointer data;
} Waiter;

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
    bool starting;        /* spawned, waiting for the monitor */
    bool start_paused;
    GError *start_error;  /* why a start is being aborted */
    GSList *start_waiters;
    GSList *destroy_waiters;
    bool destroy_requested;
    bool destroy_graceful;
    bool got_shutdown;    /* the worker reported SHUTDOWN: its exit is a shutdown */
    bool fake_reboot;     /* virsh reboot: reset instead of stopping when the guest is off */
    bool exited;          /* reaped, waiting for the monitor's end of file */
    int exit_status;
    guint drain_timer;
    bool mon_closed;
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

static struct {
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
} drv;

static void reconnect_all(void);
static void status_write(HvdDomain *dom);
static void domain_console_open(HvdDomain *dom, int connect_timeout_ms);
static void domain_console_close(HvdDomain *dom);
static void adopted_watch_start(HvdDomain *dom);
static void adopted_watch_stop(HvdDomain *dom);
static void crash_action(HvdDomain *dom);
static void emit_other(HvdDomain *dom, int event_id, uint64_t value);
static void guest_powered_off(HvdDomain *dom);
static void terminate_after_shutdown(HvdDomain *dom);

/* ------------------------------------------------------------ basics */

static HvdDomain *domain_new(DomainDef *def)
{
    HvdDomain *dom = g_new0(HvdDomain, 1);
    dom->refs = 1;
    dom->def = def;
    dom->id = -1;
    dom->pidfd = -1;
    dom->state = VIR_DOMAIN_SHUTOFF;
    dom->reason = VIR_DOMAIN_SHUTOFF_UNKNOWN;
    return dom;
}

HvdDomain *hvd_domain_ref(HvdDomain *dom)
{
    g_atomic_int_inc(&dom->refs);
    return dom;
}

void hvd_domain_unref(HvdDomain *dom)
{
    if (!dom || !g_atomic_int_dec_and_test(&dom->refs))
        return;
    domain_def_free(dom->def);
    domain_def_free(dom->newdef);
    hvd_process_paths_free(dom->paths);
    g_clear_error(&dom->start_error);
    g_strfreev(dom->net_ifnames);
    g_free(dom->started_xml);
    g_free(dom);
}

const char *hvd_domain_name(const HvdDomain *dom) { return dom->def->name; }
const uint8_t *hvd_domain_uuid(const HvdDomain *dom) { return dom->def->uuid; }
int hvd_domain_id(const HvdDomain *dom) { return dom->id; }
bool hvd_domain_is_active(const HvdDomain *dom) { return dom->id > 0; }
bool hvd_domain_is_persistent(const HvdDomain *dom) { return dom->persistent; }
bool hvd_domain_get_autostart(const HvdDomain *dom) { return dom->autostart; }
uint64_t hvd_domain_get_max_memory(const HvdDomain *dom) { return dom->def->memory_kib; }

bool hvd_driver_error_unpack(const GError *err, int *number, int *from)
{
    if (!err || err->domain != HVD_VIR_ERROR) {
        *number = VIR_ERR_INTERNAL_ERROR;
        *from = VIR_FROM_QEMU;
        return false;
    }
    *number = hvd_vir_error_number(err);
    *from = hvd_vir_error_from(err);
    return true;
}

void hvd_driver_set_event_sink(HvdDomainEventFunc fn, gpointer user_data)
{
    drv.event_fn = fn;
    drv.event_data = user_data;
}

static void emit(HvdDomain *dom, int event, int detail)
{
    log_debug("domain %s: lifecycle event %d/%d", dom->def->name, event, detail);
    if (drv.event_fn)
        drv.event_fn(dom, event, detail, drv.event_data);
}

static void set_state(HvdDomain *dom, int state, int reason)
{
    dom->state = state;
    dom->reason = reason;
}

/* The persistent config: the pending one of a running domain, else def. */
static DomainDef *persistent_def(HvdDomain *dom)
{
    return dom->newdef ? dom->newdef : dom->def;
}

static void uuid_string(const uint8_t uuid[16], char out[DOMAIN_UUID_STRING_LEN])
{
    domain_uuid_format(uuid, out);
}

static void not_running_error(GError **err)
{
    /* virDomainObjCheckActive (conf code, hence VIR_FROM_DOMAIN; trace 36). */
    hvd_vir_error_set(err, VIR_FROM_DOMAIN, VIR_ERR_OPERATION_INVALID, "%s",
                      "domain is not running");
}

static bool check_flags(unsigned flags, unsigned allowed, const char *function, GError **err)
{
    if (flags & ~allowed) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_INVALID_ARG,
                          "unsupported flags (0x%x) in function %s", flags & ~allowed, function);
        return false;
    }
    return true;
}

static void waiters_finish(GSList **list, HvdDomain *dom, const char *result, const GError *err)
{
    GSList *l = *list;
    *list = NULL;
    for (GSList *i = l; i; i = i->next) {
        Waiter *w = i->data;
        w->fn(dom, result, err, w->data);
        g_free(w);
    }
    g_slist_free(l);
}

static void waiter_add(GSList **list, HvdDomainDoneFunc fn, gpointer data)
{
    Waiter *w = g_new(Waiter, 1);
    w->fn = fn;
    w->data = data;
    *list = g_slist_append(*list, w);
}

static void fail_now(HvdDomain *dom, HvdDomainDoneFunc fn, gpointer data, GError *err)
{
    fn(dom, NULL, err, data);
    g_error_free(err);
}

/* ------------------------------------------------------------ the list */

static HvdDomain *find_by_name(const char *name)
{
    for (guint i = 0; drv.domains && i < drv.domains->len; i++) {
        HvdDomain *d = g_ptr_array_index(drv.domains, i);
        if (strcmp(d->def->name, name) == 0)
            return d;
    }
    return NULL;
}

static HvdDomain *find_by_uuid(const uint8_t uuid[16])
{
    for (guint i = 0; drv.domains && i < drv.domains->len; i++) {
        HvdDomain *d = g_ptr_array_index(drv.domains, i);
        if (memcmp(d->def->uuid, uuid, DOMAIN_UUID_LEN) == 0)
            return d;
    }
    return NULL;
}

static void list_add(HvdDomain *dom)
{
    dom->listed = true;
    g_ptr_array_add(drv.domains, hvd_domain_ref(dom));
}

static void list_remove(HvdDomain *dom)
{
    if (!dom->listed)
        return;
    dom->listed = false;
    g_ptr_array_remove(drv.domains, dom); /* drops the list's reference */
}

HvdDomain *hvd_driver_lookup_by_name(const char *name, GError **err)
{
    HvdDomain *d = find_by_name(name);
    if (!d) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_NO_DOMAIN,
                          "no domain with matching name '%s'", name);
        return NULL;
    }
    return hvd_domain_ref(d);
}

HvdDomain *hvd_driver_lookup_by_uuid(const uint8_t uuid[16], GError **err)
{
    HvdDomain *d = find_by_uuid(uuid);
    if (!d) {
        char s[DOMAIN_UUID_STRING_LEN];
        uuid_string(uuid, s);
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_NO_DOMAIN,
                          "no domain with matching uuid '%s'", s);
        return NULL;
    }
    return hvd_domain_ref(d);
}

HvdDomain *hvd_driver_lookup_by_id(int id, GError **err)
{
    for (guint i = 0; id > 0 && i < drv.domains->len; i++) {
        HvdDomain *d = g_ptr_array_index(drv.domains, i);
        if (d->id == id)
            return hvd_domain_ref(d);
    }
    hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_NO_DOMAIN, "no domain with matching id %d", id);
    return NULL;
}

HvdDomain *hvd_driver_lookup_dom(const char *name, const uint8_t uuid[16], GError **err)
{
    HvdDomain *d = find_by_uuid(uuid);
    if (!d) {
        char s[DOMAIN_UUID_STRING_LEN];
        uuid_string(uuid, s);
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_NO_DOMAIN,
                          "no domain with matching uuid '%s' (%s)", s, name);
        return NULL;
    }
    return hvd_domain_ref(d);
}

static int list_order(gconstpointer a, gconstpointer b)
{
    const HvdDomain *x = *(HvdDomain *const *)a, *y = *(HvdDomain *const *)b;
    bool ax = x->id > 0, ay = y->id > 0;
    if (ax != ay)
        return ax ? -1 : 1;
    if (ax)
        return x->id - y->id;
    return strcmp(x->def->name, y->def->name);
}

/* One filter group of virConnectListAllDomains: when any of its bits is
 * set, the domain must have one of the set properties. */
static bool group_match(unsigned flags, unsigned yes_bit, unsigned no_bit, bool has)
{
    if (!(flags & (yes_bit | no_bit)))
        return true;
    return ((flags & yes_bit) && has) || ((flags & no_bit) && !has);
}

GPtrArray *hvd_driver_list(unsigned flags, GError **err)
{
    const unsigned allowed = 0xffff; /* ACTIVE .. NO_CHECKPOINT */
    if (!check_flags(flags, allowed, "qemuConnectListAllDomains", err))
        return NULL;
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)hvd_domain_unref);
    for (guint i = 0; i < drv.domains->len; i++) {
        HvdDomain *d = g_ptr_array_index(drv.domains, i);
        bool active = d->id > 0;
        if (!group_match(flags, VIR_CONNECT_LIST_DOMAINS_ACTIVE, VIR_CONNECT_LIST_DOMAINS_INACTIVE,
                         active) ||
            !group_match(flags, VIR_CONNECT_LIST_DOMAINS_PERSISTENT,
                         VIR_CONNECT_LIST_DOMAINS_TRANSIENT, d->persistent) ||
            !group_match(flags, VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE,
                         VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE, false) ||
            !group_match(flags, VIR_CONNECT_LIST_DOMAINS_AUTOSTART,
                         VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART, d->autostart) ||
            !group_match(flags, VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT,
                         VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT, false) ||
            !group_match(flags, VIR_CONNECT_LIST_DOMAINS_HAS_CHECKPOINT,
                         VIR_CONNECT_LIST_DOMAINS_NO_CHECKPOINT, false))
            continue;
        const unsigned state_bits = VIR_CONNECT_LIST_DOMAINS_RUNNING |
                                    VIR_CONNECT_LIST_DOMAINS_PAUSED |
                                    VIR_CONNECT_LIST_DOMAINS_SHUTOFF |
                                    VIR_CONNECT_LIST_DOMAINS_OTHER;
        if (flags & state_bits) {
            bool ok = ((flags & VIR_CONNECT_LIST_DOMAINS_RUNNING) &&
                       d->state == VIR_DOMAIN_RUNNING) ||
                      ((flags & VIR_CONNECT_LIST_DOMAINS_PAUSED) && d->state == VIR_DOMAIN_PAUSED) ||
                      ((flags & VIR_CONNECT_LIST_DOMAINS_SHUTOFF) &&
                       d->state == VIR_DOMAIN_SHUTOFF) ||
                      ((flags & VIR_CONNECT_LIST_DOMAINS_OTHER) &&
                       d->state != VIR_DOMAIN_RUNNING && d->state != VIR_DOMAIN_PAUSED &&
                       d->state != VIR_DOMAIN_SHUTOFF);
            if (!ok)
                continue;
        }
        g_ptr_array_add(out, hvd_domain_ref(d));
    }
    g_ptr_array_sort(out, list_order);
    return out;
}

unsigned hvd_driver_count(bool active)
{
    unsigned n = 0;
    for (guint i = 0; i < drv.domains->len; i++) {
        HvdDomain *d = g_ptr_array_index(drv.domains, i);
        if ((d->id > 0) == active)
            n++;
    }
    return n;
}

/* ------------------------------------------------------------ persistence */

static char *config_path(const char *name)
{
    g_autofree char *file = g_strconcat(name, ".xml", NULL);
    return g_build_filename(drv.config_dir, file, NULL);
}

static char *autostart_path(const char *name)
{
    g_autofree char *file = g_strconcat(name, ".xml", NULL);
    return g_build_filename(drv.autostart_dir, file, NULL);
}

static bool save_config(const DomainDef *def, GError **err)
{
    g_autofree char *xml = domain_def_format(def, NULL);
    g_autofree char *path = config_path(def->name);
    GError *local = NULL;
    if (!persist_write_atomic(path, xml, strlen(xml), &local)) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_OPERATION_FAILED,
                          "cannot save config of domain '%s': %s", def->name, local->message);
        g_error_free(local);
        return false;
    }
    return true;
}

static gpointer load_one(const char *path, const char *contents, gpointer user_data, GError **err)
{
    (void)user_data;
    DomainDef *def = domain_def_parse_string(contents, 0, err);
    if (!def)
        return NULL;
    g_autofree char *base = g_path_get_basename(path);
    g_autofree char *expect = g_strconcat(def->name, ".xml", NULL);
    if (strcmp(base, expect) != 0)
        log_warn("%s holds domain '%s' (file name and domain name differ)", path, def->name);
    return def;
}

bool hvd_driver_init(const HvdDriverConfig *cfg, GError **err)
{
    g_return_val_if_fail(!drv.initialized, false);
    drv.config_dir = g_build_filename(cfg->state_dir, "qemu", NULL);
    drv.autostart_dir = g_build_filename(drv.config_dir, "autostart", NULL);
    drv.run_dir = g_build_filename(cfg->state_dir, "run", NULL);
    drv.log_dir = g_build_filename(cfg->state_dir, "log", NULL);
    drv.emulator = g_strdup(cfg->emulator);
    drv.vhost_net_path = g_strdup(cfg->vhost_net_path);
    drv.monitor_timeout_ms = cfg->monitor_timeout_ms > 0 ? cfg->monitor_timeout_ms
                                                         : DEFAULT_MONITOR_TIMEOUT_MS;
    drv.destroy_grace_ms = cfg->destroy_grace_ms > 0 ? cfg->destroy_grace_ms
                                                     : DEFAULT_DESTROY_GRACE_MS;
    drv.domains = g_ptr_array_new_with_free_func((GDestroyNotify)hvd_domain_unref);
    drv.next_id = 1;
    drv.initialized = true;
    const char *dirs[] = { drv.config_dir, drv.autostart_dir, drv.run_dir, drv.log_dir };
    for (size_t i = 0; i < G_N_ELEMENTS(dirs); i++) {
        if (g_mkdir_with_parents(dirs[i], 0700) != 0) {
            hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_SYSTEM_ERROR,
                              "cannot create directory %s: %s", dirs[i], g_strerror(errno));
            return false;
        }
    }
    GError *local = NULL;
    g_autoptr(GPtrArray) defs = persist_load_dir(drv.config_dir, load_one, NULL,
                                                 (GDestroyNotify)domain_def_free, NULL, &local);
    if (!defs) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_SYSTEM_ERROR, "cannot load configs: %s",
                          local->message);
        g_error_free(local);
        return false;
    }
    for (guint i = 0; i < defs->len; i++) {
        DomainDef *def = g_ptr_array_index(defs, i);
        if (find_by_name(def->name) || find_by_uuid(def->uuid)) {
            log_warn("skipping a second config for domain '%s'", def->name);
            continue;
        }
        defs->pdata[i] = NULL; /* taken over by the domain */
        HvdDomain *dom = domain_new(def);
        dom->persistent = true;
        g_autofree char *as = autostart_path(def->name);
        dom->autostart = g_file_test(as, G_FILE_TEST_EXISTS);
        list_add(dom);
        hvd_domain_unref(dom);
    }
    log_info("domain driver: %u domain(s) defined in %s", drv.domains->len, drv.config_dir);
    reconnect_all();
    return true;
}

void hvd_driver_shutdown(void)
{
    if (!drv.initialized)
        return;
    for (guint i = 0; i < drv.domains->len; i++) {
        HvdDomain *d = g_ptr_array_index(drv.domains, i);
        if (d->child_watch)
            g_source_remove(d->child_watch);
        d->child_watch = 0;
        if (d->kill_timer)
            g_source_remove(d->kill_timer);
        d->kill_timer = 0;
        if (d->drain_timer)
            g_source_remove(d->drain_timer);
        d->drain_timer = 0;
        if (d->pid_poll)
            g_source_remove(d->pid_poll);
        d->pid_poll = 0;
        adopted_watch_stop(d);
        g_clear_pointer(&d->console, hvd_console_free); /* the socket stays for the next hvd */
        if (d->mon) {
            hvd_monitor_close(d->mon);
            g_clear_pointer(&d->mon, hvd_monitor_unref);
        }
        d->listed = false;
    }
    g_clear_pointer(&drv.domains, g_ptr_array_unref);
    g_clear_pointer(&drv.config_dir, g_free);
    g_clear_pointer(&drv.autostart_dir, g_free);
    g_clear_pointer(&drv.run_dir, g_free);
    g_clear_pointer(&drv.log_dir, g_free);
    g_clear_pointer(&drv.emulator, g_free);
    g_clear_pointer(&drv.vhost_net_path, g_free);
    drv.initialized = false;
}

/* ------------------------------------------------------------ define */

/* libvirt's virDomainObjListAddLocked checks: one uuid per name and one
 * name per uuid. Returns the existing domain the def replaces, or NULL
 * (no error) when it is new. */
static bool check_identity(const DomainDef *def, HvdDomain **existing, GError **err)
{
    char uuid[DOMAIN_UUID_STRING_LEN];
    HvdDomain *by_uuid = find_by_uuid(def->uuid);
    if (by_uuid && strcmp(by_uuid->def->name, def->name) != 0) {
        uuid_string(def->uuid, uuid);
        hvd_vir_error_set(err, VIR_FROM_DOMAIN, VIR_ERR_OPERATION_FAILED,
                          "domain '%s' is already defined with uuid %s", by_uuid->def->name, uuid);
        return false;
    }
    HvdDomain *by_name = find_by_name(def->name);
    if (by_name && !by_uuid) {
        uuid_string(by_name->def->uuid, uuid);
        hvd_vir_error_set(err, VIR_FROM_DOMAIN, VIR_ERR_OPERATION_FAILED,
                          "domain '%s' already exists with uuid %s", def->name, uuid);
        return false;
    }
    *existing = by_uuid;
    return true;
}

HvdDomain *hvd_driver_define(const char *xml, unsigned flags, GError **err)
{
    if (!check_flags(flags, VIR_DOMAIN_DEFINE_VALIDATE, "qemuDomainDefineXMLFlags", err))
        return NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(xml, 0, err);
    if (!def)
        return NULL;
    HvdDomain *dom = NULL;
    if (!check_identity(def, &dom, err))
        return NULL;
    if (!save_config(def, err))
        return NULL;
    int detail;
    if (dom) {
        detail = dom->persistent ? VIR_DOMAIN_EVENT_DEFINED_UPDATED : VIR_DOMAIN_EVENT_DEFINED_ADDED;
        if (hvd_domain_is_active(dom)) {
            domain_def_free(dom->newdef);
            dom->newdef = g_steal_pointer(&def);
        } else {
            domain_def_free(dom->def);
            dom->def = g_steal_pointer(&def);
        }
        dom->persistent = true;
        hvd_domain_ref(dom);
    } else {
        detail = VIR_DOMAIN_EVENT_DEFINED_ADDED;
        dom = domain_new(g_steal_pointer(&def));
        dom->persistent = true;
        list_add(dom);
    }
    log_info("domain %s defined", dom->def->name);
    emit(dom, VIR_DOMAIN_EVENT_DEFINED, detail);
    return dom;
}

bool hvd_domain_undefine(HvdDomain *dom, unsigned flags, GError **err)
{
    const unsigned allowed = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                             VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | VIR_DOMAIN_UNDEFINE_NVRAM |
                             VIR_DOMAIN_UNDEFINE_KEEP_NVRAM |
                             VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA |
                             VIR_DOMAIN_UNDEFINE_TPM | VIR_DOMAIN_UNDEFINE_KEEP_TPM;
    if (!check_flags(flags, allowed, "qemuDomainUndefineFlags", err))
        return false;
    if (!dom->persistent) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_OPERATION_INVALID, "%s",
                          "cannot undefine transient domain");
        return false;
    }
    g_autofree char *path = config_path(dom->def->name);
    g_autofree char *as = autostart_path(dom->def->name);
    GError *local = NULL;
    if (!persist_remove(as, &local) || !persist_remove(path, &local)) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_OPERATION_FAILED,
                          "cannot remove config of domain '%s': %s", dom->def->name,
                          local->message);
        g_error_free(local);
        return false;
    }
    dom->autostart = false;
    dom->persistent = false;
    g_clear_pointer(&dom->newdef, domain_def_free);
    if (hvd_domain_is_active(dom) && !dom->starting)
        status_write(dom);
    log_info("domain %s undefined", dom->def->name);
    hvd_domain_ref(dom);
    if (!hvd_domain_is_active(dom))
        list_remove(dom);
    emit(dom, VIR_DOMAIN_EVENT_UNDEFINED, VIR_DOMAIN_EVENT_UNDEFINED_REMOVED);
    hvd_domain_unref(dom);
    return true;
}

bool hvd_domain_set_autostart(HvdDomain *dom, bool autostart, GError **err)
{
    if (!dom->persistent) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_OPERATION_INVALID, "%s",
                          "cannot set autostart for transient domain");
        return false;
    }
    if (dom->autostart == autostart)
        return true;
    g_autofree char *as = autostart_path(dom->def->name);
    g_autofree char *cfg = config_path(dom->def->name);
    if (autostart) {
        /* As libvirt: the autostart entry is a symlink to the config. */
        unlink(as);
        if (symlink(cfg, as) != 0) {
            hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_SYSTEM_ERROR,
                              "Failed to create symlink '%s' to '%s': %s", as, cfg,
                              g_strerror(errno));
            return false;
        }
    } else {
        GError *local = NULL;
        if (!persist_remove(as, &local)) {
            hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_SYSTEM_ERROR, "%s", local->message);
            g_error_free(local);
            return false;
        }
    }
    dom->autostart = autostart;
    return true;
}

/* ------------------------------------------------------------ queries */

void hvd_domain_get_state(HvdDomain *dom, int *state, int *reason)
{
    *state = dom->state;
    *reason = dom->reason;
}

bool hvd_domain_get_state_flags(HvdDomain *dom, unsigned flags, int *state, int *reason,
                                GError **err)
{
    if (!check_flags(flags, 0, "qemuDomainGetState", err))
        return false;
    hvd_domain_get_state(dom, state, reason);
    return true;
}

void hvd_domain_get_info(HvdDomain *dom, HvdDomainInfo *info)
{
    info->state = dom->state;
    info->max_mem_kib = dom->def->memory_kib;
    bool active = hvd_domain_is_active(dom);
    info->memory_kib = active ? dom->balloon_kib : dom->def->current_memory_kib;
    info->nr_vcpus = dom->def->current_vcpus;
    info->cpu_time_ns = active ? hvd_process_cpu_time_ns(dom->pid) : 0;
}

char *hvd_domain_get_xml(HvdDomain *dom, unsigned flags, GError **err)
{
    const unsigned allowed = VIR_DOMAIN_XML_SECURE | VIR_DOMAIN_XML_INACTIVE |
                             VIR_DOMAIN_XML_UPDATE_CPU | VIR_DOMAIN_XML_MIGRATABLE;
    if (!check_flags(flags, allowed, "qemuDomainGetXMLDesc", err))
        return NULL;
    if (!hvd_domain_is_active(dom) || (flags & (VIR_DOMAIN_XML_INACTIVE |
                                                VIR_DOMAIN_XML_MIGRATABLE)))
        return domain_def_format((flags & VIR_DOMAIN_XML_INACTIVE) ? persistent_def(dom)
                                                                   : dom->def,
                                 NULL);
    g_autoptr(DomainRuntime) rt = domain_runtime_new(dom->def, dom->id);
    for (guint i = 0; dom->net_ifnames && dom->net_ifnames[i] && i < rt->n_nets; i++)
        rt->net_ifnames[i] = *dom->net_ifnames[i] ? g_strdup(dom->net_ifnames[i]) : NULL;
    /* The live XML shows the memory the guest has now. */
    uint64_t saved = dom->def->current_memory_kib;
    dom->def->current_memory_kib = dom->balloon_kib;
    char *xml = domain_def_format(dom->def, rt);
    dom->def->current_memory_kib = saved;
    return xml;
}

int hvd_domain_get_vcpus(HvdDomain *dom, unsigned flags, GError **err)
{
    const unsigned allowed = VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG |
                             VIR_DOMAIN_VCPU_MAXIMUM | VIR_DOMAIN_VCPU_GUEST;
    if (!check_flags(flags, allowed, "qemuDomainGetVcpusFlags", err))
        return -1;
    bool live = flags & VIR_DOMAIN_AFFECT_LIVE, config = flags & VIR_DOMAIN_AFFECT_CONFIG;
    if (live && config) {
        hvd_vir_error_set(err, VIR_FROM_DOMAIN, VIR_ERR_INVALID_ARG, "%s",
                          "Flags 'affect live' and 'affect config' are mutually exclusive");
        return -1;
    }
    if (!live && !config)
        live = hvd_domain_is_active(dom);
    if (live && !hvd_domain_is_active(dom)) {
        not_running_error(err);
        return -1;
    }
    if (flags & VIR_DOMAIN_VCPU_GUEST) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_ARGUMENT_UNSUPPORTED, "%s",
                          "QEMU guest agent is not configured");
        return -1;
    }
    const DomainDef *def = live ? dom->def : persistent_def(dom);
    return (int)((flags & VIR_DOMAIN_VCPU_MAXIMUM) ? def->vcpus : def->current_vcpus);
}

bool hvd_domain_interface_stats(HvdDomain *dom, const char *device, int64_t stats[8],
                                GError **err)
{
    if (!hvd_domain_is_active(dom)) {
        not_running_error(err);
        return false;
    }
    int index = hvd_interfaces_find(dom->def, dom->net_ifnames, device, err);
    if (index < 0)
        return false;
    const char *ifname = dom->net_ifnames ? dom->net_ifnames[index] : NULL;
    if (!ifname || !*ifname) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_OPERATION_UNSUPPORTED,
                          "interface '%s' has no host tap to read counters from", device);
        return false;
    }
    HvdInterfaceStats st;
    if (!hvd_interface_stats_read(ifname, NULL, &st, err))
        return false;
    const int64_t ordered[8] = { st.rx_bytes, st.rx_packets, st.rx_errs, st.rx_drop,
                                 st.tx_bytes, st.tx_packets, st.tx_errs, st.tx_drop };
    memcpy(stats, ordered, sizeof(ordered));
    return true;
}

/* ------------------------------------------------------------ status files
 *
 * A running domain leaves <run>/NAME.xml (the definition it runs) and
 * <run>/NAME.status ({"pid", "id", "persistent"}), so a restarted daemon
 * finds its workers again (workers run in their own session and outlive
 * the daemon). Removed when the domain stops. */

static char *run_file(const char *name, const char *ext)
{
    g_autofree char *file = g_strconcat(name, ext, NULL);
    return g_build_filename(drv.run_dir, file, NULL);
}

/* The taps' names as a JSON array, so a restarted daemon still knows them. */
static char *net_ifnames_json(char **names)
{
    json_object *a = json_object_new_array();
    for (guint i = 0; names && names[i]; i++)
        json_object_array_add(a, json_object_new_string(names[i]));
    char *text = g_strdup(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
    json_object_put(a);
    return text;
}

static char **net_ifnames_from_json(json_object *status, guint n_nets)
{
    json_object *a = NULL;
    if (!json_object_object_get_ex(status, "net_ifnames", &a) ||
        !json_object_is_type(a, json_type_array) || json_object_array_length(a) != n_nets)
        return NULL;
    char **names = g_new0(char *, n_nets + 1);
    for (guint i = 0; i < n_nets; i++) {
        const char *name = json_object_get_string(json_object_array_get_idx(a, i));
        names[i] = g_strdup(name ? name : "");
    }
    return names;
}

static void status_write(HvdDomain *dom)
{
    g_autofree char *xml_path = run_file(dom->def->name, ".xml");
    g_autofree char *status_path = run_file(dom->def->name, ".status");
    g_autofree char *xml = domain_def_format(dom->def, NULL);
    g_autofree char *ifnames = net_ifnames_json(dom->net_ifnames);
    g_autofree char *status = g_strdup_printf(
        "{\"pid\": %d, \"id\": %d, \"persistent\": %s, \"net_ifnames\": %s}\n", (int)dom->pid,
        dom->id, dom->persistent ? "true" : "false", ifnames);
    GError *err = NULL;
    if (!persist_write_atomic(xml_path, xml, strlen(xml), &err) ||
        !persist_write_atomic(status_path, status, strlen(status), &err)) {
        log_warn("domain %s: cannot record live state: %s", dom->def->name, err->message);
        g_error_free(err);
    }
}

static void status_remove(const char *name)
{
    g_autofree char *xml_path = run_file(name, ".xml");
    g_autofree char *status_path = run_file(name, ".status");
    unlink(xml_path);
    unlink(status_path);
}

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
static bool hostdevs_prepare(const DomainDef *def, GError **err)
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

static void hostdevs_release(const DomainDef *def)
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
    dom->exited = false;
    if (dom->drain_timer) {
        g_source_remove(dom->drain_timer);
        dom->drain_timer = 0;
    }
    int reason, detail;
    if (dom->destroy_requested) {
        reason = VIR_DOMAIN_SHUTOFF_DESTROYED;
        detail = VIR_DOMAIN_EVENT_STOPPED_DESTROYED;
    } else if (dom->starting) {
        reason = VIR_DOMAIN_SHUTOFF_FAILED;
        detail = VIR_DOMAIN_EVENT_STOPPED_FAILED;
    } else if (dom->got_shutdown ||
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
    status_remove(dom->def->name);
    /* The worker closed its VFIO devices: give them back to the host. */
    hostdevs_release(dom->def);
    /* The worker held the last tap fds: the taps are gone with it. */
    g_clear_pointer(&dom->net_ifnames, g_strfreev);
    dom->adopted = false;
    dom->pid = 0;
    dom->id = -1;
    set_state(dom, VIR_DOMAIN_SHUTOFF, reason);
    g_clear_pointer(&dom->started_xml, g_free);
    if (dom->newdef) {
        domain_def_free(dom->def);
        dom->def = g_steal_pointer(&dom->newdef);
    }

    bool was_starting = dom->starting;
    dom->starting = false;
    if (was_starting) {
        GError *e = dom->start_error;
        dom->start_error = NULL;
        if (!e) {
            e = g_error_new(HVD_VIR_ERROR, HVD_VIR_ERROR_PACK(VIR_FROM_QEMU, VIR_ERR_INTERNAL_ERROR),
                            "internal error: process exited while connecting to monitor: %s",
                            tail);
        }
        waiters_finish(&dom->start_waiters, dom, NULL, e);
        g_error_free(e);
    }
    /* A transient domain ceases to exist when it stops. */
    if (!dom->persistent)
        list_remove(dom);
    /* The event only for domains that had started (libvirt emits none
     * for a start that failed before the domain ran). */
    if (!was_starting)
        emit(dom, VIR_DOMAIN_EVENT_STOPPED, detail);
    dom->destroy_requested = false;
    dom->got_shutdown = false;
    waiters_finish(&dom->destroy_waiters, dom, NULL, NULL);
    if (!was_starting && reason == VIR_DOMAIN_SHUTOFF_CRASHED)
        crash_action(dom);
}

static gboolean on_drain_done(gpointer data)
{
    HvdDomain *dom = data;
    dom->drain_timer = 0;
    if (dom->exited)
        process_stopped(dom);
    return G_SOURCE_REMOVE;
}

static void worker_gone(HvdDomain *dom, int status);

static void on_child_exit(GPid pid, gint status, gpointer data)
{
    HvdDomain *dom = data;
    g_spawn_close_pid(pid);
    dom->child_watch = 0; /* the source is being removed */
    if (dom->kill_timer) {
        g_source_remove(dom->kill_timer);
        dom->kill_timer = 0;
    }
    worker_gone(dom, status);
}

static void worker_gone(HvdDomain *dom, int status)
{
    dom->exited = true;
    dom->exit_status = status;
    /* What the worker said last (a SHUTDOWN event, a reply) may still be
     * unread in the monitor socket: let the monitor read up to its end of
     * file first, but not for long. */
    if (dom->mon && !dom->mon_closed && !dom->starting) {
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
    if (dom->destroy_graceful) {
        GError *e = g_error_new(HVD_VIR_ERROR,
                                HVD_VIR_ERROR_PACK(VIR_FROM_QEMU, VIR_ERR_OPERATION_FAILED),
                                "operation failed: failed to kill qemu process with SIGTERM");
        dom->destroy_requested = false;
        waiters_finish(&dom->destroy_waiters, dom, NULL, e);
        g_error_free(e);
        return G_SOURCE_REMOVE;
    }
    log_warn("domain %s: worker %d ignored SIGTERM, sending SIGKILL", dom->def->name,
             (int)dom->pid);
    kill(dom->pid, SIGKILL);
    return G_SOURCE_REMOVE;
}

static void kill_worker(HvdDomain *dom, bool graceful)
{
    dom->destroy_requested = true;
    dom->destroy_graceful = graceful;
    if (dom->pid > 0 && kill(dom->pid, SIGTERM) != 0 && errno != ESRCH)
        log_warn("domain %s: kill(%d): %s", dom->def->name, (int)dom->pid, g_strerror(errno));
    if (!dom->kill_timer)
        dom->kill_timer = g_timeout_add_full(G_PRIORITY_DEFAULT, (guint)drv.destroy_grace_ms,
                                             on_kill_timer, hvd_domain_ref(dom),
                                             (GDestroyNotify)hvd_domain_unref);
}

/* ------------------------------------------------------------ monitor */

static void set_paused(HvdDomain *dom, int reason)
{
    if (dom->state != VIR_DOMAIN_RUNNING)
        return;
    set_state(dom, VIR_DOMAIN_PAUSED, reason);
    emit(dom, VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
}

static void set_running(HvdDomain *dom, int reason)
{
    if (dom->state != VIR_DOMAIN_PAUSED)
        return;
    set_state(dom, VIR_DOMAIN_RUNNING, reason);
    emit(dom, VIR_DOMAIN_EVENT_RESUMED, VIR_DOMAIN_EVENT_RESUMED_UNPAUSED);
}

/* Events the worker sends (qmp.md §4). */
static void on_monitor_event(HvdMonitor *mon, const char *event, struct json_object *data,
                             gint64 seconds, gint64 micros, gpointer user_data)
{
    (void)mon;
    (void)seconds;
    (void)micros;
    HvdDomain *dom = user_data;
    if (dom->starting)
        return;
    if (strcmp(event, "STOP") == 0) {
        /* libvirt ignores the STOP a -no-shutdown QEMU sends after SHUTDOWN:
         * the domain is shutting down (or fake-rebooting), not paused. */
        if (dom->got_shutdown)
            return;
        set_paused(dom, dom->pause_reason ? dom->pause_reason : VIR_DOMAIN_PAUSED_UNKNOWN);
        dom->pause_reason = 0;
    } else if (strcmp(event, "RESUME") == 0) {
        set_running(dom, VIR_DOMAIN_RUNNING_UNPAUSED);
    } else if (strcmp(event, "SHUTDOWN") == 0) {
        json_object *guest = NULL, *why = NULL;
        bool by_guest = data && json_object_object_get_ex(data, "guest", &guest) &&
                        json_object_get_boolean(guest);
        /* The guest powered off (not a reset with on_reboot exit, not the
         * worker quitting): the worker, run with no_shutdown, waits for us. */
        bool powered_off = data && json_object_object_get_ex(data, "reason", &why) &&
                           g_strcmp0(json_object_get_string(why), "guest-shutdown") == 0;
        bool was_shutdown = dom->got_shutdown;
        dom->got_shutdown = true;
        if (powered_off && !was_shutdown && !dom->destroy_requested &&
            dom->state == VIR_DOMAIN_RUNNING &&
            (dom->fake_reboot || dom->def->on_poweroff == DOMAIN_LIFECYCLE_RESTART)) {
            /* qemuProcessHandleShutdown: a fake reboot's shutdown is
             * transient: no state change, no event. */
            guest_powered_off(dom);
            return;
        }
        if (dom->state != VIR_DOMAIN_SHUTDOWN) {
            set_state(dom, VIR_DOMAIN_SHUTDOWN, VIR_DOMAIN_SHUTDOWN_USER);
            emit(dom, VIR_DOMAIN_EVENT_SHUTDOWN,
                 by_guest ? VIR_DOMAIN_EVENT_SHUTDOWN_GUEST : VIR_DOMAIN_EVENT_SHUTDOWN_HOST);
        }
        if (powered_off && !was_shutdown)
            guest_powered_off(dom);
    } else if (strcmp(event, "BALLOON_CHANGE") == 0) {
        json_object *actual = NULL;
        if (data && json_object_object_get_ex(data, "actual", &actual) &&
            json_object_is_type(actual, json_type_int) && json_object_get_int64(actual) > 0) {
            dom->balloon_kib = (uint64_t)json_object_get_int64(actual) / 1024;
            /* libvirt: VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE, actual in KiB. */
            emit_other(dom, VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE, dom->balloon_kib);
        }
    } else if (strcmp(event, "RESET") == 0) {
        /* The guest (or system_reset) reset the machine: libvirt's QEMU
         * driver reports VIR_DOMAIN_EVENT_ID_REBOOT. */
        emit_other(dom, VIR_DOMAIN_EVENT_ID_REBOOT, 0);
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
    dom->mon_closed = true;
    if (dom->exited && dom->drain_timer) {
        g_source_remove(dom->drain_timer);
        dom->drain_timer = g_idle_add_full(G_PRIORITY_DEFAULT, on_drain_done, hvd_domain_ref(dom),
                                           (GDestroyNotify)hvd_domain_unref);
    }
}

static void ignore_reply(HvdMonitor *mon, struct json_object *ret, const char *error_class,
                         const GError *err, gpointer user_data)
{
    (void)mon;
    (void)ret;
    (void)error_class;
    (void)user_data;
    if (err)
        log_warn("monitor command failed: %s", err->message);
}

static void start_finish(HvdDomain *dom)
{
    dom->starting = false;
    set_state(dom, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_BOOTED);
    log_info("domain %s started (id %d, pid %d)", dom->def->name, dom->id, (int)dom->pid);
    status_write(dom);
    emit(dom, VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_BOOTED);
    if (dom->start_paused && dom->mon) {
        /* START_PAUSED: the worker has no -S yet, so pause right away. */
        dom->pause_reason = VIR_DOMAIN_PAUSED_USER;
        hvd_monitor_command(dom->mon, "stop", NULL, ignore_reply, NULL);
        set_paused(dom, VIR_DOMAIN_PAUSED_USER);
    }
    waiters_finish(&dom->start_waiters, dom, NULL, NULL);
}

static void on_monitor_ready(HvdMonitor *mon, const GError *err, gpointer user_data)
{
    (void)mon;
    HvdDomain *dom = user_data;
    if (!dom->starting || dom->mon != mon) {
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

static bool start_worker(HvdDomain *dom, unsigned flags, GError **err)
{
    g_autoptr(HvdProcessPaths) paths = hvd_process_paths_new(drv.run_dir, drv.log_dir,
                                                             dom->def->name);
    if (!hvd_storage_chain_probe(dom->def, err))
        return false;
    g_autoptr(HvdInterfaces) ifs = NULL;
    if (dom->def->nets->len > 0 && !(ifs = hvd_interfaces_open(dom->def, drv.vhost_net_path, err)))
        return false;
    g_autofree char *json = hvd_process_machine_json(dom->def, paths, ifs, err);
    if (!json)
        return false;
    if (!hostdevs_prepare(dom->def, err))
        return false;
    unlink(paths->monitor); /* a stale socket would look ready */
    GPid pid = 0;
    if (!hvd_process_spawn(drv.emulator, paths, json, ifs, &pid, err)) {
        hostdevs_release(dom->def);
        return false;
    }
    /* The worker has its copies now; ours would keep the taps alive after it. */
    hvd_interfaces_close_fds(ifs);
    g_strfreev(dom->net_ifnames);
    dom->net_ifnames = ifs ? hvd_interfaces_ifnames(ifs) : NULL;
    hvd_process_paths_free(dom->paths);
    dom->paths = g_steal_pointer(&paths);
    dom->pid = pid;
    dom->id = drv.next_id++;
    dom->starting = true;
    dom->start_paused = flags & VIR_DOMAIN_START_PAUSED;
    dom->destroy_requested = false;
    dom->got_shutdown = false;
    dom->fake_reboot = false;
    dom->exited = false;
    dom->mon_closed = false;
    dom->pause_reason = 0;
    dom->balloon_kib = dom->def->current_memory_kib;
    g_free(dom->started_xml);
    dom->started_xml = domain_def_format(dom->def, NULL);
    set_state(dom, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_STARTING_UP);
    dom->child_watch = g_child_watch_add_full(G_PRIORITY_DEFAULT, pid, on_child_exit,
                                              hvd_domain_ref(dom),
                                              (GDestroyNotify)hvd_domain_unref);
    dom->mon = hvd_monitor_new(dom->paths->monitor, dom->def->name, NULL);
    hvd_monitor_set_event_handler(dom->mon, on_monitor_event, dom);
    hvd_monitor_set_closed_handler(dom->mon, on_monitor_closed, dom);
    log_info("domain %s: worker pid %d spawned (id %d)", dom->def->name, (int)pid, dom->id);
    domain_console_open(dom, drv.monitor_timeout_ms);
    hvd_monitor_connect(dom->mon, drv.monitor_timeout_ms, on_monitor_ready, hvd_domain_ref(dom));
    return true;
}

static const unsigned start_flags_allowed = VIR_DOMAIN_START_PAUSED | VIR_DOMAIN_START_AUTODESTROY |
                                            VIR_DOMAIN_START_BYPASS_CACHE |
                                            VIR_DOMAIN_START_FORCE_BOOT |
                                            VIR_DOMAIN_START_VALIDATE |
                                            VIR_DOMAIN_START_RESET_NVRAM;

void hvd_domain_start(HvdDomain *dom, unsigned flags, HvdDomainDoneFunc fn, gpointer user_data)
{
    GError *err = NULL;
    if (!check_flags(flags, start_flags_allowed, "qemuDomainCreateWithFlags", &err))
        return fail_now(dom, fn, user_data, err);
    if (hvd_domain_is_active(dom)) {
        hvd_vir_error_set(&err, VIR_FROM_QEMU, VIR_ERR_OPERATION_INVALID, "%s",
                          "domain is already running");
        return fail_now(dom, fn, user_data, err);
    }
    if (!start_worker(dom, flags, &err))
        return fail_now(dom, fn, user_data, err);
    waiter_add(&dom->start_waiters, fn, user_data);
}

HvdDomain *hvd_driver_create_xml(const char *xml, unsigned flags, HvdDomainDoneFunc fn,
                                 gpointer user_data, GError **err)
{
    if (!check_flags(flags, start_flags_allowed & ~VIR_DOMAIN_START_FORCE_BOOT,
                     "qemuDomainCreateXML", err))
        return NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(xml, 0, err);
    if (!def)
        return NULL;
    HvdDomain *dom = NULL;
    if (!check_identity(def, &dom, err))
        return NULL;
    if (dom && hvd_domain_is_active(dom)) {
        hvd_vir_error_set(err, VIR_FROM_DOMAIN, VIR_ERR_OPERATION_INVALID,
                          "domain '%s' is already active", def->name);
        return NULL;
    }
    bool is_new = !dom;
    if (dom) {
        /* An inactive persistent domain runs the given XML this time; its
         * config comes back when it stops. */
        dom->newdef = dom->def;
        dom->def = g_steal_pointer(&def);
        hvd_domain_ref(dom);
    } else {
        dom = domain_new(g_steal_pointer(&def));
        list_add(dom);
    }
    if (!start_worker(dom, flags, err)) {
        if (is_new) {
            list_remove(dom);
        } else {
            domain_def_free(dom->def);
            dom->def = g_steal_pointer(&dom->newdef);
        }
        hvd_domain_unref(dom);
        return NULL;
    }
    waiter_add(&dom->start_waiters, fn, user_data);
    return dom;
}

void hvd_domain_destroy(HvdDomain *dom, unsigned flags, HvdDomainDoneFunc fn, gpointer user_data)
{
    GError *err = NULL;
    if (!check_flags(flags, VIR_DOMAIN_DESTROY_GRACEFUL | VIR_DOMAIN_DESTROY_REMOVE_LOGS,
                     "qemuDomainDestroyFlags", &err))
        return fail_now(dom, fn, user_data, err);
    if (!hvd_domain_is_active(dom)) {
        not_running_error(&err);
        return fail_now(dom, fn, user_data, err);
    }
    waiter_add(&dom->destroy_waiters, fn, user_data);
    kill_worker(dom, flags & VIR_DOMAIN_DESTROY_GRACEFUL);
}

/* ---- commands through the monitor */

typedef enum { OP_SUSPEND, OP_RESUME, OP_SHUTDOWN, OP_REBOOT, OP_SETMEM, OP_RAW } MonOpKind;

typedef struct {
    HvdDomain *dom;
    MonOpKind kind;
    HvdDomainDoneFunc fn;
    gpointer data;
    uint64_t kib;          /* OP_SETMEM */
    bool also_config;      /* OP_SETMEM: update the persistent config afterwards */
    const char *cmd;       /* for error texts */
} MonOp;

static bool monitor_usable(HvdDomain *dom, GError **err)
{
    if (!hvd_domain_is_active(dom)) {
        not_running_error(err);
        return false;
    }
    if (dom->starting || !dom->mon || !hvd_monitor_is_ready(dom->mon)) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_OPERATION_INVALID, "%s",
                          "domain is still starting up: its monitor is not connected yet");
        return false;
    }
    return true;
}

static void setmem_config(HvdDomain *dom, uint64_t kib, GError **err);

static void on_monop_reply(HvdMonitor *mon, struct json_object *ret, const char *error_class,
                           const GError *err, gpointer user_data)
{
    (void)mon;
    MonOp *op = user_data;
    HvdDomain *dom = op->dom;
    GError *own = NULL;
    const char *result = NULL;
    if (err && op->kind == OP_SETMEM && error_class &&
        (strcmp(error_class, "DeviceNotActive") == 0 ||
         strcmp(error_class, "CommandNotFound") == 0)) {
        /* libvirt's text when the worker has no (active) balloon. */
        hvd_vir_error_set(&own, VIR_FROM_QEMU, VIR_ERR_OPERATION_INVALID, "%s",
                          "Unable to change memory of active domain without the balloon device "
                          "and guest OS balloon driver");
        err = own;
    }
    if (!err) {
        switch (op->kind) {
        case OP_SUSPEND:
            set_paused(dom, VIR_DOMAIN_PAUSED_USER);
            break;
        case OP_RESUME:
            set_running(dom, VIR_DOMAIN_RUNNING_UNPAUSED);
            break;
        case OP_SETMEM:
            dom->balloon_kib = op->kib;
            if (op->also_config)
                setmem_config(dom, op->kib, &own);
            err = own;
            break;
        case OP_RAW:
            /* HMP: the output text is the "return" string. */
            result = ret && json_object_is_type(ret, json_type_string)
                         ? json_object_get_string(ret) : "";
            break;
        default:
            break;
        }
    }
    op->fn(dom, result, err, op->data);
    g_clear_error(&own);
    hvd_domain_unref(dom);
    g_free(op);
}

static void on_monop_raw(HvdMonitor *mon, const char *reply, const GError *err, gpointer user_data)
{
    (void)mon;
    MonOp *op = user_data;
    op->fn(op->dom, err ? NULL : reply, err, op->data);
    hvd_domain_unref(op->dom);
    g_free(op);
}

static MonOp *monop_new(HvdDomain *dom, MonOpKind kind, HvdDomainDoneFunc fn, gpointer data)
{
    MonOp *op = g_new0(MonOp, 1);
    op->dom = hvd_domain_ref(dom);
    op->kind = kind;
    op->fn = fn;
    op->data = data;
    return op;
}

/* Send `command` to the worker; its reply answers fn (on_monop_reply). */
static void send_monop(HvdDomain *dom, const char *command, MonOpKind kind,
                       HvdDomainDoneFunc fn, gpointer user_data)
{
    hvd_monitor_command(dom->mon, command, NULL, on_monop_reply,
                        monop_new(dom, kind, fn, user_data));
}

void hvd_domain_suspend(HvdDomain *dom, HvdDomainDoneFunc fn, gpointer user_data)
{
    GError *err = NULL;
    if (!monitor_usable(dom, &err))
        return fail_now(dom, fn, user_data, err);
    if (dom->state == VIR_DOMAIN_PAUSED) /* libvirt: nothing to do */
        return fn(dom, NULL, NULL, user_data);
    dom->pause_reason = VIR_DOMAIN_PAUSED_USER;
    send_monop(dom, "stop", OP_SUSPEND, fn, user_data);
}

void hvd_domain_resume(HvdDomain *dom, HvdDomainDoneFunc fn, gpointer user_data)
{
    GError *err = NULL;
    if (!monitor_usable(dom, &err))
        return fail_now(dom, fn, user_data, err);
    if (dom->state == VIR_DOMAIN_RUNNING)
        return fn(dom, NULL, NULL, user_data);
    send_monop(dom, "cont", OP_RESUME, fn, user_data);
}

void hvd_domain_shutdown(HvdDomain *dom, unsigned flags, HvdDomainDoneFunc fn, gpointer user_data)
{
    /* ACPI power button; the guest decides. A pending reboot becomes a
     * shutdown (qemuDomainShutdownFlags clears fakeReboot). */
    GError *err = NULL;
    if (!check_flags(flags, VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN, "qemuDomainShutdownFlags", &err) ||
        !monitor_usable(dom, &err))
        return fail_now(dom, fn, user_data, err);
    dom->fake_reboot = false;
    send_monop(dom, "system_powerdown", OP_SHUTDOWN, fn, user_data);
}

void hvd_domain_reboot(HvdDomain *dom, unsigned flags, HvdDomainDoneFunc fn, gpointer user_data)
{
    /* libvirt's default (ACPI) reboot is a "fake reboot": the power button,
     * and once the guest is off the same worker is reset and continues
     * (guest_powered_off). With <on_reboot> destroy or preserve libvirt
     * shuts the domain down instead. */
    GError *err = NULL;
    if (!check_flags(flags, VIR_DOMAIN_REBOOT_ACPI_POWER_BTN, "qemuDomainReboot", &err) ||
        !monitor_usable(dom, &err))
        return fail_now(dom, fn, user_data, err);
    dom->fake_reboot = dom->def->on_reboot != DOMAIN_LIFECYCLE_DESTROY &&
                       dom->def->on_reboot != DOMAIN_LIFECYCLE_PRESERVE;
    send_monop(dom, "system_powerdown", OP_REBOOT, fn, user_data);
}

/* ---- the guest powered off (SHUTDOWN "guest-shutdown"): the worker,
 * started with no_shutdown, stopped and waits (qemuProcessShutdownOrReboot). */

static void terminate_after_shutdown(HvdDomain *dom)
{
    /* libvirt kills QEMU (SIGTERM) once the guest is off; its exit then
     * shuts the domain off with reason shutdown (got_shutdown). */
    if (dom->pid > 0 && kill(dom->pid, SIGTERM) != 0 && errno != ESRCH)
        log_warn("domain %s: kill(%d): %s", dom->def->name, (int)dom->pid, g_strerror(errno));
}

static void on_fake_reboot_cont(HvdMonitor *mon, struct json_object *ret, const char *error_class,
                                const GError *err, gpointer user_data)
{
    (void)ret;
    (void)error_class;
    HvdDomain *dom = user_data;
    if (hvd_domain_is_active(dom) && dom->mon == mon) {
        if (err) {
            log_warn("domain %s: fake reboot failed: %s", dom->def->name, err->message);
            terminate_after_shutdown(dom);
        } else {
            log_info("domain %s: rebooted (reset after the guest powered off)", dom->def->name);
            dom->got_shutdown = false;
            set_state(dom, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_BOOTED);
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
            hvd_monitor_command(dom->mon, "system_reset", NULL, ignore_reply, NULL);
            hvd_monitor_command(dom->mon, "cont", NULL, on_fake_reboot_cont, hvd_domain_ref(dom));
            return;
        }
    }
    if (dom->def->on_poweroff == DOMAIN_LIFECYCLE_PRESERVE)
        return; /* stays stopped in state shutdown until destroyed */
    terminate_after_shutdown(dom);
}

static void keep_config_apart(HvdDomain *dom);

/* The persistent config a --config change may modify: a running domain's
 * own copy, so the change waits for the next start (libvirt's newDef). */
static DomainDef *config_for_change(HvdDomain *dom)
{
    if (hvd_domain_is_active(dom))
        keep_config_apart(dom);
    return persistent_def(dom);
}

static void setmem_config(HvdDomain *dom, uint64_t kib, GError **err)
{
    DomainDef *def = config_for_change(dom);
    uint64_t old = def->current_memory_kib;
    def->current_memory_kib = kib;
    if (!save_config(def, err))
        def->current_memory_kib = old;
}

/* virDomainObjGetDefs: which definitions a modification-impact flag set
 * (CURRENT 0, LIVE, CONFIG) touches, with the conf code's refusals. */
static bool modification_impact(HvdDomain *dom, unsigned flags, bool *live, bool *config,
                                GError **err)
{
    *live = flags & VIR_DOMAIN_AFFECT_LIVE;
    *config = flags & VIR_DOMAIN_AFFECT_CONFIG;
    if (!*live && !*config) {
        *live = hvd_domain_is_active(dom);
        *config = !*live;
    }
    if (*live && !hvd_domain_is_active(dom)) {
        not_running_error(err);
        return false;
    }
    if (*config && !dom->persistent) {
        hvd_vir_error_set(err, VIR_FROM_DOMAIN, VIR_ERR_OPERATION_INVALID, "%s",
                          "transient domains do not have any persistent config");
        return false;
    }
    return true;
}

void hvd_domain_set_memory(HvdDomain *dom, uint64_t kib, unsigned flags, HvdDomainDoneFunc fn,
                           gpointer user_data)
{
    GError *err = NULL;
    const unsigned allowed = VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG |
                             VIR_DOMAIN_MEM_MAXIMUM;
    if (!check_flags(flags, allowed, "qemuDomainSetMemoryFlags", &err))
        return fail_now(dom, fn, user_data, err);
    bool live, config;
    if (!modification_impact(dom, flags, &live, &config, &err))
        return fail_now(dom, fn, user_data, err);
    if (flags & VIR_DOMAIN_MEM_MAXIMUM) {
        /* qemuDomainSetMemoryFlags: the maximum of a running guest is fixed
         * (virsh setmaxmem --live); --config changes the next boot's. */
        if (live) {
            hvd_vir_error_set(&err, VIR_FROM_QEMU, VIR_ERR_OPERATION_INVALID, "%s",
                              "cannot resize the maximum memory on an active domain");
            return fail_now(dom, fn, user_data, err);
        }
        DomainDef *def = config_for_change(dom);
        uint64_t old_max = def->memory_kib, old_cur = def->current_memory_kib;
        def->memory_kib = kib;
        if (def->current_memory_kib > kib)
            def->current_memory_kib = kib;
        if (!save_config(def, &err)) {
            def->memory_kib = old_max;
            def->current_memory_kib = old_cur;
            return fail_now(dom, fn, user_data, err);
        }
        return fn(dom, NULL, NULL, user_data);
    }
    /* The limit is the smaller maximum of the definitions touched. */
    uint64_t max = live ? dom->def->memory_kib : UINT64_MAX;
    if (config && persistent_def(dom)->memory_kib < max)
        max = persistent_def(dom)->memory_kib;
    if (kib > max) {
        hvd_vir_error_set(&err, VIR_FROM_QEMU, VIR_ERR_INVALID_ARG, "%s",
                          "cannot set memory higher than max memory");
        return fail_now(dom, fn, user_data, err);
    }
    if (!live) {
        setmem_config(dom, kib, &err);
        if (err)
            return fail_now(dom, fn, user_data, err);
        return fn(dom, NULL, NULL, user_data);
    }
    if (!dom->def->balloon.enabled) {
        hvd_vir_error_set(&err, VIR_FROM_QEMU, VIR_ERR_OPERATION_INVALID, "%s",
                          "Unable to change memory of active domain without the balloon device "
                          "and guest OS balloon driver");
        return fail_now(dom, fn, user_data, err);
    }
    if (!monitor_usable(dom, &err))
        return fail_now(dom, fn, user_data, err);
    MonOp *op = monop_new(dom, OP_SETMEM, fn, user_data);
    op->kib = kib;
    op->also_config = config;
    json_object *args = json_object_new_object();
    /* QMP balloon takes bytes (qmp.md). */
    json_object_object_add(args, "value", json_object_new_int64((int64_t)(kib * 1024)));
    hvd_monitor_command(dom->mon, "balloon", args, on_monop_reply, op);
    json_object_put(args);
}

void hvd_domain_monitor_command(HvdDomain *dom, const char *cmd, bool hmp, HvdDomainDoneFunc fn,
                                gpointer user_data)
{
    GError *err = NULL;
    if (!monitor_usable(dom, &err))
        return fail_now(dom, fn, user_data, err);
    MonOp *op = monop_new(dom, OP_RAW, fn, user_data);
    if (hmp) {
        json_object *args = json_object_new_object();
        json_object_object_add(args, "command-line", json_object_new_string(cmd));
        hvd_monitor_command(dom->mon, "human-monitor-command", args, on_monop_reply, op);
        json_object_put(args);
    } else {
        hvd_monitor_command_raw(dom->mon, cmd, on_monop_raw, op);
    }
}

/* ------------------------------------------------------------ memory stats */

/* The balloon's QOM path as libvirt finds it for alias balloon0. */
#define BALLOON_QOM_PATH "/machine/peripheral/balloon0"

enum {
    MEMSTAT_ACTUAL = 6, /* virDomainMemoryStatTags (libvirt-rpc.md §13) */
    MEMSTAT_RSS = 7,
    MEMSTAT_LAST_UPDATE = 9,
};

static bool json_u64(json_object *obj, const char *key, uint64_t *out)
{
    json_object *v;
    if (!obj || !json_object_is_type(obj, json_type_object) ||
        !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_int))
        return false;
    /* json-c keeps 2^64-1 as an unsigned value; negative numbers are junk */
    if (json_object_get_int64(v) < 0 && json_object_get_uint64(v) <= INT64_MAX)
        return false;
    *out = json_object_get_uint64(v);
    return true;
}

unsigned hvd_memory_stats_from_replies(json_object *balloon_ret, json_object *guest_stats_ret,
                                       uint64_t rss_kib, HvdMemoryStat *out, unsigned max)
{
    /* QEMU's guest-stats member → libvirt tag; sizes arrive in bytes. The
     * order is qemuMonitorJSONGetMemoryStats's. */
    static const struct {
        const char *member;
        int tag;
        bool bytes;
        bool top_level; /* "last-update" sits beside "stats" */
    } map[] = {
        { "stat-swap-in", 0, true, false },
        { "stat-swap-out", 1, true, false },
        { "stat-major-faults", 2, false, false },
        { "stat-minor-faults", 3, false, false },
        { "stat-free-memory", 4, true, false },
        { "stat-total-memory", 5, true, false },
        { "stat-available-memory", 8, true, false },
        { "last-update", MEMSTAT_LAST_UPDATE, false, true },
        { "stat-disk-caches", 10, true, false },
        { "stat-htlb-pgalloc", 11, false, false },
        { "stat-htlb-pgfail", 12, false, false },
    };
    unsigned n = 0;
    uint64_t v;
    if (n < max && json_u64(balloon_ret, "actual", &v))
        out[n++] = (HvdMemoryStat){ MEMSTAT_ACTUAL, v / 1024 };
    json_object *stats = NULL;
    if (guest_stats_ret && json_object_is_type(guest_stats_ret, json_type_object))
        json_object_object_get_ex(guest_stats_ret, "stats", &stats);
    if (stats) {
        for (size_t i = 0; i < G_N_ELEMENTS(map) && n < max; i++) {
            if (!json_u64(map[i].top_level ? guest_stats_ret : stats, map[i].member, &v))
                continue;
            if (v == UINT64_MAX) /* the guest never sent this one */
                continue;
            out[n++] = (HvdMemoryStat){ map[i].tag, map[i].bytes ? v / 1024 : v };
        }
    }
    if (rss_kib && n < max)
        out[n++] = (HvdMemoryStat){ MEMSTAT_RSS, rss_kib };
    return n;
}

/* Resident set of the worker in KiB (field 24 of /proc/PID/stat, in
 * pages; proc(5)), 0 when it cannot be read. */
static uint64_t worker_rss_kib(GPid pid)
{
    if (pid <= 0)
        return 0;
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return 0;
    /* the command name may hold spaces and parentheses: skip past the last ')' */
    const char *p = strrchr(text, ')');
    if (!p)
        return 0;
    p++;
    /* fields 3 (state) .. 23 are 21 tokens; the next one is rss */
    for (int field = 3; field <= 24; field++) {
        while (*p == ' ')
            p++;
        if (field == 24) {
            long long pages = g_ascii_strtoll(p, NULL, 10);
            long page = sysconf(_SC_PAGESIZE);
            return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page / 1024 : 0;
        }
        p = strchr(p, ' ');
        if (!p)
            return 0;
    }
    return 0;
}

typedef struct {
    HvdDomain *dom;
    unsigned max;
    HvdDomainMemoryStatsFunc fn;
    gpointer data;
    json_object *balloon_ret; /* query-balloon's return, or NULL */
} MemStatsOp;

static void memstats_finish(MemStatsOp *op, json_object *guest_stats_ret, const GError *err)
{
    HvdMemoryStat stats[HVD_MEMORY_STAT_NR];
    unsigned n = 0;
    if (!err)
        n = hvd_memory_stats_from_replies(op->balloon_ret, guest_stats_ret,
                                          worker_rss_kib(op->dom->pid), stats,
                                          MIN(op->max, (unsigned)HVD_MEMORY_STAT_NR));
    op->fn(op->dom, err ? NULL : stats, n, err, op->data);
    json_object_put(op->balloon_ret);
    hvd_domain_unref(op->dom);
    g_free(op);
}

static void on_guest_stats_reply(HvdMonitor *mon, json_object *ret, const char *error_class,
                                 const GError *err, gpointer user_data)
{
    (void)mon;
    MemStatsOp *op = user_data;
    if (err && error_class) {
        /* The worker answered but has no guest stats to give: report what
         * there is (actual, rss) rather than fail the whole call. */
        log_debug("%s: qom-get guest-stats: %s", hvd_domain_name(op->dom), err->message);
        return memstats_finish(op, NULL, NULL);
    }
    memstats_finish(op, ret, err);
}

static void on_query_balloon_reply(HvdMonitor *mon, json_object *ret, const char *error_class,
                                   const GError *err, gpointer user_data)
{
    MemStatsOp *op = user_data;
    /* DeviceNotActive: no balloon in the worker (libvirt then leaves actual out). */
    if (err && !(error_class && strcmp(error_class, "DeviceNotActive") == 0))
        return memstats_finish(op, NULL, err);
    if (!err)
        op->balloon_ret = json_object_get(ret);
    json_object *args = json_object_new_object();
    json_object_object_add(args, "path", json_object_new_string(BALLOON_QOM_PATH));
    json_object_object_add(args, "property", json_object_new_string("guest-stats"));
    hvd_monitor_command(mon, "qom-get", args, on_guest_stats_reply, op);
    json_object_put(args);
}

void hvd_domain_memory_stats(HvdDomain *dom, unsigned max, unsigned flags,
                             HvdDomainMemoryStatsFunc fn, gpointer user_data)
{
    GError *err = NULL;
    if (!check_flags(flags, 0, "qemuDomainMemoryStats", &err) ||
        (!hvd_domain_is_active(dom) && (not_running_error(&err), true))) {
        fn(dom, NULL, 0, err, user_data);
        g_error_free(err);
        return;
    }
    max = MIN(max, (unsigned)HVD_MEMORY_STAT_NR);
    if (!dom->def->balloon.enabled) {
        /* qemuDomainMemoryStatsInternal without a balloon: rss only. */
        HvdMemoryStat rss = { MEMSTAT_RSS, worker_rss_kib(dom->pid) };
        fn(dom, &rss, max > 0 && rss.val ? 1 : 0, NULL, user_data);
        return;
    }
    if (!monitor_usable(dom, &err)) {
        fn(dom, NULL, 0, err, user_data);
        g_error_free(err);
        return;
    }
    MemStatsOp *op = g_new0(MemStatsOp, 1);
    op->dom = hvd_domain_ref(dom);
    op->max = max;
    op->fn = fn;
    op->data = user_data;
    hvd_monitor_command(dom->mon, "query-balloon", NULL, on_query_balloon_reply, op);
}

typedef struct {
    HvdDomain *dom;
    unsigned period;
    bool also_config;
    HvdDomainDoneFunc fn;
    gpointer data;
} StatsPeriodOp;

static void set_stats_period(DomainMemballoon *b, unsigned period)
{
    /* period 0 = no polling, written as no <stats> (as libvirt does) */
    b->has_stats_period = period > 0;
    b->stats_period = period;
}

static void stats_period_config(HvdDomain *dom, unsigned period, GError **err)
{
    DomainDef *def = config_for_change(dom);
    DomainMemballoon old = def->balloon;
    set_stats_period(&def->balloon, period);
    if (!save_config(def, err))
        def->balloon = old;
}

/* A live-only change must not reach the persistent config: give a running
 * persistent domain its own copy of the config first (it comes back as
 * the definition when the domain stops). */
static void keep_config_apart(HvdDomain *dom)
{
    if (!dom->persistent || dom->newdef)
        return;
    g_autofree char *xml = domain_def_format(dom->def, NULL);
    GError *err = NULL;
    dom->newdef = domain_def_parse_string(xml, 0, &err);
    if (!dom->newdef) {
        log_warn("%s: cannot copy the config: %s", hvd_domain_name(dom), err->message);
        g_error_free(err);
    }
}

static void on_stats_period_reply(HvdMonitor *mon, json_object *ret, const char *error_class,
                                  const GError *err, gpointer user_data)
{
    (void)mon;
    (void)ret;
    (void)error_class;
    StatsPeriodOp *op = user_data;
    GError *own = NULL;
    if (err) {
        log_warn("%s: qom-set guest-stats-polling-interval: %s", hvd_domain_name(op->dom),
                 err->message);
        /* qemuDomainSetMemoryStatsPeriod's text */
        hvd_vir_error_set(&own, VIR_FROM_QEMU, VIR_ERR_OPERATION_INVALID, "%s",
                          "unable to set balloon driver collection period");
    } else {
        keep_config_apart(op->dom);
        set_stats_period(&op->dom->def->balloon, op->period);
        status_write(op->dom);
        if (op->also_config)
            stats_period_config(op->dom, op->period, &own);
    }
    op->fn(op->dom, NULL, own, op->data);
    g_clear_error(&own);
    hvd_domain_unref(op->dom);
    g_free(op);
}

void hvd_domain_set_memory_stats_period(HvdDomain *dom, int period, unsigned flags,
                                        HvdDomainDoneFunc fn, gpointer user_data)
{
    GError *err = NULL;
    if (!check_flags(flags, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG,
                     "qemuDomainSetMemoryStatsPeriod", &err))
        return fail_now(dom, fn, user_data, err);
    if (period < 0) {
        hvd_vir_error_set(&err, VIR_FROM_DOMAIN, VIR_ERR_INVALID_ARG, "%s",
                          "period in virDomainSetMemoryStatsPeriod must not be negative");
        return fail_now(dom, fn, user_data, err);
    }
    bool live, config;
    if (!modification_impact(dom, flags, &live, &config, &err))
        return fail_now(dom, fn, user_data, err);
    if ((live && !dom->def->balloon.enabled) ||
        (config && !persistent_def(dom)->balloon.enabled)) {
        hvd_vir_error_set(&err, VIR_FROM_QEMU, VIR_ERR_OPERATION_INVALID, "%s",
                          "No memory balloon device configured, can not set the collection "
                          "period");
        return fail_now(dom, fn, user_data, err);
    }
    if (!live) {
        stats_period_config(dom, (unsigned)period, &err);
        if (err)
            return fail_now(dom, fn, user_data, err);
        return fn(dom, NULL, NULL, user_data);
    }
    if (!monitor_usable(dom, &err))
        return fail_now(dom, fn, user_data, err);
    StatsPeriodOp *op = g_new0(StatsPeriodOp, 1);
    op->dom = hvd_domain_ref(dom);
    op->period = (unsigned)period;
    op->also_config = config;
    op->fn = fn;
    op->data = user_data;
    json_object *args = json_object_new_object();
    json_object_object_add(args, "path", json_object_new_string(BALLOON_QOM_PATH));
    json_object_object_add(args, "property", json_object_new_string("guest-stats-polling-interval"));
    json_object_object_add(args, "value", json_object_new_int64(period));
    hvd_monitor_command(dom->mon, "qom-set", args, on_stats_period_reply, op);
    json_object_put(args);
}

/* ------------------------------------------------------------ block stats */

/* One query-blockstats entry's BlockDeviceStats (qmp.md §5). The first four
 * are mandatory for libvirt (qemuMonitorJSONGetOneBlockStatsInfo); returns
 * how many counters were present, -1 when a mandatory one is missing. */
static int block_stats_entry(json_object *stats, HvdBlockStats *sum, GError **err)
{
    static const struct {
        const char *key;
        size_t offset;
        bool mandatory;
    } fields[] = {
        { "rd_bytes", G_STRUCT_OFFSET(HvdBlockStats, rd_bytes), true },
        { "wr_bytes", G_STRUCT_OFFSET(HvdBlockStats, wr_bytes), true },
        { "rd_operations", G_STRUCT_OFFSET(HvdBlockStats, rd_req), true },
        { "wr_operations", G_STRUCT_OFFSET(HvdBlockStats, wr_req), true },
        { "rd_total_time_ns", G_STRUCT_OFFSET(HvdBlockStats, rd_total_times), false },
        { "wr_total_time_ns", G_STRUCT_OFFSET(HvdBlockStats, wr_total_times), false },
        { "flush_operations", G_STRUCT_OFFSET(HvdBlockStats, flush_req), false },
        { "flush_total_time_ns", G_STRUCT_OFFSET(HvdBlockStats, flush_total_times), false },
    };
    int found = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(fields); i++) {
        json_object *v = NULL;
        if (!json_object_object_get_ex(stats, fields[i].key, &v) ||
            !json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) {
            if (fields[i].mandatory) {
                hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_INTERNAL_ERROR,
                                  "cannot read %s statistic", fields[i].key);
                return -1;
            }
            continue;
        }
        if (sum) {
            int64_t *slot = G_STRUCT_MEMBER_P(sum, fields[i].offset);
            *slot += json_object_get_int64(v);
        }
        found++;
    }
    return found;
}

static bool entry_named(json_object *entry, const char *name)
{
    static const char *const keys[] = { "device", "qdev" };
    for (size_t k = 0; k < G_N_ELEMENTS(keys); k++) {
        json_object *v = NULL;
        if (json_object_object_get_ex(entry, keys[k], &v) &&
            json_object_is_type(v, json_type_string) && strcmp(json_object_get_string(v), name) == 0)
            return true;
    }
    return false;
}

int hvd_block_stats_from_reply(json_object *ret, const char *const *names, unsigned n_names,
                               HvdBlockStats *out, GError **err)
{
    memset(out, 0, sizeof(*out));
    if (!ret || !json_object_is_type(ret, json_type_array)) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_INTERNAL_ERROR, "%s",
                          "blockstats reply was missing device list");
        return -1;
    }
    /* libvirt's count: the most counters any entry reports. */
    int nstats = 0;
    size_t n = json_object_array_length(ret);
    for (size_t i = 0; i < n; i++) {
        json_object *entry = json_object_array_get_idx(ret, i);
        json_object *stats = NULL;
        if (!json_object_is_type(entry, json_type_object) ||
            !json_object_object_get_ex(entry, "stats", &stats) ||
            !json_object_is_type(stats, json_type_object)) {
            hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_INTERNAL_ERROR, "%s",
                              "blockstats stats entry was not in expected format");
            return -1;
        }
        int found = block_stats_entry(stats, NULL, err);
        if (found < 0)
            return -1;
        nstats = MAX(nstats, found);
    }
    for (unsigned k = 0; k < n_names; k++) {
        json_object *stats = NULL;
        for (size_t i = 0; i < n && !stats; i++) {
            json_object *entry = json_object_array_get_idx(ret, i);
            if (entry_named(entry, names[k]))
                json_object_object_get_ex(entry, "stats", &stats);
        }
        if (!stats) {
            hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_INTERNAL_ERROR,
                              "cannot find statistics for device '%s'", names[k]);
            return -1;
        }
        block_stats_entry(stats, out, NULL);
    }
    return nstats;
}

typedef struct {
    HvdDomain *dom;
    GPtrArray *names; /* the worker's ids of the disks asked for */
    HvdDomainBlockStatsFunc fn;
    gpointer data;
} BlockStatsOp;

static void on_blockstats_reply(HvdMonitor *mon, json_object *ret, const char *error_class,
                                const GError *err, gpointer user_data)
{
    (void)mon;
    (void)error_class;
    BlockStatsOp *op = user_data;
    HvdBlockStats stats = { 0 };
    GError *own = NULL;
    int nstats = -1;
    if (!err) {
        nstats = hvd_block_stats_from_reply(ret, (const char *const *)op->names->pdata,
                                            op->names->len, &stats, &own);
        err = own;
    }
    op->fn(op->dom, err ? NULL : &stats, err ? -1 : nstats, err, op->data);
    g_clear_error(&own);
    hvd_domain_unref(op->dom);
    g_ptr_array_unref(op->names);
    g_free(op);
}

/* virDomainDiskByName: a disk by target name or by source path. */
static const DomainDisk *disk_by_name(const DomainDef *def, const char *name)
{
    for (guint i = 0; i < def->disks->len; i++) {
        const DomainDisk *d = g_ptr_array_index(def->disks, i);
        if (g_strcmp0(d->target_dev, name) == 0)
            return d;
    }
    for (guint i = 0; i < def->disks->len; i++) {
        const DomainDisk *d = g_ptr_array_index(def->disks, i);
        if (d->source && strcmp(d->source, name) == 0)
            return d;
    }
    return NULL;
}

void hvd_domain_block_stats(HvdDomain *dom, const char *path, HvdDomainBlockStatsFunc fn,
                            gpointer user_data)
{
    GError *err = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    if (!hvd_domain_is_active(dom)) {
        not_running_error(&err);
        goto fail;
    }
    if (path && *path) {
        const DomainDisk *d = disk_by_name(dom->def, path);
        if (!d) {
            hvd_vir_error_set(&err, VIR_FROM_QEMU, VIR_ERR_INVALID_ARG, "invalid path: %s", path);
            goto fail;
        }
        g_ptr_array_add(names, domain_disk_alias(d));
    } else {
        for (guint i = 0; i < dom->def->disks->len; i++)
            g_ptr_array_add(names, domain_disk_alias(g_ptr_array_index(dom->def->disks, i)));
    }
    if (!monitor_usable(dom, &err))
        goto fail;
    BlockStatsOp *op = g_new0(BlockStatsOp, 1);
    op->dom = hvd_domain_ref(dom);
    op->names = g_steal_pointer(&names);
    op->fn = fn;
    op->data = user_data;
    hvd_monitor_command(dom->mon, "query-blockstats", NULL, on_blockstats_reply, op);
    return;
fail:
    fn(dom, NULL, -1, err, user_data);
    g_error_free(err);
}

/* ------------------------------------------------------------ reconnect */

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

static void on_reconnect_status(HvdMonitor *mon, struct json_object *ret, const char *error_class,
                                const GError *err, gpointer user_data)
{
    (void)mon;
    (void)error_class;
    HvdDomain *dom = user_data;
    json_object *running = NULL, *status = NULL;
    if (!err && ret && json_object_object_get_ex(ret, "running", &running) &&
        hvd_domain_is_active(dom)) {
        if (json_object_object_get_ex(ret, "status", &status) &&
            g_strcmp0(json_object_get_string(status), "shutdown") == 0) {
            /* The guest powered off while hvd was away: finish the job
             * (qemuProcessReconnect -> qemuProcessShutdownOrReboot). */
            set_state(dom, VIR_DOMAIN_SHUTDOWN, VIR_DOMAIN_SHUTDOWN_USER);
            dom->got_shutdown = true;
            if (dom->def->on_poweroff != DOMAIN_LIFECYCLE_PRESERVE)
                terminate_after_shutdown(dom);
        } else if (json_object_get_boolean(running))
            set_state(dom, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_UNKNOWN);
        else
            set_state(dom, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_UNKNOWN);
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
        hvd_monitor_command(mon, "query-status", NULL, on_reconnect_status, hvd_domain_ref(dom));
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
    g_autofree char *status_path = run_file(name, ".status");
    g_autofree char *xml_path = run_file(name, ".xml");
    g_autofree char *text = NULL;
    json_object *status = NULL, *v;
    g_autoptr(DomainDef) def = NULL;
    GError *err = NULL;
    if (!g_file_get_contents(status_path, &text, NULL, NULL) ||
        !(status = json_tokener_parse(text)) ||
        !(def = domain_def_parse_file(xml_path, DOMAIN_PARSE_NO_SCHEMA, &err))) {
        log_warn("domain %s: unreadable live state, ignored%s%s", name, err ? ": " : "",
                 err ? err->message : "");
        g_clear_error(&err);
        json_object_put(status);
        status_remove(name);
        return;
    }
    GPid pid = json_object_object_get_ex(status, "pid", &v) ? json_object_get_int(v) : 0;
    int id = json_object_object_get_ex(status, "id", &v) ? json_object_get_int(v) : 0;
    bool persistent = json_object_object_get_ex(status, "persistent", &v) &&
                      json_object_get_boolean(v);
    char **net_ifnames = net_ifnames_from_json(status, def->nets->len);
    json_object_put(status);
    g_autoptr(HvdProcessPaths) paths = hvd_process_paths_new(drv.run_dir, drv.log_dir, def->name);
    if (id <= 0 || !is_our_worker(pid, paths->json)) {
        /* It died while hvd was down. Its taps went with its fds and its
         * VFIO devices go back to the host; a persistent domain stays
         * defined, shut off as crashed. */
        log_info("domain %s: worker %d died while hvd was down, domain shut off (crashed)", name,
                 (int)pid);
        hvd_process_log_line(paths->log, "hvd found worker %d gone: shut off (crashed)", (int)pid);
        HvdDomain *known = find_by_name(name);
        if (known)
            set_state(known, VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_CRASHED);
        status_remove(name);
        hostdevs_release(def);
        g_strfreev(net_ifnames);
        return;
    }
    /* the live XML's backing chains, read again from the worker's images */
    if (!hvd_storage_chain_probe(def, &err)) {
        log_warn("domain %s: %s", name, err->message);
        g_clear_error(&err);
    }
    HvdDomain *dom = find_by_uuid(def->uuid);
    if (dom && strcmp(dom->def->name, def->name) != 0) {
        log_warn("domain %s: live state clashes with domain %s, ignored", name, dom->def->name);
        g_strfreev(net_ifnames);
        return;
    }
    if (dom) {
        hvd_domain_ref(dom);
        dom->newdef = dom->def; /* the saved config comes back at the next stop */
        dom->def = g_steal_pointer(&def);
    } else {
        dom = domain_new(g_steal_pointer(&def));
        list_add(dom);
    }
    dom->persistent = dom->persistent || persistent;
    dom->paths = g_steal_pointer(&paths);
    dom->pid = pid;
    dom->id = id;
    dom->adopted = true;
    g_strfreev(dom->net_ifnames);
    dom->net_ifnames = net_ifnames;
    dom->balloon_kib = dom->def->current_memory_kib;
    drv.next_id = MAX(drv.next_id, id + 1);
    set_state(dom, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_UNKNOWN);
    adopted_watch_start(dom);
    domain_console_open(dom, 5000);
    dom->mon = hvd_monitor_new(dom->paths->monitor, dom->def->name, NULL);
    hvd_monitor_set_event_handler(dom->mon, on_monitor_event, dom);
    hvd_monitor_set_closed_handler(dom->mon, on_monitor_closed, dom);
    hvd_monitor_connect(dom->mon, 5000, on_reconnect_ready, hvd_domain_ref(dom));
    log_info("domain %s: reconnected to worker %d (id %d)", dom->def->name, (int)pid, id);
    hvd_process_log_line(dom->paths->log, "hvd reconnected to worker %d", (int)pid);
    hvd_domain_unref(dom);
}

static void reconnect_all(void)
{
    g_autoptr(GDir) dir = g_dir_open(drv.run_dir, 0, NULL);
    const char *ent;
    while (dir && (ent = g_dir_read_name(dir))) {
        if (ent[0] == '.' || !g_str_has_suffix(ent, ".status"))
            continue;
        g_autofree char *name = g_strndup(ent, strlen(ent) - strlen(".status"));
        reconnect_one(name);
    }
}

/* ------------------------------------------------------------ console, crashes, autostart
 *
 * Guests outlive the daemon: a worker's exit is noticed at once (its child
 * watch, or for a worker adopted after a restart, which is not our child,
 * a pidfd), the domain is shut off with libvirt's reason and event, and
 * <on_crash> decides whether a crashed domain comes back. */

static void domain_console_open(HvdDomain *dom, int connect_timeout_ms)
{
    hvd_console_free(dom->console);
    dom->console = NULL;
    if (dom->paths && dom->paths->console)
        dom->console = hvd_console_new(dom->def->name, dom->paths->console,
                                       dom->paths->console_log, connect_timeout_ms);
}

static void domain_console_close(HvdDomain *dom)
{
    /* An attached `virsh console` sees the end of its stream. */
    g_clear_pointer(&dom->console, hvd_console_free);
    if (dom->paths && dom->paths->console)
        unlink(dom->paths->console);
}

bool hvd_domain_open_console(HvdDomain *dom, const char *dev_name, unsigned flags,
                             const HvdConsoleClientOps *ops, gpointer data, GError **err)
{
    if (!check_flags(flags, VIR_DOMAIN_CONSOLE_FORCE | VIR_DOMAIN_CONSOLE_SAFE,
                     "qemuDomainOpenConsole", err))
        return false;
    if (!hvd_domain_is_active(dom)) {
        not_running_error(err);
        return false;
    }
    /* The one serial port: libvirt's aliases for it, or the default. */
    if (dev_name && strcmp(dev_name, "console0") != 0 && strcmp(dev_name, "serial0") != 0) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_INTERNAL_ERROR,
                          "cannot find character device %s", dev_name);
        return false;
    }
    if (!dom->console) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_OPERATION_UNSUPPORTED,
                          "the serial console of domain '%s' is not available (its worker "
                          "writes the console to a file)",
                          dom->def->name);
        return false;
    }
    return hvd_console_attach(dom->console, flags & VIR_DOMAIN_CONSOLE_FORCE, ops, data, err);
}

void hvd_domain_close_console(HvdDomain *dom, gpointer data)
{
    if (dom->console)
        hvd_console_detach(dom->console, data);
}

void hvd_domain_console_input(HvdDomain *dom, const uint8_t *buf, size_t len, size_t *taken)
{
    *taken = dom->console ? hvd_console_input(dom->console, buf, len) : len;
}

void hvd_domain_console_resume(HvdDomain *dom)
{
    if (dom->console)
        hvd_console_resume_output(dom->console);
}

void hvd_driver_set_other_event_sink(HvdDomainOtherEventFunc fn, gpointer user_data)
{
    drv.other_event_fn = fn;
    drv.other_event_data = user_data;
}

static void emit_other(HvdDomain *dom, int event_id, uint64_t value)
{
    log_debug("domain %s: event %d (%" G_GUINT64_FORMAT ")", dom->def->name, event_id, value);
    if (drv.other_event_fn)
        drv.other_event_fn(dom, event_id, value, drv.other_event_data);
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
    if (dom->pid > 0 && !dom->exited)
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

static void adopted_watch_stop(HvdDomain *dom)
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

/* ---- autostart */

static void on_autostart_done(HvdDomain *dom, const char *result, const GError *err, gpointer data)
{
    (void)result;
    (void)data;
    if (err)
        log_warn("domain %s: autostart failed: %s", dom->def->name, err->message);
    else
        log_info("domain %s: autostarted", dom->def->name);
}

unsigned hvd_driver_autostart(void)
{
    unsigned started = 0;
    g_autoptr(GPtrArray) list = hvd_driver_list(0, NULL);
    for (guint i = 0; list && i < list->len; i++) {
        HvdDomain *d = g_ptr_array_index(list, i);
        /* Workers adopted after a restart are already active. */
        if (!d->autostart || hvd_domain_is_active(d))
            continue;
        log_info("domain %s: autostart", d->def->name);
        hvd_domain_start(d, 0, on_autostart_done, NULL);
        started++;
    }
    return started;
}

/* ------------------------------------------------------------ is updated */

bool hvd_domain_is_updated(const HvdDomain *dom)
{
    /* Only a --config change made while running leaves a pending config
     * (newdef) that differs from what the worker runs; a live-only change
     * also makes a newdef (keep_config_apart) but an unchanged one. */
    if (!hvd_domain_is_active(dom) || !dom->persistent || !dom->newdef)
        return false;
    g_autofree char *pending = domain_def_format(dom->newdef, NULL);
    g_autofree char *started = dom->started_xml ? NULL : domain_def_format(dom->def, NULL);
    return strcmp(pending, dom->started_xml ? dom->started_xml : started) != 0;
}

/* ------------------------------------------------------------ vCPUs */

bool hvd_vcpu_stat_parse(const char *stat_text, uint64_t *cpu_time_ns, int *processor)
{
    /* proc(5): the command name (field 2) may hold spaces and ')' */
    const char *p = stat_text ? strrchr(stat_text, ')') : NULL;
    if (!p)
        return false;
    p++;
    unsigned long long utime = 0, stime = 0;
    long long cpu = -1;
    bool have_times = false;
    for (int field = 3; field <= 39; field++) {
        while (*p == ' ')
            p++;
        if (!*p || *p == '\n')
            return false;
        char *end = NULL;
        if (field == 14 || field == 15 || field == 39) {
            long long v = g_ascii_strtoll(p, &end, 10);
            if (end == p || v < 0)
                return false;
            if (field == 14)
                utime = (unsigned long long)v;
            else if (field == 15) {
                stime = (unsigned long long)v;
                have_times = true;
            } else
                cpu = v;
        }
        p = strchr(p, ' ');
        if (!p && field < 39)
            return false;
        if (!p)
            break;
    }
    if (!have_times || cpu < 0 || cpu > INT32_MAX)
        return false;
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        hz = 100;
    *cpu_time_ns = (utime + stime) * (1000000000ull / (unsigned long long)hz);
    *processor = (int)cpu;
    return true;
}

typedef struct {
    HvdDomain *dom;
    unsigned max;
    HvdDomainVcpusFunc fn;
    gpointer data;
} VcpusOp;

static void vcpus_fail(VcpusOp *op, const GError *err)
{
    op->fn(op->dom, NULL, 0, err, op->data);
    hvd_domain_unref(op->dom);
    g_free(op);
}

static void on_query_cpus_reply(HvdMonitor *mon, json_object *ret, const char *error_class,
                                const GError *err, gpointer user_data)
{
    (void)mon;
    (void)error_class;
    VcpusOp *op = user_data;
    if (err)
        return vcpus_fail(op, err);
    if (!hvd_domain_is_active(op->dom)) {
        g_autoptr(GError) e = NULL;
        not_running_error(&e);
        return vcpus_fail(op, e);
    }
    if (!json_object_is_type(ret, json_type_array)) {
        g_autoptr(GError) e = NULL;
        hvd_vir_error_set(&e, VIR_FROM_QEMU, VIR_ERR_INTERNAL_ERROR, "%s",
                          "query-cpus-fast reply was missing return data");
        return vcpus_fail(op, e);
    }
    /* libvirt reports the online vCPUs of the definition, in order; the
     * monitor gives each one's thread. */
    unsigned n = MIN(op->max, op->dom->def->current_vcpus);
    g_autofree HvdVcpuInfo *info = g_new0(HvdVcpuInfo, MAX(n, 1u));
    for (unsigned i = 0; i < n; i++) {
        info[i].number = i;
        info[i].state = VIR_VCPU_RUNNING;
        info[i].cpu = -1;
    }
    size_t len = json_object_array_length(ret);
    for (size_t k = 0; k < len; k++) {
        json_object *cpu = json_object_array_get_idx(ret, k), *idx = NULL, *tid = NULL;
        if (!json_object_is_type(cpu, json_type_object) ||
            !json_object_object_get_ex(cpu, "cpu-index", &idx) ||
            !json_object_object_get_ex(cpu, "thread-id", &tid) ||
            !json_object_is_type(idx, json_type_int) || !json_object_is_type(tid, json_type_int))
            continue; /* an entry we cannot use: that vCPU stays "unknown" */
        int64_t index = json_object_get_int64(idx), thread = json_object_get_int64(tid);
        if (index < 0 || index >= (int64_t)n || thread <= 0 || thread > INT32_MAX)
            continue;
        HvdVcpuInfo *v = &info[index];
        v->tid = (int)thread;
        g_autofree char *path = g_strdup_printf("/proc/%d/task/%d/stat", (int)op->dom->pid,
                                                v->tid);
        g_autofree char *text = NULL;
        if (g_file_get_contents(path, &text, NULL, NULL))
            hvd_vcpu_stat_parse(text, &v->cpu_time_ns, &v->cpu);
        if (v->cpu < 0)
            v->cpu = 0; /* libvirt reports 0 when it cannot read the thread */
    }
    op->fn(op->dom, info, n, NULL, op->data);
    hvd_domain_unref(op->dom);
    g_free(op);
}

void hvd_domain_get_vcpu_info(HvdDomain *dom, unsigned max, HvdDomainVcpusFunc fn,
                              gpointer user_data)
{
    GError *err = NULL;
    if (!hvd_domain_is_active(dom)) {
        hvd_vir_error_set(&err, VIR_FROM_QEMU, VIR_ERR_OPERATION_INVALID, "%s",
                          "cannot list vcpus for an inactive domain");
    } else {
        monitor_usable(dom, &err);
    }
    if (err) {
        fn(dom, NULL, 0, err, user_data);
        g_error_free(err);
        return;
    }
    VcpusOp *op = g_new0(VcpusOp, 1);
    op->dom = hvd_domain_ref(dom);
    op->max = max;
    op->fn = fn;
    op->data = user_data;
    hvd_monitor_command(dom->mon, "query-cpus-fast", NULL, on_query_cpus_reply, op);
}

/* ------------------------------------------------------------ devices */

/* qemuDomainAttachDeviceLiveAndConfig / DetachDeviceLiveAndConfig: the
 * device is parsed first, the config change is made on a copy, the live
 * part (refused: no hotplug in the worker) comes next, and only then is
 * the new config saved, so a refused live part changes nothing. */
static bool device_change(HvdDomain *dom, const char *xml, unsigned flags, bool attach,
                          GError **err)
{
    if (!check_flags(flags, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG,
                     attach ? "qemuDomainAttachDeviceFlags"
                            : "qemuDomainDetachDeviceLiveAndConfig", err))
        return false;
    bool live, config;
    if (!modification_impact(dom, flags, &live, &config, err))
        return false;
    g_autoptr(DomainDevice) dev = domain_device_parse_string(xml, err);
    if (!dev)
        return false;
    g_autoptr(DomainDef) vmdef = NULL;
    if (config) {
        vmdef = domain_def_copy(persistent_def(dom), err);
        if (!vmdef)
            return false;
        bool ok = attach ? domain_def_attach_device(vmdef, dev, err)
                         : domain_def_detach_device(vmdef, dev, err);
        if (!ok)
            return false;
    }
    if (live) {
        if (!attach) {
            /* qemuDomainDetachDeviceLive looks the device up first */
            g_autoptr(DomainDef) probe = domain_def_copy(dom->def, err);
            if (!probe || !domain_def_detach_device(probe, dev, err))
                return false;
        }
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_OPERATION_UNSUPPORTED,
                          "live %s of device '%s' is not supported", attach ? "attach" : "detach",
                          dev->type_name);
        return false;
    }
    /* The whole new definition must still be one hvd accepts (schema
     * included): parse what will be saved. */
    g_autofree char *new_xml = domain_def_format(vmdef, NULL);
    g_autoptr(DomainDef) checked = domain_def_parse_string(new_xml, 0, err);
    if (!checked || !save_config(checked, err))
        return false;
    if (hvd_domain_is_active(dom)) {
        domain_def_free(dom->newdef);
        dom->newdef = g_steal_pointer(&checked);
    } else {
        domain_def_free(dom->def);
        dom->def = g_steal_pointer(&checked);
    }
    log_info("domain %s: %s %s (config)", dom->def->name, attach ? "attached" : "detached",
             dev->type_name);
    return true;
}

bool hvd_domain_attach_device(HvdDomain *dom, const char *xml, unsigned flags, GError **err)
{
    return device_change(dom, xml, flags, true, err);
}

bool hvd_domain_detach_device(HvdDomain *dom, const char *xml, unsigned flags, GError **err)
{
    return device_change(dom, xml, flags, false, err);
}
