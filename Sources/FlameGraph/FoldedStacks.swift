#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A profile in the FlameGraph folded format: one stack per line, root frame first, frames
/// separated by `;`, then a space and the sample count.
///
/// ```
/// bash;main;execute_command;fork 12
/// swapper;start_kernel;cpu_idle_[k] 830.5
/// ```
///
/// Identical stacks merge as they are read (counts add up), so a value holds each distinct
/// stack once, in a trie that shares common prefixes; a file is read in blocks and parsed
/// from its bytes, so a 1 GB folded file costs the memory of its distinct stacks' frames
/// (as name ids, see ``SortingReader``) and of one block of text per core, not of its
/// whole text. Lines that are
/// not `STACK COUNT` are skipped and counted (``invalidLineCount``). Frame annotations
/// (`_[k]` kernel, `_[j]` JIT, `_[i]` inlined, `_[w]` waker) are kept as part of the name;
/// the renderer colours by them.
///
/// A line with two counts, `STACK BEFORE AFTER` (difffolded's output), also fills the
/// ``hasBaseline`` column: see ``DifferentialProfile``.
///
/// ```swift
/// var stacks = FoldedStacks()
/// try stacks.read(path: "out.folded")
/// stacks.add(["bash", "main", "read_[k]"], count: 3)
/// try SVGRenderer(options: FlameGraphOptions()).write(stacks, toPath: "cpu.svg")
/// ```
public struct FoldedStacks {
    /// How identical frames are merged, which is also the order they are drawn in.
    public enum Order: Sendable, Equatable {
        /// Merge all identical stacks; siblings are drawn in alphabetical order (flame graph).
        case alphabetical
        /// Merge a stack only with the line before it, keeping input order (flame chart: the
        /// x axis is time).
        case input
    }

    private var tree: FrameTree
    /// The merge order chosen at creation.
    public let order: Order
    /// Whether each stack was merged leaf first (flamegraph.pl's `--reverse`).
    public let isReversed: Bool

    /// Non-blank lines read so far.
    public private(set) var lineCount = 0
    /// Lines that were not `STACK COUNT` and were skipped.
    public private(set) var invalidLineCount = 0
    /// The line number (counting non-blank lines, from 1) of the first invalid line, if any.
    public private(set) var firstInvalidLine: Int?

    public init(order: Order = .alphabetical, reversed: Bool = false) {
        self.order = order
        isReversed = reversed
        tree = FrameTree(merging: order == .input ? .adjacent : .everywhere)
    }

    /// A profile around a tree built elsewhere (merged everywhere: alphabetical, not reversed).
    init(tree: FrameTree) {
        order = .alphabetical
        isReversed = false
        self.tree = tree
    }

    /// Parses folded text.
    public init(_ text: String, order: Order = .alphabetical, reversed: Bool = false) {
        self.init(order: order, reversed: reversed)
        parse(text)
    }

    // MARK: Adding

