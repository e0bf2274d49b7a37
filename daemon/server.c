#include "daemon/server.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/rpc.h"

#define READ_CHUNK 65536

struct listener {
    struct server *server;
    char *path;
    int fd;
    bool readonly;
    guint watch;
};

struct outbuf {
    uint8_t *data;
    size_t len;
    size_t off;
};

struct conn {
    struct server *server;
    struct rpc_client *rpc;
    int fd;
    guint in_watch;
    guint out_watch;
    GQueue out;
    bool close_when_flushed;
    bool dead;
};

struct server {
    GPtrArray *listeners;
    GList *conns;
};

static void conn_close(struct conn *c);

static void outbuf_free(gpointer p)
{
    struct outbuf *b = p;
    free(b->data);
    g_free(b);
}

static gboolean conn_free_idle(gpointer data)
{
    struct conn *c = data;
    rpc_client_unref(c->rpc);
    g_queue_clear_full(&c->out, outbuf_free);
    g_free(c);
    return G_SOURCE_REMOVE;
}

/* Write as much of the queue as the socket takes. False on a write error. */
static bool conn_flush(struct conn *c)
{
    while (!g_queue_is_empty(&c->out)) {
        struct outbuf *b = g_queue_peek_head(&c->out);
        ssize_t n = send(c->fd, b->data + b->off, b->len - b->off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            if (errno == EINTR)
                continue;
            log_info("client %u: write failed: %s", rpc_client_id(c->rpc), g_strerror(errno));
            return false;
        }
        b->off += (size_t)n;
        if (b->off == b->len)
            outbuf_free(g_queue_pop_head(&c->out));
    }
    return true;
}

static gboolean conn_writable(gint fd, GIOCondition cond, gpointer data)
{
    struct conn *c = data;
    if (!conn_flush(c)) {
        c->out_watch = 0;
        conn_close(c);
        return G_SOURCE_REMOVE;
    }
    if (!g_queue_is_empty(&c->out))
        return G_SOURCE_CONTINUE;
    c->out_watch = 0;
    if (c->close_when_flushed)
        conn_close(c);
    return G_SOURCE_REMOVE;
}

static void conn_schedule_write(struct conn *c)
{
    if (c->dead)
        return;
    if (!conn_flush(c)) {
        conn_close(c);
        return;
    }
    if (g_queue_is_empty(&c->out)) {
        if (c->close_when_flushed)
            conn_close(c);
        return;
    }
    if (!c->out_watch)
        c->out_watch = g_unix_fd_add(c->fd, G_IO_OUT, conn_writable, c);
}

static void op_send(void *opaque, uint8_t *frame, size_t len)
{
    struct conn *c = opaque;
    if (c->dead) {
        free(frame);
        return;
    }
    struct outbuf *b = g_new0(struct outbuf, 1);
    b->data = frame;
    b->len = len;
    g_queue_push_tail(&c->out, b);
    conn_schedule_write(c);
}

static void op_close(void *opaque, bool flush)
{
    struct conn *c = opaque;
    if (flush) {
        c->close_when_flushed = true;
        conn_schedule_write(c);
    } else {
        conn_close(c);
    }
}

static size_t op_queued(void *opaque)
{
    struct conn *c = opaque;
    size_t n = 0;
    for (GList *l = c->out.head; l; l = l->next) {
        const struct outbuf *b = l->data;
        n += b->len - b->off;
    }
    return n;
}

static const struct rpc_client_ops conn_ops = {
    .send = op_send, .close = op_close, .queued = op_queued,
};

static void conn_close(struct conn *c)
{
    if (c->dead)
        return;
    c->dead = true;
    if (c->in_watch)
        g_source_remove(c->in_watch);
    if (c->out_watch)
        g_source_remove(c->out_watch);
    c->in_watch = c->out_watch = 0;
    close(c->fd);
    c->fd = -1;
    c->server->conns = g_list_remove(c->server->conns, c);
    log_debug("client %u: disconnected", rpc_client_id(c->rpc));
    rpc_client_disconnected(c->rpc);
    /* Freed from an idle callback: we may be inside this client's callbacks. */
    g_idle_add(conn_free_idle, c);
}

