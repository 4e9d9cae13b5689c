// tsa: thread state analysis. Every scheduler transition closes the period a thread spent
// in one state (on CPU, run queue, sleep, disk, lock, other) and adds it to the thread's
// sums in the kernel; user space reads the sums and the still-open periods per interval.
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpfkit_sched.h"
#include "tsa.h"

#define TASK_RUNNING 0x0000
#define TASK_INTERRUPTIBLE 0x0001
#define TASK_UNINTERRUPTIBLE 0x0002
#define TASK_DEAD 0x0080
#define TASK_NOLOAD 0x0400

const volatile uint32_t target_pid = 0;

// The thread's current state and its start.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, uint32_t);
    __type(value, struct tsa_thread);
} threads SEC(".maps");

// Closed periods' sums per thread, emptied by user space at each report.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, uint32_t);
    __type(value, struct tsa_times);
} times SEC(".maps");

// Threads inside a futex system call now.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, uint32_t);
    __type(value, uint8_t);
} in_futex SEC(".maps");

// The time of the last report: a period that began before it was partly reported already
// (user space counts open periods up to the report), so only its part after it is added.
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, uint32_t);
    __type(value, uint64_t);
} reported_at SEC(".maps");

// The thread last switched in on this CPU. Some threads' switch-outs never reach the
// tracepoint (this machine hides its supervisor's threads from tracing): when a switch's
// prev is not the thread seen going in, that thread's open "on CPU" period is dropped
// rather than left to grow.
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, uint32_t);
    __type(value, uint32_t);
} running SEC(".maps");

// `in_iowait` is a one-bit field: read the bytes holding it and shift it out, with the
// byte offset, load size and shifts relocated against the running kernel.
static __always_inline unsigned int in_iowait(struct task_struct *task) {
    unsigned long long value = 0;
    unsigned int size = __builtin_preserve_field_info(task->in_iowait, 1);
    unsigned int offset = __builtin_preserve_field_info(task->in_iowait, 0);
    if (size > sizeof(value))
        return 0;
    bpf_probe_read_kernel(&value, size, (char *)task + offset);
    value <<= __builtin_preserve_field_info(task->in_iowait, 4);
    value >>= __builtin_preserve_field_info(task->in_iowait, 5);
    return (unsigned int)value;
}

static __always_inline bool wanted(uint32_t tgid) {
    return target_pid == 0 || tgid == target_pid;
}

// Adds the open period of `thread` up to `now` to its sums.
static __always_inline void close_period(uint32_t tid, struct tsa_thread *thread, struct task_struct *task, uint64_t now) {
    uint64_t start = thread->since;
    uint32_t zero = 0;
    uint64_t *reported = bpf_map_lookup_elem(&reported_at, &zero);
    if (reported && *reported > start)
        start = *reported;
    uint32_t state = thread->state;
    if (now <= start || state >= TSA_STATES)
        return;
    struct tsa_times *sums = bpf_map_lookup_elem(&times, &tid);
    if (!sums) {
        struct tsa_times empty = {};
        empty.tgid = thread->tgid;
        BPF_CORE_READ_INTO(&empty.comm, task, comm);
        bpf_map_update_elem(&times, &tid, &empty, BPF_NOEXIST);
        sums = bpf_map_lookup_elem(&times, &tid);
        if (!sums)
            return;
    }
    __sync_fetch_and_add(&sums->ns[state], now - start);
}

static __always_inline void enter(uint32_t tid, uint32_t tgid, uint32_t state, uint64_t now) {
    struct tsa_thread thread = {.since = now, .state = state, .tgid = tgid};
    bpf_map_update_elem(&threads, &tid, &thread, BPF_ANY);
}

// The state a thread switched out in `state` waits in.
static __always_inline uint32_t blocked_state(struct task_struct *task, uint32_t tid, unsigned int state) {
    if (!(state & (TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE)))
        return TSA_OTHER;
    if (bpf_map_lookup_elem(&in_futex, &tid))
        return TSA_LOCK;
    if (state & TASK_INTERRUPTIBLE || state & TASK_NOLOAD)
        return TSA_SLEEP;
    return in_iowait(task) ? TSA_DISK : TSA_OTHER;
}

