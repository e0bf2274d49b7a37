#!/usr/bin/env bash
# Device-assignment suite (TAP): boots the IOMMU testbed once
# (tests/testbed/run --iommu: q35, intel-iommu, an e1000e and an SR-IOV
# NVMe) and runs tests/integration/17-vfio.sh inside it through
# suite.sh --inside. The plain suite (suite.sh) only sees 17's skip line,
# because its testbed has no IOMMU.
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
    HVD_GUEST_KIT=$kit HVD_TEST_ONLY=17-vfio exec bash "$here/suite.sh" --inside
fi

echo "# guest kit: $kit; IOMMU testbed"
rc=0
"$top_srcdir/tests/testbed/run" --iommu --timeout "${HVD_VFIO_TIMEOUT:-1800}" -- \
    env HVD_GUEST_KIT="$kit" HVD_TEST_ONLY=17-vfio top_srcdir="$top_srcdir" top_builddir="$top_builddir" \
    bash "$here/suite.sh" --inside || rc=$?
case "$rc" in
    0) exit 0 ;;
    125)
        # The testbed could not run at all (no QEMU, failed boot): say so.
        echo "1..0 # SKIP the IOMMU testbed could not run (tests/testbed/run --iommu exit 125)"
        exit 0 ;;
    *) exit "$rc" ;;
esac
