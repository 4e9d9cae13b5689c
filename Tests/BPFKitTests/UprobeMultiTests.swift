// uprobe_multi links and uprobe sessions against the real kernel: one link on several
// functions with a cookie each, the return flavour, and a session whose entry skips the
// return for some calls (kfuncs resolved against the kernel's BTF at load).
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import BPFKit

/// Builds a program that calls twice(1…6) then thrice(1), after sleeping argv[1] ms.
private func buildCaller() throws -> String {
    try compileC("caller", """
        #include <stdlib.h>
        #include <unistd.h>
        __attribute__((noinline)) int twice(int a) { __asm__ volatile(""); return 2 * a; }
        __attribute__((noinline)) int thrice(int a) { __asm__ volatile(""); return 3 * a; }
        int main(int argc, char **argv) {
            usleep(atoi(argv[1]) * 1000);
            volatile int sum = 0;
            for (int i = 1; i <= 6; i++) sum += twice(i);
            sum += thrice(1);
            return sum == 45 ? 0 : 1;
        }
        """)
}

private func load(programs: Set<String>, pid: pid_t) throws -> BPFObject {
    var spec = try ObjectSpec(elf: Base64.decode(BPFObjects.sessions)!, name: "sessions")
    try spec.setGlobal("target_pid", to: UInt32(pid))
    return try BPFObject(spec: spec, programs: programs)
}

@Suite("uprobe_multi links and uprobe sessions", .serialized)
struct UprobeMultiTests {
    @Test("uprobe_multi links (6.6+) and sessions (6.13+) are found where the kernel has them, and named where not")
    func featuresProbed() {
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let numbers = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        let version = numbers.count == 2 ? (numbers[0], numbers[1]) : (0, 0)
        for (feature, minimum) in [(KernelFeatures.Feature.uprobeMulti, (6, 6)), (.uprobeSession, (6, 13))] {
            let reason = KernelFeatures.shared.reasonMissing(feature)
            if version >= minimum {
                #expect(reason == nil, "\(feature) on \(release)")
            } else {
                #expect(reason?.contains("needs Linux") == true, "\(feature) on \(release): \(reason ?? "available")")
            }
        }
    }

    @Test("one uprobe.multi link covers two functions, each with its cookie; uretprobe.multi sees every return")
    func multiLink() throws {
        let binary = try buildCaller()
        let pid = spawn(binary, "300")
        let object = try load(programs: ["on_multi", "on_multi_return"], pid: pid)
        defer { object.close() }
        let targets = ["twice", "thrice"].map { UprobeTarget(binary: binary, symbol: $0, pid: pid) }
        let link = try object.program("on_multi").attachUprobes(targets, cookies: [10, 20])
        object.keep(link)
        object.keep(try object.program("on_multi_return").attachUprobes(targets))
        #expect(link.description.contains("twice,thrice"))
        #expect(waitExit(pid) == 0)
        #expect(try object.global("multi_calls", as: UInt64.self) == 7)
        #expect(try object.global("multi_returns", as: UInt64.self) == 7)
        #expect(try object.global("last_cookie", as: UInt64.self) == 20)
    }

    @Test("a session's entry skips the return when it returns 1, and its cookie reaches the return")
    func session() throws {
        let binary = try buildCaller()
        let pid = spawn(binary, "300")
        let object = try load(programs: ["on_session"], pid: pid)
        defer { object.close() }
        object.keep(try object.program("on_session").attachUprobes([UprobeTarget(binary: binary, symbol: "twice", pid: pid)]))
        #expect(waitExit(pid) == 0)
        #expect(try object.global("session_entries", as: UInt64.self) == 6)
        #expect(try object.global("session_returns", as: UInt64.self) == 3)  // twice(2), twice(4), twice(6)
        #expect(try object.global("session_sum", as: Int64.self) == 24)
        #expect(try object.global("session_cookie_ok", as: UInt64.self) == 3)
    }

    @Test("bad uprobe_multi requests are one clear error each")
    func badRequests() throws {
        let binary = try buildCaller()
        let object = try load(programs: ["on_multi", "on_session"], pid: 1)
        defer { object.close() }
        #expect(throws: AttachError.self) { try object.program("on_multi").attachUprobes([]) }
        #expect(throws: AttachError.self) {
            try object.program("on_multi").attachUprobes([UprobeTarget(binary: binary, symbol: "twice")], cookies: [1, 2])
        }
        #expect(throws: AttachError.self) {
            try object.program("on_multi").attachUprobes([UprobeTarget(binary: binary, symbol: "no_such_function")])
        }
        #expect(throws: AttachError.self) {
            try object.program("on_multi").attachUprobes([UprobeTarget(binary: binary, symbol: "twice"), UprobeTarget(binary: "c", symbol: "malloc")])
        }
        #expect(throws: AttachError.self) { try object.program("on_session").attach() }
    }

    @Test("kfunc calls are found, .ksyms is fixed up, and a kfunc the kernel lacks is one clear error")
    func kernelFunctions() throws {
        let spec = try ObjectSpec(elf: Base64.decode(BPFObjects.sessions)!, name: "sessions")
        let linked = try spec.link(spec.program(named: "on_session")!)
        #expect(Set(linked.kernelFunctionCalls.map(\.name)) == ["bpf_session_cookie", "bpf_session_is_return"])
        let btf = try #require(spec.btf)
        let section = try #require(btf.typeID(named: ".ksyms", kind: .dataSection))
        #expect(try btf.sectionVariables(of: section).map(\.offset) == [0, 4, 8])
        #expect(throws: MissingFeatureError.self) { try load(programs: ["on_missing_kfunc"], pid: 1) }
        do {
            _ = try load(programs: ["on_missing_kfunc"], pid: 1)
        } catch {
            #expect("\(error)".contains("bpfkit_no_such_kfunc"))
        }
    }
}
