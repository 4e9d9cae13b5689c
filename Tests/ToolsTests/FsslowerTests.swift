import Foundation
import Testing

/// One CSV line of the fsslower family: ENDTIME_us,TASK,PID,TYPE,BYTES,OFFSET_b,LATENCY_us,FILE.
struct SlowerRecord {
    var pid: Int
    var type: String
    var bytes: Int
    var offset: Int
    var latency: Int
    var file: String

    init?(_ line: String) {
        let fields = line.split(separator: ",", maxSplits: 7, omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 8, let pid = Int(fields[2]), let bytes = Int(fields[4]), let offset = Int(fields[5]),
              let latency = Int(fields[6]), Int(fields[0]) != nil else { return nil }
        (self.pid, type, self.bytes, self.offset, self.latency, file) = (pid, fields[3], bytes, offset, latency, fields[7])
    }
}

/// The operations the tests make on a file: create and write 3 × 8 KiB, fsync, drop its
/// pages (an open), then reopen it and read 2 × 4 KiB from disk.
func fileOperations(_ path: String) throws {
    let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
    guard fd >= 0 else { throw LoopError("open \(path): errno \(errno)") }
    let block = [UInt8](repeating: 0x42, count: 8192)
    for _ in 0..<3 { guard write(fd, block, block.count) == block.count else { throw LoopError("write \(path)") } }
    fsync(fd)
    close(fd)
    dropCache(path)
    let reader = open(path, O_RDONLY)
    guard reader >= 0 else { throw LoopError("open \(path): errno \(errno)") }
    var buffer = [UInt8](repeating: 0, count: 4096)
    for _ in 0..<2 { _ = read(reader, &buffer, buffer.count) }
    close(reader)
}

extension StorageTools {
    @Suite("fsslower, ext4slower, xfsslower, btrfsslower, fileslower", .serialized)
    struct FsslowerTests {
        @Test("threshold 0: the test's opens, writes, fsync and reads, with file name, bytes and offsets",
              arguments: ["ext4", "xfs", "btrfs"])
        func tracesOperations(fileSystem: String) throws {
            try #require(installed("mkfs.\(fileSystem)"), "mkfs.\(fileSystem) is not installed (apt-get install xfsprogs btrfs-progs)")
            let loop = try LoopDevice(megabytes: 320)  // mkfs.xfs wants 300 MB
            defer { loop.close() }
            let mountPoint = try loop.mount(fileSystem)
            let name = uniqueMarker("data")
            let other = "/dev/shm/" + uniqueMarker("elsewhere")  // tmpfs: must not show
            defer { unlink(other) }

            let run = try ToolRun(["\(fileSystem)slower", "-j", "-p", String(getpid()), "0"])
            #expect(try run.wait { $0.lines.first == "ENDTIME_us,TASK,PID,TYPE,BYTES,OFFSET_b,LATENCY_us,FILE" }, "stderr: \(run.stderr)")
            try fileOperations(mountPoint + "/" + name)
            try fileOperations(other)
            #expect(try run.wait { $0.lines.compactMap(SlowerRecord.init).filter { $0.file == name }.count >= 9 })
            #expect(run.stop() == 0)

            let records = run.lines.compactMap(SlowerRecord.init)
            let ours = records.filter { $0.file == name }
            #expect(ours.map(\.type) == ["O", "W", "W", "W", "S", "O", "O", "R", "R"], "\(run.stdout)")
            #expect(ours.allSatisfy { $0.pid == Int(getpid()) })
            #expect(ours.filter { $0.type == "W" }.map(\.bytes) == [8192, 8192, 8192])
            #expect(ours.filter { $0.type == "W" }.map(\.offset) == [0, 8192, 16384])
            #expect(ours.filter { $0.type == "R" }.map(\.bytes) == [4096, 4096])
            #expect(ours.filter { $0.type == "R" }.map(\.offset) == [0, 4096])
            #expect(ours.filter { $0.type == "O" || $0.type == "S" }.allSatisfy { $0.bytes == 0 })
            #expect(!records.contains { other.hasSuffix("/" + $0.file) })
            #expect(records.allSatisfy { $0.pid == Int(getpid()) })
        }

