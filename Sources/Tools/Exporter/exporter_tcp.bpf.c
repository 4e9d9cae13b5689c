// The exporter's TCP counters: state changes (sock:inet_sock_set_state, for TCP sockets),
// from which connects (SYN_SENT -> ESTABLISHED) and accepts (SYN_RECV -> ESTABLISHED)
// follow, and retransmitted segments by the socket's state (tcp:tcp_retransmit_skb).
// Raw tracepoints: the socket is read with CO-RE.
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "exporter.h"

#define IPPROTO_TCP 6

// Index old * 16 + new.
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, EXPORTER_TCP_STATES * EXPORTER_TCP_STATES);
    __type(key, uint32_t);
    __type(value, uint64_t);
} transitions SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, EXPORTER_TCP_STATES);
    __type(key, uint32_t);
    __type(value, uint64_t);
} retransmits SEC(".maps");

// inet_sock_set_state(const struct sock *sk, const int oldstate, const int newstate)
SEC("raw_tp/inet_sock_set_state")
int exporter_tcp_state(uint64_t *ctx) {
    struct sock *sk = (struct sock *)ctx[0];
    if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
        return 0;
    uint32_t old = (uint32_t)ctx[1], new = (uint32_t)ctx[2];
    if (old >= EXPORTER_TCP_STATES || new >= EXPORTER_TCP_STATES)
        return 0;
    uint32_t index = old * EXPORTER_TCP_STATES + new;
    uint64_t *count = bpf_map_lookup_elem(&transitions, &index);
    if (count)
        *count += 1;
    return 0;
}

// tcp_retransmit_skb(const struct sock *sk, const struct sk_buff *skb, …)
SEC("raw_tp/tcp_retransmit_skb")
int exporter_tcp_retransmit(uint64_t *ctx) {
    struct sock *sk = (struct sock *)ctx[0];
    uint32_t state = BPF_CORE_READ(sk, __sk_common.skc_state);
    if (state >= EXPORTER_TCP_STATES)
        return 0;
    uint64_t *count = bpf_map_lookup_elem(&retransmits, &state);
    if (count)
        *count += 1;
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
