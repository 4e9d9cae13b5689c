import ArgumentParser
import Foundation
import Testing

@testable import FlameGraph
@testable import Tools

@Suite("bpfkit flamegraph")
struct FlameGraphCommandTests {
    func run(_ arguments: [String]) throws {
        let parsed = try FlameGraphCommand.parseAsRoot(arguments)
        let command = try #require(parsed as? FlameGraphCommand)
        try command.run()
    }

    @Test("reads files and writes the SVG to -o, with flamegraph.pl's options")
    func filesToOutput() throws {
        let scratch = try ScratchDirectory("cli")
        let first = try scratch.file("a.folded", "main;work 3\n")
        let second = try scratch.file("b.folded", "main;work 2\nmain;idle_[k] 5\nnot a stack\n")
        let output = scratch.path("out.svg")
        try run([first, second, "-o", output, "--title", "Two files", "--subtitle", "sub", "--width", "900",
                 "--height", "18", "--fontsize", "11", "--fonttype", "Helvetica", "--minwidth", "0.5%",
                 "--countname", "ms", "--nametype", "Func:", "--colors", "io", "--hash", "--factor", "2",
                 "--notes", "hello"])
        let svg = try String(contentsOfFile: output, encoding: .utf8)
        let parsed = try ParsedSVG(svg)
        #expect(parsed.texts["title"] == "Two files")
        #expect(parsed.texts["subtitle"] == "sub")
        #expect(parsed.root["width"] == "900")
        #expect(parsed.frame("work")?.title == "work (10 ms, 50.00%)")
        #expect(parsed.frame("idle")?.count == 5)
        #expect(svg.contains("nameType: \"Func:\""))
    }

    @Test("--inverted, --reverse and --flamechart")
    func layouts() throws {
        let scratch = try ScratchDirectory("cli")
        let input = try scratch.file("in.folded", "a;b 1\nc;b 2\na;b 1\n")
        try run([input, "-o", scratch.path("rev.svg"), "--reverse", "--inverted"])
        let reversed = try ParsedSVG(String(contentsOfFile: scratch.path("rev.svg"), encoding: .utf8))
        #expect(reversed.frame("b")?.count == 4)
        #expect(reversed.texts["title"] == "Icicle Graph")
        try run([input, "-o", scratch.path("chart.svg"), "--flamechart"])
        let chart = try ParsedSVG(String(contentsOfFile: scratch.path("chart.svg"), encoding: .utf8))
        #expect(chart.frames(named: "a").count == 2)
    }

    @Test("--diff BEFORE AFTER draws a differential graph; --normalize scales before")
    func differential() throws {
        let scratch = try ScratchDirectory("cli")
        let before = try scratch.file("before.folded", "m;x 10\nm;y 10\n")
        let after = try scratch.file("after.folded", "m;x 30\nm;y 10\n")
        try run(["--diff", before, after, "-o", scratch.path("diff.svg")])
        let diff = try ParsedSVG(String(contentsOfFile: scratch.path("diff.svg"), encoding: .utf8))
        #expect(diff.frame("x")?.fill == "rgb(255,0,0)")
        #expect(diff.frame("y")?.fill == "rgb(255,255,255)")
        #expect(diff.texts["title"] == "Differential Flame Graph")
        try run(["--diff", "--normalize", before, after, "-o", scratch.path("norm.svg")])
        let normalized = try ParsedSVG(String(contentsOfFile: scratch.path("norm.svg"), encoding: .utf8))
        // Scaled to 40 samples, y before is 20: it shrank.
        #expect(RGB(parsing: normalized.frame("y")!.fill)!.blue == 255)
    }

    @Test("--cp keeps colours in the palette file")
    func consistentPalette() throws {
        let scratch = try ScratchDirectory("cli")
        let input = try scratch.file("in.folded", "a;b 1\n")
        let map = scratch.path("colors.map")
        try run([input, "-o", scratch.path("1.svg"), "--cp", "--palette-file", map])
        let saved = try String(contentsOfFile: map, encoding: .utf8)
        #expect(saved.contains("b->rgb("))
        try run([input, "-o", scratch.path("2.svg"), "--cp", "--palette-file", map])
        #expect(try String(contentsOfFile: scratch.path("1.svg"), encoding: .utf8)
                == String(contentsOfFile: scratch.path("2.svg"), encoding: .utf8))
    }

    @Test("bad options are one-line errors", arguments: [
        (["--minwidth", "wide"], "--minwidth"),
        (["--bgcolors", "pink"], "--bgcolors"),
        (["--diff", "one"], "--diff takes two files"),
        (["--normalize", "x"], "--normalize applies to --diff only"),
        (["--colors", "rainbow"], "rainbow"),
        (["--width", "0"], "--width"),
    ])
    func validation(arguments: [String], message: String) {
        #expect {
            _ = try FlameGraphCommand.parseAsRoot(arguments)
        } throws: { error in
            FlameGraphCommand.message(for: error).contains(message)
        }
    }

    @Test("no stacks: an error graph and a non-zero exit")
    func emptyInput() throws {
        let scratch = try ScratchDirectory("cli")
        let input = try scratch.file("in.folded", "nothing here\n")
        #expect(throws: ExitCode(1)) { try run([input, "-o", scratch.path("out.svg")]) }
        #expect(try String(contentsOfFile: scratch.path("out.svg"), encoding: .utf8).contains("ERROR"))
    }

    @Test("a missing file is one line: open …: no such file or directory")
    func missingFile() {
        #expect(throws: ExitCode(1)) { try run(["/nonexistent.folded", "-o", "/dev/null"]) }
    }

    @Test("--help lists the flamegraph.pl options")
    func help() {
        let help = FlameGraphCommand.helpMessage()
        for option in ["--title", "--subtitle", "--width", "--height", "--fontsize", "--fonttype", "--minwidth",
                       "--countname", "--nametype", "--colors", "--hash", "--cp", "--inverted", "--reverse",
                       "--flamechart", "--negate", "--factor", "--total", "--diff", "--normalize", "--output"] {
            #expect(help.contains(option), "\(option)")
        }
    }
}
