// Keys of the stack-counting tools (profile, offcputime, wakeuptime, offwaketime,
// chaingraph), shared by their BPF programs and Swift.
#ifndef BPFKIT_STACKS_H
#define BPFKIT_STACKS_H
#include "tool_types.h"

#define MAX_STACK_DEPTH 127  // kernel.perf_event_max_stack's default
#define CHAIN_MAX_DEPTH 4    // chaingraph: the blocked task and up to three wakers

/// A value counted (samples) or summed (microseconds) in the kernel per (process, thread,
/// user stack, kernel stack). A negative stack id is the -errno bpf_get_stackid returned
/// (-EFAULT: no stack of that kind, as for a kernel thread's user stack; -EEXIST: a hash
/// collision in the stack map).
struct stack_key {
    uint32_t pid;
    uint32_t tid;
    int32_t user_stack_id;
    int32_t kernel_stack_id;
    char comm[16];
};

/// offwaketime: the blocked task's stacks joined with its waker's.
struct wake_key {
    struct stack_key target;
    struct stack_key waker;
};

/// chaingraph: the blocked task (level 0), its waker (1), the waker's waker (2), …
/// Levels past the chain's end have pid 0 and stack ids -EFAULT.
struct chain_key {
    struct stack_key levels[CHAIN_MAX_DEPTH];
};

#endif
