#!/usr/bin/env bash
# Scenario: virtio-blk under hv. Two disks (one read-write with a serial,
# one read-only); the guest kit's blk scenario writes a pattern to /dev/vda,
# and the host checks after hv exits that it landed in the image. A second
# boot points the blk scenario at the read-only /dev/vdb: the write must
# fail in the guest and the image must stay byte-for-byte the same. A third
# boot writes through a qcow2 overlay on a qcow2 base: the pattern is read
# back in the guest, qemu-img check passes, the base is unchanged, and the
# overlay converted to raw has the pattern at the offset and the base's
# data everywhere else; query-block shows the chain.
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

# Boot 3: qcow2 overlay on a qcow2 base (made as virt-install/nova do),
# a write in the middle of a 64 KiB cluster (copy-on-write of both ends).
seq 1 2000000 | head -c $((8 << 20)) > "$tmp/base.raw"
qemu-img convert -q -f raw -O qcow2 "$tmp/base.raw" "$tmp/base.qcow2"
(cd "$tmp" && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 overlay.qcow2)
base_md5=$(md5sum < "$tmp/base.qcow2" | cut -d' ' -f1)
q_offset=$((3 * 65536 + 4096)) q_count=24
mon="$tmp/mon.sock"
timeout "${HVD_BOOT_TIMEOUT:-300}" "$hv" \
    --kernel "$kit/vmlinuz" --initrd "$kit/initrd.img" --memory 512M --cpus 1 \
    --disk "path=$tmp/overlay.qcow2,format=qcow2,id=virtio-disk0" \
    --monitor "$mon" --no-shutdown --serial "file:$tmp/qcow2.log" \
    --append "console=ttyS0 quiet panic=-1 hvtest=blk hvtest.blk_dev=vda hvtest.blk_offset=$q_offset hvtest.blk_count=$q_count hvtest.end=poweroff" \
    < /dev/null 2> "$tmp/qcow2.err" &
hvpid=$!
for _ in $(seq 1 50); do [ -S "$mon" ] && break; sleep 0.2; done
qmp_out=$(/usr/bin/python3 - "$mon" <<'EOF' 2>&1
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(300)
s.connect(sys.argv[1])
f = s.makefile("rw")
def recv():
    while True:
        msg = json.loads(f.readline())
        if "event" not in msg:
            return msg
        if msg["event"] == "SHUTDOWN":
            print("shutdown", msg["data"].get("reason"))
def cmd(name):
    f.write(json.dumps({"execute": name}) + "\n")
    f.flush()
    return recv()
json.loads(f.readline())
cmd("qmp_capabilities")
ins = cmd("query-block")["return"][0]["inserted"]
img = ins["image"]
print("drv", ins["drv"], "depth", ins["backing_file_depth"], "backing_file", ins.get("backing_file"))
print("image", img["format"], img.get("backing-filename"), img["backing-image"]["format"],
      img["backing-image"]["filename"], "backing-image" in img["backing-image"])
bs = cmd("query-blockstats")["return"][0]
print("blockstats-backing", "backing" in bs and "backing" not in bs["backing"])
while True:
    msg = json.loads(f.readline())
    if msg.get("event") == "SHUTDOWN":
        print("shutdown", msg["data"].get("reason"))
        break
cmd("quit")
EOF
)
wait "$hvpid"
rc=$?
echo "$qmp_out" | sed 's/^/# qcow2 qmp: /'
sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/[^[:print:]]//g' "$tmp/qcow2.log" | grep -v '^ *$' |
    sed 's/^/# qcow2 console: /' | tail -n 20
sed 's/^/# qcow2 hv: /' "$tmp/qcow2.err" | tail -n 20
check "qcow2: guest wrote and read back the pattern (blk_write=$(result qcow2 blk_write))" \
    test "$(result qcow2 blk_write)" = ok
check "qcow2: vda is the overlay's virtual size, 8 MiB" test "$(result qcow2 blk_size_bytes)" = 8388608
check "qcow2: the guest reads the base's sector 0 through the overlay" \
    test "$(result qcow2 blk_sector0_md5)" = "$(head -c 512 "$tmp/base.raw" | md5sum | cut -d' ' -f1)"
check "qcow2: query-block drv qcow2, backing_file_depth 1, backing_file the base" \
    grep -q "^drv qcow2 depth 1 backing_file $tmp/base.qcow2\$" <<< "$qmp_out"
check "qcow2: query-block image qcow2 with backing-image qcow2 (the base, end of chain)" \
    grep -q "^image qcow2 base.qcow2 qcow2 $tmp/base.qcow2 False\$" <<< "$qmp_out"
check "qcow2: query-blockstats has one backing node" grep -q "^blockstats-backing True" <<< "$qmp_out"
check "qcow2: guest powered off, hv quit (status $rc)" \
    bash -c 'grep -q "^shutdown guest-shutdown" <<< "$1" && test "$2" = 0' _ "$qmp_out" "$rc"
check "qcow2: qemu-img check is clean on the overlay" qemu-img check -q "$tmp/overlay.qcow2"
check "qcow2: the base is unchanged" test "$(md5sum < "$tmp/base.qcow2" | cut -d' ' -f1)" = "$base_md5"
qemu-img convert -q -f qcow2 -O raw "$tmp/overlay.qcow2" "$tmp/overlay.raw"
want=$(result qcow2 blk_pattern_md5)
got=$(dd if="$tmp/overlay.raw" bs=512 skip=$((q_offset / 512)) count=$q_count 2>/dev/null | md5sum | cut -d' ' -f1)
check "qcow2: qemu-img convert -O raw of the overlay has the pattern at offset $q_offset" \
    test -n "$want" -a "$got" = "$want"
q_end=$((q_offset + q_count * 512))
check "qcow2: ... and the base's data before and after it (copy-on-write kept both ends)" \
    bash -c 'cmp -s -n "$1" "$3" "$4" && cmp -s -i "$2" "$3" "$4"' _ "$q_offset" "$q_end" \
    "$tmp/overlay.raw" "$tmp/base.raw"
exit 0
