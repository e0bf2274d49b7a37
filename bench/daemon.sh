#!/usr/bin/env bash
# Daemon benchmark: hvd against Debian's libvirtd (QEMU driver), side by
# side, driven by the same stock clients.
#
#   list part  (no guest boots; runs on this machine): N domains (default
#              200) of one XML shape are defined in each daemon, then
#              `virsh list --all` and `virsh dumpxml NAME` are timed as
#              whole commands (process start included), and the same work
#              through python3-libvirt on an open connection (open+close,
#              listAllDomains, XMLDesc of all N), which leaves virsh's own
#              start-up out. Also: defining the N domains, daemon RSS.
#   cycle part (boots guests: inside the nested testbed when this host's
#              KVM cannot boot Linux): define -> start -> guest ready
#              ("HVTEST READY" in the serial log) -> destroy -> undefine of
#              the guest kit (same kernel, initrd, 512 MiB, 1 vCPU, disk,
#              NIC, balloon) under each daemon, through python3-libvirt on
#              one open connection. "start" is until the API returns (hvd
#              returns once the worker is spawned, libvirtd once QEMU is up
#              and resumed), so "start call -> ready" is the figure to
#              compare; a live-XML check (the NIC got a tap) is untimed.
#
#   bench/daemon.sh [--parts "list cycle"] [--domains N] [--reps N]
#                   [--runs N] [--daemons "hvd libvirtd"] [--raw]
#
#   --reps N    repetitions of every list-part measurement (default 30)
#   --runs N    cycles per daemon (default 3)
#   --raw       one line per measurement instead of Markdown tables:
#               RESULT PART DAEMON METRIC MEDIAN P90 N_OK N_WANTED
#               (milliseconds, except *_mib, *_s and xml_bytes; "-" if
#               none; DAEMON "virsh" for virsh --version, no daemon)
#
# Repetitions alternate between the daemons, so load from other work on
# the machine hits both alike. Medians and p90 (nearest rank).
#
# libvirtd: when /usr/sbin/libvirtd or its QEMU driver is missing, the
# script installs libvirt-daemon and libvirt-daemon-driver-qemu (and
# qemu-system-x86) with apt-get -y --no-install-recommends, and says so. It
# does not use libvirt-daemon-system (which adds system users and services).
# Each run starts its own private libvirtd as root in a new mount and
# network namespace: /etc/libvirt, /var/lib/libvirt, /var/cache/libvirt,
# /run/libvirt and /var/log/libvirt are bind-mounted from a temporary
# directory (a libvirtd.conf with its unix sockets there and auth "none",
# a qemu.conf with user root, no security driver, no cgroups, no virtlogd),
# so the machine's own libvirt state, sockets and network are not touched.
# hvd runs from the build tree with a temporary --state-dir and --socket.
#
# Environment: HVD_BUILD_DIR (default: the source tree's build/), HVD_GUEST_KIT,
# HVD_TEST_KVM=testbed (run the cycle part in the testbed even with vmx/svm).
# Exit status: 0 when everything was measured, 1 otherwise, 2 usage.
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
parts="list cycle" domains=200 reps=30 runs=3 daemons="hvd libvirtd" raw=0 inside=0
usage() {
    echo "usage: bench/daemon.sh [--parts \"list cycle\"] [--domains N] [--reps N] [--runs N] [--daemons \"hvd libvirtd\"] [--raw]" >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case "$1" in
        --parts) [ $# -ge 2 ] || usage; parts=$2; shift 2 ;;
        --domains) [ $# -ge 2 ] || usage; domains=$2; shift 2 ;;
        --reps) [ $# -ge 2 ] || usage; reps=$2; shift 2 ;;
        --runs) [ $# -ge 2 ] || usage; runs=$2; shift 2 ;;
        --daemons) [ $# -ge 2 ] || usage; daemons=$2; shift 2 ;;
        --raw) raw=1; shift ;;
        --inside) inside=1; shift ;;
        -h|--help) sed -n '2,/^set -uo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
        *) echo "bench/daemon.sh: unknown argument '$1'" >&2; usage ;;
    esac
