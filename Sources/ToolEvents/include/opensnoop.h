// opensnoop's event, shared by opensnoop.bpf.c and Opensnoop.swift.
#ifndef BPFKIT_OPENSNOOP_H
#define BPFKIT_OPENSNOOP_H
#include "tool_types.h"

#define OPENSNOOP_PATH_MAX 256

/// One open(2)/openat(2)/openat2(2), sent when the call returns. `path` is NUL-terminated.
struct opensnoop_event {
    uint64_t timestamp_ns;  // CLOCK_MONOTONIC at the return
    uint32_t pid;
    uint32_t tid;
    uint32_t uid;
    int32_t ret;            // fd, or -errno
    int32_t flags;
    uint32_t pad;
    char comm[16];
    char path[OPENSNOOP_PATH_MAX];
};

#endif
