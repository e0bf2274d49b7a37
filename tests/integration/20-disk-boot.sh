#!/usr/bin/env bash
# Scenario: the Debian disk image (tools/guest-kit/disk-image, given as
# HVD_DISK_IMAGE, its qcow2 base) boots from a qcow2 overlay through the
# BIOS and GRUB to systemd's multi-user.target. Part 1, QEMU -M pc with
# SeaBIOS (the reference, and a check of the image; one boot): the marker
# with boot=1, root logs in on the serial console, the ACPI power button
# powers off, `qemu-img check` of the overlay is clean, the file the guest
# wrote is in the overlay and not in the base, whose checksum is unchanged. Part 2, the same through stock virsh
# and hvd with domain XML that has no <kernel> (as virt-install --import and
# nova write it): start, marker, dumpxml with the backing chain, a login
# prompt on `virsh console`, `virsh shutdown`, boot=2 on a second start,
# `qemu-img check`, the base unchanged. Each boot may take
# HVD_DISK_BOOT_TIMEOUT seconds (default 300) to reach the marker.
# Unnumbered TAP for tests/integration/suite.sh.
# scenario-timeout: 1800
set -uo pipefail

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
hvd=$top_builddir/daemon/hvd
hv=${HVD_HV:-$top_builddir/hv/hv}
py=/usr/bin/python3

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

img=${HVD_DISK_IMAGE:-}
if [ -z "$img" ] || [ ! -f "$img" ]; then
    nok "disk image given as HVD_DISK_IMAGE (tools/guest-kit/disk-image; suite.sh builds it)"
    exit 0
fi
boot_secs=${HVD_DISK_BOOT_TIMEOUT:-300}
marker="HVTEST MULTIUSER hostname=hvdisk"

