import Report

/// The configured collectors with their state: started, or why not. Renders the metrics
/// and the status page.
final class CollectorSet {
    private struct Entry {
        let kind: CollectorKind
        let collector: any Collector
        var running = false
        /// Why the collector is down (its start failed, or its last read did).
        var failure: String?
    }

    private var entries: [Entry]

    init(_ configuration: ExporterConfiguration) {
        entries = configuration.collectors.map { Entry(kind: $0.kind, collector: $0.collector) }
    }

    /// Loads and attaches each collector; one that fails is reported on standard error and
    /// stays down (`bpfkit_collector_up 0`) while the others run. When none can start
    /// (no privileges, most likely), the first error is thrown instead: serving nothing
    /// but zeros would hide it.
    func startAll(verbose: Bool) throws {
        var firstError: (any Error)?
        for index in entries.indices {
            do {
                try entries[index].collector.start()
                entries[index].running = true
                if verbose, let summary = (entries[index].collector as? CachestatCollector)?.summary {
                    Output.standardError.line("bpfkit exporter: collector cachestat: \(summary)")
                }
            } catch {
                entries[index].failure = Self.describe(error)
                firstError = firstError ?? error
            }
        }
        if let firstError, running.isEmpty { throw firstError }
        for entry in entries where !entry.running {
            Output.standardError.line("bpfkit exporter: collector \(entry.kind.rawValue) is down: \(entry.failure ?? "")")
        }
    }

    var running: [String] { entries.filter(\.running).map(\.kind.rawValue) }
    var down: [String] { entries.filter { !$0.running }.map(\.kind.rawValue) }

    /// One scrape: every running collector's maps, read now, and each collector's state.
    func exposition(_ format: ExpositionFormat) -> String {
        var families: [MetricFamily] = []
        var up = MetricFamily("bpfkit_collector_up", .gauge,
                              help: "Whether the collector is loaded and its last read succeeded (1) or not (0).")
        for index in entries.indices {
            var succeeded = entries[index].running
            if succeeded {
                var collected: [MetricFamily] = []
                do {
                    try entries[index].collector.collect(into: &collected)
                    families += collected
                    entries[index].failure = nil
                } catch {
                    let reason = Self.describe(error)
                    if reason != entries[index].failure {
                        Output.standardError.line("bpfkit exporter: collector \(entries[index].kind.rawValue): read failed: \(reason)")
                    }
                    entries[index].failure = reason
                    succeeded = false
                }
            }
            up.add(.integer(succeeded ? 1 : 0), labels: [("collector", entries[index].kind.rawValue)])
        }
        return format.render([up] + families)
    }

    /// The page at `/`: the collectors, their state, and a link to the metrics.
    func statusPage() -> String {
        var html = """
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>BPFKit exporter</title></head>
            <body>
            <h1>BPFKit exporter</h1>
            <p><a href="/metrics">Metrics</a></p>
            <table border="1" cellpadding="4">
            <tr><th>Collector</th><th>State</th><th>Measures</th></tr>

            """
        for entry in entries {
            let state = entry.running && entry.failure == nil ? "up" : "down: " + (entry.failure ?? "not started")
            html += "<tr><td>\(Self.escape(entry.kind.rawValue))</td><td>\(Self.escape(state))</td>"
                + "<td>\(Self.escape(entry.kind.summary))</td></tr>\n"
        }
        html += "</table>\n</body></html>\n"
        return html
    }

    /// Detaches and frees every collector's programs and maps.
    func closeAll() {
        for entry in entries { entry.collector.close() }
    }

    private static func describe(_ error: any Error) -> String {
        String(describing: error).split(separator: "\n").first.map(String.init) ?? "unknown error"
    }

    private static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "&": escaped += "&amp;"
            case "\"": escaped += "&quot;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
