import Foundation
import Testing

@testable import FlameGraph

@Suite("SVG flame graphs")
struct SVGRendererTests {
    static let usableWidth = 1180.0  // 1200 px less 10 px each side

    func render(_ text: String, order: FoldedStacks.Order = .alphabetical, reversed: Bool = false,
                _ configure: (inout FlameGraphOptions) -> Void = { _ in }) throws -> (String, ParsedSVG, SVGRenderer.Summary) {
        var options = FlameGraphOptions()
        configure(&options)
        let stacks = FoldedStacks(text, order: order, reversed: reversed)
        var map: PaletteMap?
        let (bytes, summary) = SVGRenderer(options: options).render(stacks, paletteMap: &map)
        let svg = String(decoding: bytes, as: UTF8.self)
        return (svg, try ParsedSVG(svg), summary)
    }

    @Test("golden SVGs of small profiles", arguments: [
        ("cpu-default.svg", [String]()),
        ("cpu-icicle.svg", ["inverted", "subtitle"]),
        ("cpu-java-hash.svg", ["java", "hash"]),
        ("cpu-chart.svg", ["flamechart"]),
        ("cpu-minwidth.svg", ["minwidth"]),
        ("cpu-reverse-io.svg", ["reverse", "io"]),
    ])
    func golden(name: String, flags: [String]) throws {
        let text = try Golden.text("cpu.folded")
        let (svg, parsed, _) = try render(text, order: flags.contains("flamechart") ? .input : .alphabetical,
                                          reversed: flags.contains("reverse")) { options in
            if flags.contains("inverted") { options.inverted = true }
            if flags.contains("subtitle") { options.subtitle = "pid 1 <all> & more"; options.title = "CPU" }
            if flags.contains("java") { options.palette = .java }
            if flags.contains("io") { options.palette = .io; options.countName = "us" }
            if flags.contains("hash") { options.colorByName = true }
            if flags.contains("flamechart") { options.flameChart = true }
            if flags.contains("minwidth") { options.minWidth = .percent(5) }
        }
        #expect(!parsed.frames.isEmpty)
        try Golden.check(svg, name)
    }

    @Test("the golden differential graph")
    func goldenDifferential() throws {
        let before = FoldedStacks(try Golden.text("cpu.folded"))
        let after = FoldedStacks("""
            swapper;start_kernel_[k];cpu_idle_[k];default_idle_[k] 120
            bash;main;reader_loop;read_command;yyparse 30
            java;start_thread;JavaMain;java/util/HashMap.get_[j];Interpreter 40
            java;start_thread;JavaMain;Foo::bar(int, char*);memcpy_[k] 60
            sshd;main;new_function 8
            """)
        let profile = DifferentialProfile(before: before, after: after, normalize: false)
        let svg = SVGRenderer().render(profile.stacks)
        _ = try ParsedSVG(svg)
        try Golden.check(svg, "cpu-diff.svg")
        try Golden.check(profile.folded(), "cpu-diff.folded")
    }

    @Test("frame widths are proportional to counts, within a pixel")
    func widths() throws {
        let (_, svg, _) = try render("a;b 30\na;c 10\nd 60\n")
        let scale = Self.usableWidth / 100
        for (name, count) in [("all", 100.0), ("a", 40), ("b", 30), ("c", 10), ("d", 60)] {
            let frame = try #require(svg.frame(name))
            #expect(abs(frame.width - count * scale) <= 1, "\(name)")
            #expect(frame.count == count)
            #expect(frame.title == "\(name) (\(Int(count)) samples, \(Int(count)).00%)")
        }
        #expect(svg.frame("all")?.x == 10)
    }

    @Test("siblings are alphabetical per level; parents' own samples come first")
    func alphabetical() throws {
        let (_, svg, _) = try render("m;zeta 5\nm;alpha 5\nm 2\nm;Mid 5\nb 1\n")
        let names = ["Mid", "alpha", "zeta"]  // byte order: uppercase first
        let xs = names.map { svg.frame($0)!.x }
        #expect(xs == xs.sorted())
        #expect(xs.count == Set(xs).count)
        let m = try #require(svg.frame("m"))
        // m's own 2 samples sit at its left edge.
        #expect(abs(svg.frame("Mid")!.x - (m.x + 2 * Self.usableWidth / 18)) < 0.02)
        #expect(svg.frame("b")!.x < m.x)
    }

