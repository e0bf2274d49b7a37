/* Ports Linux writes only for their delay side effect: 0x80 (POST code)
 * and 0xED (io_delay). Claiming them keeps the exits short and quiet. */
#include <string.h>

#include "hv/devices/platform.h"
#include "hv/vm.h"

static void sink_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    if (!is_write)
        memset(data, 0xff, len);
}

int ioport_sinks_create(struct vm *vm)
{
    int r = bus_add(vm->bus, BUS_PIO, 0x80, 1, sink_io, NULL);
    if (r == 0)
        r = bus_add(vm->bus, BUS_PIO, 0xED, 1, sink_io, NULL);
    return r;
}
