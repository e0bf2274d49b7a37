/* Backing chains probed from image headers. See storage_chain.h. */
#include "drivers/domain/storage_chain.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/qcow2_header.h"

#define chain_error(err, code, ...) hvd_vir_error_set(err, VIR_FROM_STORAGE, code, __VA_ARGS__)

/* libvirt's "Cannot access ..." texts (virStorageSourceReportBrokenChain),
 * plus the disk they are about. */
static void access_error(GError **err, int errnum, const char *disk, const char *path,
                         const char *parent)
{
    if (parent)
        chain_error(err, VIR_ERR_SYSTEM_ERROR,
                    "Cannot access backing file '%s' of storage file '%s' of disk '%s' "
                    "(as uid:%u, gid:%u): %s", path, parent, disk, (unsigned)geteuid(),
                    (unsigned)getegid(), g_strerror(errnum));
    else
        chain_error(err, VIR_ERR_SYSTEM_ERROR,
                    "Cannot access storage file '%s' of disk '%s' (as uid:%u, gid:%u): %s", path,
                    disk, (unsigned)geteuid(), (unsigned)getegid(), g_strerror(errnum));
}

/* One image of a chain, opened: its identity (loops), kind and first
 * bytes. */
typedef struct {
    struct stat st;
    uint8_t *buf;
    size_t len;
} Probe;

static bool probe_open(const char *disk, const char *path, const char *parent, Probe *p,
                       GError **err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        access_error(err, errno, disk, path, parent);
        return false;
    }
    if (fstat(fd, &p->st) < 0) {
        access_error(err, errno, disk, path, parent);
        close(fd);
        return false;
    }
    /* the header, its extensions and the backing name lie in the first
     * cluster (qcow2 spec), so a probe reads at most the largest cluster */
    p->buf = g_malloc(QCOW2_MAX_CLUSTER_SIZE);
    p->len = 0;
    while (p->len < QCOW2_MAX_CLUSTER_SIZE) {
        ssize_t n = pread(fd, p->buf + p->len, QCOW2_MAX_CLUSTER_SIZE - p->len, (off_t)p->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            g_clear_pointer(&p->buf, g_free);
            access_error(err, e, disk, path, parent);
            return false;
        }
        if (n == 0)
            break;
        p->len += (size_t)n;
    }
    close(fd);
    return true;
}

static void probe_clear(Probe *p)
{
    g_clear_pointer(&p->buf, g_free);
}

/* A backing name as the qcow2 header stores it: absolute, or relative to
 * the directory of the image that names it (as QEMU and libvirt resolve
 * it). A ':' before any '/' marks a protocol (nbd:, json:, http://), as
 * QEMU reads it: no local file. */
static char *resolve_backing(const char *name, const char *parent, const char *disk, GError **err)
{
    const char *colon = strchr(name, ':');
    const char *slash = strchr(name, '/');
    if (colon && (!slash || colon < slash)) {
        chain_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                    "backing store '%s' of '%s' of disk '%s' is not a local file "
                    "(hvd opens local images only)", name, parent, disk);
        return NULL;
    }
    if (g_path_is_absolute(name))
        return g_strdup(name);
    g_autofree char *dir = g_path_get_dirname(parent);
    return g_build_filename(dir, name, NULL);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Follow one disk's chain from its source down. */
