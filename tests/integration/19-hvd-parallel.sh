#!/usr/bin/env bash
# Scenario: many clients at once (issue 6). 20 python3-libvirt client
# processes list domains and read every domain's XML in a loop while one
# more client defines and undefines domains, sends bad XML (each refused
# with the right libvirt error), and a raw-socket client sends bad frames
# in the middle of it: unknown program and procedure (error replies, socket
# stays usable), undecodable arguments (error reply), a frame cut short and
# held open, and an oversized length (that client closed). Checks: readers
# see only the NO_DOMAIN race, the stable domains read back every time,
# the daemon lives, leaks no client fds, and ends with exactly the domains
# it should have (also on disk). Needs no KVM. 10-hvd-connect.sh covers
# the single-client frame cases; this one is about concurrency.
set -uo pipefail

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
hvd=$top_builddir/daemon/hvd
py=/usr/bin/python3 # Debian's interpreter, which has python3-libvirt
readers=${HVD_PARALLEL_READERS:-20}
cycles=${HVD_PARALLEL_CYCLES:-25}

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

if [ ! -x "$hvd" ]; then
    nok "hvd binary not found at $hvd (build first)"
    exit 1
fi
if ! "$py" -c 'import libvirt' 2> /dev/null; then
    nok "python3-libvirt importable by $py (apt-get install python3-libvirt)"
    exit 1
fi

