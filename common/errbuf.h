/* Error text into a caller's buffer. The worker's functions report a
 * failure as one line in (char *err, size_t errlen) instead of allocating,
 * so the caller decides where it goes (stderr, a monitor reply, a log). */
#pragma once
#include <stddef.h>

void errbuf_set(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
