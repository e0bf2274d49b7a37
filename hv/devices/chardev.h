/* Character back ends for the serial console: stdio, file, unix socket
 * (listening; one client at a time; output kept in a ring while nobody is
 * connected) or none. Writes may come from any thread; input is read on
 * the main loop and handed to the receiver (the UART). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct hv_serial_config;
struct chardev;

/* recv gets input bytes and returns how many it accepted; the back end
 * stops reading until chardev_accept_input says there is room again. */
typedef size_t (*chardev_recv_fn)(void *opaque, const uint8_t *buf, size_t len);

struct chardev *chardev_create(struct loop *loop, const struct hv_serial_config *cfg, char *err,
                               size_t errlen);
void chardev_set_receiver(struct chardev *chr, chardev_recv_fn fn, void *opaque);
void chardev_write(struct chardev *chr, const uint8_t *buf, size_t len);
/* Sees every byte written, on the writer's thread, before the back end
 * does (the firmware watches its console for boot failures). Set it
 * before the guest runs. */
typedef void (*chardev_observe_fn)(void *opaque, const uint8_t *buf, size_t len);
void chardev_set_observer(struct chardev *chr, chardev_observe_fn fn, void *opaque);
void chardev_accept_input(struct chardev *chr);
void chardev_free(struct chardev *chr);

#define CHARDEV_RING_SIZE 65536
