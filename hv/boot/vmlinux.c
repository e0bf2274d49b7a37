/* Direct vmlinux boot: host-side payload decompression, a cache of
 * decompressed kernels, and an ELF PT_LOAD loader (see vmlinux.h). */
#include "hv/boot/vmlinux.h"

#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errbuf.h"
#include "common/log.h"
#include "hv/guest_mem.h"

/* Setup header fields (boot.rst): protocol 2.08 added the payload's place. */
#define HDR_VERSION        0x206
#define HDR_PAYLOAD_OFFSET 0x248
#define HDR_PAYLOAD_LENGTH 0x24C

/* ELF64 (System V gABI; x86-64 psABI): header and program header layout. */
#define EI_NIDENT     16
#define ELFCLASS64    2
#define ELFDATA2LSB   1
#define ET_EXEC       2
#define EM_X86_64     62
#define PT_LOAD       1
#define EHDR_SIZE     64
#define PHDR_SIZE     56

#define MAX_KERNEL_OUT (1ULL << 30)   /* no sane vmlinux is larger */
#define CACHE_HDR_MAX  (64u << 10)    /* headers read from a cached vmlinux */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* Headers are read from elf[0, len); segments must lie inside a file of
 * file_len bytes. */
static bool parse_headers(const uint8_t *elf, size_t len, size_t file_len, uint64_t min_paddr,
                          uint64_t max_paddr, struct vmlinux_image *img, char *err, size_t errlen)
{
    memset(img, 0, sizeof(*img));
    if (len < EHDR_SIZE || memcmp(elf, "\x7f" "ELF", 4) != 0) {
        errbuf_set(err, errlen, "vmlinux is not an ELF file");
        return false;
    }
    if (elf[4] != ELFCLASS64 || elf[5] != ELFDATA2LSB) {
        errbuf_set(err, errlen, "vmlinux is not a little-endian 64-bit ELF (class %u, data %u)", elf[4], elf[5]);
        return false;
    }
    if (rd16(elf + 16) != ET_EXEC || rd16(elf + 18) != EM_X86_64) {
        errbuf_set(err, errlen, "vmlinux is not an x86-64 executable (type %u, machine %u)", rd16(elf + 16),
                rd16(elf + 18));
        return false;
    }
    uint64_t phoff = rd64(elf + 32);
    uint16_t phentsize = rd16(elf + 54), phnum = rd16(elf + 56);
    if (phentsize != PHDR_SIZE || phnum == 0 || phoff > len || (uint64_t)phnum * PHDR_SIZE > len - phoff) {
        errbuf_set(err, errlen, "vmlinux program headers are malformed (offset %llu, %u x %u bytes, file %zu)",
                (unsigned long long)phoff, phnum, phentsize, len);
        return false;
    }
    img->entry = rd64(elf + 24);
    img->lowest = UINT64_MAX;
    bool entry_inside = false;
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = elf + phoff + (uint64_t)i * PHDR_SIZE;
        if (rd32(ph) != PT_LOAD)
            continue;
        struct vmlinux_segment s = {
            .offset = rd64(ph + 8), .paddr = rd64(ph + 24), .filesz = rd64(ph + 32), .memsz = rd64(ph + 40),
        };
        if (s.offset > file_len || s.filesz > file_len - s.offset) {
            errbuf_set(err, errlen, "vmlinux segment %u lies outside the file (offset %llu + %llu, file %zu)", i,
                    (unsigned long long)s.offset, (unsigned long long)s.filesz, file_len);
            return false;
        }
        if (s.filesz > s.memsz) {
            errbuf_set(err, errlen, "vmlinux segment %u has filesz %llu > memsz %llu", i,
                    (unsigned long long)s.filesz, (unsigned long long)s.memsz);
            return false;
        }
        if (s.memsz == 0)
            continue;
        if (s.paddr < min_paddr || s.paddr > max_paddr || s.memsz > max_paddr - s.paddr) {
            errbuf_set(err, errlen, "vmlinux segment %u at 0x%llx+0x%llx is outside guest RAM [0x%llx, 0x%llx)", i,
                    (unsigned long long)s.paddr, (unsigned long long)s.memsz, (unsigned long long)min_paddr,
                    (unsigned long long)max_paddr);
            return false;
        }
        for (unsigned j = 0; j < img->nsegs; j++) {
            const struct vmlinux_segment *o = &img->segs[j];
            if (s.paddr < o->paddr + o->memsz && o->paddr < s.paddr + s.memsz) {
                errbuf_set(err, errlen, "vmlinux segments %u and %u overlap", j, i);
                return false;
            }
        }
        if (img->nsegs == VMLINUX_MAX_SEGMENTS) {
            errbuf_set(err, errlen, "vmlinux has more than %d loadable segments", VMLINUX_MAX_SEGMENTS);
            return false;
        }
        if (img->entry >= s.paddr && img->entry < s.paddr + s.memsz)
            entry_inside = true;
        if (s.paddr < img->lowest)
            img->lowest = s.paddr;
        if (s.paddr + s.memsz > img->highest)
            img->highest = s.paddr + s.memsz;
        img->segs[img->nsegs++] = s;
    }
    if (img->nsegs == 0) {
        errbuf_set(err, errlen, "vmlinux has no loadable segments");
        return false;
    }
    /* vmlinux.lds.S sets ENTRY(phys_startup_64): a physical address. */
    if (!entry_inside) {
        errbuf_set(err, errlen, "vmlinux entry point 0x%llx is not inside a loaded segment",
                (unsigned long long)img->entry);
        return false;
    }
    return true;
}

