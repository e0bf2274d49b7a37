# daemon/: hvd, the libvirt-compatible daemon (RPC transport, codec,
# dispatch, keepalive, connection-level procedures). See docs/rpc.md.
noinst_LIBRARIES += daemon/libhvdrpc.a
daemon_libhvdrpc_a_SOURCES = \
	daemon/remote_protocol.h daemon/remote_procs.def daemon/remote_procs.c \
	daemon/xdr.c daemon/xdr.h \
	daemon/rpc.c daemon/rpc.h \
	daemon/remote_util.c daemon/remote_util.h \
	daemon/keepalive.c daemon/keepalive.h \
	daemon/hostinfo.c daemon/hostinfo.h \
	daemon/remote.c daemon/remote.h \
	daemon/stream.c daemon/stream.h \
	daemon/server.c daemon/server.h

HVD_DAEMON_LIBS = daemon/libhvdrpc.a common/libcommon.a $(GLIB_LIBS) $(LIBVIRT_LIBS) -lpthread

sbin_PROGRAMS += daemon/hvd
daemon_hvd_SOURCES = daemon/hvd.c
daemon_hvd_LDADD = $(HVD_DAEMON_LIBS)
daemon_hvd_LDADD += $(HVD_DRIVER_LIBS)
daemon_hvd_LDADD += $(HVD_NODEDEV_LIBS)

check_PROGRAMS += tests/unit/test-xdr tests/unit/test-rpc tests/unit/test-rpc-replay
tests_unit_test_xdr_SOURCES = tests/unit/test-xdr.c tests/tap.h
tests_unit_test_xdr_LDADD = daemon/libhvdrpc.a common/libcommon.a
tests_unit_test_rpc_SOURCES = tests/unit/test-rpc.c tests/unit/rpc-test-util.h tests/tap.h \
	tests/unit/domain-placeholder.c tests/unit/domain-placeholder.h
tests_unit_test_rpc_LDADD = $(HVD_DAEMON_LIBS) $(LIBXML_LIBS)
tests_unit_test_rpc_replay_SOURCES = tests/unit/test-rpc-replay.c tests/unit/rpc-test-util.h tests/tap.h \
	tests/unit/domain-placeholder.c tests/unit/domain-placeholder.h
tests_unit_test_rpc_replay_LDADD = $(HVD_DAEMON_LIBS) $(JSONC_LIBS)
TESTS += tests/unit/test-xdr tests/unit/test-rpc tests/unit/test-rpc-replay

EXTRA_DIST += tests/data/rpc docs/rpc.md tests/integration/10-hvd-connect.sh

# Streams (console) through the RPC layer and the console's daemon end.
check_PROGRAMS += tests/unit/test-stream
tests_unit_test_stream_SOURCES = tests/unit/test-stream.c tests/unit/rpc-test-util.h tests/tap.h
tests_unit_test_stream_LDADD = $(HVD_DRIVER_LIBS)
TESTS += tests/unit/test-stream

# Event messages (callback and legacy style) against libvirtd's bytes.
check_PROGRAMS += tests/unit/test-events
tests_unit_test_events_SOURCES = tests/unit/test-events.c tests/unit/rpc-test-util.h tests/tap.h
tests_unit_test_events_LDADD = $(HVD_DRIVER_LIBS)
TESTS += tests/unit/test-events
