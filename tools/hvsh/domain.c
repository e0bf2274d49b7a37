/* Domain commands with virsh's names, options and messages: list, domstate,
 * define, undefine, start, destroy, shutdown, reboot, suspend, resume,
 * dominfo, dumpxml, edit, console, setmem, dommemstat, domifstat,
 * domblkstat, event. */
#include "tools/hvsh/hvsh.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static const char *state_name(int state)
{
    switch (state) {
    case VIR_DOMAIN_RUNNING: return "running";
    case VIR_DOMAIN_BLOCKED: return "idle";
    case VIR_DOMAIN_PAUSED: return "paused";
    case VIR_DOMAIN_SHUTDOWN: return "in shutdown";
    case VIR_DOMAIN_SHUTOFF: return "shut off";
    case VIR_DOMAIN_CRASHED: return "crashed";
    case VIR_DOMAIN_PMSUSPENDED: return "pmsuspended";
    default: return "no state";
    }
}

/* virsh's reason words (domstate --reason) for the states hvd reports. */
static const char *reason_name(int state, int reason)
{
    static const char *const running[] = { "unknown", "booted", "migrated", "restored",
                                           "from snapshot", "unpaused", "migration canceled",
                                           "save canceled", "event wakeup", "crashed",
                                           "post-copy", "post-copy failed" };
    static const char *const paused[] = { "unknown", "user", "migrating", "saving", "dumping",
                                          "I/O error", "watchdog", "from snapshot",
                                          "shutting down", "creating snapshot", "crashed",
                                          "starting up", "post-copy", "post-copy failed" };
    static const char *const shutoff[] = { "unknown", "shutdown", "destroyed", "crashed",
                                           "migrated", "saved", "failed", "from snapshot",
                                           "daemon" };
    static const char *const shutdown[] = { "unknown", "user" };
    static const char *const crashed[] = { "unknown", "panicked" };
#define PICK(tbl) (reason >= 0 && (size_t)reason < G_N_ELEMENTS(tbl) ? tbl[reason] : "unknown")
    switch (state) {
    case VIR_DOMAIN_RUNNING: return PICK(running);
    case VIR_DOMAIN_PAUSED: return PICK(paused);
    case VIR_DOMAIN_SHUTOFF: return PICK(shutoff);
    case VIR_DOMAIN_SHUTDOWN: return PICK(shutdown);
    case VIR_DOMAIN_CRASHED: return PICK(crashed);
    default: return "unknown";
    }
#undef PICK
}

static void print_owned(char *text)
{
    fputs(text, stdout);
    g_free(text);
}

/* ------------------------------------------------------------------ list */

static int domain_cmp(gconstpointer a, gconstpointer b)
{
    virDomainPtr da = *(virDomainPtr *)a, db = *(virDomainPtr *)b;
    unsigned ia = virDomainGetID(da), ib = virDomainGetID(db);
    /* active domains by id first (inactive ids are -1 = UINT_MAX), then names */
    if (ia != ib)
        return ia < ib ? -1 : 1;
    return strcmp(virDomainGetName(da), virDomainGetName(db));
}

static const struct hvsh_opt_def list_opts[] = {
    { "all", HVSH_OPT_BOOL, 0, "list inactive and active domains" },
    { "inactive", HVSH_OPT_BOOL, 0, "list inactive domains" },
    { "name", HVSH_OPT_BOOL, 0, "list domain names only" },
    { NULL },
};

static int cmd_list(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    unsigned flags = VIR_CONNECT_LIST_DOMAINS_ACTIVE;
    if (hvsh_arg_bool(args, "all"))
        flags = VIR_CONNECT_LIST_DOMAINS_ACTIVE | VIR_CONNECT_LIST_DOMAINS_INACTIVE;
    else if (hvsh_arg_bool(args, "inactive"))
        flags = VIR_CONNECT_LIST_DOMAINS_INACTIVE;
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(ctl->conn, &doms, flags);
    if (n < 0)
        return hvsh_libvirt_error("failed to list domains");
    qsort(doms, n, sizeof(*doms), (int (*)(const void *, const void *))domain_cmp);

    if (hvsh_arg_bool(args, "name")) {
        json_object *arr = json_object_new_array();
        for (int i = 0; i < n; i++) {
            if (ctl->json)
                json_object_array_add(arr, json_object_new_string(virDomainGetName(doms[i])));
            else
                printf("%s\n", virDomainGetName(doms[i]));
        }
        if (ctl->json)
            print_owned(hvsh_json_pretty(arr));
        else
            printf("\n"); /* virsh ends --name output with an empty line */
        json_object_put(arr);
    } else {
        static const struct hvsh_col cols[] = {
            { "Id", "id", HVSH_COL_INT },
            { "Name", "name", HVSH_COL_STR },
            { "State", "state", HVSH_COL_STR },
        };
        g_autoptr(hvsh_table) t = hvsh_table_new(cols, G_N_ELEMENTS(cols));
        for (int i = 0; i < n; i++) {
            int state = 0, reason = 0;
            if (virDomainGetState(doms[i], &state, &reason, 0) < 0)
                state = -1;
            unsigned id = virDomainGetID(doms[i]);
            g_autofree char *id_text = id == (unsigned)-1 ? g_strdup("-") : g_strdup_printf("%u", id);
            const char *cells[] = { id_text, virDomainGetName(doms[i]), state_name(state) };
            hvsh_table_add_row(t, cells);
        }
        print_owned(ctl->json ? hvsh_table_to_json(t) : hvsh_table_to_text(t));
        if (!ctl->json)
            printf("\n");
    }
    for (int i = 0; i < n; i++)
        virDomainFree(doms[i]);
    free(doms);
    return HVSH_EXIT_OK;
}

/* ------------------------------------------------------- simple actions */

static const struct hvsh_opt_def domain_only_opts[] = {
    { "domain", HVSH_OPT_STRING, HVSH_OPT_POSITIONAL | HVSH_OPT_REQUIRED, "domain name, id or uuid" },
    { NULL },
};

