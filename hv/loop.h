/* The worker's main-thread event loop (epoll). The monitor, the serial
 * console backends and the device back ends that do not block register
 * their file descriptors here; vCPUs run on their own threads. Handlers run
 * on the main thread only. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop;
typedef void (*loop_fd_fn)(void *opaque, int fd, uint32_t events);
typedef void (*loop_call_fn)(void *opaque);

struct loop *loop_new(void);
void loop_free(struct loop *loop);

/* events: EPOLLIN/EPOLLOUT/... One registration per fd. */
int loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_fn fn, void *opaque);
int loop_mod_fd(struct loop *loop, int fd, uint32_t events);
void loop_del_fd(struct loop *loop, int fd);

/* Run fn(opaque) on the main thread soon; safe from any thread (vCPUs use
 * it to hand events such as guest reset or poweroff to the main thread). */
void loop_call(struct loop *loop, loop_call_fn fn, void *opaque);

/* Run until loop_quit(); returns the exit code given to loop_quit. */
int loop_run(struct loop *loop);
void loop_quit(struct loop *loop, int exit_code);
