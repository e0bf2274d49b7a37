#!/usr/bin/env bash
# Scenario: hvsh, the virsh-style CLI, drives hvd. Part 1 (no KVM needed):
# URI selection, define/list/dominfo/dumpxml/edit/undefine, --json output,
# exit codes (0 ok, 1 libvirt error with "error: ..." on stderr, 2 usage),
# help, create --print-xml and create, event, nodedev-list, host-validate.
# Part 2 (needs HVD_GUEST_KIT and a KVM that boots Linux, i.e. inside the
# testbed): one guest with a disk and a balloon created and started with
# hvsh, suspend/resume, monitor (QMP and HMP), console (the guest's lines
# arrive), domblkstat, domifstat, dommemstat, setmem through the balloon,
# reboot and shutdown through the guest, destroy. Unnumbered TAP for tests/integration/suite.sh.
set -uo pipefail

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
hvd=$top_builddir/daemon/hvd
hv=${HVD_HV:-$top_builddir/hv/hv}
hvsh=$top_builddir/tools/hvsh/hvsh

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

for bin in "$hvd" "$hvsh"; do
    if [ ! -x "$bin" ]; then
        nok "$bin not found (build first)"
        exit 1
    fi
done

dir=$(mktemp -d /tmp/hvsh-it.XXXXXX)
sock=$dir/sock
state=$dir/state
hvd_pid=
"$hvd" --state-dir "$state" --socket "$sock" --emulator "$hv" >> "$dir/hvd.log" 2>&1 &
hvd_pid=$!
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
cleanup() {
    h destroy g1 > /dev/null 2>&1
    [ -n "$hvd_pid" ] && kill "$hvd_pid" 2> /dev/null && wait "$hvd_pid" 2> /dev/null
    if [ -n "${KEEP_LOGS:-}" ]; then echo "# logs kept in $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
check "hvd is listening" test -S "$sock"

uri="qemu+unix:///system?socket=$sock"
export HVSH_DEFAULT_URI=$uri
unset LIBVIRT_DEFAULT_URI
h() { timeout 60 "$hvsh" "$@"; }

# ---------------------------------------------------------------- part 1
cat > "$dir/d1.xml" << 'EOF'
<domain type='kvm'>
  <name>d1</name>
  <uuid>0a1b2c3d-0000-4000-8000-0000000000d1</uuid>
  <memory unit='MiB'>256</memory>
  <vcpu>2</vcpu>
  <os><type>hvm</type><kernel>/boot/vmlinuz</kernel></os>
</domain>
EOF
out=$(h define "$dir/d1.xml" 2>&1)
check "define (HVSH_DEFAULT_URI)" grep -q "Domain 'd1' defined from" <<< "$out"
out=$(HVSH_DEFAULT_URI= LIBVIRT_DEFAULT_URI=$uri timeout 60 "$hvsh" list --all --name 2>&1)
check "LIBVIRT_DEFAULT_URI is honoured" grep -qx d1 <<< "$out"
out=$(HVSH_DEFAULT_URI=test:///nowhere timeout 60 "$hvsh" -c "$uri" list --all --name 2>&1)
check "-c overrides the environment" grep -qx d1 <<< "$out"
out=$(h list --all 2>&1)
check "list --all: header and aligned row" \
    test "$(head -n 1 <<< "$out")" = " Id   Name   State" -a "$(sed -n 3p <<< "$out")" = " -    d1     shut off"
out=$(h --json list --all 2>&1)
check "--json list: valid JSON, id null, state" \
    /usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d==[{"id":None,"name":"d1","state":"shut off"}]' "$out"
out=$(h dominfo d1 2>&1)
check "dominfo: 2 CPUs, 262144 KiB, persistent" \
    bash -c 'grep -q "^CPU(s):  *2$" <<< "$1" && grep -q "^Max memory:  *262144 KiB$" <<< "$1" && grep -q "^Persistent:  *yes$" <<< "$1"' _ "$out"
out=$(h --json dominfo d1 2>&1)
check "--json dominfo: numbers and booleans" \
    /usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["vcpus"]==2 and d["max_memory_kib"]==262144 and d["persistent"] is True and d["uuid"].endswith("d1")' "$out"
h dumpxml d1 > "$dir/dump.xml" 2>&1
check "dumpxml: well-formed, has the uuid" grep -q "<uuid>0a1b2c3d-0000-4000-8000-0000000000d1</uuid>" "$dir/dump.xml"
out=$(h domstate d1 --reason 2>&1)
check "domstate --reason" test "$(head -n 1 <<< "$out")" = "shut off (unknown)"

# exit codes and messages
h dominfo nosuch > /dev/null 2> "$dir/err"; rc=$?
check "unknown domain: exit 1" test "$rc" = 1
check "unknown domain: virsh-style error lines" \
    grep -qx "error: Domain not found: no domain with matching name 'nosuch'" "$dir/err"
h no-such-command > /dev/null 2>&1; rc=$?
check "unknown command: exit 2" test "$rc" = 2
h list --bogus > /dev/null 2> "$dir/err"; rc=$?
check "unknown option: exit 2, names it" bash -c '[ "$1" = 2 ] && grep -q -- "--bogus" "$2"' _ "$rc" "$dir/err"
h setmem d1 12Q > /dev/null 2>&1; rc=$?
check "bad size: exit 2" test "$rc" = 2
h -c "qemu+unix:///system?socket=$dir/none" list > /dev/null 2> "$dir/err"; rc=$?
check "unreachable daemon: exit 1 with libvirt's reason" \
    bash -c '[ "$1" = 1 ] && grep -q "failed to connect" "$2"' _ "$rc" "$dir/err"
out=$(h help dominfo 2>&1)
check "help CMD" grep -q "dominfo \[--domain\] <domain>" <<< "$out"
out=$(h dominfo --help 2>&1)
check "CMD --help" grep -q "SYNOPSIS" <<< "$out"

# setmem --config with units
check "setmem d1 128M --config" h setmem d1 128M --config
out=$(h --json dominfo d1 2>&1)
check "config memory is 131072 KiB" \
    /usr/bin/python3 -c 'import json,sys; assert json.loads(sys.argv[1])["used_memory_kib"]==131072' "$out"

# edit: a good edit is defined, a bad one is kept and reported
printf '#!/bin/sh\nsed -i "s/<vcpu\\([^>]*\\)>2</<vcpu\\1>3</" "$1"\n' > "$dir/ed-good"
printf '#!/bin/sh\nsed -i "s/<name>/<nme>/" "$1"\n' > "$dir/ed-bad"
chmod +x "$dir/ed-good" "$dir/ed-bad"
out=$(EDITOR=$dir/ed-good h edit d1 2>&1)
check "edit: changed XML defined" grep -q "XML configuration edited" <<< "$out"
check "edit: 3 CPUs now" bash -c 'h() { timeout 60 "$0" "$@"; }; h dominfo d1 | grep -q "^CPU(s):  *3$"' "$hvsh"
out=$(EDITOR=$dir/ed-bad h edit d1 2>&1 < /dev/null); rc=$?
kept=$(sed -n 's/^error: your changes are kept in //p' <<< "$out")
check "edit: invalid XML refused (exit 1)" test "$rc" = 1
check "edit: the edited file is kept" grep -q "<nme>d1</name>" "$kept"
rm -f "$kept"
out=$(EDITOR=true h edit d1 2>&1)
check "edit: unchanged" grep -q "not changed" <<< "$out"

# create: composed XML, defined; events seen by hvsh event (stopped with
# SIGTERM once the last expected event is in, so slow machines still pass;
# the pause lets it register first)
"$hvsh" event --all --loop --timeout 120 > "$dir/events" 2>&1 &
ev_pid=$!
sleep 2
h create c1 --memory 128M --vcpus 2 --kernel /boot/vmlinuz --cmdline "console=ttyS0" \
    --disk path=/tmp/c1.img,readonly=on --nic model=virtio,ifname=tapc1,vhost=off,queues=2 \
    --balloon=5 --print-xml > "$dir/c1.xml" 2>&1
check "create --print-xml: well-formed" xmllint --noout "$dir/c1.xml"
if [ -f /usr/share/libvirt/schemas/domain.rng ]; then
    check "create --print-xml validates against libvirt's domain.rng" \
        xmllint --noout --relaxng /usr/share/libvirt/schemas/domain.rng "$dir/c1.xml"
fi
check "create: <driver name='qemu' queues='2'/> and <stats period='5'/>" \
    bash -c 'grep -q "<driver name=\"qemu\" queues=\"2\"/>" "$1" && grep -q "<stats period=\"5\"/>" "$1"' _ "$dir/c1.xml"
out=$(h create c2 --memory 128 --kernel /boot/vmlinuz --balloon 2>&1)
check "create c2 defines it" grep -q "Domain 'c2' defined" <<< "$out"
out=$(h dumpxml c2 2>&1)
check "c2 has 128 MiB and a balloon" \
    bash -c 'grep -q "<memory unit=.KiB.>131072</memory>" <<< "$1" && grep -q "<memballoon model=.virtio." <<< "$1"' _ "$out"
check "undefine c2" h undefine c2
for _ in $(seq 300); do grep -q "'c2': Undefined" "$dir/events" && break; sleep 0.1; done
kill -TERM "$ev_pid" 2> /dev/null
wait "$ev_pid"; rc=$?
check "event --loop ends cleanly on SIGTERM (exit 0)" test "$rc" = 0
check "event: Defined Added for c2" grep -q "event 'lifecycle' for domain 'c2': Defined Added" "$dir/events"
check "event: Undefined Removed for c2" grep -q "event 'lifecycle' for domain 'c2': Undefined Removed" "$dir/events"
check "event: summary line" grep -q "^events received: [1-9]" "$dir/events"
out=$(h event --event lifecycle --timeout 1 2>&1)
check "event --timeout with nothing happening" grep -q "event loop timed out" <<< "$out"

# node devices (PCI from sysfs; real devices in the testbed)
out=$(h nodedev-list --cap pci 2>&1); rc=$?
check "nodedev-list --cap pci" test "$rc" = 0
first=$(grep -m 1 '^pci_' <<< "$out")
if [ -n "$first" ]; then
    out=$(h nodedev-dumpxml "$first" 2>&1)
    check "nodedev-dumpxml $first" grep -q "<name>$first</name>" <<< "$out"
    out=$(h --json nodedev-list --cap pci 2>&1)
    check "--json nodedev-list" /usr/bin/python3 -c 'import json,sys; assert sys.argv[2] in json.loads(sys.argv[1])' "$out" "$first"
fi

# host-validate: one line per check, exit status follows FAILs
out=$(h host-validate 2>&1); rc=$?
check "host-validate: every line is PASS/WARN/FAIL" bash -c '! grep -qvE "^(PASS|WARN|FAIL): " <<< "$1"' _ "$out"
if grep -q '^FAIL' <<< "$out"; then want=1; else want=0; fi
check "host-validate: exit $want" test "$rc" = "$want"
echo "$out" | sed 's/^/# host-validate: /'

check "undefine d1" h undefine d1

# ---------------------------------------------------------------- part 2
kit=${HVD_GUEST_KIT:-}
if [ -z "$kit" ] || [ ! -x "$hv" ]; then
    echo "# part 2 skipped: needs HVD_GUEST_KIT and hv (run through tests/integration/suite.sh)"
    exit 0
fi

truncate -s 16M "$dir/g1.img"
out=$(h create g1 --memory 512M --kernel "$kit/vmlinuz" --initrd "$kit/initrd.img" \
    --cmdline "console=ttyS0 quiet panic=-1 hvtest=balloon hvtest.balloon_watch=600" \
    --disk "path=$dir/g1.img" --nic model=virtio,ifname=hvshtap0 --balloon=1 --start 2>&1)
check "create g1 --start boots the guest kit" grep -q "defined and started" <<< "$out"
[ -n "${out##*started*}" ] && echo "# $out" && tail -n 20 "$state/log/g1.log" | sed 's/^/# log: /'
out=$(h list 2>&1)
check "list shows g1 running" grep -qE '^ *[1-9][0-9]* +g1 +running' <<< "$out"
check "guest reached HVTEST READY" wait_console g1 "HVTEST READY" 120
check "suspend" h suspend g1
check "paused" test "$(h domstate g1 | head -n 1)" = paused
out=$(h monitor g1 query-status 2>&1)
check "monitor query-status (bare name wrapped, pretty JSON)" grep -q '"status": "paused"' <<< "$out"
check "resume" h resume g1
out=$(h monitor g1 --hmp info status 2>&1)
check "monitor --hmp info status" grep -q "VM status: running" <<< "$out"
h monitor g1 '{"execute":"no-such"}' > "$dir/qmp" 2>&1; rc=$?
check "monitor: QMP error exits 1 and names the class" \
    bash -c '[ "$1" = 1 ] && grep -q CommandNotFound "$2"' _ "$rc" "$dir/qmp"
if wait_console g1 "balloon_driver=yes" 30; then
    check "setmem g1 256M (balloon)" h setmem g1 256M
    check "guest MemTotal shrinks" wait_console g1 "memtotal_kb:2[0-9][0-9][0-9][0-9][0-9]," 60
else
    nok "guest balloon driver bound (console: balloon_driver=yes)"
    grep -a -m 3 "balloon_driver\|virtio_balloon\|HVTEST READY" "$state/log/g1.console.log" | sed 's/^/# console: /'
fi
# The balloon scenario reports the guest's memory every second: the
# console shows those lines as they come.
out=$(timeout 6 "$hvsh" console g1 < /dev/null 2>&1)
check "console: connected to g1" grep -q "Connected to domain 'g1'" <<< "$out"
check "console: the guest's HVTEST lines arrive" grep -q "HVTEST" <<< "$out"
# The guest's virtio_blk driver read the partition table at probe.
out=$(h domblkstat g1 vda 2>&1); rc=$?
echo "$out" | sed 's/^/# domblkstat: /'
check "domblkstat g1 vda: exit 0, rd_req > 0" \
    bash -c '[ "$1" = 0 ] && awk '"'"'$2 == "rd_req" && $3 > 0 { f = 1 } END { exit !f }'"'"' <<< "$2"' _ "$rc" "$out"
out=$(h domblkstat g1 vdz 2>&1); rc=$?
check "domblkstat of a disk g1 lacks: exit 1 with libvirt's error" \
    bash -c '[ "$1" = 1 ] && grep -q "invalid path" <<< "$2"' _ "$rc" "$out"
out=$(h domifstat g1 hvshtap0 2>&1); rc=$?
echo "$out" | sed 's/^/# domifstat: /'
check "domifstat g1 hvshtap0: exit 0 with rx and tx counters" \
    bash -c '[ "$1" = 0 ] && grep -q "rx_bytes" <<< "$2" && grep -q "tx_packets" <<< "$2"' _ "$rc" "$out"
out=$(h domifstat g1 nosuch0 2>&1); rc=$?
check "domifstat of an interface g1 lacks: exit 1" test "$rc" = 1
out=$(h dommemstat g1 2>&1)
echo "$out" | sed 's/^/# dommemstat: /'
check "dommemstat: actual and guest statistics" \
    bash -c 'grep -q "^actual 2" <<< "$1" && grep -q "^last_update [1-9]" <<< "$1"' _ "$out"
# reboot (ACPI, as libvirt's default): the guest powers off through its
# power button and the same worker resets and boots it again.
out=$(h reboot g1 2>&1)
check "reboot g1" grep -q "is being rebooted" <<< "$out"
for _ in $(seq 240); do
    [ "$(grep -ac "HVTEST READY" "$state/log/g1.console.log")" -ge 2 ] && break
    sleep 0.5
done
check "the guest booted again after the reboot (HVTEST READY twice)" \
    test "$(grep -ac "HVTEST READY" "$state/log/g1.console.log")" -ge 2
check "still running after the reboot" test "$(h domstate g1 | head -n 1)" = running
out=$(h shutdown g1 2>&1)
check "shutdown g1" grep -q "is being shutdown" <<< "$out"
for _ in $(seq 240); do [ "$(h domstate g1 | head -n 1)" = "shut off" ] && break; sleep 0.5; done
check "the guest powered off through its power button: shut off (shutdown)" \
    test "$(h domstate g1 --reason | head -n 1)" = "shut off (shutdown)"
check "start g1 again" h start g1
check "destroy g1" h destroy g1
check "shut off after destroy" test "$(h domstate g1 | head -n 1)" = "shut off"
check "undefine g1" h undefine g1
exit 0
