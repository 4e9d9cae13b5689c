import Foundation
import Testing

extension StorageTools {
    @Suite("biolatency", .serialized)
    struct BiolatencyTests {
        @Test("counts each direct write on the traced disk, per flag set", arguments: [nil, "tracepoints"])
        func countsWrites(hooks: String?) throws {
            let loop = try LoopDevice(megabytes: 64)
            defer { loop.close() }
            let run = try ProgramRun(tool: ["biolatency", "-F", "-j", "-v", "-d", loop.name], hooks: hooks)
            #expect(try run.wait { $0.stderr.contains("attaching") }, "stderr: \(run.stderr)")
            #expect(run.stderr.contains(hooks == nil ? "tp_btf/block_rq_issue" : "block:block_rq_issue"))
            try directIO(loop.device, write: true, size: 65536, count: 20)
            #expect(run.stop() == 0)

            let output = try #require(run.jsonEvents.last, "stdout: \(run.stdout) stderr: \(run.stderr)")
            #expect(output["unit"] as? String == "usecs")
            let histograms = try #require(output["histograms"] as? [[String: Any]])
            let writes = histograms.filter { ($0["flags"] as? String)?.hasSuffix("Write") == true }
            #expect(writes.reduce(0) { $0 + ($1["total"] as? Int ?? 0) } == 20, "histograms: \(histograms)")
            for histogram in histograms {
                let buckets = try #require(histogram["buckets"] as? [[String: Any]])
                #expect(buckets.reduce(0) { $0 + ($1["count"] as? Int ?? 0) } == histogram["total"] as? Int)
            }
        }

        @Test("-D -e -T prints bcc's layout: time, disk section, histogram, average")
        func textLayout() throws {
            let loop = try LoopDevice(megabytes: 64)
            defer { loop.close() }
            let run = try ToolRun(["biolatency", "-D", "-e", "-T", "-d", loop.name])
            #expect(try run.wait { $0.stdout.contains("Tracing block device I/O... Hit Ctrl-C to end.") })
            try directIO(loop.device, write: true, size: 4096, count: 10)
            #expect(run.stop() == 0)

            let lines = run.lines
            #expect(lines.first == "Tracing block device I/O... Hit Ctrl-C to end.")
            #expect(run.stdout.contains("Hit Ctrl-C to end.\n\n"))
            #expect(lines.contains { $0.wholeMatch(of: /\d\d:\d\d:\d\d/) != nil })
            #expect(lines.contains("disk = \(loop.name)"))
            #expect(lines.contains("     usecs               : count     distribution"))
            let rows = lines.compactMap { $0.wholeMatch(of: /\s+(\d+) -> (\d+)\s+: (\d+)\s+\|(\**)\s*\|/) }
            #expect(!rows.isEmpty)
            #expect(rows.reduce(0) { $0 + Int($1.output.3)! } == 10)
            // The fullest bucket has the 40-star bar.
            #expect(rows.contains { $0.output.4.count == 40 })
            let average = try #require(lines.first { $0.hasPrefix("avg = ") })
            #expect(average.wholeMatch(of: /avg = \d+ usecs, total: \d+ usecs, count: 10/) != nil, "\(average)")
        }

        @Test("interval and count: -m -T summaries, then it exits by itself and frees its programs")
        func intervals() throws {
            let loop = try LoopDevice(megabytes: 64)
            defer { loop.close() }
            let started = Date()
            let run = try ToolRun(["biolatency", "-m", "-T", "-d", loop.name, "0.5", "3"])
            #expect(try run.wait { $0.stdout.contains("Hit Ctrl-C") })
            let ours = run.heldProgramIDs(namedWithPrefix: "biolatency_")
            #expect(ours.count == 2)
            try directIO(loop.device, write: true, size: 16384, count: 5)
            #expect(try run.waitForExit(timeout: 10) == 0)
            #expect(Date().timeIntervalSince(started) < 8)
            #expect(run.stdout.contains("     msecs               : count     distribution"))
            #expect(run.lines.filter { $0.wholeMatch(of: /\d\d:\d\d:\d\d/) != nil }.count == 3)  // one time line per output
            #expect(loadedProgramIDs(namedWithPrefix: "biolatency_").intersection(ours).isEmpty)
        }

        @Test("bad input: one line and a non-zero exit")
        func badInput() throws {
            let missing = try ToolRun(["biolatency", "-d", "nosuchdisk0"])
            #expect(missing.waitForExit() == 1)
            #expect(missing.stderr == "bpfkit biolatency: no such disk 'nosuchdisk0'\n")
            #expect(missing.stdout.isEmpty)

            let both = try ToolRun(["biolatency", "-D", "-F"])
            #expect(both.waitForExit() != 0)
            #expect(both.stderr.contains("can only use -D or -F"))

            let zero = try ToolRun(["biolatency", "0"])
            #expect(zero.waitForExit() != 0)
            #expect(zero.stderr.contains("interval must be a positive number"))
        }
    }
}
