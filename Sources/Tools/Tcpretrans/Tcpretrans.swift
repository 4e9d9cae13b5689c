import ArgumentParser
import BPFKit
import Report
import ToolEvents

/// `bpfkit tcpretrans`: TCP retransmits with the connection's ends and state, bcc's flags and columns.
public struct Tcpretrans: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "tcpretrans",
        abstract: "Trace TCP retransmits.")

    @Flag(name: [.customShort("s"), .long], help: "Display TCP sequence numbers.")
    var sequence = false

    @Flag(name: [.customShort("l"), .customLong("lossprobe")], help: "Include tail loss probe attempts (needs fentry or kprobes).")
    var lossProbe = false

    @Flag(name: .shortAndLong, help: "Count retransmits per flow; print at exit.")
    var count = false

    @OptionGroup var addressFamily: AddressFamilyOptions

    @Option(name: .shortAndLong, help: "Total duration of the trace, in seconds.")
    var duration: Double?

    @Flag(help: "Print one JSON object per retransmit (JSON Lines) instead of columns.")
    var json = false

    public init() {}

    public func validate() throws {
        try addressFamily.check()
        if let duration, !(duration > 0) { throw ValidationError("--duration must be a positive number of seconds") }
    }

    public func run() throws {
        try reportingFailures(tool: "tcpretrans") { try trace() }
    }

    private func trace() throws {
        guard KernelHooks.hasEvent("tcp", "tcp_retransmit_skb") else {
            throw MissingFeatureError(feature: "tracepoint tcp:tcp_retransmit_skb", reason: "this kernel has none (Linux 4.16+ has it)")
        }
        if lossProbe {
            // Tail loss probes have no tracepoint (tcp_send_loss_probe is a plain function).
            let reason = KernelHooks.whyNoFentry(["tcp_send_loss_probe"]) ?? "fentry path not built in"
            Output.standardError.line(
                "bpfkit tcpretrans: -l: tail loss probes need a kprobe or fentry on tcp_send_loss_probe, which this kernel lacks (\(reason)); tracing retransmits only")
        }
        let object = try BPFObject(base64: BPFObjects.tcpretrans, name: "tcpretrans") { spec in
            try spec.setGlobal("target_family", to: addressFamily.family)
            try spec.setGlobal("counting", to: count)
        }
        try object.attachAll()
        let ring = try RingBuffer(map: object.map("events"))
        let loop = try EventLoop(duration: duration)
        let out = Output.standardOutput

        if !json && !count {
            var header = "\(Columns.left("TIME", 8)) \(Columns.left("PID", 7)) IP \(Columns.left("LADDR:LPORT", 20)) T> "
            header += Columns.left("RADDR:RPORT", 20)
            header += sequence ? " \(Columns.left("STATE", 12)) SEQ" : " STATE"
            out.line(header)
        }
        try loop.watch(ring) { bytes in
            guard bytes.count >= MemoryLayout<tcpretrans_event>.size else { return }
            let event = bytes.loadUnaligned(as: tcpretrans_event.self)
            let family = event.ends.family
            let local = InternetAddress.text(family: family, event.ends.saddr)
            let remote = InternetAddress.text(family: family, event.ends.daddr)
            let type = event.type == UInt32(TCPRETRANS_TYPE_LOSS_PROBE) ? "L" : "R"
            let state = TCPState.name(event.state)
            if json {
                out.line(JSON.object([
                    ("time", .string(Clock.wallTime())), ("pid", .unsigned(UInt64(event.pid))),
                    ("ip", .int(Int64(InternetAddress.version(family: family)))),
                    ("laddr", .string(local)), ("lport", .unsigned(UInt64(event.ends.sport))),
                    ("raddr", .string(remote)), ("rport", .unsigned(UInt64(event.ends.dport))),
                    ("type", .string(type)), ("state", .string(state)), ("seq", .unsigned(UInt64(event.seq))),
                ]).serialized())
                return
            }
            var text = "\(Columns.left(Clock.wallTime(), 8)) \(Columns.left(event.pid, 7)) "
            text += "\(Columns.left(InternetAddress.version(family: family), 2)) \(Columns.left("\(local):\(event.ends.sport)", 20)) "
            text += "\(type)> \(Columns.left("\(remote):\(event.ends.dport)", 20))"
            text += sequence ? " \(Columns.left(state, 12)) \(event.seq)" : " \(state)"
            out.line(text)
        }
        try loop.run()
        if count { try printCounts(try TypedMap<tcpretrans_flow, UInt64>(object.map("flows"))) }
        reportLostEvents(object)
        object.close()
    }

    /// bcc's -c table: `[addr]#port <-> [addr]#port  count`, fewest retransmits first.
    private func printCounts(_ flows: TypedMap<tcpretrans_flow, UInt64>) throws {
        let out = Output.standardOutput
        let rows = try flows.entries().sorted { $0.value < $1.value }
        if !json { out.line("\n\(Columns.left("LADDR:LPORT", 25)) \(Columns.left("RADDR:RPORT", 25)) RETRANSMITS") }
        for (flow, retransmits) in rows {
            let local = InternetAddress.text(family: flow.family, flow.saddr)
            let remote = InternetAddress.text(family: flow.family, flow.daddr)
            if json {
                out.line(JSON.object([
                    ("laddr", .string(local)), ("lport", .unsigned(UInt64(flow.sport))),
                    ("raddr", .string(remote)), ("rport", .unsigned(UInt64(flow.dport))),
                    ("retransmits", .unsigned(retransmits)),
                ]).serialized())
            } else {
                out.line("\(Columns.left("[\(local)]#\(flow.sport)", 20)) <-> \(Columns.left("[\(remote)]#\(flow.dport)", 20)) "
                    + Columns.right(retransmits, 10))
            }
        }
    }
}
