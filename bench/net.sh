#!/usr/bin/env bash
# Network benchmark: the subject's central comparison, measured. The same
# guest (guest kit kernel and initramfs, 512 MiB) boots with each NIC
# configuration under hv and under QEMU 7.2, one after the other in one
# run on one machine (inside the nested testbed when the host's KVM cannot
# boot Linux):
#
#   e1000    emulated 82540EM (every register access trapped), 1 vCPU
#   virtio   virtio-net, data plane in the VMM (vhost=off), 1 vCPU
#   vhost    virtio-net, data plane in the kernel (vhost-net), 1 vCPU
#   mq       virtio-net + vhost-net, 2 queue pairs, 2 vCPUs, 2 iperf3 streams
#
# Per boot the guest's net scenario runs iperf3 against a server on the
# host's tap (guest->host, then host->guest with -R) and then holds still
# while the host pings it (--pings at 0.2 s; average RTT).
#
#   bench/net.sh [--seconds N] [--runs N] [--pings N] [--vmms "hv qemu"]
#                [--configs "e1000 virtio vhost mq"] [--raw] [--testbed]
#
# Output: a Markdown table of medians with hv, QEMU and hv/QEMU per row;
# --raw prints one line per configuration and VMM instead (read by
# `hvsh bench`):
#   RESULT CONFIG VMM G2H_MBPS H2G_MBPS PING_MS OK_RUNS RUNS PLANE
# ("-" where nothing was measured). Progress goes to stderr.
# Exit status: 0 when every boot measured something, 1 otherwise, 2 usage.
#
# Taps and addresses (10.77.9.0/24) are made on the machine that runs the
# guests: inside the testbed, they exist only there. Every step has a
# timeout; a run of the default settings takes about 6 minutes in the
# testbed. Environment: HVD_BUILD_DIR (default: the source tree's build/),
# HVD_HV, HVD_QEMU, HVD_GUEST_KIT, HVD_TEST_KVM=testbed (force the testbed).
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=5 runs=1 pings=20 raw=0 inside=0 testbed=0
vmms="hv qemu" configs="e1000 virtio vhost mq"
usage() {
    echo "usage: bench/net.sh [--seconds N] [--runs N] [--pings N] [--vmms \"hv qemu\"] [--configs \"e1000 virtio vhost mq\"] [--raw] [--testbed]" >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) [ $# -ge 2 ] || usage; seconds=$2; shift 2 ;;
        --runs) [ $# -ge 2 ] || usage; runs=$2; shift 2 ;;
        --pings) [ $# -ge 2 ] || usage; pings=$2; shift 2 ;;
        --vmms) [ $# -ge 2 ] || usage; vmms=$2; shift 2 ;;
        --configs) [ $# -ge 2 ] || usage; configs=$2; shift 2 ;;
        --raw) raw=1; shift ;;
        --testbed) testbed=1; shift ;;
        --inside) inside=1; shift ;;
        -h|--help) sed -n '2,/^set -uo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
        *) echo "bench/net.sh: unknown argument '$1'" >&2; usage ;;
    esac
done
for n in "$seconds" "$runs" "$pings"; do
    [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 600 ] ||
        { echo "bench/net.sh: --seconds, --runs and --pings want a number from 1 to 600, not '$n'" >&2; exit 2; }
done
for v in $vmms; do
    case "$v" in hv|qemu) ;; *) echo "bench/net.sh: unknown VMM '$v' (hv, qemu)" >&2; exit 2 ;; esac
done
for c in $configs; do
    case "$c" in e1000|virtio|vhost|mq) ;; *) echo "bench/net.sh: unknown configuration '$c' (e1000, virtio, vhost, mq)" >&2; exit 2 ;; esac
done

build=${HVD_BUILD_DIR:-$top/build}
hv=${HVD_HV:-$build/hv/hv}
qemu=${HVD_QEMU:-qemu-system-x86_64}
args=(--seconds "$seconds" --runs "$runs" --pings "$pings" --vmms "$vmms" --configs "$configs")
[ "$raw" = 1 ] && args+=(--raw)

