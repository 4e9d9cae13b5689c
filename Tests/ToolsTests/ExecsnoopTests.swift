import Foundation
import Testing

@Suite("execsnoop, against the real kernel", .serialized)
struct ExecsnoopTests {
    @Test("an exec shows with its pid, ppid, comm and arguments")
    func reportsExec() throws {
        let run = try ToolRun(["execsnoop", "--json"])
        defer { run.stop() }
        let marker = uniqueMarker("exec")
        var pids: [Int32] = []
        let seen = try run.wait(poke: { pids.append(try runProgram("/bin/true", [marker, "second arg"])) }) { run in
            run.jsonEvents.contains { ($0["args"] as? [String])?.contains(marker) == true }
        }
        #expect(seen, "no event for \(marker); stderr: \(run.stderr)")
        let event = try #require(run.jsonEvents.first { ($0["args"] as? [String])?.contains(marker) == true })
        #expect(event["args"] as? [String] == ["/bin/true", marker, "second arg"])
        #expect(event["pcomm"] as? String == "true")
        #expect(event["ret"] as? Int == 0)
        let pid = try #require(event["pid"] as? Int)
        #expect(pids.contains(Int32(pid)))
        #expect(event["ppid"] as? Int == Int(getpid()))
    }

    @Test("the column output matches bcc's layout")
    func columns() throws {
        let run = try ToolRun(["execsnoop", "-U", "-q"])
        defer { run.stop() }
        let marker = uniqueMarker("columns")
        let seen = try run.wait(poke: { try runProgram("/bin/true", [marker]) }) { $0.stdout.contains(marker) }
        #expect(seen, "stderr: \(run.stderr)")
        #expect(run.lines.first?.hasPrefix("UID    PCOMM            PID     PPID    RET ARGS") == true)
        let line = try #require(run.lines.first { $0.contains(marker) })
        #expect(line.hasPrefix("0      true "))
        #expect(line.hasSuffix("\"/bin/true\" \"\(marker)\""))
    }

    @Test("-x shows a failed exec with its negative return value")
    func failedExec() throws {
        let run = try ToolRun(["execsnoop", "-x", "--json"])
        defer { run.stop() }
        let missing = "/nonexistent/" + uniqueMarker("missing")
        let seen = try run.wait(poke: { try runProgram("/bin/sh", ["-c", "exec \(missing)"]) }) { run in
            run.jsonEvents.contains { ($0["args"] as? [String])?.first == missing }
        }
        #expect(seen, "stderr: \(run.stderr)")
        let event = try #require(run.jsonEvents.first { ($0["args"] as? [String])?.first == missing })
        #expect(event["ret"] as? Int == -Int(ENOENT))
    }

    @Test("without -x a failed exec is not shown")
    func failedExecHidden() throws {
        let run = try ToolRun(["execsnoop", "--json"])
        defer { run.stop() }
        let marker = uniqueMarker("ok")
        // A successful exec marks the tool as attached; a failure after it must not show.
        let missing = "/nonexistent/" + uniqueMarker("hidden")
        try run.wait(poke: { try runProgram("/bin/true", [marker]) }) { $0.stdout.contains(marker) }
        try runProgram("/bin/sh", ["-c", "exec \(missing)"])
        let after = uniqueMarker("after")
        try run.wait(poke: { try runProgram("/bin/true", [after]) }) { $0.stdout.contains(after) }
        #expect(run.stdout.contains(marker))
        // The shell's own exec (with the path in its arguments) shows; the failed one does not.
        #expect(!run.jsonEvents.contains { ($0["args"] as? [String])?.first == missing })
    }

    @Test("-n and -l filter by name and by argument line")
    func filters() throws {
        let marker = uniqueMarker("filter")
        let run = try ToolRun(["execsnoop", "-n", "^echo$", "-l", marker])
        defer { run.stop() }
        let seen = try run.wait(poke: {
            try runProgram("/bin/true", [marker])
            try runProgram("/bin/echo", [marker])
        }) { $0.stdout.contains("echo ") }
        #expect(seen, "stderr: \(run.stderr)")
        #expect(run.lines.dropFirst().allSatisfy { $0.hasPrefix("echo ") && $0.contains(marker) })
    }

    @Test("SIGINT and SIGTERM detach and free every program the tool loaded", arguments: [SIGINT, SIGTERM])
    func cleanExit(signal: Int32) throws {
        let run = try ToolRun(["execsnoop"])
        let marker = uniqueMarker("cleanup")
        try run.wait(poke: { try runProgram("/bin/true", [marker]) }) { $0.stdout.contains(marker) }
        let ours = run.heldProgramIDs(namedWithPrefix: "execsnoop_")
        #expect(ours.count == 2, "expected execsnoop's two programs loaded, saw \(ours)")
        #expect(run.stop(signal) == 0)
        let left = loadedProgramIDs(namedWithPrefix: "execsnoop_").intersection(ours)
        #expect(left.isEmpty, "programs still loaded after exit: \(left)")
    }

    @Test("a bad flag is one line on stderr and a non-zero exit")
    func badFlag() throws {
        let run = try ToolRun(["execsnoop", "--max-args", "0"])
        #expect(run.waitForExit() != 0)
        #expect(run.stderr.contains("--max-args must be between 1 and 60"))
    }
}
