import Foundation
import Testing

@Suite("the bpfkit command line")
struct CommandLineTests {
    @Test("bpfkit --help lists every tool with one line")
    func helpListsTools() throws {
        let run = try ToolRun(["--help"])
        #expect(run.waitForExit() == 0)
        #expect(run.stdout.contains("execsnoop               Trace new processes via exec() syscalls."))
        #expect(run.stdout.contains("opensnoop "))
    }

    @Test("a link named after a tool runs that tool")
    func multiCallLink() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueMarker("links"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let link = directory.appendingPathComponent("opensnoop")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: ToolRun.binary)
        let process = Process()
        let output = Pipe()
        process.executableURL = link
        process.arguments = ["--help"]
        process.standardOutput = output
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0)
        #expect(text.contains("USAGE: opensnoop"))
    }

    @Test("without privileges a tool says why in one line and exits non-zero")
    func unprivileged() throws {
        // The binary must be reachable by nobody: copy it somewhere world-readable.
        let copy = "/tmp/" + uniqueMarker("bpfkit")
        try FileManager.default.copyItem(atPath: ToolRun.binary.path, toPath: copy)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        chmod(copy, 0o755)
        let process = Process()
        let errors = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", copy, "execsnoop"]
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 1)
        #expect(text.split(separator: "\n").count == 1)
        #expect(text.contains("operation not permitted"))
        #expect(text.contains("needs root"))
    }
}
