import BPFKit
import Report
import Symbolize
import ToolEvents

/// One distinct unwound stack: who, the user stack (leaf first) and how it ended, and the
/// kernel stack's id in `stack_traces`.
struct UnwoundSample: Hashable {
    var pid: UInt32
    var tid: UInt32
    var comm: String
    var userStack: [UInt64]
    var truncated: Bool
    var kernelStackID: Int32
}

/// Receives the user-stack copies a program sends (bpfkit_unwind.h), unwinds each at once
/// (while its process still runs) and sums values per distinct stack.
///
/// In auto mode it also judges each new process: if every executable file it maps keeps
/// frame pointers it is marked `UNWIND_PID_FP` in `unwind_pids`, and its later samples are
/// walked by the kernel instead of copied.
final class UserStackCollector {
    let symbolizer: StackSymbolizer
    let method: UnwindMethod
    let mergeThreads: Bool
    private let pidsMap: TypedMap<UInt32, UInt8>?
    private var unwinders: [UInt32: ProcessUnwinder] = [:]
    private var judged: Set<UInt32> = []

    /// Value per distinct stack.
    private(set) var totals: [UnwoundSample: UInt64] = [:]
    /// offcputime: the stack each thread left the CPU with, until it runs again.
    private var pending: [UInt32: UnwoundSample] = [:]
    private(set) var samples = 0
    private(set) var truncatedSamples = 0
    private(set) var framesUnwound = 0

    init(object: BPFObject, symbolizer: StackSymbolizer, method: UnwindMethod, mergeThreads: Bool) throws {
        self.symbolizer = symbolizer
        self.method = method
        self.mergeThreads = mergeThreads
        pidsMap = method == .auto ? try TypedMap<UInt32, UInt8>(object.map("unwind_pids")) : nil
    }

    /// Handles one ring record: a sample is unwound and counted (profile) or kept until its
    /// thread's finish record brings the value (offcputime).
    func handle(_ record: UnsafeRawBufferPointer, valueOnFinish: Bool) {
        guard record.count >= 4 else { return }
        let kind = record.loadUnaligned(as: UInt32.self)
        if kind == UInt32(UNWIND_RECORD_FINISH), record.count >= MemoryLayout<unwind_finish>.size {
            let finish = record.loadUnaligned(as: unwind_finish.self)
            if let sample = pending.removeValue(forKey: finish.tid) { totals[sample, default: 0] += finish.value }
            return
        }
        guard kind == UInt32(UNWIND_RECORD_SAMPLE), record.count >= MemoryLayout<unwind_sample>.size else { return }
        let header = record.loadUnaligned(as: unwind_sample.self)
        let headerSize = MemoryLayout<unwind_sample>.size
        let stackSize = min(Int(header.stack_size), record.count - headerSize)
        let stack = UnsafeRawBufferPointer(rebasing: record[headerSize..<(headerSize + stackSize)])
        let unwinder = unwinder(for: header.pid)
        let result = unwinder.unwind(UserRegisters(ip: header.ip, sp: header.sp, bp: header.bp), stack: stack, maxDepth: Int(MAX_STACK_DEPTH))
        samples += 1
        framesUnwound += result.addresses.count
        // Short of what was asked means the copy reached the stack's top: not a truncation.
        let truncated = result.end == .truncated && header.stack_size >= header.requested
        if truncated { truncatedSamples += 1 }
        let comm = withUnsafeBytes(of: header.comm) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let sample = UnwoundSample(
            pid: header.pid, tid: mergeThreads ? 0 : header.tid, comm: comm, userStack: result.addresses,
            truncated: truncated, kernelStackID: header.kernel_stack_id)
        if valueOnFinish {
            pending[header.tid] = sample
        } else {
            totals[sample, default: 0] += header.value
        }
        if method == .auto { judge(header.pid, unwinder) }
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

    /// bcc-style warnings for stacks cut short by the copy's size.
    func reportProblems(userStackBytes: UInt32) {
        if truncatedSamples > 0 {
            Output.standardError.line("WARNING: \(truncatedSamples) of \(samples) user stacks were deeper than the \(userStackBytes)-byte copy and end in [truncated]. Consider increasing --user-stack-bytes.")
        }
    }
}
