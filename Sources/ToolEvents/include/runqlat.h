// runqlat's and runqlen's histograms, shared by their BPF programs and Swift.
#ifndef BPFKIT_RUNQLAT_H
#define BPFKIT_RUNQLAT_H
#include "tool_types.h"

#define RUNQ_SLOTS 32

/// Power-of-two slots (slot 0 = 0, slot i = [2^(i-1), 2^i - 1]), per process, thread,
/// PID namespace or CPU (the key), with the name of the task that last added to it.
struct runq_histogram {
    uint32_t slots[RUNQ_SLOTS];
    char comm[16];
};

#endif
