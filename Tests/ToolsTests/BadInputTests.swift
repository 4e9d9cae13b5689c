import Foundation
import Testing

/// One row of the bad-input table: a command line that must fail with one clear line.
struct BadInput: CustomTestStringConvertible, Sendable {
    var arguments: [String]
    /// 2 for usage errors (as bcc's argparse tools), 1 for everything found at run time.
    var status: Int32
    /// Text the one line must contain.
    var says: String

    var testDescription: String { arguments.joined(separator: " ") }
}

/// Every tool that loads BPF, as `bpfkit --help` lists them (Sources/Tools/Tools.swift).
let bpfTools = [
    "execsnoop", "opensnoop", "profile", "offcputime", "wakeuptime", "offwaketime", "chaingraph", "runqlat",
    "runqlen", "biolatency", "biosnoop", "bitesize", "fsslower", "ext4slower", "xfsslower", "btrfsslower",
    "nfsslower", "fileslower", "cachestat",
]

/// Arguments a tool needs before any other (fsslower's file system).
private func required(_ tool: String) -> [String] {
    switch tool {
    case "fsslower": ["-t", "ext4"]
    case "symbolize": ["--kernel"]
    default: []
    }
}

/// A process id no process has (above any pid_max).
private let absentPID = "999999999"

enum BadInputTable {
    static var unknownFlags: [BadInput] {
        (bpfTools + ["flamegraph", "features", "btf", "symbolize"]).map {
            BadInput(arguments: [$0] + required($0) + ["--no-such-flag"], status: 2, says: "Unknown option '--no-such-flag'")
        }
    }

    static var badNumbers: [BadInput] {
        let rows: [(String, [String], String)] = [
            ("execsnoop", ["--max-args", "many"], "'many' is invalid"),
            ("execsnoop", ["--max-args", "0"], "--max-args must be between"),
            ("opensnoop", ["--duration=-5"], "--duration must be a positive number"),
            ("profile", ["-F", "fast"], "'fast' is invalid"),
            ("profile", ["-F", "0"], "must be above 0"),
            ("offcputime", ["-m", "1e99x"], "is invalid"),
            ("wakeuptime", ["-p", "abc"], "'abc' is invalid"),
            ("offwaketime", ["abc"], "'abc' is invalid"),
            ("chaingraph", ["-p", "-3"], "Missing value for '-p <pid>'"),
            ("runqlat", ["0"], "interval must be a positive number"),
            ("runqlen", ["1", "zero"], "'zero' is invalid"),
            ("biolatency", ["1", "0"], "count must be above 0"),
            ("biosnoop", ["never"], "'never' is invalid"),
            ("bitesize", ["x"], "'x' is invalid"),
            ("fsslower", ["-t", "ext4", "--min=-1"], "-m must be 0 or more milliseconds"),
            ("ext4slower", ["ten"], "'ten' is invalid"),
            ("xfsslower", ["--duration", "0"], "positive"),
            ("btrfsslower", ["--pid", "4294967296"], "is invalid"),
            ("nfsslower", ["--pid", "x"], "'x' is invalid"),
            ("fileslower", ["-1"], "Unknown option '-1'"),
            ("cachestat", ["0"], "interval must be a positive number"),
        ]
        return rows.map { BadInput(arguments: [$0.0] + $0.1, status: 2, says: $0.2) }
    }

    static var absentProcesses: [BadInput] {
        let rows: [(String, [String])] = [
            ("execsnoop", ["--ppid", absentPID]), ("opensnoop", ["--pid", absentPID]), ("opensnoop", ["--tid", absentPID]),
            ("profile", ["-p", absentPID]), ("profile", ["-L", absentPID]), ("offcputime", ["-p", absentPID]),
            ("offcputime", ["-t", absentPID]), ("wakeuptime", ["-p", absentPID]), ("offwaketime", ["-p", absentPID]),
            ("chaingraph", ["-p", absentPID]), ("runqlat", ["--pid", absentPID]), ("biosnoop", ["--pid", absentPID]),
            ("fsslower", ["-t", "ext4", "--pid", absentPID]), ("ext4slower", ["--pid", absentPID]),
            ("fileslower", ["--pid", absentPID]), ("cachestat", ["--pid", absentPID]),
            ("symbolize", ["--pid", absentPID, "0x1000"]),
        ]
        return rows.map { BadInput(arguments: [$0.0] + $0.1, status: 1, says: "process \(absentPID) does not exist") }
    }

