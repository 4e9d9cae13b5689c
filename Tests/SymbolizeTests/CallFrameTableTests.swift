// Call-frame information checked against binutils' own interpretation: `readelf -wF` prints
// the CFA and register rules at every row of every FDE; the table must agree at each row's
// address, for the system's libc (.eh_frame through .eh_frame_hdr) and for a program built
// with .debug_frame only.
import Foundation
import Testing
import BPFKit
@testable import Symbolize

let libcPath = "/usr/lib/x86_64-linux-gnu/libc.so.6"

/// One row of `readelf -wF`: the address, the CFA rule text (`rsp+8`, `rbp+16`, `exp`) and
/// the rbp and return-address rule texts (`u`, `c-16`, `exp`).
struct ReadelfRow {
    var address: UInt64
    var cfa: String
    var rbp: String?
    var returnAddress: String?
}

/// Parses readelf's interpreted frame tables (FDE rows only, CIE rows skipped).
func readelfRows(_ binary: String, limit: Int = 40_000) throws -> [ReadelfRow] {
    var rows: [ReadelfRow] = []
    var columns: [String] = []
    var inFDE = false
    for line in try shell("readelf -wF '\(binary)' 2>/dev/null || true").split(separator: "\n", omittingEmptySubsequences: false) {
        let fields = line.split(separator: " ").map(String.init)
        if line.contains(" FDE ") { inFDE = true; continue }
        if line.contains(" CIE ") || line.contains("terminator") || line.hasPrefix("Contents of") { inFDE = false; continue }
        if fields.first == "LOC" { columns = fields; continue }
        guard inFDE, fields.count == columns.count, fields.count >= 2, let address = UInt64(fields[0], radix: 16) else { continue }
        let rbp = columns.firstIndex(of: "rbp").map { fields[$0] }
        let ra = columns.firstIndex(of: "ra").map { fields[$0] }
        rows.append(ReadelfRow(address: address, cfa: fields[1], rbp: rbp, returnAddress: ra))
        if rows.count >= limit { break }
    }
    return rows
}

/// The readelf text for our CFA rule.
func describe(_ rule: CFARule) -> String {
    switch rule {
    case .registerOffset(let register, let offset):
        let names = [0: "rax", 1: "rdx", 2: "rcx", 3: "rbx", 4: "rsi", 5: "rdi", 6: "rbp", 7: "rsp", 16: "rip"]
        return "\(names[register] ?? "r\(register)")+\(offset)"
    case .expression: return "exp"
    case .undefined: return "u"
    }
}

/// The readelf text for our register rule ("u" covers both unspecified and undefined).
func describe(_ rule: RegisterRule) -> String {
    switch rule {
    case .sameValue, .undefined: return "u"
    case .offset(let offset): return "c\(offset >= 0 ? "+" : "")\(offset)"
    case .valueOffset(let offset): return "v\(offset >= 0 ? "+" : "")\(offset)"
    case .register(let register): return "r\(register)"
    case .expression: return "exp"
    case .valueExpression: return "vexp"
    }
}

