#!/usr/bin/env bash
echo "ok - # SKIP not written yet"
