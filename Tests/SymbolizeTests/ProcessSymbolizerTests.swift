// Symbolizing live processes: the test programs print their functions' addresses (or the test
// reads them from the symbol table and /proc/PID/maps), and each must come back by name.
import Foundation
import Testing
import BPFKit
@testable import Symbolize

@Suite("Symbolizing live processes")
struct ProcessSymbolizerTests {
    @Test("functions of a PIE executable resolve, with their offsets")
    func pieExecutable() throws {
        let programs = try TestPrograms.get()
        let child = try Child(programs.pie)
        let addresses = try child.addresses()
        let symbolizer = ProcessSymbolizer(pid: child.pid, cache: ElfSymbolCache())
        let frame = symbolizer.symbolize(addresses[0] + 4)
        #expect(frame.name == "bpfkit_static_function")
        #expect(frame.offset == 4)
        #expect(frame.module == "pie")
        #expect(frame.moduleOffset == (try nmAddress(programs.pie, "bpfkit_static_function"))! + 4)
        #expect(frame.text(showModule: true, showOffset: true) == "bpfkit_static_function+0x4")
        #expect(symbolizer.symbolize(addresses[1]).name == "bpfkit_global_function")
        #expect(symbolizer.symbolize(addresses[1]).offset == 0)
    }

    @Test("functions of a shared library resolve: a hidden one from .symtab, an exported one")
    func sharedLibrary() throws {
        let programs = try TestPrograms.get()
        let child = try Child(programs.pie)
        let addresses = try child.addresses()
        let symbolizer = ProcessSymbolizer(pid: child.pid, cache: ElfSymbolCache())
        let worker = symbolizer.symbolize(addresses[2] + 2)
        #expect(worker.name == "bpfkit_library_worker")
        #expect(worker.offset == 2)
        #expect(worker.module == "libbpfkitsym.so")
        #expect(symbolizer.symbolize(addresses[3]).name == "bpfkit_library_exported")
        // A libc function, through the dynamic symbol table of the system's libc.
        let libc = try #require(symbolizer.mappings.first { $0.isExecutable && $0.fileName.hasPrefix("libc.so") })
        let libcTable = try ElfSymbolCache().table(forFileAt: libc.path)
        #expect(libcTable.count > 1000)
    }

    @Test("functions of a position-dependent (non-PIE) executable resolve")
    func nonPIEExecutable() throws {
        let programs = try TestPrograms.get()
        let child = try Child(programs.nonPIE)
        let addresses = try child.addresses()
        #expect(addresses[0] == (try nmAddress(programs.nonPIE, "bpfkit_static_function")), "no load bias")
        let symbolizer = ProcessSymbolizer(pid: child.pid, cache: ElfSymbolCache())
        #expect(symbolizer.symbolize(addresses[0] + 1).name == "bpfkit_static_function")
        #expect(symbolizer.symbolize(addresses[1] + 3).text(showModule: false, showOffset: true) == "bpfkit_global_function+0x3")
        let table = try ElfSymbolCache().table(forFileAt: programs.nonPIE)
        #expect(table.fileType == 2)
    }

    @Test("a stripped executable's functions are [unknown], or [module+0xoffset] with --show-module")
    func strippedExecutable() throws {
        let programs = try TestPrograms.get()
        let child = try Child(programs.stripped)
        let addresses = try child.addresses()
        let symbolizer = ProcessSymbolizer(pid: child.pid, cache: ElfSymbolCache())
        let frame = symbolizer.symbolize(addresses[0] + 4)
        #expect(frame.name == nil)
        #expect(frame.text(showModule: false) == "[unknown]")
        let base = try loadBase(pid: child.pid, binary: programs.stripped)
        let expected = "[stripped+0x\(String(addresses[0] + 4 - base, radix: 16))]"
        #expect(frame.text(showModule: true) == expected)
    }

    @Test("a stripped executable resolves through its .gnu_debuglink debug file")
    func debugLinkedProcess() throws {
        let programs = try TestPrograms.get()
        let child = try Child(programs.linked)
        let addresses = try child.addresses()
        let symbolizer = ProcessSymbolizer(pid: child.pid, cache: ElfSymbolCache(debugDirectories: []))
        #expect(symbolizer.symbolize(addresses[0] + 4).name == "bpfkit_static_function")
        #expect(symbolizer.symbolize(addresses[1]).name == "bpfkit_global_function")
    }

    @Test("C++ names come back demangled")
    func cplusplusNames() throws {
        let programs = try TestPrograms.get()
        let child = try Child(programs.cplusplus)
        let addresses = try child.addresses()
        let symbolizer = ProcessSymbolizer(pid: child.pid, cache: ElfSymbolCache())
        #expect(symbolizer.symbolize(addresses[0] + 1).name == "bpfkit::Widget::spin(int, char const*)")
        #expect(symbolizer.symbolize(addresses[1]).name == "long bpfkit::twice<long>(long)")
        let raw = ProcessSymbolizer(pid: child.pid, demangle: nil, cache: ElfSymbolCache())
        #expect(raw.symbolize(addresses[0]).name == "_ZN6bpfkit6Widget4spinEiPKc")
    }

