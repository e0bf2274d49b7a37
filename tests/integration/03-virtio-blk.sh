#!/usr/bin/env bash
# Scenario: virtio-blk under hv. Two disks (one read-write with a serial,
# one read-only); the guest kit's blk scenario writes a pattern to /dev/vda,
# and the host checks after hv exits that it landed in the image. A second
# boot points the blk scenario at the read-only /dev/vdb: the write must
# fail in the guest and the image must stay byte-for-byte the same.
# Run by tests/integration/suite.sh (unnumbered TAP).
set -uo pipefail

pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; }
check() {
    local what=$1; shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

kit=${HVD_GUEST_KIT:?HVD_GUEST_KIT must name a built guest kit}
hv=${HVD_HV:-${top_builddir:-.}/hv/hv}
if [ ! -x "$hv" ]; then
    fail "hv binary present at $hv"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

disk="$tmp/disk.img"
rodisk="$tmp/ro.img"
truncate -s 8M "$disk"
# A recognisable read-only image: 4 MiB of a counting pattern.
seq 1 700000 | head -c $((4 << 20)) > "$rodisk"
ro_md5=$(md5sum < "$rodisk" | cut -d' ' -f1)
blk_offset=65536

# boot NAME APPEND-EXTRA: runs hv, console to $tmp/NAME.log, returns hv's status.
boot() {
    local name=$1 extra=$2
    timeout "${HVD_BOOT_TIMEOUT:-300}" "$hv" \
        --kernel "$kit/vmlinuz" --initrd "$kit/initrd.img" --memory 512M --cpus 1 \
        --disk "path=$disk,serial=hvd-disk-0,id=virtio-disk0" \
        --disk "path=$rodisk,readonly=on,id=virtio-disk1" \
        --serial stdio \
        --append "console=ttyS0 quiet panic=-1 $extra" \
        < /dev/null > "$tmp/$name.log" 2> "$tmp/$name.err"
    local rc=$?
    sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/[^[:print:]]//g' "$tmp/$name.log" |
        grep -v '^ *$' | sed "s/^/# $name console: /" | tail -n 40
    sed "s/^/# $name hv: /" "$tmp/$name.err" | tail -n 20
    return $rc
}
result() { sed -n "s/^HVTEST $2=//p" "$tmp/$1.log" | tr -d '\r' | head -n 1; }

# Boot 1: info + write a pattern to vda.
boot rw "hvtest=info,blk hvtest.blk_dev=vda hvtest.blk_offset=$blk_offset"
rc=$?
check "guest booted under hv to HVTEST READY" grep -q 'HVTEST READY' "$tmp/rw.log"
nvirtio=$(grep -c '^HVTEST pci=.* 1af4:1042 .*driver=virtio-pci' "$tmp/rw.log")
check "guest sees two modern virtio-blk functions (1af4:1042) bound to virtio-pci (got $nvirtio)" \
    test "$nvirtio" = 2
blockdevs=$(result rw blockdevs)
check "guest sees two disks vda and vdb (blockdevs=$blockdevs)" \
    bash -c '[[ ,$1, == *,vda,* && ,$1, == *,vdb,* ]]' _ "$blockdevs"
check "guest loaded virtio_blk" bash -c '[[ ,$1, == *,virtio_blk,* ]]' _ "$(result rw modules)"
check "vda size is 8 MiB" test "$(result rw blk_size_bytes)" = 8388608
check "guest wrote and read back the pattern (blk_write=ok)" test "$(result rw blk_write)" = ok
want=$(result rw blk_pattern_md5)
got=$(dd if="$disk" bs=512 skip=$((blk_offset / 512)) count=8 2>/dev/null | md5sum | cut -d' ' -f1)
check "the pattern is in the image at offset $blk_offset after hv exited" test -n "$want" -a "$got" = "$want"
check "the rest of the image is still zero" \
    test "$(dd if="$disk" bs=512 count=$((blk_offset / 512)) 2>/dev/null | tr -d '\0' | wc -c)" = 0
check "guest printed HVTEST DONE" grep -q '^HVTEST DONE' "$tmp/rw.log"
check "guest powered off and hv exited by itself (status $rc)" test "$rc" = 0

# Boot 2: the blk scenario against the read-only disk.
boot ro "hvtest=blk hvtest.blk_dev=vdb hvtest.blk_offset=$blk_offset"
rc=$?
ro_result=$(result ro blk_write)
check "guest's write to the read-only vdb failed (blk_write=${ro_result:-none})" \
    bash -c '[[ $1 == error* || $1 == mismatch* ]]' _ "$ro_result"
check "vdb size is 4 MiB" test "$(result ro blk_size_bytes)" = 4194304
check "the read-only image is unchanged" test "$(md5sum < "$rodisk" | cut -d' ' -f1)" = "$ro_md5"
check "hv exited after the read-only run (status $rc)" test "$rc" = 0
exit 0
