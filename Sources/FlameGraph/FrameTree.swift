/// Merged stacks as a trie: node 0 is the root ("all"); every other node is one frame under
/// its parent, and its count is the samples whose stack ends exactly there. Nodes live in flat
/// columns indexed by node id (parent and frame name id, counts); a child is found through
/// one open-addressing table keyed by a hash of the node's whole path (root to node), which
/// is computed from the frame bytes alone. So the table probes for the frames of one line do
/// not wait on each other, and the processor overlaps their cache misses; a hit is confirmed
/// exactly by the node's parent and name id.
///
/// A child always has a larger id than its parent, so one backward pass over the ids sums
/// counts up the tree and one forward pass visits parents before children.
///
/// In input order (flame charts) a stack merges only with the stack before it, as
/// flamegraph.pl's `--flamechart` does: a frame is looked up among its parent's *last* child
/// only, and samples ending at a frame go to a marker child (``selfMarker``) that keeps their
/// place in time among the frame's children and stops a later stack merging across them.
final class FrameTree {
    /// How children are found while merging.
    enum Merging: Sendable {
        /// Identical frames under one parent merge wherever they came from.
        case everywhere
        /// A frame merges only with its parent's most recent child (time order is kept).
        case adjacent
    }

    /// A node's place: its parent and its frame's name id.
    struct Link: BitwiseCopyable {
        var parent: UInt32
        var frame: UInt32
    }

    static let root: UInt32 = 0
    static let noFrame: UInt32 = .max
    /// The name id of a marker node: not a frame, but the samples that end at its parent.
    static let selfMarker: UInt32 = .max - 1
    /// The path hash of the root.
    static let rootPath: UInt64 = 0x6A09_E667_F3BC_C908

    /// Everything that changes while stacks are added, in one struct: the parser works on a
    /// local copy (no exclusivity checks on class properties in its inner loop) and stores
    /// it back when done.
    struct Storage {
        let merging: Merging
        var names = FrameNames()
        var links = RawArray<Link>(capacity: 1 << 12)
        /// Samples ending at each node (the "after" profile of a differential pair).
        var counts = RawArray<Double>(capacity: 1 << 12)
        /// Samples ending at each node in the baseline ("before") profile; empty until the
        /// first baseline count arrives.
        var baseline = RawArray<Double>(capacity: 4)
        var hasBaseline = false
        /// Each node's most recent child (input-order merging only).
        var lastChild = RawArray<UInt32>(capacity: 4)
        /// Path-hash index of every node but the root: the path hash's low half over the
        /// node id, 0 for empty. The low half places the entry (so growing the table needs
        /// only the entries) and tells most other paths apart; the node's link confirms.
        /// Empty (and `indexed` false) after ``FrameTree/compact()`` until needed again.
        var slots = RawArray<UInt64>(capacity: 4)
        var mask = 0
        var indexed = false
        /// Whether every stack so far arrived in frame-wise sorted order into an empty tree
        /// (see ``FoldedParser``): then no node off the last stack's path is ever revisited,
        /// so nodes are added without the index, which is built only if the order breaks.
        var inOrder = false
        /// In order: the nodes of the last stack added, root child first.
        var lastPath: [UInt32] = []
        /// In order: how many nodes the first stack made (they are nodes 1 … n).
        var firstPathLength = 0

        init(merging: Merging) {
            self.merging = merging
            links.append(Link(parent: .max, frame: FrameTree.noFrame))
            counts.append(0)
            if merging == .adjacent { lastChild.append(0) }
        }

        var nodeCount: Int { links.count }

        /// The path hash of a child whose parent's path hash is `path` and whose name hashes
        /// to `frameHash`.
        @inline(__always)
        static func extend(_ path: UInt64, _ frameHash: UInt64) -> UInt64 {
            var value = (path ^ frameHash) &* 0x9FB2_1C65_1E98_DF25
            value ^= value >> 29
            value = (value &+ 0x2545_F491_4F6C_DD1D) &* 0xBF58_476D_1CE4_E5B9
            return value ^ (value >> 32)
        }

        /// The child of `parent` (whose path hash is `parentPath`) named `frame`, added if
        /// missing; and the child's path hash.
        @inline(__always)
        mutating func child(of parent: UInt32, parentPath: UInt64, frame: UInt32) -> (UInt32, UInt64) {
            let frameHash = frame == FrameTree.selfMarker ? 0x5851_F42D_4C95_7F2D : names.hashes[Int(frame)]
            return child(of: parent, path: Self.extend(parentPath, frameHash), frame: frame)
        }

