import ArgumentParser
import FlameGraph
import Report

/// `bpfkit flamegraph`: folded stacks in, an interactive SVG flame graph out, with
/// flamegraph.pl's options; `--diff BEFORE AFTER` for a differential graph.
public struct FlameGraphCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "flamegraph",
        abstract: "Draw an interactive SVG flame graph from folded stacks.",
        discussion: """
            Reads folded stacks ('frame;frame;frame COUNT' per line, as stackcollapse and the \
            profilers' -f output write them) from the files, or standard input, and writes the \
            SVG to standard output or -o FILE. With --diff, reads two profiles BEFORE AFTER and \
            draws the AFTER profile coloured by the change (red grew, blue shrank).

            Examples:
              bpfkit flamegraph out.folded > cpu.svg
              bpfkit flamegraph --colors io --countname us offcpu.folded -o offcpu.svg
              bpfkit flamegraph --diff --normalize before.folded after.folded -o diff.svg
            """)

    @OptionGroup var graph: FlameGraphArguments

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the SVG to FILE instead of standard output.", valueName: "file"))
    var output: String?

    @Flag(help: "Differential flame graph of two profiles: FILE… is BEFORE AFTER.")
    var diff = false

    @Flag(help: "With --diff: scale BEFORE's counts to AFTER's total.")
    var normalize = false

    @Flag(name: .shortAndLong, help: "Report what was read and drawn, and how long each took, on standard error.")
    var verbose = false

    @Argument(help: ArgumentHelp("Folded stack files; none or '-' reads standard input.", valueName: "file"))
    var files: [String] = []

    public init() {}

    public func validate() throws {
        if diff, files.count != 2 { throw ValidationError("--diff takes two files: BEFORE AFTER") }
        if normalize, !diff { throw ValidationError("--normalize applies to --diff only") }
    }

    public func run() throws {
        try reportingFailures(tool: "flamegraph") { try draw() }
    }

    private func draw() throws {
        let errors = Output.standardError
        let start = Clock.monotonicNanoseconds()
        var stacks: FoldedStacks
        if diff {
            let profile = try DifferentialProfile(
                beforePath: files[0], afterPath: files[1], normalize: normalize,
                order: graph.flameChart ? .input : .alphabetical, reversed: graph.reverse)
            stacks = profile.stacks
            if verbose {
                errors.line("bpfkit flamegraph: before \(Self.number(profile.beforeTotal)), after \(Self.number(profile.afterTotal)) \(graph.countName)")
            }
        } else {
            var merged = graph.makeStacks()
            for file in files.isEmpty ? ["-"] : files { try merged.read(path: file) }
            stacks = merged
        }
        // Everything is in: the merge index is not needed for drawing.
        stacks.compact()
        let read = Clock.monotonicNanoseconds()
        if stacks.invalidLineCount > 0 {
            let first = stacks.firstInvalidLine.map { " (first: line \($0))" } ?? ""
            let lines = stacks.invalidLineCount == 1 ? "line" : "lines"
            errors.line("bpfkit flamegraph: ignored \(stacks.invalidLineCount) invalid \(lines)\(first)")
        }
        let summary = try graph.write(stacks, toPath: output ?? "-")
        if verbose {
            let drawn = Clock.monotonicNanoseconds()
            func seconds(_ nanoseconds: UInt64) -> String { Columns.fixed(Double(nanoseconds) / 1e9, decimals: 3) }
            errors.line("bpfkit flamegraph: read \(stacks.lineCount) lines, \(stacks.frameCount) distinct frames, "
                + "\(Self.number(summary.totalCount)) \(graph.countName) in \(seconds(read - start)) s; drew \(summary.framesDrawn) frames "
                + "(elided \(summary.framesElided) narrower than \(graph.options.minWidth)), \(summary.bytes) bytes in \(seconds(drawn - read)) s")
        }
        if summary.isEmpty {
            errors.line("bpfkit flamegraph: no stack counts in the input")
            throw ExitCode(1)
        }
    }

    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : Columns.fixed(value, decimals: 2)
    }
}
