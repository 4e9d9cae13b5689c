// execsnoop: trace execve(2) from the syscall tracepoints. The arguments are read at
// entry (while argv still points at the old image's memory) and the event is sent at
// return, with the result and the new image's comm.
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpfkit_events.h"
#include "execsnoop.h"

// Options, fixed before load so the verifier prunes what they switch off.
const volatile bool include_failed = false;
const volatile uint32_t target_uid = (uint32_t)-1;
const volatile uint32_t max_args = EXECSNOOP_DEFAULT_MAX_ARGS;

struct exec_record {
    struct execsnoop_event event;
    char args[EXECSNOOP_ARGS_BYTES];
};

// In-flight execs by thread. Not preallocated: 10240 records of 7.7 KB would cost 80 MB
// and 14 ms at every start.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 10240);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, uint32_t);
    __type(value, struct exec_record);
} execs SEC(".maps");

// A zeroed record to insert from: a record is too big for the 512-byte BPF stack.
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, uint32_t);
    __type(value, struct exec_record);
} blank SEC(".maps");

struct argument_reader {
    struct exec_record *record;
    const char *const *argv;
};

// Appends argv[index + 1] to the record; returns 1 to stop. Run through bpf_loop, so the
// verifier checks one iteration, not sixty: loading stays fast. The running size lives in
// the map value, not on the stack: the verifier then sees the same state every iteration
// (an unknown size, bounded by the check) instead of a range that grows each time.
static long read_argument(uint32_t index, struct argument_reader *reader) {
    struct exec_record *record = reader->record;
    uint32_t i = index + 1;
    if (i >= max_args) {
        const char *extra = 0;
        bpf_probe_read_user(&extra, sizeof(extra), &reader->argv[i]);
        if (extra)
            record->event.args_truncated = 1;
        return 1;
    }
    const char *arg = 0;
    if (bpf_probe_read_user(&arg, sizeof(arg), &reader->argv[i]) || !arg)
        return 1;
    uint32_t size = record->event.args_size;
    if (size > EXECSNOOP_ARGS_BYTES - EXECSNOOP_ARG_SIZE)
        return 1;
    long length = bpf_probe_read_user_str(&record->args[size], EXECSNOOP_ARG_SIZE, arg);
    if (length <= 0)
        return 1;
    if (length == EXECSNOOP_ARG_SIZE)
        record->event.args_truncated = 1;
    record->event.args_size = size + length;
    record->event.args_count++;
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int execsnoop_enter(struct trace_event_raw_sys_enter *ctx) {
    uint64_t id = bpf_get_current_pid_tgid();
    uint32_t pid = id >> 32;
    uint32_t tid = (uint32_t)id;
    uint32_t uid = (uint32_t)bpf_get_current_uid_gid();
    if (target_uid != (uint32_t)-1 && uid != target_uid)
        return 0;

    uint32_t zero = 0;
    struct exec_record *blank_record = bpf_map_lookup_elem(&blank, &zero);
    if (!blank_record)
        return 0;
    if (bpf_map_update_elem(&execs, &tid, blank_record, BPF_NOEXIST))
        return 0;
    struct exec_record *record = bpf_map_lookup_elem(&execs, &tid);
    if (!record)
        return 0;

    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    struct task_struct *parent = BPF_CORE_READ(task, real_parent);
    record->event.pid = pid;
    record->event.ppid = parent ? BPF_CORE_READ(parent, tgid) : 0;
    record->event.uid = uid;

    // argv[0] is usually the program as invoked; bcc prints the filename first instead.
    const char *filename = (const char *)ctx->args[0];
    long length = bpf_probe_read_user_str(record->args, EXECSNOOP_ARG_SIZE, filename);
    if (length <= 0)
        return 0;
    uint32_t size = length;
    record->event.args_count = 1;
    if (length == EXECSNOOP_ARG_SIZE)
        record->event.args_truncated = 1;

    record->event.args_size = size;
    struct argument_reader reader = {
        .record = record,
        .argv = (const char *const *)ctx->args[1],
    };
    bpf_loop(EXECSNOOP_TOTAL_MAX_ARGS - 1, read_argument, &reader, 0);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_execve")
int execsnoop_exit(struct trace_event_raw_sys_exit *ctx) {
    uint32_t tid = (uint32_t)bpf_get_current_pid_tgid();
    struct exec_record *record = bpf_map_lookup_elem(&execs, &tid);
    if (!record)
        return 0;
    int32_t ret = ctx->ret;
    if (ret < 0 && !include_failed)
        goto done;
    record->event.retval = ret;
    record->event.timestamp_ns = bpf_ktime_get_ns();
    bpf_get_current_comm(record->event.comm, sizeof(record->event.comm));
    uint64_t size = sizeof(record->event) + record->event.args_size;
    if (size > sizeof(*record))
        size = sizeof(*record);
    output_event(record, size);
done:
    bpf_map_delete_elem(&execs, &tid);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
