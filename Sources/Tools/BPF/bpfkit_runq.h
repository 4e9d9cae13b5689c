// Run-queue waits, shared by runqlat and the exporter: a thread is queued when it is woken or
// preempted while still runnable, and its wait ends at the sched_switch that runs it. Include
// after bpfkit_sched.h, having defined `runq_wanted(struct task_struct *)` (which threads to
// time).
#ifndef BPFKIT_RUNQ_H
#define BPFKIT_RUNQ_H

// When each queued thread was queued. LRU: a thread that exits while queued is never run
// again, and its entry must not hold a slot for ever.
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 10240);
    __type(key, uint32_t);
    __type(value, uint64_t);
} queued_at SEC(".maps");

static __always_inline void runq_enqueue(struct task_struct *task) {
    uint32_t tid = BPF_CORE_READ(task, pid);
    if (!tid || !runq_wanted(task))
        return;
    uint64_t now = bpf_ktime_get_ns();
    bpf_map_update_elem(&queued_at, &tid, &now, BPF_ANY);
}

// At sched_switch: queues `prev` again if it was preempted, and returns how long `next`
// waited, in nanoseconds, or -1 when its queueing was not seen.
static __always_inline int64_t runq_switch(struct task_struct *prev, struct task_struct *next) {
    if (task_state(prev) == 0)  // TASK_RUNNING: preempted, back on the queue
        runq_enqueue(prev);
    uint32_t tid = BPF_CORE_READ(next, pid);
    uint64_t *start = bpf_map_lookup_elem(&queued_at, &tid);
    if (!start)
        return -1;
    int64_t waited = (int64_t)(bpf_ktime_get_ns() - *start);
    bpf_map_delete_elem(&queued_at, &tid);
    return waited < 0 ? -1 : waited;
}

#endif
