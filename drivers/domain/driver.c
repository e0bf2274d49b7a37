/* hvd's domain driver: the API entry points of drivers/domain/driver.h
 * (docs/domain-driver.md). The domain object, files, the worker's
 * lifecycle, reconnection and statistics live beside it (domain.h).
 *
 * States, reasons, flags and events are libvirt's numbers from
 * <libvirt/libvirt-domain.h>; messages follow libvirt's QEMU driver
 * (libvirt's virterror.h and remote_protocol.x). */
#include "drivers/domain/domain.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "drivers/domain/persist.h"
#include "drivers/domain/qmp.h"

bool hvd_driver_init(const HvdDriverConfig *cfg, GError **err)
{
    g_return_val_if_fail(!hvd_drv.initialized, false);
    hvd_drv.config_dir = g_build_filename(cfg->state_dir, "qemu", NULL);
    hvd_drv.autostart_dir = g_build_filename(hvd_drv.config_dir, "autostart", NULL);
    hvd_drv.run_dir = g_build_filename(cfg->state_dir, "run", NULL);
    hvd_drv.log_dir = g_build_filename(cfg->state_dir, "log", NULL);
    hvd_drv.emulator = g_strdup(cfg->emulator);
    hvd_drv.vhost_net_path = g_strdup(cfg->vhost_net_path);
    hvd_drv.monitor_timeout_ms = cfg->monitor_timeout_ms > 0 ? cfg->monitor_timeout_ms
                                                         : DEFAULT_MONITOR_TIMEOUT_MS;
    hvd_drv.destroy_grace_ms = cfg->destroy_grace_ms > 0 ? cfg->destroy_grace_ms
                                                     : DEFAULT_DESTROY_GRACE_MS;
    hvd_drv.domains = g_ptr_array_new_with_free_func((GDestroyNotify)hvd_domain_unref);
    hvd_drv.next_id = 1;
    hvd_drv.initialized = true;
    const char *dirs[] = { hvd_drv.config_dir, hvd_drv.autostart_dir, hvd_drv.run_dir, hvd_drv.log_dir };
    for (size_t i = 0; i < G_N_ELEMENTS(dirs); i++) {
        if (g_mkdir_with_parents(dirs[i], 0700) != 0) {
            hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_SYSTEM_ERROR,
                              "cannot create directory %s: %s", dirs[i], g_strerror(errno));
            return false;
        }
    }
    GError *local = NULL;
    g_autoptr(GPtrArray) defs = persist_load_dir(hvd_drv.config_dir, domain_config_load_one, NULL,
                                                 (GDestroyNotify)domain_def_free, NULL, &local);
    if (!defs) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_SYSTEM_ERROR, "cannot load configs: %s",
                          local->message);
        g_error_free(local);
        return false;
    }
    for (guint i = 0; i < defs->len; i++) {
        DomainDef *def = g_ptr_array_index(defs, i);
        if (domain_find_by_name(def->name) || domain_find_by_uuid(def->uuid)) {
            log_warn("skipping a second config for domain '%s'", def->name);
            continue;
        }
        defs->pdata[i] = NULL; /* taken over by the domain */
        HvdDomain *dom = domain_new(def);
        dom->persistent = true;
        g_autofree char *as = domain_autostart_path(def->name);
        dom->autostart = g_file_test(as, G_FILE_TEST_EXISTS);
        domain_list_add(dom);
        hvd_domain_unref(dom);
    }
    log_info("domain driver: %u domain(s) defined in %s", hvd_drv.domains->len, hvd_drv.config_dir);
    reconnect_workers();
    return true;
}

