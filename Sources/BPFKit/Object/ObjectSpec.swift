/// A BPF object file decoded into plain values: its maps, programs, global data and BTF.
///
/// Reading a spec makes no system calls; everything that depends on the running kernel
/// (creating maps, CO-RE, loading) happens when a ``BPFObject`` is made from it. Options
/// that programs read as constants are set here, with ``setGlobal(_:to:)``, before loading.
public struct ObjectSpec: Sendable {
    /// The object's name, a prefix of its map names in `bpftool map list`.
    public var name: String
    public var license: String
    public var maps: [MapSpec]
    public var programs: [ProgramSpec]
    /// The object's BTF, with the fixups the kernel needs already applied; nil without `-g`.
    public var btf: BTF?
    public var btfExt: BTFExt

    struct FunctionKey: Hashable, Sendable {
        var section: Int
        var offset: Int
    }

    enum RelocationTarget: Sendable {
        case map(String)
        case data(map: String, offset: Int)
        case call(FunctionKey)
        case functionPointer(FunctionKey)
        case external(String)
    }

    struct Function: Sendable {
        var name: String
        var sectionName: String
        var key: FunctionKey
        var instructions: [Instruction]
        /// Relocations by instruction index within the function.
        var relocations: [Int: RelocationTarget]
    }

    struct Variable: Sendable {
        var map: String
        var offset: Int
        var size: Int
    }

    var functions: [FunctionKey: Function]
    var variables: [String: Variable]

