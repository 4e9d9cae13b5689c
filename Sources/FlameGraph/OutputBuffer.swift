#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Bytes being written: an SVG or folded stacks. Text is appended as bytes (numbers are
/// formatted in place, never through `String`); with a file descriptor the buffer is written
/// out with write(2) whenever it passes a threshold, so a huge output never sits in memory.
final class OutputBuffer {
    /// Unchecked: a buffer is used by one thread at a time, and the run-time exclusivity
    /// check on every append cost about 5% of drawing a large flame graph.
    @exclusivity(unchecked) private(set) var storage = RawArray<UInt8>(capacity: 1 << 16)
    private let descriptor: Int32?
    private let threshold: Int
    private(set) var failure: FlameGraphError?
    /// Bytes already written to the descriptor.
    private(set) var flushedCount = 0

    /// Collects everything in memory.
    init() {
        descriptor = nil
        threshold = .max
    }

    /// Writes to `descriptor` in blocks of about `threshold` bytes.
    init(descriptor: Int32, threshold: Int = 1 << 20) {
        self.descriptor = descriptor
        self.threshold = threshold
        storage.reserve(threshold + 4096)
    }

    deinit { storage.deallocate() }

    var count: Int { flushedCount + storage.count }

    /// Everything appended (in-memory buffers only).
    var bytes: [UInt8] { Array(UnsafeBufferPointer(start: storage.base, count: storage.count)) }

    @inline(__always)
    func append(_ byte: UInt8) {
        storage.append(byte)
    }

    @inline(__always)
    func append(_ text: StaticString) {
        append(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    func append(_ text: String) {
        var text = text
        text.withUTF8 { append($0) }
    }

    @inline(__always)
    func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        storage.append(base, count: bytes.count)
    }

    /// Writes out what has accumulated if it passed the threshold.
    @inline(__always)
    func flushIfFull() {
        if storage.count >= threshold { flush() }
    }

    /// Writes out everything accumulated (descriptor buffers only).
    func flush() {
        guard let descriptor, storage.count > 0 else { return }
        var offset = 0
        while offset < storage.count, failure == nil {
            let written = write(descriptor, storage.base + offset, storage.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                failure = .system("write", "output", errno: errno)
                break
            }
            offset += written
        }
        flushedCount += storage.count
        storage.removeAll()
    }

    // MARK: Numbers

    /// A non-negative or negative integer in decimal.
    func append(integer value: Int) {
        if value < 0 {
            append(UInt8(ascii: "-"))
            append(unsigned: UInt64(value.magnitude))
        } else {
            append(unsigned: UInt64(value))
        }
    }

    func append(unsigned value: UInt64) {
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // 32 bytes of scratch
        withUnsafeMutableBytes(of: &digits) { scratch in
            var position = scratch.count
            var rest = value
            repeat {
                position -= 1
                scratch[position] = UInt8(truncatingIfNeeded: rest % 10) + 48
                rest /= 10
            } while rest > 0
            storage.append(scratch.baseAddress!.assumingMemoryBound(to: UInt8.self) + position,
                           count: scratch.count - position)
        }
    }

    /// `value` rounded to `decimals` digits after the point (`%.2f`); trailing zeros dropped
    /// when `trim` (so coordinates read `12.5`, `12`).
    func append(fixed value: Double, decimals: Int, trim: Bool = false) {
        guard value.isFinite else {
            append("0")
            return
        }
        var scale: UInt64 = 1
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * Double(scale)).rounded()
        guard scaled < 9e18 else {
            append(String(value))
            return
        }
        let whole = UInt64(scaled)
        if value < 0, whole != 0 { append(UInt8(ascii: "-")) }
        append(unsigned: whole / scale)
        var fraction = whole % scale
        guard decimals > 0, !(trim && fraction == 0) else { return }
        var digits = decimals
        if trim {
            while fraction % 10 == 0 {
                fraction /= 10
                digits -= 1
            }
        }
        append(UInt8(ascii: "."))
        var divisor: UInt64 = 1
        for _ in 1..<max(digits, 1) { divisor *= 10 }
        while divisor > 0 {
            append(UInt8(truncatingIfNeeded: (fraction / divisor) % 10) + 48)
            divisor /= 10
        }
    }

