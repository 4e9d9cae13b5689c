import ArgumentParser
import BPFKit
import Report
import ToolEvents

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `bpfkit fileslower`: synchronous file reads and writes slower than a threshold, on any
/// file system, at the VFS layer (bcc's flags and columns).
public struct Fileslower: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "fileslower",
        abstract: "Trace slow synchronous file reads and writes.",
        discussion: """
            Times reads and writes on every file system: where the kernel allows BPF \
            trampolines, vfs_read and vfs_write (fentry/fexit); otherwise the system calls \
            that reach them (read, pread64, readv, write, pwrite64, writev; entry to exit). \
            Only regular files unless -a. BYTES is what the call returned; TIME(s) counts from \
            the start of the trace.

            examples:
              bpfkit fileslower             # trace sync file I/O slower than 10 ms (default)
              bpfkit fileslower 1           # trace sync file I/O slower than 1 ms
              bpfkit fileslower -p 185      # trace PID 185 only
              bpfkit fileslower -a 0        # every read and write, sockets and pipes too
            """)

    @Option(name: .shortAndLong, help: "Trace this PID only.")
    var pid: UInt32?

    @Flag(name: [.customShort("a"), .customLong("all-files")], help: "Include non-regular file types (sockets, FIFOs, etc).")
    var allFiles = false

    @Option(name: .shortAndLong, help: "Total duration of the trace, in seconds.")
    var duration: Double?

    @Flag(name: .shortAndLong, help: "Say which kernel hooks the tool attached to, and why.")
    var verbose = false

    @Flag(help: "Print one JSON object per operation (JSON Lines): \(SlowOperation.jsonFields).")
    var json = false

    @Argument(help: ArgumentHelp("Minimum I/O duration to trace, in ms (default 10).", valueName: "min_ms"))
    var minimum: Double = 10

    public init() {}

    public func validate() throws {
        if pid == 0 { throw ValidationError("--pid must be a process id above 0") }
        if let duration, !(duration > 0) { throw ValidationError("--duration must be a positive number of seconds") }
        if !(minimum >= 0) { throw ValidationError("min_ms must be 0 or more milliseconds") }
    }

    public func run() throws {
        try reportingFailures(tool: "fileslower") { try trace() }
    }

    private func trace() throws {
        if let pid { try requireProcess(pid) }
        // Load and attach: vfs_read/vfs_write through fentry where allowed, else syscalls.
        var object: BPFObject?
        var whyNoFentry = KernelHooks.whyNoFentry(["vfs_read", "vfs_write"])
        if whyNoFentry == nil {
            do {
                object = try load([
                    "fileslower_vfs_read", "fileslower_vfs_read_exit", "fileslower_vfs_write", "fileslower_vfs_write_exit",
                ])
                if verbose { Output.standardError.line("fileslower: attaching fentry/fexit to vfs_read, vfs_write") }
            } catch {
                whyNoFentry = "\(error)"
            }
        }
        if object == nil {
            let calls = SlowerTracer.syscalls(["read", "pread64", "readv", "write", "pwrite64", "writev"])
            object = try load(Set(calls.flatMap { ["fsslower_enter_" + $0, "fsslower_exit_" + $0] }))
            if verbose {
                Output.standardError.line("fileslower: attaching to syscalls:sys_{enter,exit}_{\(calls.joined(separator: ","))} "
                    + "(no fentry: \(whyNoFentry ?? ""))")
            }
        }
        guard let object else { return }

        // Consume and print.
        let out = Output.standardOutput
        if !json {
            out.line("Tracing sync read/writes slower than \(SlowerTracer.milliseconds(minimum)) ms")
            out.line("\(Columns.left("TIME(s)", 8)) \(Columns.left("COMM", 14)) \(Columns.left("TID", 6)) D \(Columns.left("BYTES", 7)) "
                + "\(Columns.right("LAT(ms)", 7)) FILENAME")
        }
        let start = Clock.monotonicNanoseconds()
        let loop = try EventLoop(duration: duration)
        try loop.watch(try RingBuffer(map: object.map("events"))) { bytes in
            guard let event = SlowOperation(bytes) else { return }
            if json {
                out.line(event.json())
                return
            }
            let seconds = Double(Int64(bitPattern: event.timestamp &- start)) / 1e9
            out.line("\(Columns.left(Columns.fixed(seconds, decimals: 3), 8)) \(Columns.left(String(event.comm.prefix(14)), 14)) "
                + "\(Columns.left(event.tid, 6)) \(event.type) \(Columns.left(String(event.bytes), 7)) "
                + "\(Columns.right(Columns.fixed(Double(event.latency) / 1e6, decimals: 2), 7)) \(event.file)")
        }
        try loop.run()
        reportLostEvents(object)
        object.close()
    }

    private func load(_ programs: Set<String>) throws -> BPFObject {
        let object = try BPFObject(base64: BPFObjects.fsslower, name: "fileslower", programs: programs) { spec in
            try spec.setGlobal("target_pid", to: pid ?? 0)
            try spec.setGlobal("self_pid", to: UInt32(getpid()))
            try spec.setGlobal("min_ns", to: UInt64(minimum * 1_000_000))
            try spec.setGlobal("regular_only", to: !allFiles)
        }
        try object.attachAll()
        return object
    }
}
