/* Tables and key/value records, as aligned text (virsh's look) or JSON for
 * scripts (--json). Pure: the renderers return strings, callers print. */
#include "tools/hvsh/hvsh.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct hvsh_table {
    struct hvsh_col *cols;
    size_t n_cols;
    GPtrArray *rows; /* char ** of n_cols strings */
};

struct hvsh_table *hvsh_table_new(const struct hvsh_col *cols, size_t n_cols)
{
    struct hvsh_table *t = g_new0(struct hvsh_table, 1);
    t->cols = g_memdup2(cols, n_cols * sizeof(*cols));
    t->n_cols = n_cols;
    t->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    return t;
}

void hvsh_table_add_row(struct hvsh_table *t, const char *const *cells)
{
    char **row = g_new0(char *, t->n_cols + 1);
    for (size_t i = 0; i < t->n_cols; i++)
        row[i] = g_strdup(cells[i] ? cells[i] : "");
    g_ptr_array_add(t->rows, row);
}

void hvsh_table_free(struct hvsh_table *t)
{
    if (!t)
        return;
    g_ptr_array_unref(t->rows);
    g_free(t->cols);
    g_free(t);
}

/* Width in characters, not bytes, so UTF-8 names line up. */
static size_t text_width(const char *s)
{
    return g_utf8_validate(s, -1, NULL) ? (size_t)g_utf8_strlen(s, -1) : strlen(s);
}

static void append_padded(GString *s, const char *text, size_t width)
{
    g_string_append(s, text);
    for (size_t w = text_width(text); w < width; w++)
        g_string_append_c(s, ' ');
}

char *hvsh_table_to_text(const struct hvsh_table *t)
{
    g_autofree size_t *width = g_new0(size_t, t->n_cols);
    for (size_t c = 0; c < t->n_cols; c++) {
        width[c] = text_width(t->cols[c].header);
        for (guint r = 0; r < t->rows->len; r++) {
            char **row = g_ptr_array_index(t->rows, r);
            width[c] = MAX(width[c], text_width(row[c]));
        }
    }
    /* " Id   Name   State" then dashes under the whole header, as virsh. */
    GString *s = g_string_new(NULL);
    size_t total = 0;
    for (size_t c = 0; c < t->n_cols; c++) {
        bool last = c + 1 == t->n_cols;
        g_string_append_c(s, ' ');
        append_padded(s, t->cols[c].header, last ? 0 : width[c]);
        if (!last)
            g_string_append(s, "  ");
        total += width[c] + 3; /* virsh: every column, the last included, plus 3 */
    }
    g_string_append_c(s, '\n');
    for (size_t i = 0; i < total; i++)
        g_string_append_c(s, '-');
    g_string_append_c(s, '\n');
    for (guint r = 0; r < t->rows->len; r++) {
        char **row = g_ptr_array_index(t->rows, r);
        GString *line = g_string_new(NULL);
        for (size_t c = 0; c < t->n_cols; c++) {
            bool last = c + 1 == t->n_cols;
            g_string_append_c(line, ' ');
            append_padded(line, row[c], last ? 0 : width[c]);
            if (!last)
                g_string_append(line, "  ");
        }
        g_string_append(s, line->str);
        g_string_append_c(s, '\n');
        g_string_free(line, TRUE);
    }
    return g_string_free(s, FALSE);
}

/* An INT cell as a JSON number; anything that is not a whole number
 * (virsh's "-" for an inactive domain's id) becomes null. */
static json_object *int_cell(const char *text)
{
    if (!text || !*text)
        return NULL;
    errno = 0;
    char *end;
    long long n = strtoll(text, &end, 10);
    if (errno || *end || end == text)
        return NULL;
    return json_object_new_int64(n);
}