        /// The same, with the child's path hash known.
        @inline(__always)
        mutating func child(of parent: UInt32, path: UInt64, frame: UInt32) -> (UInt32, UInt64) {
            if merging == .adjacent {
                let last = lastChild[Int(parent)]
                if last != 0, links[Int(last)].frame == frame { return (last, path) }
                let node = append(parent: parent, frame: frame)
                lastChild[Int(parent)] = node
                return (node, path)
            }
            if !indexed { buildIndex(capacity: Self.indexCapacity(for: nodeCount)) }
            let tag = path & 0xFFFF_FFFF
            var slot = Int(truncatingIfNeeded: path) & mask
            while true {
                let entry = slots[slot]
                if entry == 0 { break }
                if entry >> 32 == tag {
                    let node = UInt32(truncatingIfNeeded: entry)
                    let link = links[Int(node)]
                    if link.parent == parent, link.frame == frame { return (node, path) }
                }
                slot = (slot + 1) & mask
            }
            let node = append(parent: parent, frame: frame)
            slots[slot] = tag << 32 | UInt64(node)
            // Keep the table at most 70% full.
            if nodeCount * 10 > (mask + 1) * 7 { buildIndex(capacity: (mask + 1) * 2) }
            return (node, path)
        }

        /// Adds a child known to be new (its parent is new) under its path hash.
        @inline(__always)
        mutating func addNew(parent: UInt32, path: UInt64, frame: UInt32) -> UInt32 {
            let node = append(parent: parent, frame: frame)
            var slot = Int(truncatingIfNeeded: path) & mask
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = (path & 0xFFFF_FFFF) << 32 | UInt64(node)
            if nodeCount * 10 > (mask + 1) * 7 { buildIndex(capacity: (mask + 1) * 2) }
            return node
        }

        /// Adds a child without indexing it: the caller drops the index afterwards.
        @inline(__always)
        mutating func appendUnindexed(parent: UInt32, frame: UInt32) -> UInt32 {
            append(parent: parent, frame: frame)
        }

        /// The child of `parent` named `frame` whose path hash is `path`, or 0.
        @inline(__always)
        func find(parent: UInt32, path: UInt64, frame: UInt32) -> UInt32 {
            let tag = path & 0xFFFF_FFFF
            var slot = Int(truncatingIfNeeded: path) & mask
            while true {
                let entry = slots[slot]
                if entry == 0 { return 0 }
                if entry >> 32 == tag {
                    let node = UInt32(truncatingIfNeeded: entry)
                    let link = links[Int(node)]
                    if link.parent == parent, link.frame == frame { return node }
                }
                slot = (slot + 1) & mask
            }
        }

        /// The first node whose slot carries `path`'s tag (a likely match, to be confirmed
        /// by its link), or 0.
        @inline(__always)
        func candidate(path: UInt64) -> UInt32 {
            let tag = path & 0xFFFF_FFFF
            var slot = Int(truncatingIfNeeded: path) & mask
            while true {
                let entry = slots[slot]
                if entry == 0 { return 0 }
                if entry >> 32 == tag { return UInt32(truncatingIfNeeded: entry) }
                slot = (slot + 1) & mask
            }
        }

        /// Builds the index if it was dropped (merging everywhere only).
        mutating func ensureIndex() {
            if merging == .everywhere, !indexed { buildIndex(capacity: Self.indexCapacity(for: nodeCount)) }
        }

        @inline(__always)
        private mutating func append(parent: UInt32, frame: UInt32) -> UInt32 {
            let node = UInt32(nodeCount)
            links.append(Link(parent: parent, frame: frame))
            counts.append(0)
            if hasBaseline { baseline.append(0) }
            if merging == .adjacent { lastChild.append(0) }
            return node
        }

        /// The smallest power-of-two table that holds `nodes` at most half full.
        static func indexCapacity(for nodes: Int) -> Int {
            var capacity = 1 << 12
            while capacity < nodes * 2 { capacity <<= 1 }
            return capacity
        }

