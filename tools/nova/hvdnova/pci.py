"""PCI passthrough candidates the way nova finds them.

nova's libvirt driver lists the host's PCI node devices
(listAllDevices(VIR_CONNECT_LIST_NODE_DEVICES_CAP_PCI_DEV)), reads each
device's XML into a dict (address, vendor_id, product_id, dev_type
type-PCI/type-PF/type-VF, parent_addr of a VF, numa_node), and the PCI
tracker keeps the devices that match an entry of [pci]device_spec (the old
pci_passthrough_whitelist). Entry keys, as nova documents them:
vendor_id, product_id (hex, "*" = any), address (glob string
"[[[[domain]:]bus]:][slot][.[function]]" with "*" or empty fields = any, or
a dict of regular expressions per field), devname (a netdev: its PCI
function; when that is an SR-IOV PF, its VFs match too); other keys are
tags (physical_network, trusted, ...).

This is our own implementation of those rules; tests/test-nova.py checks it
against nova's nova.pci.devspec where python3-nova is installed.
"""

import json
import os
import re
import xml.etree.ElementTree as ET

ANY = "*"
FIELD_LIMITS = (("domain", 0xFFFF, "%04x"), ("bus", 0xFF, "%02x"),
                ("slot", 0x1F, "%02x"), ("function", 0x7, "%x"))


class SpecError(ValueError):
    """A whitelist entry that does not parse; the message names the field."""


def _hex_field(name, text, limit, fmt):
    text = text.strip()
    if text == ANY:
        return ANY
    try:
        value = int(text, 16)
    except ValueError:
        raise SpecError("%s %r is not a hex number" % (name, text)) from None
    if value < 0 or value > limit:
        raise SpecError("%s %r is above the maximum %x" % (name, text, limit))
    return fmt % value


def split_address(addr):
    """'0000:02:10.1' -> ('0000', '02', '10', '1'), normalised lower-case hex."""
    m = re.fullmatch(r"([0-9a-fA-F]{1,4}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])",
                     addr.strip())
    if not m:
        raise SpecError("PCI address %r is not DDDD:BB:SS.F" % addr)
    return tuple(_hex_field(n, v, lim, fmt)
                 for (n, lim, fmt), v in zip(FIELD_LIMITS, m.groups()))


class GlobAddress:
    """The string form: missing or '*' fields match anything."""

    def __init__(self, text):
        dbs, _, func = text.partition(".")
        parts = dbs.split(":") if dbs else []
        if len(parts) > 3:
            raise SpecError("address %r has more than domain:bus:slot" % text)
        parts = [ANY] * (3 - len(parts)) + [p.strip() or ANY for p in parts]
        fields = parts + [func.strip() or ANY]
        self.fields = tuple(_hex_field(n, v, lim, fmt)
                            for (n, lim, fmt), v in zip(FIELD_LIMITS, fields))

    def is_single(self):
        return ANY not in self.fields

    def match(self, fields):
        return all(p in (ANY, f) for p, f in zip(self.fields, fields))


class RegexAddress:
    """The dict form: one regular expression per field, matched at the start."""

    def __init__(self, spec):
        try:
            self.regexes = tuple(re.compile(str(spec.get(n, ".*")))
                                 for n, _, _ in FIELD_LIMITS)
        except re.error as e:
            raise SpecError("address %r: bad regular expression (%s)" % (spec, e)) from None
        unknown = set(spec) - {n for n, _, _ in FIELD_LIMITS}
        if unknown:
            raise SpecError("address dict has unknown keys %s" % sorted(unknown))

    def is_single(self):
        return False

    def match(self, fields):
        return all(r.match(f) for r, f in zip(self.regexes, fields))