bool vmlinux_elf_parse(const uint8_t *elf, size_t len, uint64_t min_paddr, uint64_t max_paddr,
                       struct vmlinux_image *img, char *err, size_t errlen)
{
    return parse_headers(elf, len, len, min_paddr, max_paddr, img, err, errlen);
}

bool vmlinux_buffer_parse(const struct vmlinux_buffer *elf, uint64_t min_paddr, uint64_t max_paddr,
                          struct vmlinux_image *img, char *err, size_t errlen)
{
    return parse_headers(elf->data, elf->len, elf->file_len, min_paddr, max_paddr, img, err, errlen);
}

/* pread all of [off, off + len) into dst. */
static bool read_fully(int fd, uint8_t *dst, size_t len, uint64_t off)
{
    while (len) {
        ssize_t n = pread(fd, dst, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            errno = 0;  /* the file ended early */
        if (n <= 0)
            return false;
        dst += n, len -= (size_t)n, off += (uint64_t)n;
    }
    return true;
}

bool vmlinux_elf_load(struct guest_mem *gm, const struct vmlinux_buffer *elf,
                      const struct vmlinux_image *img, char *err, size_t errlen)
{
    for (unsigned i = 0; i < img->nsegs; i++) {
        const struct vmlinux_segment *s = &img->segs[i];
        /* Guest RAM is one host mapping per region: the segment is filled
         * and its bss zeroed in place. */
        uint8_t *host = gm_ptr(gm, s->paddr, s->memsz);
        if (!host) {
            errbuf_set(err, errlen, "vmlinux segment at 0x%llx does not fit in guest memory",
                    (unsigned long long)s->paddr);
            return false;
        }
        if (elf->fd >= 0) {
            /* pread: one copy from the page cache, no mapping of the file. */
            if (!read_fully(elf->fd, host, s->filesz, s->offset)) {
                errbuf_set(err, errlen, "reading vmlinux segment at 0x%llx from the kernel cache: %s",
                        (unsigned long long)s->paddr, errno ? strerror(errno) : "short file");
                return false;
            }
        } else {
            memcpy(host, elf->data + s->offset, s->filesz);
        }
        memset(host + s->filesz, 0, s->memsz - s->filesz);
    }
    return true;
}

enum payload_format payload_format_of(const uint8_t *p, size_t len)
{
    /* Magic numbers of the formats the kernel's build can produce
     * (arch/x86/boot/compressed: suffix-$(CONFIG_KERNEL_*)). */
    static const struct { enum payload_format f; size_t n; const char *magic; } magics[] = {
        { PAYLOAD_XZ, 6, "\xFD" "7zXZ\0" },
        { PAYLOAD_GZIP, 2, "\x1F\x8B" },
        { PAYLOAD_BZIP2, 3, "BZh" },
        { PAYLOAD_LZMA, 3, "\x5D\x00\x00" },
        { PAYLOAD_LZO, 4, "\x89LZO" },
        { PAYLOAD_LZ4, 4, "\x02\x21\x4C\x18" },
        { PAYLOAD_ZSTD, 4, "\x28\xB5\x2F\xFD" },
        { PAYLOAD_ELF, 4, "\x7F" "ELF" },
    };
    for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
        if (len >= magics[i].n && memcmp(p, magics[i].magic, magics[i].n) == 0)
            return magics[i].f;
    return PAYLOAD_UNKNOWN;
}

const char *payload_format_name(enum payload_format f)
{
    static const char *const names[] = {
        [PAYLOAD_UNKNOWN] = "unknown", [PAYLOAD_XZ] = "xz", [PAYLOAD_GZIP] = "gzip",
        [PAYLOAD_BZIP2] = "bzip2", [PAYLOAD_LZMA] = "lzma", [PAYLOAD_LZO] = "lzo",
        [PAYLOAD_LZ4] = "lz4", [PAYLOAD_ZSTD] = "zstd", [PAYLOAD_ELF] = "uncompressed ELF",
    };
    return (unsigned)f < sizeof(names) / sizeof(names[0]) ? names[f] : "unknown";
}

uint8_t *payload_unxz(const uint8_t *payload, size_t len, size_t max_out, size_t *out_len,
                      char *err, size_t errlen)
{
    if (len < 4 + 12) {
        errbuf_set(err, errlen, "xz payload is too short (%zu bytes)", len);
        return NULL;
    }
    /* scripts/Makefile.lib size_append: the decompressed size, LE32. */
    size_t want = rd32(payload + len - 4);
    if (want == 0 || want > max_out) {
        errbuf_set(err, errlen, "xz payload claims a decompressed size of %zu bytes (limit %zu)", want, max_out);
        return NULL;
    }
    uint8_t *out = malloc(want);
    if (!out) {
        errbuf_set(err, errlen, "out of memory for the %zu-byte decompressed kernel", want);
        return NULL;
    }
    lzma_stream s = LZMA_STREAM_INIT;
    /* One stream; the 4 size bytes after it are not xz data. */
    lzma_ret r = lzma_stream_decoder(&s, 256ULL << 20, 0);
    if (r != LZMA_OK) {
        errbuf_set(err, errlen, "cannot start the xz decoder (liblzma error %d)", (int)r);
        free(out);
        return NULL;
    }
    s.next_in = payload;
    s.avail_in = len - 4;
    s.next_out = out;
    s.avail_out = want;
    /* LZMA_OK means progress; LZMA_BUF_ERROR that no more is possible:
     * the input ran out (truncated) or the output is full (too large). */
    do
        r = lzma_code(&s, LZMA_FINISH);
    while (r == LZMA_OK);
    size_t got = (size_t)s.total_out;
    bool out_full = s.avail_out == 0;
    lzma_end(&s);
    if (r != LZMA_STREAM_END) {
        const char *why = r == LZMA_DATA_ERROR ? "corrupt data"
                        : r == LZMA_FORMAT_ERROR ? "not xz data"
                        : r == LZMA_BUF_ERROR ? (out_full ? "larger than its size trailer says" : "truncated")
                        : r == LZMA_OPTIONS_ERROR ? "unsupported options"
                        : r == LZMA_MEMLIMIT_ERROR ? "needs too much memory"
                        : "decoder error";
        errbuf_set(err, errlen, "xz payload: %s (liblzma %d after %zu bytes)", why, (int)r, got);
        free(out);
        return NULL;
    }
    if (got != want) {
        errbuf_set(err, errlen, "xz payload decompressed to %zu bytes, its size trailer says %zu", got, want);
        free(out);
        return NULL;
    }
    *out_len = got;
    return out;
}

uint64_t vmlinux_hash(const uint8_t *p, size_t len)
{
    /* Word-at-a-time multiply/xor-shift mix, length folded in. */
    uint64_t h = 0x6A09E667F3BCC908ULL ^ (uint64_t)len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
        h ^= h >> 31;
    }
    for (; i < len; i++) {
        h = (h ^ p[i]) * 0x100000001B3ULL;
        h ^= h >> 29;
    }
    return h;
}

