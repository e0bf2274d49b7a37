/* QEMU's firmware configuration device (fw_cfg, QEMU docs/specs/fw_cfg.rst),
 * as SeaBIOS reads it on a PC: selector at I/O 0x510 (16-bit), data at
 * 0x511 (8-bit), DMA address at 0x514 (64-bit big-endian, written as two
 * 32-bit halves; the low half at 0x518 starts the transfer).
 *
 * Items are filled in while the machine is built (fw_cfg_add_*: they
 * copy the data) and never change afterwards, so the I/O paths neither
 * allocate nor lock against writers. All items are read-only to the
 * guest: a DMA write sets the error bit, data-port writes are ignored
 * (as QEMU has done since v2.4). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct fw_cfg;

#define FW_CFG_PORT_SEL   0x510
#define FW_CFG_PORT_DATA  0x511
#define FW_CFG_PORT_DMA   0x514   /* high half; the low half is at 0x518 */

/* Selector keys (fw_cfg.rst "Selector Register", linux/qemu_fw_cfg.h). */
#define FW_CFG_SIGNATURE  0x00
#define FW_CFG_ID         0x01
#define FW_CFG_RAM_SIZE   0x03
#define FW_CFG_NOGRAPHIC  0x04
#define FW_CFG_NB_CPUS    0x05
#define FW_CFG_BOOT_MENU  0x0e
#define FW_CFG_MAX_CPUS   0x0f
#define FW_CFG_FILE_DIR   0x19
#define FW_CFG_FILE_FIRST 0x20

#define FW_CFG_ID_TRADITIONAL 0x01
#define FW_CFG_ID_DMA         0x02

/* DMA control bits (the first be32 of struct FWCfgDmaAccess). */
#define FW_CFG_DMA_ERROR  0x01
#define FW_CFG_DMA_READ   0x02
#define FW_CFG_DMA_SKIP   0x04
#define FW_CFG_DMA_SELECT 0x08
#define FW_CFG_DMA_WRITE  0x10

#define FW_CFG_DMA_SIGNATURE 0x51454d5520434647ULL  /* "QEMU CFG" */
#define FW_CFG_MAX_FILE_PATH 56
#define FW_CFG_MAX_FILES 32

/* Registers the ports; the signature, ID and an empty file directory are
 * there from the start. DMA goes through vm->mem's checked accessors. */
struct fw_cfg *fw_cfg_create(struct vm *vm);
void fw_cfg_free(struct fw_cfg *cfg);

/* Add a numbered item or a named file (name < 56 bytes, unique); the data
 * is copied. Files get selectors from FW_CFG_FILE_FIRST on and a
 * directory entry. 0, or -EINVAL / -EEXIST / -ENOSPC / -ENOMEM. */
int fw_cfg_add_item(struct fw_cfg *cfg, uint16_t key, const void *data, uint32_t len);
int fw_cfg_add_file(struct fw_cfg *cfg, const char *name, const void *data, uint32_t len);
/* Little-endian integers, the form SeaBIOS's romfile_loadint reads. */
int fw_cfg_add_item_le(struct fw_cfg *cfg, uint16_t key, uint64_t value, uint32_t len);
int fw_cfg_add_file_le(struct fw_cfg *cfg, const char *name, uint64_t value, uint32_t len);

/* Machine reset: selector 0, offset 0, DMA address 0. */
void fw_cfg_reset(struct fw_cfg *cfg);
