#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import BPFKit
import Report
import Symbolize
import ToolEvents

/// One level of a sample (the sampled or blocked task, or its waker) as the collector keys
/// it: who, and either the user stack unwound here (`userStackID` UNWIND_COPIED) or the id
/// of a stack the kernel walked (or its -errno), and the kernel stack's id.
struct UnwoundSample: Hashable {
    var pid: UInt32
    var tid: UInt32
    var comm: String
    var userStack: [UInt64] = []
    var truncated = false
    var userStackID: Int32 = UNWIND_COPIED
    var kernelStackID: Int32

    /// A level the kernel described by stack ids.
    init(_ key: stack_key, mergeThreads: Bool) {
        pid = key.pid
        tid = mergeThreads ? 0 : key.tid
        comm = withUnsafeBytes(of: key.comm) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        userStackID = key.user_stack_id
        kernelStackID = key.kernel_stack_id
    }

    init(pid: UInt32, tid: UInt32, comm: String, userStack: [UInt64], truncated: Bool, kernelStackID: Int32) {
        self.pid = pid
        self.tid = tid
        self.comm = comm
        self.userStack = userStack
        self.truncated = truncated
        self.kernelStackID = kernelStackID
    }
}

/// Receives the user-stack copies a program sends (bpfkit_unwind.h), unwinds each at once
/// (while its process still runs) and sums values per distinct stack.
///
/// In auto mode it also judges each new process: if every executable file it maps keeps
/// frame pointers it is marked `UNWIND_PID_FP` in `unwind_pids`, and its later samples are
/// walked by the kernel instead of copied.
final class UserStackCollector {
    /// How often the tools drain the ring of stack copies: the programs do not wake the
    /// reader per record (bpfkit_unwind.h), and a copy must be unwound while its process runs.
    static let drainInterval = 0.02

    let symbolizer: StackSymbolizer
    let method: UnwindMethod
    let mergeThreads: Bool
    private let pidsMap: TypedMap<UInt32, UInt8>?
    private var unwinders: [UInt32: ProcessUnwinder] = [:]
    private var judged: Set<UInt32> = []

    /// Value per distinct chain of levels (one level for profile and offcputime).
    private(set) var totals: [[UnwoundSample]: UInt64] = [:]
    /// The off-CPU tools: stacks unwound for (thread, level) until the thread's sleep ends.
    private struct PendingKey: Hashable { var tid: UInt32; var level: UInt32 }
    private var pending: [PendingKey: UnwoundSample] = [:]
    /// Chain levels whose sample never arrived (lost in a full ring).
    private(set) var missingLevels = 0
    private(set) var samples = 0
    private(set) var truncatedSamples = 0
    private(set) var framesUnwound = 0
    /// Time spent in the unwinder alone, in nanoseconds (for `BPFKIT_UNWIND_STATS=1`).
    private(set) var unwindNanoseconds: UInt64 = 0

    init(object: BPFObject, symbolizer: StackSymbolizer, method: UnwindMethod, mergeThreads: Bool) throws {
        self.symbolizer = symbolizer
        self.method = method
        self.mergeThreads = mergeThreads
        pidsMap = method == .auto ? try TypedMap<UInt32, UInt8>(object.map("unwind_pids")) : nil
    }