        /// (Re)builds the path-hash index with `capacity` slots (a power of two, at most 2^31).
        mutating func buildIndex(capacity: Int) {
            let old = slots
            let oldIndexed = indexed
            slots = RawArray(zeroed: capacity)
            mask = capacity - 1
            indexed = true
            inOrder = false
            defer { old.deallocate() }
            if oldIndexed {
                // Growing: each entry carries the low half of its path hash, which places it.
                for index in 0..<old.count {
                    let entry = old[index]
                    if entry == 0 { continue }
                    var slot = Int(truncatingIfNeeded: entry >> 32) & mask
                    while slots[slot] != 0 { slot = (slot + 1) & mask }
                    slots[slot] = entry
                }
                return
            }
            guard nodeCount > 1 else { return }
            // From scratch: path hashes in id order (parents come first).
            let paths = RawArray<UInt64>(repeating: FrameTree.rootPath, count: nodeCount)
            defer { paths.deallocate() }
            for node in 1..<nodeCount {
                let link = links[node]
                let path = Self.extend(paths[Int(link.parent)], names.hashes[Int(link.frame)])
                paths[node] = path
                var slot = Int(truncatingIfNeeded: path) & mask
                while slots[slot] != 0 { slot = (slot + 1) & mask }
                slots[slot] = (path & 0xFFFF_FFFF) << 32 | UInt64(node)
            }
        }

        /// Drops the index (rebuilt on the next lookup).
        mutating func dropIndex() {
            guard merging == .everywhere, indexed else { return }
            slots.deallocate()
            slots = RawArray(capacity: 4)
            mask = 0
            indexed = false
        }

        /// The node that holds the samples of a stack ending at `node`: the node itself, or
        /// in input order its marker child.
        @inline(__always)
        mutating func countingNode(for node: UInt32) -> UInt32 {
            merging == .adjacent ? child(of: node, parentPath: 0, frame: FrameTree.selfMarker).0 : node
        }

        mutating func startBaseline() {
            guard !hasBaseline else { return }
            hasBaseline = true
            baseline.resize(to: nodeCount, filling: 0)
        }

        func copy() -> Storage {
            var other = self
            other.names = names.copy()
            other.links = links.copy()
            other.counts = counts.copy()
            other.baseline = baseline.copy()
            other.lastChild = lastChild.copy()
            other.slots = slots.copy()
            return other
        }

        func deallocate() {
            names.deallocate()
            links.deallocate()
            counts.deallocate()
            baseline.deallocate()
            lastChild.deallocate()
            slots.deallocate()
        }
    }

    var storage: Storage

    init(merging: Merging = .everywhere) {
        storage = Storage(merging: merging)
    }

    private init(storage: Storage) {
        self.storage = storage
    }

    deinit { storage.deallocate() }

    var merging: Merging { storage.merging }
    var nodeCount: Int { storage.nodeCount }
    var names: FrameNames { storage.names }
    var counts: RawArray<Double> { storage.counts }
    var baseline: RawArray<Double> { storage.baseline }
    var hasBaseline: Bool { storage.hasBaseline }

    @inline(__always)
    func parent(_ node: Int) -> Int { Int(storage.links[node].parent) }

    @inline(__always)
    func frame(_ node: Int) -> UInt32 { storage.links[node].frame }

    @inline(__always)
    func isMarker(_ node: Int) -> Bool { storage.links[node].frame == Self.selfMarker }

    /// Adds one stack of name ids (root first); returns the node that holds its samples.
    func insert(_ ids: some Sequence<UInt32>) -> UInt32 {
        var node = Self.root
        var path = Self.rootPath
        for id in ids { (node, path) = storage.child(of: node, parentPath: path, frame: id) }
        return storage.countingNode(for: node)
    }

    func add(_ value: Double, to node: UInt32) { storage.counts[Int(node)] += value }

    func addBaseline(_ value: Double, to node: UInt32) {
        storage.startBaseline()
        storage.baseline[Int(node)] += value
    }

    func startBaseline() { storage.startBaseline() }

    /// Multiplies every baseline count by `factor` (difffolded's normalisation).
    func scaleBaseline(by factor: Double) {
        let baseline = storage.baseline
        for node in 0..<baseline.count { baseline[node] *= factor }
    }