@Suite("Call-frame information (.eh_frame, .eh_frame_hdr, .debug_frame)")
struct CallFrameTableTests {
    @Test("libc's table agrees with readelf -wF at every row (CFA, rbp, return address)")
    func libcAgreesWithReadelf() throws {
        let table = try CallFrameCache().table(forFileAt: libcPath)
        #expect(table.usedHeaderTable)
        #expect(table.count > 1000)
        #expect(table.buildID != nil)
        let rows = try readelfRows(libcPath)
        #expect(rows.count > 5000)
        var mismatches: [String] = []
        for row in rows {
            guard let ours = table.row(at: row.address) else {
                mismatches.append("\(String(row.address, radix: 16)): no row")
                continue
            }
            var theirs = [row.cfa], mine = [describe(ours.cfa)]
            if let rbp = row.rbp { theirs.append(rbp); mine.append(describe(ours[DwarfRegister.rbp])) }
            if let ra = row.returnAddress { theirs.append(ra); mine.append(describe(ours[DwarfRegister.returnAddress])) }
            if theirs != mine { mismatches.append("\(String(row.address, radix: 16)): readelf \(theirs), ours \(mine)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(rows.count) rows differ: \(mismatches.prefix(10))")
    }

    @Test("an .eh_frame scan finds the same FDEs as the .eh_frame_hdr table")
    func scanMatchesHeader() throws {
        let file = try ReadOnlyFile(path: libcPath)
        let image = try ELFFile(fileSize: file.size, loadingSections: { name, _ in name == ".eh_frame" || name == ".eh_frame_hdr" },
                                read: { file.read(at: $0, into: $1) })
        let section = try #require(image.section(named: ".eh_frame"))
        let eh = CallFrameSection(bytes: image.contents(of: section), address: section.address, isDebugFrame: false)
        let scanned = eh.scanFDEs().map(\.start).sorted()
        let table = CallFrameTable(image: image, path: libcPath)
        #expect(scanned.count == table.count)
    }

    @Test("a program with .debug_frame only (no unwind tables) agrees with readelf")
    func debugFrame() throws {
        let scratch = try Scratch("debugframe")
        let source = try scratch.write("f.c", """
            #include <stdio.h>
            __attribute__((noinline)) int leaf(int x) { volatile int a[64]; for (int i = 0; i < 64; i++) a[i] = x + i; return a[x & 63]; }
            __attribute__((noinline)) int middle(int x) { int r = leaf(x) * 3; printf("%d", r); return r + 1; }
            int main(int argc, char **argv) { return middle(argc); }
            """)
        let binary = scratch.file("f")
        try shell("cc -O2 -g -fno-asynchronous-unwind-tables -fno-unwind-tables -o \(binary) \(source)")
        let sections = try shell("readelf -S \(binary)")
        #expect(sections.contains(".debug_frame"))
        let table = try CallFrameCache().table(forFileAt: binary)
        let rows = try readelfRows(binary)
        #expect(!rows.isEmpty)
        var checked = 0
        for row in rows {
            guard let ours = table.row(at: row.address) else { Issue.record("no row at \(String(row.address, radix: 16))"); continue }
            #expect(describe(ours.cfa) == row.cfa, "at \(String(row.address, radix: 16))")
            checked += 1
        }
        let leaf = try #require(try nmAddress(binary, "leaf"))
        #expect(table.row(at: leaf) != nil)
        #expect(checked == rows.count)
    }

    @Test("the PLT's CFA expression evaluates to rsp + 8, then rsp + 16 past the push")
    func pltExpression() throws {
        // gcc/ld's lazy PLT rule: DW_OP_breg7 8; DW_OP_breg16 0; DW_OP_lit15; DW_OP_and;
        // DW_OP_lit11; DW_OP_ge; DW_OP_lit3; DW_OP_shl; DW_OP_plus.
        let bytes: [UInt8] = [0x77, 0x08, 0x80, 0x00, 0x3f, 0x1a, 0x3b, 0x2a, 0x33, 0x24, 0x22]
        let expression = DwarfExpression(bytes: bytes, range: 0..<bytes.count)
        func cfa(rip: UInt64) -> UInt64? {
            expression.evaluate(register: { $0 == DwarfRegister.rsp ? 0x1000 : $0 == DwarfRegister.returnAddress ? rip : nil }, load: { _ in nil })
        }
        #expect(cfa(rip: 0x4020) == 0x1008)
        #expect(cfa(rip: 0x402b) == 0x1010)
        // An unknown register fails rather than guessing.
        #expect(DwarfExpression(bytes: [0x73, 0x00], range: 0..<2).evaluate(register: { _ in nil }, load: { _ in nil }) == nil)
    }

    @Test("frame-pointer judgement: -fno-omit-frame-pointer code keeps them, libc does not")
    func framePointerJudgement() throws {
        let scratch = try Scratch("fpjudge")
        var functions = ""
        for index in 0..<12 {
            functions += "__attribute__((noinline)) long f\(index)(long x) { volatile long a[16]; for (int i = 0; i < 16; i++) a[i] = x * i; return a[x & 15] + \(index); }\n"
        }
        let source = try scratch.write("fp.c", functions + "int main(int c, char **v) { return (int)(f0(c) + f1(c) + f2(c) + f3(c) + f4(c) + f5(c) + f6(c) + f7(c) + f8(c) + f9(c) + f10(c) + f11(c)); }\n")
        try shell("cc -O1 -fno-omit-frame-pointer -o \(scratch.file("with")) \(source)")
        try shell("cc -O1 -fomit-frame-pointer -o \(scratch.file("without")) \(source)")
        let cache = CallFrameCache()
        #expect(try cache.table(forFileAt: scratch.file("with")).keepsFramePointers == true)
        #expect(try cache.table(forFileAt: scratch.file("without")).keepsFramePointers == false)
        #expect(try cache.table(forFileAt: libcPath).keepsFramePointers == false)
    }

    @Test("a file without ELF magic is one error line, remembered")
    func notELF() throws {
        let cache = CallFrameCache()
        #expect(throws: SymbolizeError.self) { try cache.table(forFileAt: "/etc/hostname") }
        #expect(throws: SymbolizeError.self) { try cache.table(forFileAt: "/nonexistent/file") }
    }
}
