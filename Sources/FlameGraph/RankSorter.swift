/// Puts stacks given as runs of name ranks (see ``InternedStacks``) in frame-wise order:
/// rank by rank, a stack before the longer stacks it is a prefix of.
///
/// A multikey quicksort: each stack carries a key of its next two ranks (plus one, so that 0
/// means "past the end"), so most steps compare integers in one flat array; a group whose
/// keys are equal moves on to the first depth where its stacks differ, reading each stack
/// once rather than once per two frames (profiles' stacks share long prefixes).
struct RankSorter {
    private struct Entry {
        var key: UInt64
        var stack: UInt32
    }

    private let frames: UnsafePointer<UInt32>
    private let starts: UnsafePointer<Int>
    private let entries: UnsafeMutablePointer<Entry>

    /// Where ``advance(_:_:from:)``'s read-ahead goes, so the loads are not optimised away.
    private let sink: UnsafeMutablePointer<UInt32>
    /// How many stacks' ranks are read ahead at a time.
    private static let touchBlock = 16

    /// Below this many, a group is sorted by insertion with whole comparisons.
    private static let insertionLimit = 12

    /// The stacks `0 ..< count` (stack `s` is `frames[starts[s] ..< starts[s + 1]]`) in
    /// frame-wise order, written to `order`; equal stacks keep no particular order.
    static func sort(frames: UnsafePointer<UInt32>, starts: UnsafePointer<Int>, count: Int, into order: UnsafeMutablePointer<UInt32>) {
        let entries = UnsafeMutablePointer<Entry>.allocate(capacity: max(count, 1))
        let sink = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
        sink.initialize(to: 0)
        defer {
            entries.deallocate()
            sink.deallocate()
        }
        let sorter = RankSorter(frames: frames, starts: starts, entries: entries, sink: sink)
        for index in 0..<count { entries[index] = Entry(key: sorter.key(UInt32(index), depth: 0), stack: UInt32(index)) }
        sorter.sort(0, count, depth: 0)
        for index in 0..<count { order[index] = entries[index].stack }
    }

    /// Whether stacks `0 ..< count` are in frame-wise order already (as stackcollapse
    /// writes them): then there is nothing to sort.
    static func isSorted(frames: UnsafePointer<UInt32>, starts: UnsafePointer<Int>, count: Int) -> Bool {
        guard count > 1 else { return true }
        for stack in 1..<count where compare(frames, starts, stack - 1, frames, starts, stack) > 0 { return false }
        return true
    }

    /// The frame-wise order of two stacks (of possibly different arrays): negative, zero or
    /// positive.
    @inline(__always)
    static func compare(_ aFrames: UnsafePointer<UInt32>, _ aStarts: UnsafePointer<Int>, _ a: Int,
                        _ bFrames: UnsafePointer<UInt32>, _ bStarts: UnsafePointer<Int>, _ b: Int, from depth: Int = 0) -> Int {
        let aStart = aStarts[a]
        let bStart = bStarts[b]
        let aLength = aStarts[a + 1] - aStart
        let bLength = bStarts[b + 1] - bStart
        let common = commonPrefix(aFrames + aStart, bFrames + bStart, from: depth, limit: min(aLength, bLength))
        if common < aLength, common < bLength { return aFrames[aStart + common] < bFrames[bStart + common] ? -1 : 1 }
        return aLength - bLength
    }

    /// How many leading ranks `a` and `b` (known to share `depth`) share, at most `limit`.
    @inline(__always)
    static func commonPrefix(_ a: UnsafePointer<UInt32>, _ b: UnsafePointer<UInt32>, from depth: Int, limit: Int) -> Int {
        var index = depth
        let left = UnsafeRawPointer(a)
        let right = UnsafeRawPointer(b)
        while index + 2 <= limit {
            let difference = left.loadUnaligned(fromByteOffset: 4 * index, as: UInt64.self)
                ^ right.loadUnaligned(fromByteOffset: 4 * index, as: UInt64.self)
            if difference != 0 { return index + difference.trailingZeroBitCount / 32 }
            index += 2
        }
        if index < limit, a[index] == b[index] { index += 1 }
        return max(index, depth)
    }

    // MARK: Keys

