import ArgumentParser
import BPFKit
import Report
import ToolEvents

/// `bpfkit opensnoop`: trace open(2), openat(2) and openat2(2), bcc's flags and columns.
public struct Opensnoop: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "opensnoop",
        abstract: "Trace open() syscalls: who opened which file, and the result.",
        discussion: "JSON fields (--json), one object per open: timestamp, pid, tid, uid, comm, fd, err, flags, path.")

    @Flag(name: [.customShort("T"), .long], help: "Include a timestamp column (seconds since start).")
    var timestamp = false

    @Flag(name: [.customShort("x"), .customLong("failed")], help: "Only show failed opens.")
    var failed = false

    @Option(name: .shortAndLong, help: "Trace this PID only.")
    var pid: UInt32?

    @Option(name: .shortAndLong, help: "Trace this TID only.")
    var tid: UInt32?

    @Option(name: .shortAndLong, help: "Trace this UID only.")
    var uid: UInt32?

    @Option(name: .shortAndLong, help: "Only print processes whose name contains this text.")
    var name: String?

    @Flag(name: [.customShort("e"), .customLong("extended-fields")], help: "Show extended fields (open flags).")
    var extendedFields = false

    @Option(name: .shortAndLong, help: "Total duration of the trace, in seconds.")
    var duration: Double?

    @OptionGroup var output: OutputOptions

    public init() {}

    public func validate() throws {
        if let duration, !(duration > 0) { throw ValidationError("--duration must be a positive number of seconds") }
        if pid == 0 { throw ValidationError("--pid must be a process id above 0") }
        if tid == 0 { throw ValidationError("--tid must be a thread id above 0") }
    }

    public func run() throws {
        try reportingFailures(tool: "opensnoop") { try trace() }
    }

    private func trace() throws {
        for id in [pid, tid].compactMap({ $0 }) { try requireProcess(id) }
        // Load and attach. open(2) has no tracepoint on architectures without the syscall.
        let hasOpen = Tracefs.hasEvent(category: "syscalls", name: "sys_enter_open")
        let hasOpenat2 = Tracefs.hasEvent(category: "syscalls", name: "sys_enter_openat2")
        var programs: Set<String> = ["opensnoop_enter_openat", "opensnoop_exit_openat"]
        if hasOpen { programs.formUnion(["opensnoop_enter_open", "opensnoop_exit_open"]) }
        if hasOpenat2 { programs.formUnion(["opensnoop_enter_openat2", "opensnoop_exit_openat2"]) }
        let object = try BPFObject(base64: BPFObjects.opensnoop, name: "opensnoop", programs: programs) { spec in
            try spec.setGlobal("target_pid", to: pid ?? 0)
            try spec.setGlobal("target_tid", to: tid ?? 0)
            try spec.setGlobal("target_uid", to: uid ?? UInt32.max)
            try spec.setGlobal("failed_only", to: failed)
        }
        try object.attachAll()
        let ring = try RingBuffer(map: object.map("events"))
        let loop = try EventLoop(duration: duration)
        let start = Clock.monotonicNanoseconds()
        let out = Output.standardOutput

        if !output.json {
            var header = ""
            if timestamp { header += Columns.left("TIME(s)", 15) }
            if output.printUID { header += Columns.left("UID", 7) }
            header += "\(Columns.left(tid != nil ? "TID" : "PID", 6)) \(Columns.left("COMM", 16)) \(Columns.right("FD", 4)) ERR "
            if extendedFields { header += "FLAGS    " }
            header += "PATH"
            out.line(header)
        }

        // Consume and print.
        try loop.watch(ring) { bytes in
            guard bytes.count >= MemoryLayout<opensnoop_event>.size else { return }
            let event = bytes.loadUnaligned(as: opensnoop_event.self)
            let comm = cString(event.comm)
            if let name, !comm.contains(name) { return }
            let path = cString(event.path)
            let fd = event.ret >= 0 ? event.ret : -1
            let error = event.ret >= 0 ? 0 : -event.ret
            let seconds = Double(Int64(bitPattern: event.timestamp_ns &- start)) / 1e9

            if output.json {
                out.line(JSON.object([
                    ("timestamp", .double(seconds)), ("pid", .unsigned(UInt64(event.pid))),
                    ("tid", .unsigned(UInt64(event.tid))), ("uid", .unsigned(UInt64(event.uid))),
                    ("comm", .string(comm)), ("fd", .int(Int64(fd))), ("err", .int(Int64(error))),
                    ("flags", .int(Int64(event.flags))), ("path", .string(path)),
                ]).serialized())
                return
            }
            var text = ""
            if timestamp { text += Columns.left(Columns.fixed(seconds, decimals: 9), 15) }
            if output.printUID { text += Columns.left(event.uid, 7) }
            text += "\(Columns.left(tid != nil ? event.tid : event.pid, 6)) \(Columns.left(comm, 16)) "
            text += "\(Columns.right(fd, 4)) \(Columns.right(error, 3)) "
            if extendedFields { text += Columns.octal(UInt32(bitPattern: event.flags), width: 8) + " " }
            text += path
            out.line(text)
        }
        try loop.run()
        reportLostEvents(object)
        object.close()
    }
}
