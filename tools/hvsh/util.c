/* What every command group shares at run time: error printing in virsh's
 * form, action results (text or --json), connecting, domain lookup. */
#include "tools/hvsh/hvsh.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *last_error_message;
static int last_error_code;

void hvsh_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "error: %s\n", msg);
}

int hvsh_libvirt_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "error: %s\n", msg);
    if (last_error_message)
        fprintf(stderr, "error: %s\n", last_error_message);
    g_clear_pointer(&last_error_message, g_free);
    return HVSH_EXIT_ERROR;
}

/* libvirt prints every error to stderr by default; hvsh reports them
 * itself. The message is kept here because every public libvirt call
 * (even virDomainGetName for the context line) resets the last error. */
static void capture_error(void *opaque, virErrorPtr err)
{
    g_free(last_error_message);
    last_error_message = g_strdup(err && err->message ? err->message : NULL);
    last_error_code = err ? err->code : VIR_ERR_OK;
}

void hvsh_install_error_handler(void)
{
    virSetErrorFunc(NULL, capture_error);
}

int hvsh_last_error_code(void)
{
    return last_error_code;
}

void hvsh_done(struct hvsh_ctl *ctl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (ctl->json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "ok", json_object_new_boolean(1));
        json_object_object_add(o, "message", json_object_new_string(msg));
        g_autofree char *text = hvsh_json_pretty(o);
        json_object_put(o);
        fputs(text, stdout);
    } else {
        printf("%s\n", msg);
    }
}

virDomainPtr hvsh_lookup_domain(struct hvsh_ctl *ctl, const char *text)
{
    virDomainPtr dom = NULL;
    /* virsh's order: a number is an id, then a UUID, then a name */
    char *end;
    long id = strtol(text, &end, 10);
    if (*text && !*end && id >= 0 && id <= INT32_MAX)
        dom = virDomainLookupByID(ctl->conn, (int)id);
    if (!dom && strlen(text) == VIR_UUID_STRING_BUFLEN - 1)
        dom = virDomainLookupByUUIDString(ctl->conn, text);
    if (!dom)
        dom = virDomainLookupByName(ctl->conn, text);
    if (!dom)
        hvsh_libvirt_error("failed to get domain '%s'", text);
    return dom;
}

int hvsh_connect(struct hvsh_ctl *ctl)
{
    if (ctl->conn)
        return HVSH_EXIT_OK;
    /* The default event loop must exist before the connection opens so
     * that keepalive, events and streams work (libvirt's rule). */
    if (virEventRegisterDefaultImpl() < 0)
        return hvsh_libvirt_error("failed to initialize the event loop");
    ctl->conn = ctl->readonly ? virConnectOpenReadOnly(ctl->uri) : virConnectOpen(ctl->uri);
    if (!ctl->conn)
        return hvsh_libvirt_error("failed to connect to the hypervisor");
    return HVSH_EXIT_OK;
}
