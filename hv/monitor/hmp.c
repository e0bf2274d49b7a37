/* human-monitor-command: a small HMP with QEMU 7.2's output formats (qmp.md
 * §5 human-monitor-command; formats checked against QEMU 7.2.22's output,
 * see docs/monitor.md). Output lines end in "\n" here and become "\r\n"
 * on the way out, as QEMU's monitor does. HMP errors are text, never QMP
 * errors. */
#include "hv/monitor/monitor_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void monitor_text_printf(struct monitor_text *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        strbuf_append(&out->buf, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        out->buf.oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    strbuf_append(&out->buf, big, (size_t)n);
    free(big);
}

int monitor_register_hmp(struct monitor *mon, const char *name, const char *params_help,
                         const char *help, monitor_hmp_fn fn, void *opaque)
{
    struct monitor_hmp_command *cmd = NULL;
    for (size_t i = 0; i < mon->n_hmp && !cmd; i++)
        if (strcmp(mon->hmp[i].name, name) == 0)
            cmd = &mon->hmp[i];
    if (!cmd) {
        if (mon->n_hmp == mon->cap_hmp) {
            size_t cap = mon->cap_hmp ? mon->cap_hmp * 2 : 32;
            struct monitor_hmp_command *n = realloc(mon->hmp, cap * sizeof(*n));
            if (!n)
                return -ENOMEM;
            mon->hmp = n;
            mon->cap_hmp = cap;
        }
        cmd = &mon->hmp[mon->n_hmp++];
    }
    *cmd = (struct monitor_hmp_command){ .name = name, .params_help = params_help ? params_help : "",
                                         .help = help ? help : "", .fn = fn, .opaque = opaque };
    return 0;
}

static bool is_info(const struct monitor_hmp_command *cmd)
{
    return strncmp(cmd->name, "info ", 5) == 0;
}

/* "stop|s" matches "stop" and "s". */
static bool name_matches(const char *names, const char *word, size_t wlen)
{
    const char *p = names;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == wlen && strncmp(p, word, wlen) == 0)
            return true;
        if (!bar)
            break;
        p = bar + 1;
    }
    return false;
}

static struct monitor_hmp_command *find_hmp(struct monitor *mon, bool info, const char *word,
                                            size_t wlen)
{
    for (size_t i = 0; i < mon->n_hmp; i++) {
        struct monitor_hmp_command *cmd = &mon->hmp[i];
        if (is_info(cmd) != info)
            continue;
        if (name_matches(info ? cmd->name + 5 : cmd->name, word, wlen))
            return cmd;
    }
    return NULL;
}

const char *monitor_skip_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

size_t monitor_word_len(const char *s)
{
    size_t n = 0;
    while (s[n] && s[n] != ' ' && s[n] != '\t')
        n++;
    return n;
}

/* Commands without parameters refuse extra words with QEMU's text. */
bool monitor_hmp_no_args(struct monitor_text *out, const char *help_name,
                         const char *short_name, const char *args)
{
    if (!*args)
        return true;
    monitor_text_printf(out, "%s: extraneous characters at the end of line\n", short_name);
    monitor_text_printf(out, "Try \"help %s\" for more information\n", help_name);
    return false;
}

