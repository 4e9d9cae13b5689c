import ArgumentParser
import BPFKit
import Report
import ToolEvents

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `bpfkit fsslower -t TYPE` and its aliases `ext4slower`, `xfsslower`, `btrfsslower` and
/// `nfsslower`: file reads, writes, opens and fsyncs slower than a threshold, bcc's columns.
public struct Fsslower: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "fsslower",
        abstract: "Trace file system operations slower than a threshold.",
        discussion: SlowerTracer.discussion(command: "fsslower -t ext4"))

    @Option(name: .shortAndLong, help: "Which file system to trace: ext4, xfs, btrfs, nfs, or any type in /proc/filesystems.")
    var type: String

    @Option(name: .shortAndLong, help: "Minimum operation duration to trace, in ms (default 10; the same as min_ms).")
    var min: Double?

    @OptionGroup var options: SlowerOptions

    public init() {}

    public func validate() throws {
        if min != nil && options.minimum != nil { throw ValidationError("give the threshold once: -m or min_ms") }
        if let min, !(min >= 0) { throw ValidationError("-m must be 0 or more milliseconds") }
        try options.check()
    }

    public func run() throws {
        var options = options
        if let min { options.minimum = min }
        try SlowerTracer(tool: "fsslower", fileSystem: type, options: options).run()
    }
}

public struct Ext4slower: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "ext4slower", abstract: "Trace common ext4 file operations slower than a threshold.",
        discussion: SlowerTracer.discussion(command: "ext4slower"))
    @OptionGroup var options: SlowerOptions
    public init() {}
    public func validate() throws { try options.check() }
    public func run() throws { try SlowerTracer(tool: "ext4slower", fileSystem: "ext4", options: options).run() }
}

public struct Xfsslower: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "xfsslower", abstract: "Trace common XFS file operations slower than a threshold.",
        discussion: SlowerTracer.discussion(command: "xfsslower"))
    @OptionGroup var options: SlowerOptions
    public init() {}
    public func validate() throws { try options.check() }
    public func run() throws { try SlowerTracer(tool: "xfsslower", fileSystem: "xfs", options: options).run() }
}

public struct Btrfsslower: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "btrfsslower", abstract: "Trace common btrfs file operations slower than a threshold.",
        discussion: SlowerTracer.discussion(command: "btrfsslower"))
    @OptionGroup var options: SlowerOptions
    public init() {}
    public func validate() throws { try options.check() }
    public func run() throws { try SlowerTracer(tool: "btrfsslower", fileSystem: "btrfs", options: options).run() }
}

public struct Nfsslower: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "nfsslower", abstract: "Trace common NFS file operations slower than a threshold.",
        discussion: SlowerTracer.discussion(command: "nfsslower"))
    @OptionGroup var options: SlowerOptions
    public init() {}
    public func validate() throws { try options.check() }
    public func run() throws { try SlowerTracer(tool: "nfsslower", fileSystem: "nfs", options: options).run() }
}

/// The flags the fsslower family shares (bcc's ext4slower flags, libbpf-tools' -d).
public struct SlowerOptions: ParsableArguments {
    @Flag(name: [.customShort("j"), .customLong("csv")], help: "Just print fields: comma-separated values.")
    var csv = false

    @Option(name: .shortAndLong, help: "Trace this PID only.")
    var pid: UInt32?

    @Option(name: .shortAndLong, help: "Total duration of the trace, in seconds.")
    var duration: Double?

    @Flag(name: .shortAndLong, help: "Say which kernel hooks the tool attached to, and why.")
    var verbose = false

    @Argument(help: ArgumentHelp("Minimum I/O duration to trace, in ms (default 10; 0 traces every operation).", valueName: "min_ms"))
    var minimum: Double?

    public init() {}

    func check() throws {
        if pid == 0 { throw ValidationError("--pid must be a process id above 0") }
        if let duration, !(duration > 0) { throw ValidationError("--duration must be a positive number of seconds") }
        if let minimum, !(minimum >= 0) { throw ValidationError("min_ms must be 0 or more milliseconds") }
    }
}

/// The file systems whose own functions fentry can time, as bcc's tools name them.
struct FileSystemFunctions {
    var typeNames: [String]
    var read: String
    var write: String
    var open: String
    var fsync: String

