import Foundation
import Testing

/// Programs built without frame pointers (`-fomit-frame-pointer -O2`), each burning CPU in
/// a known chain: `a → b → c → d`, and a qsort whose comparator is called back from libc.
private func buildOmitted(_ name: String, _ source: String, compiler: String = "cc -O2 -fomit-frame-pointer") throws -> String {
    try buildProgram(name, source, compiler: compiler)
}

private let chainSource = """
    #include <stdlib.h>
    #include <time.h>
    static volatile unsigned long sink;
    __attribute__((noinline)) unsigned long d(unsigned long n) {
        unsigned long x = n;
        for (int i = 0; i < 200000; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
        sink = x;
        return x;
    }
    __attribute__((noinline)) unsigned long c(unsigned long n) { unsigned long r = d(n + 1); __asm__ volatile("" ::: "memory"); return r ^ n; }
    __attribute__((noinline)) unsigned long b(unsigned long n) { unsigned long r = c(n + 2); __asm__ volatile("" ::: "memory"); return r ^ n; }
    __attribute__((noinline)) unsigned long a(unsigned long n) { unsigned long r = b(n + 3); __asm__ volatile("" ::: "memory"); return r ^ n; }
    int main(int argc, char **argv) {
        double seconds = atof(argv[1]);
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        unsigned long total = 0;
        do {
            total += a(total);
            clock_gettime(CLOCK_MONOTONIC, &now);
        } while (now.tv_sec - start.tv_sec + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
        return (int)(total & 1) * 0;
    }
    """

private let swiftChainSource = """
    import Glibc
    @inline(never) func d(_ x: UInt) -> UInt { var s = x; for i in 0..<200_000 { s = s &* 6364136223846793005 &+ UInt(i) }; return s }
    @inline(never) func c(_ x: UInt) -> UInt { return d(x &+ 1) ^ x }
    @inline(never) func b(_ x: UInt) -> UInt { return c(x &+ 2) ^ x }
    @inline(never) func a(_ x: UInt) -> UInt { return b(x &+ 3) ^ x }
    let seconds = Double(CommandLine.arguments[1])!
    var start = timespec(), now = timespec()
    var total: UInt = 0
    clock_gettime(CLOCK_MONOTONIC, &start)
    repeat {
        total = total &+ a(total)
        clock_gettime(CLOCK_MONOTONIC, &now)
    } while Double(now.tv_sec - start.tv_sec) + Double(now.tv_nsec - start.tv_nsec) / 1e9 < seconds
    if total == 42 { print(total) }
    """

private let sortSource = """
    #include <stdlib.h>
    #include <time.h>
    static volatile unsigned long sink;
    __attribute__((noinline)) int compare_slowly(const void *left, const void *right) {
        unsigned long x = *(const unsigned *)left;
        for (int i = 0; i < 200; i++) x = x * 6364136223846793005UL + 1;
        sink = x;
        unsigned l = *(const unsigned *)left, r = *(const unsigned *)right;
        return (l > r) - (l < r);
    }
    __attribute__((noinline)) void sort_all(unsigned *values, size_t count) {
        qsort(values, count, sizeof *values, compare_slowly);
        __asm__ volatile("" ::: "memory");
    }
    int main(int argc, char **argv) {
        double seconds = atof(argv[1]);
        size_t count = 20000;
        unsigned *values = malloc(count * sizeof *values);
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        do {
            for (size_t i = 0; i < count; i++) values[i] = (unsigned)rand();
            sort_all(values, count);
            clock_gettime(CLOCK_MONOTONIC, &now);
        } while (now.tv_sec - start.tv_sec + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
        return 0;
    }
    """

private let sleeperSource = """
    #include <stdlib.h>
    #include <unistd.h>
    #include <time.h>
    __attribute__((noinline)) void d(void) { usleep(2000); __asm__ volatile("" ::: "memory"); }
    __attribute__((noinline)) void c(void) { d(); __asm__ volatile("" ::: "memory"); }
    __attribute__((noinline)) void b(void) { c(); __asm__ volatile("" ::: "memory"); }
    __attribute__((noinline)) void a(void) { b(); __asm__ volatile("" ::: "memory"); }
    int main(int argc, char **argv) {
        double seconds = atof(argv[1]);
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        do { a(); clock_gettime(CLOCK_MONOTONIC, &now); } while (now.tv_sec - start.tv_sec + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
        return 0;
    }
    """

private let vdsoSource = """
    #include <stdlib.h>
    #include <time.h>
    __attribute__((noinline)) long tick(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_nsec; }
    int main(int argc, char **argv) {
        long s = 0;
        time_t end = time(0) + atoi(argv[1]);
        while (time(0) < end) for (int i = 0; i < 1000; i++) s += tick();
        return s == 42;
    }
    """

/// Folded lines as (frames, count).
private func folded(_ lines: [String]) -> [(frames: [String], count: UInt64)] {
    lines.compactMap { line in
        guard let space = line.lastIndex(of: " "), let count = UInt64(line[line.index(after: space)...]) else { return nil }
        return (line[..<space].split(separator: ";").map(String.init), count)
    }
}

