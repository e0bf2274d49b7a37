/* PCI configuration mechanism #1 ports and the PIIX reset control register
 * (x86-boot.md §6 and §8).
 *
 * 0xCF8 (dword): CONFIG_ADDRESS; 0xCFC-0xCFF: CONFIG_DATA, byte k of the
 * selected dword at 0xCFC+k. A byte access to 0xCF9 is the reset control
 * register instead (reboot=pci and the FADT reset register). Other byte or
 * word accesses in 0xCF8-0xCFB (Linux's conf1 probe writes 0xCFB) are
 * accepted and ignored. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "common/log.h"
#include "hv/pci/pci.h"
#include "hv/vm.h"

#define RCR_SYS_RST 0x02   /* 1 = hard (cold) reset when RST_CPU fires */
#define RCR_RST_CPU 0x04   /* 0 -> 1 transition resets the machine */

struct pci_host {
    struct vm *vm;
    _Atomic uint32_t config_address;
    _Atomic uint8_t reset_control;
};

static uint32_t load_le(const uint8_t *d, uint32_t len)
{
    uint32_t v = 0;
    for (uint32_t i = 0; i < len && i < 4; i++)
        v |= (uint32_t)d[i] << (8 * i);
    return v;
}

static void store_le(uint8_t *d, uint32_t len, uint32_t v)
{
    for (uint32_t i = 0; i < len; i++)
        d[i] = i < 4 ? (uint8_t)(v >> (8 * i)) : 0;
}

static void pci_host_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct pci_host *host = opaque;
    if (offset == 0 && len == 4) {
        if (is_write)
            atomic_store(&host->config_address, load_le(data, 4) & 0x80FFFFFCu);
        else
            store_le(data, 4, atomic_load(&host->config_address));
        return;
    }
    if (offset == 1 && len == 1) {
        if (!is_write) {
            data[0] = atomic_load(&host->reset_control);
            return;
        }
        uint8_t old = atomic_exchange(&host->reset_control, data[0] & (RCR_SYS_RST | RCR_RST_CPU));
        if (!(old & RCR_RST_CPU) && (data[0] & RCR_RST_CPU)) {
            log_info("guest reset through port 0xCF9 (value 0x%02x)", data[0]);
            atomic_store(&host->reset_control, 0);
            vm_request(host->vm, VM_REQUEST_RESET);
        }
        return;
    }
    if (offset < 4) {
        if (!is_write)
            store_le(data, len, 0xFFFFFFFFu);
        return;
    }
    uint32_t off = (uint32_t)offset - 4;
    if (off + len > 4 || (len != 1 && len != 2 && len != 4)) {
        if (!is_write)
            store_le(data, len, 0xFFFFFFFFu);
        return;
    }
    uint32_t addr = atomic_load(&host->config_address);
    if (!(addr & 0x80000000u)) {  /* enable bit clear: no config cycle */
        if (!is_write)
            store_le(data, len, 0xFFFFFFFFu);
        return;
    }
    if (is_write)
        pci_cfg_write(host->vm, addr, off, len, load_le(data, len));
    else
        store_le(data, len, pci_cfg_read(host->vm, addr, off, len));
}

/* One VM per worker process, so the ports' state is static. */
static struct pci_host the_host;

int pci_host_ports_init(struct vm *vm)
{
    struct pci_host *host = &the_host;
    host->vm = vm;
    atomic_store(&host->config_address, 0);
    atomic_store(&host->reset_control, 0);
    int r = bus_add(vm->bus, BUS_PIO, 0xCF8, 8, pci_host_io, host);
    if (r < 0)
        return r;
    /* A config access is a write of CONFIG_ADDRESS then an access to
     * CONFIG_DATA: the write takes effect at that access, so it can wait
     * in KVM's coalesced ring and half the exits of a config space scan
     * go (QEMU's i440fx does the same). The reset control register at
     * 0xCF9 shares the dword: its write is applied at the guest's next
     * exit, which Linux makes at once (its next reboot method). */
    r = vm_coalesce_pio(vm, 0xCF8, 4);
    if (r < 0 && r != -ENOTSUP && r != -EBADF)
        log_warn("PCI host: cannot coalesce writes to 0xCF8: %s", strerror(-r));
    return 0;
}
