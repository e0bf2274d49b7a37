#!/usr/bin/env bash
# Scenario: a domain's network interface end to end through hvd and stock
# virsh. A bridge with 10.77.16.1/24 (it exists only inside the testbed),
# a domain with <interface type='bridge'> model virtio, <driver
# name='vhost' queues='2'>: hvd creates the multiqueue tap on the bridge,
# opens the vhost-net fds and hands them to hv. Checks: start, the guest
# kit's net scenario pings the host, the host pings the guest, domifstat
# shows traffic, dumpxml/domiflist name the tap, the worker reports the
# vhost-net data plane (HMP info network), set_link over QMP, destroy
# removes the tap. Unnumbered TAP for tests/integration/suite.sh.
set -uo pipefail

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
hvd=$top_builddir/daemon/hvd
hv=${HVD_HV:-$top_builddir/hv/hv}

ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; }
check() { # check "description" command...
    local what=$1; shift
    if "$@" > /dev/null 2>&1; then ok "$what"; else nok "$what"; fi
}

kit=${HVD_GUEST_KIT:-}
if [ -z "$kit" ] || [ ! -x "$hv" ] || [ ! -x "$hvd" ]; then
    echo "ok - # SKIP needs HVD_GUEST_KIT, hv and hvd (run through tests/integration/suite.sh)"
    exit 0
fi
if ! command -v virsh > /dev/null; then
    nok "virsh not installed (apt-get install libvirt-clients)"
    exit 0
fi
if [ ! -e /dev/vhost-net ]; then
    echo "ok - # SKIP no /dev/vhost-net here (the testbed has it)"
    exit 0
fi
if command -v ping > /dev/null 2>&1; then pingcmd=(ping); else pingcmd=(busybox ping); fi

