#!/bin/sh
# cdrom: mount an ISO 9660 medium and print one file of it.
#   hvtest.cdrom_dev=sr0        the drive (default sr0)
#   hvtest.cdrom_file=NAME      the file to print (default hello.txt)
#   hvtest.cdrom_wait=SECONDS   retry the mount this long (an empty tray the
#                               host fills through the monitor; default 0)
#   hvtest.cdrom_hold=SECONDS   keep it mounted this long (default 0)
# Reports:
#   HVTEST cdrom_waiting=1 (before retrying)  cdrom_mount=ok|error ...
#   cdrom_size_bytes=N  cdrom_file=FIRST LINE  cdrom_md5=... (of the whole
#   file)  cdrom_umount=ok|error
#   ata_xfer=DEV:MODE,...  (libata's transfer mode per device, e.g. dev1.0:XFER_MW_DMA_2)
#   ata_irqs=IRQ:COUNT,... (the interrupt lines libata's ports use)
. /hvtest/lib.sh

ata_report() {
    xfer=""
    for d in /sys/class/ata_device/*; do
        [ -e "$d/xfer_mode" ] && xfer="$xfer,${d##*/}:$(cat "$d/xfer_mode")"
    done
    hvtest_say "ata_xfer=${xfer#,}"
    hvtest_say "ata_irqs=$(awk '/ata_piix/ { n = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i; sub(":", "", $1); printf "%s%s:%d", s, $1, n; s = "," }' /proc/interrupts)"
}

dev=/dev/$(hvtest_param cdrom_dev sr0)
file=$(hvtest_param cdrom_file hello.txt)
wait=$(hvtest_param cdrom_wait 0)
hold=$(hvtest_param cdrom_hold 0)

if ! hvtest_wait_for "$dev" 10; then
    hvtest_say "cdrom_mount=error no $dev"
    exit 1
fi
mkdir -p /mnt/cdrom
[ "$wait" -gt 0 ] && hvtest_say "cdrom_waiting=1"
tries=0
until mount -t iso9660 -o ro "$dev" /mnt/cdrom 2>/tmp/mount.err; do
    tries=$((tries + 1))
    if [ "$tries" -gt "$wait" ]; then
        hvtest_say "cdrom_mount=error $(tail -n 1 /tmp/mount.err)"
        exit 1
    fi
    sleep 1
done
hvtest_say "cdrom_mount=ok"
hvtest_say "cdrom_size_bytes=$(( $(cat "/sys/block/${dev#/dev/}/size") * 512 ))"
hvtest_say "cdrom_file=$(head -n 1 "/mnt/cdrom/$file")"
hvtest_say "cdrom_md5=$(md5sum < "/mnt/cdrom/$file" | cut -d' ' -f1)"
ata_report
sleep "$hold"
if umount /mnt/cdrom; then hvtest_say "cdrom_umount=ok"; else hvtest_say "cdrom_umount=error"; fi