/* Look the domain up, run `action`, print "Domain 'NAME' <done>". */
static int simple_action(struct hvsh_ctl *ctl, const struct hvsh_args *args,
                         int (*action)(virDomainPtr), const char *failed, const char *done)
{
    virDomainPtr dom = hvsh_lookup_domain(ctl, hvsh_arg_str(args, "domain"));
    if (!dom)
        return HVSH_EXIT_ERROR;
    int rc = HVSH_EXIT_OK;
    if (action(dom) < 0)
        rc = hvsh_libvirt_error("Failed to %s domain '%s'", failed, virDomainGetName(dom));
    else
        hvsh_done(ctl, "Domain '%s' %s", virDomainGetName(dom), done);
    virDomainFree(dom);
    return rc;
}

static int cmd_destroy(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    return simple_action(ctl, args, virDomainDestroy, "destroy", "destroyed");
}

static int cmd_shutdown(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    return simple_action(ctl, args, virDomainShutdown, "shutdown", "is being shutdown");
}

static int reboot_default(virDomainPtr dom)
{
    return virDomainReboot(dom, 0);
}

static int cmd_reboot(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    return simple_action(ctl, args, reboot_default, "reboot", "is being rebooted");
}

static int cmd_suspend(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    return simple_action(ctl, args, virDomainSuspend, "suspend", "suspended");
}

static int cmd_resume(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    return simple_action(ctl, args, virDomainResume, "resume", "resumed");
}

static int cmd_undefine(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    return simple_action(ctl, args, virDomainUndefine, "undefine", "has been undefined");
}

/* ---------------------------------------------------------------- define */

static const struct hvsh_opt_def define_opts[] = {
    { "file", HVSH_OPT_STRING, HVSH_OPT_POSITIONAL | HVSH_OPT_REQUIRED, "file containing an XML domain description" },
    { NULL },
};

static int cmd_define(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    const char *file = hvsh_arg_str(args, "file");
    g_autofree char *xml = NULL;
    g_autoptr(GError) err = NULL;
    if (!g_file_get_contents(file, &xml, NULL, &err)) {
        hvsh_error("Failed to read file '%s' to define domain: %s", file, err->message);
        return HVSH_EXIT_ERROR;
    }
    virDomainPtr dom = virDomainDefineXML(ctl->conn, xml);
    if (!dom)
        return hvsh_libvirt_error("Failed to define domain from %s", file);
    hvsh_done(ctl, "Domain '%s' defined from %s", virDomainGetName(dom), file);
    virDomainFree(dom);
    return HVSH_EXIT_OK;
}

/* --------------------------------------------------------------- console */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    interrupted = 1;
}

static void install_signal_handlers(void)
{
    struct sigaction sa = { 0 };
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

/* A short periodic timer so that a signal ends the event loop promptly. */
static void tick(int timer, void *opaque)
{
}

#define CONSOLE_ESCAPE 0x1d /* Ctrl + ] as virsh */

struct console {
    virStreamPtr st;
    int stdin_watch;
    bool stdin_tty;
    bool quit;
    bool failed;
    char pending[4096]; /* stdin bytes the stream did not take yet */
    size_t pending_len;
};

static void console_update_events(struct console *c)
{
    int events = VIR_STREAM_EVENT_READABLE | VIR_STREAM_EVENT_ERROR | VIR_STREAM_EVENT_HANGUP;
    if (c->pending_len)
        events |= VIR_STREAM_EVENT_WRITABLE;
    virStreamEventUpdateCallback(c->st, events);
    /* stop reading stdin while the stream is behind */
    if (c->stdin_watch >= 0)
        virEventUpdateHandle(c->stdin_watch, c->pending_len ? 0 : VIR_EVENT_HANDLE_READABLE);
}

static void console_flush(struct console *c)
{
    while (c->pending_len) {
        int n = virStreamSend(c->st, c->pending, c->pending_len);
        if (n == -2)
            break;
        if (n < 0) {
            c->failed = c->quit = true;
            return;
        }
        memmove(c->pending, c->pending + n, c->pending_len - n);
        c->pending_len -= n;
    }
    console_update_events(c);
}

static void console_stream_event(virStreamPtr st, int events, void *opaque)
{
    struct console *c = opaque;
    if (events & VIR_STREAM_EVENT_READABLE) {
        char buf[4096];
        for (;;) {
            int n = virStreamRecv(st, buf, sizeof(buf));
            if (n == -2)
                break;
            if (n == 0) { /* the domain's console closed (guest stopped) */
                c->quit = true;
                return;
            }
            if (n < 0) {
                c->failed = c->quit = true;
                return;
            }
            if (fwrite(buf, 1, n, stdout) != (size_t)n) {
                c->quit = true;
                return;
            }
            fflush(stdout);
        }
    }
    if (events & VIR_STREAM_EVENT_WRITABLE)
        console_flush(c);
    if (events & (VIR_STREAM_EVENT_ERROR | VIR_STREAM_EVENT_HANGUP))
        c->quit = true;
}

static void console_stdin_event(int watch, int fd, int events, void *opaque)
{
    struct console *c = opaque;
    ssize_t n = read(fd, c->pending + c->pending_len, sizeof(c->pending) - c->pending_len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        /* stdin ended: keep showing the console until the guest or a signal
         * ends it, so "cmd | hvsh console" sees the output */
        virEventRemoveHandle(watch);
        c->stdin_watch = -1;
        return;
    }
    if (c->stdin_tty) {
        char *esc = memchr(c->pending + c->pending_len, CONSOLE_ESCAPE, n);
        if (esc) {
            n = esc - (c->pending + c->pending_len);
            c->quit = true;
        }
    }
    c->pending_len += n;
    console_flush(c);
}

int hvsh_console_attach(struct hvsh_ctl *ctl, virDomainPtr dom, bool force);
int hvsh_console_attach(struct hvsh_ctl *ctl, virDomainPtr dom, bool force)
{
    struct console c = { .stdin_watch = -1 };
    c.st = virStreamNew(ctl->conn, VIR_STREAM_NONBLOCK);
    if (!c.st)
        return hvsh_libvirt_error("Failed to create a stream");
    if (virDomainOpenConsole(dom, NULL, c.st, force ? VIR_DOMAIN_CONSOLE_FORCE : 0) < 0) {
        virStreamFree(c.st);
        return hvsh_libvirt_error("Failed to get console for domain '%s'", virDomainGetName(dom));
    }
    c.stdin_tty = isatty(STDIN_FILENO);
    fprintf(stderr, "Connected to domain '%s'\n", virDomainGetName(dom));
    if (c.stdin_tty)
        fprintf(stderr, "Escape character is ^] (Ctrl + ])\n");

    struct termios saved, raw;
    bool restore_tty = false;
    if (c.stdin_tty && tcgetattr(STDIN_FILENO, &saved) == 0) {
        raw = saved;
        cfmakeraw(&raw);
        if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0)
            restore_tty = true;
    }
    install_signal_handlers();
    int stdin_flags = fcntl(STDIN_FILENO, F_GETFL);
    if (stdin_flags >= 0)
        fcntl(STDIN_FILENO, F_SETFL, stdin_flags | O_NONBLOCK);

    int rc = HVSH_EXIT_OK;
    if (virStreamEventAddCallback(c.st, VIR_STREAM_EVENT_READABLE | VIR_STREAM_EVENT_ERROR |
                                            VIR_STREAM_EVENT_HANGUP,
                                  console_stream_event, &c, NULL) < 0) {
        rc = hvsh_libvirt_error("Failed to watch the console stream");
        c.quit = true;
    }
    c.stdin_watch = virEventAddHandle(STDIN_FILENO, VIR_EVENT_HANDLE_READABLE,
                                      console_stdin_event, &c, NULL);
    int timer = virEventAddTimeout(200, tick, NULL, NULL);
    while (!c.quit && !interrupted) {
        if (virEventRunDefaultImpl() < 0) {
            c.failed = true;
            break;
        }
    }
    if (timer >= 0)
        virEventRemoveTimeout(timer);
    if (c.stdin_watch >= 0)
        virEventRemoveHandle(c.stdin_watch);
    virStreamEventRemoveCallback(c.st);
    if (c.failed) {
        virStreamAbort(c.st);
        if (rc == HVSH_EXIT_OK)
            rc = hvsh_libvirt_error("console stream of domain '%s' failed", virDomainGetName(dom));
    } else {
        virStreamFinish(c.st);
    }
    virStreamFree(c.st);
    if (stdin_flags >= 0)
        fcntl(STDIN_FILENO, F_SETFL, stdin_flags);
    if (restore_tty)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    if (c.stdin_tty)
        fprintf(stderr, "\n");
    return rc;
}

