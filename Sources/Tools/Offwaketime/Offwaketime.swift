import ArgumentParser
import BPFKit
import Report

/// `bpfkit offwaketime`: off-CPU time by the blocked stack joined, in the kernel, with the
/// stack of the thread that woke it — one flame graph shows why it waited and who ended it.
public struct Offwaketime: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "offwaketime",
        abstract: "Summarize blocked time by kernel stack trace + waker stack.",
        discussion: """
            The blocked thread's stacks are taken at sched_switch, its waker's at sched_waking \
            (in the waker's context), and the off-CPU time is summed under the pair when the \
            thread runs again. Folded lines read target;…;--;…;waker, the waker's frames \
            reversed so its root sits at the top of a flame graph. Times are in microseconds.

            JSON fields (--json), one object per chain: usecs, levels [{comm, pid, stack (leaf first)}], the blocked task first.
            """)

    @OptionGroup var options: OffCPUOptions

    public init() {}

    public func validate() throws { try options.check() }

    public func run() throws {
        try reportingFailures(tool: "offwaketime") {
            let samples = try OffCPUTrace.run(
                options, mode: .init(depth: 2),
                banner: "Tracing blocked time (us) by user + kernel off-CPU and waker stack of \(OffCPUTrace.who(options))")
            try OffCPUTrace.printChains(samples, options, title: "Off-Wake Time Flame Graph")
        }
    }
}

/// A chain as one folded line: the blocked task (comm, frames root first), then for each
/// waker `--` and its frames leaf first, ending with its comm — bcc's offwaketime layout,
/// extended level by level for chain graphs.
func chainFrames(_ stack: StackSamples.Stack, printer: StackPrinter) -> [String] {
    guard let target = stack.levels.first else { return [] }
    var frames = [target.comm] + printer.rootFirst(target)
    for waker in stack.levels.dropFirst() {
        frames.append("--")
        frames += printer.rootFirst(waker).reversed()
        frames.append(waker.comm)
    }
    return frames
}

/// bcc's offwaketime text: wakers (outermost first, frames reversed), `--`, then the
/// blocked stack and its total.
func printChainText(_ samples: StackSamples, printer: StackPrinter, json: Bool) {
    let out = Output.standardOutput
    for stack in samples.stacks.sorted(by: { $0.value < $1.value }) {
        guard let target = stack.levels.first else { continue }
        if json {
            out.line(JSON.object([
                ("usecs", .unsigned(stack.value)),
                ("levels", .array(stack.levels.map { level in
                    .object([("comm", .string(level.comm)), ("pid", .unsigned(UInt64(level.pid))),
                             ("stack", .array(printer.leafFirst(level).map(JSON.string)))])
                })),
            ]).serialized())
            continue
        }
        var text = ""
        for waker in stack.levels.dropFirst().reversed() {
            text += "    \(Columns.left("waker:", 16)) \(waker.comm) \(waker.pid)\n"
            for frame in printer.leafFirst(waker).reversed() { text += "    \(frame)\n" }
            text += "    \(Columns.left("--", 16)) --\n"
        }
        for frame in printer.leafFirst(target) { text += "    \(frame)\n" }
        text += "    \(Columns.left("target:", 16)) \(target.comm) \(target.pid)\n        \(stack.value)\n"
        out.line(text)
    }
}
