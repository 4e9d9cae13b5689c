// biolatency's histogram key, shared by biolatency.bpf.c and Biolatency.swift.
#ifndef BPFKIT_BIOLATENCY_H
#define BPFKIT_BIOLATENCY_H
#include "tool_types.h"

/// One histogram bucket. Fields the options do not ask for stay 0, so without -D and -F
/// there is one histogram.
struct biolatency_key {
    uint32_t dev;        // -D: the disk, major << 20 | first minor (the kernel's dev_t)
    uint32_t cmd_flags;  // -F on the BTF path: the request's operation and flags
    uint64_t rwbs;       // -F on the tracepoint path: the record's rwbs text ("WS", "RA"…)
    uint32_t slot;       // log2 slot of the latency in µs (ms with -m)
    uint32_t pad;
};

#endif
