import ArgumentParser
import BPFKit
import Report
import ToolEvents

/// `bpfkit runqlat`: how long runnable threads wait for a CPU, as log2 histograms summed
/// in the kernel.
public struct Runqlat: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "runqlat",
        abstract: "Summarize run queue (scheduler) latency as a histogram.",
        discussion: """
            From sched_wakeup/sched_wakeup_new (or a preemption, when sched_switch finds the \
            thread still runnable) to the sched_switch that runs it, on BTF tracepoints (raw \
            tracepoints on kernels without them).
            """)

    @Flag(name: [.customShort("T"), .long], help: "Include a timestamp on output.")
    var timestamp = false

    @Flag(name: [.customShort("m"), .long], help: "Millisecond histogram.")
    var milliseconds = false

    @Flag(name: [.customShort("P"), .customLong("pids")], help: "Print a histogram per process ID.")
    var perProcess = false

    @Flag(name: .customLong("pidnss"), help: "Print a histogram per PID namespace.")
    var perNamespace = false

    @Flag(name: [.customShort("L"), .customLong("tids")], help: "Print a histogram per thread ID.")
    var perThread = false

    @Option(name: .shortAndLong, help: "Trace this PID only.")
    var pid: UInt32?

    @Flag(help: "Print one JSON object per interval instead of text: timestamp, time (-T), unit, histograms [{pid (-P), tid (-L) or pidns (--pidnss), comm, total, buckets [{low, high, count}]}].")
    var json = false

    @OptionGroup var intervals: IntervalOptions

    public init() {}

    public func validate() throws {
        if [perProcess, perNamespace, perThread].filter({ $0 }).count > 1 { throw ValidationError("-P, -L and --pidnss are mutually exclusive") }
        try intervals.check()
    }

    public func run() throws {
        try reportingFailures(tool: "runqlat") {
            // Load and attach.
            if let pid { try requireProcess(pid) }
            // Raw tracepoints need no kernel BTF lookup; the programs read fields through CO-RE.
            let suffix = KernelFeatures.shared.has(.rawTracepoint) ? "raw" : "btf"
            let programs: Set<String> = ["runqlat_wakeup_" + suffix, "runqlat_wakeup_new_" + suffix, "runqlat_switch_" + suffix]
            let groupBy: UInt32 = perProcess ? 1 : perThread ? 2 : perNamespace ? 3 : 0
            let object = try BPFObject(base64: BPFObjects.runqlat, name: "runqlat", programs: programs) { spec in
                try spec.setGlobal("target_pid", to: pid ?? 0)
                try spec.setGlobal("milliseconds", to: milliseconds)
                try spec.setGlobal("group_by", to: groupBy)
            }
            try object.attachAll()
            let histograms = try TypedMap<UInt32, runq_histogram>(object.map("histograms"))
            if !json { Output.standardOutput.line("Tracing run queue latency... Hit Ctrl-C to end.") }

            // Consume and print: every interval, or once at the end.
            let label = groupBy == 1 ? "pid" : groupBy == 2 ? "tid" : groupBy == 3 ? "pidns" : nil
            let unit = milliseconds ? "msecs" : "usecs"
            let printAndClear = {
                try printHistograms(histograms, label: label, unit: unit, timestamp: timestamp, json: json)
            }
            try EventLoop().run(reportingEvery: intervals, printAndClear)
            object.close()
        }
    }
}

/// Prints each histogram (bcc's print_log2_hist, with `label = key comm` sections when
/// grouped) and empties the map for the next interval. JSON: one object per interval,
/// `{"timestamp", "time"?, "unit", "histograms": [{label?, "comm"?, "total", "buckets"}]}`.
func printHistograms(
    _ histograms: TypedMap<UInt32, runq_histogram>, label: String?, unit: String, timestamp: Bool, json: Bool, linear: Bool = false
) throws {
    let out = Output.standardOutput
    if timestamp && !json { out.line(Clock.wallTime()) }
    var sections: [JSON] = []
    for (key, histogram) in try histograms.entries().sorted(by: { $0.key < $1.key }) {
        let slots = withUnsafeBytes(of: histogram.slots) { Array($0.bindMemory(to: UInt32.self)).map(UInt64.init) }
        let comm = cString(histogram.comm)
        if json {
            var fields: [(String, JSON)] = []
            if let label { fields.append((label, .unsigned(UInt64(key)))) }
            if let label, label != "cpu", label != "pidns" { fields.append(("comm", .string(comm))) }
            fields.append(("total", .unsigned(slots.reduce(0, +))))
            fields.append(("buckets", linear
                ? .array(slots.enumerated().map { .object([("value", .int(Int64($0.offset))), ("count", .unsigned($0.element))]) })
                : Histogram.log2JSON(slots)))
            sections.append(.object(fields))
            try histograms.delete(key)
            continue
        }
        if let label { out.line("\n\(label) = \(key)\(label == "cpu" || label == "pidns" ? "" : " " + comm)") }
        out.write(linear ? Histogram.linear(slots, unit: unit) : Histogram.log2(slots, unit: unit))
        try histograms.delete(key)
    }
    if json {
        var fields: [(String, JSON)] = [("timestamp", .double(Clock.unixSeconds()))]
        if timestamp { fields.append(("time", .string(Clock.wallTime()))) }
        fields.append(("unit", .string(unit)))
        fields.append(("histograms", .array(sections)))
        out.line(JSON.object(fields).serialized())
    }
}
