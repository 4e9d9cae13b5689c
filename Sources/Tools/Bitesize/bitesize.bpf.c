// bitesize: block I/O sizes as log2 histograms per process name, from the block_rq_issue
// trace event (its comm is the process that issued the request to the driver).
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bitesize.h"

const volatile uint32_t target_dev = 0;     // -d; 0 = every disk
const volatile char target_comm[16] = {};  // -c; empty = every process

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 10240);
    __type(key, struct bitesize_key);
    __type(value, uint64_t);
} hists SEC(".maps");

static __always_inline bool comm_matches(const char *comm) {
    if (!target_comm[0])
        return true;
    for (int i = 0; i < 16; i++) {
        if (comm[i] != target_comm[i])
            return false;
        if (!comm[i])
            return true;
    }
    return true;
}

SEC("tracepoint/block/block_rq_issue")
int bitesize_issue(struct trace_event_raw_block_rq *ctx) {
    if (target_dev && ctx->dev != target_dev)
        return 0;
    struct bitesize_key key = {};
    bpf_probe_read_kernel(key.comm, sizeof(key.comm), ctx->comm);
    if (!comm_matches(key.comm))
        return 0;
    key.slot = log2_slot(ctx->bytes / 1024);
    uint64_t *value = bpf_map_lookup_elem(&hists, &key);
    if (!value) {
        uint64_t zero = 0;
        bpf_map_update_elem(&hists, &key, &zero, BPF_NOEXIST);
        value = bpf_map_lookup_elem(&hists, &key);
        if (!value)
            return 0;
    }
    __sync_fetch_and_add(value, 1);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