dir=$(mktemp -d /tmp/hvd-net.XXXXXX)
sock=$dir/sock
state=$dir/state
bridge=hvdnetbr0
host_ip=10.77.16.1
guest_ip=10.77.16.2
mac=52:54:00:16:00:02
hvd_pid=
uri="qemu+unix:///system?socket=$sock"
v() { timeout 60 virsh -c "$uri" "$@"; }
cleanup() {
    v destroy n1 > /dev/null 2>&1
    [ -n "$hvd_pid" ] && kill "$hvd_pid" 2> /dev/null && wait "$hvd_pid" 2> /dev/null
    ip link del "$bridge" 2> /dev/null
    if [ -n "${KEEP_LOGS:-}" ]; then echo "# logs kept in $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT

modprobe bridge 2> /dev/null
ip link del "$bridge" 2> /dev/null
if ! ip link add name "$bridge" type bridge || ! ip addr add "$host_ip/24" dev "$bridge" ||
    ! ip link set "$bridge" up; then
    nok "create bridge $bridge with $host_ip/24"
    exit 0
fi

"$hvd" --state-dir "$state" --socket "$sock" --emulator "$hv" >> "$dir/hvd.log" 2>&1 &
hvd_pid=$!
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
check "hvd is listening" test -S "$sock"

cat > "$dir/n1.xml" << EOF
<domain type='kvm'>
  <name>n1</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type><kernel>$kit/vmlinuz</kernel><initrd>$kit/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 hvtest=info,net,wait hvtest.net_ip=$guest_ip/24 hvtest.net_peer=$host_ip hvtest.wait=300</cmdline></os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <interface type='bridge'>
      <mac address='$mac'/>
      <source bridge='$bridge'/>
      <model type='virtio'/>
      <driver name='vhost' queues='2'/>
    </interface>
  </devices>
</domain>
EOF
check "define n1 with a bridge interface" v define "$dir/n1.xml"
out=$(v start n1 2>&1)
check "virsh start n1" grep -q "Domain 'n1' started" <<< "$out"
if [ -n "${out##*started*}" ]; then
    echo "# $out"
    tail -n 20 "$state/log/n1.log" 2> /dev/null | sed 's/^/# log: /'
    exit 0
fi

xml=$(v dumpxml n1 2>&1)
tap=$(sed -n "s/.*<target dev='\([^']*\)'.*/\1/p" <<< "$xml" | head -n 1)
check "dumpxml names the tap ($tap)" test -n "$tap"
out=$(v domiflist n1 2>&1)
check "domiflist: $tap, bridge $bridge, virtio, $mac" \
    grep -qE "^ *$tap +bridge +$bridge +virtio +$mac" <<< "$out"
check "tap $tap is a port of $bridge" test "$(basename "$(readlink "/sys/class/net/$tap/master")")" = "$bridge"
check "tap $tap is multiqueue (2 tx queues)" test -d "/sys/class/net/$tap/queues/tx-1"

console=$state/log/n1.console.log
for _ in $(seq 1800); do
    grep -q "HVTEST net_link=" "$console" 2> /dev/null && break
    sleep 0.1
done
result() { sed -n "s/^HVTEST $1=//p" "$console" | tr -d '\r' | head -n 1; }
check "guest driver is virtio_net" test "$(result net_driver)" = virtio_net
check "guest link up" test "$(result net_link)" = up
reached=
for _ in $(seq 120); do
    if "${pingcmd[@]}" -c 1 -W 1 "$guest_ip" > /dev/null 2>&1; then reached=1; break; fi
    sleep 0.5
done
check "host pings the guest through the bridge" test -n "$reached"
for _ in $(seq 300); do
    grep -q "HVTEST ping_loss_pct=" "$console" 2> /dev/null && break
    sleep 0.1
done
loss=$(result ping_loss_pct)
check "guest pings the host (loss ${loss:-?}%)" test -n "$loss" -a "${loss:-100}" -lt 100

out=$(v domifstat n1 "$tap" 2>&1)
echo "$out" | sed 's/^/# domifstat: /'
rxp=$(awk '$2 == "rx_packets" { print $3 }' <<< "$out")
txp=$(awk '$2 == "tx_packets" { print $3 }' <<< "$out")
check "domifstat: rx_packets > 0 ($rxp)" test "${rxp:-0}" -gt 0
check "domifstat: tx_packets > 0 ($txp)" test "${txp:-0}" -gt 0
out=$(v domifstat n1 "$mac" 2>&1)
check "domifstat by MAC" grep -q "rx_bytes" <<< "$out"
out=$(v domifstat n1 nosuch0 2>&1)
check "domifstat of an unknown interface: libvirt's text" \
    grep -q "invalid argument: 'nosuch0' is not a known interface" <<< "$out"

out=$(v qemu-monitor-command n1 --hmp "info network" 2>&1)
echo "$out" | sed 's/^/# info network: /'
check "worker's info network: net0, virtio-net-pci, $mac" \
    grep -q "net0: index=0,type=nic,model=virtio-net-pci,macaddr=$mac" <<< "$out"
check "worker's data plane is vhost-net with 2 queues" grep -q "queues=2,data-plane=vhost-net" <<< "$out"
out=$(v qemu-monitor-command n1 '{"execute": "set_link", "arguments": {"name": "net0", "up": false}}' 2>&1)
check "set_link net0 down" grep -q '"return":{}' <<< "${out// /}"
out=$(v qemu-monitor-command n1 --hmp "info network" 2>&1)
check "info network shows the link down" grep -q "link=down" <<< "$out"
out=$(v qemu-monitor-command n1 '{"execute": "set_link", "arguments": {"name": "nosuch", "up": true}}' 2>&1)
check "set_link of an unknown NIC: DeviceNotFound" grep -q "DeviceNotFound" <<< "$out"

out=$(v destroy n1 2>&1)
check "virsh destroy n1" grep -q "destroyed" <<< "$out"
gone=
for _ in $(seq 50); do
    [ -e "/sys/class/net/$tap" ] || { gone=1; break; }
    sleep 0.1
done
check "tap $tap removed after destroy" test -n "$gone"
out=$(v dumpxml n1 2>&1)
check "inactive XML has no generated tap name" test -z "$(grep "target dev='vnet" <<< "$out")"
check "hvd still running" kill -0 "$hvd_pid"
