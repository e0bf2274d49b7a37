#!/usr/bin/env bash
# Scenario: virtio-balloon under hv, driven through the QMP monitor.
#  1. 1024 MiB guest with a balloon (stats every 2 s) touches 800 MiB;
#     `balloon` to 256 MiB: the guest's MemTotal drops by ~768 MiB,
#     query-balloon and BALLOON_CHANGE report 256 MiB, the worker's RSS falls
#     by at least 80% of 768 MiB; stats arrive at the period with plausible
#     values; a target above 1024 MiB is refused; back to 1024 MiB: MemTotal
#     returns and the guest touches 600 MiB again.
#  2. deflate-on-oom: ballooned to 256 MiB, the guest needs 700 MiB and takes
#     it back from the balloon (actual rises, the allocation succeeds).
#  3. no balloon: DeviceNotActive with QEMU's text (QMP and HMP).
#  4. free page reporting: the guest frees 800 MiB and the worker's RSS
#     falls with no balloon command; actual stays 1024 MiB.
# Run by tests/integration/suite.sh (unnumbered TAP).
set -uo pipefail

kit=${HVD_GUEST_KIT:?HVD_GUEST_KIT must name a built guest kit}
hv=${HVD_HV:-${top_builddir:-.}/hv/hv}
if [ ! -x "$hv" ]; then
    echo "not ok - hv binary present at $hv"
    exit 0
fi
py=/usr/bin/python3
[ -x "$py" ] || py=python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/balloon_test.py" <<'PY'
import json, os, re, socket, subprocess, sys, time

hv, kit, tmp = sys.argv[1:4]

def ok(cond, what):
    print(("ok - " if cond else "not ok - ") + what, flush=True)
    return cond

def diag(msg):
    for line in str(msg).splitlines():
        print("# " + line, flush=True)

class QMP:
    def __init__(self, path, timeout=60):
        end = time.time() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                if time.time() > end:
                    raise
                time.sleep(0.1)
        self.f = self.s.makefile("r")
        self.events = []
        json.loads(self.f.readline())
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.s.sendall((json.dumps(msg) + "\n").encode())
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError("monitor closed")
            obj = json.loads(line)
            if "event" in obj:
                self.events.append(obj)
                continue
            return obj

    def hmp(self, line):
        return self.cmd("human-monitor-command", **{"command-line": line}).get("return")

class Guest:
    def __init__(self, name, mem, balloon, append):
        self.name = name
        self.log = os.path.join(tmp, name + ".log")
        self.sock = os.path.join(tmp, name + ".qmp")
        argv = [hv, "--kernel", kit + "/vmlinuz", "--initrd", kit + "/initrd.img",
                "--memory", mem, "--cpus", "1", "--serial", "stdio", "--monitor", self.sock,
                "--append", "console=ttyS0 quiet panic=-1 " + append]
        if balloon:
            argv += ["--balloon", balloon]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=open(self.log, "wb"),
                                     stderr=open(self.log + ".err", "wb"))
        self.qmp = QMP(self.sock)

    def console(self):
        with open(self.log, "rb") as f:
            return f.read().decode("latin-1").replace("\r", "")

    def results(self, key):
        # Complete lines only: the guest may be in the middle of one.
        text = self.console()
        return re.findall(r"^HVTEST %s=(.*)$" % re.escape(key), text[:text.rfind("\n") + 1], re.M)

    def wait_for(self, key, timeout, pred=lambda v: True):
        end = time.time() + timeout
        while time.time() < end:
            for v in self.results(key):
                if pred(v):
                    return v
            if self.proc.poll() is not None:
                return None
            time.sleep(0.2)
        return None

    def mem(self):
        """Last balloon_mem line as a dict."""
        vals = self.results("balloon_mem")
        if not vals:
            return None
        return {k: int(v) for k, v in (kv.split(":") for kv in vals[-1].split(","))}

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def actual(self):
        return self.qmp.cmd("query-balloon").get("return", {}).get("actual")

    def wait_actual(self, want, timeout, cmp=lambda a, w: a == w):
        end = time.time() + timeout
        while time.time() < end:
            a = self.actual()
            if a is not None and cmp(a, want):
                return a
            time.sleep(0.05)
        return self.actual()

    def stop(self):
        try:
            self.qmp.cmd("quit")
        except Exception:
            pass
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        tail = self.console().splitlines()[-15:]
        diag("\n".join("%s console: %s" % (self.name, l) for l in tail if l.strip()))
        with open(self.log + ".err", "rb") as f:
            err = f.read().decode("latin-1").splitlines()[-10:]
        diag("\n".join("%s hv: %s" % (self.name, l) for l in err))

