/* Serial console back ends. */
#include "hv/devices/chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/errbuf.h"
#include "common/log.h"
#include "hv/machine_config.h"
#include "hv/loop.h"

struct chardev {
    struct loop *loop;
    enum hv_serial_type type;
    char *path;
    int in_fd;            /* stdin, or the unix client; -1 when none */
    int out_fd;           /* stdout, the file, or the unix client; -1 when none */
    int listen_fd;
    int stdin_flags;      /* restored at exit: O_NONBLOCK is shared with the terminal */
    bool in_watched;
    chardev_recv_fn recv;
    void *recv_opaque;
    uint8_t pending[256]; /* input read but not yet accepted */
    size_t pending_off, pending_len;
    atomic_bool accept_queued;

    /* Output ring (unix back end): bytes not yet sent to a client. */
    pthread_mutex_t out_lock;
    uint8_t *ring;
    size_t ring_head, ring_len;
    bool out_watch_armed;
    atomic_bool arm_queued;

    chardev_observe_fn observe;   /* set before the vCPUs run, never changed */
    void *observe_opaque;
};

static void ring_push(struct chardev *c, const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        size_t tail = (c->ring_head + c->ring_len) % CHARDEV_RING_SIZE;
        c->ring[tail] = buf[i];
        if (c->ring_len < CHARDEV_RING_SIZE)
            c->ring_len++;
        else
            c->ring_head = (c->ring_head + 1) % CHARDEV_RING_SIZE;  /* drop the oldest */
    }
}

/* Send as much of the ring as the client takes. Called with out_lock. */
static void ring_flush(struct chardev *c)
{
    while (c->ring_len && c->out_fd >= 0) {
        size_t chunk = CHARDEV_RING_SIZE - c->ring_head;
        if (chunk > c->ring_len)
            chunk = c->ring_len;
        ssize_t n = send(c->out_fd, c->ring + c->ring_head, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n <= 0)
            return;  /* EAGAIN or a dead client (the read side notices) */
        c->ring_head = (c->ring_head + (size_t)n) % CHARDEV_RING_SIZE;
        c->ring_len -= (size_t)n;
    }
}

static void client_out_ready(void *opaque, int fd, uint32_t events);

/* Main thread: (dis)arm EPOLLOUT on the client to drain the ring. */
static void arm_out_watch(void *opaque)
{
    struct chardev *c = opaque;
    atomic_store(&c->arm_queued, false);
    pthread_mutex_lock(&c->out_lock);
    bool want = c->out_fd >= 0 && c->ring_len > 0;
    int fd = c->out_fd;
    pthread_mutex_unlock(&c->out_lock);
    if (fd >= 0 && want != c->out_watch_armed) {
        loop_mod_fd(c->loop, fd, EPOLLIN | (want ? EPOLLOUT : 0));
        c->out_watch_armed = want;
    }
}

static void write_all_blocking(int fd, const uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;  /* console gone: drop output rather than stall the guest */
        buf += n;
        len -= (size_t)n;
    }
}

void chardev_set_observer(struct chardev *c, chardev_observe_fn fn, void *opaque)
{
    c->observe = fn;
    c->observe_opaque = opaque;
}

void chardev_write(struct chardev *c, const uint8_t *buf, size_t len)
{
    if (!c)
        return;
    if (c->observe)
        c->observe(c->observe_opaque, buf, len);
    switch (c->type) {
    case HV_SERIAL_STDIO:
    case HV_SERIAL_FILE:
        write_all_blocking(c->out_fd, buf, len);
        break;
    case HV_SERIAL_UNIX: {
        pthread_mutex_lock(&c->out_lock);
        ring_push(c, buf, len);
        if (c->out_fd >= 0)
            ring_flush(c);
        bool need_arm = c->out_fd >= 0 && c->ring_len > 0 && !c->out_watch_armed;
        pthread_mutex_unlock(&c->out_lock);
        if (need_arm && !atomic_exchange(&c->arm_queued, true))
            loop_call(c->loop, arm_out_watch, c);
        break;
    }
    case HV_SERIAL_NONE:
        break;
    }
}

static void set_input_watch(struct chardev *c, bool on)
{
    if (c->in_fd < 0 || c->in_watched == on)
        return;
    uint32_t ev = on ? EPOLLIN : 0;
    if (c->type == HV_SERIAL_UNIX && c->out_watch_armed)
        ev |= EPOLLOUT;
    loop_mod_fd(c->loop, c->in_fd, ev);
    c->in_watched = on;
}

/* Deliver pending input; true when all of it was taken. Main thread. */
static bool deliver_pending(struct chardev *c)
{
    while (c->pending_len) {
        size_t n = c->recv ? c->recv(c->recv_opaque, c->pending + c->pending_off, c->pending_len)
                           : c->pending_len;
        if (n == 0)
            return false;
        c->pending_off += n;
        c->pending_len -= n;
    }
    c->pending_off = 0;
    return true;
}

static void client_close(struct chardev *c);

static void input_ready(void *opaque, int fd, uint32_t events)
{
    struct chardev *c = opaque;
    if (!deliver_pending(c)) {
        set_input_watch(c, false);
        return;
    }
    ssize_t n = read(fd, c->pending, sizeof(c->pending));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        if (c->type == HV_SERIAL_UNIX) {
            client_close(c);
        } else {
            loop_del_fd(c->loop, fd);  /* stdin closed: output only */
            c->in_fd = -1;
        }
        return;
    }
    c->pending_off = 0;
    c->pending_len = (size_t)n;
    if (!deliver_pending(c))
        set_input_watch(c, false);
}

static void accept_input_main(void *opaque)
{
    struct chardev *c = opaque;
    atomic_store(&c->accept_queued, false);
    if (deliver_pending(c))
        set_input_watch(c, true);
}