done
for n in "$domains" "$reps" "$runs"; do
    [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 5000 ] ||
        { echo "bench/daemon.sh: --domains, --reps and --runs want a number from 1 to 5000, not '$n'" >&2; exit 2; }
done
for d in $daemons; do
    case "$d" in hvd|libvirtd) ;; *) echo "bench/daemon.sh: unknown daemon '$d' (hvd, libvirtd)" >&2; exit 2 ;; esac
done
for p in $parts; do
    case "$p" in list|cycle) ;; *) echo "bench/daemon.sh: unknown part '$p' (list, cycle)" >&2; exit 2 ;; esac
done
has() { [[ " $1 " == *" $2 "* ]]; }

build=${HVD_BUILD_DIR:-$top/build}
hvd=$build/daemon/hvd
hv=$build/hv/hv
py=/usr/bin/python3 # Debian's interpreter, which has python3-libvirt
say() { echo "# $*" >&2; }

# ------------------------------------------------------------ preparation
if [ "$inside" = 0 ]; then
    if has "$daemons" hvd && { [ ! -x "$hvd" ] || [ ! -x "$hv" ]; }; then
        echo "bench/daemon.sh: $hvd or $hv is not built (set HVD_BUILD_DIR)" >&2; exit 1
    fi
    for tool in virsh:libvirt-clients "$py":python3-libvirt unshare:util-linux; do
        command -v "${tool%%:*}" > /dev/null 2>&1 ||
            { echo "bench/daemon.sh: ${tool%%:*} not found (Debian package ${tool#*:})" >&2; exit 1; }
    done
    "$py" -c 'import libvirt' 2> /dev/null ||
        { echo "bench/daemon.sh: $py cannot import libvirt (Debian package python3-libvirt)" >&2; exit 1; }
    if has "$daemons" libvirtd &&
        { [ ! -x /usr/sbin/libvirtd ] || ! compgen -G '/usr/lib/*/libvirt/connection-driver/libvirt_driver_qemu.so' > /dev/null ||
          ! command -v qemu-system-x86_64 > /dev/null; }; then
        say "libvirtd or its QEMU driver is missing: installing libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 with apt-get -y --no-install-recommends"
        DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=900 --no-install-recommends \
            install libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 >&2 ||
            { echo "bench/daemon.sh: apt-get could not install libvirtd (see above)" >&2; exit 1; }
    fi
fi

tmp=$(mktemp -d /tmp/hvd-dbench.XXXXXX)
chmod 755 "$tmp"
results=$tmp/results
: > "$results"
hvd_pid="" lv_pid=""

# ------------------------------------------------------------ the daemons
start_hvd() {
    mkdir -p "$tmp/hvd"
    "$hvd" --state-dir "$tmp/hvd/state" --socket "$tmp/hvd/sock" --emulator "$hv" \
        > "$tmp/hvd/hvd.log" 2>&1 < /dev/null &
    hvd_pid=$!
    uri_hvd="qemu+unix:///system?socket=$tmp/hvd/sock"
    for _ in $(seq 100); do [ -S "$tmp/hvd/sock" ] && return 0; sleep 0.1; done
    echo "bench/daemon.sh: hvd did not open $tmp/hvd/sock; its log:" >&2
    tail -n 20 "$tmp/hvd/hvd.log" >&2
    return 1
}

