import BPFKit
import Report
import ToolEvents

/// Memory allocated and not yet freed, summed by the stack that allocated it: memleak's
/// report, and the shape of a heap profile (pprof's `inuse_space` and `inuse_objects`
/// sample values per stack).
struct OutstandingAllocations {
    struct Stack {
        /// The allocating stack (user frames in user mode, kernel frames in kernel mode),
        /// as the other stack tools keep theirs, so the shared symbolizer and printer apply.
        var level: StackSamples.Level
        var bytes: UInt64
        var allocations: UInt64
    }

    /// One allocation, for -a.
    struct Allocation {
        var address: UInt64
        var size: UInt64
    }

    /// Smallest total first, as bcc prints them (the largest lands last, near the prompt).
    var stacks: [Stack] = []
    /// Every allocation counted in `stacks` (only when read from the allocations), smallest first.
    var allocations: [Allocation] = []

    /// Which stacks an allocation's `stack_id` names.
    enum Mode {
        case user(pid: UInt32)
        case kernel
    }

    /// Sums the allocations at least `minimumAgeNanoseconds` old from the `allocs` map.
    /// `copied`: the frames of pseudo stack ids (--unwind dwarf/auto).
    static func read(from object: BPFObject, mode: Mode, minimumAgeNanoseconds: UInt64,
                     copied: CopiedAllocationStacks? = nil) throws -> OutstandingAllocations {
        let allocs = try TypedMap<UInt64, alloc_info>(object.map("allocs"))
        let now = Clock.monotonicNanoseconds()
        var sums: [Int32: (bytes: UInt64, allocations: UInt64)] = [:]
        var result = OutstandingAllocations()
        for (address, info) in try allocs.entries() {
            let age = now >= info.timestamp_ns ? now - info.timestamp_ns : 0
            if age < minimumAgeNanoseconds { continue }
            sums[info.stack_id, default: (0, 0)].bytes += info.size
            sums[info.stack_id, default: (0, 0)].allocations += 1
            result.allocations.append(Allocation(address: address, size: info.size))
        }
        result.allocations.sort { ($0.size, $0.address) < ($1.size, $1.address) }
        try result.fill(from: object, mode: mode, sums: sums, copied: copied)
        return result
    }

    /// The per-stack sums the kernel keeps (`combined_allocs`): no ages, no addresses.
    static func readCombined(from object: BPFObject, mode: Mode, copied: CopiedAllocationStacks? = nil) throws -> OutstandingAllocations {
        let combined = try TypedMap<Int32, combined_alloc_info>(object.map("combined_allocs"))
        var sums: [Int32: (bytes: UInt64, allocations: UInt64)] = [:]
        for (id, info) in try combined.entries() where info.number_of_allocs > 0 && info.number_of_allocs < 1 << 63 {
            sums[id] = (info.total_size, info.number_of_allocs)
        }
        var result = OutstandingAllocations()
        try result.fill(from: object, mode: mode, sums: sums, copied: copied)
        return result
    }

    /// Turns the sums by stack id into stacks, summing ids whose frames are the same (the
    /// pseudo ids of copied stacks: one per allocation).
    private mutating func fill(from object: BPFObject, mode: Mode, sums: [Int32: (bytes: UInt64, allocations: UInt64)],
                               copied: CopiedAllocationStacks?) throws {
        let stackMap = try StackTraceMap(object.map("stack_traces"))
        var byLevel: [StackSamples.Level: (bytes: UInt64, allocations: UInt64)] = [:]
        for (id, sum) in sums {
            let level: StackSamples.Level
            switch mode {
            case .user(let pid) where CopiedAllocationStacks.isPseudo(id):
                // No frames: the copy was lost (ring full), shown as [Missed User Stack].
                let frames = copied?.frames(id)
                level = StackSamples.Level(pid: pid, comm: "", userStack: frames?.addresses ?? [], kernelStack: [],
                                           userStackError: frames == nil ? Int32(UNWIND_COPIED) : 0,
                                           kernelStackError: StackSamples.efault, userStackTruncated: frames?.truncated ?? false)
            case .user(let pid):
                level = StackSamples.Level(pid: pid, comm: "", userStack: try stackMap.frames(id: id), kernelStack: [],
                                           userStackError: min(id, 0), kernelStackError: StackSamples.efault)
            case .kernel:
                level = StackSamples.Level(pid: 0, comm: "", userStack: [], kernelStack: try stackMap.frames(id: id),
                                           userStackError: StackSamples.efault, kernelStackError: min(id, 0))
            }
            byLevel[level, default: (0, 0)].bytes += sum.bytes
            byLevel[level, default: (0, 0)].allocations += sum.allocations
        }
        for (level, sum) in byLevel { stacks.append(Stack(level: level, bytes: sum.bytes, allocations: sum.allocations)) }
        stacks.sort { ($0.bytes, $0.allocations) < ($1.bytes, $1.allocations) }
    }

    /// The `count` largest stacks, still smallest first.
    func top(_ count: Int) -> ArraySlice<Stack> { stacks.suffix(count) }
}
