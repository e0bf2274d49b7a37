#include "daemon/xdr.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- decoding ---- */

void xdr_reader_init(struct xdr_reader *r, const void *data, size_t len)
{
    r->data = data;
    r->len = data ? len : 0;
    r->pos = 0;
    r->failed = false;
    r->error[0] = '\0';
}

void xdr_reader_fail(struct xdr_reader *r, const char *fmt, ...)
{
    if (r->failed)
        return;
    r->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof(r->error), fmt, ap);
    va_end(ap);
}

/* Reserve n bytes (n already a multiple of 4 where the type says so). */
static const uint8_t *take(struct xdr_reader *r, size_t n, const char *what)
{
    if (r->failed)
        return NULL;
    if (n > r->len - r->pos) {
        xdr_reader_fail(r, "short data: %s needs %zu bytes at offset %zu, %zu left", what, n,
                        r->pos, r->len - r->pos);
        return NULL;
    }
    const uint8_t *p = r->data + r->pos;
    r->pos += n;
    return p;
}

uint32_t xdr_get_u32(struct xdr_reader *r)
{
    const uint8_t *p = take(r, 4, "int");
    if (!p)
        return 0;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int32_t xdr_get_i32(struct xdr_reader *r)
{
    return (int32_t)xdr_get_u32(r);
}

uint64_t xdr_get_u64(struct xdr_reader *r)
{
    /* §3: hyper = high word first. */
    if (r->failed || r->len - r->pos < 8) {
        take(r, 8, "hyper");
        return 0;
    }
    uint64_t hi = xdr_get_u32(r);
    uint64_t lo = xdr_get_u32(r);
    return hi << 32 | lo;
}

int64_t xdr_get_i64(struct xdr_reader *r)
{
    return (int64_t)xdr_get_u64(r);
}

bool xdr_get_bool(struct xdr_reader *r)
{
    size_t at = r->pos;
    uint32_t v = xdr_get_u32(r);
    if (v > 1)
        xdr_reader_fail(r, "bool at offset %zu is %u, not 0 or 1", at, v);
    return v == 1;
}

int32_t xdr_get_enum(struct xdr_reader *r, int32_t min, int32_t max)
{
    size_t at = r->pos;
    int32_t v = xdr_get_i32(r);
    if (!r->failed && (v < min || v > max)) {
        xdr_reader_fail(r, "enum at offset %zu is %d, outside %d..%d", at, v, min, max);
        return min;
    }
    return v;
}

bool xdr_skip(struct xdr_reader *r, size_t n)
{
    if (n > SIZE_MAX - 3) {
        xdr_reader_fail(r, "length %zu too large", n);
        return false;
    }
    return take(r, xdr_pad4(n), "opaque") != NULL;
}

bool xdr_get_opaque_fixed(struct xdr_reader *r, void *out, size_t n)
{
    const uint8_t *p = take(r, xdr_pad4(n), "fixed opaque");
    if (!p) {
        memset(out, 0, n);
        return false;
    }
    memcpy(out, p, n);
    return true;
}

bool xdr_get_opaque_var(struct xdr_reader *r, size_t max, const uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    size_t at = r->pos;
    uint32_t n = xdr_get_u32(r);
    if (r->failed)
        return false;
    if (n > max) {
        xdr_reader_fail(r, "length %u at offset %zu exceeds the maximum %zu", n, at, max);
        return false;
    }
    const uint8_t *p = take(r, xdr_pad4(n), "opaque");
    if (!p)
        return false;
    *out = p;
    *len = n;
    return true;
}

char *xdr_get_string(struct xdr_reader *r, size_t max)
{
    const uint8_t *p;
    size_t n;
    size_t at = r->pos;
    if (!xdr_get_opaque_var(r, max, &p, &n))
        return NULL;
    if (memchr(p, '\0', n)) {
        xdr_reader_fail(r, "string at offset %zu contains a NUL byte", at);
        return NULL;
    }
    char *s = malloc(n + 1);
    if (!s) {
        xdr_reader_fail(r, "out of memory for a %zu-byte string", n);
        return NULL;
    }
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

bool xdr_get_optional(struct xdr_reader *r)
{
    size_t at = r->pos;
    uint32_t v = xdr_get_u32(r);
    if (v > 1)
        xdr_reader_fail(r, "optional-data flag at offset %zu is %u, not 0 or 1", at, v);
    return v == 1 && !r->failed;
}

char *xdr_get_optional_string(struct xdr_reader *r, size_t max)
{
    if (!xdr_get_optional(r))
        return NULL;
    return xdr_get_string(r, max);
}

bool xdr_get_array_count(struct xdr_reader *r, size_t max, size_t min_elem_size, uint32_t *count)
{
    size_t at = r->pos;
    *count = 0;
    uint32_t n = xdr_get_u32(r);
    if (r->failed)
        return false;
    if (n > max) {
        xdr_reader_fail(r, "array count %u at offset %zu exceeds the maximum %zu", n, at, max);
        return false;
    }
    if (min_elem_size && (uint64_t)n * min_elem_size > r->len - r->pos) {
        xdr_reader_fail(r, "array count %u at offset %zu cannot fit in the %zu bytes left", n, at,
                        r->len - r->pos);
        return false;
    }
    *count = n;
    return true;
}

/* ---- encoding ---- */

void xdr_writer_init(struct xdr_writer *w, size_t limit)
{
    memset(w, 0, sizeof(*w));
    w->limit = limit;
}

void xdr_writer_free(struct xdr_writer *w)
{
    free(w->data);
    w->data = NULL;
    w->len = w->cap = 0;
}

uint8_t *xdr_writer_steal(struct xdr_writer *w, size_t *len)
{
    uint8_t *d = w->data;
    *len = w->len;
    w->data = NULL;
    w->len = w->cap = 0;
    return d;
}

static void writer_fail(struct xdr_writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void writer_fail(struct xdr_writer *w, const char *fmt, ...)
{
    if (w->failed)
        return;
    w->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->error, sizeof(w->error), fmt, ap);
    va_end(ap);
}

/* Make room for n more bytes; returns where to write them or NULL. */
static uint8_t *grow(struct xdr_writer *w, size_t n)
{
    if (w->failed)
        return NULL;
    if (n > SIZE_MAX - w->len || (w->limit && w->len + n > w->limit)) {
        writer_fail(w, "message would exceed %zu bytes", w->limit);
        return NULL;
    }
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n)
            cap = cap > SIZE_MAX / 2 ? w->len + n : cap * 2;
        uint8_t *d = realloc(w->data, cap);
        if (!d) {
            writer_fail(w, "out of memory growing to %zu bytes", cap);
            return NULL;
        }
        w->data = d;
        w->cap = cap;
    }
    uint8_t *p = w->data + w->len;
    w->len += n;
    return p;
}

