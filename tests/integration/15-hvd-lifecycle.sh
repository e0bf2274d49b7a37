#!/usr/bin/env bash
# Scenario: guests outlive the daemon; crashes, events, console, autostart.
# Part 1 (no KVM): lifecycle events for define/undefine seen by
# `virsh event`, and hvd killed (-9) in the middle of 50 defines: after a
# restart every define that returned success is there and every config
# parses. Part 2 (HVD_GUEST_KIT, a KVM that boots Linux: the testbed): three
# small guests survive `kill -9 hvd` (same ids, same worker pids, no second
# boot on their consoles) and stay manageable; a worker killed with -9 is
# seen at once (event, "shut off (crashed)", its tap gone), and one that
# dies while hvd is down is found crashed at restart; the event sequence for
# start/suspend/resume/destroy; `virsh console` runs a command in the
# guest's shell and a second console gets libvirt's error; autostart.
# Unnumbered TAP for tests/integration/suite.sh.
set -uo pipefail

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
hvd=$top_builddir/daemon/hvd
hv=${HVD_HV:-$top_builddir/hv/hv}
py=/usr/bin/python3 # Debian's interpreter, which has python3-libvirt

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

if [ ! -x "$hvd" ] || ! command -v virsh > /dev/null; then
    nok "needs hvd ($hvd) and virsh"
    exit 1
fi

