#!/usr/bin/env bash
# Scenario: the node-device driver on a real (emulated) PCI bus, driven by
# stock virsh. Everywhere: nodedev-list --cap pci, nodedev-dumpxml of the
# host bridge and of a virtio device (validated against libvirt's
# nodedev.rng), python's legacy listDevices. Without an IOMMU: detach fails
# with the clear "no IOMMU found" error. In the IOMMU testbed
# (tests/testbed/run --iommu -- bash tests/integration/13-nodedev.sh):
# detach an e1000e to vfio-pci, reset it, reattach it to e1000e, and show an
# SR-IOV NVMe PF with its VFs. Needs root for the IOMMU part.
set -uo pipefail

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
hvd=$top_builddir/daemon/hvd
py=/usr/bin/python3 # Debian's interpreter, which has python3-libvirt
rng=/usr/share/libvirt/schemas/nodedev.rng

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

if [ ! -x "$hvd" ]; then
    nok "hvd binary not found at $hvd (build first)"
    exit 1
fi
command -v virsh > /dev/null || { nok "virsh not installed (apt-get install libvirt-clients)"; exit 1; }

dir=$(mktemp -d /tmp/hvd-nodedev.XXXXXX)
sock=$dir/sock
"$hvd" --state-dir "$dir/state" --socket "$sock" > "$dir/hvd.log" 2>&1 &
hvd_pid=$!
cleanup() {
    kill "$hvd_pid" 2> /dev/null
    wait "$hvd_pid" 2> /dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
check "hvd listens" test -S "$sock"

uri="qemu+unix:///system?socket=$sock"
v() { timeout 60 virsh -c "$uri" "$@"; }
name_of() { echo "pci_$(echo "$1" | tr ':.' '__')"; } # 0000:00:03.0 -> pci_0000_00_03_0

list=$(v nodedev-list --cap pci 2>&1)
want=$(ls /sys/bus/pci/devices | wc -l)
check "nodedev-list --cap pci lists every PCI function ($want)" test "$(grep -c '^pci_' <<< "$list")" = "$want"
check "nodedev-list --cap pci has the host bridge" grep -qx pci_0000_00_00_0 <<< "$list"
all=$(v nodedev-list 2>&1)
check "nodedev-list (ACTIVE flag) has computer" grep -qx computer <<< "$all"

v nodedev-dumpxml pci_0000_00_00_0 > "$dir/bridge.xml" 2>&1
check "nodedev-dumpxml host bridge: parent computer" grep -q "<parent>computer</parent>" "$dir/bridge.xml"
check "host bridge XML validates against nodedev.rng" xmllint --noout --relaxng "$rng" "$dir/bridge.xml"

virtio=""
for d in /sys/bus/pci/devices/*; do
    if [ "$(cat "$d/vendor")" = 0x1af4 ] && [ -e "$d/driver" ]; then virtio=$(basename "$d"); break; fi
done
if [ -n "$virtio" ]; then
    v nodedev-dumpxml "$(name_of "$virtio")" > "$dir/virtio.xml" 2>&1
    check "dumpxml $virtio: driver virtio-pci" grep -q "<name>virtio-pci</name>" "$dir/virtio.xml"
    check "dumpxml $virtio: vendor 0x1af4" grep -q "<vendor id='0x1af4'" "$dir/virtio.xml"
    check "virtio device XML validates against nodedev.rng" xmllint --noout --relaxng "$rng" "$dir/virtio.xml"
else
    nok "no bound virtio PCI device found"
fi
out=$($py -c "
import libvirt
c = libvirt.open('$uri')
print(c.numOfDevices('pci', 0), len(c.listDevices('pci', 0)))
" 2>&1)
check "python numOfDevices/listDevices('pci') = $want" test "$out" = "$want $want"
out=$(v nodedev-dumpxml nosuchdev 2>&1)
check "dumpxml of an unknown device: libvirt's error" \
    grep -q "Node device not found: no node device with matching name 'nosuchdev'" <<< "$out"

if [ -z "$(ls /sys/kernel/iommu_groups 2> /dev/null)" ]; then
    out=$(v nodedev-detach "$(name_of "${virtio:-0000:00:00.0}")" 2>&1)
    check "no IOMMU: detach refused with a clear error" grep -q "no IOMMU found: enable VT-d/AMD-Vi" <<< "$out"
    echo "# no IOMMU here; run tests/testbed/run --iommu -- bash $0 for the assignment part"
    exit 0
fi

# ---- IOMMU testbed: kernel modules from the guest kit (DESIGN.md)
use_kit_modules
modprobe e1000e 2> /dev/null
modprobe nvme 2> /dev/null

e1000e=$(pci_find 0x8086 0x10d3)
if [ -z "$e1000e" ]; then
    nok "no e1000e in this testbed (tests/testbed/run --iommu adds one)"
    exit 1
fi
dev=$(name_of "$e1000e")
drv_of() { basename "$(readlink "/sys/bus/pci/devices/$1/driver" 2> /dev/null)" 2> /dev/null; }
check "e1000e $e1000e bound to e1000e before detach" test "$(drv_of "$e1000e")" = e1000e
v nodedev-dumpxml "$dev" > "$dir/e1000e.xml" 2>&1
check "e1000e XML has its IOMMU group" grep -q "<iommuGroup number=" "$dir/e1000e.xml"
check "e1000e XML validates" xmllint --noout --relaxng "$rng" "$dir/e1000e.xml"
out=$(v nodedev-detach "$dev" 2>&1)
check "nodedev-detach $dev ($out)" test "$(drv_of "$e1000e")" = vfio-pci
group=$(basename "$(readlink "/sys/bus/pci/devices/$e1000e/iommu_group")")
check "/dev/vfio/$group exists" test -e "/dev/vfio/$group"
check "original driver recorded in the state dir" grep -qx e1000e "$dir/state/nodedev/$e1000e.driver"
out=$(v nodedev-dumpxml "$dev" 2>&1)
check "dumpxml shows vfio-pci" grep -q "<name>vfio-pci</name>" <<< "$out"
out=$(v nodedev-reset "$dev" 2>&1)
rc=$?
check "nodedev-reset $dev ($out)" test "$rc" = 0
out=$(v nodedev-dettach "$dev" 2>&1)
check "nodedev-dettach (old spelling) of a detached device: no-op" grep -qi "detached" <<< "$out"
out=$(v nodedev-reattach "$dev" 2>&1)
check "nodedev-reattach $dev ($out)" test "$(drv_of "$e1000e")" = e1000e
check "record removed after reattach" test ! -e "$dir/state/nodedev/$e1000e.driver"

# ---- SR-IOV NVMe: enable both VFs and look at PF and VF XML
pf=""
for d in /sys/bus/pci/devices/*; do
    [ -e "$d/sriov_totalvfs" ] && [ "$(cat "$d/sriov_totalvfs")" -gt 0 ] && pf=$(basename "$d")
done
if [ -z "$pf" ]; then
    nok "no SR-IOV capable device (the --iommu testbed has an NVMe with 2 VFs)"
    exit 1
fi
echo 2 > "/sys/bus/pci/devices/$pf/sriov_numvfs" 2> /dev/null
sleep 1
v nodedev-dumpxml "$(name_of "$pf")" > "$dir/pf.xml" 2>&1
check "PF XML: virt_functions maxCount=2 with 2 addresses" \
    test "$(grep -c "<capability type='virt_functions' maxCount='2'>" "$dir/pf.xml")" = 1 -a \
    "$(sed -n "/virt_functions/,/<\/capability>/p" "$dir/pf.xml" | grep -c '<address')" = 2
check "PF XML validates" xmllint --noout --relaxng "$rng" "$dir/pf.xml"
vf=$(basename "$(readlink "/sys/bus/pci/devices/$pf/virtfn0")")
v nodedev-dumpxml "$(name_of "$vf")" > "$dir/vf.xml" 2>&1
check "VF $vf XML: phys_function" grep -q "<capability type='phys_function'>" "$dir/vf.xml"
check "VF XML validates" xmllint --noout --relaxng "$rng" "$dir/vf.xml"
out=$(v nodedev-list --cap pci 2>&1)
check "nodedev-list shows the VF" grep -qx "$(name_of "$vf")" <<< "$out"
exit 0
