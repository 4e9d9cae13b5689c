// tcpretrans: TCP retransmits from tcp:tcp_retransmit_skb, which carries the connection's
// ends and state: only the retransmit path is traced, not every packet. The segment's
// sequence number (-s) is the first word of the skb's TCP control block (skb->cb).
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpfkit_events.h"
#include "tcptools.h"
#include "bpfkit_tcp.h"

const volatile uint16_t target_family = 0;
const volatile bool counting = false;

// -c: retransmits per flow.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 10240);
    __type(key, struct tcpretrans_flow);
    __type(value, uint64_t);
} flows SEC(".maps");

SEC("tracepoint/tcp/tcp_retransmit_skb")
int tcpretrans_skb(struct tcp_retransmit_skb_record *ctx) {
    uint16_t family = ctx->family;
    if (family != TCPTOOLS_AF_INET && family != TCPTOOLS_AF_INET6)
        return 0;
    if (target_family && family != target_family)
        return 0;
    struct tcp_endpoints ends = {};
    ends.family = family;
    ends.sport = ctx->sport;
    ends.dport = ctx->dport;
    if (family == TCPTOOLS_AF_INET) {
        __builtin_memcpy(ends.saddr, ctx->saddr, 4);
        __builtin_memcpy(ends.daddr, ctx->daddr, 4);
    } else {
        __builtin_memcpy(ends.saddr, ctx->saddr_v6, 16);
        __builtin_memcpy(ends.daddr, ctx->daddr_v6, 16);
    }

    if (counting) {
        struct tcpretrans_flow flow = {};
        __builtin_memcpy(flow.saddr, ends.saddr, 16);
        __builtin_memcpy(flow.daddr, ends.daddr, 16);
        flow.sport = ends.sport;
        flow.dport = ends.dport;
        flow.family = family;
        uint64_t one = 1;
        uint64_t *count = bpf_map_lookup_elem(&flows, &flow);
        if (count)
            __sync_fetch_and_add(count, 1);
        else
            bpf_map_update_elem(&flows, &flow, &one, BPF_NOEXIST);
        return 0;
    }

    struct tcpretrans_event *event = reserve_event(sizeof(*event));
    if (!event)
        return 0;
    event->timestamp_ns = bpf_ktime_get_ns();
    event->ends = ends;
    event->pid = bpf_get_current_pid_tgid() >> 32;
    event->state = ctx->state;
    event->type = TCPRETRANS_TYPE_RETRANSMIT;
    uint32_t seq = 0;
    struct sk_buff *skb = (struct sk_buff *)ctx->skbaddr;
    BPF_CORE_READ_INTO(&seq, skb, cb);
    event->seq = seq;
    bpf_ringbuf_submit(event, 0);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
