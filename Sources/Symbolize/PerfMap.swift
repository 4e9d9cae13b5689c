import BPFKit

/// A JIT's symbol map, `/tmp/perf-PID.map`: one `START SIZE name` line per compiled function,
/// START and SIZE in hex (with or without `0x`), the name the rest of the line. Java's
/// perf-map-agent, Node's `--perf-basic-prof`, .NET (`DOTNET_PerfMapEnabled`) and LuaJIT write it.
///
/// Parsing is byte by byte and skips (and counts) malformed lines. When ranges overlap (a JIT
/// reused memory), the line written last wins.
///
/// ```swift
/// let map = PerfMap(parsing: Array("7f10a0001000 40 LazyCompile:~handler app.js:12\n".utf8))
/// map.lookup(0x7f10a0001010)   // (entry: "LazyCompile:~handler app.js:12" at 0x7f10a0001000, offset: 0x10)
/// ```
public struct PerfMap: Sendable {
    /// One function: `[start, start + size)`.
    public struct Entry: Sendable, Equatable {
        public var start: UInt64
        public var size: UInt64
        public var name: String

        public init(start: UInt64, size: UInt64, name: String) {
            self.start = start
            self.size = size
            self.name = name
        }

        /// The first address after the function (`start + 1` for a zero size).
        public var end: UInt64 {
            let (sum, overflow) = start.addingReportingOverflow(Swift.max(size, 1))
            return overflow ? .max : sum
        }
    }

    /// The entries, sorted by start address (file order among equal starts).
    public let entries: [Entry]
    /// Lines that could not be parsed.
    public let malformedLines: Int
    /// Line number (order in the file) of each entry: later lines win overlaps.
    private let sequence: [Int32]
    /// The greatest `end` among `entries[0...i]`: where a backwards search can stop.
    private let maximumEnd: [UInt64]

    /// The path a JIT in process `pid` writes: `/tmp/perf-PID.map`.
    public static func path(pid: Int32) -> String { "/tmp/perf-\(pid).map" }

    /// Reads and parses a perf map, nil when the file cannot be read.
    public static func load(path: String) -> PerfMap? {
        readFileBytes(path).map { PerfMap(parsing: $0) }
    }

    public init(parsing bytes: [UInt8]) {
        var parsed: [(entry: Entry, line: Int32)] = []
        var malformed = 0
        var lineNumber: Int32 = 0
        bytes.withUnsafeBufferPointer { buffer in
            var i = 0
            while i < buffer.count {
                var end = i
                while end < buffer.count && buffer[end] != 0x0a { end += 1 }
                defer { i = end + 1 }
                lineNumber &+= 1
                var position = i
                func skipBlanks() { while position < end && (buffer[position] == 0x20 || buffer[position] == 0x09) { position += 1 } }
                func hexNumber() -> UInt64? {
                    if position + 1 < end, buffer[position] == UInt8(ascii: "0"), buffer[position + 1] | 0x20 == UInt8(ascii: "x") {
                        position += 2
                    }
                    let start = position
                    var value: UInt64 = 0
                    while position < end, let digit = hexDigitValue(buffer[position]) {
                        guard position - start < 16 else { return nil }
                        value = value << 4 | UInt64(digit)
                        position += 1
                    }
                    guard position > start else { return nil }
                    // The number must end at a blank.
                    guard position < end, buffer[position] == 0x20 || buffer[position] == 0x09 else { return nil }
                    return value
                }
                skipBlanks()
                if position == end || (end - position == 1 && buffer[position] == 0x0d) { continue }  // blank line
                guard let start = hexNumber() else { malformed += 1; continue }
                skipBlanks()
                guard let size = hexNumber() else { malformed += 1; continue }
                skipBlanks()
                var nameEnd = end
                while nameEnd > position && (buffer[nameEnd - 1] == 0x0d || buffer[nameEnd - 1] == 0x20 || buffer[nameEnd - 1] == 0x09) {
                    nameEnd -= 1
                }
                guard nameEnd > position else { malformed += 1; continue }
                let name = String(decoding: UnsafeBufferPointer(rebasing: buffer[position..<nameEnd]), as: UTF8.self)
                parsed.append((Entry(start: start, size: size, name: name), lineNumber))
            }
        }
        parsed.sort { $0.entry.start < $1.entry.start || ($0.entry.start == $1.entry.start && $0.line < $1.line) }
        entries = parsed.map(\.entry)
        sequence = parsed.map(\.line)
        var maximum: UInt64 = 0
        maximumEnd = entries.map { entry in
            maximum = Swift.max(maximum, entry.end)
            return maximum
        }
        malformedLines = malformed
    }

    /// The function containing `address` and the offset into it; among overlapping
    /// functions, the one written last.
    public func lookup(_ address: UInt64) -> (entry: Entry, offset: UInt64)? {
        var low = 0, high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle].start <= address { low = middle + 1 } else { high = middle }
        }
        var best: Int?
        var index = low - 1
        var steps = 0
        while index >= 0, maximumEnd[index] > address, steps < 256 {
            if address < entries[index].end, best.map({ sequence[index] > sequence[$0] }) ?? true { best = index }
            index -= 1
            steps += 1
        }
        guard let best else { return nil }
        return (entries[best], address - entries[best].start)
    }
}