# The private libvirtd: libvirt's system paths are compiled in, so they are
# bind-mounted from $tmp/lv inside a mount namespace that only libvirtd and
# its QEMUs see; its unix sockets live in $tmp/lv/sock, reachable from here.
start_libvirtd() {
    local lv=$tmp/lv d
    mkdir -p "$lv"/{etc,lib,cache,run,log,sock}
    cat > "$lv/etc/libvirtd.conf" << EOF
unix_sock_dir = "$lv/sock"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:$lv/libvirtd.log"
EOF
    cat > "$lv/etc/qemu.conf" << 'EOF'
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
swtpm_user = "root"
swtpm_group = "root"
EOF
    # Mount points that do not exist yet are made (empty directories; the
    # libvirt-daemon package makes most of them anyway).
    for d in /etc/libvirt /var/lib/libvirt /var/cache/libvirt /run/libvirt /var/log/libvirt; do
        [ -d "$d" ] || mkdir -p "$d"
    done
    # Debian builds libvirtd to resolve its default QEMU user, libvirt-qemu,
    # before it reads qemu.conf; libvirt-daemon-system would add that user
    # to the machine. Here it is added to copies of passwd and group that
    # only the namespace sees (qemu.conf then says root).
    cp /etc/passwd "$lv/passwd"; cp /etc/group "$lv/group"
    grep -q '^libvirt-qemu:' "$lv/group" || echo "libvirt-qemu:x:64055:" >> "$lv/group"
    grep -q '^libvirt-qemu:' "$lv/passwd" ||
        echo "libvirt-qemu:x:64055:64055:libvirt qemu (bench/daemon.sh):/var/lib/libvirt:/usr/sbin/nologin" >> "$lv/passwd"
    unshare --mount --net --propagation private -- /bin/sh -c '
        lv=$1
        mount --bind "$lv/passwd" /etc/passwd && mount --bind "$lv/group" /etc/group &&
        mount --bind "$lv/etc" /etc/libvirt && mount --bind "$lv/lib" /var/lib/libvirt &&
        mount --bind "$lv/cache" /var/cache/libvirt && mount --bind "$lv/run" /run/libvirt &&
        mount --bind "$lv/log" /var/log/libvirt || exit 1
        ip link set lo up 2> /dev/null
        exec /usr/sbin/libvirtd --config "$lv/etc/libvirtd.conf" --pid-file "$lv/libvirtd.pid"
    ' sh "$lv" > "$lv/stderr" 2>&1 < /dev/null &
    lv_pid=$!
    uri_libvirtd="qemu+unix:///system?socket=$lv/sock/libvirt-sock"
    for _ in $(seq 300); do [ -S "$lv/sock/libvirt-sock" ] && break; sleep 0.1; done
    # The first call that needs QEMU's capabilities makes libvirtd probe
    # QEMU (seconds): done here, untimed.
    if [ -S "$lv/sock/libvirt-sock" ] &&
        timeout 600 virsh -c "$uri_libvirtd" domcapabilities --virttype kvm > "$lv/domcaps.xml" 2> "$lv/domcaps.err"; then
        return 0
    fi
    echo "bench/daemon.sh: the private libvirtd did not come up or has no KVM; its output:" >&2
    cat "$lv/domcaps.err" >&2 2> /dev/null
    tail -n 20 "$lv/stderr" "$lv/libvirtd.log" >&2 2> /dev/null
    return 1
}