static const struct hvsh_opt_def console_opts[] = {
    { "domain", HVSH_OPT_STRING, HVSH_OPT_POSITIONAL | HVSH_OPT_REQUIRED, "domain name, id or uuid" },
    { "force", HVSH_OPT_BOOL, 0, "disconnect another session on this console" },
    { NULL },
};

static int cmd_console(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    virDomainPtr dom = hvsh_lookup_domain(ctl, hvsh_arg_str(args, "domain"));
    if (!dom)
        return HVSH_EXIT_ERROR;
    int rc = hvsh_console_attach(ctl, dom, hvsh_arg_bool(args, "force"));
    virDomainFree(dom);
    return rc;
}

/* ----------------------------------------------------------------- start */

static const struct hvsh_opt_def start_opts[] = {
    { "domain", HVSH_OPT_STRING, HVSH_OPT_POSITIONAL | HVSH_OPT_REQUIRED, "name of the inactive domain" },
    { "console", HVSH_OPT_BOOL, 0, "attach to the console after creation" },
    { "paused", HVSH_OPT_BOOL, 0, "leave the guest paused after creation" },
    { "force-boot", HVSH_OPT_BOOL, 0, "accepted for virsh compatibility (no saved state in hvd)" },
    { NULL },
};

static int cmd_start(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    const char *name = hvsh_arg_str(args, "domain");
    /* virsh looks up inactive domains by name or uuid only */
    virDomainPtr dom = virDomainLookupByName(ctl->conn, name);
    if (!dom && strlen(name) == VIR_UUID_STRING_BUFLEN - 1)
        dom = virDomainLookupByUUIDString(ctl->conn, name);
    if (!dom)
        return hvsh_libvirt_error("failed to get domain '%s'", name);
    int rc = HVSH_EXIT_OK;
    unsigned flags = hvsh_arg_bool(args, "paused") ? VIR_DOMAIN_START_PAUSED : 0;
    if (virDomainIsActive(dom) == 1) {
        hvsh_error("Domain '%s' is already active", virDomainGetName(dom));
        rc = HVSH_EXIT_ERROR;
    } else if ((flags ? virDomainCreateWithFlags(dom, flags) : virDomainCreate(dom)) < 0) {
        rc = hvsh_libvirt_error("Failed to start domain '%s'", virDomainGetName(dom));
    } else {
        hvsh_done(ctl, "Domain '%s' started", virDomainGetName(dom));
        if (hvsh_arg_bool(args, "console")) {
            fflush(stdout);
            rc = hvsh_console_attach(ctl, dom, false);
        }
    }
    virDomainFree(dom);
    return rc;
}

/* --------------------------------------------------------------- dominfo */

static int cmd_dominfo(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    virDomainPtr dom = hvsh_lookup_domain(ctl, hvsh_arg_str(args, "domain"));
    if (!dom)
        return HVSH_EXIT_ERROR;
    virDomainInfo info;
    if (virDomainGetInfo(dom, &info) < 0) {
        int rc = hvsh_libvirt_error("failed to get information of domain '%s'", virDomainGetName(dom));
        virDomainFree(dom);
        return rc;
    }
    g_autoptr(hvsh_kv) kv = hvsh_kv_new();
    unsigned id = virDomainGetID(dom);
    if (id == (unsigned)-1)
        hvsh_kv_add_raw(kv, "Id", "id", "-", NULL);
    else
        hvsh_kv_add_int(kv, "Id", "id", id, NULL);
    hvsh_kv_add_str(kv, "Name", "name", virDomainGetName(dom));
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (virDomainGetUUIDString(dom, uuid) == 0)
        hvsh_kv_add_str(kv, "UUID", "uuid", uuid);
    g_autofree char *os_type = virDomainGetOSType(dom);
    if (os_type)
        hvsh_kv_add_str(kv, "OS Type", "os_type", os_type);
    hvsh_kv_add_str(kv, "State", "state", state_name(info.state));
    hvsh_kv_add_int(kv, "CPU(s)", "vcpus", info.nrVirtCpu, NULL);
    if (info.cpuTime != 0) {
        g_autofree char *cpu = g_strdup_printf("%.1fs", info.cpuTime / 1e9);
        hvsh_kv_add_str(kv, "CPU time", "cpu_time", cpu);
    }
    hvsh_kv_add_int(kv, "Max memory", "max_memory_kib", info.maxMem, "KiB");
    hvsh_kv_add_int(kv, "Used memory", "used_memory_kib", info.memory, "KiB");
    int persistent = virDomainIsPersistent(dom);
    if (persistent >= 0)
        hvsh_kv_add_bool(kv, "Persistent", "persistent", persistent);
    else
        hvsh_kv_add_str(kv, "Persistent", "persistent", "unknown");
    int autostart = 0;
    if (virDomainGetAutostart(dom, &autostart) == 0)
        hvsh_kv_add_str(kv, "Autostart", "autostart", autostart ? "enable" : "disable");
    int managed_save = virDomainHasManagedSaveImage(dom, 0);
    if (managed_save >= 0)
        hvsh_kv_add_bool(kv, "Managed save", "managed_save", managed_save);
    virResetLastError();
    print_owned(ctl->json ? hvsh_kv_to_json(kv) : hvsh_kv_to_text(kv));
    if (!ctl->json)
        printf("\n");
    virDomainFree(dom);
    return HVSH_EXIT_OK;
}

