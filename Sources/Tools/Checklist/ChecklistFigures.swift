#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The rates and shares the first-minute commands print, from two snapshots.
struct ChecklistFigures {
    struct CPUShare {
        var cpu: Int?  // nil: all CPUs
        var user = 0.0, system = 0.0, iowait = 0.0, irq = 0.0, softirq = 0.0, steal = 0.0, idle = 0.0
        var busy: Double { 100 - idle - iowait }
    }

    struct ProcessCPU {
        var pid: Int32
        var comm: String
        var user: Double
        var system: Double
        var total: Double { user + system }
    }

    struct DiskRates {
        var name: String
        var readsPerSecond = 0.0, writesPerSecond = 0.0
        var readKBPerSecond = 0.0, writeKBPerSecond = 0.0
        var readAwait = 0.0, writeAwait = 0.0
        var queueSize = 0.0, utilization = 0.0
        var idle: Bool { readsPerSecond == 0 && writesPerSecond == 0 && utilization == 0 }
    }

    struct InterfaceRates {
        var name: String
        var receivedPackets = 0.0, sentPackets = 0.0, receivedKB = 0.0, sentKB = 0.0
        var errors = 0.0, drops = 0.0
        /// Percent of the link speed, when known.
        var utilization: Double?
    }

    var seconds: Double
    var uptime: Double
    var load: [Double]
    var cpuCount: Int
    var runnable: Int
    var blocked: Int
    var contextSwitches: Double
    var interrupts: Double
    var swapIn: Double  // kB/s
    var swapOut: Double
    var majorFaults: Double
    var memory: [String: UInt64]
    var all: CPUShare
    var perCPU: [CPUShare]
    var processes: [ProcessCPU]
    var disks: [DiskRates]
    var interfaces: [InterfaceRates]
    var tcp: [String: Double]

