import ArgumentParser
import FlameGraph
import BPFKit
import Report
import Pprof
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

    @Flag(help: "Print one JSON object per stack instead of text: pid, comm, count, user_stack, kernel_stack (frames leaf first).")
    var json = false

    @Option(name: .customLong("svg"), help: "Also write a CPU flame graph (SVG) of the result to this file.")
    var svg: String?

    @Flag(help: "CPI profile: sample hardware cycles and instructions by stack (needs a hardware PMU); prints folded lines with both counts, and --svg colours by cycles per instruction.")
    var cpi = false

    @OptionGroup var unwind: UnwindOptions
    @Option(name: .customLong("pprof"), help: "Also write the samples as a gzip-compressed pprof profile (samples/count, cpu/nanoseconds) to this file.")
    var pprof: String?

    @Argument(help: "Duration of the trace, in seconds.")
    var duration: Double?

    public init() {}

    public mutating func validate() throws {
        // Whole user stacks by default; --cpi and -K (kernel stacks only) walk frame pointers.
        unwind.useByDefault(cpi || kernelStacksOnly ? .fp : .auto)
        if userStacksOnly && kernelStacksOnly { throw ValidationError("-U and -K are mutually exclusive") }
        if pid != nil && tid != nil { throw ValidationError("-p and -L are mutually exclusive") }
        if frequency != nil && count != nil { throw ValidationError("-F and -c are mutually exclusive") }
        if frequency == 0 || count == 0 { throw ValidationError("-F and -c must be above 0") }
        if let duration, !(duration > 0) { throw ValidationError("duration must be a positive number of seconds") }
        if stackStorageSize == 0 { throw ValidationError("--stack-storage-size must be above 0") }
        if let cpu, !CPUs.online.contains(cpu) { throw ValidationError("CPU \(cpu) is not online") }
        try unwind.check()
        if cpi && unwind.copiesStacks { throw ValidationError("--cpi takes frame-pointer stacks only (--unwind fp)") }
    }

    public func run() throws {
        try reportingFailures(tool: "profile") { try trace() }
    }

    private func trace() throws {
        // Load and attach.
        for id in [pid, tid].compactMap({ $0 }) { try requireProcess(id) }
        try PprofStacks.checkWritable(pprof)
        let started = PprofProfile.now()
        let programs: Set<String> = cpi ? ["profile_sample", "profile_instructions"] : ["profile_sample"]
        var unwind = self.unwind
        func load() throws -> BPFObject {
            try BPFObject(base64: BPFObjects.profile, name: "profile", programs: programs) { spec in
                try spec.setGlobal("count_periods", to: cpi)
                try spec.setGlobal("target_pid", to: pid ?? 0)
                try spec.setGlobal("target_tid", to: tid ?? 0)
                try spec.setGlobal("user_stacks_only", to: userStacksOnly)
                try spec.setGlobal("kernel_stacks_only", to: kernelStacksOnly)
                try spec.setGlobal("include_idle", to: includeIdle)
                try spec.updateMap("stack_traces") { $0.maxEntries = stackStorageSize }
                try unwind.configure(&spec)
            }
        }
        let object: BPFObject
        do {
            object = try load()
        } catch let error as VerifierError where unwind.method == .auto {
            // auto means the best this kernel allows: frame pointers when its verifier
            // refuses the copying program (no privilege is no reason to try again).
            Output.standardError.line("bpfkit profile: whole user stacks (--unwind auto) cannot load here (\(error)); walking frame pointers instead")
            unwind.requestedMethod = .fp
            object = try load()
        }
        let rate: PerfEvent.Rate = count.map { .period($0) } ?? .frequency(frequency ?? 49)
        if cpi {
            do {
                object.keep(try object.program("profile_sample").attachPerfEvent(.cycles, rate: rate, cpus: cpu.map { [$0] }))
                object.keep(try object.program("profile_instructions").attachPerfEvent(.instructions, rate: rate, cpus: cpu.map { [$0] }))
            } catch {
                throw ProfileFailure("--cpi needs the hardware cycles and instructions counters, and this machine has none (no hardware PMU: a VM without PMU passthrough?)")
            }
        } else {
            object.keep(try object.program("profile_sample").attachPerfEvent(.cpuClock, rate: rate, cpus: cpu.map { [$0] }))
        }
        let loop = try EventLoop(duration: duration)
        let symbolizer = StackSymbolizer(showModule: showModule, annotateKernel: annotations)
        let counts = try object.map("counts")
        var collector: UserStackCollector?
        if unwind.copiesStacks && !kernelStacksOnly {
            let unwound = try UserStackCollector(object: object, symbolizer: symbolizer, method: unwind.method, mergeThreads: tid == nil)
            let ring = try RingBuffer(map: object.map("events"))
            try loop.watch(ring, drainingEvery: UserStackCollector.drainInterval) { unwound.handle($0, valueOnFinish: false) }
            collector = unwound
        }
        try loop.every(1) { symbolizer.prepareProcesses(in: counts, as: stack_key.self) { [$0.pid] } }
        if !folded && !json && !cpi {
            let rateText = count.map { "every \($0) events" } ?? "at \(frequency ?? 49) Hertz"
            let who = pid.map { "PID \($0)" } ?? tid.map { "TID \($0)" } ?? "all threads"
            let stacks = userStacksOnly ? "user" : kernelStacksOnly ? "kernel" : "user + kernel"
            let until = duration.map { "for \(Columns.fixed($0, decimals: 0)) secs." } ?? "... Hit Ctrl-C to end."
            Output.standardOutput.line("Sampling \(rateText) of \(who) by \(stacks) stack \(until)")
        }
        try loop.run()

        // Read the counts once, symbolize, print.
        var samples = try StackSamples.read(from: object, mergeThreads: tid == nil)
        if let collector { try samples.add(unwound: collector.totals, from: object) }
        let lost = collector == nil ? 0 : (try? object.global("lost_events", as: UInt64.self)) ?? 0
        object.close()
        let printer = StackPrinter(
            symbolizer: symbolizer,
            userStacks: !kernelStacksOnly, kernelStacks: !userStacksOnly, delimited: delimited)
        if cpi {
            let instructions = try StackSamples.read(from: object, map: "instruction_counts", mergeThreads: tid == nil)
            try printCPI(cycles: samples, instructions: instructions, printer: printer)
            return
        }
        printer.printSingle(samples, folded: folded, json: json, valueName: "count")
        try writeFlameGraph(svg, palette: .hot, title: "CPU Flame Graph", countName: "samples",
                            lines: samples.stacks.map { ([$0.levels[0].comm] + printer.rootFirst($0.levels[0]), $0.value) })
        if let pprof {
            // A sample stands for one period of CPU time: 1 s / frequency, or -c nanoseconds
            // of cpu-clock.
            let period = Int64(clamping: count ?? 1_000_000_000 / (frequency ?? 49))
            var profile = PprofProfile(sampleTypes: [.init("samples", "count"), .init("cpu", "nanoseconds")],
                                       periodType: .init("cpu", "nanoseconds"), period: period, timeNanos: started)
            profile.durationNanos = PprofProfile.now() - started
            profile.defaultSampleType = "cpu"
            var output = PprofStacks(symbolizer: symbolizer, userStacks: !kernelStacksOnly, kernelStacks: !userStacksOnly, profile: profile)
            for stack in samples.stacks {
                let level = stack.levels[0]
                let count = Int64(clamping: stack.value)
                output.add(level, values: [count, count &* period])
            }
            try output.write(to: pprof)
        }
        samples.reportProblems(stackStorageSize: stackStorageSize)
        collector?.reportProblems(userStackBytes: unwind.userStackBytes)
        if lost > 0 { Output.standardError.line("WARNING: \(lost) user stack copies were lost (ring buffer full).") }
    }
}

