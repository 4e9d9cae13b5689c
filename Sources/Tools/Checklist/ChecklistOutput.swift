import Report

/// The checklist's text (a section per classic command, under the command's name) and JSON.
enum ChecklistOutput {
    private static func f(_ value: Double, _ decimals: Int = 2) -> String { Columns.fixed(value, decimals: decimals) }
    private static func r(_ value: Double, _ width: Int, _ decimals: Int = 2) -> String { Columns.right(f(value, decimals), width) }

    static func text(_ figures: ChecklistFigures, messages: [KernelLog.Message]?, findings: [UseFinding]) -> String {
        var out = ""
        // uptime
        let up = Int(figures.uptime)
        let days = up / 86400, hours = up / 3600 % 24, minutes = up / 60 % 60
        out += "=== uptime\n"
        out += "up \(days > 0 ? "\(days) days, " : "")\(hours):\(minutes < 10 ? "0" : "")\(minutes), "
            + "load average: \(figures.load.map { f($0) }.joined(separator: ", ")) (\(figures.cpuCount) CPUs)\n"

        // dmesg
        out += "\n=== dmesg (errors, last 10)\n"
        if let messages {
            if messages.isEmpty { out += "none\n" }
            for message in messages { out += "[\(Columns.right(f(message.time, 6), 12))] \(message.text)\n" }
        } else {
            out += "/dev/kmsg is not readable (needs root or CAP_SYSLOG)\n"
        }

        // vmstat
        out += "\n=== vmstat \(f(figures.seconds, 1))\n"
        let memoryKB = figures.memory
        let swapUsed = (memoryKB["SwapTotal"] ?? 0) - min(memoryKB["SwapFree"] ?? 0, memoryKB["SwapTotal"] ?? 0)
        out += "  r   b     swpd     free     buff    cache    si    so     in     cs us sy id wa st\n"
        let all = figures.all
        out += Columns.right(String(figures.runnable), 3) + " " + Columns.right(String(figures.blocked), 3) + " "
            + [swapUsed, memoryKB["MemFree"] ?? 0, memoryKB["Buffers"] ?? 0, memoryKB["Cached"] ?? 0].map { Columns.right(String($0), 8) }.joined(separator: " ")
            + " " + r(figures.swapIn, 5, 0) + " " + r(figures.swapOut, 5, 0) + " " + r(figures.interrupts, 6, 0) + " " + r(figures.contextSwitches, 6, 0)
            + " " + [all.user, all.system + all.irq + all.softirq, all.idle, all.iowait, all.steal].map { r($0, 2, 0) }.joined(separator: " ") + "\n"

        // mpstat
        out += "\n=== mpstat -P ALL \(f(figures.seconds, 1))\n"
        out += "CPU     %usr   %sys %iowait   %irq  %soft %steal  %idle\n"
        for share in [figures.all] + figures.perCPU {
            out += Columns.left(share.cpu.map(String.init) ?? "all", 4)
                + [share.user, share.system, share.iowait, share.irq, share.softirq, share.steal, share.idle].map { r($0, 7) }.joined() + "\n"
        }

        // pidstat
        out += "\n=== pidstat \(f(figures.seconds, 1)) (top \(figures.processes.count) by CPU)\n"
        out += "    PID    %usr %system    %CPU  Command\n"
        for process in figures.processes {
            out += Columns.right(String(process.pid), 7) + r(process.user, 8) + r(process.system, 8) + r(process.total, 8) + "  " + process.comm + "\n"
        }

        // iostat
        out += "\n=== iostat -xz \(f(figures.seconds, 1))\n"
        out += "Device             r/s      w/s     rkB/s     wkB/s r_await w_await aqu-sz  %util\n"
        for disk in figures.disks where !disk.idle {
            let values = [r(disk.readsPerSecond, 8), r(disk.writesPerSecond, 8), r(disk.readKBPerSecond, 9), r(disk.writeKBPerSecond, 9),
                          r(disk.readAwait, 7), r(disk.writeAwait, 7), r(disk.queueSize, 6), r(disk.utilization, 6)]
            out += Columns.left(disk.name, 12) + " " + values.joined(separator: " ") + "\n"
        }

        // free
        let memory = Dictionary(uniqueKeysWithValues: figures.memoryMiB)
        out += "\n=== free -m\n"
        out += "           total     used     free   shared buff/cache available\n"
        out += "Mem:  " + ["total", "used", "free", "shared", "buff_cache", "available"].map { r(memory[$0] ?? 0, 9, 0) }.joined() + "\n"
        out += "Swap: " + [memory["swap_total"] ?? 0, memory["swap_used"] ?? 0, (memory["swap_total"] ?? 0) - (memory["swap_used"] ?? 0)]
            .map { r($0, 9, 0) }.joined() + "\n"

        // sar
        out += "\n=== sar -n DEV \(f(figures.seconds, 1))\n"
        out += "IFACE          rxpck/s   txpck/s    rxkB/s    txkB/s  errs/s drops/s %ifutil\n"
        for interface in figures.interfaces {
            out += Columns.left(interface.name, 12) + r(interface.receivedPackets, 10) + r(interface.sentPackets, 10)
                + r(interface.receivedKB, 10) + r(interface.sentKB, 10) + r(interface.errors, 8) + r(interface.drops, 8)
                + Columns.right(interface.utilization.map { f($0) } ?? "-", 8) + "\n"
        }
        let tcp = figures.tcp
        out += "\n=== sar -n TCP,ETCP \(f(figures.seconds, 1))\n"
        out += "active/s passive/s    iseg/s    oseg/s retrans/s atmptf/s estres/s  iseg/err orsts/s\n"
        out += ["ActiveOpens", "PassiveOpens", "InSegs", "OutSegs", "RetransSegs", "AttemptFails", "EstabResets", "InErrs", "OutRsts"]
            .map { r(tcp[$0] ?? 0, 9) }.joined(separator: " ") + "\n"

        // USE
        out += "\n=== USE summary\n"
        for finding in findings {
            let mark = finding.isFlagged ? "!!" : "ok"
            out += "\(mark) \(Columns.left(finding.resource, 12)) utilization \(finding.utilization); saturation \(finding.saturation); errors \(finding.errors)\n"
            if finding.isFlagged {
                out += "   \(finding.flags.joined(separator: "; ")) -> next: \(finding.next)\n"
            }
        }
        if !findings.contains(where: \.isFlagged) { out += "nothing saturated or erroring in this interval\n" }
        return out
    }

