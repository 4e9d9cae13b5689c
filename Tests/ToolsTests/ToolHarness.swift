import BPFKit
import Foundation
import Testing

/// Runs the real `bpfkit` binary against the real kernel, as a user would.
final class ToolRun: @unchecked Sendable {
    let process = Process()
    private let output = Pipe()
    private let errors = Pipe()
    private let lock = NSLock()
    private var stdoutText = ""
    private var stderrText = ""

    /// The `bpfkit` built beside this test bundle (override with BPFKIT_BINARY).
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["BPFKIT_BINARY"] { return URL(fileURLWithPath: path) }
        let beside = Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("bpfkit")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        return testBinary.deletingLastPathComponent().appendingPathComponent("bpfkit")
    }

    /// `bpfkit` with `arguments`.
    convenience init(_ arguments: [String]) throws {
        try self.init(Self.binary.path, arguments)
    }

    /// Any program, with `environment` added to this process's (a tool with
    /// `BPFKIT_HOOKS` set, or the bitehist example).
    init(_ path: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardOutput = output
        process.standardError = errors
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let text = String(decoding: handle.availableData, as: UTF8.self)
            self?.lock.withLock { self?.stdoutText += text }
        }
        errors.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let text = String(decoding: handle.availableData, as: UTF8.self)
            self?.lock.withLock { self?.stderrText += text }
        }
        try process.run()
    }

    var stdout: String { lock.withLock { stdoutText } }
    var stderr: String { lock.withLock { stderrText } }
    var lines: [String] { stdout.split(separator: "\n").map(String.init) }

    /// Waits until `condition` holds for the output, calling `poke` between checks (to
    /// trigger events until the tool has attached). Returns whether it held in time.
    @discardableResult
    func wait(timeout: Double = 10, poke: () throws -> Void = {}, until condition: (ToolRun) -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(self) { return true }
            if !process.isRunning { return condition(self) }
            try poke()
            Thread.sleep(forTimeInterval: 0.02)
        }
        return condition(self)
    }

    /// Sends `signal` and waits for the exit status.
    @discardableResult
    func stop(_ signal: Int32 = SIGINT, timeout: Double = 10) -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        return waitForExit(timeout: timeout)
    }

    @discardableResult
    func waitForExit(timeout: Double = 10) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        Thread.sleep(forTimeInterval: 0.05)  // let the readers drain the pipes
        return process.terminationStatus
    }

    /// The programs named `prefix…` this tool holds now (from its fdinfo): exactly its own,
    /// whatever else runs on the machine, where a count of all loaded programs would also
    /// see other tests' and other sessions' runs of the same tool.
    func heldProgramIDs(namedWithPrefix prefix: String) -> Set<UInt32> {
        let directory = "/proc/\(process.processIdentifier)/fdinfo"
        var ids = Set<UInt32>()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            guard let text = try? String(contentsOfFile: directory + "/" + name, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") where line.hasPrefix("prog_id:") {
                if let id = UInt32(line.dropFirst("prog_id:".count).trimmingCharacters(in: .whitespaces)) { ids.insert(id) }
            }
        }
        return ids.filter { ProgramInfo.info(id: $0)?.name.hasPrefix(prefix) == true }
    }

    /// Parsed `--json` lines.
    var jsonEvents: [[String: Any]] {
        lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        output.fileHandleForReading.readabilityHandler = nil
        errors.fileHandleForReading.readabilityHandler = nil
    }
}

/// Runs a program to completion with its output discarded.
private func runToCompletion(_ path: String, _ arguments: [String]) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return process
}

/// Runs a program to completion; returns its pid.
@discardableResult
func runProgram(_ path: String, _ arguments: [String]) throws -> Int32 {
    try runToCompletion(path, arguments).processIdentifier
}

/// Runs a command to completion with output discarded; returns its exit status.
@discardableResult
func runCommand(_ path: String, _ arguments: [String]) throws -> Int32 {
    try runToCompletion(path, arguments).terminationStatus
}

/// A build of a test program that failed.
struct BuildFailure: Error, CustomStringConvertible {
    var description: String
}

/// Builds a test program from `source` with `compiler` (its flags included; `swiftc …` builds
/// Swift); returns the binary's path. The default keeps frame pointers everywhere, so the
/// kernel's stack walk sees whole stacks.
func buildProgram(_ name: String, _ source: String, compiler: String = "cc -O0 -fno-omit-frame-pointer") throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueMarker(name))
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let sourcePath = directory.appendingPathComponent("\(name).\(compiler.hasPrefix("swiftc") ? "swift" : "c")").path
    let binary = directory.appendingPathComponent(name).path
    try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
    let status = try runCommand("/bin/sh", ["-c", "\(compiler) -o \(binary) \(sourcePath)"])
    guard status == 0 else { throw BuildFailure(description: "\(compiler) \(sourcePath) failed (exit \(status))") }
    return binary
}

/// A marker unique to this test run, to pick our events out of system-wide traffic.
func uniqueMarker(_ label: String) -> String {
    "bpfkit-test-\(label)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
}

/// Program ids currently loaded whose names start with `prefix` (asked of the kernel).
func loadedProgramIDs(namedWithPrefix prefix: String) -> Set<UInt32> {
    let ids = (try? ProgramInfo.allIDs()) ?? []
    return Set(ids.filter { ProgramInfo.info(id: $0)?.name.hasPrefix(prefix) == true })
}