/* -------------------------------------------------------------- domstate */

static const struct hvsh_opt_def domstate_opts[] = {
    { "domain", HVSH_OPT_STRING, HVSH_OPT_POSITIONAL | HVSH_OPT_REQUIRED, "domain name, id or uuid" },
    { "reason", HVSH_OPT_BOOL, 0, "also print the reason for the state" },
    { NULL },
};

static int cmd_domstate(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    virDomainPtr dom = hvsh_lookup_domain(ctl, hvsh_arg_str(args, "domain"));
    if (!dom)
        return HVSH_EXIT_ERROR;
    int state, reason, rc = HVSH_EXIT_OK;
    if (virDomainGetState(dom, &state, &reason, 0) < 0) {
        rc = hvsh_libvirt_error("failed to get the state of domain '%s'", virDomainGetName(dom));
    } else if (ctl->json) {
        g_autoptr(hvsh_kv) kv = hvsh_kv_new();
        hvsh_kv_add_str(kv, "State", "state", state_name(state));
        hvsh_kv_add_str(kv, "Reason", "reason", reason_name(state, reason));
        print_owned(hvsh_kv_to_json(kv));
    } else if (hvsh_arg_bool(args, "reason")) {
        printf("%s (%s)\n\n", state_name(state), reason_name(state, reason));
    } else {
        printf("%s\n\n", state_name(state));
    }
    virDomainFree(dom);
    return rc;
}

/* --------------------------------------------------------------- dumpxml */

static const struct hvsh_opt_def dumpxml_opts[] = {
    { "domain", HVSH_OPT_STRING, HVSH_OPT_POSITIONAL | HVSH_OPT_REQUIRED, "domain name, id or uuid" },
    { "inactive", HVSH_OPT_BOOL, 0, "show the inactive (persistent) definition" },
    { "security-info", HVSH_OPT_BOOL, 0, "include security sensitive information" },
    { NULL },
};

static int cmd_dumpxml(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    virDomainPtr dom = hvsh_lookup_domain(ctl, hvsh_arg_str(args, "domain"));
    if (!dom)
        return HVSH_EXIT_ERROR;
    unsigned flags = 0;
    if (hvsh_arg_bool(args, "inactive"))
        flags |= VIR_DOMAIN_XML_INACTIVE;
    if (hvsh_arg_bool(args, "security-info"))
        flags |= VIR_DOMAIN_XML_SECURE;
    int rc = HVSH_EXIT_OK;
    char *xml = virDomainGetXMLDesc(dom, flags);
    if (!xml) {
        rc = hvsh_libvirt_error("failed to get the XML of domain '%s'", virDomainGetName(dom));
    } else if (ctl->json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(virDomainGetName(dom)));
        json_object_object_add(o, "xml", json_object_new_string(xml));
        print_owned(hvsh_json_pretty(o));
        json_object_put(o);
    } else {
        fputs(xml, stdout);
    }
    free(xml);
    virDomainFree(dom);
    return rc;
}

/* ------------------------------------------------------------------ edit */

static bool run_editor(const char *path)
{
    const char *editor = getenv("VISUAL");
    if (!editor || !*editor)
        editor = getenv("EDITOR");
    if (!editor || !*editor)
        editor = "vi";
    /* through the shell, so EDITOR may carry arguments ("emacs -nw") */
    g_autofree char *quoted = g_shell_quote(path);
    g_autofree char *command = g_strdup_printf("%s %s", editor, quoted);
    int status = system(command);
    if (status != 0) {
        hvsh_error("editor '%s' failed (status %d) on %s", editor, status, path);
        return false;
    }
    return true;
}

/* virsh's question after a failed define; answers y/n/i/f (see its help). */
static char ask_again(void)
{
    if (!isatty(STDIN_FILENO))
        return 'n';
    for (;;) {
        fprintf(stderr, "Failed. Try again? [y,n,i,f,?]:");
        fflush(stderr);
        char line[64];
        if (!fgets(line, sizeof(line), stdin))
            return 'n';
        char c = g_ascii_tolower(line[0]);
        if (c == 'y' || c == 'n' || c == 'i' || c == 'f')
            return c;
        fprintf(stderr,
                "y - yes, start editor again\n"
                "n - no, keep my changes in the file (its path is printed) and stop\n"
                "i - turn off validation and try to redefine again\n"
                "f - force, try to redefine again\n"
                "? - print this help\n");
    }
}

