#!/bin/sh
# net: bring up the first NIC and optionally measure with iperf3.
#   hvtest.net_dev=eth0             interface (default: the first virtio-net
#                                   one, else the first non-lo)
#   hvtest.net_ip=ADDR/PREFIX       address to set (required)
#   hvtest.net_peer=ADDR            ping it (3 packets) when given
#   hvtest.net_percpu_ping=1        then 10 more from each CPU (taskset)
#   hvtest.iperf_server=ADDR        run iperf3 -c ADDR when given
#   hvtest.iperf_time=SECONDS       (default 5)  hvtest.iperf_reverse=1  (-R)
#   hvtest.iperf_reverse=both       guest->host, then host->guest (-R)
#   hvtest.iperf_streams=N          parallel streams (-P N, default 1)
#   hvtest.net_hold=SECONDS         stay up this long at the end (the host
#                                   pings the guest then), announced first
# Reports: net_dev= net_driver= net_mac= net_link=up net_queues=rx:N,tx:N
#          (the queues the stack uses) ping_loss_pct= ping_cpuN_loss_pct=
#          iperf_mbps= (receiver side, from iperf3's summary; with
#          iperf_reverse=both the guest->host rate, and iperf_reverse_mbps=
#          the host->guest one) net_irq=VECTOR:COUNT_CPU0,COUNT_CPU1,...
#          net_hold=SECONDS, then net_held
. /hvtest/lib.sh

dev=$(hvtest_param net_dev "")
# Default: the first virtio-net interface, else the first at all (a guest
# may also hold an assigned NIC that is not on the host's network).
if [ -z "$dev" ]; then
    for n in $(ls /sys/class/net | grep -v '^lo$'); do
        [ "$(basename "$(readlink "/sys/class/net/$n/device/driver" 2>/dev/null)")" = virtio_net ] &&
            dev=$n && break
    done
fi
[ -n "$dev" ] || dev=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
if [ -z "$dev" ] || [ ! -e "/sys/class/net/$dev" ]; then
    hvtest_say "net_link=error no network device"
    exit 1
fi
hvtest_say "net_dev=$dev"
[ -e "/sys/class/net/$dev/device/driver" ] &&
    hvtest_say "net_driver=$(basename "$(readlink "/sys/class/net/$dev/device/driver")")"
hvtest_say "net_mac=$(cat "/sys/class/net/$dev/address")"

ip=$(hvtest_param net_ip "")
if [ -z "$ip" ]; then
    hvtest_say "net_link=error hvtest.net_ip not given"
    exit 1
fi
ip addr add "$ip" dev "$dev" && ip link set "$dev" up || { hvtest_say "net_link=error ip failed"; exit 1; }
hvtest_say "net_link=up"
hvtest_say "net_queues=rx:$(ls -d /sys/class/net/$dev/queues/rx-* | wc -l),tx:$(ls -d /sys/class/net/$dev/queues/tx-* | wc -l)"

peer=$(hvtest_param net_peer "")
if [ -n "$peer" ]; then
    out=$(ping -c 3 -W 5 "$peer" 2>&1)
    loss=$(echo "$out" | sed -n 's/.* \([0-9]*\)% packet loss.*/\1/p')
    hvtest_say "ping_loss_pct=${loss:-100}"
    if [ "${loss:-100}" != 0 ]; then
        # What a failure needs to be understood: which replies came, and
        # whether each queue's interrupts arrived.
        echo "$out" | while read -r line; do hvtest_say "ping_out=$line"; done
        grep -E 'virtio|eth' /proc/interrupts | while read -r line; do hvtest_say "irq=$line"; done
        ip -s link show "$dev" | while read -r line; do hvtest_say "link_stats=$line"; done
    fi
fi

# hvtest.net_percpu_ping=1: ping the peer from each CPU in turn, so with
# multiqueue every queue pair carries traffic (the driver maps CPU N to
# queue pair N).
if [ -n "$peer" ] && [ "$(hvtest_param net_percpu_ping 0)" = 1 ]; then
    for cpu in $(seq 0 $(($(nproc) - 1))); do
        out=$(taskset -c "$cpu" ping -c 10 -A -W 5 "$peer" 2>&1)
        hvtest_say "ping_cpu${cpu}_loss_pct=$(echo "$out" | sed -n 's/.* \([0-9]*\)% packet loss.*/\1/p')"
    done
fi

# iperf_run KEY FLAGS: one iperf3 client run, its receiver rate as KEY=.
iperf_run() {
    # shellcheck disable=SC2086
    out=$(iperf3 -c "$server" $2 -f m 2>&1)
    # With -P the [SUM] receiver line comes last.
    rate=$(echo "$out" | awk '/receiver/ { for (i = 1; i < NF; i++) if ($(i + 1) == "Mbits/sec") print $i }' | tail -n 1)
    hvtest_say "$1=${rate:-error}"
    [ -n "$rate" ]
}

status=0
server=$(hvtest_param iperf_server "")
if [ -n "$server" ]; then
    flags="-t $(hvtest_param iperf_time 5)"
    streams=$(hvtest_param iperf_streams 1)
    [ "$streams" -gt 1 ] 2>/dev/null && flags="$flags -P $streams"
    case "$(hvtest_param iperf_reverse 0)" in
        1) iperf_run iperf_mbps "$flags -R" || status=1 ;;
        both)
            iperf_run iperf_mbps "$flags" || status=1
            iperf_run iperf_reverse_mbps "$flags -R" || status=1 ;;
        *) iperf_run iperf_mbps "$flags" || status=1 ;;
    esac
fi
# Where the NIC's interrupts went: one net_irq= per vector with its count
# on each CPU (multiqueue: each queue pair's vectors on their own vCPU).
cpus=$(grep -c '^processor' /proc/cpuinfo)
grep -E 'virtio[0-9]+-(input|output)|eth' /proc/interrupts |
    awk -v n="$cpus" '{ c = $2; for (i = 3; i <= n + 1; i++) c = c "," $i; print $NF ":" c }' |
    while read -r line; do hvtest_say "net_irq=$line"; done

hold=$(hvtest_param net_hold 0)
if [ "$hold" -gt 0 ] 2>/dev/null; then
    hvtest_say "net_hold=$hold"
    sleep "$hold"
    hvtest_say "net_held"
fi
exit $status