void hvd_driver_shutdown(void)
{
    if (!hvd_drv.initialized)
        return;
    for (guint i = 0; i < hvd_drv.domains->len; i++) {
        HvdDomain *d = g_ptr_array_index(hvd_drv.domains, i);
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
    g_clear_pointer(&hvd_drv.domains, g_ptr_array_unref);
    g_clear_pointer(&hvd_drv.config_dir, g_free);
    g_clear_pointer(&hvd_drv.autostart_dir, g_free);
    g_clear_pointer(&hvd_drv.run_dir, g_free);
    g_clear_pointer(&hvd_drv.log_dir, g_free);
    g_clear_pointer(&hvd_drv.emulator, g_free);
    g_clear_pointer(&hvd_drv.vhost_net_path, g_free);
    hvd_drv.initialized = false;
}

/* ------------------------------------------------------------ define */

/* libvirt's virDomainObjListAddLocked checks: one uuid per name and one
 * name per uuid. Returns the existing domain the def replaces, or NULL
 * (no error) when it is new. */
static bool check_identity(const DomainDef *def, HvdDomain **existing, GError **err)
{
    char uuid[DOMAIN_UUID_STRING_LEN];
    HvdDomain *by_uuid = domain_find_by_uuid(def->uuid);
    if (by_uuid && strcmp(by_uuid->def->name, def->name) != 0) {
        domain_uuid_format(def->uuid, uuid);
        hvd_vir_error_set(err, VIR_FROM_DOMAIN, VIR_ERR_OPERATION_FAILED,
                          "domain '%s' is already defined with uuid %s", by_uuid->def->name, uuid);
        return false;
    }
    HvdDomain *by_name = domain_find_by_name(def->name);
    if (by_name && !by_uuid) {
        domain_uuid_format(by_name->def->uuid, uuid);
        hvd_vir_error_set(err, VIR_FROM_DOMAIN, VIR_ERR_OPERATION_FAILED,
                          "domain '%s' already exists with uuid %s", def->name, uuid);
        return false;
    }
    *existing = by_uuid;
    return true;
}

HvdDomain *hvd_driver_define(const char *xml, unsigned flags, GError **err)
{
    if (!domain_check_flags(flags, VIR_DOMAIN_DEFINE_VALIDATE, "qemuDomainDefineXMLFlags", err))
        return NULL;
    g_autoptr(DomainDef) def = domain_def_parse_string(xml, 0, err);
    if (!def)
        return NULL;
    HvdDomain *dom = NULL;
    if (!check_identity(def, &dom, err))
        return NULL;
    if (!domain_config_save(def, err))
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
        domain_list_add(dom);
    }
    log_info("domain %s defined", dom->def->name);
    domain_emit(dom, VIR_DOMAIN_EVENT_DEFINED, detail);
    return dom;
}

bool hvd_domain_undefine(HvdDomain *dom, unsigned flags, GError **err)
{
    const unsigned allowed = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                             VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | VIR_DOMAIN_UNDEFINE_NVRAM |
                             VIR_DOMAIN_UNDEFINE_KEEP_NVRAM |
                             VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA |
                             VIR_DOMAIN_UNDEFINE_TPM | VIR_DOMAIN_UNDEFINE_KEEP_TPM;
    if (!domain_check_flags(flags, allowed, "qemuDomainUndefineFlags", err))
        return false;
    if (!dom->persistent) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_OPERATION_INVALID, "%s",
                          "cannot undefine transient domain");
        return false;
    }
    if (!domain_config_remove(dom->def->name, err))
        return false;
    dom->autostart = false;
    dom->persistent = false;
    g_clear_pointer(&dom->newdef, domain_def_free);
    if (hvd_domain_is_active(dom) && dom->phase != HVD_PHASE_STARTING)
        domain_status_write(dom);
    log_info("domain %s undefined", dom->def->name);
    hvd_domain_ref(dom);
    if (!hvd_domain_is_active(dom))
        domain_list_remove(dom);
    domain_emit(dom, VIR_DOMAIN_EVENT_UNDEFINED, VIR_DOMAIN_EVENT_UNDEFINED_REMOVED);
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
    if (!domain_autostart_link(dom->def->name, autostart, err))
        return false;
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
    if (!domain_check_flags(flags, 0, "qemuDomainGetState", err))
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
    if (!domain_check_flags(flags, allowed, "qemuDomainGetXMLDesc", err))
        return NULL;
    if (!hvd_domain_is_active(dom) || (flags & (VIR_DOMAIN_XML_INACTIVE |
                                                VIR_DOMAIN_XML_MIGRATABLE)))
        return domain_def_format((flags & VIR_DOMAIN_XML_INACTIVE) ? domain_persistent_def(dom)
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
    if (!domain_check_flags(flags, allowed, "qemuDomainGetVcpusFlags", err))
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
        domain_not_running_error(err);
        return -1;
    }
    if (flags & VIR_DOMAIN_VCPU_GUEST) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_ARGUMENT_UNSUPPORTED, "%s",
                          "QEMU guest agent is not configured");
        return -1;
    }
    const DomainDef *def = live ? dom->def : domain_persistent_def(dom);
    return (int)((flags & VIR_DOMAIN_VCPU_MAXIMUM) ? def->vcpus : def->current_vcpus);
}

