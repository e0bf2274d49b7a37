/* The domain object, the driver's list of domains, their state and events
 * (drivers/domain/domain.h).
 *
 * States, reasons and events are libvirt's numbers from
 * <libvirt/libvirt-domain.h>; messages follow libvirt's QEMU driver
 * (libvirt's virterror.h and remote_protocol.x). */
#include "drivers/domain/domain.h"

#include <string.h>

#include "common/log.h"

HvdDriverState hvd_drv;

HvdDomain *domain_new(DomainDef *def)
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
bool hvd_domain_is_active(const HvdDomain *dom) { return dom->phase != HVD_PHASE_INACTIVE; }
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
    hvd_drv.event_fn = fn;
    hvd_drv.event_data = user_data;
}

void domain_emit(HvdDomain *dom, int event, int detail)
{
    log_debug("domain %s: lifecycle event %d/%d", dom->def->name, event, detail);
    if (hvd_drv.event_fn)
        hvd_drv.event_fn(dom, event, detail, hvd_drv.event_data);
}

void domain_set_state(HvdDomain *dom, int state, int reason)
{
    dom->state = state;
    dom->reason = reason;
}

DomainDef *domain_persistent_def(HvdDomain *dom)
{
    return dom->newdef ? dom->newdef : dom->def;
}

void domain_not_running_error(GError **err)
{
    /* virDomainObjCheckActive (conf code, hence VIR_FROM_DOMAIN; trace 36). */
    hvd_vir_error_set(err, VIR_FROM_DOMAIN, VIR_ERR_OPERATION_INVALID, "%s",
                      "domain is not running");
}

bool domain_check_flags(unsigned flags, unsigned allowed, const char *function, GError **err)
{
    if (flags & ~allowed) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_INVALID_ARG,
                          "unsupported flags (0x%x) in function %s", flags & ~allowed, function);
        return false;
    }
    return true;
}

void domain_waiters_finish(GSList **list, HvdDomain *dom, const char *result, const GError *err)
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

void domain_waiter_add(GSList **list, HvdDomainDoneFunc fn, gpointer data)
{
    Waiter *w = g_new(Waiter, 1);
    w->fn = fn;
    w->data = data;
    *list = g_slist_append(*list, w);
}

void domain_fail_now(HvdDomain *dom, HvdDomainDoneFunc fn, gpointer data, GError *err)
{
    fn(dom, NULL, err, data);
    g_error_free(err);
}


/* ------------------------------------------------------------ the list */

HvdDomain *domain_find_by_name(const char *name)
{
    for (guint i = 0; hvd_drv.domains && i < hvd_drv.domains->len; i++) {
        HvdDomain *d = g_ptr_array_index(hvd_drv.domains, i);
        if (strcmp(d->def->name, name) == 0)
            return d;
    }
    return NULL;
}

HvdDomain *domain_find_by_uuid(const uint8_t uuid[16])
{
    for (guint i = 0; hvd_drv.domains && i < hvd_drv.domains->len; i++) {
        HvdDomain *d = g_ptr_array_index(hvd_drv.domains, i);
        if (memcmp(d->def->uuid, uuid, DOMAIN_UUID_LEN) == 0)
            return d;
    }
    return NULL;
}

void domain_list_add(HvdDomain *dom)
{
    dom->listed = true;
    g_ptr_array_add(hvd_drv.domains, hvd_domain_ref(dom));
}

void domain_list_remove(HvdDomain *dom)
{
    if (!dom->listed)
        return;
    dom->listed = false;
    g_ptr_array_remove(hvd_drv.domains, dom); /* drops the list's reference */
}

HvdDomain *hvd_driver_lookup_by_name(const char *name, GError **err)
{
    HvdDomain *d = domain_find_by_name(name);
    if (!d) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_NO_DOMAIN,
                          "no domain with matching name '%s'", name);
        return NULL;
    }
    return hvd_domain_ref(d);
}

HvdDomain *hvd_driver_lookup_by_uuid(const uint8_t uuid[16], GError **err)
{
    HvdDomain *d = domain_find_by_uuid(uuid);
    if (!d) {
        char s[DOMAIN_UUID_STRING_LEN];
        domain_uuid_format(uuid, s);
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_NO_DOMAIN,
                          "no domain with matching uuid '%s'", s);
        return NULL;
    }
    return hvd_domain_ref(d);
}

HvdDomain *hvd_driver_lookup_by_id(int id, GError **err)
{
    for (guint i = 0; id > 0 && i < hvd_drv.domains->len; i++) {
        HvdDomain *d = g_ptr_array_index(hvd_drv.domains, i);
        if (d->id == id)
            return hvd_domain_ref(d);
    }
    hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_NO_DOMAIN, "no domain with matching id %d", id);
    return NULL;
}

HvdDomain *hvd_driver_lookup_dom(const char *name, const uint8_t uuid[16], GError **err)
{
    HvdDomain *d = domain_find_by_uuid(uuid);
    if (!d) {
        char s[DOMAIN_UUID_STRING_LEN];
        domain_uuid_format(uuid, s);
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
    if (!domain_check_flags(flags, allowed, "qemuConnectListAllDomains", err))
        return NULL;
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)hvd_domain_unref);
    for (guint i = 0; i < hvd_drv.domains->len; i++) {
        HvdDomain *d = g_ptr_array_index(hvd_drv.domains, i);
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
    for (guint i = 0; i < hvd_drv.domains->len; i++) {
        HvdDomain *d = g_ptr_array_index(hvd_drv.domains, i);
        if ((d->id > 0) == active)
            n++;
    }
    return n;
}


/* ------------------------------------------------------------ state and events */

void domain_set_paused(HvdDomain *dom, int reason)
{
    if (dom->state != VIR_DOMAIN_RUNNING)
        return;
    domain_set_state(dom, VIR_DOMAIN_PAUSED, reason);
    domain_emit(dom, VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
}

void domain_set_running(HvdDomain *dom, int reason)
{
    if (dom->state != VIR_DOMAIN_PAUSED)
        return;
    domain_set_state(dom, VIR_DOMAIN_RUNNING, reason);
    domain_emit(dom, VIR_DOMAIN_EVENT_RESUMED, VIR_DOMAIN_EVENT_RESUMED_UNPAUSED);
}


void hvd_driver_set_other_event_sink(HvdDomainOtherEventFunc fn, gpointer user_data)
{
    hvd_drv.other_event_fn = fn;
    hvd_drv.other_event_data = user_data;
}

void domain_emit_other(HvdDomain *dom, int event_id, uint64_t value)
{
    log_debug("domain %s: event %d (%" G_GUINT64_FORMAT ")", dom->def->name, event_id, value);
    if (hvd_drv.other_event_fn)
        hvd_drv.other_event_fn(dom, event_id, value, hvd_drv.other_event_data);
}

bool domain_monitor_usable(HvdDomain *dom, GError **err)
{
    if (!hvd_domain_is_active(dom)) {
        domain_not_running_error(err);
        return false;
    }
    if (dom->phase == HVD_PHASE_STARTING || !dom->mon || !hvd_monitor_is_ready(dom->mon)) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_OPERATION_INVALID, "%s",
                          "domain is still starting up: its monitor is not connected yet");
        return false;
    }
    return true;
}
