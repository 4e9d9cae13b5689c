import Foundation
import Testing

extension StorageTools {
    @Suite("bitesize", .serialized)
    struct BitesizeTests {
        /// The rows of the histograms under `Process Name = name` (summed over intervals): low bound → count.
        static func rows(_ text: String, process name: String) -> [Int: Int] {
            var rows: [Int: Int] = [:]
            for section in text.split(separator: "\nProcess Name = \(name)\n").dropFirst() {
                for line in section.split(separator: "\n").dropFirst() {
                    guard let match = line.wholeMatch(of: /\s+(\d+) -> (\d+)\s+: (\d+)\s+\|\**\s*\|/) else { break }
                    rows[Int(match.output.1)!, default: 0] += Int(match.output.3)!
                }
            }
            return rows
        }

        @Test("sizes per process name, in bcc's Kbytes buckets")
        func sizesPerProcess() throws {
            let loop = try LoopDevice(megabytes: 64)
            defer { loop.close() }
            let run = try ToolRun(["bitesize", "-c", "dd", "-d", loop.name])
            #expect(try run.wait { $0.stdout.contains("Tracing block I/O... Hit Ctrl-C to end.") })
            try directIO(loop.device, write: true, size: 65536, count: 4)
            try directIO(loop.device, write: true, size: 4096, count: 6, skipBlocks: 100)
            try directIO(loop.device, write: false, size: 16384, count: 2)
            Thread.sleep(forTimeInterval: 0.2)
            #expect(run.stop() == 0)

            #expect(run.stdout.contains("\nProcess Name = dd\n     Kbytes              : count     distribution\n"))
            let rows = Self.rows(run.stdout, process: "dd")
            #expect(rows[4] == 6, "\(run.stdout)")
            #expect(rows[16] == 2)
            #expect(rows[64] == 4)
            #expect(rows.values.reduce(0, +) == 12)
            #expect(!run.stdout.contains("Process Name = bash"))  // -c keeps dd only
        }

        @Test("intervals with timestamps, then it exits by itself")
        func intervals() throws {
            let loop = try LoopDevice(megabytes: 64)
            defer { loop.close() }
            let run = try ToolRun(["bitesize", "-T", "-d", loop.name, "0.4", "2"])
            #expect(try run.wait { $0.stdout.contains("Hit Ctrl-C") })
            try directIO(loop.device, write: true, size: 8192, count: 3)
            #expect(try run.waitForExit(timeout: 10) == 0)
            #expect(run.lines.filter { $0.wholeMatch(of: /\d\d:\d\d:\d\d/) != nil }.count == 2)
            #expect(Self.rows(run.stdout, process: "dd")[8] == 3)
        }
    }
}
