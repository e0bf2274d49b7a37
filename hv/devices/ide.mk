# hv/devices/ide: the PIIX3 IDE controller and the transport-free ATA/ATAPI
# drive logic under it (docs/ide.md).
noinst_LIBRARIES += hv/devices/libhvide.a
hv_devices_libhvide_a_SOURCES = \
	hv/devices/ide.c hv/devices/ide.h \
	hv/devices/ata.c hv/devices/ata.h

check_PROGRAMS += tests/unit/test-ata
tests_unit_test_ata_SOURCES = tests/unit/test-ata.c tests/tap.h
tests_unit_test_ata_LDADD = hv/devices/libhvide.a hv/block/libhvblock.a hv/libhvmachine.a \
	hv/libhvcore.a common/libcommon.a $(JSONC_LIBS) -lpthread
TESTS += tests/unit/test-ata

dist_check_SCRIPTS += tests/integration/09-ide.sh
