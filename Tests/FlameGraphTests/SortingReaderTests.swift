import Foundation
import Testing

@testable import FlameGraph

@Suite("reading by interned, sorted runs: the rank sort, parts and blocks")
struct SortingReaderTests {
    /// Names where byte order and frame-wise order disagree: a name that is a prefix of
    /// others followed by bytes below and above `;`, and empty names.
    static let vocabulary = ["a", "a b", "a.b", "a:b", "a<b", "ab", "a_[k]", "b", "", "Ωmega", "x y z", "a\u{1}"]

    static func randomStacks(_ count: Int, seed: UInt64) -> [[String]] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in
            var frames = (0..<Int.random(in: 1...8, using: &rng)).map { _ in vocabulary.randomElement(using: &rng)! }
            if frames.allSatisfy(\.isEmpty) { frames[0] = "main" }
            return frames
        }
    }

    /// Frame by frame, each frame in byte order (a prefix first), a stack before its longer ones.
    static func framewise(_ left: [String], _ right: [String]) -> Bool {
        left.map { Array($0.utf8) }.lexicographicallyPrecedes(right.map { Array($0.utf8) }) {
            $0.lexicographicallyPrecedes($1)
        }
    }

    @Test("stacks sort frame-wise, not byte-wise, as runs of name ranks", arguments: [1, 2, 3, 4] as [UInt64])
    func stackOrder(seed: UInt64) {
        let stacks = Self.randomStacks(3000, seed: seed)
        // Two readers, as two cores read two halves of a file.
        let texts = [stacks[..<1700], stacks[1700...]].map { part in
            part.map { $0.joined(separator: ";") + " 1\n" }.joined()
        }
        let readers = UnsafeMutableBufferPointer<InternedStacks>.allocate(capacity: 2)
        defer {
            for reader in readers { reader.deallocate() }
            readers.deallocate()
        }
        for (index, text) in texts.enumerated() {
            (readers.baseAddress! + index).initialize(to: InternedStacks())
            var bytes = Array(text.utf8)
            _ = bytes.withUnsafeMutableBufferPointer { readers[index].parse(block: $0.baseAddress!, count: $0.count, final: true) }
            readers[index].sortNames()
        }
        let (names, ranks) = InternedStacks.rankNames(readers)
        defer {
            names.deallocate()
            for rank in ranks { rank.deallocate() }
        }
        // Ranks are byte order of the names, each name once.
        let all = (0..<names.count).map { Array(names.name(UInt32($0))) }
        for pair in zip(all, all.dropFirst()) { #expect(pair.0.lexicographicallyPrecedes(pair.1)) }
        #expect(Set(all) == Set(stacks.joined().map { Array($0.utf8) }))
        for index in 0..<2 {
            readers[index].renumber(ranks[index].base)
            readers[index].arrange()
            let reader = readers[index]
            let arranged = (0..<reader.stackCount).map { stack in
                (reader.starts[stack]..<reader.starts[stack + 1]).map { String(decoding: names.name(reader.frames[$0]), as: UTF8.self) }
            }
            // Repeated stacks are held once.
            let distinct = Array(Set(index == 0 ? stacks[..<1700] : stacks[1700...]))
            #expect(arranged == distinct.sorted(by: Self.framewise))
            #expect(RankSorter.isSorted(frames: reader.frames.base, starts: reader.starts.base, count: reader.stackCount))
        }
    }

    @Test("a frame's hash taken while finding its end equals the hash of its bytes, at every length")
    func frameHash() {
        var rng = SeededGenerator(seed: 11)
        for _ in 0..<2000 {
            let length = Int.random(in: 1...70, using: &rng)
            let stack: [UInt8] = (0..<length).map { _ in
                Int.random(in: 0..<6, using: &rng) == 0 ? 0x3B : UInt8.random(in: 0...255, using: &rng)
            }
            stack.withUnsafeBufferPointer { bytes in
                var position = 0
                while true {
                    let (end, hash) = FrameNames.frame(bytes.baseAddress!, from: position, length)
                    #expect(end == (stack[position...].firstIndex(of: 0x3B) ?? length))
                    #expect(hash == FrameNames.hash(bytes.baseAddress! + position, end - position))
                    if end == length { break }
                    position = end + 1
                }
            }
        }
        // Zero padding and length: a name and the same name with NUL bytes after it differ.
        let names: [[UInt8]] = [[0x61], [0x61, 0], [0x61, 0, 0, 0, 0, 0, 0, 0], []]
        let hashes = Set(names.map { name in name.withUnsafeBufferPointer { FrameNames.hash($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, name.count) } })
        #expect(hashes.count == names.count)
    }

    @Test("an unsorted file read in parts equals the same text parsed line by line", arguments: [1, 2, 3, 7] as [Int])
    func partsEqualWhole(chunks: Int) throws {
        var rng = SeededGenerator(seed: UInt64(chunks))
        let lines = Self.randomStacks(4000, seed: UInt64(100 + chunks)).map { frames in
            frames.joined(separator: ";") + " " + String(Int.random(in: 1...50, using: &rng)) + "\n"
        }
        let text = lines[..<2000].joined() + "not a line\n\n" + lines[2000...].joined() + "a;b 3 4\n"
        let scratch = try ScratchDirectory()
        let path = try scratch.file("in.folded", text)
        var stacks = FoldedStacks()
        try stacks.read(path: path, asBaseline: false, parts: chunks)
        let whole = FoldedStacks(text)
        #expect(stacks == whole)
        #expect(stacks.folded() == whole.folded())
        #expect(stacks.lineCount == 4002)
        #expect(stacks.invalidLineCount == 1)
        #expect(stacks.firstInvalidLine == 2001)
        #expect(stacks.hasBaseline)
        #expect(stacks.frameTree.isSortedPreorder)
        Self.expectSortedPreorder(stacks.frameTree)
    }

    @Test("a sorted file (repeats next to each other, a stack before its longer ones) read in parts equals the whole",
          arguments: [1, 2, 5] as [Int])
    func sortedPartsEqualWhole(parts: Int) throws {
        let stacks = Self.randomStacks(3000, seed: 21).sorted(by: Self.framewise)
        let text = stacks.map { $0.joined(separator: ";") + " 2\n" }.joined()
        let scratch = try ScratchDirectory()
        let path = try scratch.file("sorted.folded", text)
        var stacksRead = FoldedStacks()
        try stacksRead.read(path: path, asBaseline: false, parts: parts)
        #expect(stacksRead == FoldedStacks(text))
        #expect(stacksRead.lineCount == 3000)
        Self.expectSortedPreorder(stacksRead.frameTree)
    }

    @Test("a pipe read in small blocks equals the whole; lines cross block boundaries")
    func pipeInChunks() throws {
        let text = Self.randomStacks(1500, seed: 9).map { $0.joined(separator: ";") + " 1\n" }.joined() + "last;line 5"
        for blockBytes in [64, 1000, 1 << 20] {
            var ends: [Int32] = [0, 0]
            #expect(pipe(&ends) == 0)
            let writeEnd = ends[1]
            let writer = Thread {
                var bytes = Array(text.utf8)
                bytes.withUnsafeMutableBytes { raw in
                    var offset = 0
                    while offset < raw.count {
                        let written = write(writeEnd, raw.baseAddress! + offset, raw.count - offset)
                        if written <= 0 { break }
                        offset += written
                    }
                }
                close(writeEnd)
            }
            writer.start()
            let (tree, tally) = try SortingReader.readStream(ends[0], name: "pipe", asBaseline: false, blockBytes: blockBytes)
            close(ends[0])
            #expect(FoldedStacks(tree: tree) == FoldedStacks(text), "blocks of \(blockBytes)")
            #expect(tally.lines == 1501)
            Self.expectSortedPreorder(tree)
        }
    }

    /// Nodes in preorder (each node's subtree follows it) with siblings in name order.
    static func expectSortedPreorder(_ tree: FrameTree) {
        let index = tree.childIndex(sortedByName: false)
        var expected = 1
        var stack = [0]
        while let node = stack.popLast() {
            let children = Array(index.children(of: node))
            for pair in zip(children, children.dropFirst()) {
                #expect(tree.names.precedes(tree.frame(Int(pair.0)), tree.frame(Int(pair.1))))
            }
            for child in children.reversed() { stack.append(Int(child)) }
            if node != 0 {
                #expect(node == expected)
                expected += 1
            }
        }
        #expect(expected == tree.nodeCount)
    }
}
