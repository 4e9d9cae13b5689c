// biosnoop: one event per block I/O, with the process that submitted it.
//
// Three moments of a request: its creation (block_io_start, Linux 6.5; block_rq_insert
// before), in the submitter's context, which gives the process; its issue to the driver,
// which starts the latency clock; its completion, which sends the event. As in biolatency,
// the tool loads either the BTF-tracepoint programs (requests keyed by address, fields read
// with CO-RE) or the trace-event programs (keyed by dev and sector).
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpfkit_block.h"
#define EVENTS_RING_BYTES (512 * 1024)
#include "bpfkit_events.h"
#include "biosnoop.h"

const volatile uint32_t target_pid = 0;  // -p; 0 = every process
const volatile uint32_t target_dev = 0;  // -d; 0 = every disk

struct request_key {
    uint64_t id;      // the request's address, or its dev
    uint64_t sector;  // 0, or its first sector
};

// Who submitted a request, and when it was created.
struct submitter {
    uint64_t created_ns;
    uint32_t pid;
    uint32_t pad;
    char comm[16];
};

// A request issued to the driver.
struct issued {
    uint64_t issued_ns;
    uint64_t sector;
    uint32_t bytes;
    uint32_t cmd_flags;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 10240);
    __type(key, struct request_key);
    __type(value, struct submitter);
} submitters SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 10240);
    __type(key, struct request_key);
    __type(value, struct issued);
} issues SEC(".maps");

static __always_inline void note_submitter(struct request_key *key) {
    struct submitter who = {.created_ns = bpf_ktime_get_ns()};
    who.pid = bpf_get_current_pid_tgid() >> 32;
    if (target_pid && who.pid != target_pid)
        return;
    bpf_get_current_comm(who.comm, sizeof(who.comm));
    bpf_map_update_elem(&submitters, key, &who, BPF_ANY);
}

static __always_inline void send(struct request_key *key, uint32_t dev, uint64_t rwbs) {
    struct issued *issue = bpf_map_lookup_elem(&issues, key);
    if (!issue)
        return;
    struct submitter *who = bpf_map_lookup_elem(&submitters, key);
    if (!who && target_pid)
        goto done;
    struct biosnoop_event *event = reserve_event(sizeof(*event));
    if (!event)
        goto done;
    uint64_t now = bpf_ktime_get_ns();
    event->timestamp_ns = now;
    event->latency_ns = now - issue->issued_ns;
    event->sector = issue->sector;
    event->bytes = issue->bytes;
    event->cmd_flags = issue->cmd_flags;
    event->dev = dev;
    __builtin_memcpy(event->rwbs, &rwbs, sizeof(event->rwbs));
    if (who) {
        event->queued_ns = issue->issued_ns > who->created_ns ? issue->issued_ns - who->created_ns : 0;
        event->pid = who->pid;
        __builtin_memcpy(event->comm, who->comm, sizeof(event->comm));
    } else {
        event->queued_ns = 0;
        event->pid = 0;
        __builtin_memset(event->comm, 0, sizeof(event->comm));
        event->comm[0] = '?';
    }
    bpf_ringbuf_submit(event, 0);
done:
    bpf_map_delete_elem(&issues, key);
    bpf_map_delete_elem(&submitters, key);
}

// --- BTF tracepoints: the request itself.

// block_io_start, or block_rq_insert where there is no block_io_start (the tool attaches it).
SEC("tp_btf/block_io_start")
int biosnoop_btf_start(uint64_t *ctx) {
    struct request *rq = (struct request *)ctx[0];
    if (target_dev && request_dev(rq) != target_dev)
        return 0;
    struct request_key key = {.id = (uint64_t)rq};
    note_submitter(&key);
    return 0;
}

SEC("tp_btf/block_rq_issue")
int biosnoop_btf_issue(uint64_t *ctx) {
    struct request *rq = (struct request *)ctx[0];
    if (target_dev && request_dev(rq) != target_dev)
        return 0;
    struct request_key key = {.id = (uint64_t)rq};
    struct issued issue = {
        .issued_ns = bpf_ktime_get_ns(),
        .sector = BPF_CORE_READ(rq, __sector),
        .bytes = BPF_CORE_READ(rq, __data_len),
        .cmd_flags = BPF_CORE_READ(rq, cmd_flags),
    };
    bpf_map_update_elem(&issues, &key, &issue, BPF_ANY);
    return 0;
}

SEC("tp_btf/block_rq_complete")
int biosnoop_btf_complete(uint64_t *ctx) {
    struct request *rq = (struct request *)ctx[0];
    struct request_key key = {.id = (uint64_t)rq};
    send(&key, request_dev(rq), 0);
    return 0;
}

// --- Trace events: the record's fields.

SEC("tracepoint/block/block_io_start")
int biosnoop_tp_start(struct trace_event_raw_block_rq *ctx) {
    uint32_t dev = ctx->dev;
    if (target_dev && dev != target_dev)
        return 0;
    struct request_key key = {.id = dev, .sector = ctx->sector};
    note_submitter(&key);
    return 0;
}

SEC("tracepoint/block/block_rq_issue")
int biosnoop_tp_issue(struct trace_event_raw_block_rq *ctx) {
    uint32_t dev = ctx->dev;
    if (target_dev && dev != target_dev)
        return 0;
    struct request_key key = {.id = dev, .sector = ctx->sector};
    struct issued issue = {
        .issued_ns = bpf_ktime_get_ns(),
        .sector = ctx->sector,
        .bytes = ctx->bytes,
    };
    bpf_map_update_elem(&issues, &key, &issue, BPF_ANY);
    return 0;
}

SEC("tracepoint/block/block_rq_complete")
int biosnoop_tp_complete(struct trace_event_raw_block_rq_completion *ctx) {
    uint32_t dev = ctx->dev;
    // A flush (no data) is issued at sector 0 and completes at sector -1.
    uint64_t sector = ctx->sector == (uint64_t)-1 ? 0 : ctx->sector;
    struct request_key key = {.id = dev, .sector = sector};
    uint64_t rwbs = 0;
    bpf_probe_read_kernel(&rwbs, sizeof(rwbs), ctx->rwbs);
    send(&key, dev, rwbs);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
