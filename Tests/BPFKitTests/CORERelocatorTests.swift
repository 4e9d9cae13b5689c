// CO-RE relocations resolved against hand-built "kernel" BTF: one test per relocation kind,
// flavors, missing fields and types (poison), ambiguity, and instruction patching.
import Testing
@testable import BPFKit

/// A local (program) BTF and a target (kernel) BTF built side by side, plus helpers to make
/// relocation records against them.
private struct COREFixture {
    var local = BTFBuilder()
    var target = BTFBuilder()

    mutating func record(_ kind: CORERelocationKind, type: UInt32, access: String) -> BTFExt.CoreRelocation {
        BTFExt.CoreRelocation(instructionOffset: 0, typeID: type, accessStringOffset: local.string(access), kind: kind.rawValue)
    }

    func relocator() throws -> CORERelocator {
        CORERelocator(local: try BTF(bytes: local.bytes()), target: try BTF(bytes: target.bytes()))
    }

    /// Makes the record first (it adds the access string to the local BTF), then resolves it.
    mutating func resolve(_ kind: CORERelocationKind, type: UInt32, access: String) throws -> CORERelocator.Outcome {
        let made = record(kind, type: type, access: access)
        return try relocator().resolve(made, program: "test_prog")
    }
}

private func targetValue(_ outcome: CORERelocator.Outcome) -> UInt64? {
    if case .value(_, let target, _) = outcome { return target }
    return nil
}

private func localValue(_ outcome: CORERelocator.Outcome) -> UInt64? {
    if case .value(let local, _, _) = outcome { return local }
    return nil
}

@Suite("CO-RE relocations against hand-built BTF")
struct CORERelocatorTests {
    /// local:  struct task { int pid; int tgid; }      (tgid at byte 4)
    /// target: struct task { long pad; int pid; unsigned int tgid; short flags; }  (tgid at byte 12)
    private func taskFixture() -> (COREFixture, localTask: UInt32) {
        var fixture = COREFixture()
        let localInt = fixture.local.addInt("int", size: 4, signed: true)
        let localTask = fixture.local.addStruct("task", size: 8, members: [("pid", localInt, 0), ("tgid", localInt, 32)])
        let long = fixture.target.addInt("long", size: 8, signed: true)
        let int = fixture.target.addInt("int", size: 4, signed: true)
        let unsigned = fixture.target.addInt("unsigned int", size: 4)
        let short = fixture.target.addInt("short", size: 2, signed: true)
        _ = fixture.target.addStruct("task", size: 24, members: [
            ("pad", long, 0), ("pid", int, 64), ("tgid", unsigned, 96), ("flags", short, 128),
        ])
        return (fixture, localTask)
    }

    @Test("field byte offset follows the field to its place in the target")
    func byteOffset() throws {
        var (fixture, task) = taskFixture()
        let outcome = try fixture.resolve(.fieldByteOffset, type: task, access: "0:1")
        #expect(localValue(outcome) == 4)
        #expect(targetValue(outcome) == 12)
    }

    @Test("field byte size, signedness and existence")
    func sizeSignedExists() throws {
        var (fixture, task) = taskFixture()
        #expect(targetValue(try fixture.resolve(.fieldByteSize, type: task, access: "0:1")) == 4)
        #expect(targetValue(try fixture.resolve(.fieldSigned, type: task, access: "0:0")) == 1)
        #expect(targetValue(try fixture.resolve(.fieldSigned, type: task, access: "0:1")) == 0)
        #expect(targetValue(try fixture.resolve(.fieldExists, type: task, access: "0:1")) == 1)
    }

    @Test("a missing field: exists answers 0, an offset is poisoned")
    func missingField() throws {
        var fixture = COREFixture()
        let int = fixture.local.addInt("int", size: 4, signed: true)
        let local = fixture.local.addStruct("task", size: 8, members: [("pid", int, 0), ("state", int, 32)])
        let targetInt = fixture.target.addInt("int", size: 4, signed: true)
        _ = fixture.target.addStruct("task", size: 8, members: [("pid", targetInt, 0), ("__state", targetInt, 32)])
        #expect(targetValue(try fixture.resolve(.fieldExists, type: local, access: "0:1")) == 0)
        let outcome = try fixture.resolve(.fieldByteOffset, type: local, access: "0:1")
        guard case .poison(let reason) = outcome else { Issue.record("expected poison, got \(outcome)"); return }
        #expect(reason.contains("task"))
    }

