#!/bin/sh
# blk: write a known pattern to a virtio-blk disk and read it back.
#   hvtest.blk_dev=vda          the disk (default vda)
#   hvtest.blk_offset=BYTES     where to write (default 1048576; a multiple of 512)
#   hvtest.blk_count=SECTORS    pattern length in 512-byte sectors (default 8)
# The pattern is the 16-byte line "hvtest-blk-data\n" repeated. Reports:
#   HVTEST blk_size_bytes=N  blk_pattern_md5=...  blk_readback_md5=...
#   HVTEST blk_write=ok|mismatch|error  blk_sector0_md5=...  (sector 0 as
#   read from the device after the write, caches dropped)
. /hvtest/lib.sh

dev=/dev/$(hvtest_param blk_dev vda)
offset=$(hvtest_param blk_offset 1048576)
count=$(hvtest_param blk_count 8)

if ! hvtest_wait_for "$dev" 10; then
    hvtest_say "blk_write=error no $dev"
    exit 1
fi
case "$offset$count" in *[!0-9]*) hvtest_say "blk_write=error bad offset or count"; exit 1 ;; esac
if [ $((offset % 512)) -ne 0 ]; then
    hvtest_say "blk_write=error offset $offset is not a multiple of 512"
    exit 1
fi
size=$(( $(cat "/sys/block/${dev#/dev/}/size") * 512 ))
hvtest_say "blk_size_bytes=$size"
if [ $((offset + count * 512)) -gt "$size" ]; then
    hvtest_say "blk_write=error pattern beyond the end of $dev"
    exit 1
fi

pattern=/tmp/blk-pattern
: > "$pattern"
i=0
while [ "$i" -lt $((count * 32)) ]; do
    printf 'hvtest-blk-data\n' >> "$pattern"
    i=$((i + 1))
done
want=$(md5sum < "$pattern" | cut -d' ' -f1)
hvtest_say "blk_pattern_md5=$want"

if ! dd if="$pattern" of="$dev" bs=512 seek=$((offset / 512)) count="$count" conv=notrunc,fsync 2>/tmp/dd.err; then
    hvtest_say "blk_write=error dd: $(tail -n 1 /tmp/dd.err)"
    exit 1
fi
sync
# Read back from the device, not the page cache.
echo 3 > /proc/sys/vm/drop_caches
blockdev --flushbufs "$dev" 2>/dev/null
got=$(dd if="$dev" bs=512 skip=$((offset / 512)) count="$count" 2>/dev/null | md5sum | cut -d' ' -f1)
hvtest_say "blk_readback_md5=$got"
hvtest_say "blk_sector0_md5=$(dd if="$dev" bs=512 count=1 2>/dev/null | md5sum | cut -d' ' -f1)"
if [ "$got" = "$want" ]; then
    hvtest_say "blk_write=ok"
else
    hvtest_say "blk_write=mismatch"
    exit 1
fi
