/// An ELF64 little-endian file: its sections, symbols and program headers.
///
/// Parsing makes no system calls and checks every offset, so it is safe on untrusted bytes.
/// Used for BPF objects (machine ``Machine/bpf``) and, by symbolizers, for executables.
public struct ELFFile: Sendable {
    public struct Machine: RawRepresentable, Equatable, Sendable {
        public var rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }
        /// EM_BPF.
        public static let bpf = Machine(rawValue: 247)
        /// EM_X86_64.
        public static let x86_64 = Machine(rawValue: 62)
    }

    public struct Section: Sendable {
        public var index: Int
        public var name: String
        public var type: UInt32
        public var flags: UInt64
        public var address: UInt64
        public var offset: Int
        public var size: Int
        public var link: UInt32
        public var info: UInt32
        public var entrySize: Int

        public static let progbits: UInt32 = 1, symtab: UInt32 = 2, strtab: UInt32 = 3
        public static let nobits: UInt32 = 8, rel: UInt32 = 9, dynsym: UInt32 = 11
        public var isExecutable: Bool { flags & 0x4 != 0 }
        public var isWritable: Bool { flags & 0x1 != 0 }
    }

    public struct Symbol: Sendable {
        public var name: String
        public var value: UInt64
        public var size: UInt64
        /// st_info high nibble: 0 local, 1 global, 2 weak.
        public var binding: UInt8
        /// st_info low nibble: 0 none, 1 object, 2 func, 3 section.
        public var type: UInt8
        /// Section index; 0 = undefined.
        public var sectionIndex: Int

        public var isFunction: Bool { type == 2 }
        public var isSection: Bool { type == 3 }
        public var isGlobal: Bool { binding == 1 || binding == 2 }
    }

    public struct Relocation: Sendable {
        public var offset: UInt64
        public var symbolIndex: Int
        public var type: UInt32
    }

    public struct ProgramHeader: Sendable {
        public var type: UInt32
        public var flags: UInt32
        public var offset: UInt64
        public var virtualAddress: UInt64
        public var fileSize: UInt64
        public var memorySize: UInt64
        public static let load: UInt32 = 1
    }

    public let bytes: [UInt8]
    public let machine: Machine
    /// ET_REL 1, ET_EXEC 2, ET_DYN 3.
    public let fileType: UInt16
    public let sections: [Section]
    public let programHeaders: [ProgramHeader]

    public init(bytes: [UInt8]) throws(ELFError) {
        self.bytes = bytes
        guard bytes.count >= 64 else { throw ELFError("file too short for an ELF header (\(bytes.count) bytes)") }
        guard bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46 else {
            throw ELFError("bad magic")
        }
        guard bytes[4] == 2 else { throw ELFError("not a 64-bit ELF file") }
        guard bytes[5] == 1 else { throw ELFError("not a little-endian ELF file") }
        fileType = bytes.getInteger(at: 16)!
        machine = Machine(rawValue: bytes.getInteger(at: 18)!)
        let programHeaderOffset = Int(truncatingIfNeeded: bytes.getInteger(at: 0x20, as: UInt64.self)!)
        let sectionHeaderOffset = Int(truncatingIfNeeded: bytes.getInteger(at: 0x28, as: UInt64.self)!)
        let programHeaderSize = Int(bytes.getInteger(at: 0x36, as: UInt16.self)!)
        let programHeaderCount = Int(bytes.getInteger(at: 0x38, as: UInt16.self)!)
        let sectionHeaderSize = Int(bytes.getInteger(at: 0x3a, as: UInt16.self)!)
        let sectionCount = Int(bytes.getInteger(at: 0x3c, as: UInt16.self)!)
        let namesIndex = Int(bytes.getInteger(at: 0x3e, as: UInt16.self)!)

        var headers: [ProgramHeader] = []
        if programHeaderCount > 0 {
            guard programHeaderSize >= 56 else { throw ELFError("program header size \(programHeaderSize) too small") }
            for index in 0..<programHeaderCount {
                let base = programHeaderOffset &+ index &* programHeaderSize
                guard base >= 0, let type = bytes.getInteger(at: base, as: UInt32.self),
                      let memorySize = bytes.getInteger(at: base + 40, as: UInt64.self)
                else { throw ELFError("program header \(index) outside the file") }
                headers.append(ProgramHeader(
                    type: type, flags: bytes.getInteger(at: base + 4)!, offset: bytes.getInteger(at: base + 8)!,
                    virtualAddress: bytes.getInteger(at: base + 16)!, fileSize: bytes.getInteger(at: base + 32)!,
                    memorySize: memorySize))
            }
        }
        programHeaders = headers

        guard sectionCount == 0 || sectionHeaderSize >= 64 else {
            throw ELFError("section header size \(sectionHeaderSize) too small")
        }
        struct RawSection { var nameOffset: UInt32; var section: Section }
        var raw: [RawSection] = []
        raw.reserveCapacity(sectionCount)
        for index in 0..<sectionCount {
            let base = sectionHeaderOffset &+ index &* sectionHeaderSize
            guard base >= 0, let entrySize = bytes.getInteger(at: base &+ 56, as: UInt64.self) else {
                throw ELFError("section header \(index) outside the file")
            }
            let type: UInt32 = bytes.getInteger(at: base + 4)!
            let offset: UInt64 = bytes.getInteger(at: base + 24)!
            let size: UInt64 = bytes.getInteger(at: base + 32)!
            guard offset <= UInt64(Int.max), size <= UInt64(Int.max) else { throw ELFError("section \(index) has an impossible size") }
            if type != Section.nobits {
                guard bytes.getBytes(at: Int(offset), length: Int(size)) != nil else {
                    throw ELFError("section \(index) (offset \(offset), size \(size)) extends past the end of the file")
                }
            }
            raw.append(RawSection(
                nameOffset: bytes.getInteger(at: base)!,
                section: Section(
                    index: index, name: "", type: type, flags: bytes.getInteger(at: base + 8)!,
                    address: bytes.getInteger(at: base + 16)!, offset: Int(offset), size: Int(size),
                    link: bytes.getInteger(at: base + 40)!, info: bytes.getInteger(at: base + 44)!,
                    entrySize: Int(truncatingIfNeeded: entrySize))))
        }
        if sectionCount > 0 {
            guard namesIndex < sectionCount else { throw ELFError("section name table index \(namesIndex) out of range") }
            let names = raw[namesIndex].section
            for index in raw.indices {
                let nameOffset = Int(raw[index].nameOffset)
                guard nameOffset < names.size, let name = bytes.getCString(at: names.offset &+ nameOffset) else {
                    throw ELFError("section \(index) name offset \(nameOffset) out of range")
                }
                raw[index].section.name = name
            }
        }
        sections = raw.map(\.section)
    }

    public func section(named name: String) -> Section? { sections.first { $0.name == name } }

    /// The bytes of a section (zeros for SHT_NOBITS).
    public func contents(of section: Section) -> [UInt8] {
        if section.type == Section.nobits { return [UInt8](repeating: 0, count: section.size) }
        return Array(bytes[section.offset..<(section.offset + section.size)])
    }

    /// The symbols of the first SHT_SYMTAB (or, with `dynamic`, SHT_DYNSYM) section.
    public func symbols(dynamic: Bool = false) throws(ELFError) -> [Symbol] {
        let wanted = dynamic ? Section.dynsym : Section.symtab
        guard let table = sections.first(where: { $0.type == wanted }) else { return [] }
        guard Int(table.link) < sections.count else { throw ELFError("symbol table string index out of range") }
        let strings = sections[Int(table.link)]
        let count = table.size / 24
        var symbols: [Symbol] = []
        symbols.reserveCapacity(count)
        for index in 0..<count {
            let base = table.offset + index * 24
            let nameOffset = Int(bytes.getInteger(at: base, as: UInt32.self)!)
            guard nameOffset < max(strings.size, 1), let name = bytes.getCString(at: strings.offset &+ nameOffset) else {
                throw ELFError("symbol \(index) name offset \(nameOffset) out of range")
            }
            let info = bytes[base + 4]
            symbols.append(Symbol(
                name: name, value: bytes.getInteger(at: base + 8)!, size: bytes.getInteger(at: base + 16)!,
                binding: info >> 4, type: info & 0xf, sectionIndex: Int(bytes.getInteger(at: base + 6, as: UInt16.self)!)))
        }
        return symbols
    }

    /// The entries of an SHT_REL section.
    public func relocations(in section: Section) throws(ELFError) -> [Relocation] {
        guard section.type == Section.rel else { throw ELFError("section \(section.name) is not SHT_REL") }
        return (0..<(section.size / 16)).map { index in
            let base = section.offset + index * 16
            let info: UInt64 = bytes.getInteger(at: base + 8)!
            return Relocation(offset: bytes.getInteger(at: base)!, symbolIndex: Int(info >> 32), type: UInt32(truncatingIfNeeded: info))
        }
    }
}
