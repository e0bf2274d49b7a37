#!/usr/bin/python3
"""Unit tests (TAP) of tools/nova: the pci_passthrough_whitelist-style
filter (checked against nova's own nova.pci.devspec where python3-nova is
installed), node device XML parsing, candidate selection, the IOMMU check,
VIF names, and the domain XML from nova's classes and from the fallback
(validated with libvirt's domain.rng). Needs no daemon and no KVM."""

import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", os.path.join(here, "..")),
                                "tools", "nova"))

from hvdnova import compat, guestxml, pci, vif  # noqa: E402

results = []


def check(what, cond, diag=None):
    results.append((bool(cond), what))
    print("%s %d - %s" % ("ok" if cond else "not ok", len(results), what))
    if not cond and diag is not None:
        print("# %s" % diag)


def skip(what, why):
    results.append((True, what))
    print("ok %d - %s # SKIP %s" % (len(results), what, why))


def raises(fn, *args):
    try:
        fn(*args)
    except pci.SpecError as e:
        return str(e)
    return None


def dev(addr, vendor="8086", product="10ca", parent=None, dev_type=None, **kw):
    d = {"address": addr, "vendor_id": vendor, "product_id": product,
         "parent_addr": parent, "dev_type": dev_type or ("type-VF" if parent else "type-PCI")}
    d.update(kw)
    return d


# ------------------------------------------------------------ whitelist
def spec(entry, root="/nonexistent"):
    return pci.DeviceSpec(entry, sysfs_root=root)


d_0a = dev("0000:0a:00.1")
d_0b = dev("0000:0b:00.1")
check("glob '*:0a:00.*' matches 0000:0a:00.1", spec({"address": "*:0a:00.*"}).match(d_0a))
check("glob '*:0a:00.*' does not match 0000:0b:00.1", not spec({"address": "*:0a:00.*"}).match(d_0b))
check("glob ':0a:00.' (empty fields = any) matches", spec({"address": ":0a:00."}).match(d_0a))
check("glob '0a:00.1' (domain omitted) matches", spec({"address": "0a:00.1"}).match(d_0a))
check("glob '0a:00.2' does not match function 1", not spec({"address": "0a:00.2"}).match(d_0a))
check("glob 'a:0.1' is hex-normalised and matches", spec({"address": "a:0.1"}).match(d_0a))
check("no address: everything", spec({}).match(d_0b))
check("vendor_id matches", spec({"vendor_id": "8086"}).match(d_0a))
check("vendor_id 0x8086 (hex prefix) matches", spec({"vendor_id": "0x8086"}).match(d_0a))
check("other vendor_id does not match", not spec({"vendor_id": "15b3"}).match(d_0a))
check("vendor+product must both match",
      not spec({"vendor_id": "8086", "product_id": "10cb"}).match(d_0a))
check("product_id '*' is any", spec({"vendor_id": "8086", "product_id": "*"}).match(d_0a))
rx = spec({"address": {"domain": ".*", "bus": "0[ab]", "slot": "00", "function": "[1-3]"}})
check("regex address matches 0a:00.1 and 0b:00.1", rx.match(d_0a) and rx.match(d_0b))
check("regex address: function 0 does not match", not rx.match(dev("0000:0a:00.0")))
check("tags (physical_network) are kept aside",
      spec({"address": "*:0a:00.*", "physical_network": "physnet1"}).tags == {"physical_network": "physnet1"})

for bad, what in (({"vendor_id": "zz"}, "vendor_id"), ({"product_id": "10000"}, "product_id"),
                  ({"address": "0a:00.8"}, "function"), ({"address": "1:2:3:4.0"}, "domain:bus:slot"),
                  ({"address": "0000:100:00.0"}, "bus"), ({"address": "*:*:20.0"}, "slot"),
                  ({"address": {"bus": "("}}, "regular expression"),
                  ({"address": "0a:00.1", "devname": "eth0"}, "mutually exclusive"),
                  ({"address": 5}, "string or an object"), ("notadict", "JSON object")):
    msg = raises(spec, bad)
    check("refused: %r (%s)" % (bad, what), msg and what in msg, msg)
check("whitelist JSON error named", "not JSON" in (raises(pci.parse_whitelist, "[{") or ""))
check("whitelist: one object or a list",
      len(pci.parse_whitelist('{"vendor_id": "8086"}')) == 1 and
      len(pci.parse_whitelist('[{"vendor_id": "8086"}, {"address": "*:0a:*.*"}]')) == 2)

