#!/usr/bin/env bash
# Balloon benchmark: the same 1024 MiB guest (guest kit, hvtest=balloon,
# touches 800 MiB) under hv and under QEMU 7.2 (-device virtio-balloon-pci),
# one after the other in one testbed run. For each VMM: time from the QMP
# `balloon` command (1024 -> 256 MiB, 768 MiB = 196608 pages) until
# query-balloon reports 256 MiB (polled every 10 ms), the deflate back to
# 1024 MiB, and the worker's RSS before and after the inflate.
#
#   bench/balloon.sh                 (builds nothing; needs hv built)
#   HVD_BUILD_DIR=/tmp/build-x bench/balloon.sh
# Where /proc/cpuinfo has no vmx/svm it re-runs itself in tests/testbed/run.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
build=${HVD_BUILD_DIR:-$top/build}
hv=${HVD_HV:-$build/hv/hv}

if [ "${1:-}" != --inside ] && [ -z "${HVD_TESTBED:-}" ] &&
   ! grep -qw -e vmx -e svm /proc/cpuinfo; then
    kit=${HVD_GUEST_KIT:-$("$top/tools/guest-kit/build" | tail -n 1)}
    HVD_GUEST_KIT=$kit HVD_HV=$hv exec "$top/tests/testbed/run" -q -- "$0" --inside
fi
kit=${HVD_GUEST_KIT:-$("$top/tools/guest-kit/build" | tail -n 1)}
[ -x "$hv" ] || { echo "bench/balloon.sh: no hv at $hv (build first)" >&2; exit 1; }
qemu=${HVD_QEMU:-qemu-system-x86_64}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3
[ -x "$py" ] || py=python3

cat > "$tmp/bench.py" <<'PY'
import json, os, re, socket, subprocess, sys, time
hv, qemu, kit, tmp = sys.argv[1:5]
MiB = 1 << 20
APPEND = ("console=ttyS0 quiet panic=-1 hvtest=balloon hvtest.balloon_fill_mib=800 "
          "hvtest.balloon_watch=300")

def qmp_connect(path):
    end = time.time() + 60
    while True:
        try:
            s = socket.socket(socket.AF_UNIX); s.connect(path); break
        except OSError:
            if time.time() > end:
                raise
            time.sleep(0.1)
    f = s.makefile("r")
    f.readline()
    def cmd(name, **args):
        m = {"execute": name}
        if args:
            m["arguments"] = args
        s.sendall((json.dumps(m) + "\n").encode())
        while True:
            o = json.loads(f.readline())
            if "event" not in o:
                return o
    cmd("qmp_capabilities")
    return cmd

def rss(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

def run(name, argv, log):
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=open(log, "wb"),
                         stderr=subprocess.STDOUT)
    sock = os.path.join(tmp, name + ".qmp")
    try:
        cmd = qmp_connect(sock)
        t0 = time.time()
        while time.time() - t0 < 300:
            if re.search(rb"HVTEST balloon_filled=", open(log, "rb").read()):
                break
            time.sleep(0.2)
        else:
            print("%s: guest did not fill its memory" % name, file=sys.stderr)
            return None
        time.sleep(2)
        def wait(target):
            t = time.time()
            while time.time() - t < 120:
                if cmd("query-balloon")["return"]["actual"] == target:
                    return time.time() - t
                time.sleep(0.01)
            return float("nan")
        r1 = rss(p.pid)
        cmd("balloon", value=256 * MiB)
        t_in = wait(256 * MiB)
        time.sleep(1)
        r2 = rss(p.pid)
        cmd("balloon", value=1024 * MiB)
        t_out = wait(1024 * MiB)
        return {"vmm": name, "inflate_s": t_in, "deflate_s": t_out, "rss_before_mib": r1 / 1024,
                "rss_after_mib": r2 / 1024, "returned_mib": (r1 - r2) / 1024}
    finally:
        try:
            cmd("quit")
        except Exception:
            pass
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()

rows = []
common = ["-kernel", kit + "/vmlinuz", "-initrd", kit + "/initrd.img", "-append", APPEND]
rows.append(run("hv", [hv, "--kernel", kit + "/vmlinuz", "--initrd", kit + "/initrd.img",
                       "--append", APPEND, "--memory", "1024M", "--cpus", "1", "--serial", "stdio",
                       "--balloon", "id=balloon0", "--monitor", os.path.join(tmp, "hv.qmp")],
                os.path.join(tmp, "hv.log")))
rows.append(run("qemu", [qemu, "-enable-kvm", "-M", "pc", "-cpu", "host", "-m", "1024", "-smp", "1",
                         "-nographic", "-no-reboot", "-net", "none", "-vga", "none",
                         "-device", "virtio-balloon-pci,id=balloon0",
                         "-qmp", "unix:%s,server=on,wait=off" % os.path.join(tmp, "qemu.qmp")] + common,
                os.path.join(tmp, "qemu.log")))
print("| VMM | inflate 768 MiB (s) | deflate 768 MiB (s) | RSS before (MiB) | RSS after (MiB) | returned (MiB) |")
print("|---|---|---|---|---|---|")
for r in rows:
    if r:
        print("| %(vmm)s | %(inflate_s).2f | %(deflate_s).2f | %(rss_before_mib).0f | %(rss_after_mib).0f | %(returned_mib).0f |" % r)
sys.exit(0 if all(rows) else 1)
PY
"$py" "$tmp/bench.py" "$hv" "$qemu" "$kit" "$tmp"
