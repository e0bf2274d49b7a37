#!/usr/bin/env bash
# Scenario: the nova-style driver (tools/nova/novadrv.py, Debian's
# python3-libvirt and python3-nova) runs one instance's whole life against a
# real hvd with a real guest: capabilities, a PCI candidate chosen by a
# whitelist over the node devices (attach skipped with its reason where the
# host has no IOMMU), the bridge plugged as os-vif does, domain XML built by
# nova's LibvirtConfigGuest classes, defineXML, createWithFlags (paused until
# the tap is on the bridge), RUNNING, get_info, get_diagnostics after guest
# traffic (memoryStats, interfaceStats), balloon via setMemoryFlags(LIVE),
# destroy, undefine, cleanup. Every step's values come back as JSON and are
# checked here. Unnumbered TAP for tests/integration/suite.sh.
set -uo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
hvd=$top_builddir/daemon/hvd
hv=${HVD_HV:-$top_builddir/hv/hv}
py=/usr/bin/python3 # Debian's interpreter: python3-libvirt, python3-nova
novadrv=$top_srcdir/tools/nova/novadrv.py

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

kit=${HVD_GUEST_KIT:-}
if [ -z "$kit" ] || [ ! -x "$hv" ] || [ ! -x "$hvd" ]; then
    echo "ok - # SKIP needs HVD_GUEST_KIT, hv and hvd (run through tests/integration/suite.sh)"
    exit 0
fi
if ! "$py" -c 'import libvirt' 2> /dev/null; then
    nok "python3-libvirt importable by $py (apt-get install python3-libvirt)"
    exit 0
fi