# A fake sysfs: a PF at 0000:0a:00.0 with VFs, netdev eth9 on it, netdev eth8
# on a plain function.
sysfs = tempfile.mkdtemp(prefix="test-nova-sysfs.")
pf_dir = os.path.join(sysfs, "bus/pci/devices/0000:0a:00.0")
os.makedirs(pf_dir)
with open(os.path.join(pf_dir, "sriov_totalvfs"), "w") as f:
    f.write("4\n")
os.makedirs(os.path.join(sysfs, "class/net/eth9"))
os.symlink("../../../bus/pci/devices/0000:0a:00.0", os.path.join(sysfs, "class/net/eth9/device"))
plain_dir = os.path.join(sysfs, "devices/pci0000:00/0000:00:19.0")
os.makedirs(plain_dir)
os.makedirs(os.path.join(sysfs, "class/net/eth8"))
os.symlink(plain_dir, os.path.join(sysfs, "class/net/eth8/device"))
vf = dev("0000:0a:10.1", product="10ed", parent="0000:0a:00.0")
other_vf = dev("0000:0b:10.1", product="10ed", parent="0000:0b:00.0")
pf_spec = spec({"address": "0000:0a:00.0"}, sysfs)
check("a PF address stands for its VFs", pf_spec.is_pf and pf_spec.match(vf))
check("... not for another PF's VFs", not pf_spec.match(other_vf))
check("a plain single address does not match VFs by parent",
      not spec({"address": "0000:0a:00.0"}).match(vf))
dn = spec({"devname": "eth9"}, sysfs)
check("devname of a PF matches its VFs", dn.match(vf) and not dn.match(other_vf))
check("devname of a plain function matches it", spec({"devname": "eth8"}, sysfs).match(dev("0000:00:19.0")))
check("devname not on this host matches nothing", not spec({"devname": "nosuch0"}, sysfs).match(vf))

devspec = compat.nova_devspec()
cases = [({"address": "*:0a:00.*"}, d_0a), ({"address": "*:0a:00.*"}, d_0b),
         ({"address": ":0a:00."}, d_0a), ({"address": "0a:00.2"}, d_0a),
         ({"vendor_id": "8086", "product_id": "10ca"}, d_0a),
         ({"vendor_id": "8086", "product_id": "10cb"}, d_0a),
         ({"address": {"bus": "0[ab]", "function": "[1-3]"}}, d_0b),
         ({"address": {"bus": "0[ab]", "function": "[2-3]"}}, d_0b),
         ({}, vf), ({"vendor_id": "15b3"}, vf), ({"address": "a:0.1"}, d_0a)]
if devspec is None:
    skip("our filter agrees with nova.pci.devspec on %d cases" % len(cases), "python3-nova not installed")
else:
    disagree = [(e, d["address"]) for e, d in cases
                if pci.DeviceSpec(e).match(d) != devspec.PciDeviceSpec(dict(e)).match(d)]
    check("our filter agrees with nova.pci.devspec on %d cases" % len(cases), not disagree, disagree)

# ------------------------------------------------------------ node devices
NODEDEV_PF = """<device><name>pci_0000_0a_00_0</name><parent>computer</parent>
<driver><name>igb</name></driver>
<capability type='pci'><class>0x020000</class><domain>0</domain><bus>10</bus><slot>0</slot>
<function>0</function><product id='0x10c9'>82576</product><vendor id='0x8086'>Intel Corporation</vendor>
<capability type='virt_functions' maxCount='7'><address domain='0x0000' bus='0x0a' slot='0x10' function='0x0'/>
</capability><iommuGroup number='12'><address domain='0x0000' bus='0x0a' slot='0x00' function='0x0'/></iommuGroup>
<numa node='0'/></capability></device>"""
NODEDEV_VF = """<device><name>pci_0000_0a_10_0</name><parent>pci_0000_0a_00_0</parent>
<capability type='pci'><class>0x020000</class><domain>0</domain><bus>10</bus><slot>16</slot>
<function>0</function><product id='0x10ca'/><vendor id='0x8086'>Intel Corporation</vendor>
<capability type='phys_function'><address domain='0x0000' bus='0x0a' slot='0x00' function='0x0'/></capability>
<iommuGroup number='20'/></capability></device>"""
NODEDEV_BRIDGE = """<device><name>pci_0000_00_00_0</name><parent>computer</parent>
<capability type='pci'><class>0x060000</class><domain>0</domain><bus>0</bus><slot>0</slot>
<function>0</function><product id='0x1237'>440FX</product><vendor id='0x8086'/></capability></device>"""
NODEDEV_SYSTEM = "<device><name>computer</name><capability type='system'/></device>"
pf_info = pci.device_info(NODEDEV_PF)
vf_info = pci.device_info(NODEDEV_VF)
br_info = pci.device_info(NODEDEV_BRIDGE)
check("nodedev PF: address, ids, type-PF, 1 VF enabled, group 12, numa 0, driver",
      (pf_info["address"], pf_info["vendor_id"], pf_info["product_id"], pf_info["dev_type"],
       pf_info["vfs_enabled"], pf_info["iommu_group"], pf_info["numa_node"], pf_info["driver"])
      == ("0000:0a:00.0", "8086", "10c9", "type-PF", 1, 12, 0, "igb"), pf_info)
