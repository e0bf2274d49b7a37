#!/usr/bin/env bash
# Boot time and worker memory overhead: hv against QEMU -M pc and QEMU
# -M microvm, same guest kit kernel and initramfs, memory and vCPUs, in one
# run on one machine (inside the nested testbed when the host's KVM cannot
# boot Linux).
#
#   bench/boot.sh [--runs N] [--memory MiB] [--cpus N]
#
# HVD_BENCH_VMMS picks and orders the VMMs (default "hv qemu-pc
# qemu-microvm"); also known: hv-bzimage (hv with HV_DIRECT_KERNEL=0: the
# guest decompresses the bzImage itself) and hv-cold (hv without its
# kernel cache: decompresses the payload on every boot). hv's first boot
# in a run fills its kernel cache (hv/boot/vmlinux.h); the per-boot lines
# on stderr say which boots used it.
#
# Per boot it records:
#   init_wall  process start -> the guest init's first console line (host clock)
#   init_guest the guest's /proc/uptime at that line (kernel start -> init)
#   rss        worker VmRSS while the guest idles after boot
#   overhead   rss minus what the guest touched of its RAM mapping (the
#              largest mapping's Rss), i.e. the VMM's own memory
# and prints a Markdown table of medians.
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=5 mem=512 cpus=1 inside=0
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --memory) mem=$2; shift 2 ;;
        --cpus) cpus=$2; shift 2 ;;
        --inside) inside=1; shift ;;
        *) echo "usage: bench/boot.sh [--runs N] [--memory MiB] [--cpus N]" >&2; exit 2 ;;
    esac
done
build=${HVD_BUILD_DIR:-$top/build}
hv=$build/hv/hv

if [ "$inside" = 0 ]; then
    kit=$("$top/tools/guest-kit/build" | tail -n 1) || exit 1
    if [[ " ${HVD_BENCH_VMMS:-hv} " == *" hv "* ]] && [ ! -x "$hv" ]; then
        echo "bench/boot.sh: $hv is not built (run tools/setup)" >&2; exit 1
    fi
    if grep -qwE 'vmx|svm' /proc/cpuinfo && [ "${HVD_TEST_KVM:-auto}" != testbed ]; then
        HVD_GUEST_KIT=$kit exec "$0" --inside --runs "$runs" --memory "$mem" --cpus "$cpus"
    fi
    exec "$top/tests/testbed/run" --timeout 3000 -- env HVD_GUEST_KIT="$kit" HVD_BUILD_DIR="$build" \
        bash "$0" --inside --runs "$runs" --memory "$mem" --cpus "$cpus"
fi

kit=${HVD_GUEST_KIT:?}
append="console=ttyS0 quiet panic=-1 hvtest=wait hvtest.wait=3"
qemu_common=(qemu-system-x86_64 -enable-kvm -cpu host -m "$mem" -smp "$cpus" -nodefaults
             -no-user-config -nographic -no-reboot -serial stdio
             -kernel "$kit/vmlinuz" -initrd "$kit/initrd.img")

# rss_split PID: prints "total_kib guest_kib" (guest = the largest mapping's Rss).
rss_split() {
    awk '/^[0-9a-f]+-[0-9a-f]+ / { split($1, r, "-"); cur = 0 }
         /^Size:/ { size = $2 }
         /^Rss:/ { total += $2; if (size > maxsize) { maxsize = size; guest = $2 } }
         END { print total + 0, guest + 0 }' "/proc/$1/smaps" 2>/dev/null
}

