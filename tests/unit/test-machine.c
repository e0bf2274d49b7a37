/* The machine's generic part (hv/machine.h) with fake devices: lookup by
 * id and kind, the one way in (duplicate ids and failed realizes taken out
 * again) and out (unplug then destroy, last added first), reset, and
 * save/load through the state stream, including devices that cannot save
 * and streams that do not fit. No VM, no bus. */
#include <errno.h>
#include <string.h>

#include "hv/machine.h"
#include "hv/state.h"
#include "tests/tap.h"

struct fake {
    uint32_t value;
    bool fail_realize;
    unsigned resets;
    char log[64];           /* "u" unplug, "d" destroy */
};

static char order[64];      /* ids destroyed, in order */

static int fake_realize(struct device *dev, char *err, size_t errlen)
{
    struct fake *f = dev->model;
    if (f->fail_realize) {
        snprintf(err, errlen, "%s: realize refused", dev->id);
        return -EIO;
    }
    return 0;
}

static void fake_reset(struct device *dev) { ((struct fake *)dev->model)->resets++; }
static void fake_unplug(struct device *dev) { strcat(((struct fake *)dev->model)->log, "u"); }

static void fake_destroy(struct device *dev)
{
    strcat(((struct fake *)dev->model)->log, "d");
    strcat(order, dev->id);
}

static int fake_save(struct device *dev, struct state_writer *w, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    state_put_u32(w, ((struct fake *)dev->model)->value);
    return 0;
}

static int fake_load(struct device *dev, struct state_section *s, char *err, size_t errlen)
{
    if (!state_get_u32(s, &((struct fake *)dev->model)->value)) {
        snprintf(err, errlen, "%s: truncated", dev->id);
        return -EINVAL;
    }
    return 0;
}

static const struct device_ops fake_ops = {
    .model = "fake", .state_version = 2,
    .realize = fake_realize, .reset = fake_reset, .unplug = fake_unplug, .destroy = fake_destroy,
    .save = fake_save, .load = fake_load,
};

static const struct device_ops nosave_ops = {
    .model = "nosave", .state_version = 1,
    .realize = fake_realize, .reset = fake_reset, .unplug = fake_unplug, .destroy = fake_destroy,
    .save = device_save_unsupported, .load = device_load_unsupported,
};

static struct device *add(struct machine *m, const char *id, enum device_kind kind,
                          const struct device_ops *ops, struct fake *f, char *err)
{
    struct device proto = { .id = (char *)id, .kind = kind, .ops = ops, .model = f };
    return machine_add_device(m, &proto, err, 256);
}

