import Foundation
import Testing

@Suite("gethostlatency, against the real kernel", .serialized)
struct GethostlatencyTests {
    @Test("-p: a getaddrinfo(\"localhost\") with its pid, comm, host and latency; programs freed at exit")
    func lookupOfOneProcess() throws {
        let program = try buildProgram("lookup", lookupSource, compiler: "cc -O1")
        let child = Process()
        child.executableURL = URL(fileURLWithPath: program)
        child.arguments = ["localhost", "500"]
        try child.run()
        defer { if child.isRunning { kill(child.processIdentifier, SIGKILL); child.waitUntilExit() } }
        usleep(50_000)  // let it map libc
        let pid = Int(child.processIdentifier)
        let before = loadedProgramIDs(namedWithPrefix: "gethostlatency_")
        let run = try ToolRun(["gethostlatency", "--json", "-p", String(pid)])
        defer { run.stop() }
        #expect(try run.wait(timeout: 15) { $0.jsonEvents.count >= 2 }, "stderr: \(run.stderr)")
        let event = try #require(run.jsonEvents.first)
        #expect(event["pid"] as? Int == pid)
        #expect(event["host"] as? String == "localhost")
        #expect(event["comm"] as? String == "lookup")
        #expect((event["latency_ms"] as? Double ?? -1) > 0)
        #expect(run.jsonEvents.allSatisfy { $0["pid"] as? Int == pid })
        let ours = loadedProgramIDs(namedWithPrefix: "gethostlatency_").subtracting(before)
        #expect(ours.count == 2)
        #expect(run.stop() == 0)
        #expect(loadedProgramIDs(namedWithPrefix: "gethostlatency_").intersection(ours).isEmpty)
    }

    @Test("system-wide: bcc's columns, the lookup of a process started after the tool")
    func lookupColumns() throws {
        let program = try buildProgram("lookup", lookupSource, compiler: "cc -O1")
        let run = try ToolRun(["gethostlatency"])
        defer { run.stop() }
        // Three uprobes and three uretprobes: attached once it holds six links.
        #expect(try run.wait { bpfLinkCount($0.process.processIdentifier) >= 6 }, "stderr: \(run.stderr)")
        let pid = try runProgram(program, ["localhost", "2"])
        #expect(try run.wait { $0.lines.contains { $0.contains(" \(pid) ") && $0.hasSuffix(" localhost") } }, "stdout: \(run.stdout)")
        #expect(run.lines.first == "TIME      PID     COMM                  LATms HOST")
        let line = try #require(run.lines.first { $0.contains(" \(pid) ") })
        #expect(line.contains(" lookup "))
    }

    @Test("a C library that does not exist is one line and a non-zero exit")
    func missingLibrary() throws {
        let run = try ToolRun(["gethostlatency", "-l", "nosuchlibrary"])
        #expect(try run.waitForExit() != 0)
        #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
        #expect(run.stderr.contains("nosuchlibrary"))
    }
}
