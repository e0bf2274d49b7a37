#!/usr/bin/env bash
# Scenario: the PIIX3 IDE controller under hv (docs/ide.md). A guest with an
# IDE disk (primary master) and an IDE cdrom holding an ISO made here
# (secondary master): Linux's ata_piix binds 8086:7010, the disk is sda and
# the cdrom sr0; the guest kit's blk scenario writes a pattern to sda (the
# host finds it in the image after hv exits) and the cdrom scenario mounts
# the ISO and prints a file of it.
# Run by tests/integration/suite.sh (unnumbered TAP).
set -uo pipefail

. "$(dirname "$0")/lib.sh"

kit=${HVD_GUEST_KIT:?HVD_GUEST_KIT must name a built guest kit}
hv=${HVD_HV:-${top_builddir:-.}/hv/hv}
if [ ! -x "$hv" ]; then
    nok "hv binary present at $hv"
    exit 0
fi
if ! command -v genisoimage >/dev/null; then
    nok "genisoimage installed (tools/setup)"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

disk="$tmp/disk.img"
truncate -s 16M "$disk"
blk_offset=1048576
mkdir "$tmp/iso"
echo "hello from the hv IDE cdrom $$" > "$tmp/iso/hello.txt"
genisoimage -quiet -r -V HVIDE -o "$tmp/cd.iso" "$tmp/iso"
iso_md5=$(md5sum < "$tmp/iso/hello.txt" | cut -d' ' -f1)

timeout "${HVD_BOOT_TIMEOUT:-300}" "$hv" \
    --kernel "$kit/vmlinuz" --initrd "$kit/initrd.img" --memory 512M --cpus 1 \
    --disk "path=$disk,bus=ide,unit=0,serial=hvd-ide-0" \
    --disk "path=$tmp/cd.iso,bus=ide,unit=2,media=cdrom" \
    --serial stdio \
    --append "console=ttyS0 quiet panic=-1 hvtest=info,blk,cdrom hvtest.blk_dev=sda hvtest.blk_offset=$blk_offset" \
    < /dev/null > "$tmp/ide.log" 2> "$tmp/ide.err"
rc=$?
sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/[^[:print:]]//g' "$tmp/ide.log" |
    grep -v '^ *$' | sed "s/^/# console: /" | tail -n 40
sed "s/^/# hv: /" "$tmp/ide.err" | tail -n 20
result() { sed -n "s/^HVTEST $1=//p" "$tmp/ide.log" | tr -d '\r' | head -n 1; }

check "guest booted under hv to HVTEST READY" grep -q 'HVTEST READY' "$tmp/ide.log"
check "guest sees the PIIX3 IDE function 8086:7010 (class 010180) bound to ata_piix" \
    grep -q '^HVTEST pci=.* 8086:7010 class=010180 driver=ata_piix' "$tmp/ide.log"
modules=$(result modules)
for m in ata_piix libata sd_mod sr_mod cdrom; do
    check "guest loaded $m" bash -c '[[ ,$1, == *,$2,* ]]' _ "$modules" "$m"
done
blockdevs=$(result blockdevs)
check "guest sees the disk sda and the cdrom sr0 (blockdevs=$blockdevs)" \
    bash -c '[[ ,$1, == *,sda,* && ,$1, == *,sr0,* ]]' _ "$blockdevs"
check "sda size is 16 MiB" test "$(result blk_size_bytes)" = 16777216
check "guest wrote and read back the pattern on sda (blk_write=ok)" test "$(result blk_write)" = ok
want=$(result blk_pattern_md5)
got=$(dd if="$disk" bs=512 skip=$((blk_offset / 512)) count=8 2>/dev/null | md5sum | cut -d' ' -f1)
check "the pattern is in the image at offset $blk_offset after hv exited" test -n "$want" -a "$got" = "$want"
check "sr0 has the ISO's size" test "$(result cdrom_size_bytes)" = "$(stat -c %s "$tmp/cd.iso")"
check "guest mounted the ISO (cdrom_mount=ok)" test "$(result cdrom_mount)" = ok
check "guest printed the ISO's file ($(result cdrom_file))" \
    test "$(result cdrom_file)" = "hello from the hv IDE cdrom $$" -a "$(result cdrom_md5)" = "$iso_md5"
xfer=$(result ata_xfer)
check "libata drives the disk and the cdrom with multiword DMA 2 (ata_xfer=$xfer)" \
    bash -c '[[ ,$1, == *,dev1.0:XFER_MW_DMA_2,* && ,$1, == *,dev2.0:XFER_MW_DMA_2,* ]]' _ "$xfer"
irqs=$(result ata_irqs)
check "interrupts arrived on ISA IRQs 14 and 15 (ata_irqs=$irqs)" \
    bash -c '[[ $1 =~ ^14:[1-9][0-9]*,15:[1-9][0-9]*$ ]]' _ "$irqs"
