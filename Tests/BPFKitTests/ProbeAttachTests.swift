// Every attach type against the real kernel: CO-RE reads, BTF and raw tracepoints, uprobes
// (PIE, non-PIE, libc by short name), timed sampling, and the refusals this kernel gives
// for fentry and kprobes.
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import BPFKit

/// Loads an embedded fixture with some globals set, only the named programs.
private func loadFixture(
    _ base64: String, name: String, programs: Set<String>? = nil, options: ProgramLoadOptions = .init(),
    globals: (inout ObjectSpec) throws -> Void = { _ in }
) throws -> BPFObject {
    var spec = try ObjectSpec(elf: Base64.decode(base64)!, name: name)
    try globals(&spec)
    return try BPFObject(spec: spec, programs: programs, options: options)
}

private func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Compiles a small C program for uprobe tests; returns its path.
private func buildTarget(pie: Bool) throws -> String {
    let program = """
        #include <stdlib.h>
        #include <unistd.h>
        __attribute__((noinline)) int target_add(int a, int b) { __asm__ volatile(""); return a + b; }
        int main(int argc, char **argv) {
            usleep(atoi(argv[1]) * 1000);  /* time for the test to attach */
            volatile int sum = 0;
            for (int i = 0; i < 3; i++) sum += target_add(40, 2);
            void *p = malloc(123457);
            free(p);
            return sum == 126 ? 0 : 1;
        }
        """
    return try compileC("target-\(pie ? "pie" : "nopie")", program, flags: "-O1 \(pie ? "-fPIE -pie" : "-fno-pie -no-pie")")
}



@Suite("Attach types against the real kernel", .serialized)
struct ProbeAttachTests {
    @Test("CO-RE reads task_struct fields the way /proc shows them, in the kernel and in user space",
          arguments: [ProgramLoadOptions.CORERelocation.kernel, .userSpace])
    func coreTaskStruct(mode: ProgramLoadOptions.CORERelocation) throws {
        var options = ProgramLoadOptions()
        options.coreRelocation = mode
        let tid = currentThreadID()
        let object = try loadFixture(BPFObjects.core, name: "core", options: options) { try $0.setGlobal("target_tid", to: tid) }
        defer { object.close() }
        try object.attachAll()
        _ = getppid()
        #expect(try eventually(timeout: 3000) { try object.global("hits", as: UInt32.self) > 0 })
        #expect(try object.global("seen_pid", as: UInt32.self) == tid)
        #expect(try object.global("seen_tgid", as: UInt32.self) == UInt32(getpid()))
        #expect(try object.global("seen_parent_tgid", as: UInt32.self) == UInt32(getppid()))
        // The task is running while it makes the syscall: state 0, read through __state here
        // (the pre-5.14 `state` branch was poisoned and pruned).
        #expect(try object.global("seen_state", as: UInt64.self) == 0)
        let comm = try object.global("seen_comm", as: (UInt64, UInt64).self)
        let text = withUnsafeBytes(of: comm) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let procComm = readSmallFile("/proc/self/task/\(tid)/comm")?.split(separator: "\n").first.map(String.init)
        #expect(text == procComm)
    }

    @Test("an unguarded read of a field this kernel lacks names the program, type and field",
          arguments: [ProgramLoadOptions.CORERelocation.kernel, .userSpace])
    func coreMissingField(mode: ProgramLoadOptions.CORERelocation) throws {
        var options = ProgramLoadOptions()
        options.coreRelocation = mode
        do {
            _ = try loadFixture(BPFObjects.core_missing, name: "core_missing", options: options)
            Issue.record("loading should fail")
        } catch let error as CORERelocationError {
            #expect(error.program == "read_missing")
            #expect(error.description.contains("task_struct___pre_5_14.state"))
            #expect(error.description.contains("task_struct"))
        }
    }

    @Test("tp_btf on sched_switch and sched_wakeup sees a test thread's switches")
    func btfTracepoints() throws {
        // The thread starts first, so its id can be a load-time constant; it sleeps (20 switches
        // out, 20 wakeups) only once the programs are attached.
        let ready = Semaphore(), attached = Semaphore()
        let holder = ObjectHolder()
        let worker = ThreadRunner {
            let tid = UInt32(currentThreadID())
            holder.tid = tid
            ready.signal()
            attached.wait()
            for _ in 0..<20 { usleep(1000) }
        }
        ready.wait()
        let traced = try loadFixture(BPFObjects.probes, name: "probes", programs: ["on_switch", "on_wakeup"]) {
            try $0.setGlobal("target_tid", to: holder.tid)
        }
        defer { traced.close() }
        try traced.attachAll()
        attached.signal()
        worker.join()
        #expect(try eventually(timeout: 3000) { try traced.global("switches", as: UInt64.self) >= 20 })
        #expect(try traced.global("wakeups", as: UInt64.self) >= 10)
    }

