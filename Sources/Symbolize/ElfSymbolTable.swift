import BPFKit
import Synchronization

/// The function symbols of one ELF file, sorted by address for lookups, and the file's
/// loadable segments for turning file offsets (what a process mapping gives) into virtual
/// addresses (what symbols hold).
///
/// Symbols come from `.symtab` (or, for a stripped file, from its separate debug file's
/// `.symtab`) merged with `.dynsym`; only defined functions (`STT_FUNC`, `STT_GNU_IFUNC`)
/// count. At one address the global symbol wins over a weak one, and a weak one over a local
/// one. Lookups are size-aware: an address past the end of the closest symbol resolves to an
/// enclosing earlier symbol, or to nothing; a symbol of size 0 extends to the next symbol.
///
/// Names stay in the file's string table until asked for (without a symbol version suffix:
/// `memcpy`, not `memcpy@@GLIBC_2.14`); demangled names are cached.
/// Tables are immutable and shared between threads and processes through ``ElfSymbolCache``.
///
/// ```swift
/// let table = try ElfSymbolCache.shared.table(forFileAt: "/usr/lib/x86_64-linux-gnu/libc.so.6")
/// let address = table.virtualAddress(fileOffset: 0x9d0f0) ?? 0x9d0f0
/// if let (name, offset) = table.symbolize(virtualAddress: address) { print(name, offset) }   // malloc 0
/// ```
public final class ElfSymbolTable: Sendable {
    /// A `PT_LOAD` segment of the file that is mapped at run time.
    public struct Segment: Sendable, Equatable {
        public var fileOffset: UInt64
        public var fileSize: UInt64
        public var virtualAddress: UInt64
        public var memorySize: UInt64
        public var isExecutable: Bool
    }

    private struct Entry {
        var address: UInt64
        var size: UInt32
        /// Offset of the NUL-terminated name in `names` (or, with the top bit, `otherNames`).
        var name: UInt32
        static let otherSource: UInt32 = 1 << 31
    }

    /// The file the symbols describe.
    public let path: String
    /// The separate debug file the symbols were read from, if any.
    public let debugPath: String?
    /// The file's GNU build-id, if it has one.
    public let buildID: [UInt8]?
    /// ET_EXEC 2 (position-dependent executable), ET_DYN 3 (PIE or shared library).
    public let fileType: UInt16
    /// The file's loadable segments, in header order.
    public let segments: [Segment]

    private let entries: [Entry]
    private let names: [UInt8]
    private let otherNames: [UInt8]
    private let demangled = Mutex<[Int: String]>([:])

    /// The number of distinct function addresses.
    public var count: Int { entries.count }
    /// Roughly the memory this table holds, in bytes.
    public var approximateSize: Int { entries.count * MemoryLayout<Entry>.stride + names.count + otherNames.count }

    /// Builds a table from a file's image (full or read with ``ELFFile/init(fileSize:loadingSections:read:)``)
    /// and, for a stripped file, the image of its separate debug file. Program headers always
    /// come from `image`: a debug file's are not those of the mapped file.
    public init(image: ELFFile, path: String, debugImage: ELFFile? = nil, debugPath: String? = nil) throws(ELFError) {
        self.path = path
        self.debugPath = debugImage == nil ? nil : debugPath
        self.buildID = image.buildID
        self.fileType = image.fileType
        self.segments = image.programHeaders.filter { $0.type == ELFFile.ProgramHeader.load }.map {
            Segment(fileOffset: $0.offset, fileSize: $0.fileSize, virtualAddress: $0.virtualAddress,
                    memorySize: $0.memorySize, isExecutable: $0.isExecutable)
        }

        // Candidates, with a parallel rank: which of several names at one address to keep.
        var candidates: [Entry] = []
        var ranks: [UInt8] = []
        func collect(from elf: ELFFile, dynamic: Bool, source: UInt32) throws(ELFError) {
            let first = candidates.count
            let strings = try elf.forEachSymbolEntry(dynamic: dynamic) { entry in
                guard entry.isFunction, entry.isDefined, entry.value != 0, entry.nameOffset != 0 else { return }
                let binding = entry.binding
                ranks.append((binding == 1 ? 3 : binding == 2 ? 2 : 1) + (entry.size > 0 ? 4 : 0))
                candidates.append(Entry(address: entry.value, size: UInt32(clamping: entry.size), name: entry.nameOffset))
            }
            guard let strings, strings.offset + strings.size < Int(Entry.otherSource) else {
                candidates.removeSubrange(first...)
                ranks.removeSubrange(first...)
                return
            }
            // Names as offsets into the whole image; drop names outside the string table.
            var kept = first
            for index in first..<candidates.count where Int(candidates[index].name) < strings.size {
                candidates[kept] = candidates[index]
                candidates[kept].name = (UInt32(strings.offset) + candidates[index].name) | source
                ranks[kept] = ranks[index]
                kept += 1
            }
            candidates.removeSubrange(kept...)
            ranks.removeSubrange(kept...)
        }
        let symbolSource = debugImage ?? image
        try collect(from: symbolSource, dynamic: false, source: 0)
        let dynamicSource: UInt32 = debugImage == nil ? 0 : Entry.otherSource
        try collect(from: image, dynamic: true, source: dynamicSource)

        // By address, then by position in the tables; at one address the best rank wins, the
        // later symbol among equals (as llvm-symbolizer chooses).
        var entries: [Entry] = []
        entries.reserveCapacity(candidates.count)
        var bestRank: UInt8 = 0
        for index in Self.sortedOrder(candidates) {
            let candidate = candidates[index]
            if let last = entries.last, last.address == candidate.address {
                if ranks[index] >= bestRank {
                    entries[entries.count - 1] = candidate
                    bestRank = ranks[index]
                }
            } else {
                entries.append(candidate)
                bestRank = ranks[index]
            }
        }
        self.entries = entries
        self.names = symbolSource.bytes
        self.otherNames = debugImage == nil ? [] : image.bytes
    }

