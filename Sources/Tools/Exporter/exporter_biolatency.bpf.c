// The exporter's block I/O latency: one ever-growing histogram per disk, from the request's
// issue to the driver to its completion (raw tracepoints block_rq_issue/complete, the
// `struct request *` read with CO-RE).
//
// biolatency.bpf.c keeps no per-disk sum, which a Prometheus histogram needs, so the
// exporter has this small program of its own.
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpfkit_block.h"
#include "exporter.h"

const volatile uint32_t target_dev = 0;  // the disk's dev_t; 0 = every disk

// Requests in flight, by address. LRU: a request the kernel drops without completing
// (a merge, a requeue) must not fill the map over a long run.
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 10240);
    __type(key, uint64_t);
    __type(value, uint64_t);
} issued SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 256);
    __type(key, uint32_t);
    __type(value, struct exporter_histogram);
} disks SEC(".maps");

SEC("raw_tp/block_rq_issue")
int exporter_bio_issue(uint64_t *ctx) {
    struct request *rq = (struct request *)ctx[0];
    if (target_dev && request_dev(rq) != target_dev)
        return 0;
    uint64_t key = (uint64_t)rq;
    uint64_t now = bpf_ktime_get_ns();
    bpf_map_update_elem(&issued, &key, &now, BPF_ANY);
    return 0;
}

SEC("raw_tp/block_rq_complete")
int exporter_bio_complete(uint64_t *ctx) {
    struct request *rq = (struct request *)ctx[0];
    uint64_t key = (uint64_t)rq;
    uint64_t *started = bpf_map_lookup_elem(&issued, &key);
    if (!started)
        return 0;
    int64_t delta = (int64_t)(bpf_ktime_get_ns() - *started);
    bpf_map_delete_elem(&issued, &key);
    if (delta < 0)
        return 0;
    uint32_t dev = request_dev(rq);
    struct exporter_histogram *histogram = bpf_map_lookup_elem(&disks, &dev);
    if (!histogram) {
        struct exporter_histogram empty = {};
        bpf_map_update_elem(&disks, &dev, &empty, BPF_NOEXIST);
        histogram = bpf_map_lookup_elem(&disks, &dev);
        if (!histogram)
            return 0;
    }
    uint32_t slot = log2_slot(delta / 1000);
    if (slot >= EXPORTER_SLOTS)
        slot = EXPORTER_SLOTS - 1;
    __sync_fetch_and_add(&histogram->slots[slot], 1);
    __sync_fetch_and_add(&histogram->sum_ns, delta);
    __sync_fetch_and_add(&histogram->count, 1);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
