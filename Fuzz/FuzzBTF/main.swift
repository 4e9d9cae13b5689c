// libFuzzer target: the BTF parser and every accessor the loader and CO-RE use on it.
import FuzzDriver
import Glibc
@testable import BPFKit

func fuzzBTF(_ data: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    guard let btf = try? BTF(bytes: bytes), btf.typeCount > 0 else { return 0 }
    for id in 1...UInt32(min(btf.typeCount, 4000)) {
        guard let kind = try? btf.kind(of: id) else { continue }
        _ = try? btf.name(of: id)
        _ = try? btf.count(of: id)
        _ = try? btf.kindFlag(of: id)
        _ = try? btf.sizeOrType(of: id)
        _ = try? btf.skippingQualifiers(id)
        _ = try? btf.size(of: id)
        switch kind {
        case .struct, .union: _ = try? btf.members(of: id)
        case .array: _ = try? btf.array(id)
        case .dataSection: _ = try? btf.sectionVariables(of: id)
        case .variable: _ = try? btf.variableLinkage(of: id)
        case .enum, .enum64: _ = try? btf.enumerators(of: id)
        default: break
        }
    }
    _ = btf.typeID(named: "task_struct", kind: .struct)
    // The same bytes as a split BTF on top of themselves (module BTF over vmlinux).
    if let split = try? BTF(split: bytes, base: btf) { _ = try? split.name(of: UInt32(btf.typeCount) + 1) }
    return 0
}

var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
var argumentCount = CommandLine.argc
exit(LLVMFuzzerRunDriver(&argumentCount, &arguments) { fuzzBTF($0, $1) })
