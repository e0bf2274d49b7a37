/* Platform devices through the bus, as the guest sees them: 16550A UART
 * (Linux's autoconfig checks, THR output, RX input, interrupt identity),
 * ACPI PM (status write-1-to-clear, S5 poweroff, power button), CMOS RTC
 * (BCD time, status registers), i8042 reset paths, port sinks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hv/bus.h"
#include "hv/machine_config.h"
#include "hv/devices/chardev.h"
#include "hv/devices/platform.h"
#include "hv/devices/serial8250.h"
#include "hv/loop.h"
#include "hv/vm.h"
#include "hv/x86/acpi.h"
#include "tests/tap.h"

static struct vm *vm;

static void outb(uint16_t port, uint8_t v) { bus_dispatch(vm->bus, BUS_PIO, port, &v, 1, true); }
static uint8_t inb(uint16_t port)
{
    uint8_t v = 0;
    bus_dispatch(vm->bus, BUS_PIO, port, &v, 1, false);
    return v;
}
static void outw(uint16_t port, uint16_t v)
{
    uint8_t d[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    bus_dispatch(vm->bus, BUS_PIO, port, d, 2, true);
}
static uint16_t inw(uint16_t port)
{
    uint8_t d[2] = { 0 };
    bus_dispatch(vm->bus, BUS_PIO, port, d, 2, false);
    return (uint16_t)(d[0] | d[1] << 8);
}
static uint32_t inl(uint16_t port)
{
    uint8_t d[4] = { 0 };
    bus_dispatch(vm->bus, BUS_PIO, port, d, 4, false);
    return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static int resets, poweroffs;
static void on_request(void *opaque, enum vm_request req)
{
    if (req == VM_REQUEST_RESET)
        resets++;
    else
        poweroffs++;
}

static int from_bcd(uint8_t v) { return (v >> 4) * 10 + (v & 0xF); }

int main(void)
{
    vm = vm_create_for_test();
    struct loop *loop = loop_new();
    TAP_CHECK(vm && loop, "test VM and loop");
    vm->loop = loop;
    vm_set_request_handler(vm, on_request, NULL);

    /* UART with a file back end so the output can be checked. */
    char path[] = "/tmp/test-platform-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    struct hv_serial_config sc = { .type = HV_SERIAL_FILE, .path = path };
    char err[256];
    struct chardev *chr = chardev_create(loop, &sc, err, sizeof(err));
    TAP_CHECK(chr != NULL, "file console created");
    struct serial8250 *uart = serial8250_create(vm, 0x3F8, 4, chr);
    TAP_CHECK(uart != NULL, "UART at 0x3F8");

    outb(0x3FF, 0xA5);
    TAP_EQ_U64(inb(0x3FF), 0xA5, "scratch register holds a value (Linux's SCR test)");
    outb(0x3FC, 0x10 | 0x08 | 0x02);  /* LOOP | OUT2 | RTS */
    TAP_EQ_U64(inb(0x3FE) & 0xF0, 0x90, "loopback: MSR shows DCD|CTS (autoconfig's check)");
    outb(0x3FC, 0x00);
    TAP_EQ_U64(inb(0x3FE) & 0xF0, 0xB0, "outside loopback: DCD|DSR|CTS");
    outb(0x3FA, 0x01);  /* FCR: enable FIFOs */
    TAP_EQ_U64(inb(0x3FA) & 0xC0, 0xC0, "IIR reports FIFOs: a 16550A");
    TAP_EQ_U64(inb(0x3FA) & 0x0F, 0x01, "no interrupt pending");
    TAP_EQ_U64(inb(0x3FD) & 0x60, 0x60, "LSR: THR empty, transmitter empty");
    outb(0x3FB, 0x80);  /* DLAB */
    outb(0x3F8, 0x01);
    outb(0x3F9, 0x00);
    TAP_EQ_U64(inb(0x3F8), 0x01, "divisor latch low readable with DLAB");
    outb(0x3FB, 0x03);  /* 8N1 */
    const char *msg = "hello\r\n";
    for (const char *p = msg; *p; p++)
        outb(0x3F8, (uint8_t)*p);
    outb(0x3F9, 0x02);  /* IER: THR empty interrupt */
    TAP_EQ_U64(inb(0x3FA) & 0x0F, 0x02, "enabling THRI with an empty THR raises it");
    TAP_EQ_U64(inb(0x3FA) & 0x0F, 0x01, "reading IIR acknowledged it");
    FILE *f = fopen(path, "r");
    char got[32] = { 0 };
    size_t n = f ? fread(got, 1, sizeof(got) - 1, f) : 0;
    if (f)
        fclose(f);
    TAP_CHECK(n == strlen(msg) && strcmp(got, msg) == 0, "THR bytes reached the console file");
    /* Loopback transmit comes back as received data. */
    outb(0x3FC, 0x10);
    outb(0x3F9, 0x01);  /* IER: received data */
    outb(0x3F8, 'Z');
    TAP_EQ_U64(inb(0x3FD) & 0x01, 0x01, "LSR data ready after a loopback byte");
    TAP_EQ_U64(inb(0x3FA) & 0x0F, 0x04, "IIR: received data available");
    TAP_EQ_U64(inb(0x3F8), 'Z', "RBR returns the looped-back byte");
    TAP_EQ_U64(inb(0x3FD) & 0x01, 0, "FIFO empty again");
    outb(0x3FC, 0x00);
    uint8_t wide[2];
    TAP_CHECK(bus_dispatch(vm->bus, BUS_PIO, 0x3F8, wide, 2, false) && wide[0] == 0xFF,
              "word access to the UART reads all-ones, no crash");

    /* ACPI PM. */
    struct pm *pm = pm_create(vm);
    TAP_CHECK(pm != NULL, "PM block created");
    TAP_EQ_U64(inw(ACPI_PM1_CNT_BLK) & 1, 1, "SCI_EN reads 1 (always in ACPI mode)");
    uint32_t t1 = inl(ACPI_PM_TMR_BLK);
    usleep(20000);
    uint32_t t2 = inl(ACPI_PM_TMR_BLK);
    uint32_t ticks = t2 - t1;
    TAP_CHECK(ticks > 3579545 / 50 - 2000 && ticks < 3579545 / 50 * 5, "PM timer runs at ~3.58 MHz (%u ticks in 20 ms)", ticks);
    pm_power_button(pm);
    TAP_EQ_U64(inw(ACPI_PM1_EVT_BLK) & 0x100, 0x100, "power button sets PWRBTN_STS");
    outw(ACPI_PM1_EVT_BLK + 2, 0x0100);
    TAP_EQ_U64(inw(ACPI_PM1_EVT_BLK + 2), 0x0100, "PWRBTN_EN writable");
    outw(ACPI_PM1_EVT_BLK, 0x0001);
    TAP_EQ_U64(inw(ACPI_PM1_EVT_BLK) & 0x100, 0x100, "writing 1 to another bit leaves PWRBTN_STS");
    outw(ACPI_PM1_EVT_BLK, 0x0100);
    TAP_EQ_U64(inw(ACPI_PM1_EVT_BLK) & 0x100, 0, "write-1-to-clear PWRBTN_STS");
    poweroffs = 0;
    outw(ACPI_PM1_CNT_BLK, (uint16_t)((ACPI_S5_SLP_TYP << 10) | 1));
    TAP_EQ_U64(poweroffs, 0, "SLP_TYP without SLP_EN does nothing");
    outw(ACPI_PM1_CNT_BLK, (uint16_t)((ACPI_S5_SLP_TYP << 10) | 0x2000 | 1));
    TAP_EQ_U64(poweroffs, 1, "SLP_EN with the _S5 type powers off");
    TAP_EQ_U64(inw(ACPI_PM1_CNT_BLK) & 0x2000, 0, "SLP_EN reads 0");
    outw(ACPI_PM1_CNT_BLK, (uint16_t)((3 << 10) | 0x2000));
    TAP_EQ_U64(poweroffs, 1, "another sleep type is not a poweroff");

    /* RTC. */
    struct rtc *rtc = rtc_create(vm);
    TAP_CHECK(rtc != NULL, "RTC created");
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    outb(0x70, 0x09);
    int year = from_bcd(inb(0x71));
    outb(0x70, 0x32);
    int century = from_bcd(inb(0x71));
    outb(0x70, 0x08);
    int mon = from_bcd(inb(0x71));
    TAP_EQ_U64(century * 100 + year, (unsigned)tm.tm_year + 1900, "RTC year in BCD with century");
    TAP_EQ_U64(mon, (unsigned)tm.tm_mon + 1, "RTC month in BCD");
    outb(0x70, 0x0B);
    TAP_EQ_U64(inb(0x71) & 0x06, 0x02, "status B: 24-hour, BCD");
    outb(0x70, 0x0D);
    TAP_EQ_U64(inb(0x71), 0x80, "status D: valid");
    outb(0x70, 0x0A);
    TAP_EQ_U64(inb(0x71) & 0x80, 0, "status A: no update in progress");
    outb(0x70, 0x40);
    outb(0x71, 0x5A);
    outb(0x70, 0x40 | 0x80);  /* NMI-disable bit is not part of the index */
    TAP_EQ_U64(inb(0x71), 0x5A, "CMOS RAM byte kept");

    /* i8042. */
    struct i8042 *kbd = i8042_create(vm);
    TAP_CHECK(kbd != NULL, "i8042 created");
    TAP_EQ_U64(inb(0x64) & 0x02, 0, "input buffer empty (reboot=k's wait ends)");
    outb(0x64, 0xAA);
    TAP_EQ_U64(inb(0x64) & 0x01, 1, "self-test answer pending");
    TAP_EQ_U64(inb(0x60), 0x55, "self-test passed");
    resets = 0;
    outb(0x64, 0xFE);
    TAP_EQ_U64(resets, 1, "command 0xFE resets");
    outb(0x64, 0xD1);
    outb(0x60, 0xFE);
    TAP_EQ_U64(resets, 2, "output port bit 0 low resets");
    outb(0x64, 0xD1);
    outb(0x60, 0xFF);
    TAP_EQ_U64(resets, 2, "output port bit 0 high does not");

    TAP_EQ_U64(ioport_sinks_create(vm), 0, "port sinks created");
    TAP_CHECK(bus_dispatch(vm->bus, BUS_PIO, 0x80, (uint8_t[]){ 0x12 }, 1, true), "port 0x80 claimed");
    TAP_CHECK(bus_dispatch(vm->bus, BUS_PIO, 0xED, (uint8_t[]){ 0x12 }, 1, true), "port 0xED claimed");

    serial8250_free(uart);
    chardev_free(chr);
    pm_free(pm);
    rtc_free(rtc);
    i8042_free(kbd);
    vm_destroy(vm);
    loop_free(loop);
    unlink(path);
    return tap_done();
}
