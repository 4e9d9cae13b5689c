/// Puts the stacks of a block of folded text in frame-wise order (the order
/// ``FoldedParser`` builds a tree fastest in: a frame past the part a stack shares with the
/// one before it is new, so it needs no look-up).
///
/// Frame-wise order is byte order with `;` below every other byte and the stack's end below
/// `;` (a frame that is a prefix of another comes first; so does a stack that is a prefix of
/// another). Plain byte order is not it: `a.b;c` would come before `a;d`.
///
/// The sort is a multikey quicksort over 8-byte keys: each stack carries the 8 bytes at the
/// current depth, mapped to that order and read as one big-endian integer, so most steps
/// compare integers in a flat array instead of following pointers into the text; a group
/// whose keys are equal moves on to the next 8 bytes. Stacks that share long prefixes (as
/// profiles do) cost a pass per 8 shared bytes, not a comparison of their whole prefix
/// per step.
struct StackSorter {
    /// One stack being sorted: its key at the current depth and its index.
    private struct Entry {
        var key: UInt64
        var stack: UInt32
    }

    private let text: UnsafePointer<UInt8>
    private let starts: UnsafePointer<Int>
    private let lengths: UnsafePointer<Int>
    private let entries: UnsafeMutablePointer<Entry>
    /// Where ``touch(_:_:at:)`` puts what it read, so the loads are not optimised away.
    private let sink: UnsafeMutablePointer<UInt8>

    /// Below this many, a group is sorted by insertion with whole comparisons.
    private static let insertionLimit = 12

    private init(text: UnsafePointer<UInt8>, starts: UnsafePointer<Int>, lengths: UnsafePointer<Int>,
                 entries: UnsafeMutablePointer<Entry>, sink: UnsafeMutablePointer<UInt8>) {
        self.text = text
        self.sink = sink
        self.starts = starts
        self.lengths = lengths
        self.entries = entries
    }

    /// The indices `0 ..< count` of the stacks `text[starts[i] ..< starts[i] + lengths[i]]`
    /// in frame-wise order (equal stacks keep no particular order), written to `order`.
    static func sort(text: UnsafePointer<UInt8>, starts: UnsafePointer<Int>, lengths: UnsafePointer<Int>, count: Int,
                     into order: UnsafeMutablePointer<UInt32>) {
        let entries = UnsafeMutablePointer<Entry>.allocate(capacity: max(count, 1))
        let sink = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        sink.initialize(to: 0)
        defer {
            entries.deallocate()
            sink.deallocate()
        }
        let sorter = StackSorter(text: text, starts: starts, lengths: lengths, entries: entries, sink: sink)
        for index in 0..<count {
            entries[index] = Entry(key: sorter.key(UInt32(index), depth: 0), stack: UInt32(index))
        }
        sorter.sort(0, count, depth: 0)
        for index in 0..<count { order[index] = entries[index].stack }
    }

    /// Whether the stacks are already in frame-wise order (as stackcollapse writes them):
    /// then sorting is skipped. Stops at the first pair out of order.
    static func isSorted(text: UnsafePointer<UInt8>, starts: UnsafePointer<Int>, lengths: UnsafePointer<Int>, count: Int) -> Bool {
        guard count > 1 else { return true }
        for index in 1..<count {
            let order = compare(text + starts[index - 1], Int(lengths[index - 1]), text + starts[index], Int(lengths[index]), from: 0)
            if order > 0 { return false }
        }
        return true
    }

    // MARK: Keys

    /// The 8 bytes of stack `stack` from `depth` on, mapped to frame-wise order, big-endian;
    /// bytes past the stack's end are 0. A key whose last byte is 0 holds the stack's end.
    @inline(__always)
    private func key(_ stack: UInt32, depth: Int) -> UInt64 {
        let start = text + starts[Int(stack)]
        let remaining = Int(lengths[Int(stack)]) - depth
        if remaining >= 8 {
            return Self.mapped(UInt64(bigEndian: UnsafeRawPointer(start + depth).loadUnaligned(as: UInt64.self)))
        }
        guard remaining > 0 else { return 0 }
        var raw: UInt64 = 0
        for index in 0..<remaining { raw |= UInt64(start[depth + index]) << (56 - 8 * index) }
        return Self.mapped(raw) & ~(UInt64.max >> (8 * remaining))
    }

    /// Maps each byte of `word` to frame-wise order, all at once: `;` to 1, bytes below `;`
    /// up by one, the rest as they are, so 0 is left for "past the end". (A NUL byte maps to
    /// 1 like `;`; the parser notices the order break such a rare stack makes and copes.)
    @inline(__always)
    static func mapped(_ word: UInt64) -> UInt64 {
        let high: UInt64 = 0x8080_8080_8080_8080
        let low: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
        // High bit set in each byte >= 0x3B (0x80 - 0x3B = 0x45), and in each byte == 0x3B.
        let atLeast = (((word & low) &+ 0x4545_4545_4545_4545) | word) & high
        let flipped = word ^ 0x3B3B_3B3B_3B3B_3B3B
        let separator = ~(((flipped & low) &+ low) | flipped | low) & high
        let raised = word &+ ((~atLeast & high) >> 7)
        let ones = separator >> 7
        return (raised & ~(ones &* 0xFF)) | ones
    }