/* ------------------------------------------------------------ lifecycle */

static const unsigned start_flags_allowed = VIR_DOMAIN_START_PAUSED | VIR_DOMAIN_START_AUTODESTROY |
                                            VIR_DOMAIN_START_BYPASS_CACHE |
                                            VIR_DOMAIN_START_FORCE_BOOT |
                                            VIR_DOMAIN_START_VALIDATE |
                                            VIR_DOMAIN_START_RESET_NVRAM;

void hvd_domain_start(HvdDomain *dom, unsigned flags, HvdDomainDoneFunc fn, gpointer user_data)
{
    GError *err = NULL;
    if (!domain_check_flags(flags, start_flags_allowed, "qemuDomainCreateWithFlags", &err))
        return domain_fail_now(dom, fn, user_data, err);
    if (hvd_domain_is_active(dom)) {
        hvd_vir_error_set(&err, VIR_FROM_QEMU, VIR_ERR_OPERATION_INVALID, "%s",
                          "domain is already running");
        return domain_fail_now(dom, fn, user_data, err);
    }
    if (!worker_start(dom, flags, &err))
        return domain_fail_now(dom, fn, user_data, err);
    domain_waiter_add(&dom->start_waiters, fn, user_data);
}

HvdDomain *hvd_driver_create_xml(const char *xml, unsigned flags, HvdDomainDoneFunc fn,
                                 gpointer user_data, GError **err)
{
    if (!domain_check_flags(flags, start_flags_allowed & ~VIR_DOMAIN_START_FORCE_BOOT,
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
        domain_list_add(dom);
    }
    if (!worker_start(dom, flags, err)) {
        if (is_new) {
            domain_list_remove(dom);
        } else {
            domain_def_free(dom->def);
            dom->def = g_steal_pointer(&dom->newdef);
        }
        hvd_domain_unref(dom);
        return NULL;
    }
    domain_waiter_add(&dom->start_waiters, fn, user_data);
    return dom;
}

void hvd_domain_destroy(HvdDomain *dom, unsigned flags, HvdDomainDoneFunc fn, gpointer user_data)
{
    GError *err = NULL;
    if (!domain_check_flags(flags, VIR_DOMAIN_DESTROY_GRACEFUL | VIR_DOMAIN_DESTROY_REMOVE_LOGS,
                     "qemuDomainDestroyFlags", &err))
        return domain_fail_now(dom, fn, user_data, err);
    if (!hvd_domain_is_active(dom)) {
        domain_not_running_error(&err);
        return domain_fail_now(dom, fn, user_data, err);
    }
    domain_waiter_add(&dom->destroy_waiters, fn, user_data);
    worker_kill(dom, flags & VIR_DOMAIN_DESTROY_GRACEFUL);
}

/* ---- commands through the monitor */

typedef enum { OP_SUSPEND, OP_RESUME, OP_SHUTDOWN, OP_REBOOT, OP_SETMEM, OP_HMP, OP_RAW } MonOpKind;

/* One API call waiting for the worker's answer. */
typedef struct {
    HvdDomain *dom;
    MonOpKind kind;
    HvdDomainDoneFunc fn;
    gpointer data;
    uint64_t kib;          /* OP_SETMEM */
    bool also_config;      /* OP_SETMEM: update the persistent config afterwards */
} MonOp;

static void setmem_config(HvdDomain *dom, uint64_t kib, GError **err);

static void monop_finish(MonOp *op, const char *result, const GError *err)
{
    op->fn(op->dom, result, err, op->data);
    hvd_domain_unref(op->dom);
    g_free(op);
}

static void on_monop_done(HvdMonitor *mon, const char *error_class, const GError *err,
                          gpointer user_data)
{
    (void)mon;
    MonOp *op = user_data;
    HvdDomain *dom = op->dom;
    g_autoptr(GError) own = NULL;
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
            domain_set_paused(dom, VIR_DOMAIN_PAUSED_USER);
            break;
        case OP_RESUME:
            domain_set_running(dom, VIR_DOMAIN_RUNNING_UNPAUSED);
            break;
        case OP_SETMEM:
            dom->balloon_kib = op->kib;
            if (op->also_config)
                setmem_config(dom, op->kib, &own);
            err = own;
            break;
        default:
            break;
        }
    }
    monop_finish(op, NULL, err);
}