    @Test("a ___flavor suffix is ignored when matching the root type")
    func flavor() throws {
        var fixture = COREFixture()
        let long = fixture.local.addInt("long", size: 8, signed: true)
        let old = fixture.local.addStruct("task___pre_5_14", size: 8, members: [("state", long, 0)])
        let targetLong = fixture.target.addInt("long", size: 8, signed: true)
        let int = fixture.target.addInt("int", size: 4, signed: true)
        _ = fixture.target.addStruct("task", size: 16, members: [("pid", int, 0), ("state", targetLong, 64)])
        #expect(targetValue(try fixture.resolve(.fieldByteOffset, type: old, access: "0:0")) == 8)
        #expect(essentialName("task___pre_5_14") == "task")
        #expect(essentialName("a___b___c") == "a___b")
        #expect(essentialName("a____b") == "a____b")
        #expect(essentialName("___x") == "___x")
    }

    @Test("bitfields: byte offset and size of the containing load, and the two shifts")
    func bitfields() throws {
        var fixture = COREFixture()
        let localUnsigned = fixture.local.addInt("unsigned int", size: 4)
        let local = fixture.local.addStruct("flags", size: 4, members: [("a", localUnsigned, 0, 5), ("b", localUnsigned, 5, 3)])
        let unsigned = fixture.target.addInt("unsigned int", size: 4)
        // In the target, b is 3 bits at bit 37: it lives in the second u32.
        _ = fixture.target.addStruct("flags", size: 8, members: [("a", unsigned, 0, 5), ("b", unsigned, 37, 3)])
        #expect(targetValue(try fixture.resolve(.fieldByteOffset, type: local, access: "0:1")) == 4)
        #expect(targetValue(try fixture.resolve(.fieldByteSize, type: local, access: "0:1")) == 4)
        // 64 - (bit offset + bit size - byte offset × 8) = 64 - (37 + 3 - 32)
        #expect(targetValue(try fixture.resolve(.fieldLeftShiftU64, type: local, access: "0:1")) == 56)
        #expect(targetValue(try fixture.resolve(.fieldRightShiftU64, type: local, access: "0:1")) == 61)
        // A bitfield straddling a u32 boundary widens the load to 8 bytes.
        var straddle = COREFixture()
        let u = straddle.local.addInt("unsigned int", size: 4)
        let s = straddle.local.addStruct("s", size: 8, members: [("x", u, 30, 4)])
        let tu = straddle.target.addInt("unsigned int", size: 4)
        _ = straddle.target.addStruct("s", size: 8, members: [("x", tu, 30, 4)])
        #expect(targetValue(try straddle.resolve(.fieldByteSize, type: s, access: "0:0")) == 8)
        #expect(targetValue(try straddle.resolve(.fieldByteOffset, type: s, access: "0:0")) == 0)
    }

    @Test("non-bitfield shifts extend a smaller field to 64 bits")
    func plainShifts() throws {
        var (fixture, task) = taskFixture()
        #expect(targetValue(try fixture.resolve(.fieldLeftShiftU64, type: task, access: "0:1")) == 32)
        #expect(targetValue(try fixture.resolve(.fieldRightShiftU64, type: task, access: "0:1")) == 32)
    }

    @Test("nested members through anonymous unions, and array elements")
    func nested() throws {
        var fixture = COREFixture()
        let int = fixture.local.addInt("int", size: 4, signed: true)
        let index = fixture.local.addInt("__ARRAY_SIZE_TYPE__", size: 4)
        let array = fixture.local.addArray(of: int, index: index, count: 4)
        let local = fixture.local.addStruct("box", size: 20, members: [("id", int, 0), ("slots", array, 32)])
        let targetInt = fixture.target.addInt("int", size: 4, signed: true)
        let targetIndex = fixture.target.addInt("__ARRAY_SIZE_TYPE__", size: 4)
        let targetArray = fixture.target.addArray(of: targetInt, index: targetIndex, count: 8)
        let inner = fixture.target.addStruct("", size: 32, members: [("slots", targetArray, 0)])
        let anonymous = fixture.target.addStruct("", size: 32, members: [("alias", targetArray, 0, 0), ("", inner, 0, 0)], union: true)
        _ = fixture.target.addStruct("box", size: 48, members: [("id", targetInt, 0), ("", anonymous, 128)])
        // box.slots[2]: local 4 + 8 = 12; target 16 + 8 = 24.
        let outcome = try fixture.resolve(.fieldByteOffset, type: local, access: "0:1:2")
        #expect(localValue(outcome) == 12)
        #expect(targetValue(outcome) == 24)
    }

