// runqlat: time tasks wait on a run queue, from being woken (or preempted while runnable)
// to running, as log2 histograms summed in the kernel.
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpfkit_sched.h"
#include "runqlat.h"

const volatile uint32_t target_pid = 0;
const volatile bool milliseconds = false;
const volatile uint32_t group_by = 0;  // 0 all, 1 process, 2 thread, 3 PID namespace

static __always_inline bool runq_wanted(struct task_struct *task) {
    return !target_pid || BPF_CORE_READ(task, tgid) == target_pid;
}
#include "bpfkit_runq.h"

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 10240);
    __type(key, uint32_t);
    __type(value, struct runq_histogram);
} histograms SEC(".maps");

static __always_inline int on_switch(uint64_t *ctx) {
    struct task_struct *prev = (struct task_struct *)ctx[1];
    struct task_struct *next = (struct task_struct *)ctx[2];
    int64_t waited = runq_switch(prev, next);
    if (waited < 0)
        return 0;
    uint64_t delta = (uint64_t)waited / (milliseconds ? 1000000 : 1000);
    uint32_t tid = BPF_CORE_READ(next, pid);

    uint32_t key = 0;
    if (group_by == 1)
        key = BPF_CORE_READ(next, tgid);
    else if (group_by == 2)
        key = tid;
    else if (group_by == 3)
    {
        struct nsproxy *namespaces = BPF_CORE_READ(next, nsproxy);
        struct pid_namespace *pids = namespaces ? BPF_CORE_READ(namespaces, pid_ns_for_children) : NULL;
        key = pids ? BPF_CORE_READ(pids, ns.inum) : 0;
    }
    struct runq_histogram *histogram = bpf_map_lookup_elem(&histograms, &key);
    if (!histogram) {
        struct runq_histogram empty = {};
        bpf_map_update_elem(&histograms, &key, &empty, BPF_NOEXIST);
        histogram = bpf_map_lookup_elem(&histograms, &key);
        if (!histogram)
            return 0;
        BPF_CORE_READ_INTO(&histogram->comm, next, comm);
    }
    uint32_t slot = log2_slot(delta);
    if (slot >= RUNQ_SLOTS)
        slot = RUNQ_SLOTS - 1;
    __sync_fetch_and_add(&histogram->slots[slot], 1);
    return 0;
}

static __always_inline int on_wakeup(uint64_t *ctx) {
    runq_enqueue((struct task_struct *)ctx[0]);
    return 0;
}

SEC("tp_btf/sched_wakeup")
int runqlat_wakeup_btf(uint64_t *ctx) { return on_wakeup(ctx); }

SEC("tp_btf/sched_wakeup_new")
int runqlat_wakeup_new_btf(uint64_t *ctx) { return on_wakeup(ctx); }

SEC("tp_btf/sched_switch")
int runqlat_switch_btf(uint64_t *ctx) { return on_switch(ctx); }

SEC("raw_tp/sched_wakeup")
int runqlat_wakeup_raw(uint64_t *ctx) { return on_wakeup(ctx); }

SEC("raw_tp/sched_wakeup_new")
int runqlat_wakeup_new_raw(uint64_t *ctx) { return on_wakeup(ctx); }

SEC("raw_tp/sched_switch")
int runqlat_switch_raw(uint64_t *ctx) { return on_switch(ctx); }

char LICENSE[] SEC("license") = "GPL";