static int cmd_edit(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    virDomainPtr dom = hvsh_lookup_domain(ctl, hvsh_arg_str(args, "domain"));
    if (!dom)
        return HVSH_EXIT_ERROR;
    int rc = HVSH_EXIT_ERROR;
    g_autofree char *path = NULL;
    g_autofree char *edited = NULL;
    g_autoptr(GError) err = NULL;
    char *orig = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE);
    if (!orig) {
        rc = hvsh_libvirt_error("failed to get the XML of domain '%s'", virDomainGetName(dom));
        goto out;
    }
    int fd = g_file_open_tmp("hvsh-edit-XXXXXX.xml", &path, &err);
    if (fd < 0 || !g_file_set_contents(path, orig, -1, &err)) {
        hvsh_error("cannot write a temporary file: %s", err ? err->message : "unknown");
        if (fd >= 0)
            close(fd);
        goto out;
    }
    close(fd);
    bool keep_file = false;
    unsigned define_flags = VIR_DOMAIN_DEFINE_VALIDATE;
    for (;;) {
        if (!run_editor(path)) {
            keep_file = true;
            break;
        }
        g_free(edited);
        edited = NULL;
        g_clear_error(&err);
        if (!g_file_get_contents(path, &edited, NULL, &err)) {
            hvsh_error("cannot read back %s: %s", path, err->message);
            keep_file = true;
            break;
        }
        if (strcmp(edited, orig) == 0) {
            hvsh_done(ctl, "Domain '%s' XML configuration not changed.", virDomainGetName(dom));
            rc = HVSH_EXIT_OK;
            break;
        }
        for (;;) {
            virDomainPtr redefined = virDomainDefineXMLFlags(ctl->conn, edited, define_flags);
            if (!redefined && define_flags && hvsh_last_error_code() == VIR_ERR_NO_SUPPORT) {
                /* a daemon without DEFINE_XML_FLAGS: plain define validates too */
                redefined = virDomainDefineXML(ctl->conn, edited);
            }
            if (redefined) {
                hvsh_done(ctl, "Domain '%s' XML configuration edited.", virDomainGetName(redefined));
                virDomainFree(redefined);
                rc = HVSH_EXIT_OK;
                goto done_editing;
            }
            hvsh_libvirt_error("failed to define the edited XML of domain '%s'",
                               virDomainGetName(dom));
            char answer = ask_again();
            if (answer == 'y')
                break; /* edit again */
            if (answer == 'i' || answer == 'f') {
                define_flags = 0;
                continue; /* redefine without re-editing */
            }
            keep_file = true;
            goto done_editing;
        }
    }
done_editing:
    if (keep_file)
        fprintf(stderr, "error: your changes are kept in %s\n", path);
    else
        unlink(path);
out:
    free(orig);
    virDomainFree(dom);
    return rc;
}

/* ---------------------------------------------------------------- setmem */

static const struct hvsh_opt_def setmem_opts[] = {
    { "domain", HVSH_OPT_STRING, HVSH_OPT_POSITIONAL | HVSH_OPT_REQUIRED, "domain name, id or uuid" },
    { "size", HVSH_OPT_STRING, HVSH_OPT_POSITIONAL | HVSH_OPT_REQUIRED, "new memory size, as scaled integer (default KiB)" },
    { "config", HVSH_OPT_BOOL, 0, "affect next boot" },
    { "live", HVSH_OPT_BOOL, 0, "affect running domain" },
    { "current", HVSH_OPT_BOOL, 0, "affect current domain" },
    { NULL },
};

static int cmd_setmem(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    uint64_t kib;
    g_autoptr(GError) err = NULL;
    if (!hvsh_parse_size_kib(hvsh_arg_str(args, "size"), 1024, &kib, &err)) {
        hvsh_error("%s", err->message);
        return HVSH_EXIT_USAGE;
    }
    if (kib > ULONG_MAX) {
        hvsh_error("memory size %" G_GUINT64_FORMAT " KiB is too large", kib);
        return HVSH_EXIT_USAGE;
    }
    unsigned flags = 0;
    if (hvsh_arg_bool(args, "config"))
        flags |= VIR_DOMAIN_AFFECT_CONFIG;
    if (hvsh_arg_bool(args, "live"))
        flags |= VIR_DOMAIN_AFFECT_LIVE;
    if (hvsh_arg_bool(args, "current")) {
        if (flags) {
            hvsh_error("Options --current and --live/--config are mutually exclusive");
            return HVSH_EXIT_USAGE;
        }
    }
    virDomainPtr dom = hvsh_lookup_domain(ctl, hvsh_arg_str(args, "domain"));
    if (!dom)
        return HVSH_EXIT_ERROR;
    int rc = HVSH_EXIT_OK;
    int r = flags ? virDomainSetMemoryFlags(dom, (unsigned long)kib, flags)
                  : virDomainSetMemory(dom, (unsigned long)kib);
    if (r < 0)
        rc = hvsh_libvirt_error("Unable to change memory of domain '%s' to %" G_GUINT64_FORMAT " KiB",
                                virDomainGetName(dom), kib);
    else if (ctl->json)
        hvsh_done(ctl, "Memory of domain '%s' set to %" G_GUINT64_FORMAT " KiB",
                  virDomainGetName(dom), kib);
    virDomainFree(dom);
    return rc;
}

/* ------------------------------------------------------------ statistics */

static const char *memstat_name(int tag)
{
    switch (tag) {
    case VIR_DOMAIN_MEMORY_STAT_SWAP_IN: return "swap_in";
    case VIR_DOMAIN_MEMORY_STAT_SWAP_OUT: return "swap_out";
    case VIR_DOMAIN_MEMORY_STAT_MAJOR_FAULT: return "major_fault";
    case VIR_DOMAIN_MEMORY_STAT_MINOR_FAULT: return "minor_fault";
    case VIR_DOMAIN_MEMORY_STAT_UNUSED: return "unused";
    case VIR_DOMAIN_MEMORY_STAT_AVAILABLE: return "available";
    case VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON: return "actual";
    case VIR_DOMAIN_MEMORY_STAT_RSS: return "rss";
    case VIR_DOMAIN_MEMORY_STAT_USABLE: return "usable";
    case VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE: return "last_update";
    case VIR_DOMAIN_MEMORY_STAT_DISK_CACHES: return "disk_caches";
    case VIR_DOMAIN_MEMORY_STAT_HUGETLB_PGALLOC: return "hugetlb_pgalloc";
    case VIR_DOMAIN_MEMORY_STAT_HUGETLB_PGFAIL: return "hugetlb_pgfail";
    default: return NULL;
    }
}

/* "name value" lines (virsh's look), or one JSON object of numbers. */
static void print_stats(struct hvsh_ctl *ctl, const char *prefix, const char *const *names,
                        const long long *values, size_t n)
{
    if (ctl->json) {
        json_object *o = json_object_new_object();
        for (size_t i = 0; i < n; i++)
            json_object_object_add(o, names[i], json_object_new_int64(values[i]));
        print_owned(hvsh_json_pretty(o));
        json_object_put(o);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (prefix)
            printf("%s %s %lld\n", prefix, names[i], values[i]);
        else
            printf("%s %lld\n", names[i], values[i]);
    }
    printf("\n");
}

