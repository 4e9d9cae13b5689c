#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads folded text for a merged (alphabetical) profile the fast way whatever the input's
/// order: in chunks of at most ``chunkBytes``, each chunk's stacks sorted frame-wise
/// (``StackSorter``) and built into a tree of its own by ``FoldedParser``'s in-order path
/// (a frame past the part shared with the stack before is new: no hashing of paths, no
/// look-up index), then the chunk trees merged in sorted-preorder walks
/// (``FrameTree/mergeSorted(_:_:)``).
///
/// Unsorted profiles (bcc's `profile -f` writes stacks in hash-map order) otherwise cost a
/// look-up per frame in an index far larger than the caches. Only a chunk's text is held
/// at a time per core, never the whole input; a regular file's chunks are read with
/// pread(2) and built on every core at once.
enum SortingReader {
    /// At most this much text is held per core.
    static let chunkBytes = 32 << 20
    /// How many stacks' bytes are read ahead at a time while building a tree from them.
    static let touchBlock = 8
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

    /// Reads bytes `start ..< size` of a regular file in chunks on up to `processorCount`
    /// threads (`chunks`: how many chunks, nil for by size).
    static func read(_ descriptor: Int32, name: String, start: Int, size: Int, chunks wanted: Int?,
                     asBaseline: Bool) throws(FlameGraphError) -> (FrameTree, Tally) {
        let length = max(size - start, 0)
        let workers = min(WorkerThreads.processorCount, 8, max(1, length / bytesPerWorker))
        // By default a whole number of chunks per worker, so the workers finish together.
        let rounds = (length + chunkBytes * workers - 1) / (chunkBytes * workers)
        let chunks = wanted.map { max(1, min($0, length / 2)) } ?? workers * max(rounds, 1)
        let bounds = try FoldedReader.boundaries(descriptor, name: name, start: start, size: size, parts: chunks)
        let trees = UnsafeMutableBufferPointer<FrameTree?>.allocate(capacity: chunks)
        let tallies = UnsafeMutableBufferPointer<Tally>.allocate(capacity: chunks)
        let failures = UnsafeMutableBufferPointer<FlameGraphError?>.allocate(capacity: chunks)
        trees.initialize(repeating: nil)
        tallies.initialize(repeating: Tally())
        failures.initialize(repeating: nil)
        defer {
            _ = trees.deinitialize()
            _ = tallies.deinitialize()
            _ = failures.deinitialize()
            trees.deallocate()
            tallies.deallocate()
            failures.deallocate()
        }
        let threads = min(workers, chunks)
        WorkerThreads.run(threads) { worker in
            var buffer = RawArray<UInt8>(capacity: 1 << 16)
            defer { buffer.deallocate() }
            for chunk in stride(from: worker, to: chunks, by: threads) {
                let count: Int
                do throws(FlameGraphError) {
                    count = try readRange(descriptor, name: name, from: bounds[chunk], count: bounds[chunk + 1] - bounds[chunk], into: &buffer)
                } catch {
                    failures[chunk] = error
                    return
                }
                (trees[chunk], tallies[chunk]) = tree(ofChunk: buffer.base, count: count, asBaseline: asBaseline)
            }
        }
        if let failure = failures.lazy.compactMap({ $0 }).first { throw failure }
        var tally = Tally()
        for chunk in 0..<chunks { tally.append(tallies[chunk]) }
        return (merge(trees, workers: threads), tally)
    }

    /// Reads a pipe (or any descriptor) to its end, a chunk (of about `chunkBytes`) at a
    /// time on this thread.
    static func readStream(_ descriptor: Int32, name: String, asBaseline: Bool,
                           chunkBytes: Int = chunkBytes) throws(FlameGraphError) -> (FrameTree, Tally) {
        var buffer = RawArray<UInt8>(capacity: min(1 << 20, chunkBytes))
        defer { buffer.deallocate() }
        var trees: [FrameTree?] = []
        var tally = Tally()
        func build(_ count: Int) {
            let (tree, chunkTally) = self.tree(ofChunk: buffer.base, count: count, asBaseline: asBaseline)
            trees.append(tree)
            tally.append(chunkTally)
        }
        var filled = 0
        while true {
            if filled == buffer.capacity { buffer.reserve(min(buffer.capacity * 2, max(chunkBytes, filled * 2))) }
            let got = readSome(descriptor, buffer.base + filled, buffer.capacity - filled)
            if got < 0 {
                if errno == EINTR { continue }
                throw .system("read", name, errno: errno)
            }
            if got == 0 { break }
            filled += got
            guard filled >= chunkBytes else { continue }
            // A full chunk: build the lines it holds whole, keep the rest for the next.
            var end = filled
            while end > 0, buffer[end - 1] != 0x0A { end -= 1 }
            guard end > 0 else { continue }  // one line longer than a chunk: read on
            build(end)
            memmove(buffer.base, buffer.base + end, filled - end)
            filled -= end
        }
        if filled > 0 || trees.isEmpty { build(filled) }
        let built = UnsafeMutableBufferPointer<FrameTree?>.allocate(capacity: trees.count)
        _ = built.initialize(from: trees)
        trees.removeAll()
        defer {
            _ = built.deinitialize()
            built.deallocate()
        }
        return (merge(built, workers: 1), tally)
    }

    /// Reads `count` bytes from `offset` to the start of `buffer`'s memory (replacing what
    /// it held); returns how many it got (fewer if the file shrank).
    private static func readRange(_ descriptor: Int32, name: String, from offset: Int, count: Int,
                                  into buffer: inout RawArray<UInt8>) throws(FlameGraphError) -> Int {
        buffer.reserve(count)
        var done = 0
        while done < count {
            let got = pread(descriptor, buffer.base + done, count - done, off_t(offset + done))
            if got < 0 {
                if errno == EINTR { continue }
                throw .system("read", name, errno: errno)
            }
            if got == 0 { break }  // the file shrank
            done += got
        }
        return done
    }