    init(_ a: SystemSnapshot, _ b: SystemSnapshot, topProcesses: Int = 5) {
        let seconds = max(Double(b.monotonic &- a.monotonic) / 1e9, 0.001)
        self.seconds = seconds
        func rate(_ x: UInt64, _ y: UInt64) -> Double { y >= x ? Double(y - x) / seconds : 0 }
        uptime = b.uptime
        load = b.load
        cpuCount = max(b.cpus.count, 1)
        // procs_running counts this process too, running as it reads /proc/stat.
        runnable = max(b.runnable - 1, 0)
        blocked = b.blocked
        contextSwitches = rate(a.contextSwitches, b.contextSwitches)
        interrupts = rate(a.interrupts, b.interrupts)
        let page = Double(sysconf(Int32(_SC_PAGESIZE))) / 1024
        swapIn = rate(a.vm["pswpin"] ?? 0, b.vm["pswpin"] ?? 0) * page
        swapOut = rate(a.vm["pswpout"] ?? 0, b.vm["pswpout"] ?? 0) * page
        majorFaults = rate(a.vm["pgmajfault"] ?? 0, b.vm["pgmajfault"] ?? 0)
        memory = b.memory
        all = Self.share(nil, a.totalCPU, b.totalCPU)
        perCPU = b.cpus.keys.sorted().map { Self.share($0, a.cpus[$0] ?? .init(), b.cpus[$0]!) }

        let ticks = Double(SystemSnapshot.ticks) * seconds / 100  // jiffies per percent
        processes = b.processes.compactMap { pid, now -> ProcessCPU? in
            guard let before = a.processes[pid] else { return nil }
            let user = Double(now.user &- before.user) / ticks, system = Double(now.system &- before.system) / ticks
            return user + system > 0 ? ProcessCPU(pid: pid, comm: now.comm, user: user, system: system) : nil
        }
        .sorted { ($0.total, $1.pid) > ($1.total, $0.pid) }
        .prefix(topProcesses).map { $0 }

        let milliseconds = seconds * 1000
        disks = b.disks.keys.sorted().compactMap { name in
            guard let before = a.disks[name], let now = b.disks[name] else { return nil }
            let reads = now.reads &- before.reads, writes = now.writes &- before.writes
            var disk = DiskRates(name: name)
            disk.readsPerSecond = Double(reads) / seconds
            disk.writesPerSecond = Double(writes) / seconds
            disk.readKBPerSecond = Double(now.sectorsRead &- before.sectorsRead) / 2 / seconds
            disk.writeKBPerSecond = Double(now.sectorsWritten &- before.sectorsWritten) / 2 / seconds
            disk.readAwait = reads > 0 ? Double(now.readMilliseconds &- before.readMilliseconds) / Double(reads) : 0
            disk.writeAwait = writes > 0 ? Double(now.writeMilliseconds &- before.writeMilliseconds) / Double(writes) : 0
            disk.queueSize = Double(now.weightedMilliseconds &- before.weightedMilliseconds) / milliseconds
            disk.utilization = min(100, Double(now.busyMilliseconds &- before.busyMilliseconds) / milliseconds * 100)
            return disk
        }

        interfaces = b.interfaces.keys.sorted().compactMap { name in
            guard let before = a.interfaces[name], let now = b.interfaces[name] else { return nil }
            var rates = InterfaceRates(name: name)
            rates.receivedPackets = rate(before.receivedPackets, now.receivedPackets)
            rates.sentPackets = rate(before.sentPackets, now.sentPackets)
            rates.receivedKB = rate(before.receivedBytes, now.receivedBytes) / 1024
            rates.sentKB = rate(before.sentBytes, now.sentBytes) / 1024
            rates.errors = rate(before.receiveErrors + before.sendErrors, now.receiveErrors + now.sendErrors)
            rates.drops = rate(before.receiveDrops + before.sendDrops, now.receiveDrops + now.sendDrops)
            if let speed = now.speed {
                // sar's %ifutil: the busier direction against the link's speed (full duplex).
                let bitsPerSecond = max(rates.receivedKB, rates.sentKB) * 1024 * 8
                rates.utilization = min(100, bitsPerSecond / (Double(speed) * 1_000_000) * 100)
            }
            return rates
        }

        var tcp: [String: Double] = [:]
        for name in ["ActiveOpens", "PassiveOpens", "InSegs", "OutSegs", "RetransSegs", "AttemptFails", "EstabResets", "InErrs", "OutRsts"] {
            tcp[name] = rate(a.tcp[name] ?? 0, b.tcp[name] ?? 0)
        }
        tcp["CurrEstab"] = Double(b.tcp["CurrEstab"] ?? 0)
        self.tcp = tcp
    }

    private static func share(_ cpu: Int?, _ a: SystemSnapshot.CPUTimes, _ b: SystemSnapshot.CPUTimes) -> CPUShare {
        let total = Double(max(b.total &- a.total, 1))
        func part(_ x: UInt64, _ y: UInt64) -> Double { y >= x ? Double(y - x) / total * 100 : 0 }
        var share = CPUShare(cpu: cpu)
        share.user = part(a.user + a.nice, b.user + b.nice)
        share.system = part(a.system, b.system)
        share.iowait = part(a.iowait, b.iowait)
        share.irq = part(a.irq, b.irq)
        share.softirq = part(a.softirq, b.softirq)
        share.steal = part(a.steal, b.steal)
        share.idle = b.total == a.total ? 100 : part(a.idle, b.idle)
        return share
    }

    /// free's figures, in MiB: total, used, free, shared, buff/cache, available, swap.
    var memoryMiB: [(String, Double)] {
        func mib(_ key: String) -> Double { Double(memory[key] ?? 0) / 1024 }
        let cache = mib("Buffers") + mib("Cached") + mib("SReclaimable")
        let used = mib("MemTotal") - mib("MemFree") - cache
        return [("total", mib("MemTotal")), ("used", max(used, 0)), ("free", mib("MemFree")), ("shared", mib("Shmem")),
                ("buff_cache", cache), ("available", mib("MemAvailable")),
                ("swap_total", mib("SwapTotal")), ("swap_used", mib("SwapTotal") - mib("SwapFree"))]
    }
}
