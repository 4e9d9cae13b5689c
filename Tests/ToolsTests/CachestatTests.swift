import Foundation
import Testing

extension StorageTools {
    @Suite("cachestat", .serialized)
    struct CachestatTests {
        /// Sums `key` over JSON lines `from..<to`.
        static func sum(_ lines: [[String: Any]], _ key: String, _ range: Range<Int>) -> Int {
            lines[range.clamped(to: 0..<lines.count)].reduce(0) { $0 + ($1[key] as? Int ?? 0) }
        }

        @Test("a write dirties its pages, a cold read misses, the warm re-read hits", arguments: [nil, "tracepoints"])
        func coldAndWarm(hooks: String?) throws {
            let path = "/var/tmp/" + uniqueMarker("cache")
            defer { unlink(path) }
            let pages = 1024  // a 4 MiB file
            let run = try ProgramRun(tool: ["cachestat", "--json", "-v", "-p", String(getpid()), "0.2"], hooks: hooks)
            #expect(try run.wait { $0.stderr.contains("cachestat: lookups from") }, "stderr: \(run.stderr)")
            func settle() throws -> Int {
                let count = run.jsonEvents.count
                try run.wait { $0.jsonEvents.count >= count + 3 }  // the phase's counts are in by then
                return run.jsonEvents.count
            }
            let start = try settle()
            _ = FileManager.default.createFile(atPath: path, contents: Data(repeating: 7, count: pages * 4096))
            let written = try settle()
            writeBack(path)
            dropCache(path)
            #expect(readWholeFile(path) == pages * 4096)
            let cold = try settle()
            #expect(readWholeFile(path) == pages * 4096)
            let warm = try settle()
            #expect(run.stop() == 0)

            // -p counts the whole test process, and other suites run in it at the same time:
            // their few page-cache lookups may land in a phase too.
            let slack = 32
            let lines = run.jsonEvents
            #expect(Self.sum(lines, "dirties", start..<written) >= (hooks == nil ? pages : 1), "\(lines)")
            #expect(Self.sum(lines, "misses", start..<written) <= slack)
            #expect((pages...(pages + slack)).contains(Self.sum(lines, "misses", written..<cold)), "\(lines[written..<cold])")
            #expect(Self.sum(lines, "hits", written..<cold) <= slack)
            #expect((pages...(pages + slack)).contains(Self.sum(lines, "hits", cold..<warm)), "\(lines[cold..<warm])")
            #expect(Self.sum(lines, "misses", cold..<warm) <= slack)
        }

        @Test("bcc's columns, -T, and count ends it")
        func columns() throws {
            let run = try ToolRun(["cachestat", "-T", "0.3", "2"])
            #expect(try run.waitForExit(timeout: 10) == 0)
            #expect(run.lines.first == "TIME         HITS   MISSES  DIRTIES HITRATIO   BUFFERS_MB  CACHED_MB")
            #expect(run.lines.count == 3)
            for line in run.lines.dropFirst() {
                // %-8s %8d %8d %8d %7.2f%% %12.0f %10.0f
                #expect(line.wholeMatch(of: /\d\d:\d\d:\d\d +\d+ +\d+ +\d+ +\d+\.\d\d% +\d+ +\d+/) != nil, "\(line)")
                #expect(line.count == 9 + 8 + 1 + 8 + 1 + 8 + 1 + 8 + 1 + 12 + 1 + 10)
            }
        }

        @Test("--help says how each column is derived on each path")
        func help() throws {
            let run = try ToolRun(["cachestat", "--help"])
            #expect(try run.waitForExit() == 0)
            for phrase in ["folio_mark_accessed", "filemap:mm_filemap_get_pages", "filemap:mm_filemap_add_to_page_cache",
                           "writeback:writeback_dirty_folio", "HITRATIO", "BUFFERS_MB, CACHED_MB: Buffers and Cached"] {
                #expect(run.stdout.contains(phrase), "\(phrase)")
            }
        }
    }
}
