// The running kernel's BTF (/sys/kernel/btf/vmlinux).
import Testing
@testable import BPFKit

@Suite("Kernel BTF", .needsKernelBTF)
struct KernelBTFTests {
    @Test("vmlinux parses and is cached")
    func parses() throws {
        let btf = try KernelBTF.shared()
        #expect(btf.typeCount > 10_000)
        // A second call returns the cached value, not a re-parse.
        let again = try KernelBTF.shared()
        #expect(again.typeCount == btf.typeCount)
        #expect(again.nameIndex === btf.nameIndex)
    }

    @Test("task_struct is a struct with pid and tgid")
    func taskStruct() throws {
        let btf = try KernelBTF.shared()
        let id = try #require(btf.typeID(named: "task_struct", kind: .struct))
        #expect(try btf.kind(of: id) == .struct)
        #expect(try btf.name(of: id) == "task_struct")
        let members = try btf.members(of: id)
        let pid = try #require(members.first { $0.name == "pid" })
        let tgid = try #require(members.first { $0.name == "tgid" })
        // pid_t is a typedef of a 4-byte int; fields are byte aligned and distinct.
        #expect(try btf.size(of: pid.type) == 4)
        #expect(try btf.size(of: tgid.type) == 4)
        #expect(try btf.kind(of: btf.skippingQualifiers(pid.type)) == .int)
        #expect(pid.bitOffset % 8 == 0 && tgid.bitOffset % 8 == 0 && pid.bitOffset != tgid.bitOffset)
        #expect(try btf.size(of: id) > 1000)
    }

    @Test("tp_btf targets and fentry functions are found by name and kind")
    func attachTargets() throws {
        let btf = try KernelBTF.shared()
        let typedef = try #require(btf.typeID(named: "btf_trace_sched_switch", kind: .typedef))
        #expect(try btf.kind(of: typedef) == .typedef)
        // The typedef names a pointer to a function prototype.
        let pointer = try btf.sizeOrType(of: typedef)
        #expect(try btf.kind(of: pointer) == .pointer)
        #expect(try btf.kind(of: btf.sizeOrType(of: pointer)) == .functionPrototype)
        #expect(btf.typeID(named: "btf_trace_sched_switch", kind: .struct) == nil)
        #expect(btf.typeID(named: "no_such_type_in_any_kernel") == nil)
        #expect(btf.typeID(named: "do_nanosleep", kind: .function) != nil)
        // Loading resolves the same ids, and names the missing ones.
        let spec = try Fixture.sections.spec()
        #expect(try BPFObject.attachTarget(of: #require(spec.program(named: "on_tp_btf"))).typeID == typedef)
        #expect(try BPFObject.attachTarget(of: #require(spec.program(named: "on_tracepoint"))).typeID == 0)
        var missing = try #require(spec.program(named: "on_fentry"))
        missing.attachPoint = .fentry(function: "no_such_function_anywhere")
        #expect(throws: LoadError.self) { try BPFObject.attachTarget(of: missing) }
    }

    @Test("enumerators of a kernel enum")
    func enumerators() throws {
        let btf = try KernelBTF.shared()
        let id = try #require(btf.typeID(named: "bpf_map_type", kind: .enum))
        let values = Dictionary(try btf.enumerators(of: id).map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        #expect(values["BPF_MAP_TYPE_HASH"] == 1)
        #expect(values["BPF_MAP_TYPE_RINGBUF"] == 27)
    }
}
