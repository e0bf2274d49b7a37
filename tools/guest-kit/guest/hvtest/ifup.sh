#!/bin/sh
# ifup: bring up one more NIC, chosen by its MAC, and ping through it (the
# net scenario takes the first NIC; a guest with two uses both).
#   hvtest.ifup_mac=MAC            the NIC (required)
#   hvtest.ifup_ip=ADDR/PREFIX     address to set (required; a subnet of its
#                                  own, so its traffic leaves through it)
#   hvtest.ifup_peer=ADDR          ping it (3 packets) when given
# Reports: ifup_dev= ifup_driver= ifup_link=up|error ... ifup_loss_pct=
. /hvtest/lib.sh

mac=$(hvtest_param ifup_mac "" | tr 'A-F' 'a-f')
ip=$(hvtest_param ifup_ip "")
if [ -z "$mac" ] || [ -z "$ip" ]; then
    hvtest_say "ifup_link=error hvtest.ifup_mac and hvtest.ifup_ip are required"
    exit 1
fi
dev=
for i in 1 2 3 4 5 6 7 8 9 10; do
    for d in /sys/class/net/*; do
        [ "$(cat "$d/address" 2>/dev/null)" = "$mac" ] && dev=${d##*/}
    done
    [ -n "$dev" ] && break
    sleep 1 # the driver may still be probing
done
if [ -z "$dev" ]; then
    hvtest_say "ifup_link=error no NIC with MAC $mac"
    exit 1
fi
hvtest_say "ifup_dev=$dev"
[ -e "/sys/class/net/$dev/device/driver" ] &&
    hvtest_say "ifup_driver=$(basename "$(readlink "/sys/class/net/$dev/device/driver")")"
ip addr add "$ip" dev "$dev" && ip link set "$dev" up || { hvtest_say "ifup_link=error ip failed"; exit 1; }
hvtest_say "ifup_link=up"
peer=$(hvtest_param ifup_peer "")
if [ -n "$peer" ]; then
    loss=$(ping -c 3 -W 5 "$peer" 2>&1 | sed -n 's/.* \([0-9]*\)% packet loss.*/\1/p')
    hvtest_say "ifup_loss_pct=${loss:-100}"
fi
exit 0
