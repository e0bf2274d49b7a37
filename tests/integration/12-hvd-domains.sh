#!/usr/bin/env bash
# Scenario: stock virsh manages domains through hvd. Part 1 (no KVM needed):
# define, list, dominfo, dumpxml, domstate, autostart, undefine, libvirt's
# error texts, read-only refusal, persistence across a daemon restart,
# python3-libvirt listing. Part 2 (needs HVD_GUEST_KIT and a KVM that boots
# Linux, i.e. inside the testbed): start boots the guest kit, list/dominfo
# show it running, suspend/resume, qemu-monitor-command (QMP and HMP),
# dommemstat (and --period), setmem through the balloon, every dumpxml
# against libvirt's schema, virsh shutdown (the guest's power button) and
# a guest that powers off by itself end as "shut off (shutdown)". Devices
# (issue 6): attach/detach --config with stock virsh (part 1), live
# attach refused and isUpdated (part 2); vcpuinfo and python dom.vcpus()
# with the vCPU thread's CPU time (part 2), getCPUMap. Unnumbered TAP for
# tests/integration/suite.sh.
set -uo pipefail

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
hvd=$top_builddir/daemon/hvd
hv=${HVD_HV:-$top_builddir/hv/hv}
py=/usr/bin/python3 # Debian's interpreter, which has python3-libvirt

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

if [ ! -x "$hvd" ]; then
    nok "hvd binary not found at $hvd (build first)"
    exit 1
fi
if ! command -v virsh > /dev/null; then
    nok "virsh not installed (apt-get install libvirt-clients)"
    exit 1
fi

