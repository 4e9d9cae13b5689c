// Off-CPU time by stack, and the wakeup chains behind it: one program for offcputime
// (depth 1), wakeuptime and offwaketime (depth 2) and chaingraph (depth 2-4).
//
// At sched_switch the task going off CPU is still current, so its stacks are taken then;
// when it runs again (the next sched_switch naming it as next) the time it spent off CPU
// is summed under those stacks. At sched_waking the waker is current: its stacks, and the
// chain that woke it in turn, are joined to the sleeper's. Everything is summed in the
// kernel; user space reads the sums once.
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpfkit_sched.h"
#include "stacks.h"
#include "bpfkit_stacks.h"
#include "bpfkit_events.h"
#include "bpfkit_unwind.h"


const volatile uint32_t target_pid = 0;  // 0 = every process
const volatile uint32_t target_tid = 0;
const volatile bool user_threads_only = false;
const volatile bool kernel_threads_only = false;
const volatile bool user_stacks_only = false;
const volatile bool kernel_stacks_only = false;
const volatile int64_t target_state = -1;  // -1 = any state
const volatile uint64_t min_us = 1;
const volatile uint64_t max_us = ~0ULL;
const volatile uint32_t depth = 1;             // levels kept: 1 = the sleeper only
const volatile bool sleeper_stacks = true;     // wakeuptime keeps only the waker's stacks
const volatile bool until_wakeup = false;      // wakeuptime: blocked time, not off-CPU time


struct sleep {
    uint64_t start_ns;
    struct chain_key chain;
};

// Threads now off CPU, by thread id.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 10240);
    __type(key, uint32_t);
    __type(value, struct sleep);
} sleeping SEC(".maps");

// Who woke each thread last (level 0 its waker, level 1 the waker's waker, …), kept after
// the thread runs so that a thread it wakes can continue the chain.
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 10240);
    __type(key, uint32_t);
    __type(value, struct chain_key);
} wakers SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 40960);
    __type(key, struct chain_key);
    __type(value, uint64_t);
} counts SEC(".maps");

// Describes the current task (whose stacks bpf_get_stackid takes). With --unwind
// dwarf/auto its user stack is sent to user space instead, to join the chain of thread
// `join_tid` at `index` (chains of up to two levels: the sleeper and its waker).
static __always_inline void describe_current(struct stack_key *level, void *ctx, bool stacks, uint32_t join_tid, uint32_t index) {
    uint64_t id = bpf_get_current_pid_tgid();
    level->pid = id >> 32;
    level->tid = (uint32_t)id;
    bpf_get_current_comm(level->comm, sizeof(level->comm));
    level->kernel_stack_id = stacks && !user_stacks_only ? stack_id(ctx, 0) : -EFAULT;
    if (stacks && !kernel_stacks_only && depth <= 2 && copies_user_stack(level->pid)) {
        int sent = send_user_stack(level->pid, level->tid, level->comm, level->kernel_stack_id, 0, join_tid, index);
        if (sent <= 0) {
            level->user_stack_id = sent == 0 ? UNWIND_COPIED : -ENOMEM;
            return;
        }
    }
    level->user_stack_id = stacks && !kernel_stacks_only ? stack_id(ctx, BPF_F_USER_STACK) : -EFAULT;
}

static __always_inline void clear_level(struct stack_key *level) {
    __builtin_memset(level, 0, sizeof(*level));
    level->user_stack_id = -EFAULT;
    level->kernel_stack_id = -EFAULT;
}

static __always_inline bool traced(struct task_struct *task) {
    uint32_t tid = BPF_CORE_READ(task, pid);
    uint32_t pid = BPF_CORE_READ(task, tgid);
    if (tid == 0)
        return false;  // the idle task
    if (target_pid && pid != target_pid)
        return false;
    if (target_tid && tid != target_tid)
        return false;
    if (user_threads_only || kernel_threads_only) {
        bool kernel_thread = BPF_CORE_READ(task, flags) & PF_KTHREAD;
        if (user_threads_only && kernel_thread)
            return false;
        if (kernel_threads_only && !kernel_thread)
            return false;
    }
    if (target_state != -1 && task_state(task) != (unsigned int)target_state)
        return false;
    return true;
}

