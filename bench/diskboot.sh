#!/usr/bin/env bash
# Disk boot and disk I/O: hv (firmware boot: SeaBIOS, GRUB) against QEMU -M
# pc with SeaBIOS, the same qcow2 image (tools/guest-kit/disk-image, through
# a fresh overlay each boot), memory and vCPUs, in one run on one machine
# (inside the nested testbed when the host's KVM cannot boot Linux).
#
#   bench/diskboot.sh [--runs N] [--io-runs N] [--memory MiB] [--cpus N]
#                     [--io-size MiB] [--io-time S] [--format qcow2|raw]
#
# HVD_BENCH_VMMS picks and orders the VMMs (default "hv qemu-pc").
# --format raw boots sparse copies of the raw image (and a raw data disk)
# instead of qcow2 overlays: the firmware path without the qcow2 layer.
#
# Boot (--runs rounds, default 3), per boot, host clock from process start:
#   grub    GRUB's "Booting `Debian ...'" line (firmware and boot loader done)
#   marker  "HVTEST MULTIUSER ..." (systemd reached multi-user.target)
# I/O (--io-runs rounds, default 1): a second disk, a qcow2 overlay on a
# qcow2 base filled with data, whose first sector asks the guest's
# hvtest-bench service for fio jobs (O_DIRECT, libaio; see
# tools/guest-kit/disk/rootfs/usr/local/sbin/hvtest-bench): seqread (1 MiB,
# depth 8) and randread (4 KiB, depth 32) of the base's data through the
# overlay, then seqwrite and randwrite allocating in the overlay, --io-time
# seconds each (default 5) over regions of --io-size MiB (default 128).
# Prints Markdown tables of medians and the hv/QEMU ratios.
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=3 io_runs=1 mem=512 cpus=1 io_size=128 io_time=5 format=qcow2 inside=0
usage() {
    echo "usage: bench/diskboot.sh [--runs N] [--io-runs N] [--memory MiB] [--cpus N] [--io-size MiB] [--io-time S] [--format qcow2|raw]" >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --io-runs) io_runs=$2; shift 2 ;;
        --memory) mem=$2; shift 2 ;;
        --cpus) cpus=$2; shift 2 ;;
        --io-size) io_size=$2; shift 2 ;;
        --io-time) io_time=$2; shift 2 ;;
        --format) format=$2; shift 2 ;;
        --inside) inside=1; shift ;;
        *) usage ;;
    esac
done
case "$format" in qcow2|raw) ;; *) usage ;; esac
args=(--runs "$runs" --io-runs "$io_runs" --memory "$mem" --cpus "$cpus" --io-size "$io_size"
      --io-time "$io_time" --format "$format")
build=${HVD_BUILD_DIR:-$top/build}
hv=$build/hv/hv
read -r -a order <<< "${HVD_BENCH_VMMS:-hv qemu-pc}"
has() { [[ " ${order[*]} " == *" $1 "* ]]; }

if [ "$inside" = 0 ]; then
    kit=$("$top/tools/guest-kit/build" | tail -n 1) || exit 1
    image=$("$top/tools/guest-kit/disk-image" | tail -n 1) || exit 1
    if has hv && [ ! -x "$hv" ]; then
        echo "bench/diskboot.sh: $hv is not built (run tools/setup)" >&2; exit 1
    fi
    if grep -qwE 'vmx|svm' /proc/cpuinfo && [ "${HVD_TEST_KVM:-auto}" != testbed ]; then
        HVD_DISK_IMAGE=$image exec "$0" --inside "${args[@]}"
    fi
    exec "$top/tests/testbed/run" --timeout 3000 -- env HVD_GUEST_KIT="$kit" HVD_DISK_IMAGE="$image" \
        HVD_BUILD_DIR="$build" HVD_BENCH_VMMS="${order[*]}" bash "$0" --inside "${args[@]}"
fi

base=${HVD_DISK_IMAGE:?}
work=$(mktemp -d /tmp/diskboot.XXXXXX)
trap 'rm -rf "$work"' EXIT

