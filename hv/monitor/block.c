/* The block family's monitor commands (hv/monitor/devices.h): query-block,
 * query-blockstats and HMP info block over every device of the machine
 * with the block family ops. Shapes: qmp.md §5 and the qmp-02 trace. */
#include "hv/monitor/devices.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv/device.h"
#include "hv/machine.h"
#include "hv/monitor/monitor_int.h"

struct disk {
    const char *id;
    struct device_block_info info;
};

/* The machine's disks in machine order (free() the array); NULL, *n = 0
 * when there are none. */
static struct disk *disks(struct machine *m, int *n)
{
    *n = 0;
    for (struct device *d = machine_first_device(m); d; d = d->next)
        if (d->ops->block)
            (*n)++;
    struct disk *out = *n ? calloc((size_t)*n, sizeof(*out)) : NULL;
    if (!out) {
        *n = 0;
        return NULL;
    }
    int i = 0;
    for (struct device *d = machine_first_device(m); d; d = d->next) {
        if (!d->ops->block)
            continue;
        out[i].id = d->id;
        d->ops->block->describe(d, &out[i].info);
        i++;
    }
    return out;
}

/* QEMU names block nodes "#blockNNN"; we number ours by position. */
static void block_node_name(char *buf, size_t len, int index)
{
    snprintf(buf, len, "#block%03d", 100 + index);
}

/* ImageInfo for chain[0] with the rest nested as "backing-image", members
 * in the order QEMU 7.2 prints them. */
static struct json_object *block_image_object(const struct device_block_image *chain, int n)
{
    const struct device_block_image *im = &chain[0];
    struct json_object *o = json_object_new_object();
    if (n > 1)
        json_object_object_add(o, "backing-image", block_image_object(chain + 1, n - 1));
    if (im->backing_filename && im->backing_format)
        json_object_object_add(o, "backing-filename-format", json_object_new_string(im->backing_format));
    json_object_object_add(o, "virtual-size", json_object_new_uint64(im->virtual_size));
    json_object_object_add(o, "filename", json_object_new_string(im->filename ? im->filename : ""));
    if (im->cluster_size)
        json_object_object_add(o, "cluster-size", json_object_new_int64(im->cluster_size));
    json_object_object_add(o, "format", json_object_new_string(im->format ? im->format : "raw"));
    if (im->actual_size >= 0)
        json_object_object_add(o, "actual-size", json_object_new_int64(im->actual_size));
    if (im->qcow2_version) {
        struct json_object *data = json_object_new_object();
        bool v3 = im->qcow2_version >= 3;
        json_object_object_add(data, "compat", json_object_new_string(v3 ? "1.1" : "0.10"));
        json_object_object_add(data, "compression-type",
                               json_object_new_string(im->compression_type ? im->compression_type : "zlib"));
        if (v3)
            json_object_object_add(data, "lazy-refcounts", json_object_new_boolean(im->lazy_refcounts));
        json_object_object_add(data, "refcount-bits", json_object_new_int64(im->refcount_bits));
        if (v3) {
            json_object_object_add(data, "corrupt", json_object_new_boolean(im->corrupt));
            json_object_object_add(data, "extended-l2", json_object_new_boolean(false));
        }
        struct json_object *spec = json_object_new_object();
        json_object_object_add(spec, "type", json_object_new_string("qcow2"));
        json_object_object_add(spec, "data", data);
        json_object_object_add(o, "format-specific", spec);
    }
    if (im->backing_filename) {
        json_object_object_add(o, "full-backing-filename",
                               json_object_new_string(im->full_backing_filename ? im->full_backing_filename
                                                                                : im->backing_filename));
        json_object_object_add(o, "backing-filename", json_object_new_string(im->backing_filename));
    }
    json_object_object_add(o, "dirty-flag", json_object_new_boolean(false));
    return o;
}

