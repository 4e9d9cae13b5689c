// opensnoop: trace open(2), openat(2) and openat2(2) from the syscall tracepoints. The
// path pointer and flags are kept at entry; the event is sent at return with the result.
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpfkit_events.h"
#include "opensnoop.h"

// Filters, fixed before load so the verifier prunes what they switch off. 0 = any.
const volatile uint32_t target_pid = 0;
const volatile uint32_t target_tid = 0;
const volatile uint32_t target_uid = (uint32_t)-1;
const volatile bool failed_only = false;

struct open_args {
    const char *path;
    int32_t flags;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 10240);
    __type(key, uint32_t);
    __type(value, struct open_args);
} opens SEC(".maps");

static __always_inline bool wanted(uint32_t pid, uint32_t tid) {
    if (target_pid && pid != target_pid)
        return false;
    if (target_tid && tid != target_tid)
        return false;
    if (target_uid != (uint32_t)-1 && (uint32_t)bpf_get_current_uid_gid() != target_uid)
        return false;
    return true;
}

static __always_inline int remember(const char *path, int32_t flags) {
    uint64_t id = bpf_get_current_pid_tgid();
    uint32_t tid = (uint32_t)id;
    if (!wanted(id >> 32, tid))
        return 0;
    struct open_args args = {.path = path, .flags = flags};
    bpf_map_update_elem(&opens, &tid, &args, BPF_ANY);
    return 0;
}

static __always_inline int report(long ret) {
    uint64_t id = bpf_get_current_pid_tgid();
    uint32_t tid = (uint32_t)id;
    struct open_args *args = bpf_map_lookup_elem(&opens, &tid);
    if (!args)
        return 0;
    if (failed_only && ret >= 0)
        goto done;
    struct opensnoop_event *event = reserve_event(sizeof(*event));
    if (!event)
        goto done;
    event->timestamp_ns = bpf_ktime_get_ns();
    event->pid = id >> 32;
    event->tid = tid;
    event->uid = (uint32_t)bpf_get_current_uid_gid();
    event->ret = ret;
    event->flags = args->flags;
    event->pad = 0;
    bpf_get_current_comm(event->comm, sizeof(event->comm));
    if (bpf_probe_read_user_str(event->path, sizeof(event->path), args->path) < 0)
        event->path[0] = 0;
    bpf_ringbuf_submit(event, 0);
done:
    bpf_map_delete_elem(&opens, &tid);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_open")
int opensnoop_enter_open(struct trace_event_raw_sys_enter *ctx) {
    return remember((const char *)ctx->args[0], (int32_t)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int opensnoop_enter_openat(struct trace_event_raw_sys_enter *ctx) {
    return remember((const char *)ctx->args[1], (int32_t)ctx->args[2]);
}

// openat2's flags live in a struct open_how in user memory; its first member is flags.
SEC("tracepoint/syscalls/sys_enter_openat2")
int opensnoop_enter_openat2(struct trace_event_raw_sys_enter *ctx) {
    uint64_t flags = 0;
    bpf_probe_read_user(&flags, sizeof(flags), (const void *)ctx->args[2]);
    return remember((const char *)ctx->args[1], (int32_t)flags);
}

SEC("tracepoint/syscalls/sys_exit_open")
int opensnoop_exit_open(struct trace_event_raw_sys_exit *ctx) { return report(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_openat")
int opensnoop_exit_openat(struct trace_event_raw_sys_exit *ctx) { return report(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_openat2")
int opensnoop_exit_openat2(struct trace_event_raw_sys_exit *ctx) { return report(ctx->ret); }

char LICENSE[] SEC("license") = "GPL";