static int cmd_dommemstat(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    virDomainPtr dom = hvsh_lookup_domain(ctl, hvsh_arg_str(args, "domain"));
    if (!dom)
        return HVSH_EXIT_ERROR;
    virDomainMemoryStatStruct stats[VIR_DOMAIN_MEMORY_STAT_NR];
    int n = virDomainMemoryStats(dom, stats, VIR_DOMAIN_MEMORY_STAT_NR, 0);
    int rc = HVSH_EXIT_OK;
    if (n < 0) {
        rc = hvsh_libvirt_error("Failed to get memory statistics for domain '%s'", virDomainGetName(dom));
    } else {
        const char *names[VIR_DOMAIN_MEMORY_STAT_NR];
        long long values[VIR_DOMAIN_MEMORY_STAT_NR];
        size_t k = 0;
        for (int i = 0; i < n && k < G_N_ELEMENTS(names); i++) {
            const char *name = memstat_name(stats[i].tag);
            if (!name)
                continue;
            names[k] = name;
            values[k++] = (long long)stats[i].val;
        }
        print_stats(ctl, NULL, names, values, k);
    }
    virDomainFree(dom);
    return rc;
}

static const struct hvsh_opt_def domifstat_opts[] = {
    { "domain", HVSH_OPT_STRING, HVSH_OPT_POSITIONAL | HVSH_OPT_REQUIRED, "domain name, id or uuid" },
    { "interface", HVSH_OPT_STRING, HVSH_OPT_POSITIONAL | HVSH_OPT_REQUIRED, "interface device (tap name or MAC)" },
    { NULL },
};

static int cmd_domifstat(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    virDomainPtr dom = hvsh_lookup_domain(ctl, hvsh_arg_str(args, "domain"));
    if (!dom)
        return HVSH_EXIT_ERROR;
    const char *iface = hvsh_arg_str(args, "interface");
    virDomainInterfaceStatsStruct s;
    int rc = HVSH_EXIT_OK;
    if (virDomainInterfaceStats(dom, iface, &s, sizeof(s)) < 0) {
        rc = hvsh_libvirt_error("Failed to get interface stats %s %s", virDomainGetName(dom), iface);
    } else {
        /* virsh leaves out counters the driver reports as -1 */
        const char *all_names[] = { "rx_bytes", "rx_packets", "rx_errs", "rx_drop",
                                    "tx_bytes", "tx_packets", "tx_errs", "tx_drop" };
        long long all[] = { s.rx_bytes, s.rx_packets, s.rx_errs, s.rx_drop,
                            s.tx_bytes, s.tx_packets, s.tx_errs, s.tx_drop };
        const char *names[8];
        long long values[8];
        size_t k = 0;
        for (size_t i = 0; i < 8; i++) {
            if (all[i] < 0)
                continue;
            names[k] = all_names[i];
            values[k++] = all[i];
        }
        print_stats(ctl, iface, names, values, k);
    }
    virDomainFree(dom);
    return rc;
}

static const struct hvsh_opt_def domblkstat_opts[] = {
    { "domain", HVSH_OPT_STRING, HVSH_OPT_POSITIONAL | HVSH_OPT_REQUIRED, "domain name, id or uuid" },
    { "device", HVSH_OPT_STRING, HVSH_OPT_POSITIONAL | HVSH_OPT_REQUIRED, "block device (target, e.g. vda)" },
    { NULL },
};

static int cmd_domblkstat(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    virDomainPtr dom = hvsh_lookup_domain(ctl, hvsh_arg_str(args, "domain"));
    if (!dom)
        return HVSH_EXIT_ERROR;
    const char *dev = hvsh_arg_str(args, "device");
    virDomainBlockStatsStruct s;
    int rc = HVSH_EXIT_OK;
    if (virDomainBlockStats(dom, dev, &s, sizeof(s)) < 0) {
        rc = hvsh_libvirt_error("Failed to get block stats %s %s", virDomainGetName(dom), dev);
    } else {
        const char *all_names[] = { "rd_req", "rd_bytes", "wr_req", "wr_bytes", "errs" };
        long long all[] = { s.rd_req, s.rd_bytes, s.wr_req, s.wr_bytes, s.errs };
        const char *names[5];
        long long values[5];
        size_t k = 0;
        for (size_t i = 0; i < 5; i++) {
            if (all[i] < 0)
                continue;
            names[k] = all_names[i];
            values[k++] = all[i];
        }
        print_stats(ctl, dev, names, values, k);
    }
    virDomainFree(dom);
    return rc;
}

/* ----------------------------------------------------------------- event */

struct event_loop {
    struct hvsh_ctl *ctl;
    bool loop;
    bool timestamp;
    bool done;
    bool closed;
    unsigned count;
};

static const char *lifecycle_type(int event)
{
    static const char *const names[] = { "Defined", "Undefined", "Started", "Suspended",
                                         "Resumed", "Stopped", "Shutdown", "PMSuspended",
                                         "Crashed" };
    return event >= 0 && (size_t)event < G_N_ELEMENTS(names) ? names[event] : "unknown";
}