# vmm_cmd VMM ROOT [DATA]: the command line booting disk ROOT (and DATA as
# the second disk) with the serial console on stdout.
vmm_cmd() {
    local vmm=$1 root=$2 data=${3:-}
    case "$vmm" in
        hv)
            cmd=("$hv" --disk "path=$root,format=$format,bootindex=1" ${data:+--disk "path=$data,format=$format"}
                 --memory "${mem}M" --cpus "$cpus" --serial stdio) ;;
        qemu-pc)
            cmd=(qemu-system-x86_64 -accel kvm -cpu host -M pc -m "$mem" -smp "$cpus" -nodefaults
                 -no-user-config -display none -no-reboot -serial stdio
                 -drive "file=$root,format=$format,if=virtio" ${data:+-drive "file=$data,format=$format,if=virtio"}) ;;
        *) echo "bench/diskboot.sh: unknown VMM $vmm" >&2; return 1 ;;
    esac
}

# fresh_disk BASE FILE: a qcow2 overlay on BASE (a qcow2 file), or with
# --format raw a sparse copy of BASE's raw twin (BASE without .qcow2, or
# disk.img next to the image's base.qcow2).
fresh_disk() {
    rm -f "$2"
    if [ "$format" = qcow2 ]; then
        qemu-img create -q -f qcow2 -b "$1" -F qcow2 "$2"
    elif [ "$1" = "$base" ]; then
        cp --sparse=always "$(dirname "$base")/disk.img" "$2"
    else
        cp --sparse=always "${1%.qcow2}.raw" "$2"
    fi
}

ms_since() { echo $(( (${2/./} - ${1/./}) / 1000 )); }

# boot_once VMM: prints "grub_ms marker_ms" or "failed". Console lines are
# read as they come and stamped with $EPOCHREALTIME (no fork per line: the
# testbed has one CPU); the VMM is stopped at the marker.
boot_once() {
    local t0 t_grub="" t_marker="" errlog fd line pid
    fresh_disk "$base" "$work/root.disk" || { echo failed; return 1; }
    vmm_cmd "$1" "$work/root.disk" || return 1
    errlog=$work/err.log
    t0=$EPOCHREALTIME
    exec {fd}< <(exec timeout 600 "${cmd[@]}" 2> "$errlog" < /dev/null)
    pid=$!
    while IFS= read -r -u "$fd" line; do
        case "$line" in
            *"Booting \`Debian"*) [ -n "$t_grub" ] || t_grub=$EPOCHREALTIME ;;
            *"HVTEST MULTIUSER"*) t_marker=$EPOCHREALTIME; kill "$pid" 2> /dev/null; break ;;
        esac
    done
    exec {fd}<&-
    wait "$pid" 2> /dev/null
    if [ -z "$t_marker" ]; then
        echo failed
        sed 's/^/# stderr: /' "$errlog" | tail -n 5 >&2
        return 1
    fi
    echo "$( [ -n "$t_grub" ] && ms_since "$t0" "$t_grub" || echo -) $(ms_since "$t0" "$t_marker")"
}

# The data disk's base: the request in sector 0, then 2 x io_size MiB of
# data from 1 MiB on (non-zero, so that qemu-img stores it); data-base.raw
# is kept for --format raw.
make_data_base() {
    local raw=$work/data-base.raw
    truncate -s $((1 + 2 * io_size + 1))M "$raw"
    printf 'HVBENCH\nsize=%s\nruntime=%s\nend=poweroff\n' "$io_size" "$io_time" |
        dd of="$raw" conv=notrunc status=none
    qemu-io -f raw -c "write -P 0x5a 1M $((2 * io_size))M" "$raw" > /dev/null || return 1
    qemu-img convert -f raw -O qcow2 "$raw" "$work/data-base.qcow2"
}

