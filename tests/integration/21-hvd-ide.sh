#!/usr/bin/env bash
# Scenario: IDE disks and cdroms through stock virsh and hvd (docs/ide.md,
# docs/domain-xml.md). A domain with an IDE disk (hda) and an empty IDE
# cdrom (hdc) boots the guest kit; dumpxml shows the drive addresses libvirt
# assigns and validates against libvirt's schema; the guest writes a
# pattern on sda; while it retries mounting the empty drive, `virsh
# change-media --insert --live` puts an ISO made here in, and the guest
# mounts it and prints its file; the live XML names the medium; domblkstat
# answers for hda; `change-media --eject` while the guest has it mounted is
# refused, `--force` empties the drive; the guest powers off and the
# pattern is in the disk image.
# Unnumbered TAP for tests/integration/suite.sh.
set -uo pipefail

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
hvd=$top_builddir/daemon/hvd
hv=${HVD_HV:-$top_builddir/hv/hv}

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

kit=${HVD_GUEST_KIT:?HVD_GUEST_KIT must name a built guest kit}
for tool in virsh genisoimage; do
    if ! command -v "$tool" > /dev/null; then
        nok "$tool installed (tools/setup)"
        exit 1
    fi
done

dir=$(mktemp -d /tmp/hvd-ide.XXXXXX)
sock=$dir/sock
state=$dir/state
hvd_pid=
cleanup() {
    v destroy ide1 > /dev/null 2>&1
    [ -n "$hvd_pid" ] && { kill "$hvd_pid"; wait "$hvd_pid"; } 2> /dev/null
    if [ -n "${KEEP_LOGS:-}" ]; then echo "# logs kept in $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
uri="qemu+unix:///system?socket=$sock"
v() { timeout 60 virsh -c "$uri" "$@"; }
result() { # the first value of HVTEST KEY= on the domain's console
    sed -n "s/^HVTEST $1=//p" "$state/log/ide1.console.log" 2> /dev/null | tr -d '\r' | head -n 1
}

disk=$dir/disk.img
truncate -s 16M "$disk"
blk_offset=1048576
mkdir "$dir/iso"
echo "hello from an IDE cdrom through hvd $$" > "$dir/iso/hello.txt"
genisoimage -quiet -r -V HVDIDE -o "$dir/cd.iso" "$dir/iso"

cat > "$dir/ide1.xml" << EOF
<domain type='kvm'>
  <name>ide1</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$kit/vmlinuz</kernel>
    <initrd>$kit/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 hvtest=blk,cdrom hvtest.blk_dev=sda hvtest.blk_offset=$blk_offset hvtest.cdrom_wait=120 hvtest.cdrom_hold=40</cmdline>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='$disk'/>
      <target dev='hda' bus='ide'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <memballoon model='none'/>
  </devices>
</domain>
EOF

start_hvd
check "hvd is listening" test -S "$sock"
check "virsh define of a domain with an IDE disk and an empty IDE cdrom" v define "$dir/ide1.xml"
v dumpxml ide1 > "$dir/inactive.xml"
check "dumpxml: hda at drive address 0:0:0:0" \
    grep -q "<address type='drive' controller='0' bus='0' target='0' unit='0'/>" "$dir/inactive.xml"
check "dumpxml: hdc at drive address 0:1:0:0" \
    grep -q "<address type='drive' controller='0' bus='1' target='0' unit='0'/>" "$dir/inactive.xml"
check "dumpxml: the IDE controller libvirt adds" grep -Eq "<controller type=.ide. index=.0." "$dir/inactive.xml"
validate_domxml "dumpxml of the IDE domain" "$dir/inactive.xml"
check "virsh start ide1" v start ide1
check "the guest retries the empty cdrom (cdrom_waiting=1)" wait_console ide1 "HVTEST cdrom_waiting=1" 300
check "guest wrote and read back the pattern on sda (blk_write=ok)" test "$(result blk_write)" = ok
check "virsh change-media --insert --live puts the ISO in hdc" \
    v change-media ide1 hdc "$dir/cd.iso" --insert --live
check "the guest mounted the inserted ISO" wait_console ide1 "HVTEST cdrom_mount=ok" 120
check "the guest printed the ISO's file" \
    test "$(result cdrom_file)" = "hello from an IDE cdrom through hvd $$"
v dumpxml ide1 > "$dir/live.xml"
check "live XML: hdc's source is the ISO" grep -q "<source file='$dir/cd.iso'" "$dir/live.xml"
check "live XML: the disks' aliases ide0-0-0 and ide0-1-0" \
    eval "grep -q \"<alias name='ide0-0-0'/>\" '$dir/live.xml' && grep -q \"<alias name='ide0-1-0'/>\" '$dir/live.xml'"
validate_domxml "live dumpxml of the IDE domain" "$dir/live.xml"
check "virsh domblkstat ide1 hda answers" v domblkstat ide1 hda
# The guest keeps the ISO mounted (its driver locks the tray): only a forced
# eject takes the medium out now.
out=$(v change-media ide1 hdc --eject --live 2>&1)
rc=$?
check "virsh change-media --eject of the locked tray is refused, naming the command" \
    eval '[ "$rc" -ne 0 ] && grep -q "eject" <<< "$out"'
echo "$out" | sed 's/^/# /'
check "virsh change-media --eject --live --force empties hdc" v change-media ide1 hdc --eject --live --force
v dumpxml ide1 > "$dir/ejected.xml"
check "ide1 still running after the eject" test "$(v domstate ide1 | head -n 1)" = running
cdrom_xml() { awk "/device='cdrom'/,/<\/disk>/" "$1"; }
check "live XML after the eject: hdc has no source" eval '! cdrom_xml "$dir/ejected.xml" | grep -q "<source"'
check "live XML after the eject: hdc is still there" eval 'cdrom_xml "$dir/ejected.xml" | grep -q "dev=.hdc."'
check "the guest powered off: ide1 shut off" wait_state ide1 "shut off" 120
want=$(result blk_pattern_md5)
got=$(dd if="$disk" bs=512 skip=$((blk_offset / 512)) count=8 2> /dev/null | md5sum | cut -d' ' -f1)
check "the pattern is in the IDE disk's image at offset $blk_offset" test -n "$want" -a "$got" = "$want"
check "virsh undefine ide1" v undefine ide1
[ -s "$state/log/ide1.log" ] && tail -n 15 "$state/log/ide1.log" | sed 's/^/# ide1.log: /'
exit 0
