#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import BPFKit

/// The counters the first-minute commands (vmstat, mpstat, pidstat, iostat, free, sar) read,
/// taken at one moment from /proc and /sys. Two snapshots an interval apart give the rates.
struct SystemSnapshot {
    /// Jiffies per CPU state, as /proc/stat lists them.
    struct CPUTimes {
        var user: UInt64 = 0, nice: UInt64 = 0, system: UInt64 = 0, idle: UInt64 = 0
        var iowait: UInt64 = 0, irq: UInt64 = 0, softirq: UInt64 = 0, steal: UInt64 = 0

        var total: UInt64 { user + nice + system + idle + iowait + irq + softirq + steal }
    }

    /// /proc/diskstats for one whole disk (sectors are 512 bytes; times in ms).
    struct Disk {
        var reads: UInt64 = 0, sectorsRead: UInt64 = 0, readMilliseconds: UInt64 = 0
        var writes: UInt64 = 0, sectorsWritten: UInt64 = 0, writeMilliseconds: UInt64 = 0
        var inFlight: UInt64 = 0, busyMilliseconds: UInt64 = 0, weightedMilliseconds: UInt64 = 0
    }

    /// /proc/net/dev for one interface.
    struct Interface {
        var receivedBytes: UInt64 = 0, receivedPackets: UInt64 = 0, receiveErrors: UInt64 = 0, receiveDrops: UInt64 = 0
        var sentBytes: UInt64 = 0, sentPackets: UInt64 = 0, sendErrors: UInt64 = 0, sendDrops: UInt64 = 0
        /// Link speed in Mbit/s from sysfs, when the driver reports one.
        var speed: UInt64?
    }

    /// One process's CPU time (jiffies) from /proc/PID/stat.
    struct Process {
        var comm: String
        var user: UInt64
        var system: UInt64
    }

    var monotonic: UInt64 = Self.now()
    var uptime: Double = 0
    var load: [Double] = [0, 0, 0]
    var runnable = 0
    var blocked = 0
    var totalCPU = CPUTimes()
    var cpus: [Int: CPUTimes] = [:]
    var contextSwitches: UInt64 = 0
    var interrupts: UInt64 = 0
    /// /proc/meminfo, in kB.
    var memory: [String: UInt64] = [:]
    /// /proc/vmstat counters (pswpin, pswpout, pgmajfault).
    var vm: [String: UInt64] = [:]
    var disks: [String: Disk] = [:]
    var interfaces: [String: Interface] = [:]
    /// /proc/net/snmp's Tcp: line, by field name.
    var tcp: [String: UInt64] = [:]
    var processes: [Int32: Process] = [:]

    /// Jiffies per second, for process CPU times.
    static let ticks = UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1))

    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// Reads everything now.
    static func take(processes readProcesses: Bool = true) -> SystemSnapshot {
        var snapshot = SystemSnapshot()
        snapshot.readStat()
        if let text = readSmallFile("/proc/uptime"), let first = text.split(separator: " ").first {
            snapshot.uptime = Double(first) ?? 0
        }
        if let text = readSmallFile("/proc/loadavg") {
            snapshot.load = text.split(separator: " ").prefix(3).map { Double($0) ?? 0 }
        }
        snapshot.memory = keyedNumbers(readSmallFile("/proc/meminfo") ?? "", separator: ":")
        snapshot.vm = keyedNumbers(readSmallFile("/proc/vmstat") ?? "", separator: " ")
        snapshot.readDisks()
        snapshot.readInterfaces()
        snapshot.readTCP()
        if readProcesses { snapshot.readProcesses() }
        snapshot.monotonic = now()
        return snapshot
    }

    private mutating func readStat() {
        for line in (readSmallFile("/proc/stat") ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard let name = fields.first else { continue }
            let numbers = fields.dropFirst().map { UInt64($0) ?? 0 }
            if name.hasPrefix("cpu") {
                var times = CPUTimes()
                let n = Array(numbers) + [UInt64](repeating: 0, count: max(0, 8 - numbers.count))
                (times.user, times.nice, times.system, times.idle) = (n[0], n[1], n[2], n[3])
                (times.iowait, times.irq, times.softirq, times.steal) = (n[4], n[5], n[6], n[7])
                if name == "cpu" { totalCPU = times } else if let cpu = Int(name.dropFirst(3)) { cpus[cpu] = times }
            } else if name == "ctxt" {
                contextSwitches = numbers.first ?? 0
            } else if name == "intr" {
                interrupts = numbers.first ?? 0
            } else if name == "procs_running" {
                runnable = Int(numbers.first ?? 0)
            } else if name == "procs_blocked" {
                blocked = Int(numbers.first ?? 0)
            }
        }
    }

    /// Whole disks only (those listed in /sys/block), without ram disks and unused loops.
    private mutating func readDisks() {
        for line in (readSmallFile("/proc/diskstats") ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 14 else { continue }
            let name = String(fields[2])
            guard !name.hasPrefix("ram"), access("/sys/block/\(name)", F_OK) == 0 else { continue }
            let n = fields[3...].map { UInt64($0) ?? 0 }
            disks[name] = Disk(
                reads: n[0], sectorsRead: n[2], readMilliseconds: n[3], writes: n[4], sectorsWritten: n[6],
                writeMilliseconds: n[7], inFlight: n[8], busyMilliseconds: n[9], weightedMilliseconds: n[10])
        }
    }

    private mutating func readInterfaces() {
        for line in (readSmallFile("/proc/net/dev") ?? "").split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingPrefix(while: { $0 == " " })
            let n = line[line.index(after: colon)...].split(separator: " ").map { UInt64($0) ?? 0 }
            guard n.count >= 16 else { continue }
            let speed = readSmallFile("/sys/class/net/\(name)/speed").flatMap { Int64($0.split(separator: "\n").first ?? "") }
            interfaces[String(name)] = Interface(
                receivedBytes: n[0], receivedPackets: n[1], receiveErrors: n[2], receiveDrops: n[3],
                sentBytes: n[8], sentPackets: n[9], sendErrors: n[10], sendDrops: n[11],
                speed: speed.flatMap { $0 > 0 ? UInt64($0) : nil })
        }
    }

    private mutating func readTCP() {
        let lines = (readSmallFile("/proc/net/snmp") ?? "").split(separator: "\n").filter { $0.hasPrefix("Tcp:") }
        guard lines.count >= 2 else { return }
        let names = lines[0].split(separator: " ").dropFirst()
        let values = lines[1].split(separator: " ").dropFirst()
        for (name, value) in zip(names, values) { tcp[String(name)] = UInt64(value) ?? Int64(value).map { UInt64(bitPattern: $0) } ?? 0 }
    }

    private mutating func readProcesses() {
        guard let directory = opendir("/proc") else { return }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = Int32(name), let text = readSmallFile("/proc/\(pid)/stat", limit: 4096),
                  let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")") else { continue }
            let rest = text[text.index(after: close)...].split(separator: " ")
            guard rest.count > 12 else { continue }
            processes[pid] = Process(comm: String(text[text.index(after: open)..<close]),
                                     user: UInt64(rest[11]) ?? 0, system: UInt64(rest[12]) ?? 0)
        }
    }

    /// `Name: 123 kB` (meminfo) or `name 123` (vmstat) lines as a dictionary.
    private static func keyedNumbers(_ text: String, separator: Character) -> [String: UInt64] {
        var result: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            guard let split = line.firstIndex(of: separator) else { continue }
            let value = line[line.index(after: split)...].split(separator: " ").first.flatMap { UInt64($0) }
            if let value { result[String(line[..<split])] = value }
        }
        return result
    }
}
