#include "common/size.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

uint64_t size_unit_multiplier(const char *unit, uint64_t default_mult)
{
    static const struct {
        const char *name;
        uint64_t mult;
    } units[] = {
        { "b", 1ULL },           { "bytes", 1ULL },
        { "k", 1ULL << 10 },     { "kib", 1ULL << 10 },   { "kb", 1000ULL },
        { "m", 1ULL << 20 },     { "mib", 1ULL << 20 },   { "mb", 1000000ULL },
        { "g", 1ULL << 30 },     { "gib", 1ULL << 30 },   { "gb", 1000000000ULL },
        { "t", 1ULL << 40 },     { "tib", 1ULL << 40 },   { "tb", 1000000000000ULL },
    };
    if (!unit || !*unit)
        return default_mult;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strcasecmp(unit, units[i].name) == 0)
            return units[i].mult;
    return 0;
}

bool size_parse(const char *text, uint64_t default_mult, uint64_t *bytes)
{
    if (!text || !isdigit((unsigned char)*text))
        return false;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(text, &end, 10);
    if (errno == ERANGE)
        return false;
    uint64_t mult = size_unit_multiplier(end, default_mult);
    if (mult == 0 || (n != 0 && n > UINT64_MAX / mult))
        return false;
    *bytes = (uint64_t)n * mult;
    return true;
}
