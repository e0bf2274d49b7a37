#!/bin/sh
# shell: an interactive busybox shell on the console (ttyS0); the scenario
# ends when the shell exits.
echo "hvtest: shell on the console; exit it to continue"
setsid cttyhack sh
exit 0
