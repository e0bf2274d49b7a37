/* 16550A UART: enough for Linux's 8250 driver to detect a 16550A, print
 * through THR with THR-empty interrupts, and receive console input
 * (x86-boot.md §7; TI PC16550D data sheet register map). */
#include "hv/devices/serial8250.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hv/devices/chardev.h"
#include "hv/vm.h"

#define RX_SIZE 1024          /* host-side receive buffer (the 16-byte FIFO and beyond) */

#define IER_RDI 0x01          /* received data available */
#define IER_THRI 0x02         /* THR empty */
#define IER_RLSI 0x04         /* receiver line status */
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO 0xC0         /* FIFOs enabled: identifies a 16550A */
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB 0x80
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

struct serial8250 {
    struct vm *vm;
    struct chardev *chr;
    uint16_t base;
    uint32_t gsi;
    pthread_mutex_t lock;
    uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
    bool thr_ipending;        /* THR-empty interrupt pending until IIR read / THR write */
    bool irq_level;
    uint8_t rx[RX_SIZE];
    unsigned rx_head, rx_len;
};

static uint8_t iir(const struct serial8250 *s)
{
    uint8_t fifo = (s->fcr & FCR_ENABLE) ? IIR_FIFO : 0;
    if ((s->ier & IER_RDI) && s->rx_len)
        return fifo | IIR_RDI;
    if ((s->ier & IER_THRI) && s->thr_ipending)
        return fifo | IIR_THRI;
    return fifo | IIR_NONE;
}

/* The interrupt line follows the pending condition; the IOAPIC/PIC pin is
 * edge triggered, so each rising edge is one interrupt. Called locked. */
static void update_irq(struct serial8250 *s)
{
    bool level = !(iir(s) & IIR_NONE);
    if (level != s->irq_level) {
        s->irq_level = level;
        vm_irq_line(s->vm, s->gsi, level);
    }
}

static void rx_push(struct serial8250 *s, uint8_t b)
{
    if (s->rx_len < RX_SIZE) {
        s->rx[(s->rx_head + s->rx_len) % RX_SIZE] = b;
        s->rx_len++;
    }
}

static size_t serial_receive(void *opaque, const uint8_t *buf, size_t len)
{
    struct serial8250 *s = opaque;
    pthread_mutex_lock(&s->lock);
    size_t n = 0;
    /* In loopback the line is disconnected from the outside. */
    if (!(s->mcr & MCR_LOOP)) {
        while (n < len && s->rx_len < RX_SIZE)
            rx_push(s, buf[n++]);
        update_irq(s);
    } else {
        n = len;
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}

static uint8_t msr(const struct serial8250 *s)
{
    if (s->mcr & MCR_LOOP) {
        /* Loopback wiring: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD. Linux's
         * autoconfig checks this. */
        uint8_t m = 0;
        if (s->mcr & MCR_RTS) m |= MSR_CTS;
        if (s->mcr & MCR_DTR) m |= MSR_DSR;
        if (s->mcr & MCR_OUT1) m |= MSR_RI;
        if (s->mcr & MCR_OUT2) m |= MSR_DCD;
        return m;
    }
    return MSR_DCD | MSR_DSR | MSR_CTS;
}

static void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct serial8250 *s = opaque;
    if (len != 1) {
        if (!is_write)
            memset(data, 0xff, len);
        return;
    }
    bool room = false;
    uint8_t out = 0;
    bool do_out = false;
    pthread_mutex_lock(&s->lock);
    bool dlab = s->lcr & LCR_DLAB;
    if (is_write) {
        uint8_t v = data[0];
        switch (offset) {
        case 0:
            if (dlab) {
                s->dll = v;
            } else {
                if (s->mcr & MCR_LOOP) {
                    rx_push(s, v);
                } else {
                    out = v;
                    do_out = true;
                }
                /* Transmission is instantaneous: THR is empty again. */
                s->thr_ipending = true;
            }
            break;
        case 1:
            if (dlab) {
                s->dlm = v;
            } else {
                bool was_thri = s->ier & IER_THRI;
                s->ier = v & 0x0F;
                if (!was_thri && (s->ier & IER_THRI))
                    s->thr_ipending = true;  /* enabling it with THR empty fires */
            }
            break;
        case 2:
            s->fcr = v & 0xC9;
            if (v & FCR_CLEAR_RX) {
                s->rx_len = 0;
                room = true;
            }
            break;
        case 3: s->lcr = v; break;
        case 4: s->mcr = v & 0x1F; break;
        case 7: s->scr = v; break;
        default: break;  /* LSR/MSR are read-only */
        }
    } else {
        uint8_t v = 0xff;
        switch (offset) {
        case 0:
            if (dlab) {
                v = s->dll;
            } else {
                v = 0;
                if (s->rx_len) {
                    v = s->rx[s->rx_head];
                    s->rx_head = (s->rx_head + 1) % RX_SIZE;
                    s->rx_len--;
                    room = s->rx_len == RX_SIZE / 2 || s->rx_len == 0;
                }
            }
            break;
        case 1: v = dlab ? s->dlm : s->ier; break;
        case 2:
            v = iir(s);
            if ((v & 0x0F) == IIR_THRI)
                s->thr_ipending = false;  /* reading IIR acknowledges THRE */
            break;
        case 3: v = s->lcr; break;
        case 4: v = s->mcr; break;
        case 5: v = LSR_THRE | LSR_TEMT | (s->rx_len ? LSR_DR : 0); break;
        case 6: v = msr(s); break;
        case 7: v = s->scr; break;
        default: break;
        }
        data[0] = v;
    }
    update_irq(s);
    pthread_mutex_unlock(&s->lock);
    if (do_out)
        chardev_write(s->chr, &out, 1);
    if (room)
        chardev_accept_input(s->chr);
}

void serial8250_reset(struct serial8250 *s)
{
    pthread_mutex_lock(&s->lock);
    s->ier = s->lcr = s->mcr = s->scr = s->fcr = 0;
    s->dll = 12;  /* 9600 baud */
    s->dlm = 0;
    s->thr_ipending = false;
    s->rx_len = s->rx_head = 0;
    update_irq(s);
    pthread_mutex_unlock(&s->lock);
    chardev_accept_input(s->chr);
}

struct serial8250 *serial8250_create(struct vm *vm, uint16_t base, uint32_t gsi, struct chardev *chr)
{
    struct serial8250 *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->vm = vm;
    s->chr = chr;
    s->base = base;
    s->gsi = gsi;
    pthread_mutex_init(&s->lock, NULL);
    s->dll = 12;
    if (bus_add(vm->bus, BUS_PIO, base, 8, serial_io, s) < 0) {
        free(s);
        return NULL;
    }
    chardev_set_receiver(chr, serial_receive, s);
    return s;
}

void serial8250_free(struct serial8250 *s)
{
    if (!s)
        return;
    bus_remove(s->vm->bus, BUS_PIO, s->base, s);
    chardev_set_receiver(s->chr, NULL, NULL);
    free(s);
}