# boot_once NAME CMD...: prints "init_wall_ms init_guest_s rss_kib overhead_kib".
# Console lines are read as they come with bash's read builtin and stamped
# with $EPOCHREALTIME: no process is forked per line, so the measuring does
# not steal the (single) testbed CPU from the guest being measured.
boot_once() {
    shift  # the name is for the caller
    local t0 t_init="" up="" rss="" guest="" errlog pid fd line
    errlog=$(mktemp)
    t0=$EPOCHREALTIME
    exec {fd}< <(exec "$@" 2> "$errlog" < /dev/null)
    pid=$!
    while IFS= read -r -u "$fd" line; do
        line=${line//$'\r'/}
        case "$line" in
            *"HVTEST INIT uptime="*)
                t_init=$EPOCHREALTIME
                up=${line##*uptime=} ;;
            *"HVTEST READY"*)
                sleep 1
                read -r rss guest < <(rss_split "$pid") ;;
        esac
    done
    exec {fd}<&-
    wait "$pid" 2>/dev/null
    if [ -z "$t_init" ] || [ -z "$rss" ] || [ "$rss" = 0 ]; then
        echo "failed"
        sed 's/^/# stderr: /' "$errlog" | tail -n 5 >&2
        rm -f "$errlog"
        return 1
    fi
    # hv says how it loaded the kernel (direct vmlinux, cached or not).
    grep -o 'kernel: .*' "$errlog" | head -n 1 | sed 's/^/#   /' >&2
    rm -f "$errlog"
    local ms=$(( (${t_init/./} - ${t0/./}) / 1000 ))
    echo "$ms $up $rss $(( rss - guest ))"
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print v[int((NR + 1) / 2)] }'; }

read -r -a order <<< "${HVD_BENCH_VMMS:-hv qemu-pc qemu-microvm}"

# Read the kit once before timing anything, so that the first boot does not
# pay alone for fetching the files over the testbed's 9p root.
cat "$kit/vmlinuz" "$kit/initrd.img" > /dev/null

results=$(mktemp)
for ((i = 1; i <= runs; i++)); do
    for vmm in "${order[@]}"; do
        case "$vmm" in
            hv) r=$(boot_once "$vmm" "$hv" --kernel "$kit/vmlinuz" --initrd "$kit/initrd.img" \
                    --append "$append" --memory "${mem}M" --cpus "$cpus" --serial stdio) ;;
            hv-bzimage) r=$(HV_DIRECT_KERNEL=0 boot_once "$vmm" "$hv" --kernel "$kit/vmlinuz" \
                    --initrd "$kit/initrd.img" --append "$append" --memory "${mem}M" --cpus "$cpus" \
                    --serial stdio) ;;
            hv-cold) r=$(HVD_KERNEL_CACHE=off boot_once "$vmm" "$hv" --kernel "$kit/vmlinuz" \
                    --initrd "$kit/initrd.img" --append "$append" --memory "${mem}M" --cpus "$cpus" \
                    --serial stdio) ;;
            qemu-pc) r=$(boot_once "$vmm" "${qemu_common[@]}" -M pc -append "$append") ;;
            qemu-microvm) r=$(boot_once "$vmm" "${qemu_common[@]}" -M microvm -append "$append") ;;
        esac
        echo "# run $i $vmm: $r" >&2
        echo "$vmm $r" >> "$results"
    done
done

echo "| VMM | process start → init (ms) | kernel start → init (s, guest clock) | worker RSS (KiB) | overhead: RSS − guest RAM touched (KiB) | boots |"
echo "|---|---|---|---|---|---|"
for vmm in "${order[@]}"; do
    ok=$(awk -v v="$vmm" '$1 == v && $2 != "failed"' "$results")
    n=$(printf '%s\n' "$ok" | grep -c . || true)
    echo "| $vmm | $(echo "$ok" | awk '{print $2}' | median) | $(echo "$ok" | awk '{print $3}' | median) | $(echo "$ok" | awk '{print $4}' | median) | $(echo "$ok" | awk '{print $5}' | median) | $n/$runs |"
done
rm -f "$results"
echo
echo "memory ${mem} MiB, ${cpus} vCPU(s), $runs boots each, medians; guest kit $(cat "$kit/VERSION" 2>/dev/null)"
