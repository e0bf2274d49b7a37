# hv/monitor: the QMP monitor of the worker (docs/monitor.md).
# hv links hv/monitor/libmonitor.a (plus hv/loop.c from libhvcore.a and
# $(JSONC_LIBS)); the unit test drives it over a real unix socket.
noinst_LIBRARIES += hv/monitor/libmonitor.a
hv_monitor_libmonitor_a_SOURCES = \
	hv/monitor/monitor.h hv/monitor/command.h hv/monitor/monitor_int.h \
	hv/monitor/json_out.c hv/monitor/json_out.h \
	hv/monitor/qmp.c hv/monitor/hmp.c \
	hv/monitor/devices.h hv/monitor/block.c hv/monitor/net.c hv/monitor/balloon.c \
	hv/monitor/media.c

check_PROGRAMS += tests/unit/test-qmp
tests_unit_test_qmp_SOURCES = tests/unit/test-qmp.c tests/tap.h hv/loop.c hv/loop.h
tests_unit_test_qmp_LDADD = hv/monitor/libmonitor.a hv/libhvcore.a common/libcommon.a \
	$(JSONC_LIBS) -lpthread -lm
TESTS += tests/unit/test-qmp
EXTRA_DIST += docs/monitor.md docs/hv-devices.md
