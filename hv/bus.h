/* I/O-port and MMIO dispatch for exits that reach userspace. Devices
 * register ranges; vCPU threads dispatch concurrently (a reader lock), and
 * PCI BAR moves re-register ranges (writer). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

enum bus_space { BUS_PIO, BUS_MMIO };

/* offset is relative to the registered base; data is little-endian,
 * len is 1, 2, 4 or 8. Reads fill data, writes consume it. */
typedef void (*bus_access_fn)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
                              bool is_write);

struct bus;

struct bus *bus_new(void);
void bus_free(struct bus *bus);

/* Fails (-EEXIST) when the range overlaps an existing one. */
int bus_add(struct bus *bus, enum bus_space space, uint64_t base, uint64_t len,
            bus_access_fn fn, void *opaque);
/* Removes the range registered at exactly base by opaque. */
void bus_remove(struct bus *bus, enum bus_space space, uint64_t base, void *opaque);

/* Returns false when nothing claims addr (reads then return all-ones). */
bool bus_dispatch(struct bus *bus, enum bus_space space, uint64_t addr, uint8_t *data,
                  uint32_t len, bool is_write);