extension Profile {
    /// --cpi: folded lines `stack cycles instructions` (stacks symbolized alike merged), and
    /// with --svg a flame graph as wide as the cycles, coloured by CPI.
    private func printCPI(cycles: StackSamples, instructions: StackSamples, printer: StackPrinter) throws {
        var totals: [String: (cycles: UInt64, instructions: UInt64)] = [:]
        func add(_ samples: StackSamples, cycles: Bool) {
            for stack in samples.stacks {
                let text = ([stack.levels[0].comm] + printer.rootFirst(stack.levels[0])).map { $0.replacing(";", with: ":") }.joined(separator: ";")
                if cycles { totals[text, default: (0, 0)].cycles += stack.value } else { totals[text, default: (0, 0)].instructions += stack.value }
            }
        }
        add(cycles, cycles: true)
        add(instructions, cycles: false)
        let profile = CPIProfile(stacks: totals.map { .init(frames: $0.key.split(separator: ";").map(String.init), cycles: Double($0.value.cycles), instructions: Double($0.value.instructions)) })
        for text in totals.keys.sorted(by: { (totals[$0]!.cycles, $0) < (totals[$1]!.cycles, $1) }) {
            Output.standardOutput.line("\(text) \(totals[text]!.cycles) \(totals[text]!.instructions)")
        }
        if let svg { try writeCPIFlameGraph(profile, path: svg) }
    }
}

/// A failure `profile` explains in one line.
struct ProfileFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Fails with one line when a PID does not exist.
func requireProcess(_ pid: UInt32) throws {
    guard readSmallFile("/proc/\(pid)/stat", limit: 64) != nil else {
        throw ValidationError("process \(pid) does not exist")
    }
}
