/* Emulated Intel 82540EM Gigabit Ethernet controller (x86-boot.md §9):
 * PCI 8086:100E rev 3, BAR0 128 KiB registers, BAR1 64-byte IOADDR/IODATA,
 * legacy INTx only. Every register access traps to the worker (full
 * virtualization), the contrast to virtio-net's shared rings.
 *
 * Threads: register accesses run on the vCPU threads, transmit included
 * (a TDT write sends the frames before returning); receive runs on one I/O
 * thread per NIC that polls the backend. One mutex per NIC orders them. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/backends/net.h"

struct vm;
struct guest_mem;

struct e1000_config {
    const char *id;          /* monitor id, e.g. "net0"; NULL = "e1000-N" */
    uint8_t mac[6];          /* all zero = 52:54:00:12:34:(56 + N) */
    unsigned index;          /* N: this NIC's place among the machine's e1000s */
    /* The backend, first one that is set wins: */
    struct net_backend *backend;  /* already open (ownership taken) */
    int tap_fd;              /* pre-opened tap fd (ownership taken); -1 = none */
    const char *tap_name;    /* tap interface to open by name */
    uint8_t slot;            /* PCI device number; 0 = next free */
    bool link_down;          /* start with the link down (set_link off) */
};

struct e1000;

/* Open the backend, register the PCI function and start the receive
 * thread. NULL with err (naming the NIC and the cause) on failure. */
struct e1000 *e1000_create(struct vm *vm, const struct e1000_config *cfg, char *err,
                           size_t errlen);

/* Out of service (vCPUs paused): stop the receive thread, link down,
 * close the backend. */
void e1000_stop(struct e1000 *nic);
/* Stop if needed and free; the PCI function must be off the bus
 * (pci_unregister). */
void e1000_destroy(struct e1000 *nic);

/* The monitor's set_link: carrier on/off. Changes STATUS.LU and the PHY
 * status, raises LSC; while down, nothing is sent or received. */
void e1000_set_link(struct e1000 *nic, bool up);

/* Counters for domifstat; safe from any thread. */
void e1000_get_stats(const struct e1000 *nic, struct net_stats *out);

struct e1000_info {
    const char *id;
    uint8_t mac[6];
    const char *ifname;      /* backend interface ("" when unknown) */
    uint8_t pci_slot;
    bool link_up;
};
void e1000_get_info(const struct e1000 *nic, struct e1000_info *out);

/* ---- for unit tests ---- */

/* Like e1000_create but without the receive thread: the test calls
 * e1000_rx_poll to move waiting backend frames into the guest ring. */
struct e1000 *e1000_create_unthreaded(struct vm *vm, const struct e1000_config *cfg, char *err,
                                      size_t errlen);
/* Deliver frames waiting on the backend (as the thread would). Returns
 * how many frames were taken from the backend. */
unsigned e1000_rx_poll(struct e1000 *nic);
/* Offer one frame directly, as if it came from the backend. Returns true
 * when it was written into the guest ring, false when filtered or dropped. */
bool e1000_receive(struct e1000 *nic, const void *frame, size_t len);
struct pci_device *e1000_pci(struct e1000 *nic);
