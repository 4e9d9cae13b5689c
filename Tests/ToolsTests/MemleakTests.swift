import Foundation
import Testing

/// Leaks a known amount from known functions and frees the rest, once the file argv[1]
/// exists (`-`: at once), then lingers argv[2] ms so the leaks are older than memleak's
/// 500 ms default age:
/// - leak_here: 10 × malloc(4096), never freed (40960 bytes in 10 allocations)
/// - churn: 100 × malloc(512) + free (nothing outstanding)
/// - big_leak: calloc(1, 100000)
/// - aligned_leak: posix_memalign(64, 8192)
/// - grow_leak: malloc(100) then realloc to 3000 (the 100 bytes are freed by realloc)
/// - map_leak: mmap of 65536 anonymous bytes
private let leakerSource = """
    #include <stdlib.h>
    #include <string.h>
    #include <sys/mman.h>
    #include <time.h>
    #include <unistd.h>
    static void nap(long ms) { struct timespec t = {ms / 1000, (ms % 1000) * 1000000L}; nanosleep(&t, 0); }
    __attribute__((noinline)) void wait_for_tracer(const char *go) { while (strcmp(go, "-") && access(go, F_OK) != 0) nap(20); }
    __attribute__((noinline)) void *leak_here(size_t n) { void *p = malloc(n); memset(p, 1, n); return p; }
    __attribute__((noinline)) void churn(void) { for (int i = 0; i < 100; i++) { void *p = malloc(512); memset(p, 2, 512); free(p); } }
    __attribute__((noinline)) void big_leak(void) { char *p = calloc(1, 100000); p[0] = 3; }
    __attribute__((noinline)) void aligned_leak(void) { void *p = 0; if (posix_memalign(&p, 64, 8192) == 0) memset(p, 4, 8192); }
    __attribute__((noinline)) void grow_leak(void) { char *p = malloc(100); p = realloc(p, 3000); p[0] = 5; }
    __attribute__((noinline)) void map_leak(void) { char *p = mmap(0, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); p[0] = 6; }
    int main(int argc, char **argv) {
        wait_for_tracer(argv[1]);
        for (int i = 0; i < 10; i++) leak_here(4096);
        churn();
        big_leak();
        aligned_leak();
        grow_leak();
        map_leak();
        nap(atol(argv[2]));
        return 0;
    }
    """

/// Builds the leaker once per run (frame pointers kept, so user stacks are whole).
private let leakerBinary: Result<String, Error> = Result { try buildProgram("leaker", leakerSource) }

