# hv/virtio: virtqueue core, virtio-pci transport, MSI-X, virtio-blk.
# The worker links hv/virtio/libhvvirtio.a; it needs the PCI core and VM
# core (hv/pci/pci.h, hv/vm.h) from the worker's own objects.
noinst_LIBRARIES += hv/virtio/libhvvirtio.a
hv_virtio_libhvvirtio_a_SOURCES = \
	hv/virtio/queue.c hv/virtio/queue.h \
	hv/virtio/device.h \
	hv/virtio/pci.c hv/virtio/pci.h \
	hv/virtio/blk.c hv/virtio/blk.h \
	hv/pci/msix.c hv/pci/msix.h

check_PROGRAMS += tests/unit/test-virtqueue
tests_unit_test_virtqueue_SOURCES = tests/unit/test-virtqueue.c tests/tap.h \
	hv/virtio/queue.c hv/guest_mem.c
tests_unit_test_virtqueue_LDADD = common/libcommon.a
TESTS += tests/unit/test-virtqueue

check_PROGRAMS += tests/unit/test-msix
tests_unit_test_msix_SOURCES = tests/unit/test-msix.c tests/tap.h hv/pci/msix.c
tests_unit_test_msix_LDADD = common/libcommon.a -lpthread
TESTS += tests/unit/test-msix

check_PROGRAMS += tests/unit/test-virtio-blk
tests_unit_test_virtio_blk_SOURCES = tests/unit/test-virtio-blk.c tests/tap.h \
	hv/virtio/blk.c hv/virtio/queue.c hv/guest_mem.c
tests_unit_test_virtio_blk_LDADD = hv/block/libhvblock.a hv/libhvmachine.a common/libcommon.a \
	$(JSONC_LIBS) -lpthread
TESTS += tests/unit/test-virtio-blk
dist_check_SCRIPTS += tests/integration/03-virtio-blk.sh

check_PROGRAMS += tests/unit/test-virtio-pci
tests_unit_test_virtio_pci_SOURCES = tests/unit/test-virtio-pci.c tests/tap.h
tests_unit_test_virtio_pci_LDADD = hv/virtio/libhvvirtio.a hv/block/libhvblock.a hv/libhvmachine.a \
	hv/libhvcore.a common/libcommon.a $(JSONC_LIBS) -lpthread
TESTS += tests/unit/test-virtio-pci