check "guest printed HVTEST DONE" grep -q '^HVTEST DONE' "$tmp/ide.log"
check "guest powered off and hv exited by itself (status $rc)" test "$rc" = 0

# Boot 2: the cdrom starts with an empty tray; the host inserts the ISO
# through QMP (blockdev-change-medium, as hvd's change-media does) while
# the guest retries the mount, tries to eject it while the guest has it
# mounted (Linux locks the tray: refused without force), and ejects it
# after the guest unmounted (the guest idles at the end until the host
# presses the power button).
py=/usr/bin/python3
[ -x "$py" ] || py=python3
cat > "$tmp/media.py" <<'PY'
import json, os, re, socket, subprocess, sys, time

hv, kit, tmp, iso, want = sys.argv[1:6]

def ok(cond, what):
    print(("ok - " if cond else "not ok - ") + what, flush=True)
    return cond

class QMP:
    def __init__(self, path, timeout=60):
        end = time.time() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                if time.time() > end:
                    raise
                time.sleep(0.1)
        self.f = self.s.makefile("r")
        self.events = []
        json.loads(self.f.readline())
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.s.sendall((json.dumps(msg) + "\n").encode())
        while True:
            obj = json.loads(self.f.readline())
            if "event" in obj:
                self.events.append(obj)
            else:
                return obj

    def trays(self):
        moved = [(e["data"]["id"], e["data"]["tray-open"]) for e in self.events
                 if e["event"] == "DEVICE_TRAY_MOVED"]
        self.events = []
        return moved

log = os.path.join(tmp, "media.log")
sock = os.path.join(tmp, "media.qmp")
proc = subprocess.Popen([hv, "--kernel", kit + "/vmlinuz", "--initrd", kit + "/initrd.img",
                         "--memory", "512M", "--cpus", "1", "--serial", "stdio", "--monitor", sock,
                         "--disk", "bus=ide,unit=2,media=cdrom",
                         "--append", "console=ttyS0 quiet panic=-1 hvtest=cdrom hvtest.cdrom_wait=120 "
                         "hvtest.cdrom_hold=10 hvtest.end=idle"],
                        stdin=subprocess.DEVNULL, stdout=open(log, "wb"), stderr=open(log + ".err", "wb"))
qmp = QMP(sock)

def result(key, timeout):
    end = time.time() + timeout
    while time.time() < end:
        text = open(log, "rb").read().decode("latin-1").replace("\r", "")
        m = re.findall(r"^HVTEST %s=(.*)$" % re.escape(key), text[:text.rfind("\n") + 1], re.M)
        if m:
            return m[0]
        if proc.poll() is not None:
            return None
        time.sleep(0.2)
    return None

ok(result("cdrom_waiting", 240) == "1", "guest waits on the empty tray")
def drive_info(name):
    r = qmp.cmd("query-block")
    return next((b for b in r.get("return", []) if b.get("device") == name), {})

b = drive_info("ide0-1-0")
ok(b.get("removable") is True and b.get("tray_open") is False and "inserted" not in b and
   b.get("qdev") == "ide0-1-0", "query-block: the empty cdrom is removable, tray closed, nothing inserted (%s)" % b)
r = qmp.cmd("eject", id="ide0-9-9")
ok(r.get("error", {}).get("class") == "DeviceNotFound", "eject of an unknown id: DeviceNotFound (%s)" % r)
r = qmp.cmd("blockdev-change-medium", id="ide0-1-0", filename=iso, format="raw")
ok(r.get("return") == {}, "blockdev-change-medium inserts the ISO (%s)" % r)
t = qmp.trays()
ok(t == [("ide0-1-0", True), ("ide0-1-0", False)], "DEVICE_TRAY_MOVED open, then closed, before the return (%s)" % t)
ok(result("cdrom_mount", 60) == "ok", "guest mounted the inserted medium")
b = drive_info("ide0-1-0")
ins = b.get("inserted", {})
ok(ins.get("file") == iso and ins.get("drv") == "raw" and ins.get("ro") is True and
   ins.get("image", {}).get("virtual-size") == os.path.getsize(iso) and b.get("tray_open") is False and
   b.get("locked") is True, "query-block: the ISO inserted, raw, read-only, its size, tray closed, locked by the guest (%s)" % b)
r = qmp.cmd("human-monitor-command", **{"command-line": "info block"})
hmp = r.get("return", "")
ok(("ide0-1-0 (#block100): %s (raw, read-only)" % iso) in hmp and "Removable device: locked, tray closed" in hmp,
   "info block shows the cdrom, its image and the locked tray (%r)" % hmp)