    @Test("Swift names come back demangled, simplified or in full")
    func swiftNames() throws {
        let programs = try TestPrograms.get()
        let child = try Child(programs.swift)
        #expect(try child.firstLine() == "ready")
        let base = try loadBase(pid: child.pid, binary: programs.swift)
        let worker = try #require(try nmAddress(programs.swift, "$s6worker17bpfkitSwiftWorkeryS2iF"))
        let whirl = try #require(try nmSymbol(programs.swift, containing: "6Gadget")).value
        let simplified = ProcessSymbolizer(pid: child.pid, cache: ElfSymbolCache())
        #expect(simplified.symbolize(base + worker + 2).name == "bpfkitSwiftWorker(_:)")
        #expect(simplified.symbolize(base + whirl).name == "Gadget.whirl(times:)")
        let full = ProcessSymbolizer(pid: child.pid, demangle: .full, cache: ElfSymbolCache())
        #expect(full.symbolize(base + worker).name == "worker.bpfkitSwiftWorker(Swift.Int) -> Swift.Int")
    }

    @Test("fake JIT frames resolve through /tmp/perf-PID.map; anonymous memory without one is [unknown]")
    func perfMapFrames() throws {
        let programs = try TestPrograms.get()
        let child = try Child(programs.plain)
        let jit = try child.addresses()[4]
        let symbolizer = ProcessSymbolizer(pid: child.pid, cache: ElfSymbolCache())
        #expect(symbolizer.symbolize(jit + 0x10).text(showModule: true) == "[unknown]")

        let path = PerfMap.path(pid: child.pid)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let far: UInt64 = 0x10_0000_0000
        try """
            \(String(jit, radix: 16)) 40 LazyCompile:~handler /srv/app.js:12
            0x\(String(jit + 0x40, radix: 16)) 0x20 _ZN6bpfkit3jit5stageEv
            \(String(far, radix: 16)) 100 Interpreter
            """.write(toFile: path, atomically: true, encoding: .utf8)
        Thread.sleep(forTimeInterval: 0.15)  // past the symbolizer's recheck interval
        let handler = symbolizer.symbolize(jit + 0x10)
        #expect(handler.name == "LazyCompile:~handler /srv/app.js:12")
        #expect(handler.offset == 0x10)
        #expect(handler.module == "perf-\(child.pid).map")
        #expect(symbolizer.symbolize(jit + 0x44).name == "bpfkit::jit::stage()")
        #expect(symbolizer.symbolize(far + 0x99).name == "Interpreter", "outside every mapping")
        #expect(symbolizer.symbolize(jit + 0x60).name == nil, "past the last JIT function")
    }

    @Test("a process that exited still resolves what prepare() read while it ran")
    func exitedProcess() throws {
        let programs = try TestPrograms.get()
        let child = try Child(programs.pie)
        let addresses = try child.addresses()
        let symbolizer = ProcessSymbolizer(pid: child.pid, cache: ElfSymbolCache())
        symbolizer.prepare()
        child.stop()
        #expect(symbolizer.symbolize(addresses[0]).name == "bpfkit_static_function")
        #expect(symbolizer.symbolize(addresses[2]).name == "bpfkit_library_worker")
    }

    @Test("a deleted executable resolves through /proc/PID/map_files")
    func deletedExecutable() throws {
        let programs = try TestPrograms.get()
        let scratch = try Scratch("deleted")
        let doomed = scratch.file("doomed")
        try FileManager.default.copyItem(atPath: programs.plain, toPath: doomed)
        let child = try Child(doomed)
        let addresses = try child.addresses()
        try FileManager.default.removeItem(atPath: doomed)
        let symbolizer = ProcessSymbolizer(pid: child.pid, cache: ElfSymbolCache())
        #expect(symbolizer.mappings.contains { $0.isDeleted && $0.path == doomed })
        let frame = symbolizer.symbolize(addresses[0] + 4)
        #expect(frame.name == "bpfkit_static_function")
        #expect(frame.module == "doomed")
    }

    @Test("an executable replaced on disk after it started resolves from the mapped file")
    func replacedExecutable() throws {
        let programs = try TestPrograms.get()
        let scratch = try Scratch("replaced")
        let binary = scratch.file("replaced")
        try FileManager.default.copyItem(atPath: programs.plain, toPath: binary)
        let child = try Child(binary)
        let addresses = try child.addresses()
        // A new file (new inode) at the same path: the stripped build.
        try FileManager.default.removeItem(atPath: binary)
        try FileManager.default.copyItem(atPath: programs.stripped, toPath: binary)
        let symbolizer = ProcessSymbolizer(pid: child.pid, cache: ElfSymbolCache())
        #expect(symbolizer.symbolize(addresses[0]).name == "bpfkit_static_function")
    }

