/* hvd: the libvirt-compatible daemon. Runs in the foreground on a GLib main
 * loop, listens on a read-write and a read-only unix socket and answers
 * libvirt's remote protocol (docs/rpc.md). */
#include <errno.h>
#include <glib-unix.h>
#include <glib.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/log.h"
#include "config.h"
#include "daemon/keepalive.h"
#include "daemon/remote.h"
#include "daemon/remote_domain.h"
#include "daemon/remote_nodedev.h"
#include "daemon/rpc.h"
#include "daemon/server.h"
#include "drivers/domain/driver.h"

#define DEFAULT_STATE_DIR "/var/lib/hvd"
#define DEFAULT_SOCKET "/run/hvd/hvd-sock"
#define LIBVIRT_SOCKET "/run/libvirt/libvirt-sock"
/* §9: `hvd:///system` without ?socket= looks for virt<driver>d-sock. */
#define LIBVIRT_HVD_SOCKET "/run/libvirt/virthvdd-sock"

static gboolean on_signal(gpointer data)
{
    log_info("signal received, shutting down");
    g_main_loop_quit(data);
    return G_SOURCE_CONTINUE;
}

/* hvd's worker: --emulator, else `hv` beside this binary, else the build
 * tree's hv/hv, else `hv` on PATH. Always an absolute path. */
static char *find_emulator(const char *opt)
{
    if (opt)
        return g_canonicalize_filename(opt, NULL);
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        g_autofree char *dir = g_path_get_dirname(self);
        const char *candidates[] = { "hv", "../hv/hv" };
        for (size_t i = 0; i < G_N_ELEMENTS(candidates); i++) {
            g_autofree char *p = g_build_filename(dir, candidates[i], NULL);
            if (g_file_test(p, G_FILE_TEST_IS_EXECUTABLE))
                return g_canonicalize_filename(p, NULL);
        }
    }
    char *onpath = g_find_program_in_path("hv");
    return onpath ? onpath : g_strdup("/usr/bin/hv");
}

int main(int argc, char **argv)
{
    g_autofree char *state_dir = NULL, *socket_path = NULL, *ro_socket_path = NULL;
    g_autofree char *emulator_opt = NULL;
    gboolean libvirt_paths = FALSE, verbose = FALSE;
    int keepalive_interval = KEEPALIVE_DEFAULT_INTERVAL, keepalive_count = KEEPALIVE_DEFAULT_COUNT;
    GOptionEntry entries[] = {
        { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir,
          "Directory for persistent state (default " DEFAULT_STATE_DIR ")", "DIR" },
        { "socket", 0, 0, G_OPTION_ARG_FILENAME, &socket_path,
          "Read-write socket (default " DEFAULT_SOCKET ")", "PATH" },
        { "ro-socket", 0, 0, G_OPTION_ARG_FILENAME, &ro_socket_path,
          "Read-only socket (default: the read-write path + \"-ro\")", "PATH" },
        { "libvirt-paths", 0, 0, G_OPTION_ARG_NONE, &libvirt_paths,
          "Also listen on libvirt's " LIBVIRT_SOCKET "(-ro) and " LIBVIRT_HVD_SOCKET
          "(-ro), so qemu:///system and hvd:///system work without ?socket=", NULL },
        { "emulator", 0, 0, G_OPTION_ARG_FILENAME, &emulator_opt,
          "Hypervisor worker binary (default: hv next to hvd)", "PATH" },
        { "keepalive-interval", 0, 0, G_OPTION_ARG_INT, &keepalive_interval,
          "Seconds of client silence before hvd pings it (0 = never; default 5)", "S" },
        { "keepalive-count", 0, 0, G_OPTION_ARG_INT, &keepalive_count,
          "Unanswered pings before a client is dropped (default 5)", "N" },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log every call", NULL },
        { NULL },
    };
    g_autoptr(GError) error = NULL;
    g_autoptr(GOptionContext) ctx = g_option_context_new("- libvirt-compatible KVM daemon");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        fprintf(stderr, "hvd: %s (see --help)\n", error->message);
        return 2;
    }
    if (argc > 1) {
        fprintf(stderr, "hvd: unexpected argument '%s' (see --help)\n", argv[1]);
        return 2;
    }
    if (keepalive_interval < 0 || keepalive_count < 1) {
        fprintf(stderr, "hvd: --keepalive-interval must be >= 0 and --keepalive-count >= 1\n");
        return 2;
    }
    log_init("hvd", verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
    signal(SIGPIPE, SIG_IGN);

    if (!state_dir)
        state_dir = g_strdup(DEFAULT_STATE_DIR);
    if (!socket_path)
        socket_path = g_strdup(DEFAULT_SOCKET);
    if (!ro_socket_path)
        ro_socket_path = g_strconcat(socket_path, "-ro", NULL);
    if (g_mkdir_with_parents(state_dir, 0700) != 0) {
        log_error("cannot create state directory %s: %s", state_dir, g_strerror(errno));
        return 1;
    }

    g_autofree char *emulator = find_emulator(emulator_opt);
    struct remote_config rcfg = {
        .default_uri = libvirt_paths ? "qemu:///system" : "hvd:///system",
        .emulator = emulator,
    };
    keepalive_configure((unsigned)keepalive_interval, (unsigned)keepalive_count);
    remote_register(&rcfg);
    HvdDriverConfig dcfg = { .state_dir = state_dir, .emulator = emulator };
    if (!hvd_driver_init(&dcfg, &error)) {
        log_error("%s", error->message);
        return 1;
    }
    remote_domain_register();
    /* Domains marked autostart start now (adopted workers are already active). */
    hvd_driver_autostart();
    remote_nodedev_register(state_dir);

    GMainLoop *loop = g_main_loop_new(NULL, FALSE);
    struct server *server = server_new();
    bool ok = server_listen(server, socket_path, false, &error) &&
              server_listen(server, ro_socket_path, true, &error);
    if (ok && libvirt_paths)
        ok = server_listen(server, LIBVIRT_SOCKET, false, &error) &&
             server_listen(server, LIBVIRT_SOCKET "-ro", true, &error) &&
             server_listen(server, LIBVIRT_HVD_SOCKET, false, &error) &&
             server_listen(server, LIBVIRT_HVD_SOCKET "-ro", true, &error);
    if (!ok) {
        log_error("%s", error->message);
        server_free(server);
        g_main_loop_unref(loop);
        return 1;
    }
    guint sigint = g_unix_signal_add(SIGINT, on_signal, loop);
    guint sigterm = g_unix_signal_add(SIGTERM, on_signal, loop);
    log_info("hvd %s ready (state %s, emulator %s)", PACKAGE_VERSION, state_dir, emulator);

    g_main_loop_run(loop);

    g_source_remove(sigint);
    g_source_remove(sigterm);
    server_free(server);
    while (g_main_context_iteration(NULL, FALSE))
        ;
    rpc_unregister_all();
    hvd_driver_shutdown();
    g_main_loop_unref(loop);
    log_info("stopped");
    return 0;
}
