// gethostlatency: name lookups timed by uprobes on libc's getaddrinfo, gethostbyname and
// gethostbyname2 (each takes the host name first) and uretprobes on their returns.
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpfkit_events.h"
#include "gethostlatency.h"

const volatile uint32_t target_pid = 0;

// Lookups in progress, by thread.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 10240);
    __type(key, uint32_t);
    __type(value, struct gethostlatency_event);
} lookups SEC(".maps");

SEC("uprobe")
int gethostlatency_entry(struct pt_regs *ctx) {
    uint64_t id = bpf_get_current_pid_tgid();
    uint32_t pid = id >> 32;
    uint32_t tid = (uint32_t)id;
    if (target_pid && pid != target_pid)
        return 0;
    struct gethostlatency_event event = {};
    event.start_ns = bpf_ktime_get_ns();
    event.pid = pid;
    event.tid = tid;
    bpf_get_current_comm(event.comm, sizeof(event.comm));
    const char *host = (const char *)PT_REGS_PARM1(ctx);
    if (host)
        bpf_probe_read_user_str(event.host, sizeof(event.host), host);
    bpf_map_update_elem(&lookups, &tid, &event, BPF_ANY);
    return 0;
}

SEC("uretprobe")
int gethostlatency_return(struct pt_regs *ctx) {
    uint32_t tid = (uint32_t)bpf_get_current_pid_tgid();
    struct gethostlatency_event *event = bpf_map_lookup_elem(&lookups, &tid);
    if (!event)
        return 0;
    event->latency_ns = bpf_ktime_get_ns() - event->start_ns;
    output_event(event, sizeof(*event));
    bpf_map_delete_elem(&lookups, &tid);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
