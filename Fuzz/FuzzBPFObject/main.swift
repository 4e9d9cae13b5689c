// libFuzzer target: a whole BPF object as the loader reads it (ELF, maps, programs,
// relocations, BTF, BTF.ext), then linked and its globals set, short of the kernel.
import FuzzDriver
import Glibc
@testable import BPFKit

func fuzzBPFObject(_ data: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    guard var spec = try? ObjectSpec(elf: bytes, name: "fuzz") else { return 0 }
    for program in spec.programs { _ = try? spec.link(program) }
    for name in spec.variables.keys {
        try? spec.setGlobal(name, to: UInt8(1))
        try? spec.setGlobal(name, to: UInt64(1))
    }
    return 0
}

var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
var argumentCount = CommandLine.argc
exit(LLVMFuzzerRunDriver(&argumentCount, &arguments) { fuzzBPFObject($0, $1) })
