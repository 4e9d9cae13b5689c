/// One metric of the exporter's output with all its series, as the Prometheus text format
/// groups them under one `# HELP` and `# TYPE`.
struct MetricFamily {
    enum Kind: String {
        case counter, gauge, histogram
    }

    /// The base name: without `_total` for counters (the samples get it), without
    /// `_bucket`/`_sum`/`_count` for histograms.
    let name: String
    let help: String
    let kind: Kind
    private(set) var samples: [Sample] = []

    struct Sample {
        /// "_total", "_bucket", "_sum", "_count" or "".
        var suffix: String
        var labels: [(String, String)]
        var value: MetricValue
    }

    init(_ name: String, _ kind: Kind, help: String) {
        self.name = name
        self.kind = kind
        self.help = help
    }

    mutating func add(_ value: MetricValue, labels: [(String, String)] = []) {
        samples.append(Sample(suffix: kind == .counter ? "_total" : "", labels: labels, value: value))
    }

    /// A histogram series: cumulative buckets at `bounds` (upper bounds, ascending), then
    /// `+Inf`, `_sum` and `_count`.
    mutating func addHistogram(bounds: [String], cumulative: [UInt64], count: UInt64, sum: Double, labels: [(String, String)] = []) {
        for (bound, value) in zip(bounds, cumulative) {
            samples.append(Sample(suffix: "_bucket", labels: labels + [("le", bound)], value: .integer(value)))
        }
        samples.append(Sample(suffix: "_bucket", labels: labels + [("le", "+Inf")], value: .integer(count)))
        samples.append(Sample(suffix: "_sum", labels: labels, value: .real(sum)))
        samples.append(Sample(suffix: "_count", labels: labels, value: .integer(count)))
    }
}

/// A sample's value: counts stay exact integers in the text.
enum MetricValue {
    case integer(UInt64)
    case real(Double)

    var text: String {
        switch self {
        case .integer(let value): String(value)
        case .real(let value):
            value.isNaN ? "NaN" : value == .infinity ? "+Inf" : value == -.infinity ? "-Inf" : String(value)
        }
    }
}
