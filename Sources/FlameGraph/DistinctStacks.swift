/// The stacks an ``InternedStacks`` holds, by a hash of their name ids, so that a stack seen
/// before (unaggregated profiles repeat theirs, often too far apart for ``RepeatedStacks``)
/// is held once. It switches itself off when the first stacks show few repeats.
struct DistinctStacks {
    /// Open addressing, linear probing: the hash's high half over `stack + 1`, 0 for empty.
    private var slots = RawArray<UInt64>(zeroed: 1 << 12)
    private var mask = (1 << 12) - 1
    /// Each stack's hash, for growing the table.
    private var hashes = RawArray<UInt64>(capacity: 1 << 12)
    private var enabled = true
    private var lookups = 0
    private var hits = 0

    func deallocate() {
        slots.deallocate()
        hashes.deallocate()
    }

    /// An earlier stack with the ids `ids[0 ..< count]`, or nil after recording them as
    /// stack `stack` (stack `s` starts at `ids' array[starts[s]]`, where `ids` is the end).
    @inline(__always)
    mutating func lookup(_ ids: UnsafePointer<UInt32>, _ count: Int, _ stack: Int, _ starts: UnsafePointer<Int>) -> Int? {
        guard enabled else { return nil }
        lookups += 1
        if lookups == 16384, hits * 20 < lookups {
            // Hardly any repeats: stop paying for them.
            enabled = false
            slots.deallocate()
            hashes.deallocate()
            slots = RawArray(capacity: 4)
            hashes = RawArray(capacity: 4)
            return nil
        }
        let hash = FrameNames.hash(UnsafeRawPointer(ids).assumingMemoryBound(to: UInt8.self), 4 * count)
        let tag = hash >> 32
        let base = ids - starts[stack]
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let entry = slots[slot]
            if entry == 0 { break }
            if entry >> 32 == tag {
                let earlier = Int(truncatingIfNeeded: entry & 0xFFFF_FFFF) - 1
                let start = starts[earlier]
                if starts[earlier + 1] - start == count,
                   FrameNames.equal(UnsafeRawPointer(base + start).assumingMemoryBound(to: UInt8.self),
                                    UnsafeRawPointer(ids).assumingMemoryBound(to: UInt8.self), 4 * count) {
                    hits += 1
                    return earlier
                }
            }
            slot = (slot + 1) & mask
        }
        slots[slot] = tag << 32 | UInt64(stack + 1)
        hashes.append(hash)
        if hashes.count * 2 > mask { grow() }
        return nil
    }

    private mutating func grow() {
        let capacity = (mask + 1) * 2
        slots.deallocate()
        slots = RawArray(zeroed: capacity)
        mask = capacity - 1
        for stack in 0..<hashes.count {
            let hash = hashes[stack]
            var slot = Int(truncatingIfNeeded: hash) & mask
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = (hash >> 32) << 32 | UInt64(stack + 1)
        }
    }
}
