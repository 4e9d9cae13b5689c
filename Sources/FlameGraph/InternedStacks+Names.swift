extension InternedStacks {
    /// This reader's name ids in byte order of the names (a prefix first), for
    /// ``rankNames(_:)``; each reader sorts its own, on its own thread.
    mutating func sortNames() {
        struct Entry {
            var high: UInt64
            var low: UInt64
            var id: UInt32
        }
        let count = names.count
        let entries = UnsafeMutableBufferPointer<Entry>.allocate(capacity: max(count, 1))
        defer { entries.deallocate() }
        for id in 0..<count {
            let (high, low) = Self.prefixKey(names.name(UInt32(id)))
            entries[id] = Entry(high: high, low: low, id: UInt32(id))
        }
        var sorted = UnsafeMutableBufferPointer(rebasing: entries[0..<count])
        let names = self.names
        sorted.sort { left, right in
            if left.high != right.high { return left.high < right.high }
            if left.low != right.low { return left.low < right.low }
            return FrameNames.compare(names.name(left.id), names.name(right.id)) < 0
        }
        nameOrder.deallocate()
        nameOrder = RawArray(zeroed: count)
        for index in 0..<count { nameOrder[index] = sorted[index].id }
    }

    /// The names of every reader (each with ``sortNames()`` done) in byte order, each once,
    /// as one table whose ids are those ranks; and per reader, each local id's rank.
    /// Frame-wise order of stacks is then the order of their rank sequences. The readers'
    /// sorted lists are merged.
    static func rankNames(_ readers: UnsafeMutableBufferPointer<InternedStacks>) -> (FrameNames, [RawArray<UInt32>]) {
        var names = FrameNames()
        let maps = readers.map { RawArray<UInt32>(zeroed: $0.names.count) }
        var heads = readers.map { _ in 0 }
        var previous: UnsafeBufferPointer<UInt8>?
        while true {
            // The reader whose next name comes first.
            var chosen = -1
            var chosenName = UnsafeBufferPointer<UInt8>(start: nil, count: 0)
            for index in readers.indices where heads[index] < readers[index].nameOrder.count {
                let name = readers[index].names.name(readers[index].nameOrder[heads[index]])
                if chosen < 0 || FrameNames.compare(name, chosenName) < 0 {
                    chosen = index
                    chosenName = name
                }
            }
            guard chosen >= 0 else { break }
            let id = Int(readers[chosen].nameOrder[heads[chosen]])
            heads[chosen] += 1
            if let previous, FrameNames.compare(previous, chosenName) == 0 {
                maps[chosen][id] = UInt32(names.count - 1)
            } else {
                maps[chosen][id] = names.intern(chosenName.baseAddress!, chosenName.count, hash: readers[chosen].names.hashes[id])
            }
            previous = chosenName
        }
        return (names, maps)
    }

    /// A name's first 16 bytes as two big-endian integers (zeros past its end): names whose
    /// keys differ are in key order.
    private static func prefixKey(_ name: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64) {
        var high: UInt64 = 0
        var low: UInt64 = 0
        for index in 0..<min(name.count, 8) { high |= UInt64(name[index]) << (56 - 8 * index) }
        if name.count > 8 {
            for index in 8..<min(name.count, 16) { low |= UInt64(name[index]) << (56 - 8 * (index - 8)) }
        }
        return (high, low)
    }
}
