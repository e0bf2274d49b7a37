/* Checks that span the whole model (run after parsing), PCI address
 * assignment, and RelaxNG validation. Internal to drivers/conf except for
 * domain_schema_validate_file(), which tests and tools use too. */
#pragma once
#include <glib.h>
#include <libxml/tree.h>

#include "drivers/conf/domain_conf.h"

/* Cross-device checks: duplicate disk targets, serial ports, hostdev
 * sources, guest PCI addresses; vCPU topology; multiqueue limits.
 * Sets a libvirt-shaped error and returns false on the first problem. */
bool domain_def_validate(const DomainDef *def, GError **err);

/* Give every PCI device without a user-given address the next free slot on
 * bus 0, starting at DOMAIN_PCI_FIRST_AUTO_SLOT, in libvirt's order:
 * interfaces, disks, hostdevs, balloon. Slots used by addresses inside kept
 * verbatim devices are reserved too. Fails when slots run out. */
bool domain_def_assign_pci_addresses(DomainDef *def, GError **err);

/* Validate doc against the RelaxNG file at rng_path. On failure the error
 * is VIR_ERR_XML_INVALID_SCHEMA (from VIR_FROM_XML) whose message lists
 * libxml2's complaints, which name the offending element. */
bool domain_schema_validate_doc(xmlDoc *doc, const char *rng_path, GError **err);

/* Path of hvd's schemas/domain.rng: $HVD_SCHEMA_DIR if set, else the
 * installed copy, else the source tree's copy. NULL if none exists. */
const char *domain_schema_path(void);
