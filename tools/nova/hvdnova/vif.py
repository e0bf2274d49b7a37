"""VIF plugging as nova + os-vif do it for a Linux bridge port.

With neutron's linuxbridge agent, nova gets an os-vif VIFBridge: bridge
"brq" + network id[:11], tap "tap" + port id[:11] (14 characters, IFNAMSIZ
minus the NUL and a margin). os-vif's linux_bridge plugin plug() only makes
sure the bridge exists (ip link add type bridge, IPv6 off on it, up); it
never makes the tap. nova writes <interface type='bridge'> with <source
bridge=...> and <target dev='tapXXXXXXXX-XX'/>, and libvirt (here hvd)
creates the tap with that name and enslaves it to the bridge when the
domain starts, and deletes it when the domain stops. os-vif's unplug() is a
no-op; the empty bridge is the agent's to remove. So the "tap on bridge"
case is type='bridge', not a pre-created tap given as type='ethernet'
(that is os-vif's VIFGeneric / OVS create_port path).
"""

import os
import subprocess

NIC_NAME_LEN = 14


def tap_name(port_id):
    return ("tap" + port_id)[:NIC_NAME_LEN]


def bridge_name(network_id):
    return ("brq" + network_id)[:NIC_NAME_LEN]


def _ip(*args):
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), r.stderr.strip() or r.returncode))
    return r.stdout


def exists(dev):
    return os.path.exists("/sys/class/net/%s" % dev)


def master_of(dev):
    link = "/sys/class/net/%s/master" % dev
    return os.path.basename(os.readlink(link)) if os.path.islink(link) else None


def ensure_bridge(bridge, address=None):
    """os-vif linux_bridge plug(): create the bridge unless it exists.
    Returns True when this call created it. address (CIDR) is a test aid: a
    gateway address on the bridge so the guest has a peer to reach."""
    created = False
    if not exists(bridge):
        subprocess.run(["modprobe", "bridge"], capture_output=True)
        _ip("link", "add", bridge, "type", "bridge")
        created = True
        # os-vif turns IPv6 off on the bridge it makes (no SLAAC on tenant nets).
        try:
            with open("/proc/sys/net/ipv6/conf/%s/disable_ipv6" % bridge, "w") as f:
                f.write("1")
        except OSError:
            pass
    _ip("link", "set", bridge, "up")
    if address and address.split("/")[0] not in _ip("-o", "addr", "show", "dev", bridge):
        _ip("addr", "add", address, "dev", bridge)
    return created


def delete_bridge_if_empty(bridge):
    """What the agent does with a bridge whose last port went away."""
    if not exists(bridge):
        return "absent"
    ports = os.listdir("/sys/class/net/%s/brif" % bridge)
    if ports:
        return "kept (ports: %s)" % ", ".join(sorted(ports))
    _ip("link", "del", bridge)
    return "deleted"
