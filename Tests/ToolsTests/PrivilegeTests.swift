// Tools run as root: they may write nowhere but the output paths the user named. Each tool
// runs under strace in a fresh, empty working directory; every system call that could
// create, change or remove a file is listed, and only the named output may appear.
import Foundation
import Testing

/// The file-changing system calls (an open counts when its flags allow writing or creating).
private let writingCalls = [
    "open", "openat", "openat2", "creat", "mkdir", "mkdirat", "rename", "renameat", "renameat2", "unlink", "unlinkat",
    "link", "linkat", "symlink", "symlinkat", "truncate", "chmod", "fchmodat", "chown", "fchownat", "mknod", "mknodat",
]

/// The trace lines that change a file, less those on `allowed` paths.
private func fileWrites(inTrace text: String, allowed: [String]) -> [String] {
    text.split(separator: "\n").map(String.init).filter { line in
        guard let call = writingCalls.first(where: { line.contains(" \($0)(") || line.hasPrefix("\($0)(") }) else { return false }
        if call.hasPrefix("open") || call == "creat" {
            guard call == "creat" || ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC"].contains(where: line.contains) else { return false }
        }
        return !allowed.contains { line.contains("\"\($0)\"") }
    }
}

@Suite("Privilege: tools write only where told", .serialized)
struct PrivilegeTests {
    /// Every BPF tool with arguments that end it within a few seconds on its own, or under
    /// `timeout -s INT`, plus the two flame graph outputs a user can name.
    static let runs: [[String]] = bpfTools.map { tool in
        switch tool {
        case "fsslower": ["fsslower", "-t", "ext4", "--duration", "1"]
        case "xfsslower", "btrfsslower", "nfsslower": [tool]  // exits at once where not mounted
        default: [tool]
        }
    } + [["profile", "--svg", "OUTPUT", "1"], ["offcputime", "--svg", "OUTPUT", "1"]]

    @Test("a tool writes no file but the output it was given", arguments: runs)
    func writesOnlyNamedOutput(arguments: [String]) throws {
        let strace = "/usr/bin/strace"
        try #require(FileManager.default.isExecutableFile(atPath: strace), "this test needs strace (apt-get install strace)")
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueMarker("privilege"))
        let cwd = root.appendingPathComponent("cwd")
        try FileManager.default.createDirectory(at: cwd, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let output = root.appendingPathComponent("named-output.svg").path
        let trace = root.appendingPathComponent("trace").path
        let toolArguments = arguments.map { $0 == "OUTPUT" ? output : $0 }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: strace)
        process.arguments = ["-f", "-qq", "-e", "trace=" + writingCalls.joined(separator: ","), "-o", trace,
                             "/usr/bin/timeout", "-s", "INT", "3", ToolRun.binary.path] + toolArguments
        process.currentDirectoryURL = cwd
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        for marker in trapMarkers { #expect(!errorText.contains(marker), "\(errorText)") }

        // Read by cat, not in this process: CachestatTests counts this process's page-cache
        // traffic while suites run in parallel.
        let reader = Process()
        let traceText = Pipe()
        reader.executableURL = URL(fileURLWithPath: "/bin/cat")
        reader.arguments = [trace]
        reader.standardOutput = traceText
        try reader.run()
        let text = String(decoding: traceText.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        reader.waitUntilExit()
        #expect(text.contains("open"), "the trace saw the tool open files at all")
        let writes = fileWrites(inTrace: text, allowed: [output])
        #expect(writes.isEmpty, "\(arguments.joined(separator: " ")) wrote: \(writes.prefix(5))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: cwd.path).isEmpty, "files appeared in the working directory")
        if toolArguments.contains(output) {
            #expect(FileManager.default.fileExists(atPath: output), "the named output was written: \(errorText)")
        }
    }
}
