// libFuzzer target: JIT perf maps (`/tmp/perf-PID.map`), written by any process.
import FuzzDriver
import Glibc
import Symbolize

func fuzzPerfMap(_ data: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    let map = PerfMap(parsing: Array(UnsafeBufferPointer(start: data, count: count)))
    for address in [0, 1, 0x1000, 0x7f00_0000_1000, 0x7f00_0000_1040, .max] as [UInt64] { _ = map.lookup(address) }
    return 0
}

var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
var argumentCount = CommandLine.argc
exit(LLVMFuzzerRunDriver(&argumentCount, &arguments) { fuzzPerfMap($0, $1) })
