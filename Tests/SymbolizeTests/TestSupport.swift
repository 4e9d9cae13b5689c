// Shared helpers for SymbolizeTests: scratch directories, shell commands, the test programs
// (C, C++ and Swift, compiled once per test run), live child processes, a seeded PRNG.
import Foundation
import Synchronization
import Testing
import BPFKit
@testable import Symbolize

// MARK: - Files and commands

/// A directory under the system temporary directory, removed when released.
final class Scratch: @unchecked Sendable {
    let path: String

    init(_ name: String) throws {
        path = NSTemporaryDirectory() + "bpfkit-symbolize-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        try text.write(toFile: file(name), atomically: true, encoding: .utf8)
        return file(name)
    }
}

struct CommandFailure: Error, CustomStringConvertible {
    var command: String
    var output: String
    var description: String { "`\(command)` failed:\n\(output)" }
}

/// Runs `command` with /bin/sh; returns standard output, throws with all output on failure.
@discardableResult
func shell(_ command: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard process.terminationStatus == 0 else { throw CommandFailure(command: command, output: text) }
    return text
}

/// The value of `name` in `nm` output for `binary` (first match), nil when absent.
func nmAddress(_ binary: String, _ name: String) throws -> UInt64? {
    for line in try shell("nm '\(binary)'").split(separator: "\n") {
        let fields = line.split(separator: " ")
        if fields.count == 3, fields[2] == name { return UInt64(fields[0], radix: 16) }
    }
    return nil
}

/// Size and value of function `name` from `nm -S`.
func nmSymbol(_ binary: String, containing fragment: String) throws -> (name: String, value: UInt64, size: UInt64)? {
    for line in try shell("nm -S '\(binary)'").split(separator: "\n") {
        let fields = line.split(separator: " ")
        if fields.count == 4, fields[3].contains(fragment), fields[2] == "T" || fields[2] == "t",
           let value = UInt64(fields[0], radix: 16), let size = UInt64(fields[1], radix: 16) {
            return (String(fields[3]), value, size)
        }
    }
    return nil
}

// MARK: - Test programs

/// The test programs, compiled once per run into one scratch directory (kept to the end).
struct TestPrograms: Sendable {
    let directory: String
    /// PIE (`-fPIE -pie`), linked with `library`, with a build-id.
    let pie: String
    /// The shared library `libbpfkitsym.so`.
    let library: String
    /// Position-dependent (`-no-pie`).
    let nonPIE: String
    /// A PIE without the library and its `--strip-all` copy (another compile: another build-id).
    let plain: String
    let stripped: String
    /// Stripped, with its symbols in a separate debug file named by `.gnu_debuglink`.
    let linked: String
    let linkedDebug: String
    /// Stripped, with its symbols in a separate debug file found by build-id (`byIDDebug`).
    let byID: String
    let byIDDebug: String
    /// Unstripped twins of `linked` and `byID` (same code, for nm addresses).
    let linkedOriginal: String
    let byIDOriginal: String
    let cplusplus: String
    let swift: String

    static let shared: Result<TestPrograms, CommandFailure> = {
        do { return .success(try build()) } catch let error as CommandFailure { return .failure(error) } catch {
            return .failure(CommandFailure(command: "build", output: "\(error)"))
        }
    }()

    static func get() throws -> TestPrograms { try shared.get() }