static gboolean conn_readable(gint fd, GIOCondition cond, gpointer data)
{
    struct conn *c = data;
    uint8_t buf[READ_CHUNK];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (n <= 0) {
        if (n < 0)
            log_info("client %u: read failed: %s", rpc_client_id(c->rpc), g_strerror(errno));
        else if (rpc_client_pending_input(c->rpc))
            log_warn("client %u: connection closed in the middle of a frame (%zu bytes of a "
                     "truncated frame dropped)",
                     rpc_client_id(c->rpc), rpc_client_pending_input(c->rpc));
        c->in_watch = 0;
        conn_close(c);
        return G_SOURCE_REMOVE;
    }
    if (!rpc_client_feed(c->rpc, buf, (size_t)n)) {
        c->in_watch = 0;
        conn_close(c);
        return G_SOURCE_REMOVE;
    }
    return c->dead ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

static gboolean listener_accept(gint fd, GIOCondition cond, gpointer data)
{
    struct listener *l = data;
    int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            log_warn("accept on %s failed: %s", l->path, g_strerror(errno));
        return G_SOURCE_CONTINUE;
    }
    struct conn *c = g_new0(struct conn, 1);
    c->server = l->server;
    c->fd = cfd;
    g_queue_init(&c->out);
    c->rpc = rpc_client_new(l->readonly, &conn_ops, c);
    struct ucred cred;
    socklen_t clen = sizeof(cred);
    if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0)
        log_info("client %u: connected on %s%s (pid %d, uid %u)", rpc_client_id(c->rpc), l->path,
                 l->readonly ? " (read-only)" : "", (int)cred.pid, (unsigned)cred.uid);
    c->in_watch = g_unix_fd_add(cfd, G_IO_IN | G_IO_HUP | G_IO_ERR, conn_readable, c);
    l->server->conns = g_list_prepend(l->server->conns, c);
    return G_SOURCE_CONTINUE;
}

struct server *server_new(void)
{
    struct server *s = g_new0(struct server, 1);
    s->listeners = g_ptr_array_new();
    return s;
}

/* True when something accepts connections on path. */
static bool socket_in_use(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    bool used = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return used;
}

bool server_listen(struct server *s, const char *path, bool readonly, GError **error)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "socket path %s is longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
        return false;
    }
    g_autofree char *dir = g_path_get_dirname(path);
    if (g_mkdir_with_parents(dir, 0755) != 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot create %s: %s", dir,
                    g_strerror(errno));
        return false;
    }
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS, "%s exists and is not a socket", path);
            return false;
        }
        if (socket_in_use(path)) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                        "another daemon is already listening on %s", path);
            return false;
        }
        unlink(path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "socket: %s", g_strerror(errno));
        return false;
    }
    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    /* Create the socket file with the final mode at once: no window in which
     * a read-write socket is reachable by others. */
    mode_t old = umask(readonly ? 0111 : 0177);
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r != 0 || chmod(path, readonly ? 0666 : 0600) != 0 || listen(fd, 64) != 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot listen on %s: %s",
                    path, g_strerror(errno));
        close(fd);
        return false;
    }
    struct listener *l = g_new0(struct listener, 1);
    l->server = s;
    l->path = g_strdup(path);
    l->fd = fd;
    l->readonly = readonly;
    l->watch = g_unix_fd_add(fd, G_IO_IN, listener_accept, l);
    g_ptr_array_add(s->listeners, l);
    log_info("listening on %s (%s)", path, readonly ? "read-only" : "read-write");
    return true;
}

unsigned server_client_count(const struct server *s) { return g_list_length(s->conns); }

void server_free(struct server *s)
{
    if (!s)
        return;
    while (s->conns)
        conn_close(s->conns->data);
    for (guint i = 0; i < s->listeners->len; i++) {
        struct listener *l = g_ptr_array_index(s->listeners, i);
        g_source_remove(l->watch);
        close(l->fd);
        unlink(l->path);
        g_free(l->path);
        g_free(l);
    }
    g_ptr_array_free(s->listeners, TRUE);
    g_free(s);
}
