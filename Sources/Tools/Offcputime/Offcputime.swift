import ArgumentParser
import BPFKit
import Report

/// `bpfkit offcputime`: time threads spent blocked (off CPU), summed in the kernel by stack.
public struct Offcputime: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "offcputime",
        abstract: "Summarize off-CPU time by stack trace.",
        discussion: """
            Measured from sched_switch (the thread leaves the CPU; its stacks are taken then) \
            to the sched_switch that runs it again, on BTF tracepoints (raw tracepoints on \
            kernels without them). Times are in microseconds.

            JSON fields (--json), one object per stack: pid, comm, usecs, user_stack, kernel_stack (frames leaf first).
            """)

    @OptionGroup var options: OffCPUOptions

    public init() {}

    public func validate() throws { try options.check() }

    public func run() throws {
        try reportingFailures(tool: "offcputime") {
            let stacks = options.userStacksOnly ? "user" : options.kernelStacksOnly ? "kernel" : "user + kernel"
            let samples = try OffCPUTrace.run(
                options, mode: .init(depth: 1), banner: "Tracing off-CPU time (us) of \(OffCPUTrace.who(options)) by \(stacks) stack")
            let printer = OffCPUTrace.printer(options)
            printer.printSingle(samples, folded: options.folded, json: options.json, valueName: "usecs")
            try writeFlameGraph(options.svg, palette: .io, title: "Off-CPU Time Flame Graph", countName: "us",
                                lines: samples.stacks.map { ([$0.levels[0].comm] + printer.rootFirst($0.levels[0]), $0.value) })
            try OffCPUTrace.writePprof(samples, options)
            samples.reportProblems(stackStorageSize: options.stackStorageSize)
        }
    }
}
