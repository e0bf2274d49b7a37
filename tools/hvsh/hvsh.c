/* hvsh: virsh-style CLI for hvd.
 *
 *   hvsh [-c URI] [-r] [--json] COMMAND [ARGS]
 *
 * URI: -c, else $HVSH_DEFAULT_URI, else $LIBVIRT_DEFAULT_URI (as virsh),
 * else hvd's default socket. Exit codes: 0 ok, 1 error (libvirt's message
 * on stderr as "error: ..."), 2 usage. */
#include "config.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/hvsh/hvsh.h"

static const struct hvsh_cmd_def *const *all_groups(void)
{
    static const struct hvsh_cmd_def *const groups[] = {
        hvsh_domain_cmds, hvsh_create_cmds, hvsh_monitor_cmds,
        hvsh_nodedev_cmds, hvsh_host_validate_cmds, hvsh_bench_cmds, NULL,
    };
    return groups;
}

static const struct hvsh_opt_def help_opts[] = {
    { "command", HVSH_OPT_STRING, HVSH_OPT_POSITIONAL, "show the help of this command" },
    { NULL },
};
static int cmd_help(struct hvsh_ctl *ctl, const struct hvsh_args *args);
static const struct hvsh_cmd_def builtin_cmds[] = {
    { "help", NULL, "print help", "Lists the commands, or prints one command's help.",
      help_opts, cmd_help, HVSH_CMD_NO_CONNECT },
    { NULL },
};

static const struct hvsh_cmd_def *find_cmd(const char *name)
{
    for (const struct hvsh_cmd_def *c = builtin_cmds; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    for (const struct hvsh_cmd_def *const *g = all_groups(); *g; g++)
        for (const struct hvsh_cmd_def *c = *g; c->name; c++)
            if (strcmp(c->name, name) == 0 || (c->alias && strcmp(c->alias, name) == 0))
                return c;
    return NULL;
}

static void print_usage(FILE *out)
{
    fprintf(out,
            "Usage: hvsh [-c URI] [-r] [--json] COMMAND [ARGS]\n"
            "\n"
            "  -c, --connect URI  connect to URI (default: $HVSH_DEFAULT_URI,\n"
            "                     $LIBVIRT_DEFAULT_URI, or %s)\n"
            "  -r, --readonly     read-only connection\n"
            "      --json         machine-readable output on read commands\n"
            "  -h, --help         this help; 'hvsh help COMMAND' for a command\n"
            "  -v, --version      print the version\n"
            "\n"
            "Commands:\n",
            HVSH_DEFAULT_URI);
    for (const struct hvsh_cmd_def *c = builtin_cmds; c->name; c++)
        fprintf(out, "    %-18s %s\n", c->name, c->summary);
    for (const struct hvsh_cmd_def *const *g = all_groups(); *g; g++)
        for (const struct hvsh_cmd_def *c = *g; c->name; c++)
            fprintf(out, "    %-18s %s\n", c->name, c->summary);
}

static int cmd_help(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    const char *name = hvsh_arg_str(args, "command");
    if (!name) {
        print_usage(stdout);
        return HVSH_EXIT_OK;
    }
    const struct hvsh_cmd_def *cmd = find_cmd(name);
    if (!cmd) {
        hvsh_error("command or command group '%s' doesn't exist", name);
        return HVSH_EXIT_USAGE;
    }
    g_autofree char *text = hvsh_cmd_help(cmd);
    fputs(text, stdout);
    return HVSH_EXIT_OK;
}

static const char *default_uri(void)
{
    const char *env = getenv("HVSH_DEFAULT_URI");
    if (env && *env)
        return env;
    env = getenv("LIBVIRT_DEFAULT_URI");
    if (env && *env)
        return env;
    return HVSH_DEFAULT_URI;
}

int main(int argc, char **argv)
{
    struct hvsh_ctl ctl = { 0 };
    ctl.uri = default_uri();

    static const struct option long_opts[] = {
        { "connect", required_argument, NULL, 'c' },
        { "readonly", no_argument, NULL, 'r' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'v' },
        { NULL, 0, NULL, 0 },
    };
    int opt;
    /* "+": stop at the command name; its options are the command's */
    while ((opt = getopt_long(argc, argv, "+c:rhv", long_opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            ctl.uri = optarg;
            break;
        case 'r':
            ctl.readonly = true;
            break;
        case 'j':
            ctl.json = true;
            break;
        case 'h':
            print_usage(stdout);
            return HVSH_EXIT_OK;
        case 'v':
            printf("hvsh %s\n", PACKAGE_VERSION);
            return HVSH_EXIT_OK;
        default:
            print_usage(stderr);
            return HVSH_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        print_usage(stderr);
        return HVSH_EXIT_USAGE;
    }
    const char *name = argv[optind];
    const struct hvsh_cmd_def *cmd = find_cmd(name);
    if (!cmd) {
        hvsh_error("unknown command: '%s' (see 'hvsh help')", name);
        return HVSH_EXIT_USAGE;
    }

    struct hvsh_args args;
    g_autoptr(GError) err = NULL;
    int rc;
    if (!hvsh_args_parse(cmd, argc - optind - 1, argv + optind + 1, &args, &err)) {
        hvsh_error("%s", err->message);
        hvsh_args_clear(&args);
        return HVSH_EXIT_USAGE;
    }
    if (args.help) {
        g_autofree char *text = hvsh_cmd_help(cmd);
        fputs(text, stdout);
        hvsh_args_clear(&args);
        return HVSH_EXIT_OK;
    }

    hvsh_install_error_handler();
    if (!(cmd->flags & HVSH_CMD_NO_CONNECT) && (rc = hvsh_connect(&ctl)) != HVSH_EXIT_OK) {
        hvsh_args_clear(&args);
        return rc;
    }
    rc = cmd->run(&ctl, &args);
    fflush(stdout);
    if (ctl.conn)
        virConnectClose(ctl.conn);
    hvsh_args_clear(&args);
    return rc;
}
