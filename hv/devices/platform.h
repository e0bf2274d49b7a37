/* Small legacy platform devices (x86-boot.md §7, §8):
 *   ACPI PM block (PM1a event/control, PM timer) at ACPI_PM_BASE, SCI on GSI 9
 *   i8042 keyboard controller stub at 0x60/0x64 (0xFE command = reset)
 *   CMOS RTC at 0x70/0x71 (host UTC time, BCD)
 *   POST/delay port sinks 0x80 and 0xED
 *   firmware debug console 0x402 (firmware boot with --debug) */
#pragma once
#include <stdbool.h>
#include <stdint.h>

struct vm;
struct pm;
struct rtc;
struct i8042;

struct pm *pm_create(struct vm *vm);
/* QMP system_powerdown: set PWRBTN_STS and raise the SCI if enabled. */
void pm_power_button(struct pm *pm);
void pm_reset(struct pm *pm);
void pm_free(struct pm *pm);

struct i8042 *i8042_create(struct vm *vm);
void i8042_reset(struct i8042 *kbd);
void i8042_free(struct i8042 *kbd);

struct rtc *rtc_create(struct vm *vm);
void rtc_reset(struct rtc *rtc);
/* Set a byte of CMOS RAM (index 0x0E-0x7F; the clock and status
 * registers are refused): what firmware reads at power-on. Kept across
 * resets, as battery-backed CMOS is. */
void rtc_cmos_set(struct rtc *rtc, uint8_t index, uint8_t value);
void rtc_free(struct rtc *rtc);

int ioport_sinks_create(struct vm *vm);

/* The firmware's debug port 0x402 (QEMU's isa-debugcon): its lines go to
 * the debug log. */
int debugcon_create(struct vm *vm);
