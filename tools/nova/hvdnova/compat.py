"""Which optional Debian modules are there: python3-nova, python3-os-vif.

nova is imported lazily and once; the answer says why when it is missing so
the CLI can report the fallback clearly.
"""

_nova = None


def nova_config():
    """(module, None) for nova.virt.libvirt.config, or (None, reason)."""
    global _nova
    if _nova is None:
        try:
            from nova.virt.libvirt import config as vconfig
            _nova = (vconfig, None)
        except Exception as e:  # ImportError, or nova failing to import
            _nova = (None, "python3-nova not usable (%s: %s)" % (type(e).__name__, e))
    return _nova


def nova_devspec():
    """nova.pci.devspec, or None (only used to cross-check our filter)."""
    try:
        from nova.pci import devspec
        return devspec
    except Exception:
        return None


def nova_package_version():
    try:
        from nova import version
        # version_string_with_package() needs nova's oslo.config parsed.
        return version.version_string()
    except Exception:
        return None