stop_daemons() {
    if [ -n "$hvd_pid" ]; then kill "$hvd_pid" 2> /dev/null; wait "$hvd_pid" 2> /dev/null; hvd_pid=""; fi
    if [ -n "$lv_pid" ]; then
        kill "$lv_pid" 2> /dev/null; wait "$lv_pid" 2> /dev/null; lv_pid=""
        # Guests libvirtd started outlive it (as under the system libvirtd).
        local f
        for f in "$tmp/lv/run/qemu/"*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2> /dev/null; done
    fi
}
cleanup() {
    stop_daemons
    if [ -n "${KEEP_LOGS:-}" ]; then say "logs kept in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

uri_of() { if [ "$1" = hvd ]; then echo "$uri_hvd"; else echo "$uri_libvirtd"; fi; }
pid_of() { if [ "$1" = hvd ]; then echo "$hvd_pid"; else echo "$lv_pid"; fi; }

# domain_xml NAME INDEX KERNEL INITRD CMDLINE DISK LOG: the one shape both
# daemons get: KVM, direct kernel boot, ACPI, the host's CPU model (QEMU
# -cpu host, as bench/boot.sh), a raw virtio disk, an ethernet (tap) virtio
# NIC, a serial console logged to a file, a virtio balloon.
domain_xml() {
    local mac
    mac=$(printf '52:54:00:bb:%02x:%02x' $(( $2 / 256 % 256 )) $(( $2 % 256 )))
    cat << EOF
<domain type='kvm'>
  <name>$1</name>
  <uuid>$(printf '6a7d0000-0000-4000-8000-%012d' "$2")</uuid>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>$3</kernel><initrd>$4</initrd><cmdline>$5</cmdline></os>
  <features><acpi/><apic/></features>
  <cpu mode='host-passthrough'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='$6'/><target dev='vda' bus='virtio'/></disk>
    <interface type='ethernet'><mac address='$mac'/><model type='virtio'/></interface>
    <serial type='pty'><log file='$7' append='off'/><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <memballoon model='virtio'/>
  </devices>
</domain>
EOF
}

# quantiles: reads numbers, prints "MEDIAN P90 COUNT" (nearest rank).
quantiles() {
    sort -g | awk '{ v[NR] = $1 }
        END { if (NR == 0) { print "- - 0"; exit }
              m = int((NR + 1) / 2); p = int(NR * 0.9 + 0.999999); if (p < 1) p = 1
              printf "%s %s %d\n", v[m], v[p], NR }'
}
# record PART DAEMON METRIC WANTED < samples
record() {
    local q
    q=$(quantiles)
    set -- "$1" "$2" "$3" "$4" $q
    echo "RESULT $1 $2 $3 $5 $6 $7 $4" >> "$results"
}
ms_since() { echo $(( (${EPOCHREALTIME/./} - ${1/./}) / 1000 )).$(( (${EPOCHREALTIME/./} - ${1/./}) % 1000 / 100 )); }

status=0

# ------------------------------------------------------------ list part
run_list_part() {
    local d
    say "list part: $domains domains per daemon, $reps repetitions, $(nproc) CPU(s), load $(cut -d' ' -f1-3 /proc/loadavg)"
    has "$daemons" hvd && { start_hvd || { status=1; return; }; }
    has "$daemons" libvirtd && { start_libvirtd || { status=1; return; }; }
    # Files the XML names; nothing reads them in this part.
    : > "$tmp/kernel" ; : > "$tmp/initrd"; truncate -s 64M "$tmp/disk.img"
    for d in $daemons; do
        mkdir -p "$tmp/xml-$d"
        for ((i = 1; i <= domains; i++)); do
            domain_xml "$(printf 'bench-%03d' "$i")" "$i" "$tmp/kernel" "$tmp/initrd" \
                "console=ttyS0 quiet" "$tmp/disk.img" "$tmp/bench-$d-$i.log" > "$tmp/xml-$d/$i.xml"
        done
    done
    cat > "$tmp/list.py" << 'EOF'
import sys, time, libvirt
# argv: reps domains (daemon uri xmldir)...
libvirt.registerErrorHandler(lambda ctx, err: None, None)
reps, ndom = int(sys.argv[1]), int(sys.argv[2])
targets = [(sys.argv[i], sys.argv[i + 1], sys.argv[i + 2]) for i in range(3, len(sys.argv), 3)]
ms = lambda t0: (time.perf_counter() - t0) * 1000.0
def out(daemon, metric, value):
    print(daemon, metric, "%.3f" % value, flush=True)
# Define all domains, alternating daemons one domain at a time.
conns = {d: libvirt.open(u) for d, u, _ in targets}
total = {d: 0.0 for d, _, _ in targets}
for i in range(1, ndom + 1):
    for d, _, xmldir in targets:
        xml = open("%s/%d.xml" % (xmldir, i)).read()
        t0 = time.perf_counter()
        conns[d].defineXML(xml)
        dt = ms(t0)
        total[d] += dt
        out(d, "define_one", dt)
for d, _, _ in targets:
    out(d, "define_all_s", total[d] / 1000.0)
    n = len(conns[d].listAllDomains(0))
    if n != ndom:
        print("CHECK %s listAllDomains gave %d domains, not %d" % (d, n, ndom), flush=True)
    conns[d].close()
for r in range(reps):
    for d, u, _ in targets:
        t0 = time.perf_counter()
        c = libvirt.open(u)
        c.close()
        out(d, "py_open_close", ms(t0))
        c = libvirt.open(u)
        t0 = time.perf_counter()
        doms = c.listAllDomains(0)
        out(d, "py_listall", ms(t0))
        t0 = time.perf_counter()
        size = 0
        for dom in doms:
            size += len(dom.XMLDesc(0))
        out(d, "py_xmldesc_all", ms(t0))
        if r == 0:
            out(d, "xml_bytes", size / max(len(doms), 1))
        c.close()
EOF
    local args=()
    for d in $daemons; do args+=("$d" "$(uri_of "$d")" "$tmp/xml-$d"); done
    say "defining $domains domains in each (python3-libvirt defineXML, alternating)"
    if ! timeout 1800 "$py" "$tmp/list.py" "$reps" "$domains" "${args[@]}" > "$tmp/py.out" 2> "$tmp/py.err"; then
        echo "bench/daemon.sh: python3-libvirt part failed:" >&2
        tail -n 10 "$tmp/py.err" >&2
        status=1
    fi
    if grep '^CHECK' "$tmp/py.out" >&2; then status=1; fi
    for d in $daemons; do
        # stock virsh: the output is checked once, then timed.
        local uri n out
        uri=$(uri_of "$d")
        n=$(virsh -c "$uri" list --all 2> /dev/null | grep -c ' bench-[0-9]')
        [ "$n" = "$domains" ] || { say "$d: virsh list --all shows $n bench domains, not $domains"; status=1; }
        out=$(virsh -c "$uri" dumpxml bench-001 2>&1)
        grep -q '<name>bench-001</name>' <<< "$out" ||
            { say "$d: virsh dumpxml bench-001 does not show the domain"; status=1; }
        echo "$d $(grep -E "^VmRSS" "/proc/$(pid_of "$d")/status" | awk '{ printf "%.1f", $2 / 1024 }')" >> "$tmp/rss"
    done
    local t0 i name
    for ((i = 1; i <= reps; i++)); do
        name=$(printf 'bench-%03d' $(( (i * 37) % domains + 1 )))
        for d in $daemons; do
            uri=$(uri_of "$d")
            t0=$EPOCHREALTIME
            virsh -c "$uri" list --all > /dev/null 2>&1 || echo "$d list" >> "$tmp/virsh.failed"
            echo "$d virsh_list_all $(ms_since "$t0")" >> "$tmp/virsh.out"
            t0=$EPOCHREALTIME
            virsh -c "$uri" dumpxml "$name" > /dev/null 2>&1 || echo "$d dumpxml" >> "$tmp/virsh.failed"
            echo "$d virsh_dumpxml $(ms_since "$t0")" >> "$tmp/virsh.out"
        done
    done
    # virsh's own start-up, no daemon involved: the floor of the rows above.
    for ((i = 1; i <= reps; i++)); do
        t0=$EPOCHREALTIME
        virsh --version > /dev/null 2>&1
        echo "virsh virsh_version $(ms_since "$t0")" >> "$tmp/virsh.out"
    done
    awk '$1 == "virsh" { print $3 }' "$tmp/virsh.out" | record list virsh virsh_version "$reps"
    if [ -s "$tmp/virsh.failed" ]; then
        say "virsh failures: $(sort "$tmp/virsh.failed" | uniq -c | tr '\n' ' ')"; status=1
    fi
    for d in $daemons; do
        for m in virsh_list_all virsh_dumpxml; do
            awk -v d="$d" -v m="$m" '$1 == d && $2 == m { print $3 }' "$tmp/virsh.out" | record list "$d" "$m" "$reps"
        done
        for m in define_one define_all_s py_open_close py_listall py_xmldesc_all xml_bytes; do
            local want=$reps
            case "$m" in define_one) want=$domains ;; define_all_s|xml_bytes) want=1 ;; esac
            awk -v d="$d" -v m="$m" '$1 == d && $2 == m { print $3 }' "$tmp/py.out" | record list "$d" "$m" "$want"
        done
        awk -v d="$d" '$1 == d { print $2 }' "$tmp/rss" | record list "$d" rss_mib 1
    done
    stop_daemons
}

