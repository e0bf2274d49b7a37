/* Atomic config files and loading a config directory. */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drivers/conf/domain_conf.h"
#include "drivers/domain/persist.h"
#include "tests/tap.h"

static gpointer parse_domain(const char *path, const char *contents, gpointer user, GError **err)
{
    return domain_def_parse_string(contents, 0, err);
}

static void write_raw(const char *dir, const char *name, const char *text)
{
    g_autofree char *p = g_build_filename(dir, name, NULL);
    g_file_set_contents(p, text, -1, NULL);
}

int main(void)
{
    if (!g_getenv("HVD_SCHEMA_DIR")) {
        const char *top = g_getenv("top_srcdir");
        g_autofree char *dir = g_build_filename(top ? top : ".", "schemas", NULL);
        g_setenv("HVD_SCHEMA_DIR", dir, TRUE);
    }
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_dir_make_tmp("hvd-persist-XXXXXX", &err);
    TAP_CHECK(dir != NULL, "temp dir");
    if (!dir)
        return tap_done();

    /* missing directory: empty, no error */
    g_autofree char *missing = g_build_filename(dir, "nope", NULL);
    g_autoptr(GPtrArray) none = persist_load_dir(missing, parse_domain, NULL,
                                                 (GDestroyNotify)domain_def_free, NULL, &err);
    TAP_CHECK(none && none->len == 0, "missing dir loads as empty");

    /* atomic write, then overwrite */
    g_autofree char *a = g_build_filename(dir, "alpha.xml", NULL);
    const char *alpha = "<domain type='kvm'><name>alpha</name><memory>65536</memory>"
                        "<os><type>hvm</type></os></domain>\n";
    TAP_CHECK(persist_write_atomic(a, alpha, strlen(alpha), &err), "write alpha");
    g_autoptr(DomainDef) def = domain_def_parse_string(alpha, 0, NULL);
    g_autofree char *formatted = domain_def_format(def, NULL);
    TAP_CHECK(persist_write_atomic(a, formatted, strlen(formatted), &err), "overwrite alpha");
    g_autofree char *back = NULL;
    g_file_get_contents(a, &back, NULL, NULL);
    TAP_EQ_STR(back, formatted, "file holds the new contents");
    struct stat st;
    TAP_CHECK(stat(a, &st) == 0 && (st.st_mode & 0777) == 0600, "config file mode 0600");

    /* no temp file left behind */
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    int entries = 0;
    for (const char *n; d && (n = g_dir_read_name(d));)
        entries++;
    TAP_EQ_U64(entries, 1, "only alpha.xml in the directory");

    /* a crash between write and rename leaves a partial temp file: it must
     * never load as a config */
    write_raw(dir, ".beta.xml.tmp-AbC123", "<domain type='kvm'><name>beta</na");
    write_raw(dir, ".hidden.xml", "<domain type='kvm'><name>hidden</name><memory>1</memory>"
                                  "<os><type>hvm</type></os></domain>");
    /* broken and unsupported configs are skipped and reported */
    write_raw(dir, "broken.xml", "<domain type='kvm'><name>broken</name>");
    write_raw(dir, "qemu.xml", "<domain type='qemu'><name>q</name><memory>1</memory>"
                               "<os><type>hvm</type></os></domain>");
    write_raw(dir, "notes.txt", "not a config");
    g_autofree char *sub = g_build_filename(dir, "dir.xml", NULL);
    mkdir(sub, 0700);
    write_raw(dir, "gamma.xml", "<domain type='kvm'><name>gamma</name><memory unit='MiB'>32</memory>"
                                "<os><type>hvm</type></os></domain>");

    g_autoptr(GPtrArray) skipped = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) defs = persist_load_dir(dir, parse_domain, NULL,
                                                 (GDestroyNotify)domain_def_free, skipped, &err);
    TAP_CHECK(defs != NULL, "load dir");
    TAP_EQ_U64(defs ? defs->len : 0, 2, "two good configs loaded");
    if (defs && defs->len == 2) {
        TAP_EQ_STR(((DomainDef *)g_ptr_array_index(defs, 0))->name, "alpha", "alpha first (sorted)");
        TAP_EQ_STR(((DomainDef *)g_ptr_array_index(defs, 1))->name, "gamma", "gamma second");
        TAP_CHECK(domain_def_equal(def, g_ptr_array_index(defs, 0)), "alpha reloads equal");
    }
    TAP_EQ_U64(skipped->len, 3, "three files reported as skipped");
    bool saw_broken = false, saw_qemu = false, saw_dir = false;
    for (guint i = 0; i < skipped->len; i++) {
        const char *s = g_ptr_array_index(skipped, i);
        printf("# skipped: %s\n", s);
        saw_broken |= strstr(s, "broken.xml: (domain_definition):1:") != NULL;
        saw_qemu |= strstr(s, "qemu.xml: unsupported configuration: domain type 'qemu'") != NULL;
        saw_dir |= strstr(s, "dir.xml: not a regular file") != NULL;
    }
    TAP_CHECK(saw_broken, "broken.xml reported with the parser's message");
    TAP_CHECK(saw_qemu, "qemu.xml reported as unsupported");
    TAP_CHECK(saw_dir, "directory named .xml reported");

    /* remove */
    TAP_CHECK(persist_remove(a, &err) && !g_file_test(a, G_FILE_TEST_EXISTS), "remove alpha");
    TAP_CHECK(persist_remove(a, &err), "removing a missing file is fine");

    /* write into a directory that does not exist fails cleanly */
    g_autofree char *bad = g_build_filename(missing, "x.xml", NULL);
    g_clear_error(&err);
    TAP_CHECK(!persist_write_atomic(bad, "x", 1, &err) && err, "write into missing dir fails");

    /* clean up */
    g_autoptr(GDir) d2 = g_dir_open(dir, 0, NULL);
    for (const char *n; d2 && (n = g_dir_read_name(d2));) {
        g_autofree char *p = g_build_filename(dir, n, NULL);
        if (g_file_test(p, G_FILE_TEST_IS_DIR))
            rmdir(p);
        else
            unlink(p);
    }
    rmdir(dir);
    return tap_done();
}
