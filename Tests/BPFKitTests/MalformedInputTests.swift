// Malformed ELF, BTF and .BTF.ext: every case must throw a parse error, never trap.
import Testing
@testable import BPFKit

/// Parses `bytes` as a BPF object and reports what was thrown (nil if it parsed).
private func objectError(_ bytes: [UInt8]) -> (any Error)? {
    do {
        let spec = try ObjectSpec(elf: bytes, name: "bad")
        for program in spec.programs { _ = try spec.link(program) }
        return nil
    } catch {
        return error
    }
}

/// Expects `bytes` to be refused with a parse error whose text contains `fragment`.
private func expectRefused(
    _ bytes: [UInt8], _ fragment: String = "", sourceLocation: SourceLocation = #_sourceLocation
) {
    guard let error = objectError(bytes) else {
        Issue.record("malformed object was accepted", sourceLocation: sourceLocation)
        return
    }
    #expect(isParseError(error), "unexpected error type: \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    if !fragment.isEmpty {
        #expect("\(error)".contains(fragment), "\(error)", sourceLocation: sourceLocation)
    }
}

@Suite("Malformed ELF")
struct MalformedELFTests {
    let object = Fixture.loader.bytes
    var elf: ELFFile { try! ELFFile(bytes: object) }

    func header(of name: String) -> Int {
        sectionHeaderOffset(object, index: elf.section(named: name)!.index)
    }

    @Test("every short prefix and sampled longer prefixes are refused")
    func truncated() {
        var lengths = Set(0...min(128, object.count - 1))
        lengths.formUnion(stride(from: 0, to: object.count, by: max(1, object.count / 150)))
        for section in elf.sections where section.size > 0 {
            lengths.formUnion([section.offset, section.offset + 1, section.offset + section.size - 1].filter { $0 < object.count })
        }
        lengths.formUnion((object.count - 70)..<object.count)
        for length in lengths.sorted() {
            let prefix = Array(object.prefix(length))
            #expect(throws: ELFError.self, "prefix of \(length) bytes") { try ELFFile(bytes: prefix) }
            expectRefused(prefix)
        }
        #expect(throws: ELFError.self) { try ELFFile(bytes: []) }
    }

    @Test("identification bytes: magic, class, byte order")
    func identification() {
        for index in 0..<4 {
            var bad = object
            bad[index] ^= 0x20
            expectRefused(bad, "bad magic")
        }
        var elf32 = object
        elf32[4] = 1  // ELFCLASS32
        expectRefused(elf32, "64-bit")
        var bigEndian = object
        bigEndian[5] = 2  // ELFDATA2MSB
        expectRefused(bigEndian, "little-endian")
        expectRefused(Array(repeating: 0, count: 4096), "bad magic")
    }

    @Test("wrong machine and file type")
    func machineAndType() throws {
        let x86 = patched(object, at: 18, UInt16(62))  // EM_X86_64
        #expect(try ELFFile(bytes: x86).machine == .x86_64)  // a valid ELF file…
        expectRefused(x86, "not BPF")  // …but not a BPF object
        expectRefused(patched(object, at: 18, UInt16(0)), "not BPF")
        expectRefused(patched(object, at: 16, UInt16(2)), "relocatable")  // ET_EXEC
    }

    @Test("section header table outside the file or inconsistent")
    func sectionHeaderTable() {
        for offset: UInt64 in [UInt64(object.count), UInt64(object.count - 63), 0xffff_ffff, UInt64(Int.max), UInt64(Int.max) - 8, .max] {
            expectRefused(patched(object, at: 0x28, offset))
        }
        expectRefused(patched(object, at: 0x3a, UInt16(40)), "section header size")  // e_shentsize < 64
        expectRefused(patched(object, at: 0x3c, UInt16(0xffff)))  // e_shnum past the end
        expectRefused(patched(object, at: 0x3e, UInt16(0xfff0)), "name table index")  // e_shstrndx
    }