/// Whether `frames` holds `sequence` contiguously.
private func contains(_ frames: [String], _ sequence: [String]) -> Bool {
    guard frames.count >= sequence.count else { return false }
    return (0...(frames.count - sequence.count)).contains { Array(frames[$0..<($0 + sequence.count)]) == sequence }
}

/// Runs `tool` on `binary` (run for `seconds`) with these extra flags; returns its folded stacks.
private func profile(_ binary: String, seconds: Int = 5, tool: [String] = ["profile", "-F", "199"], _ flags: [String]) throws -> (stacks: [(frames: [String], count: UInt64)], stderr: String) {
    let workload = Process()
    workload.executableURL = URL(fileURLWithPath: binary)
    workload.arguments = [String(seconds)]
    try workload.run()
    defer { kill(workload.processIdentifier, SIGKILL) }
    let run = try ToolRun(tool + ["-p", String(workload.processIdentifier), "-f"] + flags + ["2"])
    #expect(run.waitForExit(timeout: 60) == 0, "stderr: \(run.stderr)")
    return (folded(run.lines), run.stderr)
}

@Suite("profile --unwind: user stacks without frame pointers, against the real kernel", .serialized)
struct UnwindTests {
    @Test("--unwind dwarf shows main → a → b → c → d down to __libc_start_call_main in ≥ 80% of samples; --unwind fp does not",
          arguments: ["c", "swift"])
    func wholeChain(language: String) throws {
        let binary = language == "c"
            ? try buildOmitted("chain", chainSource)
            // swiftc -O omits frame pointers; without -g it also emits no CFI for functions
            // like these (nothing could unwind them), with -g it emits .eh_frame for all.
            : try buildOmitted("chain", swiftChainSource, compiler: "swiftc -O -g")
        let chain = language == "c" ? ["main", "a", "b", "c", "d"] : ["a(_:)", "b(_:)", "c(_:)", "d(_:)"]
        func share(_ stacks: [(frames: [String], count: UInt64)]) -> Double {
            let total = stacks.reduce(0) { $0 + $1.count }
            let whole = stacks.filter { stack in
                guard let start = stack.frames.firstIndex(of: "__libc_start_call_main") else { return false }
                // Swift's top-level code is `main`, which calls a(_:) (or the chain is inlined into it).
                let rest = Array(stack.frames[(start + 1)...])
                return contains(rest, chain) || contains(rest.map { $0.replacingOccurrences(of: "chain.", with: "") }, chain)
            }.reduce(0) { $0 + $1.count }
            return total == 0 ? 0 : Double(whole) / Double(total)
        }
        let dwarf = try profile(binary, ["--unwind", "dwarf"])
        let dwarfShare = share(dwarf.stacks)
        #expect(dwarf.stacks.reduce(0) { $0 + $1.count } >= 20, "too few samples: \(dwarf.stacks)")
        #expect(dwarfShare >= 0.8, "dwarf: \(dwarfShare) of samples whole; \(dwarf.stacks.prefix(8)) \(dwarf.stderr)")
        let fp = try profile(binary, ["--unwind", "fp"])
        #expect(share(fp.stacks) < 0.8, "fp unexpectedly whole: \(fp.stacks.prefix(8))")
    }

    @Test("--unwind dwarf unwinds through libc: qsort calling back into the program's comparator")
    func throughLibc() throws {
        let binary = try buildOmitted("sorter", sortSource)
        let result = try profile(binary, ["--unwind", "dwarf"])
        let total = result.stacks.reduce(0) { $0 + $1.count }
        // main → sort_all → (libc's qsort frames, at least one) → compare_slowly.
        let through = result.stacks.filter { stack in
            guard let sorter = stack.frames.firstIndex(of: "sort_all"), let compare = stack.frames.lastIndex(of: "compare_slowly"),
                  compare > sorter + 1, stack.frames.contains("__libc_start_call_main")
            else { return false }
            return stack.frames[(sorter + 1)..<compare].allSatisfy { $0 != "[unknown]" }
        }.reduce(0) { $0 + $1.count }
        #expect(total >= 20)
        #expect(Double(through) >= 0.5 * Double(total), "\(through) of \(total) through libc: \(result.stacks.prefix(6))")
    }

    @Test("--unwind dwarf unwinds out of the vDSO (its CFI read from the process's memory)")
    func vdso() throws {
        let binary = try buildOmitted("vdso", vdsoSource)
        let result = try profile(binary, ["--unwind", "dwarf", "-U"])
        let inVDSO = result.stacks.filter { $0.frames.last?.hasPrefix("__vdso_") == true }
        let total = inVDSO.reduce(0) { $0 + $1.count }
        let whole = inVDSO.filter { contains($0.frames, ["__libc_start_call_main", "main", "tick"]) }.reduce(0) { $0 + $1.count }
        #expect(total > 0, "\(result.stacks.prefix(4))")
        #expect(Double(whole) >= 0.8 * Double(total), "\(inVDSO.prefix(4))")
    }

