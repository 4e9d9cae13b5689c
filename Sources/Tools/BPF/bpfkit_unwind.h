// Copying user stacks for unwinding in user space (see stacks' `--unwind dwarf`): the
// current task's user registers and up to `user_stack_bytes` of its stack, from sp upward,
// sent through the `events` ring as an unwind_sample. Include after bpfkit_events.h and
// bpfkit_stacks.h; vmlinux.h provides task_struct and pt_regs.
#ifndef BPFKIT_BPF_UNWIND_H
#define BPFKIT_BPF_UNWIND_H
#include "unwind.h"

#define ENOMEM 12

// The pt_regs a task's entry from user space saved (Linux 5.15).
static struct pt_regs *(*bpf_task_pt_regs)(struct task_struct *task) = (void *)175;

const volatile uint32_t unwind_mode = UNWIND_FP;
const volatile uint32_t user_stack_bytes = UNWIND_DEFAULT_STACK_BYTES;

// Bytes copied above a main thread's initial stack pointer: argc and the first argv slot.
#define UNWIND_TOP_SLACK 16

struct unwind_scratch {
    struct unwind_sample header;
    // Room for a last page-sized read that starts just below the maximum.
    uint8_t stack[UNWIND_MAX_STACK_BYTES + 4096];
};

// One slot per CPU (max_entries set to the possible CPUs at load): an array, not a per-CPU
// array, because per-CPU values are limited to 32 KiB.
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, uint32_t);
    __type(value, struct unwind_scratch);
} unwind_scratch SEC(".maps");

// auto mode: processes user space judged to keep frame pointers (UNWIND_PID_FP).
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 10240);
    __type(key, uint32_t);
    __type(value, uint8_t);
} unwind_pids SEC(".maps");

// Whether this process's user stack is copied rather than walked by frame pointers.
static __always_inline bool copies_user_stack(uint32_t pid) {
    if (unwind_mode == UNWIND_DWARF)
        return true;
    if (unwind_mode != UNWIND_AUTO)
        return false;
    uint8_t *verdict = bpf_map_lookup_elem(&unwind_pids, &pid);
    return !verdict || *verdict != UNWIND_PID_FP;
}

// Wakeup flags for a stack record. Waking the reader at every record cost the sampled
// thread ~30 µs per sample on this VM (an interrupt to wake it), more than the copy: the
// readers drain the ring at their periodic ticks, and are woken early only once a quarter of
// the ring waits, so a burst cannot fill it.
static __always_inline uint64_t unwind_wakeup_flags(void) {
    uint64_t waiting = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
    return waiting >= bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) / 4 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

// Sends the current task's user registers and stack, to be joined under (join_tid, level)
// by the off-CPU tools. 0: sent; 1: a kernel thread (no user stack: take the usual path);
// -1: lost (counted in lost_events).
static __always_inline int send_user_stack(uint32_t pid, uint32_t tid, const char *comm, int32_t kernel_stack_id,
                                           uint64_t value, uint32_t join_tid, uint32_t level) {
    struct task_struct *task = bpf_get_current_task_btf();
    if (BPF_CORE_READ(task, flags) & PF_KTHREAD)
        return 1;
    uint32_t cpu = bpf_get_smp_processor_id();
    struct unwind_scratch *scratch = bpf_map_lookup_elem(&unwind_scratch, &cpu);
    if (!scratch) {
        __sync_fetch_and_add(&lost_events, 1);
        return -1;
    }
    // Straight into the scratch slot: the BPF stack (512 bytes) is kept for the callers.
    struct pt_regs *regs = bpf_task_pt_regs(task);
    if (bpf_probe_read_kernel(&scratch->header.ip, 8, &regs->ip) || bpf_probe_read_kernel(&scratch->header.sp, 8, &regs->sp) ||
        bpf_probe_read_kernel(&scratch->header.bp, 8, &regs->bp)) {
        __sync_fetch_and_add(&lost_events, 1);
        return -1;
    }
    scratch->header.kind = UNWIND_RECORD_SAMPLE;
    scratch->header.pid = pid;
    scratch->header.tid = tid;
    scratch->header.kernel_stack_id = kernel_stack_id;
    scratch->header.value = value;
    scratch->header.join_tid = join_tid;
    scratch->header.level = level;
    __builtin_memcpy(scratch->header.comm, comm, sizeof(scratch->header.comm));
    uint64_t sp = scratch->header.sp;

    // Page by page from sp: a read that would cross into an unmapped page (past the stack's
    // top) fails alone, and what was read before it is kept.
    uint32_t want = user_stack_bytes;
    if (want > UNWIND_MAX_STACK_BYTES)
        want = UNWIND_MAX_STACK_BYTES;
    uint32_t requested = want;
    // A main thread's frames all lie below the stack pointer it had at exec: copying past it
    // (argv, the environment) costs the sampled thread time and unwinds nothing. Other
    // threads' stack tops are not at hand: they get the whole copy.
    if (pid == tid) {
        struct mm_struct *mm = BPF_CORE_READ(task, mm);
        uint64_t top = mm ? BPF_CORE_READ(mm, start_stack) : 0;
        if (top > sp && top - sp + UNWIND_TOP_SLACK < want)
            want = (uint32_t)(top - sp) + UNWIND_TOP_SLACK;
    }
    uint32_t copied = 0;
    for (int page = 0; page < UNWIND_MAX_STACK_BYTES / 4096 + 1; page++) {
        if (copied >= want)
            break;
        uint64_t address = sp + copied;
        uint32_t chunk = 4096 - (uint32_t)(address & 4095);
        if (chunk > want - copied)
            chunk = want - copied;
        // clang proves chunk <= 4096 and drops the check below, but older verifiers (6.1)
        // cannot follow that proof: hide the value so the check stays for them to see.
        asm volatile("" : "+r"(chunk));
        if (chunk > 4096)
            break;
        if (bpf_probe_read_user(&scratch->stack[copied & (UNWIND_MAX_STACK_BYTES - 1)], chunk, (void *)address))
            break;
        copied += chunk;
    }
    scratch->header.stack_size = copied;
    scratch->header.requested = requested;  // a copy cut at the top is not truncated
    uint64_t size = copied;
    if (size > UNWIND_MAX_STACK_BYTES)
        size = UNWIND_MAX_STACK_BYTES;
    if (bpf_ringbuf_output(&events, scratch, sizeof(struct unwind_sample) + size, unwind_wakeup_flags())) {
        __sync_fetch_and_add(&lost_events, 1);
        return -1;
    }
    return 0;
}

// The off-CPU tools: thread `tid`'s sleep under `chain` ended after `value` microseconds.
static __always_inline void send_finish(uint32_t tid, uint64_t value, struct chain_key *chain) {
    struct unwind_finish *finish = reserve_event(sizeof(*finish));
    if (!finish)
        return;
    finish->kind = UNWIND_RECORD_FINISH;
    finish->tid = tid;
    finish->value = value;
    __builtin_memcpy(&finish->chain, chain, sizeof(finish->chain));
    bpf_ringbuf_submit(finish, unwind_wakeup_flags());
}

#endif