    @Test("program header table outside the file")
    func programHeaderTable() {
        var withHeaders = patched(object, at: 0x38, UInt16(1))  // e_phnum = 1
        withHeaders = patched(withHeaders, at: 0x36, UInt16(56))  // e_phentsize
        for offset: UInt64 in [UInt64(object.count), UInt64(object.count - 8), UInt64(Int.max), UInt64(Int.max) - 16, .max] {
            expectRefused(patched(withHeaders, at: 0x20, offset), "program header")
        }
        expectRefused(patched(withHeaders, at: 0x36, UInt16(8)), "program header size")
    }

    @Test("a section whose bytes lie past the end of the file")
    func sectionPastEnd() {
        let btf = header(of: ".BTF")
        expectRefused(patched(object, at: btf + 24, UInt64(object.count)), "past the end")  // sh_offset
        expectRefused(patched(object, at: btf + 32, UInt64(object.count)), "past the end")  // sh_size
        expectRefused(patched(object, at: btf + 24, UInt64(Int.max)))
        expectRefused(patched(object, at: btf + 32, UInt64.max))
        expectRefused(patched(object, at: btf + 24, UInt64.max - 4))
        let code = header(of: "tracepoint/syscalls/sys_enter_getppid")
        expectRefused(patched(object, at: code + 32, UInt64(Int.max)))
        // Section 0 is no exception: made a symbol table pointing nowhere, it is refused.
        var zero = patched(object, at: sectionHeaderOffset(object, index: 0) + 4, UInt32(2))  // sh_type = SHT_SYMTAB
        zero = patched(zero, at: sectionHeaderOffset(zero, index: 0) + 24, UInt64(1) << 40)
        zero = patched(zero, at: sectionHeaderOffset(zero, index: 0) + 32, UInt64(4800))
        expectRefused(zero)
    }

    @Test("a NOBITS section of absurd size is refused, not allocated")
    func hugeBSS() {
        let bss = header(of: ".bss")
        for size: UInt64 in [UInt64(UInt32.max) + 1, 1 << 40, UInt64(Int.max), .max] {
            expectRefused(patched(object, at: bss + 32, size))
        }
        // A NOBITS section with an offset far past the file is harmless: it has no bytes.
        #expect(objectError(patched(object, at: bss + 24, UInt64(Int.max))) == nil)
    }

    @Test("section, symbol and string indexes out of range")
    func indexes() throws {
        let symtab = try #require(elf.sections.first { $0.type == ELFFile.Section.symtab })
        let symtabHeader = sectionHeaderOffset(object, index: symtab.index)
        expectRefused(patched(object, at: symtabHeader + 40, UInt32(0xffff)), "string index")  // sh_link
        // Section name past the section name table.
        expectRefused(patched(object, at: sectionHeaderOffset(object, index: 3), UInt32(0xff_ffff)), "name offset")
        // Symbol name past the string table.
        expectRefused(patched(object, at: symtab.offset + 24, UInt32(0xff_ffff)), "name offset")

        let symbols = try elf.symbols()
        let function = try #require(symbols.firstIndex { $0.name == "on_getppid" })
        let variable = try #require(symbols.firstIndex { $0.name == "hits" })
        let map = try #require(symbols.firstIndex { $0.name == "calls" })
        // A symbol naming a section that does not exist: refused once a relocation uses it.
        for index in [variable, map] {
            expectRefused(patched(object, at: symtab.offset + index * 24 + 6, UInt16(0xfff0)))
        }
        // Without its symbol, a code section holds no program (nothing to refuse, nothing to trap on).
        #expect(objectError(patched(object, at: symtab.offset + function * 24 + 6, UInt16(0xfff0))) == nil)
        // Symbol values and sizes far out of range.
        for value: UInt64 in [1 << 63, .max, UInt64(Int.max), 0x7fff_ffff_ffff_fff8, 4096] {
            expectRefused(patched(object, at: symtab.offset + function * 24 + 8, value))
            expectRefused(patched(object, at: symtab.offset + variable * 24 + 8, value))
        }
        // A map symbol's value is only a key between .maps and the relocations that name the
        // same symbol: any value is consistent, and must not trap.
        for value: UInt64 in [1 << 63, .max, 4096] {
            _ = objectError(patched(object, at: symtab.offset + map * 24 + 8, value))
        }
        for size: UInt64 in [1 << 63, .max, 4096] {
            expectRefused(patched(object, at: symtab.offset + variable * 24 + 16, size))
        }
        // A function size past its section: clamped to the section or refused, never a trap.
        _ = objectError(patched(object, at: symtab.offset + function * 24 + 16, UInt64.max))
        _ = objectError(patched(object, at: symtab.offset + function * 24 + 16, UInt64(Int.max)))
    }

