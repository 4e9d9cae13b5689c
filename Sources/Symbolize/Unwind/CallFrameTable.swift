import BPFKit

/// The call-frame information of one ELF file — its `.eh_frame` (found through the
/// `.eh_frame_hdr` binary-search table when there is one) and its `.debug_frame` — and its
/// loadable segments, for turning a file offset into the virtual address CFI speaks of.
///
/// Immutable and shared between processes through ``CallFrameCache``. Every read of the
/// untrusted sections is bounds-checked: malformed CFI gives no row, never a trap.
///
/// ```swift
/// let table = try CallFrameCache.shared.table(forFileAt: "/usr/lib/x86_64-linux-gnu/libc.so.6")
/// let row = table.row(at: 0x2a1ca)     // how to find the caller of the code at that address
/// ```
public final class CallFrameTable: Sendable {
    public let path: String
    public let buildID: [UInt8]?
    /// The file's `PT_LOAD` segments.
    public let segments: [ElfSymbolTable.Segment]

    private struct IndexEntry {
        var start: UInt64
        var offset: UInt32
        var inDebugFrame: Bool
    }

    private let ehFrame: CallFrameSection?
    private let debugFrame: CallFrameSection?
    /// FDEs by start address.
    private let index: [IndexEntry]

    /// The number of FDEs indexed.
    public var count: Int { index.count }
    /// Whether an `.eh_frame_hdr` table was used (rather than a scan of `.eh_frame`).
    public let usedHeaderTable: Bool
    /// Whether the file's code keeps frame pointers (see `judgeFramePointers`); nil for a
    /// file without CFI to judge by.
    public let keepsFramePointers: Bool?
    /// Roughly the memory held, in bytes.
    public var approximateSize: Int { (ehFrame?.bytes.count ?? 0) + (debugFrame?.bytes.count ?? 0) + index.count * 16 }

    /// Builds the table from an image holding (at least) the CFI sections.
    public init(image: ELFFile, path: String) {
        self.path = path
        self.buildID = image.buildID
        self.segments = image.programHeaders.filter { $0.type == ELFFile.ProgramHeader.load }.map {
            .init(fileOffset: $0.offset, fileSize: $0.fileSize, virtualAddress: $0.virtualAddress,
                  memorySize: $0.memorySize, isExecutable: $0.isExecutable)
        }
        func loaded(_ name: String) -> ELFFile.Section? {
            guard let section = image.section(named: name), section.type != ELFFile.Section.nobits,
                  section.flags & 0x800 == 0  // SHF_COMPRESSED: not read
            else { return nil }
            return section
        }
        let eh = loaded(".eh_frame").map { CallFrameSection(bytes: image.contents(of: $0), address: $0.address, isDebugFrame: false) }
        let debug = loaded(".debug_frame").map { CallFrameSection(bytes: image.contents(of: $0), address: $0.address, isDebugFrame: true) }
        var entries: [IndexEntry] = []
        var usedHeader = false
        if let eh, let header = loaded(".eh_frame_hdr"),
           let fromHeader = Self.headerTable(image.contents(of: header), address: header.address, ehFrame: eh) {
            entries = fromHeader.map { IndexEntry(start: $0.start, offset: $0.offset, inDebugFrame: false) }
            usedHeader = true
        } else if let eh {
            entries = eh.scanFDEs().compactMap { found in UInt32(exactly: found.offset).map { IndexEntry(start: found.start, offset: $0, inDebugFrame: false) } }
        }
        if let debug {
            entries += debug.scanFDEs().compactMap { found in UInt32(exactly: found.offset).map { IndexEntry(start: found.start, offset: $0, inDebugFrame: true) } }
        }
        entries.sort { ($0.start, $0.inDebugFrame ? 1 : 0) < ($1.start, $1.inDebugFrame ? 1 : 0) }
        self.ehFrame = eh
        self.debugFrame = debug
        self.index = entries
        self.usedHeaderTable = usedHeader
        self.keepsFramePointers = Self.judgeFramePointers(entries, ehFrame: eh, debugFrame: debug)
    }