if [ "$inside" = 0 ]; then
    if [[ " $vmms " == *" hv "* ]] && [ ! -x "$hv" ]; then
        echo "bench/net.sh: $hv is not built (set HVD_BUILD_DIR or HVD_HV)" >&2; exit 1
    fi
    kit=${HVD_GUEST_KIT:-}
    [ -n "$kit" ] && [ -f "$kit/initrd.img" ] || kit=$("$top/tools/guest-kit/build" | tail -n 1) || exit 1
    if [ "$testbed" = 0 ] && grep -qwE 'vmx|svm' /proc/cpuinfo && [ "${HVD_TEST_KVM:-auto}" != testbed ]; then
        HVD_GUEST_KIT=$kit HVD_HV=$hv exec bash "$0" --inside "${args[@]}"
    fi
    # Per boot: ~15 s to boot, 2 x seconds of iperf3, the pings, poweroff.
    per_boot=$(( 40 + 2 * seconds + pings ))
    n_vmms=$(wc -w <<< "$vmms") n_configs=$(wc -w <<< "$configs")
    limit=$(( 300 + runs * n_vmms * n_configs * per_boot * 2 ))
    exec "$top/tests/testbed/run" --timeout "$limit" -- \
        env HVD_GUEST_KIT="$kit" HVD_HV="$hv" HVD_QEMU="$qemu" bash "$0" --inside "${args[@]}"
fi

kit=${HVD_GUEST_KIT:?}
for tool in iperf3 ip; do
    command -v "$tool" > /dev/null 2>&1 || { echo "bench/net.sh: $tool not found (Debian package ${tool/ip/iproute2})" >&2; exit 1; }
done
[ -e /dev/net/tun ] || { echo "bench/net.sh: no /dev/net/tun" >&2; exit 1; }
if command -v ping > /dev/null 2>&1; then pingcmd=(ping); else pingcmd=(busybox ping); fi

tap=hvbench0
host_ip=10.77.9.1
guest_ip=10.77.9.2
mac=52:54:00:12:34:56
boot_timeout=$(( 120 + 2 * seconds + pings ))
tmp=$(mktemp -d)
iperf_pid="" vmm_pid=""
cleanup() {
    [ -n "$vmm_pid" ] && kill "$vmm_pid" 2>/dev/null
    [ -n "$iperf_pid" ] && kill "$iperf_pid" 2>/dev/null
    ip link del "$tap" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# config_of NAME: "MODEL VHOST QUEUES CPUS STREAMS".
config_of() {
    case "$1" in
        e1000) echo "e1000 off 1 1 1" ;;
        virtio) echo "virtio off 1 1 1" ;;
        vhost) echo "virtio on 1 1 1" ;;
        mq) echo "virtio on 2 2 2" ;;
    esac
}

# vmm_argv VMM CONFIG: the command line, one word per line.
vmm_argv() {
    local model vhost queues cpus streams
    read -r model vhost queues cpus streams <<< "$(config_of "$2")"
    local append="console=ttyS0 quiet panic=-1 hvtest=net hvtest.net_ip=$guest_ip/24"
    append="$append hvtest.iperf_server=$host_ip hvtest.iperf_time=$seconds hvtest.iperf_reverse=both"
    append="$append hvtest.iperf_streams=$streams hvtest.net_hold=$(( pings / 5 + 6 ))"
    if [ "$1" = hv ]; then
        local nic="model=$model,ifname=$tap,mac=$mac,id=net0"
        [ "$model" = virtio ] && nic="$nic,queues=$queues,vhost=$vhost"
        printf '%s\n' "$hv" --kernel "$kit/vmlinuz" --initrd "$kit/initrd.img" --memory 512M \
            --cpus "$cpus" --serial stdio --nic "$nic" --append "$append"
    else
        local netdev="tap,id=n0,ifname=$tap,script=no,downscript=no" dev
        if [ "$model" = e1000 ]; then
            dev="e1000,netdev=n0,mac=$mac"
        else
            netdev="$netdev,vhost=$vhost"
            dev="virtio-net-pci,netdev=n0,mac=$mac"
            # vectors: one per queue, one for config changes, one for the control queue.
            [ "$queues" -gt 1 ] && { netdev="$netdev,queues=$queues"; dev="$dev,mq=on,vectors=$(( 2 * queues + 2 ))"; }
        fi
        printf '%s\n' "$qemu" -enable-kvm -M pc -cpu host -m 512 -smp "$cpus" -nodefaults \
            -no-user-config -nographic -no-reboot -serial stdio -vga none \
            -netdev "$netdev" -device "$dev" \
            -kernel "$kit/vmlinuz" -initrd "$kit/initrd.img" -append "$append"
    fi
}