/* BlockDeviceInfo of a drive with a medium, members in QEMU 7.2's order. */
static struct json_object *inserted_object(const struct device_block_info *b, const char *node)
{
    const char *file = b->file ? b->file : "";
    const char *format = b->format ? b->format : "raw";
    struct json_object *ins = json_object_new_object();
    json_object_object_add(ins, "iops_rd", json_object_new_int(0));
    json_object_object_add(ins, "detect_zeroes", json_object_new_string("off"));
    struct device_block_image top = {
        .filename = file, .format = format, .virtual_size = b->size,
        .actual_size = b->actual_size,
    };
    json_object_object_add(ins, "image",
                           block_image_object(b->chain_len ? b->chain : &top,
                                              b->chain_len ? b->chain_len : 1));
    json_object_object_add(ins, "iops_wr", json_object_new_int(0));
    json_object_object_add(ins, "ro", json_object_new_boolean(b->read_only));
    json_object_object_add(ins, "node-name", json_object_new_string(node));
    json_object_object_add(ins, "backing_file_depth", json_object_new_int(b->backing_depth));
    json_object_object_add(ins, "drv", json_object_new_string(format));
    json_object_object_add(ins, "iops", json_object_new_int(0));
    json_object_object_add(ins, "bps_wr", json_object_new_int(0));
    json_object_object_add(ins, "write_threshold", json_object_new_int(0));
    if (b->chain_len && b->chain[0].full_backing_filename)
        json_object_object_add(ins, "backing_file",
                               json_object_new_string(b->chain[0].full_backing_filename));
    json_object_object_add(ins, "encrypted", json_object_new_boolean(false));
    json_object_object_add(ins, "bps", json_object_new_int(0));
    json_object_object_add(ins, "bps_rd", json_object_new_int(0));
    struct json_object *cache = json_object_new_object();
    json_object_object_add(cache, "no-flush", json_object_new_boolean(false));
    json_object_object_add(cache, "direct", json_object_new_boolean(false));
    json_object_object_add(cache, "writeback", json_object_new_boolean(true));
    json_object_object_add(ins, "cache", cache);
    json_object_object_add(ins, "file", json_object_new_string(file));
    return ins;
}

static struct json_object *cmd_query_block(void *opaque, struct json_object *args,
                                           struct monitor_error *err)
{
    (void)args, (void)err;
    int n;
    struct disk *blocks = disks(opaque, &n);
    struct json_object *r = json_object_new_array();
    for (int i = 0; i < n; i++) {
        const struct device_block_info *b = &blocks[i].info;
        char node[32];
        block_node_name(node, sizeof(node), i);
        /* Member order as QEMU 7.2 printed it (qmp-02). */
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "io-status", json_object_new_string("ok"));
        json_object_object_add(o, "device", json_object_new_string(blocks[i].id));
        json_object_object_add(o, "locked", json_object_new_boolean(b->locked));
        json_object_object_add(o, "removable", json_object_new_boolean(b->removable));
        /* QEMU 7.2's BlockInfo: tray_open for a device with a tray;
         * no "inserted" without a medium. */
        if (b->removable)
            json_object_object_add(o, "tray_open", json_object_new_boolean(b->tray_open));
        if (!b->no_medium)
            json_object_object_add(o, "inserted", inserted_object(b, node));
        if (b->qdev)
            json_object_object_add(o, "qdev", json_object_new_string(b->qdev));
        json_object_object_add(o, "type", json_object_new_string("unknown"));
        json_object_array_add(r, o);
    }
    free(blocks);
    return r;
}

static struct json_object *block_stats_object(const struct device_block_info *b, bool accounting)
{
    /* BlockDeviceStats members (qmp.md §5, query-blockstats). */
    struct json_object *s = json_object_new_object();
#define STAT(key, val) json_object_object_add(s, key, json_object_new_uint64(val))
    STAT("unmap_operations", 0);
    STAT("unmap_merged", 0);
    STAT("flush_total_time_ns", b->flush_total_time_ns);
    STAT("wr_highest_offset", b->wr_highest_offset);
    STAT("wr_total_time_ns", b->wr_total_time_ns);
    STAT("failed_wr_operations", b->failed_wr_operations);
    STAT("failed_rd_operations", b->failed_rd_operations);
    STAT("wr_merged", 0);
    STAT("wr_bytes", b->wr_bytes);
    json_object_object_add(s, "timed_stats", json_object_new_array());
    STAT("failed_unmap_operations", 0);
    STAT("failed_flush_operations", b->failed_flush_operations);
    json_object_object_add(s, "account_invalid", json_object_new_boolean(accounting));
    STAT("rd_total_time_ns", b->rd_total_time_ns);
    STAT("invalid_unmap_operations", 0);
    STAT("flush_operations", b->flush_operations);
    STAT("wr_operations", b->wr_operations);
    STAT("unmap_bytes", 0);
    STAT("rd_merged", 0);
    STAT("rd_bytes", b->rd_bytes);
    STAT("unmap_total_time_ns", 0);
    STAT("invalid_flush_operations", 0);
    json_object_object_add(s, "account_failed", json_object_new_boolean(accounting));
    STAT("rd_operations", b->rd_operations);
    STAT("invalid_wr_operations", 0);
    STAT("invalid_rd_operations", 0);
#undef STAT
    return s;
}

