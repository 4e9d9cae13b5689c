import ArgumentParser
import BPFKit
import Report
import ToolEvents

/// `bpfkit gethostlatency`: latency of name lookups through libc, bcc's flags and columns.
public struct Gethostlatency: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "gethostlatency",
        abstract: "Show latency for getaddrinfo/gethostbyname[2] calls.")

    @Option(name: .shortAndLong, help: "Trace this PID only.")
    var pid: Int32?

    @Option(name: [.customShort("l"), .customLong("libc")], help: "The C library to probe (a path, or a short name).")
    var library = "c"

    @Flag(help: "Print one JSON object per lookup (JSON Lines) instead of columns.")
    var json = false

    public init() {}

    /// The lookups bcc traces; each takes the host name as its first argument.
    static let functions = ["getaddrinfo", "gethostbyname", "gethostbyname2"]

    public func validate() throws {
        if let pid, pid <= 0 { throw ValidationError("--pid must be a process id above 0") }
    }

    public func run() throws {
        try reportingFailures(tool: "gethostlatency") { try trace() }
    }

    private func trace() throws {
        let object = try BPFObject(base64: BPFObjects.gethostlatency, name: "gethostlatency") { spec in
            try spec.setGlobal("target_pid", to: UInt32(pid ?? 0))
        }
        let entry = try object.program("gethostlatency_entry")
        let exit = try object.program("gethostlatency_return")
        var missing: [String] = []
        for function in Self.functions {
            let target = UprobeTarget(binary: library, symbol: function, pid: pid)
            do {
                _ = try target.resolve()
            } catch {
                // A C library without one of them (musl has no gethostbyname2) still traces the others.
                missing.append("\(error)")
                continue
            }
            object.keep(try entry.attachUprobe(target))
            object.keep(try exit.attachUprobe(target, returnProbe: true))
        }
        if missing.count == Self.functions.count { throw AttachError(missing[0]) }
        let ring = try RingBuffer(map: object.map("events"))
        let loop = try EventLoop()
        let out = Output.standardOutput

        if !json {
            out.line("\(Columns.left("TIME", 9)) \(Columns.left("PID", 7)) \(Columns.left("COMM", 16)) \(Columns.right("LATms", 10)) HOST")
        }
        try loop.watch(ring) { bytes in
            guard bytes.count >= MemoryLayout<gethostlatency_event>.size else { return }
            let event = bytes.loadUnaligned(as: gethostlatency_event.self)
            let comm = cString(event.comm)
            let host = cString(event.host)
            let milliseconds = Double(event.latency_ns) / 1e6
            if json {
                out.line(JSON.object([
                    ("time", .string(Clock.wallTime())), ("pid", .unsigned(UInt64(event.pid))),
                    ("tid", .unsigned(UInt64(event.tid))), ("comm", .string(comm)),
                    ("latency_ms", .double(milliseconds)), ("host", .string(host)),
                ]).serialized())
                return
            }
            out.line("\(Columns.left(Clock.wallTime(), 9)) \(Columns.left(event.pid, 7)) \(Columns.left(comm, 16)) "
                + "\(Columns.right(Columns.fixed(milliseconds, decimals: 2), 10)) \(host)")
        }
        try loop.run()
        reportLostEvents(object)
        object.close()
    }
}
