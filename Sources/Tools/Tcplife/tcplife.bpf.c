// tcplife: TCP sessions from birth to close, from sock:inet_sock_set_state alone. Birth is
// the first state change before FIN_WAIT1; the owning process is recorded where the kernel
// changes state in a process's context (SYN_SENT in connect(), FIN_WAIT1 and LAST_ACK in
// close()/shutdown()); at TCP_CLOSE the byte counters are read from the tcp_sock (CO-RE).
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpfkit_events.h"
#include "tcptools.h"
#include "bpfkit_tcp.h"

const volatile uint32_t target_pid = 0;
const volatile uint16_t target_family = 0;
const volatile uint16_t local_ports[TCPTOOLS_MAX_PORTS] = {};
const volatile uint32_t local_port_count = 0;
const volatile uint16_t remote_ports[TCPTOOLS_MAX_PORTS] = {};
const volatile uint32_t remote_port_count = 0;

struct owner {
    uint32_t pid;
    char comm[16];
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 10240);
    __type(key, uint64_t);
    __type(value, uint64_t);
} births SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 10240);
    __type(key, uint64_t);
    __type(value, struct owner);
} owners SEC(".maps");

SEC("tracepoint/sock/inet_sock_set_state")
int tcplife_state(struct trace_event_raw_inet_sock_set_state *ctx) {
    if (ctx->protocol != IPPROTO_TCP)
        return 0;
    uint64_t sk = (uint64_t)ctx->skaddr;
    int state = ctx->newstate;

    // Port filters before any bookkeeping: a filtered session costs no map entries. Before
    // SYN_SENT's port choice the local port is 0, so local ports filter at close only.
    if (!port_listed(remote_ports, remote_port_count, ctx->dport))
        return 0;

    if (state < TCP_FIN_WAIT1) {
        uint64_t now = bpf_ktime_get_ns();
        bpf_map_update_elem(&births, &sk, &now, BPF_NOEXIST);
    }
    if (state == TCP_SYN_SENT || state == TCP_FIN_WAIT1 || state == TCP_LAST_ACK) {
        struct owner me = {.pid = bpf_get_current_pid_tgid() >> 32};
        if (me.pid) {
            bpf_get_current_comm(me.comm, sizeof(me.comm));
            bpf_map_update_elem(&owners, &sk, &me, state == TCP_SYN_SENT ? BPF_ANY : BPF_NOEXIST);
        }
    }
    if (state != TCP_CLOSE)
        return 0;

    uint64_t *birth = bpf_map_lookup_elem(&births, &sk);
    if (!birth) {
        bpf_map_delete_elem(&owners, &sk);
        return 0;  // born before we started
    }
    uint64_t now = bpf_ktime_get_ns();
    uint64_t span = now - *birth;
    bpf_map_delete_elem(&births, &sk);

    struct owner *owner = bpf_map_lookup_elem(&owners, &sk);
    uint32_t pid = owner ? owner->pid : bpf_get_current_pid_tgid() >> 32;
    if (target_pid && pid != target_pid)
        goto done;
    if (target_family && ctx->family != target_family)
        goto done;
    if (!port_listed(local_ports, local_port_count, ctx->sport))
        goto done;

    struct tcplife_event *event = reserve_event(sizeof(*event));
    if (!event)
        goto done;
    event->timestamp_ns = now;
    event->span_ns = span;
    struct tcp_sock *tp = (struct tcp_sock *)sk;
    event->tx_bytes = BPF_CORE_READ(tp, bytes_acked);
    event->rx_bytes = BPF_CORE_READ(tp, bytes_received);
    __builtin_memset(&event->ends, 0, sizeof(event->ends));
    endpoints_from_state(&event->ends, ctx);
    event->pid = pid;
    event->pad = 0;
    if (owner)
        __builtin_memcpy(event->comm, owner->comm, sizeof(event->comm));
    else
        bpf_get_current_comm(event->comm, sizeof(event->comm));
    bpf_ringbuf_submit(event, 0);
done:
    bpf_map_delete_elem(&owners, &sk);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
