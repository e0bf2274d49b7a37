#!/usr/bin/env bash
# hv boots a disk through SeaBIOS (docs/firmware.md), on the real /dev/kvm:
# a boot sector assembled here prints a marker on COM1 and powers off
# through hv's ACPI PM1a control; an empty disk ends in SeaBIOS's
# "No bootable device." on the console and in hv's log, with hv idle, not
# spinning. Real-mode and 32-bit guest code runs even on a KVM that cannot
# boot Linux, so this needs no testbed. TAP; skipped without /dev/kvm or
# Debian's SeaBIOS. Run by tests/integration/suite.sh (unnumbered TAP), in
# the testbed where this machine's KVM has none.
set -uo pipefail

. "$(dirname "$0")/lib.sh"
builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
hv=${HVD_HV:-$builddir/hv/hv}
bios=/usr/share/seabios/bios-256k.bin

if [ ! -c /dev/kvm ] || [ ! -r "$bios" ]; then
    nok "/dev/kvm and $bios (package seabios) are there"
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Boot sectors: 16-bit code that SeaBIOS loads at 0:7C00 and jumps to.
# print polls the UART's transmitter-empty bit before each byte; poweroff
# writes SLP_EN with sleep type 0 (\_S5) to PM1a_CNT (hv/x86/acpi.h:
# 0x604). The second one counts its boots in CMOS byte 0x70 (kept across
# a reset): the first boot resets the machine through the keyboard
# controller, the second powers off.
common_asm='
    .code16
    .globl _start
_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov $0x7c00, %sp
    jmp main
print:
    lodsb
    test %al, %al
    jz 2f
    mov %al, %bl
    mov $0x3fd, %dx
1:  in %dx, %al
    test $0x20, %al
    jz 1b
    mov $0x3f8, %dx
    mov %bl, %al
    out %al, %dx
    jmp print
2:  ret
poweroff:
    mov $0x604, %dx
    mov $0x2000, %ax
    out %ax, %dx
3:  hlt
    jmp 3b
'
cat > "$tmp/bootsect.S" <<EOF
$common_asm
main:
    mov \$msg, %si
    call print
    jmp poweroff
msg:
    .asciz "\r\nHVFW BOOT SECTOR RAN\r\n"
    .org 510
    .word 0xaa55
EOF
cat > "$tmp/reboot.S" <<EOF
$common_asm
main:
    mov \$0x70, %al
    out %al, \$0x70
    in \$0x71, %al
    cmp \$0x5a, %al
    je second
    mov \$0x70, %al
    out %al, \$0x70
    mov \$0x5a, %al
    out %al, \$0x71
    mov \$first_msg, %si
    call print
    mov \$0xfe, %al
    out %al, \$0x64
4:  hlt
    jmp 4b
second:
    mov \$second_msg, %si
    call print
    jmp poweroff
first_msg:
    .asciz "\r\nHVFW FIRST BOOT\r\n"
second_msg:
    .asciz "\r\nHVFW SECOND BOOT\r\n"
    .org 510
    .word 0xaa55
EOF
for b in bootsect reboot; do
    if ! as --32 -o "$tmp/$b.o" "$tmp/$b.S" 2> "$tmp/as.err" ||
       ! ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o "$tmp/$b.bin" "$tmp/$b.o" 2>> "$tmp/as.err"; then
        nok "boot sector $b assembles (binutils)"
        sed 's/^/# /' "$tmp/as.err"
        exit 1
    fi
done
check "boot sectors are 512 bytes" test "$(stat -c %s "$tmp/bootsect.bin")-$(stat -c %s "$tmp/reboot.bin")" = 512-512
truncate -s 1M "$tmp/boot.img"
dd if="$tmp/bootsect.bin" of="$tmp/boot.img" conv=notrunc status=none
truncate -s 1M "$tmp/empty.img"
truncate -s 1M "$tmp/reboot.img"
dd if="$tmp/reboot.bin" of="$tmp/reboot.img" conv=notrunc status=none

