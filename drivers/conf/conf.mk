# drivers/conf: domain XML <-> model (libconf.a), our RelaxNG schema, and the
# atomic config persistence helpers (drivers/domain/persist.c) the domain
# driver links from the same library.
noinst_LIBRARIES += drivers/conf/libconf.a
drivers_conf_libconf_a_SOURCES = \
	drivers/virerror.h \
	drivers/conf/domain_conf.c drivers/conf/domain_conf.h \
	drivers/conf/domain_device.c \
	drivers/conf/domain_format.c \
	drivers/conf/domain_validate.c drivers/conf/domain_validate.h \
	drivers/conf/xml_autoptr.h \
	drivers/domain/persist.c drivers/domain/persist.h

# Where domain_schema_path() looks: $HVD_SCHEMA_DIR, the installed copy,
# then the source tree (so uninstalled builds work).
AM_CPPFLAGS += -DHVD_CONF_SCHEMADIR='"$(pkgdatadir)/schemas"' \
	-DHVD_CONF_SRC_SCHEMADIR='"$(abs_top_srcdir)/schemas"'

schemasdir = $(pkgdatadir)/schemas
dist_schemas_DATA = schemas/domain.rng

CONF_LIBS = drivers/conf/libconf.a common/libcommon.a $(LIBXML_LIBS) $(GLIB_LIBS)

check_PROGRAMS += tests/unit/test-domain-conf tests/unit/test-persist
tests_unit_test_domain_conf_SOURCES = tests/unit/test-domain-conf.c tests/tap.h
tests_unit_test_domain_conf_LDADD = $(CONF_LIBS)
tests_unit_test_persist_SOURCES = tests/unit/test-persist.c tests/tap.h
tests_unit_test_persist_LDADD = $(CONF_LIBS)
TESTS += tests/unit/test-domain-conf tests/unit/test-persist
EXTRA_DIST += tests/data/domain docs/domain-xml.md
