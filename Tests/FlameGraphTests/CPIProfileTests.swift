import Foundation
import Testing

@testable import FlameGraph

/// Two counts per stack, cycles then instructions, as `profile --cpi -f` prints them. Over the
/// whole profile CPI is 1 (12000 cycles, 12000 instructions); `spin` retires four
/// instructions a cycle (CPI 0.25), `chase` one every four cycles (CPI 4), `parse` sits at 1.
private let recorded = """
    app;main;spin 2000 8000
    app;main;chase 8000 2000
    app;main;parse 1000 1000
    app;main;parse;spin 1000 1000
    not a valid line
    """

@Suite("CPI flame graphs: arithmetic and colours from recorded cycles and instructions")
struct CPIProfileTests {
    @Test("two counts per line are read; other lines are counted as invalid")
    func parsing() {
        let profile = CPIProfile(parsing: recorded)
        #expect(profile.stacks.count == 4)
        #expect(profile.invalidLineCount == 1)
        #expect(profile.stacks[0] == .init(frames: ["app", "main", "spin"], cycles: 2000, instructions: 8000))
        #expect(profile.totalCycles == 12000)
        #expect(profile.totalInstructions == 12000)
        #expect(profile.cpi == 1)
    }

    @Test("per-function totals count a function once per stack and include what it calls")
    func totals() {
        let totals = CPIProfile(parsing: recorded).totalsByFunction()
        #expect(totals["main"]?.cycles == 12000)
        #expect(totals["spin"]?.cycles == 3000 && totals["spin"]?.instructions == 9000)
        #expect(totals["parse"]?.cycles == 2000 && totals["parse"]?.instructions == 2000)
        #expect(totals["chase"]?.cycles == 8000 && totals["chase"]?.instructions == 2000)
        // A recursive stack counts its function once.
        let recursive = CPIProfile(parsing: "a;f;f;f 300 100\n").totalsByFunction()
        #expect(recursive["f"]?.cycles == 300 && recursive["f"]?.instructions == 100)
        #expect(CPIProfile.cpi(cycles: 5, instructions: 0) == nil)
    }

    @Test("colour: red below the profile's CPI, white at it, blue above, saturated at four times either way")
    func colours() {
        #expect(CPIProfile.color(cpi: 1, reference: 1) == RGB(255, 255, 255))
        #expect(CPIProfile.color(cpi: 0.25, reference: 1) == RGB(255, 0, 0))
        #expect(CPIProfile.color(cpi: 0.01, reference: 1) == RGB(255, 0, 0))
        #expect(CPIProfile.color(cpi: 4, reference: 1) == RGB(0, 0, 255))
        #expect(CPIProfile.color(cpi: 0.5, reference: 1) == RGB(255, 128, 128))
        #expect(CPIProfile.color(cpi: 4, reference: 2) == RGB(128, 128, 255))
        #expect(CPIProfile.color(cpi: nil, reference: 1) == RGB(0, 0, 255))  // cycles, no instructions: all stall
    }

    @Test("the SVG is as wide as the cycles and colours each frame by its CPI")
    func rendering() throws {
        let profile = CPIProfile(parsing: recorded)
        var map: PaletteMap? = profile.paletteMap()
        let svg = String(decoding: SVGRenderer(options: FlameGraphOptions()).render(profile.foldedStacks(), paletteMap: &map).svg, as: UTF8.self)
        func fill(_ name: String) -> String? {
            guard let title = svg.range(of: "<title>\(name) ("), let fill = svg[title.upperBound...].range(of: "fill=\"") else { return nil }
            return String(svg[fill.upperBound...].prefix { $0 != "\"" })
        }
        // spin: 3000 cycles / 9000 instructions, CPI 1/3 → red; chase: CPI 4 → full blue; parse: CPI 1 → white.
        #expect(fill("chase") == "rgb(0,0,255)")
        #expect(fill("parse") == "rgb(255,255,255)")
        let spin = try #require(fill("spin"))
        #expect(spin.hasPrefix("rgb(255,"), "\(spin)")
        // Widths are cycles: chase holds 8000 of 12000.
        let chase = try #require(svg.range(of: "<title>chase ("))
        #expect(svg[chase.upperBound...].prefix(while: { $0 != ")" }).hasSuffix("66.67%"))
    }
}