    /// The frame-wise order of two stacks that agree on their first `depth` bytes:
    /// negative, zero or positive. Compares raw bytes 8 at a time and maps only the first
    /// byte that differs.
    @inline(__always)
    static func compare(_ a: UnsafePointer<UInt8>, _ aLength: Int, _ b: UnsafePointer<UInt8>, _ bLength: Int, from depth: Int) -> Int {
        let limit = min(aLength, bLength)
        var index = depth
        while index + 8 <= limit {
            let difference = UnsafeRawPointer(a + index).loadUnaligned(as: UInt64.self)
                ^ UnsafeRawPointer(b + index).loadUnaligned(as: UInt64.self)
            if difference != 0 {
                index += difference.trailingZeroBitCount / 8
                return Int(rank(a[index])) - Int(rank(b[index]))
            }
            index += 8
        }
        while index < limit, a[index] == b[index] { index += 1 }
        let left = index < aLength ? Int(rank(a[index])) : 0
        let right = index < bLength ? Int(rank(b[index])) : 0
        return left - right
    }

    /// One byte's place in frame-wise order (as ``mapped(_:)`` does for 8).
    @inline(__always)
    static func rank(_ byte: UInt8) -> UInt8 {
        byte == 0x3B || byte == 0 ? 1 : byte < 0x3B ? byte + 1 : byte
    }

    // MARK: Sorting

    @inline(__always)
    private func swapAt(_ i: Int, _ j: Int) {
        let entry = entries[i]
        entries[i] = entries[j]
        entries[j] = entry
    }

    /// Sorts `entries[low ..< high]`, which agree on their first `depth` bytes and carry
    /// their keys at `depth`.
    private func sort(_ low: Int, _ high: Int, depth: Int) {
        var low = low
        var high = high
        var depth = depth
        while high - low > 1 {
            if high - low <= Self.insertionLimit { return insertionSort(low, high, depth: depth) }
            let pivot = Self.median(entries[low].key, entries[(low + high) / 2].key, entries[high - 1].key)
            // Three ways: below, equal to and above the pivot.
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
            // The equal group: done if the stacks end within the key, else on to where its
            // stacks first differ (at least 8 bytes on). Finding that reads each stack once,
            // front to back, rather than once per 8 bytes: profiles' stacks share long
            // prefixes, and each read of a stack far away in the text is a cache miss.
            if pivot & 0xFF == 0 { return }
            depth = advance(below, above, from: depth + 8)
            low = below
            high = above
        }
    }

    /// Moves the group `entries[low ..< high]`, whose stacks share their first `depth`
    /// bytes, on to the first byte where they do not all agree, and loads their keys there;
    /// returns that depth.
    ///
    /// Each stack is compared with the first one once; a stack that agrees with it for 8
    /// bytes past the new depth has the same key, and only the others are read again.
    private func advance(_ low: Int, _ high: Int, from depth: Int) -> Int {
        let first = Int(entries[low].stack)
        let reference = text + starts[first]
        let referenceLength = lengths[first]
        var shared = referenceLength
        var block = low + 1
        while block < high {
            let blockEnd = min(block + Self.touchBlock, high)
            touch(block, blockEnd, at: depth)
            for position in block..<blockEnd {
                let stack = Int(entries[position].stack)
                let limit = min(referenceLength, lengths[stack], shared + 8)
                let common = Self.commonPrefix(reference, text + starts[stack], from: depth, limit: limit)
                entries[position].key = UInt64(common)  // until the keys are loaded below
                shared = min(shared, common)
            }
            block = blockEnd
        }
        let sharedKey = key(UInt32(first), depth: shared)
        entries[low].key = sharedKey
        for position in (low + 1)..<high {
            let agreed = Int(entries[position].key)
            entries[position].key = agreed >= shared + 8 ? sharedKey : key(entries[position].stack, depth: shared)
        }
        return shared
    }

    /// How many stacks' bytes are touched ahead at a time (see ``touch(_:_:at:)``).
    private static let touchBlock = 16

    /// Reads one byte of each stack of `entries[low ..< high]` at `depth` (or its end), in
    /// a loop of independent loads: the stacks lie anywhere in the text, and so their cache
    /// misses overlap instead of each waiting for the one before.
    @inline(__always)
    private func touch(_ low: Int, _ high: Int, at depth: Int) {
        var touched: UInt8 = 0
        for position in low..<high {
            let stack = Int(entries[position].stack)
            touched &+= text[starts[stack] + min(depth, max(lengths[stack] - 1, 0))]
        }
        sink.pointee &+= touched
    }

    /// The length of the common prefix of `a` and `b` (known to share `depth` bytes), at most `limit`.
    @inline(__always)
    private static func commonPrefix(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, from depth: Int, limit: Int) -> Int {
        var index = depth
        while index + 8 <= limit {
            let difference = UnsafeRawPointer(a + index).loadUnaligned(as: UInt64.self)
                ^ UnsafeRawPointer(b + index).loadUnaligned(as: UInt64.self)
            if difference != 0 { return index + difference.trailingZeroBitCount / 8 }
            index += 8
        }
        while index < limit, a[index] == b[index] { index += 1 }
        return max(index, depth)
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
        if a.key & 0xFF == 0 { return false }
        let aStack = Int(a.stack)
        let bStack = Int(b.stack)
        return Self.compare(text + starts[aStack], Int(lengths[aStack]), text + starts[bStack], Int(lengths[bStack]), from: depth + 8) < 0
    }

    @inline(__always)
    private static func median(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64 {
        a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b))
    }
}