    @Test("raw_tp on sys_enter sees this thread's syscalls")
    func rawTracepoint() throws {
        let tid = currentThreadID()
        let object = try loadFixture(BPFObjects.probes, name: "probes", programs: ["on_raw_enter"]) {
            try $0.setGlobal("target_tid", to: tid)
        }
        defer { object.close() }
        try object.attachAll()
        for _ in 0..<5 { _ = getppid() }
        #expect(try eventually(timeout: 3000) { try object.global("raw_enters", as: UInt64.self) >= 5 })
    }

    @Test("uprobe and uretprobe on a function see its arguments and result", arguments: [true, false])
    func uprobeFunction(pie: Bool) throws {
        let binary = try buildTarget(pie: pie)
        let pid = spawn(binary, "300")
        let object = try loadFixture(BPFObjects.probes, name: "probes", programs: ["on_add", "on_add_return"]) {
            try $0.setGlobal("target_pid", to: UInt32(pid))
        }
        defer { object.close() }
        let target = UprobeTarget(binary: binary, symbol: "target_add", pid: pid)
        object.keep(try object.program("on_add").attachUprobe(target))
        object.keep(try object.program("on_add_return").attachUprobe(target, returnProbe: true))
        #expect(waitExit(pid) == 0)
        #expect(try object.global("add_calls", as: UInt64.self) == 3)
        #expect(try object.global("add_returns", as: UInt64.self) == 3)
        #expect(try object.global("add_first", as: Int64.self) == 40)
        #expect(try object.global("add_second", as: Int64.self) == 2)
        #expect(try object.global("add_result", as: Int64.self) == 42)
        #expect(try object.global("probe_pid", as: UInt32.self) == UInt32(pid))
    }

    @Test("uprobe on libc malloc by short library name, for one process")
    func uprobeMalloc() throws {
        let binary = try buildTarget(pie: true)
        let pid = spawn(binary, "300")
        let object = try loadFixture(BPFObjects.probes, name: "probes", programs: ["on_malloc", "on_malloc_return"]) {
            try $0.setGlobal("target_pid", to: UInt32(pid))
            try $0.setGlobal("target_size", to: UInt64(123457))
        }
        defer { object.close() }
        usleep(50_000)  // let the process map libc
        let target = UprobeTarget(binary: "c", symbol: "malloc", pid: pid)
        #expect(try target.resolve().path.hasPrefix("/proc/\(pid)/root/"))
        object.keep(try object.program("on_malloc").attachUprobe(target))
        object.keep(try object.program("on_malloc_return").attachUprobe(target, returnProbe: true))
        #expect(waitExit(pid) == 0)
        #expect(try object.global("malloc_calls", as: UInt64.self) == 1)
        #expect(try object.global("malloc_result", as: UInt64.self) != 0)
    }

    @Test("a missing uprobe symbol or library is one clear error")
    func uprobeMissing() throws {
        #expect(throws: AttachError.self) { try UprobeTarget(binary: "c", symbol: "no_such_function_here").resolve() }
        #expect(throws: AttachError.self) { try UprobeTarget(binary: "nosuchlibrary", symbol: "f").resolve() }
        #expect(throws: AttachError.self) { try UprobeTarget(binary: "c", symbol: "malloc", pid: 999_999_999).resolve() }
    }

