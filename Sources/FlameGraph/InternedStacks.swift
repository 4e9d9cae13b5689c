#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One reader's share of a folded profile, read front to back with every frame interned
/// once: each stack becomes a run of name ids in one flat array, so the text is never held
/// and the later sort and build (``RankSorter``, ``FrameTree/build(sortedRuns:names:asBaseline:)``)
/// work on small integers rather than on bytes spread over the text.
///
/// The text is read once, front to back. A line's frames that it shares with the line
/// before (sorted profiles share long prefixes) take that line's ids without a look-up; a
/// stack seen before (unaggregated profiles repeat their hot stacks) only adds to that
/// stack's counts, so memory follows the distinct stacks, not the lines.
struct InternedStacks {
    /// This reader's names; ids are local until ``renumber(_:)`` maps them to global ranks.
    var names = FrameNames()
    /// Name ids of every stack's frames, root first, one stack after another.
    var frames = RawArray<UInt32>(capacity: 1 << 16)
    /// Stack `s` is `frames[starts[s] ..< starts[s + 1]]`.
    var starts = RawArray<Int>(capacity: 1 << 12)
    var counts = RawArray<Double>(capacity: 1 << 12)
    /// Baseline ("before") counts, NaN where the line had one count.
    var befores = RawArray<Double>(capacity: 1 << 12)
    var tally = SortingReader.Tally()
    private var repeats = RepeatedStacks(enabled: true)
    /// Where each of the last interned stack's frames ends.
    private var ends = RawArray<Int>(capacity: 256)
    /// The text of the last stack interned (in the current block), whose frames end at `ends`.
    private var previous: UnsafePointer<UInt8>?
    private var previousLength = 0
    /// Local name ids in name order (``sortNames()``).
    var nameOrder = RawArray<UInt32>(capacity: 4)
    /// The stack of the last line interned.
    private var previousStack = 0
    private var distinct = DistinctStacks()

    /// `expectedBytes`: how much text this reader is to get, if known. Its arrays are sized
    /// for it from the start: growing them while another reader runs would move their pages
    /// (mremap), which stalls every thread of the process on its memory map lock and on
    /// TLB flushes. Pages not reached are never touched, so this costs address space only.
    init(expectedBytes: Int = 0) {
        if expectedBytes > 0 {
            // (Capped, so a huge file asks for no absurd block: past it they grow.)
            frames.reserve(min(expectedBytes / 4, 1 << 26))
            let lines = min(expectedBytes / 32, 1 << 23)
            starts.reserve(lines)
            counts.reserve(lines)
            befores.reserve(lines)
        }
        starts.append(0)
    }

    var stackCount: Int { counts.count }

    func deallocate() {
        names.deallocate()
        frames.deallocate()
        starts.deallocate()
        counts.deallocate()
        befores.deallocate()
        repeats.deallocate()
        ends.deallocate()
        distinct.deallocate()
        nameOrder.deallocate()
    }

    /// Reads every complete line of `text[0 ..< count]`; with `final`, a last line without
    /// a newline too. Returns how many bytes were consumed (the rest starts a line).
    mutating func parse(block text: UnsafePointer<UInt8>, count: Int, final: Bool) -> Int {
        previous = nil  // the last block's text is gone
        var position = 0
        while position < count {
            let rest = count - position
            let length: Int
            if let newline = memchr(text + position, 0x0A, rest) {
                length = UnsafeRawPointer(newline) - UnsafeRawPointer(text + position)
            } else {
                guard final else { return position }
                length = rest
            }
            add(line: text + position, length: length)
            position += length + 1
        }
        return count
    }

    /// One line, without its newline.
    @inline(__always)
    private mutating func add(line: UnsafePointer<UInt8>, length: Int) {
        switch FoldedParser.split(line: line, length: length) {
        case .blank:
            return
        case .invalid:
            tally.lines += 1
            tally.invalid += 1
            if tally.firstInvalid == 0 { tally.firstInvalid = tally.lines }
        case let .stack(stackLength, count, before):
            tally.lines += 1
            if let earlier = repeats.lookup(line, stackLength) {
                add(count, before, to: Int(earlier))
                return
            }
            let shared = sharedFrames(line, stackLength)
            if shared < 0 {
                // The same stack as the line before.
                add(count, before, to: previousStack)
                return
            }
            intern(line, stackLength, shared: shared)
            previous = line
            previousLength = stackLength
            if let earlier = distinct.lookup(frames.base + starts[stackCount], frames.count - starts[stackCount], stackCount, starts.base) {
                // Seen before, farther back: its frames are not kept twice.
                frames.removeLast(frames.count - starts[stackCount])
                repeats.store(line, stackLength, node: UInt32(earlier))
                previousStack = earlier
                add(count, before, to: earlier)
                return
            }
            repeats.store(line, stackLength, node: UInt32(stackCount))
            previousStack = stackCount
            starts.append(frames.count)
            counts.append(count)
            befores.append(before ?? .nan)
        }
    }

