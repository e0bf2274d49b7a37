# hv/vfio: VFIO PCI passthrough in the worker (hv/vfio/vfio.h), its config
# options (--hostdev, JSON "hostdevs") and tests.
#
# The device objects go straight into hv (objects resolve against every
# library on hv's link line, whatever their order).
hv_hv_SOURCES += hv/vfio/vfio.c hv/vfio/vfio.h hv/vfio/vfio_pci.c hv/vfio/vfio_pci.h
hv_libhvmachine_a_SOURCES += hv/vfio/config_hostdev.c

check_PROGRAMS += tests/unit/test-vfio-config
tests_unit_test_vfio_config_SOURCES = tests/unit/test-vfio-config.c tests/tap.h \
	hv/vfio/vfio_pci.c hv/pci/msix.c
tests_unit_test_vfio_config_LDADD = hv/libhvmachine.a hv/libhvcore.a common/libcommon.a \
	$(JSONC_LIBS) -lpthread
TESTS += tests/unit/test-vfio-config

# vfio-suite.sh boots the IOMMU testbed once and runs tests/integration/iommu/
# there (the plain suite's testbed has no IOMMU).
dist_check_SCRIPTS += tests/integration/vfio-suite.sh
TESTS += tests/integration/vfio-suite.sh
EXTRA_DIST += docs/vfio.md

check_PROGRAMS += tests/unit/test-vfio-mmap
tests_unit_test_vfio_mmap_SOURCES = tests/unit/test-vfio-mmap.c tests/tap.h \
	hv/vfio/vfio_pci.c hv/pci/msix.c
tests_unit_test_vfio_mmap_LDADD = hv/libhvmachine.a hv/libhvcore.a common/libcommon.a \
	$(JSONC_LIBS) -lpthread
TESTS += tests/unit/test-vfio-mmap