# 1. The boot sector runs: SeaBIOS's banner, its boot message, the marker,
# and the poweroff ends hv with status 0. A second disk without bootindex
# comes first on the bus, so only the boot order makes SeaBIOS pick ours.
start=$(date +%s.%N)
rc=0
timeout 120 "$hv" --disk path="$tmp/empty.img" --disk path="$tmp/boot.img",bootindex=1 --memory 128M --cpus 2 \
    --serial stdio --on-reboot exit --debug < /dev/null > "$tmp/boot.out" 2> "$tmp/boot.err" || rc=$?
end=$(date +%s.%N)
echo "# boot: status $rc after $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s"
check "SeaBIOS banner on the serial console" grep -q "SeaBIOS (version" "$tmp/boot.out"
check "SeaBIOS boots the disk with bootindex 1 (the second virtio disk)" grep -q "Booting from Hard Disk" "$tmp/boot.out"
check "the boot sector's marker reached COM1" grep -q "HVFW BOOT SECTOR RAN" "$tmp/boot.out"
check "ACPI poweroff from the boot sector ends hv with status 0" test "$rc" = 0
check "hv logged the S5 poweroff" grep -q "guest entered ACPI S5" "$tmp/boot.err"
check "hv logged a firmware boot" grep -q "firmware $bios" "$tmp/boot.err"
# SeaBIOS's own debug log (port 0x402, hv --debug): what it made of the machine.
fwlog() { grep -q "firmware: $1" "$tmp/boot.err"; }
check "SeaBIOS found fw_cfg with DMA" fwlog "QEMU fw_cfg DMA interface supported"
check "SeaBIOS took RAM from etc/e820 (1 MiB to 128 MiB)" fwlog "qemu/e820: addr 0x0000000000100000 len 0x0000000007f00000 \\[RAM\\]"
check "SeaBIOS started the second vCPU (INIT/SIPI)" fwlog "Found 2 cpu(s)"
check "SeaBIOS installed hv's ACPI tables from the table loader" fwlog "ACPI: parse DSDT"
check "hv's DSDT has no PS/2 keyboard, so SeaBIOS does not probe the i8042" fwlog "ACPI: no PS/2 keyboard present"
check "SeaBIOS read hv's bootorder (the disk in slot 2)" fwlog "1: /pci@i0cf8/scsi@2/disk@0,0"
check "SeaBIOS found both virtio-blk disks" test "$(grep -c "firmware: found virtio-blk" "$tmp/boot.err")" = 2
if ! grep -q "HVFW BOOT SECTOR RAN" "$tmp/boot.out" || ! fwlog "Found 2 cpu"; then
    tr -d '\033' < "$tmp/boot.out" | tail -n 20 | sed 's/^/# console: /'
    tail -n 5 "$tmp/boot.err" | sed 's/^/# log: /'
fi

# 2. A guest reset re-runs the firmware: the first boot resets through
# the keyboard controller, SeaBIOS starts again and boots the disk again.
rc=0
timeout 120 "$hv" --disk path="$tmp/reboot.img",bootindex=1 --memory 128M --serial stdio \
    < /dev/null > "$tmp/reboot.out" 2> "$tmp/reboot.err" || rc=$?
check "first boot ran, then the second after the reset" \
    eval 'grep -q "HVFW FIRST BOOT" "$tmp/reboot.out" && grep -q "HVFW SECOND BOOT" "$tmp/reboot.out"'
check "SeaBIOS ran again after the reset (two banners)" test "$(grep -c "SeaBIOS (version" "$tmp/reboot.out")" = 2
check "hv logged the reset; the second boot's poweroff ends it with status 0" \
    eval 'grep -q "guest reset" "$tmp/reboot.err" && test "$rc" = 0'

# 3. Nothing bootable: SeaBIOS says so and waits (etc/boot-fail-wait -1);
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

# 4. A firmware file that is no BIOS image is refused naming it.
head -c 1000 /dev/zero > "$tmp/bad.bin"
rc=0
"$hv" --firmware "$tmp/bad.bin" --disk path="$tmp/boot.img" < /dev/null > /dev/null 2> "$tmp/bad.err" || rc=$?
check "a firmware of 1000 bytes is refused with status 1, naming the file" \
    eval 'test "$rc" = 1 && grep -q "$tmp/bad.bin" "$tmp/bad.err"'