/* The cache directory, or NULL when caching is off. */
static const char *cache_dir(char *buf, size_t size)
{
    const char *v = getenv("HVD_KERNEL_CACHE");
    if (v && *v) {
        if (strcmp(v, "off") == 0 || strcmp(v, "0") == 0)
            return NULL;
        snprintf(buf, size, "%s", v);
        return buf;
    }
    const char *base = getenv("HVD_CACHE");
    if (base && *base) {
        snprintf(buf, size, "%s/vmlinux", base);
        return buf;
    }
    base = getenv("XDG_CACHE_HOME");
    if (base && *base) {
        snprintf(buf, size, "%s/hvd/vmlinux", base);
        return buf;
    }
    base = getenv("HOME");
    if (base && *base) {
        snprintf(buf, size, "%s/.cache/hvd/vmlinux", base);
        return buf;
    }
    return NULL;
}

static bool mkdir_p(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
        return false;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
            return false;
        *p = '/';
    }
    return mkdir(path, 0700) == 0 || errno == EEXIST;
}

/* Open a cached kernel of exactly `want` bytes and read its headers; the
 * segments are read into guest RAM later (vmlinux_elf_load). Only files we
 * own that nobody else can write are trusted. */
static bool cache_lookup(const char *file, size_t want, struct vmlinux_buffer *out)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    struct stat st;
    uint8_t ehdr[EHDR_SIZE];
    bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
              !(st.st_mode & 022) && (uint64_t)st.st_size == want && want >= EHDR_SIZE &&
              read_fully(fd, ehdr, EHDR_SIZE, 0);
    /* The ELF header and the program headers after it, at most 64 KiB:
     * with a bad phoff or phnum parse fails and the entry is replaced. */
    size_t hdr_len = want < CACHE_HDR_MAX ? want : CACHE_HDR_MAX;
    if (ok) {
        uint64_t end = rd64(ehdr + 32) + (uint64_t)rd16(ehdr + 56) * PHDR_SIZE;
        if (end >= EHDR_SIZE && end < hdr_len)
            hdr_len = (size_t)end;
        ok = (out->data = malloc(hdr_len)) != NULL && read_fully(fd, out->data, hdr_len, 0);
    }
    if (!ok) {
        free(out->data);
        out->data = NULL;
        close(fd);
        return false;
    }
    out->len = hdr_len;
    out->file_len = want;
    out->fd = fd;
    out->from_cache = true;
    return true;
}