@Suite("memleak, against the real kernel", .serialized)
struct MemleakTests {
    /// Runs the leaker under `memleak ARGUMENTS -c` (or `-p` for an already started one)
    /// until it exits; returns the tool's run.
    private func traceLeaker(_ arguments: [String], attachByPID: Bool,
                             whileAttached: (ToolRun) -> Void = { _ in }) throws -> ToolRun {
        let binary = try leakerBinary.get()
        if !attachByPID {
            let run = try ToolRun(["memleak"] + arguments + ["-c", "\(binary) - 1500"])
            if try run.wait(timeout: 30, until: { $0.stdout.contains("Attaching to pid") }) { whileAttached(run) }
            #expect(run.waitForExit(timeout: 60) == 0, "stderr: \(run.stderr)")
            return run
        }
        let go = binary + ".go-\(UInt32.random(in: 0...UInt32.max))"
        let leaker = Process()
        leaker.executableURL = URL(fileURLWithPath: binary)
        leaker.arguments = [go, "1500"]
        try leaker.run()
        defer { kill(leaker.processIdentifier, SIGKILL) }
        let run = try ToolRun(["memleak", "-p", String(leaker.processIdentifier)] + arguments)
        let attached = try run.wait(timeout: 30) { $0.stdout.contains("Attaching to pid \(leaker.processIdentifier)") }
        #expect(attached, "stderr: \(run.stderr)")
        if attached { whileAttached(run) }
        _ = FileManager.default.createFile(atPath: go, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: go) }
        // memleak stops by itself when the process it traces exits.
        #expect(run.waitForExit(timeout: 60) == 0, "stderr: \(run.stderr)")
        return run
    }

    @Test("-p PID and -c COMMAND, through uprobe sessions and through uprobe/uretprobe pairs: the leaking functions' stacks with exactly their bytes; freed memory is absent",
          arguments: [(true, true), (false, true), (true, false), (false, false)])
    func leaks(attachByPID: Bool, sessions: Bool) throws {
        var ours = Set<UInt32>()
        let run = try traceLeaker(sessions ? [] : ["--no-uprobe-sessions"], attachByPID: attachByPID) {
            ours = $0.heldProgramIDs(namedWithPrefix: sessions ? "malloc_session" : "malloc_enter")
        }
        let report = lastReport(run)
        let leak = stacks(from: "leak_here", in: report)
        #expect(leak.count == 1, "stacks: \(report)")
        #expect(leak.first?.bytes == 40960 && leak.first?.allocations == 10, "\(leak)")
        #expect(leak.first?.frames.dropFirst().first == "main", "\(leak)")
        #expect(stacks(from: "big_leak", in: report).map { [$0.bytes, $0.allocations] } == [[100000, 1]], "calloc: \(report)")
        #expect(stacks(from: "aligned_leak", in: report).map { [$0.bytes, $0.allocations] } == [[8192, 1]], "posix_memalign: \(report)")
        #expect(stacks(from: "grow_leak", in: report).map { [$0.bytes, $0.allocations] } == [[3000, 1]], "realloc: \(report)")
        #expect(stacks(from: "map_leak", in: report).map { [$0.bytes, $0.allocations] } == [[65536, 1]], "mmap: \(report)")
        #expect(!report.contains { $0.frames.contains("churn") }, "freed allocations reported: \(report)")
        #expect(!ours.isEmpty, "memleak's malloc programs were not seen while it ran")
        #expect(loadedProgramIDs(namedWithPrefix: "malloc_").isDisjoint(with: ours), "programs left loaded")
    }

    @Test("--pprof: a heap profile go tool pprof reads, with the leaking functions and without the freed ones")
    func pprofHeapProfile() throws {
        guard let go = goBinary() else {
            Issue.record("go tool pprof is not installed and apt-get could not install golang-go")
            return
        }
        let file = "/tmp/bpfkit-memleak-\(getpid()).pb.gz"
        defer { unlink(file) }
        _ = try traceLeaker(["--pprof", file], attachByPID: false)
        let rows = try pprofTop(go, file, sampleIndex: "inuse_space")
        #expect(rows.contains { $0.hasSuffix(" leak_here") }, "\(rows)")
        #expect(rows.contains { $0.hasSuffix(" big_leak") }, "\(rows)")
        #expect(!rows.contains { $0.hasSuffix(" churn") }, "\(rows)")
        let objects = try pprofTop(go, file, sampleIndex: "inuse_objects")
        #expect(objects.contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("10 ") && $0.hasSuffix(" leak_here") }, "\(objects)")
    }

    @Test("-z MIN and -Z MAX keep only allocations of that size; --combined-only sums in the kernel")
    func sizeFilters() throws {
        let large = lastReport(try traceLeaker(["-z", "5000"], attachByPID: false))
        #expect(stacks(from: "leak_here", in: large).isEmpty, "\(large)")
        #expect(stacks(from: "big_leak", in: large).first?.bytes == 100000, "\(large)")
        let small = lastReport(try traceLeaker(["-Z", "5000", "--combined-only"], attachByPID: false))
        #expect(stacks(from: "leak_here", in: small).first?.bytes == 40960, "\(small)")
        #expect(stacks(from: "grow_leak", in: small).first?.bytes == 3000, "\(small)")
        #expect(stacks(from: "big_leak", in: small).isEmpty, "\(small)")
        #expect(!small.contains { $0.frames.contains("churn") }, "\(small)")
    }

    @Test("--json: one object per stack; -a lists each allocation")
    func jsonAndAllocations() throws {
        let run = try traceLeaker(["--json", "-a", "-z", "4096", "-Z", "4096"], attachByPID: false)
        let objects = run.jsonEvents
        let stack = objects.last { $0["stack"] != nil }
        #expect(stack?["bytes"] as? Int == 40960 && stack?["allocations"] as? Int == 10, "\(objects)")
        #expect((stack?["stack"] as? [String])?.first == "leak_here", "\(objects)")
        let last = objects.lastIndex { $0["stack"] != nil } ?? 0
        let allocations = objects[..<last].suffix(10)
        #expect(allocations.count == 10 && allocations.allSatisfy { $0["size"] as? Int == 4096 && $0["address"] != nil }, "\(objects)")
    }

    @Test("interval and count: a report each interval, bcc's header, and the count ends it")
    func intervals() throws {
        let run = try ToolRun(["memleak", "-T", "3", "-c", "\(try leakerBinary.get()) - 4000", "1", "2"])
        #expect(run.waitForExit(timeout: 30) == 0, "stderr: \(run.stderr)")
        let headers = run.lines.filter { $0.hasPrefix("[") }
        #expect(headers.count == 2, "\(run.lines)")
        #expect(headers.allSatisfy { $0.wholeMatch(of: /\[\d\d:\d\d:\d\d\] Top 3 stacks with outstanding allocations:/) != nil }, "\(headers)")
        #expect(stacks(from: "leak_here", in: lastReport(run)).first?.bytes == 40960)
    }

    @Test("-t prints each allocation and each free of a traced allocation")
    func traceCalls() throws {
        let run = try traceLeaker(["-t", "-Z", "4096"], attachByPID: false)
        #expect(run.lines.filter { $0.hasPrefix("alloc exited, size = 4096, result = ") }.count == 10, "\(run.lines.prefix(20))")
        #expect(run.lines.filter { $0.hasPrefix("free entered, address = ") && $0.hasSuffix(", size = 512") }.count == 100)
        #expect(!run.lines.contains { $0.hasPrefix("alloc exited, size = 8192") }, "-Z applies to -t too")
    }

    @Test("-O OBJ probes that library's allocator; each function it lacks is skipped with a note")
    func otherLibrary() throws {
        // A preloaded library with only malloc and free, passing them on to glibc.
        let directory = URL(fileURLWithPath: try leakerBinary.get()).deletingLastPathComponent()
        let source = directory.appendingPathComponent("mini.c").path
        let library = directory.appendingPathComponent("libmini.so").path
        try """
            #include <stddef.h>
            extern void *__libc_malloc(size_t);
            extern void __libc_free(void *);
            void *malloc(size_t n) { return __libc_malloc(n); }
            void free(void *p) { __libc_free(p); }
            """.write(toFile: source, atomically: true, encoding: .utf8)
        let compile = Process()
        compile.executableURL = URL(fileURLWithPath: "/bin/sh")
        compile.arguments = ["-c", "cc -O1 -fPIC -shared -o \(library) \(source)"]
        try compile.run()
        compile.waitUntilExit()
        try #require(compile.terminationStatus == 0)

        let run = try ToolRun(["memleak", "-O", library, "-c", "env LD_PRELOAD=\(library) \(try leakerBinary.get()) - 1500"])
        #expect(run.waitForExit(timeout: 60) == 0, "stderr: \(run.stderr)")
        let report = lastReport(run)
        #expect(stacks(from: "leak_here", in: report).map { [$0.bytes, $0.allocations] } == [[40960, 10]], "\(report)")
        #expect(stacks(from: "big_leak", in: report).isEmpty, "calloc is not in the library: \(report)")
        #expect(run.stderr.contains("memleak: no pvalloc in \(library); not traced\n"), "\(run.stderr)")
        #expect(!run.stderr.contains("no malloc"))
    }

    @Test("kernel mode: outstanding kmalloc/kmem_cache allocations of the pipes this test keeps open, with kernel frames")
    func kernelMode() throws {
        let run = try ToolRun(["memleak", "-T", "100000"])
        #expect(try run.wait(timeout: 30) { $0.stdout.contains("Attaching to kernel allocators") }, "stderr: \(run.stderr)")
        var pipes: [Int32] = []
        for _ in 0..<100 {
            var ends: [Int32] = [0, 0]
            if pipe(&ends) == 0 { pipes += ends }
        }
        defer { for fd in pipes { close(fd) } }
        Thread.sleep(forTimeInterval: 1)  // older than the 500 ms default
        #expect(run.stop(SIGTERM, timeout: 60) == 0, "stderr: \(run.stderr)")
        let report = lastReport(run)
        let pipeStacks = report.filter { $0.frames.contains("do_pipe2") }
        #expect(!pipeStacks.isEmpty, "no pipe2 stack among \(report.count)")
        #expect(pipeStacks.map(\.allocations).reduce(0, +) >= 100, "\(pipeStacks)")
        #expect(pipeStacks.allSatisfy { $0.bytes > 0 && $0.frames.contains { $0.contains("alloc") } }, "\(pipeStacks)")
    }

    @Test("a PID that does not exist, or a command that cannot run, is one clear line and a non-zero exit")
    func badInput() throws {
        let missing = try ToolRun(["memleak", "-p", "999999999"])
        #expect(missing.waitForExit() != 0)
        #expect(missing.stderr == "bpfkit memleak: process 999999999 does not exist\n")
        let command = try ToolRun(["memleak", "-c", "/nonexistent/leaker"])
        #expect(command.waitForExit(timeout: 30) != 0)
        #expect(command.stderr == "bpfkit memleak: cannot run the command: No such file or directory\n")
        let sizes = try ToolRun(["memleak", "-z", "10", "-Z", "5"])
        #expect(sizes.waitForExit() != 0)
        #expect(sizes.stderr.hasPrefix("bpfkit memleak: min_size (-z) can't be greater than max_size (-Z)"))
    }
}
