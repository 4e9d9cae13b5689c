import ArgumentParser

/// bcc's trailing `[interval] [count]` arguments, shared by every summarizing tool.
public struct IntervalOptions: ParsableArguments {
    @Argument(help: "Output interval, in seconds.")
    var interval: Double?

    @Argument(help: "Number of outputs.")
    var count: Int?

    public init() {}

    func check() throws {
        if let interval, !(interval > 0) { throw ValidationError("interval must be a positive number of seconds") }
        if let count, count <= 0 { throw ValidationError("count must be above 0") }
    }
}

extension EventLoop {
    /// Runs until Ctrl-C, SIGTERM or the last interval, calling `report` every interval;
    /// without an interval (or when stopped before the count ran out) it reports once at the end.
    func run(reportingEvery options: IntervalOptions, _ report: @escaping () throws -> Void) throws {
        if let interval = options.interval { try every(interval, count: options.count, report) }
        let stop = try run()
        if options.interval == nil || stop != .intervalsDone { try report() }
    }
}
