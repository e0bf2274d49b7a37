# Integration tests: one TAP script that boots the nested testbed once (or
# uses the host's KVM when it can boot Linux) and runs every scenario in
# tests/integration/ inside it. See tests/integration/suite.sh.
TESTS += tests/integration/suite.sh
dist_check_SCRIPTS += tests/integration/suite.sh
EXTRA_DIST += tests/integration tests/testbed