    /// A sample count for people: `1,234,567`, or `1,234.57` when it has a fraction.
    func append(grouped value: Double) {
        let rounded = (abs(value) * 100).rounded() / 100
        guard rounded < 9e15 else {
            append(fixed: value, decimals: 0)
            return
        }
        if value < 0, rounded != 0 { append(UInt8(ascii: "-")) }
        let whole = UInt64(rounded)
        // The groups of three digits from the highest down (no array per number).
        var divisor: UInt64 = 1
        while whole / divisor >= 1000 { divisor *= 1000 }
        append(unsigned: whole / divisor)
        while divisor > 1 {
            divisor /= 1000
            let group = whole / divisor % 1000
            append(UInt8(ascii: ","))
            if group < 100 { append(UInt8(ascii: "0")) }
            if group < 10 { append(UInt8(ascii: "0")) }
            append(unsigned: group)
        }
        let cents = UInt64(((rounded - Double(whole)) * 100).rounded())
        if cents > 0 {
            append(UInt8(ascii: "."))
            append(UInt8(truncatingIfNeeded: cents / 10) + 48)
            append(UInt8(truncatingIfNeeded: cents % 10) + 48)
        }
    }

    /// A count as folded files write it: an integer when it is one, else the shortest
    /// decimal that reads back as the same `Double` (never an exponent, which
    /// flamegraph.pl would not read).
    func append(count value: Double) {
        if value == value.rounded(), abs(value) < 9.007_199_254_740_992e15 {
            append(integer: Int(value))
            return
        }
        let text = value.description
        if !text.contains("e") {
            append(text)
            return
        }
        // Tiny or huge: plain digits with enough precision.
        append(fixed: value, decimals: value.magnitude < 1 ? 17 : 0, trim: true)
    }

    // MARK: XML

    /// `text` escaped for XML character data and attribute values: markup characters as
    /// entities, control characters (illegal in XML 1.0) as `?`, invalid UTF-8 as U+FFFD.
    func append(xmlEscaped text: UnsafeBufferPointer<UInt8>) {
        guard let base = text.baseAddress else { return }
        let count = text.count
        var index = 0
        var clean = 0  // start of the run of bytes that need no escaping
        while index < count {
            let byte = base[index]
            if byte >= 0x20, byte < 0x80, byte != 0x26, byte != 0x3C, byte != 0x3E, byte != 0x22 {
                index += 1
                continue
            }
            if byte >= 0x80 {
                let length = Self.validUTF8Length(base + index, count - index)
                if length > 0 {
                    index += length
                    continue
                }
            }
            storage.append(base + clean, count: index - clean)
            switch byte {
            case 0x26: append("&amp;")
            case 0x3C: append("&lt;")
            case 0x3E: append("&gt;")
            case 0x22: append("&quot;")
            case 0x09: append("&#9;")
            case ..<0x20, 0x7F: append(UInt8(ascii: "?"))
            default: append("\u{FFFD}")
            }
            index += 1
            clean = index
        }
        storage.append(base + clean, count: index - clean)
    }

    func append(xmlEscaped text: String) {
        var text = text
        text.withUTF8 { append(xmlEscaped: $0) }
    }

    /// The length of the well-formed UTF-8 sequence at `start` (2–4 bytes), or 0.
    @inline(__always)
    static func validUTF8Length(_ start: UnsafePointer<UInt8>, _ available: Int) -> Int {
        let lead = start[0]
        let length: Int
        let minimum: UInt32
        var scalar: UInt32
        switch lead {
        case 0xC2...0xDF: length = 2; minimum = 0x80; scalar = UInt32(lead & 0x1F)
        case 0xE0...0xEF: length = 3; minimum = 0x800; scalar = UInt32(lead & 0x0F)
        case 0xF0...0xF4: length = 4; minimum = 0x10000; scalar = UInt32(lead & 0x07)
        default: return 0
        }
        guard available >= length else { return 0 }
        for offset in 1..<length {
            let byte = start[offset]
            guard byte & 0xC0 == 0x80 else { return 0 }
            scalar = scalar << 6 | UInt32(byte & 0x3F)
        }
        guard scalar >= minimum, scalar <= 0x10FFFF, !(0xD800...0xDFFF).contains(scalar) else { return 0 }
        // U+FFFE and U+FFFF are not XML characters either.
        guard scalar != 0xFFFE, scalar != 0xFFFF else { return 0 }
        return length
    }
}
