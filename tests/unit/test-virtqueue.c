/* Virtqueue core against fake guest memory: well-formed chains (direct,
 * indirect, mixed), event-index math, used-ring wraparound, and hostile
 * chains that must break the queue without touching guest memory. */
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "hv/guest_mem.h"
#include "hv/virtio/queue.h"
#include "tests/tap.h"

#define RAM_GPA 0x100000ull
#define RAM_SIZE (1u << 20)
#define RAM2_SIZE (64u << 10)   /* second region, contiguous after the first */
#define DESC_OFF 0x0000
#define AVAIL_OFF 0x4000
#define USED_OFF 0x8000
#define DATA_OFF 0x10000

static uint8_t *ram, *ram2, *snapshot;
static struct guest_mem gm;
static struct virtq vq;
static struct iovec iov[64];
static struct virtq_chain chain = { .cap = 64, .iov = iov };
static uint16_t avail_idx;
static int broken_calls;

static void on_broken(void *opaque, unsigned index)
{
    (void)opaque;
    (void)index;
    broken_calls++;
}

static uint64_t gpa(uint32_t off) { return RAM_GPA + off; }

static void set_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    uint8_t *d = ram + DESC_OFF + 16u * i;
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

static void set_indirect(uint32_t table_off, uint16_t i, uint64_t addr, uint32_t len,
                         uint16_t flags, uint16_t next)
{
    uint8_t *d = ram + table_off + 16u * i;
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

static uint16_t rd16(uint32_t off) { uint16_t v; memcpy(&v, ram + off, 2); return v; }
static uint32_t rd32(uint32_t off) { uint32_t v; memcpy(&v, ram + off, 4); return v; }
static void wr16(uint32_t off, uint16_t v) { memcpy(ram + off, &v, 2); }

static void make_avail(uint16_t head)
{
    wr16(AVAIL_OFF + 4 + 2u * (avail_idx % vq.size), head);
    avail_idx++;
    wr16(AVAIL_OFF + 2, avail_idx);
}

static bool setup(uint16_t size, uint64_t features)
{
    memset(ram, 0, RAM_SIZE);
    memset(ram2, 0, RAM2_SIZE);
    avail_idx = 0;
    broken_calls = 0;
    virtq_init(&vq, &gm, "test-vq", 0, 256);
    vq.on_broken = on_broken;
    vq.size = size;
    vq.desc_gpa = gpa(DESC_OFF);
    vq.avail_gpa = gpa(AVAIL_OFF);
    vq.used_gpa = gpa(USED_OFF);
    return virtq_start(&vq, features);
}

static const uint64_t F_ALL = (1ull << VIRTIO_F_INDIRECT_DESC) | (1ull << VIRTIO_F_EVENT_IDX) |
                              (1ull << VIRTIO_F_VERSION_1);

static void test_direct(void)
{
    TAP_CHECK(setup(8, F_ALL), "start: valid rings accepted");
    TAP_EQ_U64(virtq_pop(&vq, &chain), 0, "empty ring pops nothing");
    set_desc(3, gpa(DATA_OFF), 16, VIRTQ_DESC_F_NEXT, 5);
    set_desc(5, gpa(DATA_OFF + 0x100), 512, VIRTQ_DESC_F_NEXT, 1);
    set_desc(1, gpa(DATA_OFF + 0x400), 1, VIRTQ_DESC_F_WRITE, 0);
    make_avail(3);
    TAP_EQ_U64(virtq_pop(&vq, &chain), 1, "direct chain pops");
    TAP_EQ_U64(chain.head, 3, "head index");
    TAP_EQ_U64(chain.nread, 2, "two readable buffers");
    TAP_EQ_U64(chain.nwrite, 1, "one writable buffer");
    TAP_EQ_U64(chain.read_len, 528, "readable bytes");
    TAP_EQ_U64(chain.write_len, 1, "writable bytes");
    TAP_CHECK(iov[0].iov_base == ram + DATA_OFF && iov[0].iov_len == 16, "iov[0] maps the header");
    TAP_CHECK(iov[1].iov_base == ram + DATA_OFF + 0x100 && iov[1].iov_len == 512, "iov[1] maps data");
    TAP_CHECK(iov[2].iov_base == ram + DATA_OFF + 0x400, "iov[2] maps the status byte");
    TAP_EQ_U64(virtq_pop(&vq, &chain), 0, "ring empty after one pop");
    virtq_push(&vq, 3, 1);
    TAP_EQ_U64(rd16(USED_OFF + 2), 1, "used.idx published");
    TAP_EQ_U64(rd32(USED_OFF + 4), 3, "used.ring[0].id");
    TAP_EQ_U64(rd32(USED_OFF + 8), 1, "used.ring[0].len");
    TAP_EQ_U64(broken_calls, 0, "no breakage on good chains");
}

static void test_indirect(void)
{
    setup(8, F_ALL);
    uint32_t table = DATA_OFF + 0x2000;
    set_indirect(table, 0, gpa(DATA_OFF), 16, VIRTQ_DESC_F_NEXT, 2);
    set_indirect(table, 2, gpa(DATA_OFF + 0x1000), 4096, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    set_indirect(table, 1, gpa(DATA_OFF + 0x3000), 1, VIRTQ_DESC_F_WRITE, 0);
    set_desc(0, gpa(table), 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(0);
    TAP_EQ_U64(virtq_pop(&vq, &chain), 1, "indirect chain pops");
    TAP_CHECK(chain.nread == 1 && chain.nwrite == 2, "indirect: 1 readable, 2 writable");
    TAP_EQ_U64(chain.write_len, 4097, "indirect: writable bytes");
    TAP_CHECK(iov[1].iov_base == ram + DATA_OFF + 0x1000, "indirect: follows next inside the table");

    /* A direct descriptor followed by an indirect one (§2.7.5.3.2). */
    set_indirect(table, 0, gpa(DATA_OFF + 0x1000), 100, VIRTQ_DESC_F_WRITE, 0);
    set_desc(4, gpa(DATA_OFF), 16, VIRTQ_DESC_F_NEXT, 6);
    set_desc(6, gpa(table), 16, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(4);
    TAP_EQ_U64(virtq_pop(&vq, &chain), 1, "direct then indirect pops");
    TAP_CHECK(chain.nread == 1 && chain.nwrite == 1 && chain.write_len == 100,
              "direct then indirect: buffers in order");
    TAP_EQ_U64(broken_calls, 0, "indirect chains do not break the queue");
}

static void test_region_split(void)
{
    setup(8, F_ALL);
    /* A buffer spanning the boundary between two contiguous regions. */
    set_desc(0, RAM_GPA + RAM_SIZE - 8, 24, VIRTQ_DESC_F_WRITE, 0);
    make_avail(0);
    TAP_EQ_U64(virtq_pop(&vq, &chain), 1, "buffer across contiguous regions pops");
    TAP_CHECK(chain.nwrite == 2 && iov[0].iov_len == 8 && iov[1].iov_len == 16 &&
              iov[1].iov_base == ram2, "split into one iovec per region");
}

static void test_event_idx(void)
{
    TAP_CHECK(virtq_need_event(5, 6, 5), "need_event: event in [old,new)");
    TAP_CHECK(!virtq_need_event(4, 6, 5), "need_event: event before old");
    TAP_CHECK(!virtq_need_event(6, 6, 5), "need_event: event at new");
    TAP_CHECK(virtq_need_event(0xffff, 1, 0xfffe), "need_event: window across wrap");
    TAP_CHECK(!virtq_need_event(1, 1, 0xfffe), "need_event: wrap, event at new");

    setup(8, F_ALL);
    uint32_t used_event = AVAIL_OFF + 4 + 2 * 8;
    uint32_t avail_event = USED_OFF + 4 + 8 * 8;
    for (int i = 0; i < 3; i++) {
        set_desc(i, gpa(DATA_OFF), 4, VIRTQ_DESC_F_WRITE, 0);
        make_avail(i);
    }
    virtq_pop(&vq, &chain);
    virtq_push(&vq, chain.head, 0);
    wr16(used_event, 0);
    TAP_CHECK(virtq_should_interrupt(&vq), "event idx: used_event 0 crossed by 0->1");
    virtq_pop(&vq, &chain);
    virtq_push(&vq, chain.head, 0);
    TAP_CHECK(!virtq_should_interrupt(&vq), "event idx: used_event 0 not crossed by 1->2");
    TAP_CHECK(!virtq_should_interrupt(&vq), "event idx: nothing new, no interrupt");
    wr16(used_event, 2);
    virtq_pop(&vq, &chain);
    virtq_push(&vq, chain.head, 0);
    TAP_CHECK(virtq_should_interrupt(&vq), "event idx: used_event 2 crossed by 2->3");

    TAP_CHECK(!virtq_enable_notify(&vq), "enable_notify: nothing pending");
    TAP_EQ_U64(rd16(avail_event), 3, "avail_event = next avail index");
    make_avail(0);
    TAP_CHECK(virtq_enable_notify(&vq), "enable_notify: sees a buffer added meanwhile");
    virtq_disable_notify(&vq);
    TAP_EQ_U64(rd16(USED_OFF), 0, "event idx: used.flags untouched");

    /* Without EVENT_IDX: flags. */
    setup(8, 1ull << VIRTIO_F_VERSION_1);
    set_desc(0, gpa(DATA_OFF), 4, VIRTQ_DESC_F_WRITE, 0);
    make_avail(0);
    virtq_disable_notify(&vq);
    TAP_EQ_U64(rd16(USED_OFF), VIRTQ_USED_F_NO_NOTIFY, "disable_notify sets NO_NOTIFY");
    virtq_pop(&vq, &chain);
    virtq_push(&vq, 0, 0);
    wr16(AVAIL_OFF, VIRTQ_AVAIL_F_NO_INTERRUPT);
    TAP_CHECK(!virtq_should_interrupt(&vq), "NO_INTERRUPT suppresses the interrupt");
    TAP_CHECK(!virtq_enable_notify(&vq) && rd16(USED_OFF) == 0, "enable_notify clears NO_NOTIFY");
    make_avail(0);
    virtq_pop(&vq, &chain);
    virtq_push(&vq, 0, 0);
    wr16(AVAIL_OFF, 0);
    TAP_CHECK(virtq_should_interrupt(&vq), "interrupt without NO_INTERRUPT");
}

static void test_wraparound(void)
{
    setup(4, F_ALL);
    set_desc(2, gpa(DATA_OFF), 8, VIRTQ_DESC_F_WRITE, 0);
    /* Start both indices just below the 16-bit wrap. */
    avail_idx = 65534;
    wr16(AVAIL_OFF + 2, avail_idx);
    vq.last_avail = vq.used_idx = vq.signalled_used = 65534;
    int ok = 1;
    for (unsigned i = 0; i < 10; i++) {
        make_avail(2);
        if (virtq_pop(&vq, &chain) != 1 || chain.head != 2)
            ok = 0;
        virtq_push(&vq, 2, 100 + i);
    }
    TAP_CHECK(ok, "ten chains across the 16-bit wrap pop");
    TAP_EQ_U64(rd16(USED_OFF + 2), (uint16_t)(65534 + 10), "used.idx wrapped");
    /* The last element went to slot (65534 + 9) % 4. */
    unsigned slot = (uint16_t)(65534 + 9) % 4;
    TAP_EQ_U64(rd32(USED_OFF + 4 + 8 * slot + 4), 109, "last used element in its slot");
    TAP_EQ_U64(broken_calls, 0, "wraparound is not breakage");
}

/* Each hostile case: the pop fails, the queue is broken, the callback ran
 * once, and guest memory is byte-for-byte unchanged. */
static void expect_broken(const char *what)
{
    memcpy(snapshot, ram, RAM_SIZE);
    int r1 = virtq_pop(&vq, &chain);
    int r2 = virtq_pop(&vq, &chain);
    virtq_push(&vq, 0, 123);
    TAP_CHECK(r1 == -1 && r2 == -1 && vq.broken && broken_calls == 1 &&
              memcmp(snapshot, ram, RAM_SIZE) == 0 && !virtq_should_interrupt(&vq),
              "hostile: %s -> broken once, memory untouched", what);
}

static void test_hostile(void)
{
    setup(8, F_ALL);
    set_desc(0, RAM_GPA + RAM_SIZE + RAM2_SIZE + 4096, 16, 0, 0);
    make_avail(0);
    expect_broken("buffer outside RAM");

    setup(8, F_ALL);
    set_desc(0, RAM_GPA + RAM_SIZE + RAM2_SIZE - 8, 16, VIRTQ_DESC_F_WRITE, 0);
    make_avail(0);
    expect_broken("buffer running past the end of RAM");

    setup(8, F_ALL);
    set_desc(0, UINT64_MAX - 4, 16, 0, 0);
    make_avail(0);
    expect_broken("buffer address wrapping");

    setup(8, F_ALL);
    set_desc(0, gpa(DATA_OFF), 16, VIRTQ_DESC_F_NEXT, 8);
    make_avail(0);
    expect_broken("next index >= queue size");

    setup(8, F_ALL);
    set_desc(0, gpa(DATA_OFF), 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(1, gpa(DATA_OFF), 16, VIRTQ_DESC_F_NEXT, 0);
    make_avail(0);
    expect_broken("descriptor loop");

    setup(8, F_ALL);
    make_avail(9);
    expect_broken("head index >= queue size");

    setup(8, F_ALL);
    set_desc(0, gpa(DATA_OFF), 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(1, gpa(DATA_OFF), 16, 0, 0);
    make_avail(0);
    expect_broken("readable after writable");

    setup(8, F_ALL);
    wr16(AVAIL_OFF + 2, 9);
    expect_broken("avail idx jumps by more than the queue size");

    uint32_t table = DATA_OFF + 0x2000;
    setup(8, F_ALL);
    set_indirect(table, 0, gpa(table + 0x100), 16, VIRTQ_DESC_F_INDIRECT, 0);
    set_desc(0, gpa(table), 16, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(0);
    expect_broken("indirect inside indirect");

    setup(8, F_ALL);
    set_desc(0, gpa(table), 24, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(0);
    expect_broken("indirect length not a multiple of 16");

    setup(8, F_ALL);
    set_desc(0, gpa(table), 0, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(0);
    expect_broken("indirect length 0");

    setup(8, F_ALL);
    set_desc(0, gpa(table), 9 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(0);
    expect_broken("indirect table longer than the queue");

    setup(8, F_ALL);
    set_desc(0, RAM_GPA + RAM_SIZE + RAM2_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(0);
    expect_broken("indirect table outside RAM");

    setup(8, F_ALL);
    set_indirect(table, 0, gpa(DATA_OFF), 16, VIRTQ_DESC_F_NEXT, 1);
    set_indirect(table, 1, gpa(DATA_OFF), 16, VIRTQ_DESC_F_NEXT, 0);
    set_desc(0, gpa(table), 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(0);
    expect_broken("loop inside an indirect table");

    setup(8, F_ALL);
    set_indirect(table, 0, gpa(DATA_OFF), 16, VIRTQ_DESC_F_NEXT, 2);
    set_desc(0, gpa(table), 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(0);
    expect_broken("indirect next index >= table size");

    setup(8, F_ALL);
    set_desc(0, gpa(table), 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
    make_avail(0);
    expect_broken("INDIRECT together with NEXT");

    setup(8, 1ull << VIRTIO_F_VERSION_1);
    set_indirect(table, 0, gpa(DATA_OFF), 16, 0, 0);
    set_desc(0, gpa(table), 16, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(0);
    expect_broken("indirect without the feature");

    setup(8, F_ALL);
    for (int i = 0; i < 8; i++)
        set_desc(i, gpa(DATA_OFF), 1, VIRTQ_DESC_F_NEXT, i + 1);
    set_desc(7, gpa(table), 16, VIRTQ_DESC_F_NEXT, 0);  /* 8 direct, then back to 0 */
    make_avail(0);
    expect_broken("chain longer than the queue");

    /* Too many buffers for the owner's iovec array. */
    setup(128, F_ALL);
    for (int i = 0; i < 100; i++)
        set_desc(i, gpa(DATA_OFF), 1, i < 99 ? VIRTQ_DESC_F_NEXT : 0, i + 1);
    make_avail(0);
    expect_broken("chain with more buffers than the iovec array");

    /* Ring programming rejected at start. */
    TAP_CHECK(!setup(6, F_ALL) && vq.broken && broken_calls == 1, "start: size not a power of two");
    TAP_CHECK(!setup(512, F_ALL) && vq.broken, "start: size above maximum");
    virtq_init(&vq, &gm, "test-vq", 0, 256);
    vq.size = 8;
    vq.desc_gpa = gpa(DESC_OFF) + 8;
    vq.avail_gpa = gpa(AVAIL_OFF);
    vq.used_gpa = gpa(USED_OFF);
    TAP_CHECK(!virtq_start(&vq, F_ALL) && vq.broken, "start: misaligned descriptor table");
    virtq_init(&vq, &gm, "test-vq", 0, 256);
    vq.size = 8;
    vq.desc_gpa = gpa(DESC_OFF);
    vq.avail_gpa = gpa(AVAIL_OFF);
    vq.used_gpa = RAM_GPA + RAM_SIZE + RAM2_SIZE - 64;  /* 6+64+2 bytes do not fit */
    TAP_CHECK(!virtq_start(&vq, F_ALL) && vq.broken && virtq_pop(&vq, &chain) == -1,
              "start: used ring past the end of RAM");
    virtq_reset(&vq);
    TAP_CHECK(!vq.broken && !virtq_ready(&vq) && vq.size == 256, "reset clears broken, size back to max");
}

/* Random rings: whatever the guest writes, every popped buffer lies inside
 * guest RAM, nothing crashes, and a broken queue stays broken. */
static void test_random(void)
{
    uint32_t seed = 12345;
    int popped = 0, broke = 0, escaped = 0;
    for (int round = 0; round < 3000; round++) {
        uint16_t size = (uint16_t)(1u << (1 + round % 6));
        setup(size, round % 3 ? F_ALL : (1ull << VIRTIO_F_VERSION_1));
        for (unsigned i = 0; i < 0x300; i++) {   /* descriptors, ring, indirect tables */
            seed = seed * 1103515245u + 12345u;
            ram[DESC_OFF + i] = (uint8_t)(seed >> 16);
        }
        for (uint16_t i = 0; i < size; i++) {
            seed = seed * 1103515245u + 12345u;
            uint32_t r = seed >> 8;
            /* Mostly plausible addresses so chains get walked, some wild. */
            uint64_t addr = r % 4 ? gpa(DESC_OFF + (r % 0x400) * 16) : ((uint64_t)r << 20);
            set_desc(i, addr, (r >> 3) % 64 * 8, (uint16_t)(r % 8), (uint16_t)((r >> 5) % (size + 2)));
            make_avail((uint16_t)((r >> 11) % (size + 1)));
        }
        for (int k = 0; k < size + 2; k++) {
            int r = virtq_pop(&vq, &chain);
            if (r <= 0) {
                broke += r < 0;
                break;
            }
            popped++;
            for (unsigned j = 0; j < chain.nread + chain.nwrite; j++) {
                uint8_t *b = iov[j].iov_base;
                if (b < ram || b + iov[j].iov_len > ram + RAM_SIZE + RAM2_SIZE)
                    escaped++;
            }
            virtq_push(&vq, chain.head, 0);
        }
    }
    printf("# random rings: %d chains popped, %d queues broken\n", popped, broke);
    TAP_CHECK(escaped == 0 && popped > 100 && broke > 100,
              "random rings: every buffer inside guest RAM (%d escaped)", escaped);
}

int main(void)
{
    ram = aligned_alloc(4096, RAM_SIZE + RAM2_SIZE);
    ram2 = ram + RAM_SIZE;
    snapshot = malloc(RAM_SIZE);
    if (!ram || !snapshot || !gm_add_region(&gm, RAM_GPA, RAM_SIZE, ram) ||
        !gm_add_region(&gm, RAM_GPA + RAM_SIZE, RAM2_SIZE, ram2))
        return 99;
    test_direct();
    test_indirect();
    test_region_split();
    test_event_idx();
    test_wraparound();
    test_hostile();
    /* Thousands of "queue broken" lines are expected here: drop them. */
    fflush(stderr);
    int saved_stderr = dup(2), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    test_random();
    dup2(saved_stderr, 2);
    close(devnull);
    close(saved_stderr);
    free(ram);
    free(snapshot);
    return tap_done();
}
