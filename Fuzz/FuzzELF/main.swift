// libFuzzer target: the ELF reader, full and partial, and the symbol tables built on it
// (what `bpfkit` reads from every binary a stack passes through).
import FuzzDriver
import Glibc
@testable import BPFKit
@testable import Symbolize

func fuzzELF(_ data: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    if let elf = try? ELFFile(bytes: bytes) {
        _ = elf.notes
        _ = elf.buildID
        _ = elf.debugLink
        // Not SHT_NOBITS: its zeros are as large as the header says (a 4 GiB .bss is legal);
        // the BPF loader bounds them itself (FuzzBPFObject covers that).
        for section in elf.sections where section.type != ELFFile.Section.nobits {
            _ = elf.contents(of: section)
            if section.type == ELFFile.Section.rel { _ = try? elf.relocations(in: section) }
        }
        _ = try? elf.symbols()
        _ = try? elf.symbols(dynamic: true)
        if let table = try? ElfSymbolTable(image: elf, path: "fuzz") {
            for address in stride(from: UInt64(0), to: 0x40000, by: 0x1000) {
                _ = table.symbolize(virtualAddress: address, demangle: .simplified)
                _ = table.virtualAddress(fileOffset: address)
            }
        }
    }
    // The partial reader symbolizers use on large files: only the sections they need.
    let read: (UInt64, UnsafeMutableRawBufferPointer) -> Bool = { offset, buffer in
        guard offset <= UInt64(bytes.count), UInt64(buffer.count) <= UInt64(bytes.count) - offset else { return false }
        buffer.copyBytes(from: bytes[Int(offset)..<(Int(offset) + buffer.count)])
        return true
    }
    if let image = try? ELFFile(fileSize: UInt64(bytes.count), loadingSections: { _, type in type == 2 || type == 11 || type == 7 }, read: read) {
        if let table = try? ElfSymbolTable(image: image, path: "fuzz", debugImage: image) {
            _ = table.symbolize(virtualAddress: 0x1000, demangle: .simplified)
        }
    }
    return 0
}

var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
var argumentCount = CommandLine.argc
exit(LLVMFuzzerRunDriver(&argumentCount, &arguments) { fuzzELF($0, $1) })
