// Kernel symbols: the live /proc/kallsyms, and hand-written kallsyms text for the rules.
import Foundation
import Testing
import BPFKit
@testable import Symbolize

@Suite("Kernel symbols")
struct KernelSymbolsTests {
    private func parse(_ text: String) throws -> KernelSymbols { try KernelSymbols(parsing: Array(text.utf8)) }

    @Test("a known kernel function's address resolves to its name: schedule+0x5")
    func schedule() throws {
        // The address, independently: the `schedule` line of /proc/kallsyms.
        let text = String(decoding: try #require(readFileBytes("/proc/kallsyms")), as: UTF8.self)
        let line = try #require(text.split(separator: "\n").first { $0.hasSuffix(" T schedule") || $0.hasSuffix(" t schedule") })
        let address = try #require(UInt64(line.prefix(16), radix: 16))
        try #require(address != 0, "kallsyms addresses are hidden (not root?)")
        let kernel = try KernelSymbols.shared()
        #expect(kernel.symbolize(address + 5) == KernelSymbols.Symbol(name: "schedule", offset: 5, module: nil))
        #expect(kernel.symbolize(address + 5)?.description == "schedule+0x5")
        #expect(kernel.address(of: "schedule") == address)
        #expect(kernel.count > 10_000)
        #expect(kernel.malformedLines == 0)
        #expect(try KernelSymbols.shared() === kernel, "loaded once per process")
    }

    @Test("loading /proc/kallsyms is fast")
    func loadTime() throws {
        let start = Date()
        let kernel = try KernelSymbols.load()
        let seconds = Date().timeIntervalSince(start)
        #expect(kernel.count > 10_000)
        #expect(seconds < 2, "took \(seconds) s (debug build)")
    }

    @Test("module symbols carry their module; BPF programs are module bpf")
    func modules() throws {
        let kernel = try parse("""
            ffffffff81000000 T _stext
            ffffffff81000100 t helper
            ffffffff82000000 T _etext
            ffffffff82400000 D __start_rodata
            ffffffffc0001000 t ext4_fill_super\t[ext4]
            ffffffffc0001400 T ext4_iget\t[ext4]
            ffffffffc0002000 t nf_hook\t[nf_tables]
            ffffffffc0003000 t bpf_prog_6deef7357e7b4530_handle_exec\t[bpf]
            """)
        #expect(kernel.symbolize(0xffffffffc0001410) == .init(name: "ext4_iget", offset: 0x10, module: "ext4"))
        #expect(kernel.symbolize(0xffffffffc0001010)?.module == "ext4")
        #expect(kernel.symbolize(0xffffffffc0002001)?.module == "nf_tables")
        #expect(kernel.symbolize(0xffffffffc0003004) == .init(name: "bpf_prog_6deef7357e7b4530_handle_exec", offset: 4, module: "bpf"))
        #expect(kernel.symbolize(0xffffffff81000105) == .init(name: "helper", offset: 5, module: nil))
        #expect(kernel.symbolize(0xffffffff82400010) == nil, "read-only data is not text")
        #expect(kernel.symbolize(0xffffffff80ffffff) == nil, "below the first symbol")
        #expect(kernel.symbolize(0xffffffffc0003004)?.description == "bpf_prog_6deef7357e7b4530_handle_exec+0x4 [bpf]")
    }

    @Test("unsorted lines are sorted; at one address text beats data and global beats local")
    func sortingAndAliases() throws {
        let kernel = try parse("""
            ffffffff81000300 t third
            ffffffff81000100 t first_local
            ffffffff81000100 T first
            ffffffff81000200 B __init_begin
            ffffffff81000200 T _sinittext
            ffffffff81000000 T zeroth
            """)
        #expect(kernel.symbolize(0xffffffff81000101)?.name == "first")
        #expect(kernel.symbolize(0xffffffff81000201)?.name == "_sinittext")
        #expect(kernel.symbolize(0xffffffff81000301)?.name == "third")
        #expect(kernel.symbolize(0xffffffff81000001)?.name == "zeroth")
        #expect(kernel.count == 5)
    }

    @Test("malformed lines are skipped and counted; hidden or empty kallsyms is a clear error")
    func malformedInput() throws {
        let kernel = try parse("""
            ffffffff81000000 T good
            not a line at all
            ffffffff8100zz00 T bad_hex
            ffffffff81000100 T
            ffffffff810001000000000000 T too_long
            ffffffff81000200 Tnospace

            ffffffff81000300 t also_good\t[
            """)
        #expect(kernel.count == 2)
        #expect(kernel.malformedLines == 5)
        #expect(kernel.symbolize(0xffffffff81000301) == .init(name: "also_good", offset: 1, module: nil))
        #expect(throws: SymbolizeError("every address is zero: kallsyms is hidden from this user (kptr_restrict); run as root")) {
            try parse("0000000000000000 T schedule\n0000000000000000 t helper\n")
        }
        #expect(throws: SymbolizeError("no text symbols (0 malformed lines)")) { try parse("") }
        #expect(throws: SymbolizeError("/nonexistent/kallsyms: cannot read")) { try KernelSymbols.load(path: "/nonexistent/kallsyms") }
    }
}
