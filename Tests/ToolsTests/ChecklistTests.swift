import Foundation
import Testing

/// `bpfkit checklist` against /proc read by the test itself, while the test loads the
/// machine: every CPU spinning and a disk writing.
extension OffCPUTests {
    @Suite("checklist, against /proc under load", .serialized)
    struct ChecklistTests {
        /// Busy and total jiffies of the all-CPU line of /proc/stat.
        static func cpuJiffies() throws -> (busy: Double, total: Double) {
            let text = try String(contentsOfFile: "/proc/stat", encoding: .utf8)
            let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("cpu ") })
            let n = line.split(separator: " ").dropFirst().compactMap { Double($0) }
            let total = n.prefix(8).reduce(0, +)
            return (total - n[3] - n[4], total)
        }

        /// Writes completed by the whole disk holding `path`, from /proc/diskstats.
        static func diskWrites(holding path: String) throws -> (name: String, writes: Double) {
            var status = stat()
            #expect(stat(path, &status) == 0)
            let major = (status.st_dev >> 8) & 0xfff, minor = (status.st_dev & 0xff) | ((status.st_dev >> 12) & 0xfff00)
            let link = "/sys/dev/block/\(major):\(minor)"
            let target = try FileManager.default.destinationOfSymbolicLink(atPath: link)
            var components = target.split(separator: "/")
            if FileManager.default.fileExists(atPath: link + "/partition") { components.removeLast() }
            let name = String(try #require(components.last))
            let stats = try String(contentsOfFile: "/proc/diskstats", encoding: .utf8)
            let line = try #require(stats.split(separator: "\n").first { $0.split(separator: " ")[2] == name })
            return (name, Double(line.split(separator: " ")[7])!)
        }

        @Test("Under 3 s with a 1 s sample; figures match /proc; the USE summary flags busy CPUs")
        func underLoad() throws {
            let cpus = ProcessInfo.processInfo.activeProcessorCount
            let spinners = (0..<cpus).map { _ -> Process in
                let spinner = Process()
                spinner.executableURL = URL(fileURLWithPath: "/bin/sh")
                spinner.arguments = ["-c", "while :; do :; done"]
                try? spinner.run()
                return spinner
            }
            // SIGKILL: the test runner's children may inherit SIGTERM blocked.
            defer { spinners.forEach { kill($0.processIdentifier, SIGKILL); $0.waitUntilExit() } }
            let scratch = "/var/tmp/" + uniqueMarker("checklist")
            defer { unlink(scratch) }
            let writer = Process()
            writer.executableURL = URL(fileURLWithPath: "/bin/sh")
            writer.arguments = ["-c", "while :; do dd if=/dev/zero of=\(scratch) bs=64k count=16 oflag=direct,dsync 2>/dev/null; done"]
            try writer.run()
            defer { kill(writer.processIdentifier, SIGKILL); writer.waitUntilExit() }
            usleep(300_000)

            let cpuBefore = try Self.cpuJiffies()
            let diskBefore = try Self.diskWrites(holding: "/var/tmp")
            let started = Date()
            let run = try ToolRun(["checklist", "-i", "1", "--top", "100", "--json"])
            #expect(run.waitForExit(timeout: 10) == 0, "stderr: \(run.stderr)")
            let wall = Date().timeIntervalSince(started)
            let cpuAfter = try Self.cpuJiffies()
            let diskAfter = try Self.diskWrites(holding: "/var/tmp")
            let memory = try String(contentsOfFile: "/proc/meminfo", encoding: .utf8)
            let load = try String(contentsOfFile: "/proc/loadavg", encoding: .utf8).split(separator: " ").prefix(1).compactMap { Double($0) }

            #expect(wall < 3, "took \(wall) s")
            // Drain a long line still in the pipe.
            let drained = Date().addingTimeInterval(3)
            while !run.stdout.hasSuffix("\n") && Date() < drained { Thread.sleep(forTimeInterval: 0.02) }
            let report = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])

            // CPU: the tool's all-CPU busy share against the test's own reading around it.
            let ownBusy = (cpuAfter.busy - cpuBefore.busy) / (cpuAfter.total - cpuBefore.total) * 100
            let mpstat = try #require(report["mpstat"] as? [[String: Any]])
            let all = try #require(mpstat.first { $0["cpu"] as? String == "all" })
            let idle = try #require(all["idle"] as? Double), iowait = try #require(all["iowait"] as? Double)
            #expect(abs((100 - idle - iowait) - ownBusy) < 10, "tool \(100 - idle - iowait)% vs /proc \(ownBusy)%")
            #expect(100 - idle - iowait > 90)
            #expect(mpstat.count == cpus + 1)
            #expect(report["cpus"] as? Int == cpus)

            // The spinners are among the processes using CPU.
            let pidstat = try #require(report["pidstat"] as? [[String: Any]])
            let listed = Set(pidstat.compactMap { $0["pid"] as? Int })
            #expect(spinners.contains { listed.contains(Int($0.processIdentifier)) }, "\(pidstat.prefix(10))")

            // Disk: the writes the tool saw fit inside what /proc counted around it.
            let iostat = try #require(report["iostat"] as? [[String: Any]])
            let disk = try #require(iostat.first { $0["device"] as? String == diskBefore.name }, "\(diskBefore.name) not in \(iostat)")
            let writesPerSecond = try #require(disk["w_s"] as? Double)
            let ownWrites = diskAfter.writes - diskBefore.writes
            #expect(writesPerSecond > 0)
            #expect(writesPerSecond * 1.0 <= ownWrites * 1.1 + 2, "tool \(writesPerSecond)/s vs \(ownWrites) in \(wall) s")
            #expect(writesPerSecond * wall >= ownWrites * 0.3, "tool \(writesPerSecond)/s vs \(ownWrites) in \(wall) s")

            // Memory and load.
            let total = Double(memory.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }!.split(separator: " ")[1])! / 1024
            let free = try #require(report["free"] as? [String: Any])
            #expect(abs((free["total"] as? Double ?? 0) - total) < 1)
            let reported = try #require((report["load"] as? [Double])?.first)
            #expect(abs(reported - load[0]) <= max(1, load[0] * 0.2), "load \(reported) vs \(load[0])")

            // USE: the CPU is flagged, with a command to run next.
            let use = try #require(report["use"] as? [[String: Any]])
            let cpu = try #require(use.first { $0["resource"] as? String == "CPU" })
            #expect(cpu["flagged"] as? Bool == true, "\(cpu)")
            #expect((cpu["next"] as? String)?.contains("bpfkit") == true)
        }

        @Test("Text output: a section per classic command and the USE summary")
        func text() throws {
            let run = try ToolRun(["checklist", "-i", "0.2"])
            #expect(run.waitForExit(timeout: 10) == 0, "stderr: \(run.stderr)")
            for section in ["=== uptime", "=== dmesg", "=== vmstat", "=== mpstat", "=== pidstat", "=== iostat -xz", "=== free -m",
                            "=== sar -n DEV", "=== sar -n TCP,ETCP", "=== USE summary"] {
                #expect(run.stdout.contains(section), "missing \(section)")
            }
        }

        @Test("Bad input: one line, non-zero exit")
        func badInput() throws {
            for arguments in [["checklist", "-i", "0"], ["checklist", "-i", "abc"], ["checklist", "--bogus"]] {
                let run = try ToolRun(arguments)
                #expect(run.waitForExit() != 0)
                #expect(!run.stderr.isEmpty && !run.stderr.contains("Fatal"), "\(arguments): \(run.stderr)")
            }
        }
    }
}
