#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads folded lines (`frame;frame;frame COUNT`) straight from bytes into a ``FrameTree``:
/// no `String` per line or frame. The count is what follows the last space (or tab); frames
/// are split on `;` only, so they may hold spaces. A line ending in two counts
/// (`stack BEFORE AFTER`, difffolded's output) fills the baseline column too.
///
/// Consecutive lines often share their first frames (stackcollapse output is sorted), so the
/// parser remembers the previous stack's bytes and nodes and starts merging where the new
/// line first differs. While the lines keep coming in sorted order (frame by frame), the
/// frames past that point are known to be new and are appended without any look-up; the
/// first line out of order builds the look-up index and parsing goes on with it.
struct FoldedParser {
    /// The tree's storage, worked on here and stored back by ``finish(into:)``.
    private var storage: FrameTree.Storage
    let reversed: Bool
    /// Where a one-count line's count goes.
    let intoBaseline: Bool

    private(set) var lines = 0
    private(set) var invalidLines = 0
    /// 1-based number of the first invalid line (0: none).
    private(set) var firstInvalidLine = 0

    /// Name ids of the current line's new frames.
    private var ids = RawArray<UInt32>(capacity: 256)
    /// The previous stack's bytes, where each of its frames ends, and its node at each depth.
    private var previous = RawArray<UInt8>(capacity: 4096)
    private var previousEnds = RawArray<Int>(capacity: 256)
    private var previousNodes = RawArray<UInt32>(capacity: 256)
    private var previousPaths = RawArray<UInt64>(capacity: 256)
    /// Each new frame's name hash and candidate node (see ``insert(_:_:)``).
    private var frameHashes = RawArray<UInt64>(capacity: 256)
    private var candidates = RawArray<UInt32>(capacity: 256)
    /// Where the memory touches of the look-up passes go, so they are not optimised away.
    private(set) var sink: UInt64 = 0

    /// Recently seen stacks, so a repeated line costs one hash and one comparison.
    private var repeats: RepeatedStacks

    /// Whether every line so far came in frame-wise sorted order into a tree that was empty:
    /// then a frame past the part shared with the previous line is always new, and is added
    /// without hashing its path or indexing it. The first line out of order builds the
    /// index and parsing goes on with look-ups.
    private var inOrder: Bool

    /// Takes over `tree`'s storage until ``finish(into:)``; the tree must not be used meanwhile.
    /// `cachingRepeats`: keep the cache of recent stacks (pointless when identical stacks
    /// arrive next to each other, as sorted lines do).
    init(tree: FrameTree, reversed: Bool, intoBaseline: Bool, cachingRepeats: Bool = true) {
        storage = tree.storage
        inOrder = storage.merging == .everywhere && !reversed && storage.nodeCount == 1
        if inOrder { storage.dropIndex() } else { storage.ensureIndex() }
        self.reversed = reversed
        self.intoBaseline = intoBaseline
        // In input order a repeat merges only with the line just before it: no cache.
        repeats = RepeatedStacks(enabled: cachingRepeats && storage.merging == .everywhere)
    }

    /// Stores the grown tree back and frees the parser's buffers.
    func finish(into tree: FrameTree) {
        var storage = self.storage
        if inOrder, storage.nodeCount > 1 {
            storage.inOrder = true
            storage.lastPath = Array(UnsafeBufferPointer(start: previousNodes.base, count: previousNodes.count))
        }
        tree.storage = storage
        ids.deallocate()
        previous.deallocate()
        previousEnds.deallocate()
        previousNodes.deallocate()
        previousPaths.deallocate()
        candidates.deallocate()
        frameHashes.deallocate()
        repeats.deallocate()
    }

    /// Parses every complete line in `block`; with `final`, a last line without a newline
    /// too. Returns how many bytes were consumed (the rest starts an unfinished line).
    mutating func parse(block: UnsafePointer<UInt8>, count: Int, final: Bool) -> Int {
        var start = 0
        while start < count {
            let rest = count - start
            guard let newline = memchr(block + start, 0x0A, rest) else {
                if final {
                    parse(line: block + start, length: rest)
                    return count
                }
                return start
            }
            let length = UnsafeRawPointer(newline) - UnsafeRawPointer(block + start)
            parse(line: block + start, length: length)
            start += length + 1
        }
        return start
    }

