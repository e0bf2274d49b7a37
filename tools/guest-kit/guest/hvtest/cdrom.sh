#!/bin/sh
# cdrom: mount an ISO 9660 medium and print one file of it.
#   hvtest.cdrom_dev=sr0        the drive (default sr0)
#   hvtest.cdrom_file=NAME      the file to print (default hello.txt)
# Reports:
#   HVTEST cdrom_size_bytes=N  cdrom_file=FIRST LINE  cdrom_md5=... (of the
#   whole file)  cdrom_mount=ok|error ...
. /hvtest/lib.sh

dev=/dev/$(hvtest_param cdrom_dev sr0)
file=$(hvtest_param cdrom_file hello.txt)

if ! hvtest_wait_for "$dev" 10; then
    hvtest_say "cdrom_mount=error no $dev"
    exit 1
fi
hvtest_say "cdrom_size_bytes=$(( $(cat "/sys/block/${dev#/dev/}/size") * 512 ))"
mkdir -p /mnt/cdrom
if ! mount -t iso9660 -o ro "$dev" /mnt/cdrom 2>/tmp/mount.err; then
    hvtest_say "cdrom_mount=error $(tail -n 1 /tmp/mount.err)"
    exit 1
fi
hvtest_say "cdrom_mount=ok"
hvtest_say "cdrom_file=$(head -n 1 "/mnt/cdrom/$file")"
hvtest_say "cdrom_md5=$(md5sum < "/mnt/cdrom/$file" | cut -d' ' -f1)"
umount /mnt/cdrom
