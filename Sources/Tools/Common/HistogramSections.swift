import Report

/// Log2 histograms counted in the kernel under a label (a disk, a flag set, a process name)
/// and printed the way bcc's `print_log2_hist` prints a keyed histogram.
struct HistogramSections {
    /// Counts by label, then by log2 slot. A nil label is the one unkeyed histogram.
    private(set) var slots: [String?: [UInt64]] = [:]

    mutating func add(_ label: String?, slot: Int, count: UInt64) {
        guard slot >= 0, slot < 128, count > 0 else { return }
        var values = slots[label] ?? []
        if values.count <= slot { values += [UInt64](repeating: 0, count: slot + 1 - values.count) }
        values[slot] += count
        slots[label] = values
    }

    var isEmpty: Bool { slots.isEmpty }

    /// The labels in print order (by name).
    var labels: [String?] { slots.keys.sorted { ($0 ?? "") < ($1 ?? "") } }

    /// Every histogram: unlabeled as is, labeled ones after a blank line and `header = label`.
    func text(unit: String, header: String) -> String {
        var text = ""
        for label in labels {
            let values = slots[label] ?? []
            if let label { text += "\n\(header) = \(label)\n" }
            text += Histogram.log2(values, unit: unit)
        }
        return text
    }

    /// One JSON object per histogram: its label (under `header`), the unit and the buckets
    /// (values of 0 in a `{"low":0,"high":0}` bucket of their own).
    func json(unit: String, header: String, extra: [(String, JSON)] = []) -> [JSON] {
        labels.map { label in
            var fields: [(String, JSON)] = extra
            if let label { fields.append((header, .string(label))) }
            let values = slots[label] ?? []
            fields.append(("unit", .string(unit)))
            fields.append(("total", .unsigned(values.reduce(0, +))))
            fields.append(("buckets", Histogram.log2JSON(values)))
            return .object(fields)
        }
    }
}

/// A histogram bucket under its label.
struct LabeledSlot: Hashable {
    var label: String?
    var slot: Int
}

/// Kernel-side running totals read each interval: the change since the previous reading,
/// so nothing counted between a read and a clear is lost.
struct RunningTotals<Key: Hashable> {
    private var previous: [Key: UInt64] = [:]

    /// The increase of each key since the last call (keys that did not change are left out).
    mutating func delta(_ current: [(Key, UInt64)]) -> [(Key, UInt64)] {
        var changes: [(Key, UInt64)] = []
        for (key, value) in current {
            let before = previous[key] ?? 0
            if value > before { changes.append((key, value - before)) }
            previous[key] = value
        }
        return changes
    }
}