    @Test("the vDSO's functions resolve")
    func vdso() throws {
        let programs = try TestPrograms.get()
        let child = try Child(programs.plain)
        _ = try child.firstLine()
        let symbolizer = ProcessSymbolizer(pid: child.pid, cache: ElfSymbolCache())
        let mapping = try #require(symbolizer.mappings.first { $0.path == "[vdso]" })
        // The expected address, independently: the image from the child's memory, its .dynsym.
        let image = try #require(ProcessSymbolizer.readMemory(pid: child.pid, at: mapping.start, count: Int(mapping.end - mapping.start)))
        let elf = try ELFFile(bytes: image)
        let symbol = try #require(try elf.symbols(dynamic: true).first { $0.name.hasSuffix("clock_gettime") && $0.isFunction })
        let frame = symbolizer.symbolize(mapping.start + symbol.value + 1)
        #expect(frame.name == "__vdso_clock_gettime" || frame.name == "clock_gettime")
        #expect(frame.offset == 1)
        #expect(frame.module == "[vdso]")
        #expect(Frame(name: nil, module: "[vdso]", moduleOffset: 0x10).text(showModule: true) == "[vdso+0x10]")
    }

    @Test("a file mapped executable that is not ELF is [module+0xoffset] and one clear problem line")
    func malformedMappedFile() throws {
        let programs = try TestPrograms.get()
        let scratch = try Scratch("garbage")
        let garbage = try scratch.write("garbage.bin", String(repeating: "not an ELF file\n", count: 512))
        let child = try Child(programs.plain, arguments: [garbage])
        let data = try child.addresses()[5]
        try #require(data != 0 && data != UInt64.max, "mapping a file executable was refused (noexec /tmp?)")
        let symbolizer = ProcessSymbolizer(pid: child.pid, cache: ElfSymbolCache())
        let frame = symbolizer.symbolize(data + 0x10)
        #expect(frame.text(showModule: false) == "[unknown]")
        #expect(frame.text(showModule: true) == "[garbage.bin+0x10]")
        #expect(symbolizer.problems == ["\(garbage): malformed ELF: bad magic"])
    }

    @Test("a process whose binary exists only in its own mount namespace resolves through /proc/PID/root",
          .enabled(if: canUnshareMount, "needs unshare --mount (root)"))
    func otherMountNamespace() throws {
        let programs = try TestPrograms.get()
        let scratch = try Scratch("namespace")
        try FileManager.default.copyItem(atPath: programs.plain, toPath: scratch.file("hidden"))
        let inside = "/tmp/bpfkit-symbolize-only-in-namespace-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: inside) }
        // The binary's path exists only inside the new mount namespace.
        let child = try Child("/usr/bin/unshare", arguments: [
            "--mount", "--propagation", "private", "sh", "-c",
            "mkdir -p \(inside) && mount --bind \(scratch.path) \(inside) && exec \(inside)/hidden",
        ])
        let addresses = try child.addresses()
        #expect(!FileManager.default.fileExists(atPath: inside + "/hidden"))
        let symbolizer = ProcessSymbolizer(pid: child.pid, cache: ElfSymbolCache())
        #expect(symbolizer.mappings.contains { $0.path == inside + "/hidden" })
        #expect(symbolizer.symbolize(addresses[0]).name == "bpfkit_static_function")
    }

    @Test("an address outside every mapping is [unknown], even with --show-module")
    func unmappedAddress() throws {
        let symbolizer = ProcessSymbolizer(pid: getpid(), cache: ElfSymbolCache())
        #expect(symbolizer.symbolize(0x10).text(showModule: true) == "[unknown]")
        #expect(symbolizer.symbolize(0xffff_ffff_ffff_f000).name == nil)
    }

    @Test("a process that does not exist symbolizes everything as [unknown]")
    func missingProcess() {
        let symbolizer = ProcessSymbolizer(pid: 999_999_999, cache: ElfSymbolCache())
        #expect(symbolizer.symbolize(0x401000) == .unknown)
        #expect(symbolizer.mappings.isEmpty)
    }

    @Test("many processes mapping one library share one parsed table")
    func sharedTables() throws {
        let programs = try TestPrograms.get()
        let cache = ElfSymbolCache()
        let children = try (0..<3).map { _ in try Child(programs.pie) }
        for child in children {
            let addresses = try child.addresses()
            let symbolizer = ProcessSymbolizer(pid: child.pid, cache: cache)
            #expect(symbolizer.symbolize(addresses[0]).name == "bpfkit_static_function")
            #expect(symbolizer.symbolize(addresses[2]).name == "bpfkit_library_worker")
        }
        #expect(cache.count == 2, "pie and libbpfkitsym.so, each read once")
    }
}

/// Whether this test run may create mount namespaces.
private let canUnshareMount = (try? shell("unshare --mount true")) != nil