    /// Decodes an ELF BPF object (as clang `-target bpf -g` writes it).
    public init(elf bytes: [UInt8], name: String) throws {
        let elf = try ELFFile(bytes: bytes)
        guard elf.machine == .bpf else { throw ELFError("machine \(elf.machine.rawValue) is not BPF (247)") }
        guard elf.fileType == 1 else { throw ELFError("not a relocatable object (type \(elf.fileType))") }
        let symbols = try elf.symbols()
        self.name = name
        // Nothing in the file bounds a NOBITS section (.bss): refuse sizes no map value can
        // have (the kernel refuses 2 GiB) before allocating their zeros.
        for section in elf.sections where section.type == ELFFile.Section.nobits && section.size >= Int(Int32.max) {
            throw ObjectError("section \(section.name) is \(section.size) bytes, more than a map value can hold")
        }

        license = elf.section(named: "license").flatMap { elf.contents(of: $0).getCString(at: 0) } ?? ""

        var btf: BTF? = nil
        var btfExt = BTFExt()
        if let section = elf.section(named: ".BTF") {
            btf = try BTF(bytes: elf.contents(of: section))
            if let ext = elf.section(named: ".BTF.ext") {
                btfExt = try BTFExt(bytes: elf.contents(of: ext), btf: btf!)
            }
        }

        // Global data: one single-entry array map per .rodata*/.data*/.bss* section.
        var maps: [MapSpec] = []
        var dataMapBySection: [Int: String] = [:]
        var variables: [String: Variable] = [:]
        for section in elf.sections where section.flags & 0x2 != 0 && !section.isExecutable && section.size > 0 {
            let isReadOnly = section.name.hasPrefix(".rodata")
            guard isReadOnly || section.name.hasPrefix(".data") || section.name.hasPrefix(".bss") else { continue }
            let mapName = Self.kernelName(object: name, section: section.name)
            var spec = MapSpec(
                name: mapName, type: .array, keySize: 4, valueSize: UInt32(section.size), maxEntries: 1,
                flags: isReadOnly ? 0x80 /* BPF_F_RDONLY_PROG */ : 0)
            spec.contents = elf.contents(of: section)
            spec.freeze = isReadOnly
            spec.dataSection = section.name
            spec.btfValueTypeID = btf?.typeID(named: section.name, kind: .dataSection) ?? 0
            maps.append(spec)
            dataMapBySection[section.index] = mapName
            for symbol in symbols where symbol.sectionIndex == section.index && symbol.type == 1 && !symbol.name.isEmpty {
                guard symbol.value <= UInt64(section.size), symbol.size <= UInt64(section.size) - symbol.value else {
                    throw ObjectError("variable \(symbol.name) lies outside section \(section.name)")
                }
                variables[symbol.name] = Variable(map: mapName, offset: Int(symbol.value), size: Int(symbol.size))
            }
        }

        // BTF-defined maps in `.maps`.
        let mapsSection = elf.section(named: ".maps")
        var mapByOffset: [Int: String] = [:]
        if let mapsSection {
            guard let btf else { throw ObjectError("object has .maps but no BTF (compile with -g)") }
            guard let datasec = btf.typeID(named: ".maps", kind: .dataSection) else {
                throw ObjectError("BTF has no .maps DATASEC")
            }
            for entry in try btf.sectionVariables(of: datasec) {
                let mapName = try btf.name(of: entry.type)
                guard let symbol = symbols.first(where: { $0.name == mapName && $0.sectionIndex == mapsSection.index }) else {
                    throw ObjectError("map \(mapName) has no symbol in .maps")
                }
                maps.append(try Self.decodeMap(named: mapName, variable: entry.type, btf: btf))
                mapByOffset[Int(truncatingIfNeeded: symbol.value)] = mapName
            }
        }

        // Functions of every code section, with their relocations resolved to targets.
        var functions: [FunctionKey: Function] = [:]
        for section in elf.sections where section.isExecutable && section.size > 0 {
            let code = elf.contents(of: section)
            let starts = symbols.filter { $0.sectionIndex == section.index && $0.isFunction }
                .sorted { $0.value < $1.value }
            var targets: [Int: RelocationTarget] = [:]  // by byte offset in the section
            for relocationSection in elf.sections where relocationSection.type == ELFFile.Section.rel
                && Int(relocationSection.info) == section.index {
                for relocation in try elf.relocations(in: relocationSection) {
                    let offset = Int(truncatingIfNeeded: relocation.offset)
                    guard offset >= 0, offset % 8 == 0, offset <= code.count - 8 else {
                        throw ObjectError("relocation at offset \(relocation.offset) outside section \(section.name)")
                    }
                    guard relocation.symbolIndex < symbols.count else {
                        throw ObjectError("relocation in \(section.name) names symbol \(relocation.symbolIndex) of \(symbols.count)")
                    }
                    let symbol = symbols[relocation.symbolIndex]
                    let instruction = Instruction.decode(code[offset..<(offset + 8)])[0]
                    targets[offset] = try Self.target(
                        of: instruction, symbol: symbol, section: section.name, elf: elf,
                        mapsSection: mapsSection?.index, mapByOffset: mapByOffset, dataMapBySection: dataMapBySection)
                }
            }
            for (position, symbol) in starts.enumerated() {
                let start = Int(truncatingIfNeeded: symbol.value)
                let next = position + 1 < starts.count ? Int(truncatingIfNeeded: starts[position + 1].value) : code.count
                var end = symbol.size > 0 ? start &+ Int(clamping: symbol.size) : next
                end = min(end, code.count)
                guard start >= 0, start % 8 == 0, start < end else {
                    throw ObjectError("function \(symbol.name) has a bad offset or size")
                }
                var relocations: [Int: RelocationTarget] = [:]
                for (offset, target) in targets where offset >= start && offset < end {
                    relocations[(offset - start) / 8] = target
                }
                let key = FunctionKey(section: section.index, offset: start)
                functions[key] = Function(
                    name: symbol.name, sectionName: section.name, key: key,
                    instructions: Instruction.decode(code[start..<end]), relocations: relocations)
            }
        }

        // Programs: the global functions of every code section but `.text`.
        var programs: [ProgramSpec] = []
        for function in functions.values.sorted(by: { ($0.key.section, $0.key.offset) < ($1.key.section, $1.key.offset) })
        where function.sectionName != ".text" {
            guard let symbol = symbols.first(where: { $0.name == function.name && $0.sectionIndex == function.key.section }),
                  symbol.isGlobal
            else { continue }
            programs.append(ProgramSpec(name: function.name, sectionName: function.sectionName, entry: function.key))
        }

        if var fixed = btf {
            try Self.fixDataSections(in: &fixed, elf: elf, symbols: symbols)
            btf = fixed
        }

        self.maps = maps
        self.programs = programs
        self.btf = btf
        self.btfExt = btfExt
        self.functions = functions
        self.variables = variables
    }

