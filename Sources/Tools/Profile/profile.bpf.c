// profile: sample stacks on every CPU at a fixed frequency (a perf_event program on the
// cpu-clock software event) and count them in the kernel by (pid, tid, stacks).
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "stacks.h"
#include "bpfkit_stacks.h"
#include "bpfkit_events.h"
#include "bpfkit_unwind.h"


const volatile uint32_t target_pid = 0;  // 0 = every process
const volatile uint32_t target_tid = 0;
const volatile bool user_stacks_only = false;
const volatile bool kernel_stacks_only = false;
const volatile bool include_idle = false;

uint64_t samples = 0;

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 40960);
    __type(key, struct stack_key);
    __type(value, uint64_t);
} counts SEC(".maps");

SEC("perf_event")
int profile_sample(void *ctx) {
    uint64_t id = bpf_get_current_pid_tgid();
    uint32_t pid = id >> 32;
    uint32_t tid = (uint32_t)id;
    if (!include_idle && tid == 0)
        return 0;
    if (target_pid && pid != target_pid)
        return 0;
    if (target_tid && tid != target_tid)
        return 0;

    struct stack_key key = {.pid = pid, .tid = tid};
    bpf_get_current_comm(key.comm, sizeof(key.comm));
    key.kernel_stack_id = user_stacks_only ? -EFAULT : stack_id(ctx, 0);
    __sync_fetch_and_add(&samples, 1);
    // --unwind dwarf/auto: the user stack goes to user space to be unwound there.
    if (!kernel_stacks_only && copies_user_stack(pid)) {
        if (send_user_stack(pid, tid, key.comm, key.kernel_stack_id, 1, tid, 0) <= 0)
            return 0;
    }
    key.user_stack_id = kernel_stacks_only ? -EFAULT : stack_id(ctx, BPF_F_USER_STACK);

    uint64_t one = 1;
    uint64_t *count = bpf_map_lookup_elem(&counts, &key);
    if (count)
        __sync_fetch_and_add(count, 1);
    else
        bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
