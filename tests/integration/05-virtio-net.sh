#!/usr/bin/env bash
# Scenario: virtio-net under hv on a tap, worker and vhost-net data planes,
# and multiqueue. Inside the testbed (its taps and addresses exist only
# there): a tap with 10.77.0.1/24, hv boots the guest kit's net scenario
# (10.77.0.2), the guest pings the host and runs iperf3 against it while
# the host pings the guest. Checks: 1af4:1041 bound to virtio-pci, driver
# virtio_net, pings both ways, iperf3 rate, the data plane hv reports, and
# for vhost that a vhost kernel worker thread of hv exists and that hv's
# own virtio-net threads (net0-q*, net0-ctl) do not wake per packet: vhost
# signals the queue's KVM irqfd itself (docs/virtio-net.md), so their
# context switches over the whole run stay far below the packet count
# (the worker data plane's threads switch thousands of times).
#
# hv takes the NIC as --nic model=virtio,ifname=TAP,queues=N,vhost=on|off|auto
# (hv/virtio/net.h).
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
if [ ! -e /dev/net/tun ]; then
    fail "/dev/net/tun present"
    exit 0
fi
# iputils ping, or busybox's where the host has none.
if command -v ping > /dev/null 2>&1; then pingcmd=(ping); else pingcmd=(busybox ping); fi
tmp=$(mktemp -d)
tap=hvvnet0
host_ip=10.77.0.1
guest_ip=10.77.0.2
foreign_ip=10.77.0.99
cleanup() {
    [ -n "${iperf_pid:-}" ] && kill "$iperf_pid" 2>/dev/null
    ip link del "$tap" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# run NAME QUEUES VHOST CPUS: one boot; console in $tmp/NAME.log.
run() {
    local name=$1 queues=$2 vhost=$3 cpus=$4
    ip link del "$tap" 2>/dev/null
    local mq=""
    [ "$queues" -gt 1 ] && mq=multi_queue
    ip tuntap add dev "$tap" mode tap vnet_hdr $mq || { fail "$name: create tap"; return 1; }
    ip addr add "$host_ip/24" dev "$tap" && ip link set "$tap" up
    # The host knows the guest's MAC from the start: the host -> guest
    # pinger's ARP requests fail while the guest boots, and Linux drops the
    # packets queued on a failed resolution, which could be the reply to the
    # guest's first ping. The guest still resolves the host by ARP.
    ip neigh replace "$guest_ip" lladdr 52:54:00:12:34:56 dev "$tap" nud permanent
    # Not one-off: the guest runs guest->host, then host->guest (-R).
    iperf3 -s -B "$host_ip" > "$tmp/$name.iperf" 2>&1 &
    iperf_pid=$!
    # Host -> guest ping while the guest is up.
    ( for _ in $(seq 1 240); do
          if "${pingcmd[@]}" -c 1 -W 1 "$guest_ip" > /dev/null 2>&1; then echo ok > "$tmp/$name.hostping"; break; fi
          sleep 0.5
      done ) &
    local pinger=$!
    local append="console=ttyS0 quiet panic=-1 hvtest=info,net hvtest.net_ip=$guest_ip/24"
    append="$append hvtest.net_peer=$host_ip hvtest.iperf_server=$host_ip hvtest.iperf_time=3"
    append="$append hvtest.iperf_reverse=both hvtest.net_percpu_ping=1"
    local nic=(--nic "model=virtio,ifname=$tap,queues=$queues,vhost=$vhost,mac=52:54:00:12:34:56")
    timeout "${HVD_BOOT_TIMEOUT:-300}" "$hv" \
        --kernel "$kit/vmlinuz" --initrd "$kit/initrd.img" --memory 512M --cpus "$cpus" \
        "${nic[@]}" --serial stdio --monitor "$tmp/$name.qmp" --append "$append" \
        < /dev/null > "$tmp/$name.log" 2> "$tmp/$name.err" &
    local hv_pid=$!
    # vhost-net names its worker thread vhost-<owner pid> (after the timeout wrapper: hv's pid).
    ( for _ in $(seq 1 600); do
          for p in $(pgrep -P "$hv_pid" 2>/dev/null) "$hv_pid"; do
              if pgrep -x "vhost-$p" > /dev/null 2>&1; then echo yes > "$tmp/$name.vhostthread"; exit 0; fi
          done
          sleep 0.5
      done ) &
    local watcher=$!
    # Context switches of hv's virtio-net threads (named net0-q<N> and
    # net0-ctl), sampled until hv exits; the largest sample is the total
    # (while hv exits, its threads vanish and a sample can read less).
    rm -f "$tmp/$name.netcsw"
    ( local most=0
      while kill -0 "$hv_pid" 2>/dev/null; do
          local total=0 seen=0 t
          for t in /proc/$hv_pid/task/*/ $(for p in $(pgrep -P "$hv_pid" 2>/dev/null); do echo /proc/$p/task/*/; done); do
              case "$(cat "$t/comm" 2>/dev/null)" in
                  net0-*) seen=1
                          total=$((total + $(awk '/^(non)?voluntary_ctxt_switches:/ { s += $2 } END { print s + 0 }' "$t/status" 2>/dev/null || echo 0))) ;;
              esac
          done
          if [ "$seen" = 1 ] && [ "$total" -ge "$most" ]; then
              most=$total
              echo "$total" > "$tmp/$name.netcsw.new" && mv "$tmp/$name.netcsw.new" "$tmp/$name.netcsw"
          fi
          sleep 0.5
      done ) &
    local sampler=$!
    qmp_sample "$tmp/$name.qmp" "$tmp/$name.nicstate" &
    local qmp_sampler=$!
    # Frames to a MAC that is not the guest's: the worker's receive filter
    # refuses them once the guest driver has turned promiscuous mode off.
    ip neigh replace "$foreign_ip" lladdr 52:54:00:de:ad:99 dev "$tap" nud permanent
    ( for _ in $(seq 1 240); do "${pingcmd[@]}" -c 1 -W 1 "$foreign_ip" > /dev/null 2>&1; done ) &
    local foreign=$!
    wait "$hv_pid"
    local rc=$?
    kill "$pinger" "$watcher" "$foreign" 2>/dev/null
    wait "$pinger" "$watcher" "$sampler" "$qmp_sampler" "$foreign" 2>/dev/null
    kill "$iperf_pid" 2>/dev/null
    wait "$iperf_pid" 2>/dev/null
    iperf_pid=
    sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/[^[:print:]]//g' "$tmp/$name.log" | grep -v '^ *$' |
        sed "s/^/# $name console: /" | tail -n 30
    sed "s/^/# $name hv: /" "$tmp/$name.err" | tail -n 15
    return $rc
}
result() { sed -n "s/^HVTEST $2=//p" "$tmp/$1.log" | tr -d '\r' | head -n 1; }