    /// Adds every node of `other` (which merges everywhere, like this tree) with its counts.
    ///
    /// The other tree's nodes are taken in id order (parents first) in batches. A node under
    /// a parent this merge added is new too and is appended without a look-up; the others
    /// are looked up a batch at a time, in passes like the parser's, so that their cache
    /// misses overlap. The nodes added are not indexed (two of them never share a parent and
    /// a name); the index is dropped at the end, to be rebuilt if more stacks come.
    func merge(from other: FrameTree) {
        precondition(merging == .everywhere && other.merging == .everywhere)
        let source = other.storage
        let sourceCount = source.nodeCount
        if source.hasBaseline { storage.startBaseline() }
        storage.counts[0] += source.counts[0]
        if source.hasBaseline { storage.baseline[0] += source.baseline[0] }
        guard sourceCount > 1 else { return }
        if canAppendInOrder(other) { return mergeInOrder(from: source) }
        storage.ensureIndex()

        let nameMap = RawArray<UInt32>(zeroed: source.names.count)
        let nodeMap = RawArray<UInt32>(zeroed: sourceCount)
        let paths = RawArray<UInt64>(repeating: Self.rootPath, count: sourceCount)
        let batch = 512
        let candidates = RawArray<UInt32>(zeroed: batch)
        defer {
            nameMap.deallocate()
            nodeMap.deallocate()
            paths.deallocate()
            candidates.deallocate()
        }
        for id in 0..<source.names.count {
            let name = source.names.name(UInt32(id))
            nameMap[id] = storage.names.intern(name.baseAddress!, name.count, hash: source.names.hashes[id])
        }
        let existing = nodeCount
        storage.links.reserve(existing + sourceCount)
        storage.counts.reserve(existing + sourceCount)
        if storage.hasBaseline { storage.baseline.reserve(existing + sourceCount) }
        var touched: UInt64 = 0
        var start = 1
        while start < sourceCount {
            let end = min(start + batch, sourceCount)
            // Which nodes may have a match: those whose parent is in this batch (not placed
            // yet) or was here before. Their paths' slots are touched in a tight loop of
            // independent loads, then their candidates read.
            for node in start..<end {
                let link = source.links[node]
                paths[node] = Storage.extend(paths[Int(link.parent)], source.names.hashes[Int(link.frame)])
                candidates[node - start] = Int(link.parent) >= start || Int(nodeMap[Int(link.parent)]) < existing ? 1 : 0
            }
            let slots = storage.slots.base
            let mask = storage.mask
            for node in start..<end where candidates[node - start] != 0 {
                touched &+= slots[Int(truncatingIfNeeded: paths[node]) & mask]
            }
            for node in start..<end where candidates[node - start] != 0 {
                candidates[node - start] = storage.candidate(path: paths[node])
            }
            let links = storage.links.base
            for node in start..<end { touched &+= UInt64(links[Int(candidates[node - start])].parent) }
            for node in start..<end {
                let link = source.links[node]
                let parent = nodeMap[Int(link.parent)]
                let frame = nameMap[Int(link.frame)]
                var target: UInt32 = 0
                if Int(parent) < existing {
                    let candidate = candidates[node - start]
                    let found = storage.links[Int(candidate)]
                    if candidate != 0, found.parent == parent, found.frame == frame {
                        target = candidate
                    } else {
                        target = storage.find(parent: parent, path: paths[node], frame: frame)
                    }
                }
                if target == 0 { target = storage.appendUnindexed(parent: parent, frame: frame) }
                nodeMap[node] = target
                storage.counts[Int(target)] += source.counts[node]
                if source.hasBaseline { storage.baseline[Int(target)] += source.baseline[node] }
            }
            start = end
        }
        storage.dropIndex()
        sink = touched
    }

    /// Whether `other`'s stacks all come after this tree's, both built in order, so that
    /// ``merge(from:)`` only appends (no look-ups, no index).
    func canAppendInOrder(_ other: FrameTree) -> Bool {
        storage.inOrder && other.storage.inOrder && ordered(storage.lastPath, before: other.storage)
    }

    /// Whether the stack through `path` (nodes of this tree) comes no later, frame-wise, than
    /// the first stack of the in-order tree `source`.
    private func ordered(_ path: [UInt32], before source: Storage) -> Bool {
        let common = min(path.count, source.firstPathLength)
        for depth in 0..<common {
            let mine = storage.names.name(storage.links[Int(path[depth])].frame)
            let theirs = source.names.name(source.links[depth + 1].frame)
            let order = FrameNames.compare(mine, theirs)
            if order != 0 { return order < 0 }
        }
        return path.count <= source.firstPathLength
    }

