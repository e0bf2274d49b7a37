/* hvsh's option parser, sizes and create's --disk/--nic/--hostdev specs. */
#include "tests/tap.h"
#include "tools/hvsh/hvsh.h"

static int dummy_run(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    return 0;
}

static const struct hvsh_opt_def opts[] = {
    { "domain", HVSH_OPT_STRING, HVSH_OPT_POSITIONAL | HVSH_OPT_REQUIRED, "domain" },
    { "size", HVSH_OPT_STRING, HVSH_OPT_POSITIONAL, "size" },
    { "all", HVSH_OPT_BOOL, 0, "all" },
    { "disk", HVSH_OPT_LIST, 0, "disk" },
    { "balloon", HVSH_OPT_OPTIONAL, 0, "balloon" },
    { NULL },
};
static const struct hvsh_cmd_def cmd = { "setmem", NULL, "test", NULL, opts, dummy_run, 0 };

static const struct hvsh_opt_def rest_opts[] = {
    { "domain", HVSH_OPT_STRING, HVSH_OPT_POSITIONAL | HVSH_OPT_REQUIRED, "domain" },
    { "hmp", HVSH_OPT_BOOL, 0, "hmp" },
    { "cmd", HVSH_OPT_LIST, HVSH_OPT_POSITIONAL | HVSH_OPT_REQUIRED, "cmd" },
    { NULL },
};
static const struct hvsh_cmd_def rest_cmd = { "monitor", NULL, "test", NULL, rest_opts, dummy_run, 0 };

static bool parse(const struct hvsh_cmd_def *c, struct hvsh_args *a, GError **err, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, err);
    char *s;
    while ((s = va_arg(ap, char *)) && argc < 32)
        argv[argc++] = s;
    va_end(ap);
    return hvsh_args_parse(c, argc, argv, a, err);
}

