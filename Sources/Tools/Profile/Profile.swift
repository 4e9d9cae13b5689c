import ArgumentParser
import BPFKit
import Report
import Symbolize
import ToolEvents

/// `bpfkit profile`: sample stack traces on every CPU at a frequency, count them in the
/// kernel, and print them at the end — bcc's flags and output, `-f` for flame graphs.
public struct Profile: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Profile CPU usage by sampling stack traces at a timed interval.")

    @Option(name: .shortAndLong, help: "Profile this process only.")
    var pid: UInt32?

    @Option(name: [.customShort("L"), .customLong("tid")], help: "Profile this thread only.")
    var tid: UInt32?

    @Flag(name: [.customShort("U"), .customLong("user-stacks-only")], help: "Show stacks from user space only (no kernel space stacks).")
    var userStacksOnly = false

    @Flag(name: [.customShort("K"), .customLong("kernel-stacks-only")], help: "Show stacks from kernel space only (no user space stacks).")
    var kernelStacksOnly = false

    @Option(name: [.customShort("F"), .long], help: "Sample frequency, Hertz.")
    var frequency: UInt64?

    @Option(name: [.customShort("c"), .long], help: "Sample period, number of events (cpu-clock nanoseconds).")
    var count: UInt64?

    @Flag(name: [.customShort("d"), .long], help: "Insert delimiter between kernel/user stacks.")
    var delimited = false

    @Flag(name: [.customShort("a"), .long], help: "Add _[k] annotations to kernel frames.")
    var annotations = false

    @Flag(name: [.customShort("I"), .customLong("include-idle")], help: "Include CPU idle stacks.")
    var includeIdle = false

    @Flag(name: [.customShort("f"), .long], help: "Output folded format, one line per stack (for flame graphs).")
    var folded = false

    @Option(name: .customLong("stack-storage-size"), help: "The number of unique stack traces that can be stored and displayed.")
    var stackStorageSize: UInt32 = 16384

    @Option(name: [.customShort("C"), .long], help: "CPU number to run profile on.")
    var cpu: Int?

    @Flag(name: .customLong("show-module"), help: "Print unresolved user frames as [module+offset] instead of [unknown].")
    var showModule = false

    @Flag(help: "Print one JSON object per stack instead of text.")
    var json = false

    @Option(name: .customLong("svg"), help: "Also write a CPU flame graph (SVG) of the result to this file.")
    var svg: String?

    @Argument(help: "Duration of the trace, in seconds.")
    var duration: Double?

    public init() {}

    public func validate() throws {
        if userStacksOnly && kernelStacksOnly { throw ValidationError("-U and -K are mutually exclusive") }
        if pid != nil && tid != nil { throw ValidationError("-p and -L are mutually exclusive") }
        if frequency != nil && count != nil { throw ValidationError("-F and -c are mutually exclusive") }
        if frequency == 0 || count == 0 { throw ValidationError("-F and -c must be above 0") }
        if let duration, !(duration > 0) { throw ValidationError("duration must be a positive number of seconds") }
        if stackStorageSize == 0 { throw ValidationError("--stack-storage-size must be above 0") }
        if let cpu, !CPUs.online.contains(cpu) { throw ValidationError("CPU \(cpu) is not online") }
    }

    public func run() throws {
        try reportingFailures(tool: "profile") { try trace() }
    }

    private func trace() throws {
        // Load and attach.
        for id in [pid, tid].compactMap({ $0 }) { try requireProcess(id) }
        let object = try BPFObject(base64: BPFObjects.profile, name: "profile") { spec in
            try spec.setGlobal("target_pid", to: pid ?? 0)
            try spec.setGlobal("target_tid", to: tid ?? 0)
            try spec.setGlobal("user_stacks_only", to: userStacksOnly)
            try spec.setGlobal("kernel_stacks_only", to: kernelStacksOnly)
            try spec.setGlobal("include_idle", to: includeIdle)
            try spec.updateMap("stack_traces") { $0.maxEntries = stackStorageSize }
        }
        let rate: PerfEvent.Rate = count.map { .period($0) } ?? .frequency(frequency ?? 49)
        object.keep(try object.program("profile_sample").attachPerfEvent(.cpuClock, rate: rate, cpus: cpu.map { [$0] }))
        let loop = try EventLoop(duration: duration)
        let symbolizer = StackSymbolizer(showModule: showModule, annotateKernel: annotations)
        let counts = try object.map("counts")
        try loop.every(1) { symbolizer.prepareProcesses(in: counts, as: stack_key.self) { [$0.pid] } }
        if !folded && !json {
            let rateText = count.map { "every \($0) events" } ?? "at \(frequency ?? 49) Hertz"
            let who = pid.map { "PID \($0)" } ?? tid.map { "TID \($0)" } ?? "all threads"
            let stacks = userStacksOnly ? "user" : kernelStacksOnly ? "kernel" : "user + kernel"
            let until = duration.map { "for \(Columns.fixed($0, decimals: 0)) secs." } ?? "... Hit Ctrl-C to end."
            Output.standardOutput.line("Sampling \(rateText) of \(who) by \(stacks) stack \(until)")
        }
        try loop.run()

        // Read the counts once, symbolize, print.
        let samples = try StackSamples.read(from: object, mergeThreads: tid == nil)
        object.close()
        let printer = StackPrinter(
            symbolizer: symbolizer,
            userStacks: !kernelStacksOnly, kernelStacks: !userStacksOnly, delimited: delimited)
        printer.printSingle(samples, folded: folded, json: json, valueName: "count")
        try writeFlameGraph(svg, palette: .hot, title: "CPU Flame Graph", countName: "samples",
                            lines: samples.stacks.map { ([$0.levels[0].comm] + printer.rootFirst($0.levels[0]), $0.value) })
        samples.reportProblems(stackStorageSize: stackStorageSize)
    }
}

/// Fails with one line when a PID does not exist.
func requireProcess(_ pid: UInt32) throws {
    guard readSmallFile("/proc/\(pid)/stat", limit: 64) != nil else {
        throw ValidationError("process \(pid) does not exist")
    }
}
