"""The nova-style driver: one instance's life against a libvirt URI.

Each public method is one step nova's libvirt driver takes, making the same
libvirt calls in the same order (nova/virt/libvirt/driver.py, host.py,
guest.py of Debian's python3-nova 26): getCapabilities; defineXML then
createWithFlags(START_PAUSED) and resume once the VIF is plugged (nova
waits for neutron's network-vif-plugged event there; the linuxbridge agent
sends it when it sees the tap on the bridge); info() every 0.5 s until
RUNNING; get_diagnostics (vcpus, XMLDesc, blockStats, interfaceStats,
maxMemory, memoryStats, each libvirt error swallowed as nova does);
setMemoryFlags(AFFECT_LIVE); destroy; undefineFlags with a fallback to
undefine. A call the daemon does not implement (VIR_ERR_NO_SUPPORT) is
recorded as "unsupported" and the step goes on, as nova's does.
"""

import os
import time
import xml.etree.ElementTree as ET

import libvirt

from . import compat, guestxml, pci, vif as vifmod

STATE_NAMES = {
    libvirt.VIR_DOMAIN_NOSTATE: "NOSTATE", libvirt.VIR_DOMAIN_RUNNING: "RUNNING",
    libvirt.VIR_DOMAIN_BLOCKED: "BLOCKED", libvirt.VIR_DOMAIN_PAUSED: "PAUSED",
    libvirt.VIR_DOMAIN_SHUTDOWN: "SHUTDOWN", libvirt.VIR_DOMAIN_SHUTOFF: "SHUTOFF",
    libvirt.VIR_DOMAIN_CRASHED: "CRASHED", libvirt.VIR_DOMAIN_PMSUSPENDED: "SUSPENDED",
}


class StepFailed(Exception):
    pass


class Report:
    """Steps in order: name, status (ok, failed, skipped, unsupported),
    detail text and data; printed as they happen."""

    def __init__(self, out=None):
        self.steps = []
        self.out = out

    def add(self, name, status, detail="", /, **data):
        self.steps.append({"step": name, "status": status, "detail": detail, "data": data})
        if self.out:
            print("%-22s %-11s %s" % (name, status.upper(), detail), file=self.out, flush=True)

    def failed(self):
        return [s for s in self.steps if s["status"] == "failed"]

    def as_dict(self):
        return {"steps": self.steps, "ok": not self.failed()}


def _err(e):
    return "%s (code %d)" % (e.get_error_message(), e.get_error_code())


def _unsupported(e):
    # NO_SUPPORT: the daemon lacks the call; OPERATION_UNSUPPORTED: it has
    # it but not for this case (hvd: live attach, no hotplug). nova treats
    # both as "this host cannot", not as a failure of the instance.
    return e.get_error_code() in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_OPERATION_UNSUPPORTED)


