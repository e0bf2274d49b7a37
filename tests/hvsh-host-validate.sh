#!/usr/bin/env bash
# hvsh host-validate on the machine the tests run on (TAP): each line it
# prints agrees with what the machine really has. The fake-tree cases are
# in tests/unit/test-hvsh-validate.c; this one checks the real /dev, /proc
# and /sys.
set -uo pipefail
hvsh=${top_builddir:-.}/tools/hvsh/hvsh
n=0 failed=0
check() { # check "description" command...
    local what=$1; shift
    n=$((n + 1))
    if "$@" > /dev/null 2>&1; then echo "ok $n - $what"; else echo "not ok $n - $what"; failed=1; fi
}
out=$("$hvsh" host-validate 2>&1); rc=$?
echo "$out" | sed 's/^/# /'
line() { grep -E "^(PASS|WARN|FAIL): .*$1" <<< "$out" | head -n 1; }

check "every line is PASS/WARN/FAIL" bash -c '! grep -qvE "^(PASS|WARN|FAIL): " <<< "$1"' _ "$out"
if grep -q '^FAIL' <<< "$out"; then want=1; else want=0; fi
check "exit status $want follows the FAIL lines (got $rc)" test "$rc" = "$want"

if [ -e /dev/kvm ]; then
    check "/dev/kvm present: reported present" grep -q '^PASS: /dev/kvm is present' <<< "$out"
    if grep -qwE 'vmx|svm' /proc/cpuinfo; then
        check "vmx/svm in /proc/cpuinfo: no nested-KVM warning" bash -c '! grep -q "nested" <<< "$1"' _ "$out"
    else
        check "no vmx/svm in /proc/cpuinfo: the nested-KVM warning names the testbed" \
            grep -q '^WARN: no vmx/svm flag.*testbed' <<< "$out"
    fi
else
    check "no /dev/kvm: reported as a failure" grep -q '^FAIL: .*/dev/kvm' <<< "$out"
fi
if [ -e /dev/vhost-net ]; then
    check "/dev/vhost-net present: PASS" grep -q '^PASS: /dev/vhost-net' <<< "$out"
else
    check "/dev/vhost-net missing: WARN with the modprobe fix" grep -q '^WARN: /dev/vhost-net is missing.*modprobe vhost_net' <<< "$out"
fi
if [ -e /dev/net/tun ]; then
    check "/dev/net/tun present: PASS" grep -q '^PASS: /dev/net/tun' <<< "$out"
else
    check "/dev/net/tun missing: reported" grep -qE '^(WARN|FAIL): /dev/net/tun' <<< "$out"
fi
groups=$(find /sys/kernel/iommu_groups -mindepth 1 -maxdepth 1 2> /dev/null | wc -l)
if [ "$groups" -gt 0 ]; then
    check "$groups IOMMU groups: reported" bash -c 'grep -E "^PASS: .*IOMMU group" <<< "$1"' _ "$out"
else
    check "no IOMMU groups: WARN" grep -q '^WARN: no IOMMU groups' <<< "$out"
fi
huge=$(awk '/^HugePages_Total:/ { print $2 }' /proc/meminfo)
if [ "${huge:-0}" -gt 0 ]; then
    check "$huge hugepages reserved: not warned about" bash -c '! grep -q "^WARN: no hugepages" <<< "$1"' _ "$out"
else
    check "no hugepages reserved: WARN" grep -q '^WARN: no hugepages reserved' <<< "$out"
fi
echo "1..$n"
exit "$failed"