MiB = 1 << 20

# ---- 1. inflate, stats, deflate ----
g = Guest("main", "1024M", "id=balloon0,stats-period=2",
          "hvtest=balloon hvtest.balloon_fill_mib=800 hvtest.balloon_watch=150 "
          "hvtest.balloon_refill_mib=600 hvtest.balloon_low_kb=400000")
try:
    filled = g.wait_for("balloon_filled", 240)
    ok(g.results("balloon_driver") == ["yes"], "guest bound virtio_balloon to the device")
    ok(filled == "800", "guest touched 800 MiB")
    time.sleep(2)
    before = g.mem()
    rss1 = g.rss_kib()
    diag("before: guest %s, hv RSS %d KiB" % (before, rss1))
    ok(rss1 >= 800 * 1024, "without reporting the freed 800 MiB stay backed (RSS %d KiB)" % rss1)
    ok(g.actual() == 1024 * MiB, "query-balloon: 1073741824 before ballooning")
    r = g.qmp.cmd("balloon", value=256 * MiB)
    t0 = time.time()
    ok(r.get("return") == {}, "balloon 256 MiB accepted")
    a = g.wait_actual(256 * MiB, 120)
    inflate_s = time.time() - t0
    ok(a == 256 * MiB, "query-balloon reaches 268435456 (got %s, %.2f s)" % (a, inflate_s))
    time.sleep(1.5)   # BALLOON_CHANGE is rate-limited to 1/s
    g.qmp.cmd("query-status")
    changes = [e["data"]["actual"] for e in g.qmp.events if e["event"] == "BALLOON_CHANGE"]
    ok(changes and changes[-1] == 256 * MiB, "BALLOON_CHANGE arrived, last actual=268435456 (%s)" % changes[-3:])
    rss2 = g.rss_kib()
    freed = rss1 - rss2
    diag("after inflate: hv RSS %d KiB, freed %d KiB in %.2f s" % (rss2, freed, inflate_s))
    ok(freed >= 0.8 * 768 * 1024, "worker RSS fell by >= 80%% of 768 MiB (%d KiB)" % freed)
    low = g.wait_for("balloon_mem", 30, lambda v: int(v.split(",")[1].split(":")[1]) < 400000)
    after = g.mem()
    diag("guest after inflate: %s" % after)
    drop = before["memtotal_kb"] - after["memtotal_kb"] if before and after else 0
    ok(low is not None and abs(drop - 768 * 1024) < 16 * 1024,
       "guest MemTotal dropped by ~786432 kB (%d kB)" % drop)
    ok(g.qmp.hmp("info balloon") == "balloon: actual=256\r\n", "HMP info balloon: actual=256")

    # stats at the period, plausible values
    s1 = g.qmp.cmd("qom-get", path="/machine/peripheral/balloon0", property="guest-stats")["return"]
    time.sleep(5)
    s2 = g.qmp.cmd("qom-get", path="/machine/peripheral/balloon0", property="guest-stats")["return"]
    diag("guest-stats: %s" % json.dumps(s2))
    now = int(time.time())
    ok(s2["last-update"] > s1["last-update"] and now - s2["last-update"] <= 4,
       "stats refreshed within the 2 s period (last-update %d -> %d, now %d)"
       % (s1["last-update"], s2["last-update"], now))
    tot = s2["stats"]["stat-total-memory"]
    ok(abs(tot - after["memtotal_kb"] * 1024) < 64 * MiB,
       "stat-total-memory matches the guest's MemTotal (%d)" % tot)
    ok(0 < s2["stats"]["stat-free-memory"] <= tot and s2["stats"]["stat-minor-faults"] > 0,
       "stat-free-memory and stat-minor-faults plausible")
    ok(g.qmp.cmd("qom-get", path="/machine/peripheral/balloon0",
                 property="guest-stats-polling-interval").get("return") == 2,
       "guest-stats-polling-interval reads back 2")

    r = g.qmp.cmd("balloon", value=2048 * MiB)
    ok(r.get("error", {}).get("class") == "GenericError" and "boot memory" in r["error"]["desc"],
       "a target above the boot memory is refused: %s" % r.get("error", {}).get("desc"))

    r = g.qmp.cmd("balloon", value=1024 * MiB)
    t0 = time.time()
    a = g.wait_actual(1024 * MiB, 120)
    ok(a == 1024 * MiB, "back to 1024 MiB (%.2f s)" % (time.time() - t0))
    refill = g.wait_for("balloon_refill", 60)
    ok(refill == "ok", "guest used the returned memory again (balloon_refill=%s)" % refill)
    # The guest prints its memory once a second, but not while it refills
    # (the last line before the refill may show MemTotal still rising):
    # wait for a line that shows it back.
    m = None
    for _ in range(60):
        m = g.mem()
        if m and m["memtotal_kb"] >= before["memtotal_kb"] - 1024:
            break
        time.sleep(0.5)
    ok(m and m["memtotal_kb"] >= before["memtotal_kb"] - 1024,
       "guest MemTotal is back (%s)" % (m and m["memtotal_kb"]))
