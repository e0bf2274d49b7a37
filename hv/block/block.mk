# hv/block: the block layer under virtio-blk (image formats and backing
# chains; docs/block.md).
noinst_LIBRARIES += hv/block/libhvblock.a
hv_block_libhvblock_a_SOURCES = \
	hv/block/block.c hv/block/block.h hv/block/driver.h \
	hv/block/raw.c hv/block/qcow2.c
