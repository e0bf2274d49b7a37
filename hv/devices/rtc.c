/* MC146818 CMOS RTC: index port 0x70 (bit 7 = NMI mask), data 0x71; time
 * registers from the host's UTC clock in BCD, 24-hour mode; status A-D;
 * the rest of the 128 bytes is plain CMOS RAM. No alarm/periodic IRQ. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hv/devices/platform.h"
#include "hv/vm.h"

#define REG_SEC 0x00
#define REG_MIN 0x02
#define REG_HOUR 0x04
#define REG_WDAY 0x06
#define REG_MDAY 0x07
#define REG_MON 0x08
#define REG_YEAR 0x09
#define REG_A 0x0A
#define REG_B 0x0B
#define REG_C 0x0C
#define REG_D 0x0D
#define REG_CENTURY 0x32
#define B_24H 0x02
#define B_BINARY 0x04

struct rtc {
    struct vm *vm;
    pthread_mutex_t lock;
    uint8_t index;
    uint8_t cmos[128];
    time_t offset;            /* guest-set time minus host time (seconds) */
};

static uint8_t to_bcd(int v) { return (uint8_t)(((v / 10) << 4) | (v % 10)); }
static int from_bcd(uint8_t v) { return (v >> 4) * 10 + (v & 0x0F); }

static uint8_t enc(const struct rtc *r, int v) { return (r->cmos[REG_B] & B_BINARY) ? (uint8_t)v : to_bcd(v); }
static int dec(const struct rtc *r, uint8_t v) { return (r->cmos[REG_B] & B_BINARY) ? v : from_bcd(v); }

static uint8_t time_reg(const struct rtc *r, uint8_t idx)
{
    time_t now = time(NULL) + r->offset;
    struct tm tm;
    gmtime_r(&now, &tm);
    switch (idx) {
    case REG_SEC: return enc(r, tm.tm_sec);
    case REG_MIN: return enc(r, tm.tm_min);
    case REG_HOUR:
        if (r->cmos[REG_B] & B_24H)
            return enc(r, tm.tm_hour);
        return (uint8_t)(enc(r, tm.tm_hour % 12 == 0 ? 12 : tm.tm_hour % 12) | (tm.tm_hour >= 12 ? 0x80 : 0));
    case REG_WDAY: return enc(r, tm.tm_wday + 1);
    case REG_MDAY: return enc(r, tm.tm_mday);
    case REG_MON: return enc(r, tm.tm_mon + 1);
    case REG_YEAR: return enc(r, tm.tm_year % 100);
    case REG_CENTURY: return enc(r, (tm.tm_year + 1900) / 100);
    default: return r->cmos[idx];
    }
}

/* A guest write of a time field shifts our offset so reads follow it. */
static void set_time_reg(struct rtc *r, uint8_t idx, uint8_t v)
{
    time_t now = time(NULL) + r->offset;
    struct tm tm;
    gmtime_r(&now, &tm);
    int val = dec(r, idx == REG_HOUR ? (uint8_t)(v & 0x7F) : v);
    switch (idx) {
    case REG_SEC: tm.tm_sec = val; break;
    case REG_MIN: tm.tm_min = val; break;
    case REG_HOUR: tm.tm_hour = val; break;
    case REG_MDAY: tm.tm_mday = val; break;
    case REG_MON: tm.tm_mon = val - 1; break;
    case REG_YEAR: tm.tm_year = (tm.tm_year / 100) * 100 + val; break;
    case REG_CENTURY: tm.tm_year = (val * 100 + tm.tm_year % 100) - 1900; break;
    default: return;
    }
    time_t t = timegm(&tm);
    if (t != (time_t)-1)
        r->offset = t - time(NULL);
}

static void rtc_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct rtc *r = opaque;
    pthread_mutex_lock(&r->lock);
    if (offset == 0) {
        if (is_write)
            r->index = data[0] & 0x7F;
        else
            data[0] = 0xff;  /* the index port is write-only */
    } else {
        uint8_t idx = r->index;
        if (is_write) {
            switch (idx) {
            case REG_SEC: case REG_MIN: case REG_HOUR: case REG_MDAY: case REG_MON: case REG_YEAR:
            case REG_CENTURY:
                set_time_reg(r, idx, data[0]);
                break;
            case REG_A: r->cmos[REG_A] = (uint8_t)((r->cmos[REG_A] & 0x80) | (data[0] & 0x7F)); break;
            case REG_B: r->cmos[REG_B] = data[0]; break;
            case REG_C: case REG_D: break;  /* read-only */
            default: r->cmos[idx] = data[0]; break;
            }
        } else {
            switch (idx) {
            case REG_A: data[0] = r->cmos[REG_A] & 0x7F; break;  /* UIP never set */
            case REG_C: data[0] = 0; break;
            case REG_D: data[0] = 0x80; break;                    /* valid RAM and time */
            default: data[0] = time_reg(r, idx); break;
            }
        }
    }
    for (uint32_t i = 1; i < len; i++)
        if (!is_write)
            data[i] = 0xff;
    pthread_mutex_unlock(&r->lock);
}

void rtc_reset(struct rtc *r)
{
    pthread_mutex_lock(&r->lock);
    r->cmos[REG_A] = 0x26;        /* 32.768 kHz time base, 1024 Hz rate */
    r->cmos[REG_B] = B_24H;       /* BCD, 24-hour */
    r->index = 0;
    pthread_mutex_unlock(&r->lock);
}

void rtc_cmos_set(struct rtc *r, uint8_t index, uint8_t value)
{
    if (index <= REG_D || index >= sizeof(r->cmos) || index == REG_CENTURY)
        return;
    pthread_mutex_lock(&r->lock);
    r->cmos[index] = value;
    pthread_mutex_unlock(&r->lock);
}

struct rtc *rtc_create(struct vm *vm)
{
    struct rtc *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->vm = vm;
    pthread_mutex_init(&r->lock, NULL);
    rtc_reset(r);
    if (bus_add(vm->bus, BUS_PIO, 0x70, 2, rtc_io, r) < 0) {
        free(r);
        return NULL;
    }
    return r;
}

void rtc_free(struct rtc *r)
{
    if (!r)
        return;
    bus_remove(r->vm->bus, BUS_PIO, 0x70, r);
    free(r);
}
