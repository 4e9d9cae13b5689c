/// How a flame graph looks: flamegraph.pl's options, with its defaults.
public struct FlameGraphOptions: Sendable {
    /// The heading; nil picks "Flame Graph", "Icicle Graph", "Flame Chart" or
    /// "Differential Flame Graph".
    public var title: String?
    /// A second heading line.
    public var subtitle: String?
    /// Image width in pixels.
    public var width: Double = 1200
    /// Height of each frame in pixels.
    public var frameHeight: Double = 16
    public var fontSize: Double = 12
    public var fontType = "Verdana"
    /// Average character width as a fraction of the font size, for fitting labels.
    public var fontWidth = 0.59
    /// Frames narrower than this are not drawn (their samples still count in their parents).
    public var minWidth: MinWidth = .pixels(0.1)
    /// What the counts are: "samples", "us", "bytes"…
    public var countName = "samples"
    /// What the frames are, as the hover line starts: "Function:".
    public var nameType = "Function:"
    public var palette: Palette = .hot
    /// nil: the palette's own background.
    public var background: Background?
    /// Colour each function by a hash of its name, so it keeps its colour across graphs.
    public var colorByName = false
    /// Icicle graph: the root at the top, stacks growing down.
    public var inverted = false
    /// Flame chart: siblings in input (time) order instead of alphabetical. Read the stacks
    /// with ``FoldedStacks/Order/input`` too, so only adjacent stacks merge.
    public var flameChart = false
    /// Swap a differential graph's hues: red for what shrank, blue for what grew.
    public var negate = false
    /// Multiply counts by this when showing them.
    public var factor = 1.0
    /// Size the graph for this many samples instead of the profile's total (if larger), so
    /// graphs of different profiles share one scale.
    public var total: Double?
    /// Text kept in an XML comment in the SVG.
    public var notes: String?
    /// The fill of frames a search matches.
    public var searchColor = RGB(230, 0, 230)

    public init() {}

    /// The minimum width of a drawn frame.
    public enum MinWidth: Sendable, Equatable, CustomStringConvertible {
        case pixels(Double)
        /// A percentage of the total count.
        case percent(Double)

        /// Parses `0.1` (pixels) or `0.5%`.
        public init?(parsing text: String) {
            if text.hasSuffix("%") {
                guard let value = Double(text.dropLast()), value >= 0, value.isFinite else { return nil }
                self = .percent(value)
            } else {
                guard let value = Double(text), value >= 0, value.isFinite else { return nil }
                self = .pixels(value)
            }
        }

        public var description: String {
            switch self {
            case .pixels(let value): "\(value) px"
            case .percent(let value): "\(value)%"
            }
        }
    }
}
