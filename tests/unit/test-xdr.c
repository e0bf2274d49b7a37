/* XDR codec: round trips, exact wire bytes, padding, and hostile input
 * (short data, huge lengths, bad bools/flags, embedded NULs). */
#include <stdlib.h>
#include <string.h>

#include "daemon/xdr.h"
#include "tests/tap.h"

static int bytes_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

static void test_ints(void)
{
    struct xdr_writer w;
    xdr_writer_init(&w, 0);
    xdr_put_u32(&w, 0x01020304);
    xdr_put_i32(&w, -1);
    xdr_put_u64(&w, 0x1122334455667788ULL);
    xdr_put_i64(&w, -2);
    xdr_put_bool(&w, true);
    static const uint8_t want[] = {
        1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff,
        0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
        0, 0, 0, 1,
    };
    TAP_CHECK(bytes_equal(w.data, w.len, want, sizeof(want)), "ints encode big-endian, hyper high word first");

    struct xdr_reader r;
    xdr_reader_init(&r, w.data, w.len);
    TAP_EQ_U64(xdr_get_u32(&r), 0x01020304, "u32 round trip");
    TAP_CHECK(xdr_get_i32(&r) == -1, "i32 -1 round trip");
    TAP_EQ_U64(xdr_get_u64(&r), 0x1122334455667788ULL, "u64 round trip");
    TAP_CHECK(xdr_get_i64(&r) == -2, "i64 -2 round trip");
    TAP_CHECK(xdr_get_bool(&r) == true, "bool round trip");
    TAP_CHECK(xdr_ok(&r) && xdr_remaining(&r) == 0, "all consumed, no error");
    TAP_EQ_U64(xdr_get_u32(&r), 0, "read past the end gives 0");
    TAP_CHECK(!xdr_ok(&r), "read past the end fails the reader");
    TAP_CHECK(strstr(r.error, "short data") != NULL, "error names short data: %s", r.error);
    xdr_writer_free(&w);
}

static void test_strings_and_padding(void)
{
    struct xdr_writer w;
    xdr_writer_init(&w, 0);
    xdr_put_string(&w, "hvdtest", 100);
    xdr_put_optional_string(&w, NULL, 100);
    xdr_put_optional_string(&w, "", 100);
    xdr_put_opaque_var(&w, "\x01\x02\x03\x04\x05", 5, 16);
    uint8_t uuid[16];
    for (int i = 0; i < 16; i++)
        uuid[i] = (uint8_t)(0x11 * (i / 4 + 1));
    xdr_put_opaque_fixed(&w, uuid, 16);
    /* §3 example: string "hvdtest" = 00000007 68766474 65737400. */
    static const uint8_t want[] = {
        0, 0, 0, 7, 'h', 'v', 'd', 't', 'e', 's', 't', 0,
        0, 0, 0, 0,          /* NULL optional */
        0, 0, 0, 1, 0, 0, 0, 0, /* present empty string */
        0, 0, 0, 5, 1, 2, 3, 4, 5, 0, 0, 0,
    };
    TAP_CHECK(w.len == sizeof(want) + 16 && memcmp(w.data, want, sizeof(want)) == 0,
              "strings and opaques pad to 4 with zeros, optional flags 0/1");

    struct xdr_reader r;
    xdr_reader_init(&r, w.data, w.len);
    char *s = xdr_get_string(&r, 100);
    TAP_EQ_STR(s, "hvdtest", "string round trip");
    free(s);
    TAP_CHECK(xdr_get_optional_string(&r, 100) == NULL && xdr_ok(&r), "absent optional string is NULL");
    s = xdr_get_optional_string(&r, 100);
    TAP_EQ_STR(s, "", "present empty optional string");
    free(s);
    const uint8_t *op;
    size_t oplen;
    TAP_CHECK(xdr_get_opaque_var(&r, 16, &op, &oplen) && oplen == 5 && op[4] == 5,
              "variable opaque round trip");
    uint8_t back[16];
    TAP_CHECK(xdr_get_opaque_fixed(&r, back, 16) && memcmp(back, uuid, 16) == 0,
              "fixed opaque (uuid) round trip, no length word");
    TAP_CHECK(xdr_ok(&r) && xdr_remaining(&r) == 0, "everything consumed");
    xdr_writer_free(&w);
}

