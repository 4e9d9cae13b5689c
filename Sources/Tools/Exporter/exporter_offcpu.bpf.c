// The exporter's off-CPU time by process: from the sched_switch that takes a thread off a
// CPU to the one that runs it again, summed per process (tgid) in the kernel.
//
// offcpu.bpf.c sums per thread and stack into a map that fills over a long run and then
// drops new threads; this one keys by process in an LRU map, so the oldest idle processes
// make room.
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "exporter.h"

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 10240);
    __type(key, uint32_t);
    __type(value, uint64_t);
} off_since SEC(".maps");

// max_entries is set from the configuration before load.
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, uint32_t);
    __type(value, struct exporter_offcpu);
} processes SEC(".maps");

SEC("raw_tp/sched_switch")
int exporter_offcpu_switch(uint64_t *ctx) {
    struct task_struct *prev = (struct task_struct *)ctx[1];
    struct task_struct *next = (struct task_struct *)ctx[2];
    uint64_t now = bpf_ktime_get_ns();
    uint32_t prev_tid = BPF_CORE_READ(prev, pid);
    if (prev_tid)  // not the idle task
        bpf_map_update_elem(&off_since, &prev_tid, &now, BPF_ANY);

    uint32_t tid = BPF_CORE_READ(next, pid);
    uint64_t *start = bpf_map_lookup_elem(&off_since, &tid);
    if (!start)
        return 0;
    int64_t delta = (int64_t)(now - *start);
    bpf_map_delete_elem(&off_since, &tid);
    if (delta <= 0)
        return 0;
    uint32_t pid = BPF_CORE_READ(next, tgid);
    struct exporter_offcpu *total = bpf_map_lookup_elem(&processes, &pid);
    if (!total) {
        struct exporter_offcpu empty = {};
        bpf_map_update_elem(&processes, &pid, &empty, BPF_NOEXIST);
        total = bpf_map_lookup_elem(&processes, &pid);
        if (!total)
            return 0;
    }
    __sync_fetch_and_add(&total->ns, delta);
    // The main thread's name, read each time: an exec renames the process.
    struct task_struct *leader = BPF_CORE_READ(next, group_leader);
    if (leader)
        BPF_CORE_READ_INTO(&total->comm, leader, comm);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
