# hv: the per-domain KVM hypervisor worker (VM core, vCPUs, boot, ACPI,
# platform devices, PCI core, control). Owned by the hv core area.
#
# hv/libhvcore.a holds what device models (hv/virtio, hv/monitor, later
# e1000/vfio) link against: guest memory, event loop, bus, VM, PCI core.
noinst_LIBRARIES += hv/libhvcore.a
hv_libhvcore_a_SOURCES = \
	hv/guest_mem.c hv/guest_mem.h \
	hv/loop.c hv/loop.h \
	hv/bus.c hv/bus.h \
	hv/vm.c hv/vm.h \
	hv/state.c hv/state.h \
	hv/device.h hv/machine.c hv/machine.h \
	hv/pci/pci.c hv/pci/host.c hv/pci/pci.h

# liblzma: hv decompresses the kernel's xz payload itself (hv/boot/vmlinux.h).
AM_CFLAGS += $(LZMA_CFLAGS)

# Machine pieces that need no KVM at build/test time (unit-tested).
noinst_LIBRARIES += hv/libhvmachine.a
hv_libhvmachine_a_SOURCES = \
	hv/config.c hv/machine_config.h hv/config_nic.c \
	hv/boot/bzimage.c hv/boot/bzimage.h \
	hv/boot/vmlinux.c hv/boot/vmlinux.h \
	hv/boot/firmware.c hv/boot/firmware.h \
	hv/x86/acpi.c hv/x86/acpi.h \
	hv/x86/mptable.c hv/x86/mptable.h \
	hv/x86/cpuid.c hv/x86/cpuid.h \
	hv/devices/chardev.c hv/devices/chardev.h \
	hv/devices/serial8250.c hv/devices/serial8250.h \
	hv/devices/platform.h \
	hv/devices/pm.c hv/devices/i8042.c hv/devices/rtc.c hv/devices/ioport_sink.c \
	hv/devices/fw_cfg.c hv/devices/fw_cfg.h hv/devices/debugcon.c

bin_PROGRAMS += hv/hv
hv_hv_SOURCES = \
	hv/main.c \
	hv/control.c hv/control.h \
	hv/vcpu.c hv/vcpu.h \
	hv/machine_devices.c
# Order: users before providers (the monitor's device commands need the
# device models; virtio and the monitor need the core).
hv_hv_LDADD = hv/monitor/libmonitor.a hv/virtio/libhvvnet.a hv/backends/libhvnet.a \
	hv/virtio/libhvvirtio.a hv/devices/libhvide.a hv/block/libhvblock.a hv/libhvmachine.a \
	hv/libhvcore.a common/libcommon.a $(JSONC_LIBS) $(LZMA_LIBS) $(ZLIB_LIBS) -lpthread -lm

check_PROGRAMS += tests/unit/test-pci
tests_unit_test_pci_SOURCES = tests/unit/test-pci.c tests/tap.h
tests_unit_test_pci_LDADD = hv/libhvcore.a common/libcommon.a -lpthread
TESTS += tests/unit/test-pci

check_PROGRAMS += tests/unit/test-state
tests_unit_test_state_SOURCES = tests/unit/test-state.c tests/tap.h
tests_unit_test_state_LDADD = hv/libhvcore.a
TESTS += tests/unit/test-state

check_PROGRAMS += tests/unit/test-machine
tests_unit_test_machine_SOURCES = tests/unit/test-machine.c tests/tap.h
tests_unit_test_machine_LDADD = hv/libhvcore.a common/libcommon.a -lpthread
TESTS += tests/unit/test-machine

check_PROGRAMS += tests/unit/test-hv-config
tests_unit_test_hv_config_SOURCES = tests/unit/test-hv-config.c tests/tap.h
tests_unit_test_hv_config_LDADD = hv/libhvmachine.a common/libcommon.a $(JSONC_LIBS)
TESTS += tests/unit/test-hv-config

check_PROGRAMS += tests/unit/test-bzimage
tests_unit_test_bzimage_SOURCES = tests/unit/test-bzimage.c tests/tap.h
tests_unit_test_bzimage_LDADD = hv/libhvmachine.a hv/libhvcore.a common/libcommon.a $(LZMA_LIBS) -lpthread
TESTS += tests/unit/test-bzimage

check_PROGRAMS += tests/unit/test-acpi
tests_unit_test_acpi_SOURCES = tests/unit/test-acpi.c tests/tap.h
tests_unit_test_acpi_LDADD = hv/libhvmachine.a hv/libhvcore.a common/libcommon.a -lpthread
TESTS += tests/unit/test-acpi

check_PROGRAMS += tests/unit/test-platform
tests_unit_test_platform_SOURCES = tests/unit/test-platform.c tests/tap.h
tests_unit_test_platform_LDADD = hv/libhvmachine.a hv/libhvcore.a common/libcommon.a -lpthread
TESTS += tests/unit/test-platform

dist_check_SCRIPTS += tests/integration/02-hv-boot.sh tests/integration/07-firmware-boot.sh

check_PROGRAMS += tests/unit/test-vmlinux
tests_unit_test_vmlinux_SOURCES = tests/unit/test-vmlinux.c tests/tap.h
tests_unit_test_vmlinux_LDADD = hv/libhvmachine.a hv/libhvcore.a common/libcommon.a $(LZMA_LIBS) -lpthread
TESTS += tests/unit/test-vmlinux

check_PROGRAMS += tests/unit/test-mptable
tests_unit_test_mptable_SOURCES = tests/unit/test-mptable.c tests/tap.h
tests_unit_test_mptable_LDADD = hv/libhvmachine.a hv/libhvcore.a common/libcommon.a -lpthread
TESTS += tests/unit/test-mptable

check_PROGRAMS += tests/unit/test-vm-ram
tests_unit_test_vm_ram_SOURCES = tests/unit/test-vm-ram.c tests/tap.h
tests_unit_test_vm_ram_LDADD = hv/libhvcore.a common/libcommon.a -lpthread
TESTS += tests/unit/test-vm-ram

check_PROGRAMS += tests/unit/test-cpuid
tests_unit_test_cpuid_SOURCES = tests/unit/test-cpuid.c tests/tap.h
tests_unit_test_cpuid_LDADD = hv/libhvmachine.a
TESTS += tests/unit/test-cpuid

check_PROGRAMS += tests/unit/test-fw-cfg
tests_unit_test_fw_cfg_SOURCES = tests/unit/test-fw-cfg.c tests/tap.h
tests_unit_test_fw_cfg_LDADD = hv/libhvmachine.a hv/libhvcore.a common/libcommon.a $(LZMA_LIBS) -lpthread
TESTS += tests/unit/test-fw-cfg

# Firmware boot on the real /dev/kvm (skipped without it): SeaBIOS runs a
# boot sector assembled by the test; an empty disk ends in "No bootable device.".
