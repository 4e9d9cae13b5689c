extension FrameTree {
    /// Whether the nodes are in preorder with siblings in name order, as a tree built from
    /// frame-wise sorted stacks is (``Storage/inOrder``): then id order is name order among
    /// siblings, and another such tree of later stacks is appended without look-ups.
    var isSortedPreorder: Bool { merging == .everywhere && (storage.inOrder || nodeCount == 1) }
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