    @Test("relocations naming missing symbols or offsets")
    func relocations() throws {
        let relocations = try #require(elf.sections.first { $0.type == ELFFile.Section.rel && $0.name.hasPrefix(".reltracepoint") })
        let info = object.load(UInt64.self, at: relocations.offset + 8)
        for symbol: UInt64 in [0xffff, 0xffff_ffff] {
            expectRefused(patched(object, at: relocations.offset + 8, symbol << 32 | (info & 0xffff_ffff)), "symbol")
        }
        for offset: UInt64 in [0xffff_fff0, 3, UInt64(Int.max), 0x7fff_ffff_ffff_fff8, .max] {
            expectRefused(patched(object, at: relocations.offset, offset), "outside")
        }
        // The relocation section itself pointing past the end of the file.
        expectRefused(patched(object, at: sectionHeaderOffset(object, index: relocations.index) + 24, UInt64(object.count)))
    }

    @Test("code that references global data out of bounds or ends inside an ld_imm64")
    func codeReferences() throws {
        let code = try #require(elf.section(named: "tracepoint/syscalls/sys_enter_getppid"))
        let relocations = try #require(elf.sections.first { $0.type == ELFFile.Section.rel && Int($0.info) == code.index })
        // The first relocated instruction is the ld_imm64 of target_pid in .rodata.
        let first = try elf.relocations(in: relocations).map { Int($0.offset) }.min()!
        #expect(Instruction.decode(ArraySlice(object[(code.offset + first)..<(code.offset + first + 8)]))[0].isLoadImmediate64)
        // Its addend moved far past the 8-byte .rodata.
        for addend: Int32 in [0x1000, -16, .max, .min] {
            expectRefused(patched(object, at: code.offset + first + 4, addend), "outside its section")
        }
        // The function's symbol cut between the two halves of that ld_imm64: the spec parses,
        // linking refuses.
        let symtab = try #require(elf.sections.first { $0.type == ELFFile.Section.symtab })
        let function = try #require(try elf.symbols().firstIndex { $0.name == "on_getppid" })
        let cut = patched(object, at: symtab.offset + function * 24 + 16, UInt64(first + 8))
        let spec = try ObjectSpec(elf: cut, name: "cut")
        #expect(spec.programs.first?.name == "on_getppid")
        #expect(throws: ObjectError("program on_getppid: truncated ld_imm64")) { try spec.link(spec.programs[0]) }
    }

    @Test("a program section with an empty name does not trap")
    func emptySectionName() throws {
        // Point the program section's name at the NUL that starts the name table.
        let code = try #require(elf.section(named: "tracepoint/syscalls/sys_enter_getppid"))
        let bytes = patched(object, at: sectionHeaderOffset(object, index: code.index), UInt32(0))
        if let spec = try? ObjectSpec(elf: bytes, name: "bad") {
            #expect(spec.programs.allSatisfy { $0.attachPoint == nil })
        }
        #expect(AttachPoint(sectionName: "") == nil)
        #expect(AttachPoint(sectionName: "/") == nil)
        #expect(AttachPoint(sectionName: "//") == nil)
    }
}

@Suite("Malformed BTF")
struct MalformedBTFTests {
    let btf = try! ELFFile(bytes: Fixture.loader.bytes).contents(ofSectionNamed: ".BTF")!