static __always_inline int on_switch(uint64_t *ctx) {
    bool preempted = ctx[0] & 1;
    struct task_struct *prev = (struct task_struct *)ctx[1];
    struct task_struct *next = (struct task_struct *)ctx[2];
    uint64_t now = bpf_ktime_get_ns();

    uint32_t tid = BPF_CORE_READ(prev, pid);
    uint32_t tgid = BPF_CORE_READ(prev, tgid);
    uint32_t zero = 0;
    uint32_t *current = bpf_map_lookup_elem(&running, &zero);
    if (current) {
        uint32_t unseen = *current;
        if (unseen && unseen != tid) {
            struct tsa_thread *lost = bpf_map_lookup_elem(&threads, &unseen);
            if (lost && lost->state == TSA_CPU)
                bpf_map_delete_elem(&threads, &unseen);
        }
        *current = BPF_CORE_READ(next, pid);
    }
    if (tid && wanted(tgid)) {
        struct tsa_thread *thread = bpf_map_lookup_elem(&threads, &tid);
        if (thread)
            close_period(tid, thread, prev, now);
        unsigned int state = task_state(prev);
        if (state & TASK_DEAD) {
            bpf_map_delete_elem(&threads, &tid);
            bpf_map_delete_elem(&in_futex, &tid);
        } else {
            enter(tid, tgid, preempted || state == TASK_RUNNING ? TSA_RUNQ : blocked_state(prev, tid, state), now);
        }
    }

    tid = BPF_CORE_READ(next, pid);
    tgid = BPF_CORE_READ(next, tgid);
    if (tid && wanted(tgid)) {
        struct tsa_thread *thread = bpf_map_lookup_elem(&threads, &tid);
        if (thread)
            close_period(tid, thread, next, now);
        enter(tid, tgid, TSA_CPU, now);
    }
    return 0;
}

static __always_inline int on_wakeup(uint64_t *ctx, bool created) {
    struct task_struct *task = (struct task_struct *)ctx[0];
    uint32_t tid = BPF_CORE_READ(task, pid);
    uint32_t tgid = BPF_CORE_READ(task, tgid);
    if (!tid || !wanted(tgid))
        return 0;
    uint64_t now = bpf_ktime_get_ns();
    struct tsa_thread *thread = created ? NULL : bpf_map_lookup_elem(&threads, &tid);
    if (thread) {
        // A wakeup of a thread that never left the CPU (or is queued already) changes nothing.
        if (thread->state == TSA_CPU || thread->state == TSA_RUNQ)
            return 0;
        close_period(tid, thread, task, now);
    }
    enter(tid, tgid, TSA_RUNQ, now);
    return 0;
}

static __always_inline int futex_enter(void) {
    uint64_t id = bpf_get_current_pid_tgid();
    if (!wanted(id >> 32))
        return 0;
    uint32_t tid = (uint32_t)id;
    uint8_t one = 1;
    bpf_map_update_elem(&in_futex, &tid, &one, BPF_ANY);
    return 0;
}

static __always_inline int futex_exit(void) {
    uint32_t tid = (uint32_t)bpf_get_current_pid_tgid();
    bpf_map_delete_elem(&in_futex, &tid);
    return 0;
}

SEC("tp_btf/sched_switch")
int tsa_switch_btf(uint64_t *ctx) { return on_switch(ctx); }

SEC("tp_btf/sched_wakeup")
int tsa_wakeup_btf(uint64_t *ctx) { return on_wakeup(ctx, false); }

SEC("tp_btf/sched_wakeup_new")
int tsa_wakeup_new_btf(uint64_t *ctx) { return on_wakeup(ctx, true); }

SEC("raw_tp/sched_switch")
int tsa_switch_raw(uint64_t *ctx) { return on_switch(ctx); }

SEC("raw_tp/sched_wakeup")
int tsa_wakeup_raw(uint64_t *ctx) { return on_wakeup(ctx, false); }

SEC("raw_tp/sched_wakeup_new")
int tsa_wakeup_new_raw(uint64_t *ctx) { return on_wakeup(ctx, true); }

SEC("tracepoint/syscalls/sys_enter_futex")
int tsa_futex_enter(void *ctx) { return futex_enter(); }

SEC("tracepoint/syscalls/sys_exit_futex")
int tsa_futex_exit(void *ctx) { return futex_exit(); }

SEC("tracepoint/syscalls/sys_enter_futex_waitv")
int tsa_futex_waitv_enter(void *ctx) { return futex_enter(); }

SEC("tracepoint/syscalls/sys_exit_futex_waitv")
int tsa_futex_waitv_exit(void *ctx) { return futex_exit(); }

char LICENSE[] SEC("license") = "GPL";