    /// File systems the kernel lacks or has nowhere mounted, and missing files.
    static var missingThings: [BadInput] {
        [
            BadInput(arguments: ["fsslower", "-t", "nosuchfs"], status: 1, says: "nosuchfs: no such file system"),
            BadInput(arguments: ["fsslower", "-t", "ramfs"], status: 1, says: "ramfs: no ramfs file system is mounted"),
            BadInput(arguments: ["nfsslower"], status: 1, says: "nfs"),
            BadInput(arguments: ["biosnoop", "-d", "nosuchdisk0"], status: 1, says: "no such disk"),
            BadInput(arguments: ["biolatency", "-d", "nosuchdisk0"], status: 1, says: "no such disk"),
            BadInput(arguments: ["bitesize", "-d", "nosuchdisk0"], status: 1, says: "no such disk"),
            BadInput(arguments: ["flamegraph", "/nonexistent/stacks.folded"], status: 1, says: "no such file"),
            BadInput(arguments: ["symbolize", "--elf", "/nonexistent/binary", "0x10"], status: 1, says: "no such file"),
            BadInput(arguments: ["symbolize", "--elf", "/etc/hostname", "0x10"], status: 1, says: "ELF"),
            BadInput(arguments: ["profile", "--svg", "/nonexistent/dir/out.svg", "1"], status: 1, says: "/nonexistent/dir/out.svg"),
        ]
    }
}

/// What a trap or crash leaves on stderr; none may appear.
let trapMarkers = ["Fatal error", "Stack dump", "Illegal instruction", "Segmentation fault", "Current stack trace", "#0 0x"]

/// Asserts the outcome of one bad command line: exit `status` (not a signal), exactly one
/// line on stderr containing `says`, no trap.
func expectOneClearLine(_ run: ToolRun, _ row: BadInput, comment: String = "") {
    let status = run.waitForExit(timeout: 30)
    // The pipe readers can lag the exit on a loaded machine: wait for the line to arrive.
    let deadline = Date().addingTimeInterval(5)
    while !run.stderr.hasSuffix("\n") && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
    let context = "\(row.testDescription)\(comment): status \(status), stderr: \(run.stderr)"
    #expect(run.process.terminationReason == .exit, "ended by a signal: \(context)")
    #expect(status == row.status, "\(context)")
    let lines = run.stderr.split(separator: "\n")
    #expect(lines.count == 1, "not one line: \(context)")
    #expect(run.stderr.contains(row.says), "\(context)")
    for marker in trapMarkers { #expect(!run.stderr.contains(marker), "\(context)") }
}

@Suite("Bad input: one clear line, exit 1 or 2, never a trap", .serialized)
struct BadInputTests {
    @Test("unknown flags", arguments: BadInputTable.unknownFlags)
    func unknownFlag(row: BadInput) throws {
        let run = try ToolRun(row.arguments)
        expectOneClearLine(run, row)
        #expect(run.stdout.isEmpty)
    }

    @Test("bad numbers", arguments: BadInputTable.badNumbers)
    func badNumber(row: BadInput) throws {
        let run = try ToolRun(row.arguments)
        expectOneClearLine(run, row)
        #expect(run.stdout.isEmpty)
    }

    @Test("a PID that does not exist", arguments: BadInputTable.absentProcesses)
    func absentProcess(row: BadInput) throws {
        expectOneClearLine(try ToolRun(row.arguments), row)
    }

    @Test("a missing file system, disk or file", arguments: BadInputTable.missingThings)
    func missing(row: BadInput) throws {
        expectOneClearLine(try ToolRun(row.arguments), row)
    }

    @Test("no root privileges: every BPF tool, run as nobody")
    func unprivileged() throws {
        // The binary must be reachable by nobody: a world-readable copy.
        // Copied by cp, not in this process: CachestatTests counts this process's page-cache
        // traffic while suites run in parallel.
        let copy = "/tmp/" + uniqueMarker("bpfkit")
        try runProgram("/bin/cp", [ToolRun.binary.path, copy])
        defer { try? FileManager.default.removeItem(atPath: copy) }
        chmod(copy, 0o755)
        // xfs, btrfs and nfs are mounted here only while the storage tests run: without one
        // those tools stop at "not mounted" before they need privileges.
        for tool in bpfTools where tool != "xfsslower" && tool != "btrfsslower" && tool != "nfsslower" {
            let arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", copy, tool] + required(tool)
            let row = BadInput(arguments: [tool] + required(tool), status: 1, says: "needs root")
            expectOneClearLine(try ToolRun("/usr/bin/setpriv", arguments), row, comment: " as nobody")
        }
    }
}