    @inline(__always)
    private static func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D }

    /// Digits, `.`, `e`, `E`, `+`, `-`: what a count may be made of.
    @inline(__always)
    private static func isNumeric(_ byte: UInt8) -> Bool {
        byte &- 0x30 <= 9 || byte == 0x2E || byte | 0x20 == 0x65 || byte == 0x2B || byte == 0x2D
    }

    /// What one line holds.
    enum Line {
        /// Only blanks: skipped, not an error.
        case blank
        /// Not `STACK COUNT` (nor `STACK BEFORE AFTER`).
        case invalid
        /// The stack is the line's first `length` bytes.
        case stack(length: Int, count: Double, before: Double?)
    }

    /// Splits one line (without its newline) into its stack and count(s).
    @inline(__always)
    static func split(line: UnsafePointer<UInt8>, length: Int) -> Line {
        var end = length
        while end > 0, isBlank(line[end - 1]) { end -= 1 }
        guard end > 0 else { return .blank }

        // The count: after the last space. Only a number's characters are scanned back over:
        // anything else before a space means the last field is not a count.
        var space = end - 1
        while space >= 0, isNumeric(line[space]) { space -= 1 }
        guard space >= 0, line[space] == 0x20 || line[space] == 0x09,
              let count = parseCount(line + space + 1, end - space - 1) else { return .invalid }
        var stackEnd = space
        while stackEnd > 0, isBlank(line[stackEnd - 1]) { stackEnd -= 1 }

        // A second count before it makes a differential line: BEFORE AFTER.
        var before: Double?
        var second = stackEnd - 1
        while second >= 0, isNumeric(line[second]) { second -= 1 }
        if second >= 0, line[second] == 0x20 || line[second] == 0x09,
           let value = parseCount(line + second + 1, stackEnd - second - 1) {
            before = value
            stackEnd = second
            while stackEnd > 0, isBlank(line[stackEnd - 1]) { stackEnd -= 1 }
        }
        guard stackEnd > 0 else { return .invalid }
        return .stack(length: stackEnd, count: count, before: before)
    }

    /// One line, without its newline.
    mutating func parse(line: UnsafePointer<UInt8>, length: Int) {
        switch Self.split(line: line, length: length) {
        case .blank:
            return
        case .invalid:
            lines += 1
            invalid()
        case let .stack(stackLength, count, before):
            lines += 1
            add(stack: line, length: stackLength, count: count, before: before)
        }
    }

    /// Adds one stack (`stack[0 ..< length]`, already split from its line) with its count(s).
    @inline(__always)
    mutating func add(stack line: UnsafePointer<UInt8>, length stackEnd: Int, count: Double, before: Double?) {
        let leaf: Int
        if let cached = repeats.lookup(line, stackEnd) {
            leaf = Int(cached)
        } else {
            let stackNode = reversed ? insertReversed(line, stackEnd) : insert(line, stackEnd)
            leaf = Int(storage.countingNode(for: stackNode))
            repeats.store(line, stackEnd, node: UInt32(leaf))
        }
        if let before {
            storage.startBaseline()
            storage.baseline[leaf] += before
            storage.counts[leaf] += count
        } else if intoBaseline {
            storage.startBaseline()
            storage.baseline[leaf] += count
        } else {
            storage.counts[leaf] += count
        }
    }

    private mutating func invalid() {
        invalidLines += 1
        if firstInvalidLine == 0 { firstInvalidLine = lines }
    }

    /// Merges the stack in `stack[0 ..< length]` root first; returns its leaf node.
    @inline(__always)
    private mutating func insert(_ stack: UnsafePointer<UInt8>, _ length: Int) -> UInt32 {
        // Reuse the frames this stack shares with the previous one.
        let common = Self.commonPrefix(stack, length, previous.base, previous.count)
        var depth = 0
        let previousDepth = previousEnds.count
        while depth < previousDepth {
            let frameEnd = previousEnds[depth]
            guard frameEnd < common || (frameEnd == common && (common == length || stack[common] == 0x3B)) else { break }
            depth += 1
        }
        if inOrder, !follows(stack, length, depth: depth) {
            // Out of order: index what there is, and look frames up from now on.
            inOrder = false
            storage.ensureIndex()
            depth = 0
        }
        var node = depth == 0 ? FrameTree.root : previousNodes[depth - 1]
        var path = depth == 0 || inOrder ? FrameTree.rootPath : previousPaths[depth - 1]
        previousEnds.removeLast(previousDepth - depth)
        previousNodes.removeLast(previousDepth - depth)
        previousPaths.removeLast(max(0, previousPaths.count - depth))  // (empty while in order)
        previous.removeAll()
        previous.append(stack, count: length)
        if depth > 0, previousEnds[depth - 1] == length { return node }

        var position = depth == 0 ? 0 : previousEnds[depth - 1] + 1
        if inOrder {
            // Sorted so far: every frame from here on is new. Their names are looked up in
            // passes (hash all, touch their slots, read candidates, touch them, confirm), so
            // the name table's cache misses overlap.
            let first = depth
            let isFirstLine = storage.nodeCount == 1
            frameHashes.removeAll()
            while true {
                let frameEnd = Self.frameEnd(stack, from: position, length)
                frameHashes.append(FrameNames.hash(stack + position, frameEnd - position))
                previousEnds.append(frameEnd)
                if frameEnd == length { break }
                position = frameEnd + 1
            }
            let newFrames = frameHashes.count
            let names = internNames(stack, first: first, count: newFrames)
            for index in 0..<newFrames {
                node = storage.appendUnindexed(parent: node, frame: names[index])
                previousNodes.append(node)
            }
            if isFirstLine { storage.firstPathLength = newFrames }
            return node
        }
        if storage.merging == .adjacent {
            while true {
                let frameEnd = Self.frameEnd(stack, from: position, length)
                let name = storage.names.intern(stack + position, frameEnd - position)
                (node, path) = storage.child(of: node, parentPath: path, frame: name)
                previousEnds.append(frameEnd)
                previousNodes.append(node)
                previousPaths.append(path)
                if frameEnd == length { return node }
                position = frameEnd + 1
            }
        }

        // Passes over the new frames, so that the table look-ups of one line overlap in
        // memory instead of each waiting for the one before: split and hash the frames and
        // paths; touch each name's and path's slot (tight loops of independent loads); take
        // each slot's candidate name and node, touch them; then confirm the names, and the
        // nodes root first, adding what is new.
        let first = depth
        frameHashes.removeAll()
        while true {
            let frameEnd = Self.frameEnd(stack, from: position, length)
            let hash = FrameNames.hash(stack + position, frameEnd - position)
            frameHashes.append(hash)
            path = FrameTree.Storage.extend(path, hash)
            previousEnds.append(frameEnd)
            previousPaths.append(path)
            if frameEnd == length { break }
            position = frameEnd + 1
        }
        let newFrames = frameHashes.count
        let paths = previousPaths.base + first
        let slots = storage.slots.base
        let mask = storage.mask
        var touched: UInt64 = 0
        for index in 0..<newFrames { touched &+= slots[Int(truncatingIfNeeded: paths[index]) & mask] }
        candidates.removeAll()
        for index in 0..<newFrames { candidates.append(storage.candidate(path: paths[index])) }
        let links = storage.links.base
        for index in 0..<newFrames { touched &+= UInt64(links[Int(candidates[index])].parent) }
        sink &+= touched
        _ = internNames(stack, first: first, count: newFrames)
        // (Candidates may be stale once an insert grows the table; the links decide.)
        let existing = storage.nodeCount
        for index in 0..<newFrames {
            let name = ids[index]
            if Int(node) >= existing {
                // Under a node this line added: new as well, no look-up needed.
                node = storage.addNew(parent: node, path: paths[index], frame: name)
            } else {
                let candidate = candidates[index]
                let link = storage.links[Int(candidate)]
                if candidate != 0, link.parent == node, link.frame == name {
                    node = candidate
                } else {
                    node = storage.child(of: node, path: paths[index], frame: name).0
                }
            }
            previousNodes.append(node)
        }
        return node
    }

    /// The name ids of the `count` frames from depth `first` on (their hashes are in
    /// `frameHashes`, their ends in `previousEnds`), into `ids`: in passes, so that the
    /// name table's cache misses overlap.
    private mutating func internNames(_ stack: UnsafePointer<UInt8>, first: Int, count: Int) -> UnsafeMutablePointer<UInt32> {
        let hashes = frameHashes.base
        let ends = previousEnds.base + first
        var touched: UInt64 = 0
        for index in 0..<count { touched &+= storage.names.slot(for: hashes[index]) }
        ids.removeAll()
        for index in 0..<count { ids.append(storage.names.candidate(for: hashes[index])) }
        for index in 0..<count { touched &+= UInt64(truncatingIfNeeded: storage.names.offset(of: ids[index])) }
        for index in 0..<count { touched &+= UInt64(storage.names.firstByte(of: ids[index])) }
        var start = first == 0 ? 0 : previousEnds[first - 1] + 1
        for index in 0..<count {
            ids[index] = storage.names.confirm(ids[index], stack + start, ends[index] - start, hash: hashes[index])
            start = ends[index] + 1
        }
        sink &+= touched
        return ids.base
    }

    /// Whether the stack comes no earlier than the previous one, frame by frame (a frame
    /// that is a prefix of another comes first; a stack that ends comes before its longer
    /// ones). `depth` frames are shared with the previous stack.
    private func follows(_ stack: UnsafePointer<UInt8>, _ length: Int, depth: Int) -> Bool {
        let previousDepth = previousEnds.count
        guard depth < previousDepth else { return true }  // the same stack, or a longer one
        let start = depth == 0 ? 0 : previousEnds[depth - 1] + 1
        guard start <= length, depth == 0 || previousEnds[depth - 1] < length else { return false }  // ends inside the previous
        let end = Self.frameEnd(stack, from: start, length)
        let previousEnd = previousEnds[depth]
        let order = FrameNames.compare(UnsafeBufferPointer(start: stack + start, count: end - start),
                                       UnsafeBufferPointer(start: previous.base + start, count: previousEnd - start))
        return order > 0
    }

    /// Where the frame starting at `position` ends: the next `;`, or the stack's end.
    /// Frames are short, so this looks at 8 bytes at a time inline (a word has a `;` where
    /// `word ^ 0x3B3B…` has a zero byte) rather than calling memchr.
    @inline(__always)
    static func frameEnd(_ stack: UnsafePointer<UInt8>, from position: Int, _ length: Int) -> Int {
        let raw = UnsafeRawPointer(stack)
        var index = position
        while index + 8 <= length {
            let word = raw.loadUnaligned(fromByteOffset: index, as: UInt64.self) ^ 0x3B3B_3B3B_3B3B_3B3B
            let zeros = (word &- 0x0101_0101_0101_0101) & ~word & 0x8080_8080_8080_8080
            if zeros != 0 { return index + zeros.trailingZeroBitCount / 8 }
            index += 8
        }
        while index < length, stack[index] != 0x3B { index += 1 }
        return index
    }

    /// Merges the stack leaf first (flamegraph.pl's `--reverse`); returns its last node.
    private mutating func insertReversed(_ stack: UnsafePointer<UInt8>, _ length: Int) -> UInt32 {
        ids.removeAll()
        var position = 0
        while true {
            let frameEnd = Self.frameEnd(stack, from: position, length)
            ids.append(storage.names.intern(stack + position, frameEnd - position))
            if frameEnd == length { break }
            position = frameEnd + 1
        }
        var node = FrameTree.root
        var path = FrameTree.rootPath
        var index = ids.count - 1
        while index >= 0 {
            (node, path) = storage.child(of: node, parentPath: path, frame: ids[index])
            index -= 1
        }
        return node
    }

    /// How many leading bytes two strings share.
    @inline(__always)
    static func commonPrefix(_ a: UnsafePointer<UInt8>, _ aCount: Int, _ b: UnsafePointer<UInt8>, _ bCount: Int) -> Int {
        let limit = min(aCount, bCount)
        let left = UnsafeRawPointer(a)
        let right = UnsafeRawPointer(b)
        var index = 0
        while index + 8 <= limit {
            let difference = left.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                ^ right.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            if difference != 0 { return index + difference.trailingZeroBitCount / 8 }
            index += 8
        }
        while index < limit, a[index] == b[index] { index += 1 }
        return index
    }

    /// A count: digits with an optional fraction (`12`, `0.25`, `3.`); nil if it is not one.
    @inline(__always)
    static func parseCount(_ text: UnsafePointer<UInt8>, _ length: Int) -> Double? {
        guard length > 0 else { return nil }
        if length <= 18 {
            var value: UInt64 = 0
            var index = 0
            while index < length {
                let digit = text[index] &- 48
                if digit > 9 { break }
                value = value &* 10 &+ UInt64(digit)
                index += 1
            }
            if index == length { return Double(value) }
        }
        return parseDecimal(text, length)
    }

    /// The slow path: a fraction, an exponent or very many digits, converted by `strtod`
    /// (correctly rounded) after checking the syntax.
    private static func parseDecimal(_ text: UnsafePointer<UInt8>, _ length: Int) -> Double? {
        guard length < 64 else { return nil }
        var index = 0
        var digits = 0
        while index < length, text[index] &- 48 <= 9 { index += 1; digits += 1 }
        if index < length, text[index] == 0x2E {
            index += 1
            while index < length, text[index] &- 48 <= 9 { index += 1; digits += 1 }
        }
        guard digits > 0 else { return nil }
        if index < length, text[index] | 0x20 == 0x65 {  // e or E
            index += 1
            if index < length, text[index] == 0x2B || text[index] == 0x2D { index += 1 }
            var exponentDigits = 0
            while index < length, text[index] &- 48 <= 9 { index += 1; exponentDigits += 1 }
            guard exponentDigits > 0 else { return nil }
        }
        guard index == length else { return nil }
        var scratch = [CChar](repeating: 0, count: length + 1)
        for position in 0..<length { scratch[position] = CChar(bitPattern: text[position]) }
        let value = strtod(scratch, nil)
        return value.isFinite ? value : nil
    }
}

