import Foundation
import Testing

/// Builds a program that burns CPU in a known chain (`a → b → c`), with frame pointers.
private func buildBurner(language: String) throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueMarker("burn"))
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let binary = directory.appendingPathComponent("burner-\(language)").path
    let command: String
    if language == "c" {
        let source = directory.appendingPathComponent("burn.c").path
        try """
            #include <stdlib.h>
            #include <time.h>
            volatile unsigned long sink;
            __attribute__((noinline)) void burn_c(void) { for (int i = 0; i < 1000; i++) sink += i * i; }
            __attribute__((noinline)) void burn_b(void) { burn_c(); __asm__ volatile(""); }
            __attribute__((noinline)) void burn_a(void) { burn_b(); __asm__ volatile(""); }
            int main(int argc, char **argv) {
                double seconds = atof(argv[1]);
                struct timespec start, now;
                clock_gettime(CLOCK_MONOTONIC, &start);
                do {
                    for (int i = 0; i < 1000; i++) burn_a();
                    clock_gettime(CLOCK_MONOTONIC, &now);
                } while (now.tv_sec - start.tv_sec + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
                return 0;
            }
            """.write(toFile: source, atomically: true, encoding: .utf8)
        command = "cc -O0 -fno-omit-frame-pointer -o \(binary) \(source)"
    } else {
        let source = directory.appendingPathComponent("burn.swift").path
        try """
            import Glibc
            @inline(never) func burnC(_ x: UInt) -> UInt { var s = x; for i in 0..<1000 { s = s &* 31 &+ UInt(i) }; return s }
            @inline(never) func burnB(_ x: UInt) -> UInt { return burnC(x) &+ 1 }
            @inline(never) func burnA(_ x: UInt) -> UInt { return burnB(x) &+ 1 }
            let seconds = Double(CommandLine.arguments[1])!
            var start = timespec(), now = timespec()
            var total: UInt = 0
            clock_gettime(CLOCK_MONOTONIC, &start)
            repeat {
                for i in 0..<1000 { total = total &+ burnA(UInt(i)) }
                clock_gettime(CLOCK_MONOTONIC, &now)
            } while Double(now.tv_sec - start.tv_sec) + Double(now.tv_nsec - start.tv_nsec) / 1e9 < seconds
            if total == 42 { print(total) }
            """.write(toFile: source, atomically: true, encoding: .utf8)
        // swiftc keeps frame pointers only without optimization on Linux (-O omits them and
        // has no flag to keep them), so the chain would be lost to the unwinder.
        command = "swiftc -Onone -o \(binary) \(source)"
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
    return binary
}

@Suite("profile, against the real kernel", .serialized)
struct ProfileTests {
    @Test("profile -p PID -f shows the burner's a → b → c chain in at least 80% of its samples", arguments: ["c", "swift"])
    func chain(language: String) throws {
        let binary = try buildBurner(language: language)
        let burner = Process()
        burner.executableURL = URL(fileURLWithPath: binary)
        burner.arguments = ["4"]
        try burner.run()
        defer { kill(burner.processIdentifier, SIGKILL) }
        let run = try ToolRun(["profile", "-p", String(burner.processIdentifier), "-F", "199", "-f", "2"])
        #expect(run.waitForExit(timeout: 20) == 0, "stderr: \(run.stderr)")
        let lines = run.lines
        var total: UInt64 = 0, chained: UInt64 = 0
        let chain = language == "c" ? ["burn_a", "burn_b", "burn_c"] : ["burnA(_:)", "burnB(_:)", "burnC(_:)"]
        for line in lines {
            guard let space = line.lastIndex(of: " "), let count = UInt64(line[line.index(after: space)...]) else { continue }
            total += count
            let frames = line[..<space].split(separator: ";").map(String.init)
            // The chain in order (Swift names demangled: `burner.burnA()` or `burnA()`).
            let positions = chain.map { name in frames.firstIndex { $0.hasSuffix(name) } }
            if positions.allSatisfy({ $0 != nil }), positions.map({ $0! }) == positions.map({ $0! }).sorted() {
                chained += count
            }
        }
        #expect(total > 30, "only \(total) samples: \(lines.prefix(5))")
        #expect(Double(chained) >= 0.8 * Double(total), "\(chained) of \(total) samples in the chain; first lines: \(lines.prefix(3))")
        #expect(lines.allSatisfy { $0.hasPrefix("burner-\(language)") || $0.isEmpty }, "folded lines start with the comm")
    }

    @Test("the default output is bcc's: kernel frames, user frames, '-  comm (pid)', count")
    func textOutput() throws {
        let binary = try buildBurner(language: "c")
        let burner = Process()
        burner.executableURL = URL(fileURLWithPath: binary)
        burner.arguments = ["3"]
        try burner.run()
        defer { kill(burner.processIdentifier, SIGKILL) }
        let pid = burner.processIdentifier
        let run = try ToolRun(["profile", "-p", String(pid), "-d", "1"])
        #expect(run.waitForExit(timeout: 20) == 0, "stderr: \(run.stderr)")
        #expect(run.lines.first == "Sampling at 49 Hertz of PID \(pid) by user + kernel stack for 1 secs.")
        #expect(run.stdout.contains("    -                burner-c (\(pid))\n"))
        #expect(run.stdout.contains("    burn_c\n"))
    }

    @Test("kernel stacks symbolize through kallsyms, annotated with -a")
    func kernelFrames() throws {
        // `cat /dev/zero > /dev/null` spends its time in the kernel.
        let busy = Process()
        busy.executableURL = URL(fileURLWithPath: "/bin/sh")
        busy.arguments = ["-c", "exec dd if=/dev/zero of=/dev/null bs=64k count=2000000"]
        try busy.run()
        defer { kill(busy.processIdentifier, SIGKILL) }
        let run = try ToolRun(["profile", "-p", String(busy.processIdentifier), "-K", "-a", "-f", "1"])
        #expect(run.waitForExit(timeout: 20) == 0, "stderr: \(run.stderr)")
        #expect(run.stdout.contains("_[k]"))
        #expect(run.stdout.contains("entry_SYSCALL_64") || run.stdout.contains("do_syscall_64"), "\(run.lines.prefix(3))")
    }

    @Test("a PID that does not exist is one clear line and a non-zero exit")
    func missingProcess() throws {
        let run = try ToolRun(["profile", "-p", "999999999", "1"])
        #expect(run.waitForExit() != 0)
        #expect(run.stderr.contains("process 999999999 does not exist"))
    }
}
