/* Whole-model checks, PCI slot assignment and RelaxNG validation. */
#include "drivers/conf/domain_validate.h"

#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <string.h>

#include "drivers/conf/xml_autoptr.h"

#define conf_error(err, code, ...) hvd_vir_error_set(err, VIR_FROM_DOMAIN, code, __VA_ARGS__)

#ifndef HVD_CONF_SCHEMADIR
#define HVD_CONF_SCHEMADIR "/usr/local/share/hvd/schemas"
#endif

/* ------------------------------------------------------------------ */
/* Semantic checks                                                     */

static bool same_pci(const DomainPciAddr *a, const DomainPciAddr *b)
{
    return a->domain == b->domain && a->bus == b->bus && a->slot == b->slot &&
           a->function == b->function;
}

/* libvirt's virDomainDefBootOrderPostParse rules, with its texts: each
 * boot order once, and <os><boot dev> or per-device <boot order>, never
 * both. */
static bool validate_boot_order(const DomainDef *def, GError **err)
{
    g_autoptr(GArray) orders = g_array_new(FALSE, FALSE, sizeof(unsigned));
    for (guint i = 0; i < def->disks->len; i++) {
        const DomainDisk *d = g_ptr_array_index(def->disks, i);
        g_array_append_val(orders, d->boot_order);
    }
    for (guint i = 0; i < def->nets->len; i++) {
        const DomainNet *n = g_ptr_array_index(def->nets, i);
        g_array_append_val(orders, n->boot_order);
    }
    for (guint i = 0; i < def->hostdevs->len; i++) {
        const DomainHostdev *h = g_ptr_array_index(def->hostdevs, i);
        g_array_append_val(orders, h->boot_order);
    }
    for (guint i = 0; i < orders->len; i++) {
        unsigned a = g_array_index(orders, unsigned, i);
        for (guint j = i + 1; a && j < orders->len; j++) {
            if (a == g_array_index(orders, unsigned, j)) {
                conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                           "boot order '%u' used for more than one device", a);
                return false;
            }
        }
    }
    if (def->boot_devs->len > 0 && domain_def_has_boot_order(def)) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                   "per-device boot elements cannot be used together with os/boot elements");
        return false;
    }
    return true;
}

bool domain_def_validate(const DomainDef *def, GError **err)
{
    for (guint i = 0; i < def->disks->len; i++) {
        const DomainDisk *a = g_ptr_array_index(def->disks, i);
        for (guint j = i + 1; j < def->disks->len; j++) {
            const DomainDisk *b = g_ptr_array_index(def->disks, j);
            if (strcmp(a->target_dev, b->target_dev) == 0) {
                conf_error(err, VIR_ERR_XML_ERROR,
                           "target '%s' duplicated for disk sources '%s' and '%s'", a->target_dev,
                           a->source ? a->source : "", b->source ? b->source : "");
                return false;
            }
            /* virDomainDefCheckDuplicateDriveAddresses, naming the first disk */
            const DomainDriveAddr *x = &a->drive, *y = &b->drive;
            if (a->bus == b->bus && x->present && y->present && x->controller == y->controller &&
                x->bus == y->bus && x->target == y->target && x->unit == y->unit) {
                conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                           "Found duplicate drive address for disk with target name '%s' "
                           "controller='%u' bus='%u' target='%u' unit='%u'", a->target_dev,
                           x->controller, x->bus, x->target, x->unit);
                return false;
            }
        }
    }

    /* every host PCI function can be given to one guest device only */
    g_autoptr(GArray) sources = g_array_new(FALSE, FALSE, sizeof(DomainPciAddr));
    for (guint i = 0; i < def->nets->len; i++) {
        const DomainNet *n = g_ptr_array_index(def->nets, i);
        if (n->type == DOMAIN_NET_HOSTDEV)
            g_array_append_val(sources, n->host_addr);
        if (n->queues > DOMAIN_MAX_NET_QUEUES) {
            conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                       "interface queues='%u' is more than hvd supports (%d)", n->queues,
                       DOMAIN_MAX_NET_QUEUES);
            return false;
        }
    }
    for (guint i = 0; i < def->hostdevs->len; i++) {
        const DomainHostdev *h = g_ptr_array_index(def->hostdevs, i);
        g_array_append_val(sources, h->source);
    }
    for (guint i = 0; i < sources->len; i++) {
        for (guint j = i + 1; j < sources->len; j++) {
            const DomainPciAddr *a = &g_array_index(sources, DomainPciAddr, i);
            if (same_pci(a, &g_array_index(sources, DomainPciAddr, j))) {
                conf_error(err, VIR_ERR_XML_ERROR,
                           "Hostdev already exists in the domain configuration: "
                           "PCI device %04x:%02x:%02x.%x is assigned twice",
                           a->domain, a->bus, a->slot, a->function);
                return false;
            }
        }
    }

    if (!validate_boot_order(def, err))
        return false;

    if (def->cpu_sockets) {
        guint64 total = (guint64)def->cpu_sockets * def->cpu_dies * def->cpu_cores *
                        def->cpu_threads;
        if (total != def->vcpus) {
            conf_error(err, VIR_ERR_XML_ERROR,
                       "CPU topology doesn't match maximum vcpu count (%" G_GUINT64_FORMAT
                       " != %u)", total, def->vcpus);
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* PCI addresses                                                       */

typedef struct {
    bool used[DOMAIN_PCI_MAX_SLOT + 1];
} SlotMap;

static bool reserve_slot(SlotMap *map, const DomainPciAddr *a, const char *what, GError **err)
{
    if (!a->present)
        return true;
    if (a->domain != 0 || a->bus != 0) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                   "PCI address %04x:%02x:%02x.%x of %s: hvd has a single PCI bus 0000:00",
                   a->domain, a->bus, a->slot, a->function, what);
        return false;
    }
    if (a->function != 0) {
        conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                   "PCI address %04x:%02x:%02x.%x of %s: hvd does not do multifunction devices "
                   "(function must be 0)", a->domain, a->bus, a->slot, a->function, what);
        return false;
    }
    if (a->slot == 0) {
        conf_error(err, VIR_ERR_XML_ERROR,
                   "PCI address 0000:00:00.0 of %s is reserved for the host bridge", what);
        return false;
    }
    if (map->used[a->slot]) {
        conf_error(err, VIR_ERR_XML_ERROR, "Attempted double use of PCI Address 0000:00:%02x.0 (%s)",
                   a->slot, what);
        return false;
    }
    map->used[a->slot] = true;
    return true;
}