    private static func build() throws -> TestPrograms {
        // Directories of earlier runs whose process is gone (killed before its exit handler).
        let prefix = "bpfkit-symbolize-programs-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())) ?? [] where name.hasPrefix(prefix) {
            if let owner = Int32(name.dropFirst(prefix.count)), kill(owner, 0) != 0 {
                try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + name)
            }
        }
        let directory = NSTemporaryDirectory() + prefix + "\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        programsDirectory.withLock { $0 = directory }
        atexit {
            if let directory = programsDirectory.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: directory) }
        }
        func path(_ name: String) -> String { directory + "/" + name }
        try programSource.write(toFile: path("program.c"), atomically: true, encoding: .utf8)
        try librarySource.write(toFile: path("library.c"), atomically: true, encoding: .utf8)
        try cplusplusSource.write(toFile: path("widget.cpp"), atomically: true, encoding: .utf8)
        try swiftSource.write(toFile: path("worker.swift"), atomically: true, encoding: .utf8)
        if (try? shell("command -v c++")) == nil { try shell("apt-get install -y -qq g++ >/dev/null 2>&1") }
        try shell("""
            set -e
            cd '\(directory)'
            cc -O1 -g -fPIC -shared -Wl,--build-id -o libbpfkitsym.so library.c
            cc -O1 -g -fPIE -pie -Wl,--build-id -DWITH_LIBRARY -DVARIANT='"pie"' -o pie program.c -L. -lbpfkitsym -Wl,-rpath,'\(directory)'
            cc -O1 -g -fno-pie -no-pie -Wl,--build-id -DVARIANT='"nonpie"' -o nonpie program.c
            cc -O1 -g -fPIE -pie -Wl,--build-id -DVARIANT='"plain"' -o plain program.c
            cp plain stripped && strip --strip-all stripped
            cc -O1 -g -fPIE -pie -Wl,--build-id -DVARIANT='"linked"' -o linked.original program.c
            cp linked.original linked
            objcopy --only-keep-debug linked linked.debug
            objcopy --strip-all --add-gnu-debuglink=linked.debug linked
            cc -O1 -g -fPIE -pie -Wl,--build-id -DVARIANT='"byid"' -o byid.original program.c
            cp byid.original byid
            objcopy --only-keep-debug byid byid.debug
            objcopy --strip-all byid
            c++ -O1 -g -fPIE -pie -o widget widget.cpp
            swiftc -Onone -module-name worker -o worker worker.swift
            """)
        return TestPrograms(
            directory: directory, pie: path("pie"), library: path("libbpfkitsym.so"), nonPIE: path("nonpie"),
            plain: path("plain"), stripped: path("stripped"), linked: path("linked"), linkedDebug: path("linked.debug"),
            byID: path("byid"), byIDDebug: path("byid.debug"), linkedOriginal: path("linked.original"),
            byIDOriginal: path("byid.original"), cplusplus: path("widget"), swift: path("worker"))
    }
}

/// The compiled programs' directory, removed when the test process exits.
private let programsDirectory = Mutex<String?>(nil)

/// Prints its functions' addresses, maps an anonymous executable page (a fake JIT area) and,
/// with an argument, that file executable; then waits for standard input to close.
private let programSource = """
    #include <fcntl.h>
    #include <stdio.h>
    #include <sys/mman.h>
    #include <unistd.h>

    #ifdef WITH_LIBRARY
    void *bpfkit_library_address(int which);
    #endif

    const char *bpfkit_variant = VARIANT;
    static volatile int sink;

    __attribute__((noinline)) static int bpfkit_static_function(int x) {
        for (int i = 0; i < x; i++) sink += i * 3;
        return sink;
    }

    __attribute__((noinline)) int bpfkit_global_function(int x) {
        for (int i = 0; i < x; i++) sink += i * 5;
        return sink + bpfkit_static_function(x);
    }

    int main(int argc, char **argv) {
        void *jit = mmap(NULL, 8192, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        void *data = NULL;
        if (argc > 1) {
            int fd = open(argv[1], O_RDONLY);
            data = fd >= 0 ? mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0) : NULL;
        }
    #ifdef WITH_LIBRARY
        void *worker = bpfkit_library_address(0), *exported = bpfkit_library_address(1);
    #else
        void *worker = NULL, *exported = NULL;
    #endif
        printf("%p %p %p %p %p %p\\n", (void *)bpfkit_static_function, (void *)bpfkit_global_function, worker,
               exported, jit, data);
        fflush(stdout);
        char c;
        while (read(0, &c, 1) > 0) {}
        return bpfkit_global_function(argc) & (bpfkit_variant[0] == 0);
    }
    """

