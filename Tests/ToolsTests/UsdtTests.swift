import BPFKit
import Foundation
import Testing

/// A program with three USDT probes (Debian's systemtap-sdt-dev <sys/sdt.h>): `fire` with a
/// register, a constant, a stack slot and a string pointer; `constant` with two constants;
/// `guarded` behind a semaphore (its own file: only it is built with _SDT_HAS_SEMAPHORES).
/// Arguments: COUNT firings, SLEEP milliseconds apart.
func buildUSDTProgram() throws -> String {
    if !FileManager.default.fileExists(atPath: "/usr/include/x86_64-linux-gnu/sys/sdt.h")
        && !FileManager.default.fileExists(atPath: "/usr/include/sys/sdt.h") {
        try runCommand("/bin/sh", ["-c", "apt-get install -y -qq systemtap-sdt-dev || (apt-get update -qq && apt-get install -y -qq systemtap-sdt-dev)"])
    }
    let main = """
        #include <sys/sdt.h>
        #include <stdlib.h>
        #include <unistd.h>
        void guarded(int value);
        int main(int argc, char **argv) {
            int count = argc > 1 ? atoi(argv[1]) : 1;
            int sleep_ms = argc > 2 ? atoi(argv[2]) : 0;
            char word[16] = "hello-usdt";
            for (int i = 0; i < count; i++) {
                volatile long big = -1234567890123L;
                int small = -42;
                DTRACE_PROBE4(bpfkit_test, fire, i, small, big, word);
                DTRACE_PROBE2(bpfkit_test, constant, 5, 77);
                guarded(i + 1000);
                if (sleep_ms) usleep(sleep_ms * 1000);
            }
            return 0;
        }
        """
    let guarded = """
        #define _SDT_HAS_SEMAPHORES 1
        #include <sys/sdt.h>
        unsigned short bpfkit_test_guarded_semaphore __attribute__((unused, section(".probes")));
        void guarded(int value) {
            if (__builtin_expect(bpfkit_test_guarded_semaphore, 0)) DTRACE_PROBE1(bpfkit_test, guarded, value);
        }
        """
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueMarker("usdt"))
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    try main.write(to: directory.appendingPathComponent("main.c"), atomically: true, encoding: .utf8)
    try guarded.write(to: directory.appendingPathComponent("guarded.c"), atomically: true, encoding: .utf8)
    let binary = directory.appendingPathComponent("usdtprobes").path
    let status = try runCommand("/bin/sh", ["-c", "cc -O1 -o \(binary) \(directory.path)/main.c \(directory.path)/guarded.c"])
    guard status == 0 else { throw AttachError("cc of the USDT program failed (exit \(status))") }
    return binary
}

/// A shared library with one probe, `bpfkit_lib:work(int, const char *)`, and a program using
/// it: `COUNT SLEEP_MS` as the other program. Returns (program, library).
func buildUSDTLibrary() throws -> (program: String, library: String) {
    _ = try buildUSDTProgram()  // installs <sys/sdt.h> when missing
    let library = """
        #include <sys/sdt.h>
        void bpfkit_lib_work(int value, const char *label) {
            DTRACE_PROBE2(bpfkit_lib, work, value, label);
        }
        """
    let main = """
        #include <stdlib.h>
        #include <unistd.h>
        void bpfkit_lib_work(int value, const char *label);
        int main(int argc, char **argv) {
            int count = argc > 1 ? atoi(argv[1]) : 1;
            int sleep_ms = argc > 2 ? atoi(argv[2]) : 0;
            char label[16] = "from-the-lib";
            for (int i = 0; i < count; i++) {
                bpfkit_lib_work(7000 + i, label);
                if (sleep_ms) usleep(sleep_ms * 1000);
            }
            return 0;
        }
        """
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueMarker("usdtlib"))
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    try library.write(to: directory.appendingPathComponent("lib.c"), atomically: true, encoding: .utf8)
    try main.write(to: directory.appendingPathComponent("main.c"), atomically: true, encoding: .utf8)
    let path = directory.path
    let status = try runCommand("/bin/sh", ["-c", "cc -O1 -shared -fPIC -o \(path)/libusdtlib.so \(path)/lib.c && "
        + "cc -O1 -o \(path)/usdtlibuser \(path)/main.c -L\(path) -lusdtlib -Wl,-rpath,\(path)"])
    guard status == 0 else { throw AttachError("cc of the USDT library failed (exit \(status))") }
    return (path + "/usdtlibuser", path + "/libusdtlib.so")
}

