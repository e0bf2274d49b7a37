/* Device state stream for save/restore and migration.
 *
 * A stream is a header followed by sections and an end marker; every
 * integer is little-endian:
 *
 *   header   "HVSTATE\0" (8 bytes), u32 format version (STATE_FORMAT_VERSION)
 *   section  u16 name length (1..STATE_NAME_MAX), name bytes (no NUL),
 *            u32 section version, u32 payload length, payload
 *   end      u16 0
 *
 * One section per device, named by the device's id; the section version
 * belongs to the device model and lets a newer hv refuse or convert an
 * older layout. The length prefix lets a reader skip sections it does not
 * know and check that a loader consumed exactly what was saved. Readers
 * check every length against the buffer: a truncated or corrupt stream is
 * an error naming the section, never an out-of-bounds read. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_FORMAT_VERSION 1
#define STATE_NAME_MAX 63

/* Writes into a growing heap buffer. Errors (out of memory, a section not
 * closed) are sticky and reported by state_writer_finish. */
struct state_writer {
    uint8_t *buf;
    size_t len, cap;
    size_t section_len_at;      /* offset of the open section's length field, 0 = none */
    bool failed;
};

void state_writer_init(struct state_writer *w);
void state_writer_free(struct state_writer *w);
void state_begin_section(struct state_writer *w, const char *name, uint32_t version);
void state_end_section(struct state_writer *w);
void state_put_u8(struct state_writer *w, uint8_t v);
void state_put_u16(struct state_writer *w, uint16_t v);
void state_put_u32(struct state_writer *w, uint32_t v);
void state_put_u64(struct state_writer *w, uint64_t v);
void state_put_bytes(struct state_writer *w, const void *p, size_t n);
/* Append the end marker. false when any write failed or a section is open. */
bool state_writer_finish(struct state_writer *w);

/* One section being read. Getters return false (and set failed) when the
 * payload has fewer bytes left than asked for. */
struct state_section {
    char name[STATE_NAME_MAX + 1];
    uint32_t version;
    const uint8_t *data;
    size_t len, pos;
    bool failed;
};

bool state_get_u8(struct state_section *s, uint8_t *v);
bool state_get_u16(struct state_section *s, uint16_t *v);
bool state_get_u32(struct state_section *s, uint32_t *v);
bool state_get_u64(struct state_section *s, uint64_t *v);
bool state_get_bytes(struct state_section *s, void *p, size_t n);
/* Every byte consumed and no getter failed. */
bool state_section_complete(const struct state_section *s);

struct state_reader {
    const uint8_t *buf;
    size_t len, pos;
    bool ended;
};

/* Check the header. false with err naming the problem. */
bool state_reader_init(struct state_reader *r, const void *buf, size_t len, char *err,
                       size_t errlen);
/* The next section into s: 1, 0 at the end marker, -1 (err filled) when
 * the stream is malformed. */
int state_next_section(struct state_reader *r, struct state_section *s, char *err, size_t errlen);
