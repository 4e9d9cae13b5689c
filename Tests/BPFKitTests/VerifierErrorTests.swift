// Programs the verifier rejects: the error carries the kernel's log.
import Testing
@testable import BPFKit

@Suite("Verifier errors", .needsBPF)
struct VerifierErrorTests {
    private func load(_ instructions: [Instruction], options: ProgramLoadOptions = .init()) throws -> FileDescriptor {
        try loadProgram(
            name: "t_invalid", type: .tracepoint, expectedAttachType: .none, instructions: instructions, license: "GPL",
            btf: nil, functionInfos: [], lineInfos: [], coreRelocations: [], options: options)
    }

    @Test("a valid hand-written program loads")
    func valid() throws {
        let program = try load([.move(0, 0), .exit])
        defer { program.close() }
        #expect(try ProgramInfo(descriptor: program).name == "t_invalid")
    }

    @Test("reading r0 before writing it")
    func uninitialisedReturn() throws {
        let error = try #require(throws: VerifierError.self) { try load([.exit]) }
        #expect(error.program == "t_invalid")
        #expect(error.errno == 13)  // EACCES
        #expect(error.log.contains("R0 !read_ok"))
        #expect(!error.tail(lines: 3).isEmpty)
        #expect(error.tail(lines: 1) == ["R0 !read_ok"])
        #expect(error.description.hasPrefix("load program t_invalid: verifier rejected it (permission denied): "))
        #expect(error.description.contains("R0 !read_ok"))
        #expect(!error.description.contains("\n"))
        // Statistics lines say nothing about why and are left out of the tail.
        #expect(error.tail(lines: 100).allSatisfy { !$0.hasPrefix("processed ") })
    }

    @Test("writing outside the stack frame")
    func stackOutOfBounds() throws {
        // *(u64 *)(r10 + 8) = r1: above the frame pointer.
        let error = try #require(throws: VerifierError.self) { try load([.store64(10, 8, 1), .move(0, 0), .exit]) }
        #expect(error.log.contains("invalid"))
        #expect(error.description.contains("stack"))
        #expect(!error.tail(lines: 2).isEmpty)
    }

    @Test("a call to a helper that does not exist")
    func unknownHelper() throws {
        let error = try #require(throws: VerifierError.self) { try load([.call(helper: 100_000), .move(0, 0), .exit]) }
        #expect(error.log.contains("invalid func unknown#100000"))
    }

    @Test("a small log buffer still keeps the line that says why")
    func smallLog() throws {
        var options = ProgramLoadOptions()
        options.logSize = 256
        let error = try #require(throws: VerifierError.self) { try load([.exit], options: options) }
        #expect(error.log.contains("R0 !read_ok"))
    }

    @Test("a fixture the verifier rejects: a map value used without its NULL check")
    func fixture() throws {
        let spec = try Fixture.invalid.spec()
        let error = try #require(throws: VerifierError.self) { try BPFObject(spec: spec) }
        #expect(error.program == "null_deref")
        #expect(error.log.contains("invalid mem access 'map_value_or_null'"))
        #expect(error.tail(lines: 1).first?.contains("invalid mem access") == true)
        #expect(error.description.contains("null_deref"))
        // With BTF line info the kernel quotes the source line.
        #expect(error.log.contains("*value += 1"))
    }
}