    static func named(_ type: String) -> FileSystemFunctions? {
        switch type {
        case "ext4": FileSystemFunctions(typeNames: ["ext4"], read: "ext4_file_read_iter", write: "ext4_file_write_iter",
                                         open: "ext4_file_open", fsync: "ext4_sync_file")
        case "xfs": FileSystemFunctions(typeNames: ["xfs"], read: "xfs_file_read_iter", write: "xfs_file_write_iter",
                                        open: "xfs_file_open", fsync: "xfs_file_fsync")
        case "btrfs": FileSystemFunctions(typeNames: ["btrfs"], read: "btrfs_file_read_iter", write: "btrfs_file_write_iter",
                                          open: "btrfs_file_open", fsync: "btrfs_sync_file")
        case "nfs", "nfs4": FileSystemFunctions(typeNames: ["nfs", "nfs4"], read: "nfs_file_read", write: "nfs_file_write",
                                                open: "nfs_file_open", fsync: "nfs_file_fsync")
        default: nil
        }
    }
}

/// One run of the fsslower family: choose the hooks, load, attach, print until the end.
struct SlowerTracer {
    let tool: String
    let fileSystem: String
    let options: SlowerOptions

    static func discussion(command: String) -> String {
        """
        Times each operation from its start to its return: where the kernel allows BPF \
        trampolines, at the file system's own functions (fentry/fexit on ext4_file_read_iter, \
        ext4_file_write_iter, ext4_file_open and ext4_sync_file, or the xfs, btrfs and nfs \
        equivalents); otherwise at the system calls (read, write, pread64, pwrite64, readv, \
        writev, open, openat, openat2, fsync, fdatasync; entry to exit, so the time includes \
        the VFS above the file system), keeping in the kernel only regular files whose \
        inode's file system type is the one traced. FILENAME is the file's name (no directory). \
        BYTES is what the call returned.

        examples:
          bpfkit \(command)           # trace operations slower than 10 ms (default)
          bpfkit \(command) 1         # trace operations slower than 1 ms
          bpfkit \(command) -j 1      # ... 1 ms, parsable output (csv)
          bpfkit \(command) 0         # trace all operations (warning: verbose)
          bpfkit \(command) -p 185    # trace PID 185 only
        """
    }

    func run() throws {
        try reportingFailures(tool: tool) { try trace() }
    }

    private func trace() throws {
        if let pid = options.pid { try requireProcess(pid) }
        // Which file system, and whether this kernel has it.
        let functions = FileSystemFunctions.named(fileSystem)
        let typeNames = functions?.typeNames ?? [fileSystem]
        guard !fileSystem.isEmpty, fileSystem.utf8.count < 16 else { throw ValidationError("invalid file system type '\(fileSystem)'") }
        let known = Self.kernelFileSystems()
        guard typeNames.contains(where: known.contains) else {
            throw ValidationError("\(fileSystem): no such file system on this kernel (not in /proc/filesystems; module not loaded?)")
        }
        // Known but mounted nowhere: nothing to trace, say so rather than wait silently.
        let mounted = Set((readSmallFile("/proc/self/mounts", limit: 4 << 20) ?? "").split(separator: "\n").compactMap {
            $0.split(separator: " ").dropFirst(2).first.map(String.init)
        })
        guard typeNames.contains(where: mounted.contains) else {
            throw ValidationError("\(fileSystem): no \(fileSystem) file system is mounted")
        }
        let minimum = options.minimum ?? 10

        // Load and attach: fentry/fexit on the file system's functions where the kernel
        // allows them, else the system calls, filtered by file system type in the kernel.
        var object: BPFObject?
        var whyNoFentry = functions.map { KernelHooks.whyNoFentry([$0.read, $0.write, $0.open, $0.fsync]) }
            ?? "no fentry targets known for \(fileSystem)"
        if whyNoFentry == nil, let functions {
            do {
                object = try load(typeNames: [], minimum: minimum, programs: [
                    "fsslower_fs_read", "fsslower_fs_read_exit", "fsslower_fs_write", "fsslower_fs_write_exit",
                    "fsslower_fs_open", "fsslower_fs_open_exit", "fsslower_fs_fsync", "fsslower_fs_fsync_exit",
                ]) { spec in
                    for (name, function) in [("read", functions.read), ("write", functions.write),
                                             ("open", functions.open), ("fsync", functions.fsync)] {
                        spec.retarget("fsslower_fs_\(name)", to: .fentry(function: function))
                        spec.retarget("fsslower_fs_\(name)_exit", to: .fexit(function: function))
                    }
                }
                if options.verbose {
                    Output.standardError.line("\(tool): attaching fentry/fexit to \(functions.read), \(functions.write), \(functions.open), \(functions.fsync)")
                }
            } catch {
                whyNoFentry = "\(error)"
            }
        }
        if object == nil {
            let calls = Self.syscalls(["read", "pread64", "readv", "write", "pwrite64", "writev", "open", "openat", "openat2", "fsync", "fdatasync"])
            object = try load(typeNames: typeNames, minimum: minimum,
                              programs: Set(calls.flatMap { ["fsslower_enter_" + $0, "fsslower_exit_" + $0] }))
            if options.verbose {
                Output.standardError.line("\(tool): attaching to syscalls:sys_{enter,exit}_{\(calls.joined(separator: ","))}, "
                    + "keeping \(typeNames.joined(separator: "/")) files (no fentry: \(whyNoFentry ?? ""))")
            }
        }
        guard let object else { return }

        // Consume and print.
        let out = Output.standardOutput
        if options.csv {
            out.line("ENDTIME_us,TASK,PID,TYPE,BYTES,OFFSET_b,LATENCY_us,FILE")
        } else {
            out.line(minimum == 0 ? "Tracing \(fileSystem) operations" : "Tracing \(fileSystem) operations slower than \(Self.milliseconds(minimum)) ms")
            out.line("\(Columns.left("TIME", 8)) \(Columns.left("COMM", 14)) \(Columns.left("PID", 6)) T \(Columns.left("BYTES", 7)) "
                + "\(Columns.left("OFF_KB", 8)) \(Columns.right("LAT(ms)", 7)) FILENAME")
        }
        let loop = try EventLoop(duration: options.duration)
        try loop.watch(try RingBuffer(map: object.map("events"))) { bytes in
            guard let event = SlowOperation(bytes) else { return }
            if options.csv {
                out.line("\(event.timestamp / 1000),\(event.comm),\(event.pid),\(event.type),\(event.bytes),\(event.offset),"
                    + "\(event.latency / 1000),\(event.file)")
                return
            }
            out.line("\(Columns.left(Clock.wallTime(), 8)) \(Columns.left(String(event.comm.prefix(14)), 14)) "
                + "\(Columns.left(event.pid, 6)) \(event.type) \(Columns.left(String(event.bytes), 7)) "
                + "\(Columns.left(String(event.offset / 1024), 8)) "
                + "\(Columns.right(Columns.fixed(Double(event.latency) / 1e6, decimals: 2), 7)) \(event.file)")
        }
        try loop.run()
        reportLostEvents(object)
        object.close()
    }

