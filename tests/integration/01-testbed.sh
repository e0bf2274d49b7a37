#!/usr/bin/env bash
# Scenario: this machine (the nested testbed, or a host with vmx/svm) can run
# KVM guests: /dev/kvm answers, /dev/vhost-net exists, and QEMU with KVM
# boots the guest kit to its HVTEST markers (info and blk scenarios) and
# powers off by itself. Run by tests/integration/suite.sh (unnumbered TAP).
set -uo pipefail

pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; }
check() {
    local what=$1; shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

kit=${HVD_GUEST_KIT:?HVD_GUEST_KIT must name a built guest kit}
qemu=${HVD_QEMU:-qemu-system-x86_64}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# /dev/kvm: present, and answers KVM_GET_API_VERSION (12, the only stable
# API) and KVM_CREATE_VM, which is what a VMM does first. Debian's own
# interpreter, as /usr/bin/python3 (DESIGN.md: another may be first on PATH).
check "/dev/kvm is a character device" test -c /dev/kvm
kvm_probe=$(/usr/bin/python3 - 2>&1 <<'EOF'
import fcntl, os
KVM_GET_API_VERSION = 0xAE00   # _IO(KVMIO, 0x00)
KVM_CREATE_VM = 0xAE01         # _IO(KVMIO, 0x01)
fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
api = fcntl.ioctl(fd, KVM_GET_API_VERSION)
vm = fcntl.ioctl(fd, KVM_CREATE_VM, 0)
print("api=%d vm_fd_ok=%d" % (api, vm >= 0))
EOF
)
echo "# kvm probe: $kvm_probe"
check "/dev/kvm is usable (API 12, KVM_CREATE_VM works)" test "$kvm_probe" = "api=12 vm_fd_ok=1"
check "/dev/vhost-net is a character device" test -c /dev/vhost-net

# One guest boot: info (what the guest sees) and blk (a pattern written to a
# virtio disk, checked here on the host side afterwards).
disk="$tmp/disk.img"
truncate -s 8M "$disk"
blk_offset=65536
start=$(date +%s.%N)
timeout 300 "$qemu" -enable-kvm -M pc -m 512 -smp 1 -nographic -no-reboot -net none \
    -kernel "$kit/vmlinuz" -initrd "$kit/initrd.img" \
    -drive "file=$disk,if=virtio,format=raw" \
    -append "console=ttyS0 quiet panic=-1 hvtest=info,blk hvtest.blk_offset=$blk_offset" \
    < /dev/null 2>&1 |
    while IFS= read -r line; do
        line=${line%$'\r'}
        case "$line" in "HVTEST READY"*) date +%s.%N > "$tmp/ready-at" ;; esac
        printf '%s\n' "$line"
    done > "$tmp/console.log"
rc=${PIPESTATUS[0]}
end=$(date +%s.%N)
# The console, without the firmware's terminal escapes, as TAP diagnostics.
sed 's/\x1bc//g; s/\x1b\[[0-9;?]*[A-Za-z]//g; s/[^[:print:]]//g' "$tmp/console.log" |
    grep -v '^ *$' | sed 's/^/# console: /' | tail -n 40

result() { sed -n "s/^HVTEST $1=//p" "$tmp/console.log" | head -n 1; }
ready=0
grep -q 'HVTEST READY' "$tmp/console.log" && ready=1
check "guest kit boots under QEMU/KVM to HVTEST READY" test "$ready" = 1
if [ -f "$tmp/ready-at" ]; then
    echo "# boot to READY: $(awk -v a="$start" -v b="$(cat "$tmp/ready-at")" 'BEGIN { printf "%.1f", b - a }') s; whole run $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s"
fi
check "guest sees 1 CPU" test "$(result cpus)" = 1
memkb=$(result memtotal_kb)
check "guest MemTotal is plausible for 512 MiB (got ${memkb:-none} kB)" \
    test "${memkb:-0}" -gt 400000 -a "${memkb:-0}" -le 524288
check "guest sees the i440FX host bridge (8086:1237)" grep -q '^HVTEST pci=.* 8086:1237 ' "$tmp/console.log"
check "guest's virtio-blk disk bound to virtio-pci (1af4:1001)" \
    grep -q '^HVTEST pci=.* 1af4:1001 .*driver=virtio-pci' "$tmp/console.log"
check "guest loaded virtio_blk and e1000" \
    bash -c '[[ ,$1, == *,virtio_blk,* && ,$1, == *,e1000,* ]]' _ "$(result modules)"
check "guest's info scenario ran" test "$(result scenario.info)" = ok
check "guest wrote the pattern to virtio-blk (blk_write=ok)" test "$(result blk_write)" = ok
want=$(result blk_pattern_md5)
got=$(dd if="$disk" bs=512 skip=$((blk_offset / 512)) count=8 2>/dev/null | md5sum | cut -d' ' -f1)
check "the pattern is on the disk image at offset $blk_offset" test -n "$want" -a "$got" = "$want"
check "guest printed HVTEST DONE" grep -q '^HVTEST DONE' "$tmp/console.log"
check "guest powered off and QEMU exited by itself (status ${rc})" test "$rc" = 0
