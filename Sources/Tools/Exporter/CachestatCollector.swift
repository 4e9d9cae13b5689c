import BPFKit
import ToolEvents

/// Page-cache accesses, hits, misses and dirtied pages, from cachestat's own BPF program.
///
/// Hits and misses follow bcc's rule per scrape interval (when read-ahead adds more pages
/// than were read, all accesses are misses), accumulated here so both stay counters that
/// only grow.
final class CachestatCollector: Collector {
    private var probes: CachestatProbes?
    private var previous = cachestat_counters()
    private var hits: UInt64 = 0
    private var misses: UInt64 = 0

    init(options: inout CollectorOptions) throws {}

    func start() throws {
        probes = try CachestatProbes(pid: nil)
    }

    /// One line saying which kernel hooks count what.
    var summary: String? { probes?.summary }

    func collect(into families: inout [MetricFamily]) throws {
        guard let probes else { return }
        let now = try probes.totals()
        let interval = CacheStatistics(accesses: Int64(bitPattern: now.accessed &- previous.accessed),
                                       misses: Int64(bitPattern: now.added &- previous.added))
        hits &+= UInt64(interval.hits)
        misses &+= UInt64(interval.misses)
        previous = now

        var accesses = MetricFamily("bpfkit_page_cache_accesses", .counter, help: "Page-cache lookups, outside write calls.")
        accesses.add(.integer(now.accessed))
        var hitFamily = MetricFamily("bpfkit_page_cache_hits", .counter, help: "Page-cache lookups that found the page (bcc cachestat's HITS).")
        hitFamily.add(.integer(hits))
        var missFamily = MetricFamily("bpfkit_page_cache_misses", .counter,
                                      help: "Pages read into the page cache outside write calls (bcc cachestat's MISSES).")
        missFamily.add(.integer(misses))
        var dirtied = MetricFamily("bpfkit_page_cache_dirtied_pages", .counter, help: "Page-cache pages marked dirty.")
        dirtied.add(.integer(now.dirtied))
        families += [accesses, hitFamily, missFamily, dirtied]
    }

    func close() { probes?.object.close() }
}
