import Foundation
import Testing

/// Built without frame pointers (`-fomit-frame-pointer -O2`). Once the file argv[1] exists
/// (`-`: at once) it leaks through main → a → b → c → malloc 7 × 3000 bytes, through
/// main → other → c 5 × 1000 bytes, allocates and frees argv[3] (default 200) × 700 bytes
/// through main → churn → a → b → c, then lingers argv[2] ms (older than memleak's 500 ms).
private let chainLeakerSource = """
    #include <stdlib.h>
    #include <string.h>
    #include <time.h>
    #include <unistd.h>
    static void nap(long ms) { struct timespec t = {ms / 1000, (ms % 1000) * 1000000L}; nanosleep(&t, 0); }
    __attribute__((noinline)) void wait_for_tracer(const char *go) { while (strcmp(go, "-") && access(go, F_OK) != 0) nap(20); }
    __attribute__((noinline)) void *c(size_t n) { void *p = malloc(n); memset(p, 1, n); __asm__ volatile("" ::: "memory"); return p; }
    __attribute__((noinline)) void *b(size_t n) { void *p = c(n); __asm__ volatile("" ::: "memory"); return p; }
    __attribute__((noinline)) void *a(size_t n) { void *p = b(n); __asm__ volatile("" ::: "memory"); return p; }
    __attribute__((noinline)) void *other(size_t n) { void *p = c(n); __asm__ volatile("" ::: "memory"); return p; }
    __attribute__((noinline)) void churn(long count) {
        for (long i = 0; i < count; i++) { void *p = a(700); __asm__ volatile("" ::: "memory"); free(p); }
    }
    int main(int argc, char **argv) {
        wait_for_tracer(argv[1]);
        for (int i = 0; i < 7; i++) a(3000);
        for (int i = 0; i < 5; i++) other(1000);
        churn(argc > 3 ? atol(argv[3]) : 200);
        nap(atol(argv[2]));
        return 0;
    }
    """

private let chainLeaker: Result<String, Error> = Result {
    try buildProgram("chainleaker", chainLeakerSource, compiler: "cc -O2 -fomit-frame-pointer")
}

private let wholeChain = ["c", "b", "a", "main"]
private let otherChain = ["c", "other", "main"]

