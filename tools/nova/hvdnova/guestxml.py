"""Domain XML in the shape nova's libvirt driver gives a KVM x86 instance.

With python3-nova the document is built by nova's own classes
(nova.virt.libvirt.config.LibvirtConfigGuest and friends), set up the way
nova.virt.libvirt.driver._get_guest_config does for virt_type=kvm: sysinfo
and <smbios mode='sysinfo'/>, nova:instance metadata, ACPI/APIC, a
host-model CPU with a topology, utc clock with pit/rtc/hpet timers, a raw
file disk on virtio, one <interface type='bridge'> per VIF (the os-vif
VIFBridge case), a pty serial console with a log file, VNC graphics with a
tablet and a virtio video card, a virtio balloon with a stats period, and
managed PCI hostdevs. Without python3-nova, build_plain() writes the same
elements with ElementTree; the caller reports which builder ran.
"""

import dataclasses
import time
import typing
import xml.etree.ElementTree as ET

from . import compat

NOVA_NS = "http://openstack.org/xmlns/libvirt/nova/1.1"


@dataclasses.dataclass
class Vif:
    port_id: str
    mac: str
    bridge: str
    tap: str
    model: str = "virtio"
    ip: typing.Optional[str] = None


@dataclasses.dataclass
class PciAddr:
    domain: str  # hex strings as nova's pci utils parse them ("0000", "02", ...)
    bus: str
    slot: str
    function: str

    @classmethod
    def parse(cls, text):
        """'0000:02:10.1' -> PciAddr; ValueError names a bad address."""
        try:
            dbs, func = text.split(".")
            dom, bus, slot = dbs.split(":")
            for v, limit in ((dom, 0xFFFF), (bus, 0xFF), (slot, 0x1F), (func, 7)):
                if int(v, 16) > limit:
                    raise ValueError
        except ValueError:
            raise ValueError("bad PCI address %r (want DDDD:BB:SS.F)" % text) from None
        return cls(dom, bus, slot, func)

    def __str__(self):
        return "%s:%s:%s.%s" % (self.domain, self.bus, self.slot, self.function)


@dataclasses.dataclass
class GuestSpec:
    name: str
    uuid: str
    memory_mib: int
    vcpus: int
    kernel: str
    initrd: str
    cmdline: str
    console_log: str
    disk_path: typing.Optional[str] = None
    disk_cache: str = "none"
    vifs: typing.List[Vif] = dataclasses.field(default_factory=list)
    hostdevs: typing.List[PciAddr] = dataclasses.field(default_factory=list)
    mem_stats_period: int = 10
    flavor_name: str = "m1.hvd"
    display_name: str = "hvd-nova"
    owner: typing.Tuple[str, str] = ("hvd-user", "hvd-project")
    arch: str = "x86_64"


def build(spec):
    """(xml, builder): nova's classes when importable, else plain XML."""
    vconfig, why = compat.nova_config()
    if vconfig is not None:
        return build_with_nova(spec, vconfig), "nova.virt.libvirt.config"
    return build_plain(spec), "plain XML fallback (%s)" % why


# ------------------------------------------------------------ nova's classes

