#!/bin/sh
# ready: nothing beyond init's READY marker; the guest then ends as told.
exit 0
