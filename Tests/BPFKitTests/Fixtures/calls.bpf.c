// Test fixture: bpf-to-bpf calls into .text. `calls_both` reaches a static __noinline
// function (which itself calls another), and a global function; `calls_global` reaches
// only the global function. Each result lands in .bss, so a test can check the linked
// program computed what the C says.
#include "vmlinux.h"
#include "bpf_helpers.h"

const volatile u32 target_tid = 0;

u64 result_both = 0;
u64 result_global = 0;

static __noinline u64 square(u64 x) {
    return x * x;
}

static __noinline u64 square_plus_one(u64 x) {
    return square(x) + 1;
}

__noinline int triple(int x) {
    return x * 3;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int calls_both(void *ctx) {
    u32 tid = (u32)bpf_get_current_pid_tgid();
    if (tid != target_tid)
        return 0;
    // tid - tid + 5: a value clang cannot fold into the callees.
    u64 five = (u64)(tid - target_tid) + 5;
    result_both = square_plus_one(five) * 1000 + (u64)triple((int)five);
    return 0;
}

SEC("tp/syscalls/sys_enter_getppid")
int calls_global(void *ctx) {
    u32 tid = (u32)bpf_get_current_pid_tgid();
    if (tid != target_tid)
        return 0;
    result_global = (u64)triple((int)(tid - target_tid) + 7);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
