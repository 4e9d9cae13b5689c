// Scheduler facts the run-queue and off-CPU programs share. Include after vmlinux.h and
// bpf_helpers.h.
#ifndef BPFKIT_SCHED_H
#define BPFKIT_SCHED_H

// A task's state (0 = TASK_RUNNING): `__state` since Linux 5.14, `state` before; CO-RE
// keeps whichever field this kernel has.
static __always_inline unsigned int task_state(struct task_struct *task) {
    if (bpf_core_field_exists(task->__state))
        return BPF_CORE_READ(task, __state);
    struct task_struct___pre_5_14 *old = (void *)task;
    return BPF_CORE_READ(old, state);
}

#endif
