#include "hv/monitor/json_out.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool strbuf_reserve(struct strbuf *sb, size_t extra)
{
    if (sb->oom)
        return false;
    if (sb->len + extra + 1 <= sb->cap)
        return true;
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap < sb->len + extra + 1)
        cap *= 2;
    char *data = realloc(sb->data, cap);
    if (!data) {
        sb->oom = true;
        return false;
    }
    sb->data = data;
    sb->cap = cap;
    return true;
}

void strbuf_append(struct strbuf *sb, const char *bytes, size_t len)
{
    if (!strbuf_reserve(sb, len))
        return;
    memcpy(sb->data + sb->len, bytes, len);
    sb->len += len;
    sb->data[sb->len] = '\0';
}

void strbuf_puts(struct strbuf *sb, const char *text)
{
    strbuf_append(sb, text, strlen(text));
}

void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !strbuf_reserve(sb, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

void strbuf_free(struct strbuf *sb)
{
    free(sb->data);
    *sb = (struct strbuf){ 0 };
}

/* Decode one UTF-8 sequence at s[0..len); returns its length (>= 1) and
 * stores the code point, or U+FFFD for a malformed, overlong or surrogate
 * sequence (consuming one byte so decoding resynchronises). */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        n = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    if (n > len) {
        *cp = 0xFFFD;
        return 1;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = v;
    return n;
}

void json_out_string(struct strbuf *sb, const char *bytes, size_t len)
{
    const unsigned char *s = (const unsigned char *)bytes;
    strbuf_append(sb, "\"", 1);
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        i += utf8_decode(s + i, len - i, &cp);
        switch (cp) {
        case '"': strbuf_append(sb, "\\\"", 2); break;
        case '\\': strbuf_append(sb, "\\\\", 2); break;
        case '\b': strbuf_append(sb, "\\b", 2); break;
        case '\f': strbuf_append(sb, "\\f", 2); break;
        case '\n': strbuf_append(sb, "\\n", 2); break;
        case '\r': strbuf_append(sb, "\\r", 2); break;
        case '\t': strbuf_append(sb, "\\t", 2); break;
        default:
            if (cp > 0xFFFF) {
                uint32_t v = cp - 0x10000;
                strbuf_printf(sb, "\\u%04X\\u%04X", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
            } else if (cp < 0x20 || cp >= 0x7F) {
                strbuf_printf(sb, "\\u%04X", cp);
            } else {
                char ch = (char)cp;
                strbuf_append(sb, &ch, 1);
            }
        }
    }
    strbuf_append(sb, "\"", 1);
}

static void json_out_int(struct strbuf *sb, struct json_object *obj)
{
    int64_t v = json_object_get_int64(obj);
    /* json-c clamps integers above INT64_MAX when read as int64; those
     * (e.g. balloon stats of 2^64-1, qmp.md §5) are read back unsigned. */
    if (v == INT64_MAX) {
        uint64_t u = json_object_get_uint64(obj);
        strbuf_printf(sb, "%" PRIu64, u);
        return;
    }
    strbuf_printf(sb, "%" PRId64, v);
}

void json_out_value(struct strbuf *sb, struct json_object *obj)
{
    switch (json_object_get_type(obj)) {
    case json_type_null:
        strbuf_puts(sb, "null");
        break;
    case json_type_boolean:
        strbuf_puts(sb, json_object_get_boolean(obj) ? "true" : "false");
        break;
    case json_type_int:
        json_out_int(sb, obj);
        break;
    case json_type_double: {
        double d = json_object_get_double(obj);
        if (isfinite(d))
            strbuf_printf(sb, "%.17g", d);
        else
            strbuf_puts(sb, "null");  /* JSON has no NaN/Infinity */
        break;
    }
    case json_type_string:
        json_out_string(sb, json_object_get_string(obj), (size_t)json_object_get_string_len(obj));
        break;
    case json_type_array: {
        size_t n = json_object_array_length(obj);
        strbuf_append(sb, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i)
                strbuf_append(sb, ", ", 2);
            json_out_value(sb, json_object_array_get_idx(obj, i));
        }
        strbuf_append(sb, "]", 1);
        break;
    }
    case json_type_object: {
        bool first = true;
        strbuf_append(sb, "{", 1);
        json_object_object_foreach(obj, key, val) {
            if (!first)
                strbuf_append(sb, ", ", 2);
            first = false;
            json_out_string(sb, key, strlen(key));
            strbuf_append(sb, ": ", 2);
            json_out_value(sb, val);
        }
        strbuf_append(sb, "}", 1);
        break;
    }
    }
}
