// Symbol tables of files: lookup rules on hand-built ELF files, partial reads of real ones,
// separate debug files by build-id and .gnu_debuglink, and clear errors for bad files.
import Foundation
import Testing
@testable import BPFKit
@testable import Symbolize

@Suite("ELF symbol tables")
struct ElfSymbolTableTests {
    private func table(_ elf: TestELF) throws -> ElfSymbolTable {
        try ElfSymbolTable(image: ELFFile(bytes: elf.bytes()), path: "test")
    }

    @Test("lookups are size-aware: past a symbol's end is the enclosing symbol or nothing")
    func sizeAwareLookup() throws {
        let table = try table(TestELF(symbols: [
            .init(name: "alpha", value: 0x1000, size: 0x10),
            .init(name: "open_ended", value: 0x1020, size: 0),
            .init(name: "outer", value: 0x1100, size: 0x100),
            .init(name: "inner", value: 0x1140, size: 0x10),
            .init(name: "data_object", value: 0x1300, size: 0x10, type: 1),
            .init(name: "undefined", value: 0x1400, size: 0x10, section: 0),
        ]))
        #expect(table.symbolize(virtualAddress: 0x1000)! == ("alpha", 0))
        #expect(table.symbolize(virtualAddress: 0x100f)! == ("alpha", 0xf))
        #expect(table.symbolize(virtualAddress: 0x1010) == nil, "past alpha's 16 bytes, before the next symbol")
        #expect(table.symbolize(virtualAddress: 0x10ff)! == ("open_ended", 0xdf), "size 0 reaches the next symbol")
        #expect(table.symbolize(virtualAddress: 0x1144)! == ("inner", 4))
        #expect(table.symbolize(virtualAddress: 0x1150)! == ("outer", 0x50), "past inner, still inside outer")
        #expect(table.symbolize(virtualAddress: 0x1200) == nil)
        #expect(table.symbolize(virtualAddress: 0x1305) == nil, "objects are not functions")
        #expect(table.symbolize(virtualAddress: 0x1405) == nil, "undefined symbols do not count")
        #expect(table.symbolize(virtualAddress: 0xfff) == nil)
        #expect(table.count == 4)
    }

    @Test("at one address a global name wins over weak and local ones; .symtab and .dynsym merge")
    func aliasesAndMerging() throws {
        let table = try table(TestELF(
            symbols: [
                .init(name: "local_alias", value: 0x2000, size: 0x20, binding: 0),
                .init(name: "weak_alias", value: 0x2000, size: 0x20, binding: 2),
                .init(name: "strong", value: 0x2000, size: 0x20, binding: 1),
                .init(name: "zero_sized_global", value: 0x3000, size: 0, binding: 1),
                .init(name: "sized_local", value: 0x3000, size: 8, binding: 0),
            ],
            dynamicSymbols: [
                .init(name: "strong", value: 0x2000, size: 0x20),
                .init(name: "only_dynamic", value: 0x4000, size: 0x10),
                .init(name: "resolver", value: 0x5000, size: 0x10, type: 10),
            ]))
        let versioned = try self.table(TestELF(symbols: [.init(name: "memcpy@@GLIBC_2.14", value: 0x6000, size: 0x10), .init(name: "@odd", value: 0x7000, size: 4)]))
        #expect(versioned.symbolize(virtualAddress: 0x6001)?.name == "memcpy", "no symbol version suffix")
        #expect(versioned.symbolize(virtualAddress: 0x7001)?.name == "@odd")
        #expect(table.symbolize(virtualAddress: 0x2004)?.name == "strong")
        #expect(table.symbolize(virtualAddress: 0x3004)?.name == "sized_local", "a size beats binding")
        #expect(table.symbolize(virtualAddress: 0x4008)?.name == "only_dynamic")
        #expect(table.symbolize(virtualAddress: 0x5000)?.name == "resolver", "GNU indirect functions count")
    }

    @Test("file offsets become virtual addresses through the PT_LOAD headers (PIE, lld-style, non-PIE)")
    func loadBias() throws {
        // gcc + ld.bfd PIE: p_offset == p_vaddr for the code.
        var elf = TestELF(segments: [.init(offset: 0, virtualAddress: 0, fileSize: 0x600, memorySize: 0x600, executable: false),
                                     .init(offset: 0x1000, virtualAddress: 0x1000, fileSize: 0x200, memorySize: 0x200)])
        #expect(try table(elf).virtualAddress(fileOffset: 0x1169) == 0x1169)
        // lld PIE: the code's p_vaddr is one page above its offset.
        elf.segments = [.init(offset: 0x6e0, virtualAddress: 0x16e0, fileSize: 0x300, memorySize: 0x300)]
        #expect(try table(elf).virtualAddress(fileOffset: 0x7d0) == 0x17d0)
        // Non-PIE: absolute addresses.
        elf.fileType = 2
        elf.segments = [.init(offset: 0x1000, virtualAddress: 0x401000, fileSize: 0x200, memorySize: 0x200)]
        #expect(try table(elf).virtualAddress(fileOffset: 0x1156) == 0x401156)
        #expect(try table(elf).virtualAddress(fileOffset: 0x5000) == nil)
    }

