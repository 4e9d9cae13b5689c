import Foundation
import Testing

extension StorageTools {
    @Suite("biosnoop", .serialized)
    struct BiosnoopTests {
        @Test("one event per I/O with its process, disk, type, sector and size", arguments: [nil, "tracepoints"])
        func reportsEachIO(hooks: String?) throws {
            let loop = try LoopDevice(megabytes: 64)
            defer { loop.close() }
            let run = try ProgramRun(tool: ["biosnoop", "--json", "-Q", "-v", "-d", loop.name], hooks: hooks)
            #expect(try run.wait { $0.stderr.contains("attaching") }, "stderr: \(run.stderr)")
            #expect(run.stderr.contains(hooks == nil ? "tp_btf/block_rq_complete" : "block:block_rq_complete"))
            let writer = try directIO(loop.device, write: true, size: 65536, count: 5)
            let reader = try directIO(loop.device, write: false, size: 16384, count: 3, skipBlocks: 10)
            #expect(try run.wait { run in run.jsonEvents.filter { $0["comm"] as? String == "dd" }.count >= 8 })
            #expect(run.stop() == 0)

            let events = run.jsonEvents.filter { $0["comm"] as? String == "dd" }
            let writes = events.filter { $0["type"] as? String == "W" }
            let reads = events.filter { $0["type"] as? String == "R" }
            #expect(writes.map { $0["sector"] as? Int } == [0, 128, 256, 384, 512])
            #expect(writes.allSatisfy { $0["bytes"] as? Int == 65536 && $0["pid"] as? Int == Int(writer) })
            #expect(reads.map { $0["sector"] as? Int } == [320, 352, 384])
            #expect(reads.allSatisfy { $0["bytes"] as? Int == 16384 && $0["pid"] as? Int == Int(reader) })
            #expect(events.allSatisfy { $0["disk"] as? String == loop.name })
            #expect(events.allSatisfy { ($0["latency_ms"] as? Double ?? -1) > 0 && ($0["queued_ms"] as? Double ?? -1) >= 0 })
            #expect(events.allSatisfy { ($0["flags"] as? String)?.hasSuffix($0["type"] as? String == "W" ? "Write" : "Read") == true })
        }

        @Test("bcc's columns, with QUE(ms) and the I/O pattern")
        func columns() throws {
            let loop = try LoopDevice(megabytes: 64)
            defer { loop.close() }
            let run = try ToolRun(["biosnoop", "-Q", "-P", "-d", loop.name])
            #expect(try run.wait { $0.lines.first?.hasPrefix("TIME(s)") == true })
            try directIO(loop.device, write: true, size: 8192, count: 3)
            #expect(try run.wait { $0.lines.count >= 4 })
            #expect(run.stop() == 0)
            #expect(run.lines.first == "TIME(s)     COMM           PID     DISK      T SECTOR     BYTES   P QUE(ms) LAT(ms)")
            let rows = run.lines.dropFirst().filter { $0.contains(" dd ") }
            #expect(rows.count == 3)
            // %-11.6f %-14.14s %-7s %-9s %-1s %-10s %-7s P %7.2f %7.2f
            let pattern = /(\d+\.\d{6})\s+dd\s+(\d+)\s+(\S+)\s+W (\d+)\s+8192\s+([SR?]) +(\d+\.\d\d) +(\d+\.\d\d)/
            let matches = rows.compactMap { $0.wholeMatch(of: pattern) }
            #expect(matches.count == 3, "\(rows)")
            #expect(matches.first?.output.1 == "0.000000")
            #expect(matches.map { String($0.output.3) } == Array(repeating: loop.name, count: 3))
            #expect(matches.map { Int($0.output.4)! } == [0, 16, 32])
            #expect(matches.map { String($0.output.5) } == ["?", "S", "S"])
            #expect(rows.first.map { $0.count(where: { $0 == " " }) > 0 && $0.hasPrefix("0.000000    dd             ") } == true)
        }

        @Test("-p keeps the I/O one process submitted")
        func filtersByProcess() throws {
            let loop = try LoopDevice(megabytes: 64)
            defer { loop.close() }
            let run = try ToolRun(["biosnoop", "--json", "-v", "-p", String(getpid()), "-d", loop.name])
            #expect(try run.wait { $0.stderr.contains("attaching") })
            try directIO(loop.device, write: true, size: 65536, count: 2)
            for index in 0..<3 { try directWrite(loop.device, size: 8192, offset: (index + 100) * 8192) }
            #expect(try run.wait { $0.jsonEvents.count >= 3 })
            Thread.sleep(forTimeInterval: 0.3)
            #expect(run.stop() == 0)
            let events = run.jsonEvents
            #expect(events.count == 3, "\(events)")
            #expect(events.allSatisfy { $0["pid"] as? Int == Int(getpid()) && $0["bytes"] as? Int == 8192 })
            #expect(events.map { $0["sector"] as? Int } == [1600, 1616, 1632])
        }

        @Test("a missing disk: one line, exit 1")
        func missingDisk() throws {
            let run = try ToolRun(["biosnoop", "-d", "/dev/nosuchdisk0"])
            #expect(try run.waitForExit() == 1)
            #expect(run.stderr == "bpfkit biosnoop: no such disk '/dev/nosuchdisk0'\n")
        }
    }
}
