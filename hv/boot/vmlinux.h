/* Direct boot of the vmlinux inside a bzImage: the compressed payload is
 * decompressed on the host (or taken from a cache of earlier boots) and its
 * ELF PT_LOAD segments are written at their physical addresses, so the
 * guest enters the kernel proper's startup_64 with the zero page in RSI
 * and skips its own decompressor (Linux boot.rst "64-bit BOOT PROTOCOL";
 * the payload fields are payload_offset/payload_length, protocol 2.08+).
 *
 * Environment:
 *   HV_DIRECT_KERNEL=0      always boot the bzImage the classic way
 *   HVD_KERNEL_CACHE=DIR    where decompressed kernels are kept
 *                           (default $HVD_CACHE/vmlinux, else
 *                           $XDG_CACHE_HOME/hvd/vmlinux, else
 *                           $HOME/.cache/hvd/vmlinux); "off": no cache
 *
 * What the guest loses against its own decompressor: physical and virtual
 * KASLR of the kernel image (the kernel runs at its link address). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guest_mem;

#define VMLINUX_MAX_SEGMENTS 16

struct vmlinux_segment {
    uint64_t paddr;     /* guest-physical load address */
    uint64_t offset;    /* file offset of the initialised part */
    uint64_t filesz;
    uint64_t memsz;     /* filesz..memsz is zeroed */
};

struct vmlinux_image {
    uint64_t entry;     /* physical address of startup_64 (e_entry) */
    uint64_t lowest, highest;  /* physical span of all segments */
    unsigned nsegs;
    struct vmlinux_segment segs[VMLINUX_MAX_SEGMENTS];
};

/* A decompressed kernel: in memory (data/len is the whole ELF file), or a
 * cache file read when loading (fd >= 0; data/len holds only its ELF and
 * program headers, file_len is its size). */
struct vmlinux_buffer {
    uint8_t *data;
    size_t len;
    size_t file_len;
    int fd;
    bool from_cache;
};

/* Validate a little-endian x86-64 ELF executable and collect its PT_LOAD
 * segments: every segment inside the file, filesz <= memsz, no overflow,
 * placed at or above min_paddr and below max_paddr, not overlapping; the
 * entry point inside a segment. */
bool vmlinux_elf_parse(const uint8_t *elf, size_t len, uint64_t min_paddr, uint64_t max_paddr,
                       struct vmlinux_image *img, char *err, size_t errlen);
/* The same for a buffer from vmlinux_boot_prepare. */
bool vmlinux_buffer_parse(const struct vmlinux_buffer *elf, uint64_t min_paddr, uint64_t max_paddr,
                          struct vmlinux_image *img, char *err, size_t errlen);

/* Write the segments into guest memory (zeroing their bss parts); a cache
 * file is read straight into guest RAM. */
bool vmlinux_elf_load(struct guest_mem *gm, const struct vmlinux_buffer *elf,
                      const struct vmlinux_image *img, char *err, size_t errlen);

enum payload_format { PAYLOAD_UNKNOWN, PAYLOAD_XZ, PAYLOAD_GZIP, PAYLOAD_BZIP2, PAYLOAD_LZMA,
                      PAYLOAD_LZO, PAYLOAD_LZ4, PAYLOAD_ZSTD, PAYLOAD_ELF };

/* The compressor of a bzImage payload, from its magic bytes. */
enum payload_format payload_format_of(const uint8_t *p, size_t len);
const char *payload_format_name(enum payload_format f);

/* Decompress an xz payload whose last 4 bytes are the little-endian
 * decompressed size (the kernel build's size trailer); max_out bounds that
 * size. Returns a malloc'd buffer of *out_len bytes, or NULL with err
 * (corrupt data, wrong size, size above max_out). */
uint8_t *payload_unxz(const uint8_t *payload, size_t len, size_t max_out, size_t *out_len,
                      char *err, size_t errlen);

/* The outcome of vmlinux_boot_prepare. */
enum vmlinux_prep {
    VMLINUX_READY,        /* *elf holds the ELF (release with vmlinux_release) */
    VMLINUX_FALLBACK,     /* boot the bzImage normally; *err says why */
    VMLINUX_FAILED,       /* the kernel image is bad; *err says why */
};

/* Find the bzImage payload (payload_offset/payload_length of the setup
 * header at img), decompress it on the host or open it in the cache.
 * setup_len is the real-mode part's size, init_size the header's. */
enum vmlinux_prep vmlinux_boot_prepare(const uint8_t *img, size_t len, size_t setup_len, uint32_t init_size,
                                       struct vmlinux_buffer *elf, char *err, size_t errlen);
void vmlinux_release(struct vmlinux_buffer *elf);

/* 64-bit content hash used as the cache key (not cryptographic). */
uint64_t vmlinux_hash(const uint8_t *p, size_t len);
