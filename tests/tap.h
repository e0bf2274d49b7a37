/* Minimal TAP producer for C unit tests (automake's tap-driver counts the
 * lines). Each check prints "ok N - name" or "not ok N - name" with the
 * failing expression and location as a diagnostic. */
#pragma once
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count;
static int tap_failed;

#define TAP_CHECK(cond, ...)                                                    \
    do {                                                                        \
        int tap_ok_ = !!(cond);                                                 \
        tap_count++;                                                            \
        printf("%s %d - ", tap_ok_ ? "ok" : "not ok", tap_count);               \
        printf(__VA_ARGS__);                                                    \
        printf("\n");                                                           \
        if (!tap_ok_) {                                                         \
            tap_failed++;                                                       \
            printf("#   failed: %s at %s:%d\n", #cond, __FILE__, __LINE__);     \
        }                                                                       \
        fflush(stdout);                                                         \
    } while (0)

#define TAP_EQ_U64(a, b, name)                                                  \
    do {                                                                        \
        uint64_t tap_a_ = (uint64_t)(a), tap_b_ = (uint64_t)(b);                \
        TAP_CHECK(tap_a_ == tap_b_, "%s", name);                                \
        if (tap_a_ != tap_b_)                                                   \
            printf("#   got %" PRIu64 ", expected %" PRIu64 "\n", tap_a_, tap_b_); \
    } while (0)

#define TAP_EQ_STR(a, b, name)                                                  \
    do {                                                                        \
        const char *tap_a_ = (a), *tap_b_ = (b);                                \
        int tap_same_ = tap_a_ && tap_b_ && strcmp(tap_a_, tap_b_) == 0;        \
        TAP_CHECK(tap_same_, "%s", name);                                       \
        if (!tap_same_)                                                         \
            printf("#   got \"%s\", expected \"%s\"\n", tap_a_ ? tap_a_ : "(null)", \
                   tap_b_ ? tap_b_ : "(null)");                                 \
    } while (0)

/* Print the plan last (TAP allows a trailing plan) and exit non-zero on failure. */
static inline int tap_done(void)
{
    printf("1..%d\n", tap_count);
    return tap_failed ? 1 : 0;
}