finally:
    g.stop()

# ---- 2. deflate-on-oom ----
g = Guest("oom", "1024M", "deflate-on-oom=on",
          "hvtest=balloon hvtest.balloon_watch=120 hvtest.balloon_oom_mib=700 "
          "hvtest.balloon_oom_after=25")
try:
    ok(g.wait_for("balloon_driver", 240) == "yes", "oom guest: driver bound")
    g.qmp.cmd("balloon", value=256 * MiB)
    a = g.wait_actual(256 * MiB, 60)
    ok(a == 256 * MiB, "oom guest ballooned to 256 MiB")
    m = g.mem()
    ok(m and m["memtotal_kb"] > 900000, "with deflate-on-oom MemTotal stays (%s kB)" % (m and m["memtotal_kb"]))
    fill = g.wait_for("balloon_oom_fill", 150)
    ok(fill == "ok", "guest allocated 700 MiB by deflating (balloon_oom_fill=%s)" % fill)
    a = g.actual()
    ok(a is not None and a >= 700 * MiB, "query-balloon shows the pages taken back (%s)" % a)
finally:
    g.stop()

# ---- 3. no balloon ----
g = Guest("none", "256M", None, "hvtest=balloon hvtest.balloon_watch=3")
try:
    r = g.qmp.cmd("query-balloon")
    ok(r.get("error") == {"class": "DeviceNotActive", "desc": "No balloon device has been activated"},
       "no balloon: query-balloon DeviceNotActive")
    r = g.qmp.cmd("balloon", value=128 * MiB)
    ok(r.get("error", {}).get("class") == "DeviceNotActive", "no balloon: balloon DeviceNotActive")
    ok(g.qmp.hmp("info balloon") == "Error: No balloon device has been activated\r\n",
       "no balloon: HMP info balloon error text")
    ok(g.wait_for("balloon_driver", 120) == "no", "guest without a balloon sees none")
finally:
    g.stop()

# ---- 4. free page reporting ----
# The guest touches 800 MiB and frees it. Part 1's guest (no reporting)
# keeps that memory backed until the balloon takes it; this one hands the
# freed pages back by itself: the worker's RSS falls with no monitor
# command, and the balloon's size does not move.
g = Guest("fpr", "1024M", "free-page-reporting=on",
          "hvtest=balloon hvtest.balloon_fill_mib=800 hvtest.balloon_watch=90")
try:
    ok(g.wait_for("balloon_filled", 240) == "800", "reporting guest touched and freed 800 MiB")
    t0 = time.time()
    rss = g.rss_kib()
    while rss >= 300 * 1024 and time.time() - t0 < 60 and g.proc.poll() is None:
        time.sleep(0.5)
        rss = g.rss_kib()
    diag("free page reporting: hv RSS %d KiB %.1f s after the guest freed 800 MiB"
         % (rss, time.time() - t0))
    ok(rss < 300 * 1024, "freed guest memory went back to the host unasked (RSS %d KiB)" % rss)
    ok(g.actual() == 1024 * MiB, "query-balloon still 1073741824: reporting is not ballooning")
    m = g.mem()
    ok(m and m["memtotal_kb"] > 900000, "guest MemTotal unchanged (%s kB)" % (m and m["memtotal_kb"]))
finally:
    g.stop()
PY

"$py" "$tmp/balloon_test.py" "$hv" "$kit" "$tmp"