    public func map(named name: String) -> MapSpec? { maps.first { $0.name == name } }

    /// Changes a map's definition before it is created, for sizes chosen at run time
    /// (`--stack-storage-size`, buffer sizes).
    public mutating func updateMap(_ name: String, _ change: (inout MapSpec) -> Void) throws(ObjectError) {
        guard let index = maps.firstIndex(where: { $0.name == name }) else { throw ObjectError("no map \(name)") }
        change(&maps[index])
    }

    public func program(named name: String) -> ProgramSpec? { programs.first { $0.name == name } }

    /// Sets a global variable's initial value: for `const volatile` globals in `.rodata`,
    /// the value the program sees as a constant (the verifier prunes code it disables).
    public mutating func setGlobal<T: BitwiseCopyable>(_ name: String, to value: T) throws(ObjectError) {
        guard let variable = variables[name] else { throw ObjectError("no global variable \(name)") }
        guard variable.size == MemoryLayout<T>.size else {
            throw ObjectError("global \(name) is \(variable.size) bytes, not \(MemoryLayout<T>.size)")
        }
        guard let index = maps.firstIndex(where: { $0.name == variable.map }) else { throw ObjectError("no map \(variable.map)") }
        withUnsafeBytes(of: value) { bytes in
            for (offset, byte) in bytes.enumerated() { maps[index].contents![variable.offset + offset] = byte }
        }
    }