    /// Adds folded lines from `text` (a last line without a newline counts).
    public mutating func parse(_ text: String) {
        var text = text
        text.withUTF8 { parse(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Adds folded lines from `bytes` (a last line without a newline counts).
    public mutating func parse(bytes: UnsafeRawBufferPointer, asBaseline: Bool = false) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        var parser = makeParser(asBaseline: asBaseline)
        _ = parser.parse(block: base.assumingMemoryBound(to: UInt8.self), count: bytes.count, final: true)
        finish(parser)
    }

    /// Reads folded stacks from a file ("-" is standard input).
    ///
    /// - Parameter asBaseline: put one-count lines' counts in the baseline column (the
    ///   "before" profile of a differential pair).
    public mutating func read(path: String, asBaseline: Bool = false) throws(FlameGraphError) {
        try read(path: path, asBaseline: asBaseline, parts: nil)
    }

    /// `parts`: how many parts to read a regular file in (nil: by size and cores).
    mutating func read(path: String, asBaseline: Bool, parts: Int?) throws(FlameGraphError) {
        if path == "-" { return try read(fileDescriptor: 0, name: "standard input", asBaseline: asBaseline, parts: parts) }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .system("open", path, errno: errno) }
        defer { close(descriptor) }
        try read(fileDescriptor: descriptor, name: path, asBaseline: asBaseline, parts: parts)
    }

    /// Reads folded stacks from an open descriptor until end of file. A merged (alphabetical)
    /// profile's frames are interned as they are read and its stacks sorted as runs of name
    /// ranks before the tree is built (see ``SortingReader``), a regular file in parts on
    /// several cores; a flame chart or a
    /// reversed profile is parsed as it streams, a large regular file in parts on several
    /// cores (one part per 24 MiB, at most one per processor) whose trees are merged.
    public mutating func read(fileDescriptor descriptor: Int32, name: String = "input", asBaseline: Bool = false) throws(FlameGraphError) {
        try read(fileDescriptor: descriptor, name: name, asBaseline: asBaseline, parts: nil)
    }

    mutating func read(fileDescriptor descriptor: Int32, name: String, asBaseline: Bool, parts wanted: Int?) throws(FlameGraphError) {
        if order == .alphabetical, !isReversed {
            return try readSorting(descriptor, name: name, asBaseline: asBaseline, chunks: wanted)
        }
        let (parts, start, size) = FoldedReader.parts(for: descriptor, wanted: wanted)
        if parts > 1, order == .alphabetical {
            try readInParts(descriptor, name: name, start: start, size: size, parts: parts, asBaseline: asBaseline)
            // Leave the descriptor at the end, as reading it through would.
            _ = lseek(descriptor, off_t(size), SEEK_SET)
            return
        }
        var parser = makeParser(asBaseline: asBaseline)
        defer { finish(parser) }
        try FoldedReader.readAll(descriptor, name: name, into: &parser)
    }

    /// Reads through ``SortingReader``: frames interned, stacks sorted as ranks, one build.
    private mutating func readSorting(_ descriptor: Int32, name: String, asBaseline: Bool, chunks: Int?) throws(FlameGraphError) {
        var info = stat()
        let regular = fstat(descriptor, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
        let (read, tally): (FrameTree, SortingReader.Tally)
        if regular {
            let start = max(0, Int(lseek(descriptor, 0, SEEK_CUR)))
            let size = max(Int(info.st_size), start)
            (read, tally) = try SortingReader.read(descriptor, name: name, start: start, size: size, parts: chunks, asBaseline: asBaseline)
            // Leave the descriptor at the end, as reading it through would.
            _ = lseek(descriptor, off_t(size), SEEK_SET)
        } else {
            (read, tally) = try SortingReader.readStream(descriptor, name: name, asBaseline: asBaseline)
        }
        makeUnique()
        if tree.nodeCount == 1, tree.counts[0] == 0, !tree.hasBaseline {
            tree = read
        } else {
            tree.merge(from: read)
        }
        if firstInvalidLine == nil, tally.firstInvalid > 0 { firstInvalidLine = lineCount + tally.firstInvalid }
        lineCount += tally.lines
        invalidLineCount += tally.invalid
    }

    private mutating func readInParts(_ descriptor: Int32, name: String, start: Int, size: Int, parts: Int, asBaseline: Bool) throws(FlameGraphError) {
        let bounds = try FoldedReader.boundaries(descriptor, name: name, start: start, size: size, parts: parts)
        makeUnique()
        let trees = [tree] + (1..<parts).map { _ in FrameTree(merging: .everywhere) }
        let reversed = isReversed
        struct Outcome {
            var lines = 0
            var invalid = 0
            var firstInvalid = 0
            var failure: FlameGraphError?
        }
        let outcomes = UnsafeMutableBufferPointer<Outcome>.allocate(capacity: parts)
        outcomes.initialize(repeating: Outcome())
        defer {
            _ = outcomes.deinitialize()
            outcomes.deallocate()
        }
        WorkerThreads.run(parts) { part in
            var parser = FoldedParser(tree: trees[part], reversed: reversed, intoBaseline: asBaseline)
            do throws(FlameGraphError) {
                try FoldedReader.read(descriptor, name: name, from: bounds[part], to: bounds[part + 1], into: &parser)
            } catch {
                outcomes[part].failure = error
            }
            outcomes[part].lines = parser.lines
            outcomes[part].invalid = parser.invalidLines
            outcomes[part].firstInvalid = parser.firstInvalidLine
            parser.finish(into: trees[part])
        }
        for part in 0..<parts {
            if part > 0 { tree.merge(from: trees[part]) }
            let outcome = outcomes[part]
            if firstInvalidLine == nil, outcome.firstInvalid > 0 { firstInvalidLine = lineCount + outcome.firstInvalid }
            lineCount += outcome.lines
            invalidLineCount += outcome.invalid
        }
        if let failure = outcomes.lazy.compactMap(\.failure).first { throw failure }
    }

    /// Adds one stack, root frame first.
    public mutating func add<S: Sequence>(_ frames: S, count: Double, baseline: Double? = nil) where S.Element == String {
        makeUnique()
        var ids: [UInt32] = frames.map { tree.storage.names.intern($0) }
        if isReversed { ids.reverse() }
        let node = tree.insert(ids)
        tree.add(count, to: node)
        if let baseline { tree.addBaseline(baseline, to: node) }
    }

    /// Adds every stack of `other` (its counts, and its baseline counts if it has them).
    public mutating func merge(_ other: FoldedStacks) {
        makeUnique()
        if tree.merging == .everywhere, other.tree.merging == .everywhere {
            tree.merge(from: other.tree)
            return
        }
        other.forEachStack(sorted: false) { ids, count, baseline, names in
            let node = tree.insert(ids.map { tree.storage.names.intern(names.name($0).baseAddress!, names.name($0).count) })
            tree.add(count, to: node)
            if let baseline { tree.addBaseline(baseline, to: node) }
        }
    }

    /// Adds every stack of `other` to the baseline column (other's own baseline is ignored).
    mutating func mergeAsBaseline(_ other: FoldedStacks) {
        makeUnique()
        other.forEachStack(sorted: false) { ids, count, _, names in
            let node = tree.insert(ids.map { tree.storage.names.intern(names.name($0).baseAddress!, names.name($0).count) })
            tree.addBaseline(count, to: node)
        }
    }

    private mutating func makeParser(asBaseline: Bool) -> FoldedParser {
        makeUnique()
        return FoldedParser(tree: tree, reversed: isReversed, intoBaseline: asBaseline)
    }

    private mutating func finish(_ parser: FoldedParser) {
        parser.finish(into: tree)
        if firstInvalidLine == nil, parser.firstInvalidLine > 0 { firstInvalidLine = lineCount + parser.firstInvalidLine }
        lineCount += parser.lines
        invalidLineCount += parser.invalidLines
    }

    /// Frees the index used to merge new stacks (about 8 bytes per distinct frame); adding
    /// more stacks later rebuilds it. Call it when all stacks are in, before rendering a
    /// large profile, to lower peak memory.
    public mutating func compact() {
        makeUnique()
        tree.compact()
    }

    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&tree) { tree = tree.copy() }
    }

