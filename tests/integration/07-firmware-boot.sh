#!/usr/bin/env bash
# Scenario: firmware boot of a disk (docs/firmware.md). A disk made here
# from Debian packages (sfdisk, mke2fs, grub-pc-bin's boot.img and a
# grub-mkimage core with an embedded config) holds the guest kit's kernel
# and initramfs; hv without --kernel runs SeaBIOS, which boots grub, which
# boots Linux. The guest must see hv's ACPI tables (OEM HVD, RSDP in the F
# segment where the table loader put it), both vCPUs, its virtio disk on
# the BARs SeaBIOS assigned, and power off through hv's PM block. Run by
# tests/integration/suite.sh (unnumbered TAP).
set -uo pipefail

pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; }
check() {
    local what=$1; shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

kit=${HVD_GUEST_KIT:?HVD_GUEST_KIT must name a built guest kit}
builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
hv=${HVD_HV:-$builddir/hv/hv}
grubdir=/usr/lib/grub/i386-pc
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for tool in grub-mkimage sfdisk mke2fs; do
    if ! command -v "$tool" > /dev/null; then
        echo "ok - # SKIP $tool missing (tools/setup installs grub-pc-bin, fdisk, e2fsprogs)"
        exit 0
    fi
done
if [ ! -r "$grubdir/boot.img" ] || [ ! -r /usr/share/seabios/bios-256k.bin ]; then
    echo "ok - # SKIP grub-pc-bin or seabios missing"
    exit 0
fi

# The disk: an MBR with grub's boot.img, grub's core right after it (the
# sectors before the first partition; boot.img loads sector 1 and the
# core's first sector the rest), one ext2 partition at 1 MiB with the kit.
mkdir "$tmp/root"
cp "$kit/vmlinuz" "$kit/initrd.img" "$tmp/root/"
cat > "$tmp/early.cfg" <<'EOF'
set root=(hd0,msdos1)
echo HVFW GRUB LOADING LINUX
linux /vmlinuz console=ttyS0 panic=-1 hvtest=info hvtest.end=poweroff
initrd /initrd.img
boot
EOF
disk=$tmp/disk.img
if ! { grub-mkimage -O i386-pc -o "$tmp/core.img" -p '(hd0,msdos1)/boot/grub' -c "$tmp/early.cfg" \
           biosdisk part_msdos ext2 linux boot echo &&
       truncate -s 64M "$disk" &&
       echo 'start=2048, type=83' | sfdisk -q "$disk" &&
       mke2fs -q -t ext2 -d "$tmp/root" -E offset=$((2048 * 512)) "$disk" 62M &&
       dd if="$grubdir/boot.img" of="$disk" bs=440 count=1 conv=notrunc status=none &&
       dd if="$tmp/core.img" of="$disk" bs=512 seek=1 conv=notrunc status=none; } > "$tmp/mk.log" 2>&1; then
    fail "grub disk image built"
    sed 's/^/# /' "$tmp/mk.log"
    exit 0
fi
check "grub's core fits before the partition" test "$(stat -c %s "$tmp/core.img")" -lt $((2047 * 512))

start=$(date +%s.%N)
rc=0
timeout 400 "$hv" --disk path="$disk",bootindex=1 --memory 512M --cpus 2 --serial stdio \
    < /dev/null > "$tmp/con" 2> "$tmp/err" || rc=$?
end=$(date +%s.%N)
echo "# firmware boot: status $rc after $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s"
# SeaBIOS's serial console speaks ANSI (cursor moves, colours): strip it.
sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' "$tmp/con" > "$tmp/con.txt"
con() { grep -q -- "$1" "$tmp/con.txt"; }
check "SeaBIOS ran and booted the hard disk" eval 'con "SeaBIOS (version" && con "Booting from Hard Disk"'
check "grub ran from the disk" con "HVFW GRUB LOADING LINUX"
check "Linux reached the guest kit's init" con "HVTEST READY"
check "the guest sees 2 CPUs" con "HVTEST cpus=2"
check "the guest's RSDP is in the F segment (SeaBIOS's table loader)" \
    grep -qE "ACPI: RSDP 0x00000000000F[0-9A-F]{4} .*HVD" "$tmp/con.txt"
check "the guest's FADT, MADT and DSDT are hv's (OEM HVD)" \
    eval 'grep -q "ACPI: FACP .*HVD" "$tmp/con.txt" && grep -q "ACPI: APIC .*HVD" "$tmp/con.txt" && grep -q "ACPI: DSDT .*HVD" "$tmp/con.txt"'
check "the guest's virtio disk is bound (virtio-pci, vda)" \
    eval 'con "HVTEST pci=0000:00:01.0 1af4:1042 class=010000 driver=virtio-pci" && con "HVTEST blockdevs=vda"'
check "Linux kept the BARs SeaBIOS assigned (no reassignment)" \
    eval '! grep -qE "no compatible bridge window|can.t claim BAR|BAR [0-9]+: assigned" "$tmp/con.txt"'
check "the guest's e820 comes through SeaBIOS" grep -q "BIOS-e820: \[mem 0x0000000000100000-" "$tmp/con.txt"
check "the guest's poweroff (hv's PM1a) ends hv with status 0" \
    eval 'test "$rc" = 0 && grep -q "guest entered ACPI S5" "$tmp/err"'
if ! con "HVTEST READY" || ! con "HVFW GRUB"; then
    tail -n 30 "$tmp/con.txt" | sed 's/^/# console: /'
    tail -n 5 "$tmp/err" | sed 's/^/# log: /'
fi