    @Test("a partial read of real binaries gives the same symbols and notes as a full read", arguments: ["pie", "libbpfkitsym.so", "linked.debug"])
    func partialRead(name: String) throws {
        let programs = try TestPrograms.get()
        let path = programs.directory + "/" + name
        let bytes = try #require(readFileBytes(path))
        let full = try ELFFile(bytes: bytes)
        let partial = try ELFFile(fileSize: UInt64(bytes.count), loadingSections: { _, type in
            type == ELFFile.Section.symtab || type == ELFFile.Section.dynsym || type == ELFFile.Section.note
        }, read: { offset, buffer in
            guard offset + UInt64(buffer.count) <= UInt64(bytes.count) else { return false }
            buffer.copyBytes(from: bytes[Int(offset)..<(Int(offset) + buffer.count)])
            return true
        })
        #expect(partial.bytes.count < bytes.count)
        #expect(try partial.symbols().map(\.name) == (try full.symbols().map(\.name)))
        #expect(try partial.symbols(dynamic: true).map(\.value) == (try full.symbols(dynamic: true).map(\.value)))
        #expect(partial.buildID == full.buildID)
        #expect(partial.programHeaders.map(\.offset) == full.programHeaders.map(\.offset))
        #expect(partial.sections.map(\.name) == full.sections.map(\.name))
        #expect(partial.sections.map(\.address) == full.sections.map(\.address))
    }

