import Foundation
import Testing

/// Every tool's `--json` output, walked: each line is one JSON object, interval tools print
/// one object per interval, and every field name printed is listed in the tool's `--help`.
@Suite("--json on every tool", .serialized)
struct JSONOutputTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var arguments: [String]
        /// Lines expected: exactly this many (interval tools), or nil for at least one.
        var lines: Int?
        var testDescription: String { arguments.joined(separator: " ") }
    }

    static let cases: [Case] = [
        Case(arguments: ["execsnoop", "--json", "-T"], lines: nil),
        Case(arguments: ["opensnoop", "--json", "-d", "1.5"], lines: nil),
        Case(arguments: ["fileslower", "--json", "-d", "1.5", "0"], lines: nil),
        Case(arguments: ["features", "--json"], lines: nil),
        Case(arguments: ["checklist", "--json", "-i", "0.5"], lines: 1),
        Case(arguments: ["biosnoop", "--json", "1.5"], lines: nil),
        Case(arguments: ["runqlat", "--json", "-T", "1", "1"], lines: 1),
        Case(arguments: ["runqlat", "--json", "-P", "1", "1"], lines: 1),
        Case(arguments: ["runqlen", "--json", "-C", "1", "1"], lines: 1),
        Case(arguments: ["runqlen", "--json", "-O", "1", "1"], lines: 1),
        Case(arguments: ["biolatency", "--json", "-D", "1", "1"], lines: 1),
        Case(arguments: ["bitesize", "--json", "1", "1"], lines: 1),
        Case(arguments: ["cachestat", "--json", "1", "1"], lines: 1),
        Case(arguments: ["profile", "--json", "1"], lines: nil),
        Case(arguments: ["offcputime", "--json", "1"], lines: nil),
        Case(arguments: ["wakeuptime", "--json", "1"], lines: nil),
        Case(arguments: ["offwaketime", "--json", "1"], lines: nil),
    ]

    @Test("Each line parses, and its field names are documented in --help", arguments: cases)
    func walk(_ test: Case) throws {
        // Something for every tool to see: execs, opens, reads, direct writes, sleeps.
        let scratch = NSTemporaryDirectory() + uniqueMarker("json")
        defer { unlink(scratch) }
        let driver = Process()
        driver.executableURL = URL(fileURLWithPath: "/bin/sh")
        driver.arguments = ["-c", "while :; do /bin/true; cat /etc/hostname >/dev/null; "
            + "dd if=/dev/zero of=\(scratch) bs=4k count=4 oflag=direct,dsync 2>/dev/null; sleep 0.02; done"]
        try driver.run()
        defer { kill(driver.processIdentifier, SIGKILL); driver.waitUntilExit() }

        let run = try ToolRun(test.arguments)
        if test.arguments[0] == "execsnoop" {
            try run.wait(timeout: 10) { $0.lines.count >= 3 }
            run.stop()
        } else {
            #expect(run.waitForExit(timeout: 30) == 0, "stderr: \(run.stderr)")
        }
        // A long line (runqlat -P) may still be in the pipe when the tool has exited.
        let drained = Date().addingTimeInterval(3)
        while !(run.stdout.isEmpty || run.stdout.hasSuffix("\n")) && Date() < drained { Thread.sleep(forTimeInterval: 0.02) }
        let lines = run.lines
        if let expected = test.lines {
            #expect(lines.count == expected, "\(run.stdout)")
        } else {
            #expect(!lines.isEmpty, "no output; stderr: \(run.stderr)")
        }
        let documented = Set(try Self.help(test.arguments[0]).split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") }).map(String.init))
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            let fields = try #require(object, "not a JSON object: \(line)")
            for name in Self.names(fields) {
                #expect(documented.contains(name), "\(test.arguments[0]) --help does not list the JSON field \(name)")
            }
        }
    }

    /// A tool's `--help`, read to the end (a short-lived process: no pipe left undrained).
    static func help(_ tool: String) throws -> String {
        let process = Process()
        process.executableURL = ToolRun.binary
        process.arguments = [tool, "--help"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return String(decoding: data, as: UTF8.self)
    }

    /// The object's keys and those of objects nested in its arrays.
    static func names(_ object: [String: Any]) -> Set<String> {
        var result = Set(object.keys)
        for value in object.values {
            for nested in (value as? [Any] ?? []).compactMap({ $0 as? [String: Any] }) { result.formUnion(names(nested)) }
        }
        return result
    }
}
