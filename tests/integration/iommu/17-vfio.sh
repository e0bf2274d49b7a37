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
# Run by tests/integration/suite.sh (unnumbered TAP).
set -uo pipefail

ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; }
check() { # check "description" command...
    local what=$1; shift
    if "$@" > /dev/null 2>&1; then ok "$what"; else nok "$what"; fi
}

if [ -z "$(ls /sys/kernel/iommu_groups 2> /dev/null)" ]; then
    echo "not ok - no IOMMU here: run this through tests/integration/vfio-suite.sh"
    exit 1
fi

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../../.." && pwd)}
hv=${HVD_HV:-$top_builddir/hv/hv}
hvd=$top_builddir/daemon/hvd
kit=${HVD_GUEST_KIT:?HVD_GUEST_KIT must name a built guest kit}
[ -x "$hv" ] || { nok "hv binary present at $hv"; exit 1; }

# The testbed has no /lib/modules of its own: the kit's (DESIGN.md).
if [ -d "$kit/modules" ] && [ ! -d "/lib/modules/$(uname -r)" ]; then
    mkdir -p "/lib/modules/$(uname -r)" && mount --bind "$kit/modules" "/lib/modules/$(uname -r)"
fi
modprobe e1000e 2> /dev/null
modprobe vfio-pci 2> /dev/null
check "vfio-pci driver available" test -d /sys/bus/pci/drivers/vfio-pci

e1000e=""
for d in /sys/bus/pci/devices/*; do
    if [ "$(cat "$d/vendor")" = 0x8086 ] && [ "$(cat "$d/device")" = 0x10d3 ]; then e1000e=$(basename "$d"); fi
done
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
out=$(v dumpxml vfio1 2>&1)
check "live XML keeps the hostdev" grep -q "<hostdev mode='subsystem' type='pci' managed='yes'>" <<< "$out"
out=$(v nodedev-detach "pci_$(tr ':.' '__' <<< "$e1000e")" 2>&1)
check "nodedev-detach refused while the domain uses it" grep -q "in use by domain 'vfio1'" <<< "$out"
out=$(v destroy vfio1 2>&1)
check "virsh destroy ($out)" grep -q "destroyed" <<< "$out"
for _ in $(seq 50); do [ "$(drv_of)" = e1000e ] && break; sleep 0.2; done
check "device back on e1000e after destroy (driver $(drv_of))" test "$(drv_of)" = e1000e
grep -i "hostdev\|vfio\|nodedev" "$tmp/hvd.log" | tail -n 10 | sed 's/^/# hvd: /'
exit 0