def build_with_nova(spec, vc):
    g = vc.LibvirtConfigGuest()
    g.virt_type = "kvm"
    g.name = spec.name
    g.uuid = spec.uuid
    g.memory = spec.memory_mib * 1024  # nova: flavor.memory_mb * units.Ki (KiB)
    g.vcpus = spec.vcpus
    g.os_type = "hvm"
    g.os_arch = spec.arch
    g.os_kernel = spec.kernel
    g.os_initrd = spec.initrd
    g.os_cmdline = spec.cmdline

    meta = vc.LibvirtConfigGuestMetaNovaInstance()
    meta.package = compat.nova_package_version() or "hvdnova"
    meta.name = spec.display_name
    meta.creationTime = time.time()
    meta.roottype = "image"
    meta.rootid = "00000000-0000-4000-8000-00000000cafe"
    owner = vc.LibvirtConfigGuestMetaNovaOwner()
    owner.userid, owner.username = "u-" + spec.owner[0], spec.owner[0]
    owner.projectid, owner.projectname = "p-" + spec.owner[1], spec.owner[1]
    meta.owner = owner
    flavor = vc.LibvirtConfigGuestMetaNovaFlavor()
    flavor.name = spec.flavor_name
    flavor.memory, flavor.vcpus = spec.memory_mib, spec.vcpus
    flavor.disk, flavor.swap, flavor.ephemeral = 1, 0, 0
    meta.flavor = flavor
    ports = []
    for vif in spec.vifs:
        ips = [vc.LibvirtConfigGuestMetaNovaIp("fixed", vif.ip.split("/")[0], "4")] if vif.ip else []
        ports.append(vc.LibvirtConfigGuestMetaNovaPort(vif.port_id, ips=ips))
    meta.ports = vc.LibvirtConfigGuestMetaNovaPorts(ports)
    g.metadata.append(meta)

    # _configure_guest_by_virt_type: x86 kvm gets sysinfo and smbios mode.
    sysinfo = vc.LibvirtConfigGuestSysinfo()
    sysinfo.system_manufacturer = "OpenStack Foundation"
    sysinfo.system_product = "OpenStack Nova"
    sysinfo.system_version = meta.package
    sysinfo.system_serial = spec.uuid
    sysinfo.system_uuid = spec.uuid
    sysinfo.system_family = "Virtual Machine"
    g.sysinfo = sysinfo
    g.os_smbios = vc.LibvirtConfigGuestSMBIOS()

    g.features.append(vc.LibvirtConfigGuestFeatureACPI())
    g.features.append(vc.LibvirtConfigGuestFeatureAPIC())

    # cpu_mode defaults to host-model for kvm on x86; topology from the flavor.
    cpu = vc.LibvirtConfigGuestCPU()
    cpu.mode = "host-model"
    cpu.match = "exact"
    cpu.sockets, cpu.cores, cpu.threads = spec.vcpus, 1, 1
    g.cpu = cpu

    clock = vc.LibvirtConfigGuestClock()
    clock.offset = "utc"
    for name, policy, present in (("pit", "delay", None), ("rtc", "catchup", None),
                                  ("hpet", None, False)):
        t = vc.LibvirtConfigGuestTimer()
        t.name, t.tickpolicy, t.present = name, policy, present
        clock.add_timer(t)
    g.set_clock(clock)

    if spec.disk_path:
        disk = vc.LibvirtConfigGuestDisk()
        disk.source_type, disk.source_device = "file", "disk"
        disk.driver_name, disk.driver_format = "qemu", "raw"
        disk.driver_cache = spec.disk_cache
        disk.source_path = spec.disk_path
        disk.target_dev, disk.target_bus = "vda", "virtio"
        g.add_device(disk)

    for vif in spec.vifs:
        conf = vc.LibvirtConfigGuestInterface()
        # vif.py _set_config_VIFBridge: bridge type, source bridge, tap name.
        conf.net_type = "bridge"
        conf.source_dev = vif.bridge
        conf.target_dev = vif.tap
        conf.mac_addr = vif.mac
        conf.model = vif.model
        g.add_device(conf)

    for addr in spec.hostdevs:
        dev = vc.LibvirtConfigGuestHostdevPCI()
        dev.domain, dev.bus, dev.slot, dev.function = (addr.domain, addr.bus,
                                                       addr.slot, addr.function)
        dev.managed = "yes"  # _set_managed_mode for kvm
        g.add_device(dev)

    serial = vc.LibvirtConfigGuestSerial()
    serial.type = "pty"
    serial.target_type = None
    log = vc.LibvirtConfigGuestCharDeviceLog()
    log.file = spec.console_log
    serial.log = log
    g.add_device(serial)

    graphics = vc.LibvirtConfigGuestGraphics()
    graphics.type = "vnc"
    graphics.listen = "127.0.0.1"
    g.add_device(graphics)
    tablet = vc.LibvirtConfigGuestInput()
    tablet.type, tablet.bus = "tablet", "usb"
    g.add_device(tablet)
    video = vc.LibvirtConfigGuestVideo()
    video.type = "virtio"
    g.add_device(video)

    balloon = vc.LibvirtConfigMemoryBalloon()
    balloon.model = "virtio"
    balloon.period = spec.mem_stats_period
    g.add_device(balloon)
    return g.to_xml()


