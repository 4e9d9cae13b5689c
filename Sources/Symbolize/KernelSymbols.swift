import BPFKit
import Synchronization

/// The kernel's text symbols from `/proc/kallsyms`, sorted once, for turning kernel stack
/// addresses into `function+offset`.
///
/// Text symbols are those of type `T`, `t`, `W` and `w`, including loaded BPF programs
/// (`bpf_prog_<tag>_<name>`, module `bpf`) and module functions (with their module name). Other
/// symbols (data, read-only data, bss) are kept only as boundaries, so an address past the end
/// of the kernel's text does not resolve to the last function before it. Kernel symbols have
/// no sizes: an address resolves to the closest symbol at or below it.
///
/// Loading reads the file's bytes and parses them in place, without a `String` per line. The
/// addresses read as zeros without `CAP_SYSLOG` (`kptr_restrict`); loading then throws.
/// Available on every kernel with `CONFIG_KALLSYMS`.
///
/// ```swift
/// let kernel = try KernelSymbols.shared()
/// if let symbol = kernel.symbolize(0xffffffff821f94a5) {
///     print(symbol.name, symbol.offset, symbol.module ?? "vmlinux")   // schedule 5 vmlinux
/// }
/// ```
public final class KernelSymbols: Sendable {
    /// A resolved kernel address.
    public struct Symbol: Sendable, Equatable, CustomStringConvertible {
        /// The function, e.g. `schedule` or `bpf_prog_6deef7357e7b4530_handle_exec`.
        public var name: String
        /// The address minus the symbol's address.
        public var offset: UInt64
        /// The module (`ext4`, `bpf`), nil for the kernel image itself.
        public var module: String?

        public init(name: String, offset: UInt64, module: String?) {
            self.name = name
            self.offset = offset
            self.module = module
        }

        /// `name+0x5`, and ` [module]` for module symbols.
        public var description: String {
            "\(name)+0x\(String(offset, radix: 16))" + (module.map { " [\($0)]" } ?? "")
        }
    }

    private struct Entry {
        var address: UInt64
        var nameStart: UInt32
        var nameLength: UInt16
        /// Index into `modules`; 0 is the kernel image, `marker` a non-text boundary.
        var module: UInt16
        static let marker: UInt16 = .max
    }

    private let entries: [Entry]
    private let text: [UInt8]
    private let modules: [String?]

    /// The number of text symbols.
    public let count: Int
    /// Lines that could not be parsed (skipped).
    public let malformedLines: Int

    /// Reads and parses `path` (by default `/proc/kallsyms`).
    public static func load(path: String = "/proc/kallsyms") throws(SymbolizeError) -> KernelSymbols {
        guard let bytes = readFileBytes(path) else { throw SymbolizeError("\(path): cannot read") }
        do {
            return try KernelSymbols(parsing: bytes)
        } catch {
            throw SymbolizeError("\(path): \(error.message)")
        }
    }

    private static let sharedSymbols = Mutex<KernelSymbols?>(nil)

    /// `/proc/kallsyms`, loaded on first use and kept for the life of the process. Pass
    /// `reload` to read it again (after BPF programs or modules were loaded).
    public static func shared(reload: Bool = false) throws(SymbolizeError) -> KernelSymbols {
        try sharedSymbols.withLock { (cached: inout KernelSymbols?) throws(SymbolizeError) -> KernelSymbols in
            if let cached, !reload { return cached }
            let loaded = try load()
            cached = loaded
            return loaded
        }
    }