    private func load(typeNames: [String], minimum: Double, programs: Set<String>,
                      configure: (inout ObjectSpec) throws -> Void = { _ in }) throws -> BPFObject {
        let object = try BPFObject(base64: BPFObjects.fsslower, name: "fsslower", programs: programs) { spec in
            try spec.setGlobal("target_pid", to: options.pid ?? 0)
            try spec.setGlobal("self_pid", to: UInt32(getpid()))
            try spec.setGlobal("min_ns", to: UInt64(minimum * 1_000_000))
            try spec.setGlobal("fs_name", to: cChars16(typeNames.first ?? ""))
            try spec.setGlobal("fs_name2", to: cChars16(typeNames.count > 1 ? typeNames[1] : ""))
            try spec.setGlobal("regular_only", to: true)
            try configure(&spec)
        }
        try object.attachAll()
        return object
    }

    /// The system calls of `names` this kernel has trace events for (no open(2) on arm64).
    static func syscalls(_ names: [String]) -> [String] {
        names.filter { KernelHooks.hasEvent("syscalls", "sys_enter_" + $0) && KernelHooks.hasEvent("syscalls", "sys_exit_" + $0) }
    }

    /// File system types the kernel knows (built in or loaded).
    static func kernelFileSystems() -> Set<String> {
        let text = readSmallFile("/proc/filesystems") ?? ""
        return Set(text.split(separator: "\n").compactMap { $0.split(whereSeparator: { $0 == "\t" || $0 == " " }).last.map(String.init) })
    }

    /// A threshold as bcc prints it: whole milliseconds without decimals.
    static func milliseconds(_ value: Double) -> String {
        value == value.rounded() && value < 1e15 ? String(Int64(value)) : String(value)
    }
}

/// One decoded fsslower event.
struct SlowOperation {
    var timestamp: UInt64  // ns, CLOCK_MONOTONIC
    var latency: UInt64    // ns
    var bytes: Int64
    var offset: Int64
    var pid: UInt32
    var tid: UInt32
    var type: String       // R, W, O or S
    var comm: String
    var file: String

    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= MemoryLayout<fsslower_event>.size else { return nil }
        let event = bytes.loadUnaligned(as: fsslower_event.self)
        timestamp = event.timestamp_ns
        latency = event.latency_ns
        self.bytes = event.bytes
        offset = event.offset
        pid = event.pid
        tid = event.tid
        type = ["R", "W", "O", "S"][Int(min(event.op, 3))]
        comm = cString(event.comm)
        file = cString(event.file)
    }
}
