import ArgumentParser
import BPFKit
import Report
import ToolEvents

/// `bpfkit execsnoop`: trace new processes (execve) system-wide, bcc's flags and columns.
public struct Execsnoop: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "execsnoop",
        abstract: "Trace new processes via exec() syscalls.",
        discussion: "JSON fields (--json), one object per exec: time (-T), timestamp, pcomm, pid, ppid, uid, ret, args, truncated.")

    @Flag(name: .shortAndLong, help: "Include a timestamp (seconds since start) column.")
    var timestamp = false

    @Flag(name: [.customShort("T"), .long], help: "Include a time column (HH:MM:SS).")
    var time = false

    @Flag(name: [.customShort("x"), .customLong("fails")], help: "Include failed exec()s.")
    var fails = false

    @Flag(name: .shortAndLong, help: "Add \"quotemarks\" around arguments.")
    var quote = false

    @Option(name: .shortAndLong, help: "Only print commands whose name matches this regular expression.")
    var name: String?

    @Option(name: .shortAndLong, help: "Only print commands whose arguments match this regular expression.")
    var line: String?

    @Option(name: .shortAndLong, help: "Trace this UID only.")
    var uid: UInt32?

    @Option(name: [.customShort("P"), .customLong("ppid")], help: "Trace children of this PID only.")
    var ppid: UInt32?

    @Option(name: .customLong("max-args"), help: "Maximum number of arguments parsed and displayed.")
    var maxArgs: UInt32 = UInt32(EXECSNOOP_DEFAULT_MAX_ARGS)

    @OptionGroup var output: OutputOptions

    public init() {}

    public func validate() throws {
        guard maxArgs >= 1, maxArgs <= UInt32(EXECSNOOP_TOTAL_MAX_ARGS) else {
            throw ValidationError("--max-args must be between 1 and \(EXECSNOOP_TOTAL_MAX_ARGS)")
        }
        for (flag, pattern) in [("--name", name), ("--line", line)] {
            if let pattern, (try? Regex(pattern)) == nil {
                throw ValidationError("\(flag): invalid regular expression \(pattern)")
            }
        }
    }

    public func run() throws {
        try reportingFailures(tool: "execsnoop") { try trace() }
    }

    private func trace() throws {
        if let ppid { try requireProcess(ppid) }
        // Load and attach.
        let object = try BPFObject(base64: BPFObjects.execsnoop, name: "execsnoop") { spec in
            try spec.setGlobal("include_failed", to: fails)
            try spec.setGlobal("target_uid", to: uid ?? UInt32.max)
            try spec.setGlobal("max_args", to: maxArgs)
        }
        try object.attachAll()
        let ring = try RingBuffer(map: object.map("events"))
        let loop = try EventLoop()
        let nameFilter = try name.map { try Regex($0) }
        let lineFilter = try line.map { try Regex($0) }
        let start = Clock.monotonicNanoseconds()
        let out = Output.standardOutput

        if !output.json {
            var header = ""
            if time { header += Columns.left("TIME", 9) }
            if timestamp { header += Columns.left("TIME(s)", 9) }
            if output.printUID { header += Columns.left("UID", 7) }
            header += "\(Columns.left("PCOMM", 16)) \(Columns.left("PID", 7)) \(Columns.left("PPID", 7)) RET ARGS"
            out.line(header)
        }

        // Consume and print.
        try loop.watch(ring) { bytes in
            guard let event = ExecEvent(bytes) else { return }
            if let ppid, event.ppid != ppid { return }
            if let nameFilter, (try? nameFilter.firstMatch(in: event.comm)) == nil { return }
            let arguments = quote ? event.arguments.map(Self.quoted) : event.arguments
            var argumentText = arguments.joined(separator: " ")
            if event.truncated { argumentText += " ..." }
            if let lineFilter, (try? lineFilter.firstMatch(in: event.arguments.joined(separator: " "))) == nil { return }
            let seconds = Double(Int64(bitPattern: event.timestamp &- start)) / 1e9

            if output.json {
                var fields: [(String, JSON)] = []
                if time { fields.append(("time", .string(Clock.wallTime()))) }
                fields.append(("timestamp", .double(seconds)))
                fields += [
                    ("pcomm", .string(event.comm)), ("pid", .unsigned(UInt64(event.pid))),
                    ("ppid", .unsigned(UInt64(event.ppid))), ("uid", .unsigned(UInt64(event.uid))),
                    ("ret", .int(Int64(event.retval))), ("args", .array(event.arguments.map(JSON.string))),
                    ("truncated", .bool(event.truncated)),
                ]
                out.line(JSON.object(fields).serialized())
                return
            }
            var text = ""
            if time { text += Columns.left(Clock.wallTime(), 9) }
            if timestamp { text += Columns.left(Columns.fixed(seconds, decimals: 3), 9) }
            if output.printUID { text += Columns.left(event.uid, 7) }
            text += "\(Columns.left(event.comm, 16)) \(Columns.left(event.pid, 7)) \(Columns.left(event.ppid, 7)) "
            text += "\(Columns.right(event.retval, 3)) \(argumentText)"
            out.line(text)
        }
        try loop.run()
        reportLostEvents(object)
        object.close()
    }

    private static func quoted(_ argument: String) -> String {
        "\"" + argument.replacing("\"", with: "\\\"") + "\""
    }
}

/// One decoded exec event: the struct from execsnoop.h, then the argument text.
struct ExecEvent {
    var timestamp: UInt64
    var pid: UInt32
    var ppid: UInt32
    var uid: UInt32
    var retval: Int32
    var comm: String
    var arguments: [String]
    var truncated: Bool

    init?(_ bytes: UnsafeRawBufferPointer) {
        let headerSize = MemoryLayout<execsnoop_event>.size
        guard bytes.count >= headerSize else { return nil }
        let header = bytes.loadUnaligned(as: execsnoop_event.self)
        timestamp = header.timestamp_ns
        pid = header.pid
        ppid = header.ppid
        uid = header.uid
        retval = header.retval
        comm = cString(header.comm)
        truncated = header.args_truncated != 0
        let size = min(Int(header.args_size), bytes.count - headerSize)
        arguments = bytes[headerSize..<(headerSize + size)]
            .split(separator: 0, omittingEmptySubsequences: false)
            .prefix(Int(header.args_count))
            .map { String(decoding: $0, as: UTF8.self) }
    }
}
