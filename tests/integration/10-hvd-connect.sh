#!/usr/bin/env bash
# Scenario: stock virsh and python3-libvirt connect to hvd over its unix
# sockets, handshake, and get clean answers for connection-level calls;
# errors are clean; the read-only socket refuses mutating calls; a malformed
# frame closes only the client that sent it. Needs no KVM.
set -uo pipefail

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
hvd=$top_builddir/daemon/hvd
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

dir=$(mktemp -d /tmp/hvd-connect.XXXXXX)
sock=$dir/sock
ro=$dir/sock-ro
"$hvd" --state-dir "$dir/state" --socket "$sock" --ro-socket "$ro" > "$dir/hvd.log" 2>&1 &
hvd_pid=$!
cleanup() {
    kill "$hvd_pid" 2> /dev/null
    wait "$hvd_pid" 2> /dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

for _ in $(seq 50); do [ -S "$sock" ] && [ -S "$ro" ] && break; sleep 0.1; done
check "hvd listens on both sockets" test -S "$sock" -a -S "$ro"
check "read-write socket is mode 0600" test "$(stat -c %a "$sock")" = 600
check "read-only socket is mode 0666" test "$(stat -c %a "$ro")" = 666

uri="qemu+unix:///system?socket=$sock"
v() { timeout 30 virsh -c "$uri" "$@"; }

out=$(v version 2>&1)
check "virsh version names the QEMU hypervisor" grep -q "Running hypervisor: QEMU" <<< "$out"
out=$(v hostname 2>&1)
check "virsh hostname = $(hostname)" test "$out" = "$(hostname)"
out=$(v nodeinfo 2>&1)
check "virsh nodeinfo reports the CPU count" grep -qE "^CPU\(s\): +$(nproc --all 2> /dev/null || nproc)$" <<< "$out"
check "virsh nodeinfo reports memory" grep -qE "^Memory size: +[1-9][0-9]* KiB" <<< "$out"
out=$(v uri 2>&1)
check "virsh uri echoes the URI" test "$out" = "$uri"
out=$(v list --all 2>&1)
check "virsh list --all: empty table" test "$(grep -cv -e '^ *Id *Name *State' -e '^-*$' -e '^ *$' <<< "$out")" = 0
v capabilities > "$dir/caps.xml" 2>&1
check "virsh capabilities: well-formed XML" xmllint --noout "$dir/caps.xml"
check "capabilities: hvm guest with domain type kvm" grep -q "<domain type='kvm'/>" "$dir/caps.xml"
if [ -f /usr/share/libvirt/schemas/capability.rng ]; then
    check "capabilities validate against libvirt's capability.rng" \
        xmllint --noout --relaxng /usr/share/libvirt/schemas/capability.rng "$dir/caps.xml"
fi

# An unsupported command: clean error, nonzero exit, daemon alive.
out=$(v net-list 2>&1); rc=$?
check "unsupported command fails (rc $rc)" test "$rc" -ne 0
check "with libvirt's 'not supported' message" grep -q "this function is not supported by the connection driver" <<< "$out"
check "daemon still alive after it" kill -0 "$hvd_pid"

# Read-only socket: queries work, mutating calls are refused by the daemon.
out=$(timeout 30 virsh -c "qemu+unix:///system?socket=$ro" hostname 2>&1)
check "read-only socket answers hostname" test "$out" = "$(hostname)"
echo '<domain type="kvm"><name>x</name></domain>' > "$dir/x.xml"
out=$(timeout 30 virsh -c "qemu+unix:///system?socket=$ro" define "$dir/x.xml" 2>&1); rc=$?
check "read-only socket refuses define (rc $rc)" test "$rc" -ne 0
check "with 'read only access prevents virDomainDefineXML'" grep -q "read only access prevents virDomainDefineXML" <<< "$out"
out=$(timeout 30 virsh -r -c "$uri" define "$dir/x.xml" 2>&1); rc=$?
check "virsh -r refuses define too (rc $rc)" test "$rc" -ne 0 -a -n "$(grep 'read only' <<< "$out")"

# The hvd scheme: stock virsh routes it to the remote driver as well (§9).
out=$(timeout 30 virsh -c "hvd+unix:///system?socket=$sock" hostname 2>&1)
check "hvd+unix:///system?socket= works with stock virsh" test "$out" = "$(hostname)"
out=$(timeout 30 virsh -c "test+unix:///default?socket=$sock" hostname 2>&1); rc=$?
check "a URI hvd does not serve is refused cleanly" test "$rc" -ne 0 -a -n "$(grep 'no connection driver available for test:///default' <<< "$out")"

# python3-libvirt.
out=$("$py" -c "
import libvirt, sys
c = libvirt.open(sys.argv[1])
print(c.getHostname())
print(c.getType(), len(c.listAllDomains()), c.numOfDomains(), c.listDefinedDomains())
c.close()
" "$uri" 2>&1)
check "python3-libvirt getHostname()" test "$(head -n1 <<< "$out")" = "$(hostname)"
check "python3-libvirt getType/listAllDomains/numOfDomains/listDefinedDomains" test "$(sed -n 2p <<< "$out")" = "QEMU 0 0 []"

# Malformed frames close only that client.
out=$("$py" - "$sock" << 'EOF' 2>&1
import socket, struct, sys, libvirt
path = sys.argv[1]
keeper = libvirt.open("qemu+unix:///system?socket=" + path)
results = []
for name, data in (("length 4", struct.pack(">I", 4)),
                   ("length 64 MiB", struct.pack(">I", 64 << 20) + b"x" * 24)):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(data)
    s.settimeout(5)
    try:
        closed = s.recv(100) == b""
    except ConnectionResetError:
        closed = True
    results.append(f"{name}: closed={closed}")
    s.close()
# A truncated frame followed by EOF: nothing to answer, just logged.
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
s.sendall(struct.pack(">IIIIIII", 28, 0x20008086, 1, 66, 0, 0, 0)[:20])
s.close()
results.append("other client: " + keeper.getHostname())
keeper.close()
print("\n".join(results))
EOF
)
check "length 4 frame closes that client" grep -q "length 4: closed=True" <<< "$out"
check "64 MiB frame closes that client" grep -q "length 64 MiB: closed=True" <<< "$out"
check "another client's connection is undisturbed" grep -q "other client: $(hostname)" <<< "$out"
check "daemon logged the bad frames" grep -q "frame length .* closing the client" "$dir/hvd.log"
check "daemon still serves new clients" test "$(v hostname 2>&1)" = "$(hostname)"

kill -TERM "$hvd_pid"
wait "$hvd_pid"; rc=$?
check "SIGTERM: clean exit (rc $rc)" test "$rc" -eq 0
check "sockets removed on exit" test ! -e "$sock" -a ! -e "$ro"
echo "# hvd log:"; sed 's/^/#   /' "$dir/hvd.log" | tail -n 15
