#!/usr/bin/env bash
# Scenario: the emulated e1000 (82540EM) under hv, on a tap that exists only
# inside the testbed (10.77.4.0/24). The guest kit's info and net scenarios
# check that Linux's e1000 driver binds 8086:100e and the link comes up;
# the guest pings the host, the host pings the guest, and iperf3 moves TCP
# data both ways (the host kernel drops segments with bad checksums, so a
# non-zero rate also proves the TSO and checksum offload paths).
# Run by tests/integration/suite.sh (unnumbered TAP).
set -uo pipefail

pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; }
check() {
    local what=$1; shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

kit=${HVD_GUEST_KIT:?HVD_GUEST_KIT must name a built guest kit}
hv=${HVD_HV:-${top_builddir:-.}/hv/hv}
if [ ! -x "$hv" ]; then
    fail "hv binary present at $hv"
    exit 0
fi

tap=hve1000
host_ip=10.77.4.1
guest_ip=10.77.4.2
mac=52:54:00:12:34:56
nic_args=(--nic "model=e1000,ifname=$tap,mac=$mac,id=net0")

tmp=$(mktemp -d)
cleanup() {
    [ -n "${iperf_pid:-}" ] && kill "$iperf_pid" 2>/dev/null
    [ -n "${pinger_pid:-}" ] && kill "$pinger_pid" 2>/dev/null
    ip link del "$tap" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

if ! ip tuntap add dev "$tap" mode tap || ! ip addr add "$host_ip/24" dev "$tap" ||
    ! ip link set "$tap" up; then
    fail "create tap $tap with $host_ip/24"
    exit 0
fi
# The host knows the guest's MAC from the start: the host -> guest pinger's
# ARP requests fail while the guest boots, and Linux drops the packets
# queued on a failed resolution, which could be the reply to the guest's
# first ping. The guest still resolves the host by ARP.
ip neigh replace "$guest_ip" lladdr "$mac" dev "$tap" nud permanent
iperf3 -s -B "$host_ip" > "$tmp/iperf-server.log" 2>&1 &
iperf_pid=$!

# boot NAME APPEND-EXTRA: runs hv, console to $tmp/NAME.log, returns hv's status.
boot() {
    local name=$1 extra=$2
    timeout "${HVD_BOOT_TIMEOUT:-300}" "$hv" \
        --kernel "$kit/vmlinuz" --initrd "$kit/initrd.img" --memory 512M --cpus 1 \
        "${nic_args[@]}" --serial stdio \
        --append "console=ttyS0 quiet panic=-1 $extra" \
        < /dev/null > "$tmp/$name.log" 2> "$tmp/$name.err"
    local rc=$?
    sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/[^[:print:]]//g' "$tmp/$name.log" |
        grep -v '^ *$' | sed "s/^/# $name console: /" | tail -n 40
    sed "s/^/# $name hv: /" "$tmp/$name.err" | tail -n 20
    return $rc
}
result() { sed -n "s/^HVTEST $2=//p" "$tmp/$1.log" | tr -d '\r' | head -n 1; }

# Host -> guest pings while the guest runs its scenario (the host may only
# have busybox's ping).
if command -v ping > /dev/null; then ping_cmd=(ping); else ping_cmd=(busybox ping); fi
( for _ in $(seq 1 240); do
      if "${ping_cmd[@]}" -c 1 -W 1 "$guest_ip" > /dev/null 2>&1; then
          echo reached > "$tmp/host-ping"; break
      fi
      sleep 0.5
  done ) &
pinger_pid=$!

net="hvtest.net_ip=$guest_ip/24 hvtest.net_peer=$host_ip hvtest.iperf_server=$host_ip"
boot tx "hvtest=info,net $net hvtest.iperf_time=4"
rc=$?
kill "$pinger_pid" 2>/dev/null
wait "$pinger_pid" 2>/dev/null
pinger_pid=
check "guest booted under hv to HVTEST READY" grep -q 'HVTEST READY' "$tmp/tx.log"
check "guest sees 8086:100e bound to the e1000 driver" \
    grep -q '^HVTEST pci=.* 8086:100e class=020000 driver=e1000' "$tmp/tx.log"
check "guest's NIC uses the e1000 driver (net_driver=$(result tx net_driver))" \
    test "$(result tx net_driver)" = e1000
check "guest's MAC is $mac (net_mac=$(result tx net_mac))" test "$(result tx net_mac)" = "$mac"
check "guest brought the link up" test "$(result tx net_link)" = up
check "guest -> host ping: no loss (ping_loss_pct=$(result tx ping_loss_pct))" \
    test "$(result tx ping_loss_pct)" = 0
check "host -> guest ping answered" test -f "$tmp/host-ping"
tx_rate=$(result tx iperf_mbps)
check "iperf3 guest -> host moved data (${tx_rate:-none} Mbit/s)" \
    awk -v r="${tx_rate:-0}" 'BEGIN { exit !(r + 0 > 0) }'
check "guest powered off and hv exited by itself (status $rc)" test "$rc" = 0

boot rx "hvtest=net $net hvtest.iperf_time=4 hvtest.iperf_reverse=1"
rc=$?
rx_rate=$(result rx iperf_mbps)
check "iperf3 host -> guest moved data (${rx_rate:-none} Mbit/s)" \
    awk -v r="${rx_rate:-0}" 'BEGIN { exit !(r + 0 > 0) }'
check "second boot: hv exited by itself (status $rc)" test "$rc" = 0
echo "# e1000 throughput: guest->host ${tx_rate:-?} Mbit/s, host->guest ${rx_rate:-?} Mbit/s"
check "tap $tap counted frames both ways" \
    test "$(cat /sys/class/net/$tap/statistics/rx_packets)" -gt 100 -a \
    "$(cat /sys/class/net/$tap/statistics/tx_packets)" -gt 100
