# hv/virtio/net: virtio-net device model (worker data plane) and the
# vhost-net control plane. The tap backend (hv/backends/tap.c) comes from
# the e1000/tap area; link it alongside.
noinst_LIBRARIES += hv/virtio/libhvvnet.a
hv_virtio_libhvvnet_a_SOURCES = \
	hv/virtio/net.c hv/virtio/net.h hv/virtio/net_filter.c hv/virtio/net_filter.h \
	hv/backends/vhost_net.c hv/backends/vhost_net.h

check_PROGRAMS += tests/unit/test-virtio-net
tests_unit_test_virtio_net_SOURCES = tests/unit/test-virtio-net.c tests/tap.h \
	hv/backends/tap.c hv/backends/tap.h hv/backends/net.h
tests_unit_test_virtio_net_LDADD = hv/virtio/libhvvnet.a hv/virtio/libhvvirtio.a \
	hv/libhvcore.a common/libcommon.a -lpthread
TESTS += tests/unit/test-virtio-net

dist_check_SCRIPTS += tests/integration/05-virtio-net.sh

check_PROGRAMS += tests/unit/test-net-filter
tests_unit_test_net_filter_SOURCES = tests/unit/test-net-filter.c tests/tap.h
tests_unit_test_net_filter_LDADD = hv/virtio/libhvvnet.a
TESTS += tests/unit/test-net-filter