    @inline(__always)
    private func add(_ count: Double, _ before: Double?, to stack: Int) {
        counts[stack] += count
        if let before { befores[stack] = (befores[stack].isNaN ? 0 : befores[stack]) + before }
    }

    /// Appends the name ids of the frames of `stack[0 ..< length]` to `frames`, `shared`
    /// of them the same as the last stack's (``sharedFrames(_:_:)``); `ends` becomes
    /// where each frame ends.
    @inline(__always)
    private mutating func intern(_ stack: UnsafePointer<UInt8>, _ length: Int, shared: Int) {
        ends.removeLast(ends.count - shared)
        frames.reserve(frames.count + shared + length / 2 + 1)
        if shared > 0 {
            // The frames the last stack shares: its ids again.
            let last = starts[previousStack]
            frames.append(frames.base + last, count: shared)
            if ends[shared - 1] == length { return }
        }
        var position = shared == 0 ? 0 : ends[shared - 1] + 1
        // Room for the most frames the rest could hold; what is not used is given back.
        let room = (length - position) / 2 + 1
        let ids = frames.appendUninitialized(room)
        let newEnds = ends.appendUninitialized(room)
        var added = 0
        while true {
            let (end, hash) = FrameNames.frame(stack, from: position, length)
            ids[added] = names.intern(stack + position, end - position, hash: hash)
            newEnds[added] = end
            added += 1
            if end == length { break }
            position = end + 1
        }
        frames.removeLast(room - added)
        ends.removeLast(room - added)
    }

    /// Puts the stacks in frame-wise order, sorting them unless they are already (as
    /// stackcollapse writes them); the name ids must be ranks (``renumber(_:)``).
    ///
    /// The stacks are copied in their new order into new arrays, in one tight loop whose
    /// loads do not depend on each other, so the cache misses of reading them from anywhere
    /// overlap; the tree is then built from memory read front to back.
    mutating func arrange() {
        let stacks = stackCount
        guard !RankSorter.isSorted(frames: frames.base, starts: starts.base, count: stacks) else { return }
        let order = RawArray<UInt32>(zeroed: stacks)
        defer { order.deallocate() }
        RankSorter.sort(frames: frames.base, starts: starts.base, count: stacks, into: order.base)
        var newFrames = RawArray<UInt32>(capacity: frames.count)
        var newStarts = RawArray<Int>(capacity: stacks + 1)
        var newCounts = RawArray<Double>(capacity: stacks)
        var newBefores = RawArray<Double>(capacity: stacks)
        newStarts.append(0)
        for index in 0..<stacks {
            let stack = Int(order[index])
            let start = starts[stack]
            newFrames.append(frames.base + start, count: starts[stack + 1] - start)
            newStarts.append(newFrames.count)
            newCounts.append(counts[stack])
            newBefores.append(befores[stack])
        }
        frames.deallocate()
        starts.deallocate()
        counts.deallocate()
        befores.deallocate()
        frames = newFrames
        starts = newStarts
        counts = newCounts
        befores = newBefores
    }

    /// How many whole frames `stack[0 ..< length]` shares with the last stack interned
    /// (sorted profiles share long prefixes line after line), or -1 if it is the same stack.
    @inline(__always)
    private func sharedFrames(_ stack: UnsafePointer<UInt8>, _ length: Int) -> Int {
        guard let previous else { return 0 }
        let common = FoldedParser.commonPrefix(stack, length, previous, previousLength)
        if common == length, length == previousLength { return -1 }
        var shared = 0
        let frameCount = ends.count
        while shared < frameCount {
            let end = ends[shared]
            guard end < common || (end == common && (common == length || stack[common] == 0x3B)) else { break }
            shared += 1
        }
        return shared
    }

    /// Replaces every local name id by `ranks[id]`.
    func renumber(_ ranks: UnsafePointer<UInt32>) {
        let frames = self.frames.base
        for index in 0..<self.frames.count { frames[index] = ranks[Int(frames[index])] }
    }
}
