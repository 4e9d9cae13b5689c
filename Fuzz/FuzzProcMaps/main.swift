// libFuzzer target: `/proc/PID/maps` lines, which name any path a process mapped.
import FuzzDriver
import Glibc
import Symbolize

func fuzzProcMaps(_ data: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    for mapping in ProcessMapping.parse(Array(UnsafeBufferPointer(start: data, count: count))) {
        _ = mapping.fileName
        _ = mapping.contains(mapping.start)
        _ = mapping.contains(mapping.end)
    }
    return 0
}

var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
var argumentCount = CommandLine.argc
exit(LLVMFuzzerRunDriver(&argumentCount, &arguments) { fuzzProcMaps($0, $1) })