dir=$(mktemp -d /tmp/hvd-parallel.XXXXXX)
sock=$dir/sock
state=$dir/state
uri="qemu+unix:///system?socket=$sock"
hvd_pid=
cleanup() {
    [ -n "$hvd_pid" ] && kill "$hvd_pid" 2> /dev/null && wait "$hvd_pid" 2> /dev/null
    if [ -n "${KEEP_LOGS:-}" ]; then echo "# logs kept in $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT

start_hvd
check "hvd is listening" test -S "$sock"

cat > "$dir/clients.py" << 'EOF'
import json, os, socket, struct, sys, time, uuid
import libvirt

libvirt.registerErrorHandler(lambda ctx, err: None, None)
mode, uri, rundir = sys.argv[1], sys.argv[2], sys.argv[3]
STOP = os.path.join(rundir, "stop")
STABLE = ["stable-%d" % i for i in range(3)]


def domain_xml(name, dom_uuid, extra=""):
    return ("<domain type='kvm'><name>%s</name><uuid>%s</uuid><memory unit='MiB'>64</memory>"
            "<vcpu>1</vcpu><os><type>hvm</type><kernel>/boot/none</kernel></os>%s</domain>"
            % (name, dom_uuid, extra))


def reader(idx):
    conn = libvirt.open(uri)
    open(os.path.join(rundir, "ready.%d" % idx), "w").close()
    res = {"iterations": 0, "xml_reads": 0, "no_domain_races": 0, "errors": [],
           "stable_missing": 0}
    while res["iterations"] < 5 or not os.path.exists(STOP):
        res["iterations"] += 1
        try:
            doms = conn.listAllDomains(0)
        except libvirt.libvirtError as e:
            res["errors"].append("listAllDomains: %s" % e)
            continue
        names = set()
        for d in doms:
            try:
                x = d.XMLDesc(0)
                names.add(d.name())
                res["xml_reads"] += 1
                if "<name>%s</name>" % d.name() not in x:
                    res["errors"].append("XMLDesc(%s) is another domain's" % d.name())
            except libvirt.libvirtError as e:
                if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                    res["no_domain_races"] += 1
                else:
                    res["errors"].append("XMLDesc: %s (code %d)" % (e, e.get_error_code()))
        res["stable_missing"] += len(set(STABLE) - names)
        if res["iterations"] > 5000:
            res["errors"].append("writer never finished")
            break
    conn.close()
    print(json.dumps(res))


def writer(cycles):
    conn = libvirt.open(uri)
    res = {"cycles": 0, "errors": [], "bad_xml": {}}
    for i in range(cycles):
        name = "churn-%d" % i
        try:
            d = conn.defineXML(domain_xml(name, uuid.uuid4()))
            if conn.lookupByName(name).UUIDString() != d.UUIDString():
                res["errors"].append("lookup of %s gave another uuid" % name)
            d.undefine()
            res["cycles"] += 1
        except libvirt.libvirtError as e:
            res["errors"].append("%s: %s (code %d)" % (name, e, e.get_error_code()))
        bad = {
            "malformed": "<domain type='kvm'><name>bad",
            "not a domain": "<network><name>x</name></network>",
            "no name": "<domain type='kvm'><memory>65536</memory><os><type>hvm</type></os></domain>",
            "unsupported type": domain_xml("bad-tcg", uuid.uuid4()).replace("'kvm'", "'qemu'", 1),
            "unknown element": domain_xml("bad-el", uuid.uuid4(), "<frobnicate/>"),
            "bad memory unit": domain_xml("bad-mem", uuid.uuid4()).replace("'MiB'", "'XiB'"),
        }
        kind = list(bad)[i % len(bad)]
        try:
            conn.defineXML(bad[kind])
            res["bad_xml"][kind] = "accepted"
        except libvirt.libvirtError as e:
            res["bad_xml"][kind] = [e.get_error_code(), e.get_error_domain(), e.get_error_message()]
    conn.close()
    print(json.dumps(res))


HDR = struct.Struct(">IIIiIII")  # length, program, version, procedure, type, serial, status
REMOTE, VERSION = 0x20008086, 1


def call(s, proc, payload=b"", prog=REMOTE, vers=VERSION, serial=1):
    s.sendall(HDR.pack(HDR.size + len(payload), prog, vers, proc, 0, serial, 0) + payload)


def reply(s):
    """(status, serial) of the next reply, or 'closed'."""
    buf = b""
    try:
        while len(buf) < 4:
            chunk = s.recv(4 - len(buf))
            if not chunk:
                return "closed"
            buf += chunk
        want = struct.unpack(">I", buf)[0]
        while len(buf) < want:
            chunk = s.recv(want - len(buf))
            if not chunk:
                return "closed"
            buf += chunk
    except (ConnectionResetError, socket.timeout) as e:
        return "closed" if isinstance(e, ConnectionResetError) else "timeout"
    _, _, _, _, mtype, serial, status = HDR.unpack(buf[:HDR.size])
    return ("error" if status == 1 else "ok", serial)


def raw():
    path = uri.split("socket=")[1]
    out = {}

    def conn():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(path)
        return s
    # A frame cut short and held: the daemon must go on serving everyone.
    held = conn()
    held.sendall(HDR.pack(4096, REMOTE, VERSION, 1, 0, 1, 0)[:20])
    half = conn()
    half.sendall(b"\x00\x00")
    s = conn()
    call(s, 59, prog=0x12345678, serial=7)
    out["unknown program"] = reply(s)
    call(s, 59, vers=9, serial=8)
    out["unknown version"] = reply(s)
    call(s, 1, struct.pack(">II", 0, 0), serial=9)  # CONNECT_OPEN(name NULL, flags 0)
    out["open"] = reply(s)
    call(s, 99999, serial=10)
    out["unknown procedure"] = reply(s)
    call(s, 23, struct.pack(">I", 0x7FFFFFF0) + b"abc", serial=11)  # LOOKUP_BY_NAME, bad string
    out["undecodable args"] = reply(s)
    call(s, 59, serial=12)  # CONNECT_GET_HOSTNAME: the same socket still works
    out["after the errors"] = reply(s)
    s.sendall(struct.pack(">I", 0x7FFFFFFF) + b"x" * 64)
    out["oversized"] = reply(s)
    s.close()
    # The held ones are still open; the daemon served the others meanwhile.
    c = libvirt.open(uri)
    out["other client meanwhile"] = c.getHostname()
    c.close()
    held.close()
    half.close()
    print(json.dumps(out))


if mode == "reader":
    reader(int(sys.argv[4]))
elif mode == "writer":
    writer(int(sys.argv[4]))
elif mode == "raw":
    raw()
EOF

v() { timeout 60 virsh -c "$uri" "$@"; }
for i in 0 1 2; do
    cat > "$dir/stable-$i.xml" << EOF
<domain type='kvm'><name>stable-$i</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type>hvm</type><kernel>/boot/none</kernel></os></domain>
EOF
    v define "$dir/stable-$i.xml" > /dev/null 2>&1
done
check "three stable domains defined" test "$(v list --all --name 2>&1 | grep -c '^stable-')" = 3
fds_before=$(ls /proc/"$hvd_pid"/fd | wc -l)

run=$dir/run
mkdir -p "$run"
pids=()
for i in $(seq "$readers"); do
    timeout 600 "$py" "$dir/clients.py" reader "$uri" "$run" "$i" > "$run/reader.$i.json" 2> "$run/reader.$i.err" &
    pids+=($!)
done
# The writer starts once every reader is connected, so they overlap.
for _ in $(seq 1200); do
    [ "$(ls "$run" | grep -c '^ready\.')" -ge "$readers" ] && break
    sleep 0.1
done
check "$readers reader clients connected" test "$(ls "$run" | grep -c '^ready\.')" -ge "$readers"
timeout 600 "$py" "$dir/clients.py" writer "$uri" "$run" "$cycles" > "$run/writer.json" 2> "$run/writer.err" &
writer_pid=$!
timeout 300 "$py" "$dir/clients.py" raw "$uri" "$run" > "$run/raw.json" 2> "$run/raw.err"
raw_rc=$?
wait "$writer_pid"
writer_rc=$?
touch "$run/stop"
failed_procs=0
for p in "${pids[@]}"; do wait "$p" || failed_procs=$((failed_procs + 1)); done

check "every reader process exited 0 ($failed_procs failed)" test "$failed_procs" -eq 0
sum=$("$py" - "$run" "$readers" << 'EOF'
import glob, json, sys
tot = {"iterations": 0, "xml_reads": 0, "no_domain_races": 0, "stable_missing": 0, "errors": []}
n = 0
for f in glob.glob(sys.argv[1] + "/reader.*.json"):
    try:
        r = json.load(open(f))
    except ValueError:
        tot["errors"].append("%s: no report" % f)
        continue
    n += 1
    for k in ("iterations", "xml_reads", "no_domain_races", "stable_missing"):
        tot[k] += r[k]
    tot["errors"] += r["errors"]
print(n, tot["iterations"], tot["xml_reads"], tot["no_domain_races"], tot["stable_missing"],
      len(tot["errors"]), "|", "; ".join(tot["errors"][:3]))
EOF
)
read -r nrep iters reads races missing nerr _ <<< "$sum"
echo "# readers: $nrep reports, $iters list rounds, $reads XML reads, $races NO_DOMAIN races"
check "all $readers readers reported" test "$nrep" = "$readers"
check "readers: many rounds and reads ($iters, $reads)" test "$iters" -ge $((readers * 5)) -a "$reads" -ge $((readers * 15))
check "readers: no errors except the NO_DOMAIN race ($nerr)" test "$nerr" = 0
[ "$nerr" != 0 ] && echo "# ${sum#*| }"
check "readers: the stable domains were listed every round" test "$missing" = 0

wj() { "$py" -c "import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$run/writer.json" "$1" 2>&1; }
check "writer exited 0" test "$writer_rc" -eq 0
check "writer: $cycles define/undefine cycles, no errors" test "$(wj "r['cycles'], r['errors']")" = "($cycles, [])"
echo "# bad XML answers: $(wj "r['bad_xml']")"
badcode() { wj "r['bad_xml'].get('$1', ['missing'])[0]"; }
check "malformed XML: VIR_ERR_XML_DETAIL (35)" test "$(badcode malformed)" = 35
check "a <network> document: VIR_ERR_XML_ERROR (27)" test "$(badcode 'not a domain')" = 27
check "no <name>: VIR_ERR_NO_NAME (21)" test "$(badcode 'no name')" = 21
check "domain type qemu: VIR_ERR_CONFIG_UNSUPPORTED (67)" test "$(badcode 'unsupported type')" = 67
check "unknown element: VIR_ERR_CONFIG_UNSUPPORTED (67)" test "$(badcode 'unknown element')" = 67
check "unknown memory unit: VIR_ERR_INVALID_ARG (8)" test "$(badcode 'bad memory unit')" = 8
check "bad XML messages name the problem" \
    test "$(wj "all(len(v[2]) > 10 for v in r['bad_xml'].values() if isinstance(v, list))")" = True

rj() { "$py" -c "import json,sys; r=json.load(open(sys.argv[1])); print(r.get(sys.argv[2]))" "$run/raw.json" "$1" 2>&1; }
check "raw client finished (rc $raw_rc)" test "$raw_rc" -eq 0
echo "# raw: $(cat "$run/raw.json" 2> /dev/null) $(tail -n 3 "$run/raw.err" 2> /dev/null)"
check "unknown program: error reply, serial 7" test "$(rj 'unknown program')" = "['error', 7]"
check "unknown version: error reply, serial 8" test "$(rj 'unknown version')" = "['error', 8]"
check "CONNECT_OPEN on the raw socket" test "$(rj open)" = "['ok', 9]"
check "unknown procedure: error reply" test "$(rj 'unknown procedure')" = "['error', 10]"
check "undecodable arguments: error reply" test "$(rj 'undecodable args')" = "['error', 11]"
check "the same socket still answers after those errors" test "$(rj 'after the errors')" = "['ok', 12]"
check "oversized frame: that client is closed" test "$(rj oversized)" = closed
check "another client was served while two sockets held partial frames" \
    test "$(rj 'other client meanwhile')" = "$(hostname)"

check "hvd still running" kill -0 "$hvd_pid"
out=$(v list --all --name 2>&1 | sed '/^$/d' | sort | tr '\n' ' ')
check "exactly the stable domains remain ($out)" test "$out" = "stable-0 stable-1 stable-2 "
check "and exactly their configs on disk" \
    test "$(cd "$state/qemu" && ls -- *.xml | sort | tr '\n' ' ')" = "stable-0.xml stable-1.xml stable-2.xml "
for i in 0 1 2; do
    out=$(v dumpxml "stable-$i" 2>&1)
    grep -q "<name>stable-$i</name>" <<< "$out" || break
done
check "stable domains read back intact" grep -q "<name>stable-2</name>" <<< "$out"
fds_after=
for _ in $(seq 50); do
    fds_after=$(ls /proc/"$hvd_pid"/fd | wc -l)
    [ "$fds_after" -le "$fds_before" ] && break
    sleep 0.2
done
check "no client fds leaked ($fds_before before, $fds_after after)" test "$fds_after" -le "$fds_before"
grep -q "closing the client" "$dir/hvd.log" && echo "# hvd logged the oversized frame"
for p in $(v list --all --name 2>&1); do v undefine "$p" > /dev/null 2>&1; done
exit 0
