# hv/virtio/balloon: virtio-balloon device (hv/virtio/balloon.h); its
# monitor commands are hv/monitor/balloon.c. Built into the virtio library
# the worker links.
hv_virtio_libhvvirtio_a_SOURCES += hv/virtio/balloon.c hv/virtio/balloon.h

check_PROGRAMS += tests/unit/test-virtio-balloon
tests_unit_test_virtio_balloon_SOURCES = tests/unit/test-virtio-balloon.c tests/tap.h
tests_unit_test_virtio_balloon_LDADD = hv/monitor/libmonitor.a hv/virtio/libhvvirtio.a \
	hv/libhvcore.a common/libcommon.a $(JSONC_LIBS) -lpthread -lm
TESTS += tests/unit/test-virtio-balloon

dist_check_SCRIPTS += tests/integration/06-balloon.sh
dist_noinst_SCRIPTS += bench/balloon.sh
EXTRA_DIST += docs/benchmarks.md