dir=$(mktemp -d /tmp/hvd-lifecycle.XXXXXX)
sock=$dir/sock
state=$dir/state
hvd_pid=
kill9_hvd() {
    [ -n "$hvd_pid" ] || return 0
    kill -9 "$hvd_pid" 2> /dev/null
    wait "$hvd_pid" 2> /dev/null
    hvd_pid=
}
cleanup() {
    for g in g1 g2 g3 g4; do v destroy "$g" > /dev/null 2>&1; done
    [ -n "$hvd_pid" ] && kill "$hvd_pid" 2> /dev/null && wait "$hvd_pid" 2> /dev/null
    for f in "$state"/run/*.status; do # workers this test left behind, by pid
        [ -e "$f" ] && kill -9 "$(worker_pid_file "$f")" 2> /dev/null
    done
    if [ -n "${KEEP_LOGS:-}" ]; then echo "# logs kept in $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT

worker_pid_file() { $py -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$1" 2> /dev/null; }
uri="qemu+unix:///system?socket=$sock"
v() { timeout 60 virsh -c "$uri" "$@"; }

# Events seen by `virsh event --all --loop` into FILE until killed.
events_start() { # FILE
    timeout 300 virsh -c "$uri" event --all --loop > "$1" 2>&1 &
    ev_pid=$!
    sleep 1
}
events_stop() {
    sleep 1
    kill "$ev_pid" 2> /dev/null
    wait "$ev_pid" 2> /dev/null
}

start_hvd
check "hvd is listening" test -S "$sock"

# ---------------------------------------------------------------- part 1
plain_xml() { # NAME
    cat << EOF
<domain type='kvm'>
  <name>$1</name>
  <uuid>$($py -c 'import uuid,sys; print(uuid.uuid5(uuid.NAMESPACE_DNS, sys.argv[1]))' "$1")</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type><kernel>/boot/vmlinuz</kernel></os>
</domain>
EOF
}
plain_xml e1 > "$dir/e1.xml"
events_start "$dir/ev1.txt"
v define "$dir/e1.xml" > /dev/null 2>&1
v define "$dir/e1.xml" > /dev/null 2>&1
v undefine e1 > /dev/null 2>&1
events_stop
check "event: Defined Added" grep -q "event 'lifecycle' for domain 'e1': Defined Added" "$dir/ev1.txt"
check "event: Defined Updated" grep -q "event 'lifecycle' for domain 'e1': Defined Updated" "$dir/ev1.txt"
check "event: Undefined Removed" grep -q "event 'lifecycle' for domain 'e1': Undefined Removed" "$dir/ev1.txt"

# kill -9 in the middle of many defines.
for i in $(seq 50); do plain_xml "m$i" > "$dir/m$i.xml"; done
(
    for i in $(seq 50); do
        if v define "$dir/m$i.xml" > /dev/null 2>&1; then echo "m$i" >> "$dir/defined.txt"; fi
    done
) &
definer=$!
sleep "$(( RANDOM % 3 + 1 )).$(( RANDOM % 10 ))"
kill9_hvd
wait "$definer" 2> /dev/null
start_hvd
n_ok=$(wc -l < "$dir/defined.txt" 2> /dev/null || echo 0)
echo "# $n_ok of 50 defines returned success before kill -9"
listed=$(v list --all --name 2> /dev/null)
missing=0
while read -r name; do
    [ -n "$name" ] || continue
    grep -qx "$name" <<< "$listed" || { echo "# $name defined but missing"; missing=$((missing + 1)); }
done < <(cat "$dir/defined.txt" 2> /dev/null)
check "every acknowledged define survived kill -9 ($n_ok)" test "$missing" -eq 0
bad=0
for f in "$state"/qemu/*.xml; do
    [ -e "$f" ] || continue
    xmllint --noout "$f" 2> /dev/null || { echo "# $f does not parse"; bad=$((bad + 1)); }
done
check "every config file parses" test "$bad" -eq 0
check "no config left unlisted" test "$(ls "$state"/qemu/*.xml | wc -l)" -eq "$(grep -c . <<< "$listed")"
for n in $listed; do v undefine "$n" > /dev/null 2>&1; done

# ---------------------------------------------------------------- part 2
kit=${HVD_GUEST_KIT:-}
if [ -z "$kit" ] || [ ! -x "$hv" ]; then
    echo "# part 2 skipped: needs HVD_GUEST_KIT and hv (run through tests/integration/suite.sh)"
    exit 0
fi

guest_xml() { # NAME CMDLINE [DEVICES]
    cat << EOF
<domain type='kvm'>
  <name>$1</name>
  <memory unit='MiB'>192</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type><kernel>$kit/vmlinuz</kernel><initrd>$kit/initrd.img</initrd>
    <cmdline>$2</cmdline></os>
  <on_poweroff>destroy</on_poweroff>
  <on_crash>destroy</on_crash>
  <devices><memballoon model='virtio'/>${3:-}</devices>
</domain>
EOF
}
worker_pid() { worker_pid_file "$state/run/$1.status"; }

shell="console=ttyS0 quiet panic=-1 hvtest=shell"
events_start "$dir/ev2.txt"
# g2 has a NIC: a tap hvd makes, which must go when its worker dies.
declare -A nic=([g2]="<interface type='ethernet'><model type='virtio'/></interface>")
for g in g1 g2 g3; do
    guest_xml "$g" "$shell" "${nic[$g]:-}" > "$dir/$g.xml"
    v define "$dir/$g.xml" > /dev/null 2>&1
    check "start $g" v start "$g"
done
for g in g1 g2 g3; do
    check "$g reached its shell (console log)" wait_console "$g" "hvtest: shell on the console" 120
done
declare -A id pid
for g in g1 g2 g3; do id[$g]=$(v domid "$g" 2> /dev/null | head -n 1); pid[$g]=$(worker_pid "$g"); done
g1_started=$(date +%s)
# The tap of g2, from its live XML.
g2_tap() { v dumpxml g2 2> /dev/null | sed -n "s/.*<target dev='\([^']*\)'.*/\1/p" | head -n 1; }
tap=$(g2_tap)
check "g2 has a tap ($tap)" test -n "$tap" -a -e "/sys/class/net/$tap"

# ---- the daemon dies, the guests do not
kill9_hvd
events_stop
for g in g1 g2 g3; do check "$g worker alive without hvd" kill -0 "${pid[$g]}"; done
start_hvd
for g in g1 g2 g3; do
    check "$g running after restart" wait_state "$g" running 10
    check "$g keeps its id ${id[$g]}" test "$(v domid "$g" 2> /dev/null | head -n 1)" = "${id[$g]}"
    check "$g same worker pid ${pid[$g]}" test "$(worker_pid "$g")" = "${pid[$g]}"
    check "$g booted once (one INIT line)" test "$(grep -c 'HVTEST INIT' "$state/log/$g.console.log")" -eq 1
done
out=$(v list 2>&1)
check "all three listed" test "$(grep -cE ' g[123] +running' <<< "$out")" -eq 3
log_has() { # NAME PATTERN...: every pattern is in the domain's log
    local f=$state/log/$1.log p
    shift
    for p in "$@"; do grep -q -- "$p" "$f" || return 1; done
}
check "g1's log: hvd's start, the worker's own output, the reconnection" \
    log_has g1 "starting up:" "started g1:" "hvd reconnected to worker ${pid[g1]}"
check "setmem on an adopted guest" v setmem g1 180M --live
check "destroy an adopted guest" v destroy g3
check "g3 shut off (destroyed)" wait_state g3 "shut off" 10

# ---- console
cat > "$dir/console.py" << 'EOF'
import os, pty, re, select, sys, time
uri, dom, marker = sys.argv[1], sys.argv[2], sys.argv[3].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execvp("virsh", ["virsh", "-c", uri, "console", dom])
out = b""
def read_until(pat, secs):  # pat: a regular expression (bytes)
    global out
    end = time.time() + secs
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                return False
        if re.search(pat, out):
            return True
    return False
ok = read_until(rb"Escape character", 20)
os.write(fd, b"\r")
time.sleep(1)
if len(sys.argv) > 4:  # hold the console while another client tries
    open(sys.argv[4], "w").write("attached\n")
    time.sleep(6)
os.write(fd, b"echo " + marker + b"-$((6*7))-up-$(cut -d. -f1 /proc/uptime)\r")
# The whole output line, up to its end (it may arrive in pieces).
ok = read_until(re.escape(marker) + rb"-42-up-[0-9]+\r?\n", 20) and ok
os.write(fd, b"\x1d")
time.sleep(1)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(0 if ok else 1)
EOF
marker="hello-$RANDOM"
$py "$dir/console.py" "$uri" g1 "$marker" "$dir/attached" > "$dir/console1.txt" 2>&1 &
con1=$!
for _ in $(seq 100); do [ -f "$dir/attached" ] && break; sleep 0.1; done
# virsh console wants a controlling terminal: give it one with script(1).
out=$(timeout 10 script -qec "virsh -c '$uri' console g1" /dev/null < /dev/null 2>&1)
echo "# second console: $(tr '\n' ' ' <<< "$out" | cut -c1-200)"
check "second console refused with libvirt's error" \
    grep -q "operation failed: Active console session exists for this domain" <<< "$out"
wait "$con1"
rc=$?
check "virsh console: command ran in the guest (output $marker-42)" test "$rc" -eq 0
[ "$rc" -eq 0 ] || echo "# console client saw: $(tail -c 400 "$dir/console1.txt" | tr -c '[:print:]' '.')"
check "console output also in the console log" grep -q "$marker-42" "$state/log/g1.console.log"
# The guest's own clock: it has been up since before hvd was killed.
up=$(grep -ao "$marker-42-up-[0-9]*" "$dir/console1.txt" | tail -n 1 | sed 's/.*-up-//')
since=$(( $(date +%s) - g1_started ))
check "g1 uptime ${up:-?} s covers the $since s since its boot (never rebooted)" \
    test -n "$up" -a "${up:-0}" -ge "$since"

# ---- a worker killed with -9: seen at once, crashed
events_start "$dir/ev3.txt"
kill -9 "$(worker_pid g2)"
check "g2 shut off after its worker was killed" wait_state g2 "shut off" 5
check "domstate reason crashed" grep -q "crashed" <<< "$(v domstate g2 --reason 2>&1)"
check "g2's tap $tap gone with its worker" test ! -e "/sys/class/net/$tap"
events_stop
check "event: Stopped Failed for g2" grep -q "event 'lifecycle' for domain 'g2': Stopped Failed" "$dir/ev3.txt"

# ---- the event sequence of start, suspend, resume, destroy
events_start "$dir/ev4.txt"
v start g2 > /dev/null 2>&1
wait_state g2 running 30 > /dev/null
v suspend g2 > /dev/null 2>&1
v resume g2 > /dev/null 2>&1
v destroy g2 > /dev/null 2>&1
events_stop
seq=$(grep -o "for domain 'g2': .*" "$dir/ev4.txt" | tr '\n' '|')
echo "# events: $seq"
check "event sequence start/suspend/resume/destroy" \
    grep -q "Started Booted|.*Suspended Paused|.*Resumed Unpaused|.*Stopped Destroyed|" <<< "$seq"

# ---- autostart; a worker that dies while hvd is down
check "autostart g3" v autostart g3
v start g2 > /dev/null 2>&1
tap=$(g2_tap)
check "g2 started again, tap $tap" test -n "$tap" -a -e "/sys/class/net/$tap"
kill -TERM "$hvd_pid"; wait "$hvd_pid" 2> /dev/null; hvd_pid=
kill -9 "$(worker_pid g2)"
start_hvd
check "g3 autostarted with hvd" wait_state g3 running 30
check "g1 (adopted) not started twice" test "$(worker_pid g1)" = "${pid[g1]}"
check "g2, whose worker died while hvd was down: shut off (crashed)" \
    grep -q "shut off (crashed)" <<< "$(v domstate g2 --reason 2>&1)"
check "g2's tap $tap gone" test ! -e "/sys/class/net/$tap"
check "g2's log says so" log_has g2 "hvd found worker .* gone: shut off (crashed)"
for g in g1 g2 g3; do v destroy "$g" > /dev/null 2>&1; done
exit 0
