#!/usr/bin/python3
"""A nova-style libvirt driver run against hvd (or any libvirt URI).

    /usr/bin/python3 tools/nova/novadrv.py --uri URI cycle --kernel K --initrd I
        [--memory-mib 512] [--vcpus 1] [--balloon-mib 256] [--cmdline TEXT]
        [--bridge-cidr 10.77.18.1/24] [--guest-ip 10.77.18.2/24]
        [--whitelist JSON] [--pci-mode spawn|hotplug] [--mem-stats-period 10]
        [--json FILE] [--keep]
    /usr/bin/python3 tools/nova/novadrv.py --uri URI caps
    /usr/bin/python3 tools/nova/novadrv.py --uri URI pci --whitelist JSON
    /usr/bin/python3 tools/nova/novadrv.py xml --kernel K --initrd I

cycle: capabilities, PCI candidate by whitelist, plug the VIF's bridge,
spawn (nova's XML, defineXML, createWithFlags paused, resume once the tap is
on the bridge, wait for RUNNING), get_info, get_diagnostics, balloon,
PCI attach (or the reason it is skipped), destroy, undefine, cleanup.
Prints one line per step; exits 1 when a step failed. Must run under
Debian's /usr/bin/python3, which has python3-libvirt (and python3-nova).
"""

import argparse
import json
import os
import sys
import tempfile
import uuid as uuidmod

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    import libvirt  # noqa: F401  (Debian's python3-libvirt)
except ImportError:
    sys.exit("novadrv: python3-libvirt is missing; run with /usr/bin/python3 "
             "(apt-get install python3-libvirt)")

from hvdnova import compat, driver, guestxml, pci  # noqa: E402

DEFAULT_WHITELIST = '[{"vendor_id": "8086", "product_id": "10d3"}, {"vendor_id": "1af4"}]'


def direct_io_supported(path):
    """nova's _supports_direct_io: cache='none' needs O_DIRECT there."""
    test = os.path.join(path, ".directio.test")
    try:
        fd = os.open(test, os.O_CREAT | os.O_WRONLY | getattr(os, "O_DIRECT", 0))
        os.close(fd)
        return True
    except OSError:
        return False
    finally:
        try:
            os.unlink(test)
        except OSError:
            pass


def make_spec(args, instance_dir):
    inst_uuid = str(uuidmod.uuid4())
    port_id = str(uuidmod.uuid4())
    net_id = args.network_id or str(uuidmod.uuid4())
    mac = "fa:16:3e:%02x:%02x:%02x" % tuple(uuidmod.UUID(port_id).bytes[:3])
    vifs = [guestxml.Vif(port_id=port_id, mac=mac, bridge=args.bridge or
                         ("brq" + net_id)[:14], tap=("tap" + port_id)[:14],
                         ip=args.guest_ip)]
    disk = None
    if instance_dir:
        disk = os.path.join(instance_dir, "disk")
        with open(disk, "wb") as f:
            f.truncate(args.disk_mib << 20)  # sparse raw image, nova's images_type=raw
    return guestxml.GuestSpec(
        name=args.name or "instance-%08x" % (uuidmod.UUID(inst_uuid).int & 0xFFFFFF),
        uuid=inst_uuid, memory_mib=args.memory_mib, vcpus=args.vcpus,
        kernel=os.path.abspath(args.kernel), initrd=os.path.abspath(args.initrd),
        cmdline=args.cmdline,
        console_log=os.path.join(instance_dir or "/tmp", "console.log"),
        disk_path=disk,
        disk_cache="none" if instance_dir and direct_io_supported(instance_dir) else "writethrough",
        vifs=vifs, mem_stats_period=args.mem_stats_period)