# ------------------------------------------------------------ cycle part
run_cycle_part() {
    local kit=${HVD_GUEST_KIT:?HVD_GUEST_KIT not set} d
    say "cycle part: $runs cycle(s) per daemon, $(uname -r), $(nproc) CPU(s)"
    [ -e /dev/kvm ] || { echo "bench/daemon.sh: no /dev/kvm here" >&2; status=1; return; }
    has "$daemons" hvd && { start_hvd || { status=1; return; }; }
    has "$daemons" libvirtd && { start_libvirtd || { status=1; return; }; }
    truncate -s 64M "$tmp/cycle-disk.img"
    local cmdline="console=ttyS0 quiet panic=-1 hvtest=wait hvtest.wait=300"
    local i
    for d in $daemons; do
        mkdir -p "$tmp/cxml-$d"
        for ((i = 1; i <= runs; i++)); do
            domain_xml "cycle-$i" "$(( 1000 + i ))" "$kit/vmlinuz" "$kit/initrd.img" "$cmdline" \
                "$tmp/cycle-disk.img" "$tmp/console-$d-cycle-$i.log" > "$tmp/cxml-$d/$i.xml"
        done
    done
    cat > "$tmp/cycle.py" << 'EOF'
import os, sys, time, libvirt
# argv: runs timeout (daemon uri xmldir logpattern)...; logpattern has %d.
runs, limit = int(sys.argv[1]), float(sys.argv[2])
targets = [sys.argv[i:i + 4] for i in range(3, len(sys.argv), 4)]
ms = lambda t0: (time.perf_counter() - t0) * 1000.0
def out(daemon, metric, value):
    print(daemon, metric, "%.1f" % value, flush=True)
def wait_ready(path, t_end):
    # Polled at 20 Hz: cheap next to a guest boot on one CPU.
    seen = 0
    while time.perf_counter() < t_end:
        try:
            with open(path, "rb") as f:
                f.seek(max(seen - 16, 0))
                chunk = f.read()
                if b"HVTEST READY" in chunk:
                    return True
                seen = max(seen - 16, 0) + len(chunk)
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    return False
conns = {t[0]: libvirt.open(t[1]) for t in targets}
for i in range(1, runs + 1):
    for d, uri, xmldir, logpat in targets:
        c = conns[d]
        xml = open("%s/%d.xml" % (xmldir, i)).read()
        log = logpat % i
        dom = None
        try:
            t0 = time.perf_counter()
            dom = c.defineXML(xml)
            t1 = time.perf_counter()
            dom.create()
            t2 = time.perf_counter()
            ready = wait_ready(log, t2 + limit)
            t3 = time.perf_counter()
            if not ready:
                print("FAIL %s cycle-%d: no HVTEST READY in %s after %.0f s" % (d, i, log, limit), flush=True)
            # Untimed: the running domain got its tap (live XML).
            live = dom.XMLDesc(0)
            if "<target dev='" not in live.split("<interface", 1)[-1].split("</interface>", 1)[0]:
                print("FAIL %s cycle-%d: no tap in the live XML's <interface>" % (d, i), flush=True)
                ready = False
            t3b = time.perf_counter()
            dom.destroy()
            t4 = time.perf_counter()
            dom.undefine()
            t5 = time.perf_counter()
            print("# cycle %d %s: define %.0f start %.0f ready %.0f destroy %.0f ms" %
                  (i, d, (t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t1) * 1000, (t4 - t3b) * 1000),
                  file=sys.stderr, flush=True)
            if ready:
                out(d, "define", (t1 - t0) * 1000)
                out(d, "start", (t2 - t1) * 1000)
                out(d, "start_to_ready", (t3 - t1) * 1000)
                out(d, "destroy", (t4 - t3b) * 1000)
                out(d, "undefine", (t5 - t4) * 1000)
                out(d, "cycle", (t3 - t0 + t4 - t3b) * 1000)
        except libvirt.libvirtError as e:
            print("FAIL %s cycle-%d: %s" % (d, i, e), flush=True)
            try:
                if dom is not None and dom.isActive():
                    dom.destroy()
                if dom is not None:
                    dom.undefine()
            except libvirt.libvirtError:
                pass
        time.sleep(1)
EOF
    local args=()
    for d in $daemons; do
        local logpat=$tmp/console-$d-cycle-%d.log
        # hvd writes the console itself to STATE/log/NAME.console.log.
        [ "$d" = hvd ] && logpat=$tmp/hvd/state/log/cycle-%d.console.log
        args+=("$d" "$(uri_of "$d")" "$tmp/cxml-$d" "$logpat")
    done
    timeout $(( runs * 2 * 400 + 60 )) "$py" "$tmp/cycle.py" "$runs" 300 "${args[@]}" > "$tmp/cycle.out" 2> >(tee "$tmp/cycle.err" | grep '^# ' >&2) ||
        { echo "bench/daemon.sh: the cycle script failed:" >&2; grep -v '^# ' "$tmp/cycle.err" | tail -n 10 >&2; status=1; }
    if grep '^FAIL' "$tmp/cycle.out" >&2; then
        status=1
        for d in $daemons; do
            tail -n 5 "$tmp/console-$d-cycle-1.log" "$tmp/hvd/state/log/cycle-1.log" \
                "$tmp/lv/log/qemu/cycle-1.log" 2> /dev/null | sed "s/^/# $d: /" >&2
        done
    fi
    if has "$daemons" libvirtd; then
        # libvirt logs QEMU's command line one argument a line, each but
        # the last ending in a backslash.
        say "libvirtd ran: $(awk '/qemu-system-x86_64/ { on = 1 } on { line = $0; sub(/ *\\$/, "", line); printf "%s ", line }
            on && !/\\$/ { exit }' "$tmp/lv/log/qemu/cycle-1.log" 2> /dev/null | cut -c 1-2500)"
    fi
    for d in $daemons; do
        for m in define start start_to_ready destroy undefine cycle; do
            awk -v d="$d" -v m="$m" '$1 == d && $2 == m { print $3 }' "$tmp/cycle.out" | record cycle "$d" "$m" "$runs"
        done
    done
    stop_daemons
}

