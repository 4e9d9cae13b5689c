import ArgumentParser
import BPFKit
import CBPF
import Report
import ToolEvents

/// `bpfkit tsa`: thread state analysis. How each thread's time splits between running,
/// waiting for a CPU, sleeping, disk I/O, locks and other waits, summed in the kernel from
/// the scheduler's transitions.
public struct Tsa: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "tsa",
        abstract: "Thread state analysis: time on CPU, on a run queue, sleeping, in disk I/O, on locks and in other waits, per thread.",
        discussion: """
            sched_switch closes a thread's period on CPU and opens its wait, classified by the \
            task state at switch-out: still runnable (preempted) is run queue; inside a futex \
            system call is lock; interruptible (or an idle no-load wait) is sleep; \
            uninterruptible with in_iowait set is disk; anything else is other. \
            sched_wakeup/sched_wakeup_new start run queue waits. With -p, every thread of the \
            process (by TID; those blocked at the start are seeded from /proc); without, the top \
            N threads by time on CPU plus run queue, each seen from its first switch. \
            Percentages are of each thread's time observed in the interval (TOTAL_ms); -m \
            prints milliseconds per state instead.
            """)

    @Option(name: .shortAndLong, help: "Trace the threads of this PID only.")
    var pid: UInt32?

    @Option(name: [.customShort("T"), .long], help: "Without -p: print this many threads, the busiest first (default 10).")
    var top: Int = 10

    @Flag(name: [.customShort("m"), .customLong("ms")], help: "Print milliseconds per state instead of percentages.")
    var milliseconds = false

    @Flag(help: "Print one JSON object per interval: timestamp, interval_ms, threads [{tid, pid, comm, total_ms, then <state>_ms and <state>_pct for cpu, runq, sleep, disk, lock, other}].")
    var json = false

    @OptionGroup var intervals: IntervalOptions

    public init() {}

    public func validate() throws {
        if top <= 0 { throw ValidationError("-T must be above 0") }
        try intervals.check()
    }

    public func run() throws {
        try reportingFailures(tool: "tsa") {
            if let pid { try requireProcess(pid) }
            // Raw tracepoints need no kernel BTF lookup; the programs read fields through CO-RE.
            let suffix = KernelFeatures.shared.has(.rawTracepoint) ? "raw" : "btf"
            var programs: Set<String> = ["tsa_switch_" + suffix, "tsa_wakeup_" + suffix, "tsa_wakeup_new_" + suffix]
            if Tracefs.hasEvent(category: "syscalls", name: "sys_enter_futex") {
                programs.formUnion(["tsa_futex_enter", "tsa_futex_exit"])
                if Tracefs.hasEvent(category: "syscalls", name: "sys_enter_futex_waitv") {
                    programs.formUnion(["tsa_futex_waitv_enter", "tsa_futex_waitv_exit"])
                }
            } else {
                Output.standardError.line("bpfkit tsa: no syscalls:sys_enter_futex trace event here: futex waits count as sleep")
            }
            let object = try BPFObject(base64: BPFObjects.tsa, name: "tsa", programs: programs) { spec in
                try spec.setGlobal("target_pid", to: pid ?? 0)
            }
            let table = try ThreadStateTable(object)
            try table.start(seeding: pid, inFutex: try TypedMap(object.map("in_futex")))
            try object.attachAll()

            let loop = try EventLoop()
            // With -p, the loop also ends (after a last report) when the process exits.
            var targetExit: FileDescriptor?
            if let pid {
                let fd = cbpf_pidfd_open(Int32(bitPattern: pid))
                guard fd >= 0 else { throw SystemCallError(call: "pidfd_open", errno: -fd) }
                targetExit = FileDescriptor(owning: fd)
                try loop.stop(whenExits: fd)
            }
            if !json {
                let what = pid.map { "the threads of PID \($0)" } ?? "the \(top) busiest threads"
                Output.standardOutput.line("Tracing thread states of \(what)... Hit Ctrl-C to end.")
            }
            let printer = ThreadStatePrinter(milliseconds: milliseconds, json: json)
            try loop.run(reportingEvery: intervals) {
                var rows = try table.collect()
                if pid == nil {
                    rows.sort { ($0.busy, $1.tid) > ($1.busy, $0.tid) }
                    rows = Array(rows.prefix(top))
                } else {
                    rows.sort { $0.tid < $1.tid }
                }
                printer.print(rows, intervalNanoseconds: table.lastIntervalNanoseconds)
            }
            object.close()
            withExtendedLifetime(targetExit) {}
        }
    }
}
