import ArgumentParser
import BPFKit
import Report
import ToolEvents

/// `bpfkit chaingraph`: off-CPU time by the blocked stack and its chain of wakers — who
/// woke the waker — summed in the kernel.
public struct Chaingraph: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "chaingraph",
        abstract: "Summarize blocked time by stack and the chain of wakers behind it.",
        discussion: """
            Method: at sched_switch the blocked thread's stacks are taken; at sched_waking \
            the waker's stacks are taken, and the chain that last woke the waker (kept per \
            thread in an LRU map) is appended, up to --depth levels; the off-CPU time is \
            summed under the whole chain when the thread runs again. Limits: a waker's own \
            chain is the one recorded at its most recent wakeup, which may be older than \
            the work that led it to wake this thread; wakeups from interrupts show the \
            interrupted task as waker; levels past what was observed are left empty. \
            Folded lines separate levels with `--`, each waker's frames reversed.

            JSON fields (--json), one object per chain: usecs, levels [{comm, pid, stack (leaf first)}], the blocked task first.
            """)

    @OptionGroup var options: OffCPUOptions

    @Option(help: "Levels of the chain: the blocked thread and up to \(Int(CHAIN_MAX_DEPTH) - 1) wakers.")
    var depth: Int = 3

    public init() {}

    public func validate() throws {
        try options.check()
        guard (2...Int(CHAIN_MAX_DEPTH)).contains(depth) else {
            throw ValidationError("--depth must be between 2 and \(CHAIN_MAX_DEPTH)")
        }
    }

    public func run() throws {
        try reportingFailures(tool: "chaingraph") {
            let samples = try OffCPUTrace.run(
                options, mode: .init(depth: depth),
                banner: "Tracing blocked time (us) by stack and \(depth - 1) levels of wakers of \(OffCPUTrace.who(options))")
            try OffCPUTrace.printChains(samples, options, title: "Chain Graph")
        }
    }
}