    /// Handles one ring record: a sample is unwound and counted (profile), or kept until
    /// the finish record of its thread's sleep brings the value and the rest of the chain
    /// (the off-CPU tools, `depth` levels).
    func handle(_ record: UnsafeRawBufferPointer, valueOnFinish: Bool, depth: Int = 1) {
        guard record.count >= 4 else { return }
        let kind = record.loadUnaligned(as: UInt32.self)
        if kind == UInt32(UNWIND_RECORD_FINISH), record.count >= MemoryLayout<unwind_finish>.size {
            let finish = record.loadUnaligned(as: unwind_finish.self)
            let keys = withUnsafeBytes(of: finish.chain.levels) { raw in
                (0..<min(depth, Int(CHAIN_MAX_DEPTH))).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<stack_key>.stride, as: stack_key.self) }
            }
            var levels: [UnwoundSample] = []
            for (index, key) in keys.enumerated() where key.pid != 0 || key.tid != 0 || levels.isEmpty {
                if key.user_stack_id == UNWIND_COPIED {
                    if let sample = pending.removeValue(forKey: PendingKey(tid: finish.tid, level: UInt32(index))) {
                        levels.append(sample)
                        continue
                    }
                    missingLevels += 1
                    var lost = UnwoundSample(key, mergeThreads: mergeThreads)
                    lost.userStackID = -12  // shown as [Missed User Stack]
                    levels.append(lost)
                } else {
                    levels.append(UnwoundSample(key, mergeThreads: mergeThreads))
                }
            }
            totals[levels, default: 0] += finish.value
            return
        }
        guard let (header, sample) = unwind(record) else { return }
        if valueOnFinish {
            pending[PendingKey(tid: header.join_tid, level: header.level)] = sample
        } else {
            totals[[sample], default: 0] += header.value
        }
    }

    /// Unwinds one sample record (nil for any other record) and, in auto mode, judges its
    /// process; the caller files the result (memleak keys it by the header's `value`).
    func unwind(_ record: UnsafeRawBufferPointer) -> (header: unwind_sample, sample: UnwoundSample)? {
        guard record.count >= MemoryLayout<unwind_sample>.size, record.loadUnaligned(as: UInt32.self) == UInt32(UNWIND_RECORD_SAMPLE) else {
            return nil
        }
        let header = record.loadUnaligned(as: unwind_sample.self)
        let headerSize = MemoryLayout<unwind_sample>.size
        let stackSize = min(Int(header.stack_size), record.count - headerSize)
        let stack = UnsafeRawBufferPointer(rebasing: record[headerSize..<(headerSize + stackSize)])
        let unwinder = unwinder(for: header.pid)
        let started = Self.now()
        let result = unwinder.unwind(UserRegisters(ip: header.ip, sp: header.sp, bp: header.bp), stack: stack, maxDepth: Int(MAX_STACK_DEPTH))
        unwindNanoseconds &+= Self.now() &- started
        samples += 1
        framesUnwound += result.addresses.count
        // Short of what was asked means the copy reached the stack's top: not a truncation.
        let truncated = result.end == .truncated && header.stack_size >= header.requested
        if truncated { truncatedSamples += 1 }
        let comm = withUnsafeBytes(of: header.comm) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let sample = UnwoundSample(
            pid: header.pid, tid: mergeThreads ? 0 : header.tid, comm: comm, userStack: result.addresses,
            truncated: truncated, kernelStackID: header.kernel_stack_id)
        if method == .auto { judge(header.pid, unwinder) }
        return (header, sample)
    }

    /// Forgets what was read of a process that changed its mappings (an exec), so its next
    /// sample is unwound, and in auto mode judged, anew.
    func forget(pid: UInt32) {
        unwinders[pid] = nil
        judged.remove(pid)
    }

    private func unwinder(for pid: UInt32) -> ProcessUnwinder {
        if let known = unwinders[pid] { return known }
        let unwinder = ProcessUnwinder(symbolizer: symbolizer.process(pid))
        unwinders[pid] = unwinder
        return unwinder
    }

    private func judge(_ pid: UInt32, _ unwinder: ProcessUnwinder) {
        guard judged.insert(pid).inserted, let pidsMap else { return }
        let verdict = unwinder.keepsFramePointers() ? UNWIND_PID_FP : UNWIND_PID_DWARF
        try? pidsMap.update(pid, UInt8(verdict))
    }

    private static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// bcc-style warnings for stacks cut short by the copy's size; with
    /// `BPFKIT_UNWIND_STATS=1` in the environment, the unwinder's own rate (for bench/unwind).
    func reportProblems(userStackBytes: UInt32) {
        if let value = getenv("BPFKIT_UNWIND_STATS"), String(cString: value) == "1" {
            let milliseconds = Double(unwindNanoseconds) / 1e6
            let rate = unwindNanoseconds == 0 ? 0 : Double(samples) * 1e9 / Double(unwindNanoseconds)
            Output.standardError.line("unwind stats: \(samples) stacks, \(framesUnwound) frames in \(Int(milliseconds)) ms: \(Int(rate)) stacks/s")
        }
        if truncatedSamples > 0 {
            Output.standardError.line("WARNING: \(truncatedSamples) of \(samples) user stacks were deeper than the \(userStackBytes)-byte copy and end in [truncated]. Consider increasing --user-stack-bytes.")
        }
    }
}