static const char *lifecycle_detail(int event, int detail)
{
    static const char *const defined[] = { "Added", "Updated", "Renamed", "Snapshot" };
    static const char *const undefined[] = { "Removed", "Renamed" };
    static const char *const started[] = { "Booted", "Migrated", "Restored", "Snapshot",
                                           "Event wakeup", "Recovered" };
    static const char *const suspended[] = { "Paused", "Migrated", "I/O Error", "Watchdog",
                                             "Restored", "Snapshot", "API error", "Post-copy",
                                             "Post-copy Error" };
    static const char *const resumed[] = { "Unpaused", "Migrated", "Snapshot", "Post-copy",
                                           "Post-copy Error" };
    static const char *const stopped[] = { "Shutdown", "Destroyed", "Crashed", "Migrated",
                                           "Saved", "Failed", "Snapshot", "Recovered" };
    static const char *const shutdown[] = { "Finished", "Finished after guest request",
                                            "Finished after host request" };
    static const char *const pmsuspended[] = { "Memory", "Disk" };
    static const char *const crashed[] = { "Panicked", "Crashloaded" };
#define PICK(tbl) (detail >= 0 && (size_t)detail < G_N_ELEMENTS(tbl) ? tbl[detail] : "unknown")
    switch (event) {
    case VIR_DOMAIN_EVENT_DEFINED: return PICK(defined);
    case VIR_DOMAIN_EVENT_UNDEFINED: return PICK(undefined);
    case VIR_DOMAIN_EVENT_STARTED: return PICK(started);
    case VIR_DOMAIN_EVENT_SUSPENDED: return PICK(suspended);
    case VIR_DOMAIN_EVENT_RESUMED: return PICK(resumed);
    case VIR_DOMAIN_EVENT_STOPPED: return PICK(stopped);
    case VIR_DOMAIN_EVENT_SHUTDOWN: return PICK(shutdown);
    case VIR_DOMAIN_EVENT_PMSUSPENDED: return PICK(pmsuspended);
    case VIR_DOMAIN_EVENT_CRASHED: return PICK(crashed);
    default: return "unknown";
    }
#undef PICK
}

/* One event: "event 'lifecycle' for domain 'd1': Started Booted" (virsh),
 * or one JSON object per line with --json. */
static void event_print(struct event_loop *ev, const char *kind, virDomainPtr dom,
                        const char *text, json_object *extra)
{
    g_autofree char *stamp = NULL;
    if (ev->timestamp) {
        g_autoptr(GDateTime) now = g_date_time_new_now_local();
        stamp = g_date_time_format(now, "%Y-%m-%d %H:%M:%S.%f%z");
    }
    if (ev->ctl->json) {
        json_object *o = extra ? extra : json_object_new_object();
        json_object_object_add(o, "event", json_object_new_string(kind));
        json_object_object_add(o, "domain", json_object_new_string(virDomainGetName(dom)));
        if (stamp)
            json_object_object_add(o, "timestamp", json_object_new_string(stamp));
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
    } else {
        json_object_put(extra);
        if (stamp)
            printf("%s: ", stamp);
        printf("event '%s' for domain '%s'%s%s\n", kind, virDomainGetName(dom), text ? ": " : "",
               text ? text : "");
    }
    fflush(stdout);
    ev->count++;
    if (!ev->loop)
        ev->done = true;
}

static void on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string(lifecycle_type(event)));
    json_object_object_add(o, "detail", json_object_new_string(lifecycle_detail(event, detail)));
    g_autofree char *text = g_strdup_printf("%s %s", lifecycle_type(event), lifecycle_detail(event, detail));
    event_print(opaque, "lifecycle", dom, text, o);
}

static void on_reboot(virConnectPtr conn, virDomainPtr dom, void *opaque)
{
    event_print(opaque, "reboot", dom, NULL, NULL);
}

static void on_balloon(virConnectPtr conn, virDomainPtr dom, unsigned long long actual, void *opaque)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "actual_kib", json_object_new_int64((int64_t)actual));
    g_autofree char *text = g_strdup_printf("%llu KiB", actual);
    event_print(opaque, "balloon-change", dom, text, o);
}

static void on_generic(virConnectPtr conn, virDomainPtr dom, void *opaque);

static const struct {
    const char *name;
    int id;
    virConnectDomainEventGenericCallback cb;
} event_kinds[] = {
    { "lifecycle", VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle) },
    { "reboot", VIR_DOMAIN_EVENT_ID_REBOOT, VIR_DOMAIN_EVENT_CALLBACK(on_reboot) },
    { "balloon-change", VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE, VIR_DOMAIN_EVENT_CALLBACK(on_balloon) },
    { "control-error", VIR_DOMAIN_EVENT_ID_CONTROL_ERROR, on_generic },
};

static void on_generic(virConnectPtr conn, virDomainPtr dom, void *opaque)
{
    event_print(opaque, "control-error", dom, NULL, NULL);
}

static void on_close(virConnectPtr conn, int reason, void *opaque)
{
    struct event_loop *ev = opaque;
    ev->closed = ev->done = true;
}

static void on_timeout(int timer, void *opaque)
{
    struct event_loop *ev = opaque;
    ev->done = true;
}

static const struct hvsh_opt_def event_opts[] = {
    { "domain", HVSH_OPT_STRING, HVSH_OPT_POSITIONAL, "filter by domain name, id or uuid" },
    { "event", HVSH_OPT_STRING, 0, "which event type to wait for (see --list)" },
    { "all", HVSH_OPT_BOOL, 0, "wait for all events instead of just one type" },
    { "loop", HVSH_OPT_BOOL, 0, "loop until timeout or interrupt, rather than one-shot" },
    { "timeout", HVSH_OPT_STRING, 0, "timeout seconds" },
    { "list", HVSH_OPT_BOOL, 0, "list valid event types" },
    { "timestamp", HVSH_OPT_BOOL, 0, "show timestamp for each printed event" },
    { NULL },
};

