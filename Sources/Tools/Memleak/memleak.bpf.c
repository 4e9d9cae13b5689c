// memleak: outstanding allocations by stack. Every allocation is kept by address with its
// size, time and stack until it is freed; the sums per stack are kept beside, so a report
// reads either the allocations (ages, -a) or just the sums (--combined-only).
//
// User mode: uprobes on the libc allocator's entries note the requested size per thread;
// uretprobes on their returns take the address and the caller's stack (at the return the
// frame pointers are the caller's, so the innermost frame is the allocating function).
// Kernel mode: the kmem trace events, which carry address and size together.
//
// --unwind dwarf/auto (user mode): the kernel cannot walk a stack without frame pointers,
// so an allocation is kept under a pseudo stack id of its own (see memleak.h) and its
// registers and stack copy go through the ring, tagged with that id, to be unwound in
// user space at once. The maps stay as they are: frees subtract from the pseudo id's sums
// just as from a real stack's, and user space groups the ids by their unwound frames.
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "stacks.h"
#include "memleak.h"
#include "bpfkit_stacks.h"
#include "bpfkit_events.h"
#include "bpfkit_unwind.h"

static u32 (*bpf_get_prandom_u32)(void) = (void *)7;

const volatile uint32_t target_pid = 0;  // user mode: the traced process
const volatile uint64_t min_size = 0;
const volatile uint64_t max_size = ~0ULL;
const volatile uint32_t sample_rate = 1;  // keep one allocation in N, at random
const volatile bool trace_calls = false;  // -t: an event per allocation and free
const volatile uint64_t page_size = 4096;

// Sizes asked for by allocator calls still running, by thread.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 10240);
    __type(key, uint32_t);
    __type(value, uint64_t);
} sizes SEC(".maps");

// posix_memalign's out-parameter, by thread, between entry and return.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 10240);
    __type(key, uint32_t);
    __type(value, uint64_t);
} memptrs SEC(".maps");

// Allocated on use (a preallocated million entries would pin some 80 MB of kernel memory).
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1000000);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, uint64_t);
    __type(value, struct alloc_info);
} allocs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 10240);
    __type(key, int32_t);
    __type(value, struct combined_alloc_info);
} combined_allocs SEC(".maps");

static __always_inline void emit(uint64_t address, uint64_t size, uint32_t kind) {
    if (!trace_calls)
        return;
    struct memleak_event event = {
        .address = address, .size = size, .pid = bpf_get_current_pid_tgid() >> 32, .kind = kind};
    output_event(&event, sizeof(event));
}

static __always_inline void count(int32_t stack, uint64_t size) {
    struct combined_alloc_info *sums = bpf_map_lookup_elem(&combined_allocs, &stack);
    if (!sums) {
        struct combined_alloc_info zero = {};
        bpf_map_update_elem(&combined_allocs, &stack, &zero, BPF_NOEXIST);
        sums = bpf_map_lookup_elem(&combined_allocs, &stack);
        if (!sums)
            return;
    }
    __sync_fetch_and_add(&sums->total_size, size);
    __sync_fetch_and_add(&sums->number_of_allocs, 1);
}

static __always_inline void uncount(int32_t stack, uint64_t size) {
    struct combined_alloc_info *sums = bpf_map_lookup_elem(&combined_allocs, &stack);
    if (!sums)
        return;
    __sync_fetch_and_sub(&sums->total_size, size);
    __sync_fetch_and_sub(&sums->number_of_allocs, 1);
}

// Whether an allocation of `size` is traced: inside -z/-Z, and sampled by -s.
static __always_inline bool wanted(uint64_t size) {
    if (size < min_size || size > max_size)
        return false;
    return sample_rate <= 1 || bpf_get_prandom_u32() % sample_rate == 0;
}

// --unwind dwarf/auto: pseudo stack ids handed out so far (wraps after about 2^30).
uint32_t pseudo_sequence = 0;

static __always_inline int32_t next_pseudo_id(void) {
    uint32_t sequence = __sync_fetch_and_add(&pseudo_sequence, 1);
    return MEMLEAK_PSEUDO_FIRST - (int32_t)(sequence % MEMLEAK_PSEUDO_SPAN);
}

