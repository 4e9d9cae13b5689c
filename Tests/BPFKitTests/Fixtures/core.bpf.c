// CO-RE against the running kernel: task_struct fields read through relocated offsets,
// and a field renamed in Linux 5.14 (state → __state) read through a ___flavor fallback.
#include "vmlinux.h"
#include "bpf_helpers.h"

const volatile uint32_t target_tid = 0;

uint32_t seen_pid = 0;
uint32_t seen_tgid = 0;
uint32_t seen_parent_tgid = 0;
uint64_t seen_state = 99;
char seen_comm[16] = {};
uint32_t hits = 0;

SEC("tracepoint/syscalls/sys_enter_getppid")
int read_task(void *ctx) {
    if ((uint32_t)bpf_get_current_pid_tgid() != target_tid)
        return 0;
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    seen_pid = BPF_CORE_READ(task, pid);
    seen_tgid = BPF_CORE_READ(task, tgid);
    struct task_struct *parent = BPF_CORE_READ(task, real_parent);
    seen_parent_tgid = BPF_CORE_READ(parent, tgid);
    BPF_CORE_READ_INTO(&seen_comm, task, comm);
    if (bpf_core_field_exists(task->__state)) {
        seen_state = BPF_CORE_READ(task, __state);
    } else {
        struct task_struct___pre_5_14 *old = (void *)task;
        seen_state = BPF_CORE_READ(old, state);
    }
    __sync_fetch_and_add(&hits, 1);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
