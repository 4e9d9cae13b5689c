extension FrameTree {
    /// The tree of stacks given as runs of name ranks (ids of `names`, which are in byte
    /// order), each run's stacks in frame-wise order (see ``InternedStacks/arrange(_:)``),
    /// built in one pass that merges the runs: a frame past the part a stack shares with
    /// the one before it is new, so nodes are only appended (no hashing, no look-up), and
    /// come out in sorted preorder (``isSortedPreorder``). Every run is read front to back.
    static func build(sortedRuns runs: UnsafeMutableBufferPointer<InternedStacks>, names: FrameNames, asBaseline: Bool) -> FrameTree {
        let tree = FrameTree(merging: .everywhere)
        var storage = tree.storage
        storage.names.deallocate()
        storage.names = names
        var frameTotal = 0
        for run in runs { frameTotal += run.frames.count }
        // At most one node per frame (pages not reached are never touched).
        storage.links.reserve(frameTotal + 1)
        storage.counts.reserve(frameTotal + 1)

        var path = RawArray<UInt32>(capacity: 256)
        defer { path.deallocate() }
        var previous: UnsafePointer<UInt32>?
        var previousLength = 0
        var heads = runs.map { _ in 0 }
        while true {
            // The run whose next stack comes first.
            var chosen = -1
            for index in runs.indices where heads[index] < runs[index].stackCount {
                guard chosen >= 0 else {
                    chosen = index
                    continue
                }
                let a = runs[chosen]
                let b = runs[index]
                if RankSorter.compare(b.frames.base, b.starts.base, heads[index], a.frames.base, a.starts.base, heads[chosen]) < 0 {
                    chosen = index
                }
            }
            guard chosen >= 0 else { break }
            let stacks = runs[chosen]
            let stack = heads[chosen]
            heads[chosen] += 1
            let start = stacks.starts[stack]
            let length = stacks.starts[stack + 1] - start
            let frames = UnsafePointer(stacks.frames.base + start)
            let common = previous.map { RankSorter.commonPrefix($0, frames, from: 0, limit: min(previousLength, length)) } ?? 0
            path.removeLast(path.count - common)
            var node = common == 0 ? FrameTree.root : path[common - 1]
            if common < length {
                // The new frames: a chain of new nodes, each under the one before.
                let added = length - common
                let first = UInt32(storage.nodeCount)
                let links = storage.links.appendUninitialized(added)
                let counts = storage.counts.appendUninitialized(added)
                let nodes = path.appendUninitialized(added)
                for index in 0..<added {
                    links[index] = Link(parent: node, frame: frames[common + index])
                    counts[index] = 0
                    node = first + UInt32(index)
                    nodes[index] = node
                }
                if storage.hasBaseline { storage.baseline.resize(to: storage.nodeCount, filling: 0) }
            }
            previous = frames
            previousLength = length
            let leaf = Int(node)
            let count = stacks.counts[stack]
            let before = stacks.befores[stack]
            if !before.isNaN {
                storage.startBaseline()
                storage.baseline[leaf] += before
                storage.counts[leaf] += count
            } else if asBaseline {
                storage.startBaseline()
                storage.baseline[leaf] += count
            } else {
                storage.counts[leaf] += count
            }
        }
        storage.markSortedPreorder()
        tree.storage = storage
        return tree
    }
}
