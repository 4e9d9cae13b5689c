// execsnoop's event, shared by execsnoop.bpf.c and Execsnoop.swift.
#ifndef BPFKIT_EXECSNOOP_H
#define BPFKIT_EXECSNOOP_H
#include "tool_types.h"

#define EXECSNOOP_ARG_SIZE 128          // bytes kept of each argument, with its NUL
#define EXECSNOOP_TOTAL_MAX_ARGS 60     // the most arguments --max-args may ask for
#define EXECSNOOP_DEFAULT_MAX_ARGS 20
#define EXECSNOOP_ARGS_BYTES (EXECSNOOP_ARG_SIZE * EXECSNOOP_TOTAL_MAX_ARGS)

/// One exec, sent when execve returns. `args_size` bytes of NUL-separated arguments
/// follow the struct in the ring buffer record.
struct execsnoop_event {
    uint64_t timestamp_ns;  // CLOCK_MONOTONIC (bpf_ktime_get_ns) at the return
    uint32_t pid;
    uint32_t ppid;
    uint32_t uid;
    int32_t retval;
    uint32_t args_count;    // arguments captured
    uint32_t args_size;     // bytes of argument text that follow
    uint8_t args_truncated; // more arguments than --max-args, or an argument cut short
    uint8_t pad[7];
    char comm[16];
};

#endif