/// A small direct-mapped cache of recent stacks (their bytes) and the node that counts their
/// samples: unaggregated profiles repeat the same stacks over and over, and a repeat then
/// needs no frame look-ups. It switches itself off when the first lines show few repeats.
struct RepeatedStacks {
    private static let entries = 4096
    private static let longest = 480
    private var enabled: Bool
    private var hashes: RawArray<UInt64>
    private var nodes: RawArray<UInt32>
    private var lengths: RawArray<UInt32>
    private var bytes: RawArray<UInt8>
    private var lookups = 0
    private var hits = 0
    /// The key of the stack last looked up (and missed), for ``store(_:_:node:)``.
    private var pendingKey: UInt64 = 0

    init(enabled: Bool) {
        self.enabled = enabled
        let entries = enabled ? Self.entries : 1
        hashes = RawArray(zeroed: entries)
        nodes = RawArray(zeroed: entries)
        lengths = RawArray(zeroed: entries)
        bytes = RawArray(capacity: enabled ? entries * Self.longest : 4)
    }

    func deallocate() {
        hashes.deallocate()
        nodes.deallocate()
        lengths.deallocate()
        bytes.deallocate()
    }

    @inline(__always)
    private static func key(_ stack: UnsafePointer<UInt8>, _ length: Int) -> UInt64 {
        FrameNames.hash(stack, length) | 1  // never 0, which marks an empty entry
    }

