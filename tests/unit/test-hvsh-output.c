/* hvsh's tables and key/value output, text and JSON. */
#include "tests/tap.h"
#include "tools/hvsh/hvsh.h"

static void test_table(void)
{
    static const struct hvsh_col cols[] = {
        { "Id", "id", HVSH_COL_INT },
        { "Name", "name", HVSH_COL_STR },
        { "State", "state", HVSH_COL_STR },
    };
    struct hvsh_table *t = hvsh_table_new(cols, 3);
    const char *r1[] = { "1", "guest-long-name", "running" };
    const char *r2[] = { "-", "d1", "shut off" };
    hvsh_table_add_row(t, r1);
    hvsh_table_add_row(t, r2);
    char *text = hvsh_table_to_text(t);
    TAP_EQ_STR(text,
               " Id   Name              State\n"
               "----------------------------------\n"
               " 1    guest-long-name   running\n"
               " -    d1                shut off\n",
               "aligned text table, virsh's layout");
    g_free(text);

    char *json = hvsh_table_to_json(t);
    json_object *parsed = json_tokener_parse(json);
    TAP_CHECK(parsed && json_object_is_type(parsed, json_type_array) &&
                  json_object_array_length(parsed) == 2, "JSON array of two rows");
    json_object *row0 = parsed ? json_object_array_get_idx(parsed, 0) : NULL;
    json_object *row1 = parsed ? json_object_array_get_idx(parsed, 1) : NULL;
    json_object *v;
    TAP_CHECK(row0 && json_object_object_get_ex(row0, "id", &v) && json_object_is_type(v, json_type_int) &&
                  json_object_get_int(v) == 1, "id is a number");
    TAP_CHECK(row1 && json_object_object_get_ex(row1, "id", &v) && v == NULL, "'-' id is null");
    TAP_CHECK(row1 && json_object_object_get_ex(row1, "state", &v) &&
                  !strcmp(json_object_get_string(v), "shut off"), "state string");
    json_object_put(parsed);
    g_free(json);
    hvsh_table_free(t);

    t = hvsh_table_new(cols, 3);
    text = hvsh_table_to_text(t);
    TAP_EQ_STR(text, " Id   Name   State\n--------------------\n", "empty table: header only");
    g_free(text);
    json = hvsh_table_to_json(t);
    TAP_EQ_STR(json, "[\n]\n", "empty table: empty JSON array");
    g_free(json);
    hvsh_table_free(t);

    /* UTF-8 names are padded by characters, not bytes */
    t = hvsh_table_new(cols, 3);
    const char *r3[] = { "2", "gäst", "paused" };
    const char *r4[] = { "3", "abcde", "running" };
    hvsh_table_add_row(t, r3);
    hvsh_table_add_row(t, r4);
    text = hvsh_table_to_text(t);
    TAP_CHECK(strstr(text, " 2    gäst    paused\n") != NULL, "UTF-8 padding by characters");
    g_free(text);
    hvsh_table_free(t);
}

static void test_kv(void)
{
    struct hvsh_kv *kv = hvsh_kv_new();
    hvsh_kv_add_int(kv, "Id", "id", 3, NULL);
    hvsh_kv_add_str(kv, "Name", "name", "g1");
    hvsh_kv_add_int(kv, "Max memory", "max_memory_kib", 524288, "KiB");
    hvsh_kv_add_bool(kv, "Persistent", "persistent", true);
    char *text = hvsh_kv_to_text(kv);
    TAP_EQ_STR(text,
               "Id:             3\n"
               "Name:           g1\n"
               "Max memory:     524288 KiB\n"
               "Persistent:     yes\n",
               "key/value text in virsh's %%-15s layout");
    g_free(text);
    char *json = hvsh_kv_to_json(kv);
    json_object *o = json_tokener_parse(json);
    json_object *v;
    TAP_CHECK(o && json_object_object_get_ex(o, "max_memory_kib", &v) && json_object_get_int64(v) == 524288,
              "memory is a JSON number without unit");
    TAP_CHECK(o && json_object_object_get_ex(o, "persistent", &v) && json_object_is_type(v, json_type_boolean) &&
                  json_object_get_boolean(v), "bool is a JSON boolean");
    TAP_CHECK(o && json_object_object_get_ex(o, "name", &v) && !strcmp(json_object_get_string(v), "g1"),
              "name string");
    json_object_put(o);
    g_free(json);
    hvsh_kv_free(kv);

    json_object *x = json_object_new_object();
    json_object_object_add(x, "a", json_object_new_string("x/y"));
    char *pretty = hvsh_json_pretty(x);
    TAP_EQ_STR(pretty, "{\n  \"a\": \"x/y\"\n}\n", "pretty JSON, 2 spaces, slashes unescaped");
    g_free(pretty);
    json_object_put(x);
}

int main(void)
{
    test_table();
    test_kv();
    return tap_done();
}
