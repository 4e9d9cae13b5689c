/// `.BTF.ext`: per-section function info, line info and CO-RE relocation records.
///
/// Offsets in these records are byte offsets from the start of the named ELF section;
/// the loader turns them into positions in the final program.
public struct BTFExt: Sendable {
    public struct FunctionInfo: Sendable, Equatable {
        public var instructionOffset: UInt32
        public var typeID: UInt32
    }

    public struct LineInfo: Sendable, Equatable {
        public var instructionOffset: UInt32
        public var fileNameOffset: UInt32
        public var lineOffset: UInt32
        public var lineColumn: UInt32
    }

    /// `struct bpf_core_relo`.
    public struct CoreRelocation: Sendable, Equatable {
        public var instructionOffset: UInt32
        public var typeID: UInt32
        public var accessStringOffset: UInt32
        public var kind: UInt32
    }

    public var functionInfos: [String: [FunctionInfo]] = [:]
    public var lineInfos: [String: [LineInfo]] = [:]
    public var coreRelocations: [String: [CoreRelocation]] = [:]

    public init() {}

    /// Parses `bytes`, naming sections through `btf`'s string table.
    public init(bytes: [UInt8], btf: BTF) throws(BTFError) {
        guard bytes.getInteger(at: 0, as: UInt16.self) == 0xeb9f else { throw BTFError(".BTF.ext: bad magic") }
        guard let headerLength = bytes.getInteger(at: 4, as: UInt32.self).map(Int.init), headerLength >= 24,
              headerLength <= bytes.count
        else { throw BTFError(".BTF.ext: header length out of range") }

        func subsection(_ offsetField: Int) throws(BTFError) -> (start: Int, end: Int)? {
            guard offsetField + 8 <= headerLength else { return nil }
            let offset = Int(bytes.getInteger(at: offsetField, as: UInt32.self)!)
            let length = Int(bytes.getInteger(at: offsetField + 4, as: UInt32.self)!)
            guard length > 0 else { return nil }
            let start = headerLength + offset
            guard start + length <= bytes.count else { throw BTFError(".BTF.ext: subsection at \(offset) extends past the end") }
            return (start, start + length)
        }

        /// Calls `record` with each record's offset, grouped by section name.
        func walk(_ range: (start: Int, end: Int), minimumRecordSize: Int, _ record: (String, Int) -> Void) throws(BTFError) {
            guard let recordSize = bytes.getInteger(at: range.start, as: UInt32.self).map(Int.init),
                  recordSize >= minimumRecordSize
            else { throw BTFError(".BTF.ext: record size below \(minimumRecordSize)") }
            var cursor = range.start + 4
            while cursor < range.end {
                guard cursor + 8 <= range.end else { throw BTFError(".BTF.ext: truncated section header") }
                let nameOffset: UInt32 = bytes.getInteger(at: cursor)!
                let count = Int(bytes.getInteger(at: cursor + 4, as: UInt32.self)!)
                guard let name = btf.string(at: nameOffset) else { throw BTFError(".BTF.ext: section name offset \(nameOffset) out of range") }
                cursor += 8
                let (total, overflow) = count.multipliedReportingOverflow(by: recordSize)
                guard !overflow, cursor + total <= range.end else { throw BTFError(".BTF.ext: records of \(name) extend past the end") }
                for index in 0..<count { record(name, cursor + index * recordSize) }
                cursor += total
            }
        }

        func u32(_ at: Int) -> UInt32 { bytes.getInteger(at: at)! }

        if let range = try subsection(8) {
            try walk(range, minimumRecordSize: 8) { name, at in
                functionInfos[name, default: []].append(FunctionInfo(instructionOffset: u32(at), typeID: u32(at + 4)))
            }
        }
        if let range = try subsection(16) {
            try walk(range, minimumRecordSize: 16) { name, at in
                lineInfos[name, default: []].append(LineInfo(
                    instructionOffset: u32(at), fileNameOffset: u32(at + 4), lineOffset: u32(at + 8), lineColumn: u32(at + 12)))
            }
        }
        if headerLength >= 32, let range = try subsection(24) {
            try walk(range, minimumRecordSize: 16) { name, at in
                coreRelocations[name, default: []].append(CoreRelocation(
                    instructionOffset: u32(at), typeID: u32(at + 4), accessStringOffset: u32(at + 8), kind: u32(at + 12)))
            }
        }
    }
}
