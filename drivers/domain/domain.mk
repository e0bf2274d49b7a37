# drivers/domain (monitor client) and drivers/net (host networking helpers):
# daemon-side helpers the domain driver links. See docs/daemon-monitor.md.
# (drivers/domain/persist.* are built in drivers/conf/conf.mk.)
noinst_LIBRARIES += drivers/domain/libhvdmonitor.a drivers/net/libhvdnet.a
drivers_domain_libhvdmonitor_a_SOURCES = \
	drivers/domain/monitor.c drivers/domain/monitor.h drivers/domain/monitor_priv.h
# The monitor's synchronous wrappers: for tests only, never in hvd.
check_LIBRARIES += drivers/domain/libhvdmonitor_sync.a
drivers_domain_libhvdmonitor_sync_a_SOURCES = \
	drivers/domain/monitor_sync.c drivers/domain/monitor_sync.h
drivers_net_libhvdnet_a_SOURCES = \
	drivers/net/tap.c drivers/net/tap.h \
	drivers/net/bridge.c drivers/net/bridge.h

HVD_MONITOR_LIBS = drivers/domain/libhvdmonitor.a common/libcommon.a $(JSONC_LIBS) $(GLIB_LIBS)
HVD_NET_LIBS = drivers/net/libhvdnet.a common/libcommon.a $(GLIB_LIBS)

# The QMP client against hv's real monitor (in a thread) and a hostile fake.
check_PROGRAMS += tests/unit/test-qmp-client tests/unit/test-host-net
tests_unit_test_qmp_client_SOURCES = tests/unit/test-qmp-client.c tests/tap.h
tests_unit_test_qmp_client_LDADD = drivers/domain/libhvdmonitor_sync.a $(HVD_MONITOR_LIBS) hv/monitor/libmonitor.a \
	hv/libhvcore.a common/libcommon.a $(JSONC_LIBS) -lpthread -lm
tests_unit_test_host_net_SOURCES = tests/unit/test-host-net.c tests/tap.h
tests_unit_test_host_net_LDADD = $(HVD_NET_LIBS)
TESTS += tests/unit/test-qmp-client tests/unit/test-host-net
EXTRA_DIST += docs/daemon-monitor.md
