import Foundation
import Testing

@testable import FlameGraph

@Suite("folded stacks: reading, merging, writing")
struct FoldedStacksTests {
    @Test("duplicate stacks merge and counts add up")
    func mergesDuplicates() {
        let stacks = FoldedStacks("a;b;c 3\na;b 2\na;b;c 4\nd 1\n")
        #expect(stacks.stacks == [
            .init(["a", "b"], count: 2),
            .init(["a", "b", "c"], count: 7),
            .init(["d"], count: 1),
        ])
        #expect(stacks.totalCount == 10)
        #expect(stacks.lineCount == 4)
        #expect(stacks.frameCount == 4)
    }

    @Test("frames may hold spaces; the count is what follows the last space")
    func spacesInFrames() {
        let stacks = FoldedStacks("java;Interpreter run (x y);do it 12\n")
        #expect(stacks.stacks == [.init(["java", "Interpreter run (x y)", "do it"], count: 12)])
    }

    @Test("fractional counts, tabs, CRLF, blank lines and a last line without a newline")
    func tolerantSyntax() {
        let stacks = FoldedStacks("a;b 0.5\r\n\n   \na;b\t1.25\na;c 3.")
        #expect(stacks.stacks == [.init(["a", "b"], count: 1.75), .init(["a", "c"], count: 3)])
        #expect(stacks.invalidLineCount == 0)
        #expect(stacks.lineCount == 3)
    }

    @Test("bad lines are skipped and counted, with the first one's number")
    func badLines() {
        let stacks = FoldedStacks("a;b 1\nno count here\n 5\nc;d x12\nc;d -3\nc 2\n")
        #expect(stacks.stacks == [.init(["a", "b"], count: 1), .init(["c"], count: 2)])
        #expect(stacks.invalidLineCount == 4)
        #expect(stacks.firstInvalidLine == 2)
    }

    @Test("annotations stay part of the frame name")
    func annotations() {
        let stacks = FoldedStacks("java;Foo.bar_[j];memcpy_[k] 5\n")
        #expect(stacks.stacks.first?.frames == ["java", "Foo.bar_[j]", "memcpy_[k]"])
    }

    @Test("a line with two counts is BEFORE AFTER: the baseline column")
    func differentialLines() {
        let stacks = FoldedStacks("a;b 3 5\na;c 4 0\n")
        #expect(stacks.hasBaseline)
        #expect(stacks.stacks == [.init(["a", "b"], count: 5, baseline: 3), .init(["a", "c"], count: 0, baseline: 4)])
        #expect(stacks.folded() == "a;b 3 5\na;c 4 0\n")
        #expect(stacks.baselineTotal == 7)
    }

    @Test("reversed stacks merge from the leaf")
    func reversed() {
        let stacks = FoldedStacks("a;b;leaf 2\nc;leaf 3\n", reversed: true)
        #expect(stacks.stacks == [.init(["leaf", "b", "a"], count: 2), .init(["leaf", "c"], count: 3)])
        #expect(stacks.frameCount == 4)
    }

    @Test("input order merges only adjacent stacks and keeps self samples in their place")
    func inputOrder() {
        let text = "a;b 1\na;b 2\na 4\na;b 1\nz 1\na;c 1\n"
        let stacks = FoldedStacks(text, order: .input)
        #expect(stacks.stacks == [
            .init(["a", "b"], count: 3),
            .init(["a"], count: 4),
            .init(["a", "b"], count: 1),
            .init(["z"], count: 1),
            .init(["a", "c"], count: 1),
        ])
        #expect(stacks.folded() == "a;b 3\na 4\na;b 1\nz 1\na;c 1\n")
    }

    @Test("written text is sorted per level and reads back the same")
    func writeSorted() {
        let stacks = FoldedStacks("b;y 1\na;z 2\nb;x 3\na 4\n")
        #expect(stacks.folded() == "a 4\na;z 2\nb;x 3\nb;y 1\n")
    }

    @Test("parse(write(x)) == x for random profiles", arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func roundTrip(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        let input = RandomProfile.stacks(lines: 300, maxDepth: 12, fractional: seed % 2 == 0, using: &rng)
        let original = FoldedStacks(RandomProfile.text(input))
        let again = FoldedStacks(original.folded())
        #expect(again == original)
        #expect(again.folded() == original.folded())
        #expect(original.invalidLineCount == 0)
        // The merged counts are the sums of the input's.
        var sums: [[String]: Double] = [:]
        for stack in input { sums[stack.frames, default: 0] += stack.count }
        #expect(Dictionary(uniqueKeysWithValues: original.stacks.map { ($0.frames, $0.count) }) == sums)
    }

    @Test("frames added one by one equal the same text parsed")
    func addMatchesParse() {
        var built = FoldedStacks()
        built.add(["a", "b"], count: 2)
        built.add(["a"], count: 1)
        built.add(["a", "b"], count: 3)
        #expect(built == FoldedStacks("a;b 5\na 1\n"))
    }

    @Test("merging two profiles adds their counts; copies stay independent")
    func mergeProfiles() {
        var first = FoldedStacks("a;b 1\nc 2\n")
        let copy = first
        first.merge(FoldedStacks("a;b 4\nd 1\n"))
        #expect(first.stacks == [.init(["a", "b"], count: 5), .init(["c"], count: 2), .init(["d"], count: 1)])
        #expect(copy.stacks == [.init(["a", "b"], count: 1), .init(["c"], count: 2)])
        first.add(["c"], count: 1)
        #expect(first.stacks[1].count == 3)
    }

    @Test("a file is read in blocks: lines across block boundaries, a line longer than a block")
    func blockBoundaries() throws {
        let scratch = try ScratchDirectory()
        var rng = SeededGenerator(seed: 42)
        var text = RandomProfile.text(RandomProfile.stacks(lines: 500, maxDepth: 20, fractional: true, using: &rng))
        text += String(repeating: "very_long_frame_name;", count: 400) + "end 7\n"
        let path = try scratch.file("in.folded", text)
        let expected = FoldedStacks(text)
        for block in [1, 7, 64, 4096] {
            let stacks = FoldedStacks()
            let descriptor = open(path, O_RDONLY)
            defer { close(descriptor) }
            var parser = FoldedParser(tree: stacks.frameTree, reversed: false, intoBaseline: false)
            try FoldedReader.readAll(descriptor, name: path, blockSize: block, into: &parser)
            parser.finish(into: stacks.frameTree)
            #expect(stacks == expected, "block size \(block)")
        }
    }

    @Test("a large file read in parts on several threads equals one read straight through")
    func partsEqualWhole() throws {
        let scratch = try ScratchDirectory()
        var rng = SeededGenerator(seed: 7)
        let text = RandomProfile.text(RandomProfile.stacks(lines: 3000, maxDepth: 25, fractional: true, using: &rng))
            + "not a line\n"
        let path = try scratch.file("in.folded", text)
        let whole = FoldedStacks(text)
        for parts in [2, 3, 5] {
            var stacks = FoldedStacks()
            try stacks.read(path: path, asBaseline: false, parts: parts)
            #expect(stacks == whole, "\(parts) parts")
            #expect(stacks.lineCount == whole.lineCount)
            #expect(stacks.invalidLineCount == 1)
            #expect(stacks.firstInvalidLine == 3001)
            #expect(stacks.folded() == whole.folded())
        }
    }

    @Test("sorted input (as stackcollapse writes it) takes the fast path; order breaks fall back", arguments: [21, 22, 23] as [UInt64])
    func sortedInput(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        let input = RandomProfile.stacks(lines: 2000, maxDepth: 20, fractional: false, using: &rng)
        let reference = FoldedStacks(RandomProfile.text(input.shuffled(using: &rng)))
        // Frame-wise sorted: in order all the way.
        let sorted = FoldedStacks(reference.folded())
        #expect(sorted.frameTree.storage.inOrder)
        #expect(sorted == reference)
        // Byte-wise sorted lines (LC_ALL=C sort): mostly in order, with breaks where a
        // frame is a prefix of another ("a" then "a b;c" then "a;d").
        let byteSorted = RandomProfile.text(input).split(separator: "\n").sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        let fromBytes = FoldedStacks(byteSorted.joined(separator: "\n"))
        #expect(fromBytes == reference)
        // Sorted parts of one file merge without look-ups, and equal the whole.
        let scratch = try ScratchDirectory()
        let path = try scratch.file("sorted.folded", reference.folded())
        for parts in [2, 4] {
            var stacks = FoldedStacks()
            try stacks.read(path: path, asBaseline: false, parts: parts)
            #expect(stacks == reference, "\(parts) parts")
            #expect(stacks.frameTree.storage.inOrder, "\(parts) parts")
            // More stacks after that still merge correctly.
            stacks.add(input[0].frames, count: 1)
            var expected = reference
            expected.add(input[0].frames, count: 1)
            #expect(stacks == expected)
        }
        // Out of order at the start, in the middle, at the end.
        let lines = reference.folded().split(separator: "\n").map(String.init)
        for cut in [1, lines.count / 2, lines.count - 1] {
            var lines = lines
            lines.swapAt(cut - 1, cut)
            #expect(FoldedStacks(lines.joined(separator: "\n")) == reference, "swap at \(cut)")
        }
    }

    @Test("a stack that is a prefix of the previous one breaks the order")
    func prefixBreaksOrder() {
        let stacks = FoldedStacks("a;b;c 1\na;b 2\na;b;d 3\na;b;c 4\n")
        #expect(stacks.stacks == [.init(["a", "b"], count: 2), .init(["a", "b", "c"], count: 5), .init(["a", "b", "d"], count: 3)])
        #expect(!stacks.frameTree.storage.inOrder)
        let ordered = FoldedStacks("a;b 2\na;b;c 1\na;b;c 4\na;b;d 3\na;bc 1\nb 1\n")
        #expect(ordered.frameTree.storage.inOrder)
        #expect(ordered.frameCount == 6)
    }

    @Test("repeated lines hit the stack cache; mostly distinct lines switch it off; both count right")
    func repeatedStacks() {
        var text = ""
        for index in 0..<9000 { text += "main;worker\(index % 7);task\(index) 1\n" }
        for index in 0..<3000 { text += "main;worker\(index % 7);task\(index % 5) 2\n" }
        let stacks = FoldedStacks(text)
        #expect(stacks.totalCount == 15000)
        #expect(stacks.frameCount == 1 + 7 + 9000 + 30)  // 35 (worker, task) pairs repeat, 5 seen before
        let hot = FoldedStacks(String(repeating: "a;b;c 1\nd;e 2\n", count: 5000))
        #expect(hot.stacks == [.init(["a", "b", "c"], count: 5000), .init(["d", "e"], count: 10000)])
        let chart = FoldedStacks(String(repeating: "a;b 1\nc 1\n", count: 3), order: .input)
        #expect(chart.stacks.count == 6)
    }

    @Test("a descriptor is read from its current offset, in parts too")
    func currentOffset() throws {
        let scratch = try ScratchDirectory()
        var rng = SeededGenerator(seed: 5)
        let body = RandomProfile.text(RandomProfile.stacks(lines: 500, maxDepth: 10, fractional: false, using: &rng))
        let path = try scratch.file("in.folded", "skipped;line 99\n" + body)
        for parts in [1, 3] {
            let descriptor = open(path, O_RDONLY)
            defer { close(descriptor) }
            _ = lseek(descriptor, off_t("skipped;line 99\n".utf8.count), SEEK_SET)
            var stacks = FoldedStacks()
            try stacks.read(fileDescriptor: descriptor, name: path, asBaseline: false, parts: parts)
            #expect(stacks == FoldedStacks(body), "\(parts) parts")
        }
    }

    @Test("reading a missing file throws one line naming it")
    func missingFile() {
        var stacks = FoldedStacks()
        #expect(throws: FlameGraphError("open /nonexistent/x.folded: no such file or directory")) {
            try stacks.read(path: "/nonexistent/x.folded")
        }
    }

    @Test("writing to a file and reading it back")
    func fileRoundTrip() throws {
        let scratch = try ScratchDirectory()
        let stacks = FoldedStacks("x;y 1.5\nx 2\nz;w_[k] 3 4\n")
        try stacks.write(toPath: scratch.path("out.folded"))
        var back = FoldedStacks()
        try back.read(path: scratch.path("out.folded"))
        #expect(back == stacks)
    }

    @Test("the golden folded output of a small profile")
    func golden() throws {
        let stacks = FoldedStacks(try Golden.text("cpu.folded"))
        try Golden.check(stacks.folded(), "cpu-merged.folded")
    }
}
