#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads folded text for a merged (alphabetical) profile the fast way whatever the input's
/// order. Each reader (one per core for a regular file, one part of the file each) reads
/// its text front to back, in blocks it does not keep, and interns every frame once
/// (``InternedStacks``): a stack becomes a run of name ids. The names of all readers are
/// then ranked in byte order, each reader's runs renumbered to ranks and sorted frame-wise
/// (``RankSorter``; skipped when already sorted, as stackcollapse output is), and one pass
/// over the sorted runs builds the tree (``FrameTree/build(sortedRuns:names:asBaseline:)``):
/// a frame past the part a stack shares with the one before it is new, so nothing is
/// hashed or looked up after the names.
///
/// Unsorted profiles (bcc's `profile -f` writes stacks in hash-map order) otherwise cost a
/// look-up per frame in an index far larger than the caches; sorting the text itself reads
/// stacks from anywhere in it, a cache miss each time.
enum SortingReader {
    /// How much text is read at a time (lines longer than this are read whole).
    static let blockBytes = 1 << 20
    /// A regular file smaller than this per extra core is read by one thread.
    static let bytesPerWorker = 4 << 20

    /// Lines read, and which were not stacks.
    struct Tally {
        var lines = 0
        var invalid = 0
        /// 1-based, counting non-blank lines (0: none).
        var firstInvalid = 0

        /// Adds the tally of the text that follows.
        mutating func append(_ next: Tally) {
            if firstInvalid == 0, next.firstInvalid > 0 { firstInvalid = lines + next.firstInvalid }
            lines += next.lines
            invalid += next.invalid
        }
    }

    // MARK: Inputs

    /// Reads bytes `start ..< size` of a regular file in parts on up to `processorCount`
    /// threads (`parts`: how many, nil for by size and cores).
    static func read(_ descriptor: Int32, name: String, start: Int, size: Int, parts wanted: Int?,
                     asBaseline: Bool) throws(FlameGraphError) -> (FrameTree, Tally) {
        let length = max(size - start, 0)
        let byCores = min(WorkerThreads.processorCount, 8, max(1, length / bytesPerWorker))
        let parts = wanted.map { max(1, min($0, length / 2)) } ?? byCores
        let bounds = try FoldedReader.boundaries(descriptor, name: name, start: start, size: size, parts: parts)
        let readers = UnsafeMutableBufferPointer<InternedStacks>.allocate(capacity: parts)
        let failures = UnsafeMutableBufferPointer<FlameGraphError?>.allocate(capacity: parts)
        failures.initialize(repeating: nil)
        for part in 0..<parts { (readers.baseAddress! + part).initialize(to: InternedStacks(expectedBytes: bounds[part + 1] - bounds[part])) }
        defer {
            for reader in readers { reader.deallocate() }
            _ = readers.deinitialize()
            readers.deallocate()
            _ = failures.deinitialize()
            failures.deallocate()
        }
        WorkerThreads.run(parts) { part in
            do throws(FlameGraphError) {
                try readRange(descriptor, name: name, from: bounds[part], to: bounds[part + 1], into: &readers[part])
                readers[part].sortNames()
            } catch {
                failures[part] = error
            }
        }
        if let failure = failures.lazy.compactMap({ $0 }).first { throw failure }
        return (tree(of: readers, threads: byCores, asBaseline: asBaseline), tally(of: readers))
    }

    /// Reads a pipe (or any descriptor) to its end on this thread, `blockBytes` at a time.
    static func readStream(_ descriptor: Int32, name: String, asBaseline: Bool,
                           blockBytes: Int = blockBytes) throws(FlameGraphError) -> (FrameTree, Tally) {
        try withOneReader(asBaseline: asBaseline) { (reader: inout InternedStacks) throws(FlameGraphError) in
            try FoldedReader.feed(descriptor, name: name, blockSize: blockBytes) { reader.parse(block: $0, count: $1, final: $2) }
        }
    }

    /// One reader on this thread: `fill` parses into it, then its names are sorted and its tree built.
    private static func withOneReader<Failure: Error>(
        asBaseline: Bool, _ fill: (inout InternedStacks) throws(Failure) -> Void
    ) throws(Failure) -> (FrameTree, Tally) {
        let readers = UnsafeMutableBufferPointer<InternedStacks>.allocate(capacity: 1)
        readers.baseAddress!.initialize(to: InternedStacks())
        defer {
            readers[0].deallocate()
            _ = readers.deinitialize()
            readers.deallocate()
        }
        try fill(&readers[0])
        readers[0].sortNames()
        return (tree(of: readers, threads: 1, asBaseline: asBaseline), readers[0].tally)
    }

    /// Reads bytes `start ..< end` of a regular file (`start` begins a line, `end` follows
    /// a newline or is the file's end) into `reader`, a block at a time.
    private static func readRange(_ descriptor: Int32, name: String, from start: Int, to end: Int,
                                  into reader: inout InternedStacks) throws(FlameGraphError) {
        try FoldedReader.feed(descriptor, name: name, range: start..<end, blockSize: blockBytes) {
            reader.parse(block: $0, count: $1, final: $2)
        }
    }

    /// The tree of the complete lines in `text[0 ..< count]` (a last line may lack its newline).
    static func tree(ofChunk text: UnsafePointer<UInt8>, count: Int, asBaseline: Bool) -> (FrameTree, Tally) {
        withOneReader(asBaseline: asBaseline) { (reader: inout InternedStacks) in
            _ = reader.parse(block: text, count: count, final: true)
        }
    }

    private static func tally(of readers: UnsafeMutableBufferPointer<InternedStacks>) -> Tally {
        var tally = Tally()
        for reader in readers { tally.append(reader.tally) }
        return tally
    }

    // MARK: Building

    /// Ranks the readers' names, renumbers and sorts each reader's stacks (on up to
    /// `threads` threads), and builds the tree from the sorted runs. The readers' own name
    /// tables are freed on the way.
    static func tree(of readers: UnsafeMutableBufferPointer<InternedStacks>, threads: Int, asBaseline: Bool) -> FrameTree {
        let (names, ranks) = InternedStacks.rankNames(readers)
        let threads = max(1, min(threads, readers.count))
        WorkerThreads.run(threads) { worker in
            for index in stride(from: worker, to: readers.count, by: threads) {
                readers[index].renumber(ranks[index].base)
                readers[index].names.deallocate()
                readers[index].names = FrameNames()
                readers[index].arrange()
            }
        }
        for rank in ranks { rank.deallocate() }
        return FrameTree.build(sortedRuns: readers, names: names, asBaseline: asBaseline)
    }
}