/* A backing image's node and, nested, those below it (QEMU 7.2 reports
 * them under "backing"; nothing is accounted on them). */
static struct json_object *backing_stats_object(int disk, int depth, int chain_len)
{
    static const struct device_block_info none;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "stats", block_stats_object(&none, false));
    if (depth + 1 < chain_len)
        json_object_object_add(o, "backing", backing_stats_object(disk, depth + 1, chain_len));
    char node[32];
    snprintf(node, sizeof(node), "#block%03d", 200 + disk * DEVICE_BLOCK_MAX_CHAIN + depth);
    json_object_object_add(o, "node-name", json_object_new_string(node));
    return o;
}

static const struct monitor_arg args_query_blockstats[] = {
    { "query-nodes", MONITOR_ARG_BOOL, true },
    { NULL },
};

static struct json_object *cmd_query_blockstats(void *opaque, struct json_object *args,
                                                struct monitor_error *err)
{
    (void)args, (void)err;
    int n;
    struct disk *blocks = disks(opaque, &n);
    struct json_object *r = json_object_new_array();
    for (int i = 0; i < n; i++) {
        char node[32];
        block_node_name(node, sizeof(node), i);
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "device",
                               json_object_new_string(blocks[i].id));
        json_object_object_add(o, "stats", block_stats_object(&blocks[i].info, true));
        if (blocks[i].info.chain_len > 1)
            json_object_object_add(o, "backing", backing_stats_object(i, 1, blocks[i].info.chain_len));
        if (!blocks[i].info.no_medium)   /* an empty drive has no node */
            json_object_object_add(o, "node-name", json_object_new_string(node));
        if (blocks[i].info.qdev)
            json_object_object_add(o, "qdev", json_object_new_string(blocks[i].info.qdev));
        json_object_array_add(r, o);
    }
    free(blocks);
    return r;
}

static void hmp_info_block(void *opaque, const char *args, struct monitor_text *out)
{
    size_t wlen = monitor_word_len(args);
    if (*monitor_skip_blanks(args + wlen)) {
        monitor_hmp_no_args(out, "info block", "block", monitor_skip_blanks(args + wlen));
        return;
    }
    int n;
    struct disk *blocks = disks(opaque, &n);
    bool first = true;
    for (int i = 0; i < n; i++) {
        const struct device_block_info *b = &blocks[i].info;
        const char *device = blocks[i].id;
        if (wlen && (strlen(device) != wlen || strncmp(device, args, wlen) != 0))
            continue;
        if (!first)
            monitor_text_printf(out, "\n");  /* a blank line between drives */
        first = false;
        /* QEMU 7.2's print_block_info: an empty drive says so and stops
         * after the frontend lines. */
        if (b->no_medium)
            monitor_text_printf(out, "%s: [not inserted]\n", device);
        else
            monitor_text_printf(out, "%s (#block%03d): %s (%s%s)\n", device, 100 + i,
                                b->file ? b->file : "", b->format ? b->format : "raw",
                                b->read_only ? ", read-only" : "");
        if (b->qdev)
            monitor_text_printf(out, "    Attached to:      %s\n", b->qdev);
        if (b->removable)
            monitor_text_printf(out, "    Removable device: %slocked, tray %s\n", b->locked ? "" : "not ",
                                b->tray_open ? "open" : "closed");
        if (b->no_medium)
            continue;
        monitor_text_printf(out, "    Cache mode:       writeback\n");
        if (b->chain_len && b->chain[0].full_backing_filename)
            monitor_text_printf(out, "    Backing file:     %s (chain depth: %d)\n",
                                b->chain[0].full_backing_filename, b->backing_depth);
    }
    free(blocks);
}


int monitor_block_register(struct monitor *mon, struct machine *m)
{
    int r = 0;
    r |= monitor_register_command(mon, "query-block", NULL, cmd_query_block, m);
    r |= monitor_register_command(mon, "query-blockstats", args_query_blockstats,
                                  cmd_query_blockstats, m);
    r |= monitor_register_hmp(mon, "info block", "[device]",
                              "show info of one block device or all block devices", hmp_info_block,
                              m);
    return r ? -ENOMEM : 0;
}
