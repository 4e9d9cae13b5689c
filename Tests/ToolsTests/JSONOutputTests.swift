import Foundation
import Testing

/// Every tool's `--json` output, walked: each line is one JSON object, interval tools print
/// one object per interval, and every field name printed is listed in the tool's `--help`.
/// The cases run inside the suites of the tools they exercise (serialized there), so they
/// never race those suites' checks of which BPF programs are loaded.
struct JSONCase: CustomTestStringConvertible, Sendable {
    var arguments: [String]
    /// Lines expected: exactly this many (interval tools), or nil for at least one.
    var lines: Int?
    var testDescription: String { arguments.joined(separator: " ") }
}

extension StorageTools {
    @Suite("--json: storage tools, run queue, checklist, features", .serialized)
    struct JSONOutputTests {
        static let cases: [JSONCase] = [
            JSONCase(arguments: ["opensnoop", "--json", "-d", "1.5"], lines: nil),
            JSONCase(arguments: ["fileslower", "--json", "-d", "1.5", "0"], lines: nil),
            JSONCase(arguments: ["biosnoop", "--json", "1.5"], lines: nil),
            JSONCase(arguments: ["biolatency", "--json", "-D", "1", "1"], lines: 1),
            JSONCase(arguments: ["bitesize", "--json", "1", "1"], lines: 1),
            JSONCase(arguments: ["cachestat", "--json", "1", "1"], lines: 1),
            JSONCase(arguments: ["features", "--json"], lines: nil),
            JSONCase(arguments: ["checklist", "--json", "-i", "0.5"], lines: 1),
        ]

        @Test("Each line parses, and its field names are documented in --help", arguments: cases)
        func walk(_ test: JSONCase) throws { try walkJSON(test) }
    }
}

extension OffCPUTests {
    @Suite("--json: stack tools and run queue", .serialized)
    struct JSONOutputTests {
        // DRIVER: the workload's pid, so only one process is symbolized.
        static let cases: [JSONCase] = [
            JSONCase(arguments: ["runqlat", "--json", "-T", "1", "1"], lines: 1),
            JSONCase(arguments: ["runqlat", "--json", "-P", "1", "1"], lines: 1),
            JSONCase(arguments: ["runqlen", "--json", "-C", "1", "1"], lines: 1),
            JSONCase(arguments: ["runqlen", "--json", "-O", "1", "1"], lines: 1),
            JSONCase(arguments: ["profile", "--json", "-K", "1"], lines: nil),  // kernel stacks: nothing to symbolize per process
            JSONCase(arguments: ["offcputime", "--json", "-p", "DRIVER", "1"], lines: nil),
            JSONCase(arguments: ["wakeuptime", "--json", "-p", "DRIVER", "1"], lines: nil),
            JSONCase(arguments: ["offwaketime", "--json", "-p", "DRIVER", "1"], lines: nil),
        ]

        @Test("Each line parses, and its field names are documented in --help", arguments: cases)
        func walk(_ test: JSONCase) throws { try walkJSON(test) }
    }
}

extension ExecsnoopTests {
    @Test("--json: each line parses, and its field names are documented in --help")
    func jsonWalk() throws { try walkJSON(JSONCase(arguments: ["execsnoop", "--json", "-T"], lines: nil)) }
}

/// Runs one case under a small workload and checks its output.
func walkJSON(_ test: JSONCase) throws {
    // Something for every tool to see: execs, opens, reads, direct writes, sleeps.
    let scratch = NSTemporaryDirectory() + uniqueMarker("json")
    defer { unlink(scratch) }
    let driver = Process()
    driver.executableURL = URL(fileURLWithPath: "/bin/sh")
    driver.arguments = ["-c", "while :; do /bin/true; cat /etc/hostname >/dev/null; "
        + "dd if=/dev/zero of=\(scratch) bs=4k count=4 oflag=direct,dsync 2>/dev/null; sleep 0.02; done"]
    try driver.run()
    defer { kill(driver.processIdentifier, SIGKILL); driver.waitUntilExit() }

    // The tool writes to a file, read after it exits: a pipe read through FileHandle's
    // readability handler can lose the end of a long last line when the writer exits.
    let arguments = test.arguments.map { $0 == "DRIVER" ? String(driver.processIdentifier) : $0 }
    let outputPath = scratch + ".out"
    defer { unlink(outputPath) }
    FileManager.default.createFile(atPath: outputPath, contents: nil)
    let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
    let tool = Process()
    tool.executableURL = ToolRun.binary
    tool.arguments = arguments
    tool.standardOutput = output
    tool.standardError = FileHandle.nullDevice
    try tool.run()
    defer { if tool.isRunning { kill(tool.processIdentifier, SIGKILL) } }
    func text() -> String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }
    let deadline = Date().addingTimeInterval(30)
    while tool.isRunning && Date() < deadline {
        // execsnoop runs until stopped: a few events are enough.
        if test.arguments[0] == "execsnoop" && text().split(separator: "\n").count >= 3 { kill(tool.processIdentifier, SIGINT) }
        Thread.sleep(forTimeInterval: 0.05)
    }
    if tool.isRunning { kill(tool.processIdentifier, SIGKILL) }
    tool.waitUntilExit()
    try output.close()
    #expect(tool.terminationStatus == 0, "\(arguments)")
    let stdout = text()
    let lines = stdout.split(separator: "\n").map(String.init)
    if let expected = test.lines {
        #expect(lines.count == expected, "\(stdout)")
    } else {
        #expect(!lines.isEmpty, "no output from \(arguments)")
    }
    let documented = Set(try jsonHelp(test.arguments[0]).split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") }).map(String.init))
    for line in lines {
        let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        let fields = try #require(object, "not a JSON object (\(line.utf8.count) bytes, line \(lines.firstIndex(of: line) ?? -1) of \(lines.count)): \(line)")
        for name in jsonNames(fields) {
            #expect(documented.contains(name), "\(test.arguments[0]) --help does not list the JSON field \(name)")
        }
    }
}

/// A tool's `--help`, read to the end (a short-lived process: no pipe left undrained).
func jsonHelp(_ tool: String) throws -> String {
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
func jsonNames(_ object: [String: Any]) -> Set<String> {
    var result = Set(object.keys)
    for value in object.values {
        for nested in (value as? [Any] ?? []).compactMap({ $0 as? [String: Any] }) { result.formUnion(jsonNames(nested)) }
    }
    return result
}
