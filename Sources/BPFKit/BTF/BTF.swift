/// BPF Type Format: the type graph of a BPF object (`.BTF`) or of the kernel
/// (`/sys/kernel/btf/vmlinux`).
///
/// Types are indexed once (one offset per type id) and decoded on access, so a large blob
/// costs one pass; names are indexed on the first lookup by name. Every read is bounds
/// checked: malformed BTF is an error, never a trap.
public struct BTF: Sendable {
    /// `BTF_KIND_*`.
    public enum Kind: UInt8, Sendable {
        case int = 1, pointer, array, `struct`, union, `enum`, forward, typedef, volatile, const, restrict
        case function, functionPrototype, variable, dataSection, float, declarationTag, typeTag, enum64
    }

    public struct Member: Sendable, Equatable {
        public var name: String
        public var type: UInt32
        public var bitOffset: UInt32
        /// Width of a bitfield member, 0 if the member is not a bitfield.
        public var bitfieldSize: UInt32
    }

    public struct SectionVariable: Sendable, Equatable {
        public var type: UInt32
        public var offset: UInt32
        public var size: UInt32
    }

    /// The raw blob; ``BPFObject`` loading patches it in place (data section sizes, offsets).
    public internal(set) var bytes: [UInt8]
    let headerLength: Int
    let typesStart: Int
    let typesEnd: Int
    let stringsStart: Int
    let stringsEnd: Int
    /// offsets[id] = byte offset of type `id` in `bytes`; offsets[0] (void) is unused.
    let offsets: [Int]

    public init(bytes: [UInt8]) throws(BTFError) {
        guard let magic = bytes.getInteger(at: 0, as: UInt16.self) else { throw BTFError("blob too short for a header") }
        guard magic == 0xeb9f else {
            throw BTFError(magic == 0x9feb ? "big-endian BTF is not supported" : "bad magic 0x\(String(magic, radix: 16))")
        }
        guard bytes.count >= 24, let headerLength = bytes.getInteger(at: 4, as: UInt32.self).map(Int.init),
              headerLength >= 24, headerLength <= bytes.count
        else { throw BTFError("header length out of range") }
        let typeOffset = Int(bytes.getInteger(at: 8, as: UInt32.self)!)
        let typeLength = Int(bytes.getInteger(at: 12, as: UInt32.self)!)
        let stringOffset = Int(bytes.getInteger(at: 16, as: UInt32.self)!)
        let stringLength = Int(bytes.getInteger(at: 20, as: UInt32.self)!)
        guard headerLength + typeOffset + typeLength <= bytes.count else { throw BTFError("type section extends past the end") }
        guard headerLength + stringOffset + stringLength <= bytes.count else { throw BTFError("string section extends past the end") }
        self.bytes = bytes
        self.headerLength = headerLength
        typesStart = headerLength + typeOffset
        typesEnd = typesStart + typeLength
        stringsStart = headerLength + stringOffset
        stringsEnd = stringsStart + stringLength
        guard stringLength == 0 || bytes[stringsStart] == 0 else { throw BTFError("string section does not start with NUL") }

        var offsets = [0]
        var cursor = typesStart
        while cursor < typesEnd {
            guard cursor + 12 <= typesEnd else { throw BTFError("type \(offsets.count) truncated") }
            let info: UInt32 = bytes.getInteger(at: cursor + 4)!
            let vlen = Int(info & 0xffff)
            let rawKind = UInt8((info >> 24) & 0x1f)
            guard let kind = Kind(rawValue: rawKind) else { throw BTFError("type \(offsets.count) has unknown kind \(rawKind)") }
            let trailing = Self.trailingSize(of: kind, vlen: vlen)
            guard cursor + 12 + trailing <= typesEnd else { throw BTFError("type \(offsets.count) (\(kind)) truncated") }
            offsets.append(cursor)
            cursor += 12 + trailing
        }
        self.offsets = offsets
        guard offsets.count - 1 <= 0xfffff else { throw BTFError("too many types") }
        nameIndex = NameIndex()
    }

