/* hvsh monitor NAME CMD: a command to the domain's worker monitor through
 * libvirt-qemu's virDomainQemuMonitorCommand (what `virsh
 * qemu-monitor-command` does), with the JSON reply pretty-printed. A bare
 * word is wrapped as {"execute": WORD}; --hmp sends a human command
 * ("info balloon", "balloon 512"). */
#include "tools/hvsh/hvsh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt-qemu.h>

static const struct hvsh_opt_def monitor_opts[] = {
    { "domain", HVSH_OPT_STRING, HVSH_OPT_POSITIONAL | HVSH_OPT_REQUIRED, "domain name, id or uuid" },
    { "hmp", HVSH_OPT_BOOL, 0, "command is in human monitor protocol" },
    { "cmd", HVSH_OPT_LIST, HVSH_OPT_POSITIONAL | HVSH_OPT_REQUIRED, "command (words are joined with spaces)" },
    { NULL },
};

static int cmd_monitor(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    const GPtrArray *words = hvsh_arg_list(args, "cmd");
    GString *cmd = g_string_new(NULL);
    for (guint i = 0; i < words->len; i++) {
        if (i)
            g_string_append_c(cmd, ' ');
        g_string_append(cmd, g_ptr_array_index(words, i));
    }
    g_autofree char *text = g_string_free(cmd, FALSE);
    bool hmp = hvsh_arg_bool(args, "hmp");
    g_strstrip(text);
    if (!hmp && text[0] != '{') {
        /* "query-status" is short for {"execute":"query-status"} */
        json_object *o = json_object_new_object();
        json_object_object_add(o, "execute", json_object_new_string(text));
        char *wrapped = g_strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        g_free(text);
        text = wrapped;
    }

    virDomainPtr dom = hvsh_lookup_domain(ctl, hvsh_arg_str(args, "domain"));
    if (!dom)
        return HVSH_EXIT_ERROR;
    char *reply = NULL;
    int rc = HVSH_EXIT_OK;
    if (virDomainQemuMonitorCommand(dom, text, &reply,
                                    hmp ? VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP : 0) < 0) {
        rc = hvsh_libvirt_error("monitor command failed on domain '%s'", virDomainGetName(dom));
        goto out;
    }
    if (hmp) {
        if (ctl->json) {
            json_object *o = json_object_new_object();
            json_object_object_add(o, "return", json_object_new_string(reply));
            g_autofree char *pretty = hvsh_json_pretty(o);
            fputs(pretty, stdout);
            json_object_put(o);
        } else {
            fputs(reply, stdout);
            if (reply[0] && reply[strlen(reply) - 1] != '\n')
                putchar('\n');
        }
        goto out;
    }
    enum json_tokener_error jerr;
    json_object *parsed = json_tokener_parse_verbose(reply, &jerr);
    if (!parsed) {
        /* not JSON: show it as it came rather than lose it */
        fputs(reply, stdout);
        putchar('\n');
        goto out;
    }
    if (ctl->json) {
        printf("%s\n", json_object_to_json_string_ext(parsed, JSON_C_TO_STRING_PLAIN));
    } else {
        g_autofree char *pretty = hvsh_json_pretty(parsed);
        fputs(pretty, stdout);
    }
    /* a QMP error reply is a failed command for scripts */
    json_object *error;
    if (json_object_object_get_ex(parsed, "error", &error)) {
        json_object *cls = NULL, *desc = NULL;
        json_object_object_get_ex(error, "class", &cls);
        json_object_object_get_ex(error, "desc", &desc);
        hvsh_error("%s: %s", cls ? json_object_get_string(cls) : "GenericError",
                   desc ? json_object_get_string(desc) : "(no description)");
        rc = HVSH_EXIT_ERROR;
    }
    json_object_put(parsed);
out:
    free(reply);
    virDomainFree(dom);
    return rc;
}

const struct hvsh_cmd_def hvsh_monitor_cmds[] = {
    { "monitor", "qemu-monitor-command", "send a command to the domain's monitor",
      "Sends CMD to the worker's QMP-like monitor and pretty-prints the JSON reply (compact "
      "with --json). A bare command name is wrapped as {\"execute\": NAME}. --hmp sends a "
      "human monitor command (info balloon, balloon 512) and prints its text. A QMP error "
      "reply exits with status 1.",
      monitor_opts, cmd_monitor, 0 },
    { NULL },
};
