#!/bin/sh
# balloon: a guest for the virtio-balloon tests; the host drives the
# balloon through the monitor and reads this scenario's console lines.
#   hvtest.balloon_fill_mib=N   touch N MiB first (a file in the initramfs,
#                               then deleted), so the host backs that much
#                               guest RAM (default 0)
#   hvtest.balloon_watch=SECS   report memory every second for SECS seconds
#                               (default 60)
#   hvtest.balloon_low_kb=KB    a MemTotal below this counts as "ballooned"
#                               (default 400000)
#   hvtest.balloon_refill_mib=N after MemTotal went below balloon_low_kb and
#                               came back above twice that, touch N MiB again
#                               to show the memory is usable (default 0)
#   hvtest.balloon_oom_mib=N    after balloon_oom_after seconds, touch N MiB
#                               (deflate-on-oom: the guest takes pages back
#                               from the balloon under pressure) (default 0)
#   hvtest.balloon_oom_after=S  (default 20)
# Reports: HVTEST balloon_driver=yes|no, balloon_filled=MiB,
#   HVTEST balloon_mem=t:SECS,memtotal_kb:N,memfree_kb:N,available_kb:N
#   (every second), balloon_refill=ok|failed, balloon_oom_fill=ok|failed.
. /hvtest/lib.sh

fill_mib=$(hvtest_param balloon_fill_mib 0)
watch=$(hvtest_param balloon_watch 60)
low_kb=$(hvtest_param balloon_low_kb 400000)
refill_mib=$(hvtest_param balloon_refill_mib 0)
oom_mib=$(hvtest_param balloon_oom_mib 0)
oom_after=$(hvtest_param balloon_oom_after 20)

meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }

# touch N MiB in a tmpfs (the rootfs tmpfs stops at half of RAM), then free it
mkdir -p /balloon-mnt
mount -t tmpfs -o size=95% balloon /balloon-mnt
touch_mib() {
    dd if=/dev/zero of=/balloon-mnt/fill bs=1M count="$1" 2>/dev/null
    local rc=$?
    rm -f /balloon-mnt/fill
    return $rc
}

if [ -d /sys/bus/virtio/drivers/virtio_balloon ] &&
   ls /sys/bus/virtio/drivers/virtio_balloon | grep -q virtio; then
    hvtest_say "balloon_driver=yes"
else
    hvtest_say "balloon_driver=no"
fi
if [ "$fill_mib" -gt 0 ]; then
    touch_mib "$fill_mib"
    hvtest_say "balloon_filled=$fill_mib"
fi

went_low=0
refilled=0
oom_done=0
t=0
while [ "$t" -lt "$watch" ]; do
    total=$(meminfo MemTotal)
    hvtest_say "balloon_mem=t:$t,memtotal_kb:$total,memfree_kb:$(meminfo MemFree),available_kb:$(meminfo MemAvailable)"
    [ "$total" -lt "$low_kb" ] && went_low=1
    if [ "$refill_mib" -gt 0 ] && [ "$went_low" = 1 ] && [ "$refilled" = 0 ] &&
       [ "$total" -gt $((low_kb * 2)) ]; then
        if touch_mib "$refill_mib"; then
            hvtest_say "balloon_refill=ok"
        else
            hvtest_say "balloon_refill=failed"
        fi
        refilled=1
    fi
    if [ "$oom_mib" -gt 0 ] && [ "$oom_done" = 0 ] && [ "$t" -ge "$oom_after" ]; then
        if touch_mib "$oom_mib"; then
            hvtest_say "balloon_oom_fill=ok"
        else
            hvtest_say "balloon_oom_fill=failed"
        fi
        oom_done=1
    fi
    sleep 1
    t=$((t + 1))
done
exit 0
