import BPFKit
import Report
import Symbolize
import ToolEvents

/// Stacks counted or summed in the kernel, read once: a `counts` hash keyed by
/// `stack_key` (profile) or `chain_key` (the off-CPU tools) beside a `stack_traces` map.
/// Every distinct stack is fetched once; threads are merged unless asked otherwise.
struct StackSamples {
    /// One task in a sample: the sampled or blocked task, or one of its wakers.
    struct Level: Hashable {
        var pid: UInt32
        var comm: String
        var userStack: [UInt64]
        var kernelStack: [UInt64]
        /// The -errno of a stack that could not be stored (0: none). -EFAULT means "no
        /// stack of this kind" (a kernel thread's user stack) and is not an error.
        var userStackError: Int32
        var kernelStackError: Int32
        /// A user stack unwound from a copy that ended before the outermost frame.
        var userStackTruncated = false
    }

    struct Stack {
        var levels: [Level]
        /// Samples (profile) or microseconds (off-CPU tools).
        var value: UInt64
    }

    var stacks: [Stack] = []
    /// Stacks lost to hash collisions or a full stack map, evicted before reading, or cut at the maximum depth.
    var collisions: UInt64 = 0
    var failures: UInt64 = 0
    var missing = 0
    var truncated = 0

    static let efault: Int32 = -14

    /// Reads `stack_key` → u64 counts.
    static func read(from object: BPFObject, map: String = "counts", mergeThreads: Bool) throws -> StackSamples {
        let counts = try TypedMap<stack_key, UInt64>(object.map(map))
        return try read(object, try counts.entries().map { ([$0.key], $0.value) }, mergeThreads: mergeThreads)
    }

    /// Reads `chain_key` → u64 sums, keeping the first `depth` levels.
    static func readChains(from object: BPFObject, depth: Int, mergeThreads: Bool) throws -> StackSamples {
        let counts = try TypedMap<chain_key, UInt64>(object.map("counts"))
        return try read(object, try counts.entries().map { entry in
            let levels = withUnsafeBytes(of: entry.key.levels) { raw in
                (0..<min(depth, Int(CHAIN_MAX_DEPTH))).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<stack_key>.stride, as: stack_key.self) }
            }
            return (levels, entry.value)
        }, mergeThreads: mergeThreads)
    }

    /// Adds samples whose user stacks were (at some levels) unwound in user space; other
    /// stacks come by id from `stack_traces`.
    mutating func add(unwound: [[UnwoundSample]: UInt64], from object: BPFObject) throws {
        let stackMap = try StackTraceMap(object.map("stack_traces"))
        var cache: [Int32: [UInt64]] = [:]
        func frames(_ id: Int32) throws -> [UInt64] {
            if id < 0 { return [] }
            if let known = cache[id] { return known }
            let found = try stackMap.frames(id: id)
            cache[id] = found
            if found.isEmpty { missing += 1 }
            return found
        }
        for (chain, value) in unwound {
            var levels: [Level] = []
            for sample in chain {
                let copied = sample.userStackID == UNWIND_COPIED
                levels.append(Level(
                    pid: sample.pid, comm: sample.comm,
                    userStack: copied ? sample.userStack : try frames(sample.userStackID),
                    kernelStack: try frames(sample.kernelStackID),
                    userStackError: copied ? 0 : min(sample.userStackID, 0), kernelStackError: min(sample.kernelStackID, 0),
                    userStackTruncated: sample.truncated))
            }
            stacks.append(Stack(levels: levels, value: value))
        }
    }

    private static func read(_ object: BPFObject, _ entries: [([stack_key], UInt64)], mergeThreads: Bool) throws -> StackSamples {
        let stackMap = try StackTraceMap(object.map("stack_traces"))
        var result = StackSamples()
        result.collisions = (try? object.global("stack_collisions", as: UInt64.self)) ?? 0
        result.failures = (try? object.global("stack_failures", as: UInt64.self)) ?? 0
        var cache: [Int32: [UInt64]] = [:]
        func frames(_ id: Int32) throws -> [UInt64] {
            if id < 0 { return [] }
            if let known = cache[id] { return known }
            let found = try stackMap.frames(id: id)
            cache[id] = found
            if found.isEmpty { result.missing += 1 }
            if stackMap.isTruncated(found) { result.truncated += 1 }
            return found
        }
        struct MergeKey: Hashable { var ids: [Int32]; var pids: [UInt32]; var comms: [String] }
        var merged: [MergeKey: Int] = [:]
        for (keys, value) in entries {
            let comms = keys.map { key in withUnsafeBytes(of: key.comm) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } }
            let mergeKey = MergeKey(
                ids: keys.flatMap { [$0.user_stack_id, $0.kernel_stack_id] },
                pids: keys.flatMap { [$0.pid, mergeThreads ? 0 : $0.tid] }, comms: comms)
            if let index = merged[mergeKey] {
                result.stacks[index].value += value
                continue
            }
            var levels: [Level] = []
            for (key, comm) in zip(keys, comms) where key.pid != 0 || key.tid != 0 || levels.isEmpty {
                levels.append(Level(
                    pid: key.pid, comm: comm, userStack: try frames(key.user_stack_id), kernelStack: try frames(key.kernel_stack_id),
                    userStackError: min(key.user_stack_id, 0), kernelStackError: min(key.kernel_stack_id, 0)))
            }
            merged[mergeKey] = result.stacks.count
            result.stacks.append(Stack(levels: levels, value: value))
        }
        return result
    }

    /// bcc's warnings, on standard error: stacks that could not be shown, and why.
    func reportProblems(stackStorageSize: UInt32) {
        let lost = collisions + failures
        if lost > 0 {
            let hint = collisions > 0 ? " Consider increasing --stack-storage-size (now \(stackStorageSize))." : ""
            Output.standardError.line("WARNING: \(lost) stack traces could not be displayed (\(collisions) hash collisions).\(hint)")
        }
        if missing > 0 { Output.standardError.line("WARNING: \(missing) stacks were evicted from the stack map before they were read.") }
        if truncated > 0 { Output.standardError.line("WARNING: \(truncated) stacks were deeper than \(MAX_STACK_DEPTH) frames and are truncated.") }
    }
}

