/* hvsh's per-command option parser: virsh's conventions (--opt VALUE,
 * --opt=VALUE, options that may also be given positionally, "--" ends the
 * options) and its error wording, so that scripts written for virsh read
 * the same here. Pure: no libvirt calls. */
#include "tools/hvsh/hvsh.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/size.h"

static int opt_index(const struct hvsh_cmd_def *cmd, const char *name, size_t name_len)
{
    for (int i = 0; cmd->opts && cmd->opts[i].name; i++)
        if (strlen(cmd->opts[i].name) == name_len && strncmp(cmd->opts[i].name, name, name_len) == 0)
            return i;
    return -1;
}

static void set_value(struct hvsh_arg_value *v, const struct hvsh_opt_def *def, const char *value)
{
    v->present = true;
    v->value = value;
    if (def->kind == HVSH_OPT_LIST) {
        if (!v->values)
            v->values = g_ptr_array_new();
        g_ptr_array_add(v->values, (gpointer)value);
    }
}

bool hvsh_args_parse(const struct hvsh_cmd_def *cmd, int argc, char **argv,
                     struct hvsh_args *out, GError **err)
{
    memset(out, 0, sizeof(*out));
    out->cmd = cmd;
    int n_opts = 0;
    while (cmd->opts && cmd->opts[n_opts].name)
        n_opts++;
    g_assert(n_opts <= HVSH_MAX_OPTS);

    bool options_done = false;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!options_done && (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)) {
            out->help = true;
            continue;
        }
        if (!options_done && arg[0] == '-' && arg[1] == '-' && arg[2]) {
            const char *name = arg + 2;
            const char *eq = strchr(name, '=');
            size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
            int idx = opt_index(cmd, name, name_len);
            if (idx < 0) {
                g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION,
                            "command '%s' doesn't support option --%.*s", cmd->name,
                            (int)name_len, name);
                return false;
            }
            const struct hvsh_opt_def *def = &cmd->opts[idx];
            struct hvsh_arg_value *v = &out->v[idx];
            switch (def->kind) {
            case HVSH_OPT_BOOL:
                if (eq) {
                    g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                                "option --%s of command '%s' takes no value", def->name, cmd->name);
                    return false;
                }
                v->present = true;
                break;
            case HVSH_OPT_OPTIONAL:
                v->present = true;
                v->value = eq ? eq + 1 : NULL;
                break;
            case HVSH_OPT_STRING:
            case HVSH_OPT_LIST:
                if (eq) {
                    set_value(v, def, eq + 1);
                } else if (i + 1 < argc) {
                    set_value(v, def, argv[++i]);
                } else {
                    g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                                "expected syntax: --%s <%s>", def->name, def->name);
                    return false;
                }
                break;
            }
            continue;
        }
        /* A positional word fills the first positional option not given yet;
         * a positional LIST takes every remaining word. */
        int idx = -1;
        for (int j = 0; j < n_opts; j++) {
            const struct hvsh_opt_def *def = &cmd->opts[j];
            if (!(def->flags & HVSH_OPT_POSITIONAL))
                continue;
            if (def->kind == HVSH_OPT_LIST || !out->v[j].present) {
                idx = j;
                break;
            }
        }
        if (idx < 0) {
            g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "unexpected data '%s'", arg);
            return false;
        }
        set_value(&out->v[idx], &cmd->opts[idx], arg);
    }
    if (out->help)
        return true;
    for (int j = 0; j < n_opts; j++) {
        if ((cmd->opts[j].flags & HVSH_OPT_REQUIRED) && !out->v[j].present) {
            g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                        "command '%s' requires <%s> option", cmd->name, cmd->opts[j].name);
            return false;
        }
    }
    return true;
}

void hvsh_args_clear(struct hvsh_args *args)
{
    for (int i = 0; i < HVSH_MAX_OPTS; i++)
        if (args->v[i].values)
            g_ptr_array_unref(args->v[i].values);
    memset(args, 0, sizeof(*args));
}

static const struct hvsh_arg_value *lookup(const struct hvsh_args *args, const char *name)
{
    int idx = opt_index(args->cmd, name, strlen(name));
    g_assert(idx >= 0); /* a command asking for an option it does not declare is a bug */
    return &args->v[idx];
}

bool hvsh_arg_bool(const struct hvsh_args *args, const char *name)
{
    return lookup(args, name)->present;
}

bool hvsh_arg_present(const struct hvsh_args *args, const char *name)
{
    return lookup(args, name)->present;
}

