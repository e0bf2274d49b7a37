/* Disk backing chains as a running domain's live XML shows them: probed
 * from the image headers when the domain starts, with libvirt's semantics
 * (formatdomain "backingStore", qemuDomainDetermineDiskChain).
 *
 * Knows the domain model and the qcow2 header (common/qcow2_header.h),
 * nothing of processes or domain states. */
#pragma once
#include <glib.h>
#include <stdbool.h>

#include "drivers/conf/domain_conf.h"

/* Probe every disk of def (the running definition): disk->live_chain gets
 * each backing layer below the source with its format and path (relative
 * backing names resolved against the directory of the image naming them),
 * complete (the bottom has no backing file); disk->live_index and each
 * layer's index are libvirt's storage node indexes: disks taken last to
 * first, each from its top layer down, counting from 1. Raw images have
 * no backing file and are not read.
 *
 * A chain that cannot be read fails with a libvirt error naming the disk
 * and the file: a missing or unreadable image (VIR_ERR_SYSTEM_ERROR,
 * "Cannot access ..."), a malformed qcow2 header (VIR_ERR_INTERNAL_ERROR),
 * a loop (VIR_ERR_INVALID_ARG, "... is self-referential"), a chain deeper
 * than DOMAIN_MAX_BACKING_CHAIN (VIR_ERR_OPERATION_UNSUPPORTED), a
 * backing format hvd cannot run or a backing that is no local file
 * (VIR_ERR_CONFIG_UNSUPPORTED), a qcow2 backing image whose format the
 * overlay does not record (VIR_ERR_OPERATION_INVALID, libvirt's text).
 * On failure def's live chains are left as they were. */
bool hvd_storage_chain_probe(DomainDef *def, GError **err);
