import ArgumentParser

/// Every tool, in the order `bpfkit --help` lists them.
public let allTools: [any ParsableCommand.Type] = [
    Execsnoop.self,
    Opensnoop.self,
    Features.self,
    BTFDump.self,
]
