#!/usr/bin/env bash
# Integration suite (TAP). Boots the nested testbed once and runs every
# scenario tests/integration/NN-*.sh inside it, or runs them directly where
# the host's KVM can boot Linux.
#
#   HVD_TEST_KVM=auto|host|testbed   where to run (default auto: host when
#                                    /proc/cpuinfo has vmx or svm)
#   HVD_TEST_ONLY=PATTERN            run only scenarios whose name matches
#   HVD_SCENARIOS=DIR                where the scenarios are (default: this
#                                    directory; iommu/ holds the ones that
#                                    need the IOMMU testbed, see vfio-suite.sh)
#   HVD_SCENARIO_TIMEOUT=SECONDS     per scenario (default 600, or what the
#                                    scenario's "# scenario-timeout: N" says)
#   HVD_DISK_IMAGE=FILE              the Debian disk image's qcow2 base
#                                    (default: tools/guest-kit/disk-image
#                                    builds it when a selected scenario
#                                    uses it)
#
# A scenario prints TAP result lines without numbers ("ok - what",
# "not ok - what") and "# ..." diagnostics; this script numbers them and
# prints the plan. A scenario that exits non-zero without reporting a failure
# is reported as one.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir

# The scenario files HVD_TEST_ONLY selects, in order.
selected_scenarios() {
    local t
    for t in "${HVD_SCENARIOS:-$here}"/[0-9][0-9]-*.sh; do
        [ -e "$t" ] || continue
        if [ -n "${HVD_TEST_ONLY:-}" ] && [[ $(basename "$t" .sh) != *$HVD_TEST_ONLY* ]]; then
            continue
        fi
        echo "$t"
    done
}

run_scenarios() {
    local n=0 failed=0 t scenarios
    mapfile -t scenarios < <(selected_scenarios)
    for t in "${scenarios[@]}"; do
        local name
        name=$(basename "$t" .sh)
        echo "# scenario $name"
        local out rc=0 saw_fail=0
        out=$(mktemp)
        # A scenario may ask for more than the default 600 s with a line
        # "# scenario-timeout: SECONDS"; HVD_SCENARIO_TIMEOUT overrides both.
        local limit
        limit=$(sed -n 's/^# scenario-timeout: *\([0-9][0-9]*\) *$/\1/p' "$t" | head -n 1)
        HVD_SCENARIO=$name timeout "${HVD_SCENARIO_TIMEOUT:-${limit:-600}}" bash "$t" > "$out" 2>&1 || rc=$?
        while IFS= read -r line; do
            case "$line" in
                "ok "*|"ok")
                    n=$((n + 1)); echo "ok $n ${line#ok } [$name]" ;;
                "not ok "*|"not ok")
                    n=$((n + 1)); failed=$((failed + 1)); saw_fail=1
                    echo "not ok $n ${line#not ok } [$name]" ;;
                *) echo "# $line" ;;
            esac
        done < "$out"
        rm -f "$out"
        if [ "$rc" -ne 0 ] && [ "$saw_fail" -eq 0 ]; then
            n=$((n + 1)); failed=$((failed + 1))
            echo "not ok $n - $name exited with status $rc [$name]"
        fi
    done
    echo "1..$n"
    [ "$failed" -eq 0 ]
}

if [ "${1:-}" = "--inside" ]; then
    run_scenarios
    exit $?
fi

mode=${HVD_TEST_KVM:-auto}
if [ "$mode" = auto ]; then
    if grep -qwE 'vmx|svm' /proc/cpuinfo; then mode=host; else mode=testbed; fi
fi

# The guest kit is built on the host (it downloads Debian packages).
if ! kit=$("$top_srcdir/tools/guest-kit/build" | tail -n 1) || [ ! -d "$kit" ]; then
    echo "not ok 1 - guest kit could not be built"
    echo "1..1"
    exit 1
fi
export HVD_GUEST_KIT=$kit
echo "# guest kit: $kit; KVM: $mode"
# The Debian disk image too, for the scenarios that boot it (they name
# HVD_DISK_IMAGE); a scenario without it reports that itself.
if [ -z "${HVD_DISK_IMAGE:-}" ] && [ -n "$(selected_scenarios | xargs -r -d '\n' grep -l HVD_DISK_IMAGE)" ]; then
    if img=$("$top_srcdir/tools/guest-kit/disk-image" | tail -n 1) && [ -f "$img" ]; then
        export HVD_DISK_IMAGE=$img
        echo "# disk image: $img"
    else
        echo "# the disk image could not be built (tools/guest-kit/disk-image)"
    fi
fi

case "$mode" in
    host)
        run_scenarios ;;
    testbed)
        # The testbed's stdout is this suite's TAP stream.
        rc=0
        "$top_srcdir/tests/testbed/run" --timeout "${HVD_TESTBED_TIMEOUT:-3600}" -- \
            env HVD_GUEST_KIT="$kit" HVD_DISK_IMAGE="${HVD_DISK_IMAGE:-}" top_srcdir="$top_srcdir" \
            top_builddir="$top_builddir" HVD_TEST_ONLY="${HVD_TEST_ONLY:-}" \
            bash "$here/suite.sh" --inside || rc=$?
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
            echo "not ok - testbed run failed with status $rc (see the messages above)"
            echo "1..0"
        fi
        exit "$rc" ;;
    *)
        echo "HVD_TEST_KVM must be auto, host or testbed" >&2; exit 2 ;;
esac
