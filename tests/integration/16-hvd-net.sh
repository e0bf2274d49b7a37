#!/usr/bin/env bash
# Scenario: a domain with the devices of issue 6 end to end through hvd and
# stock virsh: virtio-net on a bridge (<driver name='vhost' queues='2'>:
# hvd makes the multiqueue tap and opens the vhost-net fds), an e1000 NIC
# on the same bridge (its own subnet), a virtio disk and a balloon. The
# bridge has 10.77.16.1/24 and 10.77.17.1/24 (it exists only inside the
# testbed). Checks: define/list/start/dominfo, every dumpxml (inactive and
# live) against libvirt's schema, the guest pings the host through both
# NICs and the host pings it, domifstat of both, domblkstat after the guest
# wrote and read its disk, domblklist/domiflist, setmem/setmaxmem and
# dommemstat, the worker's vhost-net data plane and set_link over QMP,
# virsh reboot (fake reboot: READY a second time, REBOOT event), virsh
# shutdown (the guest's power button: shut off (shutdown), lifecycle
# events), start again and destroy (the taps go), undefine. Unnumbered TAP
# for tests/integration/suite.sh.
set -uo pipefail

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
hvd=$top_builddir/daemon/hvd
hv=${HVD_HV:-$top_builddir/hv/hv}
. "$(dirname "$0")/lib.sh"

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
host_ip2=10.77.17.1
guest_ip2=10.77.17.2
mac=52:54:00:16:00:02
mac2=52:54:00:16:00:03
hvd_pid=
events_pid=
uri="qemu+unix:///system?socket=$sock"
v() { timeout 60 virsh -c "$uri" "$@"; }
cleanup() {
    v destroy n1 > /dev/null 2>&1
    [ -n "$events_pid" ] && kill "$events_pid" 2> /dev/null
    [ -n "$hvd_pid" ] && kill "$hvd_pid" 2> /dev/null && wait "$hvd_pid" 2> /dev/null
    ip link del "$bridge" 2> /dev/null
    if [ -n "${KEEP_LOGS:-}" ]; then echo "# logs kept in $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT

modprobe bridge 2> /dev/null
ip link del "$bridge" 2> /dev/null
if ! ip link add name "$bridge" type bridge || ! ip addr add "$host_ip/24" dev "$bridge" ||
    ! ip addr add "$host_ip2/24" dev "$bridge" || ! ip link set "$bridge" up; then
    nok "create bridge $bridge with $host_ip/24 and $host_ip2/24"
    exit 0
fi

start_hvd
check "hvd is listening" test -S "$sock"
# Every event hvd sends, as virsh prints them (line-buffered: read while
# it runs).
timeout 590 stdbuf -oL virsh -c "$uri" event --all --loop > "$dir/events.txt" 2>&1 &
events_pid=$!

disk=$dir/n1-disk.img
truncate -s 64M "$disk"
cmdline="console=ttyS0 quiet panic=-1 hvtest=info,blk,ifup,net hvtest.end=idle"
cmdline+=" hvtest.net_ip=$guest_ip/24 hvtest.net_peer=$host_ip"
cmdline+=" hvtest.ifup_mac=$mac2 hvtest.ifup_ip=$guest_ip2/24 hvtest.ifup_peer=$host_ip2"
cat > "$dir/n1.xml" << EOF
<domain type='kvm'>
  <name>n1</name>
  <memory unit='MiB'>512</memory>
  <currentMemory unit='MiB'>512</currentMemory>
  <vcpu>2</vcpu>
  <os><type>hvm</type><kernel>$kit/vmlinuz</kernel><initrd>$kit/initrd.img</initrd>
    <cmdline>$cmdline</cmdline></os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='$disk'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='bridge'>
      <mac address='$mac'/>
      <source bridge='$bridge'/>
      <model type='virtio'/>
      <driver name='vhost' queues='2'/>
    </interface>
    <interface type='bridge'>
      <mac address='$mac2'/>
      <source bridge='$bridge'/>
      <model type='e1000'/>
    </interface>
    <memballoon model='virtio'/>
  </devices>
</domain>
EOF
check "define n1 (virtio-net vhost queues=2, e1000, virtio disk, balloon)" v define "$dir/n1.xml"
check "list --all: n1 shut off" grep -qE "^ *- +n1 +shut off" <<< "$(v list --all 2>&1)"
v dumpxml n1 > "$dir/n1-inactive.xml" 2>&1
validate_domxml "dumpxml of the defined n1" "$dir/n1-inactive.xml"

# setmaxmem/setmem on the config before the start (libvirt's QEMU driver
# semantics): then back to 512 MiB for the guest.
check "setmaxmem n1 640M (inactive)" v setmaxmem n1 640M
check "setmem n1 600M --config" v setmem n1 600M --config
out=$(v dominfo n1 2>&1)
check "dominfo: max 655360 KiB, used 614400 KiB" \
    bash -c 'grep -qE "^Max memory: +655360 KiB" <<< "$1" && grep -qE "^Used memory: +614400 KiB" <<< "$1"' _ "$out"
out=$(v setmem n1 700M --config 2>&1)
check "setmem above the maximum: libvirt's error" \
    grep -q "invalid argument: cannot set memory higher than max memory" <<< "$out"
check "setmaxmem n1 512M --config" v setmaxmem n1 512M --config
out=$(v dumpxml n1 2>&1)
check "config back to 512 MiB (current memory follows)" \
    bash -c 'grep -q "<memory unit=.KiB.>524288</memory>" <<< "$1" && grep -q "<currentMemory unit=.KiB.>524288</currentMemory>" <<< "$1"' _ "$out"

out=$(v start n1 2>&1)
check "virsh start n1" grep -q "Domain 'n1' started" <<< "$out"
if [ -n "${out##*started*}" ]; then
    echo "# $out"
    tail -n 20 "$state/log/n1.log" 2> /dev/null | sed 's/^/# log: /'
    exit 0
fi
check "list: n1 running" grep -qE "^ *[0-9]+ +n1 +running" <<< "$(v list 2>&1)"
out=$(v dominfo n1 2>&1)
check "dominfo: running, 2 CPUs, 524288 KiB" \
    bash -c 'grep -qE "^State: +running" <<< "$1" && grep -qE "^CPU\(s\): +2" <<< "$1" && grep -qE "^Max memory: +524288 KiB" <<< "$1"' _ "$out"

v dumpxml n1 > "$dir/n1-live.xml" 2>&1
validate_domxml "live dumpxml of n1" "$dir/n1-live.xml"
v dumpxml n1 --inactive > "$dir/n1-running-inactive.xml" 2>&1
validate_domxml "dumpxml --inactive of the running n1" "$dir/n1-running-inactive.xml"
taps=($(sed -n "s/.*<target dev='\(vnet[^']*\)'.*/\1/p" "$dir/n1-live.xml"))
tap=${taps[0]:-}
tap2=${taps[1]:-}
check "live XML names both taps ($tap, $tap2)" test -n "$tap" -a -n "$tap2"
check "live XML has the disk's and balloon's aliases" \
    bash -c 'grep -q "<alias name=.virtio-disk0./>" "$1" && grep -q "<alias name=.balloon0./>" "$1"' _ "$dir/n1-live.xml"
out=$(v domiflist n1 2>&1)
echo "$out" | sed 's/^/# domiflist: /'
check "domiflist: $tap, bridge $bridge, virtio, $mac" \
    grep -qE "^ *$tap +bridge +$bridge +virtio +$mac" <<< "$out"
check "domiflist: $tap2, bridge $bridge, e1000, $mac2" \
    grep -qE "^ *$tap2 +bridge +$bridge +e1000 +$mac2" <<< "$out"
out=$(v domblklist n1 2>&1)
check "domblklist: vda $disk" grep -qE "^ *vda +$disk *$" <<< "$out"
out=$(v domblklist n1 --details 2>&1)
echo "$out" | sed 's/^/# domblklist: /'
check "domblklist --details: file disk vda $disk" grep -qE "^ *file +disk +vda +$disk *$" <<< "$out"
check "tap $tap is a port of $bridge" test "$(basename "$(readlink "/sys/class/net/$tap/master")")" = "$bridge"
check "tap $tap2 is a port of $bridge" test "$(basename "$(readlink "/sys/class/net/$tap2/master")")" = "$bridge"
check "tap $tap is multiqueue (2 tx queues)" test -d "/sys/class/net/$tap/queues/tx-1"

console=$state/log/n1.console.log
result() { sed -n "s/^HVTEST $1=//p" "$console" | tr -d '\r' | head -n 1; }
wait_console n1 "HVTEST ping_loss_pct=" 300
check "guest wrote and read its disk (blk_write=$(result blk_write))" test "$(result blk_write)" = ok
check "guest driver of NIC 1 is virtio_net" test "$(result net_driver)" = virtio_net
check "guest driver of NIC 2 is e1000" test "$(result ifup_driver)" = e1000
loss=$(result ping_loss_pct)
check "guest pings the host through virtio-net (loss ${loss:-?}%)" test -n "$loss" -a "${loss:-100}" -lt 100
loss2=$(result ifup_loss_pct)
check "guest pings the host through e1000 (loss ${loss2:-?}%)" test -n "$loss2" -a "${loss2:-100}" -lt 100
reached=
for _ in $(seq 120); do
    if "${pingcmd[@]}" -c 1 -W 1 "$guest_ip" > /dev/null 2>&1; then reached=1; break; fi
    sleep 0.5
done
check "host pings the guest through the bridge" test -n "$reached"

for t in "$tap" "$mac2"; do
    out=$(v domifstat n1 "$t" 2>&1)
    echo "$out" | sed "s/^/# domifstat $t: /"
    rxp=$(awk '$2 == "rx_packets" { print $3 }' <<< "$out")
    txp=$(awk '$2 == "tx_packets" { print $3 }' <<< "$out")
    check "domifstat $t: rx_packets > 0 ($rxp)" test "${rxp:-0}" -gt 0
    check "domifstat $t: tx_packets > 0 ($txp)" test "${txp:-0}" -gt 0
done
out=$(v domifstat n1 nosuch0 2>&1)
check "domifstat of an unknown interface: libvirt's text" \
    grep -q "invalid argument: 'nosuch0' is not a known interface" <<< "$out"

out=$(v domblkstat n1 vda 2>&1)
echo "$out" | sed 's/^/# domblkstat: /'
rdreq=$(awk '$2 == "rd_req" { print $3 }' <<< "$out")
wrreq=$(awk '$2 == "wr_req" { print $3 }' <<< "$out")
rdbytes=$(awk '$2 == "rd_bytes" { print $3 }' <<< "$out")
check "domblkstat vda: rd_req > 0 ($rdreq), rd_bytes > 0 ($rdbytes)" test "${rdreq:-0}" -gt 0 -a "${rdbytes:-0}" -gt 0
check "domblkstat vda: wr_req > 0 ($wrreq)" test "${wrreq:-0}" -gt 0
out=$(v domblkstat n1 vda --human 2>&1)
check "domblkstat --human: number of read operations" grep -q "number of read operations: *$rdreq" <<< "$out"
out=$(v domblkstat n1 "$disk" 2>&1)
check "domblkstat by source path" grep -q "rd_req $rdreq" <<< "$out"
out=$(v domblkstat n1 vdz 2>&1)
check "domblkstat of an unknown disk: libvirt's text" grep -q "invalid argument: invalid path: vdz" <<< "$out"

# Balloon and memory settings while running.
check "setmem n1 384M (live)" v setmem n1 384M
for _ in $(seq 60); do
    [ "$(v dommemstat n1 2> /dev/null | awk '$1 == "actual" { print $2 }')" = 393216 ] && break
    sleep 0.5
done
out=$(v dommemstat n1 2>&1)
echo "$out" | sed 's/^/# dommemstat: /'
check "dommemstat: actual 393216 after setmem" grep -qE "^actual 393216$" <<< "$out"
check "dommemstat: rss > 0" bash -c 'awk "\$1 == \"rss\" && \$2 > 0 { f = 1 } END { exit !f }" <<< "$1"' _ "$out"
out=$(v setmaxmem n1 1G 2>&1)
check "setmaxmem of a running domain: libvirt's error" \
    grep -q "cannot resize the maximum memory on an active domain" <<< "$out"
out=$(v setmaxmem n1 1G --live 2>&1)
check "setmaxmem --live: libvirt's error" grep -q "cannot resize the maximum memory on an active domain" <<< "$out"
check "setmaxmem n1 768M --config while running" v setmaxmem n1 768M --config
check "setmem n1 700M --config while running" v setmem n1 700M --config
out=$(v setmem n1 700M --live 2>&1)
check "setmem --live above the running maximum refused" grep -q "cannot set memory higher than max memory" <<< "$out"
v dumpxml n1 > "$dir/n1-live2.xml" 2>&1
v dumpxml n1 --inactive > "$dir/n1-inactive2.xml" 2>&1
check "live XML: maximum 524288, balloon 393216" \
    bash -c 'grep -q "<memory unit=.KiB.>524288</memory>" "$1" && grep -q "<currentMemory unit=.KiB.>393216</currentMemory>" "$1"' _ "$dir/n1-live2.xml"
check "inactive XML: maximum 786432, current 716800" \
    bash -c 'grep -q "<memory unit=.KiB.>786432</memory>" "$1" && grep -q "<currentMemory unit=.KiB.>716800</currentMemory>" "$1"' _ "$dir/n1-inactive2.xml"
validate_domxml "live dumpxml after setmem" "$dir/n1-live2.xml"
validate_domxml "dumpxml --inactive after setmaxmem --config" "$dir/n1-inactive2.xml"
check "setmem n1 512M --live --config" v setmem n1 512M --live --config

out=$(v qemu-monitor-command n1 --hmp "info network" 2>&1)
echo "$out" | sed 's/^/# info network: /'
check "worker's info network: net0, virtio-net-pci, $mac" \
    grep -q "net0: index=0,type=nic,model=virtio-net-pci,macaddr=$mac" <<< "$out"
check "worker's data plane is vhost-net with 2 queues" grep -q "queues=2,data-plane=vhost-net" <<< "$out"
out=$(v qemu-monitor-command n1 '{"execute": "set_link", "arguments": {"name": "net0", "up": false}}' 2>&1)
check "set_link net0 down" grep -q '"return":{}' <<< "${out// /}"
out=$(v qemu-monitor-command n1 --hmp "info network" 2>&1)
check "info network shows the link down" grep -q "link=down" <<< "$out"
v qemu-monitor-command n1 '{"execute": "set_link", "arguments": {"name": "net0", "up": true}}' > /dev/null 2>&1
out=$(v qemu-monitor-command n1 '{"execute": "set_link", "arguments": {"name": "nosuch", "up": true}}' 2>&1)
check "set_link of an unknown NIC: DeviceNotFound" grep -q "DeviceNotFound" <<< "$out"

# virsh reboot: libvirt's fake reboot. The guest's init powers off on the
# power button, hvd resets the same worker: READY a second time.
worker_pid() { sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' "$state/run/n1.status" 2> /dev/null; }
pid1=$(worker_pid)
out=$(v reboot n1 2>&1)
check "virsh reboot n1" grep -q "Domain 'n1' is being rebooted" <<< "$out"
rebooted=
for _ in $(seq 600); do
    [ "$(grep -c "HVTEST READY" "$console" 2> /dev/null)" -ge 2 ] && { rebooted=1; break; }
    sleep 0.5
done
check "guest pressed the power button" grep -q "HVTEST POWERBUTTON" "$console"
check "guest came back: HVTEST READY a second time" test -n "$rebooted"
check "domstate after reboot: running (booted)" test "$(v domstate n1 --reason 2>&1 | head -n 1)" = "running (booted)"
pid2=$(worker_pid)
check "same worker process after the reboot ($pid1)" test -n "$pid1" -a "$pid1" = "$pid2"
for _ in $(seq 20); do grep -q "event 'reboot' for domain 'n1'" "$dir/events.txt" && break; sleep 0.5; done
check "reboot event" grep -q "event 'reboot' for domain 'n1'" "$dir/events.txt"
v dumpxml n1 > "$dir/n1-live3.xml" 2>&1
validate_domxml "live dumpxml after the reboot" "$dir/n1-live3.xml"

# virsh shutdown: the power button again; the domain ends shut off (shutdown).
out=$(v shutdown n1 2>&1)
check "virsh shutdown n1" grep -q "Domain 'n1' is being shutdown" <<< "$out"
wait_state n1 "shut off" 120
check "domstate: shut off (shutdown)" test "$(v domstate n1 --reason 2>&1 | head -n 1)" = "shut off (shutdown)"
check "guest powered off through the power button" test "$(grep -c "HVTEST POWERBUTTON" "$console")" -ge 2
for _ in $(seq 20); do grep -q "Stopped Shutdown" "$dir/events.txt" && break; sleep 0.5; done
check "lifecycle events: Shutdown Finished, then Stopped Shutdown" \
    bash -c 'grep -q "event .lifecycle. for domain .n1.: Shutdown Finished" "$1" && grep -q "event .lifecycle. for domain .n1.: Stopped Shutdown" "$1"' _ "$dir/events.txt"
sed 's/^/# event: /' "$dir/events.txt"
v dumpxml n1 > "$dir/n1-stopped.xml" 2>&1
validate_domxml "dumpxml after the shutdown" "$dir/n1-stopped.xml"
check "after shutdown the --config maximum is the definition" \
    grep -q "<memory unit='KiB'>786432</memory>" "$dir/n1-stopped.xml"
check "inactive XML has no generated tap name" test -z "$(grep "target dev='vnet" "$dir/n1-stopped.xml")"

# Destroy (of a second run) removes the taps; undefine.
check "setmaxmem n1 512M (inactive)" v setmaxmem n1 512M
out=$(v start n1 2>&1)
check "start n1 again" grep -q "Domain 'n1' started" <<< "$out"
v dumpxml n1 > "$dir/n1-live4.xml" 2>&1
taps=($(sed -n "s/.*<target dev='\(vnet[^']*\)'.*/\1/p" "$dir/n1-live4.xml"))
out=$(v destroy n1 2>&1)
check "virsh destroy n1" grep -q "destroyed" <<< "$out"
check "domstate: shut off (destroyed)" test "$(v domstate n1 --reason 2>&1 | head -n 1)" = "shut off (destroyed)"
gone=
for _ in $(seq 50); do
    [ -e "/sys/class/net/${taps[0]:-none}" ] || [ -e "/sys/class/net/${taps[1]:-none}" ] || { gone=1; break; }
    sleep 0.1
done
check "taps ${taps[*]} removed after destroy" test -n "$gone" -a "${#taps[@]}" = 2
check "undefine n1" v undefine n1
check "list --all: n1 gone" test -z "$(v list --all --name 2>&1 | grep -x n1)"
check "hvd still running" kill -0 "$hvd_pid"
