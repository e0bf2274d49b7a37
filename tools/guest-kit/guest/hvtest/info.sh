#!/bin/sh
# info: what the guest sees of its machine.
#   HVTEST cpus=N  memtotal_kb=N  kernel=RELEASE  clockevent=NAME (CPU 0's
#   timer device: lapic-deadline when the LAPIC timer runs in TSC-deadline mode)
#   HVTEST pci=SLOT VENDOR:DEVICE class=CLASS driver=NAME   (one per function)
#   HVTEST pci_count=N  modules=a,b,...  netdevs=...  blockdevs=...
. /hvtest/lib.sh

hvtest_say "cpus=$(grep -c '^processor' /proc/cpuinfo)"
hvtest_say "memtotal_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
hvtest_say "kernel=$(uname -r)"
hvtest_say "clockevent=$(cat /sys/devices/system/clockevents/clockevent0/current_device 2> /dev/null)"

count=0
for dev in /sys/bus/pci/devices/*; do
    [ -e "$dev/vendor" ] || continue
    vendor=$(cat "$dev/vendor"); device=$(cat "$dev/device"); class=$(cat "$dev/class")
    driver=none
    [ -e "$dev/driver" ] && driver=$(basename "$(readlink "$dev/driver")")
    hvtest_say "pci=$(basename "$dev") ${vendor#0x}:${device#0x} class=${class#0x} driver=$driver"
    count=$((count + 1))
done
hvtest_say "pci_count=$count"

hvtest_say "modules=$(awk '{ print $1 }' /proc/modules | sort | tr '\n' ',' | sed 's/,$//')"
hvtest_say "netdevs=$(ls /sys/class/net | grep -v '^lo$' | tr '\n' ',' | sed 's/,$//')"
hvtest_say "blockdevs=$(ls /sys/block | grep -v -e '^loop' -e '^ram' | tr '\n' ',' | sed 's/,$//')"
exit 0
