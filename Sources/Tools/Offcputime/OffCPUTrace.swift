import ArgumentParser
import BPFKit
import Pprof
import Report
import ToolEvents

/// The flags offcputime, wakeuptime, offwaketime and chaingraph share (bcc's).
public struct OffCPUOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Trace this PID only.")
    var pid: UInt32?

    @Option(name: .shortAndLong, help: "Trace this TID only.")
    var tid: UInt32?

    @Flag(name: [.customShort("u"), .customLong("user-threads-only")], help: "User threads only (no kernel threads).")
    var userThreadsOnly = false

    @Flag(name: [.customShort("k"), .customLong("kernel-threads-only")], help: "Kernel threads only (no user threads).")
    var kernelThreadsOnly = false

    @Flag(name: [.customShort("U"), .customLong("user-stacks-only")], help: "Show stacks from user space only (no kernel space stacks).")
    var userStacksOnly = false

    @Flag(name: [.customShort("K"), .customLong("kernel-stacks-only")], help: "Show stacks from kernel space only (no user space stacks).")
    var kernelStacksOnly = false

    @Flag(name: [.customShort("d"), .long], help: "Insert delimiter between kernel/user stacks.")
    var delimited = false

    @Flag(name: [.customShort("f"), .long], help: "Output folded format (for flame graphs).")
    var folded = false

    @Option(name: .long, help: "Only count threads blocked in this state (e.g. 1 = TASK_INTERRUPTIBLE, 2 = TASK_UNINTERRUPTIBLE).")
    var state: Int64?

    @Option(name: [.customShort("m"), .customLong("min-block-time")], help: "The amount of time in microseconds over which we store traces.")
    var minimumMicroseconds: UInt64 = 1

    @Option(name: [.customShort("M"), .customLong("max-block-time")], help: "The amount of time in microseconds under which we store traces.")
    var maximumMicroseconds: UInt64 = .max

    @Option(name: .customLong("stack-storage-size"), help: "The number of unique stack traces that can be stored and displayed.")
    var stackStorageSize: UInt32 = 16384

    @Option(name: .customLong("svg"), help: "Also write a flame graph (SVG) of the result to this file.")
    var svg: String?

    @Flag(help: "Print one JSON object per stack instead of text.")
    var json = false

    @OptionGroup var unwind: UnwindOptions
    @Option(name: .customLong("pprof"), help: "Also write the result as a gzip-compressed pprof profile (off-cpu/nanoseconds) to this file.")
    var pprof: String?

    @Argument(help: "Duration of the trace, in seconds.")
    var duration: Double?

    public init() {}

    func check() throws {
        if userThreadsOnly && kernelThreadsOnly { throw ValidationError("-u and -k are mutually exclusive") }
        if userStacksOnly && kernelStacksOnly { throw ValidationError("-U and -K are mutually exclusive") }
        if pid != nil && tid != nil { throw ValidationError("-p and -t are mutually exclusive") }
        if minimumMicroseconds > maximumMicroseconds { throw ValidationError("-m must not be above -M") }
        if let duration, !(duration > 0) { throw ValidationError("duration must be a positive number of seconds") }
        if stackStorageSize == 0 { throw ValidationError("--stack-storage-size must be above 0") }
        try unwind.check()
    }
}

/// Loads and attaches the shared off-CPU program (offcpu.bpf.c) for one of the four tools,
/// on BTF tracepoints where the kernel has them and raw tracepoints otherwise; runs for
/// the duration (or until Ctrl-C); and returns the sums with their stacks.
enum OffCPUTrace {
    struct Mode {
        /// Levels of the chain: 1 the blocked task, 2 with its waker, up to 4.
        var depth: Int
        var sleeperStacks = true
        var untilWakeup = false
    }

    /// Symbolizes for the tool; prepared with each traced process while it runs.
    nonisolated(unsafe) static let symbolizer = StackSymbolizer()

    /// When tracing started (for `--pprof`), in nanoseconds since the epoch.
    nonisolated(unsafe) static var started: Int64 = 0

    /// Writes `--pprof`: each stack's chain as one sample of off-CPU nanoseconds; for
    /// wakeuptime (`wakerOnly`) the waker's stack under its comm, as its folded lines read.
    static func writePprof(_ samples: StackSamples, _ options: OffCPUOptions, wakerOnly: Bool = false) throws {
        guard let path = options.pprof else { return }
        var output = PprofStacks.offCPU(symbolizer: symbolizer, options: options, started: started)
        for stack in samples.stacks {
            if wakerOnly {
                guard stack.levels.count > 1 else { continue }
                let (target, waker) = (stack.levels[0], stack.levels[1])
                output.profile.addSample(
                    [PprofStacks.marker(waker.comm)] + output.frames(waker),
                    values: [Int64(clamping: stack.value) &* 1000],
                    labels: PprofStacks.labels(target) + PprofStacks.labels(waker, prefix: "waker_"))
            } else {
                output.addChain(stack, microseconds: stack.value)
            }
        }
        try output.write(to: path)
    }

