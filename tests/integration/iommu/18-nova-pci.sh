#!/usr/bin/env bash
# Scenario: the nova-style driver's PCI path where the host has an IOMMU
# (run by tests/integration/vfio-suite.sh in the IOMMU testbed, after
# 17-vfio). The whitelist picks the testbed's e1000e (8086:10d3) among the
# node devices; the instance is spawned with it as a managed <hostdev> in
# the domain XML, as nova does with a flavor's PCI devices; the guest's
# e1000e driver binds it; after destroy and undefine the device is back on
# the host's e1000e driver. The rest of the cycle is 18-nova's (checked
# there). Unnumbered TAP for tests/integration/suite.sh.
set -uo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
hvd=$top_builddir/daemon/hvd
hv=${HVD_HV:-$top_builddir/hv/hv}
py=/usr/bin/python3 # Debian's interpreter: python3-libvirt, python3-nova
novadrv=$top_srcdir/tools/nova/novadrv.py
kit=${HVD_GUEST_KIT:?HVD_GUEST_KIT must name a built guest kit}

# shellcheck source=tests/integration/lib.sh
. "$top_srcdir/tests/integration/lib.sh"

if [ -z "$(ls /sys/kernel/iommu_groups 2> /dev/null)" ]; then
    nok "no IOMMU here: run this through tests/integration/vfio-suite.sh"
    exit 1
fi
use_kit_modules
modprobe e1000e 2> /dev/null
modprobe vfio-pci 2> /dev/null
e1000e=$(pci_find 0x8086 0x10d3)
if [ -z "$e1000e" ]; then
    nok "an e1000e (8086:10d3) in this testbed (tests/testbed/run --iommu adds one)"
    exit 1
fi
drv_of() { local l=/sys/bus/pci/devices/$e1000e/driver; if [ -e "$l" ]; then basename "$(readlink "$l")"; else echo none; fi; }
check "the e1000e $e1000e starts on the host's e1000e driver ($(drv_of))" test "$(drv_of)" = e1000e

dir=$(mktemp -d /tmp/hvd-nova-pci.XXXXXX)
sock=$dir/sock
state=$dir/state
bridge=brqhvdnovapci
uri="qemu+unix:///system?socket=$sock"
json=$dir/cycle.json
hvd_pid=
cleanup() {
    [ -n "$hvd_pid" ] && kill "$hvd_pid" 2> /dev/null && wait "$hvd_pid" 2> /dev/null
    ip link del "$bridge" 2> /dev/null
    if [ -n "${KEEP_LOGS:-}" ]; then echo "# logs kept in $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT

start_hvd
check "hvd is listening" test -S "$sock"

# info first: it lists the guest's PCI functions and their drivers.
cmdline="console=ttyS0 quiet panic=-1 hvtest=info,net,balloon hvtest.net_ip=10.77.28.2/24"
cmdline="$cmdline hvtest.net_peer=10.77.28.1 hvtest.balloon_watch=900"
timeout 1200 "$py" "$novadrv" --uri "$uri" --json "$json" cycle \
    --kernel "$kit/vmlinuz" --initrd "$kit/initrd.img" --cmdline "$cmdline" \
    --memory-mib 512 --vcpus 1 --bridge "$bridge" --bridge-cidr 10.77.28.1/24 \
    --guest-ip 10.77.28.2/24 --mem-stats-period 2 --balloon-mib 256 \
    --whitelist '[{"vendor_id": "8086", "product_id": "10d3"}]' --instances-path "$dir" \
    --boot-timeout 300 --traffic-timeout 400 --balloon-timeout 240 > "$dir/cycle.out" 2>&1
rc=$?
sed 's/^/#   /' "$dir/cycle.out"
check "novadrv cycle: every step ok (rc $rc)" test "$rc" -eq 0
if [ ! -s "$json" ]; then
    nok "novadrv wrote its JSON report"
    exit 0
fi
check "pci.select: the whitelist chose the e1000e ($(q "d('pci.select')['candidates']"))" \
    test "$(q "d('pci.select')['candidates']")" = "['$e1000e']"
check "pci.attach: ok ($(q "s('pci.attach')['detail']"))" test "$(q "s('pci.attach')['status']")" = ok
check "nova's XML carries a managed <hostdev> for it" \
    test "$(q "'<hostdev' in d('guest_xml')['xml'] and 'managed=\"yes\"' in d('guest_xml')['xml']")" = True
name=$(q "d('defineXML')['name']")
console=$state/log/$name.console.log
grep -a "HVTEST pci=" "$console" | sed 's/^/# guest: /'
check "the guest's e1000e driver bound 8086:10d3" grep -aq "HVTEST pci=.* 8086:10d3 .*driver=e1000e" "$console"
check "destroy and undefine: ok" test "$(q "s('destroy')['status'], s('undefine')['status']")" = "('ok', 'ok')"
check "the e1000e is back on the host's e1000e driver ($(drv_of))" test "$(drv_of)" = e1000e
exit 0
