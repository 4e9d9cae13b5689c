import ArgumentParser
import BPFKit
import Report
import ToolEvents

/// `bpfkit biosnoop`: one line per block I/O with the process that submitted it, bcc's
/// flags and columns.
public struct Biosnoop: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "biosnoop",
        abstract: "Trace block device I/O and print details including issuing PID.",
        discussion: """
            LAT(ms) runs from the request's issue to the device driver to its completion; \
            QUE(ms) (-Q) from its creation to its issue. The PID and COMM are the process that \
            submitted the I/O (block_io_start, in the submitter's context; block_rq_insert on \
            kernels before 6.5), or 0 and ? when that was not seen. Attaches to BTF tracepoints \
            (tp_btf/block_io_start, block_rq_issue, block_rq_complete: the request itself, read \
            with CO-RE), or where the kernel has none, to the trace events of the same names \
            (requests matched by disk and sector).

            examples:
              bpfkit biosnoop              # trace all block I/O
              bpfkit biosnoop -Q           # include OS queued time
              bpfkit biosnoop -d sdc       # trace sdc only
              bpfkit biosnoop -p 181       # trace I/O submitted by PID 181 only
              bpfkit biosnoop -P           # display block I/O pattern
              bpfkit biosnoop --json 10    # JSON lines, for 10 seconds
            """)

    @Flag(name: [.customShort("Q"), .long], help: "Include OS queued time.")
    var queue = false

    @Option(name: .shortAndLong, help: "Trace this disk only.")
    var disk: String?

    @Option(name: .shortAndLong, help: "Trace I/O submitted by this PID only.")
    var pid: UInt32?

    @Flag(name: [.customShort("P"), .long], help: "Display block I/O pattern (sequential or random).")
    var pattern = false

    @Flag(help: "Print one JSON object per I/O (JSON Lines) instead of columns: timestamp, comm, pid, disk, type, flags, sector, bytes, pattern (-P), queued_ms (-Q), latency_ms.")
    var json = false

    @Flag(name: .shortAndLong, help: "Say which kernel hooks the tool attached to, and why.")
    var verbose = false

    @Argument(help: "Total duration of the trace, in seconds.")
    var duration: Double?

    public init() {}

    public func validate() throws {
        if pid == 0 { throw ValidationError("--pid must be a process id above 0") }
        if let duration, !(duration > 0) { throw ValidationError("duration must be a positive number of seconds") }
    }

    public func run() throws {
        try reportingFailures(tool: "biosnoop") { try trace() }
    }

    private func trace() throws {
        if let pid { try requireProcess(pid) }
        // Load and attach: BTF tracepoints where the kernel has them, else trace events.
        let targetDev = try disk.map(BlockDevices.disk(named:)) ?? 0
        let startEvent = KernelHooks.hasEvent("block", "block_io_start") ? "block_io_start" : "block_rq_insert"
        let events = [startEvent, "block_rq_issue", "block_rq_complete"]
        let whyNoBTF = KernelHooks.whyNoBTFTracepoints(events)
        let btf = whyNoBTF == nil
        let programs: Set<String> = btf
            ? ["biosnoop_btf_start", "biosnoop_btf_issue", "biosnoop_btf_complete"]
            : ["biosnoop_tp_start", "biosnoop_tp_issue", "biosnoop_tp_complete"]
        let object = try BPFObject(base64: BPFObjects.biosnoop, name: "biosnoop", programs: programs) { spec in
            try spec.setGlobal("target_pid", to: pid ?? 0)
            try spec.setGlobal("target_dev", to: targetDev)
            spec.retarget("biosnoop_btf_start", to: .btfTracepoint(name: startEvent))
            spec.retarget("biosnoop_tp_start", to: .tracepoint(category: "block", name: startEvent))
        }
        try object.attachAll()
        if verbose {
            Output.standardError.line(btf
                ? "biosnoop: attaching to tp_btf/" + events.joined(separator: ", tp_btf/")
                : "biosnoop: attaching to trace events block:" + events.joined(separator: ", block:")
                    + " (no BTF tracepoints: \(whyNoBTF!))")
        }
        let ring = try RingBuffer(map: object.map("events"))
        let loop = try EventLoop(duration: duration)
        let out = Output.standardOutput
        let devices = BlockDevices()
        let requestFlags = RequestFlags(btf: btf ? try? KernelBTF.shared() : nil)
        var firstTimestamp: UInt64?
        var nextSector: [UInt32: UInt64] = [:]  // -P: where each disk's last I/O ended

        if !json {
            var header = "\(Columns.left("TIME(s)", 11)) \(Columns.left("COMM", 14)) \(Columns.left("PID", 7)) "
            header += "\(Columns.left("DISK", 9)) T \(Columns.left("SECTOR", 10)) \(Columns.left("BYTES", 7)) "
            if pattern { header += "P " }
            if queue { header += Columns.right("QUE(ms)", 7) + " " }
            out.line(header + Columns.right("LAT(ms)", 7))
        }

        // Consume and print.
        try loop.watch(ring) { bytes in
            guard bytes.count >= MemoryLayout<biosnoop_event>.size else { return }
            let event = bytes.loadUnaligned(as: biosnoop_event.self)
            let start = firstTimestamp ?? event.timestamp_ns
            firstTimestamp = start
            let seconds = Double(event.timestamp_ns &- start) / 1e9
            let comm = cString(event.comm)
            let diskName = devices.name(of: event.dev)
            let rwbs = cString(event.rwbs)
            let write = btf ? requestFlags.isWrite(cmdFlags: event.cmd_flags) : RequestFlags.isWrite(rwbs: rwbs)
            let sequential = nextSector[event.dev].map { $0 == event.sector }
            nextSector[event.dev] = event.sector + UInt64(event.bytes / 512)
            let latency = Double(event.latency_ns) / 1e6
            let queued = Double(event.queued_ns) / 1e6

            if json {
                var fields: [(String, JSON)] = [
                    ("timestamp", .double(seconds)), ("comm", .string(comm)), ("pid", .unsigned(UInt64(event.pid))),
                    ("disk", .string(diskName)), ("type", .string(write ? "W" : "R")),
                    ("flags", .string(btf ? requestFlags.describe(cmdFlags: event.cmd_flags) : RequestFlags.describe(rwbs: rwbs))),
                    ("sector", .unsigned(event.sector)), ("bytes", .unsigned(UInt64(event.bytes))),
                ]
                if pattern { fields.append(("pattern", sequential.map { .string($0 ? "sequential" : "random") } ?? .null)) }
                if queue { fields.append(("queued_ms", .double(queued))) }
                fields.append(("latency_ms", .double(latency)))
                out.line(JSON.object(fields).serialized())
                return
            }
            var text = "\(Columns.left(Columns.fixed(seconds, decimals: 6), 11)) \(Columns.left(String(comm.prefix(14)), 14)) "
            text += "\(Columns.left(event.pid, 7)) \(Columns.left(diskName, 9)) \(write ? "W" : "R") "
            text += "\(Columns.left(String(event.sector), 10)) \(Columns.left(event.bytes, 7)) "
            if pattern { text += (sequential.map { $0 ? "S" : "R" } ?? "?") + " " }
            if queue { text += Columns.right(Columns.fixed(queued, decimals: 2), 7) + " " }
            out.line(text + Columns.right(Columns.fixed(latency, decimals: 2), 7))
        }
        try loop.run()
        reportLostEvents(object)
        object.close()
    }
}
