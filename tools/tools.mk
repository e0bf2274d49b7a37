# Scripts: setup and demo, the guest kit builder (tools/guest-kit/build and
# the init scripts it packs), the CI summary. Nothing here is compiled.
EXTRA_DIST += tools/setup tools/demo tools/test-summary tools/guest-kit
