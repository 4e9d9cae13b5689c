// Seeded random mutations of real inputs: parsing either succeeds or throws a parse error.
// A trap (overflow, out-of-range index, force unwrap) ends the test process, so reaching
// the end of each loop is the assertion.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
@testable import BPFKit

/// Calls every accessor of `btf` on its first `limit` types, as users of a parsed blob would.
private func exercise(_ btf: BTF, limit: Int = 2000) { btf.exerciseAccessors(limit: limit) }

/// Uses a parsed spec the way a loader would, short of the kernel.
private func exercise(_ spec: ObjectSpec) {
    var spec = spec
    for program in spec.programs { _ = try? spec.link(program) }
    for name in spec.variables.keys {
        try? spec.setGlobal(name, to: UInt8(1))
        try? spec.setGlobal(name, to: UInt32(1))
        try? spec.setGlobal(name, to: UInt64(1))
    }
    if let btf = spec.btf { exercise(btf, limit: 200) }
}

/// Where the structure of an ELF object lives: headers, tables, BTF.
private func hotRanges(of bytes: [UInt8]) -> [Range<Int>] {
    guard let elf = try? ELFFile(bytes: bytes) else { return [] }
    var ranges = [0..<64]
    let table = sectionHeaderOffset(bytes, index: 0)
    ranges.append(table..<min(bytes.count, table + elf.sections.count * 64))
    for section in elf.sections where section.type == ELFFile.Section.symtab || section.type == ELFFile.Section.rel
        || section.name == ".BTF" || section.name == ".BTF.ext" || section.name == ".maps" {
        ranges.append(section.offset..<(section.offset + section.size))
    }
    return ranges
}

@Suite("Fuzzing parsers with seeded mutations")
struct FuzzTests {
    /// Mutations per input; BPFKIT_FUZZ_ITERATIONS raises it for a longer hunt.
    static let iterations = getenv("BPFKIT_FUZZ_ITERATIONS").flatMap { Int(String(cString: $0)) } ?? 2000

    @Test("ObjectSpec(elf:name:) on mutated objects", arguments: Fixture.allCases)
    func objectSpec(fixture: Fixture) {
        let original = fixture.bytes
        let hot = hotRanges(of: original)
        var random = SplitMix64(seed: 0x5eed_0000 + UInt64(Fixture.allCases.firstIndex(of: fixture)!))
        var accepted = 0
        for iteration in 0..<Self.iterations {
            let input = mutate(original, hotRanges: hot, using: &random)
            do {
                exercise(try ObjectSpec(elf: input, name: "fuzz"))
                accepted += 1
            } catch {
                #expect(isParseError(error), "iteration \(iteration): \(type(of: error)): \(error)")
            }
        }
        // Mutations in unused bytes (padding, line info) still parse: the loop saw both outcomes.
        #expect(accepted > 0 && accepted < Self.iterations)
    }

    @Test("BTF(bytes:) on the mutated BTF of an object")
    func objectBTF() throws {
        let original = try #require(try ELFFile(bytes: Fixture.loader.bytes).contents(ofSectionNamed: ".BTF"))
        let typesEnd = 24 + Int(original.load(UInt32.self, at: 12))
        var random = SplitMix64(seed: 0xb7f)
        var accepted = 0
        for _ in 0..<Self.iterations {
            let input = mutate(original, hotRanges: [0..<24, 24..<typesEnd], using: &random)
            do {
                exercise(try BTF(bytes: input))
                accepted += 1
            } catch {
                _ = error  // typed throws: a BTFError, the only acceptable failure
            }
        }
        #expect(accepted > 0 && accepted < Self.iterations)
    }

    @Test("BTF(bytes:) on mutated slices of the kernel's BTF", .needsKernelBTF)
    func kernelBTFSlice() throws {
        let vmlinux = try #require(readFileBytes(KernelBTF.path), "no kernel BTF at \(KernelBTF.path)")
        let full = try BTF(bytes: vmlinux)
        // The first 400 types and the first 64 KiB of strings, under a fresh header.
        let typeCount = min(400, full.typeCount)
        let typesEnd = typeCount < full.typeCount ? full.offsets[typeCount + 1] : full.typesEnd
        let types = Array(vmlinux[full.typesStart..<typesEnd])
        let strings = Array(vmlinux[full.stringsStart..<min(full.stringsEnd, full.stringsStart + 65536)])
        var header: [UInt8] = [0x9f, 0xeb, 1, 0]
        for word in [24, 0, types.count, types.count, strings.count] { header += UInt32(word).littleEndianBytes }
        let slice = header + types + strings
        #expect(try BTF(bytes: slice).typeCount == typeCount)

        var random = SplitMix64(seed: 0x7e51)
        var accepted = 0
        for _ in 0..<Self.iterations {
            let input = mutate(slice, hotRanges: [0..<24, 24..<(24 + types.count)], using: &random)
            do {
                exercise(try BTF(bytes: input), limit: 400)
                accepted += 1
            } catch {
                _ = error  // typed throws: a BTFError, the only acceptable failure
            }
        }
        #expect(accepted > 0 && accepted < Self.iterations)
    }

    @Test("BTFExt(bytes:btf:) on mutated .BTF.ext")
    func btfExt() throws {
        let elf = try ELFFile(bytes: Fixture.calls.bytes)
        let btf = try BTF(bytes: try #require(elf.contents(ofSectionNamed: ".BTF")))
        let original = try #require(elf.contents(ofSectionNamed: ".BTF.ext"))
        var random = SplitMix64(seed: 0xe7)
        for _ in 0..<Self.iterations {
            let input = mutate(original, hotRanges: [0..<32, 32..<min(original.count, 160)], using: &random)
            do {
                _ = try BTFExt(bytes: input, btf: btf)
            } catch {
                _ = error  // typed throws: a BTFError, the only acceptable failure
            }
        }
    }
}
