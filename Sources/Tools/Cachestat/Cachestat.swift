import ArgumentParser
import BPFKit
import Report
import ToolEvents

/// `bpfkit cachestat`: page-cache hits, misses and dirtied pages per interval, bcc's columns.
public struct Cachestat: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cachestat",
        abstract: "Count page cache hits, misses and dirtied pages per interval.",
        discussion: """
            How each column is derived, on each path:

            ACCESSES with fentry (kernels that allow BPF trampolines), as bcc does:
              calls to folio_mark_accessed (mark_page_accessed before Linux 5.16).
            ACCESSES without (trace events):
              the pages reads ask of the page cache (read(2), splice, sendfile:
              filemap:mm_filemap_get_pages, each read's range counted once), plus
              page faults on file mappings (filemap:mm_filemap_fault, one each;
              neighbours mapped by fault-around are not counted).
            On both paths:
              MISSES   pages added to the page cache outside write calls
                       (filemap:mm_filemap_add_to_page_cache, 2^order pages per
                       folio). A write's own pages (write, pwrite64, writev,
                       pwritev, pwritev2, seen at syscalls:sys_{enter,exit}_*)
                       are no misses, and its lookups are no accesses.
              HITS     ACCESSES - MISSES; when read-ahead adds more pages than
                       are read (HITS < 0): MISSES = ACCESSES, HITS = 0 (bcc).
              DIRTIES  pages marked dirty (writeback:writeback_dirty_folio, the
                       event of folio_account_dirtied): the folio's pages through
                       a BTF tracepoint, one per folio from the trace event.
              HITRATIO HITS / (HITS + MISSES)
              BUFFERS_MB, CACHED_MB: Buffers and Cached in /proc/meminfo.

            examples:
              bpfkit cachestat             # print a line every second
              bpfkit cachestat -T 1 5      # 5 one-second lines with times
              bpfkit cachestat -p 181      # the page cache use of PID 181 only
            """)

    @Flag(name: [.customShort("T"), .long], help: "Include timestamp on output.")
    var timestamp = false

    @Option(name: .shortAndLong, help: "Count the page-cache activity of this PID only (not in bcc).")
    var pid: UInt32?

    @Flag(help: "Print one JSON object per interval (JSON Lines) instead of columns: timestamp, time (-T), hits, misses, dirties, hit_ratio, buffers_mb, cached_mb.")
    var json = false

    @Flag(name: .shortAndLong, help: "Say which kernel hooks the tool attached to, and why.")
    var verbose = false

    @Argument(help: "Output interval, in seconds.")
    var interval: Double = 1

    @Argument(help: "Number of outputs.")
    var count: Int?

    public init() {}

    public func validate() throws {
        if pid == 0 { throw ValidationError("--pid must be a process id above 0") }
        if !(interval > 0) { throw ValidationError("interval must be a positive number of seconds") }
        if let count, count <= 0 { throw ValidationError("count must be above 0") }
    }

    public func run() throws {
        try reportingFailures(tool: "cachestat") { try trace() }
    }

    private func trace() throws {
        if let pid { try requireProcess(pid) }
        let probes = try CachestatProbes(pid: pid)
        if verbose { Output.standardError.line("cachestat: " + probes.summary) }
        let loop = try EventLoop()
        let out = Output.standardOutput
        var previous = cachestat_counters()

        if !json {
            out.line((timestamp ? Columns.left("TIME", 8) + " " : "") + "\(Columns.right("HITS", 8)) \(Columns.right("MISSES", 8)) "
                + "\(Columns.right("DIRTIES", 8)) \(Columns.right("HITRATIO", 8)) \(Columns.right("BUFFERS_MB", 12)) "
                + Columns.right("CACHED_MB", 10))
        }

        // Print what the kernel counted since the last output.
        func report() throws {
            let now = try probes.totals()
            func change(_ field: KeyPath<cachestat_counters, UInt64>) -> Int64 {
                Int64(bitPattern: now[keyPath: field] &- previous[keyPath: field])
            }
            let stats = CacheStatistics(accesses: change(\.accessed), misses: change(\.added))
            let dirtied = change(\.dirtied)
            previous = now
            let memory = Self.memoryInfo()
            let buffers = Double(memory["Buffers"] ?? 0) / 1024
            let cached = Double(memory["Cached"] ?? 0) / 1024

            if json {
                var fields: [(String, JSON)] = [("timestamp", .double(Clock.unixSeconds()))]
                if timestamp { fields.append(("time", .string(Clock.wallTime()))) }
                fields += [
                    ("hits", .int(stats.hits)), ("misses", .int(stats.misses)), ("dirties", .int(dirtied)),
                    ("hit_ratio", .double(stats.ratio)), ("buffers_mb", .double(buffers)), ("cached_mb", .double(cached)),
                ]
                out.line(JSON.object(fields).serialized())
                return
            }
            var text = timestamp ? Columns.left(Clock.wallTime(), 8) + " " : ""
            text += "\(Columns.right(stats.hits, 8)) \(Columns.right(stats.misses, 8)) \(Columns.right(dirtied, 8)) "
            text += Columns.right(Columns.fixed(stats.ratio * 100, decimals: 2), 7) + "% "
            text += "\(Columns.right(Columns.fixed(buffers, decimals: 0), 12)) \(Columns.right(Columns.fixed(cached, decimals: 0), 10))"
            out.line(text)
        }

        try loop.every(interval, count: count) { try report() }
        let stop = try loop.run()
        if stop != .intervalsDone { try report() }
        probes.object.close()
    }

    /// /proc/meminfo's values, in kB.
    static func memoryInfo() -> [String: UInt64] {
        var values: [String: UInt64] = [:]
        for line in (readSmallFile("/proc/meminfo") ?? "").split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == ":" || $0 == " " })
            if parts.count >= 2, let value = UInt64(parts[1]) { values[String(parts[0])] = value }
        }
        return values
    }
}

/// Hits and misses from counted accesses and misses, with bcc's rule for read-ahead.
struct CacheStatistics {
    var hits: Int64
    var misses: Int64

    init(accesses: Int64, misses counted: Int64) {
        let total = max(0, accesses)
        var misses = max(0, counted)
        var hits = total - misses
        if hits < 0 {  // read-ahead added more pages than were read
            misses = total
            hits = 0
        }
        self.hits = hits
        self.misses = misses
    }

    var ratio: Double { hits + misses > 0 ? Double(hits) / Double(hits + misses) : 0 }
}
