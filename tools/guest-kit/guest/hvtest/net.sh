#!/bin/sh
# net: bring up the first NIC and optionally measure with iperf3.
#   hvtest.net_dev=eth0             interface (default: the first non-lo)
#   hvtest.net_ip=ADDR/PREFIX       address to set (required)
#   hvtest.net_peer=ADDR            ping it (3 packets) when given
#   hvtest.iperf_server=ADDR        run iperf3 -c ADDR when given
#   hvtest.iperf_time=SECONDS       (default 5)  hvtest.iperf_reverse=1  (-R)
# Reports: net_dev= net_driver= net_mac= net_link=up ping_loss_pct=
#          iperf_mbps= (receiver side, from iperf3's summary)
. /hvtest/lib.sh

dev=$(hvtest_param net_dev "")
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

peer=$(hvtest_param net_peer "")
if [ -n "$peer" ]; then
    loss=$(ping -c 3 -W 5 "$peer" 2>&1 | sed -n 's/.* \([0-9]*\)% packet loss.*/\1/p')
    hvtest_say "ping_loss_pct=${loss:-100}"
fi

server=$(hvtest_param iperf_server "")
if [ -n "$server" ]; then
    flags="-t $(hvtest_param iperf_time 5)"
    [ "$(hvtest_param iperf_reverse 0)" = 1 ] && flags="$flags -R"
    # shellcheck disable=SC2086
    out=$(iperf3 -c "$server" $flags -f m 2>&1)
    rate=$(echo "$out" | awk '/receiver/ { for (i = 1; i < NF; i++) if ($(i + 1) == "Mbits/sec") print $i }' | tail -n 1)
    hvtest_say "iperf_mbps=${rate:-error}"
    [ -n "$rate" ] || exit 1
fi
exit 0
