# hv/virtio/balloon: virtio-balloon device and its monitor commands
# (hv/virtio/balloon.h). Built into the virtio library the worker links;
# the worker links hv/monitor/libmonitor.a after it.
hv_virtio_libhvvirtio_a_SOURCES += hv/virtio/balloon.c hv/virtio/balloon.h

check_PROGRAMS += tests/unit/test-virtio-balloon
tests_unit_test_virtio_balloon_SOURCES = tests/unit/test-virtio-balloon.c tests/tap.h
tests_unit_test_virtio_balloon_LDADD = hv/virtio/libhvvirtio.a hv/monitor/libmonitor.a \
	hv/libhvcore.a common/libcommon.a $(JSONC_LIBS) -lpthread -lm
TESTS += tests/unit/test-virtio-balloon

dist_check_SCRIPTS += tests/integration/06-balloon.sh
dist_noinst_SCRIPTS += bench/balloon.sh
EXTRA_DIST += docs/benchmarks.md