# ------------------------------------------------------------ run
if [ "$inside" = 1 ]; then
    run_cycle_part
    cat "$results"
    exit $status
fi

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
has "$parts" list && run_list_part
if has "$parts" cycle; then
    kit=${HVD_GUEST_KIT:-}
    [ -n "$kit" ] && [ -f "$kit/initrd.img" ] || kit=$("$top/tools/guest-kit/build" | tail -n 1) || { status=1; kit=""; }
    # Other users of the kit cache may prune this kit while the testbed
    # runs; a hard-linked snapshot keeps its files for this run.
    if [ -n "$kit" ] && cp -al "$kit" "$tmp/kit" 2> /dev/null; then kit=$tmp/kit; fi
    if [ -n "$kit" ]; then
        inner=(env HVD_GUEST_KIT="$kit" HVD_BUILD_DIR="$build" KEEP_LOGS="${KEEP_LOGS:-}"
               bash "$0" --inside --runs "$runs" --daemons "$daemons")
        if grep -qwE 'vmx|svm' /proc/cpuinfo && [ "${HVD_TEST_KVM:-auto}" != testbed ]; then
            "${inner[@]}" > "$tmp/inside.out" || status=1
        else
            say "cycle part: inside the nested testbed (this host's KVM cannot boot Linux)"
            HVD_GUEST_KIT=$kit "$top/tests/testbed/run" -q --timeout $(( 600 + runs * 2 * 400 )) -- "${inner[@]}" > "$tmp/inside.out" || status=1
        fi
        grep '^RESULT ' "$tmp/inside.out" >> "$results"
    fi