void chardev_accept_input(struct chardev *c)
{
    if (!c || c->in_fd < 0 || c->in_watched)
        return;
    if (!atomic_exchange(&c->accept_queued, true))
        loop_call(c->loop, accept_input_main, c);
}

void chardev_set_receiver(struct chardev *c, chardev_recv_fn fn, void *opaque)
{
    if (!c)
        return;
    c->recv = fn;
    c->recv_opaque = opaque;
}

static void client_out_ready(void *opaque, int fd, uint32_t events)
{
    struct chardev *c = opaque;
    if (events & (EPOLLHUP | EPOLLERR)) {
        client_close(c);
        return;
    }
    if (events & EPOLLOUT) {
        pthread_mutex_lock(&c->out_lock);
        ring_flush(c);
        pthread_mutex_unlock(&c->out_lock);
        arm_out_watch(c);
    }
    if (events & EPOLLIN)
        input_ready(c, fd, events);
}

static void listen_ready(void *opaque, int fd, uint32_t events);

static void client_close(struct chardev *c)
{
    int fd = c->in_fd;
    if (fd < 0)
        return;
    loop_del_fd(c->loop, fd);
    pthread_mutex_lock(&c->out_lock);
    c->out_fd = -1;
    pthread_mutex_unlock(&c->out_lock);
    c->in_fd = -1;
    c->in_watched = false;
    c->out_watch_armed = false;
    c->pending_len = c->pending_off = 0;
    close(fd);
    log_info("serial console client disconnected");
    /* Listen again for the next client. */
    loop_add_fd(c->loop, c->listen_fd, EPOLLIN, listen_ready, c);
}

static void listen_ready(void *opaque, int fd, uint32_t events)
{
    struct chardev *c = opaque;
    int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (cfd < 0)
        return;
    /* One client at a time: stop accepting until it leaves; a second
     * client waits in the listen backlog. */
    loop_del_fd(c->loop, fd);
    c->in_fd = cfd;
    c->in_watched = true;
    c->out_watch_armed = false;
    loop_add_fd(c->loop, cfd, EPOLLIN, client_out_ready, c);
    pthread_mutex_lock(&c->out_lock);
    c->out_fd = cfd;
    ring_flush(c);  /* what the guest printed while nobody watched */
    pthread_mutex_unlock(&c->out_lock);
    arm_out_watch(c);
    log_info("serial console client connected");
}

struct chardev *chardev_create(struct loop *loop, const struct hv_serial_config *cfg, char *err,
                               size_t errlen)
{
    struct chardev *c = calloc(1, sizeof(*c));
    if (!c) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    c->loop = loop;
    c->type = cfg->type;
    c->in_fd = c->out_fd = c->listen_fd = -1;
    pthread_mutex_init(&c->out_lock, NULL);
    switch (cfg->type) {
    case HV_SERIAL_NONE:
        break;
    case HV_SERIAL_STDIO:
        c->out_fd = STDOUT_FILENO;
        c->in_fd = STDIN_FILENO;
        c->stdin_flags = fcntl(STDIN_FILENO, F_GETFL);
        if (c->stdin_flags >= 0)
            fcntl(STDIN_FILENO, F_SETFL, c->stdin_flags | O_NONBLOCK);
        /* epoll refuses regular files and /dev/null: then no input. */
        if (loop_add_fd(loop, c->in_fd, EPOLLIN, input_ready, c) < 0)
            c->in_fd = -1;
        else
            c->in_watched = true;
        break;
    case HV_SERIAL_FILE:
        c->out_fd = open(cfg->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (c->out_fd < 0) {
            errbuf_set(err, errlen, "cannot open serial log %s: %s", cfg->path, strerror(errno));
            free(c);
            return NULL;
        }
        break;
    case HV_SERIAL_UNIX: {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(cfg->path) >= sizeof(sa.sun_path)) {
            errbuf_set(err, errlen, "serial socket path %s is too long", cfg->path);
            free(c);
            return NULL;
        }
        strcpy(sa.sun_path, cfg->path);
        c->ring = malloc(CHARDEV_RING_SIZE);
        c->path = strdup(cfg->path);
        c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (!c->ring || !c->path || c->listen_fd < 0) {
            errbuf_set(err, errlen, "cannot create serial socket: %s", strerror(errno));
            goto fail;
        }
        unlink(cfg->path);
        if (bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(c->listen_fd, 4) < 0) {
            errbuf_set(err, errlen, "cannot listen on serial socket %s: %s", cfg->path, strerror(errno));
            goto fail;
        }
        loop_add_fd(loop, c->listen_fd, EPOLLIN, listen_ready, c);
        break;
    }
    }
    return c;
fail:
    if (c->listen_fd >= 0)
        close(c->listen_fd);
    free(c->ring);
    free(c->path);
    free(c);
    return NULL;
}

void chardev_free(struct chardev *c)
{
    if (!c)
        return;
    if (c->type == HV_SERIAL_UNIX) {
        if (c->in_fd >= 0) {
            pthread_mutex_lock(&c->out_lock);
            ring_flush(c);
            pthread_mutex_unlock(&c->out_lock);
            close(c->in_fd);
        }
        if (c->listen_fd >= 0)
            close(c->listen_fd);
        if (c->path)
            unlink(c->path);
    } else if (c->type == HV_SERIAL_FILE && c->out_fd >= 0) {
        close(c->out_fd);
    } else if (c->type == HV_SERIAL_STDIO && c->stdin_flags >= 0) {
        fcntl(STDIN_FILENO, F_SETFL, c->stdin_flags);
    }
    free(c->ring);
    free(c->path);
    free(c);
}
