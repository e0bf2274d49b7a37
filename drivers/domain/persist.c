/* Atomic config files: write temp, fsync, rename, fsync dir. */
#include "drivers/domain/persist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

static bool fsync_dir(const char *dir, GError **err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "cannot open directory '%s': %s",
                    dir, g_strerror(e));
        return false;
    }
    bool ok = fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok)
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "cannot fsync directory '%s': %s",
                    dir, g_strerror(e));
    return ok;
}

bool persist_write_atomic(const char *path, const char *contents, gsize len, GError **err)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    /* same directory (rename must not cross file systems); a leading dot
     * and a suffix other than .xml keep partial files out of loads */
    g_autofree char *tmp = g_strdup_printf("%s/.%s.tmp-XXXXXX", dir, base);
    int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "cannot create '%s': %s", tmp,
                    g_strerror(e));
        return false;
    }
    gsize done = 0;
    while (done < len) {
        ssize_t n = write(fd, contents + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "cannot write '%s': %s", tmp,
                        g_strerror(e));
            close(fd);
            unlink(tmp);
            return false;
        }
        done += (gsize)n;
    }
    if (fsync(fd) != 0) {
        int e = errno;
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "cannot fsync '%s': %s", tmp,
                    g_strerror(e));
        close(fd);
        unlink(tmp);
        return false;
    }
    if (close(fd) != 0) {
        int e = errno;
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "cannot close '%s': %s", tmp,
                    g_strerror(e));
        unlink(tmp);
        return false;
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "cannot rename '%s' to '%s': %s",
                    tmp, path, g_strerror(e));
        unlink(tmp);
        return false;
    }
    /* make the rename itself durable */
    return fsync_dir(dir, err);
}

bool persist_remove(const char *path, GError **err)
{
    if (unlink(path) != 0 && errno != ENOENT) {
        int e = errno;
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "cannot remove '%s': %s", path,
                    g_strerror(e));
        return false;
    }
    g_autofree char *dir = g_path_get_dirname(path);
    return fsync_dir(dir, err);
}

static gint compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void note_skipped(GPtrArray *skipped, const char *path, const char *why)
{
    log_warn("skipping config file %s: %s", path, why);
    if (skipped)
        g_ptr_array_add(skipped, g_strdup_printf("%s: %s", path, why));
}

GPtrArray *persist_load_dir(const char *dir, PersistParseFunc parse, gpointer user_data,
                            GDestroyNotify free_func, GPtrArray *skipped, GError **err)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(free_func);
    g_autoptr(GError) dir_err = NULL;
    g_autoptr(GDir) d = g_dir_open(dir, 0, &dir_err);
    if (!d) {
        if (g_error_matches(dir_err, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return out;
        g_propagate_error(err, g_steal_pointer(&dir_err));
        g_ptr_array_unref(out);
        return NULL;
    }
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;
    while ((name = g_dir_read_name(d)))
        if (name[0] != '.' && g_str_has_suffix(name, ".xml") && strlen(name) > 4)
            g_ptr_array_add(names, g_strdup(name));
    g_ptr_array_sort(names, compare_names);

    for (guint i = 0; i < names->len; i++) {
        g_autofree char *path = g_build_filename(dir, g_ptr_array_index(names, i), NULL);
        if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
            note_skipped(skipped, path, "not a regular file");
            continue;
        }
        g_autofree char *contents = NULL;
        g_autoptr(GError) e = NULL;
        if (!g_file_get_contents(path, &contents, NULL, &e)) {
            note_skipped(skipped, path, e->message);
            continue;
        }
        gpointer obj = parse(path, contents, user_data, &e);
        if (!obj) {
            note_skipped(skipped, path, e ? e->message : "parse failed");
            continue;
        }
        g_ptr_array_add(out, obj);
    }
    return out;
}
