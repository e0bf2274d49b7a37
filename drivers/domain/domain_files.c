/* Files under the state directory (docs/domain-driver.md): persistent
 * configs written atomically, autostart links, and the status files that
 * let a restarted daemon find its running workers. */
#include "drivers/domain/domain.h"

#include <errno.h>
#include <json-c/json.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "drivers/domain/persist.h"

/* ------------------------------------------------------------ configs */

char *domain_config_path(const char *name)
{
    g_autofree char *file = g_strconcat(name, ".xml", NULL);
    return g_build_filename(hvd_drv.config_dir, file, NULL);
}

char *domain_autostart_path(const char *name)
{
    g_autofree char *file = g_strconcat(name, ".xml", NULL);
    return g_build_filename(hvd_drv.autostart_dir, file, NULL);
}

bool domain_config_save(const DomainDef *def, GError **err)
{
    g_autofree char *xml = domain_def_format(def, NULL);
    g_autofree char *path = domain_config_path(def->name);
    GError *local = NULL;
    if (!persist_write_atomic(path, xml, strlen(xml), &local)) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_OPERATION_FAILED,
                          "cannot save config of domain '%s': %s", def->name, local->message);
        g_error_free(local);
        return false;
    }
    return true;
}

gpointer domain_config_load_one(const char *path, const char *contents, gpointer user_data, GError **err)
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

bool domain_config_remove(const char *name, GError **err)
{
    g_autofree char *path = domain_config_path(name);
    g_autofree char *as = domain_autostart_path(name);
    GError *local = NULL;
    if (!persist_remove(as, &local) || !persist_remove(path, &local)) {
        hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_OPERATION_FAILED,
                          "cannot remove config of domain '%s': %s", name, local->message);
        g_error_free(local);
        return false;
    }
    return true;
}

bool domain_autostart_link(const char *name, bool autostart, GError **err)
{
    g_autofree char *as = domain_autostart_path(name);
    g_autofree char *cfg = domain_config_path(name);
    if (autostart) {
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
    return true;
}

/* ------------------------------------------------------------ status files
 *
 * A running domain leaves <run>/NAME.xml (the definition it runs) and
 * <run>/NAME.status ({"pid", "id", "persistent"}), so a restarted daemon
 * finds its workers again (workers run in their own session and outlive
 * the daemon). Removed when the domain stops. */

char *domain_run_file(const char *name, const char *ext)
{
    g_autofree char *file = g_strconcat(name, ext, NULL);
    return g_build_filename(hvd_drv.run_dir, file, NULL);
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

void domain_status_write(HvdDomain *dom)
{
    g_autofree char *xml_path = domain_run_file(dom->def->name, ".xml");
    g_autofree char *status_path = domain_run_file(dom->def->name, ".status");
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

/* Both files of a running domain; err names the one that is unreadable. */
bool domain_status_read(const char *name, HvdDomainStatus *status, GError **err)
{
    memset(status, 0, sizeof(*status));
    g_autofree char *status_path = domain_run_file(name, ".status");
    g_autofree char *xml_path = domain_run_file(name, ".xml");
    g_autofree char *text = NULL;
    if (!g_file_get_contents(status_path, &text, NULL, err))
        return false;
    json_object *obj = json_tokener_parse(text), *v;
    if (!obj) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s is not JSON", status_path);
        return false;
    }
    status->def = domain_def_parse_file(xml_path, DOMAIN_PARSE_NO_SCHEMA, err);
    if (!status->def) {
        json_object_put(obj);
        return false;
    }
    status->pid = json_object_object_get_ex(obj, "pid", &v) ? json_object_get_int(v) : 0;
    status->id = json_object_object_get_ex(obj, "id", &v) ? json_object_get_int(v) : 0;
    status->persistent = json_object_object_get_ex(obj, "persistent", &v) &&
                         json_object_get_boolean(v);
    status->net_ifnames = net_ifnames_from_json(obj, status->def->nets->len);
    json_object_put(obj);
    return true;
}

void domain_status_clear(HvdDomainStatus *status)
{
    g_clear_pointer(&status->def, domain_def_free);
    g_clear_pointer(&status->net_ifnames, g_strfreev);
}

void domain_status_remove(const char *name)
{
    g_autofree char *xml_path = domain_run_file(name, ".xml");
    g_autofree char *status_path = domain_run_file(name, ".status");
    unlink(xml_path);
    unlink(status_path);
}

