import ArgumentParser

/// `bpfkit TOOL …`: the multi-call binary's own command, whose subcommands are the tools.
/// Here rather than in the executable so `install` can write its completion script.
public struct BPFKitCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bpfkit",
        abstract: "eBPF performance analysis tools, in one binary.",
        discussion: "Run 'bpfkit TOOL --help' for a tool's flags. Links named after a tool run it directly (see 'bpfkit install').",
        subcommands: allTools)

    public init() {}
}