const char *hvsh_arg_str(const struct hvsh_args *args, const char *name)
{
    return lookup(args, name)->value;
}

const GPtrArray *hvsh_arg_list(const struct hvsh_args *args, const char *name)
{
    static GPtrArray *empty;
    const struct hvsh_arg_value *v = lookup(args, name);
    if (v->values)
        return v->values;
    if (!empty)
        empty = g_ptr_array_new();
    return empty;
}

bool hvsh_arg_uint(const struct hvsh_args *args, const char *name, unsigned long long max,
                   unsigned long long *value, GError **err)
{
    const char *text = hvsh_arg_str(args, name);
    if (!text)
        return true;
    errno = 0;
    char *end = NULL;
    unsigned long long n = g_ascii_isdigit(text[0]) ? strtoull(text, &end, 10) : 0;
    if (!end || errno || *end || n > max) {
        g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "numeric value '%s' for <%s> option is malformed or out of range", text, name);
        return false;
    }
    *value = n;
    return true;
}

bool hvsh_parse_size_kib(const char *text, uint64_t default_unit_bytes, uint64_t *kib,
                         GError **err)
{
    uint64_t bytes;
    if (!size_parse(text, default_unit_bytes, &bytes)) {
        g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "invalid size '%s': expected a number with an optional unit "
                    "(b, KiB, MiB, GiB, TiB, k, M, G, T, KB, MB, GB, TB)",
                    text ? text : "");
        return false;
    }
    /* libvirt rounds byte counts up to whole KiB */
    *kib = bytes / 1024 + (bytes % 1024 ? 1 : 0);
    return true;
}

static void append_synopsis_opt(GString *s, const struct hvsh_opt_def *def)
{
    bool req = def->flags & HVSH_OPT_REQUIRED;
    bool pos = def->flags & HVSH_OPT_POSITIONAL;
    const char *more = def->kind == HVSH_OPT_LIST ? "..." : "";
    g_string_append_c(s, ' ');
    switch (def->kind) {
    case HVSH_OPT_BOOL:
        g_string_append_printf(s, "[--%s]", def->name);
        break;
    case HVSH_OPT_OPTIONAL:
        g_string_append_printf(s, "[--%s[=<%s>]]", def->name, def->name);
        break;
    case HVSH_OPT_STRING:
    case HVSH_OPT_LIST:
        if (req && pos)
            g_string_append_printf(s, "[--%s] <%s>%s", def->name, def->name, more);
        else if (req)
            g_string_append_printf(s, "--%s <%s>%s", def->name, def->name, more);
        else if (pos)
            g_string_append_printf(s, "[[--%s] <%s>]%s", def->name, def->name, more);
        else
            g_string_append_printf(s, "[--%s <%s>]%s", def->name, def->name, more);
        break;
    }
}

char *hvsh_cmd_help(const struct hvsh_cmd_def *cmd)
{
    GString *s = g_string_new(NULL);
    g_string_append_printf(s, "  NAME\n    %s - %s\n\n  SYNOPSIS\n    %s", cmd->name, cmd->summary,
                           cmd->name);
    for (int i = 0; cmd->opts && cmd->opts[i].name; i++)
        append_synopsis_opt(s, &cmd->opts[i]);
    g_string_append(s, "\n\n");
    if (cmd->alias)
        g_string_append_printf(s, "  ALIAS\n    %s\n\n", cmd->alias);
    if (cmd->description)
        g_string_append_printf(s, "  DESCRIPTION\n    %s\n\n", cmd->description);
    if (cmd->opts && cmd->opts[0].name) {
        g_string_append(s, "  OPTIONS\n");
        for (int i = 0; cmd->opts[i].name; i++) {
            const struct hvsh_opt_def *def = &cmd->opts[i];
            g_autofree char *left = NULL;
            if (def->kind == HVSH_OPT_BOOL)
                left = g_strdup_printf("--%s", def->name);
            else if (def->kind == HVSH_OPT_OPTIONAL)
                left = g_strdup_printf("--%s[=<%s>]", def->name, def->name);
            else if (def->flags & HVSH_OPT_POSITIONAL)
                left = g_strdup_printf("[--%s] <%s>", def->name, def->name);
            else
                left = g_strdup_printf("--%s <%s>", def->name, def->name);
            g_string_append_printf(s, "    %-24s %s\n", left, def->help);
        }
        g_string_append_c(s, '\n');
    }
    return g_string_free(s, FALSE);
}