class NovaDriver:
    def __init__(self, uri, report):
        self.uri = uri
        self.report = report
        # libvirt prints every error on stderr by default; we report them.
        libvirt.registerErrorHandler(lambda ctx, err: None, None)
        self.conn = libvirt.open(uri)
        self.report.add("connect", "ok", "%s (%s, lib %d)" % (uri, self.conn.getType(),
                                                            self.conn.getLibVersion()))

    # ------------------------------------------------------------ host

    def host_capabilities(self):
        """Host arch/CPU and what guests it runs (nova: Host.get_capabilities,
        parsed by LibvirtConfigCaps, then _configure_guest_by_virt_type
        compares the guest arch with caps.host.cpu.arch)."""
        xml = self.conn.getCapabilities()
        vconfig, _ = compat.nova_config()
        if vconfig is not None:
            caps = vconfig.LibvirtConfigCaps()
            caps.parse_str(xml)
            cpu = caps.host.cpu
            info = {"parser": "nova LibvirtConfigCaps", "arch": cpu.arch, "model": cpu.model,
                    "vendor": cpu.vendor, "uuid": caps.host.uuid,
                    "guests": sorted({"%s/%s/%s" % (g.arch, g.ostype, d)
                                      for g in caps.guests for d in g.domains})}
        else:
            root = ET.fromstring(xml)
            info = {"parser": "ElementTree", "arch": root.findtext("host/cpu/arch"),
                    "model": root.findtext("host/cpu/model"),
                    "vendor": root.findtext("host/cpu/vendor"),
                    "uuid": root.findtext("host/uuid"),
                    "guests": sorted({"%s/%s/%s" % (g.find("arch").get("name"),
                                                    g.findtext("os_type"), d.get("type"))
                                      for g in root.findall("guest")
                                      for d in g.findall("arch/domain")})}
        root = ET.fromstring(xml)
        iommu = root.find("host/iommu")
        info["iommu"] = iommu.get("support") if iommu is not None else None
        want = "%s/hvm/kvm" % info["arch"]
        if want in info["guests"]:
            self.report.add("capabilities", "ok", "host %s, cpu model %s, guests %s, iommu %s"
                            % (info["arch"], info["model"] or "(not reported)",
                               ",".join(info["guests"]), info["iommu"]), **info)
        else:
            self.report.add("capabilities", "failed", "no %s guest in the capabilities" % want,
                            **info)
            raise StepFailed("capabilities")
        return info

    def pci_candidates(self, whitelist_json):
        """nova's PCI tracker input: node devices with the PCI capability,
        filtered by the whitelist; the first candidate is the one to assign."""
        specs = pci.parse_whitelist(whitelist_json)
        devices = []
        for nd in self.conn.listAllDevices(libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_PCI_DEV):
            info = pci.device_info(nd.XMLDesc(0))
            if info is not None:
                devices.append(info)
        candidates, rejected = pci.select(devices, specs)
        chosen = candidates[0] if candidates else None
        usable, why = (pci.usable_iommu(chosen) if chosen else (False, "no candidate"))
        detail = "%d PCI devices, %d match, candidates %s" % (
            len(devices), len(candidates) + len(rejected),
            [c["address"] for c in candidates] or "none")
        self.report.add("pci.select", "ok", detail,
                        devices=len(devices),
                        candidates=[c["address"] for c in candidates],
                        rejected=[[r["address"], why_r] for r, why_r in rejected],
                        chosen=chosen, iommu_usable=usable, iommu_reason=why)
        return chosen, usable, why

    # ------------------------------------------------------------ spawn

    def plug_vifs(self, vifs, bridge_cidr=None):
        created = []
        for v in vifs:
            made = vifmod.ensure_bridge(v.bridge, bridge_cidr)
            if made:
                created.append(v.bridge)
            self.report.add("plug_vifs", "ok", "bridge %s %s (os-vif linux_bridge plug); tap %s "
                            "is created by the daemon from <interface type='bridge'>"
                            % (v.bridge, "created" if made else "exists", v.tap),
                            bridge=v.bridge, created=made, tap=v.tap)
        return created

    def spawn(self, spec, boot_timeout=120):
        xml, builder = guestxml.build(spec)
        self.report.add("guest_xml", "ok", "built by %s (%d bytes)" % (builder, len(xml)),
                        builder=builder, xml=xml)
        try:
            dom = self.conn.defineXML(xml)
        except libvirt.libvirtError as e:
            self.report.add("defineXML", "failed", _err(e))
            raise StepFailed("defineXML")
        self.report.add("defineXML", "ok", "%s uuid %s" % (dom.name(), dom.UUIDString()),
                        name=dom.name(), uuid=dom.UUIDString())
        # Start paused, plug, resume: nova's _create_guest_with_network when
        # it waits for network-vif-plugged events.
        try:
            dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)
        except libvirt.libvirtError as e:
            self.report.add("createWithFlags", "failed", _err(e))
            raise StepFailed("createWithFlags")
        state = dom.state()[0]
        self.report.add("createWithFlags", "ok" if state == libvirt.VIR_DOMAIN_PAUSED else "failed",
                        "START_PAUSED -> %s" % STATE_NAMES.get(state, state), state=state)
        for v in spec.vifs:
            plugged = self._wait(lambda: vifmod.master_of(v.tap) == v.bridge, 30)
            self.report.add("vif_plugged", "ok" if plugged else "failed",
                            "tap %s %s bridge %s (what the agent reports as "
                            "network-vif-plugged)" % (v.tap, "on" if plugged else "NOT on",
                                                      v.bridge), tap=v.tap, plugged=plugged)
        dom.resume()
        t0 = time.monotonic()
        running = self._wait(lambda: dom.info()[0] == libvirt.VIR_DOMAIN_RUNNING, boot_timeout,
                             interval=0.5)
        self.report.add("wait_for_running", "ok" if running else "failed",
                        "RUNNING after %.1f s" % (time.monotonic() - t0) if running
                        else "not RUNNING within %d s" % boot_timeout)
        if not running:
            raise StepFailed("wait_for_running")
        return dom

    @staticmethod
    def _wait(cond, timeout, interval=0.2):
        end = time.monotonic() + timeout
        while True:
            try:
                if cond():
                    return True
            except (OSError, libvirt.libvirtError):
                pass
            if time.monotonic() >= end:
                return False
            time.sleep(interval)

    # ------------------------------------------------------------ queries

    def get_info(self, dom):
        """Guest.get_info: state, max_mem_kb, mem_kb, num_cpu, cpu_time_ns."""
        state, max_mem, mem, ncpu, cpu_time = dom.info()
        info = {"state": STATE_NAMES.get(state, state), "max_mem_kb": max_mem, "mem_kb": mem,
                "num_cpu": ncpu, "cpu_time_ns": cpu_time, "id": dom.ID()}
        self.report.add("get_info", "ok", "state %(state)s max_mem %(max_mem_kb)d KiB mem "
                        "%(mem_kb)d KiB vcpus %(num_cpu)d cpu_time %(cpu_time_ns)d ns id %(id)d"
                        % info, **info)
        return info

    def get_diagnostics(self, dom):
        """LibvirtDriver.get_diagnostics: a flat dict, every optional call
        guarded; which calls the daemon lacks goes into 'unsupported'."""
        out, unsupported, errors = {}, [], []

        def guarded(what, fn):
            try:
                return fn()
            except libvirt.libvirtError as e:
                (unsupported if _unsupported(e) else errors).append("%s: %s" % (what, _err(e)))
                return None

        # nova: dom.vcpus()[0] -> cpuN_time (ns of each vCPU thread); hvd
        # serves it since issue 6 (virNodeGetCPUMap + virDomainGetVcpus)
        vcpus = guarded("vcpus", dom.vcpus)
        vcpu_info = [list(v) for v in vcpus[0]] if vcpus else []
        for v in vcpu_info:
            out["cpu%d_time" % v[0]] = v[2]
        root = ET.fromstring(dom.XMLDesc(0))
        disks = [t.get("dev") for t in root.findall("devices/disk/target") if t.get("dev")]
        ifaces = [t.get("dev") for t in root.findall("devices/interface/target") if t.get("dev")]
        for d in disks:
            st = guarded("blockStats(%s)" % d, lambda: dom.blockStats(d))
            if st:
                for k, v in zip(("read_req", "read", "write_req", "write", "errors"), st):
                    out["%s_%s" % (d, k)] = v
        for i in ifaces:
            st = guarded("interfaceStats(%s)" % i, lambda: dom.interfaceStats(i))
            if st:
                for k, v in zip(("rx", "rx_packets", "rx_errors", "rx_drop", "tx",
                                 "tx_packets", "tx_errors", "tx_drop"), st):
                    out["%s_%s" % (i, k)] = v
        out["memory"] = dom.maxMemory()
        mem = guarded("memoryStats", dom.memoryStats)
        for k, v in (mem or {}).items():
            out["memory-" + k] = v
        return {"diagnostics": out, "unsupported": unsupported, "errors": errors,
                "disks": disks, "interfaces": ifaces, "vcpus": vcpu_info}

    def diagnostics_step(self, dom, want_traffic=True, want_guest_stats=True, timeout=180):
        """get_diagnostics, polled until the guest has sent and received on
        every interface and reported its own memory stats (or timeout)."""
        end = time.monotonic() + timeout
        while True:
            d = self.get_diagnostics(dom)
            diag = d["diagnostics"]
            traffic = all(diag.get("%s_rx_packets" % i, 0) > 0 and
                          diag.get("%s_tx_packets" % i, 0) > 0 for i in d["interfaces"])
            guest_stats = "memory-unused" in diag
            if ((traffic or not want_traffic) and (guest_stats or not want_guest_stats)) \
                    or time.monotonic() >= end:
                break
            time.sleep(1)
        status = "failed" if d["errors"] else "ok"
        keys = sorted(k for k in diag if k.startswith("memory-"))
        detail = "vcpus %s; memory keys %s; %s; unsupported: %s" % (
            ", ".join("cpu%d_time %d ns on CPU %d" % (v[0], v[2], v[3]) for v in d["vcpus"])
            or "none",
            ",".join(k[7:] for k in keys),
            "; ".join("%s rx_packets %s tx_packets %s" % (i, diag.get(i + "_rx_packets"),
                                                          diag.get(i + "_tx_packets"))
                      for i in d["interfaces"]) or "no interfaces",
            ", ".join(u.split(":")[0] for u in d["unsupported"]) or "none")
        self.report.add("get_diagnostics", status, detail, traffic=traffic,
                        guest_stats=guest_stats, **d)
        for u in d["unsupported"]:
            self.report.add("diagnostics.degraded", "unsupported", u + " -- skipped as nova does")
        return d

    # ------------------------------------------------------------ balloon

    def balloon(self, dom, target_kib, timeout=120):
        """setMemoryFlags(AFFECT_LIVE) as nova's Guest.set_memory... then
        watch the balloon's actual (memoryStats) and info()'s memory reach
        the target and, when the guest reports its own stats, its total
        ('available') drop."""
        stats = dom.memoryStats() or {}
        before, avail_before = stats.get("actual"), stats.get("available")
        try:
            dom.setMemoryFlags(target_kib, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError as e:
            self.report.add("balloon", "unsupported" if _unsupported(e) else "failed", _err(e))
            return None
        got = {}

        def reached():
            st = dom.memoryStats()
            got["actual"], got["available"] = st.get("actual"), st.get("available")
            got["mem_kb"] = dom.info()[2]
            # The guest's own total ('available', from its balloon driver's
            # statistics, which the domain XML asks for) must come down to
            # the target as well: the guest saw the balloon, not just the
            # device. Statistics may start after the call when the guest is
            # still booting, so wait for them rather than compare to before.
            guest_saw = got["available"] is not None and got["available"] <= target_kib
            # info()'s memory follows the balloon events, which may trail
            # query-balloon by a few seconds; nova's get_info reads that one.
            return got["actual"] == target_kib and got["mem_kb"] == target_kib and guest_saw
        ok = self._wait(reached, timeout, interval=1)
        self.report.add("balloon", "ok" if ok else "failed",
                        "setMemoryFlags(%d, AFFECT_LIVE): actual %s -> %s KiB, guest total %s -> "
                        "%s KiB, info mem %s KiB" % (target_kib, before, got.get("actual"),
                                                     avail_before, got.get("available"),
                                                     got.get("mem_kb")),
                        target_kib=target_kib, actual_before=before,
                        actual_after=got.get("actual"), available_before=avail_before,
                        available_after=got.get("available"), info_mem_kb=got.get("mem_kb"))
        return got.get("actual")

    # ------------------------------------------------------------ PCI attach

    def attach_pci(self, dom, chosen, usable, why):
        """Hot-plug of the chosen device (nova's attach_interface for an
        SR-IOV port uses attachDeviceFlags(LIVE|CONFIG) with a <hostdev>)."""
        if chosen is None:
            self.report.add("pci.attach", "skipped", "no device matched the whitelist")
            return
        if not usable:
            self.report.add("pci.attach", "skipped", "%s: %s" % (chosen["address"], why),
                            reason=why)
            return
        a = guestxml.PciAddr.parse(chosen["address"])
        xml = ("<hostdev mode='subsystem' type='pci' managed='yes'><source><address "
               "domain='0x%s' bus='0x%s' slot='0x%s' function='0x%s'/></source></hostdev>"
               % (a.domain, a.bus, a.slot, a.function))
        try:
            dom.attachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE |
                                  libvirt.VIR_DOMAIN_AFFECT_CONFIG)
            self.report.add("pci.attach", "ok", "%s attached live" % chosen["address"])
        except libvirt.libvirtError as e:
            # nova raises InterfaceAttachFailed and leaves the guest running.
            self.report.add("pci.attach", "unsupported" if _unsupported(e) else "failed",
                            "%s: %s" % (chosen["address"], _err(e)))

    # ------------------------------------------------------------ teardown

    def destroy(self, dom, timeout=60):
        try:
            dom.destroy()
        except libvirt.libvirtError as e:
            if e.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID:  # not running
                self.report.add("destroy", "failed", _err(e))
                return False
        off = self._wait(lambda: dom.info()[0] == libvirt.VIR_DOMAIN_SHUTOFF, timeout)
        self.report.add("destroy", "ok" if off else "failed",
                        "SHUTOFF" if off else "still not SHUTOFF after %d s" % timeout)
        return off

    def undefine(self, dom):
        """Guest.delete_configuration: undefineFlags, else plain undefine."""
        name = dom.name()
        how = "undefineFlags(MANAGED_SAVE)"
        try:
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
        except libvirt.libvirtError:
            how = "undefine() after undefineFlags failed"
            try:
                dom.undefine()
            except libvirt.libvirtError as e:
                self.report.add("undefine", "failed", _err(e))
                return False
        try:
            self.conn.lookupByName(name)
            self.report.add("undefine", "failed", "%s still defined after %s" % (name, how))
            return False
        except libvirt.libvirtError as e:
            ok = e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN
            self.report.add("undefine", "ok" if ok else "failed", "%s: %s; lookup now: %s"
                            % (name, how, _err(e)))
            return ok

    def cleanup(self, spec, created_bridges, instance_dir):
        for v in spec.vifs:
            gone = self._wait(lambda: not vifmod.exists(v.tap), 10)
            self.report.add("unplug_vifs", "ok" if gone else "failed",
                            "tap %s %s (os-vif linux_bridge unplug is a no-op)"
                            % (v.tap, "removed by the daemon" if gone else "STILL PRESENT"))
        for b in created_bridges:
            self.report.add("cleanup.bridge", "ok", "%s %s" % (b, vifmod.delete_bridge_if_empty(b)))
        if instance_dir and os.path.isdir(instance_dir):
            for f in os.listdir(instance_dir):
                os.unlink(os.path.join(instance_dir, f))
            os.rmdir(instance_dir)
            self.report.add("cleanup.instance_dir", "ok", "%s removed" % instance_dir)

    def close(self):
        self.conn.close()