static void on_monop_text(HvdMonitor *mon, const char *text, const char *error_class,
                          const GError *err, gpointer user_data)
{
    (void)mon;
    (void)error_class;
    monop_finish(user_data, err ? NULL : text, err);
}

static void on_monop_raw(HvdMonitor *mon, const char *reply, const GError *err, gpointer user_data)
{
    (void)mon;
    monop_finish(user_data, err ? NULL : reply, err);
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

void hvd_domain_suspend(HvdDomain *dom, HvdDomainDoneFunc fn, gpointer user_data)
{
    GError *err = NULL;
    if (!domain_monitor_usable(dom, &err))
        return domain_fail_now(dom, fn, user_data, err);
    if (dom->state == VIR_DOMAIN_PAUSED) /* libvirt: nothing to do */
        return fn(dom, NULL, NULL, user_data);
    dom->pause_reason = VIR_DOMAIN_PAUSED_USER;
    hvd_qmp_stop(dom->mon, on_monop_done, monop_new(dom, OP_SUSPEND, fn, user_data));
}

void hvd_domain_resume(HvdDomain *dom, HvdDomainDoneFunc fn, gpointer user_data)
{
    GError *err = NULL;
    if (!domain_monitor_usable(dom, &err))
        return domain_fail_now(dom, fn, user_data, err);
    if (dom->state == VIR_DOMAIN_RUNNING)
        return fn(dom, NULL, NULL, user_data);
    hvd_qmp_cont(dom->mon, on_monop_done, monop_new(dom, OP_RESUME, fn, user_data));
}

void hvd_domain_shutdown(HvdDomain *dom, unsigned flags, HvdDomainDoneFunc fn, gpointer user_data)
{
    /* ACPI power button; the guest decides. A pending reboot becomes a
     * shutdown (qemuDomainShutdownFlags clears fakeReboot). */
    GError *err = NULL;
    if (!domain_check_flags(flags, VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN, "qemuDomainShutdownFlags", &err) ||
        !domain_monitor_usable(dom, &err))
        return domain_fail_now(dom, fn, user_data, err);
    dom->fake_reboot = false;
    hvd_qmp_system_powerdown(dom->mon, on_monop_done, monop_new(dom, OP_SHUTDOWN, fn, user_data));
}

void hvd_domain_reboot(HvdDomain *dom, unsigned flags, HvdDomainDoneFunc fn, gpointer user_data)
{
    /* libvirt's default (ACPI) reboot is a "fake reboot": the power button,
     * and once the guest is off the same worker is reset and continues
     * (guest_powered_off). With <on_reboot> destroy or preserve libvirt
     * shuts the domain down instead. */
    GError *err = NULL;
    if (!domain_check_flags(flags, VIR_DOMAIN_REBOOT_ACPI_POWER_BTN, "qemuDomainReboot", &err) ||
        !domain_monitor_usable(dom, &err))
        return domain_fail_now(dom, fn, user_data, err);
    dom->fake_reboot = dom->def->on_reboot != DOMAIN_LIFECYCLE_DESTROY &&
                       dom->def->on_reboot != DOMAIN_LIFECYCLE_PRESERVE;
    hvd_qmp_system_powerdown(dom->mon, on_monop_done, monop_new(dom, OP_REBOOT, fn, user_data));
}

static void keep_config_apart(HvdDomain *dom);

/* The persistent config a --config change may modify: a running domain's
 * own copy, so the change waits for the next start (libvirt's newDef). */
static DomainDef *config_for_change(HvdDomain *dom)
{
    if (hvd_domain_is_active(dom))
        keep_config_apart(dom);
    return domain_persistent_def(dom);
}

static void setmem_config(HvdDomain *dom, uint64_t kib, GError **err)
{
    DomainDef *def = config_for_change(dom);
    uint64_t old = def->current_memory_kib;
    def->current_memory_kib = kib;
    if (!domain_config_save(def, err))
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
        domain_not_running_error(err);
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
    if (!domain_check_flags(flags, allowed, "qemuDomainSetMemoryFlags", &err))
        return domain_fail_now(dom, fn, user_data, err);
    bool live, config;
    if (!modification_impact(dom, flags, &live, &config, &err))
        return domain_fail_now(dom, fn, user_data, err);
    if (flags & VIR_DOMAIN_MEM_MAXIMUM) {
        /* qemuDomainSetMemoryFlags: the maximum of a running guest is fixed
         * (virsh setmaxmem --live); --config changes the next boot's. */
        if (live) {
            hvd_vir_error_set(&err, VIR_FROM_QEMU, VIR_ERR_OPERATION_INVALID, "%s",
                              "cannot resize the maximum memory on an active domain");
            return domain_fail_now(dom, fn, user_data, err);
        }
        DomainDef *def = config_for_change(dom);
        uint64_t old_max = def->memory_kib, old_cur = def->current_memory_kib;
        def->memory_kib = kib;
        if (def->current_memory_kib > kib)
            def->current_memory_kib = kib;
        if (!domain_config_save(def, &err)) {
            def->memory_kib = old_max;
            def->current_memory_kib = old_cur;
            return domain_fail_now(dom, fn, user_data, err);
        }
        return fn(dom, NULL, NULL, user_data);
    }
    /* The limit is the smaller maximum of the definitions touched. */
    uint64_t max = live ? dom->def->memory_kib : UINT64_MAX;
    if (config && domain_persistent_def(dom)->memory_kib < max)
        max = domain_persistent_def(dom)->memory_kib;
    if (kib > max) {
        hvd_vir_error_set(&err, VIR_FROM_QEMU, VIR_ERR_INVALID_ARG, "%s",
                          "cannot set memory higher than max memory");
        return domain_fail_now(dom, fn, user_data, err);
    }
    if (!live) {
        setmem_config(dom, kib, &err);
        if (err)
            return domain_fail_now(dom, fn, user_data, err);
        return fn(dom, NULL, NULL, user_data);
    }
    if (!dom->def->balloon.enabled) {
        hvd_vir_error_set(&err, VIR_FROM_QEMU, VIR_ERR_OPERATION_INVALID, "%s",
                          "Unable to change memory of active domain without the balloon device "
                          "and guest OS balloon driver");
        return domain_fail_now(dom, fn, user_data, err);
    }
    if (!domain_monitor_usable(dom, &err))
        return domain_fail_now(dom, fn, user_data, err);
    MonOp *op = monop_new(dom, OP_SETMEM, fn, user_data);
    op->kib = kib;
    op->also_config = config;
    hvd_qmp_balloon(dom->mon, kib * 1024, on_monop_done, op);
}

void hvd_domain_monitor_command(HvdDomain *dom, const char *cmd, bool hmp, HvdDomainDoneFunc fn,
                                gpointer user_data)
{
    GError *err = NULL;
    if (!domain_monitor_usable(dom, &err))
        return domain_fail_now(dom, fn, user_data, err);
    if (hmp)
        hvd_qmp_human_monitor_command(dom->mon, cmd, on_monop_text,
                                      monop_new(dom, OP_HMP, fn, user_data));
    else
        hvd_monitor_command_raw(dom->mon, cmd, on_monop_raw, monop_new(dom, OP_RAW, fn, user_data));
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
    if (!domain_config_save(def, err))
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

static void on_stats_period_reply(HvdMonitor *mon, const char *error_class, const GError *err,
                                  gpointer user_data)
{
    (void)mon;
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
        domain_status_write(op->dom);
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
    if (!domain_check_flags(flags, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG,
                     "qemuDomainSetMemoryStatsPeriod", &err))
        return domain_fail_now(dom, fn, user_data, err);
    if (period < 0) {
        hvd_vir_error_set(&err, VIR_FROM_DOMAIN, VIR_ERR_INVALID_ARG, "%s",
                          "period in virDomainSetMemoryStatsPeriod must not be negative");
        return domain_fail_now(dom, fn, user_data, err);
    }
    bool live, config;
    if (!modification_impact(dom, flags, &live, &config, &err))
        return domain_fail_now(dom, fn, user_data, err);
    if ((live && !dom->def->balloon.enabled) ||
        (config && !domain_persistent_def(dom)->balloon.enabled)) {
        hvd_vir_error_set(&err, VIR_FROM_QEMU, VIR_ERR_OPERATION_INVALID, "%s",
                          "No memory balloon device configured, can not set the collection "
                          "period");
        return domain_fail_now(dom, fn, user_data, err);
    }
    if (!live) {
        stats_period_config(dom, (unsigned)period, &err);
        if (err)
            return domain_fail_now(dom, fn, user_data, err);
        return fn(dom, NULL, NULL, user_data);
    }
    if (!domain_monitor_usable(dom, &err))
        return domain_fail_now(dom, fn, user_data, err);
    StatsPeriodOp *op = g_new0(StatsPeriodOp, 1);
    op->dom = hvd_domain_ref(dom);
    op->period = (unsigned)period;
    op->also_config = config;
    op->fn = fn;
    op->data = user_data;
    hvd_qmp_balloon_set_stats_period(dom->mon, BALLOON_QOM_PATH, period, on_stats_period_reply, op);
}

bool hvd_domain_open_console(HvdDomain *dom, const char *dev_name, unsigned flags,
                             const HvdConsoleClientOps *ops, gpointer data, GError **err)
{
    if (!domain_check_flags(flags, VIR_DOMAIN_CONSOLE_FORCE | VIR_DOMAIN_CONSOLE_SAFE,
                     "qemuDomainOpenConsole", err))
        return false;
    if (!hvd_domain_is_active(dom)) {
        domain_not_running_error(err);
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

/* ------------------------------------------------------------ devices */

/* A changed persistent definition becomes the config: it must still be
 * one hvd accepts (schema included), so what will be saved is parsed
 * again; a running domain gets it at its next start. */
static bool config_commit(HvdDomain *dom, const DomainDef *vmdef, GError **err)
{
    g_autofree char *new_xml = domain_def_format(vmdef, NULL);
    g_autoptr(DomainDef) checked = domain_def_parse_string(new_xml, 0, err);
    if (!checked || !domain_config_save(checked, err))
        return false;
    if (hvd_domain_is_active(dom)) {
        domain_def_free(dom->newdef);
        dom->newdef = g_steal_pointer(&checked);
    } else {
        domain_def_free(dom->def);
        dom->def = g_steal_pointer(&checked);
    }
    return true;
}

/* qemuDomainAttachDeviceLiveAndConfig / DetachDeviceLiveAndConfig: the
 * device is parsed first, the config change is made on a copy, the live
 * part (refused: no hotplug in the worker) comes next, and only then is
 * the new config saved, so a refused live part changes nothing. */
static bool device_change(HvdDomain *dom, const char *xml, unsigned flags, bool attach,
                          GError **err)
{
    if (!domain_check_flags(flags, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG,
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
        vmdef = domain_def_copy(domain_persistent_def(dom), err);
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
    if (!config_commit(dom, vmdef, err))
        return false;
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

/* ------------------------------------------------------------ media changes */

typedef struct {
    HvdDomain *dom;
    char *target;           /* the disk in dom->def */
    char *source;           /* its new medium, NULL: ejected */
    DomainDef *vmdef;       /* the config to save afterwards, or NULL */
    HvdDomainDoneFunc fn;
    gpointer data;
} MediaOp;

static void media_op_free(MediaOp *op)
{
    hvd_domain_unref(op->dom);
    g_free(op->target);
    g_free(op->source);
    domain_def_free(op->vmdef);
    g_free(op);
}

/* The storage node index the live XML gives a new medium: the next one
 * after every node the domain has (libvirt numbers nodes as it opens them). */
static unsigned next_node_index(const DomainDef *def)
{
    unsigned max = 0;
    for (guint i = 0; i < def->disks->len; i++) {
        const DomainDisk *d = g_ptr_array_index(def->disks, i);
        max = MAX(max, d->live_index);
        for (guint l = 0; d->live_chain && l < d->live_chain->layers->len; l++) {
            const DomainStorageLayer *layer = g_ptr_array_index(d->live_chain->layers, l);
            max = MAX(max, layer->index);
        }
    }
    return max + 1;
}

static void on_media_reply(HvdMonitor *mon, const char *error_class, const GError *err,
                           gpointer user_data)
{
    (void)mon;
    (void)error_class;
    MediaOp *op = user_data;
    GError *own = NULL;
    if (!err) {
        /* the live definition follows the worker; the config stays apart */
        keep_config_apart(op->dom);
        for (guint i = 0; i < op->dom->def->disks->len; i++) {
            DomainDisk *d = g_ptr_array_index(op->dom->def->disks, i);
            if (strcmp(d->target_dev, op->target) != 0)
                continue;
            g_free(d->source);
            d->source = g_strdup(op->source);
            domain_backing_chain_free(d->live_chain);
            d->live_chain = NULL;
            d->live_index = 0;
            if (d->source) {
                /* a cdrom is raw: no backing file */
                d->live_index = next_node_index(op->dom->def);
                d->live_chain = domain_backing_chain_new();
                d->live_chain->complete = true;
            }
        }
        domain_status_write(op->dom);
        log_info("domain %s: %s %s%s", hvd_domain_name(op->dom), op->target,
                 op->source ? "medium " : "ejected", op->source ? op->source : "");
        if (op->vmdef)
            config_commit(op->dom, op->vmdef, &own);
    }
    op->fn(op->dom, NULL, err ? err : own, op->data);
    g_clear_error(&own);
    media_op_free(op);
}

/* qemuDomainChangeDiskLive: only a removable drive's source may change
 * while the domain runs; the medium goes through the worker's monitor. */
static bool media_change_check(const DomainDef *def, const DomainDisk *disk,
                               const DomainDisk **orig, GError **err)
{
    *orig = NULL;
    for (guint i = 0; i < def->disks->len && !*orig; i++) {
        const DomainDisk *d = g_ptr_array_index(def->disks, i);
        if (strcmp(d->target_dev, disk->target_dev) == 0)
            *orig = d;
    }
    if (!*orig) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_INTERNAL_ERROR, "disk '%s' not found",
                          disk->target_dev);
        return false;
    }
    /* qemuDomainDiskChangeSupported's refusal for fields that cannot change */
    const char *field = NULL;
    if (disk->device != (*orig)->device)
        field = "device";
    else if (disk->bus != (*orig)->bus)
        field = "bus";
    else if (disk->is_block != (*orig)->is_block)
        field = "type";
    else if (g_strcmp0(disk->serial, (*orig)->serial) != 0)
        field = "serial";
    if (field) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_OPERATION_UNSUPPORTED,
                          "cannot modify field '%s' of the disk", field);
        return false;
    }
    if (g_strcmp0(disk->source, (*orig)->source) != 0 &&
        disk->device != DOMAIN_DISK_DEVICE_CDROM) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_OPERATION_UNSUPPORTED, "%s",
                          "disk source can be changed only in removable drives");
        return false;
    }
    return true;
}

void hvd_domain_update_device(HvdDomain *dom, const char *xml, unsigned flags,
                              HvdDomainDoneFunc fn, gpointer user_data)
{
    GError *err = NULL;
    if (!domain_check_flags(flags, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG |
                                       VIR_DOMAIN_DEVICE_MODIFY_FORCE,
                            "qemuDomainUpdateDeviceFlags", &err))
        return domain_fail_now(dom, fn, user_data, err);
    bool force = flags & VIR_DOMAIN_DEVICE_MODIFY_FORCE;
    bool live, config;
    if (!modification_impact(dom, flags & ~VIR_DOMAIN_DEVICE_MODIFY_FORCE, &live, &config, &err))
        return domain_fail_now(dom, fn, user_data, err);
    /* parsed twice: the config update takes its device, the live one reads it */
    g_autoptr(DomainDevice) dev = domain_device_parse_string(xml, &err);
    g_autoptr(DomainDevice) live_dev = dev ? domain_device_parse_string(xml, &err) : NULL;
    if (!live_dev)
        return domain_fail_now(dom, fn, user_data, err);
    g_autoptr(DomainDef) vmdef = NULL;
    if (config) {
        vmdef = domain_def_copy(domain_persistent_def(dom), &err);
        if (!vmdef || !domain_def_update_device(vmdef, dev, &err))
            return domain_fail_now(dom, fn, user_data, err);
    }
    if (!live) {
        if (!config_commit(dom, vmdef, &err))
            return domain_fail_now(dom, fn, user_data, err);
        log_info("domain %s: updated %s (config)", dom->def->name, dev->type_name);
        return fn(dom, NULL, NULL, user_data);
    }
    if (live_dev->kind != DOMAIN_DEVICE_DISK) {
        hvd_vir_error_set(&err, VIR_FROM_QEMU, VIR_ERR_OPERATION_UNSUPPORTED,
                          "live update of device '%s' is not supported", live_dev->type_name);
        return domain_fail_now(dom, fn, user_data, err);
    }
    const DomainDisk *disk = g_ptr_array_index(live_dev->holder->disks, 0), *orig;
    if (!media_change_check(dom->def, disk, &orig, &err))
        return domain_fail_now(dom, fn, user_data, err);
    if (g_strcmp0(disk->source, orig->source) == 0) {
        /* nothing the worker has to change */
        if (vmdef && !config_commit(dom, vmdef, &err))
            return domain_fail_now(dom, fn, user_data, err);
        return fn(dom, NULL, NULL, user_data);
    }
    if (!domain_monitor_usable(dom, &err))
        return domain_fail_now(dom, fn, user_data, err);
    MediaOp *op = g_new0(MediaOp, 1);
    op->dom = hvd_domain_ref(dom);
    op->target = g_strdup(disk->target_dev);
    op->source = g_strdup(disk->source);
    op->vmdef = g_steal_pointer(&vmdef);
    op->fn = fn;
    op->data = user_data;
    g_autofree char *id = domain_disk_alias(orig);
    if (disk->source)
        hvd_qmp_blockdev_change_medium(dom->mon, id, disk->source, "raw", force, on_media_reply,
                                       op);
    else
        hvd_qmp_eject(dom->mon, id, force, on_media_reply, op);
}
