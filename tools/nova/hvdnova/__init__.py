"""hvdnova: a nova-style libvirt driver experiment against hvd.

The steps follow what OpenStack nova's libvirt driver does for one instance
(spawn, get_info, get_diagnostics, balloon, PCI passthrough, destroy,
cleanup), on Debian's python3-libvirt, with the domain XML built by nova's
own nova.virt.libvirt.config classes when Debian's python3-nova is
installed. See docs/nova.md.
"""
