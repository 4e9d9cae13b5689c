import ArgumentParser

/// Output flags every event tool shares.
public struct OutputOptions: ParsableArguments {
    @Flag(name: [.customShort("U"), .customLong("print-uid")], help: "Print a UID column.")
    var printUID = false

    @Flag(help: "Print one JSON object per event (JSON Lines) instead of columns.")
    var json = false

    public init() {}
}
