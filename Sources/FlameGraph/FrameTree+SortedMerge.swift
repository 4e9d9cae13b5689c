extension FrameTree {
    /// Whether the nodes are in preorder with siblings in name order, as a tree built from
    /// frame-wise sorted stacks is (``Storage/inOrder``): such trees merge in one walk.
    var isSortedPreorder: Bool { merging == .everywhere && (storage.inOrder || nodeCount == 1) }

    /// Merges two sorted-preorder trees (see ``isSortedPreorder``) into a new one of the same
    /// kind, in one walk over both: where both have children under a merged node, their
    /// lists are merged by name like two sorted runs; a subtree only one side has is copied
    /// as the contiguous block of nodes it is. No hashing and no look-up index, and memory is
    /// read front to back.
    static func mergeSorted(_ first: FrameTree, _ second: FrameTree) -> FrameTree {
        precondition(first.isSortedPreorder && second.isSortedPreorder)
        let a = first.storage
        let b = second.storage
        let result = FrameTree(merging: .everywhere)
        var storage = result.storage
        defer { result.storage = storage }

        // Names: the first tree's ids stay; the second's are mapped. Siblings are in byte
        // order of their names.
        storage.names.deallocate()
        storage.names = a.names.copy()
        let secondNames = RawArray<UInt32>(zeroed: b.names.count)
        defer { secondNames.deallocate() }
        for id in 0..<b.names.count {
            let name = b.names.name(UInt32(id))
            secondNames[id] = storage.names.intern(name.baseAddress!, name.count, hash: b.names.hashes[id])
        }
        let aEnds = Self.subtreeEnds(a)
        let bEnds = Self.subtreeEnds(b)
        defer {
            aEnds.deallocate()
            bEnds.deallocate()
        }

        let withBaseline = a.hasBaseline || b.hasBaseline
        if withBaseline { storage.startBaseline() }
        let capacity = a.nodeCount + b.nodeCount
        storage.links.reserve(capacity)
        storage.counts.reserve(capacity)
        if withBaseline { storage.baseline.reserve(capacity) }
        storage.counts[0] = a.counts[0] + b.counts[0]
        if withBaseline { storage.baseline[0] = Self.baseline(a, 0) + Self.baseline(b, 0) }

        // Each level being merged: the next child on each side, where the lists end, and
        // the merged parent.
        struct Level {
            var a: Int
            var aEnd: Int
            var b: Int
            var bEnd: Int
            var parent: UInt32
        }
        var levels = [Level(a: 1, aEnd: a.nodeCount, b: 1, bEnd: b.nodeCount, parent: FrameTree.root)]
        while var level = levels.popLast() {
            while level.a < level.aEnd, level.b < level.bEnd {
                let aFrame = a.links[level.a].frame
                let bFrame = secondNames[Int(b.links[level.b].frame)]
                if aFrame == bFrame {
                    let node = storage.appendUnindexed(parent: level.parent, frame: aFrame)
                    storage.counts[Int(node)] = a.counts[level.a] + b.counts[level.b]
                    if withBaseline { storage.baseline[Int(node)] = Self.baseline(a, level.a) + Self.baseline(b, level.b) }
                    let inner = Level(a: level.a + 1, aEnd: Int(aEnds[level.a]), b: level.b + 1, bEnd: Int(bEnds[level.b]), parent: node)
                    level.a = Int(aEnds[level.a])
                    level.b = Int(bEnds[level.b])
                    // Finish the children first (preorder), then come back for the siblings.
                    levels.append(level)
                    level = inner
                } else if storage.names.precedes(aFrame, bFrame) {
                    Self.copy(a, level.a, Int(aEnds[level.a]), under: level.parent, names: nil, into: &storage)
                    level.a = Int(aEnds[level.a])
                } else {
                    Self.copy(b, level.b, Int(bEnds[level.b]), under: level.parent, names: secondNames, into: &storage)
                    level.b = Int(bEnds[level.b])
                }
            }
            if level.a < level.aEnd { Self.copy(a, level.a, level.aEnd, under: level.parent, names: nil, into: &storage) }
            if level.b < level.bEnd { Self.copy(b, level.b, level.bEnd, under: level.parent, names: secondNames, into: &storage) }
        }
        storage.markSortedPreorder()
        return result
    }

    @inline(__always)
    private static func baseline(_ storage: Storage, _ node: Int) -> Double {
        storage.hasBaseline ? storage.baseline[node] : 0
    }

    /// Appends the nodes `source[start ..< end]` (whole subtrees, in preorder) under
    /// `parent`, their names mapped through `names` (nil: the same ids).
    private static func copy(_ source: Storage, _ start: Int, _ end: Int, under parent: UInt32, names: RawArray<UInt32>?,
                             into storage: inout Storage) {
        let offset = storage.nodeCount - start
        let withBaseline = storage.hasBaseline
        for node in start..<end {
            let link = source.links[node]
            let sourceParent = Int(link.parent)
            let newParent = sourceParent >= start ? UInt32(sourceParent + offset) : parent
            let frame = names.map { $0[Int(link.frame)] } ?? link.frame
            let copied = Int(storage.appendUnindexed(parent: newParent, frame: frame))
            storage.counts[copied] = source.counts[node]
            if withBaseline { storage.baseline[copied] = baseline(source, node) }
        }
    }

    /// For each node of a preorder tree, the id just past its subtree.
    private static func subtreeEnds(_ storage: Storage) -> RawArray<UInt32> {
        let count = storage.nodeCount
        let ends = RawArray<UInt32>(zeroed: count)
        for node in 0..<count { ends[node] = 1 }  // subtree sizes first
        var node = count - 1
        while node > 0 {
            ends[Int(storage.links[node].parent)] += ends[node]
            node -= 1
        }
        for node in 0..<count { ends[node] += UInt32(node) }
        return ends
    }
}

extension FrameTree.Storage {
    /// Records that the nodes are in sorted preorder (see ``FrameTree/isSortedPreorder``),
    /// with what ``FrameTree/merge(from:)`` needs to append another such tree of later
    /// stacks without look-ups: the last stack's nodes (the path to the last node) and the
    /// length of the first (the chain of nodes 1, 2, … down to the first leaf).
    mutating func markSortedPreorder() {
        guard nodeCount > 1 else { return }
        dropIndex()
        inOrder = true
        var path: [UInt32] = []
        var node = UInt32(nodeCount - 1)
        while node != FrameTree.root {
            path.append(node)
            node = links[Int(node)].parent
        }
        lastPath = path.reversed()
        var first = 1
        while first + 1 < nodeCount, links[first + 1].parent == UInt32(first) { first += 1 }
        firstPathLength = first
    }
}
