// uprobe_multi links and uprobe sessions: one program on many functions, the kfuncs a
// session program calls, and an entry program that decides whether its return runs.
#include "vmlinux.h"
#include "bpf_helpers.h"

extern bool bpf_session_is_return(void) __ksym;
extern uint64_t *bpf_session_cookie(void) __ksym;
extern void bpfkit_no_such_kfunc(int) __ksym;  // no kernel has it

const volatile uint32_t target_pid = 0;

uint64_t multi_calls = 0;        // uprobe.multi: entries of every function attached
uint64_t multi_returns = 0;      // uretprobe.multi: their returns
uint64_t last_cookie = 0;        // the attach cookie the last entry saw
uint64_t session_entries = 0;
uint64_t session_returns = 0;
int64_t session_sum = 0;          // sum of results of the returns that ran
uint64_t session_cookie_ok = 0;   // returns whose session cookie held the entry's first argument

static __always_inline bool is_target(void) {
    return (bpf_get_current_pid_tgid() >> 32) == target_pid;
}

SEC("uprobe.multi")
int on_multi(struct pt_regs *ctx) {
    if (!is_target())
        return 0;
    __sync_fetch_and_add(&multi_calls, 1);
    last_cookie = bpf_get_attach_cookie(ctx);
    return 0;
}

SEC("uretprobe.multi")
int on_multi_return(struct pt_regs *ctx) {
    if (is_target())
        __sync_fetch_and_add(&multi_returns, 1);
    return 0;
}

// Entry: keeps the first argument in the session cookie; asks for the return only when the
// argument is even (returns 1 to skip it).
SEC("uprobe.session")
int on_session(struct pt_regs *ctx) {
    if (!is_target())
        return 1;
    uint64_t *cookie = bpf_session_cookie();
    if (!bpf_session_is_return()) {
        __sync_fetch_and_add(&session_entries, 1);
        uint64_t first = PT_REGS_PARM1(ctx);
        *cookie = first;
        return first % 2 == 0 ? 0 : 1;
    }
    __sync_fetch_and_add(&session_returns, 1);
    session_sum += (int64_t)(int)PT_REGS_RC(ctx);
    if (*cookie % 2 == 0)
        __sync_fetch_and_add(&session_cookie_ok, 1);
    return 0;
}

SEC("uprobe")
int on_missing_kfunc(struct pt_regs *ctx) {
    bpfkit_no_such_kfunc(1);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
