// The stack map of BPFKit's stack tools and how they store stacks in it: one
// `stack_traces` map (its size set at load by --stack-storage-size) and `stack_id()`,
// which counts the stacks that could not be stored so the tool can report them.
// Include once, after bpf_helpers.h and stacks.h.
#ifndef BPFKIT_BPF_STACKS_H
#define BPFKIT_BPF_STACKS_H

#define EFAULT 14
#define EEXIST 17

// Stacks lost to a hash collision with a different stack (-EEXIST), or for another
// reason (-ENOMEM: the map is full). -EFAULT (no stack of that kind) is not a loss.
uint64_t stack_collisions = 0;
uint64_t stack_failures = 0;

struct {
    __uint(type, BPF_MAP_TYPE_STACK_TRACE);
    __uint(key_size, sizeof(uint32_t));
    __uint(value_size, MAX_STACK_DEPTH * sizeof(uint64_t));
    __uint(max_entries, 16384);  // --stack-storage-size
} stack_traces SEC(".maps");

static __always_inline int32_t stack_id(void *ctx, uint64_t flags) {
    long id = bpf_get_stackid(ctx, &stack_traces, flags);
    if (id == -EEXIST)
        __sync_fetch_and_add(&stack_collisions, 1);
    else if (id < 0 && id != -EFAULT)
        __sync_fetch_and_add(&stack_failures, 1);
    return (int32_t)id;
}

#endif
