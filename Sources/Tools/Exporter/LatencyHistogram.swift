import ToolEvents

/// Turns the kernel's log2 microsecond slots (`struct exporter_histogram`) into a
/// Prometheus histogram: slot s counts [2^(s-1), 2^s) µs, so its upper bound `le` is 2^s µs.
/// The bounds are the same at every scrape (1 µs … 2^27 µs ≈ 134 s); slower values count
/// in `+Inf` only.
enum LatencyHistogram {
    static let highestSlot = 27

    /// `le` values in seconds: "2e-06", "4e-06", …, "134.217728".
    static let bounds: [String] = (1...highestSlot).map { String(Double(UInt64(1) << UInt64($0)) / 1_000_000) }

    /// Adds one series to `family` from per-CPU (or one) histograms, summed.
    static func add(_ histograms: [exporter_histogram], to family: inout MetricFamily, labels: [(String, String)] = []) {
        var slots = [UInt64](repeating: 0, count: Int(EXPORTER_SLOTS))
        var sumNanoseconds: UInt64 = 0
        for histogram in histograms {
            withUnsafeBytes(of: histogram.slots) { raw in
                for (index, value) in raw.bindMemory(to: UInt64.self).enumerated() { slots[index] &+= value }
            }
            sumNanoseconds &+= histogram.sum_ns
        }
        // The count is the slots' total (not the kernel's separate count, which a scrape may
        // read one event apart), so +Inf and _count always agree with the buckets.
        var cumulative: [UInt64] = []
        var running: UInt64 = 0
        for (slot, value) in slots.enumerated() {
            running &+= value
            if slot >= 1 && slot <= highestSlot { cumulative.append(running) }
        }
        family.addHistogram(bounds: bounds, cumulative: cumulative, count: running,
                            sum: Double(sumNanoseconds) / 1e9, labels: labels)
    }
}
