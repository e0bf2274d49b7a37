#!/usr/bin/env bash
# TAP self-test of tests/testbed/run: what reaches stdout and stderr, the
# command's cwd, environment, arguments and exit status, the results share,
# and the runner's own statuses (124 timeout, 125 missing QEMU, failed boot).
# Boots the testbed twice (about 8 s each).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
run="$here/run"
n=0 failed=0
check() {
    local what=$1; shift
    n=$((n + 1))
    if "$@"; then echo "ok $n - $what"; else echo "not ok $n - $what"; failed=$((failed + 1)); fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! kit=$("$top/tools/guest-kit/build" | tail -n 1) || [ ! -f "$kit/testbed-initrd.img" ]; then
    echo "not ok 1 - guest kit could not be built"
    echo "1..1"
    exit 1
fi
export HVD_GUEST_KIT=$kit

# 1. A command with awkward arguments, an environment variable, output on
# both streams, a file in the results share, and exit status 7.
mkdir -p "$tmp/cwd dir"
rc=0
(cd "$tmp/cwd dir" && HVD_SELFTEST_VAR=$'two words\nand a line' \
    "$run" --timeout 300 --keep-output "$tmp/out" -- bash -c '
        printf "arg=[%s]\n" "$@"
        printf "var=[%s]\n" "$HVD_SELFTEST_VAR"
        printf "cwd=[%s]\n" "$PWD"
        echo "to stderr" >&2
        test -c /dev/kvm && echo kvm=yes
        echo result > "$HVD_TESTBED_OUT/file"
        exit 7' x 'a b' "it's" '$HOME' \
    > "$tmp/stdout" 2> "$tmp/stderr") || rc=$?
expected_stdout="arg=[a b]
arg=[it's]
arg=[\$HOME]
var=[two words
and a line]
cwd=[$tmp/cwd dir]
kvm=yes"
check "the command's exit status comes back (7, got $rc)" test "$rc" = 7
check "stdout holds exactly the command's output" test "$(cat "$tmp/stdout")" = "$expected_stdout"
check "the command's stderr reaches stderr" grep -qx 'to stderr' "$tmp/stderr"
check "no kernel or console noise on stderr" bash -c '! grep -qE "^\[ *[0-9]+\.[0-9]+\]|HVTEST|SeaBIOS" "$1"' _ "$tmp/stderr"
check "a file written to \$HVD_TESTBED_OUT is kept" test "$(cat "$tmp/out/file" 2>/dev/null)" = result
check "the runner reports the boot time" grep -q '^testbed: ready after [0-9.]* s' "$tmp/stderr"
sed 's/^/# /' "$tmp/stderr"

# 2. A command that outlives --timeout: 124, QEMU gone.
rc=0
"$run" -q --timeout 4 -- sleep 600 > "$tmp/stdout2" 2> "$tmp/stderr2" || rc=$?
check "timeout gives status 124 (got $rc)" test "$rc" = 124
check "nothing on stdout after a timeout" test ! -s "$tmp/stdout2"

# 3. No QEMU: 125, with a message naming it, without booting anything.
rc=0
HVD_TESTBED_QEMU=/nonexistent/qemu-system-x86_64 "$run" -- true > /dev/null 2> "$tmp/stderr3" || rc=$?
check "missing QEMU gives status 125 (got $rc)" test "$rc" = 125
check "missing QEMU is named" grep -q '/nonexistent/qemu-system-x86_64 not found' "$tmp/stderr3"

# 4. A testbed that cannot boot (garbage initramfs): 125 and the console.
mkdir -p "$tmp/badkit"
cp "$kit/vmlinuz" "$tmp/badkit/"
ln -s "$kit/modules" "$tmp/badkit/modules"
echo "not an initramfs" | gzip > "$tmp/badkit/testbed-initrd.img"
rc=0
HVD_GUEST_KIT="$tmp/badkit" "$run" --timeout 120 -- true > "$tmp/stdout4" 2> "$tmp/stderr4" || rc=$?
check "a failed boot gives status 125 (got $rc)" test "$rc" = 125
check "a failed boot says so and shows the console" \
    bash -c 'grep -q "failed to boot" "$1" && grep -q "Kernel panic" "$1"' _ "$tmp/stderr4"
check "nothing on stdout after a failed boot" test ! -s "$tmp/stdout4"

echo "1..$n"
[ "$failed" -eq 0 ]
