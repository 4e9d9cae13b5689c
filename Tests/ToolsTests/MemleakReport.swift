// Reading memleak's text reports, for the memleak suites.

/// One "N bytes in M allocations from stack" block of the last report.
struct ReportedStack {
    var bytes: UInt64
    var allocations: UInt64
    var frames: [String]

    /// Whether the frames start with `sequence` (leaf first).
    func starts(with sequence: [String]) -> Bool { frames.starts(with: sequence) }
}

/// The stacks of the last report in memleak's text output (frames without their addresses).
func lastReport(_ run: ToolRun) -> [ReportedStack] {
    var stacks: [ReportedStack] = []
    for line in run.lines {
        if line.hasPrefix("[") && line.contains("stacks with outstanding allocations:") {
            stacks = []
        } else if line.hasPrefix("\t\t"), !stacks.isEmpty {
            stacks[stacks.count - 1].frames.append(String(line.split(separator: "\t").last ?? ""))
        } else if line.hasPrefix("\t"), line.hasSuffix(" allocations from stack") {
            let words = line.split(separator: " ")
            stacks.append(ReportedStack(bytes: UInt64(words[0].dropFirst()) ?? 0, allocations: UInt64(words[3]) ?? 0, frames: []))
        }
    }
    return stacks
}


/// The reported stacks whose innermost frame is `function`.
func stacks(from function: String, in report: [ReportedStack]) -> [ReportedStack] {
    report.filter { $0.frames.first == function }
}
