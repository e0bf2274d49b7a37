#!/usr/bin/env bash
# Scenario: VFIO PCI passthrough (hv/vfio, docs/vfio.md). Needs an IOMMU:
# tests/integration/vfio-suite.sh boots `tests/testbed/run --iommu` (q35 +
# intel-iommu + e1000e + SR-IOV NVMe) and runs this there.
#
#  A. hv alone: bind the e1000e to vfio-pci through sysfs, boot the guest
#     kit under hv with --hostdev, and check that the guest's e1000e driver
#     binds 8086:10d3 and gets its interrupts; then give the device back to
#     e1000e.
#  B. through hvd: a domain with <hostdev mode='subsystem' type='pci'
#     managed='yes'> starts, the device is on vfio-pci while it runs, the
#     guest's e1000e driver binds it, and after destroy it is back on e1000e.
#  Both: hv maps the BARs' directly reachable pages into the guest (KVM
#     memory slots) and logs them; the MSI-X table and PBA pages stay
#     trapped (the e1000e's BAR3).
#  C. SR-IOV node devices: 2 VFs enabled on the NVMe PF (sriov_numvfs);
#     nodedev-list shows both, each VF's XML has phys_function naming the
#     PF, the PF's virt_functions lists both; every XML validates with
#     virt-xml-validate (libvirt's nodedev.rng); an <interface type='hostdev'>
#     on a VF is kept in the XML and its start refused with the reason (the
#     NVMe PF has no netdev to set the VF's MAC through), the VF given
#     back to the host; VFs disabled again.
#  D. the NVMe PF under hv: its BAR holding the MSI-X table is split into
#     mmapped and trapped ranges; the guest's nvme driver binds it.
# Run by tests/integration/suite.sh (unnumbered TAP).
set -uo pipefail

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../lib.sh"

if [ -z "$(ls /sys/kernel/iommu_groups 2> /dev/null)" ]; then
    echo "not ok - no IOMMU here: run this through tests/integration/vfio-suite.sh"
    exit 1
fi

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../../.." && pwd)}
hv=${HVD_HV:-$top_builddir/hv/hv}
hvd=$top_builddir/daemon/hvd
kit=${HVD_GUEST_KIT:?HVD_GUEST_KIT must name a built guest kit}
[ -x "$hv" ] || { nok "hv binary present at $hv"; exit 1; }

use_kit_modules
modprobe e1000e 2> /dev/null
modprobe vfio-pci 2> /dev/null
check "vfio-pci driver available" test -d /sys/bus/pci/drivers/vfio-pci

e1000e=$(pci_find 0x8086 0x10d3)
if [ -z "$e1000e" ]; then
    nok "an e1000e (8086:10d3) in this testbed (tests/testbed/run --iommu adds one)"
    exit 1
fi
sysdev=/sys/bus/pci/devices/$e1000e
drv_of() { if [ -e "$sysdev/driver" ]; then basename "$(readlink "$sysdev/driver")"; else echo none; fi; }
group=$(basename "$(readlink "$sysdev/iommu_group")")
echo "# e1000e at $e1000e, IOMMU group $group, driver $(drv_of)"