    static func json(_ figures: ChecklistFigures, messages: [KernelLog.Message]?, findings: [UseFinding]) -> JSON {
        func number(_ value: Double) -> JSON { .double((value * 100).rounded() / 100) }
        var fields: [(String, JSON)] = [
            ("timestamp", .double(Clock.unixSeconds())), ("interval", number(figures.seconds)),
            ("uptime", number(figures.uptime)), ("load", .array(figures.load.map(number))), ("cpus", .int(Int64(figures.cpuCount))),
        ]
        var dmesg: JSON = .null
        if let messages {
            dmesg = .array(messages.map { message -> JSON in
                .object([("time", number(message.time)), ("level", .int(Int64(message.level))), ("text", .string(message.text))])
            })
        }
        fields.append(("dmesg", dmesg))
        let vmstat: [(String, JSON)] = [
            ("runnable", .int(Int64(figures.runnable))), ("blocked", .int(Int64(figures.blocked))),
            ("swap_in_kb", number(figures.swapIn)), ("swap_out_kb", number(figures.swapOut)),
            ("interrupts", number(figures.interrupts)), ("context_switches", number(figures.contextSwitches)),
            ("major_faults", number(figures.majorFaults)),
        ]
        fields.append(("vmstat", .object(vmstat)))
        let mpstat: [JSON] = ([figures.all] + figures.perCPU).map { share -> JSON in
            let cpu: JSON = share.cpu.map { .int(Int64($0)) } ?? .string("all")
            let shares: [(String, JSON)] = [
                ("usr", number(share.user)), ("sys", number(share.system)), ("iowait", number(share.iowait)), ("irq", number(share.irq)),
                ("soft", number(share.softirq)), ("steal", number(share.steal)), ("idle", number(share.idle)),
            ]
            return .object([("cpu", cpu)] + shares)
        }
        fields.append(("mpstat", .array(mpstat)))
        let pidstat: [JSON] = figures.processes.map { process -> JSON in
            .object([("pid", .int(Int64(process.pid))), ("comm", .string(process.comm)), ("usr", number(process.user)),
                     ("system", number(process.system)), ("cpu", number(process.total))])
        }
        fields.append(("pidstat", .array(pidstat)))
        let iostat: [JSON] = figures.disks.filter { !$0.idle }.map { disk -> JSON in
            let values: [(String, JSON)] = [
                ("device", .string(disk.name)), ("r_s", number(disk.readsPerSecond)), ("w_s", number(disk.writesPerSecond)),
                ("rkb_s", number(disk.readKBPerSecond)), ("wkb_s", number(disk.writeKBPerSecond)),
                ("r_await", number(disk.readAwait)), ("w_await", number(disk.writeAwait)),
                ("aqu_sz", number(disk.queueSize)), ("util", number(disk.utilization)),
            ]
            return .object(values)
        }
        fields.append(("iostat", .array(iostat)))
        fields.append(("free", .object(figures.memoryMiB.map { ($0.0, number($0.1)) })))
        let network: [JSON] = figures.interfaces.map { interface -> JSON in
            let values: [(String, JSON)] = [
                ("iface", .string(interface.name)), ("rxpck_s", number(interface.receivedPackets)), ("txpck_s", number(interface.sentPackets)),
                ("rxkb_s", number(interface.receivedKB)), ("txkb_s", number(interface.sentKB)),
                ("errors_s", number(interface.errors)), ("drops_s", number(interface.drops)),
                ("ifutil", interface.utilization.map(number) ?? .null),
            ]
            return .object(values)
        }
        fields.append(("network", .array(network)))
        let tcpNames = [("active_s", "ActiveOpens"), ("passive_s", "PassiveOpens"), ("iseg_s", "InSegs"), ("oseg_s", "OutSegs"),
                        ("retrans_s", "RetransSegs"), ("atmptf_s", "AttemptFails"), ("estres_s", "EstabResets"),
                        ("inerrs_s", "InErrs"), ("orsts_s", "OutRsts")]
        var tcp: [(String, JSON)] = tcpNames.map { ($0.0, number(figures.tcp[$0.1] ?? 0)) }
        tcp.append(("established", .int(Int64(figures.tcp["CurrEstab"] ?? 0))))
        fields.append(("tcp", .object(tcp)))
        let use: [JSON] = findings.map { finding -> JSON in
            let values: [(String, JSON)] = [
                ("resource", .string(finding.resource)), ("utilization", .string(finding.utilization)),
                ("saturation", .string(finding.saturation)), ("errors", .string(finding.errors)),
                ("flagged", .bool(finding.isFlagged)), ("flags", .array(finding.flags.map(JSON.string))), ("next", .string(finding.next)),
            ]
            return .object(values)
        }
        fields.append(("use", .array(use)))
        return .object(fields)
    }
}
