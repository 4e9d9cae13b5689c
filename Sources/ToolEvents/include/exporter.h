// The exporter's kernel-side sums, shared by its BPF programs and Swift (bpfkit exporter).
#ifndef BPFKIT_EXPORTER_H
#define BPFKIT_EXPORTER_H
#include "tool_types.h"

#define EXPORTER_SLOTS 32
#define EXPORTER_SYSCALLS 512
#define EXPORTER_TCP_STATES 16

/// A latency histogram that only grows, as a Prometheus histogram needs: log2 slots of
/// microseconds in bcc's layout (slot 1 = 0..1 µs, slot s = [2^(s-1), 2^s) µs, the last
/// slot everything above), the exact sum in nanoseconds and the number of values.
struct exporter_histogram {
    uint64_t slots[EXPORTER_SLOTS];
    uint64_t sum_ns;
    uint64_t count;
};

/// Off-CPU time of one process (by its tgid) and the name of its main thread.
struct exporter_offcpu {
    uint64_t ns;
    char comm[16];
};

#endif
