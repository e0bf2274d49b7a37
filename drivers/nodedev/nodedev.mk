# drivers/nodedev: the node-device driver (PCI devices from sysfs, SR-IOV,
# vfio-pci binding) and its RPC handlers (daemon/remote_nodedev.c).
# See docs/nodedev.md.
noinst_LIBRARIES += drivers/nodedev/libhvdnodedev.a
drivers_nodedev_libhvdnodedev_a_SOURCES = \
	drivers/nodedev/sysfs.c drivers/nodedev/sysfs.h \
	drivers/nodedev/nodedev.c drivers/nodedev/nodedev.h \
	drivers/nodedev/vfio_bind.c drivers/nodedev/vfio_bind.h \
	drivers/net/vf_netlink.c drivers/net/vf_netlink.h \
	daemon/remote_nodedev.c daemon/remote_nodedev.h

# Users before providers (static libraries).
HVD_NODEDEV_LIBS = drivers/nodedev/libhvdnodedev.a daemon/libhvdrpc.a common/libcommon.a \
	$(GLIB_LIBS) -lpthread

# A fake sysfs tree (PF with two VFs, IOMMU groups, drivers) built by the
# test; XML checked against libvirt's nodedev.rng; detach/reattach/reset
# with the test playing the kernel; the RPC handlers through rpc.c.
check_PROGRAMS += tests/unit/test-nodedev
tests_unit_test_nodedev_SOURCES = tests/unit/test-nodedev.c tests/unit/rpc-test-util.h tests/tap.h
tests_unit_test_nodedev_LDADD = $(HVD_NODEDEV_LIBS) $(LIBXML_LIBS) $(LIBVIRT_LIBS)
TESTS += tests/unit/test-nodedev

# <interface type='hostdev'>: the VF's MAC/VLAN request built and sent to a
# fake kernel (socketpair), the VF -> PF lookup on a fake sysfs tree.
check_PROGRAMS += tests/unit/test-vf-netlink
tests_unit_test_vf_netlink_SOURCES = tests/unit/test-vf-netlink.c tests/tap.h
tests_unit_test_vf_netlink_LDADD = $(HVD_NODEDEV_LIBS)
TESTS += tests/unit/test-vf-netlink

EXTRA_DIST += docs/nodedev.md tests/integration/13-nodedev.sh
