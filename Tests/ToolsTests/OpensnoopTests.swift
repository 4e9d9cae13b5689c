import Foundation
import Testing

@Suite("opensnoop, against the real kernel", .serialized)
struct OpensnoopTests {
    @Test("an open shows with its pid, path and fd; a failed open with its errno")
    func reportsOpens() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueMarker("dir"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let existing = directory.appendingPathComponent("present").path
        FileManager.default.createFile(atPath: existing, contents: Data("x".utf8))
        let missing = directory.appendingPathComponent("absent").path

        let run = try ToolRun(["opensnoop", "--json", "-p", String(getpid())])
        defer { run.stop() }
        var descriptors: [Int32] = []
        let seen = run.wait(poke: {
            let fd = open(existing, O_RDONLY)
            descriptors.append(fd)
            close(fd)
            _ = open(missing, O_RDONLY)
        }) { run in
            run.jsonEvents.contains { $0["path"] as? String == existing }
                && run.jsonEvents.contains { $0["path"] as? String == missing }
        }
        #expect(seen, "stderr: \(run.stderr)")
        let opened = try #require(run.jsonEvents.first { $0["path"] as? String == existing })
        #expect(opened["pid"] as? Int == Int(getpid()))
        #expect(opened["err"] as? Int == 0)
        let fd = try #require(opened["fd"] as? Int)
        #expect(descriptors.contains(Int32(fd)))
        let failed = try #require(run.jsonEvents.first { $0["path"] as? String == missing })
        #expect(failed["fd"] as? Int == -1)
        #expect(failed["err"] as? Int == Int(ENOENT))
        // -p filters in the kernel: nothing from other processes.
        #expect(run.jsonEvents.allSatisfy { $0["pid"] as? Int == Int(getpid()) })
    }

    @Test("-x shows only failed opens, in bcc's columns")
    func failedOnly() throws {
        let missing = "/tmp/" + uniqueMarker("absent")
        let present = "/tmp/" + uniqueMarker("present")
        FileManager.default.createFile(atPath: present, contents: Data())
        defer { try? FileManager.default.removeItem(atPath: present) }
        let run = try ToolRun(["opensnoop", "-x", "-p", String(getpid())])
        defer { run.stop() }
        let seen = run.wait(poke: {
            close(open(present, O_RDONLY))
            _ = open(missing, O_RDONLY)
        }) { $0.stdout.contains(missing) }
        #expect(seen, "stderr: \(run.stderr)")
        #expect(run.lines.first == "PID    COMM               FD ERR PATH")
        #expect(!run.stdout.contains(present))
        let line = try #require(run.lines.first { $0.contains(missing) })
        #expect(line.hasPrefix(Columns6(getpid())))
        #expect(line.hasSuffix("  -1   2 \(missing)"))
    }

    @Test("-d ends the trace and frees every program")
    func duration() throws {
        let start = Date()
        let run = try ToolRun(["opensnoop", "-d", "1"])
        let marker = "/tmp/" + uniqueMarker("duration")
        run.wait(poke: { _ = open(marker, O_RDONLY) }) { $0.stdout.contains(marker) }
        let ours = run.heldProgramIDs(namedWithPrefix: "opensnoop_")
        #expect(!ours.isEmpty)
        #expect(run.waitForExit(timeout: 10) == 0)
        #expect(Date().timeIntervalSince(start) < 8)
        #expect(loadedProgramIDs(namedWithPrefix: "opensnoop_").intersection(ours).isEmpty)
    }
}

/// A pid as opensnoop's first column prints it (`%-6d` and a space).
func Columns6(_ pid: Int32) -> String {
    let text = String(pid)
    return text + String(repeating: " ", count: max(0, 6 - text.count)) + " "
}
