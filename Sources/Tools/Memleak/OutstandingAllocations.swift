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
    static func read(from object: BPFObject, mode: Mode, minimumAgeNanoseconds: UInt64) throws -> OutstandingAllocations {
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
        try result.fill(from: object, mode: mode, sums: sums)
        return result
    }

    /// The per-stack sums the kernel keeps (`combined_allocs`): no ages, no addresses.
    static func readCombined(from object: BPFObject, mode: Mode) throws -> OutstandingAllocations {
        let combined = try TypedMap<Int32, combined_alloc_info>(object.map("combined_allocs"))
        var sums: [Int32: (bytes: UInt64, allocations: UInt64)] = [:]
        for (id, info) in try combined.entries() where info.number_of_allocs > 0 && info.number_of_allocs < 1 << 63 {
            sums[id] = (info.total_size, info.number_of_allocs)
        }
        var result = OutstandingAllocations()
        try result.fill(from: object, mode: mode, sums: sums)
        return result
    }

    private mutating func fill(from object: BPFObject, mode: Mode, sums: [Int32: (bytes: UInt64, allocations: UInt64)]) throws {
        let stackMap = try StackTraceMap(object.map("stack_traces"))
        for (id, sum) in sums {
            let frames = try stackMap.frames(id: id)
            let error = min(id, 0)
            let level: StackSamples.Level
            switch mode {
            case .user(let pid):
                level = StackSamples.Level(pid: pid, comm: "", userStack: frames, kernelStack: [],
                                           userStackError: error, kernelStackError: StackSamples.efault)
            case .kernel:
                level = StackSamples.Level(pid: 0, comm: "", userStack: [], kernelStack: frames,
                                           userStackError: StackSamples.efault, kernelStackError: error)
            }
            stacks.append(Stack(level: level, bytes: sum.bytes, allocations: sum.allocations))
        }
        stacks.sort { ($0.bytes, $0.allocations) < ($1.bytes, $1.allocations) }
    }

    /// The `count` largest stacks, still smallest first.
    func top(_ count: Int) -> ArraySlice<Stack> { stacks.suffix(count) }
}
