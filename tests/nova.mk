# tools/nova (the nova-style driver experiment, docs/nova.md) and its unit
# test: a Python TAP script run by Debian's /usr/bin/python3, the
# interpreter that has python3-libvirt and python3-nova. Nothing compiled.
TEST_EXTENSIONS += .py
PY_LOG_DRIVER = $(LOG_DRIVER)
PY_LOG_COMPILER = /usr/bin/python3
TESTS += tests/test-nova.py
dist_check_SCRIPTS += tests/test-nova.py
EXTRA_DIST += tools/nova/novadrv.py tools/nova/hvdnova
