import ArgumentParser
import Tools

/// `bpfkit TOOL …`, or a tool's own name through a link (`execsnoop …`).
struct BPFKitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bpfkit",
        abstract: "eBPF performance analysis tools, in one binary.",
        discussion: "Run 'bpfkit TOOL --help' for a tool's flags. Links named after a tool run it directly.",
        subcommands: allTools)
}

DescriptorAudit.startIfRequested()
let invokedAs = CommandLine.arguments.first.map { String($0.split(separator: "/").last ?? "") } ?? "bpfkit"
if let tool = allTools.first(where: { $0.configuration.commandName == invokedAs }) {
    tool.main(Array(CommandLine.arguments.dropFirst()))
} else {
    BPFKitCommand.main()
}