check("nodedev VF: type-VF with parent_addr 0000:0a:00.0",
      (vf_info["address"], vf_info["dev_type"], vf_info["parent_addr"], vf_info["iommu_group"])
      == ("0000:0a:10.0", "type-VF", "0000:0a:00.0", 20), vf_info)
check("nodedev bridge: class 0x060000, no IOMMU group",
      br_info["class"] == 0x060000 and br_info["iommu_group"] is None, br_info)
check("nodedev without a pci capability: None", pci.device_info(NODEDEV_SYSTEM) is None)
cands, rejected = pci.select([vf_info, pf_info, br_info], pci.parse_whitelist('{"vendor_id": "8086"}'))
check("select: the VF is the candidate",
      [c["address"] for c in cands] == ["0000:0a:10.0"], cands)
check("select: bridge and PF-with-VFs rejected with reasons",
      sorted((r["address"], w.split()[1]) for r, w in rejected)
      == [("0000:00:00.0", "PCI"), ("0000:0a:00.0", "SR-IOV")], rejected)
cands, _ = pci.select([vf_info, pf_info], pci.parse_whitelist('{"vendor_id": "15b3"}'))
check("select: nothing when no entry matches", cands == [])

ok, why = pci.usable_iommu(vf_info, sysfs)
check("IOMMU: missing iommu_groups -> unusable, reason names it", not ok and "missing" in why, why)
os.makedirs(os.path.join(sysfs, "kernel/iommu_groups"))
ok, why = pci.usable_iommu(vf_info, sysfs)
check("IOMMU: empty iommu_groups -> unusable (the plain testbed)", not ok and "empty" in why, why)
os.makedirs(os.path.join(sysfs, "kernel/iommu_groups/20"))
check("IOMMU: groups and the device in one -> usable", pci.usable_iommu(vf_info, sysfs) == (True, ""))
ok, why = pci.usable_iommu(br_info, sysfs)
check("IOMMU: device in no group -> unusable", not ok and "no IOMMU group" in why, why)
shutil.rmtree(sysfs)

# ------------------------------------------------------------ VIF names
check("tap name: 'tap' + port id, 14 characters",
      vif.tap_name("0d92b652-d8a1-4c4e-9a53-1b2c3d4e5f60") == "tap0d92b652-d8")
check("bridge name: 'brq' + network id, 14 characters",
      vif.bridge_name("5e7a1c2b-0000-4000-8000-000000000001") == "brq5e7a1c2b-00")

# ------------------------------------------------------------ domain XML
spec_ = guestxml.GuestSpec(
    name="instance-00000001", uuid="0a1b2c3d-0000-4000-8000-0000000000aa", memory_mib=512, vcpus=2,
    kernel="/k/vmlinuz", initrd="/k/initrd.img", cmdline="console=ttyS0 quiet",
    console_log="/var/lib/nova/instances/x/console.log", disk_path="/var/lib/nova/instances/x/disk",
    vifs=[guestxml.Vif("0d92b652-d8a1-4c4e-9a53-1b2c3d4e5f60", "fa:16:3e:0d:92:b6", "brqtest",
                       "tap0d92b652-d8", ip="10.77.18.2/24")],
    hostdevs=[guestxml.PciAddr.parse("0000:0a:10.1")], mem_stats_period=7)
try:
    guestxml.PciAddr.parse("0000:0a:20.0")
    check("PciAddr.parse refuses slot 0x20", False)