tmp=$(mktemp -d /tmp/hvd-vfio.XXXXXX)
hvd_pid=""
cleanup() {
    [ -n "$hvd_pid" ] && kill "$hvd_pid" 2> /dev/null && wait "$hvd_pid" 2> /dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

to_driver() { # to_driver DRIVER: sysfs rebind through driver_override
    [ "$(drv_of)" = "$1" ] && return 0
    [ -e "$sysdev/driver" ] && echo "$e1000e" > "$sysdev/driver/unbind"
    if [ "$1" = e1000e ]; then echo > "$sysdev/driver_override"; else echo "$1" > "$sysdev/driver_override"; fi
    echo "$e1000e" > /sys/bus/pci/drivers_probe
    [ "$(drv_of)" = "$1" ]
}

console_says() { grep -q "$2" "$tmp/$1.log"; }
show() { # show NAME: the interesting lines of a run as diagnostics
    sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/[^[:print:]]//g' "$tmp/$1.log" | grep -v '^ *$' |
        grep -E 'HVTEST|e1000e|vfio|hv:|error|Error' | tail -n 30 | sed "s/^/# $1: /"
    [ -f "$tmp/$1.err" ] && tail -n 20 "$tmp/$1.err" | sed "s/^/# $1 hv: /"
}

# ---- A. hv with --hostdev
check "bind $e1000e to vfio-pci (sysfs)" to_driver vfio-pci
check "/dev/vfio/$group exists" test -e "/dev/vfio/$group"
# The host's view of the device's interrupts (vfio-intx / vfio-msi /
# vfio-msix lines in /proc/interrupts), sampled while the guest runs.
watch_irqs() {
    while :; do
        awk -v dev="$e1000e" '$0 ~ "vfio" && $0 ~ dev { n += $2 } END { print n + 0 }' /proc/interrupts
        sleep 0.5
    done > "$tmp/$1.irqs"
}
watch_irqs a &
watcher=$!
timeout "${HVD_BOOT_TIMEOUT:-400}" "$hv" --kernel "$kit/vmlinuz" --initrd "$kit/initrd.img" \
    --memory 256M --cpus 1 --serial stdio --hostdev "host=$e1000e,id=hostdev0" --balloon on \
    --append "console=ttyS0 quiet panic=-1 hvtest=info,net hvtest.net_ip=10.79.0.2/24 hvtest.net_peer=10.79.0.1" \
    < /dev/null > "$tmp/a.log" 2> "$tmp/a.err"
rc=$?
kill "$watcher" 2> /dev/null
wait "$watcher" 2> /dev/null
irqs=$(sort -n "$tmp/a.irqs" | tail -n 1)
show a
check "guest booted under hv with the device assigned (HVTEST READY)" console_says a 'HVTEST READY'
check "guest sees 8086:10d3 bound to its e1000e driver" console_says a '^HVTEST pci=.* 8086:10d3 class=020000 driver=e1000e'
check "guest's e1000e came up (net_driver=e1000e, net_link=up)" console_says a '^HVTEST net_link=up'
check "device interrupts reached the host through VFIO ($irqs)" test "${irqs:-0}" -gt 0
check "hv logged the assignment (group $group)" grep -q "host $e1000e (8086:10d3) at 00:.*group $group" "$tmp/a.err"
check "guest powered off and hv exited by itself (status $rc)" test "$rc" = 0
check "balloon discard inhibited while assigned" grep -q "not returned to the host (VFIO" "$tmp/a.err"
# QEMU's e1000e: BAR0 128 KiB registers (no MSI-X table), BAR3 16 KiB with
# the MSI-X table at 0 and the PBA at 0x2000.
grep -E "hostdev0: BAR[0-9]" "$tmp/a.err" | sed 's/^/# a hv: /'
check "hv mmapped all of BAR0 (128 KiB)" grep -q "hostdev0: BAR0 (0x20000 bytes): mmapped 0x0-0x20000$" "$tmp/a.err"
check "hv mmapped BAR3 around the MSI-X table and PBA pages" \
    grep -q "hostdev0: BAR3 (0x4000 bytes): mmapped 0x1000-0x2000, 0x3000-0x4000; the rest trapped (MSI-X table/PBA emulated)" "$tmp/a.err"
check "no memory slot was refused" test "$(grep -c 'no memory slot' "$tmp/a.err")" = 0
# The e1000e driver touches only BAR0 (mmapped whole) and the MSI-X
# table (emulated): next to nothing should be forwarded by hand.
trapped=$(sed -n 's/.*hostdev0: \([0-9]*\) BAR accesses trapped.*/\1/p' "$tmp/a.err")
check "guest's register accesses went to the mapping (trapped and forwarded: ${trapped:-?})" \
    test "${trapped:-999999}" -lt 100
check "give $e1000e back to e1000e" to_driver e1000e

# ---- B. hvd: <hostdev managed='yes'>
if [ ! -x "$hvd" ]; then
    nok "hvd binary present at $hvd"
    exit 1
fi
sock=$tmp/sock
"$hvd" --state-dir "$tmp/state" --socket "$sock" > "$tmp/hvd.log" 2>&1 &
hvd_pid=$!
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
check "hvd listens" test -S "$sock"
uri="qemu+unix:///system?socket=$sock"
v() { timeout 120 virsh -c "$uri" "$@"; }
IFS=':.' read -r dom bus slot fn <<< "$e1000e"
cat > "$tmp/dom.xml" <<EOF
<domain type='kvm'>
  <name>vfio1</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>$kit/vmlinuz</kernel>
    <initrd>$kit/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 hvtest=info,wait hvtest.wait=600</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <memballoon model='virtio'/>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source><address domain='0x$dom' bus='0x$bus' slot='0x$slot' function='0x$fn'/></source>
    </hostdev>
  </devices>
</domain>
EOF
out=$(v create "$tmp/dom.xml" 2>&1)
check "virsh create with a managed hostdev ($out)" grep -q "created" <<< "$out"
check "device on vfio-pci while the domain runs (driver $(drv_of))" test "$(drv_of)" = vfio-pci
# The guest's console is teed to the state directory's log.
ln -sf "$tmp/state/log/vfio1.console.log" "$tmp/b.log"
for _ in $(seq 1200); do grep -q '^HVTEST scenario.info' "$tmp/b.log" 2> /dev/null && break; sleep 0.5; done
cp "$tmp/state/log/vfio1.log" "$tmp/b.err" 2> /dev/null || touch "$tmp/b.err"
show b
check "guest under hvd sees 8086:10d3 bound to e1000e" console_says b '^HVTEST pci=.* 8086:10d3 class=020000 driver=e1000e'
check "hv under hvd mmapped BAR0" grep -q "hostdev0: BAR0 (0x20000 bytes): mmapped 0x0-0x20000$" "$tmp/b.err"
out=$(v dumpxml vfio1 2>&1)
check "live XML keeps the hostdev" grep -q "<hostdev mode='subsystem' type='pci' managed='yes'>" <<< "$out"
out=$(v nodedev-detach "pci_$(tr ':.' '__' <<< "$e1000e")" 2>&1)
check "nodedev-detach refused while the domain uses it" grep -q "in use by domain 'vfio1'" <<< "$out"
out=$(v destroy vfio1 2>&1)
check "virsh destroy ($out)" grep -q "destroyed" <<< "$out"
for _ in $(seq 50); do [ "$(drv_of)" = e1000e ] && break; sleep 0.2; done
check "device back on e1000e after destroy (driver $(drv_of))" test "$(drv_of)" = e1000e
grep -i "hostdev\|vfio\|nodedev" "$tmp/hvd.log" | tail -n 10 | sed 's/^/# hvd: /'
# The same by hand with hvsh (issue 9's nodedev commands): detach to
# vfio-pci, then back to the driver it came from.
hvsh=$top_builddir/tools/hvsh/hvsh
out=$(timeout 120 "$hvsh" -c "$uri" nodedev-detach "pci_$(tr ':.' '__' <<< "$e1000e")" 2>&1)
check "hvsh nodedev-detach: on vfio-pci ($out)" test "$(drv_of)" = vfio-pci
out=$(timeout 120 "$hvsh" -c "$uri" nodedev-reattach "pci_$(tr ':.' '__' <<< "$e1000e")" 2>&1)
check "hvsh nodedev-reattach: back on e1000e ($out)" test "$(drv_of)" = e1000e

# ---- C. SR-IOV: the NVMe PF's VFs as node devices
name_of() { echo "pci_$(tr ':.' '__' <<< "$1")"; }
xml_addr() { # DDDD:BB:SS.F -> libvirt's <address .../> line
    IFS=':.' read -r a_dom a_bus a_slot a_fn <<< "$1"
    echo "<address domain='0x$a_dom' bus='0x$a_bus' slot='0x$a_slot' function='0x$a_fn'/>"
}
vf_list() { # FILE: the lines inside the PF's virt_functions capability
    awk '/virt_functions/ { on = !/\/>/; next } on && /<\/capability>/ { on = 0 } on' "$1"
}
validate_nodedev() { # DESCRIPTION FILE
    local out
    if out=$(virt-xml-validate "$2" nodedev 2>&1); then ok "$1"; else nok "$1"; echo "$out" | tail -n 5 | sed 's/^/# /'; fi
}
modprobe nvme 2> /dev/null
pf=""
for d in /sys/bus/pci/devices/*; do
    [ -e "$d/sriov_totalvfs" ] && [ "$(cat "$d/sriov_totalvfs")" -ge 2 ] && pf=$(basename "$d")
done
if [ -z "$pf" ]; then
    nok "an SR-IOV PF with 2 VFs (tests/testbed/run --iommu adds an NVMe with sriov_max_vfs=2)"
    exit 0
fi
pfdev=/sys/bus/pci/devices/$pf
echo "# SR-IOV PF $pf ($(cat "$pfdev/vendor"):$(cat "$pfdev/device")), driver $(basename "$(readlink "$pfdev/driver" 2> /dev/null)" 2> /dev/null), sriov_totalvfs $(cat "$pfdev/sriov_totalvfs")"
v nodedev-dumpxml "$(name_of "$pf")" > "$tmp/pf0.xml" 2>&1
check "PF before: virt_functions maxCount='2', no VF listed" \
    test "$(grep -c "<capability type='virt_functions' maxCount='2'/\?>" "$tmp/pf0.xml")" = 1 -a \
    "$(vf_list "$tmp/pf0.xml" | grep -c '<address')" = 0
echo 0 > "$pfdev/sriov_numvfs" 2> /dev/null
if ! err=$(echo 2 2>&1 > "$pfdev/sriov_numvfs") || [ "$(cat "$pfdev/sriov_numvfs")" != 2 ]; then
    ok "# SKIP SR-IOV node devices: the PF refused 2 VFs (${err:-sriov_numvfs stayed $(cat "$pfdev/sriov_numvfs")})"
    exit 0
fi
for _ in $(seq 50); do [ -e "$pfdev/virtfn1" ] && break; sleep 0.2; done
vf0=$(basename "$(readlink "$pfdev/virtfn0")")
vf1=$(basename "$(readlink "$pfdev/virtfn1")")
echo "# VFs: $vf0 $vf1"
out=$(v nodedev-list --cap pci 2>&1)
check "nodedev-list --cap pci shows VF $vf0" grep -qx "$(name_of "$vf0")" <<< "$out"
check "nodedev-list --cap pci shows VF $vf1" grep -qx "$(name_of "$vf1")" <<< "$out"
v nodedev-dumpxml "$(name_of "$pf")" > "$tmp/pf.xml" 2>&1
vf_list "$tmp/pf.xml" > "$tmp/pf-vfs.txt"
check "PF: virt_functions maxCount='2'" grep -q "<capability type='virt_functions' maxCount='2'>" "$tmp/pf.xml"
check "PF: virt_functions lists $vf0" grep -qF "$(xml_addr "$vf0")" "$tmp/pf-vfs.txt"
check "PF: virt_functions lists $vf1" grep -qF "$(xml_addr "$vf1")" "$tmp/pf-vfs.txt"
check "PF: exactly two VF addresses" test "$(grep -c '<address' "$tmp/pf-vfs.txt")" = 2
validate_nodedev "PF XML validates (virt-xml-validate nodedev)" "$tmp/pf.xml"
n=0
for vf in "$vf0" "$vf1"; do
    v nodedev-dumpxml "$(name_of "$vf")" > "$tmp/vf$n.xml" 2>&1
    sed -n "/phys_function/,/<\/capability>/p" "$tmp/vf$n.xml" > "$tmp/vf$n-pf.txt"
    check "VF $vf: <capability type='phys_function'>" grep -q "<capability type='phys_function'>" "$tmp/vf$n.xml"
    check "VF $vf: phys_function names the PF $pf" grep -qF "$(xml_addr "$pf")" "$tmp/vf$n-pf.txt"
    check "VF $vf: no virt_functions of its own" test "$(grep -c virt_functions "$tmp/vf$n.xml")" = 0
    validate_nodedev "VF $vf XML validates (virt-xml-validate nodedev)" "$tmp/vf$n.xml"
    n=$((n + 1))
done
[ -s "$tmp/vf0.xml" ] && sed 's/^/# vf0: /' "$tmp/vf0.xml" | head -n 40

# <interface type='hostdev'> on a VF: kept in the XML; at start the VF's
# MAC/VLAN go through the PF's netdev. The NVMe PF has none (this testbed
# has no SR-IOV NIC), so the start must be refused with that reason and
# the managed VF must not stay on vfio-pci (all or nothing).
vf_drv() { if [ -e "/sys/bus/pci/devices/$1/driver" ]; then basename "$(readlink "/sys/bus/pci/devices/$1/driver")"; else echo none; fi; }
IFS=':.' read -r d b s f <<< "$vf0"
cat > "$tmp/vfnet.xml" <<EOF
<domain type='kvm'>
  <name>vfnet1</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>$kit/vmlinuz</kernel>
  </os>
  <devices>
    <interface type='hostdev' managed='yes'>
      <mac address='52:54:00:6b:00:01'/>
      <source><address type='pci' domain='0x$d' bus='0x$b' slot='0x$s' function='0x$f'/></source>
      <vlan><tag id='42'/></vlan>
    </interface>
  </devices>
</domain>
EOF
drv_before=$(vf_drv "$vf0")
out=$(v define "$tmp/vfnet.xml" 2>&1)
check "define a domain with <interface type='hostdev'> ($out)" grep -q "defined" <<< "$out"
v dumpxml vfnet1 > "$tmp/vfnet-dump.xml" 2>&1
check "XML keeps <interface type='hostdev' managed='yes'>" grep -q "<interface type='hostdev' managed='yes'>" "$tmp/vfnet-dump.xml"
check "XML keeps the MAC and the VLAN tag" grep -q "<tag id='42'/>" "$tmp/vfnet-dump.xml"
check "XML keeps the VF's source address" grep -qF "function='0x$f'" "$tmp/vfnet-dump.xml"
if out=$(virt-xml-validate "$tmp/vfnet-dump.xml" domain 2>&1); then
    ok "interface hostdev XML validates (domain.rng)"
else
    nok "interface hostdev XML validates (domain.rng)"
    echo "$out" | tail -n 3 | sed 's/^/# /'
fi
out=$(v start vfnet1 2>&1)
echo "# start: $out"
check "start refused: the VF's PF has no network device to set the MAC through" grep -q "has no network device" <<< "$out"
# The rollback reattaches the managed VF (driver_override cleared, reprobe):
# a host driver may take it now even if none had it before; vfio-pci must not.
drv_after=$(vf_drv "$vf0")
check "VF $vf0 given back after the refused start (driver before: $drv_before, after: $drv_after)" \
    test "$drv_after" != vfio-pci -a -z "$(cat "/sys/bus/pci/devices/$vf0/driver_override" 2> /dev/null | grep -v '(null)')"
check "VF not recorded as in use" test ! -e "$tmp/state/nodedev/$vf0.owner"
check "domain not running" test "$(v domstate vfnet1 2>&1 | head -n 1)" = "shut off"
v undefine vfnet1 > /dev/null 2>&1
echo 0 > "$pfdev/sriov_numvfs" 2> /dev/null
for _ in $(seq 50); do [ -e "$pfdev/virtfn0" ] || break; sleep 0.2; done
out=$(v nodedev-list --cap pci 2>&1)
check "VFs gone from nodedev-list after sriov_numvfs=0" test "$(grep -cx "$(name_of "$vf0")\|$(name_of "$vf1")" <<< "$out")" = 0

# ---- D. the NVMe PF under hv: a device whose MSI-X table sits in a
# memory BAR next to registers (QEMU's NVMe), so that BAR is split into
# mmapped and trapped ranges.
pf_drv() { vf_drv "$pf"; }
pf_to() { # pf_to DRIVER
    [ "$(pf_drv)" = "$1" ] && return 0
    [ -e "$pfdev/driver" ] && echo "$pf" > "$pfdev/driver/unbind"
    if [ "$1" = vfio-pci ]; then echo vfio-pci > "$pfdev/driver_override"; else echo > "$pfdev/driver_override"; fi
    echo "$pf" > /sys/bus/pci/drivers_probe
    [ "$(pf_drv)" = "$1" ]
}
pf_was=$(pf_drv)
check "bind the NVMe PF $pf to vfio-pci" pf_to vfio-pci
timeout "${HVD_BOOT_TIMEOUT:-400}" "$hv" --kernel "$kit/vmlinuz" --initrd "$kit/initrd.img" \
    --memory 256M --cpus 1 --serial stdio --hostdev "host=$pf,id=hostdev0" \
    --append "console=ttyS0 quiet panic=-1 hvtest=info" < /dev/null > "$tmp/d.log" 2> "$tmp/d.err"
rc=$?
grep -E "hostdev0: " "$tmp/d.err" | sed 's/^/# d hv: /'
grep -a "HVTEST pci=.*1b36:0010\|HVTEST blockdevs" "$tmp/d.log" | sed 's/^/# d: /'
check "guest under hv sees the NVMe (1b36:0010) bound to its nvme driver" console_says d '^HVTEST pci=.* 1b36:0010 class=010802 driver=nvme'
check "hv logged the NVMe's BAR with the MSI-X table split into mmapped and trapped ranges" \
    grep -q "hostdev0: BAR[0-9] (0x[0-9a-f]* bytes): mmapped .*; the rest trapped (MSI-X table/PBA emulated)" "$tmp/d.err"
check "no memory slot was refused (NVMe)" test "$(grep -c 'no memory slot' "$tmp/d.err")" = 0
check "guest powered off and hv exited by itself (status $rc)" test "$rc" = 0
check "give the NVMe PF back to ${pf_was}" pf_to "$pf_was"
exit 0