# qmp_sample SOCKET OUT: until the monitor closes, keep net0's latest
# x-hvd-query-netstats reply, its query-rx-filter reply (see below) and the
# events seen so far in OUT (one JSON object).
qmp_sample() {
    /usr/bin/python3 - "$1" "$2" << 'EOF' > /dev/null 2>&1
import json, os, socket, sys, time
path, out = sys.argv[1], sys.argv[2]
for _ in range(1200):
    try:
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit(1)
f = s.makefile("r")
f.readline()
events = []
def cmd(command, **args):
    s.sendall((json.dumps({"execute": command, "arguments": args}) + "\n").encode())
    while True:
        line = f.readline()
        if not line:
            raise EOFError
        reply = json.loads(line)
        if "event" not in reply:
            return reply.get("return")
        events.append(reply)
# "rxfilter" keeps the last filter the driver had set (not promiscuous):
# at poweroff the guest resets the device, which leaves the reset state
# (promiscuous, empty tables) for the last samples.
driver_filter = None
try:
    cmd("qmp_capabilities")
    while True:
        rx = cmd("query-rx-filter", name="net0")[0]
        if not rx["promiscuous"]:
            driver_filter = rx
        state = {"stats": cmd("x-hvd-query-netstats", name="net0")[0],
                 "rxfilter": driver_filter or rx, "events": events}
        with open(out + ".new", "w") as o:
            json.dump(state, o)
        os.replace(out + ".new", out)
        time.sleep(0.5)
except (EOFError, OSError, ValueError, TypeError, IndexError):
    pass
EOF
}
nicstate() { # NAME PYTHON-EXPRESSION over the last sample s
    /usr/bin/python3 -c "import json,sys; s = json.load(open(sys.argv[1])); print($2)" "$tmp/$1.nicstate" 2> /dev/null
}

