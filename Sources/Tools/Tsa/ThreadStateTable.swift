import BPFKit
import Report
import ToolEvents

/// One thread's time per state over one interval, in nanoseconds (indexed by TSA_CPU...).
struct ThreadStateRow {
    var tid: UInt32
    var pid: UInt32
    var comm: String
    var nanoseconds: [UInt64]

    var total: UInt64 { nanoseconds.reduce(0, +) }
    /// What ranks threads system-wide: demand for a CPU (running or waiting for one).
    var busy: UInt64 { nanoseconds[Int(TSA_CPU)] + nanoseconds[Int(TSA_RUNQ)] }
}

/// The kernel's per-thread sums plus each thread's still-open period, cut at report times.
///
/// The BPF side adds a closed period from `max(start, reported_at)`; at a report this side
/// adds each open period from `max(start, previous report)` to now and moves `reported_at`
/// to now, so no stretch of time is counted in two intervals.
final class ThreadStateTable {
    private let sums: TypedMap<UInt32, tsa_times>
    private let threads: TypedMap<UInt32, tsa_thread>
    private let reportedAt: TypedMap<UInt32, UInt64>
    private var previousReport: UInt64 = 0
    private(set) var lastIntervalNanoseconds: UInt64 = 0

    init(_ object: BPFObject) throws {
        sums = try TypedMap(object.map("times"))
        threads = try TypedMap(object.map("threads"))
        reportedAt = try TypedMap(object.map("reported_at"))
    }

    /// Marks the start of the first interval (before attaching), with the threads of
    /// `pid` in the states /proc shows them in.
    func start(seeding pid: UInt32?, inFutex: TypedMap<UInt32, UInt8>) throws {
        previousReport = Clock.monotonicNanoseconds()
        try reportedAt.update(0, previousReport)
        if let pid { ThreadStateSeed.seed(process: pid, threads: threads, inFutex: inFutex, at: previousReport) }
    }

    /// The interval's rows, emptying the kernel's sums.
    func collect() throws -> [ThreadStateRow] {
        let now = Clock.monotonicNanoseconds()
        try reportedAt.update(0, now)
        var rows: [UInt32: ThreadStateRow] = [:]
        for (tid, times) in try sums.entries() {
            let values = withUnsafeBytes(of: times.ns) { Array($0.bindMemory(to: UInt64.self)) }
            rows[tid] = ThreadStateRow(tid: tid, pid: times.tgid, comm: cString(times.comm), nanoseconds: values)
            _ = try sums.delete(tid)
        }
        for (tid, thread) in try threads.entries() where thread.state < UInt32(TSA_STATES) {
            let start = max(thread.since, previousReport)
            guard now > start else { continue }
            if rows[tid] == nil {
                rows[tid] = ThreadStateRow(
                    tid: tid, pid: thread.tgid, comm: Self.comm(pid: thread.tgid, tid: tid),
                    nanoseconds: [UInt64](repeating: 0, count: Int(TSA_STATES)))
            }
            rows[tid]!.nanoseconds[Int(thread.state)] += now - start
        }
        lastIntervalNanoseconds = now - previousReport
        previousReport = now
        return Array(rows.values)
    }

    /// The name of a thread that has sums of no closed period yet (it slept all along).
    private static func comm(pid: UInt32, tid: UInt32) -> String {
        guard let text = readSmallFile("/proc/\(pid)/task/\(tid)/comm", limit: 64) else { return "?" }
        return String(text.prefix { $0 != "\n" })
    }
}
