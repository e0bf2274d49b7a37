/* fw_cfg (QEMU docs/specs/fw_cfg.rst): the x86 I/O port interface with
 * the DMA interface. See fw_cfg.h for what is emulated. */
#include "hv/devices/fw_cfg.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "hv/vm.h"

#define WRITE_CHANNEL 0x4000      /* selector bit 14: write mode (no effect here) */
#define NKEYS (FW_CFG_FILE_FIRST + FW_CFG_MAX_FILES)
#define DMA_ACCESS_LEN 16         /* be32 control, be32 length, be64 address */
#define DIR_ENTRY_LEN (4 + 2 + 2 + FW_CFG_MAX_FILE_PATH)

struct item {
    uint8_t *data;
    uint32_t len;
};

struct fw_cfg {
    struct vm *vm;
    struct item items[NKEYS];     /* by selector; fixed once the machine runs */
    char names[FW_CFG_MAX_FILES][FW_CFG_MAX_FILE_PATH];
    unsigned nfiles;

    pthread_mutex_t lock;         /* guest-visible state below */
    uint16_t selector;
    uint32_t offset;
    uint64_t dma_addr;            /* high half once written */
};

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static uint64_t get_be64(const uint8_t *p) { return (uint64_t)get_be32(p) << 32 | get_be32(p + 4); }

/* The item a selector names; NULL for keys nothing was added under
 * (reads return zeros, as QEMU's do). */
static const struct item *item_of(const struct fw_cfg *cfg, uint16_t selector)
{
    uint16_t key = selector & (uint16_t)~WRITE_CHANNEL;
    if (key >= NKEYS || !cfg->items[key].data)
        return NULL;
    return &cfg->items[key];
}

static void select_item(struct fw_cfg *cfg, uint16_t selector)
{
    cfg->selector = selector;
    cfg->offset = 0;
}

static uint8_t data_read_byte(struct fw_cfg *cfg)
{
    const struct item *it = item_of(cfg, cfg->selector);
    if (!it || cfg->offset >= it->len)
        return 0;
    return it->data[cfg->offset++];
}

/* Rate-limited: every DMA request is guest-controlled. */
static void dma_warn(const char *what, uint64_t addr)
{
    static unsigned logged;
    if (logged < 5) {
        logged++;
        log_warn("fw_cfg: DMA %s at guest address 0x%llx is outside RAM", what, (unsigned long long)addr);
    }
}

/* One FWCfgDmaAccess at `access` (fw_cfg.rst "DMA interface"). */
static void dma_transfer(struct fw_cfg *cfg, uint64_t access)
{
    struct guest_mem *gm = &cfg->vm->mem;
    uint8_t req[DMA_ACCESS_LEN];
    if (!gm_read(gm, access, req, sizeof(req))) {
        dma_warn("control structure", access);
        return;  /* nowhere to report the error */
    }
    uint32_t control = get_be32(req), length = get_be32(req + 4);
    uint64_t addr = get_be64(req + 8);
    if (control & FW_CFG_DMA_SELECT)
        select_item(cfg, (uint16_t)(control >> 16));
    bool read = control & FW_CFG_DMA_READ;
    bool write = !read && (control & FW_CFG_DMA_WRITE);
    if (!read && !write && !(control & FW_CFG_DMA_SKIP))
        length = 0;
    uint32_t status = 0;
    if (write && length) {
        status = FW_CFG_DMA_ERROR;  /* every item is read-only */
    } else if (length) {
        const struct item *it = item_of(cfg, cfg->selector);
        uint32_t avail = it && cfg->offset < it->len ? it->len - cfg->offset : 0;
        uint32_t n = length < avail ? length : avail;
        if (read && n && !gm_write(gm, addr, it->data + cfg->offset, n)) {
            dma_warn("read target", addr);
            status = FW_CFG_DMA_ERROR;
        }
        cfg->offset += n;
        /* Past the item's end a read yields zeros. */
        uint32_t rest = length - n;
        if (!status && read && rest) {
            void *p = gm_ptr(gm, addr + n, rest);
            if (p)
                memset(p, 0, rest);
            else {
                dma_warn("read target", addr + n);
                status = FW_CFG_DMA_ERROR;
            }
        }
    }
    uint8_t done[4];
    put_be32(done, status);
    if (!gm_write(gm, access, done, sizeof(done)))
        dma_warn("control structure", access);
}

/* 0x510 (offset 0, 16-bit selector) and 0x511 (offset 1, data). */
static void port_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct fw_cfg *cfg = opaque;
    pthread_mutex_lock(&cfg->lock);
    if (offset == 0 && len == 2) {
        if (is_write)
            select_item(cfg, (uint16_t)(data[0] | data[1] << 8));
        else
            memset(data, 0, len);  /* write-only */
    } else if (offset == 1) {
        for (uint32_t i = 0; i < len; i++)
            if (!is_write)
                data[i] = data_read_byte(cfg);
        /* data-port writes are ignored */
    } else if (!is_write) {
        memset(data, 0, len);
    }
    pthread_mutex_unlock(&cfg->lock);
}

/* 0x514-0x51B: the DMA address register, big-endian; reads give the
 * signature "QEMU CFG". */
static void dma_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct fw_cfg *cfg = opaque;
    if (!is_write) {
        for (uint32_t i = 0; i < len; i++)
            data[i] = offset + i < 8 ? (uint8_t)(FW_CFG_DMA_SIGNATURE >> (56 - 8 * (offset + i))) : 0;
        return;
    }
    if (len != 4 || (offset != 0 && offset != 4))
        return;
    pthread_mutex_lock(&cfg->lock);
    if (offset == 0) {
        cfg->dma_addr = (uint64_t)get_be32(data) << 32;
    } else {
        uint64_t access = cfg->dma_addr | get_be32(data);
        cfg->dma_addr = 0;
        dma_transfer(cfg, access);
    }
    pthread_mutex_unlock(&cfg->lock);
}

