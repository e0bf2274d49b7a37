/* The daemon's end of a running domain's serial console.
 *
 * The worker listens on a unix socket for its serial port (hv's serial
 * type "unix": one client at a time, output kept in a ring while nobody is
 * connected, hv/devices/chardev.h). hvd stays connected to it for the
 * domain's whole life, appends everything the guest prints to
 * log/NAME.console.log, and forwards it to at most one attached client
 * (virsh console through a stream); the client's keystrokes go to the
 * guest. A restarted daemon reconnects and carries on: nothing the guest
 * printed meanwhile is lost unless it overflowed the worker's ring.
 *
 * Flow control: when the attached client cannot take more (output returns
 * false), reading from the worker pauses until hvd_console_resume_output();
 * the worker's ring absorbs the difference. Input the worker's socket does
 * not take at once is reported back (hvd_console_input returns less) and
 * ops->input_ready says when to try again. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _HvdConsole HvdConsole;

typedef struct {
    /* Guest output. Return false to pause output until
     * hvd_console_resume_output(). */
    bool (*output)(gpointer data, const uint8_t *buf, size_t len);
    /* The worker's socket takes input again after a short write. */
    void (*input_ready)(gpointer data);
    /* The session is over: the console closed (the domain stopped) or
     * another client took it over (force). No more calls follow. `reason`
     * says which, for the client's error. */
    void (*hangup)(gpointer data, bool taken_over);
} HvdConsoleClientOps;

/* Start connecting to socket_path (retried for up to connect_timeout_ms
 * while the worker has not created it yet) and appending to log_path. */
HvdConsole *hvd_console_new(const char *name, const char *socket_path, const char *log_path,
                            int connect_timeout_ms);
/* Close; an attached client gets hangup(false). */
void hvd_console_free(HvdConsole *con);

bool hvd_console_is_connected(const HvdConsole *con);
bool hvd_console_has_client(const HvdConsole *con);

/* Attach a client. A second client is refused with libvirt's
 * VIR_ERR_OPERATION_FAILED "Active console session exists for this
 * domain" unless force, which hangs up the current one (taken_over). */
bool hvd_console_attach(HvdConsole *con, bool force, const HvdConsoleClientOps *ops,
                        gpointer data, GError **err);
/* The client with this data went away (no hangup call). */
void hvd_console_detach(HvdConsole *con, gpointer data);
/* Keystrokes to the guest; returns how many bytes the socket took now. */
size_t hvd_console_input(HvdConsole *con, const uint8_t *buf, size_t len);
void hvd_console_resume_output(HvdConsole *con);
