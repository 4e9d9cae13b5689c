import ArgumentParser
import BPFKit
import Report

/// `bpfkit features`: what this kernel supports for tracing, and why something is missing —
/// the facts every tool uses to pick its path (like `bpftool feature probe`, for tracers).
public struct Features: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "Show which BPF tracing features this kernel has, and why any are missing.",
        discussion: "JSON fields (--json), one object per feature: feature, available, reason.")

    @OptionGroup var output: OutputOptions

    public init() {}

    public func run() throws {
        try reportingFailures(tool: "features") {
            let features = KernelFeatures.shared
            let out = Output.standardOutput
            if output.json {
                for feature in KernelFeatures.Feature.allCases {
                    let reason = features.reasonMissing(feature)
                    out.line(JSON.object([
                        ("feature", .string(feature.rawValue)), ("available", .bool(reason == nil)),
                        ("reason", reason.map(JSON.string) ?? .null),
                    ]).serialized())
                }
                return
            }
            out.line("\(Columns.left("FEATURE", 32)) OK  WHY NOT")
            for feature in KernelFeatures.Feature.allCases {
                let reason = features.reasonMissing(feature)
                out.line("\(Columns.left(feature.rawValue, 32)) \(reason == nil ? "yes" : "no ") \(reason ?? "")")
            }
        }
    }
}
