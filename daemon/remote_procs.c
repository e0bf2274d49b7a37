/* The REMOTE program's procedure table (daemon/remote_procs.def): API names
 * for messages and the read-only rule, and the libvirt-qemu program's
 * names. See docs/rpc.md. */
#include "daemon/remote_protocol.h"

#include <stdbool.h>
#include <stddef.h>

static const struct {
    const char *api_name;
    bool readonly_ok;
} remote_procs[] = {
#define RO true
#define RW false
#define REMOTE_PROC(number, symbol, api, access) [number] = { api, access },
#include "daemon/remote_procs.def"
#undef REMOTE_PROC
#undef RO
#undef RW
};

const char *remote_proc_api_name(int proc)
{
    if (proc <= 0 || (size_t)proc >= sizeof(remote_procs) / sizeof(remote_procs[0]))
        return NULL;
    return remote_procs[proc].api_name;
}

bool remote_proc_readonly_ok(int proc)
{
    return remote_proc_api_name(proc) && remote_procs[proc].readonly_ok;
}

const char *qemu_proc_api_name(int proc)
{
    /* libvirt-qemu program (section 11 of the reference). */
    switch (proc) {
    case 1: return "virDomainQemuMonitorCommand";
    case 2: return "virDomainQemuAttach";
    case 3: return "virDomainQemuAgentCommand";
    case 4: return "virConnectDomainQemuMonitorEventRegister";
    case 5: return "virConnectDomainQemuMonitorEventDeregister";
    case 7: return "virDomainQemuMonitorCommandWithFiles";
    default: return NULL;
    }
}