// Sends the allocating thread's registers and stack, to be unwound in user space under
// `pseudo_id`. At an allocator's return the registers are its caller's (the uretprobe put
// the return address back in ip), so the innermost frame is the allocating function, as
// with bpf_get_stackid.
static __always_inline int send_copy(uint32_t pid, int32_t pseudo_id) {
    char comm[16];
    bpf_get_current_comm(comm, sizeof(comm));
    uint32_t tid = (uint32_t)bpf_get_current_pid_tgid();
    return send_user_stack(pid, tid, comm, -EFAULT, (uint64_t)(int64_t)pseudo_id, tid, 0);
}

// A copy that could not be sent: its allocation moves to MEMLEAK_PSEUDO_LOST, so lost
// copies share one combined_allocs entry instead of keeping one each. (The address is not
// freed meanwhile: the allocator has not returned it to its caller yet.)
static __always_inline void keep_as_lost(uint64_t address, int32_t pseudo_id, uint64_t size) {
    struct alloc_info *kept = bpf_map_lookup_elem(&allocs, &address);
    if (!kept || kept->stack_id != pseudo_id)
        return;
    uncount(pseudo_id, size);
    bpf_map_delete_elem(&combined_allocs, &pseudo_id);
    kept->stack_id = MEMLEAK_PSEUDO_LOST;
    count(MEMLEAK_PSEUDO_LOST, size);
}

// Keeps an allocation that succeeded. An address still held (its free was missed) is
// replaced, and its old stack's sums are corrected.
static __always_inline void record(void *ctx, uint64_t address, uint64_t size, uint64_t stack_flags) {
    uint32_t pid = bpf_get_current_pid_tgid() >> 32;
    bool copied = (stack_flags & BPF_F_USER_STACK) && copies_user_stack(pid);
    struct alloc_info info = {
        .size = size,
        .timestamp_ns = bpf_ktime_get_ns(),
        .stack_id = copied ? next_pseudo_id() : stack_id(ctx, stack_flags),
        .pid = pid,
    };
    struct alloc_info *old = bpf_map_lookup_elem(&allocs, &address);
    if (old)
        uncount(old->stack_id, old->size);
    bpf_map_update_elem(&allocs, &address, &info, BPF_ANY);
    count(info.stack_id, size);
    // After count(): user space keeps a pseudo id's frames only while combined_allocs
    // holds allocations under it, so the entry must exist before the frames arrive.
    if (copied && send_copy(pid, info.stack_id) < 0)
        keep_as_lost(address, info.stack_id, size);
    emit(address, size, MEMLEAK_ALLOC);
}

static __always_inline void release(uint64_t address) {
    struct alloc_info *info = bpf_map_lookup_elem(&allocs, &address);
    if (!info)
        return;
    uint64_t size = info->size;
    uncount(info->stack_id, size);
    bpf_map_delete_elem(&allocs, &address);
    emit(address, size, MEMLEAK_FREE);
}

// ---- User mode -------------------------------------------------------------------------

static __always_inline bool is_target(void) {
    return (bpf_get_current_pid_tgid() >> 32) == target_pid;
}

static __always_inline int alloc_enter(uint64_t size) {
    if (!is_target() || !wanted(size))
        return 0;
    uint32_t tid = (uint32_t)bpf_get_current_pid_tgid();
    bpf_map_update_elem(&sizes, &tid, &size, BPF_ANY);
    return 0;
}

static __always_inline int alloc_exit(void *ctx, uint64_t address) {
    uint32_t tid = (uint32_t)bpf_get_current_pid_tgid();
    uint64_t *size = bpf_map_lookup_elem(&sizes, &tid);
    if (!size)
        return 0;  // not traced (filtered, sampled out, or entered before attaching)
    uint64_t bytes = *size;
    bpf_map_delete_elem(&sizes, &tid);
    if (address != 0 && address != ~0ULL)  // NULL, or mmap's MAP_FAILED
        record(ctx, address, bytes, BPF_F_USER_STACK);
    return 0;
}

static __always_inline int free_enter(uint64_t address) {
    if (is_target())
        release(address);
    return 0;
}

SEC("uprobe")
int malloc_enter(struct pt_regs *ctx) { return alloc_enter(PT_REGS_PARM1(ctx)); }

SEC("uretprobe")
int malloc_exit(struct pt_regs *ctx) { return alloc_exit(ctx, PT_REGS_RC(ctx)); }

