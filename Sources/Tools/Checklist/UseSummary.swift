import Report

/// Brendan Gregg's USE method over the checklist's figures: for CPUs, memory, each disk,
/// each network interface and TCP, its utilization, saturation and errors; a resource
/// past a threshold is flagged with the BPFKit tool that looks deeper.
struct UseFinding {
    var resource: String
    var utilization: String
    var saturation: String
    var errors: String
    /// Why the resource is flagged; empty when it is not.
    var flags: [String]
    /// The BPFKit command to run next (when flagged).
    var next: String

    var isFlagged: Bool { !flags.isEmpty }
}

enum UseSummary {
    /// Thresholds: busy above 90 % (all CPUs), runnable threads above the CPU count,
    /// memory available below 10 %, any swapping, disks busy above 60 % or with a queue
    /// above 1, any interface errors or drops, TCP retransmits above 1 % of segments sent.
    static func findings(_ figures: ChecklistFigures, kernelErrors: Int?) -> [UseFinding] {
        var result: [UseFinding] = []
        func percent(_ value: Double) -> String { Columns.fixed(value, decimals: 1) + "%" }

        // CPU.
        let hottest = figures.perCPU.max { $0.busy < $1.busy }
        var cpuFlags: [String] = []
        if figures.all.busy >= 90 { cpuFlags.append("all CPUs \(percent(figures.all.busy)) busy") }
        if figures.runnable > figures.cpuCount { cpuFlags.append("\(figures.runnable) runnable threads on \(figures.cpuCount) CPUs") }
        if let hottest, hottest.busy >= 90, figures.all.busy < 90, figures.cpuCount > 1 {
            cpuFlags.append("CPU \(hottest.cpu ?? 0) \(percent(hottest.busy)) busy while the average is \(percent(figures.all.busy))")
        }
        let cpuNext = figures.runnable > figures.cpuCount ? "bpfkit runqlat 1 5; bpfkit profile -F 99 10"
            : figures.all.busy >= 90 ? "bpfkit profile -F 99 10; bpfkit runqlat 1 5"
            : hottest.map { "bpfkit profile -C \($0.cpu ?? 0) -F 99 10" } ?? "bpfkit profile -F 99 10"
        result.append(UseFinding(
            resource: "CPU", utilization: percent(figures.all.busy),
            saturation: "\(figures.runnable) runnable / \(figures.cpuCount) CPUs, load \(Columns.fixed(figures.load.first ?? 0, decimals: 2))",
            errors: "-", flags: cpuFlags, next: cpuNext))

        // Memory.
        let total = Double(figures.memory["MemTotal"] ?? 0)
        let available = Double(figures.memory["MemAvailable"] ?? 0)
        let used = total > 0 ? (1 - available / total) * 100 : 0
        var memoryFlags: [String] = []
        if total > 0 && available / total < 0.1 { memoryFlags.append("only \(percent(available / total * 100)) available") }
        if figures.swapIn + figures.swapOut > 0 { memoryFlags.append("swapping \(Columns.fixed(figures.swapIn + figures.swapOut, decimals: 0)) kB/s") }
        result.append(UseFinding(
            resource: "memory", utilization: percent(used),
            saturation: "swap in/out \(Columns.fixed(figures.swapIn, decimals: 0))/\(Columns.fixed(figures.swapOut, decimals: 0)) kB/s, "
                + "\(Columns.fixed(figures.majorFaults, decimals: 0)) major faults/s",
            errors: "-", flags: memoryFlags, next: "bpfkit cachestat 1 5; bpfkit offcputime -K 10"))

        // Disks.
        for disk in figures.disks where !disk.idle {
            var flags: [String] = []
            if disk.utilization >= 60 { flags.append("\(percent(disk.utilization)) busy") }
            if disk.queueSize > 1 { flags.append("average queue \(Columns.fixed(disk.queueSize, decimals: 1))") }
            result.append(UseFinding(
                resource: "disk \(disk.name)", utilization: percent(disk.utilization),
                saturation: "queue \(Columns.fixed(disk.queueSize, decimals: 2)), await r/w \(Columns.fixed(disk.readAwait, decimals: 1))/"
                    + "\(Columns.fixed(disk.writeAwait, decimals: 1)) ms",
                errors: "-", flags: flags, next: "bpfkit biolatency -D 1 5; bpfkit biosnoop -d \(disk.name) 5"))
        }

        // Network interfaces.
        for interface in figures.interfaces where interface.name != "lo" {
            var flags: [String] = []
            if interface.errors > 0 { flags.append("\(Columns.fixed(interface.errors, decimals: 1)) errors/s") }
            if interface.drops > 0 { flags.append("\(Columns.fixed(interface.drops, decimals: 1)) drops/s") }
            if let utilization = interface.utilization, utilization >= 80 { flags.append("\(percent(utilization)) of link speed") }
            result.append(UseFinding(
                resource: "net \(interface.name)", utilization: interface.utilization.map(percent) ?? "speed unknown",
                saturation: "drops \(Columns.fixed(interface.drops, decimals: 1))/s",
                errors: Columns.fixed(interface.errors, decimals: 1) + "/s", flags: flags,
                next: "bpfkit offcputime -K 10 (no BPFKit network tool yet: bcc's tcpretrans, tcpdrop)"))
        }

        // TCP.
        let sent = figures.tcp["OutSegs"] ?? 0, retransmits = figures.tcp["RetransSegs"] ?? 0
        var tcpFlags: [String] = []
        if sent > 10 && retransmits / sent > 0.01 { tcpFlags.append("\(percent(retransmits / sent * 100)) of segments retransmitted") }
        if (figures.tcp["AttemptFails"] ?? 0) + (figures.tcp["EstabResets"] ?? 0) > 0 { tcpFlags.append("failed or reset connections") }
        result.append(UseFinding(
            resource: "TCP", utilization: "\(Int(figures.tcp["CurrEstab"] ?? 0)) established",
            saturation: "retransmits \(Columns.fixed(retransmits, decimals: 1))/s",
            errors: "\(Columns.fixed((figures.tcp["AttemptFails"] ?? 0) + (figures.tcp["EstabResets"] ?? 0) + (figures.tcp["InErrs"] ?? 0), decimals: 1))/s",
            flags: tcpFlags, next: "bpfkit offwaketime 10 (no BPFKit TCP tool yet: bcc's tcpretrans)"))

        // The kernel's own error log.
        if let kernelErrors {
            result.append(UseFinding(
                resource: "kernel log", utilization: "-", saturation: "-", errors: "\(kernelErrors) in the last 10 minutes",
                flags: kernelErrors > 0 ? ["recent errors in dmesg"] : [], next: "dmesg --level=emerg,alert,crit,err"))
        }
        return result
    }
}