# io_once VMM: prints "JOB bw_kib iops" lines, or "failed".
io_once() {
    local fd line pid done=0 errlog=$work/err.log
    fresh_disk "$base" "$work/root.disk" && fresh_disk "$work/data-base.qcow2" "$work/data.disk" ||
        { echo failed; return 1; }
    vmm_cmd "$1" "$work/root.disk" "$work/data.disk" || return 1
    exec {fd}< <(exec timeout $((600 + 8 * io_time)) "${cmd[@]}" 2> "$errlog" < /dev/null)
    pid=$!
    while IFS= read -r -u "$fd" line; do
        line=${line//$'\r'/}
        case "$line" in
            *"HVTEST BENCH job="*)
                line=${line#*job=}
                echo "${line%% *} $(sed 's/.*bw_kib=\([0-9]*\).*/\1/' <<< "$line") $(sed 's/.*iops=\([0-9]*\).*/\1/' <<< "$line")" ;;
            *"HVTEST BENCH DONE"*) done=1 ;;
            *"HVTEST BENCH FAILED"*) echo "# $1: ${line#*HVTEST BENCH }" >&2 ;;
        esac
    done
    exec {fd}<&-
    wait "$pid" 2> /dev/null
    if [ "$done" = 0 ]; then
        echo failed
        sed 's/^/# stderr: /' "$errlog" | tail -n 5 >&2
        return 1
    fi
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f\n", a / b }'; }

# Read the base once before timing anything, so that the first boot does not
# pay alone for fetching it over the testbed's 9p root.
cat "$base" > /dev/null
results=$work/results
: > "$results"
for ((i = 1; i <= runs; i++)); do
    for vmm in "${order[@]}"; do
        r=$(boot_once "$vmm")
        echo "# boot $i $vmm: $r" >&2
        echo "boot $vmm $r" >> "$results"
    done
done
if [ "$io_runs" -gt 0 ]; then
    make_data_base || { echo "bench/diskboot.sh: cannot make the data disk" >&2; exit 1; }
    for ((i = 1; i <= io_runs; i++)); do
        for vmm in "${order[@]}"; do
            r=$(io_once "$vmm")
            echo "# io $i $vmm: $(tr '\n' ' ' <<< "$r")" >&2
            [ "$r" = failed ] || sed "s/^/io $vmm /" <<< "$r" >> "$results"
        done
    done
fi

# col KIND VMM FIELD: the median of one column of the results.
col() { awk -v k="$1" -v v="$2" -v f="$3" '$1 == k && $2 == v && $3 != "failed" && $f != "-" { print $f }' "$results" | median; }
echo "| VMM | process start → GRUB boots the kernel (ms) | process start → multi-user.target marker (ms) | boots |"
echo "|---|---|---|---|"
for vmm in "${order[@]}"; do
    n=$(awk -v v="$vmm" '$1 == "boot" && $2 == v && $3 != "failed"' "$results" | grep -c . || true)
    echo "| $vmm | $(col boot "$vmm" 3) | $(col boot "$vmm" 4) | $n/$runs |"
done
compare=0
has hv && has qemu-pc && compare=1
if [ "$compare" = 1 ]; then
    echo
    echo "hv / qemu-pc, boot to the marker: $(ratio "$(col boot hv 4)" "$(col boot qemu-pc 4)") (goal ≤ 0.7)"
fi
if [ "$io_runs" -gt 0 ]; then
    echo
    # iocol VMM JOB FIELD (4 bw_kib, 5 iops)
    iocol() { awk -v v="$1" -v j="$2" -v f="$3" '$1 == "io" && $2 == v && $3 == j { print $f }' "$results" | median; }
    printf '| job |'; for vmm in "${order[@]}"; do printf ' %s MiB/s | %s IOPS |' "$vmm" "$vmm"; done
    [ "$compare" = 1 ] && printf ' hv / qemu-pc |'
    echo
    printf '|---|'; for _ in "${order[@]}"; do printf -- '---|---|'; done
    [ "$compare" = 1 ] && printf -- '---|'
    echo
    for job in seqread randread seqwrite randwrite; do
        printf '| %s |' "$job"
        for vmm in "${order[@]}"; do
            bw=$(iocol "$vmm" "$job" 4)
            printf ' %s | %s |' "$(awk -v b="$bw" 'BEGIN { if (b == "-") print "-"; else printf "%.1f", b / 1024 }')" \
                "$(iocol "$vmm" "$job" 5)"
        done
        [ "$compare" = 1 ] &&
            printf ' %s |' "$(ratio "$(iocol hv "$job" 4)" "$(iocol qemu-pc "$job" 4)")"
        echo
    done
fi
echo
echo "memory ${mem} MiB, ${cpus} vCPU(s), $runs boots and $io_runs I/O runs each, medians;" \
    "fio jobs of ${io_time} s over ${io_size} MiB; $format disks; image $(basename "$(dirname "$base")")"
