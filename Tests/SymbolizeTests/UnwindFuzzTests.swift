// Seeded random damage to call-frame information and stacks: parsing and unwinding either
// succeed or give up; a trap would end the test process, so reaching the end is the assertion.
import Foundation
import Testing
@testable import BPFKit
@testable import Symbolize

@Suite("Fuzzing CFI parsing and unwinding with seeded mutations")
struct UnwindFuzzTests {
    /// libc's .eh_frame and .eh_frame_hdr, as loaded.
    static func libcSections() throws -> (eh: [UInt8], ehAddress: UInt64, header: [UInt8], headerAddress: UInt64) {
        let file = try ReadOnlyFile(path: libcPath)
        let image = try ELFFile(fileSize: file.size, loadingSections: { name, _ in name == ".eh_frame" || name == ".eh_frame_hdr" },
                                read: { file.read(at: $0, into: $1) })
        let eh = try #require(image.section(named: ".eh_frame"))
        let header = try #require(image.section(named: ".eh_frame_hdr"))
        return (image.contents(of: eh), eh.address, image.contents(of: header), header.address)
    }

    @Test("mutated and truncated .eh_frame: scanning, FDE and CIE parsing, rows", arguments: [1, 2, 3, 4] as [UInt64])
    func mutatedSections(seed: UInt64) throws {
        let original = try Self.libcSections()
        var random = SeededRandom(seed: seed)
        // A window of the section (the whole of libc's takes long in debug builds).
        let window = Array(original.eh.prefix(24_000))
        for _ in 0..<60 {
            var bytes = window
            for _ in 0..<Int.random(in: 1...8, using: &random) {
                let at = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0: bytes[at] ^= 1 << UInt8.random(in: 0..<8, using: &random)
                case 1: bytes[at] = UInt8.random(in: 0...255, using: &random)
                case 2: bytes.removeLast(Int.random(in: 0..<min(bytes.count, 4000), using: &random))
                default: if at + 4 <= bytes.count { bytes.setInteger(UInt32.random(in: 0...UInt32.max, using: &random), at: at) }
                }
                if bytes.isEmpty { break }
            }
            for isDebugFrame in [false, true] {
                let section = CallFrameSection(bytes: bytes, address: original.ehAddress, isDebugFrame: isDebugFrame)
                let found = section.scanFDEs()
                for entry in found.prefix(200) {
                    guard let fde = section.fde(at: entry.offset) else { continue }
                    for step in 0..<4 {
                        _ = section.row(for: fde, at: fde.start &+ (fde.length / 4) &* UInt64(step))
                    }
                }
                for _ in 0..<50 { _ = section.fde(at: Int.random(in: 0..<(bytes.count + 8), using: &random)) }
            }
        }
    }

    @Test("random bytes as CFA instructions, DWARF expressions and .eh_frame_hdr never trap")
    func randomBytes() {
        var random = SeededRandom(seed: 99)
        for _ in 0..<2000 {
            let count = Int.random(in: 0...64, using: &random)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            // A CIE then an FDE pointing back at it, with random instructions in both.
            var entry: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 0x7a, 0x52, 0, 1, 0x78, 0x10, 1, 0x1b]
            entry += bytes.prefix(8)
            entry.setInteger(UInt32(entry.count - 4), at: 0)
            let fdeStart = entry.count
            var fde: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x10, 0, 0, 0]
            fde += bytes
            fde.setInteger(UInt32(fde.count - 4), at: 0)
            fde.setInteger(UInt32(fdeStart + 4), at: 4)
            entry += fde
            let section = CallFrameSection(bytes: entry, address: 0x1000, isDebugFrame: false)
            if let parsed = section.fde(at: fdeStart) {
                for address in stride(from: parsed.start, to: parsed.start &+ 64, by: 7) { _ = section.row(for: parsed, at: address) }
            }
            _ = section.scanFDEs()
            bytes.append(contentsOf: [0x06, 0x22])
            _ = DwarfExpression(bytes: bytes, range: 0..<bytes.count).evaluate(
                initial: 0x1000, register: { $0 < 17 ? UInt64($0) * 0x100 : nil }, load: { $0 & 0xffff })
            var reader = CFIReader(bytes, base: 0x4000)
            _ = reader.readPointer(.init(rawValue: UInt8.random(in: 0...255, using: &random)))
            _ = reader.readULEB()
            _ = reader.readSLEB()
        }
    }

    @Test("unwinding random registers and stack bytes in a live process never traps")
    func randomStacks() throws {
        let unwinder = ProcessUnwinder(symbolizer: ProcessSymbolizer(pid: getpid()), cache: CallFrameCache())
        let code = unwinder.symbolizer.mappings.filter { $0.isExecutable && $0.isFile }
        #expect(!code.isEmpty)
        var random = SeededRandom(seed: 7)
        for _ in 0..<400 {
            let mapping = code.randomElement(using: &random)!
            let ip = UInt64.random(in: mapping.start..<mapping.end, using: &random)
            let sp = UInt64.random(in: 0x7ff0_0000_0000...0x7fff_0000_0000, using: &random) & ~7
            // Stack words: random, or plausible return addresses into mapped code, or pointers into the copy.
            let words = (0..<Int.random(in: 0...256, using: &random)).map { index -> UInt64 in
                switch Int.random(in: 0..<3, using: &random) {
                case 0: return UInt64.random(in: 0...UInt64.max, using: &random)
                case 1: let m = code.randomElement(using: &random)!; return UInt64.random(in: m.start..<m.end, using: &random)
                default: return sp &+ UInt64(index * 8 + Int.random(in: 0...64, using: &random))
                }
            }
            let stack = words.withUnsafeBytes { Array($0) }
            let result = stack.withUnsafeBytes {
                unwinder.unwind(UserRegisters(ip: ip, sp: sp, bp: sp &+ UInt64.random(in: 0...512, using: &random)), stack: $0, maxDepth: 64)
            }
            #expect(result.addresses.count >= 1 && result.addresses.count <= 64)
        }
    }
}
