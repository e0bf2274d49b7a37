/* Unix-socket listeners and client connections on the GLib main loop: each
 * accepted connection gets an rpc_client (rpc.h) fed with what it reads, and
 * an output queue written when the socket is writable. A client that sends a
 * malformed frame is closed alone. */
#pragma once
#include <glib.h>
#include <stdbool.h>

struct server;

struct server *server_new(void);
/* Listen on `path` (mode 0600 read-write, 0666 read-only). A stale socket
 * file is replaced; one another daemon still answers on is not. */
bool server_listen(struct server *s, const char *path, bool readonly, GError **error);
/* Close every client and listener and remove the socket files. */
void server_free(struct server *s);
/* Connected clients (tests, logs). */
unsigned server_client_count(const struct server *s);
