import Foundation
import Testing

@testable import FlameGraph

@Suite("reading by sorted chunks: the stack sort, the sorted-tree merge, chunked reads")
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

    @Test("stacks sort frame-wise, not byte-wise", arguments: [1, 2, 3, 4] as [UInt64])
    func stackOrder(seed: UInt64) {
        let stacks = Self.randomStacks(3000, seed: seed)
        var text: [UInt8] = []
        var starts: [Int] = []
        var lengths: [Int] = []
        for frames in stacks {
            let bytes = Array(frames.joined(separator: ";").utf8)
            starts.append(text.count)
            lengths.append(bytes.count)
            text += bytes + [0x0A]
        }
        var order = [UInt32](repeating: 0, count: stacks.count)
        text.withUnsafeBufferPointer { text in
            StackSorter.sort(text: text.baseAddress!, starts: starts, lengths: lengths, count: stacks.count, into: &order)
        }
        let sorted = order.map { stacks[Int($0)] }
        #expect(sorted == stacks.sorted(by: Self.framewise))
        #expect(Set(order).count == stacks.count)
        let isSorted = text.withUnsafeBufferPointer { text in
            StackSorter.isSorted(text: text.baseAddress!, starts: order.map { starts[Int($0)] },
                                 lengths: order.map { lengths[Int($0)] }, count: stacks.count)
        }
        #expect(isSorted)
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

    @Test("the byte mapping keeps order for every pair of bytes but ';', which comes first")
    func byteMapping() {
        var misordered: [(Int, Int)] = []
        for a in 1...255 where a != 0x3B {
            let mapped = StackSorter.mapped(UInt64(a) << 56) >> 56
            if mapped <= 1 { misordered.append((a, 0x3B)) }
            for b in 1...255 where a < b && b != 0x3B {
                if StackSorter.mapped(UInt64(a) << 56) >= StackSorter.mapped(UInt64(b) << 56) { misordered.append((a, b)) }
            }
        }
        #expect(misordered.isEmpty)
        #expect(StackSorter.mapped(0x3B00_0000_0000_0000) >> 56 == 1)
        // All eight bytes of a word at once, as the sort uses it.
        let word: UInt64 = 0x3B_20_7A_3A_3B_01_FF_3C
        #expect(StackSorter.mapped(word) == 0x01_21_7A_3B_01_02_FF_3C)
    }

    @Test("an unsorted file read in chunks equals the same text parsed line by line", arguments: [1, 2, 3, 7] as [Int])
    func chunksEqualWhole(chunks: Int) throws {
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

    @Test("merging sorted trees equals merging by look-up, and stays in sorted preorder", arguments: [5, 6] as [UInt64])
    func sortedMerge(seed: UInt64) throws {
        let stacks = Self.randomStacks(2000, seed: seed)
        func tree(_ part: ArraySlice<[String]>, baseline: Bool) -> FrameTree {
            let text = part.map { $0.joined(separator: ";") + (baseline ? " 2 1\n" : " 1\n") }.joined()
            return text.utf8CString.withUnsafeBufferPointer { raw in
                raw.withMemoryRebound(to: UInt8.self) {
                    SortingReader.tree(ofChunk: $0.baseAddress!, count: $0.count - 1, asBaseline: false).0
                }
            }
        }
        let first = tree(stacks[..<1200], baseline: false)
        let second = tree(stacks[1200...], baseline: true)
        #expect(first.isSortedPreorder && second.isSortedPreorder)
        let merged = FrameTree.mergeSorted(first, second)
        Self.expectSortedPreorder(merged)
        let byLookup = first.copy()
        byLookup.merge(from: second)
        #expect(FoldedStacks(tree: merged) == FoldedStacks(tree: byLookup))
        #expect(merged.hasBaseline)
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
