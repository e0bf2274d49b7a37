# hv/block: the block layer under virtio-blk (image formats and backing
# chains; docs/block.md).
noinst_LIBRARIES += hv/block/libhvblock.a
hv_block_libhvblock_a_SOURCES = \
	hv/block/block.c hv/block/block.h hv/block/driver.h \
	hv/block/raw.c hv/block/qcow2.c

check_PROGRAMS += tests/unit/test-qcow2
tests_unit_test_qcow2_SOURCES = tests/unit/test-qcow2.c tests/tap.h
tests_unit_test_qcow2_LDADD = hv/block/libhvblock.a hv/libhvmachine.a common/libcommon.a \
	$(JSONC_LIBS) -lpthread
TESTS += tests/unit/test-qcow2