    @Test("build-ids and debug links read as readelf shows them")
    func notes() throws {
        let programs = try TestPrograms.get()
        let elf = try ELFFile(bytes: try #require(readFileBytes(programs.linked)))
        let readelf = try shell("readelf -n '\(programs.linked)'")
        let buildID = try #require(elf.buildID)
        #expect(readelf.contains("Build ID: \(ELFFile.hex(buildID))"))
        #expect(elf.debugLink?.fileName == "linked.debug")
        let debugBytes = try #require(readFileBytes(programs.linkedDebug))
        var crc = CRC32()
        crc.update(debugBytes[...])
        #expect(elf.debugLink?.crc == crc.value)
        #expect(try ELFFile(bytes: TestELF(buildID: [0xab, 0xcd, 0xef], debugLink: ("x.debug", 7)).bytes()).buildID == [0xab, 0xcd, 0xef])
        var check = CRC32()
        check.update(Array("123456789".utf8)[...])
        #expect(check.value == 0xcbf4_3926)
    }

    @Test("a stripped file finds its debug file by build-id under the debug directory")
    func buildIDLookup() throws {
        let programs = try TestPrograms.get()
        let root = try Scratch("debugroot")
        let strippedBytes = try #require(readFileBytes(programs.byID))
        let buildID = ELFFile.hex(try #require(try ELFFile(bytes: strippedBytes).buildID))
        let directory = root.file(".build-id/\(buildID.prefix(2))")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: programs.byIDDebug, toPath: "\(directory)/\(buildID.dropFirst(2)).debug")

        #expect(try ElfSymbolCache(debugDirectories: []).table(forFileAt: programs.byID).count == 0, "stripped, no debug directory")
        let table = try ElfSymbolCache(debugDirectories: [root.path]).table(forFileAt: programs.byID)
        #expect(table.debugPath == "\(directory)/\(buildID.dropFirst(2)).debug")
        let address = try #require(try nmAddress(programs.byIDOriginal, "bpfkit_static_function"))
        #expect(table.symbolize(virtualAddress: address + 3)! == ("bpfkit_static_function", 3))
    }

    @Test("build-id lookup in the real /usr/lib/debug (a test-created entry, removed afterwards)")
    func systemDebugDirectory() throws {
        let programs = try TestPrograms.get()
        let strippedBytes = try #require(readFileBytes(programs.byID))
        let buildID = ELFFile.hex(try #require(try ELFFile(bytes: strippedBytes).buildID))
        let directory = "/usr/lib/debug/.build-id/\(buildID.prefix(2))"
        let debugFile = "\(directory)/\(buildID.dropFirst(2)).debug"
        let createdDirectory = !FileManager.default.fileExists(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: debugFile)
        try FileManager.default.copyItem(atPath: programs.byIDDebug, toPath: debugFile)
        defer {
            try? FileManager.default.removeItem(atPath: debugFile)
            if createdDirectory { try? FileManager.default.removeItem(atPath: directory) }
        }
        let table = try ElfSymbolCache().table(forFileAt: programs.byID)
        #expect(table.debugPath == debugFile)
        let address = try #require(try nmAddress(programs.byIDOriginal, "bpfkit_global_function"))
        #expect(table.symbolize(virtualAddress: address)?.name == "bpfkit_global_function")
    }

    @Test("a stripped file finds its debug file by .gnu_debuglink, beside it or in .debug/")
    func debugLinkLookup() throws {
        let programs = try TestPrograms.get()
        let address = try #require(try nmAddress(programs.linkedOriginal, "bpfkit_static_function"))
        let beside = try ElfSymbolCache(debugDirectories: []).table(forFileAt: programs.linked)
        #expect(beside.debugPath == programs.linkedDebug)
        #expect(beside.symbolize(virtualAddress: address)?.name == "bpfkit_static_function")

        let scratch = try Scratch("debuglink")
        try FileManager.default.copyItem(atPath: programs.linked, toPath: scratch.file("linked"))
        try FileManager.default.createDirectory(atPath: scratch.file(".debug"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: programs.linkedDebug, toPath: scratch.file(".debug/linked.debug"))
        let inDebug = try ElfSymbolCache(debugDirectories: []).table(forFileAt: scratch.file("linked"))
        #expect(inDebug.debugPath == scratch.file(".debug/linked.debug"))
        #expect(inDebug.symbolize(virtualAddress: address)?.name == "bpfkit_static_function")
    }

    @Test("a debug file of another build is refused")
    func mismatchedDebugFile() throws {
        let programs = try TestPrograms.get()
        let scratch = try Scratch("mismatch")
        try FileManager.default.copyItem(atPath: programs.linked, toPath: scratch.file("linked"))
        // Another program's debug file under the linked name: build-ids differ.
        try FileManager.default.copyItem(atPath: programs.byIDDebug, toPath: scratch.file("linked.debug"))
        let table = try ElfSymbolCache(debugDirectories: []).table(forFileAt: scratch.file("linked"))
        #expect(table.debugPath == nil)
        #expect(table.count == 0)
    }

    @Test("the cache returns one table per file, and per build-id")
    func cacheKeys() throws {
        let programs = try TestPrograms.get()
        let cache = ElfSymbolCache()
        let first = try cache.table(forFileAt: programs.pie)
        #expect(try cache.table(forFileAt: programs.pie) === first)
        #expect(cache.table(buildID: try #require(first.buildID)) === first)
        let scratch = try Scratch("copy")
        try FileManager.default.copyItem(atPath: programs.pie, toPath: scratch.file("copy"))
        #expect(try cache.table(forFileAt: scratch.file("copy")) === first, "another file with the same build-id")
        #expect(cache.count == 1)
        let global = try #require(try nmAddress(programs.pie, "bpfkit_global_function"))
        let frame = try #require(cache.symbolize(buildID: first.buildID!, fileOffset: global))
        #expect(frame.name == "bpfkit_global_function")
        #expect(frame.module == "pie")
        #expect(cache.table(buildID: [1, 2, 3, 4]) == nil)
    }

    @Test("the cache evicts least recently used tables beyond its capacity")
    func eviction() throws {
        let programs = try TestPrograms.get()
        let cache = ElfSymbolCache(capacity: 1)
        _ = try cache.table(forFileAt: programs.pie)
        _ = try cache.table(forFileAt: programs.nonPIE)
        #expect(cache.count == 1)
        cache.removeAll()
        #expect(cache.count == 0)
    }

    @Test("bad files are one clear error, never a trap")
    func badFiles() throws {
        let programs = try TestPrograms.get()
        let scratch = try Scratch("bad")
        let cache = ElfSymbolCache()
        func message(_ path: String) -> String? {
            do {
                _ = try cache.table(forFileAt: path)
                return nil
            } catch {
                return error.message
            }
        }
        let text = try scratch.write("text", "#!/bin/sh\necho hello\n" + String(repeating: "x", count: 100))
        #expect(message(text) == "\(text): malformed ELF: bad magic")
        #expect(message(text) == "\(text): malformed ELF: bad magic", "remembered")
        let short = try scratch.write("short", "\u{7f}ELF")
        #expect(message(short) == "\(short): malformed ELF: file too short for an ELF header (4 bytes)")
        let bytes = try #require(readFileBytes(programs.pie))
        let truncated = scratch.file("truncated")
        try Data(bytes[0..<(bytes.count / 2)]).write(to: URL(fileURLWithPath: truncated))
        #expect(message(truncated)?.hasPrefix("\(truncated): malformed ELF: section headers outside the file") == true)
        #expect(message(scratch.path) == "\(scratch.path): not a regular file")
        #expect(message(scratch.file("missing")) == "\(scratch.file("missing")): cannot open: no such file or directory")
    }
}