    @Test("type-based kinds: local and target ids, existence, size, matches")
    func typeBased() throws {
        var fixture = COREFixture()
        let int = fixture.local.addInt("int", size: 4, signed: true)
        let local = fixture.local.addStruct("thing", size: 4, members: [("a", int, 0)])
        let missing = fixture.local.addStruct("nothing", size: 4, members: [("a", int, 0)])
        _ = fixture.target.addInt("char", size: 1, signed: true)
        let targetInt = fixture.target.addInt("int", size: 4, signed: true)
        let target = fixture.target.addStruct("thing", size: 16, members: [("a", targetInt, 0), ("b", targetInt, 32)])
        #expect(targetValue(try fixture.resolve(.typeIDLocal, type: local, access: "0")) == UInt64(local))
        #expect(targetValue(try fixture.resolve(.typeIDTarget, type: local, access: "0")) == UInt64(target))
        #expect(targetValue(try fixture.resolve(.typeExists, type: local, access: "0")) == 1)
        #expect(targetValue(try fixture.resolve(.typeSize, type: local, access: "0")) == 16)
        #expect(targetValue(try fixture.resolve(.typeMatches, type: local, access: "0")) == 1)
        #expect(targetValue(try fixture.resolve(.typeExists, type: missing, access: "0")) == 0)
        #expect(targetValue(try fixture.resolve(.typeSize, type: missing, access: "0")) == 0)
    }

    @Test("type matches fails when a local member is missing from the target")
    func typeMatchesStrict() throws {
        var fixture = COREFixture()
        let int = fixture.local.addInt("int", size: 4, signed: true)
        let local = fixture.local.addStruct("thing", size: 8, members: [("a", int, 0), ("gone", int, 32)])
        let targetInt = fixture.target.addInt("int", size: 4, signed: true)
        _ = fixture.target.addStruct("thing", size: 4, members: [("a", targetInt, 0)])
        #expect(targetValue(try fixture.resolve(.typeMatches, type: local, access: "0")) == 0)
        #expect(targetValue(try fixture.resolve(.typeExists, type: local, access: "0")) == 1)
    }

    @Test("enum values: existence and value matched by name")
    func enums() throws {
        var fixture = COREFixture()
        let local = fixture.local.addEnum("mode", values: [("MODE_A", 1), ("MODE_B", 2)])
        _ = fixture.target.addEnum("mode", values: [("MODE_B", 7), ("MODE_C", 9)])
        #expect(targetValue(try fixture.resolve(.enumValueExists, type: local, access: "1")) == 1)
        #expect(targetValue(try fixture.resolve(.enumValueValue, type: local, access: "1")) == 7)
        #expect(targetValue(try fixture.resolve(.enumValueExists, type: local, access: "0")) == 0)
        guard case .poison = try fixture.resolve(.enumValueValue, type: local, access: "0") else {
            Issue.record("a missing enumerator's value must poison")
            return
        }
    }

