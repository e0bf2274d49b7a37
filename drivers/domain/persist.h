/* Crash-safe config files.
 *
 * persist_write_atomic() writes "<dir>/.<name>.tmp-XXXXXX" in the target's
 * directory, fsyncs it, renames it over the target and fsyncs the
 * directory: after a crash at any point the target is either the old file
 * or the complete new one. Leftover temp files start with '.' and do not
 * end in ".xml", so persist_load_dir() never mistakes them for configs.
 *
 * Built into drivers/conf/libconf.a (drivers/conf/conf.mk). */
#pragma once
#include <glib.h>
#include <stdbool.h>

bool persist_write_atomic(const char *path, const char *contents, gsize len, GError **err);

/* Unlink a config file and fsync its directory. A missing file is fine. */
bool persist_remove(const char *path, GError **err);

/* Parse one file's contents; return the object or NULL with *err set. */
typedef gpointer (*PersistParseFunc)(const char *path, const char *contents, gpointer user_data,
                                     GError **err);

/* Load every "*.xml" regular file of dir (sorted by name; hidden files and
 * anything else skipped) through parse. Files that cannot be read or parsed
 * are skipped and logged (common/log.h), and, when `skipped` is non-NULL,
 * their "path: reason" strings are appended to it. Returns the parsed
 * objects (freed with free_func), or NULL with *err set if dir itself cannot
 * be read. A missing dir gives an empty array. */
GPtrArray *persist_load_dir(const char *dir, PersistParseFunc parse, gpointer user_data,
                            GDestroyNotify free_func, GPtrArray *skipped, GError **err);