static bool assign_slot(SlotMap *map, DomainPciAddr *a, const char *what, GError **err)
{
    if (a->present)
        return true;
    for (unsigned slot = DOMAIN_PCI_FIRST_AUTO_SLOT; slot <= DOMAIN_PCI_MAX_SLOT; slot++) {
        if (!map->used[slot]) {
            map->used[slot] = true;
            *a = (DomainPciAddr){ .present = true, .slot = slot };
            return true;
        }
    }
    conf_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
               "no free PCI slot left on bus 0 for %s (hvd has slots %d to %d)", what,
               DOMAIN_PCI_FIRST_AUTO_SLOT, DOMAIN_PCI_MAX_SLOT);
    return false;
}

/* Kept verbatim devices may carry addresses; we create no device for
 * them, but their slots must stay free so the config remains consistent
 * when read by libvirt tools. Only bus-0 function-0 PCI addresses count. */
static void reserve_verbatim_slots(SlotMap *map, const char *xml)
{
    g_autoptr(xmlDoc) doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL,
                                          XML_PARSE_NONET | XML_PARSE_NOERROR |
                                              XML_PARSE_NOWARNING);
    if (!doc)
        return;
    xmlNode *root = xmlDocGetRootElement(doc);
    for (xmlNode *c = root ? root->children : NULL; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "address") != 0)
            continue;
        xmlChar *type = xmlGetProp(c, (const xmlChar *)"type");
        xmlChar *bus = xmlGetProp(c, (const xmlChar *)"bus");
        xmlChar *slot = xmlGetProp(c, (const xmlChar *)"slot");
        if (type && slot && strcmp((const char *)type, "pci") == 0 &&
            (!bus || strtoul((const char *)bus, NULL, 0) == 0)) {
            unsigned long s = strtoul((const char *)slot, NULL, 0);
            if (s <= DOMAIN_PCI_MAX_SLOT)
                map->used[s] = true;
        }
        xmlFree(type);
        xmlFree(bus);
        xmlFree(slot);
    }
}

