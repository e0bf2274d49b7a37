#!/bin/sh
# wait: keep the guest up for hvtest.wait seconds (default 5), so the host
# can measure the running worker (RSS, threads) before the guest powers off.
#   HVTEST waited=N
. /hvtest/lib.sh
seconds=$(hvtest_param wait 5)
sleep "$seconds"
hvtest_say "waited=$seconds"
