// runqlen: sample each CPU's run-queue length (a perf_event program on cpu-clock) into a
// linear histogram per CPU. The length is read through CO-RE from the current task's CFS
// run queue: `nr_queued` since Linux 6.13, `nr_running` before (a ___flavor fallback).
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "runqlat.h"

const volatile bool per_cpu = false;

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, uint32_t);
    __type(value, struct runq_histogram);
} histograms SEC(".maps");

SEC("perf_event")
int runqlen_sample(void *ctx) {
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    struct cfs_rq *queue = BPF_CORE_READ(task, se.cfs_rq);
    unsigned int length;
    if (bpf_core_field_exists(queue->nr_queued)) {
        length = BPF_CORE_READ(queue, nr_queued);
    } else {
        struct cfs_rq___pre_6_13 *old = (void *)queue;
        length = BPF_CORE_READ(old, nr_running);
    }
    // The running task is counted too; bcc's runqlen reports the waiting ones.
    if (length > 0)
        length--;
    uint32_t key = per_cpu ? bpf_get_smp_processor_id() : 0;
    struct runq_histogram *histogram = bpf_map_lookup_elem(&histograms, &key);
    if (!histogram) {
        struct runq_histogram empty = {};
        bpf_map_update_elem(&histograms, &key, &empty, BPF_NOEXIST);
        histogram = bpf_map_lookup_elem(&histograms, &key);
        if (!histogram)
            return 0;
    }
    if (length >= RUNQ_SLOTS)
        length = RUNQ_SLOTS - 1;
    __sync_fetch_and_add(&histogram->slots[length], 1);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
