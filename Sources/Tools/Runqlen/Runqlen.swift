import ArgumentParser
import BPFKit
import Report
import ToolEvents

/// `bpfkit runqlen`: how many threads wait on each CPU's run queue, sampled at 99 Hz.
public struct Runqlen: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "runqlen",
        abstract: "Summarize scheduler run queue length as a histogram.",
        discussion: """
            Samples every CPU at 99 Hertz (perf_event on cpu-clock) and reads the length of \
            the CFS run queue of the task on CPU, less that task, through CO-RE (nr_queued \
            since Linux 6.13, nr_running before).
            """)

    @Flag(name: [.customShort("T"), .long], help: "Include a timestamp on output.")
    var timestamp = false

    @Flag(name: [.customShort("O"), .customLong("runqocc")], help: "Report run queue occupancy (the share of samples with a waiting thread).")
    var occupancy = false

    @Flag(name: [.customShort("C"), .customLong("cpus")], help: "Print output for each CPU separately.")
    var perCPU = false

    @Flag(help: "Print one JSON object per interval instead of text: timestamp, time (-T), unit, histograms [{cpu (-C), total, buckets [{value, count}]}]; with -O: timestamp, time (-T), runqocc [{cpu (-C), percent}].")
    var json = false

    @OptionGroup var intervals: IntervalOptions

    public init() {}

    public func validate() throws {
        try intervals.check()
    }

    public func run() throws {
        try reportingFailures(tool: "runqlen") {
            // Load and attach.
            let object = try BPFObject(base64: BPFObjects.runqlen, name: "runqlen") { try $0.setGlobal("per_cpu", to: perCPU) }
            object.keep(try object.program("runqlen_sample").attachPerfEvent(.cpuClock, rate: .frequency(99)))
            let histograms = try TypedMap<UInt32, runq_histogram>(object.map("histograms"))
            if !json { Output.standardOutput.line("Sampling run queue length... Hit Ctrl-C to end.") }

            // Consume and print.
            let report = {
                if occupancy {
                    try printOccupancy(histograms, perCPU: perCPU, timestamp: timestamp, json: json)
                } else {
                    try printHistograms(histograms, label: perCPU ? "cpu" : nil, unit: "runqlen", timestamp: timestamp,
                                        json: json, linear: true)
                }
            }
            try EventLoop().run(reportingEvery: intervals, report)
            object.close()
        }
    }

    /// bcc's `-O`: `runqocc: 12.34%` (per CPU with -C). JSON: one object per interval,
    /// `{"timestamp", "time"?, "runqocc": [{"cpu"?, "percent"}]}`.
    private func printOccupancy(_ histograms: TypedMap<UInt32, runq_histogram>, perCPU: Bool, timestamp: Bool, json: Bool) throws {
        let out = Output.standardOutput
        if timestamp && !json { out.line(Clock.wallTime()) }
        var shares: [JSON] = []
        for (key, histogram) in try histograms.entries().sorted(by: { $0.key < $1.key }) {
            let slots = withUnsafeBytes(of: histogram.slots) { Array($0.bindMemory(to: UInt32.self)).map(UInt64.init) }
            let total = slots.reduce(0, +)
            let share = total > 0 ? 100 * Double(total - slots[0]) / Double(total) : 0
            if json {
                shares.append(.object((perCPU ? [("cpu", JSON.unsigned(UInt64(key)))] : []) + [("percent", .double(share))]))
            } else {
                out.line((perCPU ? "runqocc, CPU \(Columns.left(key, 3)) " : "runqocc: ") + Columns.fixed(share, decimals: 2) + "%")
            }
            try histograms.delete(key)
        }
        if json {
            var fields: [(String, JSON)] = [("timestamp", .double(Clock.unixSeconds()))]
            if timestamp { fields.append(("time", .string(Clock.wallTime()))) }
            fields.append(("runqocc", .array(shares)))
            out.line(JSON.object(fields).serialized())
        }
    }
}