dir=$(mktemp -d /tmp/hvd-disk.XXXXXX)
sock=$dir/sock
state=$dir/state
hvd_pid=
qemu_pid=
cleanup() {
    [ -n "$qemu_pid" ] && kill "$qemu_pid" 2> /dev/null
    if [ -n "$hvd_pid" ]; then
        v destroy disk1 > /dev/null 2>&1
        kill "$hvd_pid" 2> /dev/null
        wait "$hvd_pid" 2> /dev/null
    fi
    if [ -n "${KEEP_LOGS:-}" ]; then echo "# logs kept in $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
uri="qemu+unix:///system?socket=$sock"
v() { timeout 60 virsh -c "$uri" "$@"; }

base_sum=$(sha256sum "$img" | cut -d' ' -f1)
built_sum=$(sed -n 's/^base_sha256=//p' "$(dirname "$img")/VERSION" 2> /dev/null)
check "base image $(basename "$(dirname "$img")") has the checksum recorded when it was built" \
    test "$base_sum" = "$built_sum"

# The guest's boot counter in a disk image, read from outside: the image as
# raw (sparse), then the root file system, partition 1 at 1 MiB.
# Prints the count, or "absent" when the file is not there.
boot_count_in() { # IMAGE
    local raw=$dir/peek.raw fs
    rm -f "$raw"
    qemu-img convert -O raw "$1" "$raw" || return 1
    fs="$raw?offset=1048576"
    if debugfs -R 'stat /var/lib/hvtest/boot-count' "$fs" 2>&1 | grep -q "File not found"; then
        echo absent
    else
        debugfs -R 'cat /var/lib/hvtest/boot-count' "$fs" 2> /dev/null
    fi
    rm -f "$raw"
}
check "the base holds no boot counter" test "$(boot_count_in "$img")" = absent

# The serial console's login, by a client on a socket (QEMU's chardev) or
# on `virsh console` (which wants a terminal: a pty). It wakes the getty,
# logs in as root (no password), runs a command and prints the transcript;
# the status says how far it got: 0 all, 2 no login prompt, 3 no shell,
# 4 no command output.
cat > "$dir/login.py" << 'EOF'
import os, pty, re, select, socket, sys, time
how, where = sys.argv[1], sys.argv[2]
if how == "unix":
    s = socket.socket(socket.AF_UNIX)
    s.connect(where)
    fd = s.fileno()
else:  # virsh URI DOMAIN
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp("virsh", ["virsh", "-c", where, "console", sys.argv[3]])
out = b""
def read_until(pat, secs):
    global out
    end = time.time() + secs
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return False
            if not data:
                return False
            out += data
        if re.search(pat, out):
            return True
    return False
def send(b):
    os.write(fd, b)
def done(code):
    if how != "unix":
        send(b"\x1d")
        time.sleep(1)
    sys.stdout.write(out.decode(errors="replace"))
    sys.exit(code)
if how != "unix" and not read_until(rb"Escape character", 20):
    done(2)
for _ in range(3):
    send(b"\r")
    if read_until(rb"hvdisk login: ", 20):
        break
else:
    done(2)
send(b"root\r")
if not read_until(rb"root@hvdisk:~# ", 40):
    done(3)
send(b"echo LOGIN-$((6*7))-count-$(cat /var/lib/hvtest/boot-count)\r")
if not read_until(rb"LOGIN-42-count-[0-9]+\r?\n", 20):
    done(4)
send(b"exit\r")
time.sleep(0.5)
done(0)
EOF

# ------------------------------------------------------ part 1: QEMU
qemu_overlay=$dir/qemu-overlay.qcow2
check "qemu-img create an overlay on the base" \
    qemu-img create -f qcow2 -b "$img" -F qcow2 "$qemu_overlay"

# qemu_boot NAME: boot the overlay under QEMU -M pc (SeaBIOS, virtio-blk),
# serial console on a socket that logs to $dir/NAME.console.log.
qemu_boot() {
    qemu-system-x86_64 -accel kvm -M pc -cpu host -m 512 -smp 1 -nodefaults -no-user-config \
        -display none -no-reboot \
        -chardev "socket,id=ser0,path=$dir/$1.serial,server=on,wait=off,logfile=$dir/$1.console.log" \
        -serial chardev:ser0 -qmp "unix:$dir/$1.qmp,server=on,wait=off" \
        -drive "file=$qemu_overlay,format=qcow2,if=virtio" > "$dir/$1.qemu.log" 2>&1 &
    qemu_pid=$!
}
qmp() { # NAME COMMAND
    "$py" - "$dir/$1.qmp" "$2" << 'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
for cmd in ("qmp_capabilities", sys.argv[2]):
    f.write(json.dumps({"execute": cmd}) + "\n")
    f.flush()
    while "return" not in (r := json.loads(f.readline())) and "error" not in r:
        pass
    if "error" in r:
        sys.exit(1)
EOF
}
# qemu_powerdown NAME: the ACPI power button; true when QEMU exits 0 within
# two minutes (the guest powered itself off).
qemu_powerdown() {
    local rc
    qmp "$1" system_powerdown || return 1
    for _ in $(seq 1200); do
        kill -0 "$qemu_pid" 2> /dev/null || break
        sleep 0.1
    done
    kill -0 "$qemu_pid" 2> /dev/null && return 1
    wait "$qemu_pid"
    rc=$?
    qemu_pid=
    return "$rc"
}
show_console() { # FILE
    echo "# console (last lines): "
    tr -d '\r' < "$1" | tail -n "${2:-15}" | sed 's/^/#   /'
}

t0=$SECONDS
qemu_boot q1
check "QEMU: marker with boot=1 on the serial console" \
    wait_file "$dir/q1.console.log" "$marker boot=1" "$boot_secs"
echo "# QEMU: first boot reached multi-user.target after $((SECONDS - t0)) s"
grep -aq "$marker boot=1" "$dir/q1.console.log" || { show_console "$dir/q1.console.log" 30; cat "$dir/q1.qemu.log"; }
check "QEMU: SeaBIOS and GRUB on the serial console" \
    grep -aq "Booting \`Debian GNU/Linux 12" "$dir/q1.console.log"
"$py" "$dir/login.py" unix "$dir/q1.serial" > "$dir/q1.login.txt" 2>&1
rc=$?
check "QEMU: login prompt on the serial console" test "$rc" != 2
check "QEMU: root logs in without a password" test "$rc" != 2 -a "$rc" != 3
check "QEMU: a command in root's shell sees boot-count 1" grep -aq "LOGIN-42-count-1" "$dir/q1.login.txt"
[ "$rc" = 0 ] || { echo "# login client status $rc, saw:"; tr -d '\r' < "$dir/q1.login.txt" | tail -n 8 | sed 's/^/#   /'; }
check "QEMU: the ACPI power button powers the guest off (QEMU exits 0)" qemu_powerdown q1
[ -n "$qemu_pid" ] && { kill "$qemu_pid"; wait "$qemu_pid"; qemu_pid=; }


out=$(qemu-img check "$qemu_overlay" 2>&1)
check "QEMU: qemu-img check of the overlay is clean" grep -q "No errors were found" <<< "$out"
check "QEMU: the overlay holds the boot counter (1)" test "$(boot_count_in "$qemu_overlay")" = 1
check "QEMU: the base is unchanged (sha256)" test "$(sha256sum "$img" | cut -d' ' -f1)" = "$base_sum"

# ------------------------------------------------------ part 2: hv and hvd

if [ ! -x "$hvd" ] || [ ! -x "$hv" ]; then
    nok "hvd and hv built ($hvd, $hv)"
    exit 0
fi
overlay=$dir/hvd-overlay.qcow2
check "qemu-img create the domain's overlay" qemu-img create -f qcow2 -b "$img" -F qcow2 "$overlay"
start_hvd
check "hvd is listening" test -S "$sock"

# What virt-install --import (and nova) write for a disk image: no kernel,
# <boot dev='hd'/>, a qcow2 disk.
cat > "$dir/disk1.xml" << EOF
<domain type='kvm'>
  <name>disk1</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$overlay'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
  </devices>
</domain>
EOF
out=$(v define "$dir/disk1.xml" 2>&1)
check "virsh define: a domain with no <kernel> and a qcow2 disk" grep -q "Domain 'disk1' defined" <<< "$out"
grep -q "defined" <<< "$out" || echo "# define: $out"
t0=$SECONDS
out=$(v start disk1 2>&1)
check "virsh start disk1" grep -q "Domain 'disk1' started" <<< "$out"
grep -q "started" <<< "$out" || echo "# start: $out"
con=$state/log/disk1.console.log
check "hv: marker with boot=1 on the domain's console" wait_console disk1 "$marker boot=1" "$boot_secs"
echo "# hv: first boot reached multi-user.target after $((SECONDS - t0)) s"
grep -aq "$marker boot=1" "$con" || { show_console "$con" 30; tail -n 20 "$state/log/disk1.log" | sed 's/^/# log: /'; }
check "hv: SeaBIOS on the serial console" grep -aq "SeaBIOS" "$con"
check "hv: GRUB booted the kernel" grep -aq "Booting \`Debian GNU/Linux 12" "$con"

v dumpxml disk1 > "$dir/live.xml" 2>&1
xp() { xmllint --xpath "string($1)" "$dir/live.xml" 2> /dev/null; }
check "dumpxml: no <kernel> in <os>" test -z "$(xp '/domain/os/kernel')"
check "dumpxml: the disk's source is the overlay" test "$(xp '/domain/devices/disk/source/@file')" = "$overlay"
check "dumpxml: driver type qcow2" test "$(xp '/domain/devices/disk/driver/@type')" = qcow2
check "dumpxml: backingStore names the base" \
    test "$(xp '/domain/devices/disk/backingStore/source/@file')" = "$img"
check "dumpxml: the backing store's format is qcow2" \
    test "$(xp '/domain/devices/disk/backingStore/format/@type')" = qcow2
check "dumpxml: the chain ends after the base (empty <backingStore/>)" \
    test "$(xmllint --xpath 'count(/domain/devices/disk/backingStore/backingStore[not(*)])' "$dir/live.xml" 2> /dev/null)" = 1
validate_domxml "dumpxml of the running disk1" "$dir/live.xml"

"$py" "$dir/login.py" virsh "$uri" disk1 > "$dir/hv.login.txt" 2>&1
rc=$?
check "virsh console: login prompt" test "$rc" != 2
check "virsh console: root logs in without a password" test "$rc" != 2 -a "$rc" != 3
check "virsh console: a command in root's shell sees boot-count 1" grep -aq "LOGIN-42-count-1" "$dir/hv.login.txt"
[ "$rc" = 0 ] || { echo "# login client status $rc, saw:"; tr -d '\r' < "$dir/hv.login.txt" | tail -n 8 | sed 's/^/#   /'; }

check "virsh shutdown disk1" v shutdown disk1
check "disk1 shut off after the guest powered off" wait_state disk1 "shut off" 120
check "domstate reason: shutdown" grep -q "shut off (shutdown)" <<< "$(v domstate disk1 --reason 2>&1)"
out=$(qemu-img check "$overlay" 2>&1)
check "hv: qemu-img check of the overlay is clean" grep -q "No errors were found" <<< "$out"
grep -q "No errors were found" <<< "$out" || echo "$out" | tail -n 5 | sed 's/^/# /'
check "hv: the overlay holds the boot counter the guest wrote (1)" test "$(boot_count_in "$overlay")" = 1
check "hv: the base is unchanged (sha256)" test "$(sha256sum "$img" | cut -d' ' -f1)" = "$base_sum"

check "virsh start disk1 again" v start disk1
check "hv: the second start says boot=2" wait_console disk1 "$marker boot=2" "$boot_secs"
check "virsh shutdown disk1 (second boot)" v shutdown disk1
check "disk1 shut off again" wait_state disk1 "shut off" 120
out=$(qemu-img check "$overlay" 2>&1)
check "hv: qemu-img check clean after the second boot" grep -q "No errors were found" <<< "$out"
check "hv: the base is still unchanged (sha256)" test "$(sha256sum "$img" | cut -d' ' -f1)" = "$base_sum"
