/// Two profiles of one workload, before and after a change, combined for a differential
/// flame graph (difffolded.pl and flamegraph.pl as a pair): every stack of either profile with
/// both counts. The graph is sized by the "after" counts and coloured by the change: red
/// where a frame grew, blue where it shrank.
///
/// With `normalize`, the "before" counts are scaled so both profiles have the same total,
/// so profiles of different lengths (or sample rates) compare by share of the whole.
///
/// Stacks that exist only before have no width "after" and do not show; swap the profiles
/// and use ``FlameGraphOptions/negate`` to see what went away.
///
/// ```swift
/// let profile = try DifferentialProfile(beforePath: "before.folded", afterPath: "after.folded", normalize: true)
/// try SVGRenderer().write(profile.stacks, toPath: "diff.svg")
/// ```
public struct DifferentialProfile {
    /// The combined stacks: counts are "after", the baseline is "before".
    public private(set) var stacks: FoldedStacks
    /// Totals as read (before normalisation).
    public let beforeTotal: Double
    public let afterTotal: Double
    /// Invalid lines in the two inputs.
    public let invalidLineCount: Int

    /// Combines two profiles already read.
    public init(before: FoldedStacks, after: FoldedStacks, normalize: Bool = false) {
        var combined = FoldedStacks(order: after.order, reversed: false)
        combined.merge(after)
        combined.startBaseline()
        combined.mergeAsBaseline(before)
        self.init(combined, beforeTotal: before.totalCount, afterTotal: after.totalCount,
                  invalid: before.invalidLineCount + after.invalidLineCount, normalize: normalize)
    }

    /// Reads both profiles straight into one tree ("-" is standard input).
    public init(beforePath: String, afterPath: String, normalize: Bool = false,
                order: FoldedStacks.Order = .alphabetical, reversed: Bool = false) throws(FlameGraphError) {
        var combined = FoldedStacks(order: order, reversed: reversed)
        try combined.read(path: afterPath)
        let afterTotal = combined.totalCount
        combined.startBaseline()
        try combined.read(path: beforePath, asBaseline: true)
        self.init(combined, beforeTotal: combined.baselineTotal, afterTotal: afterTotal,
                  invalid: combined.invalidLineCount, normalize: normalize)
    }

    private init(_ stacks: FoldedStacks, beforeTotal: Double, afterTotal: Double, invalid: Int, normalize: Bool) {
        var stacks = stacks
        if normalize { stacks.normalizeBaseline() }
        self.stacks = stacks
        self.beforeTotal = beforeTotal
        self.afterTotal = afterTotal
        invalidLineCount = invalid
    }

    /// difffolded's output: `STACK BEFORE AFTER` per line.
    public func folded() -> String { stacks.folded() }
}