    @Test("a small --user-stack-bytes ends deep stacks in [truncated] and says so")
    func truncated() throws {
        let binary = try buildOmitted("sorter", sortSource)
        let result = try profile(binary, ["--unwind", "dwarf", "--user-stack-bytes", "128"])
        let total = result.stacks.reduce(0) { $0 + $1.count }
        let cut = result.stacks.filter { $0.frames.count > 1 && $0.frames[1] == "[truncated]" }.reduce(0) { $0 + $1.count }
        #expect(total > 0 && cut * 2 >= total, "\(result.stacks.prefix(4))")
        #expect(result.stderr.contains("[truncated]"))
    }

    @Test("--unwind auto unwinds a frame-pointer-less process with CFI")
    func auto() throws {
        let binary = try buildOmitted("chain", chainSource)
        let result = try profile(binary, ["--unwind", "auto"])
        let total = result.stacks.reduce(0) { $0 + $1.count }
        let whole = result.stacks.filter { contains($0.frames, ["__libc_start_call_main", "main", "a", "b", "c", "d"]) }.reduce(0) { $0 + $1.count }
        #expect(total > 0 && Double(whole) >= 0.8 * Double(total), "\(result.stacks.prefix(4))")
    }

    @Test("offcputime --unwind dwarf shows the sleeper's whole chain through libc's usleep for ≥ 80% of its off-CPU time; fp does not")
    func offCPU() throws {
        let binary = try buildOmitted("sleeper", sleeperSource)
        func share(_ stacks: [(frames: [String], count: UInt64)]) -> Double {
            let total = stacks.reduce(0) { $0 + $1.count }
            let whole = stacks.filter { contains($0.frames, ["__libc_start_call_main", "main", "a", "b", "c", "d", "usleep"]) }.reduce(0) { $0 + $1.count }
            return total == 0 ? 0 : Double(whole) / Double(total)
        }
        let dwarf = try profile(binary, tool: ["offcputime"], ["--unwind", "dwarf"])
        #expect(share(dwarf.stacks) >= 0.8, "\(dwarf.stacks.prefix(4)) \(dwarf.stderr)")
        let fp = try profile(binary, tool: ["offcputime"], ["--unwind", "fp"])
        #expect(share(fp.stacks) < 0.8)
    }

    @Test("offwaketime --unwind dwarf joins the sleeper's unwound stack with its waker's; chaingraph refuses dwarf with one line")
    func offWake() throws {
        let binary = try buildOmitted("sleeper", sleeperSource)
        let result = try profile(binary, tool: ["offwaketime"], ["--unwind", "dwarf"])
        let joined = result.stacks.filter { stack in
            guard let separator = stack.frames.firstIndex(of: "--") else { return false }
            return contains(Array(stack.frames[..<separator]), ["main", "a", "b", "c", "d", "usleep"]) && stack.frames.count > separator + 1
        }
        #expect(!joined.isEmpty, "\(result.stacks.prefix(3))")
        let chain = try ToolRun(["chaingraph", "--unwind", "dwarf", "1"])
        #expect(chain.waitForExit(timeout: 20) != 0)
        #expect(chain.stderr.contains("--unwind fp"), "\(chain.stderr)")
    }

    @Test("bad --unwind and --user-stack-bytes values fail with one line")
    func badArguments() throws {
        for arguments in [["profile", "--unwind", "lbr", "1"], ["profile", "--unwind", "dwarf", "--user-stack-bytes", "0", "1"],
                          ["profile", "--user-stack-bytes", "100000", "1"], ["offcputime", "--unwind", "x", "1"]] {
            let run = try ToolRun(arguments)
            #expect(run.waitForExit(timeout: 20) != 0)
            #expect(run.stderr.hasPrefix("bpfkit \(arguments[0]): ") && run.stderr.split(separator: "\n").count == 1
                    && !run.stderr.contains("Fatal"), "\(arguments): \(run.stderr)")
        }
    }
}

@Suite("profile --cpi, against the real kernel")
struct CPITests {
    @Test("--cpi on a machine without a hardware PMU: one line naming the missing counters, non-zero exit")
    func noPMU() throws {
        // With a hardware PMU (the `cpu` event source) the hardware path runs instead.
        let hasPMU = FileManager.default.fileExists(atPath: "/sys/bus/event_source/devices/cpu")
        let run = try ToolRun(["profile", "--cpi", "-f", "1"])
        let status = run.waitForExit(timeout: 20)
        if hasPMU {
            #expect(status == 0, "\(run.stderr)")
            #expect(run.lines.allSatisfy { $0.split(separator: " ").count >= 3 })
        } else {
            #expect(status != 0)
            #expect(run.stderr.split(separator: "\n").count == 1 && run.stderr.contains("hardware"), "\(run.stderr)")
        }
        let conflict = try ToolRun(["profile", "--cpi", "--unwind", "dwarf", "1"])
        #expect(conflict.waitForExit(timeout: 20) != 0)
    }
}
