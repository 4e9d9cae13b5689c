// fsslower's and fileslower's event, shared by fsslower.bpf.c and the Swift tools.
#ifndef BPFKIT_FSSLOWER_H
#define BPFKIT_FSSLOWER_H
#include "tool_types.h"

#define FSSLOWER_NAME_LEN 256  // a file name (one path component) with its NUL
#define FSDIST_SLOTS 32         // fsdist's log2 latency slots per operation

enum fsslower_op {
    FSSLOWER_READ = 0,
    FSSLOWER_WRITE = 1,
    FSSLOWER_OPEN = 2,
    FSSLOWER_FSYNC = 3,
};

/// One operation slower than the threshold, sent when it returns.
struct fsslower_event {
    uint64_t timestamp_ns;  // CLOCK_MONOTONIC at the return
    uint64_t latency_ns;
    int64_t bytes;          // a read's or write's result (-errno on failure); 0 for open and fsync
    int64_t offset;         // the file offset a read or write started at, in bytes
    uint32_t pid;
    uint32_t tid;
    uint32_t op;            // enum fsslower_op
    uint32_t pad;
    char comm[16];
    char file[FSSLOWER_NAME_LEN];  // the file's name (its dentry's, as bcc prints it)
};

#endif
