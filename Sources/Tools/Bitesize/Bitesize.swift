import ArgumentParser
import BPFKit
import Report
import ToolEvents

/// `bpfkit bitesize`: block I/O sizes as a log2 histogram per process name (bcc's output;
/// libbpf-tools' flags).
public struct Bitesize: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bitesize",
        abstract: "Summarize block device I/O size as a histogram per process.",
        discussion: """
            Each request is counted when it is issued to the device driver (trace event \
            block:block_rq_issue), under the name of the process issuing it: the one that \
            submitted the I/O, or a kernel worker for write-back and flushes.

            examples:
              bpfkit bitesize              # summarize block I/O size as histograms until Ctrl-C
              bpfkit bitesize 1 10         # print 1 second summaries, 10 times
              bpfkit bitesize -T 1         # 1s summaries with timestamps
              bpfkit bitesize -c fio       # trace fio only
              bpfkit bitesize -d sdc       # trace sdc only
            """)

    @Option(name: .shortAndLong, help: "Trace this process name (comm) only.")
    var comm: String?

    @Option(name: .shortAndLong, help: "Trace this disk only.")
    var disk: String?

    @Flag(name: [.customShort("T"), .long], help: "Include timestamp on output.")
    var timestamp = false

    @Flag(help: "JSON output, one object per interval: timestamp, time (-T), histograms [{comm, unit, total, buckets [{low, high, count}]}].")
    var json = false

    @OptionGroup var intervals: IntervalOptions
    var interval: Double? { intervals.interval }
    var count: Int? { intervals.count }

    public init() {}

    public func validate() throws {
        if let comm, comm.isEmpty || comm.utf8.count > 15 { throw ValidationError("--comm must be 1 to 15 bytes (a process name)") }
        try intervals.check()
    }

    public func run() throws {
        try reportingFailures(tool: "bitesize") { try trace() }
    }

    private func trace() throws {
        // Load and attach.
        let targetDev = try disk.map(BlockDevices.disk(named:)) ?? 0
        let object = try BPFObject(base64: BPFObjects.bitesize, name: "bitesize") { spec in
            try spec.setGlobal("target_dev", to: targetDev)
            try spec.setGlobal("target_comm", to: cChars16(comm ?? ""))
        }
        try object.attachAll()
        let hists = try TypedMap<bitesize_key, UInt64>(object.map("hists"))
        let loop = try EventLoop()
        let out = Output.standardOutput
        var totals = RunningTotals<LabeledSlot>()
        if !json { out.line("Tracing block I/O... Hit Ctrl-C to end.") }

        // Print what the kernel counted since the last output.
        func report() throws {
            let counts = try hists.entries().map { key, value in
                (LabeledSlot(label: cString(key.comm), slot: Int(key.slot)), value)
            }
            var sections = HistogramSections()
            for (key, delta) in totals.delta(counts) { sections.add(key.label, slot: key.slot, count: delta) }
            if json {
                var fields: [(String, JSON)] = [("timestamp", .double(Clock.unixSeconds()))]
                if timestamp { fields.append(("time", .string(Clock.wallTime()))) }
                fields.append(("histograms", .array(sections.json(unit: "Kbytes", header: "comm"))))
                out.line(JSON.object(fields).serialized())
                return
            }
            var text = interval == nil ? "" : "\n"
            if timestamp { text += Clock.wallTime() + "\n" }
            out.write(text + sections.text(unit: "Kbytes", header: "Process Name"))
        }

        if let interval { try loop.every(interval, count: count) { try report() } }
        let stop = try loop.run()
        if stop != .intervalsDone { try report() }
        object.close()
    }
}
