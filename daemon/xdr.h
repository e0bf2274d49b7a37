/* XDR (RFC 4506) encoder and decoder for libvirt's remote protocol: big-endian
 * 4-byte units, every item padded to a multiple of 4.
 *
 * Decoding never trusts the input: every read is bounds-checked against the
 * remaining bytes, every length against the caller's maximum, and the first
 * failure latches `failed` (later reads return zero values) and records what
 * went wrong, so a handler can decode a whole struct and check once.
 * Encoding grows a heap buffer up to a size limit; overflowing the limit
 * latches `failed` the same way. Plain C, no GLib: tests and fuzzers link it
 * alone. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct xdr_reader {
    const uint8_t *data;
    size_t len;
    size_t pos;
    bool failed;
    char error[96];
};

struct xdr_writer {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t limit; /* maximum len; 0 = no limit */
    bool failed;
    char error[96];
};

/* ---- decoding ---- */
void xdr_reader_init(struct xdr_reader *r, const void *data, size_t len);
/* True when nothing failed so far. */
static inline bool xdr_ok(const struct xdr_reader *r) { return !r->failed; }
/* Bytes not consumed yet. */
static inline size_t xdr_remaining(const struct xdr_reader *r) { return r->len - r->pos; }
/* Mark the reader failed with a message (first failure wins). */
void xdr_reader_fail(struct xdr_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

uint32_t xdr_get_u32(struct xdr_reader *r);
int32_t xdr_get_i32(struct xdr_reader *r);
uint64_t xdr_get_u64(struct xdr_reader *r);
int64_t xdr_get_i64(struct xdr_reader *r);
/* XDR bool: only 0 and 1 are valid. */
bool xdr_get_bool(struct xdr_reader *r);
/* Enum: a signed int that must lie in [min, max]. */
int32_t xdr_get_enum(struct xdr_reader *r, int32_t min, int32_t max);
/* opaque x[n]: copies exactly n bytes into out, skips the padding. */
bool xdr_get_opaque_fixed(struct xdr_reader *r, void *out, size_t n);
/* opaque x<max>: returns a pointer into the input (not copied) and the length. */
bool xdr_get_opaque_var(struct xdr_reader *r, size_t max, const uint8_t **out, size_t *len);
/* string s<max>: newly malloc'ed, NUL-terminated copy (free with free()).
 * Embedded NUL bytes are refused: C callers could not see past them. */
char *xdr_get_string(struct xdr_reader *r, size_t max);
/* Optional pointer (T *): returns the presence flag (0 or 1 on the wire). */
bool xdr_get_optional(struct xdr_reader *r);
/* remote_string: optional string; NULL when absent (or on failure). */
char *xdr_get_optional_string(struct xdr_reader *r, size_t max);
/* Array count for T x<max> whose elements take at least min_elem_size bytes:
 * refuses counts above max and counts that cannot fit in the remaining
 * input, so a hostile count can never make the caller allocate much. */
bool xdr_get_array_count(struct xdr_reader *r, size_t max, size_t min_elem_size, uint32_t *count);
/* Skip n bytes plus padding. */
bool xdr_skip(struct xdr_reader *r, size_t n);

/* ---- encoding ---- */
void xdr_writer_init(struct xdr_writer *w, size_t limit);
void xdr_writer_free(struct xdr_writer *w);
/* Take the buffer (caller frees); the writer is reset. */
uint8_t *xdr_writer_steal(struct xdr_writer *w, size_t *len);

void xdr_put_u32(struct xdr_writer *w, uint32_t v);
void xdr_put_i32(struct xdr_writer *w, int32_t v);
void xdr_put_u64(struct xdr_writer *w, uint64_t v);
void xdr_put_i64(struct xdr_writer *w, int64_t v);
void xdr_put_bool(struct xdr_writer *w, bool v);
void xdr_put_opaque_fixed(struct xdr_writer *w, const void *data, size_t n);
void xdr_put_opaque_var(struct xdr_writer *w, const void *data, size_t n, size_t max);
/* string s<max>; a NULL string is a caller bug and latches failure. */
void xdr_put_string(struct xdr_writer *w, const char *s, size_t max);
/* remote_string: 0 for NULL, else 1 followed by the string. */
void xdr_put_optional_string(struct xdr_writer *w, const char *s, size_t max);
/* libvirt char arrays (§3): every character takes a 4-byte word.
 * Fixed char x[n]: s is truncated/zero-filled to n words.
 * Variable char x<max>: count = strlen+1 (the NUL is sent, as libvirtd does). */
void xdr_put_char_array_fixed(struct xdr_writer *w, const char *s, size_t n);
void xdr_put_char_array_var(struct xdr_writer *w, const char *s, size_t max);
/* Overwrite a u32 written earlier at byte offset `at` (for counts known late). */
void xdr_patch_u32(struct xdr_writer *w, size_t at, uint32_t v);
/* Append raw, already-encoded bytes (no padding added). */
void xdr_put_raw(struct xdr_writer *w, const void *data, size_t n);

/* Round n up to a multiple of 4. */
static inline size_t xdr_pad4(size_t n) { return (n + 3) & ~(size_t)3; }