    /// Bytes after a type's 12-byte header: its members, enumerators, parameters, …
    static func trailingSize(of kind: Kind, vlen: Int) -> Int {
        switch kind {
        case .int, .variable, .declarationTag: 4
        case .array: 12
        case .struct, .union, .dataSection, .enum64: 12 * vlen
        case .enum, .functionPrototype: 8 * vlen
        default: 0
        }
    }

    /// Split BTF (a kernel module's, from `/sys/kernel/btf/MODULE`) on top of its base: its
    /// type ids continue after the base's and its string offsets after the base's strings,
    /// so the two concatenate into one self-contained BTF with the same ids.
    public init(split bytes: [UInt8], base: BTF) throws(BTFError) {
        let module = try BTF(rawSplit: bytes)
        let baseTypes = base.bytes[base.typesStart..<base.typesEnd]
        let baseStrings = base.bytes[base.stringsStart..<base.stringsEnd]
        let moduleTypes = module.bytes[module.typesStart..<module.typesEnd]
        let moduleStrings = module.bytes[module.stringsStart..<module.stringsEnd]
        var merged: [UInt8] = [0x9f, 0xeb, 1, 0]
        let typeLength = UInt32(baseTypes.count + moduleTypes.count)
        for word in [UInt32(24), 0, typeLength, typeLength, UInt32(baseStrings.count + moduleStrings.count)] {
            withUnsafeBytes(of: word.littleEndian) { merged += $0 }
        }
        merged += baseTypes
        merged += moduleTypes
        merged += baseStrings
        merged += moduleStrings
        try self.init(bytes: merged)
    }

    /// Parses a split blob's header and sections only (its strings need not start with NUL).
    private init(rawSplit bytes: [UInt8]) throws(BTFError) {
        guard bytes.getInteger(at: 0, as: UInt16.self) == 0xeb9f, bytes.count >= 24,
              let headerLength = bytes.getInteger(at: 4, as: UInt32.self).map(Int.init), headerLength >= 24, headerLength <= bytes.count
        else { throw BTFError("split BTF: bad header") }
        let typeOffset = Int(bytes.getInteger(at: 8, as: UInt32.self)!), typeLength = Int(bytes.getInteger(at: 12, as: UInt32.self)!)
        let stringOffset = Int(bytes.getInteger(at: 16, as: UInt32.self)!), stringLength = Int(bytes.getInteger(at: 20, as: UInt32.self)!)
        guard headerLength + typeOffset + typeLength <= bytes.count, headerLength + stringOffset + stringLength <= bytes.count else {
            throw BTFError("split BTF: sections extend past the end")
        }
        self.bytes = bytes
        self.headerLength = headerLength
        typesStart = headerLength + typeOffset
        typesEnd = typesStart + typeLength
        stringsStart = headerLength + stringOffset
        stringsEnd = stringsStart + stringLength
        offsets = [0]
        nameIndex = NameIndex()
    }

    /// Number of types, not counting void (id 0); valid ids are 1...typeCount.
    public var typeCount: Int { offsets.count - 1 }