char *hvsh_table_to_json(const struct hvsh_table *t)
{
    json_object *arr = json_object_new_array();
    for (guint r = 0; r < t->rows->len; r++) {
        char **row = g_ptr_array_index(t->rows, r);
        json_object *o = json_object_new_object();
        for (size_t c = 0; c < t->n_cols; c++) {
            json_object *v = t->cols[c].kind == HVSH_COL_INT ? int_cell(row[c])
                                                             : json_object_new_string(row[c]);
            json_object_object_add(o, t->cols[c].key, v);
        }
        json_object_array_add(arr, o);
    }
    char *out = hvsh_json_pretty(arr);
    json_object_put(arr);
    return out;
}

struct hvsh_kv_entry {
    char *label;
    char *text;
    char *key;
    json_object *json;
};

struct hvsh_kv {
    GPtrArray *entries;
};

static void kv_entry_free(gpointer p)
{
    struct hvsh_kv_entry *e = p;
    g_free(e->label);
    g_free(e->text);
    g_free(e->key);
    json_object_put(e->json);
    g_free(e);
}

struct hvsh_kv *hvsh_kv_new(void)
{
    struct hvsh_kv *kv = g_new0(struct hvsh_kv, 1);
    kv->entries = g_ptr_array_new_with_free_func(kv_entry_free);
    return kv;
}

void hvsh_kv_free(struct hvsh_kv *kv)
{
    if (!kv)
        return;
    g_ptr_array_unref(kv->entries);
    g_free(kv);
}

static void kv_add(struct hvsh_kv *kv, const char *label, const char *key, char *text,
                   json_object *json)
{
    struct hvsh_kv_entry *e = g_new0(struct hvsh_kv_entry, 1);
    e->label = g_strdup(label);
    e->key = g_strdup(key);
    e->text = text;
    e->json = json;
    g_ptr_array_add(kv->entries, e);
}

void hvsh_kv_add_str(struct hvsh_kv *kv, const char *label, const char *key, const char *value)
{
    kv_add(kv, label, key, g_strdup(value ? value : ""),
           value ? json_object_new_string(value) : NULL);
}

void hvsh_kv_add_int(struct hvsh_kv *kv, const char *label, const char *key, int64_t value,
                     const char *text_unit)
{
    char *text = text_unit ? g_strdup_printf("%" G_GINT64_FORMAT " %s", value, text_unit)
                           : g_strdup_printf("%" G_GINT64_FORMAT, value);
    kv_add(kv, label, key, text, json_object_new_int64(value));
}

void hvsh_kv_add_raw(struct hvsh_kv *kv, const char *label, const char *key, const char *text,
                     json_object *json)
{
    kv_add(kv, label, key, g_strdup(text ? text : ""), json);
}

void hvsh_kv_add_bool(struct hvsh_kv *kv, const char *label, const char *key, bool value)
{
    kv_add(kv, label, key, g_strdup(value ? "yes" : "no"), json_object_new_boolean(value));
}

char *hvsh_kv_to_text(const struct hvsh_kv *kv)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < kv->entries->len; i++) {
        const struct hvsh_kv_entry *e = g_ptr_array_index(kv->entries, i);
        g_autofree char *label = g_strdup_printf("%s:", e->label);
        /* virsh: "%-15s %s" */
        g_string_append_printf(s, "%-15s %s\n", label, e->text);
    }
    return g_string_free(s, FALSE);
}

char *hvsh_kv_to_json(const struct hvsh_kv *kv)
{
    json_object *o = json_object_new_object();
    for (guint i = 0; i < kv->entries->len; i++) {
        const struct hvsh_kv_entry *e = g_ptr_array_index(kv->entries, i);
        json_object_object_add(o, e->key, e->json ? json_object_get(e->json) : NULL);
    }
    char *out = hvsh_json_pretty(o);
    json_object_put(o);
    return out;
}

char *hvsh_json_pretty(json_object *obj)
{
    const char *text = json_object_to_json_string_ext(
        obj, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
    return g_strdup_printf("%s\n", text);
}