    /// Ranks `depth` and `depth + 1` of a stack, each plus one (0 past its end), the first
    /// in the high half. A key whose low half is 0 holds the stack's end.
    @inline(__always)
    private func key(_ stack: UInt32, depth: Int) -> UInt64 {
        let start = starts[Int(stack)] + depth
        let end = starts[Int(stack) + 1]
        if start + 2 <= end {
            let pair = UnsafeRawPointer(frames + start).loadUnaligned(as: UInt64.self)
            // Little-endian: the first rank is the low half.
            return (pair & 0xFFFF_FFFF &+ 1) << 32 | (pair >> 32 &+ 1)
        }
        return start < end ? (UInt64(frames[start]) + 1) << 32 : 0
    }

    // MARK: Sorting

    @inline(__always)
    private func swapAt(_ i: Int, _ j: Int) {
        let entry = entries[i]
        entries[i] = entries[j]
        entries[j] = entry
    }

    /// Sorts `entries[low ..< high]`, which agree on their first `depth` ranks and carry
    /// their keys at `depth`.
    private func sort(_ low: Int, _ high: Int, depth: Int) {
        var low = low
        var high = high
        var depth = depth
        while high - low > 1 {
            if high - low <= Self.insertionLimit { return insertionSort(low, high, depth: depth) }
            let pivot = Self.median(entries[low].key, entries[(low + high) / 2].key, entries[high - 1].key)
            var below = low
            var index = low
            var above = high
            while index < above {
                let key = entries[index].key
                if key < pivot {
                    swapAt(below, index)
                    below += 1
                    index += 1
                } else if key > pivot {
                    above -= 1
                    swapAt(index, above)
                } else {
                    index += 1
                }
            }
            sort(low, below, depth: depth)
            sort(above, high, depth: depth)
            // The equal group: done if its stacks end within the key, else on to where
            // they first differ.
            if pivot & 0xFFFF_FFFF == 0 { return }
            depth = advance(below, above, from: depth + 2)
            low = below
            high = above
        }
    }

    /// Moves the group `entries[low ..< high]`, whose stacks share their first `depth`
    /// ranks, on to the first depth where they do not all agree, and loads their keys
    /// there; returns that depth. Each stack is compared with the first one once.
    private func advance(_ low: Int, _ high: Int, from depth: Int) -> Int {
        let first = Int(entries[low].stack)
        let reference = frames + starts[first]
        let referenceLength = starts[first + 1] - starts[first]
        var shared = referenceLength
        var block = low + 1
        var touched: UInt32 = 0
        while block < high {
            let blockEnd = min(block + Self.touchBlock, high)
            // The stacks lie anywhere in the run: read one rank of each first, in a loop of
            // independent loads, so their cache misses overlap instead of each waiting for
            // the one before.
            for position in block..<blockEnd {
                let stack = Int(entries[position].stack)
                touched &+= frames[min(starts[stack] + depth, starts[stack + 1] - 1)]
            }
            for position in block..<blockEnd {
                let stack = Int(entries[position].stack)
                let length = starts[stack + 1] - starts[stack]
                let limit = min(referenceLength, length, shared + 2)
                let common = Self.commonPrefix(reference, frames + starts[stack], from: depth, limit: limit)
                entries[position].key = UInt64(common)  // until the keys are loaded below
                shared = min(shared, common)
            }
            block = blockEnd
        }
        sink.pointee &+= touched
        let sharedKey = key(UInt32(first), depth: shared)
        entries[low].key = sharedKey
        for position in (low + 1)..<high {
            let agreed = Int(entries[position].key)
            entries[position].key = agreed >= shared + 2 ? sharedKey : key(entries[position].stack, depth: shared)
        }
        return shared
    }

    private func insertionSort(_ low: Int, _ high: Int, depth: Int) {
        guard high - low > 1 else { return }
        for position in (low + 1)..<high {
            let entry = entries[position]
            var target = position
            while target > low, precedes(entry, entries[target - 1], depth: depth) {
                entries[target] = entries[target - 1]
                target -= 1
            }
            entries[target] = entry
        }
    }

    @inline(__always)
    private func precedes(_ a: Entry, _ b: Entry, depth: Int) -> Bool {
        if a.key != b.key { return a.key < b.key }
        if a.key & 0xFFFF_FFFF == 0 { return false }
        return Self.compare(frames, starts, Int(a.stack), frames, starts, Int(b.stack), from: depth + 2) < 0
    }

    @inline(__always)
    private static func median(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64 {
        a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b))
    }
}