s = next((x for x in qmp.cmd("query-blockstats").get("return", []) if x.get("device") == "ide0-1-0"), {})
ok(s.get("qdev") == "ide0-1-0" and "stats" in s, "query-blockstats lists the cdrom (%s)" % s)
ok(result("cdrom_file", 10) == want, "guest read the inserted ISO's file")
r = qmp.cmd("eject", device="drive-ide0-1-0")
ok("is locked" in r.get("error", {}).get("desc", ""), "eject while the guest has it mounted: locked (%s)" % r)
ok(result("cdrom_umount", 60) == "ok", "guest unmounted")
r = qmp.cmd("eject", id="ide0-1-0")
ok(r.get("return") == {}, "eject after the unmount (%s)" % r)
t = qmp.trays()
ok(t == [("ide0-1-0", True)], "DEVICE_TRAY_MOVED open for the eject (%s)" % t)
b = drive_info("ide0-1-0")
ok(b.get("tray_open") is True and b.get("locked") is False and "inserted" not in b,
   "query-block after the eject: tray open, unlocked, nothing inserted (%s)" % b)
r = qmp.cmd("blockdev-close-tray", id="ide0-1-0")
ok(r.get("return") == {}, "blockdev-close-tray on the empty drive (%s)" % r)
t = qmp.trays()
ok(t == [("ide0-1-0", False)], "DEVICE_TRAY_MOVED closed (%s)" % t)
qmp.cmd("system_powerdown")
ok(proc.wait(timeout=120) == 0, "the power button powers the guest off and hv exits with status 0")
for line in open(log + ".err", errors="replace").read().splitlines()[-10:]:
    print("# hv: " + line)
PY
"$py" "$tmp/media.py" "$hv" "$kit" "$tmp" "$tmp/cd.iso" "hello from the hv IDE cdrom $$"

# SeaBIOS boots an IDE disk by its bootindex (docs/firmware.md): hv's
# bootorder names it /pci@i0cf8/ide@SLOT/drive@CHANNEL/disk@DEVICE, the
# path SeaBIOS's ATA driver looks up. The virtio disk (bootindex 2, first
# on the bus) holds a boot sector too, so only a matching path picks the
# IDE one (primary slave). Skipped without SeaBIOS.
bios=/usr/share/seabios/bios-256k.bin
if [ ! -r "$bios" ]; then
    nok "$bios (package seabios) is there"
    exit 0
fi
for which in ide virtio; do
    marker="HVFW $(echo "$which" | tr a-z A-Z) BOOT SECTOR RAN"
    cat > "$tmp/$which.S" <<ASM
    .code16
    .globl _start
_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov \$msg, %si
1:  lodsb
    test %al, %al
    jz 3f
    mov %al, %bl
    mov \$0x3fd, %dx
2:  in %dx, %al
    test \$0x20, %al
    jz 2b
    mov \$0x3f8, %dx
    mov %bl, %al
    out %al, %dx
    jmp 1b
3:  mov \$0x604, %dx    # PM1a_CNT: SLP_EN, sleep type 0 (S5)
    mov \$0x2000, %ax
    out %ax, %dx
4:  hlt
    jmp 4b
msg:
    .asciz "\r\n$marker\r\n"
    .org 510
    .word 0xaa55
ASM
    as --32 -o "$tmp/$which.o" "$tmp/$which.S" &&
        ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o "$tmp/$which.bin" "$tmp/$which.o" ||
        nok "boot sector $which assembles (binutils)"
    truncate -s 1M "$tmp/$which-boot.img"
    dd if="$tmp/$which.bin" of="$tmp/$which-boot.img" conv=notrunc status=none
done
rc=0
timeout 180 "$hv" --disk "path=$tmp/virtio-boot.img,bootindex=2" \
    --disk "path=$tmp/ide-boot.img,bus=ide,unit=1,bootindex=1" --memory 128M --cpus 1 \
    --serial stdio --on-reboot exit --debug < /dev/null > "$tmp/fw.out" 2> "$tmp/fw.err" || rc=$?
check "SeaBIOS ran the IDE disk's boot sector (bootindex 1), not the virtio disk's" \
    eval 'grep -q "HVFW IDE BOOT SECTOR RAN" "$tmp/fw.out" && ! grep -q "HVFW VIRTIO BOOT SECTOR RAN" "$tmp/fw.out"'
check "the boot sector's poweroff ends hv with status 0" test "$rc" = 0
slot=$(sed -n 's/.*ide: piix3-ide at PCI slot \([0-9]*\).*/\1/p' "$tmp/fw.err" | head -n 1)
check "SeaBIOS read the IDE path first in hv's bootorder (controller at slot ${slot:-?})" \
    grep -q "firmware: 1: /pci@i0cf8/ide@$(printf %x "${slot:-0}")/drive@0/disk@1" "$tmp/fw.err"
check "SeaBIOS's ATA driver found the disk on the primary channel's slave" \
    grep -q "firmware: ata0-1: HVD HARDDISK" "$tmp/fw.err"
if ! grep -q "HVFW IDE BOOT SECTOR RAN" "$tmp/fw.out"; then
    tr -d '\033' < "$tmp/fw.out" | tail -n 20 | sed 's/^/# console: /'
    grep 'firmware:' "$tmp/fw.err" | tail -n 30 | sed 's/^/# log: /'
fi