    // MARK: Reading back

    /// Total samples (the "after" column of a differential profile).
    public var totalCount: Double { tree.sum() }
    /// Whether any baseline ("before") count was read.
    public var hasBaseline: Bool { tree.hasBaseline }
    /// Total baseline samples.
    public var baselineTotal: Double { tree.sum(baseline: true) }
    /// Distinct frames in the merged tree (not counting the root).
    public var frameCount: Int {
        guard tree.merging == .adjacent else { return tree.nodeCount - 1 }
        return (1..<max(tree.nodeCount, 1)).reduce(0) { $0 + (tree.isMarker($1) ? 0 : 1) }
    }
    /// Distinct frame names.
    public var nameCount: Int { tree.names.count }
    public var isEmpty: Bool { tree.nodeCount == 1 }

    /// Starts the baseline column even if no baseline count arrives (an empty "before").
    mutating func startBaseline() {
        makeUnique()
        tree.startBaseline()
    }

    /// Scales the baseline so its total equals the total count (difffolded's `-n`), so two
    /// profiles of different lengths compare by share rather than by raw samples.
    public mutating func normalizeBaseline() {
        let base = baselineTotal
        guard base > 0 else { return }
        makeUnique()
        tree.scaleBaseline(by: totalCount / base)
    }

    var frameTree: FrameTree { tree }

    /// One distinct stack and its counts.
    public struct Stack: Hashable, Sendable, CustomStringConvertible {
        public var frames: [String]
        public var count: Double
        /// The baseline count, when the profile has a baseline column.
        public var baseline: Double?

        public init(_ frames: [String], count: Double, baseline: Double? = nil) {
            self.frames = frames
            self.count = count
            self.baseline = baseline
        }

        public var description: String {
            frames.joined(separator: ";") + (baseline.map { " \($0)" } ?? "") + " \(count)"
        }
    }

    /// Every distinct stack, sorted by frames (alphabetical order) or in input order.
    public var stacks: [Stack] {
        var result: [Stack] = []
        forEachStack(sorted: order == .alphabetical) { ids, count, baseline, names in
            result.append(Stack(ids.map { names.string($0) }, count: count, baseline: baseline))
        }
        return result
    }

