# Helpers for hvtest scenarios (sourced; busybox sh).
#
# A scenario is /hvtest/NAME.sh, run by init when the command line says
# hvtest=NAME. It reads its parameters from $hvtest_KEY (hvtest.KEY=VALUE on
# the command line), reports with hvtest_say, and exits non-zero when it
# could not do its job. To add one: drop NAME.sh into tools/guest-kit/guest/
# hvtest/ and rebuild the kit (the cache key covers these files).

# One result line on the console: HVTEST key=value.
hvtest_say() {
    echo "HVTEST $*"
}

# hvtest_param KEY DEFAULT: a parameter's value, or DEFAULT when absent.
hvtest_param() {
    eval "echo \"\${hvtest_$1:-$2}\""
}

# hvtest_wait_for PATH SECONDS: wait until PATH exists (devices appear
# asynchronously after their driver probes).
hvtest_wait_for() {
    local i=0
    while [ ! -e "$1" ]; do
        [ "$i" -ge "$(( $2 * 10 ))" ] && return 1
        sleep 0.1
        i=$((i + 1))
    done
}
