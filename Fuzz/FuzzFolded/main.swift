// libFuzzer target: the folded-stack parser (`flamegraph` input), then what the renderer
// reads back from the tree.
import FuzzDriver
import Glibc
import FlameGraph

func fuzzFolded(_ data: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: count)
    for reversed in [false, true] {
        var stacks = FoldedStacks(reversed: reversed)
        stacks.parse(bytes: bytes)
        stacks.parse(bytes: bytes, asBaseline: true)
        _ = stacks.totalCount
        _ = stacks.frameCount
        _ = stacks.folded()
        stacks.normalizeBaseline()
        stacks.compact()
        _ = stacks.stacks
    }
    return 0
}

var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
var argumentCount = CommandLine.argc
exit(LLVMFuzzerRunDriver(&argumentCount, &arguments) { fuzzFolded($0, $1) })
