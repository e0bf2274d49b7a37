# hv: the per-domain KVM hypervisor worker (VM core, vCPUs, boot, ACPI,
# platform devices, PCI core, control). Owned by the hv core area.
#
# hv/libhvcore.a holds what device models (hv/virtio, hv/monitor, later
# e1000/vfio) link against: guest memory, event loop, bus, VM, PCI core.
noinst_LIBRARIES += hv/libhvcore.a
hv_libhvcore_a_SOURCES = \
	hv/guest_mem.c hv/guest_mem.h \
	hv/loop.c hv/loop.h \
	hv/bus.c hv/bus.h \
	hv/vm.c hv/vm.h \
	hv/pci/pci.c hv/pci/host.c hv/pci/pci.h

check_PROGRAMS += tests/unit/test-pci
tests_unit_test_pci_SOURCES = tests/unit/test-pci.c tests/tap.h
tests_unit_test_pci_LDADD = hv/libhvcore.a common/libcommon.a -lpthread
TESTS += tests/unit/test-pci
