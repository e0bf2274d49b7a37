/* Device state stream; format in state.h. */
#include "hv/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t magic[8] = { 'H', 'V', 'S', 'T', 'A', 'T', 'E', 0 };

/* ---- writer ---- */

static void put(struct state_writer *w, const void *p, size_t n)
{
    if (w->failed)
        return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n)
            cap *= 2;
        uint8_t *b = realloc(w->buf, cap);
        if (!b) {
            w->failed = true;
            return;
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void put_le(struct state_writer *w, uint64_t v, unsigned n)
{
    uint8_t b[8];
    for (unsigned i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, n);
}

void state_writer_init(struct state_writer *w)
{
    memset(w, 0, sizeof(*w));
    put(w, magic, sizeof(magic));
    put_le(w, STATE_FORMAT_VERSION, 4);
}

void state_writer_free(struct state_writer *w)
{
    free(w->buf);
    memset(w, 0, sizeof(*w));
}

void state_begin_section(struct state_writer *w, const char *name, uint32_t version)
{
    size_t n = strlen(name);
    if (w->section_len_at || n == 0 || n > STATE_NAME_MAX) {
        w->failed = true;
        return;
    }
    put_le(w, n, 2);
    put(w, name, n);
    put_le(w, version, 4);
    w->section_len_at = w->len;
    put_le(w, 0, 4);    /* patched by state_end_section */
}

void state_end_section(struct state_writer *w)
{
    if (!w->section_len_at) {
        w->failed = true;
        return;
    }
    if (!w->failed) {
        size_t payload = w->len - w->section_len_at - 4;
        if (payload > UINT32_MAX) {
            w->failed = true;
        } else {
            for (unsigned i = 0; i < 4; i++)
                w->buf[w->section_len_at + i] = (uint8_t)(payload >> (8 * i));
        }
    }
    w->section_len_at = 0;
}

void state_put_u8(struct state_writer *w, uint8_t v) { put_le(w, v, 1); }
void state_put_u16(struct state_writer *w, uint16_t v) { put_le(w, v, 2); }
void state_put_u32(struct state_writer *w, uint32_t v) { put_le(w, v, 4); }
void state_put_u64(struct state_writer *w, uint64_t v) { put_le(w, v, 8); }
void state_put_bytes(struct state_writer *w, const void *p, size_t n) { put(w, p, n); }

bool state_writer_finish(struct state_writer *w)
{
    if (w->section_len_at)
        w->failed = true;
    put_le(w, 0, 2);
    return !w->failed;
}

/* ---- reader ---- */

static uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static bool take(struct state_section *s, void *out, size_t n)
{
    if (s->failed || s->len - s->pos < n) {
        s->failed = true;
        return false;
    }
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
    return true;
}

static bool get_n(struct state_section *s, uint64_t *v, unsigned n)
{
    uint8_t b[8];
    if (!take(s, b, n))
        return false;
    *v = get_le(b, n);
    return true;
}

bool state_get_u8(struct state_section *s, uint8_t *v)
{
    uint64_t x;
    return get_n(s, &x, 1) && (*v = (uint8_t)x, true);
}

bool state_get_u16(struct state_section *s, uint16_t *v)
{
    uint64_t x;
    return get_n(s, &x, 2) && (*v = (uint16_t)x, true);
}

bool state_get_u32(struct state_section *s, uint32_t *v)
{
    uint64_t x;
    return get_n(s, &x, 4) && (*v = (uint32_t)x, true);
}

bool state_get_u64(struct state_section *s, uint64_t *v) { return get_n(s, v, 8); }
bool state_get_bytes(struct state_section *s, void *p, size_t n) { return take(s, p, n); }

bool state_section_complete(const struct state_section *s)
{
    return !s->failed && s->pos == s->len;
}

bool state_reader_init(struct state_reader *r, const void *buf, size_t len, char *err,
                       size_t errlen)
{
    memset(r, 0, sizeof(*r));
    r->buf = buf;
    r->len = len;
    if (len < sizeof(magic) + 4 || memcmp(buf, magic, sizeof(magic)) != 0) {
        snprintf(err, errlen, "not a device state stream (no HVSTATE header)");
        return false;
    }
    uint32_t version = (uint32_t)get_le(r->buf + sizeof(magic), 4);
    if (version != STATE_FORMAT_VERSION) {
        snprintf(err, errlen, "device state stream format %u is not supported (this hv reads %u)",
                 version, STATE_FORMAT_VERSION);
        return false;
    }
    r->pos = sizeof(magic) + 4;
    return true;
}

int state_next_section(struct state_reader *r, struct state_section *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    if (r->ended)
        return 0;
    if (r->len - r->pos < 2) {
        snprintf(err, errlen, "device state stream truncated: no end marker");
        return -1;
    }
    size_t n = (size_t)get_le(r->buf + r->pos, 2);
    if (n == 0) {
        r->pos += 2;
        r->ended = true;
        return 0;
    }
    if (n > STATE_NAME_MAX || r->len - r->pos - 2 < n + 8) {
        snprintf(err, errlen, "device state stream: section header at offset %zu is %s", r->pos,
                 n > STATE_NAME_MAX ? "malformed (name too long)" : "truncated");
        return -1;
    }
    memcpy(s->name, r->buf + r->pos + 2, n);
    s->name[n] = '\0';
    const uint8_t *p = r->buf + r->pos + 2 + n;
    s->version = (uint32_t)get_le(p, 4);
    s->len = (size_t)get_le(p + 4, 4);
    size_t start = r->pos + 2 + n + 8;
    if (r->len - start < s->len) {
        snprintf(err, errlen, "device state stream: section '%s' claims %zu bytes, %zu left",
                 s->name, s->len, r->len - start);
        return -1;
    }
    s->data = r->buf + start;
    r->pos = start + s->len;
    return 1;
}