static int set_item(struct fw_cfg *cfg, uint16_t key, const void *data, uint32_t len)
{
    /* A zero-length item still needs a buffer: NULL means "absent". */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -ENOMEM;
    if (len)
        memcpy(copy, data, len);
    free(cfg->items[key].data);
    cfg->items[key] = (struct item){ .data = copy, .len = len };
    return 0;
}

/* The directory (be32 count, then per file be32 size, be16 selector,
 * be16 reserved, name[56]), sorted by name as QEMU's is. */
static int rebuild_directory(struct fw_cfg *cfg)
{
    uint32_t len = 4 + cfg->nfiles * DIR_ENTRY_LEN;
    uint8_t *dir = calloc(1, len);
    if (!dir)
        return -ENOMEM;
    unsigned order[FW_CFG_MAX_FILES];
    for (unsigned i = 0; i < cfg->nfiles; i++) {
        unsigned j = i;
        while (j > 0 && strcmp(cfg->names[order[j - 1]], cfg->names[i]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    put_be32(dir, cfg->nfiles);
    for (unsigned k = 0; k < cfg->nfiles; k++) {
        unsigned i = order[k];
        uint16_t key = (uint16_t)(FW_CFG_FILE_FIRST + i);
        uint8_t *e = dir + 4 + k * DIR_ENTRY_LEN;
        put_be32(e, cfg->items[key].len);
        e[4] = (uint8_t)(key >> 8);
        e[5] = (uint8_t)key;
        memcpy(e + 8, cfg->names[i], strlen(cfg->names[i]));
    }
    int r = set_item(cfg, FW_CFG_FILE_DIR, dir, len);
    free(dir);
    return r;
}

int fw_cfg_add_item(struct fw_cfg *cfg, uint16_t key, const void *data, uint32_t len)
{
    if (key >= FW_CFG_FILE_FIRST || key == FW_CFG_SIGNATURE || key == FW_CFG_ID || key == FW_CFG_FILE_DIR)
        return -EINVAL;
    return set_item(cfg, key, data, len);
}

int fw_cfg_add_file(struct fw_cfg *cfg, const char *name, const void *data, uint32_t len)
{
    size_t n = strlen(name);
    if (n == 0 || n >= FW_CFG_MAX_FILE_PATH)
        return -EINVAL;
    for (unsigned i = 0; i < cfg->nfiles; i++)
        if (strcmp(cfg->names[i], name) == 0)
            return -EEXIST;
    if (cfg->nfiles == FW_CFG_MAX_FILES)
        return -ENOSPC;
    int r = set_item(cfg, (uint16_t)(FW_CFG_FILE_FIRST + cfg->nfiles), data, len);
    if (r < 0)
        return r;
    memcpy(cfg->names[cfg->nfiles], name, n + 1);
    cfg->nfiles++;
    return rebuild_directory(cfg);
}

static void put_le(uint8_t *p, uint64_t v, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int fw_cfg_add_item_le(struct fw_cfg *cfg, uint16_t key, uint64_t value, uint32_t len)
{
    uint8_t b[8];
    if (len > sizeof(b))
        return -EINVAL;
    put_le(b, value, len);
    return fw_cfg_add_item(cfg, key, b, len);
}

int fw_cfg_add_file_le(struct fw_cfg *cfg, const char *name, uint64_t value, uint32_t len)
{
    uint8_t b[8];
    if (len > sizeof(b))
        return -EINVAL;
    put_le(b, value, len);
    return fw_cfg_add_file(cfg, name, b, len);
}

void fw_cfg_reset(struct fw_cfg *cfg)
{
    pthread_mutex_lock(&cfg->lock);
    select_item(cfg, FW_CFG_SIGNATURE);
    cfg->dma_addr = 0;
    pthread_mutex_unlock(&cfg->lock);
}

struct fw_cfg *fw_cfg_create(struct vm *vm)
{
    struct fw_cfg *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return NULL;
    cfg->vm = vm;
    pthread_mutex_init(&cfg->lock, NULL);
    uint8_t id[4];
    put_le(id, FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA, sizeof(id));
    if (set_item(cfg, FW_CFG_SIGNATURE, "QEMU", 4) < 0 || set_item(cfg, FW_CFG_ID, id, sizeof(id)) < 0 ||
        rebuild_directory(cfg) < 0)
        goto fail;
    if (bus_add(vm->bus, BUS_PIO, FW_CFG_PORT_SEL, 2, port_io, cfg) < 0)
        goto fail;
    if (bus_add(vm->bus, BUS_PIO, FW_CFG_PORT_DMA, 8, dma_io, cfg) < 0) {
        bus_remove(vm->bus, BUS_PIO, FW_CFG_PORT_SEL, cfg);
        goto fail;
    }
    return cfg;
fail:
    for (unsigned k = 0; k < NKEYS; k++)
        free(cfg->items[k].data);
    free(cfg);
    return NULL;
}

void fw_cfg_free(struct fw_cfg *cfg)
{
    if (!cfg)
        return;
    bus_remove(cfg->vm->bus, BUS_PIO, FW_CFG_PORT_SEL, cfg);
    bus_remove(cfg->vm->bus, BUS_PIO, FW_CFG_PORT_DMA, cfg);
    for (unsigned k = 0; k < NKEYS; k++)
        free(cfg->items[k].data);
    free(cfg);
}
