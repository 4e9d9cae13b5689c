// bitehist: block I/O sizes, as a log2 and a linear histogram of kilobytes (bcc's
// examples/tracing/bitehist.py). Counted in the kernel when a request is issued to the device.
#include "vmlinux.h"
#include "bpf_helpers.h"

#define LINEAR_SLOTS 1024  // sizes of 1 MiB and more count in the last slot

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 64);
    __type(key, u32);
    __type(value, u64);
} log2_kbytes SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, LINEAR_SLOTS);
    __type(key, u32);
    __type(value, u64);
} linear_kbytes SEC(".maps");

static __always_inline void count(void *map, u32 slot) {
    u64 *value = bpf_map_lookup_elem(map, &slot);
    if (value)
        __sync_fetch_and_add(value, 1);
}

// A BTF tracepoint: the kernel's `struct request *`, its size read with CO-RE.
SEC("tp_btf/block_rq_issue")
int bitehist(u64 *ctx) {
    struct request *rq = (struct request *)ctx[0];
    u64 kbytes = BPF_CORE_READ(rq, __data_len) / 1024;
    count(&log2_kbytes, log2_slot(kbytes));
    count(&linear_kbytes, kbytes < LINEAR_SLOTS ? kbytes : LINEAR_SLOTS - 1);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