/// The 16-bit semaphore of `bpfkit_test:guarded` in running process `pid`, read through
/// /proc/PID/mem at the binary's load address plus the semaphore's address.
private func guardedSemaphore(pid: Int32, binary: String) throws -> UInt16 {
    let bytes = try #require(readFileBytes(binary))
    let probe = try #require(try ELFFile(bytes: bytes).usdtProbes().first { $0.name == "guarded" })
    let maps = try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)
    let first = try #require(maps.split(separator: "\n").first { $0.hasSuffix(binary) })
    let base = try #require(UInt64(first.prefix { $0 != "-" }, radix: 16))
    let memory = try #require(FileHandle(forReadingAtPath: "/proc/\(pid)/mem"))
    defer { try? memory.close() }
    try memory.seek(toOffset: base + probe.semaphore)
    let data = try #require(try memory.read(upToCount: 2))
    return data.withUnsafeBytes { $0.loadUnaligned(as: UInt16.self) }
}

@Suite("tplist and usdt, against the real kernel", .serialized)
struct UsdtTests {
    @Test("tplist -l lists the program's probes; -v their semaphores, sites and decoded arguments")
    func tplistProbes() throws {
        let program = try buildUSDTProgram()
        let run = try ToolRun(["tplist", "-l", program])
        #expect(try run.waitForExit() == 0, "\(run.stderr)")
        #expect(run.lines == ["bpfkit_test:fire", "bpfkit_test:constant", "bpfkit_test:guarded"].map { "\(program) \($0)" })
        let verbose = try ToolRun(["tplist", "-v", "-l", program, "*:[cg]*"])
        #expect(verbose.waitForExit() == 0, "\(verbose.stderr)")
        let lines = verbose.lines
        #expect(lines.first == "\(program) bpfkit_test:constant [sema 0x0]")
        #expect(lines.contains("    argument #1 4 signed bytes @ constant 5"))
        #expect(lines.contains("    argument #2 4 signed bytes @ constant 77"))
        let guarded = try #require(lines.first { $0.hasPrefix("\(program) bpfkit_test:guarded [sema 0x") })
        #expect(!guarded.hasSuffix("[sema 0x0]"))
        #expect(lines.filter { $0.hasPrefix("  location #1 \(program) 0x") }.count == 2)
    }

    @Test("tplist lists kernel tracepoints, filtered by a glob; -v prints their fields")
    func tplistTracepoints() throws {
        let run = try ToolRun(["tplist", "-v", "sched:sched_switch"])
        #expect(try run.waitForExit() == 0, "\(run.stderr)")
        #expect(run.lines.first == "sched:sched_switch")
        #expect(run.lines.contains("    char prev_comm[16];"))
        #expect(run.lines.contains("    pid_t next_pid;"))
        #expect(!run.lines.contains { $0.contains("common_") })
        let all = try ToolRun(["tplist"])
        #expect(all.waitForExit() == 0)
        #expect(all.lines.contains("syscalls:sys_enter_openat") || all.lines.contains("sched:sched_process_exec"))
        #expect(all.lines.count > 100)
    }

    @Test("usdt: every firing with its pid, comm and arguments from a register, a constant, the stack and a string")
    func firesWithValues() throws {
        let program = try buildUSDTProgram()
        let run = try ToolRun(["usdt", "--json", "--string", "4", program + ":bpfkit_test:fire"])
        defer { run.stop() }
        #expect(try run.wait { bpfLinkCount($0.process.processIdentifier) >= 1 }, "stderr: \(run.stderr)")
        let pid = Int(try runProgram(program, ["3"]))
        #expect(try run.wait { $0.jsonEvents.filter { $0["pid"] as? Int == pid }.count >= 3 }, "stdout: \(run.stdout) stderr: \(run.stderr)")
        let events = run.jsonEvents.filter { $0["pid"] as? Int == pid }
        #expect(events.count == 3)
        for (index, event) in events.enumerated() {
            #expect(event["probe"] as? String == "bpfkit_test:fire")
            #expect(event["comm"] as? String == "usdtprobes")
            let args = try #require(event["args"] as? [Any])
            #expect(args.count == 4)
            #expect(args[0] as? Int == index)
            #expect(args[1] as? Int == -42)
            #expect(args[2] as? Int == -1_234_567_890_123)
            #expect(args[3] as? String == "hello-usdt")
        }
        #expect(run.stop() == 0)
    }