    /// The node of a stack seen recently, or nil.
    @inline(__always)
    mutating func lookup(_ stack: UnsafePointer<UInt8>, _ length: Int) -> UInt32? {
        guard enabled, length <= Self.longest else { return nil }
        lookups += 1
        if lookups == 8192, hits * 20 < lookups {
            // Hardly any repeats: stop paying for the hashing and copying.
            enabled = false
            return nil
        }
        let key = Self.key(stack, length)
        pendingKey = key
        let entry = Int(truncatingIfNeeded: key) & (Self.entries - 1)
        guard hashes[entry] == key, Int(lengths[entry]) == length,
              FrameNames.equal(bytes.base + entry * Self.longest, stack, length) else { return nil }
        hits += 1
        return nodes[entry]
    }

    /// Remembers the node of the stack just looked up (and missed), now added.
    @inline(__always)
    mutating func store(_ stack: UnsafePointer<UInt8>, _ length: Int, node: UInt32) {
        guard enabled, length <= Self.longest else { return }
        let key = pendingKey
        let entry = Int(truncatingIfNeeded: key) & (Self.entries - 1)
        hashes[entry] = key
        nodes[entry] = node
        lengths[entry] = UInt32(length)
        (bytes.base + entry * Self.longest).update(from: stack, count: length)
    }
}