/* Best effort: write to a temporary file and rename it into place, so a
 * reader never sees a partial file. */
static void cache_store(const char *dir, const char *file, const uint8_t *data, size_t len)
{
    if (!mkdir_p(dir)) {
        log_debug("kernel cache: cannot create %s: %m", dir);
        return;
    }
    char tmp[4300];
    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", file) >= (int)sizeof(tmp))
        return;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        log_debug("kernel cache: cannot create a file in %s: %m", dir);
        return;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    bool ok = done == len && fchmod(fd, 0600) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, file) < 0) {
        log_debug("kernel cache: cannot write %s: %m", file);
        unlink(tmp);
    }
}

enum vmlinux_prep vmlinux_boot_prepare(const uint8_t *img, size_t len, size_t setup_len, uint32_t init_size,
                                       struct vmlinux_buffer *elf, char *err, size_t errlen)
{
    memset(elf, 0, sizeof(*elf));
    elf->fd = -1;
    const char *env = getenv("HV_DIRECT_KERNEL");
    if (env && strcmp(env, "0") == 0) {
        errbuf_set(err, errlen, "HV_DIRECT_KERNEL=0");
        return VMLINUX_FALLBACK;
    }
    if (rd16(img + HDR_VERSION) < 0x0208) {
        errbuf_set(err, errlen, "boot protocol before 2.08 has no payload fields");
        return VMLINUX_FALLBACK;
    }
    uint64_t off = rd32(img + HDR_PAYLOAD_OFFSET), plen = rd32(img + HDR_PAYLOAD_LENGTH);
    if (plen == 0) {
        errbuf_set(err, errlen, "the setup header names no payload");
        return VMLINUX_FALLBACK;
    }
    /* payload_offset counts from the start of the protected-mode code. */
    if (off > len - setup_len || plen > len - setup_len - off) {
        errbuf_set(err, errlen, "bzImage payload (offset %llu, %llu bytes) lies outside the file",
                (unsigned long long)off, (unsigned long long)plen);
        return VMLINUX_FAILED;
    }
    const uint8_t *payload = img + setup_len + off;
    enum payload_format fmt = payload_format_of(payload, plen);
    if (fmt != PAYLOAD_XZ) {
        errbuf_set(err, errlen, "%s payload (hv decompresses xz only)", payload_format_name(fmt));
        return VMLINUX_FALLBACK;
    }
    size_t want = rd32(payload + plen - 4);
    size_t max_out = init_size ? init_size : MAX_KERNEL_OUT;
    if (max_out > MAX_KERNEL_OUT)
        max_out = MAX_KERNEL_OUT;