private let librarySource = """
    static volatile int library_sink;

    __attribute__((noinline, visibility("hidden"))) int bpfkit_library_worker(int x) {
        for (int i = 0; i < x; i++) library_sink += i * 7;
        return library_sink;
    }

    __attribute__((noinline)) int bpfkit_library_exported(int x) {
        for (int i = 0; i < x; i++) library_sink += i;
        return bpfkit_library_worker(x) + 1;
    }

    void *bpfkit_library_address(int which) {
        return which == 0 ? (void *)bpfkit_library_worker : (void *)bpfkit_library_exported;
    }
    """

private let cplusplusSource = """
    #include <cstdio>
    #include <unistd.h>

    namespace bpfkit {
    struct Widget {
        static int spin(int x, const char *label);
    };
    __attribute__((noinline)) int Widget::spin(int x, const char *label) {
        volatile int s = 0;
        for (int i = 0; i < x; i++) s += label[i % 3];
        return s;
    }
    template <typename T> __attribute__((noinline)) T twice(T value) {
        volatile T v = value;
        return v + v;
    }
    }  // namespace bpfkit

    int main() {
        std::printf("%p %p\\n", (void *)&bpfkit::Widget::spin, (void *)&bpfkit::twice<long>);
        std::fflush(stdout);
        char c;
        while (read(0, &c, 1) > 0) {}
        return (bpfkit::Widget::spin(3, "abc") + (int)bpfkit::twice<long>(2)) & 1;
    }
    """

private let swiftSource = """
    #if canImport(Glibc)
    import Glibc
    #endif

    @inline(never) func bpfkitSwiftWorker(_ n: Int) -> Int {
        var sum = 0
        for i in 0..<n { sum &+= i &* 7 }
        return sum
    }

    struct Gadget {
        @inline(never) func whirl(times: Int) -> Int { bpfkitSwiftWorker(times) &+ 1 }
    }

    print("ready")
    fflush(stdout)
    var byte: UInt8 = 0
    while read(0, &byte, 1) > 0 {}
    print(Gadget().whirl(times: 3))
    """

// MARK: - Child processes

/// A test program running until released (its standard input is closed, then it is killed).
final class Child: @unchecked Sendable {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()

    init(_ executable: String, arguments: [String] = []) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = output
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// The first line the program prints (it prints one line once ready).
    func firstLine() throws -> String {
        var bytes: [UInt8] = []
        let descriptor = output.fileHandleForReading.fileDescriptor
        let deadline = Date().addingTimeInterval(20)
        while !bytes.contains(0x0a) {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard Date() < deadline, poll(&poller, 1, 1000) >= 0 else { break }
            if poller.revents == 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = read(descriptor, &chunk, chunk.count)
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        guard let newline = bytes.firstIndex(of: 0x0a) else {
            throw CommandFailure(command: process.executableURL!.path, output: "no line printed")
        }
        return String(decoding: bytes[..<newline], as: UTF8.self)
    }

    /// The addresses the C programs print (`(nil)` reads as 0).
    func addresses() throws -> [UInt64] {
        try firstLine().split(separator: " ").map { field in
            field.hasPrefix("0x") ? UInt64(field.dropFirst(2), radix: 16) ?? 0 : 0
        }
    }

    /// Ends the program and waits for it.
    func stop() {
        try? input.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// Where `binary` (by path) is mapped in process `pid`: the start of its mapping at file
/// offset 0 (its load base for PIE files whose first segment has p_vaddr 0).
func loadBase(pid: Int32, binary: String) throws -> UInt64 {
    let maps = try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)
    for line in maps.split(separator: "\n") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        if fields.count >= 6, fields[5] == binary, fields[2] == "00000000",
           let start = UInt64(fields[0].split(separator: "-")[0], radix: 16) {
            return start
        }
    }
    throw CommandFailure(command: "find \(binary) in /proc/\(pid)/maps", output: maps)
}

// MARK: - Randomness

/// SplitMix64: a tiny deterministic generator, so every fuzz run sees the same inputs.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
