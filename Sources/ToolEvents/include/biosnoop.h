// biosnoop's event, shared by biosnoop.bpf.c and Biosnoop.swift.
#ifndef BPFKIT_BIOSNOOP_H
#define BPFKIT_BIOSNOOP_H
#include "tool_types.h"

/// One block I/O, sent when the device completes it.
struct biosnoop_event {
    uint64_t timestamp_ns;  // CLOCK_MONOTONIC at completion
    uint64_t latency_ns;    // issue to the device → completion
    uint64_t queued_ns;     // -Q: creation of the request → issue (0 when unknown)
    uint64_t sector;
    uint32_t bytes;
    uint32_t dev;           // the disk, major << 20 | first minor
    uint32_t pid;           // the process that submitted the I/O (0 when unknown)
    uint32_t cmd_flags;     // BTF path: operation and flags
    char rwbs[8];           // tracepoint path: the record's rwbs text
    char comm[16];          // "?" when the submitter is unknown
};

#endif
