// libFuzzer target: the BTF parser and every accessor the loader and CO-RE use on it.
import FuzzDriver
import Glibc
@testable import BPFKit

func fuzzBTF(_ data: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    guard let btf = try? BTF(bytes: bytes), btf.typeCount > 0 else { return 0 }
    btf.exerciseAccessors(limit: 4000)
    // The same bytes as a split BTF on top of themselves (module BTF over vmlinux).
    if let split = try? BTF(split: bytes, base: btf) { _ = try? split.name(of: UInt32(btf.typeCount) + 1) }
    return 0
}

var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
var argumentCount = CommandLine.argc
exit(LLVMFuzzerRunDriver(&argumentCount, &arguments) { fuzzBTF($0, $1) })