dir=$(mktemp -d /tmp/hvd-domains.XXXXXX)
sock=$dir/sock
state=$dir/state
hvd_pid=
stop_hvd() {
    [ -n "$hvd_pid" ] || return 0
    kill "$hvd_pid" 2> /dev/null
    wait "$hvd_pid" 2> /dev/null
    hvd_pid=
}
cleanup() {
    v destroy g1 > /dev/null 2>&1
    stop_hvd
    if [ -n "${KEEP_LOGS:-}" ]; then echo "# logs kept in $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT

uri="qemu+unix:///system?socket=$sock"
v() { timeout 60 virsh -c "$uri" "$@"; }
field() { # field "Name" <<< dominfo output
    awk -F': *' -v k="$1" '$1 == k { print $2 }'
}

start_hvd
check "hvd is listening" test -S "$sock"

# ---------------------------------------------------------------- part 1
cat > "$dir/d1.xml" << 'EOF'
<domain type='kvm'>
  <name>d1</name>
  <uuid>0a1b2c3d-0000-4000-8000-000000000001</uuid>
  <memory unit='MiB'>256</memory>
  <vcpu>2</vcpu>
  <os><type>hvm</type><kernel>/boot/vmlinuz</kernel><cmdline>console=ttyS0</cmdline></os>
  <devices><disk type='file' device='disk'><source file='/tmp/none.img'/><target dev='vda'/></disk></devices>
</domain>
EOF
out=$(v define "$dir/d1.xml" 2>&1)
check "virsh define" grep -q "Domain 'd1' defined" <<< "$out"
check "config persisted as qemu/d1.xml" test -f "$state/qemu/d1.xml"
out=$(v list --all 2>&1)
check "virsh list --all shows d1 shut off" grep -qE '^ *- +d1 +shut off' <<< "$out"
out=$(v list 2>&1)
check "virsh list (active) does not show d1" test "$(grep -c ' d1 ' <<< "$out")" = 0
out=$(v dominfo d1 2>&1)
check "dominfo: state shut off" test "$(field State <<< "$out")" = "shut off"
check "dominfo: 2 CPUs" test "$(field 'CPU(s)' <<< "$out")" = 2
check "dominfo: max memory 262144 KiB" test "$(field 'Max memory' <<< "$out")" = "262144 KiB"
check "dominfo: persistent" test "$(field Persistent <<< "$out")" = yes
check "dominfo: uuid" test "$(field UUID <<< "$out")" = "0a1b2c3d-0000-4000-8000-000000000001"
out=$(v domstate d1 --reason 2>&1)
check "domstate --reason: shut off (unknown)" test "$out" = "shut off (unknown)"
v dumpxml d1 > "$dir/dump.xml" 2>&1
check "dumpxml: well-formed" xmllint --noout "$dir/dump.xml"
check "dumpxml: name and uuid" grep -q "<uuid>0a1b2c3d-0000-4000-8000-000000000001</uuid>" "$dir/dump.xml"
validate_domxml "dumpxml of d1" "$dir/dump.xml"
out=$(v define "$dir/dump.xml" 2>&1)
check "dumpxml output defines again" grep -q "Domain 'd1' defined" <<< "$out"
out=$(v dumpxml 0a1b2c3d-0000-4000-8000-000000000001 2>&1)
check "lookup by uuid (dumpxml UUID)" grep -q "<name>d1</name>" <<< "$out"

out=$(v dominfo nosuch 2>&1)
check "unknown domain: virsh says failed to get domain" grep -q "failed to get domain 'nosuch'" <<< "$out"
out=$($py - "$uri" 2>&1 << 'EOF'
import sys, libvirt
libvirt.registerErrorHandler(lambda ctx, err: None, None)
c = libvirt.open(sys.argv[1])
try:
    c.lookupByName("nosuch")
except libvirt.libvirtError as e:
    print(e.get_error_code(), e.get_error_domain(), e.get_error_message())
EOF
)
check "lookupByName error is libvirt's (42/10, text)" \
    test "$out" = "42 10 Domain not found: no domain with matching name 'nosuch'"
out=$(v destroy d1 2>&1)
check "destroy of a stopped domain: libvirt's message" \
    grep -q "Requested operation is not valid: domain is not running" <<< "$out"
sed 's/0a1b2c3d-0000-4000-8000-000000000001/0a1b2c3d-0000-4000-8000-0000000000ff/' "$dir/d1.xml" > "$dir/clash.xml"
out=$(v define "$dir/clash.xml" 2>&1)
check "same name with another uuid refused" grep -q "already exists with uuid" <<< "$out"
echo "<domain type='kvm'><name>x" > "$dir/bad.xml"
out=$(v define "$dir/bad.xml" 2>&1)
check "malformed XML refused with the parser's message" grep -q "Premature end of data" <<< "$out"

out=$(v autostart d1 2>&1)
check "autostart d1" grep -q "marked as autostarted" <<< "$out"
check "autostart link exists" test -L "$state/qemu/autostart/d1.xml"
out=$(v list --all --autostart --name 2>&1)
check "list --autostart shows d1" grep -qx d1 <<< "$out"
out=$(v vcpucount d1 2>&1)
check "vcpucount: maximum config 2" grep -qE '^maximum +config +2' <<< "$out"

# Devices in the persistent config (virDomainAttachDeviceFlags and
# DetachDeviceFlags with --config), as stock virsh drives them.
cat > "$dir/vdb.xml" << 'EOF'
<disk type='file' device='disk'><source file='/tmp/hvd-test-vdb.img'/><target dev='vdb' bus='virtio'/></disk>
EOF
out=$(v attach-device d1 "$dir/vdb.xml" --config 2>&1)
check "attach-device --config" grep -q "Device attached successfully" <<< "$out"
out=$(v domblklist d1 2>&1)
check "domblklist shows vda and vdb" \
    test "$(grep -cE '^ *(vda +/tmp/none.img|vdb +/tmp/hvd-test-vdb.img) *$' <<< "$out")" = 2
check "vdb persisted in qemu/d1.xml" grep -q "hvd-test-vdb.img" "$state/qemu/d1.xml"
out=$(v attach-device d1 "$dir/vdb.xml" --config 2>&1)
check "attaching vdb twice: libvirt's text" \
    grep -q "Requested operation is not valid: target vdb already exists" <<< "$out"
out=$(v attach-device d1 "$dir/vdb.xml" --live 2>&1)
check "attach --live to a shut off domain: not running" \
    grep -q "Requested operation is not valid: domain is not running" <<< "$out"
out=$(v attach-interface d1 bridge br-hvd-none --model virtio --mac 52:54:00:12:34:56 --config 2>&1)
check "attach-interface --config" grep -q "Interface attached successfully" <<< "$out"
out=$(v domiflist d1 2>&1)
check "domiflist shows the new interface" grep -qE 'bridge +br-hvd-none +virtio +52:54:00:12:34:56' <<< "$out"
v dumpxml --inactive d1 > "$dir/d1-devs.xml" 2>&1
validate_domxml "dumpxml after attach --config" "$dir/d1-devs.xml"
out=$(v detach-interface d1 bridge --mac 52:54:00:12:34:99 --config 2>&1)
check "detach-interface of an unknown MAC refused" grep -q "52:54:00:12:34:99" <<< "$out"
out=$(v detach-interface d1 bridge --mac 52:54:00:12:34:56 --config 2>&1)
check "detach-interface --config" grep -q "Interface detached successfully" <<< "$out"
out=$(v detach-device d1 "$dir/vdb.xml" --config 2>&1)
check "detach-device --config" grep -q "Device detached successfully" <<< "$out"
out=$(v detach-device d1 "$dir/vdb.xml" --config 2>&1)
check "detach of a disk not there: device not found" \
    grep -q "device not found: no target device vdb" <<< "$out"
out=$(v domblklist d1 2>&1)
check "domblklist: only vda again" test "$(grep -cE '^ *vd[a-z] ' <<< "$out")" = 1
out=$(v domiflist d1 2>&1)
check "domiflist: no interface left" test "$(grep -c 52:54:00 <<< "$out")" = 0
echo "<memballoon model='virtio'/>" > "$dir/balloon.xml"
out=$(v attach-device d1 "$dir/balloon.xml" --config 2>&1)
check "memballoon attach: libvirt's unsupported text" \
    grep -q "persistent attach of device 'memballoon' is not supported" <<< "$out"

# Host CPU map and vCPUs of a shut off domain.
out=$(v vcpuinfo d1 2>&1)
check "vcpuinfo of a shut off domain lists 2 vCPUs with affinity" \
    test "$(grep -c '^CPU Affinity: ' <<< "$out")" = 2
out=$($py - "$uri" 2>&1 << 'EOF'
import sys, libvirt
libvirt.registerErrorHandler(lambda ctx, err: None, None)
c = libvirt.open(sys.argv[1])
cpus, cpumap, online = c.getCPUMap()
print(cpus, sum(cpumap), online, len(cpumap))
d = c.lookupByName("d1")
try:
    d.vcpus()
except libvirt.libvirtError as e:
    print(e.get_error_code(), e.get_error_message())
print(d.isUpdated())
EOF
)
present=$(( $(sed 's/.*[-,]//' /sys/devices/system/cpu/present) + 1 ))
n_online=$(getconf _NPROCESSORS_ONLN)
expect="$present $n_online $n_online $present
55 Requested operation is not valid: cannot list vcpus for an inactive domain
0"
check "python getCPUMap, vcpus() of a shut off domain, isUpdated" test "$out" = "$expect"
[ "$out" = "$expect" ] || echo "$out" | sed 's/^/# got: /'

out=$(timeout 30 virsh -c "qemu+unix:///system?socket=$sock-ro" undefine d1 2>&1)
check "read-only socket refuses undefine" grep -q "read only access prevents" <<< "$out"

out=$($py - "$uri" 2>&1 << 'EOF'
import sys, libvirt
c = libvirt.open(sys.argv[1])
doms = c.listAllDomains(0)
d = c.lookupByName("d1")
print(len(doms), doms[0].name(), d.isActive(), d.isPersistent(), d.info()[0], d.maxMemory(),
      c.numOfDefinedDomains(), c.listDefinedDomains(), c.numOfDomains())
EOF
)
check "python3-libvirt sees d1 (listAllDomains, info, counts)" \
    test "$out" = "1 d1 0 1 5 262144 1 ['d1'] 0"

stop_hvd
start_hvd
out=$(v list --all 2>&1)
check "after a daemon restart d1 is still defined" grep -qE '^ *- +d1 +shut off' <<< "$out"
out=$(v dominfo d1 2>&1)
check "and still autostarted" test "$(field Autostart <<< "$out")" = enable

out=$(v undefine d1 2>&1)
check "virsh undefine" grep -q "Domain 'd1' has been undefined" <<< "$out"
check "config removed" test ! -e "$state/qemu/d1.xml"
out=$(v list --all --name 2>&1)
check "list --all is empty again" test -z "$(tr -d '[:space:]' <<< "$out")"

# ---------------------------------------------------------------- part 2
kit=${HVD_GUEST_KIT:-}
if [ -z "$kit" ] || [ ! -x "$hv" ]; then
    echo "# part 2 skipped: needs HVD_GUEST_KIT and hv (run through tests/integration/suite.sh)"
    exit 0
fi

guest_xml() { # NAME CMDLINE [MEMBALLOON-CHILDREN]
    cat << EOF
<domain type='kvm'>
  <name>$1</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type><kernel>$kit/vmlinuz</kernel><initrd>$kit/initrd.img</initrd>
    <cmdline>$2</cmdline></os>
  <on_poweroff>destroy</on_poweroff>
  <devices><memballoon model='virtio'>${3:-}</memballoon></devices>
</domain>
EOF
}

guest_xml g1 "console=ttyS0 quiet panic=-1 hvtest=balloon hvtest.balloon_watch=600" \
    "<stats period='1'/>" > "$dir/g1.xml"
check "define g1 (guest kit)" v define "$dir/g1.xml"
out=$(v start g1 2>&1)
check "virsh start g1" grep -q "Domain 'g1' started" <<< "$out"
[ -n "${out##*started*}" ] && echo "# $out" && tail -n 20 "$state/log/g1.log" | sed 's/^/# log: /'
out=$(v list 2>&1)
check "list shows g1 running with an id" grep -qE '^ *[1-9][0-9]* +g1 +running' <<< "$out"
out=$(v domstate g1 --reason 2>&1)
check "domstate: running (booted)" test "$out" = "running (booted)"
check "guest reached HVTEST READY" wait_console g1 "HVTEST READY" 120
out=$(v dominfo g1 2>&1)
check "dominfo: running, id > 0" test "$(field State <<< "$out")" = running -a "$(field Id <<< "$out")" -gt 0
cpu=$(field 'CPU time' <<< "$out")
check "dominfo: CPU time reported ($cpu)" test -n "$cpu"
v dumpxml g1 > "$dir/g1-live.xml" 2>&1
check "live XML carries the id" grep -qE "<domain type='kvm' id='[1-9]" "$dir/g1-live.xml"
validate_domxml "live dumpxml of g1" "$dir/g1-live.xml"
v dumpxml g1 --inactive > "$dir/g1-inactive.xml" 2>&1
validate_domxml "dumpxml --inactive of the running g1" "$dir/g1-inactive.xml"

out=$(v start g1 2>&1)
check "start of a running domain refused" grep -qi "already active\|already running" <<< "$out"

check "virsh suspend" v suspend g1
check "paused after suspend" test "$(v domstate g1 --reason)" = "paused (user)"
out=$(v qemu-monitor-command g1 '{"execute":"query-status"}' 2>&1)
check "qemu-monitor-command query-status: paused" grep -q '"status":"paused"' <<< "$out"
check "virsh resume" v resume g1
check "running after resume" test "$(v domstate g1 --reason)" = "running (unpaused)"
out=$(v qemu-monitor-command g1 --hmp 'info status' 2>&1)
check "qemu-monitor-command --hmp 'info status'" grep -q "VM status: running" <<< "$out"
out=$(v qemu-monitor-command g1 '{"execute":"no-such"}' 2>&1)
check "a QMP error is passed through" grep -q "CommandNotFound" <<< "$out"

# vCPUs of the running guest: its worker's vCPU thread (query-cpus-fast
# thread-id) with the thread's own CPU time and host CPU from /proc.
out=$(v vcpuinfo g1 2>&1)
echo "$out" | sed 's/^/# vcpuinfo: /'
check "vcpuinfo: VCPU 0 running" grep -qE '^State: +running' <<< "$out"
vcpu_time=$(awk -F': *' '/^CPU time/ { sub(/s$/, "", $2); print $2 }' <<< "$out")
check "vcpuinfo: the vCPU thread has CPU time ($vcpu_time s)" \
    awk -v t="${vcpu_time:-0}" 'BEGIN { exit !(t > 0) }'
check "vcpuinfo: a host CPU and an affinity" grep -qE '^CPU Affinity: +y' <<< "$out"
out=$(v vcpucount g1 --live 2>&1)
check "vcpucount --live: 1 ($out)" test "$out" = 1
out=$($py - "$uri" 2>&1 << 'EOF'
import sys, libvirt
c = libvirt.open(sys.argv[1])
d = c.lookupByName("g1")
info, maps = d.vcpus()
cpus = c.getCPUMap()[0]
(num, state, cpu_time, cpu), = info
print(len(info), num, state, "time>0" if cpu_time > 0 else "time=0",
      "cpu-ok" if 0 <= cpu < cpus else "cpu=%d" % cpu, len(maps[0]) == cpus and any(maps[0]))
EOF
)
check "python dom.vcpus(): one running vCPU with CPU time, CPU and affinity ($out)" \
    test "$out" = "1 0 1 time>0 cpu-ok True"

# No hotplug in the worker: live changes are refused with libvirt's words,
# --config ones wait for the next start (isUpdated).
out=$(v attach-device g1 "$dir/vdb.xml" 2>&1)
check "live attach refused: libvirt's text" \
    grep -q "Operation not supported: live attach of device 'disk' is not supported" <<< "$out"
cat > "$dir/hostdev.xml" << 'EOF'
<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x00' slot='0x1f' function='0x7'/></source></hostdev>
EOF
out=$(v attach-device g1 "$dir/hostdev.xml" --live 2>&1)
check "live hostdev attach refused" grep -q "live attach of device 'hostdev' is not supported" <<< "$out"
out=$(v attach-device g1 "$dir/vdb.xml" --config 2>&1)
check "attach-device --config while running" grep -q "Device attached successfully" <<< "$out"
updated() { $py -c 'import sys, libvirt; print(libvirt.open(sys.argv[1]).lookupByName("g1").isUpdated())' "$uri" 2>&1; }
check "isUpdated after a --config change" test "$(updated)" = 1
check "the live XML has no vdb" test "$(v dumpxml g1 | grep -c hvd-test-vdb)" = 0
check "the next config has vdb" grep -q hvd-test-vdb <<< "$(v dumpxml g1 --inactive)"
out=$(v detach-device g1 "$dir/vdb.xml" --live 2>&1)
check "live detach of a disk not running there: device not found" grep -q "device not found" <<< "$out"
out=$(v detach-device g1 "$dir/vdb.xml" --config 2>&1)
check "detach-device --config while running" grep -q "Device detached successfully" <<< "$out"
check "isUpdated is false again" test "$(updated)" = 0

stat_of() { awk -v k="$1" '$1 == k { print $2 }'; }
if wait_console g1 "balloon_driver=yes" 30; then
    # virsh dommemstat: actual from the balloon, rss of the worker, the
    # guest's own numbers once its first stats buffer (period 1 s) came.
    out=
    for _ in $(seq 20); do
        out=$(v dommemstat g1 2>&1)
        grep -q '^available ' <<< "$out" && break
        sleep 0.5
    done
    echo "$out" | sed 's/^/# dommemstat: /'
    check "dommemstat: actual 524288 (the balloon target)" test "$(stat_of actual <<< "$out")" = 524288
    rss=$(stat_of rss <<< "$out")
    check "dommemstat: rss > 0 ($rss)" test "${rss:-0}" -gt 0
    avail=$(stat_of available <<< "$out")
    guest_total=$(grep -ao 'memtotal_kb:[0-9]*' "$state/log/g1.console.log" | tail -n 1 | cut -d: -f2)
    check "dommemstat: available ($avail) is the guest's MemTotal ($guest_total)" \
        test -n "$avail" -a "$avail" = "$guest_total"
    unused=$(stat_of unused <<< "$out")
    check "dommemstat: 0 < unused ($unused) < available" \
        test "${unused:-0}" -gt 0 -a "${unused:-0}" -lt "${avail:-0}"
    lu=$(stat_of last_update <<< "$out")
    check "dommemstat: last_update within a minute of now ($lu)" \
        test "$(( $(date +%s) - ${lu:-0} ))" -lt 60
    check "dommemstat --period 3 --live" v dommemstat g1 --period 3 --live
    out=$(v qemu-monitor-command g1 '{"execute":"qom-get","arguments":{"path":"/machine/peripheral/balloon0","property":"guest-stats-polling-interval"}}' 2>&1)
    check "the worker's polling interval is now 3" grep -q '"return":3' <<< "$out"
    check "virsh setmem g1 262144 (balloon)" v setmem g1 262144
    check "guest MemTotal shrinks" wait_console g1 "memtotal_kb:2[0-9][0-9][0-9][0-9][0-9]," 60
    # The worker's BALLOON_CHANGE events move "Used memory" as the guest
    # gives pages back (libvirt reports the same way).
    used=
    for _ in $(seq 60); do
        used=$(v dominfo g1 2>&1 | field 'Used memory')
        [ "$used" = "262144 KiB" ] && break
        sleep 1
    done
    check "dominfo used memory follows the balloon (last: $used)" test "$used" = "262144 KiB"
    out=$(v dommemstat g1 2>&1)
    check "dommemstat: actual follows the balloon (262144)" test "$(stat_of actual <<< "$out")" = 262144
else
    nok "guest balloon driver bound (console: balloon_driver=yes)"
fi

# The guest kit's init powers off on the ACPI power button.
check "virsh shutdown is accepted (ACPI power button)" v shutdown g1
check "g1 shuts down through its power button" wait_state g1 "shut off" 120
out=$(v domstate g1 --reason 2>&1)
check "shut off (shutdown)" test "$out" = "shut off (shutdown)"
check "g1 console has HVTEST POWERBUTTON" grep -q "HVTEST POWERBUTTON" "$state/log/g1.console.log"
check "the worker is gone (no monitor socket)" test ! -e "$state/run/g1.monitor"

# A guest that powers off on its own ends as a shutdown.
guest_xml g2 "console=ttyS0 quiet panic=-1 hvtest=ready hvtest.end=poweroff" > "$dir/g2.xml"
v define "$dir/g2.xml" > /dev/null 2>&1
check "virsh start g2" v start g2
check "g2 powers off by itself" wait_state g2 "shut off" 120
out=$(v domstate g2 --reason 2>&1)
check "shut off (shutdown)" test "$out" = "shut off (shutdown)"
check "g2 console has HVTEST DONE" grep -q "HVTEST DONE" "$state/log/g2.console.log"
v undefine g2 > /dev/null 2>&1
v undefine g1 > /dev/null 2>&1
out=$(v list --all --name 2>&1)
check "nothing left defined" test -z "$(tr -d '[:space:]' <<< "$out")"
exit 0