def cmd_cycle(args, report):
    drv = driver.NovaDriver(args.uri, report)
    _, why = compat.nova_config()
    report.add("nova", "ok" if why is None else "skipped",
               "python3-nova %s: domain XML from nova's LibvirtConfigGuest classes"
               % compat.nova_package_version() if why is None
               else why + "; domain XML from the plain-XML fallback")
    instance_dir = tempfile.mkdtemp(prefix="nova-instance-", dir=args.instances_path)
    spec = make_spec(args, instance_dir)
    created, dom = [], None
    try:
        drv.host_capabilities()
        chosen, usable, why = drv.pci_candidates(args.whitelist)
        if chosen and usable and args.pci_mode == "spawn":
            spec.hostdevs.append(guestxml.PciAddr.parse(chosen["address"]))
            report.add("pci.attach", "ok", "%s goes into the domain XML as a managed "
                       "<hostdev> (nova's flavor PCI alias path)" % chosen["address"])
        created = drv.plug_vifs(spec.vifs, args.bridge_cidr)
        dom = drv.spawn(spec, args.boot_timeout)
        drv.get_info(dom)
        drv.diagnostics_step(dom, want_traffic=bool(args.guest_ip),
                             want_guest_stats=args.mem_stats_period > 0,
                             timeout=args.traffic_timeout)
        if args.balloon_mib:
            drv.balloon(dom, args.balloon_mib * 1024, args.balloon_timeout)
            drv.get_info(dom)
        if args.pci_mode == "hotplug" or not (chosen and usable):
            drv.attach_pci(dom, chosen, usable, why)
        if args.keep:
            report.add("keep", "ok", "left running as asked (--keep)")
            return
    except driver.StepFailed as e:
        report.add("abort", "failed", "stopped after %s; cleaning up" % e)
    except (libvirt.libvirtError, pci.SpecError, RuntimeError, OSError) as e:
        report.add("abort", "failed", "%s: %s" % (type(e).__name__, e))
    if dom is not None:
        drv.destroy(dom)
        drv.undefine(dom)
    else:
        try:
            d = drv.conn.lookupByName(spec.name)
            drv.destroy(d)
            drv.undefine(d)
        except libvirt.libvirtError:
            pass
    drv.cleanup(spec, created, instance_dir)
    drv.close()


def cmd_caps(args, report):
    drv = driver.NovaDriver(args.uri, report)
    drv.host_capabilities()
    drv.close()


def cmd_pci(args, report):
    drv = driver.NovaDriver(args.uri, report)
    drv.pci_candidates(args.whitelist)
    drv.close()


def cmd_xml(args, report):
    spec = make_spec(args, None)
    xml, builder = guestxml.build(spec)
    report.add("guest_xml", "ok", "built by " + builder, builder=builder)
    print(xml)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--uri", help="libvirt URI, e.g. qemu+unix:///system?socket=PATH")
    p.add_argument("--json", help="write every step and its data to this file")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("cycle", "xml"):
        s = sub.add_parser(name)
        s.add_argument("--kernel", required=True)
        s.add_argument("--initrd", required=True)
        s.add_argument("--cmdline", default="console=ttyS0")
        s.add_argument("--name")
        s.add_argument("--memory-mib", type=int, default=512)
        s.add_argument("--vcpus", type=int, default=1)
        s.add_argument("--disk-mib", type=int, default=16)
        s.add_argument("--bridge", help="bridge name (default brq + network id)")
        s.add_argument("--network-id")
        s.add_argument("--guest-ip", help="the port's fixed IP (CIDR), for metadata and "
                       "to wait for guest traffic")
        s.add_argument("--mem-stats-period", type=int, default=10,
                       help="nova's [libvirt]mem_stats_period_seconds")
        if name == "cycle":
            s.add_argument("--bridge-cidr", help="address for the bridge (test aid)")
            s.add_argument("--balloon-mib", type=int, default=0)
            s.add_argument("--whitelist", default=DEFAULT_WHITELIST)
            s.add_argument("--pci-mode", choices=("spawn", "hotplug"), default="spawn")
            s.add_argument("--instances-path", default=None)
            s.add_argument("--boot-timeout", type=int, default=120)
            s.add_argument("--traffic-timeout", type=int, default=180)
            s.add_argument("--balloon-timeout", type=int, default=120)
            s.add_argument("--keep", action="store_true")
    sub.add_parser("caps")
    s = sub.add_parser("pci")
    s.add_argument("--whitelist", default=DEFAULT_WHITELIST)
    args = p.parse_args(argv)
    if args.cmd != "xml" and not args.uri:
        p.error("--uri is required for " + args.cmd)

    report = driver.Report(out=sys.stdout if args.cmd != "xml" else sys.stderr)
    try:
        {"cycle": cmd_cycle, "caps": cmd_caps, "pci": cmd_pci, "xml": cmd_xml}[args.cmd](args, report)
    except libvirt.libvirtError as e:
        report.add("error", "failed", "%s (code %d)" % (e.get_error_message(), e.get_error_code()))
    except pci.SpecError as e:
        report.add("error", "failed", "whitelist: %s" % e)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report.as_dict(), f, indent=1, default=str)
    return 1 if report.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
