import Foundation
import Testing

/// Waits in `wait_for_tracer` until the file argv[1] exists, then sleeps in `block_here`
/// for exactly 300 ms, then lingers so its stacks can still be symbolized.
private let sleeperSource = """
    #include <stdlib.h>
    #include <time.h>
    #include <unistd.h>
    static void nap(long ms) { struct timespec t = {ms / 1000, (ms % 1000) * 1000000L}; nanosleep(&t, 0); }
    __attribute__((noinline)) void wait_for_tracer(const char *go) { while (access(go, F_OK) != 0) nap(20); }
    __attribute__((noinline)) void block_here(void) { nap(300); }
    __attribute__((noinline)) void linger(void) { nap(10000); }
    int main(int argc, char **argv) { wait_for_tracer(argv[1]); block_here(); linger(); return 0; }
    """

/// Three processes in a chain: `feeder` writes a byte every 50 ms to `writer`, which
/// blocks reading it and then writes to `reader`, which blocks in pipe_read. The reader's
/// pid is printed first.
private let chainSource = """
    #include <stdio.h>
    #include <stdlib.h>
    #include <sys/prctl.h>
    #include <time.h>
    #include <unistd.h>
    static void nap(long ms) { struct timespec t = {ms / 1000, (ms % 1000) * 1000000L}; nanosleep(&t, 0); }
    __attribute__((noinline)) void feed(int out) { for (;;) { nap(50); if (write(out, "x", 1) != 1) exit(0); } }
    __attribute__((noinline)) void relay(int in, int out) { char c; while (read(in, &c, 1) == 1) if (write(out, &c, 1) != 1) exit(0); exit(0); }
    __attribute__((noinline)) void consume(int in) { char c; while (read(in, &c, 1) == 1) {} }
    int main(void) {
        int first[2], second[2];
        if (pipe(first) || pipe(second)) return 1;
        if (fork() == 0) { prctl(PR_SET_NAME, "feeder"); close(first[0]); feed(first[1]); }
        if (fork() == 0) { prctl(PR_SET_NAME, "writer"); close(first[1]); close(second[0]); relay(first[0], second[1]); }
        prctl(PR_SET_NAME, "reader");
        close(first[0]); close(first[1]); close(second[1]);
        printf("%d\\n", getpid());
        fflush(stdout);
        consume(second[0]);
        return 0;
    }
    """

/// Folded lines as (frames, value).
private func foldedLines(_ run: ToolRun) -> [(frames: [String], value: UInt64)] {
    run.lines.compactMap { line in
        guard let space = line.lastIndex(of: " "), let value = UInt64(line[line.index(after: space)...]) else { return nil }
        return (line[..<space].split(separator: ";").map(String.init), value)
    }
}

