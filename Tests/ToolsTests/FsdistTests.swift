import Foundation
import Testing

extension StorageTools {
    @Suite("fsdist, ext4dist, xfsdist, btrfsdist", .serialized)
    struct FsdistTests {
        /// Totals per operation summed over every JSON interval printed so far.
        static func totals(_ lines: [String]) -> [String: Int] {
            var totals: [String: Int] = [:]
            for line in lines {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let histograms = object["histograms"] as? [[String: Any]] else { continue }
                for histogram in histograms {
                    if let operation = histogram["operation"] as? String, let total = histogram["total"] as? Int {
                        totals[operation, default: 0] += total
                    }
                }
            }
            return totals
        }

        @Test("the test's 3 opens, 3 writes, 1 fsync and 2 reads land in the histograms, counted in the kernel",
              arguments: ["ext4", "xfs", "btrfs"])
        func countsOperations(fileSystem: String) throws {
            try #require(installed("mkfs.\(fileSystem)"), "mkfs.\(fileSystem) is not installed (apt-get install xfsprogs btrfs-progs)")
            let loop = try LoopDevice(megabytes: 320)
            defer { loop.close() }
            let mountPoint = try loop.mount(fileSystem)
            let other = "/dev/shm/" + uniqueMarker("elsewhere")  // tmpfs: must not count
            defer { unlink(other) }

            let run = try ToolRun(["\(fileSystem)dist", "--json", "-p", String(getpid()), "1"])
            // The first interval's object comes after attaching.
            #expect(try run.wait(timeout: 30, until: { !$0.lines.isEmpty }), "stderr: \(run.stderr)")
            try fileOperations(mountPoint + "/" + uniqueMarker("dist"))
            try fileOperations(other)
            let expected = ["open": 3, "write": 3, "fsync": 1, "read": 2]
            #expect(try run.wait(timeout: 30, until: { Self.totals($0.lines) == expected }), "\(Self.totals(run.lines)) from \(run.stdout)")
            #expect(run.stop() == 0)
            #expect(Self.totals(run.lines) == expected)
            let first = try #require(run.lines.first.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
            #expect(first["file_system"] as? String == fileSystem)
        }

        @Test("bcc's layout: a histogram per operation in usecs (msecs with -m); fsdist -t ext4 is ext4dist")
        func textLayout() throws {
            let loop = try LoopDevice(megabytes: 64)
            defer { loop.close() }
            let mountPoint = try loop.mount("ext4")
            let run = try ToolRun(["fsdist", "-t", "ext4", "-m", "-p", String(getpid())])
            #expect(try run.wait { $0.lines.first == "Tracing ext4 operation latency... Hit Ctrl-C to end." }, "stderr: \(run.stderr)")
            try fileOperations(mountPoint + "/" + uniqueMarker("text"))
            usleep(200_000)
            #expect(run.stop() == 0)
            for operation in ["read", "write", "open", "fsync"] {
                #expect(run.stdout.contains("operation = \(operation)\n"), "\(run.stdout)")
            }
            #expect(run.stdout.contains("msecs"))
            #expect(run.stdout.contains("|*"))
        }

        @Test("a file system this kernel lacks is one clear line")
        func missingFileSystem() throws {
            let run = try ToolRun(["fsdist", "-t", "nosuchfs"])
            #expect(run.waitForExit() == 1)
            #expect(run.stderr.contains("nosuchfs: no such file system on this kernel"))
            #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
        }
    }
}