    @Test("the fixture's BTF is whole: header, types and strings fill the blob")
    func baseline() throws {
        let parsed = try BTF(bytes: btf)
        #expect(parsed.typeCount > 10)
        let header = btf.load(UInt32.self, at: 4)
        #expect(Int(header) + Int(btf.load(UInt32.self, at: 16)) + Int(btf.load(UInt32.self, at: 20)) == btf.count)
    }

    @Test("every prefix is refused")
    func truncated() {
        for length in 0..<btf.count {
            #expect(throws: BTFError.self, "prefix of \(length) bytes") { try BTF(bytes: Array(btf.prefix(length))) }
        }
    }

    @Test("bad magic, byte order and header length")
    func header() {
        #expect(throws: BTFError("bad magic 0x0")) { try BTF(bytes: patched(btf, at: 0, UInt16(0))) }
        #expect(throws: BTFError("big-endian BTF is not supported")) { try BTF(bytes: patched(btf, at: 0, UInt16(0x9feb))) }
        for length: UInt32 in [0, 8, 23, UInt32(btf.count + 1), .max] {
            #expect(throws: BTFError("header length out of range")) { try BTF(bytes: patched(btf, at: 4, length)) }
        }
        #expect(throws: BTFError.self) { try BTF(bytes: [0x9f, 0xeb, 1, 0, 24, 0, 0, 0]) }
    }

