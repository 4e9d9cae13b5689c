import ArgumentParser

/// Every tool, in the order `bpfkit --help` lists them.
public let allTools: [any ParsableCommand.Type] = [
    Execsnoop.self,
    Opensnoop.self,
    Profile.self,
    Offcputime.self,
    Wakeuptime.self,
    Offwaketime.self,
    Chaingraph.self,
    Runqlat.self,
    Runqlen.self,
    Biolatency.self,
    Biosnoop.self,
    Bitesize.self,
    Fsslower.self,
    Ext4slower.self,
    Xfsslower.self,
    Btrfsslower.self,
    Nfsslower.self,
    Fileslower.self,
    Cachestat.self,
    Tcpconnect.self,
    FlameGraphCommand.self,
    Features.self,
    BTFDump.self,
    SymbolizeCommand.self,
]
