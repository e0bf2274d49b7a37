# Scripts: setup and demo, the guest kit builder (tools/guest-kit/build and
# the init scripts it packs), the CI summary. Nothing here is compiled.
EXTRA_DIST += tools/setup tools/demo tools/demo.d tools/test-summary tools/guest-kit bench

# The nested testbed's runner checks itself (TAP; boots the testbed twice).
# tests/testbed/ is the testbed area's, like tools/guest-kit, hence here.
TESTS += tests/testbed/selftest.sh
dist_check_SCRIPTS += tests/testbed/selftest.sh