    /// The string at `offset` in the string section.
    public func string(at offset: UInt32) -> String? {
        let start = stringsStart + Int(offset)
        guard start < stringsEnd else { return nil }
        var end = start
        while end < stringsEnd && bytes[end] != 0 { end += 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    func checkedOffset(_ id: UInt32) throws(BTFError) -> Int {
        guard id > 0, Int(id) < offsets.count else { throw BTFError("type id \(id) out of range") }
        return offsets[Int(id)]
    }

    func info(_ id: UInt32) throws(BTFError) -> UInt32 { bytes.getInteger(at: try checkedOffset(id) + 4)! }

    public func kind(of id: UInt32) throws(BTFError) -> Kind {
        Kind(rawValue: UInt8((try info(id) >> 24) & 0x1f))!
    }

    public func name(of id: UInt32) throws(BTFError) -> String {
        let nameOffset: UInt32 = bytes.getInteger(at: try checkedOffset(id))!
        guard let name = string(at: nameOffset) else { throw BTFError("type \(id) name offset \(nameOffset) out of range") }
        return name
    }

    /// vlen: members, enumerators, parameters, section variables; FUNC linkage.
    public func count(of id: UInt32) throws(BTFError) -> Int { Int(try info(id) & 0xffff) }

    public func kindFlag(of id: UInt32) throws(BTFError) -> Bool { try info(id) >> 31 == 1 }

    /// The `size` of INT, ENUM, STRUCT, UNION, DATASEC, FLOAT; the referenced `type` of the others.
    public func sizeOrType(of id: UInt32) throws(BTFError) -> UInt32 { bytes.getInteger(at: try checkedOffset(id) + 8)! }

    public func members(of id: UInt32) throws(BTFError) -> [Member] {
        let kind = try kind(of: id)
        guard kind == .struct || kind == .union else { throw BTFError("type \(id) is a \(kind), not a struct or union") }
        let base = try checkedOffset(id) + 12
        let bitfields = try kindFlag(of: id)
        return try (0..<count(of: id)).map { (index: Int) throws(BTFError) -> Member in
            let entry = base + index * 12
            let nameOffset: UInt32 = bytes.getInteger(at: entry)!
            let rawOffset: UInt32 = bytes.getInteger(at: entry + 8)!
            guard let name = string(at: nameOffset) else { throw BTFError("member name offset \(nameOffset) out of range") }
            return Member(
                name: name, type: bytes.getInteger(at: entry + 4)!,
                bitOffset: bitfields ? rawOffset & 0xff_ffff : rawOffset,
                bitfieldSize: bitfields ? rawOffset >> 24 : 0)
        }
    }

    /// ARRAY: element type, index type, element count.
    public func array(_ id: UInt32) throws(BTFError) -> (element: UInt32, index: UInt32, count: UInt32) {
        guard try kind(of: id) == .array else { throw BTFError("type \(id) is not an array") }
        let base = try checkedOffset(id) + 12
        return (bytes.getInteger(at: base)!, bytes.getInteger(at: base + 4)!, bytes.getInteger(at: base + 8)!)
    }

    /// DATASEC entries.
    public func sectionVariables(of id: UInt32) throws(BTFError) -> [SectionVariable] {
        guard try kind(of: id) == .dataSection else { throw BTFError("type \(id) is not a DATASEC") }
        let base = try checkedOffset(id) + 12
        return (0..<(try count(of: id))).map { index in
            let entry = base + index * 12
            return SectionVariable(type: bytes.getInteger(at: entry)!, offset: bytes.getInteger(at: entry + 4)!, size: bytes.getInteger(at: entry + 8)!)
        }
    }

    /// VAR linkage: 0 static, 1 global, 2 extern.
    public func variableLinkage(of id: UInt32) throws(BTFError) -> UInt32 {
        guard try kind(of: id) == .variable else { throw BTFError("type \(id) is not a VAR") }
        return bytes.getInteger(at: try checkedOffset(id) + 12)!
    }

    /// ENUM and ENUM64 enumerators, as (name, value).
    public func enumerators(of id: UInt32) throws(BTFError) -> [(name: String, value: Int64)] {
        let kind = try kind(of: id)
        let base = try checkedOffset(id) + 12
        let signed = try kindFlag(of: id)
        switch kind {
        case .enum:
            return try (0..<count(of: id)).map { (index: Int) throws(BTFError) in
                let entry = base + index * 8
                let raw: UInt32 = bytes.getInteger(at: entry + 4)!
                return (try name(atStringOffset: bytes.getInteger(at: entry)!), signed ? Int64(Int32(bitPattern: raw)) : Int64(raw))
            }
        case .enum64:
            return try (0..<count(of: id)).map { (index: Int) throws(BTFError) in
                let entry = base + index * 12
                let low: UInt32 = bytes.getInteger(at: entry + 4)!, high: UInt32 = bytes.getInteger(at: entry + 8)!
                return (try name(atStringOffset: bytes.getInteger(at: entry)!), Int64(bitPattern: UInt64(high) << 32 | UInt64(low)))
            }
        default:
            throw BTFError("type \(id) is not an enum")
        }
    }

    private func name(atStringOffset offset: UInt32) throws(BTFError) -> String {
        guard let name = string(at: offset) else { throw BTFError("name offset \(offset) out of range") }
        return name
    }

    /// Follows TYPEDEF, VOLATILE, CONST, RESTRICT and TYPE_TAG to the type they qualify.
    public func skippingQualifiers(_ id: UInt32) throws(BTFError) -> UInt32 {
        var current = id
        for _ in 0..<64 {
            guard current != 0 else { return 0 }
            switch try kind(of: current) {
            case .typedef, .volatile, .const, .restrict, .typeTag: current = try sizeOrType(of: current)
            default: return current
            }
        }
        throw BTFError("qualifier chain too long at type \(id)")
    }

    /// The size in bytes of a type (pointers are 8 bytes).
    public func size(of id: UInt32) throws(BTFError) -> Int {
        var current = id
        var multiplier = 1
        for _ in 0..<64 {
            current = try skippingQualifiers(current)
            guard current != 0 else { throw BTFError("void has no size") }
            switch try kind(of: current) {
            case .int, .enum, .enum64, .struct, .union, .dataSection, .float:
                let (product, overflow) = multiplier.multipliedReportingOverflow(by: Int(try sizeOrType(of: current)))
                guard !overflow else { throw BTFError("size of type \(id) overflows") }
                return product
            case .pointer:
                let (product, overflow) = multiplier.multipliedReportingOverflow(by: 8)
                guard !overflow else { throw BTFError("size of type \(id) overflows") }
                return product
            case .array:
                let array = try array(current)
                let (product, overflow) = multiplier.multipliedReportingOverflow(by: Int(array.count))
                guard !overflow else { throw BTFError("size of type \(id) overflows") }
                multiplier = product
                current = array.element
            default:
                throw BTFError("type \(id) (\(try kind(of: current))) has no size")
            }
        }
        throw BTFError("type chain too long at type \(id)")
    }

    /// The first type with this name (and kind, if given).
    public func typeID(named name: String, kind: Kind? = nil) -> UInt32? {
        typeIDs(named: name).first { kind == nil || (try? self.kind(of: $0)) == kind }
    }

    /// Every type with this name.
    public func typeIDs(named name: String) -> [UInt32] {
        nameIndex.ids(named: name, in: self)
    }

    let nameIndex: NameIndex
}

/// Name → type ids, built on first use: most users of kernel BTF look up a handful of
/// names. Names are hashed straight from the string section (no String per type), and
/// types sharing a hash are chained, so building it is one pass over 100 000+ types.
final class NameIndex: @unchecked Sendable {
    private var heads: [UInt64: UInt32]?
    private var next: [UInt32] = []
    private let lock = Mutex()

    func ids(named name: String, in btf: BTF) -> [UInt32] {
        lock.withLock {
            if heads == nil { build(btf) }
            let wanted = Array(name.utf8)
            var result: [UInt32] = []
            var id = heads![Self.hash(wanted[...])] ?? 0
            while id != 0 {
                if btf.nameBytes(of: id).elementsEqual(wanted) { result.append(id) }
                id = next[Int(id)]
            }
            return result.reversed()
        }
    }

    private func build(_ btf: BTF) {
        var heads: [UInt64: UInt32] = [:]
        heads.reserveCapacity(btf.typeCount)
        next = [UInt32](repeating: 0, count: btf.typeCount + 1)
        for id in stride(from: UInt32(1), through: UInt32(btf.typeCount), by: 1) {
            let name = btf.nameBytes(of: id)
            guard !name.isEmpty else { continue }
            let key = Self.hash(name)
            next[Int(id)] = heads[key] ?? 0
            heads[key] = id
        }
        self.heads = heads
    }

    /// FNV-1a over the name's bytes.
    private static func hash(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { value = (value ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return value
    }
}

extension BTF {
    /// A type's name as bytes of the string section (empty when out of range).
    func nameBytes(of id: UInt32) -> ArraySlice<UInt8> {
        guard id > 0, Int(id) < offsets.count, let offset = bytes.getInteger(at: offsets[Int(id)], as: UInt32.self) else { return [] }
        let start = stringsStart + Int(offset)
        guard start < stringsEnd else { return [] }
        var end = start
        while end < stringsEnd && bytes[end] != 0 { end += 1 }
        return bytes[start..<end]
    }
}