scenario() {
    local name=$1 queues=$2 vhost=$3 cpus=$4 plane=$5
    run "$name" "$queues" "$vhost" "$cpus"
    local rc=$?
    check "$name: guest booted to HVTEST READY" grep -q 'HVTEST READY' "$tmp/$name.log"
    local n
    n=$(grep -c '^HVTEST pci=.* 1af4:1041 .*driver=virtio-pci' "$tmp/$name.log")
    check "$name: guest sees a modern virtio-net function 1af4:1041 bound to virtio-pci" test "$n" = 1
    check "$name: eth0 driver is virtio_net" test "$(result "$name" net_driver)" = virtio_net
    check "$name: guest MAC 52:54:00:12:34:56" test "$(result "$name" net_mac)" = 52:54:00:12:34:56
    check "$name: guest -> host ping, 0% loss (got $(result "$name" ping_loss_pct))" \
        test "$(result "$name" ping_loss_pct)" = 0
    check "$name: host -> guest ping answered" test -s "$tmp/$name.hostping"
    local mbps rmbps
    mbps=$(result "$name" iperf_mbps)
    rmbps=$(result "$name" iperf_reverse_mbps)
    echo "# $name: iperf3 guest->host ${mbps:-none} Mbit/s, host->guest ${rmbps:-none} Mbit/s"
    check "$name: iperf3 guest -> host ran (${mbps:-none} Mbit/s)" \
        bash -c '[[ $1 =~ ^[0-9.]+$ ]]' _ "$mbps"
    check "$name: iperf3 host -> guest ran (${rmbps:-none} Mbit/s)" \
        bash -c '[[ $1 =~ ^[0-9.]+$ ]]' _ "$rmbps"
    local csw
    csw=$(cat "$tmp/$name.netcsw" 2>/dev/null)
    echo "# $name: context switches of hv's net0-* threads over the run: ${csw:-none}"
    check "$name: hv logged data plane $plane" grep -q "net0: data plane: $plane" "$tmp/$name.err"
    # The control queue is hv's in both data planes.
    check "$name: NIC_RX_FILTER_CHANGED for net0 when the guest set its filter" \
        test "$(nicstate "$name" '[e["data"] for e in s["events"] if e["event"] == "NIC_RX_FILTER_CHANGED"][0]')" \
        = "{'name': 'net0', 'path': '/machine/peripheral/net0/virtio-backend'}"
    if [ "$plane" = vhost-net ]; then
        check "$name: a vhost kernel worker thread served hv" test -s "$tmp/$name.vhostthread"
        # Two 3 s iperf3 runs move >100k packets; with interrupts relayed
        # through userspace net0-ctl woke once per interrupt (thousands).
        check "$name: hv's net0-* threads did not wake per packet (${csw:-none} context switches < 300)" \
            bash -c '[[ $1 =~ ^[0-9]+$ ]] && [ "$1" -lt 300 ]' _ "$csw"
    else
        check "$name: no vhost kernel thread for hv" test ! -e "$tmp/$name.vhostthread"
        # The Linux driver sets its receive filter through the control
        # queue (promiscuous off, multicast table) when the link comes up.
        local promisc filtered
        promisc=$(nicstate "$name" 's["rxfilter"]["promiscuous"]')
        check "$name: query-rx-filter: the guest turned promiscuous mode off (promiscuous=${promisc:-none})" \
            test "$promisc" = False
        check "$name: query-rx-filter: the guest's multicast table ($(nicstate "$name" 's["rxfilter"]["multicast-table"]'))" \
            test -n "$(nicstate "$name" 's["rxfilter"]["multicast-table"] or ""')"
        filtered=$(nicstate "$name" 's["stats"]["rx-filtered"]')
        check "$name: frames to a foreign MAC refused by the receive filter (rx-filtered ${filtered:-none})" \
            bash -c '[[ $1 =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ]' _ "$filtered"
        # The sampler sees the worker's per-packet wake-ups (so a low vhost
        # figure means something).
        check "$name: sampler saw hv's net0-* threads working (${csw:-none} context switches > 300)" \
            bash -c '[[ $1 =~ ^[0-9]+$ ]] && [ "$1" -gt 300 ]' _ "$csw"
    fi
    check "$name: guest powered off and hv exited by itself (status $rc)" test "$rc" = 0
}