/// Turns stack addresses into frame names, the way bcc's tools print them: kernel frames
/// from kallsyms (optionally annotated `_[k]`), user frames per process (`[unknown]` or
/// `[module+0x…]` when unresolved), and bcc's markers for stacks the kernel could not take.
final class StackSymbolizer {
    private let showModule: Bool
    private let annotateKernel: Bool
    private lazy var kernelSymbols: KernelSymbols? = try? KernelSymbols.shared()
    private var processes: [UInt32: ProcessSymbolizer] = [:]

    init(showModule: Bool = false, annotateKernel: Bool = false) {
        self.showModule = showModule
        self.annotateKernel = annotateKernel
    }

    /// Leaf first; `["[Missed Kernel Stack]"]` when the kernel could not store the stack.
    /// A stack taken from a tracepoint program starts inside the tracing machinery (the BPF
    /// program, then `bpf_trace_run*`): those frames are the tracer, not the traced, and
    /// are dropped.
    func kernelFrames(_ level: StackSamples.Level) -> [String] {
        if level.kernelStackError < 0 && level.kernelStackError != StackSamples.efault { return ["[Missed Kernel Stack]"] }
        let suffix = annotateKernel ? "_[k]" : ""
        return kernelAddresses(level).map { ($0.name ?? "[unknown]") + suffix }
    }

    /// The kernel stack's addresses and function names (nil: not in kallsyms), leaf first,
    /// without the tracing machinery's frames.
    func kernelAddresses(_ level: StackSamples.Level) -> [(address: UInt64, name: String?)] {
        var frames = level.kernelStack.map { ($0, kernelSymbols?.symbolize($0)?.name) }
        if let tracer = frames.prefix(4).lastIndex(where: { $0.1?.hasPrefix("bpf_trace_run") == true || $0.1?.hasPrefix("__bpf_trace_") == true }) {
            frames.removeFirst(tracer + 1)
        }
        return frames.map { (address: $0.0, name: $0.1) }
    }

    /// Reads a process's mappings now, while it runs, so its stacks still resolve if it
    /// exits before the tool prints.
    func prepare(pid: UInt32) {
        guard pid != 0, processes[pid] == nil else { return }
        let symbolizer = ProcessSymbolizer(pid: Int32(bitPattern: pid))
        symbolizer.prepare()
        processes[pid] = symbolizer
    }

    /// Reads a process's mappings again (after an exec, or once it loaded its libraries);
    /// what was read before is kept if the process is gone.
    func refresh(pid: UInt32) {
        let symbolizer = ProcessSymbolizer(pid: Int32(bitPattern: pid))
        symbolizer.prepare()
        if !symbolizer.mappings.isEmpty { processes[pid] = symbolizer }
    }