    /// Calls `body` with each stack's name ids (root first), count and baseline: for every
    /// node where samples end, and every leaf (a stack read with a zero count).
    private func forEachStack(sorted: Bool, _ body: ([UInt32], Double, Double?, FrameNames) -> Void) {
        let tree = self.tree
        let index = tree.childIndex(sortedByName: sorted)
        let hasBaseline = tree.hasBaseline
        var path: [UInt32] = []
        var stack: [(node: Int, next: Int)] = [(0, index.starts[0])]
        while let top = stack.last {
            if top.next == index.starts[top.node + 1] {
                stack.removeLast()
                if !path.isEmpty { path.removeLast() }
                continue
            }
            stack[stack.count - 1].next += 1
            let node = Int(index.list[top.next])
            let count = tree.counts[node]
            let baseline = hasBaseline ? tree.baseline[node] : 0
            if tree.isMarker(node) {
                // Samples that end at the parent (input-order trees).
                body(path, count, hasBaseline ? baseline : nil, tree.names)
                continue
            }
            path.append(tree.frame(node))
            let isLeaf = index.starts[node] == index.starts[node + 1]
            if count != 0 || baseline != 0 || isLeaf {
                body(path, count, hasBaseline ? baseline : nil, tree.names)
            }
            stack.append((node, index.starts[node]))
        }
    }

    // MARK: Writing

    /// The folded text: one line per distinct stack, `STACK COUNT`, or `STACK BEFORE AFTER`
    /// with a baseline. Alphabetical for merged profiles, input order for flame charts,
    /// unless `sorted` says otherwise.
    public func folded(sorted: Bool? = nil) -> String {
        let output = OutputBuffer()
        write(into: output, sorted: sorted ?? (order == .alphabetical))
        return String(decoding: output.bytes, as: UTF8.self)
    }

    /// Writes the folded text to a file descriptor, 1 MiB at a time.
    public func write(toFileDescriptor descriptor: Int32, sorted: Bool? = nil) throws(FlameGraphError) {
        let output = OutputBuffer(descriptor: descriptor)
        write(into: output, sorted: sorted ?? (order == .alphabetical))
        output.flush()
        if let failure = output.failure { throw failure }
    }

    /// Writes the folded text to a file (created or truncated; "-" is standard output).
    public func write(toPath path: String, sorted: Bool? = nil) throws(FlameGraphError) {
        if path == "-" { return try write(toFileDescriptor: 1, sorted: sorted) }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .system("open", path, errno: errno) }
        defer { close(descriptor) }
        try write(toFileDescriptor: descriptor, sorted: sorted)
    }

    private func write(into output: OutputBuffer, sorted: Bool) {
        let tree = self.tree
        let index = tree.childIndex(sortedByName: sorted)
        let hasBaseline = tree.hasBaseline
        // The current path's bytes, `a;b;c`, and where each depth's frame starts in it.
        var path = RawArray<UInt8>(capacity: 4096)
        var frameStarts: [Int] = []
        defer { path.deallocate() }
        func line(_ path: RawArray<UInt8>, _ count: Double, _ baseline: Double) {
            output.append(UnsafeBufferPointer(start: path.base, count: path.count))
            output.append(0x20)
            if hasBaseline {
                output.append(count: baseline)
                output.append(0x20)
            }
            output.append(count: count)
            output.append(0x0A)
            output.flushIfFull()
        }
        var stack: [(node: Int, next: Int)] = [(0, index.starts[0])]
        while let top = stack.last {
            if top.next == index.starts[top.node + 1] {
                stack.removeLast()
                if let start = frameStarts.popLast() { path.removeLast(path.count - start) }
                continue
            }
            stack[stack.count - 1].next += 1
            let node = Int(index.list[top.next])
            let count = tree.counts[node]
            let baseline = hasBaseline ? tree.baseline[node] : 0
            if tree.isMarker(node) {
                // Samples that end at the parent (input-order trees).
                line(path, count, baseline)
                continue
            }
            frameStarts.append(path.count)
            if frameStarts.count > 1 { path.append(0x3B) }
            let name = tree.names.name(tree.frame(node))
            if let base = name.baseAddress, name.count > 0 { path.append(base, count: name.count) }
            if count != 0 || baseline != 0 || index.starts[node] == index.starts[node + 1] {
                line(path, count, baseline)
            }
            stack.append((node, index.starts[node]))
        }
    }
}

extension FoldedStacks: Equatable {
    /// Two profiles are equal when they hold the same stacks with the same counts, whatever
    /// order they were read in.
    public static func == (lhs: FoldedStacks, rhs: FoldedStacks) -> Bool {
        Set(lhs.stacks) == Set(rhs.stacks) && lhs.stacks.count == rhs.stacks.count
    }
}
