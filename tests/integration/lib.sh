# Helpers the hvd scenarios share; sourced, not run (suite.sh runs only
# NN-*.sh). Unnumbered TAP lines for tests/integration/suite.sh.

ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; }
check() { # check "description" command...
    local what=$1; shift
    if "$@" > /dev/null 2>&1; then ok "$what"; else nok "$what"; fi
}

# use_kit_modules: the testbed has no /lib/modules of its own; bind the
# guest kit's there (DESIGN.md), so modprobe works.
use_kit_modules() {
    local m
    m=/lib/modules/$(uname -r)
    if [ -n "${HVD_GUEST_KIT:-}" ] && [ -d "$HVD_GUEST_KIT/modules" ] && [ ! -d "$m" ]; then
        mkdir -p "$m" && mount --bind "$HVD_GUEST_KIT/modules" "$m"
    fi
}

# pci_find VENDOR DEVICE (0x8086 0x10d3): the address of the PCI function
# with these ids (the last one if several), or nothing.
pci_find() {
    local d found=
    for d in /sys/bus/pci/devices/*; do
        [ "$(cat "$d/vendor")" = "$1" ] && [ "$(cat "$d/device")" = "$2" ] && found=$(basename "$d")
    done
    echo "$found"
}

# start_hvd: hvd in the background on $sock with --state-dir $state (and
# --emulator $hv when set), appending to $dir/hvd.log; sets hvd_pid and
# returns once hvd answers on $uri (1 if it does not within 5 s).
start_hvd() {
    "$hvd" --state-dir "$state" --socket "$sock" ${hv:+--emulator "$hv"} >> "$dir/hvd.log" 2>&1 &
    hvd_pid=$!
    for _ in $(seq 50); do
        [ -S "$sock" ] && virsh -c "$uri" version > /dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# q EXPR: for the nova scenarios, a Python expression evaluated over
# novadrv's JSON report $json; s(name[, nth]) is the step of that name (its
# status, detail, data), d(name[, nth]) its data; a missing step has status
# "missing" and empty data.
q() {
    "$py" - "$json" "$1" << 'EOF'
import json, sys
steps = json.load(open(sys.argv[1]))["steps"]
def s(name, nth=0):
    found = [x for x in steps if x["step"] == name]
    return found[nth] if len(found) > nth else {"status": "missing", "detail": "", "data": {}}
def d(name, nth=0):
    return s(name, nth)["data"]
print(eval(sys.argv[2]))
EOF
}

wait_file() { # FILE PATTERN SECONDS: true once FILE has a line matching PATTERN
    for _ in $(seq $(( $3 * 10 ))); do
        grep -aq -- "$2" "$1" 2> /dev/null && return 0
        sleep 0.1
    done
    return 1
}
# For scenarios that define $state (hvd's --state-dir) and v (virsh on
# hvd's socket).
wait_console() { # NAME PATTERN SECONDS
    wait_file "$state/log/$1.console.log" "$2" "$3"
}
wait_state() { # NAME STATE SECONDS
    for _ in $(seq $(( $3 * 2 ))); do
        [ "$(v domstate "$1" 2> /dev/null | head -n 1)" = "$2" ] && return 0
        sleep 0.5
    done
    return 1
}

# validate_domxml DESCRIPTION FILE: FILE (a dumpxml) against libvirt's own
# domain schema, the validator's complaint as diagnostics when it fails.
validate_domxml() {
    local out rc
    if command -v virt-xml-validate > /dev/null; then
        out=$(virt-xml-validate "$2" domain 2>&1); rc=$?
    else
        out=$(xmllint --noout --relaxng /usr/share/libvirt/schemas/domain.rng "$2" 2>&1); rc=$?
    fi
    if [ "$rc" -eq 0 ]; then
        ok "$1 validates against libvirt's domain schema"
    else
        nok "$1 validates against libvirt's domain schema"
        echo "$out" | tail -n 5 | sed 's/^/# /'
    fi
}
