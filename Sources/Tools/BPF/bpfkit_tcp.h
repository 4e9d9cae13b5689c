// What the TCP tools' programs share: TCP state numbers, the ends of a connection from the
// sock tracepoint or from a struct sock, and port-list filters. Include after vmlinux.h,
// bpf_helpers.h and tcptools.h.
#ifndef BPFKIT_TCP_H
#define BPFKIT_TCP_H

#define IPPROTO_TCP 6

// include/net/tcp_states.h: part of the tracepoints' ABI (their format files print them).
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7
#define TCP_LAST_ACK 9

// The ends as sock:inet_sock_set_state records them (ports already host order). The address
// arrays are copied with a helper: the verifier refuses loads through a ctx pointer moved by
// a relocated (CO-RE) offset.
static __always_inline void endpoints_from_state(struct tcp_endpoints *ends,
                                                 const struct trace_event_raw_inet_sock_set_state *ctx) {
    ends->family = ctx->family;
    ends->sport = ctx->sport;
    ends->dport = ctx->dport;
    if (ctx->family == TCPTOOLS_AF_INET) {
        bpf_probe_read_kernel(ends->saddr, 4, __builtin_preserve_access_index(&ctx->saddr));
        bpf_probe_read_kernel(ends->daddr, 4, __builtin_preserve_access_index(&ctx->daddr));
    } else {
        bpf_probe_read_kernel(ends->saddr, 16, __builtin_preserve_access_index(&ctx->saddr_v6));
        bpf_probe_read_kernel(ends->daddr, 16, __builtin_preserve_access_index(&ctx->daddr_v6));
    }
}

// The ends of a connected socket, read through CO-RE.
static __always_inline void endpoints_from_sock(struct tcp_endpoints *ends, struct sock *sk) {
    uint16_t family = BPF_CORE_READ(sk, __sk_common.skc_family);
    uint16_t dport = BPF_CORE_READ(sk, __sk_common.skc_dport);
    ends->family = family;
    ends->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
    ends->dport = (uint16_t)((dport >> 8) | (dport << 8));
    if (family == TCPTOOLS_AF_INET) {
        BPF_CORE_READ_INTO((uint32_t *)ends->saddr, sk, __sk_common.skc_rcv_saddr);
        BPF_CORE_READ_INTO((uint32_t *)ends->daddr, sk, __sk_common.skc_daddr);
    } else {
        BPF_CORE_READ_INTO((struct in6_addr *)ends->saddr, sk, __sk_common.skc_v6_rcv_saddr);
        BPF_CORE_READ_INTO((struct in6_addr *)ends->daddr, sk, __sk_common.skc_v6_daddr);
    }
}

// Whether `port` is among the first `count` of `ports` (count 0: no filter, every port).
static __always_inline bool port_listed(const volatile uint16_t *ports, uint32_t count, uint16_t port) {
    if (count == 0)
        return true;
#pragma unroll
    for (int i = 0; i < TCPTOOLS_MAX_PORTS; i++) {
        if (i >= count)
            break;
        if (ports[i] == port)
            return true;
    }
    return false;
}

#endif