static bool probe_disk(const DomainDisk *disk, DomainBackingChain **out, GError **err)
{
    const char *name = disk->target_dev;
    g_autoptr(DomainBackingChain) chain = domain_backing_chain_new();
    chain->complete = true;
    const char *format = disk->driver_type ? disk->driver_type : "raw";
    if (strcmp(format, "qcow2") != 0) {
        *out = g_steal_pointer(&chain);
        return true; /* raw: no backing file, nothing to read */
    }
    g_autoptr(GArray) seen = g_array_new(FALSE, FALSE, sizeof(struct stat));
    g_autofree char *path = g_strdup(disk->source);
    g_autofree char *parent = NULL;
    for (unsigned depth = 0;; depth++) {
        Probe p = { 0 };
        if (!probe_open(name, path, parent, &p, err))
            return false;
        for (guint i = 0; i < seen->len; i++) {
            if (same_file(&p.st, &g_array_index(seen, struct stat, i))) {
                chain_error(err, VIR_ERR_INVALID_ARG,
                            "backing store for '%s' of disk '%s' (%s) is self-referential",
                            parent, name, path);
                probe_clear(&p);
                return false;
            }
        }
        g_array_append_val(seen, p.st);
        /* layers below the source: what the parent's header named */
        if (depth > 0)
            domain_backing_chain_add(chain, S_ISBLK(p.st.st_mode), format, path);
        if (strcmp(format, "qcow2") != 0) {
            probe_clear(&p);
            break; /* a raw image ends the chain */
        }
        struct qcow2_header h;
        char perr[256];
        if (!qcow2_header_parse(p.buf, p.len, &h, perr, sizeof(perr))) {
            chain_error(err, VIR_ERR_INTERNAL_ERROR,
                        "cannot read the qcow2 header of '%s' of disk '%s': %s", path, name, perr);
            probe_clear(&p);
            return false;
        }
        probe_clear(&p);
        if (!h.backing_file[0])
            break;
        if (depth + 1 >= DOMAIN_MAX_BACKING_CHAIN) {
            chain_error(err, VIR_ERR_OPERATION_UNSUPPORTED,
                        "backing chains more than %d layers deep are not supported for disk '%s'",
                        DOMAIN_MAX_BACKING_CHAIN, name);
            return false;
        }
        g_autofree char *next = resolve_backing(h.backing_file, path, name, err);
        if (!next)
            return false;
        const char *next_format = h.backing_format[0] ? h.backing_format : NULL;
        if (!next_format) {
            /* libvirt refuses to guess a backing format (its format probe
             * is unsafe): raw is fine, an unrecorded qcow2 is not */
            Probe b = { 0 };
            if (!probe_open(name, next, path, &b, err))
                return false;
            bool qcow2 = qcow2_header_probe(b.buf, b.len);
            probe_clear(&b);
            if (qcow2) {
                chain_error(err, VIR_ERR_OPERATION_INVALID,
                            "format of backing image '%s' of image '%s' was not specified in "
                            "the image metadata (See https://libvirt.org/kbase/backing_chains.html "
                            "for troubleshooting)", next, path);
                return false;
            }
            next_format = "raw";
        } else if (strcmp(next_format, "raw") != 0 && strcmp(next_format, "qcow2") != 0) {
            chain_error(err, VIR_ERR_CONFIG_UNSUPPORTED,
                        "format '%s' of backing file '%s' of disk '%s' is not supported by hvd "
                        "(raw, qcow2)", next_format, next, name);
            return false;
        }
        format = next_format;
        g_free(parent);
        parent = g_steal_pointer(&path);
        path = g_steal_pointer(&next);
    }
    *out = g_steal_pointer(&chain);
    return true;
}

bool hvd_storage_chain_probe(DomainDef *def, GError **err)
{
    guint n = def->disks->len;
    g_autoptr(GPtrArray) chains =
        g_ptr_array_new_full(n, (GDestroyNotify)domain_backing_chain_free);
    for (guint i = 0; i < n; i++) {
        const DomainDisk *d = g_ptr_array_index(def->disks, i);
        DomainBackingChain *chain = NULL;
        if (d->source && !probe_disk(d, &chain, err))
            return false;
        g_ptr_array_add(chains, chain);
    }
    /* libvirt numbers storage nodes taking disks last to first, each from
     * its source down (qemuProcessPrepareDomainStorage) */
    unsigned index = 0;
    for (guint i = n; i > 0; i--) {
        DomainDisk *d = g_ptr_array_index(def->disks, i - 1);
        DomainBackingChain *chain = g_ptr_array_index(chains, i - 1);
        domain_backing_chain_free(d->live_chain);
        d->live_chain = chain;
        chains->pdata[i - 1] = NULL;
        d->live_index = chain ? ++index : 0;
        for (guint l = 0; chain && l < chain->layers->len; l++)
            ((DomainStorageLayer *)g_ptr_array_index(chain->layers, l))->index = ++index;
    }
    return true;
}
