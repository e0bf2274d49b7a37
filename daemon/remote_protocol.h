/* Numbers of libvirt's remote protocol (libvirt 9.0 wire format), written by
 * hand from libvirt's remote_protocol.x and virnetprotocol.x: programs, message types, status,
 * size limits, the procedure numbers (daemon/remote_procs.def), error
 * numbers and error domains. The wire protocol is append-only, so these
 * never change. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

/* §2 Programs. */
#define RPC_PROG_REMOTE     0x20008086u
#define RPC_PROG_QEMU       0x20008087u
#define RPC_PROG_LXC        0x00068000u
#define RPC_PROG_KEEPALIVE  0x6b656570u /* "keep" */
#define RPC_PROG_VERSION    1u

/* §2 Message types. */
enum rpc_msg_type {
    RPC_TYPE_CALL = 0,
    RPC_TYPE_REPLY = 1,
    RPC_TYPE_MESSAGE = 2,
    RPC_TYPE_STREAM = 3,
    RPC_TYPE_CALL_WITH_FDS = 4,
    RPC_TYPE_REPLY_WITH_FDS = 5,
    RPC_TYPE_STREAM_HOLE = 6,
};

/* §2 Status. */
enum rpc_msg_status {
    RPC_STATUS_OK = 0,
    RPC_STATUS_ERROR = 1,
    RPC_STATUS_CONTINUE = 2,
};

/* §2 Size limits (9.0.0). The length word counts itself, so a frame is at
 * most RPC_MESSAGE_MAX + 4 bytes long and at least 4 + 24. */
#define RPC_LEN_WORD            4u
#define RPC_HEADER_LEN          24u
#define RPC_FRAME_MIN           (RPC_LEN_WORD + RPC_HEADER_LEN)
#define RPC_MESSAGE_MAX         33554432u
#define RPC_FRAME_MAX           (RPC_MESSAGE_MAX + RPC_LEN_WORD)
#define RPC_PAYLOAD_MAX         (RPC_MESSAGE_MAX - RPC_HEADER_LEN)
#define REMOTE_STRING_MAX       4194304u
#define REMOTE_DOMAIN_LIST_MAX  16384u
#define REMOTE_AUTH_TYPE_LIST_MAX 20u
#define REMOTE_NODE_MEMORY_STATS_MAX 16u
#define REMOTE_SECURITY_MODEL_MAX 257u
#define REMOTE_SECURITY_DOI_MAX 257u

/* §6 Keepalive program procedures. */
#define KEEPALIVE_PROC_PING 1
#define KEEPALIVE_PROC_PONG 2

/* §10 REMOTE procedures: every number of the table daemon/remote_procs.def
 * as REMOTE_PROC_<SYMBOL>. */
enum remote_proc {
#define REMOTE_PROC(number, symbol, api, access) REMOTE_PROC_##symbol = number,
#include "daemon/remote_procs.def"
#undef REMOTE_PROC
};

/* §5 CONNECT_SUPPORTS_FEATURE numbers (VIR_DRV_FEATURE_*). */
enum remote_feature {
    REMOTE_FEATURE_FD_PASSING = 8,
    REMOTE_FEATURE_TYPED_PARAM_STRING = 9,
    REMOTE_FEATURE_PROGRAM_KEEPALIVE = 10,
    REMOTE_FEATURE_REMOTE_EVENT_CALLBACK = 14,
    REMOTE_FEATURE_REMOTE_CLOSE_CALLBACK = 15,
};

/* §4 virErrorNumber values. */
enum vir_error_code {
    VIR_ERR_OK = 0,
    VIR_ERR_INTERNAL_ERROR = 1,
    VIR_ERR_NO_MEMORY = 2,
    VIR_ERR_NO_SUPPORT = 3,
    VIR_ERR_NO_CONNECT = 5,
    VIR_ERR_OPERATION_DENIED = 6,
    VIR_ERR_INVALID_DOMAIN = 7,
    VIR_ERR_INVALID_ARG = 8,
    VIR_ERR_OPERATION_FAILED = 9,
    VIR_ERR_XML_ERROR = 27,
    VIR_ERR_DOM_EXIST = 28,
    VIR_ERR_XML_DETAIL = 35,
    VIR_ERR_SYSTEM_ERROR = 38,
    VIR_ERR_RPC = 39,
    VIR_ERR_NO_DOMAIN = 42,
    VIR_ERR_NO_NODE_DEVICE = 53,
    VIR_ERR_OPERATION_INVALID = 55,
    VIR_ERR_CONFIG_UNSUPPORTED = 67,
    VIR_ERR_OPERATION_TIMEOUT = 68,
    VIR_ERR_ARGUMENT_UNSUPPORTED = 74,
    VIR_ERR_OPERATION_UNSUPPORTED = 84,
    VIR_ERR_RESOURCE_BUSY = 87,
    VIR_ERR_ACCESS_DENIED = 88,
};

/* §4 virErrorDomain values. */
enum vir_error_domain {
    VIR_FROM_NONE = 0,
    VIR_FROM_XML = 5,
    VIR_FROM_RPC = 7,
    VIR_FROM_QEMU = 10,
    VIR_FROM_REMOTE = 13,
    VIR_FROM_DOMAIN = 20,
    VIR_FROM_NODEDEV = 22,
};

/* §4 error levels. */
#define VIR_ERR_LEVEL_ERROR 2

/* Public API name of a procedure ("virDomainGetInfo"), NULL if unknown. */
const char *remote_proc_api_name(int proc);
const char *qemu_proc_api_name(int proc);
/* Whether libvirt allows the REMOTE procedure on a read-only connection
 * (daemon/remote_procs.def). Other programs' procedures never are. */
bool remote_proc_readonly_ok(int proc);