static void store_u32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

void xdr_put_u32(struct xdr_writer *w, uint32_t v)
{
    uint8_t *p = grow(w, 4);
    if (p)
        store_u32(p, v);
}

void xdr_put_i32(struct xdr_writer *w, int32_t v) { xdr_put_u32(w, (uint32_t)v); }

void xdr_put_u64(struct xdr_writer *w, uint64_t v)
{
    uint8_t *p = grow(w, 8);
    if (p) {
        store_u32(p, (uint32_t)(v >> 32));
        store_u32(p + 4, (uint32_t)v);
    }
}

void xdr_put_i64(struct xdr_writer *w, int64_t v) { xdr_put_u64(w, (uint64_t)v); }

void xdr_put_bool(struct xdr_writer *w, bool v) { xdr_put_u32(w, v ? 1 : 0); }

void xdr_put_raw(struct xdr_writer *w, const void *data, size_t n)
{
    uint8_t *p = grow(w, n);
    if (p && n)
        memcpy(p, data, n);
}

void xdr_put_opaque_fixed(struct xdr_writer *w, const void *data, size_t n)
{
    uint8_t *p = grow(w, xdr_pad4(n));
    if (!p)
        return;
    if (n)
        memcpy(p, data, n);
    memset(p + n, 0, xdr_pad4(n) - n);
}

void xdr_put_opaque_var(struct xdr_writer *w, const void *data, size_t n, size_t max)
{
    if (n > max || n > UINT32_MAX) {
        writer_fail(w, "opaque of %zu bytes exceeds the maximum %zu", n, max);
        return;
    }
    xdr_put_u32(w, (uint32_t)n);
    xdr_put_opaque_fixed(w, data, n);
}

void xdr_put_string(struct xdr_writer *w, const char *s, size_t max)
{
    if (!s) {
        writer_fail(w, "NULL for a non-null string");
        return;
    }
    xdr_put_opaque_var(w, s, strlen(s), max);
}

void xdr_put_optional_string(struct xdr_writer *w, const char *s, size_t max)
{
    xdr_put_u32(w, s ? 1 : 0);
    if (s)
        xdr_put_string(w, s, max);
}

void xdr_put_char_array_fixed(struct xdr_writer *w, const char *s, size_t n)
{
    size_t slen = s ? strlen(s) : 0;
    for (size_t i = 0; i < n; i++)
        xdr_put_u32(w, i < slen ? (uint8_t)s[i] : 0);
}

void xdr_put_char_array_var(struct xdr_writer *w, const char *s, size_t max)
{
    size_t slen = s ? strlen(s) : 0;
    if (slen + 1 > max) {
        writer_fail(w, "char array of %zu characters exceeds the maximum %zu", slen + 1, max);
        return;
    }
    xdr_put_u32(w, (uint32_t)(slen + 1));
    for (size_t i = 0; i <= slen; i++)
        xdr_put_u32(w, i < slen ? (uint8_t)s[i] : 0);
}

void xdr_patch_u32(struct xdr_writer *w, size_t at, uint32_t v)
{
    if (w->failed)
        return;
    if (at > w->len || w->len - at < 4) {
        writer_fail(w, "patch at %zu beyond %zu bytes", at, w->len);
        return;
    }
    store_u32(w->data + at, v);
}
