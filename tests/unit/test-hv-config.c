/* hv's command line and JSON machine description -> struct hv_config. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hv/machine_config.h"
#include "tests/tap.h"

static enum hv_args_result parse(struct hv_config *cfg, char *err, size_t errlen, int argc, ...)
{
    char *argv[32];
    va_list ap;
    va_start(ap, argc);
    argv[0] = "hv";
    for (int i = 1; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    argv[argc] = NULL;
    hv_config_init(cfg);
    return hv_config_parse_args(cfg, argc, argv, err, errlen);
}

/* --nic and JSON "nics" (hv/config_nic.c). */
static void test_nics(void)
{
    struct hv_config cfg;
    char err[512];
    enum hv_args_result r = parse(&cfg, err, sizeof(err), 5, "--nic",
                                  "model=e1000,ifname=hve1000,mac=52:54:00:12:34:56,id=net0",
                                  "--nic",
                                  "model=virtio,ifname=tap1,queues=2,vhost=off,link=off,id=net1");
    TAP_CHECK(r == HV_ARGS_OK, "two --nic options parse (%s)", r == HV_ARGS_OK ? "ok" : err);
    TAP_EQ_U64(cfg.nnics, 2, "two NICs");
    TAP_CHECK(cfg.nics[0].model == HV_NIC_E1000 && cfg.nics[0].has_mac &&
                  cfg.nics[0].mac[0] == 0x52 && cfg.nics[0].mac[5] == 0x56 &&
                  cfg.nics[0].nfds == 0,
              "e1000: model and MAC");
    TAP_EQ_STR(cfg.nics[0].ifname, "hve1000", "e1000: ifname");
    TAP_EQ_STR(cfg.nics[0].id, "net0", "e1000: id");
    TAP_CHECK(cfg.nics[1].model == HV_NIC_VIRTIO && cfg.nics[1].queues == 2 &&
                  cfg.nics[1].vhost == HV_NIC_VHOST_OFF && cfg.nics[1].link_down &&
                  !cfg.nics[1].has_mac,
              "virtio: queues 2, vhost off, link off, no MAC");
    hv_config_free(&cfg);

    r = parse(&cfg, err, sizeof(err), 3, "--nic", "model=virtio,fds=3:4,vhostfds=5:6,vhost=on");
    TAP_CHECK(r == HV_ARGS_OK && cfg.nnics == 1 && cfg.nics[0].nfds == 2 &&
                  cfg.nics[0].fds[0] == 3 && cfg.nics[0].fds[1] == 4 &&
                  cfg.nics[0].nvhostfds == 2 && cfg.nics[0].vhostfds[1] == 6 &&
                  cfg.nics[0].vhost == HV_NIC_VHOST_ON && !cfg.nics[0].ifname,
              "virtio with fds and vhostfds (%s)", r == HV_ARGS_OK ? "ok" : err);
    hv_config_free(&cfg);

    const struct {
        const char *spec, *needle, *what;
    } bad[] = {
        { "model=e1000", "needs ifname=TAP or fds", "no backend" },
        { "ifname=t0", "no model", "no model" },
        { "model=rtl8139,ifname=t0", "invalid NIC model 'rtl8139'", "unknown model" },
        { "model=virtio,ifname=t0,queues=0", "invalid NIC queues '0'", "zero queues" },
        { "model=virtio,ifname=t0,queues=9", "invalid NIC queues '9'", "too many queues" },
        { "model=virtio,ifname=t0,queues=two", "invalid NIC queues 'two'", "queues not a number" },
        { "model=virtio,ifname=t0,vhost=maybe", "invalid NIC vhost 'maybe'", "bad vhost" },
        { "model=virtio,ifname=t0,mac=52:54:00:12:34", "invalid NIC mac", "short MAC" },
        { "model=virtio,ifname=t0,mac=01:00:5e:00:00:01", "multicast", "multicast MAC" },
        { "model=virtio,ifname=t0,link=sideways", "invalid NIC link 'sideways'", "bad link" },
        { "model=virtio,ifname=t0,fds=3", "exclusive", "ifname and fds" },
        { "model=virtio,fds=3:x", "invalid NIC fds '3:x'", "bad fd list" },
        { "model=virtio,fds=3::4", "invalid NIC fds", "empty fd" },
        { "model=virtio,fds=3:4,queues=3", "queues=3 but 2 fds", "queues vs fds" },
        { "model=virtio,fds=3:4,vhostfds=5", "1 vhostfds for 2 queue pair(s)", "vhostfds count" },
        { "model=virtio,fds=3,vhostfds=5,vhost=off", "vhostfds with vhost=off", "vhostfds, vhost off" },
        { "model=e1000,ifname=t0,queues=2", "e1000 has one queue", "e1000 queues" },
        { "model=e1000,fds=3,vhostfds=4", "vhost is only for model virtio", "e1000 vhost" },
        { "model=virtio,ifname=t0,speed=10", "unknown NIC option 'speed'", "unknown option" },
        { "model=virtio,ifname", "invalid NIC option 'ifname'", "option without value" },
        { "model=virtio,ifname=averyveryverylongtapname", "longer than 15", "long ifname" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = parse(&cfg, err, sizeof(err), 3, "--nic", bad[i].spec);
        TAP_CHECK(r == HV_ARGS_ERROR && strstr(err, bad[i].needle) && !strchr(err, '\n') &&
                      cfg.nnics == 0,
                  "--nic %s refused: %s", bad[i].what, err);
        hv_config_free(&cfg);
    }
    hv_config_init(&cfg);
    for (int i = 0; i < HV_MAX_NICS; i++)
        hv_config_add_nic_spec(&cfg, "model=virtio,ifname=t0", err, sizeof(err));
    TAP_CHECK(!hv_config_add_nic_spec(&cfg, "model=virtio,ifname=t0", err, sizeof(err)) &&
                  strstr(err, "too many NICs"),
              "NIC count limited: %s", err);
    hv_config_free(&cfg);

    /* JSON, as the daemon writes it. */
    hv_config_init(&cfg);
    bool ok = hv_config_apply_json(
        &cfg,
        "{\"nics\": [{\"model\": \"virtio\", \"id\": \"net0\", \"mac\": \"52:54:00:aa:00:01\","
        " \"fds\": [3, 4], \"vhostfds\": [5, 6], \"vhost\": \"on\", \"queues\": 2},"
        " {\"model\": \"e1000\", \"id\": \"net1\", \"fds\": [7], \"link\": false}]}",
        err, sizeof(err));
    TAP_CHECK(ok, "JSON nics apply (%s)", ok ? "ok" : err);
    TAP_CHECK(cfg.nnics == 2 && cfg.nics[0].model == HV_NIC_VIRTIO && cfg.nics[0].nfds == 2 &&
                  cfg.nics[0].fds[1] == 4 && cfg.nics[0].nvhostfds == 2 &&
                  cfg.nics[0].vhostfds[0] == 5 && cfg.nics[0].queues == 2 &&
                  cfg.nics[0].vhost == HV_NIC_VHOST_ON && cfg.nics[0].mac[5] == 0x01,
              "JSON virtio nic");
    TAP_CHECK(cfg.nics[1].model == HV_NIC_E1000 && cfg.nics[1].nfds == 1 &&
                  cfg.nics[1].fds[0] == 7 && cfg.nics[1].link_down,
              "JSON e1000 nic, link false");
    /* fds 3..7 are not open in this test: validation names the first. */
    TAP_CHECK(!hv_config_validate_nics(&cfg, err, sizeof(err)) &&
                  strstr(err, "fd 3 is not an open file descriptor"),
              "closed fd refused at validation: %s", err);
    hv_config_free(&cfg);

    const struct {
        const char *json, *needle, *what;
    } jbad[] = {
        { "{\"nics\": {}}", "'nics' must be an array", "nics not an array" },
        { "{\"nics\": [3]}", "'nics[0]' must be an object", "nic not an object" },
        { "{\"nics\": [{\"model\": \"virtio\", \"fds\": \"3\"}]}", "'nics[0].fds' must be an array",
          "fds as a string" },
        { "{\"nics\": [{\"model\": \"virtio\", \"fds\": [\"3\"]}]}", "'nics[0].fds[0]' must be an integer",
          "fd as a string" },
        { "{\"nics\": [{\"model\": \"virtio\", \"fds\": [-1]}]}", "nics[0].fds '-1'", "negative fd" },
        { "{\"nics\": [{\"model\": \"virtio\", \"ifname\": \"t\", \"queues\": 100}]}",
          "invalid NIC queues '100'", "queues too large" },
        { "{\"nics\": [{\"model\": \"virtio\", \"ifname\": \"t\", \"bogus\": 1}]}",
          "unknown key 'nics[0].bogus'", "unknown key" },
        { "{\"nics\": [{\"model\": 1, \"ifname\": \"t\"}]}", "'nics[0].model' must be a string",
          "model not a string" },
        { "{\"nics\": [{\"ifname\": \"t\"}]}", "nics[0]: no model", "no model" },
        { "{\"nics\": [{\"model\": \"e1000\", \"ifname\": \"t\", \"vhost\": \"on\"}]}",
          "vhost is only for model virtio", "e1000 vhost on" },
    };
    for (size_t i = 0; i < sizeof(jbad) / sizeof(jbad[0]); i++) {
        hv_config_init(&cfg);
        ok = hv_config_apply_json(&cfg, jbad[i].json, err, sizeof(err));
        TAP_CHECK(!ok && strstr(err, jbad[i].needle), "json %s refused: %s", jbad[i].what, err);
        hv_config_free(&cfg);
    }

    /* Duplicate ids. */
    r = parse(&cfg, err, sizeof(err), 7, "--kernel", "/etc/hostname", "--nic",
              "model=virtio,ifname=a,id=n", "--nic", "model=e1000,ifname=b,id=n");
    TAP_CHECK(r == HV_ARGS_OK && !hv_config_validate_nics(&cfg, err, sizeof(err)) &&
                  strstr(err, "duplicate NIC id 'n'"),
              "duplicate NIC id refused: %s", err);
    hv_config_free(&cfg);
}

int main(void)
{
    struct hv_config cfg;
    char err[512];

    /* The NIC cases below name fds 3..7 and expect them closed; the test
     * harness (make, CI) may leave some open, so close them first. */
    for (int fd = 3; fd <= 7; fd++)
        close(fd);

    /* Defaults. */
    hv_config_init(&cfg);
    TAP_EQ_U64(cfg.memory, 512ULL << 20, "default memory is 512 MiB");
    TAP_EQ_U64(cfg.cpus, 1, "default one vCPU");
    TAP_EQ_U64(cfg.serial.type, HV_SERIAL_STDIO, "default serial on stdio");
    TAP_EQ_U64(cfg.on_reboot, HV_ON_REBOOT_RESET, "default on_reboot reset");
    hv_config_free(&cfg);

    /* A full command line. */
    enum hv_args_result r = parse(&cfg, err, sizeof(err), 18, "--kernel", "/k", "--initrd", "/i",
                                  "--append", "console=ttyS0 quiet", "--memory", "1G", "--cpus", "4",
                                  "--disk", "path=/a.img,readonly=on,serial=S1,id=d0", "--serial",
                                  "unix:/tmp/con.sock", "--on-reboot", "exit", "--no-shutdown");
    TAP_EQ_U64(r, HV_ARGS_OK, "full command line parses");
    TAP_EQ_STR(cfg.kernel, "/k", "kernel");
    TAP_EQ_STR(cfg.initrd, "/i", "initrd");
    TAP_EQ_STR(cfg.append, "console=ttyS0 quiet", "append");
    TAP_EQ_U64(cfg.memory, 1ULL << 30, "memory 1G");
    TAP_EQ_U64(cfg.cpus, 4, "cpus 4");
    TAP_EQ_U64(cfg.ndisks, 1, "one disk");
    TAP_EQ_STR(cfg.disks[0].path, "/a.img", "disk path");
    TAP_CHECK(cfg.disks[0].readonly, "disk readonly");
    TAP_EQ_STR(cfg.disks[0].serial, "S1", "disk serial");
    TAP_EQ_STR(cfg.disks[0].id, "d0", "disk id");
    TAP_EQ_U64(cfg.serial.type, HV_SERIAL_UNIX, "serial unix");
    TAP_EQ_STR(cfg.serial.path, "/tmp/con.sock", "serial path");
    TAP_EQ_U64(cfg.on_reboot, HV_ON_REBOOT_EXIT, "on-reboot exit");
    TAP_CHECK(cfg.no_shutdown, "no-shutdown");
    hv_config_free(&cfg);

    /* Bare number means MiB; ",," escapes a comma in a path. */
    r = parse(&cfg, err, sizeof(err), 5, "--memory", "256", "--disk", "path=/x,,y.img");
    TAP_EQ_U64(r, HV_ARGS_OK, "bare memory and escaped comma parse");
    TAP_EQ_U64(cfg.memory, 256ULL << 20, "bare memory number is MiB");
    TAP_EQ_STR(cfg.disks[0].path, "/x,y.img", "',,' is a literal comma");
    hv_config_free(&cfg);

    /* Errors: one message naming the problem. */
    r = parse(&cfg, err, sizeof(err), 2, "--bogus");
    TAP_CHECK(r == HV_ARGS_ERROR && strstr(err, "--bogus"), "unknown option named: %s", err);
    hv_config_free(&cfg);
    r = parse(&cfg, err, sizeof(err), 2, "--kernel");
    TAP_CHECK(r == HV_ARGS_ERROR && strstr(err, "--kernel") && strstr(err, "value"), "missing value named: %s", err);
    hv_config_free(&cfg);
    r = parse(&cfg, err, sizeof(err), 3, "--memory", "12Q");
    TAP_CHECK(r == HV_ARGS_ERROR && strstr(err, "12Q"), "bad memory size named: %s", err);
    hv_config_free(&cfg);
    r = parse(&cfg, err, sizeof(err), 3, "--memory", "1M");
    TAP_CHECK(r == HV_ARGS_ERROR && strstr(err, "too small"), "tiny memory refused: %s", err);
    hv_config_free(&cfg);
    r = parse(&cfg, err, sizeof(err), 3, "--cpus", "0");
    TAP_CHECK(r == HV_ARGS_ERROR && strstr(err, "vCPU"), "zero cpus refused: %s", err);
    hv_config_free(&cfg);
    r = parse(&cfg, err, sizeof(err), 3, "--cpus", "2x");
    TAP_CHECK(r == HV_ARGS_ERROR, "non-numeric cpus refused: %s", err);
    hv_config_free(&cfg);
    r = parse(&cfg, err, sizeof(err), 3, "--serial", "tcp:1");
    TAP_CHECK(r == HV_ARGS_ERROR && strstr(err, "tcp:1"), "bad serial named: %s", err);
    hv_config_free(&cfg);
    r = parse(&cfg, err, sizeof(err), 3, "--disk", "readonly=on");
    TAP_CHECK(r == HV_ARGS_ERROR && strstr(err, "no path"), "disk without path refused: %s", err);
    hv_config_free(&cfg);
    r = parse(&cfg, err, sizeof(err), 3, "--disk", "path=/a,color=red");
    TAP_CHECK(r == HV_ARGS_ERROR && strstr(err, "color"), "unknown disk option named: %s", err);
    hv_config_free(&cfg);

    /* Disk format and boot order (format default raw, bootindex 0 = none). */
    r = parse(&cfg, err, sizeof(err), 5, "--disk", "path=/q.img,format=qcow2,bootindex=2", "--disk",
              "/r.img");
    TAP_CHECK(r == HV_ARGS_OK && cfg.ndisks == 2, "--disk format= and bootindex= parse (%s)",
              r == HV_ARGS_OK ? "ok" : err);
    TAP_CHECK(cfg.disks[0].format == HV_DISK_FORMAT_QCOW2 && cfg.disks[0].bootindex == 2,
              "qcow2 disk with bootindex 2");
    TAP_CHECK(cfg.disks[1].format == HV_DISK_FORMAT_RAW && cfg.disks[1].bootindex == 0,
              "defaults: raw, no bootindex");
    hv_config_free(&cfg);
    static const struct { const char *spec, *needle, *what; } bad_disks[] = {
        { "path=/a,format=vmdk", "invalid disk format 'vmdk'", "unknown format" },
        { "path=/a,format=", "invalid disk format ''", "empty format" },
        { "path=/a,format=QCOW2", "invalid disk format 'QCOW2'", "format is case-sensitive" },
        { "path=/a,bootindex=x", "invalid disk bootindex 'x'", "non-numeric bootindex" },
        { "path=/a,bootindex=-1", "invalid disk bootindex '-1'", "negative bootindex" },
        { "path=/a,bootindex=65536", "invalid disk bootindex '65536'", "bootindex too large" },
        { "path=/a,bootindex=", "invalid disk bootindex ''", "empty bootindex" },
    };
    for (size_t i = 0; i < sizeof(bad_disks) / sizeof(bad_disks[0]); i++) {
        r = parse(&cfg, err, sizeof(err), 3, "--disk", bad_disks[i].spec);
        TAP_CHECK(r == HV_ARGS_ERROR && strstr(err, bad_disks[i].needle), "--disk %s refused: %s",
                  bad_disks[i].what, err);
        hv_config_free(&cfg);
    }
    r = parse(&cfg, err, sizeof(err), 7, "--kernel", "/dev/null", "--disk", "path=/a,bootindex=1",
              "--disk", "path=/b,bootindex=1");
    TAP_CHECK(r == HV_ARGS_OK && !hv_config_validate(&cfg, err, sizeof(err)) &&
                  strstr(err, "same bootindex 1"),
              "two disks with one bootindex refused: %s", err);
    hv_config_free(&cfg);
    r = parse(&cfg, err, sizeof(err), 7, "--kernel", "/dev/null", "--disk", "path=/a", "--disk",
              "path=/b");
    TAP_CHECK(r == HV_ARGS_OK && hv_config_validate(&cfg, err, sizeof(err)),
              "two disks without bootindex are fine");
    hv_config_free(&cfg);

    /* IDE disks and cdroms (docs/ide.md) */
    static const struct {
        const char *a, *b, *needle, *what;
    } bad_ide[] = {
        { "path=/a,bus=ide,unit=1", "path=/b,bus=ide,unit=1", "two IDE disks on unit 1", "one unit twice" },
        { "path=/a,media=cdrom", "path=/b", "need bus=ide", "a virtio cdrom" },
        { "path=/a,unit=2", "path=/b", "need bus=ide", "a unit without bus=ide" },
        { "path=/a,bus=ide,media=cdrom,format=qcow2", "path=/b", "only raw", "a qcow2 cdrom" },
    };
    for (size_t i = 0; i < sizeof(bad_ide) / sizeof(bad_ide[0]); i++) {
        r = parse(&cfg, err, sizeof(err), 7, "--kernel", "/dev/null", "--disk", bad_ide[i].a, "--disk", bad_ide[i].b);
        TAP_CHECK(r == HV_ARGS_OK && !hv_config_validate(&cfg, err, sizeof(err)) && strstr(err, bad_ide[i].needle),
                  "%s refused: %s", bad_ide[i].what, err);
        hv_config_free(&cfg);
    }
    r = parse(&cfg, err, sizeof(err), 11, "--kernel", "/dev/null", "--disk", "path=/a,bus=ide,bootindex=1",
              "--disk", "bus=ide,media=cdrom", "--disk", "path=/b", "--disk", "path=/c,bus=ide,unit=3,media=cdrom");
    TAP_CHECK(r == HV_ARGS_OK && hv_config_validate(&cfg, err, sizeof(err)) && cfg.ndisks == 4 &&
                  cfg.disks[1].bus == HV_DISK_BUS_IDE && cfg.disks[1].media == HV_DISK_MEDIA_CDROM &&
                  !cfg.disks[1].path && cfg.disks[1].unit == -1 && cfg.disks[2].bus == HV_DISK_BUS_VIRTIO &&
                  cfg.disks[3].unit == 3,
              "IDE disk, empty cdrom, virtio disk and a cdrom on unit 3 (%s)", r == HV_ARGS_OK ? "" : err);
    hv_config_free(&cfg);
    r = parse(&cfg, err, sizeof(err), 13, "--kernel", "/dev/null", "--disk", "path=/a,bus=ide", "--disk",
              "path=/b,bus=ide", "--disk", "path=/c,bus=ide", "--disk", "path=/d,bus=ide", "--disk", "path=/e,bus=ide");
    TAP_CHECK(r == HV_ARGS_OK && !hv_config_validate(&cfg, err, sizeof(err)) && strstr(err, "too many IDE"),
              "five IDE disks refused: %s", err);
    hv_config_free(&cfg);

    r = parse(&cfg, err, sizeof(err), 3, "--uuid", "not-a-uuid");
    TAP_CHECK(r == HV_ARGS_ERROR && strstr(err, "UUID"), "bad uuid refused: %s", err);
    hv_config_free(&cfg);
    r = parse(&cfg, err, sizeof(err), 3, "--on-reboot", "explode");
    TAP_CHECK(r == HV_ARGS_ERROR && strstr(err, "explode"), "bad on-reboot refused: %s", err);
    hv_config_free(&cfg);
    r = parse(&cfg, err, sizeof(err), 2, "stray");
    TAP_CHECK(r == HV_ARGS_ERROR && strstr(err, "stray"), "stray argument refused: %s", err);
    hv_config_free(&cfg);

    /* Validation. */
    hv_config_init(&cfg);
    TAP_CHECK(hv_config_firmware(&cfg) && strcmp(hv_config_firmware(&cfg), HV_DEFAULT_FIRMWARE) == 0,
              "no kernel: firmware boot with " HV_DEFAULT_FIRMWARE);
    if (access(HV_DEFAULT_FIRMWARE, R_OK) == 0)
        TAP_CHECK(hv_config_validate(&cfg, err, sizeof(err)), "no kernel, default firmware: valid (%s)", err);
    else
        TAP_CHECK(!hv_config_validate(&cfg, err, sizeof(err)) && strstr(err, HV_DEFAULT_FIRMWARE) && strstr(err, "seabios"),
                  "no kernel, default firmware missing: named, with the package: %s", err);
    r = parse(&cfg, err, sizeof(err), 3, "--firmware", "/nonexistent/bios.bin");
    TAP_CHECK(r == HV_ARGS_OK && !hv_config_validate(&cfg, err, sizeof(err)) && strstr(err, "/nonexistent/bios.bin") &&
              strstr(err, "firmware"), "unreadable firmware named: %s", err);
    hv_config_free(&cfg);
    r = parse(&cfg, err, sizeof(err), 5, "--firmware", "/etc/hostname", "--kernel", "/etc/hostname");
    TAP_CHECK(r == HV_ARGS_OK && !hv_config_validate(&cfg, err, sizeof(err)) && strstr(err, "--firmware") &&
              strstr(err, "--kernel"), "--firmware with --kernel refused: %s", err);
    hv_config_free(&cfg);
    r = parse(&cfg, err, sizeof(err), 5, "--firmware", "/etc/hostname", "--append", "quiet");
    TAP_CHECK(r == HV_ARGS_OK && !hv_config_validate(&cfg, err, sizeof(err)) && strstr(err, "--append"),
              "--append without --kernel refused: %s", err);
    hv_config_free(&cfg);
    r = parse(&cfg, err, sizeof(err), 3, "--kernel", "/etc/hostname");
    TAP_CHECK(r == HV_ARGS_OK && !hv_config_firmware(&cfg), "--kernel: no firmware (direct boot)");
    hv_config_free(&cfg);
    hv_config_init(&cfg);
    TAP_CHECK(hv_config_apply_json(&cfg, "{\"firmware\": \"/x/bios.bin\"}", err, sizeof(err)) &&
              strcmp(hv_config_firmware(&cfg), "/x/bios.bin") == 0, "JSON firmware key");
    hv_config_free(&cfg);
    hv_config_init(&cfg);
    cfg.kernel = strdup("/nonexistent/vmlinuz");
    TAP_CHECK(!hv_config_validate(&cfg, err, sizeof(err)) && strstr(err, "/nonexistent/vmlinuz"),
              "unreadable kernel named: %s", err);
    hv_config_free(&cfg);

    /* JSON machine description. */
    hv_config_init(&cfg);
    bool ok = hv_config_apply_json(&cfg,
        "{\"name\": \"vm1\", \"uuid\": \"6E5E2A04-1111-2222-3333-444455556666\", \"memory_mib\": 768,"
        " \"cpus\": 2, \"kernel\": \"/k\", \"initrd\": \"/i\", \"append\": \"quiet\","
        " \"serial\": {\"type\": \"file\", \"path\": \"/tmp/s.log\"}, \"monitor\": \"/tmp/m.sock\","
        " \"disks\": [{\"path\": \"/d.img\", \"readonly\": true, \"serial\": \"X\", \"id\": \"disk0\"},"
        "            {\"path\": \"/e.img\", \"format\": \"qcow2\", \"bootindex\": 1}],"
        " \"on_reboot\": \"exit\", \"hugepages\": false, \"no_shutdown\": true}", err, sizeof(err));
    TAP_CHECK(ok, "machine description accepted: %s", ok ? "" : err);
    TAP_EQ_STR(cfg.name, "vm1", "json name");
    TAP_EQ_STR(cfg.uuid, "6e5e2a04-1111-2222-3333-444455556666", "json uuid normalised to lower case");
    TAP_EQ_U64(cfg.memory, 768ULL << 20, "json memory_mib");
    TAP_EQ_U64(cfg.cpus, 2, "json cpus");
    TAP_EQ_U64(cfg.serial.type, HV_SERIAL_FILE, "json serial type");
    TAP_EQ_STR(cfg.serial.path, "/tmp/s.log", "json serial path");
    TAP_EQ_STR(cfg.monitor, "/tmp/m.sock", "json monitor");
    TAP_EQ_U64(cfg.ndisks, 2, "json two disks");
    TAP_CHECK(cfg.disks[0].readonly && !cfg.disks[1].readonly, "json readonly flags");
    TAP_EQ_STR(cfg.disks[0].id, "disk0", "json disk id");
    TAP_CHECK(cfg.disks[0].format == HV_DISK_FORMAT_RAW && cfg.disks[0].bootindex == 0,
              "json disk defaults: raw, no bootindex");
    TAP_CHECK(cfg.disks[1].format == HV_DISK_FORMAT_QCOW2 && cfg.disks[1].bootindex == 1,
              "json disk format qcow2, bootindex 1");
    TAP_EQ_U64(cfg.on_reboot, HV_ON_REBOOT_EXIT, "json on_reboot");
    TAP_CHECK(cfg.no_shutdown, "json no_shutdown");
    hv_config_free(&cfg);

    static const struct { const char *json, *needle, *what; } bad[] = {
        { "{\"kernel\": \"/k\", \"colour\": 1}", "colour", "unknown key" },
        { "{\"cpus\": \"two\"}", "cpus", "wrong type" },
        { "{\"memory_mib\": -5}", "memory_mib", "negative memory" },
        { "{\"kernel\": ", "JSON", "truncated JSON" },
        { "[1, 2]", "object", "not an object" },
        { "{\"serial\": {\"type\": \"unix\"}}", "path", "unix serial without path" },
        { "{\"disks\": [{\"readonly\": true}]}", "disks[0].path", "disk without path" },
        { "{\"disks\": [{\"path\": \"/a\", \"cache\": \"none\"}]}", "disks[0].cache", "unknown disk key" },
        { "{\"disks\": [{\"path\": \"/a\", \"format\": \"vdi\"}]}", "disks[0].format 'vdi'", "unknown disk format" },
        { "{\"disks\": [{\"path\": \"/a\", \"format\": 2}]}", "disks[0].format", "disk format not a string" },
        { "{\"disks\": [{\"path\": \"/a\", \"bootindex\": -3}]}", "disks[0].bootindex -3", "negative bootindex" },
        { "{\"disks\": [{\"path\": \"/a\", \"bootindex\": 70000}]}", "disks[0].bootindex 70000", "bootindex too large" },
        { "{\"disks\": [{\"path\": \"/a\", \"bootindex\": \"1\"}]}", "disks[0].bootindex", "bootindex not an integer" },
        { "{\"on_reboot\": \"pause\"}", "pause", "bad on_reboot" },
        { "{\"kernel\": \"/k\"} trailing", "trailing", "trailing data" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hv_config_init(&cfg);
        ok = hv_config_apply_json(&cfg, bad[i].json, err, sizeof(err));
        TAP_CHECK(!ok && strstr(err, bad[i].needle), "json %s refused: %s", bad[i].what, err);
        hv_config_free(&cfg);
    }

    /* --config FILE then an overriding option. */
    char path[] = "/tmp/test-hv-config-XXXXXX";
    int fd = mkstemp(path);
    const char *json = "{\"kernel\": \"/from-file\", \"cpus\": 3}";
    TAP_CHECK(fd >= 0 && write(fd, json, strlen(json)) == (ssize_t)strlen(json), "temp config written");
    close(fd);
    r = parse(&cfg, err, sizeof(err), 5, "--config", path, "--cpus", "2");
    TAP_EQ_U64(r, HV_ARGS_OK, "--config then --cpus parses");
    TAP_EQ_STR(cfg.kernel, "/from-file", "kernel from the file");
    TAP_EQ_U64(cfg.cpus, 2, "later option overrides the file");
    hv_config_free(&cfg);
    r = parse(&cfg, err, sizeof(err), 3, "--config", "/nonexistent.json");
    TAP_CHECK(r == HV_ARGS_ERROR && strstr(err, "/nonexistent.json"), "missing config file named: %s", err);
    hv_config_free(&cfg);
    unlink(path);
    test_nics();
    return tap_done();
}
