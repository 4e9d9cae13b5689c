extension FrameTree {
    /// One sorted run of stacks for ``build(sortedRuns:names:asBaseline:)``: an
    /// ``InternedStacks`` whose ids are ranks, and its stacks' order.
    struct SortedRun {
        let stacks: InternedStacks
        let order: RawArray<UInt32>
    }

    /// The tree of stacks given as sorted runs of name ranks (ids of `names`, which are in
    /// byte order), built in one pass that merges the runs: a frame past the part a stack
    /// shares with the one before it is new, so nodes are only appended (no hashing, no
    /// look-up), and come out in sorted preorder (``isSortedPreorder``).
    static func build(sortedRuns runs: [SortedRun], names: FrameNames, asBaseline: Bool) -> FrameTree {
        let tree = FrameTree(merging: .everywhere)
        var storage = tree.storage
        storage.names.deallocate()
        storage.names = names
        var frameTotal = 0
        for run in runs { frameTotal += run.stacks.frames.count }
        // At most one node per frame (pages not reached are never touched).
        storage.links.reserve(frameTotal + 1)
        storage.counts.reserve(frameTotal + 1)

        var path = RawArray<UInt32>(capacity: 256)
        defer { path.deallocate() }
        var previous: UnsafePointer<UInt32>?
        var previousLength = 0
        var heads = runs.map { _ in 0 }
        let readAhead = 8
        var touched: UInt64 = 0
        while true {
            // The run whose next stack comes first.
            var chosen = -1
            for index in runs.indices where heads[index] < runs[index].order.count {
                guard chosen >= 0 else {
                    chosen = index
                    continue
                }
                let a = runs[chosen].stacks
                let b = runs[index].stacks
                if RankSorter.compare(b.frames.base, b.starts.base, Int(runs[index].order[heads[index]]),
                                      a.frames.base, a.starts.base, Int(runs[chosen].order[heads[chosen]])) < 0 {
                    chosen = index
                }
            }
            guard chosen >= 0 else { break }
            let stacks = runs[chosen].stacks
            let order = runs[chosen].order
            let stack = Int(order[heads[chosen]])
            heads[chosen] += 1
            if heads[chosen] + readAhead < order.count {
                // Sorted order visits the stacks anywhere in the run: load one a few places
                // ahead now, so its cache misses overlap with this stack's work.
                let next = Int(order[heads[chosen] + readAhead])
                let start = stacks.starts[next]
                touched &+= UInt64(stacks.frames[start]) &+ UInt64(stacks.frames[min(start + 16, stacks.starts[next + 1] - 1)])
                    &+ stacks.counts[next].bitPattern &+ stacks.befores[next].bitPattern
            }
            let start = stacks.starts[stack]
            let length = stacks.starts[stack + 1] - start
            let frames = stacks.frames.base + start
            let common = previous.map { RankSorter.commonPrefix($0, frames, from: 0, limit: min(previousLength, length)) } ?? 0
            path.removeLast(path.count - common)
            var node = common == 0 ? FrameTree.root : path[common - 1]
            for depth in common..<length {
                node = storage.appendUnindexed(parent: node, frame: frames[depth])
                path.append(node)
            }
            previous = UnsafePointer(frames)
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
        tree.sink = touched  // (keeps the loads)
        return tree
    }
}