    /// A kernel-acceptable map name: at most 15 of `[A-Za-z0-9_.]`, the object's name
    /// shortened to make room for the section name (`execsno.rodata`).
    static func kernelName(object: String, section: String) -> String {
        let clean = { (text: String) in String(text.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." ? $0 : "_" }) }
        let suffix = String(clean(section).prefix(15))
        let prefix = String(clean(object).prefix(max(0, 15 - suffix.count)))
        return prefix + suffix
    }

    private static func target(
        of instruction: Instruction, symbol: ELFFile.Symbol, section: String, elf: ELFFile,
        mapsSection: Int?, mapByOffset: [Int: String], dataMapBySection: [Int: String]
    ) throws -> RelocationTarget {
        if symbol.sectionIndex == 0 { return .external(symbol.name) }
        guard symbol.sectionIndex < elf.sections.count else {
            throw ObjectError("symbol \(symbol.name) names section \(symbol.sectionIndex) of \(elf.sections.count)")
        }
        let value = Int(truncatingIfNeeded: symbol.value)
        if instruction.isLoadImmediate64 {
            let addend = Int(instruction.immediate)
            if symbol.sectionIndex == mapsSection {
                guard let map = mapByOffset[value &+ (symbol.isSection ? addend : 0)] else {
                    throw ObjectError("\(section): reference to unknown map at .maps+\(value)")
                }
                return .map(map)
            }
            if let map = dataMapBySection[symbol.sectionIndex] {
                let offset = value &+ addend
                guard offset >= 0, offset <= elf.sections[symbol.sectionIndex].size else {
                    throw ObjectError("\(section): reference to \(symbol.name)+\(addend) outside its section")
                }
                return .data(map: map, offset: offset)
            }
            if elf.sections[symbol.sectionIndex].isExecutable {
                return .functionPointer(FunctionKey(section: symbol.sectionIndex, offset: value &+ addend))
            }
            throw ObjectError("\(section): reference to \(symbol.name) in unsupported section \(elf.sections[symbol.sectionIndex].name)")
        }
        if instruction.isFunctionCall {
            guard elf.sections[symbol.sectionIndex].isExecutable else {
                throw ObjectError("\(section): call to \(symbol.name), which is not code")
            }
            return .call(FunctionKey(section: symbol.sectionIndex, offset: value &+ (Int(instruction.immediate) + 1) * 8))
        }
        throw ObjectError("\(section): relocation against \(symbol.name) on an instruction that is neither ld_imm64 nor a call")
    }

    /// Reads one BTF-defined map: each member of the map's struct is an attribute whose
    /// value is encoded in the member's type (`__uint` as an array length, `__type` as a pointee).
    private static func decodeMap(named name: String, variable: UInt32, btf: BTF) throws -> MapSpec {
        let structure = try btf.skippingQualifiers(btf.sizeOrType(of: variable))
        guard try btf.kind(of: structure) == .struct else { throw ObjectError("map \(name): definition is not a struct") }
        var spec = MapSpec(name: name, type: MapType(rawValue: 0), keySize: 0, valueSize: 0, maxEntries: 0)

        func number(_ member: BTF.Member) throws -> UInt32 {
            let pointer = try btf.skippingQualifiers(member.type)
            guard try btf.kind(of: pointer) == .pointer else { throw ObjectError("map \(name): \(member.name) is not __uint") }
            let array = try btf.skippingQualifiers(btf.sizeOrType(of: pointer))
            guard try btf.kind(of: array) == .array else { throw ObjectError("map \(name): \(member.name) is not __uint") }
            return try btf.array(array).count
        }
        func pointee(_ member: BTF.Member) throws -> UInt32 {
            let pointer = try btf.skippingQualifiers(member.type)
            guard try btf.kind(of: pointer) == .pointer else { throw ObjectError("map \(name): \(member.name) is not __type") }
            return try btf.sizeOrType(of: pointer)
        }

        for member in try btf.members(of: structure) {
            switch member.name {
            case "type": spec.type = MapType(rawValue: try number(member))
            case "max_entries": spec.maxEntries = try number(member)
            case "map_flags": spec.flags = try number(member)
            case "key_size": spec.keySize = try number(member)
            case "value_size": spec.valueSize = try number(member)
            case "key":
                let type = try pointee(member)
                guard let size = UInt32(exactly: try btf.size(of: type)) else { throw ObjectError("map \(name): key too large") }
                spec.keySize = size
                spec.btfKeyTypeID = type
            case "value":
                let type = try pointee(member)
                guard let size = UInt32(exactly: try btf.size(of: type)) else { throw ObjectError("map \(name): value too large") }
                spec.valueSize = size
                spec.btfValueTypeID = type
            case "pinning", "numa_node", "map_extra":
                break
            default:
                throw ObjectError("map \(name): unsupported attribute \(member.name)")
            }
        }
        guard spec.type.rawValue != 0 else { throw ObjectError("map \(name): no type") }
        if !spec.type.acceptsBTFTypes {
            spec.btfKeyTypeID = 0
            spec.btfValueTypeID = 0
        }
        return spec
    }

    /// clang leaves every DATASEC size and global VAR offset at 0; the kernel wants the
    /// section's size and each variable's offset (from the ELF symbol), sorted by offset.
    private static func fixDataSections(in btf: inout BTF, elf: ELFFile, symbols: [ELFFile.Symbol]) throws {
        guard btf.typeCount > 0 else { return }
        var kernelSymbols: UInt32?
        for id in 1...UInt32(btf.typeCount) where try btf.kind(of: id) == .dataSection {
            let sectionName = try btf.name(of: id)
            var entries = try btf.sectionVariables(of: id)
            guard let section = elf.section(named: sectionName) else {
                if entries.isEmpty { continue }
                if sectionName == ".ksyms" {
                    kernelSymbols = id
                    continue
                }
                throw ObjectError("extern variables (\(sectionName)) are not supported yet")
            }
            for index in entries.indices where try btf.kind(of: entries[index].type) == .variable {
                let variableName = try btf.name(of: entries[index].type)
                let linkage = try btf.variableLinkage(of: entries[index].type)
                guard linkage != 2 else { throw ObjectError("extern variable \(variableName) is not supported yet") }
                if linkage == 1, let symbol = symbols.first(where: { $0.name == variableName && $0.sectionIndex == section.index }) {
                    entries[index].offset = UInt32(truncatingIfNeeded: symbol.value)
                }
            }
            entries.sort { $0.offset < $1.offset }
            let base = try btf.checkedOffset(id)
            btf.bytes.setInteger(UInt32(section.size), at: base + 8)
            for (index, entry) in entries.enumerated() {
                let at = base + 12 + index * 12
                btf.bytes.setInteger(entry.type, at: at)
                btf.bytes.setInteger(entry.offset, at: at + 4)
                btf.bytes.setInteger(entry.size, at: at + 8)
            }
        }
        if let kernelSymbols { try fixKernelSymbols(in: &btf, section: kernelSymbols) }
    }

    /// The `.ksyms` DATASEC lists the kernel functions (kfuncs) a program calls, as extern
    /// FUNCs, which the kernel refuses in a program's BTF. As libbpf does: each becomes a
    /// global FUNC (its unnamed parameters named, as the kernel wants), and the section's
    /// entries point at one 4-byte placeholder variable, at offsets 0, 4, 8, …
    private static func fixKernelSymbols(in btf: inout BTF, section: UInt32) throws {
        let entries = try btf.sectionVariables(of: section)
        for entry in entries {
            let name = try btf.name(of: entry.type)
            guard try btf.kind(of: entry.type) == .function else {
                throw ObjectError("extern kernel variable \(name) is not supported yet")
            }
            let function = try btf.checkedOffset(entry.type)
            let info: UInt32 = btf.bytes.getInteger(at: function + 4)!
            btf.bytes.setInteger(info & ~0xffff | 1, at: function + 4)  // linkage: global
            let nameOffset: UInt32 = btf.bytes.getInteger(at: function)!
            let prototype = try btf.sizeOrType(of: entry.type)
            guard try btf.kind(of: prototype) == .functionPrototype else { throw ObjectError("kfunc \(name) has no prototype") }
            let parameters = try btf.checkedOffset(prototype) + 12
            for index in 0..<(try btf.count(of: prototype)) {
                let at = parameters + index * 8
                let parameterName: UInt32 = btf.bytes.getInteger(at: at)!
                let parameterType: UInt32 = btf.bytes.getInteger(at: at + 4)!
                if parameterName == 0 && parameterType != 0 { btf.bytes.setInteger(nameOffset, at: at) }
            }
        }
        // The placeholder: `int dummy_ksym`, with an `int` added if the object has none.
        var integer: UInt32?
        for id in 1...UInt32(btf.typeCount) where try btf.kind(of: id) == .int && btf.sizeOrType(of: id) == 4 {
            integer = id
            break
        }
        let first = UInt32(btf.typeCount) + 1
        let placeholder = integer == nil ? first + 1 : first
        btf = try btf.appending(strings: ["dummy_ksym", "int"]) { names in
            var words: [UInt32] = []
            if integer == nil { words += [names[1], 1 << 24, 4, 1 << 24 | 32] }  // INT, signed, 32 bits
            words += [names[0], 14 << 24, integer ?? first, 1]  // VAR, global
            return words
        }
        let base = try btf.checkedOffset(section)
        btf.bytes.setInteger(UInt32(entries.count * 4), at: base + 8)
        for index in entries.indices {
            let at = base + 12 + index * 12
            btf.bytes.setInteger(placeholder, at: at)
            btf.bytes.setInteger(UInt32(index * 4), at: at + 4)
            btf.bytes.setInteger(UInt32(4), at: at + 8)
        }
    }
}

/// A program as the object describes it: its entry function and where it attaches.
public struct ProgramSpec: Sendable {
    public var name: String
    public var sectionName: String
    /// Where the section name says the program attaches; nil for unknown section names.
    public var attachPoint: AttachPoint?
    public var type: ProgramType?
    public var expectedAttachType: AttachType
    let entry: ObjectSpec.FunctionKey

    init(name: String, sectionName: String, entry: ObjectSpec.FunctionKey) {
        self.name = name
        self.sectionName = sectionName
        self.entry = entry
        attachPoint = AttachPoint(sectionName: sectionName)
        type = attachPoint?.programType
        expectedAttachType = attachPoint?.expectedAttachType ?? .none
    }
}