        @Test("bcc's columns; fsslower -t ext4 is ext4slower; a 1 s threshold hides fast operations")
        func columnsAndThreshold() throws {
            let loop = try LoopDevice(megabytes: 64)
            defer { loop.close() }
            let mountPoint = try loop.mount("ext4")
            let name = uniqueMarker("cols")
            let run = try ToolRun(["fsslower", "-t", "ext4", "-m", "0", "-p", String(getpid())])
            #expect(try run.wait { $0.lines.count >= 2 })
            let slow = try ToolRun(["ext4slower", "-p", String(getpid()), "1000"])
            #expect(try slow.wait { $0.lines.count >= 2 })
            try fileOperations(mountPoint + "/" + name)
            #expect(try run.wait { $0.stdout.components(separatedBy: name).count - 1 >= 9 })
            #expect(run.stop() == 0)
            #expect(slow.stop() == 0)

            #expect(run.lines.first == "Tracing ext4 operations")
            #expect(run.lines.dropFirst().first == "TIME     COMM           PID    T BYTES   OFF_KB   LAT(ms) FILENAME")
            // %-8s %-14.14s %-6s %1s %-7s %-8d %7.2f %s
            let write = try #require(run.lines.first { $0.contains(" W ") && $0.hasSuffix(name) })
            let pattern = /\d\d:\d\d:\d\d (.{14}) (\d+)\s+W (8192   ) (\d+)\s+ +(\d+\.\d\d) (.+)/
            let match = try #require(write.wholeMatch(of: pattern), "\(write)")
            #expect(Int(match.output.2) == Int(getpid()))
            #expect(["0", "8", "16"].contains(String(match.output.4)))
            #expect(slow.lines == ["Tracing ext4 operations slower than 1000 ms",
                                   "TIME     COMM           PID    T BYTES   OFF_KB   LAT(ms) FILENAME"])
        }

        @Test("fileslower: reads and writes on any file system, bcc's columns")
        func fileslower() throws {
            let path = "/dev/shm/" + uniqueMarker("vfs")
            defer { unlink(path) }
            let run = try ToolRun(["fileslower", "-p", String(getpid()), "0"])
            #expect(try run.wait { $0.lines.count >= 2 })
            try fileOperations(path)
            let name = String(path.split(separator: "/").last!)
            #expect(try run.wait { $0.stdout.components(separatedBy: name).count - 1 >= 5 })
            #expect(run.stop() == 0)
            #expect(run.lines.first == "Tracing sync read/writes slower than 0 ms")
            #expect(run.lines.dropFirst().first == "TIME(s)  COMM           TID    D BYTES   LAT(ms) FILENAME")
            let rows = run.lines.filter { $0.hasSuffix(name) }
            let kinds = rows.compactMap { $0.wholeMatch(of: /\d+\.\d{3}\s+.{14} (\d+)\s+([RW]) (\d+)\s+ +\d+\.\d\d .+/) }
            #expect(kinds.map { "\($0.output.2)\($0.output.3)" } == ["W8192", "W8192", "W8192", "R4096", "R4096"], "\(rows)")
        }

        @Test("-d ends the trace, SIGTERM stops it, and neither leaves a program behind")
        func lifetime() throws {
            let started = Date()
            let timed = try ToolRun(["ext4slower", "-d", "1", "-p", String(getpid())])
            #expect(try timed.wait { $0.lines.count >= 2 })
            let timedPrograms = timed.heldProgramIDs(namedWithPrefix: "fsslower_")
            #expect(timedPrograms.count == 22)  // 11 syscalls, entry and exit
            #expect(timed.waitForExit(timeout: 10) == 0)
            #expect(Date().timeIntervalSince(started) < 8)

            let terminated = try ToolRun(["fileslower", "-p", String(getpid())])
            #expect(try terminated.wait { $0.lines.count >= 2 })
            let terminatedPrograms = terminated.heldProgramIDs(namedWithPrefix: "fsslower_")
            #expect(!terminatedPrograms.isEmpty)
            #expect(terminated.stop(SIGTERM) == 0)
            #expect(loadedProgramIDs(namedWithPrefix: "fsslower_").isDisjoint(with: timedPrograms.union(terminatedPrograms)))
        }

        @Test("a file system the kernel lacks, or none: one line, exit 1")
        func unknownFileSystem() throws {
            let nfs = try ToolRun(["nfsslower"])
            #expect(nfs.waitForExit() == 1)
            #expect(nfs.stderr.split(separator: "\n").count == 1)
            #expect(nfs.stderr.hasPrefix("bpfkit nfsslower: nfs: no such file system on this kernel"))
            let bogus = try ToolRun(["fsslower", "-t", "nosuchfs"])
            #expect(bogus.waitForExit() == 1)
            #expect(bogus.stderr.hasPrefix("bpfkit fsslower: nosuchfs: no such file system"))
            let missingType = try ToolRun(["fsslower"])
            #expect(missingType.waitForExit() != 0)
            #expect(missingType.stderr.contains("--type"))
        }
    }
}
