import BPFKit
import ToolEvents

/// memleak `--unwind dwarf|auto`: the frames behind each pseudo stack id.
///
/// Design: the kernel cannot store a stack it could not walk, so `record()` keeps each
/// such allocation under a pseudo id of its own (memleak.h: `MEMLEAK_PSEUDO_FIRST` down)
/// and sends its registers and stack copy through the ring. Each copy is unwound here at
/// once, while the process still has the mappings it was taken under; the kernel maps
/// (`allocs`, `combined_allocs`) stay as with frame pointers, frees included, and a report
/// groups the ids by their frames, so identical stacks sum as they do with real stack ids.
/// Pseudo ids are never reused (until the 2^30 sequence wraps), which keeps the kernel side
/// free of races; the price is one `combined_allocs` entry and one entry here per live
/// allocation (and per allocation freed since the last prune), which ``prune(_:)``, run
/// every second, bounds by dropping every id whose allocations are all freed. Identical
/// frame lists share one array, so an entry here costs a few words. A copy the ring could
/// not take moves its allocation to `MEMLEAK_PSEUDO_LOST` (reported as [Missed User Stack]).
final class CopiedAllocationStacks {
    struct Frames: Hashable {
        var addresses: [UInt64]
        var truncated: Bool
    }

    let collector: UserStackCollector
    private var byID: [Int32: Frames] = [:]
    private var shared: [Frames: Frames] = [:]

    init(collector: UserStackCollector) {
        self.collector = collector
    }

    /// A pseudo id, `MEMLEAK_PSEUDO_LOST` included (it never has frames).
    static func isPseudo(_ id: Int32) -> Bool { id <= Int32(MEMLEAK_PSEUDO_LOST) }

    /// Processes whose mappings were read again at their first copy.
    private var seen: Set<UInt32> = []

    /// Files one sample record under the pseudo id it carries.
    func handle(_ record: UnsafeRawBufferPointer) {
        // A command's first copy: its mappings are read anew, as those read when it was
        // started held are the tracer's own (before its exec), and it has mapped its
        // libraries since (it is running malloc).
        if record.count >= MemoryLayout<unwind_sample>.size {
            let pid = record.loadUnaligned(as: unwind_sample.self).pid
            if seen.insert(pid).inserted {
                collector.symbolizer.refresh(pid: pid)
                collector.forget(pid: pid)
            }
        }
        guard let (header, sample) = collector.unwind(record) else { return }
        let id = Int32(truncatingIfNeeded: Int64(bitPattern: header.value))
        guard Self.isPseudo(id), id != Int32(MEMLEAK_PSEUDO_LOST) else { return }
        let frames = Frames(addresses: sample.userStack, truncated: sample.truncated)
        if let known = shared[frames] {
            byID[id] = known
        } else {
            shared[frames] = frames
            byID[id] = frames
        }
    }

    /// The frames unwound for `id`; nil while its copy is in flight, or if it was lost.
    func frames(_ id: Int32) -> Frames? { byID[id] }

    var count: Int { byID.count }

    /// Deletes the `combined_allocs` entries of pseudo ids with nothing outstanding (their
    /// one allocation was freed, and a pseudo id is never counted again) and forgets every
    /// pseudo id the kernel no longer holds allocations under. Entries are deleted after the
    /// walk, so the walk sees every entry that existed when it started.
    func prune(_ object: BPFObject) throws {
        let combined = try TypedMap<Int32, combined_alloc_info>(object.map("combined_allocs"))
        var empty: [Int32] = []
        var live: Set<Int32> = []
        for (id, info) in try combined.entries() where Self.isPseudo(id) && id != Int32(MEMLEAK_PSEUDO_LOST) {
            if info.number_of_allocs == 0 || info.number_of_allocs >= 1 << 63 {
                empty.append(id)
            } else {
                live.insert(id)
            }
        }
        for id in empty { _ = try? combined.delete(id) }
        byID = byID.filter { live.contains($0.key) }
        shared = [:]
        for frames in byID.values { shared[frames] = frames }
    }
}
