/* The device state stream (hv/state.h): round trip, skipping unknown
 * sections, and refusal of truncated, corrupt or foreign input. */
#include <string.h>

#include "hv/state.h"
#include "tests/tap.h"

static void test_round_trip(void)
{
    struct state_writer w;
    state_writer_init(&w);
    state_begin_section(&w, "virtio-disk0", 3);
    state_put_u8(&w, 0xAB);
    state_put_u16(&w, 0xBEEF);
    state_put_u32(&w, 0xDEADBEEF);
    state_put_u64(&w, 0x0123456789ABCDEFull);
    state_put_bytes(&w, "abc", 3);
    state_end_section(&w);
    state_begin_section(&w, "balloon0", 1);
    state_end_section(&w);
    TAP_CHECK(state_writer_finish(&w), "writer finished");

    char err[256] = "";
    struct state_reader r;
    TAP_CHECK(state_reader_init(&r, w.buf, w.len, err, sizeof(err)), "header accepted (%s)", err);
    struct state_section s;
    TAP_CHECK(state_next_section(&r, &s, err, sizeof(err)) == 1 &&
                  strcmp(s.name, "virtio-disk0") == 0 && s.version == 3 && s.len == 18,
              "first section: name, version, length");
    uint8_t a = 0;
    uint16_t b = 0;
    uint32_t c = 0;
    uint64_t d = 0;
    char e[3];
    TAP_CHECK(state_get_u8(&s, &a) && state_get_u16(&s, &b) && state_get_u32(&s, &c) &&
                  state_get_u64(&s, &d) && state_get_bytes(&s, e, 3),
              "fields read back");
    TAP_CHECK(a == 0xAB && b == 0xBEEF && c == 0xDEADBEEF && d == 0x0123456789ABCDEFull &&
                  memcmp(e, "abc", 3) == 0,
              "values equal what was written");
    TAP_CHECK(state_section_complete(&s), "section consumed exactly");
    TAP_CHECK(!state_get_u8(&s, &a) && s.failed && !state_section_complete(&s),
              "reading past the section end fails");
    TAP_CHECK(state_next_section(&r, &s, err, sizeof(err)) == 1 && strcmp(s.name, "balloon0") == 0 &&
                  s.len == 0 && state_section_complete(&s),
              "empty second section");
    TAP_CHECK(state_next_section(&r, &s, err, sizeof(err)) == 0, "end marker");
    TAP_CHECK(state_next_section(&r, &s, err, sizeof(err)) == 0, "stays at the end");
    state_writer_free(&w);
}

static void test_skip_unknown(void)
{
    /* A reader that only wants "b" skips "a" by its length prefix. */
    struct state_writer w;
    state_writer_init(&w);
    state_begin_section(&w, "a", 1);
    for (int i = 0; i < 100; i++)
        state_put_u32(&w, (uint32_t)i);
    state_end_section(&w);
    state_begin_section(&w, "b", 2);
    state_put_u32(&w, 42);
    state_end_section(&w);
    state_writer_finish(&w);
    char err[256];
    struct state_reader r;
    struct state_section s;
    state_reader_init(&r, w.buf, w.len, err, sizeof(err));
    uint32_t v = 0;
    bool found = false;
    while (state_next_section(&r, &s, err, sizeof(err)) == 1)
        if (strcmp(s.name, "b") == 0)
            found = state_get_u32(&s, &v);
    TAP_CHECK(found && v == 42, "unknown section skipped, the next one read");
    state_writer_free(&w);
}

static void test_writer_misuse(void)
{
    struct state_writer w;
    state_writer_init(&w);
    state_begin_section(&w, "open", 1);
    TAP_CHECK(!state_writer_finish(&w), "finishing with a section open fails");
    state_writer_free(&w);
    state_writer_init(&w);
    state_begin_section(&w, "", 1);
    TAP_CHECK(!state_writer_finish(&w), "an empty section name fails");
    state_writer_free(&w);
    state_writer_init(&w);
    char longname[STATE_NAME_MAX + 2];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    state_begin_section(&w, longname, 1);
    TAP_CHECK(!state_writer_finish(&w), "a name over STATE_NAME_MAX fails");
    state_writer_free(&w);
}

static void test_bad_input(void)
{
    char err[256] = "";
    struct state_reader r;
    struct state_section s;
    TAP_CHECK(!state_reader_init(&r, "garbage!garbage!", 16, err, sizeof(err)) &&
                  strstr(err, "HVSTATE"),
              "foreign data refused (%s)", err);
    uint8_t v2[12] = { 'H', 'V', 'S', 'T', 'A', 'T', 'E', 0, 2, 0, 0, 0 };
    TAP_CHECK(!state_reader_init(&r, v2, sizeof(v2), err, sizeof(err)) && strstr(err, "format 2"),
              "newer format refused (%s)", err);

    struct state_writer w;
    state_writer_init(&w);
    state_begin_section(&w, "dev", 1);
    state_put_u64(&w, 7);
    state_end_section(&w);
    state_writer_finish(&w);
    /* Every truncation of a valid stream is an error, never a crash. */
    bool all_refused = true;
    for (size_t cut = 12; cut < w.len; cut++) {
        if (!state_reader_init(&r, w.buf, cut, err, sizeof(err)))
            continue;
        int rc;
        while ((rc = state_next_section(&r, &s, err, sizeof(err))) == 1)
            ;
        if (rc != -1)
            all_refused = false;
    }
    TAP_CHECK(all_refused, "every truncated stream is refused");
    /* A length field pointing past the end. */
    w.buf[12 + 2 + 3 + 4] = 0xFF;
    state_reader_init(&r, w.buf, w.len, err, sizeof(err));
    TAP_CHECK(state_next_section(&r, &s, err, sizeof(err)) == -1 && strstr(err, "'dev'"),
              "oversized section length refused naming it (%s)", err);
    state_writer_free(&w);
}

int main(void)
{
    test_round_trip();
    test_skip_unknown();
    test_writer_misuse();
    test_bad_input();
    return tap_done();
}
