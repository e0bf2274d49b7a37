/* The machine's generic part: device list, lookup, reset, save/load and
 * teardown; see machine.h. Nothing here knows a device model. */
#include "hv/machine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "hv/pci/pci.h"
#include "hv/state.h"

struct machine {
    struct vm *vm;
    struct device *devices;     /* creation order */
};

struct machine *machine_create(struct vm *vm, char *err, size_t errlen)
{
    struct machine *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->vm = vm;
    if (vm) {
        int r = pci_bus_create(vm);
        if (r < 0) {
            snprintf(err, errlen, "cannot create the PCI bus: %s", strerror(-r));
            free(m);
            return NULL;
        }
    }
    return m;
}

struct vm *machine_vm(const struct machine *m) { return m->vm; }

static void unlink_device(struct machine *m, struct device *dev)
{
    for (struct device **p = &m->devices; *p; p = &(*p)->next) {
        if (*p == dev) {
            *p = dev->next;
            return;
        }
    }
}

/* Unplug, off the bus, free: the one way out for every device. */
static void take_out(struct device *dev)
{
    dev->ops->unplug(dev);
    if (dev->pci)
        pci_unregister(dev->pci);
    dev->ops->destroy(dev);
    free(dev->id);
    free(dev);
}

void machine_remove_device(struct machine *m, struct device *dev)
{
    unlink_device(m, dev);
    log_debug("%s: %s removed", dev->id, dev->ops->model);
    take_out(dev);
}

void machine_destroy(struct machine *m)
{
    if (!m)
        return;
    /* Last added first: a device may rely on one added before it. */
    while (m->devices) {
        struct device *last = m->devices;
        while (last->next)
            last = last->next;
        machine_remove_device(m, last);
    }
    if (m->vm)
        pci_bus_destroy(m->vm);
    free(m);
}

struct device *machine_add_device(struct machine *m, const struct device *proto, char *err,
                                  size_t errlen)
{
    struct device *dev = calloc(1, sizeof(*dev));
    char *id = proto->id ? strdup(proto->id) : NULL;
    if (!dev || !id) {
        snprintf(err, errlen, "%s: out of memory", proto->id ? proto->id : "device");
        free(dev);
        free(id);
        struct device tmp = *proto;     /* the caller's id, not freed */
        tmp.ops->unplug(&tmp);
        if (tmp.pci)
            pci_unregister(tmp.pci);
        tmp.ops->destroy(&tmp);
        return NULL;
    }
    *dev = *proto;
    dev->id = id;
    dev->next = NULL;
    if (machine_find(m, id)) {
        snprintf(err, errlen, "%s: device id already in use", id);
        take_out(dev);
        return NULL;
    }
    struct device **tail = &m->devices;
    while (*tail)
        tail = &(*tail)->next;
    *tail = dev;
    int r = dev->ops->realize(dev, err, errlen);
    if (r < 0) {
        machine_remove_device(m, dev);
        return NULL;
    }
    if (dev->pci)
        log_info("%s: %s at PCI slot %u", dev->id, dev->ops->model, dev->pci->slot);
    return dev;
}

struct device *machine_find(const struct machine *m, const char *id)
{
    for (struct device *d = m->devices; d && id; d = d->next)
        if (strcmp(d->id, id) == 0)
            return d;
    return NULL;
}

struct device *machine_next(const struct machine *m, enum device_kind kind,
                            const struct device *prev)
{
    for (struct device *d = prev ? prev->next : m->devices; d; d = d->next)
        if (d->kind == kind)
            return d;
    return NULL;
}

unsigned machine_count(const struct machine *m, enum device_kind kind)
{
    unsigned n = 0;
    for (struct device *d = machine_next(m, kind, NULL); d; d = machine_next(m, kind, d))
        n++;
    return n;
}

struct device *machine_first_device(const struct machine *m) { return m->devices; }

void machine_reset(struct machine *m)
{
    struct pci_device *bridge = m->vm ? pci_host_bridge(m->vm) : NULL;
    if (bridge)
        pci_reset_function(bridge);
    for (struct device *d = m->devices; d; d = d->next)
        d->ops->reset(d);
}

int machine_save(struct machine *m, struct state_writer *w, char *err, size_t errlen)
{
    for (struct device *d = m->devices; d; d = d->next) {
        state_begin_section(w, d->id, d->ops->state_version);
        int r = d->ops->save(d, w, err, errlen);
        state_end_section(w);
        if (r < 0)
            return r;
    }
    if (!state_writer_finish(w)) {
        snprintf(err, errlen, "device state: out of memory writing the stream");
        return -ENOMEM;
    }
    return 0;
}

int machine_load(struct machine *m, const void *buf, size_t len, char *err, size_t errlen)
{
    struct state_reader r;
    if (!state_reader_init(&r, buf, len, err, errlen))
        return -EINVAL;
    struct state_section s;
    int rc;
    unsigned loaded = 0;
    while ((rc = state_next_section(&r, &s, err, errlen)) == 1) {
        struct device *d = machine_find(m, s.name);
        if (!d) {
            snprintf(err, errlen, "device state names '%s', which this machine does not have",
                     s.name);
            return -ENOENT;
        }
        if (s.version > d->ops->state_version) {
            snprintf(err, errlen, "%s: state version %u is newer than this hv's %s (%u)", d->id,
                     s.version, d->ops->model, d->ops->state_version);
            return -EINVAL;
        }
        int lr = d->ops->load(d, &s, err, errlen);
        if (lr < 0)
            return lr;
        if (!state_section_complete(&s)) {
            snprintf(err, errlen, "%s: state section is %s", d->id,
                     s.failed ? "truncated" : "longer than the device reads");
            return -EINVAL;
        }
        loaded++;
    }
    if (rc < 0)
        return -EINVAL;
    unsigned ndev = 0;
    for (struct device *d = m->devices; d; d = d->next)
        ndev++;
    if (loaded != ndev) {
        snprintf(err, errlen, "device state has %u sections for %u devices", loaded, ndev);
        return -EINVAL;
    }
    return 0;
}

int device_save_unsupported(struct device *dev, struct state_writer *w, char *err, size_t errlen)
{
    (void)w;
    snprintf(err, errlen, "%s: saving the state of a %s device is not supported yet", dev->id,
             dev->ops->model);
    return -ENOTSUP;
}

int device_load_unsupported(struct device *dev, struct state_section *s, char *err, size_t errlen)
{
    (void)s;
    snprintf(err, errlen, "%s: loading the state of a %s device is not supported yet", dev->id,
             dev->ops->model);
    return -ENOTSUP;
}
