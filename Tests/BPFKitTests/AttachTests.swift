// Attaching: missing tracepoints, raw and BTF tracepoints, and a program made of several
// functions running in the kernel.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
@testable import BPFKit

@Suite("Attaching", .needsGetppidTracepoint)
struct AttachTests {
    @Test("a missing tracepoint is an AttachError naming it")
    func missingTracepoint() throws {
        let object = try BPFObject(spec: Fixture.loader.spec())
        defer { object.close() }
        let program = try object.program("on_getppid")
        let error = try #require(throws: AttachError.self) {
            try program.attachTracepoint(category: "nosuchcat", name: "nosuchevent")
        }
        #expect(error.description.contains("tracepoint nosuchcat:nosuchevent does not exist"))
        #expect(!error.description.contains("\n"))
        #expect(!Tracefs.hasEvent(category: "nosuchcat", name: "nosuchevent"))
        #expect(Tracefs.hasEvent(category: "syscalls", name: "sys_enter_getppid"))
        // Names that would escape the events directory are refused outright.
        #expect(throws: AttachError.self) { try program.attachTracepoint(category: "..", name: "x") }
        #expect(throws: AttachError.self) { try program.attachTracepoint(category: "syscalls/../sched", name: "sched_switch") }
    }

    @Test("section kinds without a target are refused at attach time")
    func attachWithoutTarget() throws {
        let object = try BPFObject(spec: Fixture.loader.spec())
        defer { object.close() }
        let loaded = try object.program("on_getppid")
        let spec = try Fixture.sections.spec()
        for name in ["on_kprobe", "on_uprobe", "on_perf_event", "on_unknown"] {
            let other = BPFProgram(name: name, spec: try #require(spec.program(named: name)), descriptor: loaded.descriptor)
            #expect(throws: AttachError.self, "\(name)") { try other.attach() }
        }
        #expect(throws: LoadError.self) { try BPFObject(spec: spec, programs: ["on_unknown"]) }
    }

    @Test("raw_tp and tp_btf programs load and attach", .needsKernelBTF)
    func rawAndBTFTracepoints() throws {
        let object = try BPFObject(spec: Fixture.sections.spec(), programs: ["on_raw_tp", "on_tp_btf"])
        defer { object.close() }
        #expect(Set(object.programs.keys) == ["on_raw_tp", "on_tp_btf"])
        #expect(try ProgramInfo(descriptor: object.program("on_raw_tp").descriptor).type == .rawTracepoint)
        #expect(try ProgramInfo(descriptor: object.program("on_tp_btf").descriptor).type == .tracing)
        try object.attachAll()
        #expect(object.links.map(\.description).sorted() == ["raw_tracepoint sched_switch", "tp_btf/sched_switch"])
        #expect(throws: AttachError.self) { try object.program("on_raw_tp").attachRawTracepoint(name: "no_such_raw_tracepoint") }
    }

    @Test("bpf-to-bpf calls compute in the kernel what the C says")
    func callsRun() throws {
        var spec = try Fixture.calls.spec()
        try spec.setGlobal("target_tid", to: currentThreadID())
        let object = try BPFObject(spec: spec)
        defer { object.close() }
        try object.attachAll()
        #expect(object.links.count == 2)
        callGetppid(1)
        // square_plus_one(5) * 1000 + triple(5), and triple(7).
        #expect(eventually { (try? object.global("result_both", as: UInt64.self)) == 26 * 1000 + 15 })
        #expect(try object.global("result_global", as: UInt64.self) == 21)
    }

    @Test("a link detaches when closed")
    func detach() throws {
        let object = try loadLoaderForThisThread()
        defer { object.close() }
        let link = try object.program("on_getppid").attach()
        callGetppid(2)
        #expect(try object.global("hits", as: UInt64.self) == 2)
        link.close()
        link.close()  // twice is harmless
        callGetppid(2)
        #expect(try object.global("hits", as: UInt64.self) == 2)
        // The same program attaches again afterwards.
        object.keep(try object.program("on_getppid").attach())
        callGetppid(1)
        #expect(try object.global("hits", as: UInt64.self) == 3)
    }
}
