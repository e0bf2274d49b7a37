# drivers/domain: the domain driver (domain objects, lifecycle, worker
# processes) and the RPC handlers of the domain procedures
# (daemon/remote_domain.c). See docs/domain-driver.md.
noinst_LIBRARIES += drivers/domain/libhvddriver.a
drivers_domain_libhvddriver_a_SOURCES = \
	drivers/domain/driver.c drivers/domain/driver.h \
	drivers/domain/domain.c drivers/domain/domain.h \
	drivers/domain/domain_files.c \
	drivers/domain/worker.c \
	drivers/domain/reconnect.c \
	drivers/domain/stats.c \
	drivers/domain/qmp.c drivers/domain/qmp.h \
	drivers/domain/process.c drivers/domain/process.h \
	drivers/domain/storage_chain.c drivers/domain/storage_chain.h \
	drivers/domain/console.c drivers/domain/console.h \
	drivers/domain/interfaces.c drivers/domain/interfaces.h \
	daemon/remote_domain.c daemon/remote_domain.h daemon/remote_domain_priv.h \
	daemon/remote_domain_stats.c daemon/remote_domain_events.c daemon/remote_domain_console.c

# Users before providers (static libraries).
HVD_DRIVER_LIBS = drivers/domain/libhvddriver.a drivers/nodedev/libhvdnodedev.a \
	drivers/domain/libhvdmonitor.a \
	drivers/net/libhvdnet.a \
	daemon/libhvdrpc.a drivers/conf/libconf.a common/libcommon.a \
	$(LIBXML_LIBS) $(JSONC_LIBS) $(GLIB_LIBS) $(LIBVIRT_LIBS) -lpthread

# The driver and its RPC handlers against a fake worker: the test binary
# itself, run with --config, serves hv's real QMP monitor (hv/monitor).
check_PROGRAMS += tests/unit/test-driver
tests_unit_test_driver_SOURCES = tests/unit/test-driver.c tests/unit/rpc-test-util.h tests/tap.h
tests_unit_test_driver_LDADD = $(HVD_DRIVER_LIBS) hv/monitor/libmonitor.a hv/libhvcore.a \
	common/libcommon.a $(JSONC_LIBS) -lpthread -lm
TESTS += tests/unit/test-driver
EXTRA_DIST += docs/domain-driver.md

# The typed QMP layer against a fake worker answering with QEMU 7.2's replies.
check_PROGRAMS += tests/unit/test-qmp-commands
tests_unit_test_qmp_commands_SOURCES = tests/unit/test-qmp-commands.c tests/tap.h
tests_unit_test_qmp_commands_LDADD = $(HVD_DRIVER_LIBS)
TESTS += tests/unit/test-qmp-commands

# Interfaces' host side and the machine description's nics, without taps.
check_PROGRAMS += tests/unit/test-interfaces
tests_unit_test_interfaces_SOURCES = tests/unit/test-interfaces.c tests/tap.h
tests_unit_test_interfaces_LDADD = $(HVD_DRIVER_LIBS)
TESTS += tests/unit/test-interfaces

# Interfaces end to end through hvd and virsh (inside the testbed).
dist_check_SCRIPTS += tests/integration/16-hvd-net.sh
