/* The firmware's debug console: QEMU's isa-debugcon at I/O 0x402, which
 * SeaBIOS detects by reading back 0xE9 and then writes its debug log to
 * (src/hw/serialio.c, CONFIG_DEBUG_IO). hv turns each line into a debug
 * log line; created only with --debug, since every byte is a VM exit. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "hv/devices/platform.h"
#include "hv/vm.h"

#define DEBUGCON_PORT 0x402
#define DEBUGCON_READBACK 0xE9

struct debugcon {
    pthread_mutex_t lock;
    char line[256];
    size_t len;
};

static void debugcon_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct debugcon *d = opaque;
    if (!is_write) {
        memset(data, 0, len);
        data[0] = DEBUGCON_READBACK;
        return;
    }
    pthread_mutex_lock(&d->lock);
    for (uint32_t i = 0; i < len; i++) {
        char c = (char)data[i];
        if (c != '\n' && c != '\r' && d->len < sizeof(d->line) - 1)
            d->line[d->len++] = c;
        if (c == '\n' || d->len == sizeof(d->line) - 1) {
            d->line[d->len] = 0;
            log_debug("firmware: %s", d->line);
            d->len = 0;
        }
    }
    pthread_mutex_unlock(&d->lock);
}

int debugcon_create(struct vm *vm)
{
    struct debugcon *d = calloc(1, sizeof(*d));
    if (!d)
        return -1;
    pthread_mutex_init(&d->lock, NULL);
    if (bus_add(vm->bus, BUS_PIO, DEBUGCON_PORT, 1, debugcon_io, d) < 0) {
        free(d);
        return -1;
    }
    return 0;
}
