/* Memory sizes with units, as both hv's command line ("512M", "2G") and
 * libvirt's XML (<memory unit='MiB'>) write them. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

/* Multiplier for a libvirt/QEMU unit name: b/bytes, k/KiB, KB (1000), M/MiB,
 * MB, G/GiB, GB, T/TiB, TB (case-insensitive as libvirt treats them).
 * An empty or NULL unit means `default_unit`. Returns 0 for an unknown unit. */
uint64_t size_unit_multiplier(const char *unit, uint64_t default_mult);

/* Parse "<number>[unit]" into bytes. Rejects empty strings, signs,
 * garbage and overflow. */
bool size_parse(const char *text, uint64_t default_mult, uint64_t *bytes);