result() { sed -n "s/^HVTEST $1=//p" "$2" | tr -d '\r' | head -n 1; }
number_or_dash() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]] && echo "$1" || echo -; }

# measure VMM CONFIG: one boot; prints "G2H H2G PING PLANE" ("-" if missing).
measure() {
    local vmm=$1 config=$2 model vhost queues cpus streams
    read -r model vhost queues cpus streams <<< "$(config_of "$config")"
    local log="$tmp/$vmm-$config.log" err="$tmp/$vmm-$config.err"
    ip link del "$tap" 2>/dev/null
    local flags=()
    [ "$model" = virtio ] && flags+=(vnet_hdr)
    [ "$queues" -gt 1 ] && flags+=(multi_queue)
    if ! ip tuntap add dev "$tap" mode tap "${flags[@]}" ||
        ! ip addr add "$host_ip/24" dev "$tap" || ! ip link set "$tap" up; then
        echo "- - - tap-failed"
        return
    fi
    timeout $(( boot_timeout + 10 )) iperf3 -s -B "$host_ip" > "$tmp/iperf-server.log" 2>&1 &
    iperf_pid=$!
    local argv=()
    mapfile -t argv < <(vmm_argv "$vmm" "$config")
    "${argv[@]}" < /dev/null > "$log" 2> "$err" &
    vmm_pid=$!
    local deadline=$(( SECONDS + boot_timeout )) ping_avg="-" plane="-" pinged=0
    while kill -0 "$vmm_pid" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "# $vmm $config: no poweroff after ${boot_timeout}s, killed" >&2
            kill "$vmm_pid" 2>/dev/null
            break
        fi
        if [ "$pinged" = 0 ] && grep -q '^HVTEST net_hold=' "$log" 2>/dev/null; then
            pinged=1
            # The kernel's vhost worker is named vhost-<owner pid>.
            if pgrep -x "vhost-$vmm_pid" > /dev/null 2>&1; then plane="vhost-net";
            elif [ "$model" = virtio ]; then plane=vmm; else plane=emulated; fi
            local out
            out=$(timeout $(( pings + 10 )) "${pingcmd[@]}" -c "$pings" -i 0.2 -W 2 -w $(( pings / 5 + 4 )) "$guest_ip" 2>&1)
            # iputils: "rtt min/avg/max/mdev = a/b/c/d ms"; busybox: "round-trip min/avg/max = a/b/c ms"
            ping_avg=$(echo "$out" | sed -n 's#.*min/avg/max[^=]*= *[0-9.]*/\([0-9.]*\)/.*#\1#p' | head -n 1)
            echo "# $vmm $config: $(echo "$out" | grep -E 'packet loss' | head -n 1)" >&2
            continue
        fi
        sleep 0.5
    done
    wait "$vmm_pid" 2>/dev/null
    vmm_pid=""
    kill "$iperf_pid" 2>/dev/null
    wait "$iperf_pid" 2>/dev/null
    iperf_pid=""
    local g2h h2g
    g2h=$(number_or_dash "$(result iperf_mbps "$log")")
    h2g=$(number_or_dash "$(result iperf_reverse_mbps "$log")")
    if [ "$g2h" = - ] || [ "$h2g" = - ]; then
        sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/[^[:print:]]//g' "$log" | grep -v '^ *$' |
            sed "s/^/# $vmm $config console: /" | tail -n 15 >&2
        sed "s/^/# $vmm $config stderr: /" "$err" | tail -n 8 >&2
    fi
    # Where the guest took the NIC's interrupts (vector: count per vCPU).
    local irqs
    irqs=$(sed -n 's/^HVTEST net_irq=//p' "$log" | tr -d '\r' | tr '\n' ' ')
    [ -z "$irqs" ] || echo "# $vmm $config interrupts: $irqs" >&2
    echo "$g2h $h2g $(number_or_dash "${ping_avg:-}") $plane"
}

