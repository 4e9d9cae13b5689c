import ArgumentParser
import BPFKit
import Report
import ToolEvents

/// `bpfkit fsdist -t TYPE` and its aliases `ext4dist`, `xfsdist`, `btrfsdist`: latency
/// histograms of a file system's reads, writes, opens and fsyncs, counted in the kernel
/// (bcc's ext4dist and libbpf-tools' fsdist). The hooks are fsslower's.
public struct Fsdist: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "fsdist",
        abstract: "Summarize file system operation latency as histograms.",
        discussion: FsdistTracer.discussion(command: "fsdist -t ext4"))

    @Option(name: .shortAndLong, help: "Which file system to trace: ext4, xfs, btrfs, nfs, or any type in /proc/filesystems.")
    var type: String

    @OptionGroup var options: FsdistOptions

    public init() {}
    public func validate() throws { try options.check() }
    public func run() throws { try FsdistTracer(tool: "fsdist", fileSystem: type, options: options).run() }
}

public struct Ext4dist: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "ext4dist", abstract: "Summarize ext4 operation latency as histograms.",
        discussion: FsdistTracer.discussion(command: "ext4dist"))
    @OptionGroup var options: FsdistOptions
    public init() {}
    public func validate() throws { try options.check() }
    public func run() throws { try FsdistTracer(tool: "ext4dist", fileSystem: "ext4", options: options).run() }
}

public struct Xfsdist: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "xfsdist", abstract: "Summarize XFS operation latency as histograms.",
        discussion: FsdistTracer.discussion(command: "xfsdist"))
    @OptionGroup var options: FsdistOptions
    public init() {}
    public func validate() throws { try options.check() }
    public func run() throws { try FsdistTracer(tool: "xfsdist", fileSystem: "xfs", options: options).run() }
}

public struct Btrfsdist: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "btrfsdist", abstract: "Summarize btrfs operation latency as histograms.",
        discussion: FsdistTracer.discussion(command: "btrfsdist"))
    @OptionGroup var options: FsdistOptions
    public init() {}
    public func validate() throws { try options.check() }
    public func run() throws { try FsdistTracer(tool: "btrfsdist", fileSystem: "btrfs", options: options).run() }
}

/// bcc's ext4dist flags.
public struct FsdistOptions: ParsableArguments {
    @Flag(name: [.customShort("T"), .long], help: "Include a timestamp on output.")
    var timestamp = false

    @Flag(name: [.customShort("m"), .long], help: "Millisecond histograms.")
    var milliseconds = false

    @Option(name: .shortAndLong, help: "Trace this PID only.")
    var pid: UInt32?

    @Flag(name: .shortAndLong, help: "JSON output: one object per interval (timestamp, unit, and per operation its buckets).")
    var json = false

    @Flag(name: .shortAndLong, help: "Say which kernel hooks the tool attached to, and why.")
    var verbose = false

    @OptionGroup var intervals: IntervalOptions

    public init() {}

    func check() throws {
        if pid == 0 { throw ValidationError("--pid must be a process id above 0") }
        try intervals.check()
    }
}

/// One run of fsdist: load fsslower's hooks in histogram mode, print every interval.
struct FsdistTracer {
    let tool: String
    let fileSystem: String
    let options: FsdistOptions

    static let operations = ["read", "write", "open", "fsync"]  // enum fsslower_op order

    static func discussion(command: String) -> String {
        """
        Times each read, write, open and fsync the way fsslower does (fentry/fexit on the file \
        system's own functions where the kernel allows BPF trampolines, else the system calls \
        filtered to the file system's regular files in the kernel) and counts the latencies in \
        log2 buckets in the kernel: only the histograms cross to user space.

        examples:
          bpfkit \(command)            # trace until Ctrl-C
          bpfkit \(command) 1 10       # print 1 second summaries, 10 times
          bpfkit \(command) -mT 1      # 1s summaries, milliseconds, and timestamps
          bpfkit \(command) -p 181     # trace PID 181 only
        """
    }

    func run() throws {
        try reportingFailures(tool: tool) { try trace() }
    }

    private func trace() throws {
        let object = try FileSystemHooks(tool: tool, fileSystem: fileSystem, pid: options.pid, verbose: options.verbose)
            .load(minimum: 0) { spec in
                try spec.setGlobal("histograms", to: true)
                try spec.setGlobal("milliseconds", to: options.milliseconds)
            }
        defer { object.close() }
        let slots = try TypedMap<UInt32, UInt64>(object.map("fsdist_slots"))
        let out = Output.standardOutput
        let unit = options.milliseconds ? "msecs" : "usecs"
        var totals = RunningTotals<UInt32>()
        if !options.json {
            out.line("Tracing \(fileSystem) operation latency... Hit Ctrl-C to end.")
        }

        func report() throws {
            var sections = HistogramSections()
            for (key, delta) in totals.delta(try slots.entries()) {
                let operation = Int(key) / Int(FSDIST_SLOTS)
                guard operation < Self.operations.count else { continue }
                sections.add(Self.operations[operation], slot: Int(key) % Int(FSDIST_SLOTS), count: delta)
            }
            if options.json {
                var fields: [(String, JSON)] = [("timestamp", .double(Clock.unixSeconds()))]
                if options.timestamp { fields.append(("time", .string(Clock.wallTime()))) }
                fields.append(("file_system", .string(fileSystem)))
                fields.append(("histograms", .array(sections.json(unit: unit, header: "operation"))))
                out.line(JSON.object(fields).serialized())
                return
            }
            var text = "\n"
            if options.timestamp { text += Clock.wallTime() + ":\n" }
            text += sections.text(unit: unit, header: "operation")
            out.write(text)
        }

        try EventLoop().run(reportingEvery: options.intervals) { try report() }
    }
}
