import Foundation
import Testing

extension StorageTools {
    @Suite("Examples/bitehist, a tool written outside BPFKit", .serialized)
    struct BitehistExampleTests {
        /// The repository root, from this file's path.
        static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

        @Test("builds against the exported plugin and headers, and reports the test's I/O sizes")
        func buildsAndRuns() throws {
            // Build beside the tests' own build, so later runs are incremental.
            let buildRoot = ToolRun.binary.resolvingSymlinksInPath().deletingLastPathComponent()
                .deletingLastPathComponent().deletingLastPathComponent()
            let scratch = buildRoot.appendingPathComponent("examples-bitehist").path
            let package = Self.root.appendingPathComponent("Examples/bitehist").path
            let build = Process()
            let log = Pipe()
            build.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            build.arguments = ["swift", "build", "--package-path", package, "--scratch-path", scratch]
            build.standardOutput = log
            build.standardError = log
            try build.run()
            let output = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            build.waitUntilExit()
            try #require(build.terminationStatus == 0, "swift build of Examples/bitehist failed:\n\(output)")
            let binary = scratch + "/debug/bitehist"
            #expect(try String(contentsOfFile: package + "/Sources/bitehist/main.swift", encoding: .utf8)
                .split(separator: "\n", omittingEmptySubsequences: false).count < 60)

            let loop = try LoopDevice(megabytes: 64)
            defer { loop.close() }
            let run = try ProgramRun(binary, [])
            #expect(try run.wait { $0.stdout.contains("Tracing... Hit Ctrl-C to end.") }, "stderr: \(run.stderr)")
            try directIO(loop.device, write: true, size: 65536, count: 5)
            try directIO(loop.device, write: true, size: 16384, count: 7, skipBlocks: 100)
            #expect(run.stop() == 0)

            let text = run.stdout
            #expect(text.contains("log2 histogram\n~~~~~~~~~~~~~~\n     kbytes              : count     distribution\n"))
            #expect(text.contains("\nlinear histogram\n~~~~~~~~~~~~~~~~\n     kbytes        : count     distribution\n"))
            // Other disks' I/O counts too: at least the test's.
            func count(_ pattern: Regex<(Substring, Substring)>) -> Int {
                text.split(separator: "\n").compactMap { $0.wholeMatch(of: pattern).flatMap { Int($0.output.1) } }.first ?? 0
            }
            #expect(count(/\s+64 -> 127\s+: (\d+)\s+\|.*/) >= 5, "\(text)")
            #expect(count(/\s+16 -> 31\s+: (\d+)\s+\|.*/) >= 7)
            #expect(count(/\s+64\s+: (\d+)\s+\|.*/) >= 5)
            #expect(count(/\s+16\s+: (\d+)\s+\|.*/) >= 7)
        }
    }
}