fi

if [ "$raw" = 1 ]; then
    cat "$results"
    exit $status
fi

# get PART DAEMON METRIC FIELD(5 median, 6 p90, 7 n)
get() { awk -v p="$1" -v d="$2" -v m="$3" -v f="$4" '$2 == p && $3 == d && $4 == m { print $f }' "$results" | head -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f\n", a / b }'; }
# fmt: three significant digits, no exponent.
fmt() { awk -v v="$1" 'BEGIN { if (v == "" || v == "-") { print "-"; exit }
    a = v < 0 ? -v : v
    if (a >= 100) printf "%.0f\n", v; else if (a >= 10) printf "%.1f\n", v
    else if (a >= 1) printf "%.2f\n", v; else printf "%.3f\n", v }'; }
cell() { echo "$(fmt "$(get "$@" 5)") / $(fmt "$(get "$@" 6)")"; }
both=0; has "$daemons" hvd && has "$daemons" libvirtd && both=1
table() { # PART then "METRIC|label" lines on stdin
    local part=$1 metric label
    echo "| measurement | hvd median / p90 | libvirtd median / p90 | hvd/libvirtd (medians) |"
    echo "|---|---|---|---|"
    while IFS='|' read -r metric label; do
        [ -n "$(get "$part" hvd "$metric" 5)$(get "$part" libvirtd "$metric" 5)" ] || continue
        echo "| $label | $(cell "$part" hvd "$metric") | $(cell "$part" libvirtd "$metric") | $([ "$both" = 1 ] && ratio "$(get "$part" hvd "$metric" 5)" "$(get "$part" libvirtd "$metric" 5)" || echo -) |"
    done
}
if has "$parts" list; then
    table list << EOF
virsh_list_all|\`virsh list --all\`, whole command (ms)
virsh_dumpxml|\`virsh dumpxml NAME\`, whole command (ms)
py_open_close|python3-libvirt open + close (ms)
py_listall|python3-libvirt listAllDomains, $domains domains (ms)
py_xmldesc_all|python3-libvirt XMLDesc of all $domains (ms)
define_one|defineXML, one domain (ms)
define_all_s|defineXML of all $domains (s)
rss_mib|daemon RSS with $domains defined (MiB)
xml_bytes|dumpxml size (bytes)
EOF
    echo
    echo "$domains domains, $reps repetitions each, alternating daemons; $(nproc) CPU(s), $(uname -r)."
    echo "virsh's own start-up (\`virsh --version\`, no connection): $(fmt "$(get list virsh virsh_version 5)") / $(fmt "$(get list virsh virsh_version 6)") ms."
    echo
fi
if has "$parts" cycle; then
    table cycle << EOF
define|define (ms)
start|start, until the API returns (ms)
start_to_ready|start call → HVTEST READY in the serial log (ms)
destroy|destroy (ms)
undefine|undefine (ms)
cycle|define → start → ready → destroyed, sum of the steps (ms)
EOF
    echo
    echo "$runs cycle(s) per daemon, alternating; guest kit $(head -n 1 "$kit/VERSION" 2> /dev/null), 512 MiB, 1 vCPU."
fi
echo
echo "Host load average (1/5/15 min) at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%MZ)."
exit $status