bool domain_def_assign_pci_addresses(DomainDef *def, GError **err)
{
    SlotMap map = { .used = { [0] = true } };
    char what[64];

    for (guint i = 0; i < def->nets->len; i++) {
        DomainNet *n = g_ptr_array_index(def->nets, i);
        g_snprintf(what, sizeof(what), "interface %u", i);
        if (!reserve_slot(&map, &n->addr, what, err))
            return false;
    }
    for (guint i = 0; i < def->disks->len; i++) {
        DomainDisk *d = g_ptr_array_index(def->disks, i);
        g_snprintf(what, sizeof(what), "disk '%s'", d->target_dev);
        if (!reserve_slot(&map, &d->addr, what, err))
            return false;
    }
    for (guint i = 0; i < def->hostdevs->len; i++) {
        DomainHostdev *h = g_ptr_array_index(def->hostdevs, i);
        g_snprintf(what, sizeof(what), "hostdev %u", i);
        if (!reserve_slot(&map, &h->addr, what, err))
            return false;
    }
    if (def->balloon.enabled && !reserve_slot(&map, &def->balloon.addr, "memballoon", err))
        return false;
    for (guint i = 0; i < def->extra_devices->len; i++)
        reserve_verbatim_slots(&map, g_ptr_array_index(def->extra_devices, i));

    /* then hand out free slots in libvirt's order */
    for (guint i = 0; i < def->nets->len; i++) {
        DomainNet *n = g_ptr_array_index(def->nets, i);
        if (n->type != DOMAIN_NET_HOSTDEV && !assign_slot(&map, &n->addr, "an interface", err))
            return false;
    }
    for (guint i = 0; i < def->disks->len; i++) {
        DomainDisk *d = g_ptr_array_index(def->disks, i);
        /* IDE disks sit on the IDE controller, not on a slot of their own */
        if (d->bus == DOMAIN_DISK_BUS_VIRTIO && !assign_slot(&map, &d->addr, "a disk", err))
            return false;
    }
    for (guint i = 0; i < def->nets->len; i++) {
        DomainNet *n = g_ptr_array_index(def->nets, i);
        if (n->type == DOMAIN_NET_HOSTDEV && !assign_slot(&map, &n->addr, "a hostdev interface", err))
            return false;
    }
    for (guint i = 0; i < def->hostdevs->len; i++) {
        DomainHostdev *h = g_ptr_array_index(def->hostdevs, i);
        if (!assign_slot(&map, &h->addr, "a hostdev", err))
            return false;
    }
    if (def->balloon.enabled && !assign_slot(&map, &def->balloon.addr, "the memballoon", err))
        return false;
    return true;
}

/* ------------------------------------------------------------------ */
/* RelaxNG                                                             */

static void collect_rng_error(void *data, const xmlError *e)
{
    GString *msgs = data;
    if (!e || !e->message || msgs->len > 4096)
        return;
    const xmlNode *node = e->node;
    if (node && node->type == XML_ELEMENT_NODE && node->name)
        g_string_append_printf(msgs, "\nline %d: element <%s>: ", e->line, (const char *)node->name);
    else
        g_string_append_printf(msgs, "\nline %d: ", e->line);
    g_string_append(msgs, e->message);
    while (msgs->len && msgs->str[msgs->len - 1] == '\n')
        g_string_truncate(msgs, msgs->len - 1);
}

static void ignore_rng_error(void *data, const xmlError *e)
{
    (void)data;
    (void)e;
}

/* Compiled schemas are cached by key: compiling a schema takes a
 * noticeable fraction of a second. Never freed. `define` non-NULL: a
 * grammar that includes rng_path and starts at that one definition. */
static xmlRelaxNG *schema_for(const char *rng_path, const char *define, GError **err)
{
    static GMutex lock;
    static GHashTable *cache;
    g_autofree char *key = g_strdup_printf("%s#%s", rng_path, define ? define : "");
    g_mutex_lock(&lock);
    if (!cache)
        cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    xmlRelaxNG *schema = g_hash_table_lookup(cache, key);
    if (!schema) {
        g_autoptr(xmlRelaxNGParserCtxt) pctxt = NULL;
        g_autofree char *grammar = NULL;
        if (define) {
            g_autofree char *href = g_markup_escape_text(rng_path, -1);
            grammar = g_strdup_printf(
                "<grammar xmlns='http://relaxng.org/ns/structure/1.0'><include href='%s'>"
                "<start><ref name='%s'/></start></include></grammar>", href, define);
            pctxt = xmlRelaxNGNewMemParserCtxt(grammar, (int)strlen(grammar));
        } else {
            pctxt = xmlRelaxNGNewParserCtxt(rng_path);
        }
        if (pctxt) {
            xmlRelaxNGSetParserStructuredErrors(pctxt, (xmlStructuredErrorFunc)ignore_rng_error, NULL);
            schema = xmlRelaxNGParse(pctxt);
        }
        if (schema)
            g_hash_table_insert(cache, g_steal_pointer(&key), schema);
    }
    g_mutex_unlock(&lock);
    if (!schema)
        hvd_vir_error_set(err, VIR_FROM_XML, VIR_ERR_INTERNAL_ERROR,
                          "Unable to parse RNG %s", rng_path);
    return schema;
}

