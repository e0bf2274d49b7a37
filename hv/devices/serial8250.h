/* 16550A UART (COM1 at 0x3F8, IRQ 4) for the guest console (x86-boot.md §7). */
#pragma once
#include <stdint.h>

struct vm;
struct chardev;
struct serial8250;

struct serial8250 *serial8250_create(struct vm *vm, uint16_t base, uint32_t gsi, struct chardev *chr);
void serial8250_reset(struct serial8250 *s);
void serial8250_free(struct serial8250 *s);