class DeviceSpec:
    """One [pci]device_spec / pci_passthrough_whitelist entry."""

    def __init__(self, entry, sysfs_root="/sys"):
        if not isinstance(entry, dict):
            raise SpecError("a whitelist entry must be a JSON object, not %r" % (entry,))
        entry = dict(entry)
        self.vendor_id = _hex_field("vendor_id", str(entry.pop("vendor_id", ANY)), 0xFFFF, "%04x")
        self.product_id = _hex_field("product_id", str(entry.pop("product_id", ANY)), 0xFFFF, "%04x")
        address = entry.pop("address", None)
        self.devname = entry.pop("devname", None)
        self.tags = entry
        if address is not None and self.devname:
            raise SpecError("address and devname are mutually exclusive")
        self.devname_is_pf = False
        self.address = None
        if self.devname:
            # devname names a netdev; its PCI function (and, for a PF, its VFs).
            dev = os.path.join(sysfs_root, "class/net", self.devname, "device")
            if os.path.isdir(dev):
                self.address = GlobAddress(os.path.basename(os.readlink(dev)))
                self.devname_is_pf = _read_int(os.path.join(dev, "sriov_totalvfs")) > 0
        elif isinstance(address, dict):
            self.address = RegexAddress(address)
        elif address is None or isinstance(address, str):
            self.address = GlobAddress(address or "*:*:*.*")
        else:
            raise SpecError("address must be a string or an object, not %r" % (address,))
        # A single address that is an SR-IOV PF also stands for its VFs.
        self.is_pf = self.devname_is_pf
        if not self.is_pf and self.address is not None and self.address.is_single():
            d, b, s, f = self.address.fields
            path = os.path.join(sysfs_root, "bus/pci/devices/%s:%s:%s.%s" % (d, b, s, f))
            self.is_pf = _read_int(os.path.join(path, "sriov_totalvfs")) > 0

    def match(self, dev):
        """dev: a dict as device_info() returns."""
        if self.address is None:  # devname that is not on this host
            return False
        if self.vendor_id not in (ANY, dev["vendor_id"]):
            return False
        if self.product_id not in (ANY, dev["product_id"]):
            return False
        if self.is_pf and dev.get("parent_addr") and \
                self.address.match(split_address(dev["parent_addr"])):
            return True
        return self.address.match(split_address(dev["address"]))


def _read_int(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def parse_whitelist(text, sysfs_root="/sys"):
    """JSON: one object or a list of them (nova takes one per option line)."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise SpecError("whitelist is not JSON: %s" % e) from None
    entries = data if isinstance(data, list) else [data]
    return [DeviceSpec(e, sysfs_root) for e in entries]


def device_info(xml):
    """Node device XML -> the dict nova's _get_pcidev_info makes, or None
    when the device has no <capability type='pci'>."""
    root = ET.fromstring(xml)
    cap = root.find("capability[@type='pci']")
    if cap is None:
        return None

    def num(tag):
        text = cap.findtext(tag)
        if text is None:
            raise ValueError("node device %s: no <%s>" % (root.findtext("name"), tag))
        return int(text, 0)

    address = "%04x:%02x:%02x.%x" % (num("domain"), num("bus"), num("slot"), num("function"))
    vendor = cap.find("vendor")
    product = cap.find("product")
    info = {
        "name": root.findtext("name"),
        "address": address,
        "vendor_id": "%04x" % int(vendor.get("id"), 16) if vendor is not None else "",
        "product_id": "%04x" % int(product.get("id"), 16) if product is not None else "",
        "vendor": vendor.text if vendor is not None else None,
        "product": product.text if product is not None else None,
        "driver": root.findtext("driver/name"),
        "dev_type": "type-PCI",
        "parent_addr": None,
        "iommu_group": None,
        "numa_node": None,
    }
    pf = cap.find("capability[@type='phys_function']/address")
    if pf is not None:
        info["dev_type"] = "type-VF"
        info["parent_addr"] = "%04x:%02x:%02x.%x" % tuple(
            int(pf.get(k), 16) for k in ("domain", "bus", "slot", "function"))
    else:
        vfs = cap.find("capability[@type='virt_functions']")
        if vfs is not None:
            info["dev_type"] = "type-PF"
            info["vfs_enabled"] = len(vfs.findall("address"))
    klass = cap.findtext("class")
    if klass:
        info["class"] = int(klass, 16)
    group = cap.find("iommuGroup")
    if group is not None:
        info["iommu_group"] = int(group.get("number"))
    numa = cap.find("numa")
    if numa is not None:
        info["numa_node"] = int(numa.get("node"))
    return info


def select(devices, specs):
    """Devices some spec matches, in address order; nova would not hand out a
    PF whose VFs are enabled, nor a bridge (class 0x06), so neither do we.
    Returns (candidates, rejected) with a reason for each rejected match."""
    candidates, rejected = [], []
    for dev in sorted(devices, key=lambda d: d["address"]):
        if not any(s.match(dev) for s in specs):
            continue
        if dev.get("class") is not None and (dev["class"] >> 16) == 0x06:
            rejected.append((dev, "a PCI bridge"))
        elif dev["dev_type"] == "type-PF" and dev.get("vfs_enabled"):
            rejected.append((dev, "an SR-IOV PF with VFs enabled (its VFs are the candidates)"))
        else:
            candidates.append(dev)
    return candidates, rejected


def usable_iommu(dev, sysfs_root="/sys"):
    """(True, '') when the host can assign dev with VFIO, else (False, why)."""
    groups = os.path.join(sysfs_root, "kernel/iommu_groups")
    try:
        if not os.listdir(groups):
            return False, "no IOMMU on this host (%s is empty)" % groups
    except OSError:
        return False, "no IOMMU on this host (%s missing)" % groups
    if dev.get("iommu_group") is None:
        return False, "device %s is in no IOMMU group" % dev["address"]
    return True, ""
