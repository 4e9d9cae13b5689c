// Stack capture both ways: bpf_get_stackid into a stack map (with fast compare and reuse)
// and bpf_get_stack straight into a ring buffer event.
#include "vmlinux.h"
#include "bpf_helpers.h"

#define DEPTH 32

const volatile uint32_t target_tid = 0;

struct stack_event {
    int64_t user_bytes;    // bpf_get_stack's result: bytes written, or -errno
    int64_t kernel_bytes;
    int32_t user_stack_id; // bpf_get_stackid's result
    int32_t kernel_stack_id;
    uint64_t user[DEPTH];
    uint64_t kernel[DEPTH];
};

struct {
    __uint(type, BPF_MAP_TYPE_STACK_TRACE);
    __uint(key_size, sizeof(uint32_t));
    __uint(value_size, DEPTH * sizeof(uint64_t));
    __uint(max_entries, 64);
} stack_traces SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 64 * 1024);
} events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int capture(void *ctx) {
    if ((uint32_t)bpf_get_current_pid_tgid() != target_tid)
        return 0;
    struct stack_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event)
        return 0;
    event->user_bytes = bpf_get_stack(ctx, event->user, sizeof(event->user), BPF_F_USER_STACK);
    event->kernel_bytes = bpf_get_stack(ctx, event->kernel, sizeof(event->kernel), 0);
    event->user_stack_id = bpf_get_stackid(ctx, &stack_traces, BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP | BPF_F_REUSE_STACKID);
    event->kernel_stack_id = bpf_get_stackid(ctx, &stack_traces, BPF_F_FAST_STACK_CMP | BPF_F_REUSE_STACKID);
    bpf_ringbuf_submit(event, 0);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