static void test_parser(void)
{
    struct hvsh_args a;
    GError *err = NULL;

    TAP_CHECK(parse(&cmd, &a, &err, "d1", "512M", NULL), "two positionals");
    TAP_EQ_STR(hvsh_arg_str(&a, "domain"), "d1", "first positional is the domain");
    TAP_EQ_STR(hvsh_arg_str(&a, "size"), "512M", "second positional is the size");
    TAP_CHECK(!hvsh_arg_bool(&a, "all"), "bool absent");
    TAP_EQ_U64(hvsh_arg_list(&a, "disk")->len, 0, "list absent is empty");
    hvsh_args_clear(&a);

    TAP_CHECK(parse(&cmd, &a, &err, "--size", "1G", "--domain=d2", "--all", NULL), "named forms");
    TAP_EQ_STR(hvsh_arg_str(&a, "domain"), "d2", "--domain=VALUE");
    TAP_EQ_STR(hvsh_arg_str(&a, "size"), "1G", "--size VALUE");
    TAP_CHECK(hvsh_arg_bool(&a, "all"), "--all set");
    hvsh_args_clear(&a);

    TAP_CHECK(parse(&cmd, &a, &err, "--size", "7", "d3", NULL), "named then positional fills the next free");
    TAP_EQ_STR(hvsh_arg_str(&a, "domain"), "d3", "positional went to domain");
    hvsh_args_clear(&a);

    TAP_CHECK(parse(&cmd, &a, &err, "d1", "--disk", "a", "--disk=b", "--disk", "c", NULL), "repeated list");
    const GPtrArray *disks = hvsh_arg_list(&a, "disk");
    TAP_EQ_U64(disks->len, 3, "three disks");
    TAP_CHECK(disks->len == 3 && !strcmp(g_ptr_array_index(disks, 2), "c"), "in order");
    hvsh_args_clear(&a);

    TAP_CHECK(parse(&cmd, &a, &err, "d1", "--balloon", NULL), "optional value absent");
    TAP_CHECK(hvsh_arg_present(&a, "balloon") && hvsh_arg_str(&a, "balloon") == NULL,
              "--balloon present without value");
    hvsh_args_clear(&a);
    TAP_CHECK(parse(&cmd, &a, &err, "--balloon=10", "d1", NULL), "optional value given");
    TAP_EQ_STR(hvsh_arg_str(&a, "balloon"), "10", "--balloon=10");
    TAP_EQ_STR(hvsh_arg_str(&a, "domain"), "d1", "--balloon does not eat the next word");
    hvsh_args_clear(&a);

    TAP_CHECK(parse(&cmd, &a, &err, "--", "--weird-name", NULL), "-- ends options");
    TAP_EQ_STR(hvsh_arg_str(&a, "domain"), "--weird-name", "word after -- is positional");
    hvsh_args_clear(&a);

    TAP_CHECK(!parse(&cmd, &a, &err, NULL), "missing required option fails");
    TAP_CHECK(err && strstr(err->message, "requires <domain> option"), "virsh's wording: %s",
              err ? err->message : "");
    g_clear_error(&err);
    hvsh_args_clear(&a);

    TAP_CHECK(!parse(&cmd, &a, &err, "d1", "--nosuch", NULL), "unknown option fails");
    TAP_CHECK(err && strstr(err->message, "doesn't support option --nosuch"), "names the option: %s",
              err ? err->message : "");
    g_clear_error(&err);
    hvsh_args_clear(&a);

    TAP_CHECK(!parse(&cmd, &a, &err, "d1", "2", "3", NULL), "extra positional fails");
    TAP_CHECK(err && strstr(err->message, "unexpected data '3'"), "names the word");
    g_clear_error(&err);
    hvsh_args_clear(&a);

    TAP_CHECK(!parse(&cmd, &a, &err, "d1", "--size", NULL), "value missing at the end fails");
    g_clear_error(&err);
    hvsh_args_clear(&a);
    TAP_CHECK(!parse(&cmd, &a, &err, "d1", "--all=yes", NULL), "bool with a value fails");
    g_clear_error(&err);
    hvsh_args_clear(&a);

    TAP_CHECK(parse(&cmd, &a, &err, "--help", NULL), "--help parses even without required options");
    TAP_CHECK(a.help, "help flag set");
    hvsh_args_clear(&a);

    TAP_CHECK(parse(&rest_cmd, &a, &err, "g1", "--hmp", "info", "balloon", NULL), "positional list");
    const GPtrArray *words = hvsh_arg_list(&a, "cmd");
    TAP_EQ_U64(words->len, 2, "rest of the words collected");
    TAP_CHECK(hvsh_arg_bool(&a, "hmp"), "option between positionals");
    hvsh_args_clear(&a);

    unsigned long long n = 99;
    TAP_CHECK(parse(&cmd, &a, &err, "d1", "--size", "12", NULL), "uint parse input");
    TAP_CHECK(hvsh_arg_uint(&a, "size", 100, &n, &err) && n == 12, "uint 12");
    hvsh_args_clear(&a);
    parse(&cmd, &a, &err, "d1", "--size", "-1", NULL);
    TAP_CHECK(!hvsh_arg_uint(&a, "size", 100, &n, &err), "negative refused");
    g_clear_error(&err);
    hvsh_args_clear(&a);
    parse(&cmd, &a, &err, "d1", "--size", "101", NULL);
    TAP_CHECK(!hvsh_arg_uint(&a, "size", 100, &n, &err), "over max refused");
    g_clear_error(&err);
    hvsh_args_clear(&a);

    char *help = hvsh_cmd_help(&cmd);
    TAP_CHECK(strstr(help, "SYNOPSIS\n    setmem [--domain] <domain> [[--size] <size>] [--all]"),
              "help synopsis in virsh's form");
    TAP_CHECK(strstr(help, "--balloon[=<balloon>]"), "optional value in help");
    g_free(help);
}

static void test_sizes(void)
{
    uint64_t kib = 0;
    GError *err = NULL;
    TAP_CHECK(hvsh_parse_size_kib("262144", 1024, &kib, &err) && kib == 262144, "plain number is KiB");
    TAP_CHECK(hvsh_parse_size_kib("512M", 1024, &kib, &err) && kib == 524288, "512M");
    TAP_CHECK(hvsh_parse_size_kib("1GiB", 1024, &kib, &err) && kib == 1048576, "1GiB");
    TAP_CHECK(hvsh_parse_size_kib("1G", 1024 * 1024, &kib, &err) && kib == 1048576, "1G with MiB default");
    TAP_CHECK(hvsh_parse_size_kib("512", 1024 * 1024, &kib, &err) && kib == 524288, "512 with MiB default");
    TAP_CHECK(hvsh_parse_size_kib("1000b", 1024, &kib, &err) && kib == 1, "bytes round up to 1 KiB");
    TAP_CHECK(hvsh_parse_size_kib("1MB", 1024, &kib, &err) && kib == 977, "1MB = 10^6 bytes, rounded up");
    TAP_CHECK(!hvsh_parse_size_kib("12X", 1024, &kib, &err), "unknown unit refused");
    TAP_CHECK(err && strstr(err->message, "invalid size '12X'"), "error names the text");
    g_clear_error(&err);
    TAP_CHECK(!hvsh_parse_size_kib("-5M", 1024, &kib, &err), "negative refused");
    g_clear_error(&err);
    TAP_CHECK(!hvsh_parse_size_kib("", 1024, &kib, &err), "empty refused");
    g_clear_error(&err);
    TAP_CHECK(!hvsh_parse_size_kib("99999999999999999999T", 1024, &kib, &err), "overflow refused");
    g_clear_error(&err);
}

