// The exporter's run-queue latency: from a thread's wakeup (or its preemption while still
// runnable) to the sched_switch that runs it, one ever-growing histogram per CPU, summed
// in user space at each scrape.
//
// runqlat.bpf.c counts in 32-bit slots (a long-running exporter would wrap them) and keeps
// no sum, so the exporter has this small program of its own.
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpfkit_sched.h"
#include "exporter.h"

// Every thread is timed.
static __always_inline bool runq_wanted(struct task_struct *task) { return true; }
#include "bpfkit_runq.h"

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, uint32_t);
    __type(value, struct exporter_histogram);
} latency SEC(".maps");

SEC("raw_tp/sched_wakeup")
int exporter_runq_wakeup(uint64_t *ctx) {
    runq_enqueue((struct task_struct *)ctx[0]);
    return 0;
}

SEC("raw_tp/sched_wakeup_new")
int exporter_runq_wakeup_new(uint64_t *ctx) {
    runq_enqueue((struct task_struct *)ctx[0]);
    return 0;
}

SEC("raw_tp/sched_switch")
int exporter_runq_switch(uint64_t *ctx) {
    struct task_struct *prev = (struct task_struct *)ctx[1];
    struct task_struct *next = (struct task_struct *)ctx[2];
    int64_t delta = runq_switch(prev, next);
    if (delta < 0)
        return 0;
    uint32_t zero = 0;
    struct exporter_histogram *histogram = bpf_map_lookup_elem(&latency, &zero);
    if (!histogram)
        return 0;
    uint32_t slot = log2_slot(delta / 1000);
    if (slot >= EXPORTER_SLOTS)
        slot = EXPORTER_SLOTS - 1;
    // This CPU's copy: no other CPU writes it.
    histogram->slots[slot] += 1;
    histogram->sum_ns += delta;
    histogram->count += 1;
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
