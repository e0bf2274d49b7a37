EXTRA_DIST += tools/setup tools/guest-kit