    // MARK: One chunk

    /// The tree of the complete lines in `text[0 ..< count]` (a last line may lack its newline).
    static func tree(ofChunk text: UnsafePointer<UInt8>, count: Int, asBaseline: Bool) -> (FrameTree, Tally) {
        var tally = Tally()
        var starts = RawArray<Int>(capacity: 1 << 12)
        var lengths = RawArray<Int>(capacity: 1 << 12)
        var counts = RawArray<Double>(capacity: 1 << 12)
        var befores = RawArray<Double>(capacity: 1 << 12)
        // Unaggregated profiles repeat their hot stacks over and over.
        var repeats = RepeatedStacks(enabled: true)
        defer {
            starts.deallocate()
            lengths.deallocate()
            counts.deallocate()
            befores.deallocate()
            repeats.deallocate()
        }
        var position = 0
        while position < count {
            let rest = count - position
            let length = memchr(text + position, 0x0A, rest).map { UnsafeRawPointer($0) - UnsafeRawPointer(text + position) } ?? rest
            switch FoldedParser.split(line: text + position, length: length) {
            case .blank:
                break
            case .invalid:
                tally.lines += 1
                tally.invalid += 1
                if tally.firstInvalid == 0 { tally.firstInvalid = tally.lines }
            case let .stack(stackLength, sampleCount, before):
                tally.lines += 1
                if let earlier = repeats.lookup(text + position, stackLength) {
                    // A stack seen just before: add to its counts rather than sort it again.
                    let stack = Int(earlier)
                    counts[stack] += sampleCount
                    if let before { befores[stack] = (befores[stack].isNaN ? 0 : befores[stack]) + before }
                    break
                }
                repeats.store(text + position, stackLength, node: UInt32(starts.count))
                starts.append(position)
                lengths.append(stackLength)
                counts.append(sampleCount)
                befores.append(before ?? .nan)
            }
            position += length + 1
        }

        let stacks = starts.count
        let order = RawArray<UInt32>(zeroed: stacks)
        defer { order.deallocate() }
        let inTextOrder = StackSorter.isSorted(text: text, starts: starts.base, lengths: lengths.base, count: stacks)
        if inTextOrder {
            for index in 0..<stacks { order[index] = UInt32(index) }
        } else {
            StackSorter.sort(text: text, starts: starts.base, lengths: lengths.base, count: stacks, into: order.base)
        }
        let tree = FrameTree(merging: .everywhere)
        var parser = FoldedParser(tree: tree, reversed: false, intoBaseline: asBaseline, cachingRepeats: false)
        var touched: UInt8 = 0
        for position in 0..<stacks {
            if !inTextOrder, position % touchBlock == 0 {
                // The stacks are taken in sorted order, from anywhere in the chunk: read the
                // next few ahead, every 64th byte, in one loop of independent loads so their
                // cache misses overlap rather than stall the parser one after another.
                for ahead in position..<min(position + touchBlock, stacks) {
                    let stack = Int(order[ahead])
                    var offset = starts[stack]
                    let end = offset + lengths[stack]
                    while offset < end {
                        touched &+= text[offset]
                        offset += 64
                    }
                }
            }
            let stack = Int(order[position])
            let before = befores[stack]
            parser.add(stack: text + starts[stack], length: lengths[stack], count: counts[stack], before: before.isNaN ? nil : before)
        }
        parser.finish(into: tree)
        tree.sink = UInt64(touched)  // (keeps the loads)
        return (tree, tally)
    }

    // MARK: Merging

    /// Merges the chunk trees in rounds of pairs (each pair on its own thread), each input
    /// freed as soon as its pair is merged. Trees that are not in sorted preorder (a chunk
    /// whose order the parser found broken) are merged by look-up instead.
    static func merge(_ trees: UnsafeMutableBufferPointer<FrameTree?>, workers: Int) -> FrameTree {
        var count = trees.count
        guard count > 0 else { return FrameTree(merging: .everywhere) }
        let results = UnsafeMutableBufferPointer<FrameTree?>.allocate(capacity: count / 2 + 1)
        results.initialize(repeating: nil)
        defer {
            _ = results.deinitialize()
            results.deallocate()
        }
        while count > 1 {
            let pairs = count / 2
            let threads = max(1, min(pairs, workers))
            WorkerThreads.run(threads) { worker in
                for pair in stride(from: worker, to: pairs, by: threads) {
                    results[pair] = merged(trees[2 * pair].take()!, trees[2 * pair + 1].take()!)
                }
            }
            for pair in 0..<pairs { trees[pair] = results[pair].take() }
            if count % 2 == 1 { trees[pairs] = trees[count - 1].take() }
            count = (count + 1) / 2
        }
        return trees[0].take()!
    }

    private static func merged(_ first: FrameTree, _ second: FrameTree) -> FrameTree {
        // Chunks of input that was sorted already: one follows the other, and is appended.
        if first.canAppendInOrder(second) {
            first.merge(from: second)
            return first
        }
        if second.canAppendInOrder(first) {
            second.merge(from: first)
            return second
        }
        if first.isSortedPreorder, second.isSortedPreorder { return FrameTree.mergeSorted(first, second) }
        first.merge(from: second)
        return first
    }
}

/// read(2), under a name that `SortingReader.read` does not hide.
private func readSome(_ descriptor: Int32, _ buffer: UnsafeMutablePointer<UInt8>, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}