    @Test("perf_event sampling at 99 Hz on every CPU: a busy thread gets about 99 samples per CPU-second")
    func sampling() throws {
        // The thread exists first so its id can be a load-time constant; once attached it
        // burns CPU until it has had a second of it (at most 10 s of wall time: other tests
        // and builds share the CPUs) and measures its own CPU time.
        let ready = Semaphore(), attached = Semaphore()
        let holder = ObjectHolder()
        let worker = ThreadRunner {
            holder.tid = currentThreadID()
            ready.signal()
            attached.wait()
            var cpuStart = timespec(), cpuNow = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpuStart)
            let start = monotonicSeconds()
            var x: UInt64 = 0
            func cpuSeconds() -> Double {
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpuNow)
                return Double(cpuNow.tv_sec - cpuStart.tv_sec) + Double(cpuNow.tv_nsec - cpuStart.tv_nsec) / 1e9
            }
            while cpuSeconds() < 1.0 && monotonicSeconds() - start < 10 {
                for _ in 0..<100_000 { x &+= 1; blackHole(x) }
            }
            holder.cpuSeconds = cpuSeconds()
        }
        ready.wait()
        let object = try loadFixture(BPFObjects.sampling, name: "sampling") { try $0.setGlobal("target_tid", to: holder.tid) }
        defer { object.close() }
        let link = try object.program("on_sample").attachPerfEvent(.cpuClock, rate: .frequency(99))
        attached.signal()
        worker.join()
        link.close()
        let samples = try object.global("target_samples", as: UInt64.self)
        let expected = 99 * holder.cpuSeconds
        #expect(holder.cpuSeconds > 0.2, "the busy thread got only \(holder.cpuSeconds) s of CPU")
        #expect(Double(samples) > expected * 0.8 && Double(samples) < expected * 1.2,
                "\(samples) samples for \(holder.cpuSeconds) CPU-seconds")
        // Every online CPU has its own sampling event.
        let counts = try TypedMap<UInt32, UInt64>(object.map("samples"))
        #expect(try counts.entries().contains { $0.value > 0 })
    }

    @Test("fentry/fexit on vfs_read see this thread's read, its size and its result; where refused, one clear line")
    func fentry() throws {
        let features = KernelFeatures.shared
        if features.has(.fentry) {
            let tid = UInt32(currentThreadID())
            let object = try loadFixture(BPFObjects.probes, name: "probes", programs: ["on_vfs_read", "on_vfs_read_exit"]) {
                try $0.setGlobal("target_tid", to: tid)
            }
            defer { object.close() }
            try object.attachAll()
            let result = try readKnownBytes(37)
            #expect(result == 37)
            #expect(try object.global("read_fentry_pid", as: UInt32.self) == UInt32(getpid()))
            #expect(try object.global("read_fentry_count", as: UInt64.self) == 37)
            #expect(try object.global("read_fexit_result", as: Int64.self) == 37)
        } else {
            #expect(features.reasonMissing(.fentry)?.contains("lockdown") == true)
            do {
                _ = try loadFixture(BPFObjects.probes, name: "probes", programs: ["on_nanosleep"])
                Issue.record("the kernel refused fentry in the probe but loaded it here")
            } catch let error as MissingFeatureError {
                #expect(error.feature == "fentry")
                #expect(!error.description.contains("\n"))
                #expect(error.description.contains("use a tracepoint"))
            }
        }
    }

    @Test("kprobe/kretprobe on vfs_read see this thread's read and its result; where absent, one clear line")
    func kprobe() throws {
        let tid = UInt32(currentThreadID())
        let object = try loadFixture(
            BPFObjects.probes, name: "probes", programs: ["on_vfs_read_kprobe", "on_vfs_read_kretprobe"]
        ) { try $0.setGlobal("target_tid", to: tid) }
        defer { object.close() }
        if KernelFeatures.shared.has(.kprobe) {
            try object.attachAll()
            let result = try readKnownBytes(53)
            #expect(result == 53)
            #expect(try object.global("read_kprobe_pid", as: UInt32.self) == UInt32(getpid()))
            #expect(try object.global("read_kprobe_count", as: UInt64.self) == 53)
            #expect(try object.global("read_kretprobe_result", as: Int64.self) == 53)
        } else {
            #expect(KernelFeatures.shared.reasonMissing(.kprobe)?.contains("kprobe") == true)
            do {
                try object.attachAll()
                Issue.record("attach should fail without kprobes")
            } catch let error as AttachError {
                #expect(error.description.contains("this kernel has no kprobes"))
                #expect(!error.description.contains("\n"))
            }
        }
    }

    @Test("feature probes answer for what this machine is known to have")
    func features() {
        let features = KernelFeatures.shared
        #expect(features.has(.btf))
        #expect(features.has(.tracepoint))
        #expect(features.has(.rawTracepoint))
        #expect(features.has(.btfTracepoint))
        #expect(features.has(.uprobe))
        #expect(features.has(.perfEvent))
        #expect(features.has(.ringBuffer))
        #expect(features.has(.perfEventArray))
        #expect(features.has(.stackTrace))
        #expect(features.has(.loopHelper))
        for feature in KernelFeatures.Feature.allCases {
            if let reason = features.reasonMissing(feature) { #expect(!reason.isEmpty && !reason.contains("\n")) }
        }
    }
}

