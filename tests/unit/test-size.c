#include "common/size.h"
#include "tests/tap.h"

int main(void)
{
    uint64_t v = 0;
    TAP_CHECK(size_parse("512M", 1, &v) && v == 512ULL << 20, "512M is 512 MiB");
    TAP_CHECK(size_parse("2G", 1, &v) && v == 2ULL << 30, "2G is 2 GiB");
    TAP_CHECK(size_parse("1024", 1ULL << 10, &v) && v == 1ULL << 20, "bare number uses the default unit (KiB)");
    TAP_CHECK(size_parse("3MB", 1, &v) && v == 3000000, "MB is decimal");
    TAP_CHECK(size_parse("1MiB", 1, &v) && v == 1ULL << 20, "MiB is binary");
    TAP_CHECK(size_parse("7b", 1ULL << 20, &v) && v == 7, "b means bytes");
    TAP_CHECK(!size_parse("", 1, &v), "empty string rejected");
    TAP_CHECK(!size_parse("-1M", 1, &v), "negative rejected");
    TAP_CHECK(!size_parse("12Q", 1, &v), "unknown unit rejected");
    TAP_CHECK(!size_parse("99999999999999999999", 1, &v), "overflow of the number rejected");
    TAP_CHECK(!size_parse("20000000T", 1, &v), "overflow after the multiplier rejected");
    TAP_CHECK(!size_parse("M", 1, &v), "unit without number rejected");
    return tap_done();
}