# ------------------------------------------------------------ plain fallback

def _sub(parent, tag, text=None, **attrs):
    e = ET.SubElement(parent, tag, {k.rstrip("_"): str(v) for k, v in attrs.items()})
    if text is not None:
        e.text = str(text)
    return e


def build_plain(spec):
    """The same document without nova (what nova would have written)."""
    ET.register_namespace("nova", NOVA_NS)
    d = ET.Element("domain", type="kvm")
    _sub(d, "uuid", spec.uuid)
    _sub(d, "name", spec.name)
    _sub(d, "memory", spec.memory_mib * 1024)
    _sub(d, "vcpu", spec.vcpus)
    md = _sub(d, "metadata")
    inst = _sub(md, "{%s}instance" % NOVA_NS)
    _sub(inst, "{%s}name" % NOVA_NS, spec.display_name)
    fl = _sub(inst, "{%s}flavor" % NOVA_NS, name=spec.flavor_name)
    for k, v in (("memory", spec.memory_mib), ("disk", 1), ("swap", 0),
                 ("ephemeral", 0), ("vcpus", spec.vcpus)):
        _sub(fl, "{%s}%s" % (NOVA_NS, k), v)
    si = _sub(d, "sysinfo", type="smbios")
    system = _sub(si, "system")
    for k, v in (("manufacturer", "OpenStack Foundation"), ("product", "OpenStack Nova"),
                 ("serial", spec.uuid), ("uuid", spec.uuid), ("family", "Virtual Machine")):
        _sub(system, "entry", v, name=k)
    os_ = _sub(d, "os")
    _sub(os_, "type", "hvm", arch=spec.arch)
    _sub(os_, "kernel", spec.kernel)
    _sub(os_, "initrd", spec.initrd)
    _sub(os_, "cmdline", spec.cmdline)
    _sub(os_, "smbios", mode="sysinfo")
    feats = _sub(d, "features")
    _sub(feats, "acpi")
    _sub(feats, "apic")
    cpu = _sub(d, "cpu", mode="host-model", match="exact")
    _sub(cpu, "topology", sockets=spec.vcpus, cores=1, threads=1)
    clock = _sub(d, "clock", offset="utc")
    _sub(clock, "timer", name="pit", tickpolicy="delay")
    _sub(clock, "timer", name="rtc", tickpolicy="catchup")
    _sub(clock, "timer", name="hpet", present="no")
    devs = _sub(d, "devices")
    if spec.disk_path:
        disk = _sub(devs, "disk", type="file", device="disk")
        _sub(disk, "driver", name="qemu", type="raw", cache=spec.disk_cache)
        _sub(disk, "source", file=spec.disk_path)
        _sub(disk, "target", bus="virtio", dev="vda")
    for vif in spec.vifs:
        i = _sub(devs, "interface", type="bridge")
        _sub(i, "mac", address=vif.mac)
        _sub(i, "model", type=vif.model)
        _sub(i, "source", bridge=vif.bridge)
        _sub(i, "target", dev=vif.tap)
    for a in spec.hostdevs:
        h = _sub(devs, "hostdev", mode="subsystem", type="pci", managed="yes")
        src = _sub(h, "source")
        _sub(src, "address", domain="0x" + a.domain, bus="0x" + a.bus,
             slot="0x" + a.slot, function="0x" + a.function)
    s = _sub(devs, "serial", type="pty")
    _sub(s, "log", file=spec.console_log, append="off")
    _sub(devs, "graphics", type="vnc", autoport="yes", listen="127.0.0.1")
    _sub(devs, "input", type="tablet", bus="usb")
    v = _sub(devs, "video")
    _sub(v, "model", type="virtio")
    b = _sub(devs, "memballoon", model="virtio")
    _sub(b, "stats", period=spec.mem_stats_period)
    return ET.tostring(d, encoding="unicode")