dir=$(mktemp -d /tmp/hvd-nova.XXXXXX)
sock=$dir/sock
state=$dir/state
bridge=brqhvdnova18
host_ip=10.77.18.1
guest_ip=10.77.18.2
uri="qemu+unix:///system?socket=$sock"
json=$dir/cycle.json
hvd_pid=
cleanup() {
    [ -n "$hvd_pid" ] && kill "$hvd_pid" 2> /dev/null && wait "$hvd_pid" 2> /dev/null
    ip link del "$bridge" 2> /dev/null
    if [ -n "${KEEP_LOGS:-}" ]; then echo "# logs kept in $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
ip link del "$bridge" 2> /dev/null

start_hvd
check "hvd is listening" test -S "$sock"

# What the whitelist must select, from sysfs: virtio functions (1af4) and
# anything in slot 00:01, minus bridges (class 0x06....), in address order.
whitelist='[{"vendor_id": "1af4"}, {"address": "*:00:01.*"}]'
expected=
for d in /sys/bus/pci/devices/*; do
    a=$(basename "$d")
    case "$(cat "$d/class")" in 0x06*) continue ;; esac
    if [ "$(cat "$d/vendor")" = 0x1af4 ] || [[ $a == *:00:01.* ]]; then
        expected="$expected${expected:+,}$a"
    fi
done
ndev=$(ls /sys/bus/pci/devices | wc -l)
iommu_groups=$(ls /sys/kernel/iommu_groups 2> /dev/null | wc -l)

cmdline="console=ttyS0 quiet panic=-1 hvtest=net,balloon hvtest.net_ip=$guest_ip/24"
cmdline="$cmdline hvtest.net_peer=$host_ip hvtest.balloon_watch=900"
echo "# novadrv cycle (whitelist $whitelist)"
timeout 900 "$py" "$novadrv" --uri "$uri" --json "$json" cycle \
    --kernel "$kit/vmlinuz" --initrd "$kit/initrd.img" --cmdline "$cmdline" \
    --memory-mib 512 --vcpus 1 --bridge "$bridge" --bridge-cidr "$host_ip/24" \
    --guest-ip "$guest_ip/24" --mem-stats-period 2 --balloon-mib 256 \
    --whitelist "$whitelist" --instances-path "$dir" \
    --boot-timeout 120 --traffic-timeout 300 --balloon-timeout 180 > "$dir/cycle.out" 2>&1
rc=$?
sed 's/^/#   /' "$dir/cycle.out"
check "novadrv cycle: every step ok (rc $rc)" test "$rc" -eq 0
if [ ! -s "$json" ]; then
    nok "novadrv wrote its JSON report"
    exit 0
fi

status() { q "s('$1')['status']"; }

if dpkg-query -W -f='${Status}' python3-nova 2> /dev/null | grep -q 'install ok installed'; then
    check "python3-nova in use" test "$(status nova)" = ok
    check "domain XML built by nova's classes" test "$(q "d('guest_xml')['builder']")" = nova.virt.libvirt.config
else
    nok "python3-nova is installed (tools/setup installs it); the fallback ran: $(q "s('nova')['detail']")"
fi
check "nova-shaped XML carries nova:instance metadata and a bridge interface" \
    test "$(q "'<nova:instance' in d('guest_xml')['xml'] and 'type=\"bridge\"' in d('guest_xml')['xml']")" = True
check "capabilities parsed: x86_64 with a kvm hvm guest" \
    test "$(q "d('capabilities')['arch'], 'x86_64/hvm/kvm' in d('capabilities')['guests']")" = "('x86_64', True)"

check "pci.select saw every PCI function ($ndev)" test "$(q "d('pci.select')['devices']")" = "$ndev"
got=$(q "','.join(d('pci.select')['candidates'])")
check "pci.select: whitelist candidates = sysfs's [$expected] (got [$got])" test "$got" = "$expected"
if [ "$iommu_groups" -eq 0 ]; then
    check "pci.attach skipped: no IOMMU here" \
        test "$(q "s('pci.attach')['status'], 'no IOMMU' in s('pci.attach')['detail']")" = "('skipped', True)"
else
    echo "# host has $iommu_groups IOMMU groups: pci.attach: $(q "s('pci.attach')")"
fi

check "plug_vifs created bridge $bridge" test "$(q "d('plug_vifs')['created']")" = True
tap=$(q "d('plug_vifs')['tap']")
check "tap $tap on the bridge before resume (vif plugged)" test "$(status vif_plugged)" = ok
check "defineXML accepted nova's XML" test "$(status defineXML)" = ok
name=$(q "d('defineXML')['name']")
check "createWithFlags(START_PAUSED) -> PAUSED" test "$(status createWithFlags)" = ok
check "wait_for_running" test "$(status wait_for_running)" = ok

check "get_info: RUNNING, max 524288, mem 524288, 1 vCPU" \
    test "$(q "[d('get_info')[k] for k in ('state','max_mem_kb','mem_kb','num_cpu')]")" = "['RUNNING', 524288, 524288, 1]"
check "get_info: cpu_time > 0" test "$(q "d('get_info')['cpu_time_ns'] > 0")" = True

diag() { q "d('get_diagnostics')['diagnostics'].get('$1', -1)"; }
check "diagnostics: memory (maxMemory) 524288" test "$(diag memory)" = 524288
cpu0=$(diag cpu0_time)
check "diagnostics: dom.vcpus() gives cpu0_time > 0 ($cpu0 ns)" test "${cpu0:--1}" -gt 0
check "diagnostics: vcpus() is no longer unsupported" \
    test "$(q "any(u.startswith('vcpus') for u in d('get_diagnostics')['unsupported'])")" = False
check "diagnostics: memory-actual 524288" test "$(diag memory-actual)" = 524288
rss=$(diag memory-rss)
check "diagnostics: memory-rss > 0 ($rss)" test "$rss" -gt 0
avail=$(diag memory-available)
check "diagnostics: memory-available plausible (0 < $avail <= 524288)" \
    test "$avail" -gt 0 -a "$avail" -le 524288
unused=$(diag memory-unused)
check "diagnostics: memory-unused plausible (0 < $unused < $avail)" \
    test "$unused" -gt 0 -a "$unused" -lt "$avail"
rxp=$(diag "${tap}_rx_packets")
txp=$(diag "${tap}_tx_packets")
check "diagnostics: interfaceStats($tap) rx_packets > 0 ($rxp)" test "$rxp" -gt 0
check "diagnostics: interfaceStats($tap) tx_packets > 0 ($txp)" test "$txp" -gt 0
check "diagnostics: rx bytes > rx packets" test "$(diag "${tap}_rx")" -gt "$rxp"
check "diagnostics: no libvirt errors besides unsupported calls" test "$(q "d('get_diagnostics')['errors']")" = "[]"
echo "# unsupported by hvd (skipped as nova does): $(q "d('get_diagnostics')['unsupported']")"
if [ "$(diag vda_read_req)" != -1 ]; then
    # The guest kernel reads the disk's partition table when virtio_blk binds.
    check "diagnostics: blockStats(vda) read requests > 0 ($(diag vda_read_req))" \
        test "$(diag vda_read_req)" -gt 0
else
    echo "# blockStats(vda) not available from this hvd"
fi

check "balloon: actual 524288 -> 262144" \
    test "$(q "d('balloon')['actual_before'], d('balloon')['actual_after']")" = "(524288, 262144)"
check "balloon: the guest's own total (available) dropped below 300000 KiB" \
    test "$(q "(d('balloon')['available_after'] or 10**9) < 300000")" = True
check "get_info after the balloon: mem 262144" test "$(q "d('get_info', 1)['mem_kb']")" = 262144
console=$state/log/$name.console.log
low=$(grep -ao 'memtotal_kb:[0-9]*' "$console" 2> /dev/null | cut -d: -f2 | sort -n | head -n 1)
# A 512 MiB guest of the kit boots with MemTotal near 468000 kB; the
# balloon may already have been inflated when the guest's balloon scenario
# printed its first line (it runs after the net scenario), so compare with
# that, not with the first line.
check "the guest saw the balloon: MemTotal down to $low kB (< 300000)" \
    test "${low:-999999}" -lt 300000
check "the guest pinged the host through the bridge" \
    grep -aq "ping_loss_pct=[0-9]" "$console"

check "destroy: SHUTOFF" test "$(status destroy)" = ok
check "undefine: the domain is gone (VIR_ERR_NO_DOMAIN)" test "$(status undefine)" = ok
check "unplug: tap removed" test "$(status unplug_vifs)" = ok -a ! -e "/sys/class/net/$tap"
check "cleanup: bridge deleted" test "$(q "s('cleanup.bridge')['detail']")" = "$bridge deleted"
check "cleanup: instance dir removed" test "$(status cleanup.instance_dir)" = ok
out=$(timeout 30 virsh -c "$uri" list --all --name 2>&1)
check "nothing left defined" test -z "$(tr -d '[:space:]' <<< "$out")"
check "hvd still running" kill -0 "$hvd_pid"

# A whitelist that does not parse: a clear error, exit 1, nothing defined.
out=$(timeout 60 "$py" "$novadrv" --uri "$uri" pci --whitelist '[{"vendor_id": "zz"}]' 2>&1); rc=$?
check "bad whitelist: exit 1 naming vendor_id" test "$rc" -eq 1 -a -n "$(grep 'vendor_id' <<< "$out")"
exit 0