static int cmd_event(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    if (hvsh_arg_bool(args, "list")) {
        json_object *arr = json_object_new_array();
        for (size_t i = 0; i < G_N_ELEMENTS(event_kinds); i++) {
            if (ctl->json)
                json_object_array_add(arr, json_object_new_string(event_kinds[i].name));
            else
                printf("%s\n", event_kinds[i].name);
        }
        if (ctl->json)
            print_owned(hvsh_json_pretty(arr));
        json_object_put(arr);
        return HVSH_EXIT_OK;
    }
    const char *which = hvsh_arg_str(args, "event");
    bool all = hvsh_arg_bool(args, "all");
    if (!which && !all) {
        hvsh_error("one of --list, --all, or --event <type> is required");
        return HVSH_EXIT_USAGE;
    }
    int only = -1;
    if (which) {
        for (size_t i = 0; i < G_N_ELEMENTS(event_kinds); i++)
            if (strcmp(which, event_kinds[i].name) == 0)
                only = (int)i;
        if (only < 0) {
            hvsh_error("unknown event type %s (see 'hvsh event --list')", which);
            return HVSH_EXIT_USAGE;
        }
    }
    unsigned long long timeout = 0;
    g_autoptr(GError) err = NULL;
    if (!hvsh_arg_uint(args, "timeout", INT_MAX / 1000, &timeout, &err)) {
        hvsh_error("%s", err->message);
        return HVSH_EXIT_USAGE;
    }
    virDomainPtr dom = NULL;
    if (hvsh_arg_str(args, "domain") && !(dom = hvsh_lookup_domain(ctl, hvsh_arg_str(args, "domain"))))
        return HVSH_EXIT_ERROR;

    struct event_loop ev = { .ctl = ctl, .loop = hvsh_arg_bool(args, "loop"),
                             .timestamp = hvsh_arg_bool(args, "timestamp") };
    int ids[G_N_ELEMENTS(event_kinds)];
    int rc = HVSH_EXIT_OK;
    for (size_t i = 0; i < G_N_ELEMENTS(event_kinds); i++) {
        ids[i] = -1;
        if (only >= 0 && (int)i != only)
            continue;
        ids[i] = virConnectDomainEventRegisterAny(ctl->conn, dom, event_kinds[i].id,
                                                  event_kinds[i].cb, &ev, NULL);
        if (ids[i] < 0 && (only >= 0 || i == 0)) {
            rc = hvsh_libvirt_error("failed to register event '%s'", event_kinds[i].name);
            goto out;
        }
        /* with --all, event kinds the daemon does not offer are skipped */
        virResetLastError();
    }
    /* keepalive and the close callback end the loop when hvd goes away */
    virConnectSetKeepAlive(ctl->conn, 5, 3);
    virConnectRegisterCloseCallback(ctl->conn, on_close, &ev, NULL);
    install_signal_handlers();
    int timer = timeout ? virEventAddTimeout((int)timeout * 1000, on_timeout, &ev, NULL) : -1;
    int ticker = virEventAddTimeout(200, tick, NULL, NULL);
    while (!ev.done && !interrupted) {
        if (virEventRunDefaultImpl() < 0) {
            rc = hvsh_libvirt_error("event loop failed");
            break;
        }
    }
    if (timer >= 0)
        virEventRemoveTimeout(timer);
    if (ticker >= 0)
        virEventRemoveTimeout(ticker);
    if (!ctl->json) {
        if (ev.closed)
            printf("connection to the daemon closed\n");
        else if (timeout && ev.done && (ev.loop || ev.count == 0))
            printf("event loop timed out\n");
        printf("events received: %u\n", ev.count);
    }
    if (ev.closed)
        rc = HVSH_EXIT_ERROR;
    virConnectUnregisterCloseCallback(ctl->conn, on_close);
out:
    for (size_t i = 0; i < G_N_ELEMENTS(event_kinds); i++)
        if (ids[i] >= 0 && !ev.closed)
            virConnectDomainEventDeregisterAny(ctl->conn, ids[i]);
    if (dom)
        virDomainFree(dom);
    return rc;
}

/* ---------------------------------------------------------------- table */

const struct hvsh_cmd_def hvsh_domain_cmds[] = {
    { "list", NULL, "list domains",
      "Returns the list of domains: Id (- when inactive), name and state.",
      list_opts, cmd_list, 0 },
    { "domstate", NULL, "domain state", "Returns the state of a domain.",
      domstate_opts, cmd_domstate, 0 },
    { "dominfo", NULL, "domain information", "Returns basic information about the domain.",
      domain_only_opts, cmd_dominfo, 0 },
    { "dumpxml", NULL, "domain information in XML",
      "Output the domain information as an XML dump to stdout.", dumpxml_opts, cmd_dumpxml, 0 },
    { "define", NULL, "define (but don't start) a domain from an XML file",
      "Define a domain.", define_opts, cmd_define, 0 },
    { "undefine", NULL, "undefine a domain",
      "Undefine an inactive domain, or convert a persistent domain to transient.",
      domain_only_opts, cmd_undefine, 0 },
    { "edit", NULL, "edit XML configuration for a domain",
      "Edit the XML configuration for a domain with $VISUAL or $EDITOR (default vi). The "
      "edited XML is defined (validated by the daemon); when that fails you are asked to edit "
      "again, and a declined edit is kept in its temporary file, whose path is printed.",
      domain_only_opts, cmd_edit, 0 },
    { "start", NULL, "start a (previously defined) inactive domain",
      "Start a domain, either from the last managedsave state, or via a fresh boot.",
      start_opts, cmd_start, HVSH_CMD_EVENT_LOOP },
    { "destroy", NULL, "destroy (stop) a domain", "Forcefully stop a given domain.",
      domain_only_opts, cmd_destroy, 0 },
    { "shutdown", NULL, "gracefully shutdown a domain",
      "Run shutdown in the target domain (ACPI power button).", domain_only_opts, cmd_shutdown, 0 },
    { "reboot", NULL, "reboot a domain", "Run a reboot command in the target domain.",
      domain_only_opts, cmd_reboot, 0 },
    { "suspend", NULL, "suspend a domain", "Suspend a running domain.",
      domain_only_opts, cmd_suspend, 0 },
    { "resume", NULL, "resume a domain", "Resume a previously suspended domain.",
      domain_only_opts, cmd_resume, 0 },
    { "console", NULL, "connect to the guest console",
      "Connect the virtual serial console for the guest. Ctrl + ] leaves it when stdin is a "
      "terminal; otherwise stdin is sent as typed and the session lasts until the guest's "
      "console closes or hvsh is interrupted.",
      console_opts, cmd_console, HVSH_CMD_EVENT_LOOP },
    { "setmem", NULL, "change memory allocation",
      "Change the current memory allocation in the guest domain (through the balloon when "
      "running). SIZE takes units: 512M, 1G, 262144 (KiB).",
      setmem_opts, cmd_setmem, 0 },
    { "dommemstat", NULL, "get memory statistics for a domain",
      "Get memory statistics for a running domain.", domain_only_opts, cmd_dommemstat, 0 },
    { "domifstat", NULL, "get network interface stats for a domain",
      "Get network interface stats for a running domain.", domifstat_opts, cmd_domifstat, 0 },
    { "domblkstat", NULL, "get device block stats for a domain",
      "Get device block stats for a running domain.", domblkstat_opts, cmd_domblkstat, 0 },
    { "event", NULL, "Domain Events",
      "List event types, or wait for domain events to occur. Prints one line per event "
      "(one JSON object per line with --json).",
      event_opts, cmd_event, HVSH_CMD_EVENT_LOOP },
    { NULL },
};