SEC("uprobe")
int free_entry(struct pt_regs *ctx) { return free_enter(PT_REGS_PARM1(ctx)); }

SEC("uprobe")
int calloc_enter(struct pt_regs *ctx) { return alloc_enter(PT_REGS_PARM1(ctx) * PT_REGS_PARM2(ctx)); }

SEC("uretprobe")
int calloc_exit(struct pt_regs *ctx) { return alloc_exit(ctx, PT_REGS_RC(ctx)); }

// realloc(ptr, size) frees ptr and allocates anew (when it moves, and when it does not).
SEC("uprobe")
int realloc_enter(struct pt_regs *ctx) {
    free_enter(PT_REGS_PARM1(ctx));
    return alloc_enter(PT_REGS_PARM2(ctx));
}

SEC("uretprobe")
int realloc_exit(struct pt_regs *ctx) { return alloc_exit(ctx, PT_REGS_RC(ctx)); }

SEC("uprobe")
int mmap_enter(struct pt_regs *ctx) { return alloc_enter(PT_REGS_PARM2(ctx)); }

SEC("uretprobe")
int mmap_exit(struct pt_regs *ctx) { return alloc_exit(ctx, PT_REGS_RC(ctx)); }

SEC("uprobe")
int munmap_entry(struct pt_regs *ctx) { return free_enter(PT_REGS_PARM1(ctx)); }

// posix_memalign(&ptr, alignment, size) returns 0 and stores the address through ptr: the
// out-parameter is kept by thread from entry to return.
static __always_inline void memptr_keep(struct pt_regs *ctx) {
    uint32_t tid = (uint32_t)bpf_get_current_pid_tgid();
    uint64_t memptr = PT_REGS_PARM1(ctx);
    bpf_map_update_elem(&memptrs, &tid, &memptr, BPF_ANY);
}

// At the return: false when the entry was not traced; else the address (0 on failure).
static __always_inline bool memptr_take(struct pt_regs *ctx, uint64_t *address) {
    uint32_t tid = (uint32_t)bpf_get_current_pid_tgid();
    uint64_t *memptr = bpf_map_lookup_elem(&memptrs, &tid);
    if (!memptr)
        return false;
    uint64_t where = *memptr;
    bpf_map_delete_elem(&memptrs, &tid);
    *address = 0;
    if (PT_REGS_RC(ctx) == 0)
        bpf_probe_read_user(address, sizeof(*address), (void *)where);
    return true;
}

SEC("uprobe")
int posix_memalign_enter(struct pt_regs *ctx) {
    if (!is_target())
        return 0;
    memptr_keep(ctx);
    return alloc_enter(PT_REGS_PARM3(ctx));
}

SEC("uretprobe")
int posix_memalign_exit(struct pt_regs *ctx) {
    uint64_t address;
    if (!memptr_take(ctx, &address))
        return 0;
    return alloc_exit(ctx, address);
}

SEC("uprobe")
int aligned_alloc_enter(struct pt_regs *ctx) { return alloc_enter(PT_REGS_PARM2(ctx)); }

SEC("uretprobe")
int aligned_alloc_exit(struct pt_regs *ctx) { return alloc_exit(ctx, PT_REGS_RC(ctx)); }

SEC("uprobe")
int valloc_enter(struct pt_regs *ctx) { return alloc_enter(PT_REGS_PARM1(ctx)); }

SEC("uretprobe")
int valloc_exit(struct pt_regs *ctx) { return alloc_exit(ctx, PT_REGS_RC(ctx)); }

SEC("uprobe")
int memalign_enter(struct pt_regs *ctx) { return alloc_enter(PT_REGS_PARM2(ctx)); }

SEC("uretprobe")
int memalign_exit(struct pt_regs *ctx) { return alloc_exit(ctx, PT_REGS_RC(ctx)); }

SEC("uprobe")
int pvalloc_enter(struct pt_regs *ctx) { return alloc_enter(PT_REGS_PARM1(ctx)); }

SEC("uretprobe")
int pvalloc_exit(struct pt_regs *ctx) { return alloc_exit(ctx, PT_REGS_RC(ctx)); }

