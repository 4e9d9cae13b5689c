// Reads a field this kernel does not have, with no existence check: loading must fail
// with an error naming the program, the type and the field.
#include "vmlinux.h"
#include "bpf_helpers.h"

long state = 0;

SEC("tracepoint/syscalls/sys_enter_getppid")
int read_missing(void *ctx) {
    struct task_struct___pre_5_14 *task = (void *)bpf_get_current_task();
    state = BPF_CORE_READ(task, state);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