    @Test("type and string sections past the end")
    func sectionsPastEnd() {
        let typeLength = btf.load(UInt32.self, at: 12)
        #expect(throws: BTFError("type section extends past the end")) { try BTF(bytes: patched(btf, at: 12, UInt32(btf.count))) }
        #expect(throws: BTFError("type section extends past the end")) { try BTF(bytes: patched(btf, at: 8, UInt32.max)) }
        #expect(throws: BTFError("type section extends past the end")) { try BTF(bytes: patched(btf, at: 12, UInt32.max)) }
        #expect(throws: BTFError("string section extends past the end")) { try BTF(bytes: patched(btf, at: 16, UInt32.max)) }
        #expect(throws: BTFError("string section extends past the end")) { try BTF(bytes: patched(btf, at: 20, UInt32(btf.count))) }
        // Types cut short: the last type no longer fits.
        #expect(throws: BTFError.self) { try BTF(bytes: patched(btf, at: 12, typeLength - 4)) }
        #expect(throws: BTFError.self) { try BTF(bytes: patched(btf, at: 12, typeLength - 1)) }
        // Strings must start with the empty string.
        #expect(throws: BTFError("string section does not start with NUL")) {
            try BTF(bytes: patched(btf, at: 24 + Int(btf.load(UInt32.self, at: 16)), UInt8(0x41)))
        }
    }

    @Test("unknown kinds", arguments: [0, 20, 31] as [UInt8])
    func unknownKind(kind: UInt8) {
        // Type 1's info word: kind in bits 24-28.
        let at = 24 + Int(btf.load(UInt32.self, at: 8)) + 4
        let info = btf.load(UInt32.self, at: at) & ~(0x1f << 24) | UInt32(kind) << 24
        #expect(throws: BTFError("type 1 has unknown kind \(kind)")) { try BTF(bytes: patched(btf, at: at, info)) }
    }

    @Test("a member count reaching past the type section")
    func vlenPastEnd() {
        var builder = RawBTFBuilder()
        let int = builder.int("int", size: 4)
        builder.type(name: "s", kind: .struct, vlen: 3, sizeOrType: 4, trailing: [builder.string("a"), int, 0])
        #expect(throws: BTFError("type 2 (struct) truncated")) { try BTF(bytes: builder.blob) }
    }

    @Test("hand-built graphs that are valid BTF but lead nowhere")
    func badGraphs() throws {
        var builder = RawBTFBuilder()
        let int = builder.int("int", size: 4)  // 1
        let loop = builder.type(name: "loop", kind: .typedef, sizeOrType: 2)  // 2 → itself
        let dangling = builder.type(name: "dangling", kind: .pointer, sizeOrType: 999)  // 3 → nothing
        let big = builder.array(of: int, index: int, count: .max)  // 4: 4 × 2^32 - 4 bytes
        let huge = builder.array(of: big, index: int, count: .max)  // 5: overflows
        let pointer = builder.type(kind: .pointer, sizeOrType: int)  // 6
        let halfPointers = builder.array(of: pointer, index: int, count: 1 << 31)  // 7
        let pointerOverflow = builder.array(of: halfPointers, index: int, count: 1 << 31)  // 8: 2^62 pointers
        let selfArray = builder.array(of: 9, index: int, count: 2)  // 9 → itself
        let badName = builder.type(kind: .int, sizeOrType: 4, trailing: [32])  // 10
        let nameAt = builder.types.count - 16
        builder.types.setInteger(UInt32(0xff_ffff), at: nameAt)
        let parsed = try BTF(bytes: builder.blob)
        #expect(parsed.typeCount == 10)

        #expect(throws: BTFError.self) { try parsed.skippingQualifiers(loop) }
        #expect(throws: BTFError.self) { try parsed.size(of: loop) }
        #expect(try parsed.size(of: dangling) == 8)
        #expect(throws: BTFError.self) { try parsed.kind(of: parsed.sizeOrType(of: dangling)) }
        #expect(try parsed.size(of: big) == 4 * Int(UInt32.max))
        #expect(throws: BTFError.self) { try parsed.size(of: huge) }
        #expect(throws: BTFError.self) { try parsed.size(of: pointerOverflow) }
        #expect(throws: BTFError.self) { try parsed.size(of: selfArray) }
        #expect(throws: BTFError.self) { try parsed.name(of: badName) }
        #expect(throws: BTFError.self) { try parsed.kind(of: 0) }
        #expect(throws: BTFError.self) { try parsed.kind(of: 11) }
        #expect(throws: BTFError.self) { try parsed.members(of: int) }
        #expect(throws: BTFError.self) { try parsed.array(int) }
        #expect(throws: BTFError.self) { try parsed.sectionVariables(of: int) }
        #expect(throws: BTFError.self) { try parsed.variableLinkage(of: int) }
        #expect(throws: BTFError.self) { try parsed.enumerators(of: int) }
        #expect(throws: BTFError.self) { try parsed.size(of: 0) }
        #expect(parsed.typeID(named: "loop") == loop)
        #expect(parsed.typeID(named: "loop", kind: .struct) == nil)
        #expect(parsed.string(at: .max) == nil)
    }

    @Test("a map whose value type is larger than 4 GiB is refused")
    func hugeMapValue() throws {
        // Re-point the `calls` map's value pointer at an array of 2^31 ints (8 GiB).
        let object = Fixture.loader.bytes
        let elf = try ELFFile(bytes: object)
        let section = try #require(elf.section(named: ".BTF"))
        let parsed = try BTF(bytes: elf.contents(of: section))
        let variable = try #require(parsed.typeID(named: "calls", kind: .variable))
        let definition = try parsed.skippingQualifiers(parsed.sizeOrType(of: variable))
        let members = try parsed.members(of: definition)
        let value = try #require(members.first { $0.name == "value" })
        let maxEntries = try #require(members.first { $0.name == "max_entries" })
        let array = try parsed.sizeOrType(of: maxEntries.type)  // int (*)[64] → int[64]
        #expect(try parsed.kind(of: array) == .array)
        var bytes = object
        bytes.setInteger(UInt32(array), at: section.offset + (try parsed.checkedOffset(value.type)) + 8)
        bytes.setInteger(UInt32(1 << 31), at: section.offset + (try parsed.checkedOffset(array)) + 20)
        expectRefused(bytes)
    }
}