@Suite("memleak --unwind: allocating stacks without frame pointers, against the real kernel", .serialized)
struct MemleakUnwindTests {
    /// Runs the leaker under `memleak ARGUMENTS` by `-c`, or by `-p` for one already started,
    /// until it exits.
    private func trace(_ arguments: [String], attachByPID: Bool = false, churn: Int = 200, linger: Int = 1500,
                       whileAttached: (ToolRun, Int32) -> Void = { _, _ in }) throws -> ToolRun {
        let binary = try chainLeaker.get()
        if !attachByPID {
            let run = try ToolRun(["memleak"] + arguments + ["-c", "\(binary) - \(linger) \(churn)"])
            #expect(run.waitForExit(timeout: 60) == 0, "stderr: \(run.stderr)")
            return run
        }
        let go = binary + ".go-\(UInt32.random(in: 0...UInt32.max))"
        let leaker = Process()
        leaker.executableURL = URL(fileURLWithPath: binary)
        leaker.arguments = [go, String(linger), String(churn)]
        try leaker.run()
        defer { kill(leaker.processIdentifier, SIGKILL) }
        let run = try ToolRun(["memleak", "-p", String(leaker.processIdentifier)] + arguments)
        let attached = try run.wait(timeout: 30) { $0.stdout.contains("Attaching to pid \(leaker.processIdentifier)") }
        #expect(attached, "stderr: \(run.stderr)")
        _ = FileManager.default.createFile(atPath: go, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: go) }
        if attached { whileAttached(run, leaker.processIdentifier) }
        #expect(run.waitForExit(timeout: 60) == 0, "stderr: \(run.stderr)")
        return run
    }

    @Test("--unwind dwarf/auto, -p and -c: c ← b ← a ← main with exactly its 21000 bytes, c ← other ← main apart; freed memory absent",
          arguments: [("dwarf", true), ("dwarf", false), ("auto", false)])
    func wholeChains(method: String, attachByPID: Bool) throws {
        let run = try trace(["--unwind", method], attachByPID: attachByPID)
        let report = lastReport(run)
        let leak = report.filter { $0.starts(with: wholeChain) }
        #expect(leak.map { [$0.bytes, $0.allocations] } == [[21000, 7]], "\(report)")
        #expect(leak.first?.frames.contains("__libc_start_call_main") == true, "\(leak)")
        #expect(report.filter { $0.starts(with: otherChain) }.map { [$0.bytes, $0.allocations] } == [[5000, 5]], "\(report)")
        #expect(!report.contains { $0.frames.contains("churn") }, "freed allocations reported: \(report)")
        #expect(!report.contains { $0.frames.contains("[Missed User Stack]") }, "\(report)")
    }

    @Test("--unwind fp (the default) stops short in the same program: the test tells the two apart",
          arguments: [["--unwind", "fp"], []])
    func framePointersStopShort(arguments: [String]) throws {
        let report = lastReport(try trace(arguments))
        #expect(!report.contains { $0.starts(with: wholeChain) }, "\(report)")
        // The allocations are all seen; only their callers are lost.
        let fromC = report.filter { $0.frames.first == "c" }
        #expect(fromC.map(\.bytes).reduce(0, +) == 26000, "\(report)")
    }

    @Test("--unwind dwarf --combined-only: the kernel's sums, grouped by unwound stack")
    func combinedOnly() throws {
        let report = lastReport(try trace(["--unwind", "dwarf", "--combined-only"]))
        #expect(report.filter { $0.starts(with: wholeChain) }.map { [$0.bytes, $0.allocations] } == [[21000, 7]], "\(report)")
        #expect(report.filter { $0.starts(with: otherChain) }.map { [$0.bytes, $0.allocations] } == [[5000, 5]], "\(report)")
        #expect(!report.contains { $0.frames.contains("churn") }, "\(report)")
    }

    @Test("--unwind dwarf --json, and --pprof read by go tool pprof, carry the whole chain")
    func jsonAndPprof() throws {
        let objects = try trace(["--unwind", "dwarf", "--json"]).jsonEvents
        let leak = objects.last { ($0["stack"] as? [String])?.starts(with: wholeChain) == true }
        #expect(leak?["bytes"] as? Int == 21000 && leak?["allocations"] as? Int == 7, "\(objects)")

        guard let go = goBinary() else {
            Issue.record("go tool pprof is not installed and apt-get could not install golang-go")
            return
        }
        let file = "/tmp/bpfkit-memleak-unwind-\(getpid()).pb.gz"
        defer { unlink(file) }
        _ = try trace(["--unwind", "dwarf", "--pprof", file])
        let rows = try pprofTop(go, file, sampleIndex: "inuse_space")
        for function in ["c", "b", "a", "other", "main"] {
            #expect(rows.contains { $0.hasSuffix(" \(function)") }, "\(function): \(rows)")
        }
        #expect(!rows.contains { $0.hasSuffix(" churn") }, "\(rows)")
    }

    @Test("freed allocations' pseudo stack ids are pruned from the kernel's combined_allocs while tracing")
    func pruning() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/bpftool") else {
            Issue.record("bpftool is not installed (Debian package bpftool)")
            return
        }
        var counts: [Int] = []
        // 20000 allocations freed at once, then 4 s of lingering: the map must fall back to
        // about the 12 leaked ones within the lingering.
        let run = try trace(["--unwind", "dwarf", "--combined-only", "1"], attachByPID: true, churn: 20000, linger: 4000) { run, _ in
            Thread.sleep(forTimeInterval: 3.5)
            counts.append(combinedEntries(of: run))
        }
        let report = lastReport(run)
        #expect(counts.count == 1 && counts[0] >= 12 && counts[0] <= 13, "combined_allocs entries while lingering: \(counts)")
        #expect(report.filter { $0.starts(with: wholeChain) }.map(\.bytes) == [21000], "\(report)")
    }

    // (Nothing here traces the kernel: a kernel-mode memleak beside the other suite's
    // user-mode runs was seen to cost those runs allocations, with uprobe sessions.)
    @Test("kernel mode refuses --unwind dwarf/auto in one line (exit 2), before loading anything")
    func kernelMode() throws {
        for method in ["dwarf", "auto"] {
            let run = try ToolRun(["memleak", "--unwind", method])
            #expect(run.waitForExit() == 2)
            #expect(run.stderr.hasPrefix("bpfkit memleak: --unwind \(method) walks user stacks: use it with -p PID or -c COMMAND"), "\(run.stderr)")
            #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
        }
    }
}

/// Entries in the `combined_allocs` map `run` holds now: the copy mode's map is the one
/// hash map of 4-byte keys, 16-byte values and a million entries among the tool's fds.
private func combinedEntries(of run: ToolRun) -> Int {
    let directory = "/proc/\(run.process.processIdentifier)/fdinfo"
    for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
        guard let text = try? String(contentsOfFile: directory + "/" + name, encoding: .utf8) else { continue }
        let fields = Dictionary(text.split(separator: "\n").compactMap { line -> (String, String)? in
            let parts = line.split(separator: ":", maxSplits: 1)
            return parts.count == 2 ? (String(parts[0]), parts[1].trimmingCharacters(in: .whitespaces)) : nil
        }, uniquingKeysWith: { first, _ in first })
        guard fields["map_type"] == "1", fields["key_size"] == "4", fields["value_size"] == "16",
              fields["max_entries"] == "1000000", let id = fields["map_id"] else { continue }
        let pipe = Pipe()
        let dump = Process()
        dump.executableURL = URL(fileURLWithPath: "/usr/sbin/bpftool")
        dump.arguments = ["-j", "map", "dump", "id", id]
        dump.standardOutput = pipe
        dump.standardError = FileHandle.nullDevice
        guard (try? dump.run()) != nil else { return -1 }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        dump.waitUntilExit()
        return ((try? JSONSerialization.jsonObject(with: output)) as? [Any])?.count ?? -1
    }
    return -1
}