    /// Indices of `entries` by address, equal addresses in index order. Sorts packed
    /// `address << bits | index` words when addresses leave room (always for user-space
    /// files), which is several times faster than sorting the entries.
    private static func sortedOrder(_ entries: [Entry]) -> [Int] {
        let count = entries.count
        guard count > 1 else { return Array(0..<count) }
        let indexBits = UInt64.bitWidth - UInt64(count - 1).leadingZeroBitCount
        let highest = entries.reduce(0) { max($0, $1.address) }
        guard highest >> (UInt64.bitWidth - indexBits) == 0 else {
            return (0..<count).sorted { entries[$0].address < entries[$1].address || (entries[$0].address == entries[$1].address && $0 < $1) }
        }
        var keys = entries.enumerated().map { $0.element.address << indexBits | UInt64($0.offset) }
        keys.sort()
        let mask = (UInt64(1) << indexBits) - 1
        return keys.map { Int($0 & mask) }
    }

    /// The virtual address that file offset `fileOffset` is loaded at, from the segment
    /// holding it; nil when no segment does. A file without segments maps offsets 1:1.
    public func virtualAddress(fileOffset: UInt64) -> UInt64? {
        if segments.isEmpty { return fileOffset }
        for segment in segments where fileOffset >= segment.fileOffset && fileOffset - segment.fileOffset < segment.fileSize {
            return segment.virtualAddress &+ (fileOffset - segment.fileOffset)
        }
        for segment in segments where fileOffset >= segment.fileOffset && fileOffset - segment.fileOffset < segment.memorySize {
            return segment.virtualAddress &+ (fileOffset - segment.fileOffset)
        }
        return nil
    }

    /// The function containing `virtualAddress` and the offset into it; names demangled in
    /// `demangle` style, or raw when it is nil.
    public func symbolize(virtualAddress: UInt64, demangle: Demangler.Style? = nil) -> (name: String, offset: UInt64)? {
        guard let index = index(containing: virtualAddress) else { return nil }
        return (name(at: index, demangle: demangle), virtualAddress - entries[index].address)
    }

    /// The index of the function containing `address`, nil when none does.
    func index(containing address: UInt64) -> Int? {
        var low = 0, high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle].address <= address { low = middle + 1 } else { high = middle }
        }
        guard low > 0 else { return nil }
        let closest = low - 1
        let entry = entries[closest]
        if entry.size == 0 || address - entry.address < UInt64(entry.size) { return closest }
        // Past the closest symbol's end: an earlier, larger symbol may still enclose it.
        var index = closest - 1
        while index >= 0, closest - index <= 16 {
            let earlier = entries[index]
            if earlier.size > 0, address - earlier.address < UInt64(earlier.size) { return index }
            index -= 1
        }
        return nil
    }

    /// The name of function `index`, demangled in `demangle` style (cached) or raw.
    func name(at index: Int, demangle: Demangler.Style?) -> String {
        let raw = rawName(at: index)
        guard let demangle, Demangler.language(of: raw) != nil else { return raw }
        let key = index << 1 | (demangle == .full ? 0 : 1)
        if let known = demangled.withLock({ $0[key] }) { return known }
        let text = Demangler.demangle(raw, style: demangle)
        demangled.withLock { cache in
            if cache.count >= 1 << 18 { cache.removeAll(keepingCapacity: true) }
            cache[key] = text
        }
        return text
    }

    private func rawName(at index: Int) -> String {
        let reference = entries[index].name
        let buffer = reference & Entry.otherSource != 0 ? otherNames : names
        let start = Int(reference & ~Entry.otherSource)
        return buffer.withUnsafeBufferPointer { bytes in
            guard start < bytes.count else { return "" }
            // The name ends at its NUL, or at a symbol version (`memcpy@@GLIBC_2.14` in .symtab).
            var end = start
            while end < bytes.count && bytes[end] != 0 && (bytes[end] != UInt8(ascii: "@") || end == start) { end += 1 }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        }
    }
}