    static func run(_ options: OffCPUOptions, mode: Mode, banner: String) throws -> StackSamples {
        if let pid = options.pid { try requireProcess(pid) }
        if let tid = options.tid { try requireProcess(tid) }
        // Samples join their chain by (thread, level); a waker's waker has no such slot.
        if options.unwind.copiesStacks && mode.depth > 2 {
            throw ValidationError("--unwind \(options.unwind.method.rawValue) takes chains of up to 2 levels; use --unwind fp with --depth above 2")
        }
        try PprofStacks.checkWritable(options.pprof)
        started = PprofProfile.now()
        // Raw tracepoints carry the same arguments and need no kernel BTF lookup (the
        // programs read every field through CO-RE), so they are the cheaper start.
        let suffix = KernelFeatures.shared.has(.rawTracepoint) ? "raw" : "btf"
        var programs: Set<String> = ["offcpu_switch_" + suffix]
        if mode.depth > 1 || mode.untilWakeup { programs.insert("offcpu_waking_" + suffix) }
        let object = try BPFObject(base64: BPFObjects.offcpu, name: "offcpu", programs: programs) { spec in
            try spec.setGlobal("target_pid", to: options.pid ?? 0)
            try spec.setGlobal("target_tid", to: options.tid ?? 0)
            try spec.setGlobal("user_threads_only", to: options.userThreadsOnly)
            try spec.setGlobal("kernel_threads_only", to: options.kernelThreadsOnly)
            try spec.setGlobal("user_stacks_only", to: options.userStacksOnly)
            try spec.setGlobal("kernel_stacks_only", to: options.kernelStacksOnly)
            try spec.setGlobal("target_state", to: options.state ?? -1)
            try spec.setGlobal("min_us", to: options.minimumMicroseconds)
            try spec.setGlobal("max_us", to: options.maximumMicroseconds)
            try spec.setGlobal("depth", to: UInt32(mode.depth))
            try spec.setGlobal("sleeper_stacks", to: mode.sleeperStacks)
            try spec.setGlobal("until_wakeup", to: mode.untilWakeup)
            try spec.updateMap("stack_traces") { $0.maxEntries = options.stackStorageSize }
            try options.unwind.configure(&spec)
        }
        try object.attachAll()
        let loop = try EventLoop(duration: options.duration)
        let counts = try object.map("counts")
        var collector: UserStackCollector?
        if options.unwind.copiesStacks && !options.kernelStacksOnly {
            let unwound = try UserStackCollector(object: object, symbolizer: symbolizer, method: options.unwind.method, mergeThreads: options.tid == nil)
            let ring = try RingBuffer(map: object.map("events"))
            try loop.watch(ring, drainingEvery: UserStackCollector.drainInterval) { unwound.handle($0, valueOnFinish: true, depth: mode.depth) }
            collector = unwound
        }
        try loop.every(1) {
            symbolizer.prepareProcesses(in: counts, as: chain_key.self) { key in
                withUnsafeBytes(of: key.levels) { raw in
                    (0..<Int(CHAIN_MAX_DEPTH)).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<stack_key>.stride, as: stack_key.self).pid }
                }
            }
        }
        if !options.folded && !options.json {
            let until = options.duration.map { "for \(Columns.fixed($0, decimals: 0)) secs." } ?? "... Hit Ctrl-C to end."
            Output.standardOutput.line("\(banner) \(until)")
        }
        try loop.run()
        var samples = try StackSamples.readChains(from: object, depth: mode.depth, mergeThreads: options.tid == nil)
        if let collector { try samples.add(unwound: collector.totals, from: object) }
        let lost = collector == nil ? 0 : (try? object.global("lost_events", as: UInt64.self)) ?? 0
        object.close()
        collector?.reportProblems(userStackBytes: options.unwind.userStackBytes)
        if lost > 0 { Output.standardError.line("WARNING: \(lost) user stack copies were lost (ring buffer full).") }
        return samples
    }

    /// Prints offwaketime's and chaingraph's result: folded chains, or bcc's text or JSON,
    /// and the flame graph with `--svg`.
    static func printChains(_ samples: StackSamples, _ options: OffCPUOptions, title: String) throws {
        let printer = printer(options)
        let lines = samples.stacks.map { stack in (chainFrames(stack, printer: printer), stack.value) }
        if options.folded {
            printer.printFolded(lines)
        } else {
            printChainText(samples, printer: printer, json: options.json)
        }
        try writeFlameGraph(options.svg, palette: .chain, title: title, countName: "us", lines: lines)
        try writePprof(samples, options)
        samples.reportProblems(stackStorageSize: options.stackStorageSize)
    }

    static func printer(_ options: OffCPUOptions) -> StackPrinter {
        StackPrinter(symbolizer: symbolizer, userStacks: !options.kernelStacksOnly,
                     kernelStacks: !options.userStacksOnly, delimited: options.delimited)
    }

    /// "of all threads", "of PID 42", "of user threads", as bcc's banners say.
    static func who(_ options: OffCPUOptions) -> String {
        if let pid = options.pid { return "PID \(pid)" }
        if let tid = options.tid { return "TID \(tid)" }
        if options.userThreadsOnly { return "user threads" }
        if options.kernelThreadsOnly { return "kernel threads" }
        return "all threads"
    }
}
