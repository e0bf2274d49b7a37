# common/: what both processes share and nothing else.
noinst_LIBRARIES += common/libcommon.a
common_libcommon_a_SOURCES = \
	common/errbuf.c common/errbuf.h \
	common/log.c common/log.h \
	common/qcow2_header.c common/qcow2_header.h \
	common/size.c common/size.h

check_PROGRAMS += tests/unit/test-size
tests_unit_test_size_SOURCES = tests/unit/test-size.c tests/tap.h
tests_unit_test_size_LDADD = common/libcommon.a
TESTS += tests/unit/test-size

check_PROGRAMS += tests/unit/test-qcow2-header
tests_unit_test_qcow2_header_SOURCES = tests/unit/test-qcow2-header.c tests/tap.h
tests_unit_test_qcow2_header_LDADD = common/libcommon.a
TESTS += tests/unit/test-qcow2-header