    /// Merges an in-order tree whose stacks all come after this one's: only the nodes of
    /// its first stack can be here already, along this tree's last stack; every other node
    /// is new. No look-ups, no index.
    private func mergeInOrder(from source: Storage) {
        let sourceCount = source.nodeCount
        let nodeMap = RawArray<UInt32>(zeroed: sourceCount)
        let nameMap = RawArray<UInt32>(zeroed: source.names.count)
        defer {
            nodeMap.deallocate()
            nameMap.deallocate()
        }
        for id in 0..<source.names.count {
            let name = source.names.name(UInt32(id))
            nameMap[id] = storage.names.intern(name.baseAddress!, name.count, hash: source.names.hashes[id])
        }
        let wasEmpty = nodeCount == 1
        var shared = 0
        let path = storage.lastPath
        while shared < min(path.count, source.firstPathLength),
              storage.links[Int(path[shared])].frame == nameMap[Int(source.links[shared + 1].frame)] {
            nodeMap[shared + 1] = path[shared]
            shared += 1
        }
        storage.links.reserve(nodeCount + sourceCount)
        storage.counts.reserve(nodeCount + sourceCount)
        for node in 1..<sourceCount {
            if node > shared {
                let link = source.links[node]
                nodeMap[node] = storage.appendUnindexed(parent: nodeMap[Int(link.parent)], frame: nameMap[Int(link.frame)])
            }
            let target = Int(nodeMap[node])
            storage.counts[target] += source.counts[node]
            if source.hasBaseline { storage.baseline[target] += source.baseline[node] }
        }
        storage.lastPath = source.lastPath.map { nodeMap[Int($0)] }
        if wasEmpty { storage.firstPathLength = source.firstPathLength }
    }

    /// Where the memory touches of ``merge(from:)`` go, so they are not optimised away.
    var sink: UInt64 = 0

    /// Frees the lookup index; it is rebuilt if more stacks are added.
    func compact() { storage.dropIndex() }

    /// Sum of one column over all nodes.
    func sum(baseline useBaseline: Bool = false) -> Double {
        let column = useBaseline ? storage.baseline : storage.counts
        var total = 0.0
        for node in 0..<column.count { total += column[node] }
        return total
    }

    /// Inclusive totals: each node's count plus all its descendants'. The caller frees the result.
    func totals(baseline useBaseline: Bool = false) -> RawArray<Double> {
        var result = (useBaseline ? storage.baseline : storage.counts).copy()
        // A column that was never started is all zeros.
        if result.count < nodeCount { result.resize(to: nodeCount, filling: 0) }
        let links = storage.links
        var node = nodeCount - 1
        while node > 0 {
            result[Int(links[node].parent)] += result[node]
            node -= 1
        }
        return result
    }

    /// Orders sibling node ids by name (markers first).
    func sortByName(_ siblings: UnsafeMutableBufferPointer<UInt32>) {
        guard siblings.count > 1 else { return }
        var siblings = siblings
        let links = storage.links
        let names = storage.names
        siblings.sort { left, right in
            let a = links[Int(left)].frame
            let b = links[Int(right)].frame
            if a == Self.selfMarker || b == Self.selfMarker { return a == Self.selfMarker && b != Self.selfMarker }
            return names.precedes(a, b)
        }
    }

    /// Children lists of every node, in id order (input order) or sorted by name.
    func childIndex(sortedByName: Bool) -> ChildIndex {
        let links = storage.links
        let starts = RawArray<Int>(zeroed: nodeCount + 1)
        for node in 1..<max(nodeCount, 1) { starts[Int(links[node].parent) + 1] += 1 }
        for node in 0..<nodeCount { starts[node + 1] += starts[node] }
        let list = RawArray<UInt32>(zeroed: starts[nodeCount])
        let fill = starts.copy()
        for node in 1..<max(nodeCount, 1) {
            let parent = Int(links[node].parent)
            list[fill[parent]] = UInt32(node)
            fill[parent] += 1
        }
        fill.deallocate()
        let index = ChildIndex(starts: starts, list: list)
        // (In a sorted-preorder tree, id order is name order already.)
        if sortedByName, !isSortedPreorder {
            for node in 0..<nodeCount { sortByName(index.children(of: node)) }
        }
        return index
    }

    /// An independent copy (copy-on-write for ``FoldedStacks``).
    func copy() -> FrameTree { FrameTree(storage: storage.copy()) }
}

/// Children of every node, as one flat list: node `n`'s children are
/// `list[starts[n] ..< starts[n + 1]]` (compressed sparse rows).
final class ChildIndex {
    let starts: RawArray<Int>
    let list: RawArray<UInt32>

    init(starts: RawArray<Int>, list: RawArray<UInt32>) {
        self.starts = starts
        self.list = list
    }

    deinit {
        starts.deallocate()
        list.deallocate()
    }

    @inline(__always)
    func children(of node: Int) -> UnsafeMutableBufferPointer<UInt32> {
        UnsafeMutableBufferPointer(start: list.base + starts[node], count: starts[node + 1] - starts[node])
    }
}
