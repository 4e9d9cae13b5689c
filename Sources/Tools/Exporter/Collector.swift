import BPFKit
import Report

/// One group of metrics the exporter serves, backed by its own BPF object, so a collector
/// that cannot load or attach leaves the others running.
///
/// A collector is made from its configuration first (no kernel work: a bad option is a
/// configuration error, reported before anything loads), then started; a failed start
/// is reported as `bpfkit_collector_up{collector="name"} 0`.
protocol Collector: AnyObject {
    /// Reads and checks the collector's options; unknown keys are left for the caller.
    init(options: inout CollectorOptions) throws

    /// Loads and attaches the BPF programs.
    func start() throws

    /// Reads the kernel's sums into metric families. Called for each scrape: it only reads
    /// maps, so it never waits for the programs.
    func collect(into families: inout [MetricFamily]) throws

    /// Detaches and frees every program and map.
    func close()
}

/// The collectors a configuration may name, in the order `bpfkit exporter --help` lists them.
enum CollectorKind: String, CaseIterable {
    case biolatency, runqlat, syscalls, tcp, cachestat, offcpu

    var type: any Collector.Type {
        switch self {
        case .biolatency: BiolatencyCollector.self
        case .runqlat: RunqlatCollector.self
        case .syscalls: SyscallsCollector.self
        case .tcp: TCPCollector.self
        case .cachestat: CachestatCollector.self
        case .offcpu: OffCPUCollector.self
        }
    }

    /// One line (at most 66 characters, to fit `--help`) for the status page and `--help`.
    var summary: String {
        switch self {
        case .biolatency: "block I/O latency per disk, issue to completion (histogram)"
        case .runqlat: "run-queue latency, wakeup or preemption to running (histogram)"
        case .syscalls: "system calls by name (raw_syscalls:sys_enter)"
        case .tcp: "TCP state changes, connects, accepts, retransmits by state"
        case .cachestat: "page-cache accesses, hits, misses, dirtied pages (as cachestat)"
        case .offcpu: "off-CPU time of the top N processes (sched_switch)"
        }
    }
}

/// A collector's options from the configuration, read by name; whatever is left unread at
/// the end is an unknown option.
struct CollectorOptions {
    let collector: String
    private var values: [(String, JSON)]

    init(collector: String, values: [(String, JSON)]) {
        self.collector = collector
        self.values = values
    }

    mutating func string(_ key: String) throws -> String? {
        guard let value = take(key) else { return nil }
        guard case .string(let text) = value else { throw ConfigError("collector \(collector): \(key) must be a string") }
        return text
    }

    mutating func integer(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let value = take(key) else { return nil }
        let number: Int? = switch value {
        case .int(let number): Int(exactly: number)
        case .unsigned(let number): Int(exactly: number)
        default: nil
        }
        guard let number, range.contains(number) else {
            throw ConfigError("collector \(collector): \(key) must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    /// Fails on the first option no one read.
    func checkAllRead() throws {
        if let (key, _) = values.first { throw ConfigError("collector \(collector): unknown option \"\(key)\"") }
    }

    private mutating func take(_ key: String) -> JSON? {
        guard let index = values.firstIndex(where: { $0.0 == key }) else { return nil }
        return values.remove(at: index).1
    }
}
