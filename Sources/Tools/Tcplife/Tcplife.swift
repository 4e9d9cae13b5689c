import ArgumentParser
import BPFKit
import Report
import ToolEvents

/// `bpfkit tcplife`: TCP sessions with their lifespan and bytes, bcc's flags and columns.
public struct Tcplife: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "tcplife",
        abstract: "Trace TCP sessions and summarize their lifespan and throughput.")

    @Flag(name: [.customShort("T"), .long], help: "Include a time column on output (HH:MM:SS).")
    var time = false

    @Flag(name: .shortAndLong, help: "Include a timestamp column (seconds since the first session).")
    var timestamp = false

    @Flag(name: .shortAndLong, help: "Wide column output (fits IPv6 addresses).")
    var wide = false

    @Flag(name: [.customShort("s"), .customLong("csv")], help: "Comma-separated values output.")
    var csv = false

    @Option(name: .shortAndLong, help: "Trace this PID only.")
    var pid: UInt32?

    @Option(name: [.customShort("L"), .customLong("localport")], help: ArgumentHelp("Comma-separated local ports to trace (at most 8).", valueName: "ports"))
    var localPorts: PortList?

    @Option(name: [.customShort("D"), .customLong("remoteport")], help: ArgumentHelp("Comma-separated remote ports to trace (at most 8).", valueName: "ports"))
    var remotePorts: PortList?

    @OptionGroup var addressFamily: AddressFamilyOptions

    @Flag(help: "Print one JSON object per session (JSON Lines) instead of columns.")
    var json = false

    public init() {}

    public func validate() throws {
        try addressFamily.check()
        if pid == 0 { throw ValidationError("--pid must be a process id above 0") }
    }

    public func run() throws {
        try reportingFailures(tool: "tcplife") { try trace() }
    }

    private func trace() throws {
        let object = try BPFObject(base64: BPFObjects.tcplife, name: "tcplife") { spec in
            try spec.setGlobal("target_pid", to: pid ?? 0)
            try spec.setGlobal("target_family", to: addressFamily.family)
            try spec.setPorts(localPorts, "local_ports", count: "local_port_count")
            try spec.setPorts(remotePorts, "remote_ports", count: "remote_port_count")
        }
        try object.attachAll()
        let ring = try RingBuffer(map: object.map("events"))
        let loop = try EventLoop()
        let out = Output.standardOutput
        var firstTimestamp: UInt64?

        if !json { out.line(header()) }
        try loop.watch(ring) { bytes in
            guard bytes.count >= MemoryLayout<tcplife_event>.size else { return }
            let event = bytes.loadUnaligned(as: tcplife_event.self)
            let start = firstTimestamp ?? event.timestamp_ns
            firstTimestamp = start
            out.line(format(event, seconds: Double(event.timestamp_ns &- start) / 1e9))
        }
        try loop.run()
        reportLostEvents(object)
        object.close()
    }

    private func header() -> String {
        var text = ""
        if time { text += csv ? "TIME," : "TIME     " }
        if timestamp { text += csv ? "TIME(s)," : "TIME(s)   " }
        if csv { return text + "PID,COMM,IP,LADDR,LPORT,RADDR,RPORT,TX_KB,RX_KB,MS" }
        if wide {
            return text + "\(Columns.left("PID", 5)) \(Columns.left("COMM", 16)) IP \(Columns.left("LADDR", 26)) LPORT "
                + "\(Columns.left("RADDR", 26)) RPORT  TX_KB  RX_KB MS"
        }
        return text + "\(Columns.left("PID", 5)) \(Columns.left("COMM", 10)) \(Columns.left("LADDR", 15)) LPORT "
            + "\(Columns.left("RADDR", 15)) RPORT TX_KB RX_KB MS"
    }

    private func format(_ event: tcplife_event, seconds: Double) -> String {
        let family = event.ends.family
        let local = InternetAddress.text(family: family, event.ends.saddr)
        let remote = InternetAddress.text(family: family, event.ends.daddr)
        let comm = cString(event.comm)
        let milliseconds = Double(event.span_ns) / 1e6
        let version = InternetAddress.version(family: family)
        if json {
            return JSON.object([
                ("timestamp", .double(seconds)), ("pid", .unsigned(UInt64(event.pid))), ("comm", .string(comm)),
                ("ip", .int(Int64(version))), ("laddr", .string(local)), ("lport", .unsigned(UInt64(event.ends.sport))),
                ("raddr", .string(remote)), ("rport", .unsigned(UInt64(event.ends.dport))),
                ("tx_bytes", .unsigned(event.tx_bytes)), ("rx_bytes", .unsigned(event.rx_bytes)),
                ("tx_kb", .unsigned(event.tx_bytes / 1024)), ("rx_kb", .unsigned(event.rx_bytes / 1024)),
                ("ms", .double(milliseconds)),
            ]).serialized()
        }
        var text = ""
        if time { text += csv ? Clock.wallTime() + "," : Columns.left(Clock.wallTime(), 8) + " " }
        if timestamp { text += csv ? Columns.fixed(seconds, decimals: 6) + "," : Columns.left(Columns.fixed(seconds, decimals: 6), 9) + " " }
        let txKB = event.tx_bytes / 1024
        let rxKB = event.rx_bytes / 1024
        let ms = Columns.fixed(milliseconds, decimals: 2)
        if csv {
            return text + "\(event.pid),\(comm),\(version),\(local),\(event.ends.sport),\(remote),\(event.ends.dport),\(txKB),\(rxKB),\(ms)"
        }
        if wide {
            return text + "\(Columns.left(event.pid, 5)) \(Columns.left(String(comm.prefix(16)), 16)) \(Columns.left(version, 2)) "
                + "\(Columns.left(local, 26)) \(Columns.left(event.ends.sport, 5)) \(Columns.left(remote, 26)) "
                + "\(Columns.left(event.ends.dport, 5)) \(Columns.right(txKB, 6)) \(Columns.right(rxKB, 6)) \(ms)"
        }
        return text + "\(Columns.left(event.pid, 5)) \(Columns.left(String(comm.prefix(10)), 10)) "
            + "\(Columns.left(local, 15)) \(Columns.left(event.ends.sport, 5)) \(Columns.left(remote, 15)) "
            + "\(Columns.left(event.ends.dport, 5)) \(Columns.right(txKB, 5)) \(Columns.right(rxKB, 5)) \(ms)"
    }
}