@Suite("Malformed .BTF.ext")
struct MalformedBTFExtTests {
    let elf = try! ELFFile(bytes: Fixture.loader.bytes)
    var btf: BTF { try! BTF(bytes: elf.contents(ofSectionNamed: ".BTF")!) }
    var ext: [UInt8] { elf.contents(ofSectionNamed: ".BTF.ext")! }

    @Test("the fixture's .BTF.ext has function and line records")
    func baseline() throws {
        let parsed = try BTFExt(bytes: ext, btf: btf)
        #expect(parsed.functionInfos["tracepoint/syscalls/sys_enter_getppid"]?.count == 1)
        #expect((parsed.lineInfos["tracepoint/syscalls/sys_enter_getppid"]?.count ?? 0) > 3)
    }

    @Test("prefixes that cut a subsection are refused")
    func truncated() {
        let bytes = ext, btf = btf
        let headerLength = Int(bytes.load(UInt32.self, at: 4))
        var end = headerLength
        for field in stride(from: 8, to: min(headerLength, 32), by: 8) where bytes.load(UInt32.self, at: field + 4) > 0 {
            end = max(end, headerLength + Int(bytes.load(UInt32.self, at: field)) + Int(bytes.load(UInt32.self, at: field + 4)))
        }
        for length in 0..<end {
            #expect(throws: BTFError.self, "prefix of \(length) bytes") { try BTFExt(bytes: Array(bytes.prefix(length)), btf: btf) }
        }
    }

    @Test("bad magic, header length, record size, names and counts")
    func fields() throws {
        let bytes = ext, btf = btf
        #expect(throws: BTFError(".BTF.ext: bad magic")) { try BTFExt(bytes: patched(bytes, at: 0, UInt16(0x1234)), btf: btf) }
        #expect(throws: BTFError(".BTF.ext: header length out of range")) { try BTFExt(bytes: patched(bytes, at: 4, UInt32(4)), btf: btf) }
        #expect(throws: BTFError(".BTF.ext: header length out of range")) { try BTFExt(bytes: patched(bytes, at: 4, UInt32.max), btf: btf) }
        let headerLength = Int(bytes.load(UInt32.self, at: 4))
        let functions = headerLength + Int(bytes.load(UInt32.self, at: 8))
        let lines = headerLength + Int(bytes.load(UInt32.self, at: 16))
        // Subsection past the end.
        #expect(throws: BTFError.self) { try BTFExt(bytes: patched(bytes, at: 8, UInt32(bytes.count)), btf: btf) }
        #expect(throws: BTFError.self) { try BTFExt(bytes: patched(bytes, at: 20, UInt32.max), btf: btf) }
        // Record sizes below the kernel's structs.
        #expect(throws: BTFError(".BTF.ext: record size below 8")) { try BTFExt(bytes: patched(bytes, at: functions, UInt32(4)), btf: btf) }
        #expect(throws: BTFError(".BTF.ext: record size below 16")) { try BTFExt(bytes: patched(bytes, at: lines, UInt32(8)), btf: btf) }
        // A section name outside the string table, and record counts that overrun.
        #expect(throws: BTFError.self) { try BTFExt(bytes: patched(bytes, at: functions + 4, UInt32.max), btf: btf) }
        #expect(throws: BTFError.self) { try BTFExt(bytes: patched(bytes, at: functions + 8, UInt32.max), btf: btf) }
        #expect(throws: BTFError.self) { try BTFExt(bytes: patched(bytes, at: lines + 8, UInt32(1 << 28)), btf: btf) }
        // Huge record sizes must not overflow the bounds arithmetic.
        #expect(throws: BTFError.self) { try BTFExt(bytes: patched(bytes, at: functions, UInt32.max), btf: btf) }
    }

    @Test("a truncated .BTF.ext inside an object is refused")
    func inObject() throws {
        let object = Fixture.loader.bytes
        let section = try #require(elf.section(named: ".BTF.ext"))
        let header = sectionHeaderOffset(object, index: section.index)
        for size in [0, 4, 16, 31, 40, section.size - 8] {
            expectRefused(patched(object, at: header + 32, UInt64(size)))
        }
    }
}
