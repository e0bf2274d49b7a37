# hvsh: virsh-style CLI on libvirt's client library (tools/hvsh/, docs/hvsh.md).
# The command groups live in a library so the unit tests link the pure parts
# (argument parsing, output formatting, XML composition, host checks).
noinst_LIBRARIES += tools/hvsh/libhvsh.a
tools_hvsh_libhvsh_a_SOURCES = \
	tools/hvsh/hvsh.h \
	tools/hvsh/args.c \
	tools/hvsh/output.c \
	tools/hvsh/util.c \
	tools/hvsh/domain.c \
	tools/hvsh/create.c \
	tools/hvsh/nodedev.c \
	tools/hvsh/monitor.c \
	tools/hvsh/host_validate.c \
	tools/hvsh/bench.h \
	tools/hvsh/bench.c

# libvirt-qemu (virDomainQemuMonitorCommand) is part of libvirt-dev's
# libvirt0; pkg-config's libvirt-qemu module is "-lvirt-qemu -lvirt".
HVSH_LIBS = tools/hvsh/libhvsh.a common/libcommon.a $(LIBVIRT_GCONFIG_LIBS) \
	-lvirt-qemu $(LIBVIRT_LIBS) $(LIBXML_LIBS) $(JSONC_LIBS) $(GLIB_LIBS)

bin_PROGRAMS += tools/hvsh/hvsh
tools_hvsh_hvsh_SOURCES = tools/hvsh/hvsh.c
tools_hvsh_hvsh_LDADD = $(HVSH_LIBS)

dist_man_MANS = tools/hvsh/hvsh.1
EXTRA_DIST += tools/hvsh/hvsh.bash-completion

# bash-completion loads completions/<command name>, so install under "hvsh".
bashcompletiondir = $(datadir)/bash-completion/completions
install-data-local:
	$(MKDIR_P) '$(DESTDIR)$(bashcompletiondir)'
	$(INSTALL_DATA) $(srcdir)/tools/hvsh/hvsh.bash-completion '$(DESTDIR)$(bashcompletiondir)/hvsh'
uninstall-local:
	rm -f '$(DESTDIR)$(bashcompletiondir)/hvsh'

check_PROGRAMS += tests/unit/test-hvsh-args tests/unit/test-hvsh-output \
	tests/unit/test-hvsh-create tests/unit/test-hvsh-validate
TESTS += tests/unit/test-hvsh-args tests/unit/test-hvsh-output \
	tests/unit/test-hvsh-create tests/unit/test-hvsh-validate
tests_unit_test_hvsh_args_SOURCES = tests/unit/test-hvsh-args.c tests/tap.h
tests_unit_test_hvsh_args_LDADD = $(HVSH_LIBS)
tests_unit_test_hvsh_output_SOURCES = tests/unit/test-hvsh-output.c tests/tap.h
tests_unit_test_hvsh_output_LDADD = $(HVSH_LIBS)
tests_unit_test_hvsh_create_SOURCES = tests/unit/test-hvsh-create.c tests/tap.h
tests_unit_test_hvsh_create_LDADD = $(HVSH_LIBS)
tests_unit_test_hvsh_validate_SOURCES = tests/unit/test-hvsh-validate.c tests/tap.h
tests_unit_test_hvsh_validate_LDADD = $(HVSH_LIBS)

# tests/integration/14-hvsh.sh runs from tests/integration/suite.sh (EXTRA_DIST
# there already carries tests/integration).

# hvsh bench (tools/hvsh/bench.c) runs bench/net.sh; its pure parts are tested here.
check_PROGRAMS += tests/unit/test-hvsh-bench
TESTS += tests/unit/test-hvsh-bench
tests_unit_test_hvsh_bench_SOURCES = tests/unit/test-hvsh-bench.c tests/tap.h
tests_unit_test_hvsh_bench_LDADD = $(HVSH_LIBS) -lm
EXTRA_DIST += bench/net.sh

# host-validate on the real machine the tests run on.
TESTS += tests/hvsh-host-validate.sh
dist_check_SCRIPTS += tests/hvsh-host-validate.sh
