// biolatency: block I/O latency as log2 histograms, counted in the kernel.
//
// Two sets of programs, of which the tool loads one:
// - BTF tracepoints (tp_btf/block_rq_*, Linux 5.5): the typed `struct request *`, read with
//   CO-RE; requests are keyed by their address.
// - Trace events (tracepoint/block/block_rq_*): the records' dev, sector and rwbs fields;
//   requests are keyed by (dev, sector).
// The clock starts at issue to the driver, or with -Q at insertion into the OS queue.
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpfkit_block.h"
#include "biolatency.h"

// Options, fixed before load so the verifier prunes what they switch off.
const volatile bool queued = false;       // -Q: from insertion, not issue
const volatile bool milliseconds = false; // -m
const volatile bool per_disk = false;     // -D
const volatile bool per_flags = false;    // -F
const volatile uint32_t target_dev = 0;   // -d: the disk's dev_t; 0 = every disk

struct start_key {
    uint64_t id;      // the request's address (BTF path) or its dev (tracepoint path)
    uint64_t sector;  // 0 (BTF path) or its first sector (tracepoint path)
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 10240);
    __type(key, struct start_key);
    __type(value, uint64_t);
} start SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, struct biolatency_key);
    __type(value, uint64_t);
} hists SEC(".maps");

// -e: the sum of every latency (ns) and their number.
uint64_t total_ns = 0;
uint64_t total_count = 0;

static __always_inline void remember(struct start_key *key, uint64_t flags) {
    uint64_t now = bpf_ktime_get_ns();
    bpf_map_update_elem(&start, key, &now, flags);
}

static __always_inline void count(struct start_key *key, uint32_t dev, uint32_t cmd_flags, uint64_t rwbs) {
    uint64_t *started = bpf_map_lookup_elem(&start, key);
    if (!started)
        return;
    uint64_t now = bpf_ktime_get_ns();
    int64_t delta = (int64_t)(now - *started);
    bpf_map_delete_elem(&start, key);
    if (delta < 0)
        return;

    struct biolatency_key hist = {};
    hist.slot = log2_slot(milliseconds ? delta / 1000000 : delta / 1000);
    if (per_disk)
        hist.dev = dev;
    if (per_flags) {
        hist.cmd_flags = cmd_flags;
        hist.rwbs = rwbs;
    }
    uint64_t *value = bpf_map_lookup_elem(&hists, &hist);
    if (!value) {
        uint64_t zero = 0;
        bpf_map_update_elem(&hists, &hist, &zero, BPF_NOEXIST);
        value = bpf_map_lookup_elem(&hists, &hist);
        if (!value)
            return;
    }
    __sync_fetch_and_add(value, 1);
    __sync_fetch_and_add(&total_ns, delta);
    __sync_fetch_and_add(&total_count, 1);
}

// --- BTF tracepoints: the request itself.

static __always_inline bool wanted_request(struct request *rq) {
    return !target_dev || request_dev(rq) == target_dev;
}

SEC("tp_btf/block_rq_insert")
int biolatency_btf_insert(uint64_t *ctx) {
    struct request *rq = (struct request *)ctx[0];
    if (!wanted_request(rq))
        return 0;
    struct start_key key = {.id = (uint64_t)rq};
    remember(&key, BPF_ANY);
    return 0;
}

SEC("tp_btf/block_rq_issue")
int biolatency_btf_issue(uint64_t *ctx) {
    struct request *rq = (struct request *)ctx[0];
    // With -Q, a queue with an I/O scheduler saw the insertion: keep that time.
    if (queued) {
        struct request_queue *q = BPF_CORE_READ(rq, q);
        if (BPF_CORE_READ(q, elevator))
            return 0;
    }
    if (!wanted_request(rq))
        return 0;
    struct start_key key = {.id = (uint64_t)rq};
    remember(&key, BPF_ANY);
    return 0;
}

SEC("tp_btf/block_rq_complete")
int biolatency_btf_complete(uint64_t *ctx) {
    struct request *rq = (struct request *)ctx[0];
    struct start_key key = {.id = (uint64_t)rq};
    uint32_t dev = per_disk ? request_dev(rq) : 0;
    uint32_t cmd_flags = per_flags ? BPF_CORE_READ(rq, cmd_flags) : 0;
    count(&key, dev, cmd_flags, 0);
    return 0;
}

// --- Trace events: the record's fields.

static __always_inline uint64_t rwbs_of(const char *rwbs) {
    uint64_t text = 0;
    bpf_probe_read_kernel(&text, sizeof(text), rwbs);
    return text;
}

SEC("tracepoint/block/block_rq_insert")
int biolatency_tp_insert(struct trace_event_raw_block_rq *ctx) {
    uint32_t dev = ctx->dev;
    if (target_dev && dev != target_dev)
        return 0;
    struct start_key key = {.id = dev, .sector = ctx->sector};
    remember(&key, BPF_ANY);
    return 0;
}

SEC("tracepoint/block/block_rq_issue")
int biolatency_tp_issue(struct trace_event_raw_block_rq *ctx) {
    uint32_t dev = ctx->dev;
    if (target_dev && dev != target_dev)
        return 0;
    struct start_key key = {.id = dev, .sector = ctx->sector};
    // With -Q, keep the insertion time where there was one.
    remember(&key, queued ? BPF_NOEXIST : BPF_ANY);
    return 0;
}

SEC("tracepoint/block/block_rq_complete")
int biolatency_tp_complete(struct trace_event_raw_block_rq_completion *ctx) {
    uint32_t dev = ctx->dev;
    // A flush (no data) is issued at sector 0 and completes at sector -1.
    uint64_t sector = ctx->sector == (uint64_t)-1 ? 0 : ctx->sector;
    struct start_key key = {.id = dev, .sector = sector};
    count(&key, dev, 0, per_flags ? rwbs_of(ctx->rwbs) : 0);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