int main(void)
{
    char err[256] = "";
    struct machine *m = machine_create(NULL, err, sizeof(err));
    TAP_CHECK(m != NULL, "machine without a VM (%s)", err);
    struct fake a = { .value = 11 }, b = { .value = 22 }, c = { .value = 33 }, dup = { 0 },
                bad = { .fail_realize = true };
    struct device *da = add(m, "a", DEVICE_VIRTIO_BLK, &fake_ops, &a, err);
    struct device *db = add(m, "b", DEVICE_E1000, &fake_ops, &b, err);
    struct device *dc = add(m, "c", DEVICE_VIRTIO_BLK, &fake_ops, &c, err);
    TAP_CHECK(da && db && dc, "three devices added");
    TAP_CHECK(machine_find(m, "b") == db && machine_find(m, "x") == NULL && machine_find(m, NULL) == NULL,
              "lookup by id");
    TAP_CHECK(machine_next(m, DEVICE_VIRTIO_BLK, NULL) == da && machine_next(m, DEVICE_VIRTIO_BLK, da) == dc &&
                  machine_next(m, DEVICE_VIRTIO_BLK, dc) == NULL && machine_count(m, DEVICE_VIRTIO_BLK) == 2 &&
                  machine_count(m, DEVICE_VFIO) == 0,
              "lookup by kind in machine order");
    TAP_CHECK(!add(m, "b", DEVICE_E1000, &fake_ops, &dup, err) && strstr(err, "already in use") &&
                  strcmp(dup.log, "ud") == 0,
              "a duplicate id is refused and the device taken out (%s)", err);
    TAP_CHECK(!add(m, "bad", DEVICE_E1000, &fake_ops, &bad, err) && strstr(err, "realize refused") &&
                  strcmp(bad.log, "ud") == 0 && !machine_find(m, "bad"),
              "a failed realize takes the device out again (%s)", err);
    machine_reset(m);
    TAP_CHECK(a.resets == 1 && b.resets == 1 && c.resets == 1, "reset reaches every device");

    /* Save, then load into a second machine built the same way. */
    struct state_writer w;
    state_writer_init(&w);
    TAP_CHECK(machine_save(m, &w, err, sizeof(err)) == 0, "machine saved (%s)", err);
    struct machine *m2 = machine_create(NULL, err, sizeof(err));
    struct fake a2 = { 0 }, b2 = { 0 }, c2 = { 0 };
    add(m2, "a", DEVICE_VIRTIO_BLK, &fake_ops, &a2, err);
    add(m2, "b", DEVICE_E1000, &fake_ops, &b2, err);
    add(m2, "c", DEVICE_VIRTIO_BLK, &fake_ops, &c2, err);
    TAP_CHECK(machine_load(m2, w.buf, w.len, err, sizeof(err)) == 0 && a2.value == 11 &&
                  b2.value == 22 && c2.value == 33,
              "loaded into a machine of the same shape (%s)", err);
    struct machine *m3 = machine_create(NULL, err, sizeof(err));
    struct fake a3 = { 0 };
    add(m3, "a", DEVICE_VIRTIO_BLK, &fake_ops, &a3, err);
    TAP_CHECK(machine_load(m3, w.buf, w.len, err, sizeof(err)) < 0 && strstr(err, "'b'"),
              "a section for a device the machine lacks is refused naming it (%s)", err);
    state_writer_free(&w);

    /* A newer section version, and a section longer than the device reads. */
    state_writer_init(&w);
    state_begin_section(&w, "a", 3);
    state_put_u32(&w, 1);
    state_end_section(&w);
    state_writer_finish(&w);
    TAP_CHECK(machine_load(m3, w.buf, w.len, err, sizeof(err)) < 0 && strstr(err, "newer"),
              "a newer state version is refused (%s)", err);
    state_writer_free(&w);
    state_writer_init(&w);
    state_begin_section(&w, "a", 2);
    state_put_u64(&w, 1);
    state_end_section(&w);
    state_writer_finish(&w);
    TAP_CHECK(machine_load(m3, w.buf, w.len, err, sizeof(err)) < 0 && strstr(err, "longer"),
              "a section longer than the device reads is refused (%s)", err);
    state_writer_free(&w);

    /* A device that cannot save says so; the stream is not produced. */
    struct fake n = { 0 };
    add(m3, "legacy", DEVICE_SERIAL, &nosave_ops, &n, err);
    state_writer_init(&w);
    TAP_CHECK(machine_save(m3, &w, err, sizeof(err)) == -ENOTSUP &&
                  strstr(err, "legacy: saving the state of a nosave device is not supported yet"),
              "an unsaveable device fails the save naming itself (%s)", err);
    state_writer_free(&w);

    /* The way out: unplug then destroy, last added first. */
    order[0] = '\0';
    machine_remove_device(m, db);
    TAP_CHECK(strcmp(b.log, "ud") == 0 && !machine_find(m, "b") && strcmp(order, "b") == 0,
              "remove: unplug, destroy, gone from the machine");
    order[0] = '\0';
    machine_destroy(m);
    TAP_CHECK(strcmp(order, "ca") == 0 && strcmp(a.log, "ud") == 0 && strcmp(c.log, "ud") == 0,
              "teardown: every device unplugged and destroyed, last added first");
    machine_destroy(m2);
    machine_destroy(m3);
    return tap_done();
}