// Sums a sleep that ended now under its chain of stacks.
static __always_inline void finish(uint32_t tid, uint64_t now) {
    struct sleep *sleep = bpf_map_lookup_elem(&sleeping, &tid);
    if (!sleep)
        return;
    uint64_t delta_us = (now - sleep->start_ns) / 1000;
    if (delta_us >= min_us && delta_us <= max_us) {
        if (sleep->chain.levels[0].user_stack_id == UNWIND_COPIED || sleep->chain.levels[1].user_stack_id == UNWIND_COPIED) {
            send_finish(tid, delta_us, &sleep->chain);
            bpf_map_delete_elem(&sleeping, &tid);
            return;
        }
        uint64_t *total = bpf_map_lookup_elem(&counts, &sleep->chain);
        if (total)
            __sync_fetch_and_add(total, delta_us);
        else
            bpf_map_update_elem(&counts, &sleep->chain, &delta_us, BPF_NOEXIST);
    }
    bpf_map_delete_elem(&sleeping, &tid);
}

static __always_inline int on_switch(uint64_t *ctx) {
    struct task_struct *prev = (struct task_struct *)ctx[1];
    struct task_struct *next = (struct task_struct *)ctx[2];
    uint64_t now = bpf_ktime_get_ns();
    if (traced(prev)) {
        struct sleep sleep = {.start_ns = now};
        describe_current(&sleep.chain.levels[0], ctx, sleeper_stacks, BPF_CORE_READ(prev, pid), 0);
        for (int level = 1; level < CHAIN_MAX_DEPTH; level++)
            clear_level(&sleep.chain.levels[level]);
        uint32_t tid = sleep.chain.levels[0].tid;
        bpf_map_update_elem(&sleeping, &tid, &sleep, BPF_ANY);
    }
    if (!until_wakeup)
        finish(BPF_CORE_READ(next, pid), now);
    return 0;
}

static __always_inline int on_waking(uint64_t *ctx) {
    struct task_struct *task = (struct task_struct *)ctx[0];
    uint32_t tid = BPF_CORE_READ(task, pid);
    struct sleep *sleep = bpf_map_lookup_elem(&sleeping, &tid);
    // Chains longer than two need every thread's waker, traced or not: the thread woken
    // now may wake a traced one later.
    if (depth > 2 || (depth > 1 && sleep)) {
        // This task's wakers: the current task, then whoever woke the current task.
        struct chain_key chain;
        describe_current(&chain.levels[0], ctx, true, tid, 1);
        uint32_t waker = chain.levels[0].tid;
        struct chain_key *earlier = depth > 2 ? bpf_map_lookup_elem(&wakers, &waker) : NULL;
        for (int level = 1; level < CHAIN_MAX_DEPTH; level++) {
            if (earlier && level < (int)depth - 1)
                chain.levels[level] = earlier->levels[level - 1];
            else
                clear_level(&chain.levels[level]);
        }
        if (depth > 2)
            bpf_map_update_elem(&wakers, &tid, &chain, BPF_ANY);
        if (sleep) {
            for (int level = 1; level < CHAIN_MAX_DEPTH; level++) {
                if (level < (int)depth)
                    sleep->chain.levels[level] = chain.levels[level - 1];
            }
        }
    }
    if (sleep && until_wakeup)
        finish(tid, bpf_ktime_get_ns());
    return 0;
}

// Typed (BTF) tracepoints where the kernel has them, raw tracepoints otherwise; the
// arguments are the same: sched_switch(preempt, prev, next, …), sched_waking(task).
SEC("tp_btf/sched_switch")
int offcpu_switch_btf(uint64_t *ctx) { return on_switch(ctx); }

SEC("tp_btf/sched_waking")
int offcpu_waking_btf(uint64_t *ctx) { return on_waking(ctx); }

SEC("raw_tp/sched_switch")
int offcpu_switch_raw(uint64_t *ctx) { return on_switch(ctx); }

SEC("raw_tp/sched_waking")
int offcpu_waking_raw(uint64_t *ctx) { return on_waking(ctx); }

char LICENSE[] SEC("license") = "GPL";
