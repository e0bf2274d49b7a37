#!/usr/bin/env bash
# Scenario: hv boots the guest kit. 2 and 4 vCPUs seen by the guest (ACPI),
# 2 with acpi=off (MP table), direct vmlinux boot and the classic bzImage
# path, poweroff ends hv with status 0; reboot paths (ACPI reset register, keyboard controller,
# triple fault) with --on-reboot exit; a reset that really restarts the
# guest; the QMP monitor answers and quits; bad command lines fail with
# status 1 and one line (also a damaged kernel payload, a bad firmware file); guest RAM on
# transparent huge pages and, with --hugepages, on reserved ones. Run by tests/integration/suite.sh (unnumbered TAP).
set -uo pipefail

pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; }
check() {
    local what=$1; shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

kit=${HVD_GUEST_KIT:?HVD_GUEST_KIT must name a built guest kit}
builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
hv=${HVD_HV:-$builddir/hv/hv}
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
base_append="console=ttyS0 quiet panic=-1"

if [ ! -x "$hv" ]; then
    fail "hv is built ($hv)"
    exit 0
fi

# boot NAME TIMEOUT ARGS... : run hv, console to $tmp/NAME.out, log to
# $tmp/NAME.err, status to $tmp/NAME.rc, wall seconds to $tmp/NAME.time.
boot() {
    local name=$1 limit=$2; shift 2
    local start end rc=0
    start=$(date +%s.%N)
    timeout "$limit" "$hv" --kernel "$kit/vmlinuz" --initrd "$kit/initrd.img" --memory 512M \
        "$@" < /dev/null > "$tmp/$name.out" 2> "$tmp/$name.err" || rc=$?
    end=$(date +%s.%N)
    echo "$rc" > "$tmp/$name.rc"
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f\n", b - a }' > "$tmp/$name.time"
    echo "# $name: status $rc after $(cat "$tmp/$name.time") s"
}
rc_of() { cat "$tmp/$1.rc"; }
console_has() { grep -q -- "$2" "$tmp/$1.out"; }
log_has() { grep -q -- "$2" "$tmp/$1.err"; }
show_tail() { sed 's/^/# console: /' "$tmp/$1.out" | tail -n "${2:-15}"; sed 's/^/# log: /' "$tmp/$1.err" | tail -n 5; }

# 1. Two vCPUs, the info scenario, ACPI poweroff.
boot smp 240 --cpus 2 --append "$base_append hvtest=info hvtest.end=poweroff"
check "guest reached HVTEST READY" console_has smp "HVTEST READY"
check "guest sees 2 CPUs (ACPI MADT)" console_has smp "HVTEST cpus=2"
check "guest sees the host bridge 8086:1237" console_has smp "8086:1237"
check "guest's LAPIC timer runs in TSC-deadline mode (clockevent lapic-deadline)" \
    console_has smp "HVTEST clockevent=lapic-deadline"
check "guest poweroff ends hv with status 0" test "$(rc_of smp)" = 0
check "hv logged the ACPI S5 poweroff" log_has smp "guest entered ACPI S5"
console_has smp "HVTEST cpus=2" || show_tail smp 40

check "hv entered the decompressed vmlinux directly" log_has smp "direct vmlinux boot"

# 1b. Four vCPUs: every one is in the MADT and comes up in the guest.
boot smp4 240 --cpus 4 --append "$base_append hvtest=info hvtest.end=poweroff"
check "guest sees 4 CPUs with --cpus 4" console_has smp4 "HVTEST cpus=4"
console_has smp4 "HVTEST cpus=4" || show_tail smp4 40

# 1c. acpi=off: no MADT, so the CPUs come from the MP table.
# (Without ACPI there is no poweroff: end with a reboot, which hv exits on.)
boot mptable 240 --cpus 2 --on-reboot exit --append "$base_append acpi=off hvtest=info hvtest.end=reboot"
check "acpi=off guest sees 2 CPUs (MP table)" console_has mptable "HVTEST cpus=2"
check "acpi=off guest: hv exits 0 on its reboot" test "$(rc_of mptable)" = 0
console_has mptable "HVTEST cpus=2" || show_tail mptable 40

# 1d. The classic path (the guest decompresses the bzImage itself) still
# boots when direct boot is turned off.
HV_DIRECT_KERNEL=0 boot classic 240 --cpus 1 --append "$base_append hvtest=info hvtest.end=poweroff"
check "HV_DIRECT_KERNEL=0: bzImage decompresses itself and boots" console_has classic "HVTEST READY"
check "HV_DIRECT_KERNEL=0: hv says why it did not enter vmlinux" log_has classic "bzImage boot through its own decompressor"

# 2. Reboot with --on-reboot exit, three hardware paths.
for path in acpi k t; do
    boot "reboot-$path" 240 --cpus 1 --on-reboot exit \
        --append "$base_append reboot=$path hvtest=ready hvtest.end=reboot"
    check "reboot=$path with --on-reboot exit: status 0" test "$(rc_of "reboot-$path")" = 0
    check "reboot=$path: hv reports the guest reset" log_has "reboot-$path" "guest reset: exiting"
    [ "$(rc_of "reboot-$path")" = 0 ] || show_tail "reboot-$path"
done
check "reboot=t arrived as a triple fault" log_has reboot-t "triple fault"
check "reboot=k arrived at the keyboard controller" log_has reboot-k "keyboard controller"
check "default reboot used the FADT reset register (0xCF9)" log_has reboot-acpi "port 0xCF9"

# 3. A reset restarts the guest: it boots twice, then powers off on the
# second boot (hvtest.end=reboot would loop forever, so kill hv at the
# second READY through the monitor).
mon="$tmp/mon.sock"
(
    timeout 400 "$hv" --kernel "$kit/vmlinuz" --initrd "$kit/initrd.img" --memory 512M --cpus 2 \
        --monitor "$mon" --serial "file:$tmp/reset.out" --name hvtest-vm \
        --uuid 11111111-2222-3333-4444-555555555555 \
        --append "$base_append hvtest=info hvtest.end=reboot" < /dev/null 2> "$tmp/reset.err"
    echo $? > "$tmp/reset.rc"
) &
hvpid=$!
ready2=0
for _ in $(seq 1 300); do
    n=$(grep -c "HVTEST READY" "$tmp/reset.out" 2>/dev/null || true)
    if [ "${n:-0}" -ge 2 ]; then ready2=1; break; fi
    sleep 1
done
check "guest booted again after a reset (HVTEST READY twice)" test "$ready2" = 1
check "hv logged the guest reset" grep -q "guest reset: restarting" "$tmp/reset.err"
check "both vCPUs came back after the reset (cpus=2 on the second boot)" \
    test "$(grep -c "HVTEST cpus=2" "$tmp/reset.out")" -ge 2

# 4. The QMP monitor: status, CPUs, PCI, name, then quit.
qmp_out=$("$py" - "$mon" <<'EOF' 2>&1
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
f = s.makefile("rw")
def recv():
    while True:
        msg = json.loads(f.readline())
        if "event" in msg:
            events.append(msg)
            continue
        return msg
def cmd(name, **args):
    f.write(json.dumps({"execute": name, "arguments": args} if args else {"execute": name}) + "\n")
    f.flush()
    return recv()
events = []
greeting = json.loads(f.readline())
print("greeting", "QMP" in greeting)
cmd("qmp_capabilities")
print("status", cmd("query-status")["return"]["status"])
print("cpus", len(cmd("query-cpus-fast")["return"]))
pci = cmd("query-pci")["return"][0]["devices"]
print("hostbridge", any(d["id"]["vendor"] == 0x8086 and d["id"]["device"] == 0x1237 for d in pci))
print("name", cmd("query-name")["return"].get("name"))
print("stop", cmd("stop"), cmd("query-status")["return"]["status"])
print("cont", cmd("cont"), cmd("query-status")["return"]["status"])
print("quit", cmd("quit"))
try:
    while True:
        line = f.readline()
        if not line:
            break
        events.append(json.loads(line))
except Exception:
    pass
print("events", " ".join(e["event"] + ("/" + e["data"]["reason"] if "data" in e and "reason" in e["data"] else "") for e in events))
EOF
)
echo "$qmp_out" | sed 's/^/# qmp: /'
check "QMP greeting" grep -q "greeting True" <<< "$qmp_out"
check "query-status says running" grep -q "status running" <<< "$qmp_out"
check "query-cpus-fast lists 2 vCPUs" grep -q "cpus 2" <<< "$qmp_out"
check "query-pci shows the host bridge" grep -q "hostbridge True" <<< "$qmp_out"
check "query-name returns --name" grep -q "name hvtest-vm" <<< "$qmp_out"
check "stop pauses (status paused)" grep -q "stop {'return': {}} paused" <<< "$qmp_out"
check "cont resumes (status running)" grep -q "cont {'return': {}} running" <<< "$qmp_out"
check "STOP, RESUME and SHUTDOWN host-qmp-quit events" \
    grep -qE "events.*STOP.*RESUME.*SHUTDOWN/host-qmp-quit" <<< "$qmp_out"
wait "$hvpid"
check "quit ends hv with status 0" test "$(cat "$tmp/reset.rc" 2>/dev/null)" = 0
grep -q "HVTEST READY" "$tmp/reset.out" || show_tail reset

# 4b. --no-shutdown: after the guest powers off hv stays, status
# "shutdown"; cont is refused; system_reset + cont boots the guest again.
mon2="$tmp/mon2.sock"
timeout 400 "$hv" --kernel "$kit/vmlinuz" --initrd "$kit/initrd.img" --memory 512M --cpus 2 \
    --monitor "$mon2" --no-shutdown --serial "file:$tmp/ns.out" \
    --append "$base_append hvtest=ready hvtest.end=poweroff" < /dev/null 2> "$tmp/ns.err" &
nspid=$!
for _ in $(seq 1 50); do [ -S "$mon2" ] && break; sleep 0.2; done
ns_out=$("$py" - "$mon2" <<'EOF' 2>&1
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(300)
s.connect(sys.argv[1])
f = s.makefile("rw")
events = []
def recv():
    while True:
        msg = json.loads(f.readline())
        if "event" in msg:
            events.append(msg)
            continue
        return msg
def cmd(name):
    f.write(json.dumps({"execute": name}) + "\n")
    f.flush()
    return recv()
def wait_event(name, reason):
    while not any(e["event"] == name and e.get("data", {}).get("reason") == reason for e in events):
        events.append(json.loads(f.readline()))
json.loads(f.readline())
cmd("qmp_capabilities")
wait_event("SHUTDOWN", "guest-shutdown")
print("after-poweroff", cmd("query-status")["return"]["status"])
r = cmd("cont")
print("cont-refused", "error" in r, r.get("error", {}).get("desc"))
cmd("system_reset")
print("reset-event", any(e["event"] == "RESET" and e["data"]["reason"] == "host-qmp-system-reset" for e in events))
print("after-reset", cmd("query-status")["return"]["status"])
print("cont", cmd("cont"))
events.clear()
wait_event("SHUTDOWN", "guest-shutdown")
print("second-boot-powered-off True")
cmd("quit")
EOF
)
echo "$ns_out" | sed 's/^/# no-shutdown: /'
nsrc=0
wait "$nspid" || nsrc=$?
check "--no-shutdown: status 'shutdown' after the guest powered off" grep -q "after-poweroff shutdown" <<< "$ns_out"
check "--no-shutdown: cont refused until a reset" grep -q "cont-refused True" <<< "$ns_out"
check "system_reset emits RESET host-qmp-system-reset" grep -q "reset-event True" <<< "$ns_out"
check "after system_reset the VM waits in prelaunch" grep -q "after-reset prelaunch" <<< "$ns_out"
check "cont after the reset boots the guest again to poweroff" grep -q "second-boot-powered-off True" <<< "$ns_out"
check "guest console shows two boots" test "$(grep -c 'HVTEST READY' "$tmp/ns.out")" = 2
check "quit after that ends hv with status 0" test "$nsrc" = 0

# 5. Console on a unix socket: output from before the client connected is
# kept, input reaches the guest's shell, exiting the shell powers off.
con="$tmp/con.sock"
timeout 300 "$hv" --kernel "$kit/vmlinuz" --initrd "$kit/initrd.img" --memory 512M \
    --serial "unix:$con" --append "console=ttyS0 panic=-1 hvtest=shell" \
    < /dev/null > /dev/null 2> "$tmp/con.err" &
conpid=$!
for _ in $(seq 1 50); do [ -S "$con" ] && break; sleep 0.2; done
sleep 20  # let the guest print its boot log to nobody
con_out=$("$py" - "$con" <<'EOF' 2>&1
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(1)
buf = s.recv(65536)
print("first", len(buf))
def wait_for(text, limit):
    global buf
    end = time.time() + limit
    while text not in buf and time.time() < end:
        try:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        except socket.timeout:
            pass
    return text in buf
print("early", buf.startswith(b"[    0.000000] Linux version") and len(buf) > 2000)
print("shell", wait_for(b"hvtest: shell on the console", 240))
time.sleep(1)
s.sendall(b"echo HVIN $((6*7))\n")
print("input", wait_for(b"HVIN 42", 60))
s.sendall(b"exit\n")
print("done", wait_for(b"HVTEST DONE", 60))
EOF
)
echo "$con_out" | sed 's/^/# console socket: /'
conrc=0
wait "$conpid" || conrc=$?
check "console ring kept output from before the client connected" grep -q "early True" <<< "$con_out"
check "console reached the guest shell" grep -q "shell True" <<< "$con_out"
check "console input reached the guest (HVIN 42)" grep -q "input True" <<< "$con_out"
check "leaving the shell finished the scenario" grep -q "done True" <<< "$con_out"
check "hv exited 0 after the guest powered off" test "$conrc" = 0

# 6. Bad command lines: status 1 and exactly one line on stderr.
bad() {
    local what=$1; shift
    local rc=0
    "$hv" "$@" < /dev/null > "$tmp/bad.out" 2> "$tmp/bad.err" || rc=$?
    local lines
    lines=$(wc -l < "$tmp/bad.err")
    echo "# $what: status $rc: $(head -c 300 "$tmp/bad.err")"
    check "$what: status 1, one line" test "$rc" = 1 -a "$lines" = 1
}
echo '{"kernel": "x", "colour": 1}' > "$tmp/bad.json"
printf 'not a kernel\n' > "$tmp/notkernel"
# Without --kernel hv boots the firmware: its file must be a BIOS image.
bad "firmware file does not exist" --firmware "$tmp/nope"
bad "firmware is not a BIOS image" --firmware "$tmp/notkernel"
bad "firmware and kernel together" --firmware "$tmp/notkernel" --kernel "$kit/vmlinuz"
bad "unknown option" --kernel "$kit/vmlinuz" --frobnicate
bad "kernel file does not exist" --kernel "$tmp/nope"
bad "kernel is not a bzImage" --kernel "$tmp/notkernel"
bad "memory size is garbage" --kernel "$kit/vmlinuz" --memory lots
bad "more memory than the host has" --kernel "$kit/vmlinuz" --memory 60T
bad "unknown key in the machine description" --config "$tmp/bad.json"
bad "bad JSON in the machine description" --config "$kit/vmlinuz"
bad "disk image missing" --kernel "$kit/vmlinuz" --disk "path=$tmp/missing.img"
# A bzImage whose compressed payload is damaged: refused before the guest runs.
cp "$kit/vmlinuz" "$tmp/damaged"
printf '\x55\xaa\x55\xaa\x55\xaa\x55\xaa' | dd of="$tmp/damaged" bs=1 seek=$(( $(stat -c %s "$tmp/damaged") / 2 )) \
    conv=notrunc status=none
HVD_KERNEL_CACHE=off bad "kernel payload is damaged" --kernel "$tmp/damaged"
grep -q "xz payload" "$tmp/bad.err"
check "damaged payload: the error names the xz payload" test $? = 0

# 7. Guest RAM on huge pages: transparent ones by default, hugetlbfs pages
# with --hugepages (reserved here, given back at the end).
# watch NAME ARGS...: start hv in the background on a waiting guest; when
# the guest is READY, record the worker's smaps totals and HugePages_Free.
watch() {
    local name=$1; shift
    "$hv" --kernel "$kit/vmlinuz" --initrd "$kit/initrd.img" --serial "file:$tmp/$name.out" \
        --append "$base_append hvtest=wait hvtest.wait=4" "$@" < /dev/null 2> "$tmp/$name.err" &
    local pid=$! ready=0
    for _ in $(seq 1 240); do
        grep -q "HVTEST READY" "$tmp/$name.out" 2> /dev/null && { ready=1; break; }
        kill -0 "$pid" 2> /dev/null || break
        sleep 0.5
    done
    awk '/^Size:/ { size = $2 } /^KernelPageSize:/ { if ($2 == 2048) huge_map += size }
         /^AnonHugePages:/ { thp += $2 } /^Private_Hugetlb:/ { tlb += $2 }
         END { printf "thp_kib=%d\nhugetlb_kib=%d\nhuge_map_kib=%d\n", thp, tlb, huge_map }' \
        "/proc/$pid/smaps" > "$tmp/$name.smaps" 2> /dev/null
    # Pages in use or reserved for the mapping are not available to others.
    awk '/^HugePages_Free:/ { f = $2 } /^HugePages_Rsvd:/ { r = $2 } END { print "avail=" f - r }' \
        /proc/meminfo >> "$tmp/$name.smaps"
    echo "ready=$ready" >> "$tmp/$name.smaps"
    wait "$pid"
    echo "rc=$?" >> "$tmp/$name.smaps"
    echo "# $name: $(tr '\n' ' ' < "$tmp/$name.smaps")"
}
val() { sed -n "s/^$2=//p" "$tmp/$1.smaps"; }
if grep -q '\[never\]' /sys/kernel/mm/transparent_hugepage/enabled 2> /dev/null; then
    echo "ok - # SKIP transparent huge pages are off on this host"
else
    watch thp --memory 256M
    check "default RAM: guest booted" test "$(val thp ready)" = 1
    check "default RAM is backed by transparent huge pages (AnonHugePages > 0)" test "$(val thp thp_kib)" -gt 0
fi
hp_before=$(cat /proc/sys/vm/nr_hugepages)
echo 160 > /proc/sys/vm/nr_hugepages
hp_total=$(awk '/^HugePages_Total:/ { print $2 }' /proc/meminfo)
hp_size=$(awk '/^Hugepagesize:/ { print $2 }' /proc/meminfo)
if [ "$hp_total" -ge 160 ] && [ "$hp_size" = 2048 ]; then
    watch huge --memory 256M --hugepages
    check "--hugepages: guest booted" test "$(val huge ready)" = 1
    check "--hugepages: a 256 MiB mapping of 2 MiB pages" test "$(val huge huge_map_kib)" = 262144
    check "--hugepages: the guest's pages are hugetlb pages (Private_Hugetlb > 0)" test "$(val huge hugetlb_kib)" -gt 0
    check "--hugepages: 128 huge pages taken while the guest ran (free - reserved)" \
        test "$(val huge avail)" = $(( hp_total - 128 ))
    check "--hugepages: status 0 after the guest powered off" test "$(val huge rc)" = 0
    bad "--hugepages with too few huge pages" --kernel "$kit/vmlinuz" --memory 512M --hugepages
    check "too few huge pages: the error says so" grep -q "not enough free 2048 KiB hugepages (160 of 160 free" "$tmp/bad.err"
else
    echo "not ok - could reserve 160 huge pages of 2 MiB (got $hp_total of $hp_size KiB)"
fi
echo "$hp_before" > /proc/sys/vm/nr_hugepages
exit 0
