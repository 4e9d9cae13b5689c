// bitesize's histogram key, shared by bitesize.bpf.c and Bitesize.swift.
#ifndef BPFKIT_BITESIZE_H
#define BPFKIT_BITESIZE_H
#include "tool_types.h"

/// One bucket: the process that issued the I/O, and the log2 slot of its size in KiB.
struct bitesize_key {
    char comm[16];
    uint32_t slot;
    uint32_t pad;
};

#endif
