// Test fixture the verifier must reject: a map value is used without the NULL check
// bpf_map_lookup_elem's result requires. Tests load it on purpose to read the log.
// (A hash map: recent verifiers know an array lookup with a constant in-range key cannot
// fail, and accept it unchecked.)
#include "vmlinux.h"
#include "bpf_helpers.h"

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, u64);
} values SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int null_deref(void *ctx) {
    u32 key = 0;
    u64 *value = bpf_map_lookup_elem(&values, &key);
    *value += 1;
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
