#include "hv/loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"

struct loop_watch {
    int fd;
    loop_fd_fn fn;
    void *opaque;
    struct loop_watch *next;
};

struct loop_call_item {
    loop_call_fn fn;
    void *opaque;
    struct loop_call_item *next;
};

struct loop {
    int epfd;
    int wakefd;
    bool quit;
    int exit_code;
    struct loop_watch *watches;
    pthread_mutex_t lock;  /* protects calls */
    struct loop_call_item *calls, **calls_tail;
};

struct loop *loop_new(void)
{
    struct loop *loop = calloc(1, sizeof(*loop));
    if (!loop)
        return NULL;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->epfd < 0 || loop->wakefd < 0) {
        log_error("event loop: %m");
        loop_free(loop);
        return NULL;
    }
    pthread_mutex_init(&loop->lock, NULL);
    loop->calls_tail = &loop->calls;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev);
    return loop;
}

void loop_free(struct loop *loop)
{
    if (!loop)
        return;
    while (loop->watches) {
        struct loop_watch *w = loop->watches;
        loop->watches = w->next;
        free(w);
    }
    while (loop->calls) {
        struct loop_call_item *c = loop->calls;
        loop->calls = c->next;
        free(c);
    }
    if (loop->epfd >= 0)
        close(loop->epfd);
    if (loop->wakefd >= 0)
        close(loop->wakefd);
    free(loop);
}

int loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_fn fn, void *opaque)
{
    struct loop_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    *w = (struct loop_watch){ .fd = fd, .fn = fn, .opaque = opaque, .next = loop->watches };
    struct epoll_event ev = { .events = events, .data.ptr = w };
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int err = errno;
        free(w);
        return -err;
    }
    loop->watches = w;
    return 0;
}

static struct loop_watch *loop_find(struct loop *loop, int fd)
{
    for (struct loop_watch *w = loop->watches; w; w = w->next)
        if (w->fd == fd)
            return w;
    return NULL;
}

int loop_mod_fd(struct loop *loop, int fd, uint32_t events)
{
    struct loop_watch *w = loop_find(loop, fd);
    if (!w)
        return -ENOENT;
    struct epoll_event ev = { .events = events, .data.ptr = w };
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void loop_del_fd(struct loop *loop, int fd)
{
    for (struct loop_watch **pw = &loop->watches; *pw; pw = &(*pw)->next) {
        if ((*pw)->fd == fd) {
            struct loop_watch *w = *pw;
            *pw = w->next;
            epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
            /* A pending epoll event for this watch in the current batch is
             * dropped by loop_run's liveness check. */
            free(w);
            return;
        }
    }
}

void loop_call(struct loop *loop, loop_call_fn fn, void *opaque)
{
    struct loop_call_item *c = malloc(sizeof(*c));
    if (!c) {
        log_error("event loop: out of memory queueing a call");
        return;
    }
    *c = (struct loop_call_item){ .fn = fn, .opaque = opaque };
    pthread_mutex_lock(&loop->lock);
    *loop->calls_tail = c;
    loop->calls_tail = &c->next;
    pthread_mutex_unlock(&loop->lock);
    uint64_t one = 1;
    ssize_t r = write(loop->wakefd, &one, sizeof(one));
    (void)r;
}

static void loop_run_calls(struct loop *loop)
{
    uint64_t n;
    ssize_t r = read(loop->wakefd, &n, sizeof(n));
    (void)r;
    pthread_mutex_lock(&loop->lock);
    struct loop_call_item *list = loop->calls;
    loop->calls = NULL;
    loop->calls_tail = &loop->calls;
    pthread_mutex_unlock(&loop->lock);
    while (list) {
        struct loop_call_item *c = list;
        list = c->next;
        c->fn(c->opaque);
        free(c);
    }
}

static bool loop_watch_alive(struct loop *loop, struct loop_watch *target)
{
    for (struct loop_watch *w = loop->watches; w; w = w->next)
        if (w == target)
            return true;
    return false;
}

int loop_run(struct loop *loop)
{
    struct epoll_event evs[32];
    while (!loop->quit) {
        int n = epoll_wait(loop->epfd, evs, 32, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_error("event loop: epoll_wait: %m");
            return 1;
        }
        for (int i = 0; i < n && !loop->quit; i++) {
            struct loop_watch *w = evs[i].data.ptr;
            if (!w) {
                loop_run_calls(loop);
                continue;
            }
            /* An earlier handler in this batch may have removed it. */
            if (loop_watch_alive(loop, w))
                w->fn(w->opaque, w->fd, evs[i].events);
        }
    }
    return loop->exit_code;
}

void loop_quit(struct loop *loop, int exit_code)
{
    loop->quit = true;
    loop->exit_code = exit_code;
}