scenario worker 1 off 1 worker
if [ -e /dev/vhost-net ]; then
    scenario vhost 1 on 1 vhost-net
else
    echo "ok - # SKIP no /dev/vhost-net here (vhost scenario)"
fi
# queues=4 with 4 vCPUs: the driver enables one pair per vCPU.
scenario mq 4 auto 4 "$( [ -e /dev/vhost-net ] && echo vhost-net || echo worker)"
check "mq: guest enabled 4 queue pairs (MQ VQ_PAIRS_SET 4)" grep -q 'net0: 4 queue pair(s) enabled' "$tmp/mq.err"
check "mq: guest stack has 4 rx and 4 tx queues (got $(result mq net_queues))" \
    test "$(result mq net_queues)" = rx:4,tx:4
irqs=$(grep '^HVTEST net_irq=' "$tmp/mq.log" | tr -d '\r' | sed 's/^HVTEST net_irq=//' | tr '\n' ' ')
echo "# mq interrupts (vector: count per vCPU): $irqs"
check "mq: the guest pinged from each of its 4 vCPUs ($(grep -c 'ping_cpu[0-3]_loss_pct=0' "$tmp/mq.log") of 4 without loss)" \
    test "$(grep -c 'ping_cpu[0-3]_loss_pct=0' "$tmp/mq.log")" = 4
# Each queue pair carried traffic, and its interrupts (MSI-X vector ->
# KVM route -> the vCPU the guest chose) reached the vCPU of that pair.
for q in 0 1 2 3; do
    for dir in input output; do
        counts=$(grep -o "virtio[0-9]*-$dir\.$q:[0-9,]*" <<< "$irqs" | cut -d: -f2)
        check "mq: $dir queue $q interrupted, most on vCPU $q (${counts:-none})" \
            awk -v q="$q" -F, '{ m = 0; for (i = 1; i <= NF; i++) if ($i > $m || m == 0) m = i;
                                 exit !(NF == 4 && $(q + 1) > 0 && m == q + 1) }' <<< "$counts"
    done
done
# vhost=on where /dev/vhost-net is missing: a private /dev with only what
# hv needs otherwise (kvm, net/tun, null), as on a host without the module.
ip link del "$tap" 2>/dev/null
ip tuntap add dev "$tap" mode tap vnet_hdr
out=$(unshare --mount bash -c 'mount -t tmpfs none /dev && mknod /dev/kvm c 10 232 &&
        mknod /dev/null c 1 3 && mkdir /dev/net && mknod /dev/net/tun c 10 200 &&
        exec "$@"' _ timeout 60 "$hv" --kernel "$kit/vmlinuz" --initrd "$kit/initrd.img" \
        --memory 256M --nic "model=virtio,ifname=$tap,vhost=on" --serial stdio \
        --append "console=ttyS0 quiet panic=-1" < /dev/null 2>&1)
rc=$?
echo "# vhost=on without /dev/vhost-net: status $rc: $(tail -n 1 <<< "$out")"
check "vhost=on without /dev/vhost-net: hv exits 1 with one error naming /dev/vhost-net" \
    bash -c '[ "$1" = 1 ] && grep -q "/dev/vhost-net" <<< "$2"' _ "$rc" "$out"
exit 0
