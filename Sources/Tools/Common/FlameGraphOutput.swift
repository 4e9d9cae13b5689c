import FlameGraph
import Report

/// Writes the stack tools' results as a flame graph (`--svg FILE`), with the palette the
/// kind of profile calls for: hot (CPU), io (off-CPU), wakeup, chain.
func writeFlameGraph(
    _ path: String?, palette: Palette, title: String, countName: String, lines: [(frames: [String], value: UInt64)]
) throws {
    guard let path else { return }
    var stacks = FoldedStacks()
    for (frames, value) in lines where value > 0 {
        stacks.add(frames.map { $0.replacing(";", with: ":") }, count: Double(value))
    }
    var options = FlameGraphOptions()
    options.title = title
    options.countName = countName
    options.palette = palette
    let summary = try SVGRenderer(options: options).write(stacks, toPath: path)
    _ = summary
    Output.standardError.line("wrote flame graph \(path)")
}

/// Writes a CPI flame graph (`profile --cpi --svg FILE`): widths by cycles, colours by CPI.
func writeCPIFlameGraph(_ profile: CPIProfile, path: String) throws {
    var options = FlameGraphOptions()
    options.title = "CPI Flame Graph: red = instruction heavy, blue = stall heavy"
    options.countName = "cycles"
    var map: PaletteMap? = profile.paletteMap()
    _ = try SVGRenderer(options: options).write(profile.foldedStacks(), toPath: path, paletteMap: &map)
    Output.standardError.line("wrote flame graph \(path)")
}