static void test_char_arrays(void)
{
    struct xdr_writer w;
    xdr_writer_init(&w, 0);
    xdr_put_char_array_fixed(&w, "x86_64", 32);
    TAP_EQ_U64(w.len, 128, "char model[32] takes 128 bytes (4 per char)");
    TAP_CHECK(w.data[3] == 'x' && w.data[0] == 0 && w.data[7] == '8' && w.data[127] == 0,
              "each char in the low byte of its word");
    xdr_writer_free(&w);
    xdr_writer_init(&w, 0);
    xdr_put_char_array_var(&w, "", 257);
    static const uint8_t empty[] = { 0, 0, 0, 1, 0, 0, 0, 0 };
    TAP_CHECK(bytes_equal(w.data, w.len, empty, sizeof(empty)), "empty char<> is count 1 + NUL");
    xdr_writer_free(&w);
    xdr_writer_init(&w, 0);
    xdr_put_char_array_var(&w, "libvirt-test", 257);
    TAP_EQ_U64(w.len, 4 + 13 * 4, "char<> counts the NUL: \"libvirt-test\" is 13 elements");
    xdr_writer_free(&w);
}

static void test_hostile(void)
{
    struct xdr_reader r;
    /* Length 0xffffffff with 4 bytes of data. */
    static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 'a', 'b', 'c', 'd' };
    xdr_reader_init(&r, huge, sizeof(huge));
    TAP_CHECK(xdr_get_string(&r, 4194304) == NULL && !xdr_ok(&r), "string length over max refused");
    TAP_CHECK(strstr(r.error, "exceeds the maximum") != NULL, "error says why: %s", r.error);

    /* Length within max but beyond the data. */
    static const uint8_t beyond[] = { 0, 0, 0, 9, 'a', 'b', 'c', 'd' };
    xdr_reader_init(&r, beyond, sizeof(beyond));
    TAP_CHECK(xdr_get_string(&r, 100) == NULL && !xdr_ok(&r), "string longer than the data refused");

    /* Missing padding after a 3-byte string. */
    static const uint8_t nopad[] = { 0, 0, 0, 3, 'a', 'b', 'c' };
    xdr_reader_init(&r, nopad, sizeof(nopad));
    TAP_CHECK(xdr_get_string(&r, 100) == NULL && !xdr_ok(&r), "string without its padding refused");

    /* Embedded NUL. */
    static const uint8_t nul[] = { 0, 0, 0, 3, 'a', 0, 'c', 0 };
    xdr_reader_init(&r, nul, sizeof(nul));
    TAP_CHECK(xdr_get_string(&r, 100) == NULL && !xdr_ok(&r), "string with an embedded NUL refused");

    /* Bool and optional flags other than 0/1. */
    static const uint8_t two[] = { 0, 0, 0, 2 };
    xdr_reader_init(&r, two, sizeof(two));
    xdr_get_bool(&r);
    TAP_CHECK(!xdr_ok(&r), "bool 2 refused");
    xdr_reader_init(&r, two, sizeof(two));
    TAP_CHECK(!xdr_get_optional(&r) && !xdr_ok(&r), "optional flag 2 refused");

    /* Enum out of range. */
    static const uint8_t seven[] = { 0, 0, 0, 7 };
    xdr_reader_init(&r, seven, sizeof(seven));
    xdr_get_enum(&r, 0, 2);
    TAP_CHECK(!xdr_ok(&r), "enum outside its range refused");

    /* Array counts: over the max, and within max but impossible for the data. */
    static const uint8_t count[] = { 0, 0, 0x40, 0x01, 0, 0, 0, 0 };
    uint32_t n;
    xdr_reader_init(&r, count, sizeof(count));
    TAP_CHECK(!xdr_get_array_count(&r, 16384, 4, &n) && n == 0, "array count 16385 > 16384 refused");
    static const uint8_t count2[] = { 0, 0, 0x10, 0x00, 0, 0, 0, 0 };
    xdr_reader_init(&r, count2, sizeof(count2));
    TAP_CHECK(!xdr_get_array_count(&r, 16384, 4, &n), "array count 4096 with 4 bytes left refused");
    xdr_reader_init(&r, count2 + 4, 4);
    TAP_CHECK(xdr_get_array_count(&r, 16384, 4, &n) && n == 0, "empty array accepted");

    /* A failed reader stays failed and returns zeros. */
    xdr_reader_init(&r, NULL, 0);
    xdr_get_u64(&r);
    TAP_CHECK(!xdr_ok(&r) && xdr_get_u32(&r) == 0 && xdr_get_string(&r, 10) == NULL,
              "empty input: every read fails cleanly");

    /* Every truncation of a valid remote_nonnull_domain fails, none crashes. */
    struct xdr_writer w;
    xdr_writer_init(&w, 0);
    xdr_put_string(&w, "hvdtest", 4194304);
    uint8_t uuid[16] = { 1 };
    xdr_put_opaque_fixed(&w, uuid, 16);
    xdr_put_i32(&w, 2);
    int truncations_failed = 0;
    for (size_t cut = 0; cut < w.len; cut++) {
        xdr_reader_init(&r, w.data, cut);
        char *name = xdr_get_string(&r, 4194304);
        uint8_t u[16];
        xdr_get_opaque_fixed(&r, u, 16);
        xdr_get_i32(&r);
        free(name);
        truncations_failed += !xdr_ok(&r);
    }
    TAP_EQ_U64(truncations_failed, w.len, "every truncated domain struct fails to decode");
    xdr_writer_free(&w);

    /* Pseudo-random garbage through every decoder: must not crash. */
    uint32_t seed = 12345;
    int survived = 0;
    for (int round = 0; round < 2000; round++) {
        uint8_t buf[64];
        size_t len = (seed >> 3) % sizeof(buf);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245 + 12345;
            buf[i] = (uint8_t)(seed >> 16);
        }
        xdr_reader_init(&r, buf, len);
        free(xdr_get_optional_string(&r, 32));
        const uint8_t *p;
        size_t plen;
        xdr_get_opaque_var(&r, 16, &p, &plen);
        xdr_get_array_count(&r, 10, 8, &n);
        xdr_get_u64(&r);
        survived++;
    }
    TAP_EQ_U64(survived, 2000, "2000 random inputs decoded without crashing");
}

static void test_writer_limits(void)
{
    struct xdr_writer w;
    xdr_writer_init(&w, 8);
    xdr_put_u64(&w, 1);
    TAP_CHECK(!w.failed && w.len == 8, "writer fills up to its limit");
    xdr_put_u32(&w, 1);
    TAP_CHECK(w.failed && w.len == 8, "writer refuses to exceed its limit");
    xdr_writer_free(&w);
    xdr_writer_init(&w, 0);
    xdr_put_string(&w, "toolong", 3);
    TAP_CHECK(w.failed, "string over its declared maximum is refused on encode");
    xdr_writer_free(&w);
    xdr_writer_init(&w, 0);
    xdr_put_u32(&w, 0);
    xdr_put_u32(&w, 7);
    xdr_patch_u32(&w, 0, 0xabcdef01);
    TAP_CHECK(w.data[0] == 0xab && w.data[3] == 0x01 && w.data[7] == 7, "patch overwrites in place");
    xdr_patch_u32(&w, 6, 1);
    TAP_CHECK(w.failed, "patch beyond the end refused");
    xdr_writer_free(&w);
}

int main(void)
{
    test_ints();
    test_strings_and_padding();
    test_char_arrays();
    test_hostile();
    test_writer_limits();
    return tap_done();
}
