import ArgumentParser
import FlameGraph

/// How a flame graph looks, as flamegraph.pl's options: shared by `bpfkit flamegraph` and by
/// every tool that writes `--svg FILE` (profile, offcputime, …). A tool adds:
///
/// ```swift
/// @Option(help: "Also draw the stacks as a flame graph SVG in FILE.") var svg: String?
/// @OptionGroup(title: "Flame graph options") var graph: FlameGraphArguments
/// …
/// var stacks = graph.makeStacks()
/// stacks.add(["bash", "main", "vfs_read_[k]"], count: 7)   // per stack, root first
/// if let svg { try graph.write(stacks, toPath: svg) }
/// ```
public struct FlameGraphArguments: ParsableArguments {
    @Option(help: "Title text (default: Flame Graph; Icicle Graph, Flame Chart or Differential Flame Graph).")
    var title: String?

    @Option(help: "A second title line.")
    var subtitle: String?

    @Option(help: "Image width in pixels.")
    var width: Double = 1200

    @Option(help: "Height of each frame in pixels.")
    var height: Double = 16

    @Option(name: .customLong("fontsize"), help: "Font size.")
    var fontSize: Double = 12

    @Option(name: .customLong("fonttype"), help: "Font family.")
    var fontType = "Verdana"

    @Option(name: .customLong("fontwidth"), help: "Average character width, as a fraction of the font size.")
    var fontWidth = 0.59

    @Option(name: .customLong("minwidth"),
            help: "Omit frames narrower than this many pixels, or this percentage of all samples with '%'.")
    var minWidth = "0.1"

    @Option(name: .customLong("countname"), help: "What the counts are (samples, us, bytes, …).")
    var countName = "samples"

    @Option(name: .customLong("nametype"), help: "What the frames are, as the hover line starts.")
    var nameType = "Function:"

    @Option(help: ArgumentHelp("Colour palette: hot (CPU), mem, io (off-CPU), wakeup, chain, java, js, perl, red, green, blue, aqua, yellow, purple, orange.", valueName: "palette"))
    var colors: Palette = .hot

    @Option(name: .customLong("bgcolors"), help: "Background: yellow, blue, green, grey or #rrggbb (default: by palette).")
    var backgroundColors: String?

    @Flag(help: "Colour by function name, so a function keeps its colour across graphs.")
    var hash = false

    @Flag(name: .customLong("cp"), help: "Consistent palette: reuse and extend the colours kept in the palette file.")
    var consistentPalette = false

    @Option(name: .customLong("palette-file"), help: "The palette file of --cp.")
    var paletteFile = "palette.map"

    @Flag(help: "Icicle graph: the root at the top.")
    var inverted = false

    @Flag(help: "Merge stacks from the leaf frames (a stack-reversed graph).")
    var reverse = false

    @Flag(name: .customLong("flamechart"), help: "Flame chart: keep the input order (time) and merge only adjacent stacks.")
    var flameChart = false

    @Flag(help: "Swap a differential graph's colours: red for what shrank, blue for what grew.")
    var negate = false

    @Option(help: "Multiply counts by this when showing them.")
    var factor: Double = 1

    @Option(help: "Size the graph for this many samples, so graphs of different profiles share one scale.")
    var total: Double?

    @Option(help: "Notes to keep in the SVG.")
    var notes: String?

    public init() {}

    public func validate() throws {
        guard width >= 30, width <= 1_000_000 else { throw ValidationError("--width must be between 30 and 1000000") }
        guard height >= 1, height <= 1000 else { throw ValidationError("--height must be between 1 and 1000") }
        guard fontSize > 0, fontSize <= 1000 else { throw ValidationError("--fontsize must be between 0 and 1000") }
        guard fontWidth > 0, fontWidth.isFinite else { throw ValidationError("--fontwidth must be positive") }
        guard FlameGraphOptions.MinWidth(parsing: minWidth) != nil else {
            throw ValidationError("--minwidth: expected pixels (0.1) or a percentage (0.5%), got '\(minWidth)'")
        }
        if let backgroundColors, Background(parsing: backgroundColors) == nil {
            throw ValidationError("--bgcolors: expected yellow, blue, green, grey or #rrggbb, got '\(backgroundColors)'")
        }
        guard factor.isFinite, factor > 0 else { throw ValidationError("--factor must be a positive number") }
        if let total, !(total.isFinite && total > 0) { throw ValidationError("--total must be a positive number") }
    }

    /// The library's options.
    public var options: FlameGraphOptions {
        var options = FlameGraphOptions()
        options.title = title
        options.subtitle = subtitle
        options.width = width
        options.frameHeight = height
        options.fontSize = fontSize
        options.fontType = fontType
        options.fontWidth = fontWidth
        options.minWidth = FlameGraphOptions.MinWidth(parsing: minWidth) ?? .pixels(0.1)
        options.countName = countName
        options.nameType = nameType
        options.palette = colors
        options.background = backgroundColors.flatMap(Background.init(parsing:))
        options.colorByName = hash
        options.inverted = inverted
        options.flameChart = flameChart
        options.negate = negate
        options.factor = factor
        options.total = total
        options.notes = notes
        return options
    }

    /// Empty stacks to read into, merging the way the options ask.
    public func makeStacks() -> FoldedStacks {
        FoldedStacks(order: flameChart ? .input : .alphabetical, reversed: reverse)
    }

    /// Draws `stacks` into `path` ("-" is standard output), through the palette file with --cp.
    @discardableResult
    public func write(_ stacks: FoldedStacks, toPath path: String) throws -> SVGRenderer.Summary {
        var map: PaletteMap? = consistentPalette ? try PaletteMap(path: paletteFile) : nil
        let summary = try SVGRenderer(options: options).write(stacks, toPath: path, paletteMap: &map)
        if let map { try map.save(path: paletteFile) }
        return summary
    }
}

extension Palette: ExpressibleByArgument {}
