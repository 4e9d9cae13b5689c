import BPFKit
import ToolEvents

/// TCP state changes, connects and accepts by outcome, and retransmits by state.
final class TCPCollector: Collector {
    private var object: BPFObject?
    private var transitions: BPFMap?
    private var retransmits: BPFMap?

    /// The kernel's TCP states (include/net/tcp_states.h), by number.
    static let states = [
        "", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT",
        "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV", "BOUND_INACTIVE",
    ]

    static func stateName(_ state: Int) -> String {
        state > 0 && state < states.count ? states[state] : "STATE_\(state)"
    }

    init(options: inout CollectorOptions) throws {}

    func start() throws {
        let object = try BPFObject(base64: BPFObjects.exporter_tcp, name: "exporter_tcp")
        try object.attachAll()
        transitions = try object.map("transitions")
        retransmits = try object.map("retransmits")
        self.object = object
    }

    func collect(into families: inout [MetricFamily]) throws {
        guard let transitions, let retransmits else { return }
        let width = Int(EXPORTER_TCP_STATES)
        var counts = [UInt64](repeating: 0, count: width * width)
        for (index, total) in try PerCPUCounters.totals(transitions) where Int(index) < counts.count {
            counts[Int(index)] = total
        }
        func count(_ from: Int, _ to: Int) -> UInt64 { counts[from * width + to] }
        let (established, synSent, synReceived, close) = (1, 2, 3, 7)

        var connects = MetricFamily("bpfkit_tcp_connects", .counter,
                                    help: "Active TCP opens (SYN_SENT to ESTABLISHED, or to CLOSE when refused or timed out).")
        connects.add(.integer(count(synSent, established)), labels: [("result", "established")])
        connects.add(.integer(count(synSent, close)), labels: [("result", "failed")])
        var accepts = MetricFamily("bpfkit_tcp_accepts", .counter,
                                   help: "Passive TCP opens (SYN_RECV to ESTABLISHED, or to CLOSE when the handshake failed).")
        accepts.add(.integer(count(synReceived, established)), labels: [("result", "established")])
        accepts.add(.integer(count(synReceived, close)), labels: [("result", "failed")])
        var changes = MetricFamily("bpfkit_tcp_state_changes", .counter, help: "TCP socket state changes (sock:inet_sock_set_state).")
        for from in 0..<width {
            for to in 0..<width where count(from, to) > 0 {
                changes.add(.integer(count(from, to)), labels: [("old_state", Self.stateName(from)), ("new_state", Self.stateName(to))])
            }
        }
        var resent = MetricFamily("bpfkit_tcp_retransmits", .counter,
                                  help: "TCP segments retransmitted, by the socket's state (tcp:tcp_retransmit_skb).")
        for (state, total) in try PerCPUCounters.totals(retransmits) {
            resent.add(.integer(total), labels: [("state", Self.stateName(Int(state)))])
        }
        families += [connects, accepts, changes, resent]
    }

    func close() { object?.close() }
}