// ---- User mode through uprobe sessions (Linux 6.13+) ------------------------------------
//
// One session program serves every allocator: it runs at the entry and, only if the entry
// returned 0, at the return. So an allocation filtered out by -z/-Z or sampled out by -s
// costs one trap instead of two, and the requested size rides in the session's cookie
// instead of a hash map. The attach cookie says which allocator fired.

extern bool bpf_session_is_return(void) __ksym;
extern uint64_t *bpf_session_cookie(void) __ksym;

static __always_inline uint64_t requested_size(struct pt_regs *ctx, uint64_t allocator) {
    switch (allocator) {
    case MEMLEAK_CALLOC: return PT_REGS_PARM1(ctx) * PT_REGS_PARM2(ctx);
    case MEMLEAK_REALLOC: case MEMLEAK_MMAP: case MEMLEAK_ALIGNED_ALLOC: case MEMLEAK_MEMALIGN: return PT_REGS_PARM2(ctx);
    case MEMLEAK_POSIX_MEMALIGN: return PT_REGS_PARM3(ctx);
    default: return PT_REGS_PARM1(ctx);  // malloc, valloc, pvalloc
    }
}

SEC("uprobe.session")
int malloc_session(struct pt_regs *ctx) {
    uint64_t allocator = bpf_get_attach_cookie(ctx);
    uint64_t *cookie = bpf_session_cookie();
    if (!bpf_session_is_return()) {
        if (!is_target())
            return 1;
        if (allocator == MEMLEAK_REALLOC)
            release(PT_REGS_PARM1(ctx));
        uint64_t size = requested_size(ctx, allocator);
        if (!wanted(size))
            return 1;  // no return probe for this call
        *cookie = size;
        if (allocator == MEMLEAK_POSIX_MEMALIGN)
            memptr_keep(ctx);
        return 0;
    }
    uint64_t address = PT_REGS_RC(ctx);
    if (allocator == MEMLEAK_POSIX_MEMALIGN && !memptr_take(ctx, &address))
        return 0;
    if (address != 0 && address != ~0ULL)  // NULL, or mmap's MAP_FAILED
        record(ctx, address, *cookie, BPF_F_USER_STACK);
    return 0;
}

// free and munmap: one link for both.
SEC("uprobe.multi")
int free_multi(struct pt_regs *ctx) { return free_enter(PT_REGS_PARM1(ctx)); }

// ---- Kernel mode -----------------------------------------------------------------------

static __always_inline int kernel_alloc(void *ctx, uint64_t address, uint64_t size) {
    if (address != 0 && wanted(size))
        record(ctx, address, size, 0);
    return 0;
}

SEC("tracepoint/kmem/kmalloc")
int kmalloc_event(struct trace_event_raw_kmalloc *ctx) {
    return kernel_alloc(ctx, (uint64_t)ctx->ptr, ctx->bytes_alloc);
}

SEC("tracepoint/kmem/kmem_cache_alloc")
int kmem_cache_alloc_event(struct trace_event_raw_kmem_cache_alloc *ctx) {
    return kernel_alloc(ctx, (uint64_t)ctx->ptr, ctx->bytes_alloc);
}

SEC("tracepoint/kmem/kfree")
int kfree_event(struct trace_event_raw_kfree *ctx) {
    release((uint64_t)ctx->ptr);
    return 0;
}

SEC("tracepoint/kmem/kmem_cache_free")
int kmem_cache_free_event(struct trace_event_raw_kmem_cache_free *ctx) {
    release((uint64_t)ctx->ptr);
    return 0;
}

// Pages are kept by page frame number (never a kernel address, so no clash with kmalloc's).
SEC("tracepoint/kmem/mm_page_alloc")
int page_alloc_event(struct trace_event_raw_mm_page_alloc *ctx) {
    uint64_t pfn = ctx->pfn;
    if (pfn == ~0ULL)
        return 0;  // the allocation failed
    return kernel_alloc(ctx, pfn, page_size << ctx->order);
}

SEC("tracepoint/kmem/mm_page_free")
int page_free_event(struct trace_event_raw_mm_page_free *ctx) {
    release(ctx->pfn);
    return 0;
}

SEC("tracepoint/kmem/mm_page_free_batched")
int page_free_batched_event(struct trace_event_raw_mm_page_free_batched *ctx) {
    release(ctx->pfn);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
