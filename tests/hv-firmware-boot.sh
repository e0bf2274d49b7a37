#!/usr/bin/env bash
# hv boots a disk through SeaBIOS (docs/firmware.md), on the real /dev/kvm:
# a boot sector assembled here prints a marker on COM1 and powers off
# through hv's ACPI PM1a control; an empty disk ends in SeaBIOS's
# "No bootable device." on the console and in hv's log, with hv idle, not
# spinning. Real-mode and 32-bit guest code runs even on a KVM that cannot
# boot Linux, so this needs no testbed. TAP; skipped without /dev/kvm or
# Debian's SeaBIOS.
set -uo pipefail

builddir=${top_builddir:-$(cd "$(dirname "$0")/.." && pwd)}
hv=${HVD_HV:-$builddir/hv/hv}
bios=/usr/share/seabios/bios-256k.bin
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); echo "not ok $n - $*"; }
check() {
    local what=$1; shift
    if "$@"; then ok "$what"; else nok "$what"; fi
}

if [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ]; then
    echo "1..0 # SKIP no usable /dev/kvm"
    exit 0
fi
if [ ! -r "$bios" ]; then
    echo "1..0 # SKIP $bios missing (package seabios)"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The boot sector: 16-bit code that SeaBIOS loads at 0:7C00 and jumps to.
# It polls the UART's transmitter-empty bit before each byte, then writes
# SLP_EN with sleep type 0 (\_S5) to PM1a_CNT (hv/x86/acpi.h: 0x604).
cat > "$tmp/bootsect.S" <<'EOF'
    .code16
    .globl _start
_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov $0x7c00, %sp
    mov $msg, %si
next:
    lodsb
    test %al, %al
    jz off
    mov %al, %bl
    mov $0x3fd, %dx
busy:
    in %dx, %al
    test $0x20, %al
    jz busy
    mov $0x3f8, %dx
    mov %bl, %al
    out %al, %dx
    jmp next
off:
    mov $0x604, %dx
    mov $0x2000, %ax
    out %ax, %dx
halt:
    hlt
    jmp halt
msg:
    .asciz "\r\nHVFW BOOT SECTOR RAN\r\n"
    .org 510
    .word 0xaa55
EOF
if ! as --32 -o "$tmp/bootsect.o" "$tmp/bootsect.S" 2> "$tmp/as.err" ||
   ! ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o "$tmp/bootsect.bin" "$tmp/bootsect.o" 2>> "$tmp/as.err"; then
    nok "boot sector assembles (binutils)"
    sed 's/^/# /' "$tmp/as.err"
    echo "1..$n"
    exit 1
fi
check "boot sector is 512 bytes" test "$(stat -c %s "$tmp/bootsect.bin")" = 512
truncate -s 1M "$tmp/boot.img"
dd if="$tmp/bootsect.bin" of="$tmp/boot.img" conv=notrunc status=none
truncate -s 1M "$tmp/empty.img"

# 1. The boot sector runs: SeaBIOS's banner, its boot message, the marker,
# and the poweroff ends hv with status 0. A second disk without bootindex
# comes first on the bus, so only the boot order makes SeaBIOS pick ours.
start=$(date +%s.%N)
rc=0
timeout 120 "$hv" --disk path="$tmp/empty.img" --disk path="$tmp/boot.img",bootindex=1 --memory 128M --cpus 2 \
    --serial stdio --on-reboot exit < /dev/null > "$tmp/boot.out" 2> "$tmp/boot.err" || rc=$?
end=$(date +%s.%N)
echo "# boot: status $rc after $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s"
check "SeaBIOS banner on the serial console" grep -q "SeaBIOS (version" "$tmp/boot.out"
check "SeaBIOS boots the disk with bootindex 1 (the second virtio disk)" grep -q "Booting from Hard Disk" "$tmp/boot.out"
check "the boot sector's marker reached COM1" grep -q "HVFW BOOT SECTOR RAN" "$tmp/boot.out"
check "ACPI poweroff from the boot sector ends hv with status 0" test "$rc" = 0
check "hv logged the S5 poweroff" grep -q "guest entered ACPI S5" "$tmp/boot.err"
check "hv logged a firmware boot" grep -q "firmware $bios" "$tmp/boot.err"
if ! grep -q "HVFW BOOT SECTOR RAN" "$tmp/boot.out"; then
    tr -d '\033' < "$tmp/boot.out" | tail -n 20 | sed 's/^/# console: /'
    tail -n 5 "$tmp/boot.err" | sed 's/^/# log: /'
fi

# 2. Nothing bootable: SeaBIOS says so and waits (etc/boot-fail-wait -1);
# hv logs it and stays idle (halted vCPU, no spinning) until it is told
# to stop.
"$hv" --disk path="$tmp/empty.img",bootindex=1 --memory 128M --serial stdio < /dev/null \
    > "$tmp/none.out" 2> "$tmp/none.err" &
pid=$!
for _ in $(seq 1 300); do
    grep -q "No bootable device" "$tmp/none.out" 2> /dev/null && break
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.2
done
check "SeaBIOS printed \"No bootable device.\"" grep -q "No bootable device\." "$tmp/none.out"
sleep 1
check "hv logged that nothing was bootable" grep -q "firmware: No bootable device" "$tmp/none.err"
# CPU time over 3 s of waiting: utime + stime (clock ticks) from /proc.
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat" 2> /dev/null || echo 0; }
t0=$(ticks)
sleep 3
t1=$(ticks)
hz=$(getconf CLK_TCK)
echo "# idle wait: $((t1 - t0)) ticks of CPU in 3 s (CLK_TCK $hz)"
check "hv stays alive while the firmware waits" kill -0 "$pid"
check "hv idles while the firmware waits (< 50% of one CPU)" test $((t1 - t0)) -lt $((hz * 3 / 2))
kill -TERM "$pid" 2> /dev/null
rc=0
wait "$pid" || rc=$?
check "SIGTERM ends the waiting hv with status 0" test "$rc" = 0

# 3. A firmware file that is no BIOS image is refused naming it.
head -c 1000 /dev/zero > "$tmp/bad.bin"
rc=0
"$hv" --firmware "$tmp/bad.bin" --disk path="$tmp/boot.img" < /dev/null > /dev/null 2> "$tmp/bad.err" || rc=$?
check "a firmware of 1000 bytes is refused with status 1, naming the file" \
    eval 'test "$rc" = 1 && grep -q "$tmp/bad.bin" "$tmp/bad.err"'

echo "1..$n"