median() { grep -v '^-$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print v[int((NR + 1) / 2)] }'; }

echo "# bench/net.sh: $(uname -r), $(nproc) CPU(s), $(awk '/MemTotal/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo); $vmms; $configs; iperf3 ${seconds}s x $runs run(s), $pings pings" >&2
results=$tmp/results
: > "$results"
for ((i = 1; i <= runs; i++)); do
    for config in $configs; do
        for vmm in $vmms; do
            r=$(measure "$vmm" "$config")
            echo "# run $i $config $vmm: g2h/h2g Mbit/s, ping ms, data plane: $r" >&2
            echo "$config $vmm $r" >> "$results"
        done
    done
done

# stat CONFIG VMM FIELD: the median of FIELD (3 g2h, 4 h2g, 5 ping) over the runs.
stat() { awk -v c="$1" -v v="$2" -v f="$3" '$1 == c && $2 == v { print $f }' "$results" | median; }
ok_runs() { awk -v c="$1" -v v="$2" '$1 == c && $2 == v && $3 != "-" && $4 != "-"' "$results" | grep -c . ; }
plane_of() { awk -v c="$1" -v v="$2" '$1 == c && $2 == v { print $6 }' "$results" | sort | uniq | paste -sd/; }

status=0
for config in $configs; do
    for vmm in $vmms; do
        [ "$(ok_runs "$config" "$vmm")" = "$runs" ] || status=1
    done
done

if [ "$raw" = 1 ]; then
    for config in $configs; do
        for vmm in $vmms; do
            echo "RESULT $config $vmm $(stat "$config" "$vmm" 3) $(stat "$config" "$vmm" 4) $(stat "$config" "$vmm" 5) $(ok_runs "$config" "$vmm") $runs $(plane_of "$config" "$vmm")"
        done
    done
    exit $status
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f\n", a / b }'; }
label() {
    case "$1" in
        e1000) echo "e1000 (emulated), 1 vCPU" ;;
        virtio) echo "virtio-net, vhost=off, 1 vCPU" ;;
        vhost) echo "virtio-net + vhost-net, 1 vCPU" ;;
        mq) echo "virtio-net + vhost-net, 2 queues, 2 vCPUs, 2 streams" ;;
    esac
}
echo "| configuration | metric | hv | QEMU 7.2 | hv/QEMU |"
echo "|---|---|---|---|---|"
for config in $configs; do
    for m in "3 guest→host (Mbit/s)" "4 host→guest (Mbit/s)" "5 ping host→guest (ms)"; do
        f=${m%% *} name=${m#* }
        h=$(stat "$config" hv "$f") q=$(stat "$config" qemu "$f")
        echo "| $(label "$config") | $name | $h | $q | $(ratio "$h" "$q") |"
    done
done
echo
echo "Medians of $runs run(s); iperf3 ${seconds} s each way, TCP, default window; ping: $pings at 0.2 s, average RTT."
planes=$(for c in $configs; do printf '%s %s/%s, ' "$c" "$(plane_of "$c" hv)" "$(plane_of "$c" qemu)"; done)
echo "Throughput: higher is better; ping: lower is better. Data plane seen (hv/QEMU): ${planes%, }."
echo "Guest kit $(cat "$kit/VERSION" 2>/dev/null | head -n 1); $(uname -r), $(nproc) CPU(s) where the guests ran."
exit $status
