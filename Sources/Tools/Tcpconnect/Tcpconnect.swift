import ArgumentParser
import BPFKit
import Report
import ToolEvents

/// `bpfkit tcpconnect`: active TCP connects (IPv4 and IPv6), bcc's flags and columns.
///
/// bcc traces tcp_v4_connect/tcp_v6_connect with kprobes; this traces the socket entering
/// TCP_SYN_SENT (sock:inet_sock_set_state), which happens inside connect() in the caller's
/// context, so it needs neither kprobes nor fentry and sees the same connects.
public struct Tcpconnect: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "tcpconnect",
        abstract: "Trace TCP active connects (connect()).")

    @Flag(name: .shortAndLong, help: "Include a timestamp column (seconds since the first connect).")
    var timestamp = false

    @Option(name: .shortAndLong, help: "Trace this PID only.")
    var pid: UInt32?

    @Option(name: [.customShort("P"), .customLong("port")], help: ArgumentHelp("Comma-separated destination ports to trace (at most 8).", valueName: "ports"))
    var ports: PortList?

    @OptionGroup var addressFamily: AddressFamilyOptions

    @Flag(name: [.customShort("L"), .customLong("lport")], help: "Include the local port column.")
    var lport = false

    @Option(name: .shortAndLong, help: "Trace this UID only.")
    var uid: UInt32?

    @Flag(name: .shortAndLong, help: "Count connects per source address and destination address/port; print at exit.")
    var count = false

    @Option(name: .customLong("cgroup"), help: ArgumentHelp("Trace only tasks in this cgroup v2 directory (bcc's --cgroupmap).", valueName: "path"))
    var cgroup: CgroupFilter?

    @Option(name: .shortAndLong, help: "Total duration of the trace, in seconds.")
    var duration: Double?

    @OptionGroup var output: OutputOptions

    public init() {}

    public func validate() throws {
        try addressFamily.check()
        if pid == 0 { throw ValidationError("--pid must be a process id above 0") }
        if let duration, !(duration > 0) { throw ValidationError("--duration must be a positive number of seconds") }
    }

    public func run() throws {
        try reportingFailures(tool: "tcpconnect") { try trace() }
    }

    private func trace() throws {
        let cgroupID = try cgroup?.id()
        let object = try BPFObject(base64: BPFObjects.tcpconnect, name: "tcpconnect") { spec in
            try spec.setGlobal("target_pid", to: pid ?? 0)
            try spec.setGlobal("target_uid", to: uid ?? UInt32.max)
            try spec.setGlobal("target_cgroup", to: cgroupID ?? 0)
            try spec.setGlobal("target_family", to: addressFamily.family)
            try spec.setPorts(ports, "target_ports", count: "target_port_count")
            try spec.setGlobal("counting", to: count)
        }
        try object.attachAll()
        let ring = try RingBuffer(map: object.map("events"))
        let loop = try EventLoop(duration: duration)
        let out = Output.standardOutput
        var firstTimestamp: UInt64?

        if !output.json && !count {
            var header = ""
            if timestamp { header += Columns.left("TIME(s)", 9) }
            if output.printUID { header += Columns.left("UID", 6) }
            header += "\(Columns.left("PID", 6)) \(Columns.left("COMM", 12)) IP \(Columns.left("SADDR", 16)) "
            if lport { header += Columns.left("LPORT", 6) + " " }
            header += "\(Columns.left("DADDR", 16)) DPORT"
            out.line(header)
        }

        try loop.watch(ring) { bytes in
            guard bytes.count >= MemoryLayout<tcpconnect_event>.size else { return }
            let event = bytes.loadUnaligned(as: tcpconnect_event.self)
            let family = event.ends.family
            let source = InternetAddress.text(family: family, event.ends.saddr)
            let destination = InternetAddress.text(family: family, event.ends.daddr)
            let comm = cString(event.comm)
            let start = firstTimestamp ?? event.timestamp_ns
            firstTimestamp = start
            let seconds = Double(event.timestamp_ns &- start) / 1e9

            if output.json {
                out.line(JSON.object([
                    ("timestamp", .double(seconds)), ("pid", .unsigned(UInt64(event.pid))),
                    ("uid", .unsigned(UInt64(event.uid))), ("comm", .string(comm)),
                    ("ip", .int(Int64(InternetAddress.version(family: family)))),
                    ("saddr", .string(source)), ("lport", .unsigned(UInt64(event.ends.sport))),
                    ("daddr", .string(destination)), ("dport", .unsigned(UInt64(event.ends.dport))),
                ]).serialized())
                return
            }
            var text = ""
            if timestamp { text += Columns.left(Columns.fixed(seconds, decimals: 3), 9) }
            if output.printUID { text += Columns.left(event.uid, 6) }
            text += "\(Columns.left(event.pid, 6)) \(Columns.left(String(comm.prefix(12)), 12)) "
            text += "\(Columns.left(InternetAddress.version(family: family), 2)) \(Columns.left(source, 16)) "
            if lport { text += Columns.left(event.ends.sport, 6) + " " }
            text += "\(Columns.left(destination, 16)) \(event.ends.dport)"
            out.line(text)
        }
        try loop.run()
        if count { try printCounts(try TypedMap<tcpconnect_flow, UInt64>(object.map("flows"))) }
        reportLostEvents(object)
        object.close()
    }

    /// bcc's -c table: one row per flow, most connects first.
    private func printCounts(_ flows: TypedMap<tcpconnect_flow, UInt64>) throws {
        let out = Output.standardOutput
        let rows = try flows.entries().sorted { $0.value > $1.value }
        if !output.json {
            out.line("\n\(Columns.left("LADDR", 25)) \(Columns.left("RADDR", 25)) \(Columns.left("RPORT", 20)) CONNECTS")
        }
        for (flow, connects) in rows {
            let source = InternetAddress.text(family: flow.family, flow.saddr)
            let destination = InternetAddress.text(family: flow.family, flow.daddr)
            if output.json {
                out.line(JSON.object([
                    ("laddr", .string(source)), ("raddr", .string(destination)),
                    ("rport", .unsigned(UInt64(flow.dport))), ("connects", .unsigned(connects)),
                ]).serialized())
            } else {
                out.line("\(Columns.left(source, 25)) \(Columns.left(destination, 25)) \(Columns.left(flow.dport, 20)) \(connects)")
            }
        }
    }
}
