// memleak: outstanding allocations by address and their sums by stack, shared by the BPF
// program and Swift.
#ifndef BPFKIT_MEMLEAK_H
#define BPFKIT_MEMLEAK_H
#include "tool_types.h"

/// One allocation not freed yet, keyed by its address (a page frame number for pages).
struct alloc_info {
    uint64_t size;
    uint64_t timestamp_ns;  // CLOCK_MONOTONIC, from bpf_ktime_get_ns
    /// The allocating stack's id in `stack_traces`, or the -errno bpf_get_stackid returned,
    /// or (--unwind dwarf/auto) a pseudo stack id: see MEMLEAK_PSEUDO_FIRST.
    int32_t stack_id;
    uint32_t pid;
};

// --unwind dwarf/auto: an allocation whose user stack was copied (to be unwound in user
// space) is kept under a pseudo stack id of its own, MEMLEAK_PSEUDO_FIRST minus a sequence
// number below MEMLEAK_PSEUDO_SPAN — far from stack_traces' ids (0 up) and -errno values
// (-4095 up). The copy goes through the ring as an unwind_sample whose `value` is that id.
// Allocations whose copy was lost (the ring was full) share MEMLEAK_PSEUDO_LOST.
#define MEMLEAK_PSEUDO_LOST (-0x40000000)
#define MEMLEAK_PSEUDO_FIRST (-0x40000001)
#define MEMLEAK_PSEUDO_SPAN 0x3fffffff

/// The outstanding allocations of one stack, kept up to date in the kernel (--combined-only).
struct combined_alloc_info {
    uint64_t total_size;
    uint64_t number_of_allocs;
};

enum memleak_event_kind {
    MEMLEAK_ALLOC = 0,
    MEMLEAK_FREE = 1,
};

/// Which allocator a uprobe session fired in: the attach cookie of each function, which
/// tells the one session program where the size (and the address) are.
enum memleak_allocator {
    MEMLEAK_MALLOC = 0,
    MEMLEAK_CALLOC = 1,
    MEMLEAK_REALLOC = 2,
    MEMLEAK_MMAP = 3,
    MEMLEAK_POSIX_MEMALIGN = 4,
    MEMLEAK_ALIGNED_ALLOC = 5,
    MEMLEAK_VALLOC = 6,
    MEMLEAK_MEMALIGN = 7,
    MEMLEAK_PVALLOC = 8,
};

/// -t: one allocation (after the allocator returned) or one free of a tracked address.
struct memleak_event {
    uint64_t address;
    uint64_t size;
    uint32_t pid;
    uint32_t kind;  // enum memleak_event_kind
};

#endif
