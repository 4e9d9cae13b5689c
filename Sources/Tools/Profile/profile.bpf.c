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

// --cpi: hardware cycles (the `counts` map) and instructions (`instruction_counts`) are
// each summed by stack, a sample adding the events since the last (its sample_period).
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 40960);
    __type(key, struct stack_key);
    __type(value, uint64_t);
} instruction_counts SEC(".maps");

const volatile bool count_periods = false;

// The perf_event program's context (UAPI bpf_perf_event_data).
struct bpf_perf_event_data {
    struct pt_regs regs;
    uint64_t sample_period;
    uint64_t addr;
};

static __always_inline int sample(struct bpf_perf_event_data *ctx, void *totals) {
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

    uint64_t value = count_periods ? ctx->sample_period : 1;
    uint64_t *count = bpf_map_lookup_elem(totals, &key);
    if (count)
        __sync_fetch_and_add(count, value);
    else
        bpf_map_update_elem(totals, &key, &value, BPF_NOEXIST);
    return 0;
}

SEC("perf_event")
int profile_sample(struct bpf_perf_event_data *ctx) { return sample(ctx, &counts); }

SEC("perf_event")
int profile_instructions(struct bpf_perf_event_data *ctx) { return sample(ctx, &instruction_counts); }

char LICENSE[] SEC("license") = "GPL";
