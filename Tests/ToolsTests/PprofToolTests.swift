import Foundation
import Testing

/// `go tool pprof` (Debian's golang-go), installed when missing; nil when it cannot be.
func goBinary() -> String? {
    for path in ["/usr/bin/go", "/usr/lib/go/bin/go", "/usr/local/go/bin/go"] where FileManager.default.isExecutableFile(atPath: path) {
        return path
    }
    _ = try? sh("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null 2>&1")
    return FileManager.default.isExecutableFile(atPath: "/usr/bin/go") ? "/usr/bin/go" : nil
}

/// Runs a shell command; its standard output (standard error too where the command
/// redirects it), and its exit status.
private func sh(_ command: String) throws -> (output: String, status: Int32) {
    let (status, output) = try shell("/bin/sh", ["-c", command])
    return (output, status)
}

/// The rows of `go tool pprof -top`, below its `flat flat% …` header, top first.
func pprofTop(_ go: String, _ path: String, sampleIndex: String? = nil) throws -> [String] {
    let index = sampleIndex.map { "-sample_index=\($0) " } ?? ""
    let (text, status) = try sh("HOME=/tmp GOCACHE=/tmp/bpfkit-gocache \(go) tool pprof -top \(index)\(path) 2>&1")
    #expect(status == 0, "go tool pprof: \(text)")
    let lines = text.split(separator: "\n").map(String.init)
    guard let header = lines.firstIndex(where: { $0.contains("flat%") && $0.contains("cum%") }) else {
        Issue.record("no -top table in: \(text)")
        return []
    }
    return Array(lines[(header + 1)...])
}

extension OffCPUTests {
    @Suite("--pprof profiles read by go tool pprof", .serialized)
    struct PprofToolTests {
        @Test("profile --pprof: go tool pprof -top puts the test program's hot function first")
        func profileTop() throws {
            guard let go = goBinary() else {
                Issue.record("golang-go is not installed and could not be installed")
                return
            }
            let directory = NSTemporaryDirectory() + uniqueMarker("pprof")
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try """
                #include <stdlib.h>
                #include <time.h>
                volatile unsigned long sink;
                __attribute__((noinline)) void pprof_hot_spin(void) { for (int i = 0; i < 100000; i++) sink += i * i; }
                int main(int argc, char **argv) {
                    double seconds = atof(argv[1]);
                    struct timespec start, now;
                    clock_gettime(CLOCK_MONOTONIC, &start);
                    do { pprof_hot_spin(); clock_gettime(CLOCK_MONOTONIC, &now); }
                    while (now.tv_sec - start.tv_sec + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
                    return 0;
                }
                """.write(toFile: directory + "/hot.c", atomically: true, encoding: .utf8)
            #expect(try sh("cc -O0 -fno-omit-frame-pointer -o \(directory)/hot \(directory)/hot.c").status == 0)
            let burner = Process()
            burner.executableURL = URL(fileURLWithPath: directory + "/hot")
            burner.arguments = ["5"]
            try burner.run()
            defer { kill(burner.processIdentifier, SIGKILL); burner.waitUntilExit() }

            let file = directory + "/cpu.pb.gz"
            let run = try ToolRun(["profile", "-p", String(burner.processIdentifier), "-F", "199", "--pprof", file, "2"])
            #expect(run.waitForExit(timeout: 30) == 0, "stderr: \(run.stderr)")
            #expect(run.stderr.contains("wrote pprof profile"))

            let rows = try pprofTop(go, file)
            let top = try #require(rows.first)
            #expect(top.hasSuffix(" pprof_hot_spin"), "top row: \(top); all: \(rows.prefix(5))")
            // The CPU figure is the sample count times the period (1 s / 199).
            let (raw, _) = try sh("HOME=/tmp \(go) tool pprof -raw \(file) 2>&1")
            #expect(raw.contains("samples/count cpu/nanoseconds"), "\(raw.prefix(300))")
            #expect(raw.contains("Period: 5025125"), "\(raw.prefix(400))")
            #expect(raw.contains("/hot"), "the program's mapping is named")
        }

        @Test("offcputime --pprof: off-CPU nanoseconds by stack, readable by go tool pprof")
        func offcpu() throws {
            guard let go = goBinary() else {
                Issue.record("golang-go is not installed and could not be installed")
                return
            }
            let file = NSTemporaryDirectory() + uniqueMarker("offcpu") + ".pb.gz"
            defer { try? FileManager.default.removeItem(atPath: file) }
            let sleeper = Process()
            sleeper.executableURL = URL(fileURLWithPath: "/bin/sh")
            sleeper.arguments = ["-c", "while :; do sleep 0.05; done"]
            try sleeper.run()
            defer { kill(sleeper.processIdentifier, SIGKILL); sleeper.waitUntilExit() }
            let run = try ToolRun(["offcputime", "-p", String(sleeper.processIdentifier), "--pprof", file, "2"])
            #expect(run.waitForExit(timeout: 30) == 0, "stderr: \(run.stderr)")
            let (raw, status) = try sh("HOME=/tmp \(go) tool pprof -raw \(file) 2>&1")
            #expect(status == 0, "\(raw)")
            #expect(raw.contains("off-cpu/nanoseconds"))
            let rows = try pprofTop(go, file)
            // The shell waits for its sleep children: its blocked time is in wait4 / schedule.
            #expect(rows.contains { $0.contains("schedule") }, "\(rows.prefix(10))")
        }

        @Test("wakeuptime and offwaketime --pprof: readable, with the waker's comm as a frame and offwaketime's -- marker")
        func wakers() throws {
            guard let go = goBinary() else {
                Issue.record("golang-go is not installed and could not be installed")
                return
            }
            let sleeper = Process()
            sleeper.executableURL = URL(fileURLWithPath: "/bin/sh")
            sleeper.arguments = ["-c", "while :; do sleep 0.05; done"]
            try sleeper.run()
            defer { kill(sleeper.processIdentifier, SIGKILL); sleeper.waitUntilExit() }
            for tool in ["wakeuptime", "offwaketime"] {
                let file = NSTemporaryDirectory() + uniqueMarker(tool) + ".pb.gz"
                defer { try? FileManager.default.removeItem(atPath: file) }
                let run = try ToolRun([tool, "-p", String(sleeper.processIdentifier), "--pprof", file, "2"])
                #expect(run.waitForExit(timeout: 30) == 0, "stderr: \(run.stderr)")
                let (raw, status) = try sh("HOME=/tmp \(go) tool pprof -raw \(file) 2>&1")
                #expect(status == 0, "\(raw)")
                #expect(raw.contains("off-cpu/nanoseconds"))
                #expect(raw.contains("comm:[sh]"), "the blocked shell labels its samples: \(raw.prefix(600))")
                if tool == "offwaketime" { #expect(raw.contains(" -- "), "\(raw.prefix(600))") }
            }
        }
    }
}