    @Test("two candidates that disagree are an error, not a guess")
    func ambiguity() throws {
        var fixture = COREFixture()
        let int = fixture.local.addInt("int", size: 4, signed: true)
        let local = fixture.local.addStruct("dup", size: 4, members: [("x", int, 0)])
        let targetInt = fixture.target.addInt("int", size: 4, signed: true)
        _ = fixture.target.addStruct("dup", size: 4, members: [("x", targetInt, 0)])
        _ = fixture.target.addStruct("dup", size: 8, members: [("y", targetInt, 0), ("x", targetInt, 32)])
        #expect(throws: CORERelocationError.self) {
            try fixture.resolve(.fieldByteOffset, type: local, access: "0:0")
        }
    }

    @Test("incompatible field types do not match")
    func incompatible() throws {
        var fixture = COREFixture()
        let int = fixture.local.addInt("int", size: 4, signed: true)
        let local = fixture.local.addStruct("s", size: 4, members: [("x", int, 0)])
        let targetInt = fixture.target.addInt("int", size: 4, signed: true)
        let inner = fixture.target.addStruct("inner", size: 4, members: [("v", targetInt, 0)])
        _ = fixture.target.addStruct("s", size: 4, members: [("x", inner, 0)])
        #expect(targetValue(try fixture.resolve(.fieldExists, type: local, access: "0:0")) == 0)
    }

    @Test("patching: ALU immediates, load offsets and sizes, ld_imm64, and poison")
    func patching() throws {
        var (fixture, task) = taskFixture()
        let offset = fixture.record(.fieldByteOffset, type: task, access: "0:1")
        let relocator = try fixture.relocator()

        // r1 = 4 (ALU64 MOV K) → 12
        var alu = [Instruction(code: 0xb7, destination: 1, immediate: 4), .exit]
        _ = try relocator.apply([offset], to: &alu, program: "p")
        #expect(alu[0].immediate == 12)

        // r0 = *(u32 *)(r1 + 4) → offset 12; the field stays 4 bytes.
        var load = [Instruction(code: 0x61, destination: 0, source: 1, offset: 4), .exit]
        _ = try relocator.apply([offset], to: &load, program: "p")
        #expect(load[0].offset == 12)
        #expect(load[0].code == 0x61)

        // A field that grew from 4 to 8 bytes widens the load (pad is a long in the target).
        var grow = COREFixture()
        let int = grow.local.addInt("int", size: 4)
        let small = grow.local.addStruct("task", size: 4, members: [("pad", int, 0)])
        let long = grow.target.addInt("long unsigned int", size: 8)
        _ = grow.target.addStruct("task", size: 8, members: [("pad", long, 0)])
        var widened = [Instruction(code: 0x61, destination: 0, source: 1, offset: 0), .exit]
        let growRecord = grow.record(.fieldByteOffset, type: small, access: "0:0")
        _ = try grow.relocator().apply([growRecord], to: &widened, program: "p")
        #expect(widened[0].code == 0x79)

        // ld_imm64 r1 = 4 → 12 in the low half.
        var wide = [Instruction(code: 0x18, destination: 1, immediate: 4), Instruction(code: 0), .exit]
        _ = try relocator.apply([offset], to: &wide, program: "p")
        #expect(wide[0].immediate == 12 && wide[1].immediate == 0)

        // A missing field poisons both halves of an ld_imm64.
        var missing = COREFixture()
        let mint = missing.local.addInt("int", size: 4)
        let mlocal = missing.local.addStruct("task", size: 4, members: [("nope", mint, 0)])
        _ = missing.target.addStruct("task", size: 0, members: [])
        var poisoned = [Instruction(code: 0x18, destination: 1, immediate: 0), Instruction(code: 0), .exit]
        let missingRecord = missing.record(.fieldByteOffset, type: mlocal, access: "0:0")
        let list = try missing.relocator().apply([missingRecord], to: &poisoned, program: "p")
        #expect(poisoned[0] == Instruction(code: 0x85, immediate: CORERelocator.poisonHelper))
        #expect(poisoned[1] == Instruction(code: 0x85, immediate: CORERelocator.poisonHelper))
        #expect(list.first?.description.contains("task.nope") == true)
    }
}

@Suite("Split (module) BTF")
struct SplitBTFTests {
    @Test("a module's types continue the base's ids and strings, and resolve against them")
    func split() throws {
        var baseBuilder = BTFBuilder()
        let int = baseBuilder.addInt("int", size: 4, signed: true)
        _ = baseBuilder.addStruct("task_struct", size: 4, members: [("pid", int, 0)])
        let base = try BTF(bytes: baseBuilder.bytes())
        var moduleBuilder = BTFBuilder(splitAfter: base)
        #expect(moduleBuilder.nextID == 3)
        let pointer = moduleBuilder.addPointer(to: 2)
        let device = moduleBuilder.addStruct("nvme_dev", size: 16, members: [("owner", pointer, 0), ("id", int, 64)])
        let merged = try BTF(split: moduleBuilder.bytes(), base: base)
        #expect(merged.typeCount == 4)
        #expect(merged.typeID(named: "nvme_dev") == device)
        #expect(merged.typeID(named: "task_struct") == 2)
        let members = try merged.members(of: device)
        #expect(members.map(\.name) == ["owner", "id"])
        #expect(try merged.kind(of: merged.sizeOrType(of: members[0].type)) == .struct)
        #expect(try merged.name(of: members[1].type) == "int")
        for name in KernelBTF.moduleNames() {  // none on a kernel without modules
            #expect(try KernelBTF.module(name).typeCount > KernelBTF.shared().typeCount)
        }
    }
}
