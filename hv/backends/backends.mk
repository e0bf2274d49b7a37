# hv/backends and the emulated e1000 NIC: the tap backend (shared with
# virtio-net) and the 82540EM device model. The worker links
# hv/backends/libhvnet.a before hv/libhvcore.a (hv_hv_LDADD, hv core area).
# zlib: crc32 for the e1000 receive FCS.
AM_CFLAGS += $(ZLIB_CFLAGS)
noinst_LIBRARIES += hv/backends/libhvnet.a
hv_backends_libhvnet_a_SOURCES = \
	hv/backends/net.h \
	hv/backends/tap.c hv/backends/tap.h \
	hv/devices/e1000.c hv/devices/e1000.h hv/devices/e1000_regs.h

check_PROGRAMS += tests/unit/test-e1000
tests_unit_test_e1000_SOURCES = tests/unit/test-e1000.c tests/tap.h
tests_unit_test_e1000_LDADD = hv/backends/libhvnet.a hv/libhvcore.a common/libcommon.a $(ZLIB_LIBS) -lpthread
TESTS += tests/unit/test-e1000

check_PROGRAMS += tests/unit/test-tap
tests_unit_test_tap_SOURCES = tests/unit/test-tap.c tests/tap.h
tests_unit_test_tap_LDADD = hv/backends/libhvnet.a common/libcommon.a
TESTS += tests/unit/test-tap
