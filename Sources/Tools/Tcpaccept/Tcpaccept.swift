import ArgumentParser
import BPFKit
import Report
import ToolEvents

/// `bpfkit tcpaccept`: passive TCP connections as accept() returns them, bcc's flags and columns.
///
/// bcc uses a kretprobe on inet_csk_accept; this reads the accepted socket at the exit of
/// accept(2)/accept4(2) instead (syscall tracepoints), which needs no kprobes. Accepts made
/// without those syscalls (io_uring) are not seen.
public struct Tcpaccept: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "tcpaccept",
        abstract: "Trace TCP passive connections (accept()).")

    @Flag(name: [.customShort("T"), .long], help: "Include a time column (HH:MM:SS).")
    var time = false

    @Flag(name: .shortAndLong, help: "Include a timestamp column (seconds since the first accept).")
    var timestamp = false

    @Option(name: .shortAndLong, help: "Trace this PID only.")
    var pid: UInt32?

    @Option(name: [.customShort("P"), .customLong("port")], help: ArgumentHelp("Comma-separated local ports to trace (at most 8).", valueName: "ports"))
    var ports: PortList?

    @OptionGroup var addressFamily: AddressFamilyOptions

    @Option(name: .shortAndLong, help: "Total duration of the trace, in seconds.")
    var duration: Double?

    @Flag(help: "Print one JSON object per accept (JSON Lines) instead of columns.")
    var json = false

    public init() {}

    public func validate() throws {
        try addressFamily.check()
        if pid == 0 { throw ValidationError("--pid must be a process id above 0") }
        if let duration, !(duration > 0) { throw ValidationError("--duration must be a positive number of seconds") }
    }

    public func run() throws {
        try reportingFailures(tool: "tcpaccept") { try trace() }
    }

    private func trace() throws {
        let hasAccept = Tracefs.hasEvent(category: "syscalls", name: "sys_exit_accept")
        let programs: Set<String> = hasAccept ? ["tcpaccept_accept", "tcpaccept_accept4"] : ["tcpaccept_accept4"]
        let object = try BPFObject(base64: BPFObjects.tcpaccept, name: "tcpaccept", programs: programs) { spec in
            try spec.setGlobal("target_pid", to: pid ?? 0)
            try spec.setGlobal("target_family", to: addressFamily.family)
            try spec.setPorts(ports, "target_ports", count: "target_port_count")
        }
        try object.attachAll()
        let ring = try RingBuffer(map: object.map("events"))
        let loop = try EventLoop(duration: duration)
        let out = Output.standardOutput
        var firstTimestamp: UInt64?

        if !json {
            var header = ""
            if time { header += Columns.left("TIME", 9) }
            if timestamp { header += Columns.left("TIME(s)", 9) }
            header += "\(Columns.left("PID", 7)) \(Columns.left("COMM", 12)) IP \(Columns.left("RADDR", 16)) RPORT "
            header += "\(Columns.left("LADDR", 16)) LPORT"
            out.line(header)
        }
        try loop.watch(ring) { bytes in
            guard bytes.count >= MemoryLayout<tcpaccept_event>.size else { return }
            let event = bytes.loadUnaligned(as: tcpaccept_event.self)
            let family = event.ends.family
            let remote = InternetAddress.text(family: family, event.ends.daddr)
            let local = InternetAddress.text(family: family, event.ends.saddr)
            let comm = cString(event.comm)
            let start = firstTimestamp ?? event.timestamp_ns
            firstTimestamp = start
            let seconds = Double(event.timestamp_ns &- start) / 1e9
            if json {
                out.line(JSON.object([
                    ("timestamp", .double(seconds)), ("pid", .unsigned(UInt64(event.pid))),
                    ("uid", .unsigned(UInt64(event.uid))), ("comm", .string(comm)),
                    ("ip", .int(Int64(InternetAddress.version(family: family)))),
                    ("raddr", .string(remote)), ("rport", .unsigned(UInt64(event.ends.dport))),
                    ("laddr", .string(local)), ("lport", .unsigned(UInt64(event.ends.sport))),
                ]).serialized())
                return
            }
            var text = ""
            if time { text += Columns.left(Clock.wallTime(), 9) }
            if timestamp { text += Columns.left(Columns.fixed(seconds, decimals: 3), 9) }
            text += "\(Columns.left(event.pid, 7)) \(Columns.left(String(comm.prefix(12)), 12)) "
            text += "\(Columns.left(InternetAddress.version(family: family), 2)) \(Columns.left(remote, 16)) "
            text += "\(Columns.left(event.ends.dport, 5)) \(Columns.left(local, 16)) \(event.ends.sport)"
            out.line(text)
        }
        try loop.run()
        reportLostEvents(object)
        object.close()
    }
}
