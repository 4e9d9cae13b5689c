import ArgumentParser
import BPFKit
import Report

/// `bpfkit wakeuptime`: how long threads were blocked, summed by the stack of the thread
/// that woke them — who is making the others wait.
public struct Wakeuptime: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "wakeuptime",
        abstract: "Summarize sleep-to-wakeup time by waker kernel stack.",
        discussion: """
            Measured from sched_switch (the thread blocks) to sched_waking (another thread \
            wakes it; its stacks are taken then, in the waker's context), on BTF tracepoints \
            (raw tracepoints on kernels without them). Times are in microseconds. The filters \
            (-p, -t, -u, -k, --state) select the sleeping thread.

            JSON fields (--json), one object per stack: target, target_pid, waker, waker_pid, waker_stack (leaf first), usecs.
            """)

    @OptionGroup var options: OffCPUOptions

    public init() {}

    public func validate() throws { try options.check() }

    public func run() throws {
        try reportingFailures(tool: "wakeuptime") {
            let samples = try OffCPUTrace.run(
                options, mode: .init(depth: 2, sleeperStacks: false, untilWakeup: true),
                banner: "Tracing blocked time (us) by waker stack of \(OffCPUTrace.who(options))")
            let printer = OffCPUTrace.printer(options)
            let out = Output.standardOutput
            // Folded: target;waker stack, root first;waker — bcc's layout.
            let lines = samples.stacks.compactMap { stack -> (frames: [String], value: UInt64)? in
                guard stack.levels.count > 1 else { return nil }
                let (target, waker) = (stack.levels[0], stack.levels[1])
                return ([target.comm] + printer.rootFirst(waker) + [waker.comm], stack.value)
            }
            if options.folded {
                printer.printFolded(lines)
            } else {
                for stack in samples.stacks.sorted(by: { $0.value < $1.value }) where stack.levels.count > 1 {
                    let (target, waker) = (stack.levels[0], stack.levels[1])
                    if options.json {
                        out.line(JSON.object([
                            ("target", .string(target.comm)), ("target_pid", .unsigned(UInt64(target.pid))),
                            ("waker", .string(waker.comm)), ("waker_pid", .unsigned(UInt64(waker.pid))),
                            ("waker_stack", .array(printer.leafFirst(waker).map(JSON.string))), ("usecs", .unsigned(stack.value)),
                        ]).serialized())
                        continue
                    }
                    var text = "    \(Columns.left("target:", 16)) \(target.comm)\n"
                    for frame in printer.leafFirst(waker) { text += "    \(frame)\n" }
                    text += "    \(Columns.left("waker:", 16)) \(waker.comm)\n        \(stack.value)\n"
                    out.line(text)
                }
            }
            try writeFlameGraph(options.svg, palette: .wakeup, title: "Wakeup Time Flame Graph", countName: "us", lines: lines)
            try OffCPUTrace.writePprof(samples, options, wakerOnly: true)
            samples.reportProblems(stackStorageSize: options.stackStorageSize)
        }
    }
}
