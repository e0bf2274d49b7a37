/* JSON text exactly as QEMU's monitor writes it (qmp.md §1): compact with
 * ", " and ": " separators, members in insertion order, pure ASCII (other
 * characters as \uXXXX with upper-case hex, UTF-16 surrogate pairs above
 * U+FFFF, invalid UTF-8 as U+FFFD). Monitor-internal. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

/* A growable byte buffer (the monitor is not on a hot path). */
struct strbuf {
    char *data;
    size_t len, cap;
    bool oom;  /* an append failed; contents are truncated */
};

void strbuf_append(struct strbuf *sb, const char *bytes, size_t len);
void strbuf_puts(struct strbuf *sb, const char *text);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_free(struct strbuf *sb);

/* Append obj (NULL is JSON null) in QEMU's format. */
void json_out_value(struct strbuf *sb, struct json_object *obj);
/* Append one JSON string literal for bytes[0..len). */
void json_out_string(struct strbuf *sb, const char *bytes, size_t len);
