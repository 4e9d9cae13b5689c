import BPFKit
import ToolEvents

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The state each thread of a process is in when tracing starts, from /proc: without it a
/// thread that stays blocked all interval (a worker parked on a condition variable) would
/// never appear, having no scheduler transition to be seen by.
///
/// S (and I) is sleep, or lock when /proc/TID/syscall shows futex or futex_waitv; D is
/// other (/proc cannot tell disk waits apart) and T/t other, until the thread's next switch
/// classifies it exactly. R is left alone: it switches within a time slice.
enum ThreadStateSeed {
    #if arch(x86_64)
    static let futexCalls: Set<Int> = [202, 449]
    #else
    static let futexCalls: Set<Int> = [98, 449]  // the generic syscall table (arm64, riscv64)
    #endif

    static func seed(process pid: UInt32, threads: TypedMap<UInt32, tsa_thread>, inFutex: TypedMap<UInt32, UInt8>, at now: UInt64) {
        for tid in taskIDs(of: pid) {
            guard let stat = readSmallFile("/proc/\(pid)/task/\(tid)/stat", limit: 1024),
                  let close = stat.lastIndex(of: ")") else { continue }
            let letter = stat[close...].dropFirst().first { $0 != " " }
            let blocked = letter == "S" || letter == "I"
            var state: Int32
            switch letter {
            case "S", "I": state = TSA_SLEEP
            case "D", "T", "t": state = TSA_OTHER
            default: continue
            }
            if blocked, let call = readSmallFile("/proc/\(pid)/task/\(tid)/syscall", limit: 256),
               let number = Int(call.prefix { $0 != " " && $0 != "\n" }), futexCalls.contains(number) {
                state = TSA_LOCK
                try? inFutex.update(tid, 1)
            }
            try? threads.update(tid, tsa_thread(since: now, state: UInt32(state), tgid: pid), mode: .createOnly)
        }
    }

    private static func taskIDs(of pid: UInt32) -> [UInt32] {
        guard let directory = opendir("/proc/\(pid)/task") else { return [] }
        defer { closedir(directory) }
        var ids: [UInt32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let id = UInt32(name) { ids.append(id) }
        }
        return ids
    }
}
