/* The daemon's end of a domain's serial console (drivers/domain/console.h). */
#include "drivers/domain/console.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "drivers/virerror.h"

#define READ_CHUNK 65536
#define CONNECT_RETRY_MS 50

struct _HvdConsole {
    char *name;
    char *socket_path;
    int log_fd;
    int fd;                 /* connected socket, -1 while not connected */
    gint64 connect_deadline;
    guint retry_timer;
    guint in_watch;
    guint out_watch;        /* only while input is waiting for room */
    bool output_paused;
    const HvdConsoleClientOps *ops;
    gpointer client;        /* attached client's data, NULL when none */
};

static void console_disconnect(HvdConsole *con);

static void hangup_client(HvdConsole *con, bool taken_over)
{
    const HvdConsoleClientOps *ops = con->ops;
    gpointer client = con->client;
    con->ops = NULL;
    con->client = NULL;
    con->output_paused = false;
    if (con->out_watch) {
        g_source_remove(con->out_watch);
        con->out_watch = 0;
    }
    if (client && ops->hangup)
        ops->hangup(client, taken_over);
}

static void log_append(HvdConsole *con, const uint8_t *buf, size_t len)
{
    while (con->log_fd >= 0 && len > 0) {
        ssize_t n = write(con->log_fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            log_warn("domain %s: console log write failed: %s", con->name, g_strerror(errno));
            close(con->log_fd);
            con->log_fd = -1;
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

static gboolean on_readable(gint fd, GIOCondition cond, gpointer data);

static void watch_input(HvdConsole *con, bool on)
{
    if (on && !con->in_watch && con->fd >= 0)
        con->in_watch = g_unix_fd_add(con->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_readable, con);
    else if (!on && con->in_watch) {
        g_source_remove(con->in_watch);
        con->in_watch = 0;
    }
}

static gboolean on_readable(gint fd, GIOCondition cond, gpointer data)
{
    (void)cond;
    HvdConsole *con = data;
    uint8_t buf[READ_CHUNK];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (n <= 0) {
        /* The worker exited (or closed us): the session is over. */
        log_debug("domain %s: console socket closed%s%s", con->name, n < 0 ? ": " : "",
                  n < 0 ? g_strerror(errno) : "");
        con->in_watch = 0;
        console_disconnect(con);
        hangup_client(con, false);
        return G_SOURCE_REMOVE;
    }
    log_append(con, buf, (size_t)n);
    if (con->client && !con->ops->output(con->client, buf, (size_t)n) && con->client) {
        /* The client is behind: leave the rest in the worker's ring. */
        con->output_paused = true;
        con->in_watch = 0;
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static bool try_connect(HvdConsole *con)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(con->socket_path) >= sizeof(sa.sun_path))
        return false;
    g_strlcpy(sa.sun_path, con->socket_path, sizeof(sa.sun_path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return false;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return false;
    }
    con->fd = fd;
    watch_input(con, true);
    log_debug("domain %s: console connected to %s", con->name, con->socket_path);
    return true;
}

static gboolean on_retry(gpointer data)
{
    HvdConsole *con = data;
    if (try_connect(con)) {
        con->retry_timer = 0;
        return G_SOURCE_REMOVE;
    }
    if (g_get_monotonic_time() < con->connect_deadline)
        return G_SOURCE_CONTINUE;
    log_warn("domain %s: cannot connect to the console socket %s: %s", con->name,
             con->socket_path, g_strerror(errno));
    con->retry_timer = 0;
    return G_SOURCE_REMOVE;
}

HvdConsole *hvd_console_new(const char *name, const char *socket_path, const char *log_path,
                            int connect_timeout_ms)
{
    HvdConsole *con = g_new0(HvdConsole, 1);
    con->name = g_strdup(name);
    con->socket_path = g_strdup(socket_path);
    con->fd = -1;
    con->log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (con->log_fd < 0)
        log_warn("domain %s: cannot open console log %s: %s", name, log_path, g_strerror(errno));
    con->connect_deadline = g_get_monotonic_time() + (gint64)connect_timeout_ms * 1000;
    if (!try_connect(con))
        con->retry_timer = g_timeout_add(CONNECT_RETRY_MS, on_retry, con);
    return con;
}

static void console_disconnect(HvdConsole *con)
{
    watch_input(con, false);
    if (con->out_watch) {
        g_source_remove(con->out_watch);
        con->out_watch = 0;
    }
    if (con->retry_timer) {
        g_source_remove(con->retry_timer);
        con->retry_timer = 0;
    }
    if (con->fd >= 0) {
        close(con->fd);
        con->fd = -1;
    }
}

/* What the guest printed last may still sit in our socket buffer when the
 * worker has exited (its exit can be seen before this end of file): take
 * it all, so the log and the client get the final lines. */
static void drain_socket(HvdConsole *con)
{
    uint8_t buf[READ_CHUNK];
    for (int rounds = 0; con->fd >= 0 && rounds < 64; rounds++) {
        ssize_t n = recv(con->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        log_append(con, buf, (size_t)n);
        if (con->client)
            con->ops->output(con->client, buf, (size_t)n);
    }
}

void hvd_console_free(HvdConsole *con)
{
    if (!con)
        return;
    drain_socket(con);
    console_disconnect(con);
    hangup_client(con, false);
    if (con->log_fd >= 0)
        close(con->log_fd);
    g_free(con->name);
    g_free(con->socket_path);
    g_free(con);
}

bool hvd_console_is_connected(const HvdConsole *con) { return con->fd >= 0; }
bool hvd_console_has_client(const HvdConsole *con) { return con->client != NULL; }

bool hvd_console_attach(HvdConsole *con, bool force, const HvdConsoleClientOps *ops,
                        gpointer data, GError **err)
{
    if (con->client) {
        if (!force) {
            /* libvirt's text (qemuDomainOpenConsole). */
            hvd_vir_error_set(err, VIR_FROM_QEMU, VIR_ERR_OPERATION_FAILED, "%s",
                              "Active console session exists for this domain");
            return false;
        }
        hangup_client(con, true);
    }
    con->ops = ops;
    con->client = data;
    con->output_paused = false;
    watch_input(con, con->fd >= 0);
    return true;
}

void hvd_console_detach(HvdConsole *con, gpointer data)
{
    if (!con || con->client != data)
        return;
    con->client = NULL;
    con->ops = NULL;
    if (con->out_watch) {
        g_source_remove(con->out_watch);
        con->out_watch = 0;
    }
    /* Keep logging what the guest prints. */
    con->output_paused = false;
    watch_input(con, con->fd >= 0);
}

static gboolean on_writable(gint fd, GIOCondition cond, gpointer data)
{
    (void)fd;
    (void)cond;
    HvdConsole *con = data;
    con->out_watch = 0;
    if (con->client && con->ops->input_ready)
        con->ops->input_ready(con->client);
    return G_SOURCE_REMOVE;
}

size_t hvd_console_input(HvdConsole *con, const uint8_t *buf, size_t len)
{
    if (con->fd < 0)
        return len; /* not connected (yet): keystrokes have nowhere to go */
    size_t done = 0;
    while (done < len) {
        ssize_t n = send(con->fd, buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!con->out_watch)
                con->out_watch = g_unix_fd_add(con->fd, G_IO_OUT, on_writable, con);
            return done;
        }
        if (n <= 0)
            return len; /* the socket is dying; the read side will notice */
        done += (size_t)n;
    }
    return done;
}

void hvd_console_resume_output(HvdConsole *con)
{
    if (!con->output_paused)
        return;
    con->output_paused = false;
    watch_input(con, con->fd >= 0);
}
