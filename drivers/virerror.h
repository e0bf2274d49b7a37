/* libvirt-shaped errors carried in a GError.
 *
 * The daemon reports failures to stock clients as remote_error
 * {code, domain, message} (remote_error in libvirt's virnetprotocol.x). Code below the RPC layer
 * raises a GError in the HVD_VIR_ERROR domain whose `code` packs both
 * libvirt numbers: virErrorDomain * 1000 + virErrorNumber. The RPC layer
 * unpacks them with hvd_vir_error_number()/hvd_vir_error_from() and sends
 * err->message verbatim: it already carries libvirt's class prefix
 * ("XML error: ", "unsupported configuration: ", ...), because virsh prints
 * the message as is.
 *
 * The numeric values are libvirt's own, taken from <libvirt/virterror.h>
 * (libvirt-dev is a build dependency), so they cannot drift. Header only:
 * anyone can include it without linking anything of ours. */
#pragma once
#include <glib.h>
#include <libvirt/virterror.h>
#include <stdarg.h>

#define HVD_VIR_ERROR (hvd_vir_error_quark())
#define HVD_VIR_ERROR_PACK(from, number) ((int)(from) * 1000 + (int)(number))

static inline GQuark hvd_vir_error_quark(void)
{
    return g_quark_from_static_string("hvd-vir-error-quark");
}

/* virErrorNumber of a GError; errors from other GError domains count as
 * internal errors. */
static inline int hvd_vir_error_number(const GError *err)
{
    if (!err || err->domain != HVD_VIR_ERROR || err->code < 0)
        return VIR_ERR_INTERNAL_ERROR;
    return err->code % 1000;
}

/* virErrorDomain of a GError (VIR_FROM_NONE for foreign GErrors). */
static inline int hvd_vir_error_from(const GError *err)
{
    if (!err || err->domain != HVD_VIR_ERROR || err->code < 0)
        return VIR_FROM_NONE;
    return err->code / 1000;
}

/* The text libvirt puts before the detail for a given error number
 * (virerror.c's per-number templates, as seen on the wire in
 * traces/36-qemu-errors.txt). "" for numbers whose template is bare "%s". */
static inline const char *hvd_vir_error_prefix(int number)
{
    switch (number) {
    case VIR_ERR_INTERNAL_ERROR: return "internal error: ";
    case VIR_ERR_NO_SUPPORT: return "this function is not supported by the connection driver: ";
    case VIR_ERR_INVALID_ARG: return "invalid argument: ";
    case VIR_ERR_OPERATION_FAILED: return "operation failed: ";
    case VIR_ERR_NO_NAME: return "missing name information in ";
    case VIR_ERR_NO_TARGET: return "missing target information for device ";
    case VIR_ERR_XML_ERROR: return "XML error: ";
    case VIR_ERR_DOM_EXIST: return "operation failed: ";
    case VIR_ERR_NO_DOMAIN: return "Domain not found: ";
    case VIR_ERR_OPERATION_INVALID: return "Requested operation is not valid: ";
    case VIR_ERR_CONFIG_UNSUPPORTED: return "unsupported configuration: ";
    case VIR_ERR_ARGUMENT_UNSUPPORTED: return "argument unsupported: ";
    case VIR_ERR_OVERFLOW: return "value too large: ";
    case VIR_ERR_OPERATION_UNSUPPORTED: return "Operation not supported: ";
    case VIR_ERR_XML_INVALID_SCHEMA: return "XML document failed to validate against schema: ";
    case VIR_ERR_DEVICE_MISSING: return "device not found: ";
    default: return "";
    }
}

/* Set *err (if err is non-NULL) to a libvirt-shaped error: the message is
 * the class prefix for `number` followed by the formatted detail. */
static inline void hvd_vir_error_set(GError **err, int from, int number, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
static inline void hvd_vir_error_set(GError **err, int from, int number, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *detail = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(err, HVD_VIR_ERROR, HVD_VIR_ERROR_PACK(from, number), "%s%s",
                hvd_vir_error_prefix(number), detail);
}
