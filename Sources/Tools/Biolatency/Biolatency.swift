import ArgumentParser
import BPFKit
import Report
import ToolEvents

/// `bpfkit biolatency`: block device I/O latency as a log2 histogram, bcc's flags and output.
public struct Biolatency: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "biolatency",
        abstract: "Summarize block device I/O latency as a histogram.",
        discussion: """
            Latency runs from the request's issue to the device driver (with -Q, from its \
            insertion into the OS queue) to its completion. Attaches to BTF tracepoints \
            tp_btf/block_rq_{insert,issue,complete} (the request itself, read with CO-RE), or \
            where the kernel has none, to the trace events block:block_rq_{insert,issue,complete} \
            (requests matched by disk and sector; -F reads the events' rwbs flags).

            examples:
              bpfkit biolatency              # summarize block I/O latency as a histogram
              bpfkit biolatency 1 10         # print 1 second summaries, 10 times
              bpfkit biolatency -mT 1        # 1s summaries, milliseconds, and timestamps
              bpfkit biolatency -Q           # include OS queued time in I/O time
              bpfkit biolatency -D           # show each disk device separately
              bpfkit biolatency -F           # show I/O flags separately
              bpfkit biolatency -e           # show extension summary (total, average)
              bpfkit biolatency -d sdc       # trace sdc only
            """)

    @Flag(name: [.customShort("T"), .long], help: "Include timestamp on output.")
    var timestamp = false

    @Flag(name: [.customShort("Q"), .long], help: "Include OS queued time in I/O time.")
    var queued = false

    @Flag(name: .shortAndLong, help: "Millisecond histogram.")
    var milliseconds = false

    @Flag(name: [.customShort("D"), .long], help: "Print a histogram per disk device.")
    var disks = false

    @Flag(name: [.customShort("F"), .long], help: "Print a histogram per set of I/O flags.")
    var flags = false

    @Flag(name: [.customShort("e"), .customLong("extension")], help: "Summarize average/total value.")
    var extended = false

    @Flag(name: .shortAndLong, help: "JSON output, one object per interval: timestamp, time (-T), unit, histograms [{disk (-D) or flags (-F), unit, total, buckets [{low, high, count}]}], count, total, avg (-e).")
    var json = false

    @Option(name: .shortAndLong, help: "Trace this disk only.")
    var disk: String?

    @Flag(name: .shortAndLong, help: "Say which kernel hooks the tool attached to, and why.")
    var verbose = false

    @OptionGroup var intervals: IntervalOptions
    var interval: Double? { intervals.interval }
    var count: Int? { intervals.count }

    public init() {}

    public func validate() throws {
        if disks && flags { throw ValidationError("can only use -D or -F") }
        try intervals.check()
    }

    public func run() throws {
        try reportingFailures(tool: "biolatency") { try trace() }
    }

    private func trace() throws {
        // Load and attach: BTF tracepoints where the kernel has them, else trace events.
        let targetDev = try disk.map(BlockDevices.disk(named:)) ?? 0
        let events = (queued ? ["block_rq_insert"] : []) + ["block_rq_issue", "block_rq_complete"]
        let whyNoBTF = KernelHooks.whyNoBTFTracepoints(events)
        let prefix = whyNoBTF == nil ? "biolatency_btf_" : "biolatency_tp_"
        let programs = Set(events.map { prefix + $0.dropFirst("block_rq_".count) })
        let object = try BPFObject(base64: BPFObjects.biolatency, name: "biolatency", programs: programs) { spec in
            try spec.setGlobal("queued", to: queued)
            try spec.setGlobal("milliseconds", to: milliseconds)
            try spec.setGlobal("per_disk", to: disks)
            try spec.setGlobal("per_flags", to: flags)
            try spec.setGlobal("target_dev", to: targetDev)
        }
        try object.attachAll()
        if verbose {
            Output.standardError.line(whyNoBTF == nil
                ? "biolatency: attaching to tp_btf/" + events.joined(separator: ", tp_btf/")
                : "biolatency: attaching to trace events block:" + events.joined(separator: ", block:")
                    + " (no BTF tracepoints: \(whyNoBTF!))")
        }
        let hists = try TypedMap<biolatency_key, UInt64>(object.map("hists"))
        let loop = try EventLoop()
        let out = Output.standardOutput
        let devices = BlockDevices()
        let requestFlags = RequestFlags(btf: flags && whyNoBTF == nil ? try? KernelBTF.shared() : nil)
        let unit = milliseconds ? "msecs" : "usecs"
        var totals = RunningTotals<LabeledSlot>()
        var sums = RunningTotals<Int>()
        if !json { out.line("Tracing block device I/O... Hit Ctrl-C to end.") }

        // Print what the kernel counted since the last output.
        func report() throws {
            var counts: [LabeledSlot: UInt64] = [:]
            for (key, value) in try hists.entries() {
                var label: String?
                if disks { label = devices.name(of: key.dev) }
                if flags {
                    label = whyNoBTF == nil
                        ? requestFlags.describe(cmdFlags: key.cmd_flags) : RequestFlags.describe(rwbs: shortText(key.rwbs))
                }
                counts[LabeledSlot(label: label, slot: Int(key.slot)), default: 0] += value
            }
            var sections = HistogramSections()
            for (key, delta) in totals.delta(Array(counts)) { sections.add(key.label, slot: key.slot, count: delta) }
            let changes = sums.delta([
                (0, try object.global("total_ns", as: UInt64.self)), (1, try object.global("total_count", as: UInt64.self)),
            ])
            let totalNanoseconds = changes.first { $0.0 == 0 }?.1 ?? 0
            let ios = changes.first { $0.0 == 1 }?.1 ?? 0
            let total = totalNanoseconds / (milliseconds ? 1_000_000 : 1_000)
            let average: UInt64 = ios > 0 ? total / ios : 0

            if json {
                var fields: [(String, JSON)] = [("timestamp", .double(Clock.unixSeconds()))]
                if timestamp { fields.append(("time", .string(Clock.wallTime()))) }
                fields.append(("unit", .string(unit)))
                fields.append(("histograms", .array(sections.json(unit: unit, header: disks ? "disk" : "flags"))))
                if extended {
                    fields += [("count", .unsigned(ios)), ("total", .unsigned(total)), ("avg", .unsigned(average))]
                }
                out.line(JSON.object(fields).serialized())
                return
            }
            var text = "\n"
            if timestamp { text += Clock.wallTime() + "\n" }
            text += sections.text(unit: unit, header: disks ? "disk" : "flags")
            if extended && ios > 0 {
                text += "\navg = \(average) \(unit), total: \(total) \(unit), count: \(ios)\n\n"
            }
            out.write(text)
        }

        if let interval { try loop.every(interval, count: count) { try report() } }
        let stop = try loop.run()
        if stop != .intervalsDone { try report() }
        object.close()
    }
}
