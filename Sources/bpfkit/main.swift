import ArgumentParser
import Tools

/// `bpfkit TOOL …` (``BPFKitCommand``), or a tool's own name through a link (`execsnoop …`).
let invokedAs = CommandLine.arguments.first.map { String($0.split(separator: "/").last ?? "") } ?? "bpfkit"
if let tool = allTools.first(where: { $0.configuration.commandName == invokedAs }) {
    tool.main(Array(CommandLine.arguments.dropFirst()))
} else {
    BPFKitCommand.main()
}
