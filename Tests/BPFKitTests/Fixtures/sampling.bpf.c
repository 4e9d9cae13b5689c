// Timed sampling: counts perf_event samples per CPU.
#include "vmlinux.h"
#include "bpf_helpers.h"

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 256);
    __type(key, uint32_t);
    __type(value, uint64_t);
} samples SEC(".maps");

const volatile uint32_t target_tid = 0;
uint64_t target_samples = 0;

SEC("perf_event")
int on_sample(void *ctx) {
    if (target_tid && (uint32_t)bpf_get_current_pid_tgid() == target_tid)
        __sync_fetch_and_add(&target_samples, 1);
    uint32_t cpu = bpf_get_smp_processor_id();
    uint64_t *count = bpf_map_lookup_elem(&samples, &cpu);
    if (count)
        __sync_fetch_and_add(count, 1);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
