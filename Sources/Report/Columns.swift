/// Fixed-width column formatting the way bcc's tools print (`%-16s`, `%7d`, `%-8.3f`).
public enum Columns {
    /// `text` left-aligned in `width` (never cut, like printf).
    public static func left(_ text: String, _ width: Int) -> String {
        let count = text.count
        return count >= width ? text : text + String(repeating: " ", count: width - count)
    }

    /// `text` right-aligned in `width`.
    public static func right(_ text: String, _ width: Int) -> String {
        let count = text.count
        return count >= width ? text : String(repeating: " ", count: width - count) + text
    }

    public static func left(_ value: some BinaryInteger, _ width: Int) -> String { left(String(value), width) }
    public static func right(_ value: some BinaryInteger, _ width: Int) -> String { right(String(value), width) }

    /// `value` with `decimals` digits after the point (`%.3f`), without Foundation.
    public static func fixed(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return String(value) }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let negative = value < 0
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9.2e18 else { return String(value) }
        let whole = UInt64(scaled)
        let integerPart = whole / UInt64(scale)
        var text = String(integerPart)
        if decimals > 0 {
            let fraction = String(whole % UInt64(scale))
            text += "." + String(repeating: "0", count: decimals - fraction.count) + fraction
        }
        return negative && scaled != 0 ? "-" + text : text
    }

    /// `value` in octal, zero-padded to `width` (`%08o`).
    public static func octal(_ value: some BinaryInteger, width: Int) -> String {
        let text = String(value, radix: 8)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
