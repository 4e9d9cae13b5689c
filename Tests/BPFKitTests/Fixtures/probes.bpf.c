// Probes of every kind this project attaches: BTF tracepoints, a raw tracepoint, uprobes,
// fentry/fexit and a kprobe. Each program counts what it sees for one target.
#include "vmlinux.h"
#include "bpf_helpers.h"

const volatile uint32_t target_tid = 0;   // a thread of the test process
const volatile uint32_t target_pid = 0;   // a process the test starts
const volatile uint64_t target_size = 0;  // malloc size to look for

uint64_t switches = 0;
uint64_t wakeups = 0;
uint64_t raw_enters = 0;
int64_t add_first = 0, add_second = 0, add_result = 0;
uint64_t add_calls = 0, add_returns = 0;
uint64_t malloc_calls = 0, malloc_result = 0;
uint32_t probe_pid = 0;
uint64_t fentry_hits = 0;

// tp_btf arguments: (bool preempt, struct task_struct *prev, struct task_struct *next, ...).
SEC("tp_btf/sched_switch")
int on_switch(uint64_t *ctx) {
    struct task_struct *prev = (struct task_struct *)ctx[1];
    struct task_struct *next = (struct task_struct *)ctx[2];
    if (prev->pid == target_tid || next->pid == target_tid)
        __sync_fetch_and_add(&switches, 1);
    return 0;
}

SEC("tp_btf/sched_wakeup")
int on_wakeup(uint64_t *ctx) {
    struct task_struct *task = (struct task_struct *)ctx[0];
    if (task->pid == target_tid)
        __sync_fetch_and_add(&wakeups, 1);
    return 0;
}

// raw_tp arguments: (struct pt_regs *regs, long id).
SEC("raw_tp/sys_enter")
int on_raw_enter(uint64_t *ctx) {
    if ((uint32_t)bpf_get_current_pid_tgid() == target_tid)
        __sync_fetch_and_add(&raw_enters, 1);
    return 0;
}

SEC("uprobe")
int on_add(struct pt_regs *ctx) {
    if ((bpf_get_current_pid_tgid() >> 32) != target_pid)
        return 0;
    add_first = (int)PT_REGS_PARM1(ctx);
    add_second = (int)PT_REGS_PARM2(ctx);
    probe_pid = bpf_get_current_pid_tgid() >> 32;
    __sync_fetch_and_add(&add_calls, 1);
    return 0;
}

SEC("uretprobe")
int on_add_return(struct pt_regs *ctx) {
    if ((bpf_get_current_pid_tgid() >> 32) != target_pid)
        return 0;
    add_result = (int)PT_REGS_RC(ctx);
    __sync_fetch_and_add(&add_returns, 1);
    return 0;
}

SEC("uprobe")
int on_malloc(struct pt_regs *ctx) {
    if (PT_REGS_PARM1(ctx) == target_size)
        __sync_fetch_and_add(&malloc_calls, 1);
    return 0;
}

SEC("uretprobe")
int on_malloc_return(struct pt_regs *ctx) {
    if ((bpf_get_current_pid_tgid() >> 32) == target_pid && malloc_calls > 0 && !malloc_result)
        malloc_result = PT_REGS_RC(ctx);
    return 0;
}

SEC("fentry/do_nanosleep")
int on_nanosleep(uint64_t *ctx) {
    __sync_fetch_and_add(&fentry_hits, 1);
    return 0;
}

SEC("kprobe/do_nanosleep")
int on_nanosleep_kprobe(struct pt_regs *ctx) {
    return 0;
}

// vfs_read(struct file *file, char __user *buf, size_t count, loff_t *pos) -> ssize_t, seen
// four ways for the test thread: what each saw of the caller, the request and the result.
uint32_t read_fentry_pid = 0, read_kprobe_pid = 0;
uint64_t read_fentry_count = 0, read_kprobe_count = 0;
int64_t read_fexit_result = 0, read_kretprobe_result = 0;

static __always_inline int is_target_thread(void) {
    return target_tid && (uint32_t)bpf_get_current_pid_tgid() == target_tid;
}

SEC("fentry/vfs_read")
int on_vfs_read(uint64_t *ctx) {
    if (!is_target_thread())
        return 0;
    read_fentry_pid = bpf_get_current_pid_tgid() >> 32;
    read_fentry_count = ctx[2];
    return 0;
}

// fexit's context holds the arguments, then the return value.
SEC("fexit/vfs_read")
int on_vfs_read_exit(uint64_t *ctx) {
    if (is_target_thread())
        read_fexit_result = (int64_t)ctx[4];
    return 0;
}

SEC("kprobe/vfs_read")
int on_vfs_read_kprobe(struct pt_regs *ctx) {
    if (!is_target_thread())
        return 0;
    read_kprobe_pid = bpf_get_current_pid_tgid() >> 32;
    read_kprobe_count = PT_REGS_PARM3(ctx);
    return 0;
}

SEC("kretprobe/vfs_read")
int on_vfs_read_kretprobe(struct pt_regs *ctx) {
    if (is_target_thread())
        read_kretprobe_result = (int64_t)PT_REGS_RC(ctx);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
