#!/usr/bin/env bash
# Device-assignment suite (TAP): boots the IOMMU testbed once
# (tests/testbed/run --iommu: q35, intel-iommu, an e1000e and an SR-IOV
# NVMe) and runs the scenarios in tests/integration/iommu/ inside it
# through suite.sh --inside (the plain suite's testbed has no IOMMU).
#
#   HVD_TEST_KVM=host     run 17 directly (a host whose KVM boots Linux and
#                         that has an IOMMU and an e1000e to give away)
#   HVD_VFIO_TIMEOUT=S    testbed time limit (default 1800)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir

if ! kit=$("$top_srcdir/tools/guest-kit/build" | tail -n 1) || [ ! -d "$kit" ]; then
    echo "not ok 1 - guest kit could not be built"
    echo "1..1"
    exit 1
fi

if [ "${HVD_TEST_KVM:-auto}" = host ]; then
    HVD_GUEST_KIT=$kit HVD_SCENARIOS="$here/iommu" exec bash "$here/suite.sh" --inside
fi

echo "# guest kit: $kit; IOMMU testbed"
rc=0
"$top_srcdir/tests/testbed/run" --iommu --timeout "${HVD_VFIO_TIMEOUT:-1800}" -- \
    env HVD_GUEST_KIT="$kit" HVD_SCENARIOS="$here/iommu" top_srcdir="$top_srcdir" top_builddir="$top_builddir" \
    bash "$here/suite.sh" --inside || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
    echo "not ok - the IOMMU testbed failed with status $rc (see the messages above)"
    echo "1..0"
fi
exit "$rc"
