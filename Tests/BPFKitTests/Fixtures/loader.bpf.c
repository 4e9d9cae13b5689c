// Test fixture: one tracepoint program that exercises every output channel BPFKit reads.
// It runs only for the thread named in .rodata (set by the test with setGlobal), counts
// into a .bss global, a hash map and a per-CPU array, and sends the same event to a ring
// buffer and to a perf event array.
#include "vmlinux.h"
#include "bpf_helpers.h"

struct loader_event {
    u32 pid;
    u32 tid;
    u64 seq;
    u64 magic;
};

// .rodata: the thread to count (0 = none, so a loaded but unconfigured object is silent).
const volatile u32 target_pid = 0;
const volatile u32 target_tid = 0;

// .bss: calls counted so far.
u64 hits = 0;

// .data: values with a known initial content.
u64 data_marker = 0x1122334455667788ULL;
u32 data_small = 7;

// seq -> pid_tgid of the caller.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, u32);
    __type(value, u64);
} calls SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 2);
    __type(key, u32);
    __type(value, u32);
} percpu_hits SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 14);
} events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
    __uint(key_size, sizeof(u32));
    __uint(value_size, sizeof(u32));
} perf_events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(struct trace_event_raw_sys_enter *ctx) {
    u64 id = bpf_get_current_pid_tgid();
    if ((u32)(id >> 32) != target_pid || (u32)id != target_tid)
        return 0;

    u64 seq = __sync_fetch_and_add(&hits, 1);
    u32 key = (u32)seq;
    bpf_map_update_elem(&calls, &key, &id, BPF_ANY);

    u32 zero = 0;
    u32 *slot = bpf_map_lookup_elem(&percpu_hits, &zero);
    if (slot)
        *slot += 1;

    struct loader_event event = {
        .pid = id >> 32,
        .tid = (u32)id,
        .seq = seq,
        .magic = 0xB0F7C1D5ULL,
    };
    bpf_ringbuf_output(&events, &event, sizeof(event), 0);
    bpf_perf_event_output(ctx, &perf_events, BPF_F_CURRENT_CPU, &event, sizeof(event));
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