@Suite("off-CPU tools, against the real kernel", .serialized)
struct OffCPUTests {
    @Test("offcputime -p PID -f shows a 300 ms nanosleep under its function, within 10%")
    func offcputime() throws {
        let binary = try buildProgram("sleeper", sleeperSource)
        let go = binary + ".go"
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: binary)
        sleeper.arguments = [go]
        try sleeper.run()
        defer { kill(sleeper.processIdentifier, SIGKILL) }
        // The banner comes once the programs are attached: only then may the sleep start.
        let text = try ToolRun(["offcputime", "-p", String(sleeper.processIdentifier), "2"])
        text.wait(timeout: 60, poke: {}) { $0.stdout.contains("Tracing off-CPU time") }
        FileManager.default.createFile(atPath: go, contents: Data())
        #expect(text.waitForExit(timeout: 20) == 0, "stderr: \(text.stderr)")
        #expect(text.stdout.contains("    block_here\n"))
        #expect(text.stdout.contains("    -                sleeper (\(sleeper.processIdentifier))\n"))
        // The same trace, folded, from a second sleeper.
        try FileManager.default.removeItem(atPath: go)
        let second = Process()
        second.executableURL = URL(fileURLWithPath: binary)
        second.arguments = [go]
        try second.run()
        defer { kill(second.processIdentifier, SIGKILL) }
        let run = try ToolRun(["offcputime", "-p", String(second.processIdentifier), "-f", "2"])
        // Folded output has no banner: wait until the tool has loaded (its programs exist).
        run.wait(timeout: 60, poke: {}) { $0.heldProgramIDs(namedWithPrefix: "offcpu_switch").isEmpty == false }
        usleep(100_000)
        FileManager.default.createFile(atPath: go, contents: Data())
        #expect(run.waitForExit(timeout: 20) == 0, "stderr: \(run.stderr)")
        let blocked = foldedLines(run).filter { $0.frames.contains("block_here") }.map(\.value).reduce(0, +)
        #expect(blocked > 270_000 && blocked < 330_000, "block_here: \(blocked) us; \(run.lines.prefix(4))")
        let line = try #require(foldedLines(run).first { $0.frames.contains("block_here") })
        #expect(line.frames.first == "sleeper")
        #expect(line.frames.contains("main"))
        #expect(line.frames.contains { $0.contains("nanosleep") })  // the kernel side
    }

    @Test("offwaketime joins the reader's pipe_read stack with the writer's waking stack")
    func offwaketime() throws {
        let (chain, reader) = try startChain()
        defer { kill(chain.processIdentifier, SIGKILL); kill(-chain.processIdentifier, SIGKILL) }
        let run = try ToolRun(["offwaketime", "-p", String(reader), "-f", "1"])
        #expect(run.waitForExit(timeout: 20) == 0, "stderr: \(run.stderr)")
        let joined = foldedLines(run).filter { $0.frames.first == "reader" && $0.frames.contains("--") }
        // pipe_read (anon_pipe_read since 6.17) blocked the reader; pipe_write woke it. The C
        // functions calling read/write are lost to libc's frameless syscall wrappers.
        let line = try #require(joined.first { $0.frames.contains { $0.hasSuffix("pipe_read") } && $0.frames.last == "writer" },
                                "\(run.lines.prefix(5))")
        let delimiter = line.frames.firstIndex(of: "--")!
        #expect(line.frames[..<delimiter].contains("main"))
        #expect(line.frames[delimiter...].contains { $0.hasSuffix("pipe_write") })
        #expect(!line.frames.contains { $0.hasPrefix("bpf_trace_run") }, "tracer frames are dropped")
    }

    @Test("chaingraph shows a third level: the feeder that woke the writer")
    func chaingraph() throws {
        let (chain, reader) = try startChain()
        defer { kill(chain.processIdentifier, SIGKILL); kill(-chain.processIdentifier, SIGKILL) }
        let run = try ToolRun(["chaingraph", "-p", String(reader), "--depth", "3", "-f", "1.5"])
        #expect(run.waitForExit(timeout: 20) == 0, "stderr: \(run.stderr)")
        let line = foldedLines(run).first { $0.frames.first == "reader" && $0.frames.filter { $0 == "--" }.count == 2 && $0.frames.last == "feeder" }
        #expect(line != nil, "\(run.lines.prefix(5))")
        if let line {
            #expect(line.frames.contains("writer"))
        }
    }

    @Test("runqlat: busy CPUs show waits above 1 ms; a sleeper on an idle machine mostly waits less")
    func runqlat() throws {
        // Busy: four spinning processes on fewer CPUs wait for each other.
        let spinners = (0..<4).map { _ -> Process in
            let spinner = Process()
            spinner.executableURL = URL(fileURLWithPath: "/bin/sh")
            spinner.arguments = ["-c", "while :; do :; done"]
            try? spinner.run()
            return spinner
        }
        // SIGKILL: the test runner's children may inherit SIGTERM blocked.
        defer { spinners.forEach { kill($0.processIdentifier, SIGKILL) } }
        usleep(200_000)
        let busy = try ToolRun(["runqlat", "--json", "1", "1"])
        #expect(busy.waitForExit(timeout: 20) == 0, "stderr: \(busy.stderr)")
        spinners.forEach { kill($0.processIdentifier, SIGKILL) }
        let busyBuckets = try buckets(busy)
        let slow = busyBuckets.filter { $0.low >= 1024 }.map(\.count).reduce(0, +)
        #expect(slow > 0, "no waits above 1 ms: \(busyBuckets)")

        // Idle: a process that naps 10 ms at a time.
        let napper = Process()
        napper.executableURL = URL(fileURLWithPath: "/bin/sh")
        napper.arguments = ["-c", "while :; do sleep 0.01; done"]
        try napper.run()
        defer { kill(napper.processIdentifier, SIGKILL) }
        usleep(300_000)
        let idle = try ToolRun(["runqlat", "--json", "-p", String(napper.processIdentifier), "1", "1"])
        #expect(idle.waitForExit(timeout: 20) == 0, "stderr: \(idle.stderr)")
        let idleBuckets = try buckets(idle)
        let total = idleBuckets.map(\.count).reduce(0, +)
        let fast = idleBuckets.filter { $0.high < 1024 }.map(\.count).reduce(0, +)
        #expect(total > 0 && fast * 2 > total, "\(idleBuckets)")
    }

    @Test("runqlat prints bcc's histogram, and runqlen its linear one")
    func histograms() throws {
        let latency = try ToolRun(["runqlat", "1", "1"])
        #expect(latency.waitForExit(timeout: 20) == 0, "stderr: \(latency.stderr)")
        #expect(latency.lines.first == "Tracing run queue latency... Hit Ctrl-C to end.")
        #expect(latency.stdout.contains("     usecs               : count     distribution\n"))
        #expect(latency.stdout.contains("         0 -> 1          : "))
        let length = try ToolRun(["runqlen", "-C", "1", "1"])
        #expect(length.waitForExit(timeout: 20) == 0, "stderr: \(length.stderr)")
        #expect(length.stdout.contains("\ncpu = 0\n     runqlen       : count     distribution\n        0          : "))
    }

    private func startChain() throws -> (Process, Int32) {
        let binary = try buildProgram("chain", chainSource)
        let chain = Process()
        let output = Pipe()
        chain.executableURL = URL(fileURLWithPath: binary)
        chain.standardOutput = output
        try chain.run()
        let line = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        let reader = try #require(Int32(line.trimmingCharacters(in: .whitespacesAndNewlines)))
        usleep(200_000)
        return (chain, reader)
    }

    private func buckets(_ run: ToolRun) throws -> [(low: Int, high: Int, count: Int)] {
        let interval = try #require(run.jsonEvents.first)
        let histogram = try #require((interval["histograms"] as? [[String: Any]])?.first)
        let buckets = try #require(histogram["buckets"] as? [[String: Any]])
        return buckets.map { ($0["low"] as? Int ?? 0, $0["high"] as? Int ?? 0, $0["count"] as? Int ?? 0) }
    }
}
