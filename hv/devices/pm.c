/* ACPI fixed hardware: PM1a event block (status + enable), PM1a control,
 * 32-bit PM timer (ACPI 6.4 §4.8.3). Poweroff is SLP_EN with the \_S5
 * sleep type; the fixed power button raises PWRBTN_STS and the SCI. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "hv/devices/platform.h"
#include "hv/vm.h"
#include "hv/x86/acpi.h"

#define PM1_TMR_STS 0x0001
#define PM1_BM_STS 0x0010
#define PM1_GBL_STS 0x0020
#define PM1_PWRBTN_STS 0x0100
#define PM1_SLPBTN_STS 0x0200
#define PM1_RTC_STS 0x0400
#define PM1_WAK_STS 0x8000
#define PM1_STS_RW1C (PM1_TMR_STS | PM1_BM_STS | PM1_GBL_STS | PM1_PWRBTN_STS | PM1_SLPBTN_STS | PM1_RTC_STS | PM1_WAK_STS)
#define PM1_CNT_SCI_EN 0x0001
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_EN 0x2000
#define PM_TIMER_HZ 3579545ULL

struct pm {
    struct vm *vm;
    pthread_mutex_t lock;
    uint16_t sts, en, cnt;
    bool sci_level;
    bool warned_sleep;
};

static void update_sci(struct pm *pm)
{
    bool level = (pm->sts & pm->en & (PM1_PWRBTN_STS | PM1_TMR_STS | PM1_GBL_STS | PM1_RTC_STS)) != 0;
    if (level != pm->sci_level) {
        pm->sci_level = level;
        vm_irq_line(pm->vm, ACPI_SCI_GSI, level);
    }
}

static uint32_t pm_timer(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned __int128 ns = (unsigned __int128)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    return (uint32_t)(ns * PM_TIMER_HZ / 1000000000u);
}

static void pm_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct pm *pm = opaque;
    bool poweroff = false;
    pthread_mutex_lock(&pm->lock);
    uint8_t regs[ACPI_PM_LEN];
    memset(regs, 0, sizeof(regs));
    regs[0] = (uint8_t)pm->sts;
    regs[1] = (uint8_t)(pm->sts >> 8);
    regs[2] = (uint8_t)pm->en;
    regs[3] = (uint8_t)(pm->en >> 8);
    uint16_t cnt = (uint16_t)((pm->cnt | PM1_CNT_SCI_EN) & ~PM1_CNT_SLP_EN);  /* SLP_EN reads 0 */
    regs[4] = (uint8_t)cnt;
    regs[5] = (uint8_t)(cnt >> 8);
    uint32_t tmr = pm_timer();
    memcpy(&regs[8], &tmr, 4);
    if (!is_write) {
        for (uint32_t i = 0; i < len; i++)
            data[i] = offset + i < ACPI_PM_LEN ? regs[offset + i] : 0xff;
    } else {
        uint16_t sts_clear = 0, en = pm->en, new_cnt = pm->cnt;
        bool cnt_written = false;
        for (uint32_t i = 0; i < len && offset + i < ACPI_PM_LEN; i++) {
            unsigned o = (unsigned)(offset + i);
            uint16_t byte = data[i];
            switch (o) {
            case 0: sts_clear |= byte; break;
            case 1: sts_clear |= (uint16_t)(byte << 8); break;
            case 2: en = (uint16_t)((en & 0xFF00) | byte); break;
            case 3: en = (uint16_t)((en & 0x00FF) | (byte << 8)); break;
            case 4: new_cnt = (uint16_t)((new_cnt & 0xFF00) | byte); cnt_written = true; break;
            case 5: new_cnt = (uint16_t)((new_cnt & 0x00FF) | (byte << 8)); cnt_written = true; break;
            default: break;  /* timer is read-only */
            }
        }
        pm->sts &= (uint16_t)~(sts_clear & PM1_STS_RW1C);
        pm->en = en & (PM1_TMR_STS | PM1_GBL_STS | PM1_PWRBTN_STS | PM1_SLPBTN_STS | PM1_RTC_STS);
        if (cnt_written) {
            pm->cnt = (uint16_t)(new_cnt & ~PM1_CNT_SLP_EN);
            if (new_cnt & PM1_CNT_SLP_EN) {
                unsigned typ = (new_cnt >> PM1_CNT_SLP_TYP_SHIFT) & 7;
                if (typ == ACPI_S5_SLP_TYP) {
                    log_info("guest entered ACPI S5 (PM1a_CNT 0x%04x): power off", new_cnt);
                    poweroff = true;
                } else if (!pm->warned_sleep) {
                    pm->warned_sleep = true;  /* guest-controlled: once */
                    log_info("guest asked for ACPI sleep type %u, which this machine does not offer", typ);
                }
            }
        }
        update_sci(pm);
    }
    pthread_mutex_unlock(&pm->lock);
    if (poweroff)
        vm_request(pm->vm, VM_REQUEST_POWEROFF);
}

void pm_power_button(struct pm *pm)
{
    pthread_mutex_lock(&pm->lock);
    pm->sts |= PM1_PWRBTN_STS;
    update_sci(pm);
    pthread_mutex_unlock(&pm->lock);
}

void pm_reset(struct pm *pm)
{
    pthread_mutex_lock(&pm->lock);
    pm->sts = pm->en = pm->cnt = 0;
    update_sci(pm);
    pthread_mutex_unlock(&pm->lock);
}

struct pm *pm_create(struct vm *vm)
{
    struct pm *pm = calloc(1, sizeof(*pm));
    if (!pm)
        return NULL;
    pm->vm = vm;
    pthread_mutex_init(&pm->lock, NULL);
    if (bus_add(vm->bus, BUS_PIO, ACPI_PM_BASE, ACPI_PM_LEN, pm_io, pm) < 0) {
        free(pm);
        return NULL;
    }
    return pm;
}

void pm_free(struct pm *pm)
{
    if (!pm)
        return;
    bus_remove(pm->vm->bus, BUS_PIO, ACPI_PM_BASE, pm);
    free(pm);
}
