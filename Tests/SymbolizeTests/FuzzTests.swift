// Seeded random mutations of the untrusted inputs a symbolizer reads: ELF files (through the
// full and the partial reader), kallsyms text, perf maps and /proc/PID/maps. Parsing either
// succeeds or reports an error; a trap would end the test process, so reaching the end of
// each loop is the assertion.
import Testing
@testable import BPFKit
@testable import Symbolize

/// 1–4 random edits: flipped bits, random bytes (half aimed at `hot`), extreme words, a cut.
private func mutate(_ bytes: [UInt8], hot: [Range<Int>], using random: inout SeededRandom) -> [UInt8] {
    var result = bytes
    for _ in 0..<Int.random(in: 1...4, using: &random) {
        guard !result.isEmpty else { break }
        func position() -> Int {
            let ranges = hot.filter { !$0.isEmpty && $0.upperBound <= result.count }
            if !ranges.isEmpty, Bool.random(using: &random) {
                return Int.random(in: ranges.randomElement(using: &random)!, using: &random)
            }
            return Int.random(in: 0..<result.count, using: &random)
        }
        switch Int.random(in: 0..<10, using: &random) {
        case 0: result.removeLast(Int.random(in: 1...result.count, using: &random))
        case 1...4: result[position()] ^= 1 << UInt8.random(in: 0..<8, using: &random)
        case 5...7: result[position()] = UInt8.random(in: 0...255, using: &random)
        default:
            let at = position() & ~3
            let value: UInt32 = [0, 0xffff_ffff, 0x8000_0000, 0x7fff_ffff, 0xffff, 24].randomElement(using: &random)!
            if at + 4 <= result.count { result.setInteger(value, at: at) }
        }
    }
    return result
}

/// Uses a table the way the symbolizers do.
private func exercise(_ table: ElfSymbolTable, using random: inout SeededRandom) {
    for _ in 0..<32 {
        let address = UInt64.random(in: 0...0x20000, using: &random)
        _ = table.symbolize(virtualAddress: address, demangle: .simplified)
        _ = table.virtualAddress(fileOffset: address)
    }
}

@Suite("Fuzzing symbolizer inputs with seeded mutations")
struct FuzzTests {
    @Test("mutated ELF files: full parse, partial read, symbol tables, notes", arguments: ["plain", "libbpfkitsym.so", "widget", "synthetic"])
    func elfFiles(name: String) throws {
        let original: [UInt8]
        if name == "synthetic" {
            original = TestELF(
                symbols: (0..<40).map { .init(name: "f\($0)", value: 0x1000 + UInt64($0) * 0x40, size: UInt64($0 % 3) * 0x20, binding: UInt8($0 % 3)) },
                dynamicSymbols: [.init(name: "exported", value: 0x1000, size: 0x10)],
                segments: [.init(offset: 0, virtualAddress: 0x1000, fileSize: 0x2000, memorySize: 0x2000)],
                buildID: Array(0..<20), debugLink: ("synthetic.debug", 0x1234)).bytes()
        } else {
            original = try #require(readFileBytes(try TestPrograms.get().directory + "/" + name))
        }
        let elf = try ELFFile(bytes: original)
        var hot = [0..<64]
        for section in elf.sections where [ELFFile.Section.symtab, ELFFile.Section.dynsym, ELFFile.Section.note].contains(section.type)
            || section.name == ".gnu_debuglink" || section.name == ".shstrtab" {
            hot.append(section.offset..<(section.offset + min(section.size, 4096)))
        }
        if let table = original.getInteger(at: 0x28, as: UInt64.self), table < UInt64(original.count) {
            hot.append(Int(table)..<min(original.count, Int(table) + elf.sections.count * 64))
        }
        var random = SeededRandom(seed: UInt64(name.utf8.reduce(0) { $0 &* 31 &+ UInt64($1) }))
        var parsed = 0, partial = 0
        for _ in 0..<(name == "synthetic" ? 3000 : 1500) {
            let bytes = mutate(original, hot: hot, using: &random)
            if let image = try? ELFFile(bytes: bytes) {
                parsed += 1
                _ = image.notes
                _ = image.buildID
                _ = image.debugLink
                if let table = try? ElfSymbolTable(image: image, path: "fuzz") { exercise(table, using: &random) }
            }
            let read: (UInt64, UnsafeMutableRawBufferPointer) -> Bool = { offset, buffer in
                guard offset <= UInt64(bytes.count), UInt64(buffer.count) <= UInt64(bytes.count) - offset else { return false }
                buffer.copyBytes(from: bytes[Int(offset)..<(Int(offset) + buffer.count)])
                return true
            }
            if let image = try? ELFFile(fileSize: UInt64(bytes.count), loadingSections: { _, type in type == 2 || type == 11 || type == 7 }, read: read) {
                partial += 1
                if let table = try? ElfSymbolTable(image: image, path: "fuzz", debugImage: image) { exercise(table, using: &random) }
            }
        }
        #expect(parsed > 0 && partial > 0, "some mutations stay parseable")
    }

    @Test("mutated kallsyms text")
    func kallsyms() throws {
        let original = Array("""
            ffffffff81000000 T _stext
            ffffffff81000100 t helper
            ffffffff82400000 D __start_rodata
            ffffffffc0001000 t ext4_fill_super\t[ext4]
            ffffffffc0003000 t bpf_prog_6deef7357e7b4530_handle_exec\t[bpf]

            """.utf8)
        var random = SeededRandom(seed: 7)
        for _ in 0..<5000 {
            let bytes = mutate(original, hot: [0..<original.count], using: &random)
            if let kernel = try? KernelSymbols(parsing: bytes) {
                for _ in 0..<8 { _ = kernel.symbolize(UInt64.random(in: 0xffffffff80000000...0xffffffffffffffff, using: &random)) }
                _ = kernel.address(of: "helper")
            }
        }
        // Random bytes, not text at all.
        for _ in 0..<500 {
            let noise = (0..<Int.random(in: 0...300, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            _ = try? KernelSymbols(parsing: noise)
        }
    }

    @Test("mutated perf maps and /proc/PID/maps lines")
    func textMaps() throws {
        let perfMap = Array("7f0000001000 40 LazyCompile:~handler /srv/app.js:12\n0x7f0000001040 0x10 stub\n1000 0 zero\n".utf8)
        let maps = Array("""
            55d0c3a02000-55d0c3a07000 r-xp 00002000 08:01 1311234                    /usr/bin/cat
            7f10a1000000-7f10a1001000 r-xp 00001000 fd:02 99                         /tmp/my lib.so (deleted)
            7ffd5e1f0000-7ffd5e1f2000 r-xp 00000000 00:00 0                          [vdso]

            """.utf8)
        var random = SeededRandom(seed: 99)
        for _ in 0..<5000 {
            let map = PerfMap(parsing: mutate(perfMap, hot: [0..<perfMap.count], using: &random))
            for _ in 0..<4 { _ = map.lookup(UInt64.random(in: 0...0x7f0000002000, using: &random)) }
            for mapping in ProcessMapping.parse(mutate(maps, hot: [0..<maps.count], using: &random)) {
                _ = mapping.fileName
                _ = mapping.contains(mapping.end)
            }
        }
        for _ in 0..<500 {
            let noise = (0..<Int.random(in: 0...300, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            _ = PerfMap(parsing: noise).lookup(0)
            _ = ProcessMapping.parse(noise)
        }
    }
}