    @Test("a flame chart keeps input order")
    func flameChartOrder() throws {
        let (_, svg, _) = try render("m;zeta 5\nm;alpha 5\nm;zeta 5\n", order: .input) { $0.flameChart = true }
        let zetas = svg.frames(named: "zeta").map(\.x).sorted()
        let alpha = try #require(svg.frame("alpha"))
        #expect(zetas.count == 2)
        #expect(zetas[0] < alpha.x && alpha.x < zetas[1])
        #expect(svg.texts["title"] == "Flame Chart")
    }

    @Test("--minwidth elides narrow frames (and all above them) and says how many")
    func minWidthElides() throws {
        var text = "wide;child 1000\n"
        for index in 0..<50 { text += "narrow\(index);above;top 1\n" }
        let (_, svg, summary) = try render(text) { $0.minWidth = .pixels(2) }
        #expect(summary.framesElided == 150)
        #expect(summary.framesDrawn == 3)
        #expect(svg.frames.count == 3)
        #expect(svg.root["fg:elided"] == "150")
        #expect(svg.frame("all")?.count == 1050)  // elided samples still count

        let (_, percent, percentSummary) = try render(text) { $0.minWidth = .percent(0.05) }
        #expect(percentSummary.framesElided == 0)
        #expect(percent.frames.count == 153)
    }

    @Test("the default 0.1 px minimum merges a huge profile into a small SVG")
    func hugeProfileStaysSmall() throws {
        var stacks = FoldedStacks()
        for index in 0..<20000 { stacks.add(["main", "worker\(index % 100)", "leaf\(index)"], count: 1) }
        let svg = SVGRenderer().render(stacks)
        let summary = try ParsedSVG(svg)
        #expect(summary.frames.count < 300)
        #expect(svg.utf8.count < 100_000)
    }