static void test_specs(void)
{
    GError *err = NULL;
    struct hvsh_disk_spec d;
    TAP_CHECK(hvsh_disk_spec_parse("path=/x.img,readonly=on", &d, &err), "disk spec");
    TAP_EQ_STR(d.path, "/x.img", "disk path");
    TAP_CHECK(d.readonly, "disk readonly");
    g_free(d.path);
    TAP_CHECK(hvsh_disk_spec_parse("/y.img", &d, &err) && !d.readonly, "bare path");
    TAP_EQ_STR(d.path, "/y.img", "bare disk path");
    g_free(d.path);
    TAP_CHECK(!hvsh_disk_spec_parse("readonly=on", &d, &err), "disk without path refused");
    g_clear_error(&err);
    TAP_CHECK(!hvsh_disk_spec_parse("path=/x,readonly=maybe", &d, &err), "bad readonly refused");
    TAP_CHECK(err && strstr(err->message, "maybe"), "names the value");
    g_clear_error(&err);
    TAP_CHECK(!hvsh_disk_spec_parse("path=/x,cache=none", &d, &err), "unknown disk key refused");
    g_clear_error(&err);

    struct hvsh_nic_spec n;
    TAP_CHECK(hvsh_nic_spec_parse("model=virtio,bridge=br0,vhost=on,queues=4,mac=52:54:00:aa:bb:cc", &n, &err),
              "full nic spec");
    TAP_EQ_STR(n.model, "virtio", "nic model");
    TAP_EQ_STR(n.bridge, "br0", "nic bridge");
    TAP_CHECK(n.vhost == HVSH_VHOST_ON && n.queues == 4, "vhost on, 4 queues");
    TAP_EQ_STR(n.mac, "52:54:00:aa:bb:cc", "nic mac");
    g_free(n.model); g_free(n.bridge); g_free(n.ifname); g_free(n.mac);
    TAP_CHECK(hvsh_nic_spec_parse("ifname=tap7", &n, &err), "ifname only");
    TAP_EQ_STR(n.model, "virtio", "model defaults to virtio");
    TAP_CHECK(n.vhost == HVSH_VHOST_DEFAULT && n.queues == 0 && !n.bridge, "defaults");
    g_free(n.model); g_free(n.bridge); g_free(n.ifname); g_free(n.mac);
    TAP_CHECK(!hvsh_nic_spec_parse("model=rtl8139", &n, &err), "unknown model refused");
    g_clear_error(&err);
    TAP_CHECK(!hvsh_nic_spec_parse("model=e1000,vhost=on", &n, &err), "vhost on e1000 refused");
    TAP_CHECK(err && strstr(err->message, "need model=virtio"), "says why");
    g_clear_error(&err);
    TAP_CHECK(!hvsh_nic_spec_parse("queues=0", &n, &err), "queues 0 refused");
    g_clear_error(&err);
    TAP_CHECK(!hvsh_nic_spec_parse("queues=4x", &n, &err), "queues garbage refused");
    g_clear_error(&err);
    TAP_CHECK(!hvsh_nic_spec_parse("mac=52:54:00:aa:bb", &n, &err), "short mac refused");
    g_clear_error(&err);
    TAP_CHECK(!hvsh_nic_spec_parse("bridge", &n, &err), "key without value refused");
    g_clear_error(&err);

    unsigned dom, bus, slot, fn;
    TAP_CHECK(hvsh_pci_addr_parse("0000:02:10.1", &dom, &bus, &slot, &fn, &err) &&
                  dom == 0 && bus == 2 && slot == 0x10 && fn == 1, "DDDD:BB:SS.F");
    TAP_CHECK(hvsh_pci_addr_parse("0b:10.0", &dom, &bus, &slot, &fn, &err) && bus == 0xb && slot == 0x10,
              "BB:SS.F");
    TAP_CHECK(hvsh_pci_addr_parse("pci_0000_02_10_0", &dom, &bus, &slot, &fn, &err) && bus == 2 &&
                  slot == 0x10 && fn == 0, "node device name");
    TAP_CHECK(!hvsh_pci_addr_parse("0000:02:20.0", &dom, &bus, &slot, &fn, &err), "slot > 0x1f refused");
    g_clear_error(&err);
    TAP_CHECK(!hvsh_pci_addr_parse("0000:02:10.8", &dom, &bus, &slot, &fn, &err), "function > 7 refused");
    g_clear_error(&err);
    TAP_CHECK(!hvsh_pci_addr_parse("0000:02:10.0junk", &dom, &bus, &slot, &fn, &err), "trailing junk refused");
    g_clear_error(&err);
}

int main(void)
{
    test_parser();
    test_sizes();
    test_specs();
    return tap_done();
}