static bool validate_with(xmlRelaxNG *schema, xmlDoc *doc, GString *msgs)
{
    g_autoptr(xmlRelaxNGValidCtxt) vctxt = xmlRelaxNGNewValidCtxt(schema);
    if (!vctxt)
        return false;
    xmlRelaxNGSetValidStructuredErrors(vctxt, (xmlStructuredErrorFunc)collect_rng_error, msgs);
    return xmlRelaxNGValidateDoc(vctxt, doc) == 0;
}

/* libxml2's RelaxNG messages for <interleave> content name the container,
 * not the culprit. Validate each modelled device and top-level element on
 * its own against its definition in our schema (these names exist in
 * schemas/domain.rng) and describe the first that fails. */
static void pinpoint_culprit(xmlDoc *doc, const char *rng_path, GString *out)
{
    static const char *const checked[] = { "disk", "interface", "hostdev", "memballoon",
                                           "serial", "console", "os", "vcpu" };
    xmlNode *root = xmlDocGetRootElement(doc);
    if (!root)
        return;
    xmlNode *devices = NULL;
    for (xmlNode *c = root->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, "devices"))
            devices = c;
    xmlNode *lists[] = { devices ? devices->children : NULL, root->children };
    for (size_t l = 0; l < G_N_ELEMENTS(lists); l++) {
        for (xmlNode *c = lists[l]; c; c = c->next) {
            if (c->type != XML_ELEMENT_NODE || c->ns)
                continue;
            const char *name = (const char *)c->name;
            const char *define = NULL;
            for (size_t i = 0; i < G_N_ELEMENTS(checked) && !define; i++)
                if (!strcmp(name, checked[i]))
                    define = checked[i];
            if (!define)
                continue;
            xmlRelaxNG *part = schema_for(rng_path, define, NULL);
            if (!part)
                return; /* not our schema (e.g. libvirt's): no such define */
            g_autoptr(xmlDoc) one = xmlNewDoc((const xmlChar *)"1.0");
            xmlNode *copy = xmlDocCopyNode(c, one, 1);
            if (!copy)
                continue;
            xmlDocSetRootElement(one, copy);
            g_autoptr(GString) why = g_string_new(NULL);
            if (!validate_with(part, one, why)) {
                g_string_append_printf(out, "\nelement <%s> at line %ld does not validate:", name,
                                       xmlGetLineNo(c));
                /* the copy has no line numbers: drop "line 0: " */
                g_auto(GStrv) pieces = g_strsplit(why->str, "line 0: ", -1);
                g_autofree char *clean = g_strjoinv("", pieces);
                g_string_append(out, clean);
                return;
            }
        }
    }
}

bool domain_schema_validate_doc(xmlDoc *doc, const char *rng_path, GError **err)
{
    xmlRelaxNG *schema = schema_for(rng_path, NULL, err);
    if (!schema)
        return false;
    g_autoptr(xmlRelaxNGValidCtxt) vctxt = xmlRelaxNGNewValidCtxt(schema);
    if (!vctxt) {
        hvd_vir_error_set(err, VIR_FROM_XML, VIR_ERR_INTERNAL_ERROR,
                          "Unable to create RNG validation context %s", rng_path);
        return false;
    }
    g_autoptr(GString) msgs = g_string_new(NULL);
    xmlRelaxNGSetValidStructuredErrors(vctxt, (xmlStructuredErrorFunc)collect_rng_error, msgs);
    if (xmlRelaxNGValidateDoc(vctxt, doc) != 0) {
        /* libvirt's shape (virXMLValidatorValidate) plus the libxml2
         * complaints, which name the element */
        pinpoint_culprit(doc, rng_path, msgs);
        hvd_vir_error_set(err, VIR_FROM_XML, VIR_ERR_XML_INVALID_SCHEMA,
                          "Unable to validate doc against %s%s", rng_path, msgs->str);
        return false;
    }
    return true;
}

const char *domain_schema_path(void)
{
    static char *found;
    static gsize once;
    if (g_once_init_enter(&once)) {
        const char *env = g_getenv("HVD_SCHEMA_DIR");
        const char *dirs[] = { env, HVD_CONF_SCHEMADIR,
#ifdef HVD_CONF_SRC_SCHEMADIR
                               HVD_CONF_SRC_SCHEMADIR,
#endif
                               NULL };
        for (size_t i = 0; i < G_N_ELEMENTS(dirs) && !found; i++) {
            if (i > 0 && !dirs[i])
                break;
            if (!dirs[i])
                continue;
            g_autofree char *p = g_build_filename(dirs[i], "domain.rng", NULL);
            if (g_file_test(p, G_FILE_TEST_IS_REGULAR))
                found = g_steal_pointer(&p);
        }
        g_once_init_leave(&once, 1);
    }
    return found;
}
