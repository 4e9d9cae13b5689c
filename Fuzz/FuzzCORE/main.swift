// libFuzzer target: CO-RE relocation. The input is a BPF object; its BTF and .BTF.ext
// records are resolved against the running kernel's BTF and patched into each program's
// instructions, as `BPFObject` does in user space for kernels without `core_relos`.
import FuzzDriver
import Glibc
@testable import BPFKit

/// The running kernel's BTF, parsed once (nil: no kernel BTF here; the target still
/// relocates against the object's own BTF).
private let kernel = try? KernelBTF.shared()

func fuzzCORE(_ data: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    guard let spec = try? ObjectSpec(elf: bytes, name: "fuzz"), let local = spec.btf else { return 0 }
    for target in [kernel ?? local, local] {
        let relocator = CORERelocator(local: local, target: target)
        for program in spec.programs {
            guard let linked = try? spec.link(program) else { continue }
            var instructions = linked.instructions
            _ = try? relocator.apply(linked.coreRelocations, to: &instructions, program: program.name)
            for record in linked.coreRelocations {
                _ = relocator.describe(record)
                _ = try? relocator.resolve(record, program: program.name)
            }
        }
    }
    return 0
}

var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
var argumentCount = CommandLine.argc
exit(LLVMFuzzerRunDriver(&argumentCount, &arguments) { fuzzCORE($0, $1) })