    /// The `.eh_frame_hdr` search table as (start, `.eh_frame` offset) pairs; nil when the
    /// header is malformed or uses an encoding without a fixed size.
    private static func headerTable(_ bytes: [UInt8], address: UInt64, ehFrame: CallFrameSection) -> [(start: UInt64, offset: UInt32)]? {
        var reader = CFIReader(bytes, base: address)
        guard reader.readInteger(UInt8.self) == 1,
              let framePointerEncoding = reader.readInteger(UInt8.self),
              let countEncoding = reader.readInteger(UInt8.self),
              let tableEncoding = reader.readInteger(UInt8.self).map(CFIReader.PointerEncoding.init(rawValue:)),
              reader.readPointer(.init(rawValue: framePointerEncoding), dataBase: address) != nil,
              let count = reader.readPointer(.init(rawValue: countEncoding), dataBase: address),
              let size = CFIReader.fixedSize(tableEncoding),
              count <= UInt64(reader.remaining / (2 * size))
        else { return nil }
        var result: [(start: UInt64, offset: UInt32)] = []
        result.reserveCapacity(Int(count))
        for _ in 0..<Int(count) {
            guard let start = reader.readPointer(tableEncoding, dataBase: address),
                  let entry = reader.readPointer(tableEncoding, dataBase: address),
                  entry >= ehFrame.address, entry - ehFrame.address < UInt64(ehFrame.bytes.count)
            else { return nil }
            result.append((start, UInt32(entry - ehFrame.address)))
        }
        return result
    }

    /// The unwind row in force at virtual address `address`; nil when no FDE covers it or
    /// its instructions cannot be run.
    func row(at address: UInt64) -> UnwindRow? {
        guard let (section, fde) = fde(containing: address) else { return nil }
        return section.row(for: fde, at: address)
    }

    /// The row and the section its expressions refer to.
    func rowAndSection(at address: UInt64) -> (UnwindRow, CallFrameSection)? {
        guard let (section, fde) = fde(containing: address), let row = section.row(for: fde, at: address) else { return nil }
        return (row, section)
    }

    private func fde(containing address: UInt64) -> (section: CallFrameSection, fde: FrameDescriptionEntry)? {
        var low = 0, high = index.count
        while low < high {
            let middle = (low + high) / 2
            if index[middle].start <= address { low = middle + 1 } else { high = middle }
        }
        // The closest entries at or below the address, newest first (an .eh_frame and a
        // .debug_frame FDE may share a start).
        var candidate = low - 1
        while candidate >= 0, low - candidate <= 3 {
            let entry = index[candidate]
            if let section = entry.inDebugFrame ? debugFrame : ehFrame,
               let fde = section.fde(at: Int(entry.offset)), fde.covers(address) {
                return (section, fde)
            }
            candidate -= 1
        }
        return nil
    }

    /// The virtual address of file offset `fileOffset` (through the segment holding it).
    public func virtualAddress(fileOffset: UInt64) -> UInt64? {
        if segments.isEmpty { return fileOffset }
        for segment in segments where fileOffset >= segment.fileOffset && fileOffset - segment.fileOffset < segment.memorySize {
            return segment.virtualAddress &+ (fileOffset - segment.fileOffset)
        }
        return nil
    }

    /// Whether the file's code keeps frame pointers: most sizeable functions find their CFA
    /// through `rbp` in mid-body (as `-fno-omit-frame-pointer` code does). Sampled over at
    /// most 256 FDEs. Nil for a file without CFI to judge by.
    private static func judgeFramePointers(_ index: [IndexEntry], ehFrame: CallFrameSection?, debugFrame: CallFrameSection?) -> Bool? {
        let stride = max(1, index.count / 256)
        var judged = 0, withFramePointer = 0
        for position in Swift.stride(from: 0, to: index.count, by: stride) {
            let entry = index[position]
            guard let section = entry.inDebugFrame ? debugFrame : ehFrame,
                  let fde = section.fde(at: Int(entry.offset)), fde.length >= 48,
                  let row = section.row(for: fde, at: fde.start + fde.length / 2)
            else { continue }
            judged += 1
            if case .registerOffset(DwarfRegister.rbp, _) = row.cfa { withFramePointer += 1 }
        }
        guard judged >= 4 else { return nil }
        return withFramePointer * 2 >= judged
    }
}