    char dirbuf[4096], file[4200];
    const char *dir = cache_dir(dirbuf, sizeof(dirbuf));
    if (dir) {
        snprintf(file, sizeof(file), "%s/vmlinux-%016llx-%zu.elf", dir,
                 (unsigned long long)vmlinux_hash(payload, plen), want);
        if (want && want <= max_out && cache_lookup(file, want, elf)) {
            struct vmlinux_image check;
            char why[256];
            if (vmlinux_buffer_parse(elf, 0, UINT64_MAX, &check, why, sizeof(why)))
                return VMLINUX_READY;
            /* A damaged cache entry: drop it and decompress again. */
            log_warn("kernel cache %s is damaged (%s): removing it", file, why);
            vmlinux_release(elf);
            unlink(file);
        }
    }
    size_t out_len = 0;
    uint8_t *out = payload_unxz(payload, plen, max_out, &out_len, err, errlen);
    if (!out)
        return VMLINUX_FAILED;
    elf->data = out;
    elf->len = elf->file_len = out_len;
    /* Cache only what will load: a bad image gives the same error next time. */
    struct vmlinux_image check;
    if (!vmlinux_elf_parse(out, out_len, 0, UINT64_MAX, &check, err, errlen)) {
        vmlinux_release(elf);
        return VMLINUX_FAILED;
    }
    if (dir)
        cache_store(dir, file, out, out_len);
    return VMLINUX_READY;
}

void vmlinux_release(struct vmlinux_buffer *elf)
{
    free(elf->data);
    if (elf->fd >= 0)
        close(elf->fd);
    memset(elf, 0, sizeof(*elf));
    elf->fd = -1;
}
