/// Histograms printed the way bcc's tools print them (`print_log2_hist`,
/// `print_linear_hist`), so output reads — and diffs — the same.
///
/// ```swift
/// Output.standardOutput.write(Histogram.log2(slots, unit: "usecs"))
/// //      usecs               : count     distribution
/// //          0 -> 1          : 3        |****                                    |
/// ```
public enum Histogram {
    /// A power-of-two histogram: `slots[i]` counts values in [2^(i-1), 2^i − 1], 0 counted
    /// with 1 (the BPF side's `log2_slot`, as bcc's `bpf_log2l`). Empty slots
    /// above the highest used one are not printed; with `stripLeadingZeros`, nor below the lowest.
    public static func log2(_ slots: [UInt64], unit: String, stripLeadingZeros: Bool = false) -> String {
        // bcc's log2 puts 0 in the `0 -> 1` row; a slot 0 (a counter that kept zeros
        // apart) joins it, so callers need not know which convention the kernel side used.
        var slots = slots
        if let zeros = slots.first, zeros > 0 {
            if slots.count < 2 { slots.append(0) }
            slots[1] += zeros
            slots[0] = 0
        }
        let highest = slots.lastIndex { $0 > 0 } ?? -1
        guard highest > 0 else { return "" }
        let maximum = slots.max() ?? 0
        let wide = highest > 32
        let width = wide ? 20 : 40
        var text = wide
            ? "               " + Columns.left(unit, 29) + " : count     distribution\n"
            : "     " + Columns.left(unit, 19) + " : count     distribution\n"
        var stripping = stripLeadingZeros
        for index in 1...highest {
            var low: UInt64 = index >= 64 ? 1 << 63 : (1 << UInt64(index)) >> 1
            let high: UInt64 = index >= 64 ? .max : (1 << UInt64(index)) - 1
            if low == high { low -= 1 }
            let value = index < slots.count ? slots[index] : 0
            if stripping && value == 0 { continue }
            stripping = false
            let bar = "|" + Columns.left(stars(value, maximum: maximum, width: width), width) + "|"
            text += wide
                ? "\(Columns.right(low, 20)) -> \(Columns.left(high, 20)) : \(Columns.left(value, 8)) \(bar)\n"
                : "\(Columns.right(low, 10)) -> \(Columns.left(high, 10)) : \(Columns.left(value, 8)) \(bar)\n"
        }
        return text
    }

    /// A linear histogram: `slots[i]` counts values `base + i × step`.
    public static func linear(_ slots: [UInt64], unit: String, base: Int64 = 0, step: Int64 = 1) -> String {
        let highest = slots.lastIndex { $0 > 0 } ?? -1
        guard highest >= 0 else { return "" }
        let maximum = slots.max() ?? 0
        var text = "     " + Columns.left(unit, 13) + " : count     distribution\n"
        for index in 0...highest {
            let bar = "|" + Columns.left(stars(slots[index], maximum: maximum, width: 40), 40) + "|"
            text += "        \(Columns.left(base + Int64(index) * step, 10)) : \(Columns.left(slots[index], 8)) \(bar)\n"
        }
        return text
    }

    /// The bar: ⌊width × value / maximum⌋ stars, as bcc draws it (a value under 1/width of
    /// the maximum gets none).
    static func stars(_ value: UInt64, maximum: UInt64, width: Int) -> String {
        guard maximum > 0 else { return "" }
        let count = Int((Double(width) * Double(value) / Double(maximum)).rounded(.down))
        return String(repeating: "*", count: max(0, min(count, width)))
    }

    /// Log2 slots as JSON: `[{"low":…,"high":…,"count":…}]`.
    public static func log2JSON(_ slots: [UInt64]) -> JSON {
        .array(slots.enumerated().compactMap { index, count in
            guard count > 0 else { return nil }
            let low: UInt64 = index == 0 ? 0 : (index >= 64 ? 1 << 63 : (1 << UInt64(index)) >> 1)
            let high: UInt64 = index == 0 ? 0 : (index >= 64 ? .max : (1 << UInt64(index)) - 1)
            return .object([("low", .unsigned(low)), ("high", .unsigned(high)), ("count", .unsigned(count))])
        })
    }
}