    /// Prepares every process found in a stack tool's `counts` map (keys `Key`, whose
    /// processes `pids` lists): called every second while tracing.
    func prepareProcesses<Key: BitwiseCopyable>(in counts: BPFMap, as: Key.Type, pids: (Key) -> [UInt32]) {
        guard let keys = try? TypedMap<Key, UInt64>(counts).keys() else { return }
        for key in keys { for pid in pids(key) { prepare(pid: pid) } }
    }

    /// Leaf first; `["[Missed User Stack]"]` when the kernel could not store the stack.
    func userFrames(_ level: StackSamples.Level) -> [String] {
        if level.userStackError < 0 && level.userStackError != StackSamples.efault { return ["[Missed User Stack]"] }
        guard !level.userStack.isEmpty else { return [] }
        let symbolizer = process(level.pid)
        let frames = level.userStack.map { symbolizer.symbolize($0).text(showModule: showModule) }
        return level.userStackTruncated ? frames + ["[truncated]"] : frames
    }

    /// The process's symbolizer (made on first use), shared with its user-stack unwinder.
    func process(_ pid: UInt32) -> ProcessSymbolizer {
        if let known = processes[pid] { return known }
        let symbolizer = ProcessSymbolizer(pid: Int32(bitPattern: pid))
        processes[pid] = symbolizer
        return symbolizer
    }
}

/// How the stack tools print: bcc's multi-line text, folded lines for flame graphs, JSON.
struct StackPrinter {
    var symbolizer: StackSymbolizer
    var userStacks = true
    var kernelStacks = true
    var delimited = false
    var output = Output.standardOutput

    /// A level's frames, root first: user then (`-` then) kernel, as a flame graph stacks them.
    func rootFirst(_ level: StackSamples.Level) -> [String] {
        let user = userStacks ? symbolizer.userFrames(level) : []
        let kernel = kernelStacks ? symbolizer.kernelFrames(level) : []
        return user.reversed() + (delimited && !user.isEmpty && !kernel.isEmpty ? ["-"] : []) + kernel.reversed()
    }

    /// A level's frames, leaf first, as bcc's text output lists them.
    func leafFirst(_ level: StackSamples.Level) -> [String] {
        let user = userStacks ? symbolizer.userFrames(level) : []
        let kernel = kernelStacks ? symbolizer.kernelFrames(level) : []
        return kernel + (delimited && !user.isEmpty && !kernel.isEmpty ? ["--"] : []) + user
    }

    /// Prints folded lines, merging stacks that symbolize alike (different addresses in one
    /// function), smallest first.
    func printFolded(_ lines: [(frames: [String], value: UInt64)]) {
        var totals: [String: UInt64] = [:]
        var order: [String] = []
        for (frames, value) in lines {
            let text = frames.map { $0.replacing(";", with: ":") }.joined(separator: ";")
            if totals[text] == nil { order.append(text) }
            totals[text, default: 0] += value
        }
        for text in order.sorted(by: { (totals[$0]!, $0) < (totals[$1]!, $1) }) { output.line("\(text) \(totals[text]!)") }
    }

    /// One-level stacks (profile, offcputime): bcc's text, folded or JSON, smallest first.
    func printSingle(_ samples: StackSamples, folded: Bool, json: Bool, valueName: String) {
        if folded {
            printFolded(samples.stacks.map { ([$0.levels[0].comm] + rootFirst($0.levels[0]), $0.value) })
            return
        }
        for stack in samples.stacks.sorted(by: { $0.value < $1.value }) {
            let level = stack.levels[0]
            if json {
                output.line(JSON.object([
                    ("pid", .unsigned(UInt64(level.pid))), ("comm", .string(level.comm)), (valueName, .unsigned(stack.value)),
                    ("user_stack", userStacks ? .array(symbolizer.userFrames(level).map(JSON.string)) : .null),
                    ("kernel_stack", kernelStacks ? .array(symbolizer.kernelFrames(level).map(JSON.string)) : .null),
                ]).serialized())
            } else {
                var text = ""
                for frame in leafFirst(level) { text += "    \(frame)\n" }
                text += "    \(Columns.left("-", 16)) \(level.comm) (\(level.pid))\n        \(stack.value)\n"
                output.line(text)
            }
        }
    }
}
