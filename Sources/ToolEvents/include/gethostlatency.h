// gethostlatency's event, shared by gethostlatency.bpf.c and Gethostlatency.swift.
#ifndef BPFKIT_GETHOSTLATENCY_H
#define BPFKIT_GETHOSTLATENCY_H
#include "tool_types.h"

#define GETHOSTLATENCY_HOST_SIZE 80

/// One name lookup (getaddrinfo, gethostbyname, gethostbyname2), sent when it returns.
struct gethostlatency_event {
    uint64_t start_ns;      // CLOCK_MONOTONIC at the call
    uint64_t latency_ns;
    uint32_t pid;
    uint32_t tid;
    char comm[16];
    char host[GETHOSTLATENCY_HOST_SIZE];  // the name asked for, NUL-terminated
};

#endif