    @Test("usdt columns: constants of every site of a probe, named BINARY:NAME")
    func columns() throws {
        let program = try buildUSDTProgram()
        let run = try ToolRun(["usdt", program + ":constant"])
        defer { run.stop() }
        #expect(try run.wait { bpfLinkCount($0.process.processIdentifier) >= 1 }, "stderr: \(run.stderr)")
        let pid = try runProgram(program, ["2"])
        #expect(try run.wait { $0.lines.filter { $0.contains(" \(pid) ") }.count >= 2 }, "stdout: \(run.stdout)")
        #expect(run.lines.first == "TIME      PID     TID     COMM             PROBE                    ARGS")
        let line = try #require(run.lines.first { $0.contains(" \(pid) ") })
        #expect(line.contains(" usdtprobes "))
        #expect(line.hasSuffix(" bpfkit_test:constant     arg1=5 arg2=77"))
    }

    @Test("-p with a semaphore: the kernel sets it while traced, the probe fires for that pid only, then it is 0 again")
    func semaphoreWhileTraced() throws {
        let program = try buildUSDTProgram()
        let traced = Process()
        traced.executableURL = URL(fileURLWithPath: program)
        traced.arguments = ["100000", "10"]
        let other = Process()
        other.executableURL = URL(fileURLWithPath: program)
        other.arguments = ["100000", "10"]
        try traced.run()
        try other.run()
        defer {
            for process in [traced, other] where process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
        let pid = traced.processIdentifier
        usleep(100_000)
        #expect(try guardedSemaphore(pid: pid, binary: program) == 0)
        let before = loadedProgramIDs(namedWithPrefix: "usdt_probe")
        let run = try ToolRun(["usdt", "--json", "-p", String(pid), program + ":bpfkit_test:guarded"])
        defer { run.stop() }
        #expect(try run.wait(timeout: 15) { $0.jsonEvents.count >= 3 }, "stdout: \(run.stdout) stderr: \(run.stderr)")
        #expect(try guardedSemaphore(pid: pid, binary: program) == 1)
        #expect(try guardedSemaphore(pid: other.processIdentifier, binary: program) == 0)
        #expect(run.jsonEvents.allSatisfy { $0["pid"] as? Int == Int(pid) })
        let values = run.jsonEvents.compactMap { ($0["args"] as? [Any])?.first as? Int }
        #expect(values.count == run.jsonEvents.count && values.allSatisfy { $0 >= 1000 })
        #expect(zip(values, values.dropFirst()).allSatisfy { $0 + 1 == $1 }, "\(values)")
        let ours = loadedProgramIDs(namedWithPrefix: "usdt_probe").subtracting(before)
        #expect(ours.count == 1)
        #expect(run.stop() == 0)
        #expect(try guardedSemaphore(pid: pid, binary: program) == 0)
        #expect(loadedProgramIDs(namedWithPrefix: "usdt_probe").intersection(ours).isEmpty)
    }

    @Test("a probe in a shared library: by path system-wide, by short name with -p, and in tplist -p")
    func sharedLibrary() throws {
        let (program, library) = try buildUSDTLibrary()
        let run = try ToolRun(["usdt", "--json", "-s", "2", library + ":bpfkit_lib:work"])
        defer { run.stop() }
        #expect(try run.wait { bpfLinkCount($0.process.processIdentifier) >= 1 }, "stderr: \(run.stderr)")
        let pid = Int(try runProgram(program, ["2"]))
        #expect(try run.wait { $0.jsonEvents.filter { $0["pid"] as? Int == pid }.count >= 2 }, "stdout: \(run.stdout) stderr: \(run.stderr)")
        let args = run.jsonEvents.filter { $0["pid"] as? Int == pid }.compactMap { $0["args"] as? [Any] }
        #expect(args.map { $0.first as? Int } == [7000, 7001])
        #expect(args.allSatisfy { $0.last as? String == "from-the-lib" })
        #expect(run.stop() == 0)

        let user = Process()
        user.executableURL = URL(fileURLWithPath: program)
        user.arguments = ["100000", "10"]
        try user.run()
        defer { if user.isRunning { kill(user.processIdentifier, SIGKILL); user.waitUntilExit() } }
        usleep(100_000)
        let listed = try ToolRun(["tplist", "-p", String(user.processIdentifier)])
        #expect(listed.waitForExit() == 0, "\(listed.stderr)")
        #expect(listed.lines.contains("/proc/\(user.processIdentifier)/root\(library) bpfkit_lib:work"), "\(listed.stdout)")
        let byName = try ToolRun(["usdt", "-p", String(user.processIdentifier), "usdtlib:work"])
        defer { byName.stop() }
        #expect(try byName.wait { $0.lines.count >= 3 }, "stdout: \(byName.stdout) stderr: \(byName.stderr)")
        #expect(byName.lines.dropFirst().allSatisfy { $0.contains(" \(user.processIdentifier) ") && $0.contains(" bpfkit_lib:work ") })
    }

    /// Debian's python3.11 is built with --with-dtrace: tplist finds its probes, and gc__start
    /// (generation) and import__find__load__start (module name), behind semaphores, fire.
    /// function__entry/return are listed but never fire in CPython 3.11 (python/cpython#98894).
    @Test("a real runtime: Debian's /usr/bin/python3 probes, its semaphores set by the kernel")
    func python() throws {
        let python = "/usr/bin/python3"
        try #require(FileManager.default.isExecutableFile(atPath: python), "Debian python3 is not installed")
        let list = try ToolRun(["tplist", "-l", python])
        #expect(list.waitForExit() == 0)
        #expect(list.lines.contains("\(python) python:gc__start"))
        #expect(list.lines.contains("\(python) python:import__find__load__start"))
        let imports = try ToolRun(["usdt", "--json", "-s", "1", python + ":python:import__find__load__start"])
        defer { imports.stop() }
        let collections = try ToolRun(["usdt", "--json", python + ":python:gc__start"])
        defer { collections.stop() }
        #expect(try imports.wait { bpfLinkCount($0.process.processIdentifier) >= 1 }, "stderr: \(imports.stderr)")
        #expect(try collections.wait { bpfLinkCount($0.process.processIdentifier) >= 1 }, "stderr: \(collections.stderr)")
        let pid = Int(try runProgram(python, ["-c", "import gc, colorsys; gc.collect(1)"]))
        #expect(try imports.wait { $0.jsonEvents.contains { $0["pid"] as? Int == pid && ($0["args"] as? [Any])?.first as? String == "colorsys" } },
                "stdout: \(imports.stdout) stderr: \(imports.stderr)")
        #expect(try collections.wait { $0.jsonEvents.contains { $0["pid"] as? Int == pid && ($0["args"] as? [Any])?.first as? Int == 1 } },
                "stdout: \(collections.stdout) stderr: \(collections.stderr)")
        #expect(imports.stop() == 0)
        #expect(collections.stop() == 0)
    }

    @Test("bad input is one line on stderr and a non-zero exit")
    func badInput() throws {
        let program = try buildUSDTProgram()
        for arguments in [["usdt", program + ":nosuchprobe"], ["usdt", "/no/such/binary:p:n"], ["usdt", "justaname"],
                          ["usdt", "--string", "9", program + ":fire"], ["tplist", "-l", "/no/such/binary"],
                          ["usdt", "-p", "999999999", program + ":fire"]] {
            let run = try ToolRun(arguments)
            #expect(try run.waitForExit() != 0, "\(arguments)")
            #expect(!run.stderr.isEmpty && !run.stderr.contains("Fatal error"), "\(arguments): \(run.stderr)")
        }
    }
}