    @Test("total width equals the total count, for random profiles", arguments: [11, 12, 13, 14, 15] as [UInt64])
    func totalWidthProperty(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        let input = RandomProfile.stacks(lines: 400, maxDepth: 15, fractional: seed % 2 == 1, using: &rng)
        let total = input.reduce(0) { $0 + $1.count }
        let (_, svg, summary) = try render(RandomProfile.text(input)) { $0.minWidth = .pixels(0) }
        let root = try #require(svg.frame("all"))
        #expect(abs(root.count - total) < 1e-6 * total)
        #expect(abs(root.width - Self.usableWidth) < 0.01)
        #expect(summary.framesElided == 0)
        let scale = Self.usableWidth / total
        for frame in svg.frames {
            #expect(abs(frame.width - frame.count * scale) < 0.01)
            #expect(abs(frame.x - (10 + frame.start * scale)) < 0.01)
        }
        // Children fit inside their parents: each level's widths add up to at most the root.
        let levels = Dictionary(grouping: svg.frames, by: \.y)
        for (_, frames) in levels { #expect(frames.reduce(0) { $0 + $1.width } <= Self.usableWidth + 0.05 * Double(frames.count)) }
    }

    @Test("icicle graphs grow downwards")
    func inverted() throws {
        let (_, svg, _) = try render("a;b 1\n") { $0.inverted = true }
        #expect(svg.frame("all")!.y < svg.frame("a")!.y)
        #expect(svg.frame("a")!.y < svg.frame("b")!.y)
        #expect(svg.texts["title"] == "Icicle Graph")
    }

    @Test("labels are cut to fit with '..', and none below three characters")
    func labels() throws {
        let long = String(repeating: "x", count: 300)
        let (_, svg, _) = try render("\(long) 10\nshort 10\ntiny 0.01\n") { $0.minWidth = .pixels(0) }
        let label = try #require(svg.frame(long)?.label)
        #expect(label.hasSuffix(".."))
        #expect(Double(label.count) * 12 * 0.59 <= svg.frame(long)!.width - 3 + 0.001)
        #expect(svg.frame("short")?.label == "short")
        #expect(svg.frame("tiny")?.label == nil)
    }

    @Test("hostile names stay well-formed XML", arguments: [
        ("<script>&lt\"'", "<script>&lt\"'"), ("bad\u{01}control", "bad?control"),
        ("]]>end", "]]>end"), ("--comment--", "--comment--"),
    ])
    func escaping(name: String, shown: String) throws {
        let (svg, parsed, _) = try render("\(name);x 3\n") { $0.title = name; $0.notes = name; $0.nameType = name }
        #expect(parsed.frame(shown) != nil)
        #expect(parsed.texts["title"] == shown)
        #expect(!svg.contains("<script>&"))
    }

    @Test("invalid UTF-8 is replaced, keeping the XML well-formed")
    func invalidUTF8() throws {
        var stacks = FoldedStacks()
        let bytes: [UInt8] = Array("main;bad".utf8) + [0xFF, 0xC3, 0x28] + Array(" 4\n".utf8)
        bytes.withUnsafeBytes { stacks.parse(bytes: $0) }
        let svg = SVGRenderer().render(stacks)
        let parsed = try ParsedSVG(svg)
        #expect(parsed.frame("bad\u{FFFD}\u{FFFD}(") != nil)
    }

    @Test("kernel frames are told apart from user frames by colour")
    func kernelColours() throws {
        var text = ""
        for index in 0..<40 { text += "user\(index);kernel\(index)_[k] 1\n" }
        for palette in [Palette.hot, .io, .mem, .wakeup, .chain, .red, .purple] {
            let (_, svg, _) = try render(text) { $0.palette = palette }
            // Kernel frames are a pale tint of the palette: their darkest channel is lighter
            // than any user frame's darkest channel.
            func darkest(_ name: String) throws -> UInt8 {
                let frame = try #require(svg.frame(name))
                let color = try #require(RGB(parsing: frame.fill))
                return min(color.red, color.green, color.blue)
            }
            let users = try (0..<40).map { try darkest("user\($0)") }
            let kernels = try (0..<40).map { try darkest("kernel\($0)") }
            #expect(users.max()! < kernels.min()!, "\(palette)")
        }
        let (_, java, _) = try render("java/lang/Thread.run;Foo_[j];bar_[i];memcpy_[k];libc_read;Std::x 1\n") { $0.palette = .java }
        #expect(RGB(parsing: java.frame("memcpy")!.fill)!.blue == 0)  // orange
        let jit = RGB(parsing: java.frame("Foo")!.fill)!
        #expect(jit.green > jit.red)  // green
        let c = RGB(parsing: java.frame("libc_read")!.fill)!
        #expect(c.red > c.green)  // red
    }

    @Test("--hash colours a function the same in every graph")
    func hashStable() throws {
        let (_, first, _) = try render("a;shared_function 5\nb 3\n") { $0.colorByName = true }
        let (_, second, _) = try render("zzz;yyy;shared_function 9\nshared_function 1\n") { $0.colorByName = true }
        let colours = Set(second.frames(named: "shared_function").map(\.fill))
        #expect(colours == [first.frame("shared_function")!.fill])
    }

    @Test("every palette draws in its own colour family", arguments: Palette.allCases)
    func palettes(palette: Palette) throws {
        let (_, svg, _) = try render("a;b;c 3\nd 1\n") { $0.palette = palette }
        for frame in svg.frames {
            let color = try #require(RGB(parsing: frame.fill))
            switch palette {
            case .io, .blue, .chain: #expect(color.blue > color.red)
            case .mem, .green: #expect(color.green > color.red)
            case .aqua, .wakeup: #expect(color.green > color.red && color.blue > color.red)
            case .red, .orange: #expect(color.red > color.green && color.red > color.blue)
            case .hot: #expect(color.red >= 205 && color.blue <= 55)
            default: break
            }
        }
    }

    @Test("a consistent palette file keeps colours and records new names")
    func paletteMap() throws {
        let scratch = try ScratchDirectory()
        var map: PaletteMap? = PaletteMap()
        map?["b"] = RGB(1, 2, 3)
        let renderer = SVGRenderer()
        let (bytes, _) = renderer.render(FoldedStacks("a;b 2\nc 1\n"), paletteMap: &map)
        let parsed = try ParsedSVG(String(decoding: bytes, as: UTF8.self))
        #expect(parsed.frame("b")?.fill == "rgb(1,2,3)")
        #expect(map?["a"] != nil && map?["c"] != nil)
        try map!.save(path: scratch.path("palette.map"))
        let loaded = try PaletteMap(path: scratch.path("palette.map"))
        #expect(loaded == map)
        #expect(try String(contentsOfFile: scratch.path("palette.map"), encoding: .utf8).hasPrefix("a->rgb("))
        var again: PaletteMap? = loaded
        let (second, _) = renderer.render(FoldedStacks("c;a 7\n"), paletteMap: &again)
        let reparsed = try ParsedSVG(String(decoding: second, as: UTF8.self))
        #expect(reparsed.frame("a")?.fill == map?["a"]?.description)
    }

    @Test("differential graphs: sized by after, red grew, blue shrank; --negate swaps")
    func differential() throws {
        let profile = DifferentialProfile(before: FoldedStacks("m;grew 10\nm;shrank 50\nm;same 20\n"),
                                          after: FoldedStacks("m;grew 40\nm;shrank 10\nm;same 20\n"))
        let svg = try ParsedSVG(SVGRenderer().render(profile.stacks))
        let grew = RGB(parsing: svg.frame("grew")!.fill)!
        let shrank = RGB(parsing: svg.frame("shrank")!.fill)!
        #expect(grew.red == 255 && grew.blue < 100)
        #expect(shrank.blue == 255 && shrank.red < 200)
        #expect(svg.frame("same")?.fill == "rgb(255,255,255)")
        #expect(svg.frame("grew")?.count == 40)
        #expect(svg.frame("grew")?.title == "grew (40 samples, 57.14%; +42.86%)")
        var options = FlameGraphOptions()
        options.negate = true
        let negated = try ParsedSVG(SVGRenderer(options: options).render(profile.stacks))
        #expect(RGB(parsing: negated.frame("grew")!.fill)!.blue == 255)
    }

    @Test("--normalize scales the before profile to the after total")
    func normalize() throws {
        let before = FoldedStacks("a 10\nb 10\n")
        let after = FoldedStacks("a 40\nb 40\n")
        let raw = DifferentialProfile(before: before, after: after)
        let normalized = DifferentialProfile(before: before, after: after, normalize: true)
        #expect(raw.stacks.baselineTotal == 20)
        #expect(normalized.stacks.baselineTotal == 80)
        let svg = try ParsedSVG(SVGRenderer().render(normalized.stacks))
        #expect(svg.frames.allSatisfy { $0.fill == "rgb(255,255,255)" })
        #expect(normalized.folded() == "a 40 40\nb 40 40\n")
    }

    @Test("--factor scales the counts shown; --total fixes the scale")
    func factorAndTotal() throws {
        let (_, svg, _) = try render("a 3\n") { $0.factor = 1000; $0.countName = "us" }
        #expect(svg.frame("a")?.title == "a (3,000 us, 100.00%)")
        let (_, scaled, _) = try render("a 3\n") { $0.total = 12 }
        #expect(abs(scaled.frame("all")!.width - Self.usableWidth / 4) < 0.01)
        #expect(scaled.frame("a")?.title == "a (3 samples, 25.00%)")
    }

    @Test("no input gives an error graph")
    func empty() throws {
        let (svg, _, summary) = try render("garbage\n")
        #expect(summary.isEmpty)
        #expect(svg.contains("ERROR: no stack counts"))
    }

    @Test("options reach the SVG: title, sizes, font, notes")
    func options() throws {
        let (svg, parsed, _) = try render("a;b 1\n") {
            $0.title = "My title"
            $0.width = 800
            $0.frameHeight = 20
            $0.fontSize = 10
            $0.fontType = "Courier New"
            $0.nameType = "Frame:"
            $0.notes = "note text"
            $0.background = .flat(RGB(1, 2, 3))
        }
        #expect(parsed.texts["title"] == "My title")
        #expect(parsed.root["width"] == "800")
        #expect(parsed.frame("all")?.width == 780)
        #expect(svg.contains("font-family: \"Courier New\""))
        #expect(svg.contains("nameType: \"Frame:\""))
        #expect(svg.contains("<desc id=\"notes\">note text</desc>"))
        #expect(svg.contains("stop-color=\"#010203\""))
        let height = 3 * 20 + 10 * 3 + 10 * 2 + 10
        #expect(parsed.root["height"] == String(height))
    }
}