static int compare_hmp(const void *a, const void *b)
{
    const struct monitor_hmp_command *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static void print_help_line(struct monitor_text *out, const struct monitor_hmp_command *cmd)
{
    /* "name params -- help"; no params leaves two spaces, as QEMU prints. */
    monitor_text_printf(out, "%s %s -- %s\n", cmd->name, cmd->params_help, cmd->help);
}

/* Lists top-level commands (info = false) or info subcommands, sorted. */
static void print_help_list(struct monitor *mon, struct monitor_text *out, bool info)
{
    const struct monitor_hmp_command **list = calloc(mon->n_hmp, sizeof(*list));
    if (!list) {
        out->buf.oom = true;
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < mon->n_hmp; i++)
        if (is_info(&mon->hmp[i]) == info)
            list[n++] = &mon->hmp[i];
    qsort(list, n, sizeof(*list), compare_hmp);
    for (size_t i = 0; i < n; i++)
        print_help_line(out, list[i]);
    free(list);
}

/* ------------------------------------------------------------------ */
/* Built-in HMP commands                                               */

static void hmp_help(void *opaque, const char *args, struct monitor_text *out)
{
    struct monitor *mon = opaque;
    if (!*args) {
        print_help_list(mon, out, false);
        return;
    }
    size_t wlen = monitor_word_len(args);
    if (wlen == 4 && strncmp(args, "info", 4) == 0) {
        const char *sub = monitor_skip_blanks(args + 4);
        if (!*sub) {
            print_help_list(mon, out, true);
            return;
        }
        size_t slen = monitor_word_len(sub);
        struct monitor_hmp_command *cmd = find_hmp(mon, true, sub, slen);
        if (cmd)
            print_help_line(out, cmd);
        else
            monitor_text_printf(out, "unknown command: 'info %.*s'\n", (int)slen, sub);
        return;
    }
    struct monitor_hmp_command *cmd = find_hmp(mon, false, args, wlen);
    if (cmd)
        print_help_line(out, cmd);
    else
        monitor_text_printf(out, "unknown command: '%.*s'\n", (int)wlen, args);
}

static void hmp_info(void *opaque, const char *args, struct monitor_text *out)
{
    /* Dispatched in monitor_hmp_run; reached only for a bare "info". */
    print_help_list(opaque, out, true);
}

typedef int (*action_op)(void *opaque, char *err, size_t errlen);

static void run_hmp_action(struct monitor *mon, action_op op, const char *name, const char *args,
                           struct monitor_text *out)
{
    if (!monitor_hmp_no_args(out, name, name, args))
        return;
    if (!op) {
        monitor_text_printf(out, "Error: %s is not supported by this VM\n", name);
        return;
    }
    char msg[256] = "";
    int rc = op(mon->opaque, msg, sizeof(msg));
    if (rc < 0)
        monitor_text_printf(out, "Error: %s\n", msg[0] ? msg : strerror(-rc));
}

static void hmp_stop(void *opaque, const char *args, struct monitor_text *out)
{
    struct monitor *mon = opaque;
    run_hmp_action(mon, mon->ops ? mon->ops->stop : NULL, "stop", args, out);
}

static void hmp_cont(void *opaque, const char *args, struct monitor_text *out)
{
    struct monitor *mon = opaque;
    run_hmp_action(mon, mon->ops ? mon->ops->cont : NULL, "cont", args, out);
}

static void hmp_system_reset(void *opaque, const char *args, struct monitor_text *out)
{
    struct monitor *mon = opaque;
    run_hmp_action(mon, mon->ops ? mon->ops->system_reset : NULL, "system_reset", args, out);
}

static void hmp_system_powerdown(void *opaque, const char *args, struct monitor_text *out)
{
    struct monitor *mon = opaque;
    run_hmp_action(mon, mon->ops ? mon->ops->system_powerdown : NULL, "system_powerdown", args,
                   out);
}

static void hmp_quit(void *opaque, const char *args, struct monitor_text *out)
{
    struct monitor *mon = opaque;
    if (!monitor_hmp_no_args(out, "quit", "quit", args))
        return;
    if (mon->ops && mon->ops->quit)
        mon->ops->quit(mon->opaque);
    else
        monitor_text_printf(out, "Error: quit is not supported by this VM\n");
}

static void hmp_info_status(void *opaque, const char *args, struct monitor_text *out)
{
    struct monitor *mon = opaque;
    if (!monitor_hmp_no_args(out, "info status", "status", args))
        return;
    bool running;
    const char *state = monitor_run_state(mon, &running);
    /* "paused" plus the RunState when it says more (qmp.md §5). */
    monitor_text_printf(out, "VM status: %s", running ? "running" : "paused");
    if (!running && strcmp(state, "paused") != 0)
        monitor_text_printf(out, " (%s)", state);
    monitor_text_printf(out, "\n");
}

static void hmp_info_cpus(void *opaque, const char *args, struct monitor_text *out)
{
    struct monitor *mon = opaque;
    if (!monitor_hmp_no_args(out, "info cpus", "cpus", args))
        return;
    int n;
    struct monitor_cpu *cpus = monitor_get_cpus(mon, &n);
    /* '*' marks the monitor's current CPU, the first one by default. */
    for (int i = 0; i < n; i++)
        monitor_text_printf(out, "%c CPU #%d: thread_id=%" PRId64 "\n", i == 0 ? '*' : ' ',
                            cpus[i].cpu_index, cpus[i].thread_id);
    free(cpus);
}

static void hmp_info_pci(void *opaque, const char *args, struct monitor_text *out)
{
    struct monitor *mon = opaque;
    if (!monitor_hmp_no_args(out, "info pci", "pci", args))
        return;
    int n;
    struct monitor_pci_dev *devs = monitor_get_pci(mon, &n);
    for (int i = 0; i < n; i++) {
        const struct monitor_pci_dev *d = &devs[i];
        monitor_text_printf(out, "  Bus %2d, device %3d, function %d:\n", d->bus, d->slot,
                            d->function);
        const char *desc = monitor_pci_class_name(d->class_code);
        if (desc)
            monitor_text_printf(out, "    %s", desc);
        else  /* QEMU prints unnamed classes in decimal: "Class 0255" */
            monitor_text_printf(out, "    Class %04d", d->class_code);
        monitor_text_printf(out, ": PCI device %04x:%04x\n", d->vendor, d->device);
        monitor_text_printf(out, "      PCI subsystem %04x:%04x\n", d->subsys_vendor, d->subsys);
        if (d->irq_pin)
            monitor_text_printf(out, "      IRQ %d, pin %c\n", d->irq, 'A' + d->irq_pin - 1);
        int nr = d->nr_bars < 0 ? 0
               : d->nr_bars > MONITOR_PCI_MAX_BARS ? MONITOR_PCI_MAX_BARS : d->nr_bars;
        for (int b = 0; b < nr; b++) {
            const struct monitor_pci_bar *bar = &d->bars[b];
            /* The end is address + size - 1 in 64-bit arithmetic, so an
             * unassigned BAR (-1) prints as QEMU does. */
            uint64_t start = (uint64_t)bar->address;
            uint64_t end = start + bar->size - 1;
            if (bar->is_io)
                monitor_text_printf(out, "      BAR%d: I/O at 0x%04" PRIx64 " [0x%04" PRIx64 "].\n",
                                    bar->bar, start, end);
            else
                monitor_text_printf(out,
                                    "      BAR%d: %d bit%s memory at 0x%08" PRIx64
                                    " [0x%08" PRIx64 "].\n",
                                    bar->bar, bar->mem_type_64 ? 64 : 32,
                                    bar->prefetch ? " prefetchable" : "", start, end);
        }
        monitor_text_printf(out, "      id \"%s\"\n", d->qdev_id ? d->qdev_id : "");
    }
    free(devs);
}

static void hmp_info_version(void *opaque, const char *args, struct monitor_text *out)
{
    if (!monitor_hmp_no_args(out, "info version", "version", args))
        return;
    /* Version and package run together, as in QEMU (qmp.md §5). */
    monitor_text_printf(out, "%d.%d.%d%s\n", MONITOR_QEMU_MAJOR, MONITOR_QEMU_MINOR,
                        MONITOR_QEMU_MICRO, monitor_version_package());
}

static void hmp_info_name(void *opaque, const char *args, struct monitor_text *out)
{
    struct monitor *mon = opaque;
    if (!monitor_hmp_no_args(out, "info name", "name", args))
        return;
    if (mon->name)  /* nothing at all when unnamed (qmp.md §5) */
        monitor_text_printf(out, "%s\n", mon->name);
}

static void hmp_info_uuid(void *opaque, const char *args, struct monitor_text *out)
{
    struct monitor *mon = opaque;
    if (!monitor_hmp_no_args(out, "info uuid", "uuid", args))
        return;
    monitor_text_printf(out, "%s\n", mon->uuid);
}

static void hmp_info_kvm(void *opaque, const char *args, struct monitor_text *out)
{
    struct monitor *mon = opaque;
    if (!monitor_hmp_no_args(out, "info kvm", "kvm", args))
        return;
    monitor_text_printf(out, "kvm support: %s\n", mon->kvm_enabled ? "enabled" : "disabled");
}

void monitor_hmp_register_builtins(struct monitor *mon)
{
    /* Help texts as QEMU 7.2 words them. */
    monitor_register_hmp(mon, "help|?", "[cmd]", "show the help", hmp_help, mon);
    monitor_register_hmp(mon, "info", "[subcommand]",
                         "show various information about the system state", hmp_info, mon);
    monitor_register_hmp(mon, "stop|s", "", "stop emulation", hmp_stop, mon);
    monitor_register_hmp(mon, "cont|c", "", "resume emulation", hmp_cont, mon);
    monitor_register_hmp(mon, "system_reset", "", "reset the system", hmp_system_reset, mon);
    monitor_register_hmp(mon, "system_powerdown", "", "send system power down event",
                         hmp_system_powerdown, mon);
    monitor_register_hmp(mon, "quit|q", "", "quit the emulator", hmp_quit, mon);
    monitor_register_hmp(mon, "info status", "", "show the current VM status (running|paused)",
                         hmp_info_status, mon);
    monitor_register_hmp(mon, "info cpus", "", "show infos for each CPU", hmp_info_cpus, mon);
    monitor_register_hmp(mon, "info pci", "", "show PCI info", hmp_info_pci, mon);
    monitor_register_hmp(mon, "info version", "", "show the version of QEMU", hmp_info_version,
                         mon);
    monitor_register_hmp(mon, "info name", "", "show the current VM name", hmp_info_name, mon);
    monitor_register_hmp(mon, "info uuid", "", "show the current VM UUID", hmp_info_uuid, mon);
    monitor_register_hmp(mon, "info kvm", "", "show KVM information", hmp_info_kvm, mon);
}

/* "\n" -> "\r\n" (QEMU's monitor output). */
static char *crlf(const struct strbuf *text)
{
    struct strbuf sb = { 0 };
    strbuf_append(&sb, "", 0);
    for (size_t i = 0; i < text->len; i++) {
        if (text->data[i] == '\n' && (i == 0 || text->data[i - 1] != '\r'))
            strbuf_append(&sb, "\r", 1);
        strbuf_append(&sb, &text->data[i], 1);
    }
    if (sb.oom) {
        strbuf_free(&sb);
        return NULL;
    }
    return sb.data;
}

char *monitor_hmp_run(struct monitor *mon, const char *command_line)
{
    struct monitor_text out = { 0 };
    const char *line = monitor_skip_blanks(command_line ? command_line : "");
    size_t wlen = monitor_word_len(line);
    if (wlen == 4 && strncmp(line, "info", 4) == 0) {
        const char *sub = monitor_skip_blanks(line + 4);
        size_t slen = monitor_word_len(sub);
        if (slen == 0) {
            print_help_list(mon, &out, true);
        } else {
            struct monitor_hmp_command *cmd = find_hmp(mon, true, sub, slen);
            if (cmd)
                cmd->fn(cmd->opaque, monitor_skip_blanks(sub + slen), &out);
            else
                monitor_text_printf(&out, "unknown command: 'info %.*s'\n", (int)slen, sub);
        }
    } else if (wlen > 0) {
        struct monitor_hmp_command *cmd = find_hmp(mon, false, line, wlen);
        if (cmd)
            cmd->fn(cmd->opaque, monitor_skip_blanks(line + wlen), &out);
        else
            monitor_text_printf(&out, "unknown command: '%.*s'\n", (int)wlen, line);
    }
    char *text = out.buf.oom ? NULL : crlf(&out.buf);
    strbuf_free(&out.buf);
    return text;
}