except ValueError as e:
    check("PciAddr.parse refuses slot 0x20", "bad PCI address" in str(e), e)



def at(elem, path, name):
    """Attribute of a child element; None when either is missing, so a
    wrong document fails its check instead of crashing the test."""
    e = elem.find(path) if elem is not None else None
    return e.get(name) if e is not None else None


rng = "/usr/share/libvirt/schemas/domain.rng"
builders = [("plain", guestxml.build_plain)]
vconfig, why = compat.nova_config()
if vconfig is not None:
    builders.insert(0, ("nova", lambda s: guestxml.build_with_nova(s, vconfig)))
else:
    skip("XML from nova's LibvirtConfigGuest", why)
for label, build in builders:
    text = build(spec_)
    root = ET.fromstring(text)
    dv = root.find("devices")
    if dv is None:
        dv = ET.Element("devices")
    check("%s XML: kvm domain, name, uuid, 524288 KiB, 2 vCPUs" % label,
          (root.get("type"), root.findtext("name"), root.findtext("uuid"), root.findtext("memory"),
           root.findtext("vcpu")) == ("kvm", "instance-00000001", spec_.uuid, "524288", "2"))
    check("%s XML: direct kernel boot with smbios sysinfo" % label,
          (root.findtext("os/type"), root.findtext("os/kernel"), root.findtext("os/initrd"),
           root.findtext("os/cmdline"), at(root, "os/smbios", "mode"))
          == ("hvm", "/k/vmlinuz", "/k/initrd.img", "console=ttyS0 quiet", "sysinfo"))
    check("%s XML: sysinfo serial and uuid are the instance uuid" % label,
          {e.get("name"): e.text for e in root.findall("sysinfo/system/entry")}.get("uuid") == spec_.uuid)
    check("%s XML: nova:instance metadata" % label,
          root.find("metadata/{%s}instance" % guestxml.NOVA_NS) is not None)
    check("%s XML: host-model CPU, 2 sockets" % label,
          at(root, "cpu", "mode") == "host-model" and
          at(root, "cpu/topology", "sockets") == "2")
    check("%s XML: pit/rtc/hpet timers" % label,
          [t.get("name") for t in root.findall("clock/timer")] == ["pit", "rtc", "hpet"])
    i = dv.find("interface")
    check("%s XML: interface type bridge, brqtest, tap target, MAC, virtio" % label,
          (at(dv, "interface", "type"), at(i, "source", "bridge"), at(i, "target", "dev"),
           at(i, "mac", "address"), at(i, "model", "type"))
          == ("bridge", "brqtest", "tap0d92b652-d8", "fa:16:3e:0d:92:b6", "virtio"))
    d = dv.find("disk")
    check("%s XML: raw virtio disk vda" % label,
          (at(d, "driver", "type"), at(d, "target", "dev"), at(d, "source", "file"))
          == ("raw", "vda", "/var/lib/nova/instances/x/disk"))
    check("%s XML: managed hostdev 0000:0a:10.1" % label,
          at(dv, "hostdev", "managed") == "yes" and
          tuple(at(dv, "hostdev/source/address", k) for k in ("bus", "slot", "function"))
          == ("0x0a", "0x10", "0x1"))
    check("%s XML: pty serial with a log file" % label,
          at(dv, "serial", "type") == "pty" and
          at(dv, "serial/log", "file") == spec_.console_log)
    check("%s XML: virtio balloon, stats period 7" % label,
          at(dv, "memballoon", "model") == "virtio" and
          at(dv, "memballoon/stats", "period") == "7")
    if shutil.which("xmllint") and os.path.exists(rng):
        with tempfile.NamedTemporaryFile("w", suffix=".xml") as f:
            f.write(text)
            f.flush()
            r = subprocess.run(["xmllint", "--noout", "--relaxng", rng, f.name],
                               capture_output=True, text=True)
        check("%s XML validates against libvirt's domain.rng" % label, r.returncode == 0, r.stderr)
    else:
        skip("%s XML validates against libvirt's domain.rng" % label, "xmllint or %s missing" % rng)

xml, builder = guestxml.build(spec_)
check("build() says which builder ran (%s)" % builder.split(" (")[0],
      builder == "nova.virt.libvirt.config" if vconfig is not None else builder.startswith("plain"))

print("1..%d" % len(results))
sys.exit(0 if all(ok for ok, _ in results) else 1)
