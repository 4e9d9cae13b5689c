// Events of the TCP tools (tcpconnect, tcpaccept, tcpretrans, tcplife), shared by their
// .bpf.c programs and Swift files. Addresses are kept as the kernel holds them (network byte
// order bytes: 4 used for AF_INET, 16 for AF_INET6); ports are host order.
#ifndef BPFKIT_TCPTOOLS_H
#define BPFKIT_TCPTOOLS_H
#include "tool_types.h"

#define TCPTOOLS_AF_INET 2
#define TCPTOOLS_AF_INET6 10
#define TCPTOOLS_MAX_PORTS 8    // ports a -P/-L/-D list may name

/// The two ends of a connection.
struct tcp_endpoints {
    uint8_t saddr[16];      // local address
    uint8_t daddr[16];      // remote address
    uint16_t sport;         // local port
    uint16_t dport;         // remote port
    uint16_t family;        // AF_INET or AF_INET6
    uint16_t pad;
};

/// tcpconnect: one active open, sent once the local port is known.
struct tcpconnect_event {
    uint64_t timestamp_ns;  // CLOCK_MONOTONIC when the SYN was about to go out
    struct tcp_endpoints ends;
    uint32_t pid;
    uint32_t uid;
    char comm[16];
};

/// tcpconnect -c: connects counted per local address, remote address and port.
struct tcpconnect_flow {
    uint8_t saddr[16];
    uint8_t daddr[16];
    uint16_t dport;
    uint16_t family;
    uint32_t pad;
};

/// tcpaccept: one connection accept(2)/accept4(2) returned.
struct tcpaccept_event {
    uint64_t timestamp_ns;
    struct tcp_endpoints ends;
    uint32_t pid;
    uint32_t uid;
    char comm[16];
};

#define TCPRETRANS_TYPE_RETRANSMIT 1
#define TCPRETRANS_TYPE_LOSS_PROBE 2

/// tcpretrans: one retransmitted segment.
struct tcpretrans_event {
    uint64_t timestamp_ns;
    struct tcp_endpoints ends;
    uint32_t pid;           // whoever was on the CPU (often 0: retransmits run from timers)
    uint32_t state;         // the kernel's TCP state (TCP_ESTABLISHED = 1, …)
    uint32_t type;          // TCPRETRANS_TYPE_*
    uint32_t seq;           // the segment's first sequence number (-s)
};

/// tcpretrans -c: retransmits counted per flow.
struct tcpretrans_flow {
    uint8_t saddr[16];
    uint8_t daddr[16];
    uint16_t sport;
    uint16_t dport;
    uint16_t family;
    uint16_t pad;
};

/// tcplife: one connection that reached TCP_CLOSE.
struct tcplife_event {
    uint64_t timestamp_ns;
    uint64_t span_ns;       // first state change to close
    uint64_t tx_bytes;      // tcp_sock.bytes_acked
    uint64_t rx_bytes;      // tcp_sock.bytes_received
    struct tcp_endpoints ends;
    uint32_t pid;
    uint32_t pad;
    char comm[16];
};

#endif
