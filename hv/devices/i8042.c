/* i8042 keyboard controller, just enough for the reset paths (x86-boot.md
 * §7, §8): status reads "empty, system flag set", command 0xFE pulses the
 * reset line, 0xD1 writes the output port (bit 0 clear = reset), and the
 * self-test / CTR commands Linux's probe may send get sane answers. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/log.h"
#include "hv/devices/platform.h"
#include "hv/vm.h"

#define STATUS_OBF 0x01
#define STATUS_SYS 0x04
#define STATUS_CMD 0x08

struct i8042 {
    struct vm *vm;
    pthread_mutex_t lock;
    uint8_t ctr;              /* controller configuration byte */
    uint8_t pending_cmd;      /* command waiting for its data byte */
    uint8_t out;
    bool out_full;
    bool last_was_cmd;
};

static void push_out(struct i8042 *k, uint8_t v)
{
    k->out = v;
    k->out_full = true;
}

/* port: 0 for 0x60 (data), 4 for 0x64 (status/command). */
static void kbd_io(struct i8042 *k, unsigned port, uint8_t *data, uint32_t len, bool is_write)
{
    uint64_t offset = port;
    bool reset = false;
    pthread_mutex_lock(&k->lock);
    if (!is_write) {
        if (offset == 0) {  /* 0x60 data */
            data[0] = k->out;
            k->out_full = false;
        } else {            /* 0x64 status */
            data[0] = STATUS_SYS | (k->out_full ? STATUS_OBF : 0) | (k->last_was_cmd ? STATUS_CMD : 0);
        }
        for (uint32_t i = 1; i < len; i++)
            data[i] = 0xff;
    } else if (offset == 4) {  /* command */
        uint8_t cmd = data[0];
        k->last_was_cmd = true;
        switch (cmd) {
        case 0x20: push_out(k, k->ctr); break;               /* read CTR */
        case 0x60: case 0xD1: k->pending_cmd = cmd; break;   /* write CTR / output port */
        case 0xAA: push_out(k, 0x55); break;                 /* self-test passed */
        case 0xA9: case 0xAB: push_out(k, 0x00); break;      /* port tests passed */
        case 0xFE: reset = true; break;                      /* pulse reset line */
        default: break;
        }
    } else {  /* 0x60 data */
        k->last_was_cmd = false;
        if (k->pending_cmd == 0x60)
            k->ctr = data[0];
        else if (k->pending_cmd == 0xD1 && !(data[0] & 0x01))
            reset = true;  /* output port bit 0 is the CPU reset line (active low) */
        k->pending_cmd = 0;
    }
    pthread_mutex_unlock(&k->lock);
    if (reset) {
        log_info("guest reset through the keyboard controller");
        vm_request(k->vm, VM_REQUEST_RESET);
    }
}

static void kbd_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    kbd_io(opaque, 0, data, len, is_write);
}

static void kbd_cmd_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    kbd_io(opaque, 4, data, len, is_write);
}

void i8042_reset(struct i8042 *k)
{
    pthread_mutex_lock(&k->lock);
    k->ctr = 0x00;
    k->pending_cmd = 0;
    k->out_full = false;
    k->last_was_cmd = false;
    pthread_mutex_unlock(&k->lock);
}

struct i8042 *i8042_create(struct vm *vm)
{
    struct i8042 *k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    k->vm = vm;
    pthread_mutex_init(&k->lock, NULL);
    /* Two ranges: the bus passes offsets relative to each base. */
    if (bus_add(vm->bus, BUS_PIO, 0x60, 1, kbd_data_io, k) < 0 ||
        bus_add(vm->bus, BUS_PIO, 0x64, 1, kbd_cmd_io, k) < 0) {
        free(k);
        return NULL;
    }
    return k;
}

void i8042_free(struct i8042 *k)
{
    if (!k)
        return;
    bus_remove(k->vm->bus, BUS_PIO, 0x60, k);
    bus_remove(k->vm->bus, BUS_PIO, 0x64, k);
    free(k);
}
