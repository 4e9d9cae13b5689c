// cachestat: page-cache lookups, additions and dirtied pages, counted per CPU.
//
// Additions come from filemap:mm_filemap_add_to_page_cache (filemap_add_folio's own trace
// event), split by whether the thread is in a write call (write, pwrite64, writev, pwritev,
// pwritev2: a write adds the pages it fills, which are no read misses), and dirtied pages
// from writeback:writeback_dirty_folio (folio_account_dirtied's), on every path. Lookups come from folio_mark_accessed through fentry where the kernel
// allows it, and otherwise from the read paths' trace events: filemap_get_pages
// (read(2), splice, sendfile: the pages a read asks for) and filemap_fault (page faults).
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "cachestat.h"

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, uint32_t);
    __type(value, struct cachestat_counters);
} counters SEC(".maps");

// A read asks filemap_get_pages for the rest of its range once per batch of folios, and
// each call's event names the whole remaining range [index, last_index]: remember, per
// thread, the last range counted, so a read's pages count once.
struct read_range {
    uint64_t inode;
    uint64_t first;
    uint64_t last;
    uint32_t dev;
    uint32_t pad;
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, uint32_t);
    __type(value, struct read_range);
} ranges SEC(".maps");

// Threads inside a write call.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 10240);
    __type(key, uint32_t);
    __type(value, uint8_t);
} writers SEC(".maps");

static __always_inline int write_begins(void) {
    uint32_t tid = (uint32_t)bpf_get_current_pid_tgid();
    uint8_t yes = 1;
    bpf_map_update_elem(&writers, &tid, &yes, BPF_ANY);
    return 0;
}

static __always_inline int write_ends(void) {
    uint32_t tid = (uint32_t)bpf_get_current_pid_tgid();
    bpf_map_delete_elem(&writers, &tid);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int cachestat_enter_write(void *ctx) { return write_begins(); }
SEC("tracepoint/syscalls/sys_enter_pwrite64")
int cachestat_enter_pwrite64(void *ctx) { return write_begins(); }
SEC("tracepoint/syscalls/sys_enter_writev")
int cachestat_enter_writev(void *ctx) { return write_begins(); }
SEC("tracepoint/syscalls/sys_enter_pwritev")
int cachestat_enter_pwritev(void *ctx) { return write_begins(); }
SEC("tracepoint/syscalls/sys_enter_pwritev2")
int cachestat_enter_pwritev2(void *ctx) { return write_begins(); }
SEC("tracepoint/syscalls/sys_exit_write")
int cachestat_exit_write(void *ctx) { return write_ends(); }
SEC("tracepoint/syscalls/sys_exit_pwrite64")
int cachestat_exit_pwrite64(void *ctx) { return write_ends(); }
SEC("tracepoint/syscalls/sys_exit_writev")
int cachestat_exit_writev(void *ctx) { return write_ends(); }
SEC("tracepoint/syscalls/sys_exit_pwritev")
int cachestat_exit_pwritev(void *ctx) { return write_ends(); }
SEC("tracepoint/syscalls/sys_exit_pwritev2")
int cachestat_exit_pwritev2(void *ctx) { return write_ends(); }

const volatile uint32_t target_pid = 0;  // -p; 0 = every process

// This CPU's counters, or null when the current process is not traced.
static __always_inline struct cachestat_counters *mine(void) {
    if (target_pid && (uint32_t)(bpf_get_current_pid_tgid() >> 32) != target_pid)
        return 0;
    uint32_t zero = 0;
    return bpf_map_lookup_elem(&counters, &zero);
}

// The pages in a folio: 1, or 2^order for a large folio (PG_head set).
static __always_inline uint64_t folio_pages(struct folio *folio) {
    unsigned long flags;
    if (bpf_core_field_exists(folio->flags.f))
        flags = BPF_CORE_READ(folio, flags.f);
    else
        flags = BPF_CORE_READ((struct folio___long_flags *)folio, flags);
    if (!(flags & (1UL << bpf_core_enum_value(enum pageflags, PG_head))))
        return 1;
    return 1ULL << (BPF_CORE_READ(folio, _flags_1) & 0xff);
}

SEC("tracepoint/filemap/mm_filemap_add_to_page_cache")
int cachestat_add(struct trace_event_raw_mm_filemap_op_page_cache *ctx) {
    struct cachestat_counters *count = mine();
    if (!count)
        return 0;
    uint64_t pages = 1ULL << (ctx->order & 31);
    uint32_t tid = (uint32_t)bpf_get_current_pid_tgid();
    if (bpf_map_lookup_elem(&writers, &tid))
        __sync_fetch_and_add(&count->added_by_writes, pages);
    else
        __sync_fetch_and_add(&count->added, pages);
    return 0;
}

SEC("tp_btf/writeback_dirty_folio")
int cachestat_btf_dirty(uint64_t *ctx) {
    struct cachestat_counters *count = mine();
    if (count)
        __sync_fetch_and_add(&count->dirtied, folio_pages((struct folio *)ctx[0]));
    return 0;
}

// Without BTF tracepoints: one page per folio.
SEC("tracepoint/writeback/writeback_dirty_folio")
int cachestat_tp_dirty(void *ctx) {
    struct cachestat_counters *count = mine();
    if (count)
        __sync_fetch_and_add(&count->dirtied, 1);
    return 0;
}

SEC("tracepoint/filemap/mm_filemap_get_pages")
int cachestat_get_pages(struct trace_event_raw_mm_filemap_op_page_cache_range *ctx) {
    struct read_range range = {
        .inode = ctx->i_ino, .first = ctx->index, .last = ctx->last_index, .dev = ctx->s_dev,
    };
    if (range.last < range.first)
        return 0;
    uint32_t tid = (uint32_t)bpf_get_current_pid_tgid();
    struct read_range *previous = bpf_map_lookup_elem(&ranges, &tid);
    bool continued = previous && previous->dev == range.dev && previous->inode == range.inode
        && previous->last == range.last && previous->first < range.first;
    bpf_map_update_elem(&ranges, &tid, &range, BPF_ANY);
    if (continued)
        return 0;
    struct cachestat_counters *count = mine();
    if (count)
        __sync_fetch_and_add(&count->accessed, range.last - range.first + 1);
    return 0;
}

SEC("tracepoint/filemap/mm_filemap_fault")
int cachestat_fault(void *ctx) {
    struct cachestat_counters *count = mine();
    if (count)
        __sync_fetch_and_add(&count->accessed, 1);
    return 0;
}

// --- fentry: every lookup that marks a folio accessed (reads and faults; the writes'
// own lookups are left out, like their additions).

// folio_mark_accessed(struct folio *) (mark_page_accessed(struct page *) before Linux 5.16).
SEC("fentry/folio_mark_accessed")
int cachestat_accessed(uint64_t *ctx) {
    uint32_t tid = (uint32_t)bpf_get_current_pid_tgid();
    if (bpf_map_lookup_elem(&writers, &tid))
        return 0;
    struct cachestat_counters *count = mine();
    if (count)
        __sync_fetch_and_add(&count->accessed, 1);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
