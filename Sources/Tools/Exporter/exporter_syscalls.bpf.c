// The exporter's system call counts: raw_syscalls:sys_enter (one raw tracepoint for every
// call), counted per CPU by syscall number; names come from user space.
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "exporter.h"

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, EXPORTER_SYSCALLS);
    __type(key, uint32_t);
    __type(value, uint64_t);
} calls SEC(".maps");

// sys_enter(struct pt_regs *regs, long id)
SEC("raw_tp/sys_enter")
int exporter_sys_enter(uint64_t *ctx) {
    uint32_t id = (uint32_t)ctx[1];
    uint64_t *count = bpf_map_lookup_elem(&calls, &id);
    if (count)
        *count += 1;  // this CPU's copy
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
