// User stacks unwound in user space: what a stack tool's BPF program sends through its
// ring buffer when it copies the user stack instead of (or beside) walking frame pointers.
// Shared by the BPF programs (bpfkit_unwind.h) and Swift (UserStackCollector).
#ifndef BPFKIT_UNWIND_H
#define BPFKIT_UNWIND_H
#include "tool_types.h"
#include "stacks.h"

#define UNWIND_MAX_STACK_BYTES 65536      // the largest copy (perf's limit is 65528)
#define UNWIND_DEFAULT_STACK_BYTES 16384

// unwind_mode: how the program takes user stacks.
#define UNWIND_FP 0     // bpf_get_stackid (frame pointers, in the kernel)
#define UNWIND_DWARF 1  // registers and a stack copy for every sample
#define UNWIND_AUTO 2   // a copy unless user space marked the process UNWIND_PID_FP

// unwind_pids values: user space's verdict on a process in auto mode.
#define UNWIND_PID_FP 1
#define UNWIND_PID_DWARF 2

// Record kinds in the ring.
#define UNWIND_RECORD_SAMPLE 1  // struct unwind_sample, then stack_size bytes of stack
#define UNWIND_RECORD_FINISH 2  // struct unwind_finish

// A stack_key's user_stack_id when the user stack went to user space as an unwind_sample
// (-ENODATA): the finish record's chain says which levels to take from those samples.
#define UNWIND_COPIED (-61)

/// A user stack to unwind: the task, its user registers at the sample (from the pt_regs the
/// kernel saved when it entered from user space), its kernel stack id (the usual stack map),
/// a value (1 per profile sample), and `stack_size` bytes copied from `sp` upward.
struct unwind_sample {
    uint32_t kind;
    uint32_t pid;
    uint32_t tid;
    int32_t kernel_stack_id;
    uint64_t ip;
    uint64_t sp;
    uint64_t bp;
    uint64_t value;
    uint32_t stack_size;
    uint32_t requested;  // the bytes asked for: stack_size < requested means the stack's top was reached
    char comm[16];
    // The off-CPU tools: the sample belongs to the chain of thread `join_tid` (the sleeper
    // itself, or the thread a waker woke) at level `level` (0 the sleeper, 1 its waker).
    uint32_t join_tid;
    uint32_t level;
};

/// The off-CPU tools: thread `tid`'s sleep ended after `value` microseconds; its chain's
/// levels whose user_stack_id is UNWIND_COPIED come from the samples sent for (tid, level).
struct unwind_finish {
    uint32_t kind;
    uint32_t tid;
    uint64_t value;
    struct chain_key chain;
};

#endif