    /// Parses kallsyms text: `<hex address> <type> <name>[\t[<module>]]` per line. Malformed
    /// lines are skipped and counted; it throws when there is no text symbol, or when every
    /// address is zero (hidden from this reader).
    public init(parsing bytes: [UInt8]) throws(SymbolizeError) {
        var entries: [Entry] = []
        entries.reserveCapacity(bytes.count / 40)
        var modules: [String?] = [nil]
        var moduleIndex: [[UInt8]: UInt16] = [:]
        var malformed = 0
        var textCount = 0
        var nonZero = false
        var lastModule: (start: Int, end: Int, index: UInt16)?

        bytes.withUnsafeBufferPointer { buffer in
            let end = buffer.count
            var i = 0
            while i < end {
                let lineStart = i
                var lineEnd = i
                while lineEnd < end && buffer[lineEnd] != 0x0a { lineEnd += 1 }
                i = lineEnd + 1
                guard lineEnd > lineStart else { continue }

                // Address: 1–16 hex digits, then a space.
                var position = lineStart
                var address: UInt64 = 0
                while position < lineEnd, position - lineStart < 17, let digit = hexDigitValue(buffer[position]) {
                    address = address << 4 | UInt64(digit)
                    position += 1
                }
                let digits = position - lineStart
                guard digits >= 1, digits <= 16, position + 3 < lineEnd, buffer[position] == 0x20,
                      buffer[position + 2] == 0x20
                else { malformed += 1; continue }
                let type = buffer[position + 1]
                let nameStart = position + 3
                var nameEnd = nameStart
                while nameEnd < lineEnd && buffer[nameEnd] != 0x09 && buffer[nameEnd] != 0x20 { nameEnd += 1 }
                guard nameEnd > nameStart, nameEnd - nameStart < Int(UInt16.max), nameStart <= Int(UInt32.max) else {
                    malformed += 1
                    continue
                }

                let isText = type == UInt8(ascii: "T") || type == UInt8(ascii: "t") || type == UInt8(ascii: "W") || type == UInt8(ascii: "w")
                if type == UInt8(ascii: "A") || type == UInt8(ascii: "a") || type == UInt8(ascii: "U") { continue }
                var module: UInt16 = isText ? 0 : Entry.marker
                if isText {
                    // Optional `\t[module]` after the name.
                    var open = nameEnd
                    while open < lineEnd && (buffer[open] == 0x09 || buffer[open] == 0x20) { open += 1 }
                    if open < lineEnd, buffer[open] == UInt8(ascii: "[") {
                        var close = open + 1
                        while close < lineEnd && buffer[close] != UInt8(ascii: "]") { close += 1 }
                        if close < lineEnd, close > open + 1 {
                            if let last = lastModule, last.end - last.start == close - open - 1,
                               Self.equal(buffer, last.start, open + 1, length: close - open - 1) {
                                module = last.index
                            } else {
                                let key = Array(buffer[(open + 1)..<close])
                                if let known = moduleIndex[key] {
                                    module = known
                                } else if modules.count < Int(Entry.marker) {
                                    module = UInt16(modules.count)
                                    moduleIndex[key] = module
                                    modules.append(String(decoding: key, as: UTF8.self))
                                }
                                lastModule = (open + 1, close, module)
                            }
                        }
                    }
                    textCount += 1
                    if address != 0 { nonZero = true }
                }
                entries.append(Entry(
                    address: address, nameStart: UInt32(nameStart), nameLength: UInt16(nameEnd - nameStart), module: module))
            }
        }
        guard textCount > 0 else { throw SymbolizeError("no text symbols (\(malformed) malformed lines)") }
        guard nonZero else {
            throw SymbolizeError("every address is zero: kallsyms is hidden from this user (kptr_restrict); run as root")
        }

        // Sort by address (kallsyms is mostly sorted already); at equal addresses keep one
        // entry: text over boundaries, global over local, then the first listed.
        if !Self.isSorted(entries) {
            entries.sort { $0.address < $1.address }
        }
        var unique: [Entry] = []
        unique.reserveCapacity(entries.count)
        for entry in entries {
            if let last = unique.last, last.address == entry.address {
                if Self.rank(entry, in: bytes) > Self.rank(last, in: bytes) { unique[unique.count - 1] = entry }
            } else {
                unique.append(entry)
            }
        }
        self.entries = unique
        self.text = bytes
        self.modules = modules
        self.count = textCount
        self.malformedLines = malformed
    }

    /// The text symbol at or below `address`, nil below the first symbol or in a non-text area.
    public func symbolize(_ address: UInt64) -> Symbol? {
        var low = 0, high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle].address <= address { low = middle + 1 } else { high = middle }
        }
        guard low > 0 else { return nil }
        let entry = entries[low - 1]
        guard entry.module != Entry.marker else { return nil }
        let start = Int(entry.nameStart)
        return Symbol(
            name: String(decoding: text[start..<(start + Int(entry.nameLength))], as: UTF8.self),
            offset: address - entry.address, module: modules[Int(entry.module)])
    }

    /// The address of the text symbol `name` (the first, when several share it), by a linear
    /// scan: for tools and tests that need one address, not for hot paths.
    public func address(of name: String) -> UInt64? {
        let wanted = Array(name.utf8)
        return text.withUnsafeBufferPointer { buffer in
            entries.first { entry in
                entry.module != Entry.marker && Int(entry.nameLength) == wanted.count
                    && wanted.withUnsafeBufferPointer { Self.memcmpEqual(buffer.baseAddress! + Int(entry.nameStart), $0.baseAddress!, wanted.count) }
            }?.address
        }
    }

    // MARK: - Parsing helpers

    private static func equal(_ buffer: UnsafeBufferPointer<UInt8>, _ first: Int, _ second: Int, length: Int) -> Bool {
        memcmpEqual(buffer.baseAddress! + first, buffer.baseAddress! + second, length)
    }

    /// Byte equality of two memory ranges of `count` bytes.
    private static func memcmpEqual(_ first: UnsafePointer<UInt8>, _ second: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        for index in 0..<count where first[index] != second[index] { return false }
        return true
    }

    private static func isSorted(_ entries: [Entry]) -> Bool {
        var previous: UInt64 = 0
        for entry in entries {
            if entry.address < previous { return false }
            previous = entry.address
        }
        return true
    }

    /// Which of two entries at one address names it: text 2 (global) or 1 (local), boundary 0.
    private static func rank(_ entry: Entry, in bytes: [UInt8]) -> Int {
        guard entry.module != Entry.marker else { return 0 }
        let typeIndex = Int(entry.nameStart) - 2
        guard typeIndex >= 0, typeIndex < bytes.count else { return 1 }
        let type = bytes[typeIndex]
        return type == UInt8(ascii: "T") || type == UInt8(ascii: "W") ? 2 : 1
    }
}
