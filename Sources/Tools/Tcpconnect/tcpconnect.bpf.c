// tcpconnect: active TCP opens. sock:inet_sock_set_state fires as a socket enters
// TCP_SYN_SENT inside connect(), in the connecting thread: pid, uid, comm and cgroup are
// the caller's. The local port is chosen just after that state change, so the event is
// sent when connect() returns (sys_exit_connect, same thread, port read from the sock) or,
// for connects that are no syscall of this thread, when the socket leaves SYN_SENT.
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpfkit_events.h"
#include "tcptools.h"
#include "bpfkit_tcp.h"

// Filters, fixed before load. 0 (or -1 for the uid) = any.
const volatile uint32_t target_pid = 0;
const volatile uint32_t target_uid = (uint32_t)-1;
const volatile uint64_t target_cgroup = 0;
const volatile uint16_t target_family = 0;
const volatile uint16_t target_ports[TCPTOOLS_MAX_PORTS] = {};
const volatile uint32_t target_port_count = 0;
const volatile bool counting = false;

// Connects in SYN_SENT whose event is not sent yet, by sock.
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, uint64_t);
    __type(value, struct tcpconnect_event);
} connecting SEC(".maps");

// The sock each thread is connecting, until its connect() returns.
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, uint32_t);
    __type(value, uint64_t);
} threads SEC(".maps");

// -c: connects per flow.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 10240);
    __type(key, struct tcpconnect_flow);
    __type(value, uint64_t);
} flows SEC(".maps");

static __always_inline void report(struct tcpconnect_event *event) {
    if (!counting) {
        output_event(event, sizeof(*event));
        return;
    }
    struct tcpconnect_flow flow = {};
    __builtin_memcpy(flow.saddr, event->ends.saddr, 16);
    __builtin_memcpy(flow.daddr, event->ends.daddr, 16);
    flow.dport = event->ends.dport;
    flow.family = event->ends.family;
    uint64_t one = 1;
    uint64_t *count = bpf_map_lookup_elem(&flows, &flow);
    if (count)
        __sync_fetch_and_add(count, 1);
    else
        bpf_map_update_elem(&flows, &flow, &one, BPF_NOEXIST);
}

SEC("tracepoint/sock/inet_sock_set_state")
int tcpconnect_state(struct trace_event_raw_inet_sock_set_state *ctx) {
    if (ctx->protocol != IPPROTO_TCP)
        return 0;
    uint64_t sk = (uint64_t)ctx->skaddr;
    if (ctx->newstate == TCP_SYN_SENT) {
        if (target_family && ctx->family != target_family)
            return 0;
        if (!port_listed(target_ports, target_port_count, ctx->dport))
            return 0;
        uint64_t id = bpf_get_current_pid_tgid();
        uint32_t pid = id >> 32;
        uint32_t tid = (uint32_t)id;
        uint32_t uid = (uint32_t)bpf_get_current_uid_gid();
        if (target_pid && pid != target_pid)
            return 0;
        if (target_uid != (uint32_t)-1 && uid != target_uid)
            return 0;
        if (target_cgroup && bpf_get_current_cgroup_id() != target_cgroup)
            return 0;
        struct tcpconnect_event event = {};
        event.timestamp_ns = bpf_ktime_get_ns();
        endpoints_from_state(&event.ends, ctx);
        event.pid = pid;
        event.uid = uid;
        bpf_get_current_comm(event.comm, sizeof(event.comm));
        bpf_map_update_elem(&connecting, &sk, &event, BPF_ANY);
        bpf_map_update_elem(&threads, &tid, &sk, BPF_ANY);
        return 0;
    }
    if (ctx->oldstate != TCP_SYN_SENT)
        return 0;
    struct tcpconnect_event *event = bpf_map_lookup_elem(&connecting, &sk);
    if (!event)
        return 0;
    // No local port yet: connect() failed before any SYN went out (bcc skips these too).
    if (ctx->sport != 0) {
        event->ends.sport = ctx->sport;
        report(event);
    }
    bpf_map_delete_elem(&connecting, &sk);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int tcpconnect_return(struct trace_event_raw_sys_exit *ctx) {
    uint32_t tid = (uint32_t)bpf_get_current_pid_tgid();
    uint64_t *skp = bpf_map_lookup_elem(&threads, &tid);
    if (!skp)
        return 0;
    uint64_t sk = *skp;
    bpf_map_delete_elem(&threads, &tid);
    struct tcpconnect_event *event = bpf_map_lookup_elem(&connecting, &sk);
    if (!event)
        return 0;
    uint16_t sport = BPF_CORE_READ((struct sock *)sk, __sk_common.skc_num);
    if (sport == 0)
        return 0;  // no port yet: the state change out of SYN_SENT sends it
    event->ends.sport = sport;
    report(event);
    bpf_map_delete_elem(&connecting, &sk);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