private struct ScratchFileError: Error { let path: String; let errno: Int32 }

/// Reads `count` bytes from a file of this test's on this thread (one `read(2)`, so one
/// `vfs_read` of exactly that size); returns what read returned.
private func readKnownBytes(_ count: Int) throws -> Int {
    let path = "/tmp/bpfkit-vfs-read-\(getpid())"
    let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { throw ScratchFileError(path: path, errno: errno) }
    defer { close(fd); unlink(path) }
    let bytes = [UInt8](repeating: 0x5a, count: count * 2)
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    lseek(fd, 0, SEEK_SET)
    var buffer = [UInt8](repeating: 0, count: count)
    return buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, count) }
}

// MARK: - Threads

@inline(never) private func blackHole<T>(_ value: T) { _ = value }

/// A counting semaphore over pthread primitives.
final class Semaphore: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var count = 0
    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }
    func signal() {
        pthread_mutex_lock(&mutex)
        count += 1
        pthread_cond_signal(&condition)
        pthread_mutex_unlock(&mutex)
    }
    func wait() {
        pthread_mutex_lock(&mutex)
        while count == 0 { pthread_cond_wait(&condition, &mutex) }
        count -= 1
        pthread_mutex_unlock(&mutex)
    }
}

final class ObjectHolder: @unchecked Sendable {
    var tid: UInt32 = 0
    var cpuSeconds = 0.0
}

/// A pthread running `body`, joined with ``join()``.
final class ThreadRunner: @unchecked Sendable {
    private var thread = pthread_t()
    init(_ body: @escaping @Sendable () -> Void) {
        final class Box { let body: @Sendable () -> Void; init(_ body: @escaping @Sendable () -> Void) { self.body = body } }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        pthread_create(&thread, nil, { context in
            Unmanaged<Box>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, box)
    }
    func join() { pthread_join(thread, nil) }
}

@Suite("Stack capture against the real kernel")
struct StackCaptureTests {
    @Test("bpf_get_stack into an event and bpf_get_stackid into a stack map give the same stacks")
    func stacks() throws {
        let tid = currentThreadID()
        var spec = try ObjectSpec(elf: Base64.decode(BPFObjects.stacks)!, name: "stacks")
        try spec.setGlobal("target_tid", to: tid)
        let object = try BPFObject(spec: spec)
        defer { object.close() }
        try object.attachAll()
        let ring = try RingBuffer(map: object.map("events"))
        _ = getppid()
        var event: [UInt8] = []
        _ = eventually(timeout: 3000) {
            _ = try? ring.poll(timeout: 10) { event = Array($0) }
            return !event.isEmpty
        }
        try #require(event.count >= 24 + 2 * 32 * 8)
        func int64(_ at: Int) -> Int64 { event.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: Int64.self) } }
        func int32(_ at: Int) -> Int32 { event.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: Int32.self) } }
        func frames(_ at: Int, bytes: Int64) -> [UInt64] {
            (0..<Int(max(0, bytes) / 8)).map { index in event.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at + index * 8, as: UInt64.self) } }
        }
        let userBytes = int64(0), kernelBytes = int64(8)
        #expect(userBytes > 0 && kernelBytes > 0, "bpf_get_stack: user \(userBytes), kernel \(kernelBytes)")
        let user = frames(24, bytes: userBytes), kernel = frames(24 + 32 * 8, bytes: kernelBytes)
        // User addresses are below the kernel's half of the address space, kernel ones above.
        #expect(user.allSatisfy { $0 < 0x8000_0000_0000_0000 })
        #expect(kernel.allSatisfy { $0 >= 0xffff_0000_0000_0000 })
        let stackMap = try StackTraceMap(object.map("stack_traces"))
        #expect(stackMap.maximumDepth == 32)
        #expect(try stackMap.frames(id: int32(16)) == user)
        #expect(try stackMap.frames(id: int32(20)) == kernel)
        #expect(!stackMap.isTruncated(user))
        #expect(try stackMap.frames(id: -14).isEmpty)
    }
}
